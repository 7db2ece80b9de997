//! `GET /metrics` (issue 16, item 2) against a real box on loopback: the text passes
//! `promtool check metrics` (Debian's prometheus package; tests/run.sh installs it),
//! its values match the admin API's JSON stats after uploads, renders, an order, a
//! download and a refused one, and it is refused to anonymous clients off loopback,
//! to attendees (their pass cookie), to creators (their upload token) and to the
//! attendee network. Phones are loopback addresses of their own; `127.0.0.8/29` is
//! the attendee network.

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;

use common::{hidden, phone, testdata, Options, TestBox};
use venuebox::metrics::value;

/// Two small corpus photos.
const PHOTOS: [&str; 2] = ["kodak-dc280_DCP_4394.JPG", "polaroid-pdc640m_POL_0132.JPG"];

async fn start() -> TestBox {
    TestBox::start_with(Options {
        configure: Box::new(|c| {
            c.portal.attendee_networks = vec!["127.0.0.8/29".parse().unwrap()];
        }),
        ..Options::default()
    })
    .await
}

async fn get_json(b: &TestBox, admin: &str, path: &str) -> serde_json::Value {
    let r = phone(1)
        .get(b.url(path))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.unwrap()
}

/// `/metrics` from loopback without credentials: the text, checked for its type.
async fn scrape(b: &TestBox) -> String {
    let r = phone(1).get(b.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    r.text().await.unwrap()
}

/// `promtool check metrics` on `text`: its findings, empty when it passes.
fn promtool(text: &str) -> String {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool must be installed (tests/run.sh: Debian's prometheus package)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        assert!(said.trim().is_empty(), "promtool passed but said: {said}");
    }
    said
}

/// Waits until photo `id` is rendered (its render state is 404 until it is queued).
async fn rendered(b: &TestBox, admin: &str, id: i64) {
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

fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    value(text, name, labels).unwrap_or_else(|| panic!("no {name} {labels:?} in\n{text}"))
}

#[tokio::test]
async fn the_text_passes_promtool_and_matches_the_json_stats() {
    let b = start().await;
    let admin = b.admin_token().await;
    // An empty box already passes: families with no source yet are left out.
    let empty = scrape(&b).await;
    assert_eq!(promtool(&empty), "", "{empty}");
    assert_eq!(metric(&empty, "venuebox_renders_total", &[]), 0.0);
    assert!(!empty.contains("venuebox_orders{"), "no orders, no series");

    let (_, vendor) = b.creator("Studio Nord").await;
    let mut ids = Vec::new();
    for name in PHOTOS {
        let bytes = std::fs::read(testdata().join("photos").join(name)).unwrap();
        ids.push(b.tus_upload(&vendor, &bytes).await);
    }
    for &id in &ids {
        rendered(&b, &admin, id).await;
    }
    // Cache lookups: the same thumb twice (a miss or a hit, then a hit).
    for _ in 0..2 {
        let r = phone(1)
            .get(b.url(&format!("/photos/{}/thumb", ids[0])))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    // An attendee with the gallery scope, tagged on photo 0, orders it; the vendor
    // confirms; it downloads once; the admin revokes the order and the link refuses.
    let a = phone(9);
    let pass = common::portal_pass(&b, &a, &["gallery"]).await;
    let r = phone(1)
        .put(b.url(&format!("/api/admin/photos/{}/attendees", ids[0])))
        .bearer_auth(&admin)
        .json(&serde_json::json!({ "passes": [pass] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let page = a
        .get(b.url("/portal/mine"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let form = [
        ("csrf", hidden(&page, "csrf")),
        ("photo", ids[0].to_string()),
    ];
    let r = a
        .post(b.url("/portal/orders"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let orders = get_json(&b, &admin, "/api/admin/orders").await;
    let order = orders[0]["id"].as_i64().unwrap();
    let r = phone(1)
        .post(b.url(&format!("/api/vendor/orders/{order}/confirm")))
        .bearer_auth(&vendor)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    let url = body["link"].as_str().unwrap();
    let link = &url[url.find("/portal/d/").unwrap()..];
    let one = format!("{link}/{}", ids[0]);
    assert_eq!(
        phone(30).get(b.url(&one)).send().await.unwrap().status(),
        200
    );
    let r = phone(1)
        .post(b.url(&format!("/api/admin/orders/{order}/revoke")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_ne!(
        phone(30).get(b.url(&one)).send().await.unwrap().status(),
        200
    );
    // A second order, left pending.
    let r = a
        .post(b.url("/portal/orders"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);

    // Nothing moves now (renders done, no request in between that counts): read the
    // JSON, scrape, read the JSON again; the scrape must match both.
    let previews = get_json(&b, &admin, "/api/admin/previews/stats").await;
    let text = scrape(&b).await;
    let previews_after = get_json(&b, &admin, "/api/admin/previews/stats").await;
    let same = |k: &str| previews[k] == previews_after[k];
    assert!(
        same("renders") && same("cache"),
        "figures moved during the scrape"
    );
    assert_eq!(promtool(&text), "", "{text}");

    let n = |v: &serde_json::Value| v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"));
    assert_eq!(
        metric(&text, "venuebox_renders_total", &[]),
        n(&previews["renders"])
    );
    assert_eq!(metric(&text, "venuebox_renders_total", &[]), 2.0);
    assert_eq!(
        metric(&text, "venuebox_render_queue_depth", &[]),
        n(&previews["queue_depth"])
    );
    assert_eq!(
        metric(&text, "venuebox_renders_in_flight", &[]),
        n(&previews["in_flight"])
    );
    assert_eq!(
        metric(&text, "venuebox_instant_previews_total", &[]),
        n(&previews["instant_previews"])
    );
    let cache = previews["cache"].as_object().unwrap();
    assert_eq!(cache.len(), 4);
    for (d, c) in cache {
        let lookups = "venuebox_derivative_cache_lookups_total";
        let hits = metric(&text, lookups, &[("derivative", d), ("result", "hit")]);
        let misses = metric(&text, lookups, &[("derivative", d), ("result", "miss")]);
        assert_eq!((hits, misses), (n(&c["hits"]), n(&c["misses"])), "{d}");
    }
    assert!(n(&cache["thumb"]["hits"]) >= 1.0, "{previews}");
    for (route, t) in previews["routes"].as_object().unwrap() {
        let renders = metric(&text, "venuebox_route_renders_total", &[("route", route)]);
        assert_eq!(renders, n(&t["renders"]), "{route}");
        let decode = metric(
            &text,
            "venuebox_render_stage_seconds_total",
            &[("route", route), ("stage", "decode")],
        );
        let mean_ms = (decode / renders * 1000.0 * 100.0).round() / 100.0;
        assert!((mean_ms - n(&t["decode_ms_mean"])).abs() < 0.02, "{route}");
        // CPU per preview: measured for every render here (Linux has schedstat), more
        // than nothing, and no more than the render's wall time allows on one thread.
        let measured = metric(
            &text,
            "venuebox_render_cpu_measured_renders_total",
            &[("route", route)],
        );
        assert_eq!(measured, renders, "{route}");
        let cpu = metric(
            &text,
            "venuebox_render_cpu_seconds_total",
            &[("route", route)],
        );
        let cpu_ms = (cpu / measured * 1000.0 * 100.0).round() / 100.0;
        assert!((cpu_ms - n(&t["cpu_ms_mean"])).abs() < 0.02, "{route}: {t}");
        assert!(cpu_ms > 0.0, "{route}: {t}");
    }
    let ttfp = &previews["ttfp_ms"]["from_upload_end"];
    let count = "venuebox_time_to_first_preview_seconds_count";
    assert_eq!(
        metric(&text, count, &[("from", "upload_end")]),
        n(&ttfp["count"])
    );
    assert_eq!(n(&ttfp["count"]), 2.0);
    let inf = "venuebox_time_to_first_preview_seconds_bucket";
    assert_eq!(
        metric(&text, inf, &[("from", "upload_end"), ("le", "+Inf")]),
        2.0
    );
    // The p95 of two samples is the larger: every sample is in the bucket holding it.
    let p95 = n(&ttfp["p95"]) / 1000.0;
    let bound = venuebox::metrics::TTFP_BUCKETS
        .iter()
        .find(|&&le| le >= p95)
        .map_or("+Inf".to_string(), |le| le.to_string());
    assert_eq!(
        metric(&text, inf, &[("from", "upload_end"), ("le", &bound)]),
        2.0
    );
    assert_eq!(
        metric(&text, "venuebox_photos_stored_total", &[("source", "tus")]),
        2.0
    );

    let sync = get_json(&b, &admin, "/api/admin/sync").await;
    for (state, json) in [("uploaded", "uploaded"), ("pending", "pending")] {
        let v = metric(&text, "venuebox_sync_bundles", &[("state", state)]);
        assert_eq!(v, n(&sync["bundles"][json]), "bundles {state}");
    }
    for (state, json) in [
        ("done", "uploaded"),
        ("pending", "pending"),
        ("conflict", "conflict"),
    ] {
        let v = metric(&text, "venuebox_sync_objects", &[("state", state)]);
        assert_eq!(v, n(&sync["objects"][json]), "objects {state}");
    }
    assert_eq!(
        metric(&text, "venuebox_sync_pending_bytes", &[]),
        n(&sync["pending_bytes"])
    );
    assert_eq!(
        metric(&text, "venuebox_sync_sent_bytes_total", &[]),
        n(&sync["bytes_sent"])
    );
    let uplink = sync["uplink"].as_str().unwrap();
    assert_eq!(
        metric(&text, "venuebox_sync_uplink", &[("state", uplink)]),
        1.0
    );
    let enabled = f64::from(u8::from(sync["enabled"].as_bool().unwrap()));
    assert_eq!(metric(&text, "venuebox_sync_enabled", &[]), enabled);

    let people = get_json(&b, &admin, "/api/admin/attendance").await;
    assert_eq!(
        metric(&text, "venuebox_attendees", &[]),
        n(&people["attendees"])
    );
    assert_eq!(n(&people["attendees"]), 1.0);
    let granted = people["granted"].as_object().unwrap();
    assert!(granted.contains_key("gallery"), "{people}");
    for (scope, v) in granted {
        let m = metric(
            &text,
            "venuebox_consent_granted_attendees",
            &[("scope", scope)],
        );
        assert_eq!(m, n(v), "{scope}");
    }
    for (source, v) in people["attendance"].as_object().unwrap() {
        let m = metric(&text, "venuebox_attendance_records", &[("source", source)]);
        assert_eq!(m, n(v), "{source}");
    }

    let orders = get_json(&b, &admin, "/api/admin/orders").await;
    let orders = orders.as_array().unwrap();
    assert_eq!(orders.len(), 2);
    for state in ["pending", "paid", "free", "cancelled"] {
        let want = orders.iter().filter(|o| o["state"] == state).count() as f64;
        let got = value(&text, "venuebox_orders", &[("state", state)]).unwrap_or(0.0);
        assert_eq!(got, want, "orders {state}");
    }
    let downloads = get_json(&b, &admin, "/api/admin/downloads").await;
    let by_outcome = downloads["by_outcome"].as_object().unwrap();
    assert_eq!(n(&by_outcome["ok"]), 1.0, "{downloads}");
    assert!(n(&downloads["failed"]) >= 1.0, "{downloads}");
    for (outcome, v) in by_outcome {
        let m = metric(&text, "venuebox_downloads_total", &[("outcome", outcome)]);
        assert_eq!(m, n(v), "{outcome}");
    }
    let healthz: serde_json::Value = phone(1)
        .get(b.url("/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let free = metric(&text, "venuebox_disk_free_bytes", &[]);
    let healthz_free = n(&healthz["disk"]["free_bytes"]);
    // Read a moment apart on a shared disk: within 64 MiB.
    assert!(
        (free - healthz_free).abs() < (64 << 20) as f64,
        "{free} vs {healthz_free}"
    );
    // Labels only from small fixed sets: nothing per attendee, creator or device.
    let allowed = [
        "version",
        "source",
        "derivative",
        "result",
        "format",
        "route",
        "stage",
        "from",
        "le",
        "state",
        "scope",
        "outcome",
        "reason",
        "page",
    ];
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((_, labels)) = line.split_once('{') else {
            continue;
        };
        let labels = &labels[..labels.rfind('}').unwrap()];
        for pair in labels.split(',') {
            let name = pair.split('=').next().unwrap();
            assert!(allowed.contains(&name), "label {name} in {line}");
        }
    }
    assert!(!text.contains(&pass));
}

/// The app's router with a request from `client` handed in as the server would
/// (`ConnectInfo`): for addresses this machine's tests cannot connect from.
async fn from_address(b: &TestBox, client: SocketAddr, bearer: Option<&str>) -> u16 {
    use tower::ServiceExt;
    let mut request = axum::http::Request::get("/metrics")
        .header("host", b.http.to_string())
        .body(axum::body::Body::empty())
        .unwrap();
    if let Some(token) = bearer {
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(venuebox::web::ClientAddr {
            addr: client,
            tls: false,
            local: Some(b.http),
            interface: None,
        }));
    let app = venuebox::web::app(b.state.clone());
    app.oneshot(request).await.unwrap().status().as_u16()
}

#[tokio::test]
async fn metrics_are_refused_to_anonymous_attendees_creators_and_the_attendee_network() {
    let b = start().await;
    let admin = b.admin_token().await;
    let (_, creator) = b.creator("Studio Nord").await;
    let get = |c: reqwest::Client| c.get(b.url("/metrics"));

    // Served: the admin's bearer token, and anonymous loopback (127/8 and the box).
    let r = get(phone(1)).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(get(phone(1)).send().await.unwrap().status(), 200);
    assert_eq!(
        get(reqwest::Client::new()).send().await.unwrap().status(),
        200
    );

    // A creator's upload token, from loopback: not an admin session, never anonymous.
    let r = get(phone(1)).bearer_auth(&creator).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = get(phone(1))
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // An attendee's pass (their session), from loopback outside the attendee network
    // (the cookie is scoped to /portal, so it is sent by hand as a hostile page would).
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let attendee = reqwest::Client::builder()
        .local_address("127.0.0.30".parse::<std::net::IpAddr>().unwrap())
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    common::portal_pass(&b, &attendee, &["gallery"]).await;
    let portal: reqwest::Url = b.url("/portal").parse().unwrap();
    let cookies = reqwest::cookie::CookieStore::cookies(jar.as_ref(), &portal)
        .expect("the portal set cookies");
    let cookies = cookies.to_str().unwrap().to_string();
    assert!(cookies.contains("vb_pass="), "{cookies}");
    let r = get(phone(30))
        .header("cookie", &cookies)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // The attendee network: 404, as if the route did not exist, even with the
    // admin's token.
    assert_eq!(get(phone(9)).send().await.unwrap().status(), 404);
    let r = get(phone(9)).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(r.status(), 404);

    // Off loopback (a staff laptop on the LAN): anonymous 401, the admin 200.
    let lan: SocketAddr = "192.0.2.50:40000".parse().unwrap();
    assert_eq!(from_address(&b, lan, None).await, 401);
    assert_eq!(from_address(&b, lan, Some(&creator)).await, 401);
    assert_eq!(from_address(&b, lan, Some(&admin)).await, 200);
    let lan6: SocketAddr = "[fd00::50]:40000".parse().unwrap();
    assert_eq!(from_address(&b, lan6, None).await, 401);
    // IPv6 loopback is loopback; the attendee network stays 404.
    assert_eq!(
        from_address(&b, "[::1]:40000".parse().unwrap(), None).await,
        200
    );
    let phone_net: SocketAddr = "127.0.0.9:40000".parse().unwrap();
    assert_eq!(from_address(&b, phone_net, Some(&admin)).await, 404);
}
