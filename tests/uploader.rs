//! The phone uploader's routes (`web::uploader`, issue 16 item 4) and the session
//! cookie on the tus routes, against a real box on loopback: who is refused (nobody
//! logged in, an attendee with a pass, another creator, the attendee network), the
//! cookie counting on same-origin requests only, and the vendored scripts' caching.
//! The page itself in a browser is tests/browser.rs.

mod common;

use common::{hidden, phone, portal_pass, Options, TestBox};

async fn start() -> TestBox {
    TestBox::start_with(Options {
        configure: Box::new(|c| {
            c.portal.attendee_networks = vec!["127.0.0.8/29".parse().unwrap()];
        }),
        ..Options::default()
    })
    .await
}

/// Logs the browser `c` in on the vendor page with `token`; returns the session
/// cookie's value.
async fn login(c: &reqwest::Client, b: &TestBox, token: &str) -> String {
    let r = b.vendor_login(c, token).await;
    assert_eq!(r.status(), 303, "login");
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("vb_vendor="))
        .and_then(|v| v.split(';').next())
        .expect("the session cookie")
        .to_string()
}

/// The box's own origin, as a browser on the page would send it.
fn own(b: &TestBox) -> String {
    b.url("")
}

/// A tus creation (POST /files/) by browser `c` with `origin` (if any), no bearer.
async fn create(c: &reqwest::Client, b: &TestBox, origin: Option<&str>) -> reqwest::Response {
    let mut r = c
        .post(b.url("/files/"))
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", "10");
    if let Some(origin) = origin {
        r = r.header("Origin", origin);
    }
    r.send().await.unwrap()
}

/// A tus PATCH of `body` at `offset` to upload `key` by browser `c` with `origin` (if
/// any), no bearer.
async fn patch(
    c: &reqwest::Client,
    b: &TestBox,
    key: &str,
    origin: Option<&str>,
    offset: usize,
    body: Vec<u8>,
) -> reqwest::Response {
    let mut r = c
        .patch(b.url(&format!("/files/{key}")))
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Offset", offset)
        .header("Content-Type", "application/offset+octet-stream")
        .body(body);
    if let Some(origin) = origin {
        r = r.header("Origin", origin);
    }
    r.send().await.unwrap()
}

fn key_of(r: &reqwest::Response) -> String {
    r.headers()["location"]
        .to_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn the_uploader_is_the_logged_in_creators_only() {
    let b = start().await;
    let (_, token_a) = b.creator("Ana").await;
    let (_, token_b) = b.creator("Ben").await;
    let ana = phone(2);
    login(&ana, &b, &token_a).await;
    let r = ana.get(b.url("/vendor/upload")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("connect-src 'self'"),
        "{csp}"
    );
    let page = r.text().await.unwrap();
    assert!(page.contains("Upload photos · Ana"), "{page}");
    assert!(page.contains(&venuebox::web::uploader::tus_js_path()));
    // Ana's upload, through the cookie.
    let made = create(&ana, &b, Some(&own(&b))).await;
    assert_eq!(made.status(), 201);
    let key = key_of(&made);
    let status: serde_json::Value = ana
        .get(b.url(&format!("/vendor/upload/{key}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["received"], 0);
    assert_eq!(status["length"], 10);
    assert_eq!(status["state"], "uploading");

    // Nobody logged in: the page sends them to the login, the status is 401.
    let nobody = phone(3);
    let r = nobody.get(b.url("/vendor/upload")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/vendor/login");
    let r = nobody
        .get(b.url(&format!("/vendor/upload/{key}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(create(&nobody, &b, Some(&own(&b))).await.status(), 401);

    // An attendee with a pass (from the staff network: the cookie is not a creator's).
    let attendee = phone(4);
    portal_pass(&b, &attendee, &["gallery"]).await;
    let r = attendee.get(b.url("/vendor/upload")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let r = attendee
        .get(b.url(&format!("/vendor/upload/{key}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(create(&attendee, &b, Some(&own(&b))).await.status(), 401);

    // Another creator's session: Ana's upload does not exist for Ben.
    let ben = phone(5);
    login(&ben, &b, &token_b).await;
    assert_eq!(
        ben.get(b.url("/vendor/upload"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let r = ben
        .get(b.url(&format!("/vendor/upload/{key}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = ben
        .head(b.url(&format!("/files/{key}")))
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = patch(&ben, &b, &key, Some(&own(&b)), 0, b"0123456789".to_vec()).await;
    assert_eq!(r.status(), 404);
    let r = ben
        .delete(b.url(&format!("/files/{key}")))
        .header("Tus-Resumable", "1.0.0")
        .header("Origin", own(&b))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // Ben's own keys are unknown keys for the status too.
    assert_eq!(
        ben.get(b.url("/vendor/upload/0123456789abcdef0123456789abcdef"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    // The attendee network does not see the page, the status or the scripts at all.
    let outside = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 9]))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for path in [
        "/vendor/upload".to_string(),
        format!("/vendor/upload/{key}"),
        venuebox::web::uploader::tus_js_path(),
    ] {
        let r = outside.get(b.url(&path)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
    b.stop().await;
}

#[tokio::test]
async fn the_session_cookie_uploads_only_from_the_box_own_origin() {
    let b = start().await;
    let (_, token) = b.creator("Ana").await;
    let ana = phone(2);
    let cookie = login(&ana, &b, &token).await;
    let port = b.http.port();
    // A change without Origin, or from another origin (another site, or another port
    // of the same host: same site, other origin), is refused before anything is made.
    for origin in [
        None,
        Some("http://evil.example".to_string()),
        Some(format!("http://127.0.0.1:{}", port + 1)),
        Some(format!("https://127.0.0.1:{port}")),
        Some("null".to_string()),
    ] {
        let r = create(&ana, &b, origin.as_deref()).await;
        assert_eq!(r.status(), 403, "{origin:?}");
    }
    let r = ana
        .post(b.url("/files/"))
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", "10")
        .header("Origin", own(&b))
        .header("Sec-Fetch-Site", "same-site")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "Sec-Fetch-Site: same-site");
    let uploads: i64 = b
        .state
        .store
        .read_sql(|c| c.query_row("SELECT count(*) FROM uploads", [], |r| r.get(0)))
        .await
        .unwrap();
    assert_eq!(uploads, 0);

    // From the page's own origin: created, written, read back by HEAD without Origin
    // (a same-origin HEAD carries none), and the photo's bytes land.
    let bytes = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gradient.jpg"),
    )
    .unwrap();
    let r = ana
        .post(b.url("/files/"))
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", bytes.len())
        .header("Origin", own(&b))
        .header("Sec-Fetch-Site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let key = key_of(&r);
    let r = patch(&ana, &b, &key, None, 0, bytes[..100].to_vec()).await;
    assert_eq!(r.status(), 403, "a PATCH without Origin");
    let r = patch(&ana, &b, &key, Some(&own(&b)), 0, bytes[..100].to_vec()).await;
    assert_eq!(r.status(), 204);
    let r = ana
        .head(b.url(&format!("/files/{key}")))
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["upload-offset"], "100");
    let r = patch(&ana, &b, &key, Some(&own(&b)), 100, bytes[100..].to_vec()).await;
    assert_eq!(r.status(), 204);
    let status: serde_json::Value = ana
        .get(b.url(&format!("/vendor/upload/{key}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(status["photo"].as_i64().is_some(), "{status}");
    assert_eq!(status["received"], bytes.len());

    // After logout the cookie uploads nothing.
    let page = ana
        .get(b.url("/vendor"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = hidden(&page, "csrf");
    let r = ana
        .post(b.url("/vendor/logout"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let r = reqwest::Client::new()
        .post(b.url("/files/"))
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", "10")
        .header("Origin", own(&b))
        .header("Cookie", format!("vb_vendor={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "the ended session's cookie");
    b.stop().await;
}

#[tokio::test]
async fn the_vendored_scripts_are_served_immutable_under_hashed_names() {
    let b = start().await;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let c = phone(2);
    for (path, file) in [
        (
            venuebox::web::uploader::tus_js_path(),
            "assets/tus-js-client/tus.min.js",
        ),
        (
            venuebox::web::uploader::page_js_path(),
            "assets/uploader/uploader.js",
        ),
    ] {
        let r = c.get(b.url(&path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(
            r.headers()["cache-control"],
            "public, max-age=31536000, immutable"
        );
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript"));
        let etag = r.headers()["etag"].clone();
        assert_eq!(
            r.bytes().await.unwrap().to_vec(),
            std::fs::read(root.join(file)).unwrap()
        );
        let r = c
            .get(b.url(&path))
            .header("If-None-Match", etag)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 304);
    }
    let r = c.get(b.url("/assets/tus.min.js")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    b.stop().await;
}
