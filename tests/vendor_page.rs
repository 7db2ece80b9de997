//! The vendor page (`web::vendor_page`, issue 14) against a real box on loopback, as
//! a browser without script uses it: the upload token exchanged for a session cookie,
//! the "next attendee" field a keyboard-wedge scanner types into, tags fixed by hand,
//! orders confirmed with their link shown, every form's CSRF token, one creator kept
//! from another's orders and photos, and the attendee network kept out.

mod common;

use std::time::{Duration, Instant};

use common::{hidden, phone, testdata, Options, TestBox};

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

/// Logs `c` in with `token`: the login page's status after posting.
async fn login(c: &reqwest::Client, b: &TestBox, token: &str) -> reqwest::Response {
    let (_, page) = text(c, b, "/vendor/login").await;
    c.post(b.url("/vendor/login"))
        .form(&[("csrf", hidden(&page, "csrf").as_str()), ("token", token)])
        .send()
        .await
        .unwrap()
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
    let r = login(&laptop, &b, "vbu_not-a-token").await;
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
    let r = login(&laptop, &b, &nord).await;
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
    let (_, mine) = {
        let r = ben_phone.get(b.url("/portal/mine")).send().await.unwrap();
        (r.status(), r.text().await.unwrap())
    };
    let r = ben_phone
        .post(b.url("/portal/orders"))
        .form(&[
            ("csrf", hidden(&mine, "csrf")),
            ("photo", after.to_string()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let orders: serde_json::Value = phone(1)
        .get(b.url("/api/vendor/orders?state=pending"))
        .bearer_auth(&nord)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
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
    assert_eq!(login(&other, &b, &sued).await.status(), 303);
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
            login(&c, &b, &format!("vbu_guess{i}"))
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    // Locked out even with the right token.
    assert_eq!(login(&c, &b, &token).await.status(), 429);
    // Another client is not.
    assert_eq!(login(&browser(5), &b, &token).await.status(), 303);
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
    assert_eq!(login(&laptop, &b, &nord).await.status(), 303);
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
    assert_eq!(login(&other, &b, &sued).await.status(), 303);
    let (_, page) = text(&other, &b, "/vendor/photos").await;
    assert!(photo_rows(&page).is_empty(), "{page}");
    b.stop().await;
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
    assert_eq!(login(&laptop, &b, &nord).await.status(), 303);
    let (status, page) = text(&laptop, &b, "/vendor/cameras").await;
    assert_eq!(status, 200);
    assert_eq!(
        shown(&page, "ftp-host"),
        "127.0.0.1",
        "the address it reached"
    );
    assert_eq!(
        shown(&page, "ftp-port"),
        b.state.config.ftp_addr().port().to_string()
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
    assert_eq!(login(&tablet, &b, &nord).await.status(), 303);
    let r = submit(&laptop, &b, "/vendor/cameras/token", &[]).await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(page.contains("<svg") && page.contains("QR code"), "{page}");
    let link = shown(&page, "login-url");
    let base = b.url("/vendor/login?token=vbu_");
    assert!(link.starts_with(&base), "{link} is not {base}…");
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
    assert_eq!(login(&browser(5), &b, &nord).await.status(), 401);
    assert_eq!(
        tablet.get(b.url("/vendor")).send().await.unwrap().status(),
        303
    );
    assert_eq!(text(&laptop, &b, "/vendor").await.0, 200);
    b.stop().await;
}
