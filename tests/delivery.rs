//! Delivery (issue 14) against a real box on loopback: the view policy, the galleries,
//! and the isolation of attendees from each other and from unpaid pixels. Phones are
//! loopback addresses of their own; `127.0.0.8/29` is the attendee network, so phones
//! 8 to 15 are attendees there and phone 1 is the vendor's laptop.

mod common;

use std::collections::BTreeSet;

use common::{
    hidden, phone, place_order, testdata, vendor_orders, vendor_orders_where, Options, TestBox,
};

/// Four small corpus photos.
const PHOTOS: [&str; 4] = [
    "kodak-dc280_DCP_4394.JPG",
    "canon-350d_progressive_issue116.jpg",
    "polaroid-pdc640m_POL_0132.JPG",
    "cmyk-progressive-exif_its1cbb1bb3.jpg",
];

async fn start() -> TestBox {
    TestBox::start_with(Options {
        configure: Box::new(|c| {
            c.portal.attendee_networks = vec!["127.0.0.8/29".parse().unwrap()];
            c.delivery.organiser_percent = 10;
        }),
        ..Options::default()
    })
    .await
}

/// Consents through the portal with `scopes` ticked and returns the pass code shown.
async fn attendee(b: &TestBox, phone: &reqwest::Client, scopes: &[&str]) -> String {
    common::portal_pass(b, phone, scopes).await
}

/// Every attendee's pass id (bearer secrets that answers must never show).
async fn pass_ids(b: &TestBox) -> Vec<String> {
    b.state
        .store
        .read_sql(|c| {
            let mut s = c.prepare("SELECT id FROM attendees")?;
            let rows = s.query_map([], |r| r.get(0))?;
            rows.collect()
        })
        .await
        .unwrap()
}

async fn tag(b: &TestBox, admin: &str, photo: i64, passes: &[&str]) {
    let r = reqwest::Client::new()
        .put(b.url(&format!("/api/admin/photos/{photo}/attendees")))
        .bearer_auth(admin)
        .json(&serde_json::json!({ "passes": passes }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204, "{:?}", r.text().await);
}

async fn mark_public(b: &TestBox, token: &str, photo: i64, public: bool) {
    let r = phone(1)
        .put(b.url(&format!("/api/vendor/photos/{photo}/public")))
        .bearer_auth(token)
        .json(&serde_json::json!({ "public": public }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
}

/// The photo ids a gallery page links thumbs of.
fn thumbs(page: &str) -> BTreeSet<i64> {
    page.match_indices("src=\"/portal/photos/")
        .filter_map(|(i, m)| {
            let rest = &page[i + m.len()..];
            let (id, tail) = rest.split_once('/')?;
            tail.starts_with("thumb").then(|| id.parse().ok())?
        })
        .collect()
}

async fn get(c: &reqwest::Client, b: &TestBox, path: &str) -> (u16, String) {
    let r = c.get(b.url(path)).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

struct World {
    b: TestBox,
    admin: String,
    vendor: String,
    a: reqwest::Client,
    other: reqwest::Client,
    /// Tagged to A, unpaid.
    mine: i64,
    /// Tagged to B, not public.
    theirs: i64,
    /// Public, untagged.
    public: i64,
    /// Public, tagged to B who does not consent to the gallery.
    public_b: i64,
}

async fn world() -> World {
    let b = start().await;
    let admin = b.admin_token().await;
    let (_, vendor) = b.creator("Studio Nord").await;
    let mut ids = Vec::new();
    for name in PHOTOS {
        let bytes = std::fs::read(testdata().join("photos").join(name)).unwrap();
        ids.push(b.tus_upload(&vendor, &bytes).await);
    }
    let (a, other) = (phone(9), phone(10));
    let pass_a = attendee(&b, &a, &["gallery"]).await;
    let pass_b = attendee(&b, &other, &[]).await;
    tag(&b, &admin, ids[0], &[&pass_a]).await;
    tag(&b, &admin, ids[1], &[&pass_b]).await;
    tag(&b, &admin, ids[3], &[&pass_b]).await;
    mark_public(&b, &vendor, ids[2], true).await;
    mark_public(&b, &vendor, ids[3], true).await;
    World {
        b,
        admin,
        vendor,
        a,
        other,
        mine: ids[0],
        theirs: ids[1],
        public: ids[2],
        public_b: ids[3],
    }
}

#[tokio::test]
async fn galleries_show_what_each_attendee_may_see_and_nothing_else() {
    let w = world().await;
    let (b, a) = (&w.b, &w.a);
    // "My photos": A's own photo only.
    let (status, page) = get(a, b, "/portal/mine").await;
    assert_eq!(status, 200);
    assert_eq!(thumbs(&page), BTreeSet::from([w.mine]), "{page}");
    assert!(
        page.len() <= 15 * 1024,
        "my photos page is {} bytes",
        page.len()
    );
    assert!(!page.contains("<script") && !page.contains("http://") && !page.contains("https://"));
    let (_, theirs) = get(&w.other, b, "/portal/mine").await;
    assert_eq!(thumbs(&theirs), BTreeSet::from([w.theirs, w.public_b]));
    // The public gallery: the public photo; not the public one whose tagged attendee
    // does not consent to the gallery; never anyone's untagged private photo.
    let (_, gallery) = get(a, b, "/portal/gallery").await;
    assert_eq!(thumbs(&gallery), BTreeSet::from([w.public]), "{gallery}");
    // German, like the portal.
    let (_, de) = get(a, b, "/portal/gallery?lang=de").await;
    assert!(de.contains("<html lang=\"de\"") && de.contains("Galerie"));
    // A phone without a pass is pointed to the start page, not shown thumbs it may
    // not load.
    let (status, no_pass) = get(&phone(12), b, "/portal/gallery").await;
    assert_eq!(status, 200);
    assert!(no_pass.contains("id=\"no-pass\"") && no_pass.contains("href=\"/portal?lang=en\""));
    assert!(thumbs(&no_pass).is_empty(), "{no_pass}");
    // B grants the gallery scope: their public photo appears; withdraws: it goes.
    let page = w
        .other
        .get(b.url("/portal/me"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = hidden(&page, "csrf");
    for (granted, expect) in [("yes", true), ("no", false)] {
        let r = w
            .other
            .post(b.url("/portal/me/scope"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("scope", "gallery"),
                ("granted", granted),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        let (_, gallery) = get(a, b, "/portal/gallery").await;
        assert_eq!(
            thumbs(&gallery).contains(&w.public_b),
            expect,
            "after {granted}"
        );
    }
    // A creator's default makes their unmarked photos public; the mark wins over it.
    let r = phone(1)
        .put(b.url("/api/vendor/public"))
        .bearer_auth(&w.vendor)
        .json(&serde_json::json!({ "public": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (_, gallery) = get(a, b, "/portal/gallery").await;
    // A consents to the gallery (their photo appears); B does not (theirs stays out).
    assert_eq!(thumbs(&gallery), BTreeSet::from([w.public, w.mine]));
    // A pass frame is in no gallery, not even its attendee's own.
    w.b.state
        .store
        .write_sql({
            let mine = w.mine;
            move |c| {
                c.execute(
                    "INSERT INTO delivery_pass_frames (photo_id, attendee, found_at) VALUES (?1, 'x', 0)",
                    [mine],
                )
            }
        })
        .await
        .unwrap();
    let (_, gallery) = get(a, b, "/portal/gallery").await;
    assert_eq!(thumbs(&gallery), BTreeSet::from([w.public]));
    assert!(thumbs(&get(a, b, "/portal/mine").await.1).is_empty());
    assert_eq!(
        get(a, b, &format!("/portal/photos/{}/thumb", w.mine))
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn attendees_get_thumb_and_watermarked_only_creators_their_own() {
    let w = world().await;
    let (b, a) = (&w.b, &w.a);
    for (d, ok) in [
        ("thumb", 200),
        ("watermarked", 200),
        ("preview", 404),
        ("full", 404),
    ] {
        let r = a
            .get(b.url(&format!("/portal/photos/{}/{d}", w.mine)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), ok, "{d} of A's own unpaid photo");
        let r = a
            .get(b.url(&format!("/portal/photos/{}/{d}", w.public)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), ok, "{d} of a public photo");
        // B's photo and a photo that does not exist answer alike.
        for id in [w.theirs, 999_999] {
            let r = a
                .get(b.url(&format!("/portal/photos/{id}/{d}")))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 404, "{d} of {id}");
        }
    }
    // Without a pass: refused before lookup, the same for every id.
    for id in [w.public, 999_999] {
        let r = reqwest::Client::new()
            .get(b.url(&format!("/portal/photos/{id}/thumb")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    // A creator sees their own photos in every derivative; another creator sees none.
    let (_, stranger) = b.creator("Elsewhere").await;
    for d in ["thumb", "preview", "watermarked", "full"] {
        let r = phone(1)
            .get(b.url(&format!("/photos/{}/{d}", w.theirs)))
            .bearer_auth(&w.vendor)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "creator's own {d}");
        let r = phone(1)
            .get(b.url(&format!("/photos/{}/{d}", w.theirs)))
            .bearer_auth(&stranger)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "another creator's {d}");
    }
    let _ = &w.admin;
}

/// The box remembers what it read for a photo request (`delivery::memo`) so that the
/// same request again needs no database read. What it remembers must never outlive the
/// change that narrowed it: the very next request after the change is refused.
#[tokio::test]
async fn a_photo_seen_a_moment_ago_is_refused_right_after_the_change_that_hides_it() {
    let w = world().await;
    let (b, a) = (&w.b, &w.a);
    let watermarked = |id: i64| format!("/portal/photos/{id}/watermarked");
    // Each seen several times, so the memo holds them.
    for id in [w.public, w.mine] {
        for _ in 0..3 {
            assert_eq!(get(a, b, &watermarked(id)).await.0, 200, "photo {id}");
        }
    }
    // The creator takes the public photo out of the gallery.
    mark_public(b, &w.vendor, w.public, false).await;
    assert_eq!(get(a, b, &watermarked(w.public)).await.0, 404);
    // A's own photo: the tag comes off (by the admin, for everyone).
    tag(b, &w.admin, w.mine, &[]).await;
    assert_eq!(get(a, b, &watermarked(w.mine)).await.0, 404);
    // And back: the next request sees the change that widens too.
    mark_public(b, &w.vendor, w.public, true).await;
    assert_eq!(get(a, b, &watermarked(w.public)).await.0, 200);
}

/// Every route the app serves, read from the routers' source (`.route("path",
/// get(..).post(..))` in `src/web`), so a route added later is covered without
/// anyone remembering to list it: (method, path).
fn every_route() -> Vec<(reqwest::Method, String)> {
    let mut routes = Vec::new();
    let mut files = vec![std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/web")];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let src = std::fs::read_to_string(&path).unwrap();
        for (at, _) in src.match_indices(".route(") {
            let rest = src[at + 7..].trim_start();
            let Some(rest) = rest.strip_prefix('"') else {
                continue;
            };
            let (route, rest) = rest.split_once('"').unwrap();
            // The method router: up to the end of this `.route(...)` call.
            let mut depth = 1;
            let end = rest
                .char_indices()
                .find(|&(_, c)| {
                    depth += match c {
                        '(' => 1,
                        ')' => -1,
                        _ => 0,
                    };
                    depth == 0
                })
                .map(|(i, _)| i)
                .unwrap();
            let methods = &rest[..end];
            let mut names: Vec<&str> = ["get", "post", "put", "delete", "patch", "head", "options"]
                .into_iter()
                .filter(|m| {
                    methods.contains(&format!("{m}(")) || methods.contains(&format!(".{m}("))
                })
                .collect();
            if methods.contains("upload_methods()") {
                names.extend(["options", "head", "patch", "delete"]);
            }
            assert!(
                !names.is_empty(),
                "no method found for {route} in {}",
                path.display()
            );
            for m in names {
                routes.push((
                    m.to_uppercase().parse::<reqwest::Method>().unwrap(),
                    route.to_string(),
                ));
            }
        }
    }
    routes.sort_by(|a, b| (a.1.as_str(), a.0.as_str()).cmp(&(b.1.as_str(), b.0.as_str())));
    routes.dedup();
    routes
}

/// Waits until photo `id`'s derivatives are all rendered.
async fn rendered(b: &TestBox, admin: &str, id: i64) {
    // Generous: the test machine's cores are shared with other builds.
    for _ in 0..2400 {
        let state: serde_json::Value = phone(1)
            .get(b.url(&format!("/api/admin/photos/{id}/render")))
            .bearer_auth(admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if state["state"] == "done" {
            return;
        }
        assert_ne!(state["state"], "failed", "{state}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("photo {id} not rendered in 120 s");
}

/// Is `needle` somewhere in `hay`?
fn within(hay: &[u8], needle: &[u8]) -> bool {
    needle.len() <= hay.len() && hay.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn isolation_every_route_against_others_photos_and_unpaid_pixels() {
    let w = world().await;
    let b = &w.b;
    let routes = every_route();
    for expected in [
        "/portal/photos/{id}/{derivative}",
        "/photos/{id}/{derivative}",
        "/uploads/{key}/preview",
        "/portal/mine",
        "/portal/d/{token}/{photo}",
    ] {
        assert!(
            routes.iter().any(|(_, p)| p == expected),
            "route list misses {expected}: {routes:?}"
        );
    }
    // What A must never get: every derivative of B's photo, and the unwatermarked
    // preview and full photo of A's own unpaid one, in both formats; fetched as the
    // admin from the vendors' network, so the comparison is of bytes, not guesses.
    let staff = phone(1);
    // Rendered first: before that, staff get the instant preview in place of one.
    for id in [w.mine, w.theirs, w.public, w.public_b] {
        rendered(b, &w.admin, id).await;
    }
    let mut forbidden: Vec<(String, Vec<u8>)> = Vec::new();
    for (id, derivatives) in [
        (w.theirs, &["thumb", "preview", "watermarked", "full"][..]),
        (w.public_b, &["thumb", "preview", "watermarked", "full"][..]),
        (w.mine, &["preview", "full"][..]),
        (w.public, &["preview", "full"][..]),
    ] {
        for d in derivatives {
            for accept in ["image/jpeg", "image/webp"] {
                let r = staff
                    .get(b.url(&format!("/photos/{id}/{d}")))
                    .bearer_auth(&w.admin)
                    .header("accept", accept)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200, "{id} {d} as admin");
                forbidden.push((
                    format!("{id}/{d} ({accept})"),
                    r.bytes().await.unwrap().to_vec(),
                ));
            }
        }
    }
    let upload_key: String = b
        .state
        .store
        .read_sql({
            let theirs = w.theirs;
            move |c| {
                c.query_row(
                    "SELECT id FROM uploads WHERE photo_id = ?1",
                    [theirs],
                    |r| r.get(0),
                )
            }
        })
        .await
        .unwrap_or_else(|_| "no-such-upload".into());
    // B's confirmed order and its link: A tries it tampered (A does not hold it).
    let r = place_order(b, &w.other, &[w.theirs]).await;
    assert_eq!(r.status(), 303);
    let order = vendor_orders_where(b, &w.vendor, "?state=pending").await[0]["id"]
        .as_i64()
        .unwrap();
    let r = vendor(&w, &w.vendor, order, "confirm").await;
    let b_token = link_path(&r.json().await.unwrap())
        .trim_start_matches("/portal/d/")
        .to_string();
    let mut flipped = b_token.clone();
    let last = if flipped.ends_with('A') { "B" } else { "A" };
    flipped.replace_range(flipped.len() - 1.., last);
    let (payload, _) = b_token.split_once('.').unwrap();
    let unsigned = format!("{payload}.");
    let mut tried = 0;
    for (method, route) in &routes {
        let mut paths = vec![route.clone()];
        for (placeholder, values) in [
            (
                "{id}",
                vec![
                    w.theirs.to_string(),
                    w.mine.to_string(),
                    w.public_b.to_string(),
                    "999999".into(),
                ],
            ),
            (
                "{derivative}",
                ["thumb", "preview", "watermarked", "full"]
                    .map(String::from)
                    .to_vec(),
            ),
            ("{key}", vec![upload_key.clone()]),
            (
                "{token}",
                vec![flipped.clone(), unsigned.clone(), "x".into()],
            ),
            (
                "{photo}",
                vec![w.theirs.to_string(), w.public_b.to_string()],
            ),
            (
                "{action}",
                ["confirm", "free", "cancel", "revoke", "reissue"]
                    .map(String::from)
                    .to_vec(),
            ),
        ] {
            paths = paths
                .into_iter()
                .flat_map(|p| {
                    if p.contains(placeholder) {
                        values
                            .iter()
                            .map(|v| p.replace(placeholder, v))
                            .collect::<Vec<_>>()
                    } else {
                        vec![p]
                    }
                })
                .collect();
        }
        for path in paths {
            let path = path
                .split('/')
                .map(|s| if s.starts_with('{') { "x" } else { s })
                .collect::<Vec<_>>()
                .join("/");
            for headers in [
                vec![("accept", "image/jpeg")],
                vec![("accept", "image/webp")],
                vec![("range", "bytes=0-1023")],
                vec![("range", "bytes=-2048"), ("accept", "image/webp")],
            ] {
                let mut request = w.a.request(method.clone(), b.url(&path));
                for (k, v) in &headers {
                    request = request.header(*k, *v);
                }
                if matches!(
                    *method,
                    reqwest::Method::POST | reqwest::Method::PUT | reqwest::Method::PATCH
                ) {
                    request = request
                        .header("content-type", "application/json")
                        .body(format!(
                            "{{\"photo\":{},\"photos\":[{}]}}",
                            w.theirs, w.theirs
                        ));
                }
                let r = request.send().await.unwrap();
                let status = r.status();
                let body = r.bytes().await.unwrap();
                tried += 1;
                if !status.is_success() || body.len() < 16 {
                    continue;
                }
                for (name, bytes) in &forbidden {
                    assert!(
                        !within(bytes, &body) && !within(&body, bytes),
                        "{method} {path} {headers:?} answered {status} with bytes of {name}"
                    );
                }
            }
        }
    }
    assert!(tried > 100, "only {tried} requests tried");
}

/// Posts the order form of A's "my photos" page with `fields` added to its CSRF token.
async fn order_form(w: &World, extra: &[(&str, String)]) -> reqwest::Response {
    let page =
        w.a.get(w.b.url("/portal/mine"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
    let mut form = vec![("csrf", hidden(&page, "csrf"))];
    form.extend(extra.iter().map(|(k, v)| (*k, v.clone())));
    w.a.post(w.b.url("/portal/orders"))
        .form(&form)
        .send()
        .await
        .unwrap()
}

async fn vendor(w: &World, token: &str, order: i64, action: &str) -> reqwest::Response {
    phone(1)
        .post(w.b.url(&format!("/api/vendor/orders/{order}/{action}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn order_count(b: &TestBox) -> i64 {
    b.state
        .store
        .read_sql(|c| c.query_row("SELECT count(*) FROM delivery_orders", [], |r| r.get(0)))
        .await
        .unwrap()
}

#[tokio::test]
async fn an_order_is_placed_confirmed_by_its_creator_and_reveals_the_photo() {
    let w = world().await;
    let b = &w.b;
    // Priced per creator, with the co-op split (10 %, organiser rounded down).
    assert_eq!(b.state.config.delivery.photo_price, 500);
    let r = place_order(b, &w.a, &[w.mine]).await;
    assert_eq!(r.status(), 303, "{:?}", r.text().await);
    let pending = vendor_orders_where(b, &w.vendor, "?state=pending").await;
    let order = &pending[0];
    assert_eq!(pending.as_array().unwrap().len(), 1, "{pending}");
    assert_eq!(order["total_minor"], 500);
    assert_eq!(order["currency"], "EUR");
    assert_eq!(order["photos"], serde_json::json!([w.mine]));
    assert_eq!(order["lines"][0]["creator_minor"], 450);
    assert_eq!(order["lines"][0]["organiser_minor"], 50);
    // The attendee is named by pseudonym only: no pass id anywhere in the answer.
    let pass_ids: Vec<String> = pass_ids(b).await;
    for id in &pass_ids {
        assert!(!pending.to_string().contains(id.as_str()));
    }
    let id = order["id"].as_i64().unwrap();
    // Unpaid: still watermarked only.
    let preview = format!("/portal/photos/{}/preview", w.mine);
    assert_eq!(get(&w.a, b, &preview).await.0, 404);
    // Another creator cannot decide it (the same 404 as a missing order).
    let (_, stranger) = b.creator("Elsewhere").await;
    assert_eq!(vendor(&w, &stranger, id, "confirm").await.status(), 404);
    assert_eq!(vendor(&w, &stranger, 424242, "confirm").await.status(), 404);
    let r = vendor(&w, &w.vendor, id, "confirm").await;
    assert_eq!(r.status(), 200);
    // Twice is a conflict, with the API's error body.
    let r = vendor(&w, &w.vendor, id, "confirm").await;
    assert_eq!(r.status(), 409);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "conflict");
    // Progressive reveal: the unwatermarked preview, and "my photos" links to it.
    let r = w.a.get(b.url(&preview)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["cache-control"],
        "no-store",
        "kept past a cancellation"
    );
    let (_, mine) = get(&w.a, b, "/portal/mine").await;
    assert!(mine.contains(&format!("href=\"{preview}\"")), "{mine}");
    // Still no full photo without a link; B still sees nothing of it.
    assert_eq!(
        get(&w.a, b, &format!("/portal/photos/{}/full", w.mine))
            .await
            .0,
        404
    );
    assert_eq!(get(&w.other, b, &preview).await.0, 404);
    let (_, orders) = get(&w.a, b, "/portal/orders").await;
    assert!(orders.contains(order["code"].as_str().unwrap()) && orders.contains("Paid"));
}

#[tokio::test]
async fn the_bundle_is_every_photo_of_theirs_from_one_creator_at_the_bundle_price() {
    let w = world().await;
    let creator: i64 =
        w.b.state
            .store
            .read_sql(|c| c.query_row("SELECT id FROM creators", [], |r| r.get(0)))
            .await
            .unwrap();
    let r = order_form(
        &w,
        &[
            ("bundle", creator.to_string()),
            ("photo", w.mine.to_string()),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let orders = vendor_orders(&w.b, &w.vendor).await;
    assert_eq!(orders.as_array().unwrap().len(), 1);
    assert_eq!(orders[0]["total_minor"], 2000);
    assert_eq!(orders[0]["lines"].as_array().unwrap().len(), 1);
    assert_eq!(orders[0]["lines"][0]["kind"], "bundle");
    assert_eq!(orders[0]["photos"], serde_json::json!([w.mine]));
    let id = orders[0]["id"].as_i64().unwrap();
    let r = vendor(&w, &w.vendor, id, "free").await;
    assert_eq!(r.status(), 200);
    let order: serde_json::Value = r.json().await.unwrap();
    assert_eq!(order["order"]["state"], "free");
    assert_eq!(order["order"]["total_minor"], 0);
}

#[tokio::test]
async fn hostile_order_forms_place_nothing() {
    let w = world().await;
    let b = &w.b;
    let big = "9".repeat(40);
    for (fields, status) in [
        (vec![("photo", w.theirs.to_string())], 400),
        (
            vec![
                ("photo", w.mine.to_string()),
                ("photo", w.theirs.to_string()),
            ],
            400,
        ),
        (vec![("photo", "-1".to_string())], 400),
        (vec![("photo", big.clone())], 400),
        (
            vec![
                ("photo", w.mine.to_string()),
                ("quantity", "-5".to_string()),
            ],
            400,
        ),
        (
            vec![
                ("photo", w.mine.to_string()),
                ("attendee", "someone".to_string()),
            ],
            400,
        ),
        (vec![("bundle", "999999".to_string())], 400),
        (vec![], 400),
    ] {
        let r = order_form(&w, &fields).await;
        assert_eq!(r.status(), status, "{fields:?}");
        assert_eq!(order_count(b).await, 0, "{fields:?}");
    }
    // No CSRF token: refused.
    let r =
        w.a.post(b.url("/portal/orders"))
            .form(&[("photo", w.mine.to_string())])
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 403);
    // 64 KiB of form: refused before it is read.
    let r =
        w.a.post(b.url("/portal/orders"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("photo={}", "1".repeat(64 << 10)))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(order_count(b).await, 0);
    // The vendor API refuses bodies and fields it does not know, with the usual body.
    let r = phone(1)
        .get(b.url("/api/vendor/orders?state=all"))
        .bearer_auth(&w.vendor)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "bad_request");
}

#[test]
fn misconfigured_prices_are_named_by_their_key() {
    let mut config = common::test_config("/tmp/unused".into());
    config.delivery.photo_price = venuebox::config::MAX_PRICE_MINOR + 1;
    config.delivery.currency = "eu".into();
    config.delivery.creators.insert(
        "Studio Nord".into(),
        venuebox::config::CreatorPrices {
            photo: None,
            bundle: Some(u64::MAX),
        },
    );
    let keys: Vec<String> = config.validate().into_iter().map(|i| i.key).collect();
    for key in [
        "delivery.photo_price",
        "delivery.currency",
        "delivery.creators.Studio Nord.bundle",
    ] {
        assert!(keys.iter().any(|k| k == key), "{key} not named in {keys:?}");
    }
    // A negative price does not even parse, and the error names the key.
    let toml = "[delivery]\nphoto_price = -5\n";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("venuebox.toml");
    std::fs::write(&path, toml).unwrap();
    let err = venuebox::config::Config::load(Some(&path), [], &Default::default()).unwrap_err();
    assert!(err.to_string().contains("delivery.photo_price"), "{err}");
}

/// A's photo ordered and confirmed: (order id, link URL path).
async fn confirmed(w: &World) -> (i64, String) {
    let r = place_order(&w.b, &w.a, &[w.mine]).await;
    assert_eq!(r.status(), 303);
    let id = vendor_orders_where(&w.b, &w.vendor, "?state=pending").await[0]["id"]
        .as_i64()
        .unwrap();
    let r = vendor(w, &w.vendor, id, "confirm").await;
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    (id, link_path(&body))
}

fn link_path(body: &serde_json::Value) -> String {
    let url = body["link"].as_str().expect("a link is issued");
    let path = &url[url.find("/portal/d/").expect("a portal link")..];
    path.to_string()
}

/// The refusal a link page names, if any.
fn refusal(page: &str) -> Option<&str> {
    let start = page.find("data-refusal=\"")? + 14;
    page[start..].split('"').next()
}

async fn downloads(b: &TestBox, outcome: &str) -> i64 {
    let outcome = outcome.to_string();
    b.state
        .store
        .read_sql(move |c| {
            c.query_row(
                "SELECT count(*) FROM delivery_downloads WHERE outcome = ?1",
                [outcome],
                |r| r.get(0),
            )
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn a_confirmed_order_downloads_through_its_counted_signed_link() {
    let w = world().await;
    let b = &w.b;
    let (order, link) = confirmed(&w).await;
    // The attendee's orders page carries the link; its page lists the photo.
    let (_, orders) = get(&w.a, b, "/portal/orders").await;
    assert!(orders.contains(&link), "{orders}");
    let (status, page) = get(&reqwest::Client::new(), b, &link).await;
    assert_eq!(status, 200);
    let one = format!("{link}/{}", w.mine);
    assert!(
        page.contains(&one) && page.contains("3 downloads left"),
        "{page}"
    );
    // Its thumbs show on any device (no pass), spending no use; only its own photos.
    let anywhere = reqwest::Client::new();
    assert_eq!(get(&anywhere, b, &format!("{one}/thumb")).await.0, 200);
    assert_eq!(
        get(&anywhere, b, &format!("{one}/watermarked")).await.0,
        404
    );
    assert_eq!(
        get(&anywhere, b, &format!("{link}/{}/thumb", w.theirs))
            .await
            .0,
        404
    );
    assert!(get(&anywhere, b, &link)
        .await
        .1
        .contains("3 downloads left"));
    // The photo downloads as itself, byte for byte the full derivative.
    rendered(b, &w.admin, w.mine).await;
    let full = phone(1)
        .get(b.url(&format!("/photos/{}/full", w.mine)))
        .bearer_auth(&w.admin)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let r = phone(30).get(b.url(&one)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    let disposition = r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        disposition.starts_with("attachment; filename=\"venuebox-")
            && disposition.ends_with(".jpg\""),
        "{disposition}"
    );
    assert_eq!(r.bytes().await.unwrap(), full);
    assert_eq!(downloads(b, "ok").await, 1);
    // A photo not in the order: refused, recorded, no use spent.
    let (status, page) = get(&phone(30), b, &format!("{link}/{}", w.theirs)).await;
    assert_eq!((status, refusal(&page)), (404, Some("not_in_order")));
    // Uses run out: 3 allowed, then a clear page (in German for a German phone).
    for _ in 0..2 {
        assert_eq!(get(&phone(30), b, &one).await.0, 200);
    }
    let r = phone(30)
        .get(b.url(&one))
        .header("accept-language", "de")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 410);
    let page = r.text().await.unwrap();
    assert_eq!(refusal(&page), Some("used_up"));
    assert!(
        page.contains("lang=\"de\"") && page.contains("aufgebraucht"),
        "{page}"
    );
    assert_eq!(downloads(b, "ok").await, 3);
    assert_eq!(downloads(b, "used_up").await, 1);
    // The record is append-only.
    let changed = b
        .state
        .store
        .write_sql(|c| c.execute("UPDATE delivery_downloads SET outcome = 'ok'", []))
        .await;
    assert!(changed.is_err(), "the download record accepted an update");
    // Revoke, then re-issue: the old link is dead, the new one works.
    assert_eq!(vendor(&w, &w.vendor, order, "revoke").await.status(), 200);
    let r = vendor(&w, &w.vendor, order, "reissue").await;
    assert_eq!(r.status(), 200);
    let fresh = link_path(&r.json().await.unwrap());
    assert_ne!(fresh, link);
    let (status, page) = get(&phone(30), b, &link).await;
    assert_eq!((status, refusal(&page)), (410, Some("revoked")));
    assert_eq!(
        get(&phone(30), b, &format!("{fresh}/{}", w.mine)).await.0,
        200
    );
    assert_eq!(vendor(&w, &w.vendor, order, "revoke").await.status(), 200);
    let (status, page) = get(&phone(30), b, &format!("{fresh}/{}", w.mine)).await;
    assert_eq!((status, refusal(&page)), (410, Some("revoked")));
}

#[tokio::test]
async fn a_link_issued_before_a_key_rotation_still_delivers_after_it() {
    let w = world().await;
    let (order, link) = confirmed(&w).await;
    let one = format!("{link}/{}", w.mine);
    let (vendor, mine) = (w.vendor.clone(), w.mine);
    // `venuebox keys rotate` beside the service, then a reboot: the box signs with the
    // new key from now on, and the old key is destroyed.
    let data_dir = w.b.data_dir();
    let before = w.b.state.vault.key_id();
    tokio::task::spawn_blocking(move || venuebox::identity::rotate(&data_dir, 0))
        .await
        .unwrap()
        .expect("rotate");
    let b = w.b.restart().await;
    assert_ne!(b.state.vault.key_id(), before, "the rotation took effect");
    // The old link is still this box's: checked against the key chain.
    let (status, page) = get(&phone(30), &b, &link).await;
    assert_eq!((status, refusal(&page)), (200, None), "{page}");
    assert_eq!(get(&phone(30), &b, &one).await.0, 200);
    // A link issued now is signed by the new key, and works too.
    let r = phone(1)
        .post(b.url(&format!("/api/vendor/orders/{order}/reissue")))
        .bearer_auth(&vendor)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let fresh = link_path(&r.json().await.unwrap());
    let (payload, _) = fresh
        .trim_start_matches("/portal/d/")
        .split_once('.')
        .unwrap();
    use base64::Engine;
    let claims: venuebox::delivery::links::Claims = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims.key, b.state.vault.key_id());
    assert_eq!(get(&phone(30), &b, &format!("{fresh}/{mine}")).await.0, 200);
}

#[tokio::test]
async fn tampered_foreign_expired_and_withdrawn_links_deliver_nothing() {
    use base64::Engine;
    let w = world().await;
    let b = &w.b;
    let (order, link) = confirmed(&w).await;
    let token = link.trim_start_matches("/portal/d/").to_string();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let (payload, sig) = token.split_once('.').unwrap();
    let claims: venuebox::delivery::links::Claims =
        serde_json::from_slice(&b64.decode(payload).unwrap()).unwrap();
    let try_token = |t: String| {
        let url = b.url(&format!("/portal/d/{t}/{}", w.mine));
        async move {
            let r = phone(31).get(url).send().await.unwrap();
            let status = r.status().as_u16();
            let page = r.text().await.unwrap();
            (status, refusal(&page).map(str::to_string))
        }
    };
    // More uses, same signature.
    let more = b64.encode(
        serde_json::to_vec(&venuebox::delivery::links::Claims {
            uses: 99,
            ..claims.clone()
        })
        .unwrap(),
    );
    assert_eq!(
        try_token(format!("{more}.{sig}")).await,
        (404, Some("tampered".into()))
    );
    // One character of the signature changed.
    let mut bad = sig.to_string();
    let c = if bad.starts_with('A') { "B" } else { "A" };
    bad.replace_range(0..1, c);
    assert_eq!(
        try_token(format!("{payload}.{bad}")).await,
        (404, Some("tampered".into()))
    );
    // Another box's key, under its own key id, and pretending to be ours.
    let other = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let other_id = venuebox::identity::key_id(&other.verifying_key());
    let foreign = venuebox::delivery::links::encode(
        &venuebox::delivery::links::Claims {
            key: other_id,
            ..claims.clone()
        },
        |m| ed25519_dalek::Signer::sign(&other, m),
    );
    assert_eq!(try_token(foreign).await, (404, Some("other_box".into())));
    let forged =
        venuebox::delivery::links::encode(&claims, |m| ed25519_dalek::Signer::sign(&other, m));
    assert_eq!(try_token(forged).await, (404, Some("tampered".into())));
    // Expired: a link issued by the box with no time to live.
    let vault = b.state.vault.clone();
    let expired = b
        .state
        .store
        .write_sql(move |c| {
            let code: String = c.query_row(
                "SELECT code FROM delivery_orders WHERE id = ?1",
                [order],
                |r| r.get(0),
            )?;
            venuebox::delivery::links::issue(c, order, &code, 0, 3, &vault.key_id(), |m| {
                vault.sign(m)
            })
        })
        .await
        .unwrap();
    assert_eq!(
        try_token(expired.token.clone()).await,
        (410, Some("expired".into()))
    );
    // Consent withdrawn after issue: A deletes their records; a live link dies.
    let r = vendor(&w, &w.vendor, order, "reissue").await;
    let live = link_path(&r.json().await.unwrap());
    assert_eq!(
        get(&phone(31), b, &format!("{live}/{}", w.mine)).await.0,
        200
    );
    let page =
        w.a.get(b.url("/portal/me"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
    let csrf = hidden(&page, "csrf");
    let before_erasure = pass_ids(b).await;
    let r =
        w.a.post(b.url("/portal/me/delete"))
            .form(&[("csrf", csrf.as_str()), ("confirm", "yes")])
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 200);
    let (status, page) = get(&phone(31), b, &format!("{live}/{}", w.mine)).await;
    assert_eq!((status, refusal(&page)), (410, Some("withdrawn")));
    // Their orders no longer hold their pass id (a bearer secret), only the pseudonym.
    let remaining: Vec<String> = pass_ids(b).await;
    let erased: Vec<&String> = before_erasure
        .iter()
        .filter(|p| !remaining.contains(p))
        .collect();
    assert_eq!(erased.len(), 1, "one attendee erased");
    let kept: i64 = {
        let pass = erased[0].clone();
        b.state
            .store
            .read_sql(move |c| {
                c.query_row(
                    "SELECT count(*) FROM delivery_orders WHERE attendee = ?1",
                    [pass],
                    |r| r.get(0),
                )
            })
            .await
            .unwrap()
    };
    assert_eq!(
        kept, 0,
        "an erased attendee's pass id stayed on their orders"
    );
    // Every refusal is a failed delivery in the record, and in the admin's figures.
    let figures: serde_json::Value = phone(1)
        .get(b.url("/api/admin/downloads"))
        .bearer_auth(&w.admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for outcome in ["tampered", "other_box", "expired", "withdrawn"] {
        assert!(downloads(b, outcome).await >= 1, "{outcome} not recorded");
        assert!(
            figures["by_outcome"][outcome].as_i64() >= Some(1),
            "{figures}"
        );
    }
    assert_eq!(figures["by_outcome"]["ok"], 1);
    assert!(figures["failed"].as_i64().unwrap() >= 5, "{figures}");
    assert_eq!(downloads(b, "ok").await, 1);
}

#[tokio::test]
async fn the_last_use_raced_by_twenty_downloads_goes_to_exactly_one() {
    let w = world().await;
    let b = &w.b;
    let (_, link) = confirmed(&w).await;
    let one = format!("{link}/{}", w.mine);
    for _ in 0..2 {
        assert_eq!(get(&phone(32), b, &one).await.0, 200);
    }
    let url = b.url(&one);
    let racers: Vec<_> = (40..60u8)
        .map(|n| {
            let url = url.clone();
            tokio::spawn(async move { phone(n).get(url).send().await.unwrap().status().as_u16() })
        })
        .collect();
    let mut statuses = Vec::new();
    for r in racers {
        statuses.push(r.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 410).count(),
        19,
        "{statuses:?}"
    );
    assert_eq!(downloads(b, "ok").await, 3);
}

#[tokio::test]
async fn confirmation_prints_a_receipt_whose_qr_code_holds_the_link() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let (dev, peer) = (dir.path().join("ttyPrn"), dir.path().join("printer"));
    let mut socat = common::socat_pty_pair(&dev, &peer);
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    {
        let mut f = std::fs::File::open(&peer).unwrap();
        let sink = got.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = f.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
    }
    let device = dev.clone();
    let b = TestBox::start_with(Options {
        configure: Box::new(move |c| {
            c.portal.attendee_networks = vec!["127.0.0.8/29".parse().unwrap()];
            c.printer.kind = venuebox::config::PrinterKind::Serial;
            c.printer.device = device;
        }),
        ..Options::default()
    })
    .await;
    let admin = b.admin_token().await;
    let (_, vendor_token) = b.creator("Studio Nord").await;
    let bytes = std::fs::read(testdata().join("photos").join(PHOTOS[2])).unwrap();
    let photo = b.tus_upload(&vendor_token, &bytes).await;
    let a = phone(9);
    let pass = attendee(&b, &a, &[]).await;
    tag(&b, &admin, photo, &[&pass]).await;
    let r = place_order(&b, &a, &[photo]).await;
    assert_eq!(r.status(), 303);
    let orders = vendor_orders(&b, &vendor_token).await;
    let (id, code) = (
        orders[0]["id"].as_i64().unwrap(),
        orders[0]["code"].as_str().unwrap().to_string(),
    );
    let r = phone(1)
        .post(b.url(&format!("/api/vendor/orders/{id}/confirm")))
        .bearer_auth(&vendor_token)
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = r.json().await.unwrap();
    let link = body["link"].as_str().unwrap().to_string();
    // The receipt comes out of the pty: code, total, and the link in a QR store command
    // (GS ( k, cn 49, fn 80) and as text.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let bytes = got.lock().unwrap().clone();
        let has = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
        let mut store = vec![0x31, 0x50, 0x30];
        store.extend_from_slice(link.as_bytes());
        if has(&store) && has(code.as_bytes()) && has(b"5.00 EUR") && has(&[0x1d, 0x56, 0x42, 0x00])
        {
            let len = (store.len() as u16).to_le_bytes();
            let mut command = vec![0x1d, 0x28, 0x6b, len[0], len[1]];
            command.extend_from_slice(&store);
            assert!(
                has(&command),
                "the QR store command's length is the link's + 3"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no receipt with the link: {} bytes",
            bytes.len()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    b.stop().await;
    let _ = socat.kill();
    let _ = socat.wait();
}

/// Every manifest the local sync target holds, concatenated.
fn manifests(b: &TestBox) -> String {
    let mut all = String::new();
    let mut dirs = vec![b.data_dir().join("sync-target")];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = e.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.to_string_lossy().contains("/bundles/")
                && !path.to_string_lossy().ends_with(".sig.json")
            {
                all += &std::fs::read_to_string(&path).unwrap_or_default();
            }
        }
    }
    all
}

#[tokio::test]
async fn orders_and_their_confirmation_go_into_the_next_signed_bundle() {
    let w = world().await;
    let b = &w.b;
    let (order, _) = confirmed(&w).await;
    let code: String = b
        .state
        .store
        .read_sql(move |c| {
            c.query_row(
                "SELECT code FROM delivery_orders WHERE id = ?1",
                [order],
                |r| r.get(0),
            )
        })
        .await
        .unwrap();
    let r = phone(1)
        .post(b.url("/api/admin/sync/now"))
        .bearer_auth(&w.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let all = loop {
        let all = manifests(b);
        if all.contains("\"event\":\"paid\"") {
            break all;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no order in a bundle: {all}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert!(
        all.contains("\"type\":\"order\"")
            && all.contains(&code)
            && all.contains("\"event\":\"placed\""),
        "{all}"
    );
    assert!(
        all.contains("\"organiser_minor\":50") && all.contains("\"creator_minor\":450"),
        "{all}"
    );
    // A did not consent to sync: the sale goes to the books without naming them.
    assert!(all.contains("\"attendee\":null"), "{all}");
    let (pass_ids, pseudonyms): (Vec<String>, Vec<String>) = b
        .state
        .store
        .read_sql(|c| {
            let mut s = c.prepare("SELECT id, pseudonym FROM attendees")?;
            let rows = s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<rusqlite::Result<Vec<(String, String)>>>()
        })
        .await
        .unwrap()
        .into_iter()
        .unzip();
    for secret in pass_ids.iter().chain(&pseudonyms) {
        assert!(
            !all.contains(secret.as_str()),
            "an attendee is named in the bundle"
        );
    }
    // The bundles verify offline.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_venuebox"))
        .args([
            "bundle",
            "verify",
            b.data_dir().join("sync-target").to_str().unwrap(),
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[tokio::test]
async fn full_gallery_pages_stay_under_15_kb_and_page_by_keyset() {
    let b = start().await;
    // The longest creator name there may be: every thumb's label and alt text name it.
    let (creator, _) = b.creator(&"W".repeat(64)).await;
    let a = phone(9);
    attendee(&b, &a, &["gallery"]).await;
    let pass: String = b
        .state
        .store
        .read_sql(|c| c.query_row("SELECT id FROM attendees", [], |r| r.get(0)))
        .await
        .unwrap();
    // 60 stored photos (rows only: the pages list photos, they do not open them),
    // public by the creator's default and tagged to A.
    b.state
        .store
        .write_sql(move |c| {
            for n in 0..60 {
                c.execute(
                    "INSERT INTO photos (sha256, size, media_type, creator_id, original_name, source, received_at)
                     VALUES (?1, 1, 'image/jpeg', ?2, 'x.jpg', 'tus', 0)",
                    rusqlite::params![format!("{n:064x}"), creator],
                )?;
                c.execute(
                    "INSERT INTO photo_attendees (photo_id, attendee, tagged_at) VALUES (last_insert_rowid(), ?1, 0)",
                    [&pass],
                )?;
            }
            venuebox::delivery::set_creator_default(c, creator, true, "test")
        })
        .await
        .unwrap();
    for base in ["/portal/mine", "/portal/gallery"] {
        let mut seen = BTreeSet::new();
        let mut path = base.to_string();
        let mut pages = 0;
        loop {
            let (status, page) = get(&a, &b, &path).await;
            assert_eq!(status, 200);
            pages += 1;
            assert!(page.len() <= 15 * 1024, "{path} is {} bytes", page.len());
            println!(
                "{path}: {} bytes, {} photos",
                page.len(),
                thumbs(&page).len()
            );
            let ids = thumbs(&page);
            assert!(ids.is_disjoint(&seen), "pages overlap");
            seen.extend(ids);
            let Some(at) = page.find("&amp;before=") else {
                break;
            };
            let next: String = page[at + 12..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            path = format!("{base}?before={next}");
        }
        assert_eq!(seen.len(), 60, "{base}");
        assert_eq!(pages, 3, "{base}: 24 + 24 + 12");
    }
}
