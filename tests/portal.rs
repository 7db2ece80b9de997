//! The captive portal over real HTTP: every OS's probe before and after consent, the
//! RFC 8908 API, the consent journey (consent, pass, my data, withdraw, delete), the
//! decline path, languages, and hostile forms. Clients are told apart by source
//! address (127.0.0.1, 127.0.0.2, ... are all loopback).

mod common;

use common::{hidden, phone, Options, TestBox};
use reqwest::header::{HeaderMap, ACCEPT_LANGUAGE, CONTENT_TYPE, HOST, LOCATION, USER_AGENT};
use venuebox::consent::{self, Scope};

/// Each OS's probes: host, path, user agent, and the answer that means "online".
struct Probe {
    host: &'static str,
    path: &'static str,
    agent: &'static str,
    status: u16,
    body: &'static str,
}

const APPLE: &str = "<HTML><HEAD><TITLE>Success</TITLE></HEAD><BODY>Success</BODY></HTML>";
const FIREFOX: &str =
    "<meta http-equiv=\"refresh\" content=\"0;url=https://support.mozilla.org/kb/captive-portal\"/>\n";

const PROBES: &[Probe] = &[
    Probe { host: "captive.apple.com", path: "/hotspot-detect.html", agent: "CaptiveNetworkSupport-481.40.2 wispr", status: 200, body: APPLE },
    Probe { host: "captive.apple.com", path: "/library/test/success.html", agent: "CaptiveNetworkSupport-481.40.2 wispr", status: 200, body: APPLE },
    Probe { host: "www.apple.com", path: "/library/test/success.html", agent: "CaptiveNetworkSupport-355.200.27 wispr", status: 200, body: APPLE },
    Probe { host: "connectivitycheck.gstatic.com", path: "/generate_204", agent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/60.0.3112.32 Safari/537.36", status: 204, body: "" },
    Probe { host: "clients3.google.com", path: "/generate_204", agent: "Dalvik/2.1.0 (Linux; U; Android 14)", status: 204, body: "" },
    Probe { host: "www.google.com", path: "/gen_204", agent: "Dalvik/2.1.0 (Linux; U; Android 14)", status: 204, body: "" },
    Probe { host: "www.msftconnecttest.com", path: "/connecttest.txt", agent: "Microsoft NCSI", status: 200, body: "Microsoft Connect Test" },
    Probe { host: "www.msftncsi.com", path: "/ncsi.txt", agent: "Microsoft NCSI", status: 200, body: "Microsoft NCSI" },
    Probe { host: "detectportal.firefox.com", path: "/canonical.html", agent: "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", status: 200, body: FIREFOX },
    Probe { host: "detectportal.firefox.com", path: "/success.txt", agent: "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", status: 200, body: "success\n" },
    // Newer and other clients (issue 13, item 18).
    Probe { host: "firefox-portal-detection.com", path: "/generate_204", agent: "Mozilla/5.0 (X11; Linux x86_64; rv:155.0) Gecko/20100101 Firefox/155.0", status: 204, body: "" },
    Probe { host: "firefox-portal-detection.com", path: "/success.txt?ipv4", agent: "Mozilla/5.0 (X11; Linux x86_64; rv:155.0) Gecko/20100101 Firefox/155.0", status: 200, body: "success\n" },
    Probe { host: "firefox-portal-detection.com", path: "/canonical.html", agent: "Mozilla/5.0 (X11; Linux x86_64; rv:155.0) Gecko/20100101 Firefox/155.0", status: 200, body: FIREFOX },
    Probe { host: "nmcheck.gnome.org", path: "/check_network_status.txt", agent: "NetworkManager/1.42.4", status: 200, body: "NetworkManager is online\n" },
    Probe { host: "ping.archlinux.org", path: "/nm-check.txt", agent: "NetworkManager/1.48.0", status: 200, body: "NetworkManager is online\n" },
    Probe { host: "fedoraproject.org", path: "/static/hotspot.txt", agent: "NetworkManager/1.46.0", status: 200, body: "OK" },
    Probe { host: "connectivity-check.ubuntu.com", path: "/", agent: "NetworkManager/1.46.0", status: 204, body: "" },
    Probe { host: "connect.rom.miui.com", path: "/generate_204", agent: "Dalvik/2.1.0 (Linux; U; Android 14; 23049PCD8G Build/UKQ1.230804.001)", status: 204, body: "" },
    Probe { host: "connectivitycheck.platform.hicloud.com", path: "/generate_204", agent: "Dalvik/2.1.0 (Linux; U; Android 12; NOH-NX9 Build/HUAWEINOH-N29)", status: 204, body: "" },
    Probe { host: "wifi.vivo.com.cn", path: "/generate_204", agent: "Dalvik/2.1.0 (Linux; U; Android 14; V2309A)", status: 204, body: "" },
    Probe { host: "grapheneos.online", path: "/generate_204", agent: "GrapheneOS", status: 204, body: "" },
    Probe { host: "connectivitycheck.android.com", path: "/generate_204", agent: "Dalvik/2.1.0 (Linux; U; Android 14)", status: 204, body: "" },
    Probe { host: "ipv6.msftconnecttest.com", path: "/connecttest.txt", agent: "Microsoft NCSI", status: 200, body: "Microsoft Connect Test" },
    Probe { host: "ipv6.msftncsi.com", path: "/ncsi.txt", agent: "Microsoft NCSI", status: 200, body: "Microsoft NCSI" },
    Probe { host: "www.appleiphonecell.com", path: "/a8b3c1d2.html", agent: "CaptiveNetworkSupport-355.200.27 wispr", status: 200, body: APPLE },
    Probe { host: "www.ibook.info", path: "/", agent: "CaptiveNetworkSupport-355.200.27 wispr", status: 200, body: APPLE },
    Probe { host: "www.itools.info", path: "/x.html", agent: "CaptiveNetworkSupport-355.200.27 wispr", status: 200, body: APPLE },
    Probe { host: "www.airport.us", path: "/y.html", agent: "CaptiveNetworkSupport-355.200.27 wispr", status: 200, body: APPLE },
    Probe { host: "www.thinkdifferent.us", path: "/z.html", agent: "CaptiveNetworkSupport-355.200.27 wispr", status: 200, body: APPLE },
    Probe { host: "clients1.google.com", path: "/generate_204", agent: "Dalvik/2.1.0 (Linux; U; Android 14)", status: 204, body: "" },
    Probe { host: "play.googleapis.com", path: "/generate_204", agent: "Dalvik/2.1.0 (Linux; U; Android 14)", status: 204, body: "" },
    Probe { host: "www.gstatic.com", path: "/generate_204", agent: "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) Chrome/126.0.0.0", status: 204, body: "" },
    Probe { host: "connectivitycheck.grapheneos.network", path: "/generate_204", agent: "GrapheneOS", status: 204, body: "" },
];

async fn probe(client: &reqwest::Client, b: &TestBox, p: &Probe) -> reqwest::Response {
    client
        .get(b.url(p.path))
        .header(HOST, p.host)
        .header(USER_AGENT, p.agent)
        .send()
        .await
        .unwrap()
}

/// Opens the portal and returns its CSRF token (the client keeps the cookie).
async fn open_portal(client: &reqwest::Client, b: &TestBox) -> String {
    let r = client.get(b.url("/portal")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    hidden(&r.text().await.unwrap(), "csrf")
}

async fn post_form(
    client: &reqwest::Client,
    b: &TestBox,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    client.post(b.url(path)).form(form).send().await.unwrap()
}

/// The body of a GET from this client.
async fn get_text(client: &reqwest::Client, b: &TestBox, path: &str) -> String {
    client
        .get(b.url(path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The status of a GET from this client.
async fn status(client: &reqwest::Client, b: &TestBox, path: &str) -> u16 {
    client
        .get(b.url(path))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn count(b: &TestBox, sql: &'static str) -> i64 {
    b.state
        .store
        .read_sql(move |c| c.query_row(sql, [], |r| r.get(0)))
        .await
        .unwrap()
}

/// Every host of the box's probe table (`web::portal::captive::PROBES`) is tried
/// over HTTP by this file's own table, with the answer written out independently: a
/// row added to the box without a test here fails.
#[test]
fn every_probe_host_of_the_box_is_tried_here() {
    for rule in venuebox::web::portal::captive::PROBES {
        for host in rule.hosts {
            assert!(
                PROBES.iter().any(|p| p.host == *host),
                "{host} ({}) has no probe in tests/portal.rs",
                rule.family
            );
        }
    }
}

#[tokio::test]
async fn every_probe_is_captive_before_consent_and_online_after() {
    let b = TestBox::start().await;
    let portal = format!("http://{}/portal", b.http);
    let first = phone(1);
    let phone = first;
    for p in PROBES {
        let r = probe(&phone, &b, p).await;
        assert_eq!(r.status(), 302, "{} {} before consent", p.host, p.path);
        assert_eq!(r.headers()[LOCATION], portal.as_str(), "{}", p.host);
        assert_eq!(r.headers()["cache-control"], "no-store");
    }
    // Any other host goes to the portal too, probe or not.
    let r = phone
        .get(b.url("/news"))
        .header(HOST, "example.org")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()[LOCATION], portal.as_str());

    // So does a literal address that is not the box's (the firewall sends those here).
    let r = phone
        .get(b.url("/generate_204"))
        .header(HOST, "203.0.113.7")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()[LOCATION], portal.as_str());
    let csrf = open_portal(&phone, &b).await;
    let r = post_form(
        &phone,
        &b,
        "/portal/consent",
        &[("csrf", &csrf), ("action", "accept"), ("gallery", "yes")],
    )
    .await;
    assert_eq!(r.status(), 303, "{:?}", r.text().await);

    for p in PROBES {
        let r = probe(&phone, &b, p).await;
        assert_eq!(r.status(), p.status, "{} {} after consent", p.host, p.path);
        assert_eq!(r.text().await.unwrap(), p.body, "{} {}", p.host, p.path);
    }
    // Windows opens /redirect in a browser: it lands on the pass.
    let r = phone
        .get(b.url("/redirect"))
        .header(HOST, "www.msftconnecttest.com")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()[LOCATION], format!("{portal}/pass").as_str());

    // Another phone is still captive.
    let other = self::phone(2);
    for p in PROBES {
        assert_eq!(
            probe(&other, &b, p).await.status(),
            302,
            "{} for another client",
            p.host
        );
    }
}

#[tokio::test]
async fn rfc8908_api_reports_state_and_session() {
    let b = TestBox::start_with(Options {
        configure: Box::new(|c| {
            c.portal.session_secs = 3600;
            c.portal.api_url = Some("https://portal.example.org/captive/api".into());
            c.portal.venue_info_url = Some("https://example.org/venue".into());
        }),
        ..Options::default()
    })
    .await;
    let phone = phone(3);
    for path in ["/captive-portal/api", "/captive/api"] {
        let r = phone
            .get(b.url(path))
            .header(HOST, "portal.example.org")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()[CONTENT_TYPE], "application/captive+json");
        assert!(r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("no-store"));
        let api: serde_json::Value = r.json().await.unwrap();
        assert_eq!(api["captive"], true, "{api}");
        assert_eq!(api["user-portal-url"], "https://portal.example.org/portal");
        assert_eq!(api["venue-info-url"], "https://example.org/venue");
        assert_eq!(api["can-extend-session"], true);
        assert!(
            api.get("seconds-remaining").is_none(),
            "no session yet: {api}"
        );
    }
    let csrf = open_portal(&phone, &b).await;
    post_form(
        &phone,
        &b,
        "/portal/consent",
        &[("csrf", &csrf), ("action", "decline")],
    )
    .await;
    let api: serde_json::Value = phone
        .get(b.url("/captive-portal/api"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(api["captive"], false, "{api}");
    let left = api["seconds-remaining"].as_i64().unwrap();
    assert!((3590..=3600).contains(&left), "{api}");
    // Every member the RFC defines has the RFC's JSON type.
    for (key, kind) in [
        ("captive", "bool"),
        ("user-portal-url", "string"),
        ("venue-info-url", "string"),
        ("can-extend-session", "bool"),
        ("seconds-remaining", "number"),
    ] {
        let v = &api[key];
        let ok = match kind {
            "bool" => v.is_boolean(),
            "string" => v.is_string(),
            _ => v.is_number(),
        };
        assert!(ok, "{key} should be a {kind}: {api}");
    }

    // The session ends: the phone is captive again (and may extend by consenting again).
    b.state
        .store
        .write_sql(|c| c.execute("UPDATE portal_clients SET expires_at = 1", []))
        .await
        .unwrap();
    let api: serde_json::Value = phone
        .get(b.url("/captive-portal/api"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(api["captive"], true, "{api}");
    assert_eq!(probe(&phone, &b, &PROBES[0]).await.status(), 302);
}

#[tokio::test]
async fn consent_journey_pass_my_data_withdraw_and_delete() {
    let b = TestBox::start().await;
    let phone = phone(4);
    let r = phone.get(b.url("/portal")).send().await.unwrap();
    let page = r.text().await.unwrap();
    assert!(page.len() < 50 * 1024, "first load is {} bytes", page.len());
    assert!(!page.contains("checked"), "nothing may be pre-ticked");
    assert!(!page.contains("<script"), "no scripts");
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "no external assets"
    );
    for scope in Scope::ALL {
        assert!(
            page.contains(&format!("<label for=\"{scope}\"")),
            "labelled checkbox for {scope}"
        );
    }
    let csrf = hidden(&page, "csrf");

    let r = post_form(
        &phone,
        &b,
        "/portal/consent",
        &[
            ("csrf", &csrf),
            ("action", "accept"),
            ("gallery", "yes"),
            ("sync", "yes"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let pass = get_text(&phone, &b, "/portal/pass").await;
    assert!(pass.contains("<svg"), "QR code inline");
    // The QR code fits a 390 px screen (the main column's padding leaves 358 px), and
    // is not shrunk below a size a camera reads.
    let svg_width: u32 = pass
        .split("<svg")
        .nth(1)
        .and_then(|s| s.split("width=\"").nth(1))
        .and_then(|s| s.split('"').next())
        .and_then(|w| w.parse().ok())
        .expect("the QR code's width");
    assert!(
        (200..=358).contains(&svg_width),
        "QR code {svg_width} px wide"
    );
    let code_start = pass.find("<code class=\"pass\">").expect("pass code shown") + 19;
    let code: String = pass[code_start..]
        .chars()
        .take_while(|c| *c != '<')
        .collect();
    assert_eq!(code.len(), 19, "typeable form XXXX-XXXX-XXXX-XXXX: {code}");
    // What the code opens, said plainly, in English and German.
    assert!(pass.contains("it does not open your photos, your choices or your records"));
    let pass_de = get_text(&phone, &b, "/portal/pass?lang=de").await;
    assert!(pass_de.contains("öffnet weder Ihre Fotos noch Ihre Auswahl oder Ihre Daten"));
    let pass_ref = consent::verify_pass_code(b.state.portal.secret(), &code)
        .expect("the shown code is a valid pass");
    let id = b
        .state
        .store
        .read_sql(move |c| consent::attendee_by_pass(c, &pass_ref))
        .await
        .unwrap()
        .expect("the pass's attendee")
        .id;

    let (may_gallery, may_receive, may_sync) = {
        let id = id.clone();
        b.state
            .store
            .read_sql(move |c| {
                Ok((
                    consent::may(c, &id, Scope::Gallery)?,
                    consent::may(c, &id, Scope::Receive)?,
                    consent::may(c, &id, Scope::Sync)?,
                ))
            })
            .await
            .unwrap()
    };
    assert!(may_gallery && may_sync && !may_receive);
    // Each consent row carries the hash of a notice the box kept word for word.
    assert_eq!(
        count(&b, "SELECT count(*) FROM consent_events e JOIN notices n ON n.hash = e.notice_hash WHERE e.channel = 'portal'").await,
        2
    );
    assert_eq!(
        count(
            &b,
            "SELECT count(*) FROM attendance WHERE source = 'portal'"
        )
        .await,
        1
    );
    // Attendance holds a pseudonym only: not the pass id, not the address.
    assert_eq!(count(&b, "SELECT count(*) FROM attendance WHERE pseudonym IN (SELECT id FROM attendees) OR pseudonym LIKE '%127.0.0%'").await, 0);

    // My data: withdraw the cloud sync.
    let me = get_text(&phone, &b, "/portal/me").await;
    let csrf = hidden(&me, "csrf");
    let r = post_form(
        &phone,
        &b,
        "/portal/me/scope",
        &[("csrf", &csrf), ("scope", "sync"), ("granted", "no")],
    )
    .await;
    assert_eq!(r.status(), 303);
    let id2 = id.clone();
    let sync_now = b
        .state
        .store
        .read_sql(move |c| consent::may(c, &id2, Scope::Sync))
        .await
        .unwrap();
    assert!(!sync_now);
    assert_eq!(
        count(
            &b,
            "SELECT count(*) FROM consent_events WHERE scope = 'sync'"
        )
        .await,
        2,
        "append-only"
    );

    // Delete my records: everything goes but the erasure's pseudonym.
    let r = post_form(
        &phone,
        &b,
        "/portal/me/delete",
        &[("csrf", &csrf), ("confirm", "yes")],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(count(&b, "SELECT count(*) FROM attendees").await, 0);
    assert_eq!(count(&b, "SELECT count(*) FROM consent_events").await, 0);
    assert_eq!(count(&b, "SELECT count(*) FROM attendance").await, 0);
    assert_eq!(count(&b, "SELECT count(*) FROM attendee_erasures").await, 1);
    let pass = get_text(&phone, &b, "/portal/pass").await;
    assert!(!pass.contains("VBX1:"), "the pass is gone");
    assert_eq!(
        venuebox::consent::door::handle_line(&b.state.door(), &code)
            .await
            .unwrap(),
        venuebox::consent::door::Scan::Deleted
    );
}

#[tokio::test]
async fn declining_records_no_consent_but_still_opens_the_network() {
    let b = TestBox::start().await;
    let phone = phone(5);
    let csrf = open_portal(&phone, &b).await;
    // Ticked boxes sent with "decline" grant nothing.
    let r = post_form(
        &phone,
        &b,
        "/portal/consent",
        &[
            ("csrf", &csrf),
            ("action", "decline"),
            ("gallery", "yes"),
            ("marketing", "yes"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(count(&b, "SELECT count(*) FROM consent_events").await, 0);
    assert_eq!(
        count(&b, "SELECT count(*) FROM attendees").await,
        1,
        "a pass all the same"
    );
    let r = probe(&phone, &b, &PROBES[3]).await;
    assert_eq!(r.status(), 204);
}

/// The scopes an attendee currently agrees to (their latest decision per scope).
async fn agreed(b: &TestBox) -> Vec<String> {
    b.state
        .store
        .read_sql(|c| {
            let mut stmt = c.prepare(
                "SELECT scope FROM consent_events e WHERE granted = 1
                 AND seq = (SELECT max(seq) FROM consent_events
                            WHERE attendee = e.attendee AND scope = e.scope)
                 ORDER BY scope",
            )?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            rows.collect()
        })
        .await
        .unwrap()
}

/// The welcome form records exactly what it showed: a returning attendee sees their
/// current choices ticked, an unticked scope they had granted is withdrawn, and
/// "Continue without agreeing" withdraws everything (issue 13, item 1: before, both
/// kept every earlier grant, and the records went out in the next bundle).
#[tokio::test]
async fn a_returning_attendee_s_form_records_exactly_what_it_showed() {
    let b = TestBox::start().await;
    let phone = phone(7);
    let csrf = open_portal(&phone, &b).await;
    let r = post_form(
        &phone,
        &b,
        "/portal/consent",
        &[
            ("csrf", &csrf),
            ("action", "accept"),
            ("sync", "yes"),
            ("marketing", "yes"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(agreed(&b).await, ["marketing", "sync"]);

    // Back at the welcome form: their choices are ticked, the others are not.
    let page = get_text(&phone, &b, "/portal").await;
    for (scope, ticked) in [
        ("gallery", false),
        ("receive", false),
        ("sync", true),
        ("marketing", true),
    ] {
        let input = format!("id=\"{scope}\" name=\"{scope}\" value=\"yes\" checked");
        assert_eq!(page.contains(&input), ticked, "{scope} ticked: {ticked}");
    }
    // Accept with only gallery ticked: sync and marketing are withdrawn.
    let csrf = hidden(&page, "csrf");
    let r = post_form(
        &phone,
        &b,
        "/portal/consent",
        &[("csrf", &csrf), ("action", "accept"), ("gallery", "yes")],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(agreed(&b).await, ["gallery"]);

    // Decline: everything is withdrawn, whatever was ticked before.
    let csrf = open_portal(&phone, &b).await;
    let r = post_form(
        &phone,
        &b,
        "/portal/consent",
        &[("csrf", &csrf), ("action", "decline")],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert!(agreed(&b).await.is_empty());
    b.stop().await;
}

#[tokio::test]
async fn pages_speak_the_phones_language() {
    let b = TestBox::start().await;
    let phone = phone(6);
    let mut de = HeaderMap::new();
    de.insert(ACCEPT_LANGUAGE, "de-DE,de;q=0.9,en;q=0.5".parse().unwrap());
    let page = phone
        .get(b.url("/portal"))
        .headers(de.clone())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("<html lang=\"de\">"));
    assert!(page.contains("Willkommen"));
    let page = phone
        .get(b.url("/portal?lang=en"))
        .headers(de)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("<html lang=\"en\">"));
    let privacy_de = get_text(&phone, &b, "/portal/privacy?lang=de").await;
    assert!(privacy_de.contains("Verantwortlich"));
    // Two languages, two notice versions, each kept.
    phone
        .get(b.url("/portal/privacy?lang=en"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        count(&b, "SELECT count(DISTINCT language) FROM notices").await,
        2
    );
}

#[tokio::test]
async fn hostile_forms_are_refused_and_record_nothing() {
    let b = TestBox::start().await;
    let victim = phone(7);
    let csrf = open_portal(&victim, &b).await;
    let attacker = phone(8);
    let attacker_csrf = open_portal(&attacker, &b).await;

    // No token, a wrong token, another client's token.
    for form in [
        vec![("action", "accept"), ("gallery", "yes")],
        vec![("csrf", "x"), ("action", "accept"), ("gallery", "yes")],
        vec![
            ("csrf", csrf.as_str()),
            ("action", "accept"),
            ("gallery", "yes"),
        ],
    ] {
        let r = post_form(&attacker, &b, "/portal/consent", &form).await;
        assert_eq!(r.status(), 403, "{form:?}");
    }
    // A field naming another attendee or client is not part of the form.
    for extra in [
        ("attendee", "someone"),
        ("client", "127.0.0.7"),
        ("pass", "VBX1:a:b"),
    ] {
        let r = post_form(
            &attacker,
            &b,
            "/portal/consent",
            &[
                ("csrf", &attacker_csrf),
                ("action", "accept"),
                ("gallery", "yes"),
                extra,
            ],
        )
        .await;
        assert_eq!(r.status(), 400, "{extra:?}");
    }
    // Injection in every field: refused or inert.
    let r = post_form(
        &attacker,
        &b,
        "/portal/consent",
        &[
            ("csrf", &attacker_csrf),
            ("action", "accept'; DROP TABLE consent_events; --"),
        ],
    )
    .await;
    assert_eq!(r.status(), 400);
    let r = post_form(
        &attacker,
        &b,
        "/portal/consent",
        &[
            ("csrf", &attacker_csrf),
            ("action", "accept"),
            ("gallery", "<script>alert(1)</script>"),
        ],
    )
    .await;
    assert_eq!(
        r.status(),
        303,
        "an unknown checkbox value is simply not a tick"
    );
    let r = post_form(
        &attacker,
        &b,
        "/portal/consent",
        &[
            ("csrf", &attacker_csrf),
            ("action", "accept"),
            ("lang", "\"><script>alert(1)</script>"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let page = get_text(&attacker, &b, "/portal/pass?lang=%22%3E%3Cscript%3E").await;
    assert!(!page.contains("<script"), "escaped or ignored");
    assert_eq!(
        count(&b, "SELECT count(*) FROM consent_events").await,
        0,
        "no consent from hostile forms"
    );
    let r = post_form(
        &attacker,
        &b,
        "/portal/me/scope",
        &[
            ("csrf", &attacker_csrf),
            ("scope", "sync' OR 1=1 --"),
            ("granted", "yes"),
        ],
    )
    .await;
    assert_eq!(r.status(), 400);
    // Oversized forms.
    let big = "a".repeat(64 * 1024);
    let r = post_form(
        &attacker,
        &b,
        "/portal/consent",
        &[
            ("csrf", &attacker_csrf),
            ("action", "accept"),
            ("gallery", &big),
        ],
    )
    .await;
    assert_eq!(r.status(), 413);
    // A forged pass at the door.
    for code in [
        "VBX1:AAAAAAAAAAAAAAAAAAAAAA:0123456789abcdef",
        "VBX1:'; DROP TABLE attendance; --:x",
        "hello",
    ] {
        assert_eq!(
            venuebox::consent::door::handle_line(&b.state.door(), code)
                .await
                .unwrap(),
            venuebox::consent::door::Scan::Unknown
        );
    }
    assert_eq!(
        count(&b, "SELECT count(*) FROM attendance WHERE source = 'door'").await,
        0
    );
    // The victim's state is untouched by all of it.
    let r = post_form(
        &victim,
        &b,
        "/portal/consent",
        &[("csrf", &csrf), ("action", "accept"), ("receive", "yes")],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(count(&b, "SELECT count(*) FROM consent_events").await, 1);
}

#[tokio::test]
async fn attendee_network_never_reaches_admin_or_vendor_paths() {
    let b = TestBox::start_with(Options {
        configure: Box::new(|c| c.portal.attendee_networks = vec!["127.0.0.9/32".parse().unwrap()]),
        ..Options::default()
    })
    .await;
    let attendee = phone(9);
    let vendor = phone(1);
    for path in [
        "/admin",
        "/admin/login",
        "/admin/creators",
        "/admin/event",
        "/admin/prices",
        "/admin/audit",
        "/admin/audit.csv",
        "/api/admin/session",
        "/api/admin/attendance",
        "/files/",
        "/photos/1/thumb",
        "/photos/1/full",
        "/uploads/x/preview",
    ] {
        assert_eq!(
            status(&attendee, &b, path).await,
            404,
            "{path} from the attendee network"
        );
    }
    assert_eq!(status(&vendor, &b, "/admin/login").await, 200);
    assert_eq!(status(&attendee, &b, "/portal").await, 200);
    // Admin figures need an admin.
    assert_eq!(status(&vendor, &b, "/api/admin/attendance").await, 401);
    let token = b.admin_token().await;
    let r = vendor
        .get(b.url("/api/admin/attendance"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let summary: serde_json::Value = r.json().await.unwrap();
    assert_eq!(summary["attendees"], 0);
}

#[tokio::test]
async fn retention_purges_old_rows_at_start_and_audits_it() {
    let b = TestBox::start().await;
    b.state
        .store
        .write_sql(|c| {
            c.execute(
                "INSERT INTO consent_events (attendee, scope, granted, notice_hash, channel, at)
                 VALUES ('old', 'gallery', 1, 'n', 'portal', 1000)",
                [],
            )?;
            c.execute(
                "INSERT INTO attendance (pseudonym, source, at) VALUES ('p', 'door', 1000)",
                [],
            )
        })
        .await
        .unwrap();
    let b = b.restart().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while count(&b, "SELECT count(*) FROM consent_events").await > 0 {
        assert!(std::time::Instant::now() < deadline, "old rows not purged");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(count(&b, "SELECT count(*) FROM attendance").await, 0);
    assert_eq!(
        count(
            &b,
            "SELECT count(*) FROM audit_log WHERE action = 'retention.purge'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn vendors_record_consent_given_in_person_with_the_pass() {
    let b = TestBox::start().await;
    let phone = phone(10);
    let csrf = open_portal(&phone, &b).await;
    post_form(
        &phone,
        &b,
        "/portal/consent",
        &[("csrf", &csrf), ("action", "decline")],
    )
    .await;
    let pass = get_text(&phone, &b, "/portal/pass").await;
    let start = pass.find("<code class=\"pass\">").unwrap() + 19;
    let code: String = pass[start..].chars().take_while(|c| *c != '<').collect();
    let token = b.admin_token().await;
    let vendor = reqwest::Client::new();
    let post = |body: serde_json::Value| {
        vendor
            .post(b.url("/api/admin/consent"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let r = post(
        serde_json::json!({"pass": code, "scope": "receive", "granted": true, "channel": "vendor"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let row: (String, String, i64) = b
        .state
        .store
        .read_sql(|c| {
            c.query_row(
                "SELECT e.channel, n.language, e.granted FROM consent_events e JOIN notices n ON n.hash = e.notice_hash",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
        })
        .await
        .unwrap();
    assert_eq!(row, ("vendor".to_string(), "en".to_string(), 1));
    // A forged pass, a portal channel, an unknown scope, no admin: refused.
    for (body, status) in [
        (
            serde_json::json!({"pass": "VBX1:AAAA:0123456789abcdef", "scope": "receive", "granted": true, "channel": "vendor"}),
            400,
        ),
        (
            serde_json::json!({"pass": code, "scope": "receive", "granted": true, "channel": "portal"}),
            400,
        ),
        (
            serde_json::json!({"pass": code, "scope": "everything", "granted": true, "channel": "door"}),
            400,
        ),
        (
            serde_json::json!({"pass": code, "scope": "sync", "granted": true, "channel": "door", "attendee": "x"}),
            422,
        ),
    ] {
        let r = post(body.clone()).await.unwrap();
        assert_eq!(r.status(), status, "{body}");
    }
    let r = vendor
        .post(b.url("/api/admin/consent"))
        .json(
            &serde_json::json!({"pass": code, "scope": "sync", "granted": true, "channel": "door"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(count(&b, "SELECT count(*) FROM consent_events").await, 1);
}

/// Consent and attendance from the portal record whether the clock was trusted when
/// they were written (issue 15), under the box's `clock.trust`: a box whose clock is
/// trusted marks its rows 1, one that is not marks them 0.
#[tokio::test]
async fn portal_records_say_whether_the_clock_was_trusted() {
    use venuebox::clock::TrustPolicy;
    let trusted = (
        "SELECT count(*) FROM consent_events WHERE clock_trusted = 1",
        "SELECT count(*) FROM attendance WHERE clock_trusted = 1",
    );
    let untrusted = (
        "SELECT count(*) FROM consent_events WHERE clock_trusted = 0",
        "SELECT count(*) FROM attendance WHERE clock_trusted = 0",
    );
    for (policy, (consent_sql, attendance_sql)) in [
        (TrustPolicy::Always, trusted),
        (TrustPolicy::Never, untrusted),
    ] {
        let b = TestBox::start_with(Options {
            configure: Box::new(move |c| c.clock.trust = policy),
            ..Default::default()
        })
        .await;
        let phone = phone(6);
        let csrf = open_portal(&phone, &b).await;
        let r = post_form(
            &phone,
            &b,
            "/portal/consent",
            &[("csrf", &csrf), ("action", "accept"), ("gallery", "yes")],
        )
        .await;
        assert_eq!(r.status(), 303);
        assert_eq!(count(&b, "SELECT count(*) FROM consent_events").await, 1);
        assert_eq!(count(&b, "SELECT count(*) FROM attendance").await, 1);
        assert_eq!(count(&b, consent_sql).await, 1, "{policy:?}");
        assert_eq!(count(&b, attendance_sql).await, 1, "{policy:?}");
        b.stop().await;
    }
}
