//! The vendor page (`web::vendor_page`, issue 14) against a real box on loopback, as
//! a browser without script uses it: the upload token exchanged for a session cookie,
//! the "next attendee" field a keyboard-wedge scanner types into, tags fixed by hand,
//! orders confirmed with their link shown, every form's CSRF token, one creator kept
//! from another's orders and photos, and the attendee network kept out.

mod common;

use std::time::{Duration, Instant};

use common::{
    hidden, phone, place_order, testdata, vendor_orders, vendor_orders_where, Options, TestBox,
};

async fn start() -> TestBox {
    TestBox::start_with(Options {
        configure: Box::new(|c| {
            c.portal.attendee_networks = vec!["127.0.0.8/29".parse().unwrap()];
        }),
        ..Options::default()
    })
    .await
}

/// A browser on the staff network (loopback address `n`), keeping cookies, not
/// following redirects (the test reads them).
fn browser(n: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, n]))
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn text(c: &reqwest::Client, b: &TestBox, path: &str) -> (u16, String) {
    let r = c.get(b.url(path)).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Posts a vendor page form with the page's own CSRF token; returns the response.
async fn submit(
    c: &reqwest::Client,
    b: &TestBox,
    action: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let (_, page) = text(c, b, "/vendor").await;
    let csrf = hidden(&page, "csrf");
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    c.post(b.url(action)).form(&form).send().await.unwrap()
}

fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_string()
}

/// The attendees (pseudonyms) tagged on `photo`, waiting up to 120 s for `want` of them.
async fn tagged(b: &TestBox, token: &str, photo: i64, want: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let list: serde_json::Value = phone(1)
            .get(b.url("/api/vendor/tags"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let on: Vec<String> = list["tags"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["photo_id"] == photo && t["removed"] == false)
            .map(|t| t["attendee"].as_str().unwrap().to_string())
            .collect();
        if on.len() == want || Instant::now() > deadline {
            return on;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_vendor_logs_in_tags_the_next_attendee_and_confirms_their_order_on_the_page() {
    let b = start().await;
    let (_, nord) = b.creator("Studio Nord").await;
    let (_, sued) = b.creator("Studio Sued").await;
    let laptop = browser(1);

    // Without a session: to the login page. A wrong token: refused, on the page.
    let r = laptop.get(b.url("/vendor")).send().await.unwrap();
    assert_eq!(
        (r.status().as_u16(), location(&r)),
        (303, "/vendor/login".into())
    );
    let r = b.vendor_login(&laptop, "vbu_not-a-token").await;
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("not an upload token"));
    // The login form's CSRF cookie is required.
    let r = browser(2)
        .post(b.url("/vendor/login"))
        .form(&[("csrf", "x"), ("token", nord.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = b.vendor_login(&laptop, &nord).await;
    assert_eq!((r.status().as_u16(), location(&r)), (303, "/vendor".into()));
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("vb_vendor="))
        .expect("a session cookie");
    assert!(
        cookie.starts_with("vb_vendor=")
            && cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(
        !cookie.contains(&nord),
        "the upload token is not the session"
    );
    let (status, page) = text(&laptop, &b, "/vendor").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Studio Nord") && page.contains("autofocus"),
        "{page}"
    );

    // The next attendee, as a wedge scanner types their pass QR's text: Nord's next
    // photo is theirs; a photo before it is not.
    let ben_phone = phone(9);
    let ben = common::portal_pass(&b, &ben_phone, &[]).await;
    let jpeg = |name: &str| std::fs::read(testdata().join("photos").join(name)).unwrap();
    let before = b.tus_upload(&nord, &jpeg("kodak-dc280_DCP_4394.JPG")).await;
    let qr_text = format!("VB1{}", ben.replace('-', ""));
    let r = submit(&laptop, &b, "/vendor/next", &[("code", &qr_text)]).await;
    assert_eq!(location(&r), "/vendor?done=next");
    let after = b
        .tus_upload(&nord, &jpeg("polaroid-pdc640m_POL_0132.JPG"))
        .await;
    let on = tagged(&b, &nord, after, 1).await;
    assert_eq!(on.len(), 1, "the photo after the scan is tagged");
    let pseudonym = on[0].clone();
    assert!(tagged(&b, &nord, before, 0).await.is_empty());
    // A code that is no pass: a clear error, nothing tagged.
    let r = submit(
        &laptop,
        &b,
        "/vendor/next",
        &[("code", "VB1FORGEDFORGEDFORGE")],
    )
    .await;
    assert_eq!(location(&r), "/vendor?error=pass");
    let (_, page) = text(&laptop, &b, &location(&r)).await;
    assert!(page.contains("not a pass of this event"), "{page}");
    // The page shows the tag (short pseudonym, how, its thumb) and the log.
    let (_, page) = text(&laptop, &b, "/vendor").await;
    assert!(
        page.contains(&pseudonym[..10]) && page.contains("scan"),
        "{page}"
    );
    assert!(page.contains(&format!("src=\"/photos/{after}/thumb\"")));
    assert!(page.contains("delivery.scan"), "the tagging log: {page}");
    assert!(
        !page.contains(&ben) && !page.contains(&qr_text),
        "a pass code on the page"
    );
    // The thumb loads with the session cookie.
    let r = laptop
        .get(b.url(&format!("/photos/{after}/thumb")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // By hand: Ben on the earlier photo too, then off again.
    let r = submit(
        &laptop,
        &b,
        "/vendor/photos/0/tag",
        &[("photo", &before.to_string()), ("code", &ben)],
    )
    .await;
    assert_eq!(location(&r), "/vendor?done=tagged");
    assert_eq!(tagged(&b, &nord, before, 1).await, vec![pseudonym.clone()]);
    let r = submit(
        &laptop,
        &b,
        &format!("/vendor/photos/{before}/untag"),
        &[("attendee", &pseudonym)],
    )
    .await;
    assert_eq!(location(&r), "/vendor?done=untagged");
    assert!(tagged(&b, &nord, before, 0).await.is_empty());

    // Ben orders the tagged photo; the vendor sees it waiting and confirms payment.
    let r = place_order(&b, &ben_phone, &[after]).await;
    assert_eq!(r.status(), 303);
    let orders = vendor_orders_where(&b, &nord, "?state=pending").await;
    let (order, code) = (
        orders[0]["id"].as_i64().unwrap(),
        orders[0]["code"].as_str().unwrap().to_string(),
    );
    let (_, page) = text(&laptop, &b, "/vendor").await;
    assert!(
        page.contains(&code) && page.contains("Waiting for payment (1)"),
        "{page}"
    );
    // A form without the session's CSRF token changes nothing.
    let r = laptop
        .post(b.url(&format!("/vendor/orders/{order}/confirm")))
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // Another vendor's session cannot touch it (the same 404 as a missing order).
    let other = browser(3);
    assert_eq!(b.vendor_login(&other, &sued).await.status(), 303);
    let r = submit(&other, &b, &format!("/vendor/orders/{order}/cancel"), &[]).await;
    assert_eq!(r.status(), 404);
    let r = other
        .get(b.url(&format!("/photos/{after}/thumb")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let (_, page) = text(&other, &b, "/vendor").await;
    assert!(
        !page.contains(&code) && !page.contains(&pseudonym[..10]),
        "{page}"
    );
    // Confirmed: the link is shown, and it delivers.
    let r = submit(&laptop, &b, &format!("/vendor/orders/{order}/confirm"), &[]).await;
    let to = location(&r);
    assert!(to.starts_with("/vendor?done=confirm&link="), "{to}");
    let (_, page) = text(&laptop, &b, &to).await;
    let shown = page
        .split("<code id=\"link\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .expect("the link is shown")
        .to_string();
    let path = &shown[shown.find("/portal/d/").unwrap()..];
    assert_eq!(text(&phone(30), &b, path).await.0, 200);
    let state: String = b
        .state
        .store
        .read_sql(move |c| {
            c.query_row(
                "SELECT state FROM delivery_orders WHERE id = ?1",
                [order],
                |r| r.get(0),
            )
        })
        .await
        .unwrap();
    assert_eq!(state, "paid");

    // The attendee network never reaches the vendor page, logged in or not.
    for path in ["/vendor/login", "/vendor"] {
        assert_eq!(text(&ben_phone, &b, path).await.0, 404, "{path}");
    }
    // Logging out ends the session on the box, not just in the browser.
    let r = submit(&laptop, &b, "/vendor/logout", &[]).await;
    assert_eq!(location(&r), "/vendor/login");
    let (_, page) = text(&laptop, &b, "/vendor/login").await;
    drop(page);
    let r = laptop.get(b.url("/vendor")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    b.stop().await;
}

#[tokio::test]
async fn guessing_upload_tokens_on_the_login_page_is_limited() {
    let b = start().await;
    let (_, token) = b.creator("Studio Nord").await;
    let c = browser(4);
    let max = b.state.config.admin.login_max_failures;
    let mut statuses = Vec::new();
    for i in 0..=max {
        statuses.push(
            b.vendor_login(&c, &format!("vbu_guess{i}"))
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    // Locked out even with the right token.
    assert_eq!(b.vendor_login(&c, &token).await.status(), 429);
    // Another client is not.
    assert_eq!(b.vendor_login(&browser(5), &token).await.status(), 303);
    b.stop().await;
}

/// Waits until every photo in `ids` has a render row (done, failed or raw).
async fn rendered(b: &TestBox, ids: &[i64]) {
    let deadline = Instant::now() + Duration::from_secs(120);
    for &id in ids {
        while b.state.previews.state(id).await.unwrap().is_none() {
            assert!(Instant::now() < deadline, "photo {id} never rendered");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The photo rows of a `/vendor/photos` page: (id, its `data-state`).
fn photo_rows(page: &str) -> Vec<(i64, String)> {
    page.split("<tr class=\"photo\" data-photo=\"")
        .skip(1)
        .map(|rest| {
            let id = rest.split('"').next().unwrap().parse().unwrap();
            let state = rest
                .split("data-state=\"")
                .nth(1)
                .and_then(|s| s.split('"').next())
                .unwrap()
                .to_string();
            (id, state)
        })
        .collect()
}

/// One table row of the page, by photo id.
fn row_of(page: &str, id: i64) -> String {
    let start = page
        .find(&format!("data-photo=\"{id}\""))
        .unwrap_or_else(|| panic!("photo {id} not on the page: {page}"));
    let rest = &page[start..];
    rest[..rest.find("</tr>").unwrap()].to_string()
}

#[tokio::test]
async fn photos_appear_with_their_preview_state_explained_in_a_vendors_words() {
    let b = start().await;
    let (_, nord) = b.creator("Studio Nord").await;
    let (_, sued) = b.creator("Studio Sued").await;
    let laptop = browser(1);
    assert_eq!(b.vendor_login(&laptop, &nord).await.status(), 303);
    let (status, page) = text(&laptop, &b, "/vendor/photos").await;
    assert_eq!(status, 200);
    assert!(page.contains("No photo of yours has arrived yet"), "{page}");
    assert!(
        page.contains("http-equiv=\"refresh\""),
        "it refreshes itself"
    );

    let good = b
        .tus_upload(
            &nord,
            &std::fs::read(testdata().join("photos/kodak-dc280_DCP_4394.JPG")).unwrap(),
        )
        .await;
    // Starts like a JPEG (so it is stored) but cannot be decoded.
    let broken = b
        .tus_upload(
            &nord,
            &std::fs::read(testdata().join("bad/gen_sof_zero_width.jpg")).unwrap(),
        )
        .await;
    let mut cr2 = b"II*\0\x10\0\0\0CR\x02\0".to_vec();
    cr2.resize(4096, 0);
    let raw = b.tus_upload(&nord, &cr2).await;
    rendered(&b, &[good, broken, raw]).await;
    let reason = b
        .state
        .previews
        .state(broken)
        .await
        .unwrap()
        .unwrap()
        .reason
        .unwrap();

    let (_, page) = text(&laptop, &b, "/vendor/photos").await;
    assert_eq!(
        photo_rows(&page),
        vec![
            (raw, "raw".to_string()),
            (broken, "failed".into()),
            (good, "done".into())
        ],
        "newest first, each with its state"
    );
    let row = row_of(&page, good);
    assert!(
        row.contains("Preview ready") && row.contains(&format!("src=\"/photos/{good}/thumb\"")),
        "{row}"
    );
    let row = row_of(&page, broken);
    assert!(
        row.contains("Damaged file") && row.contains("Send the photo again"),
        "{row}"
    );
    assert!(!row.contains("/thumb"), "no thumb of a failed render");
    assert!(
        !page.contains(&reason),
        "the renderer's own words ({reason}) are not shown"
    );
    assert!(
        row_of(&page, raw).contains("RAW: no preview"),
        "{}",
        row_of(&page, raw)
    );
    assert!(page.contains("2 need a look"), "{page}");

    // Another creator's page lists none of them.
    let other = browser(3);
    assert_eq!(b.vendor_login(&other, &sued).await.status(), 303);
    let (_, page) = text(&other, &b, "/vendor/photos").await;
    assert!(photo_rows(&page).is_empty(), "{page}");
    b.stop().await;
}

/// Reads the QR code of the first inline SVG on `page` (the `qrcode` crate's SVG: one
/// `M{x} {y}h{w}v{h}H{x}V{y}` rectangle per dark run) with rqrr, as a phone would read
/// it off the screen.
fn decode_qr_svg(page: &str) -> String {
    let svg = &page[page.find("<svg").expect("an SVG")..];
    let attr = |name: &str| -> usize {
        svg.split(&format!(" {name}=\""))
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let (w, h) = (attr("width"), attr("height"));
    let mut dark = vec![false; w * h];
    let d = svg
        .split("<path")
        .nth(1)
        .unwrap()
        .split(" d=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    for rect in d.split('M').filter(|r| !r.is_empty()) {
        let nums: Vec<usize> = rect
            .split(|c: char| c == ' ' || c.is_ascii_alphabetic())
            .filter(|n| !n.is_empty())
            .map(|n| n.parse().unwrap())
            .collect();
        let (x, y, rw, rh) = (nums[0], nums[1], nums[2], nums[3]);
        for yy in y..y + rh {
            for xx in x..x + rw {
                dark[yy * w + xx] = true;
            }
        }
    }
    let mut img =
        rqrr::PreparedImage::prepare_from_greyscale(
            w,
            h,
            |x, y| {
                if dark[y * w + x] {
                    0
                } else {
                    255
                }
            },
        );
    let grids = img.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code");
    grids[0].decode().expect("a readable QR code").1
}

/// The value of the element with `id` on `page` (`<code id="…">value</code>`).
fn shown(page: &str, id: &str) -> String {
    page.split(&format!("id=\"{id}\">"))
        .nth(1)
        .and_then(|s| s.split('<').next())
        .unwrap_or_else(|| panic!("#{id} not on the page: {page}"))
        .replace("&amp;", "&")
}

#[tokio::test]
async fn the_camera_page_makes_an_ftp_login_that_works_and_a_qr_code_that_logs_a_phone_in() {
    let b = start().await;
    let (nord_id, nord) = b.creator("Studio Nord").await;
    let laptop = browser(1);
    assert_eq!(b.vendor_login(&laptop, &nord).await.status(), 303);
    let (status, page) = text(&laptop, &b, "/vendor/cameras").await;
    assert_eq!(status, 200);
    assert_eq!(
        shown(&page, "ftp-host"),
        "127.0.0.1",
        "the address it reached"
    );
    assert_eq!(
        shown(&page, "ftp-port"),
        b.ftp.unwrap().port().to_string(),
        "the port FTP listens on"
    );
    for maker in ["<h3>Canon</h3>", "<h3>Nikon</h3>", "<h3>Sony</h3>"] {
        assert!(page.contains(maker), "{maker}");
    }
    assert!(page.contains("Make my FTP login") && page.contains("Passive mode"));
    assert_eq!(
        shown(&page, "tls-fingerprint"),
        b.state.vault.public_identity().tls_fingerprint
    );

    // A forged form changes nothing.
    let r = laptop
        .post(b.url("/vendor/cameras/ftp"))
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = submit(&laptop, &b, "/vendor/cameras/ftp", &[]).await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    let (user, password) = (shown(&page, "ftp-user"), shown(&page, "ftp-password"));
    // The login works: curl sends a photo with it, and it is Nord's.
    let file = testdata().join("photos/kodak-dc280_DCP_4394.JPG");
    let url = format!("ftp://{user}:{password}@{}/", b.ftp.unwrap());
    let out = tokio::process::Command::new("curl")
        .args(["-sS", "--ftp-pasv", "-T", file.to_str().unwrap(), &url])
        .output()
        .await
        .expect("curl (tests/run.sh installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let photo = b.photo_id(&common::sha256_file(&file)).await;
    let owner: i64 = b
        .state
        .store
        .read_sql(move |c| {
            c.query_row(
                "SELECT creator_id FROM photos WHERE id = ?1",
                [photo],
                |r| r.get(0),
            )
        })
        .await
        .unwrap();
    assert_eq!(owner, nord_id);
    // The page shows the user name again, never the password.
    let (_, page) = text(&laptop, &b, "/vendor/cameras").await;
    assert_eq!(shown(&page, "ftp-login"), user);
    assert!(!page.contains(&password));

    // A second phone already logged in with the token.
    let tablet = browser(2);
    assert_eq!(b.vendor_login(&tablet, &nord).await.status(), 303);
    let r = submit(&laptop, &b, "/vendor/cameras/token", &[]).await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(page.contains("<svg") && page.contains("QR code"), "{page}");
    let link = shown(&page, "login-url");
    let base = b.url("/vendor/login?token=vbu_");
    assert!(link.starts_with(&base), "{link} is not {base}…");
    assert_eq!(decode_qr_svg(&page), link, "the QR code holds the link");
    let token = link.split("token=").nth(1).unwrap().to_string();
    assert_ne!(token, nord);
    // The phone opens the link: the token is filled in; one tap logs it in.
    let phone_browser = browser(4);
    let (_, form) = text(
        &phone_browser,
        &b,
        &link[link.find("/vendor/login").unwrap()..],
    )
    .await;
    assert!(form.contains(&format!("value=\"{token}\"")), "{form}");
    let r = phone_browser
        .post(b.url("/vendor/login"))
        .form(&[("csrf", hidden(&form, "csrf")), ("token", token.clone())])
        .send()
        .await
        .unwrap();
    assert_eq!((r.status().as_u16(), location(&r)), (303, "/vendor".into()));
    // The old token is gone, with the sessions it opened; this laptop stays in.
    assert_eq!(b.vendor_login(&browser(5), &nord).await.status(), 401);
    assert_eq!(
        tablet.get(b.url("/vendor")).send().await.unwrap().status(),
        303
    );
    assert_eq!(text(&laptop, &b, "/vendor").await.0, 200);
    b.stop().await;
}

/// How a probe authenticates.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Auth {
    /// The vendor page's session cookie (and the form's CSRF token).
    Page,
    /// The upload token as a bearer token (the vendor API, tus).
    Bearer,
}

/// One request of the vendor audience: method, path, auth, body.
struct Probe {
    method: &'static str,
    path: String,
    auth: Auth,
    /// A form's fields (besides `csrf`) or a JSON body.
    form: Vec<(&'static str, String)>,
    json: Option<serde_json::Value>,
    /// Targets creator A's own things (a photo, order or upload of A's by id).
    targets_a: bool,
}

fn probe(method: &'static str, path: impl Into<String>, auth: Auth) -> Probe {
    Probe {
        method,
        path: path.into(),
        auth,
        form: Vec::new(),
        json: None,
        targets_a: false,
    }
}

/// Who sends a probe.
struct Sender<'a> {
    client: &'a reqwest::Client,
    /// The upload token for `Auth::Bearer`, if any.
    bearer: Option<&'a str>,
    /// The session's CSRF token for forms, if any.
    csrf: Option<String>,
    /// A raw Cookie header (an attendee's pass), if any.
    cookie: Option<String>,
}

async fn send(b: &TestBox, who: &Sender<'_>, p: &Probe) -> (u16, String, String) {
    let method = reqwest::Method::from_bytes(p.method.as_bytes()).unwrap();
    let mut req = who.client.request(method, b.url(&p.path));
    if let Some(cookie) = &who.cookie {
        req = req.header("cookie", cookie);
    }
    if p.auth == Auth::Bearer {
        if let Some(token) = who.bearer {
            req = req.bearer_auth(token);
        }
        if p.path.starts_with("/files") {
            req = req.header("tus-resumable", "1.0.0");
            if p.method == "PATCH" {
                req = req
                    .header("upload-offset", "0")
                    .header("content-type", "application/offset+octet-stream")
                    .body(vec![0u8; 10]);
            }
            if p.method == "POST" {
                req = req.header("upload-length", "100");
            }
        }
    }
    if let Some(json) = &p.json {
        req = req.json(json);
    } else if p.method == "POST" && p.auth == Auth::Page {
        let mut form: Vec<(&str, String)> =
            vec![("csrf", who.csrf.clone().unwrap_or_else(|| "none".into()))];
        form.extend(p.form.iter().cloned());
        req = req.form(&form);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let location = r
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, location, r.text().await.unwrap_or_default())
}

/// A refusal: 401, 403 or 404, or the redirect to the login page.
fn refused((status, location, _): &(u16, String, String)) -> bool {
    matches!(status, 401 | 403 | 404) || (*status == 303 && location == "/vendor/login")
}

/// Every route literal under `/vendor` and `/api/vendor` in src/web.
fn vendor_routes_in_source() -> std::collections::BTreeSet<String> {
    let mut found = std::collections::BTreeSet::new();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web");
    for entry in walkdir::WalkDir::new(root) {
        let entry = entry.unwrap();
        if entry.path().extension().map_or(true, |e| e != "rs") {
            continue;
        }
        let src = std::fs::read_to_string(entry.path()).unwrap();
        for piece in src.split(".route(").skip(1) {
            let literal = piece.trim_start().trim_start_matches('"');
            let path = literal.split('"').next().unwrap();
            if path.starts_with("/vendor") || path.starts_with("/api/vendor") {
                found.insert(path.to_string());
            }
        }
    }
    found
}

#[tokio::test]
async fn no_vendor_route_shows_creator_a_anything_to_creator_b_anonymous_callers_or_attendees() {
    let b = start().await;
    let (_, nord) = b.creator("Studio Nord").await;
    let (_, sued) = b.creator("Studio Sued").await;
    // Nord's things: FTP login, a photo tagged to Ben, Ben's order of it, an unfinished
    // upload with its instant preview.
    let admin = b.admin_token().await;
    let ftp: serde_json::Value = phone(1)
        .post(b.url("/api/admin/creators/ftp"))
        .bearer_auth(&admin)
        .json(&serde_json::json!({ "name": "Studio Nord" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ftp_user = ftp["user"].as_str().unwrap().to_string();
    // Ben's pass, from the attendee network, with the cookie kept to replay.
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let ben_phone = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 9]))
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let ben = common::portal_pass(&b, &ben_phone, &[]).await;
    let pass_cookie = {
        use reqwest::cookie::CookieStore;
        let url: reqwest::Url = b.url("/portal/mine").parse().unwrap();
        jar.cookies(&url)
            .expect("the pass cookie")
            .to_str()
            .unwrap()
            .to_string()
    };
    assert!(pass_cookie.contains("vb_pass="), "{pass_cookie}");
    let photo = b
        .tus_upload(
            &nord,
            &std::fs::read(testdata().join("photos/kodak-dc280_DCP_4394.JPG")).unwrap(),
        )
        .await;
    rendered(&b, &[photo]).await;
    let r = phone(1)
        .post(b.url(&format!("/api/vendor/photos/{photo}/tags")))
        .bearer_auth(&nord)
        .json(&serde_json::json!({ "code": ben }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let pseudonym = tagged(&b, &nord, photo, 1).await.remove(0);
    let r = place_order(&b, &ben_phone, &[photo]).await;
    assert_eq!(r.status(), 303);
    let orders = vendor_orders(&b, &nord).await;
    let (order, code) = (
        orders[0]["id"].as_i64().unwrap(),
        orders[0]["code"].as_str().unwrap().to_string(),
    );
    let r = phone(1)
        .post(b.url("/files"))
        .bearer_auth(&nord)
        .header("tus-resumable", "1.0.0")
        .header("upload-length", "100000")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let upload = r.headers()["location"]
        .to_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();

    // Every vendor route, with Nord's ids where it takes one.
    use Auth::{Bearer, Page};
    let mut probes = vec![
        probe("GET", "/vendor", Page),
        probe("GET", "/vendor/photos", Page),
        probe("GET", "/vendor/cameras", Page),
        probe("GET", "/vendor/upload", Page),
        probe("POST", "/vendor/next", Page),
        probe("POST", "/vendor/cameras/ftp", Page),
        probe("GET", "/api/vendor/tags", Bearer),
        probe("GET", "/api/vendor/orders", Bearer),
        probe("POST", "/files", Bearer),
    ];
    probes[4].form = vec![("code", ben.clone())];
    // Paths from route templates with Nord's ids: `{photo}`, `{order}`, `{upload}`,
    // `{pseudonym}`.
    let at = |template: &str| {
        template
            .replace("{photo}", &photo.to_string())
            .replace("{order}", &order.to_string())
            .replace("{upload}", &upload)
            .replace("{pseudonym}", &pseudonym)
    };
    let mut targeted = vec![
        probe("GET", at("/vendor/upload/{upload}"), Page),
        probe("POST", at("/vendor/orders/{order}/confirm"), Page),
        probe("POST", at("/vendor/photos/{photo}/tag"), Page),
        probe("POST", at("/vendor/photos/{photo}/untag"), Page),
        probe("GET", at("/photos/{photo}/thumb"), Page),
        probe("GET", at("/photos/{photo}/preview"), Page),
        probe("GET", at("/photos/{photo}/watermarked"), Page),
        probe("GET", at("/photos/{photo}/full"), Page),
        probe("GET", at("/photos/{photo}/thumb"), Bearer),
        probe("GET", at("/photos/{photo}/full"), Bearer),
        probe("HEAD", at("/files/{upload}"), Bearer),
        probe("PATCH", at("/files/{upload}"), Bearer),
        probe("POST", at("/api/vendor/orders/{order}/confirm"), Bearer),
        probe("POST", at("/api/vendor/photos/{photo}/tags"), Bearer),
        probe(
            "DELETE",
            at("/api/vendor/photos/{photo}/tags/{pseudonym}"),
            Bearer,
        ),
        probe("PUT", at("/api/vendor/photos/{photo}/public"), Bearer),
    ];
    targeted[2].form = vec![("code", ben.clone())];
    targeted[3].form = vec![("attendee", pseudonym.clone())];
    targeted[13].json = Some(serde_json::json!({ "code": ben }));
    targeted[15].json = Some(serde_json::json!({ "public": true }));
    for t in &mut targeted {
        t.targets_a = true;
    }
    // The route each template stands for, in the source's own placeholders.
    let templates = [
        "/vendor/upload/{upload}",
        "/vendor/orders/{order}/confirm",
        "/vendor/photos/{photo}/tag",
        "/vendor/photos/{photo}/untag",
        "/photos/{photo}/thumb",
        "/api/vendor/orders/{order}/confirm",
        "/api/vendor/photos/{photo}/tags",
        "/api/vendor/photos/{photo}/tags/{pseudonym}",
        "/api/vendor/photos/{photo}/public",
    ];
    probes.extend(targeted);
    // The routes without creator data or that end the session: checked for audience.
    let audience_only = [
        probe("POST", "/vendor/cameras/token", Page),
        probe("POST", "/vendor/logout", Page),
        probe("PUT", "/api/vendor/public", Bearer),
        probe("POST", "/api/vendor/tagging/next", Bearer),
        // The creator's own logo (tests/logo.rs shows each creator reaches only theirs).
        probe("POST", "/vendor/logo", Page),
        probe("POST", "/vendor/logo/remove", Page),
        probe("GET", "/vendor/logo.png", Page),
        probe("GET", "/api/vendor/logo", Bearer),
        probe("PUT", "/api/vendor/logo", Bearer),
        probe("DELETE", "/api/vendor/logo", Bearer),
    ];
    // The table covers every vendor route the source declares.
    let covered: std::collections::BTreeSet<String> = probes
        .iter()
        .chain(&audience_only)
        .filter(|p| !p.targets_a)
        .map(|p| p.path.clone())
        .chain(templates.iter().map(|t| {
            t.replace("{photo}", "{id}")
                .replace("{order}", "{id}")
                .replace("{upload}", "{key}")
                .replace("{pseudonym}", "{attendee}")
                .replace("/confirm", "/{action}")
        }))
        .chain(["/vendor/login".to_string()])
        .collect();
    for route in vendor_routes_in_source() {
        assert!(
            covered.contains(&route),
            "{route} is not probed here: add it to the table"
        );
    }

    // Sessions: Nord's and Sued's pages, each with its own CSRF token.
    let (nord_page, sued_page) = (browser(1), browser(2));
    assert_eq!(b.vendor_login(&nord_page, &nord).await.status(), 303);
    assert_eq!(b.vendor_login(&sued_page, &sued).await.status(), 303);
    let csrf_of = |page: &str| hidden(page, "csrf");
    let nord_csrf = csrf_of(&text(&nord_page, &b, "/vendor").await.1);
    let sued_csrf = csrf_of(&text(&sued_page, &b, "/vendor").await.1);
    let a_marks = [
        "Studio Nord".to_string(),
        code.clone(),
        ftp_user.clone(),
        pseudonym[..10].to_string(),
        format!("/photos/{photo}/"),
        format!("data-photo=\"{photo}\""),
        format!("\"id\":{order}"),
        format!("\"photo_id\":{photo}"),
    ];

    // Creator B: refused on Nord's things; what B may read holds nothing of Nord's.
    let sued_who = Sender {
        client: &sued_page,
        bearer: Some(&sued),
        csrf: Some(sued_csrf),
        cookie: None,
    };
    for p in &probes {
        let got = send(&b, &sued_who, p).await;
        if p.targets_a {
            let error_redirect = got.0 == 303 && got.1.contains("error=");
            assert!(
                refused(&got) || error_redirect,
                "Sued reached Nord's {} {}: {} {}",
                p.method,
                p.path,
                got.0,
                got.1
            );
        }
        for mark in &a_marks {
            assert!(
                !got.2.contains(mark.as_str()),
                "{} {} shows Sued {mark}: {}",
                p.method,
                p.path,
                got.2
            );
        }
    }

    // Anonymous callers, and an attendee's pass cookie on the staff network: refused
    // everywhere (the login page aside).
    let anonymous = browser(3);
    for who in [
        Sender {
            client: &anonymous,
            bearer: None,
            csrf: None,
            cookie: None,
        },
        Sender {
            client: &anonymous,
            bearer: None,
            csrf: None,
            cookie: Some(pass_cookie.clone()),
        },
    ] {
        for p in probes.iter().chain(&audience_only) {
            let got = send(&b, &who, p).await;
            assert!(
                refused(&got),
                "{} {} with cookie {:?}: {} {}",
                p.method,
                p.path,
                who.cookie,
                got.0,
                got.1
            );
        }
    }
    // The attendee network: 404 for every route, even with Nord's valid credentials.
    let nord_cookie = {
        let r = browser(4);
        let res = b.vendor_login(&r, &nord).await;
        res.headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
            .find(|c| c.starts_with("vb_vendor="))
            .unwrap()
    };
    let from_attendee_net = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 10]))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let attendee_who = Sender {
        client: &from_attendee_net,
        bearer: Some(&nord),
        csrf: Some(nord_csrf.clone()),
        cookie: Some(nord_cookie),
    };
    for p in probes
        .iter()
        .chain(&audience_only)
        .chain([&probe("GET", "/vendor/login", Page)])
    {
        let got = send(&b, &attendee_who, p).await;
        assert_eq!(
            got.0, 404,
            "{} {} from the attendee network",
            p.method, p.path
        );
    }

    // Nothing of Nord's changed, and Nord can do every targeted thing: the refusals
    // above are about who asked.
    let still: (String, i64) = b
        .state
        .store
        .read_sql(move |c| {
            c.query_row(
                "SELECT state, (SELECT count(*) FROM delivery_tags) FROM delivery_orders WHERE id = ?1",
                [order],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
        })
        .await
        .unwrap();
    assert_eq!(still.0, "pending", "Sued's posts left Nord's order alone");
    assert_eq!(tagged(&b, &nord, photo, 1).await, vec![pseudonym.clone()]);
    let nord_who = Sender {
        client: &nord_page,
        bearer: Some(&nord),
        csrf: Some(nord_csrf),
        cookie: None,
    };
    // Each page and list Sued read shows Nord their own things.
    for p in probes.iter().filter(|p| !p.targets_a && p.method == "GET") {
        let got = send(&b, &nord_who, p).await;
        assert_eq!(got.0, 200, "Nord's own {}", p.path);
        assert!(
            a_marks.iter().any(|m| got.2.contains(m.as_str())),
            "{} shows Nord nothing of theirs: {}",
            p.path,
            got.2
        );
    }
    for p in probes.iter().filter(|p| p.targets_a) {
        let got = send(&b, &nord_who, p).await;
        let ok = (200..300).contains(&got.0) || (got.0 == 303 && got.1.contains("done="));
        // The order is confirmed once; the second confirm is a conflict, not a refusal.
        let again = p.path.ends_with("/confirm") && (got.0 == 409 || got.1.contains("error=order"));
        assert!(
            ok || again,
            "Nord's own {} {}: {} {}",
            p.method,
            p.path,
            got.0,
            got.1
        );
    }
    b.stop().await;
}
