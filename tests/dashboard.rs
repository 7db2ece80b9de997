//! The organiser dashboard (issue 16, item 1) against a real box on loopback:
//! - the page and its event stream are refused to anonymous clients (loopback
//!   included), to creators (their upload token), to attendees (their pass cookie) and
//!   to the attendee network (404, as if they did not exist);
//! - a real HTTP client reading the stream sees the photo count change after a camera
//!   upload over FTP (Python's ftplib, tests/ftp_camera.py), and the figure matches
//!   `/metrics`;
//! - alerts fire and clear with simulated sysfs files (a temp dir as
//!   `dashboard.host_root`), a full tmpfs under the data dir, and a camera that went
//!   silent during the event window;
//! - the uplink alert fires while the sync target is gone (the local target's directory
//!   replaced by a file: uploads and probes fail as with a cut uplink) with a photo
//!   waiting longer than the threshold, and clears once the target is back and the
//!   bundle has gone.
//!
//! Phones are loopback addresses of their own; `127.0.0.8/29` is the attendee network.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::tmpfs::Tmpfs;
use common::{phone, testdata, Options, TestBox};

const ATTENDEE_NET: &str = "127.0.0.8/29";

async fn start_with(change: impl FnOnce(&mut venuebox::config::Config) + 'static) -> TestBox {
    TestBox::start_with(Options {
        configure: Box::new(move |c| {
            c.portal.attendee_networks = vec![ATTENDEE_NET.parse().unwrap()];
            change(c);
        }),
        ..Options::default()
    })
    .await
}

/// An SSE stream read with a real HTTP client: events as `(name, data)`.
struct Stream {
    response: reqwest::Response,
    buffer: String,
}

impl Stream {
    async fn open(b: &TestBox, admin: &str, span: &str) -> Stream {
        let response = phone(1)
            .get(b.url(&format!("/admin/dashboard/events?span={span}")))
            .bearer_auth(admin)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Stream {
            response,
            buffer: String::new(),
        }
    }

    /// The next event, within `deadline`.
    async fn next(&mut self, deadline: Instant) -> (String, String) {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut name = String::new();
                let mut data = Vec::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push(v.strip_prefix(' ').unwrap_or(v).to_string());
                    }
                }
                if !name.is_empty() {
                    return (name, data.join("\n"));
                }
                continue;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let chunk = tokio::time::timeout(left, self.response.chunk())
                .await
                .expect("no event before the deadline")
                .unwrap()
                .expect("the stream ended");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

/// The text of the element marked `data-figure="<name>"` in `html`.
fn figure(html: &str, name: &str) -> Option<String> {
    let marker = format!("data-figure=\"{name}\">");
    let start = html.find(&marker)? + marker.len();
    Some(html[start..].split('<').next().unwrap().trim().to_string())
}

#[tokio::test]
async fn the_dashboard_and_its_stream_are_refused_to_all_but_an_admin() {
    let b = start_with(|_| {}).await;
    let admin = b.admin_token().await;
    let (_, creator) = b.creator("Studio Nord").await;
    // An attendee's pass, sent by hand as a hostile page would.
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let attendee = reqwest::Client::builder()
        .local_address("127.0.0.30".parse::<std::net::IpAddr>().unwrap())
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    common::portal_pass(&b, &attendee, &["gallery"]).await;
    let portal: reqwest::Url = b.url("/portal").parse().unwrap();
    let cookies = reqwest::cookie::CookieStore::cookies(jar.as_ref(), &portal)
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(cookies.contains("vb_pass="), "{cookies}");

    for path in ["/admin/dashboard", "/admin/dashboard/events?span=today"] {
        let get = |c: reqwest::Client| c.get(b.url(path));
        // Anonymous, even from loopback (unlike /metrics: the page names creators).
        assert_eq!(get(phone(1)).send().await.unwrap().status(), 401, "{path}");
        let r = get(phone(1)).bearer_auth(&creator).send().await.unwrap();
        assert_eq!(r.status(), 401, "{path} creator");
        let r = get(phone(30))
            .header("cookie", &cookies)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path} attendee");
        let r = get(phone(1))
            .bearer_auth("vba_forged")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path} forged");
        // The attendee network: 404, with the admin's token too.
        assert_eq!(get(phone(9)).send().await.unwrap().status(), 404, "{path}");
        let r = get(phone(9)).bearer_auth(&admin).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path} admin on the attendee network");
        let r = get(phone(1)).bearer_auth(&admin).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path} admin");
    }
    let r = phone(1)
        .get(b.url("/admin/dashboard?span=week"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // The admin pages and the dashboard link to each other.
    let text = |path: &'static str| {
        let r = phone(1).get(b.url(path)).bearer_auth(&admin).send();
        async move { r.await.unwrap().text().await.unwrap() }
    };
    assert!(text("/admin/dashboard")
        .await
        .contains("<a href=\"/admin\">"));
    assert!(text("/admin")
        .await
        .contains("<a href=\"/admin/dashboard\">"));
    b.stop().await;
}

#[tokio::test]
async fn the_stream_shows_a_camera_upload_as_it_lands() {
    let b = start_with(|_| {}).await;
    let admin = b.admin_token().await;
    let name = "Bo <i>& Co";
    b.creator(name).await;
    let creds = b
        .state
        .store
        .write(move |tx| venuebox::creators::set_ftp_credentials(tx, name, "test"))
        .await
        .unwrap();

    let mut stream = Stream::open(&b, &admin, "hour").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut heavy = std::collections::BTreeSet::new();
    let mut before = None;
    while heavy.len() < 4 || before.is_none() {
        let (event, data) = stream.next(deadline).await;
        match event.as_str() {
            "sync" | "funnel" | "ingest" | "box" => {
                heavy.insert(event);
            }
            "summary" => before = figure(&data, "photos_stored"),
            // Whatever holds (the machine's own disk may be nearly full): a list.
            "alerts" => assert!(data.starts_with("<ul class=\"alerts\""), "{data}"),
            other => panic!("unexpected event {other}"),
        }
    }
    assert_eq!(before.as_deref(), Some("0"));

    let file = testdata().join("photos/canon-5dmk3_K6A7945.JPG");
    ftp_camera(&b, &creds, "camera", &[file.to_str().unwrap()]).await;
    let uploaded = Instant::now();
    let deadline = uploaded + Duration::from_secs(10);
    loop {
        let (event, data) = stream.next(deadline).await;
        if event == "summary" && figure(&data, "photos_stored").as_deref() == Some("1") {
            assert_eq!(figure(&data, "photos_last_minute").as_deref(), Some("1"));
            break;
        }
    }
    let seen_after = uploaded.elapsed();
    assert!(seen_after < Duration::from_secs(3), "{seen_after:?}");
    drop(stream);

    // The same figure as /metrics.
    let text = metrics_text(&b, &admin).await;
    let stored =
        venuebox::metrics::value(&text, "venuebox_photos_stored_total", &[("source", "ftp")]);
    assert_eq!(stored, Some(1.0), "{text}");

    // A new stream draws the heavy panels at once: the creator's row, escaped.
    let mut stream = Stream::open(&b, &admin, "today").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let ingest = loop {
        let (event, data) = stream.next(deadline).await;
        if event == "ingest" {
            break data;
        }
    };
    assert!(ingest.contains("Bo &lt;i&gt;&amp; Co"), "{ingest}");
    assert!(!ingest.contains("<i>"), "{ingest}");
    assert!(ingest.contains("<td>ftp</td>"), "{ingest}");
    drop(stream);
    b.stop().await;
}

/// The alerts of the page, as `(kind, severity)`.
async fn alerts(b: &TestBox, admin: &str) -> Vec<(String, String)> {
    let page = phone(1)
        .get(b.url("/admin/dashboard"))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut out = Vec::new();
    let mut rest = page.as_str();
    while let Some(i) = rest.find("<li class=\"") {
        rest = &rest[i + 11..];
        let severity = rest.split('"').next().unwrap().to_string();
        if severity == "ok" {
            continue;
        }
        let kind = rest
            .split("data-alert=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or_else(|| panic!("an alert without a kind in {page}"))
            .to_string();
        out.push((kind, severity));
    }
    out
}

/// A photo row from a camera (FTP) of `creator`, arrived `at`, as ingest would write it
/// (the file itself does not matter to the dashboard).
fn insert_photo(
    tx: &rusqlite::Transaction<'_>,
    creator: i64,
    fill: char,
    at: i64,
) -> Result<(), venuebox::db::StoreError> {
    tx.execute(
        "INSERT INTO photos (sha256, size, media_type, creator_id, original_name, source, received_at)
         VALUES (?1, 10, 'image/jpeg', ?2, 'x.jpg', 'ftp', ?3)",
        rusqlite::params![fill.to_string().repeat(64), creator, at],
    )?;
    Ok(())
}

fn put(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

#[tokio::test]
async fn alerts_fire_and_clear_with_simulated_sysfs_a_full_disk_and_a_silent_camera() {
    let fs = Tmpfs::mount("24m");
    let sys = tempfile::tempdir().unwrap();
    let data = fs.path.join("data");
    let root = sys.path().to_path_buf();
    let b = start_with({
        let (data, root) = (data.clone(), root.clone());
        move |c| {
            c.storage.data_dir = data;
            c.ingest.free_disk_reserve_bytes = 4 << 20;
            c.dashboard.host_root = root;
            c.dashboard.disk_free_alert_percent = 10;
            c.dashboard.camera_silent_minutes = 20;
        }
    })
    .await;
    let admin = b.admin_token().await;
    let pair = |k: &str, s: &str| (k.to_string(), s.to_string());
    assert_eq!(alerts(&b, &admin).await, []);

    // Under-voltage now (firmware bit 0), then only since boot (bit 16), then none.
    let throttled = "sys/devices/platform/soc/soc:firmware/get_throttled";
    put(&root, throttled, "50005\n");
    assert_eq!(alerts(&b, &admin).await, [pair("power", "critical")]);
    put(&root, throttled, "50000\n");
    assert_eq!(alerts(&b, &admin).await, [pair("power", "warning")]);
    put(&root, throttled, "0\n");
    assert_eq!(alerts(&b, &admin).await, []);
    // The hwmon alarm of the rpi_volt device says the same.
    put(&root, "sys/class/hwmon/hwmon3/name", "rpi_volt\n");
    put(&root, "sys/class/hwmon/hwmon3/in0_lcrit_alarm", "1\n");
    assert_eq!(alerts(&b, &admin).await, [pair("power", "critical")]);
    put(&root, "sys/class/hwmon/hwmon3/in0_lcrit_alarm", "0\n");
    assert_eq!(alerts(&b, &admin).await, []);

    // The disk: 1 MiB of 24 MiB free is under 10 %; freed again, the alert clears.
    let filler = fs.fill("filler", 1 << 20);
    assert_eq!(alerts(&b, &admin).await, [pair("disk", "critical")]);
    std::fs::remove_file(&filler).unwrap();
    assert_eq!(alerts(&b, &admin).await, []);

    // A camera that sent a photo 25 minutes ago, in an event running from yesterday
    // to tomorrow, is silent; a new photo from it clears the alert.
    let (creator, _) = b.creator("Anna").await;
    let now = venuebox::clock::now();
    let day = |d: i64| {
        time::OffsetDateTime::from_unix_timestamp(now + d * 86_400)
            .unwrap()
            .date()
            .to_string()
    };
    let event = venuebox::event::Event {
        name: "Night market".into(),
        starts_on: Some(day(-1)),
        ends_on: Some(day(1)),
        locale: "en".into(),
    };
    b.state
        .store
        .write(move |tx| {
            venuebox::event::set_event(tx, &event)?;
            insert_photo(tx, creator, 'a', now - 25 * 60)
        })
        .await
        .unwrap();
    assert_eq!(alerts(&b, &admin).await, [pair("camera", "warning")]);
    b.state
        .store
        .write(move |tx| insert_photo(tx, creator, 'b', venuebox::clock::now()))
        .await
        .unwrap();
    assert_eq!(alerts(&b, &admin).await, []);
    b.stop().await;
    drop(fs);
}

/// Polls the page's alerts until they are `want`, for at most `secs` seconds. Disk
/// alerts are left out: this box's data dir is on the machine's own disk, whose free
/// space is not this test's (the disk alerts are tested on a tmpfs above).
async fn alerts_become(b: &TestBox, admin: &str, want: &[(&str, &str)], secs: u64) {
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(k, s)| (k.to_string(), s.to_string()))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let mut got = alerts(b, admin).await;
        got.retain(|(kind, _)| kind != "disk");
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "alerts {got:?}, want {want:?} within {secs} s"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn the_uplink_alert_fires_while_the_target_is_gone_and_clears_when_it_is_back() {
    let b = start_with(|c| {
        c.sync.enabled = true;
        c.sync.cut_every_photos = 1;
        c.sync.probe_min_backoff_ms = 200;
        c.sync.probe_max_backoff_ms = 1000;
        c.dashboard.unsynced_alert_minutes = 1;
    })
    .await;
    let admin = b.admin_token().await;
    let (_, token) = b.creator("Studio Nord").await;
    // The local target (a directory in the data dir) becomes a file: every upload and
    // every probe fails, as with a cut uplink.
    let target = b.data_dir().join("sync-target");
    std::fs::remove_dir_all(&target).unwrap();
    std::fs::write(&target, b"not a directory").unwrap();

    let bytes = std::fs::read(testdata().join("photos/canon-5dmk3_K6A7945.JPG")).unwrap();
    let id = b.tus_upload(&token, &bytes).await;
    // It arrived two minutes ago (the threshold is one): the row's arrival is moved back,
    // as a photo waiting since then would have it.
    b.state
        .store
        .write(move |tx| {
            tx.execute(
                "UPDATE photos SET received_at = received_at - 120 WHERE id = ?1",
                [id],
            )?;
            Ok::<_, venuebox::db::StoreError>(())
        })
        .await
        .unwrap();
    alerts_become(&b, &admin, &[("uplink", "critical")], 60).await;
    let sync: serde_json::Value = phone(1)
        .get(b.url("/api/admin/sync"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(sync["uplink"], "down", "{sync}");

    // The target is back: the worker's probe finds it, the bundle goes, the alert clears.
    std::fs::remove_file(&target).unwrap();
    std::fs::create_dir(&target).unwrap();
    alerts_become(&b, &admin, &[], 60).await;
    b.stop().await;
}

/// Issue 16's two figures that used to say "not available": upload refusals by source
/// and reason, and gallery views by page. A camera's FTP upload of something that is
/// not a photo (553), a tus upload declared over `ingest.max_file_bytes` (413) and one
/// whose bytes are not a photo (415) are each counted under their reason; an
/// attendee's gallery pages are counted (a phone without a pass is not), on the
/// dashboard's funnel and ingest panels and in `/metrics`; and the views survive a
/// restart (flushed at shutdown).
#[tokio::test]
async fn refused_uploads_and_gallery_views_are_counted_by_reason_and_page() {
    let limit = 5 << 20;
    let b = start_with(move |c| c.ingest.max_file_bytes = limit).await;
    let admin = b.admin_token().await;
    let (_, token) = b.creator("Ada").await;
    let creds = b
        .state
        .store
        .write(|tx| venuebox::creators::set_ftp_credentials(tx, "Ada", "test"))
        .await
        .unwrap();

    // FTP: a text file under a photo's name.
    let dir = tempfile::tempdir().unwrap();
    let text_file = dir.path().join("notes.txt");
    std::fs::write(&text_file, "not a photo\n".repeat(100)).unwrap();
    let plan = serde_json::json!([["stor", "IMG_0001.JPG", text_file, null]]);
    let out = ftp_camera(&b, &creds, "steps", &[&plan.to_string()]).await;
    let replies: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        replies["replies"][0].as_str().unwrap().starts_with("553"),
        "{replies}"
    );

    // tus: declared too large, and not a photo.
    let tus = |length: usize, body: Vec<u8>| {
        reqwest::Client::new()
            .post(b.url("/files/"))
            .bearer_auth(&token)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Length", length)
            .header("Content-Type", "application/offset+octet-stream")
            .body(body)
            .send()
    };
    assert_eq!(
        tus(limit as usize + 1, Vec::new()).await.unwrap().status(),
        413
    );
    let junk = b"GIF89a this is not a photo the box takes".to_vec();
    assert_eq!(tus(junk.len(), junk).await.unwrap().status(), 415);
    // A protocol mistake is not a refusal of a photo.
    let r = reqwest::Client::new()
        .post(b.url("/files/"))
        .bearer_auth(&token)
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // Gallery views: two of the public gallery and one of "my photos" with a pass; a
    // phone without a pass sees the pointer to the start page, not counted.
    let attendee = phone(9);
    common::portal_pass(&b, &attendee, &["gallery"]).await;
    for path in [
        "/portal/gallery",
        "/portal/gallery?before=1",
        "/portal/mine",
    ] {
        let r = attendee.get(b.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    let stranger = phone(10)
        .get(b.url("/portal/gallery"))
        .send()
        .await
        .unwrap();
    assert_eq!(stranger.status(), 200);
    assert!(stranger.text().await.unwrap().contains("no-pass"));

    let (funnel, ingest) = funnel_and_ingest(&b, &admin).await;
    assert_eq!(
        figure(&funnel, "gallery_views").as_deref(),
        Some("3"),
        "{funnel}"
    );
    assert!(!funnel.contains("not available"), "{funnel}");
    assert_eq!(
        figure(&ingest, "uploads_refused").as_deref(),
        Some("3"),
        "{ingest}"
    );
    assert!(ingest.contains("Refused (ftp): not_a_photo"), "{ingest}");
    assert!(ingest.contains("Refused (tus): too_large"), "{ingest}");
    assert!(ingest.contains("Refused (tus): not_a_photo"), "{ingest}");

    let text = metrics_text(&b, &admin).await;
    let v =
        |text: &str, name, labels: &[(&str, &str)]| venuebox::metrics::value(text, name, labels);
    let refused = "venuebox_upload_refusals_total";
    assert_eq!(
        v(
            &text,
            refused,
            &[("source", "ftp"), ("reason", "not_a_photo")]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        v(
            &text,
            refused,
            &[("source", "tus"), ("reason", "too_large")]
        ),
        Some(1.0)
    );
    assert_eq!(
        v(
            &text,
            refused,
            &[("source", "tus"), ("reason", "not_a_photo")]
        ),
        Some(1.0)
    );
    let views = "venuebox_gallery_views_total";
    assert_eq!(v(&text, views, &[("page", "gallery")]), Some(2.0), "{text}");
    assert_eq!(v(&text, views, &[("page", "mine")]), Some(1.0));

    // Flushed at shutdown: the same counts after a restart, now from the table.
    let b = b.restart().await;
    let admin = b.admin_token().await;
    let text = metrics_text(&b, &admin).await;
    assert_eq!(v(&text, views, &[("page", "gallery")]), Some(2.0), "{text}");
    assert_eq!(v(&text, views, &[("page", "mine")]), Some(1.0));
    assert_eq!(
        v(
            &text,
            refused,
            &[("source", "tus"), ("reason", "too_large")]
        ),
        Some(1.0)
    );
    b.stop().await;
}

/// The funnel and ingest panels as a new stream first draws them.
async fn funnel_and_ingest(b: &TestBox, admin: &str) -> (String, String) {
    let mut stream = Stream::open(b, admin, "hour").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut funnel, mut ingest) = (None, None);
    while funnel.is_none() || ingest.is_none() {
        let (event, data) = stream.next(deadline).await;
        match event.as_str() {
            "funnel" => funnel = Some(data),
            "ingest" => ingest = Some(data),
            _ => {}
        }
    }
    (funnel.unwrap(), ingest.unwrap())
}

/// `GET /metrics` as the admin.
async fn metrics_text(b: &TestBox, admin: &str) -> String {
    let r = phone(1)
        .get(b.url("/metrics"))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

/// Runs tests/ftp_camera.py (Python's ftplib, as a camera) in `mode` against the box's
/// FTP server with `creds`, then `args`; asserts it exited 0 and returns its output
/// (one JSON object on stdout).
async fn ftp_camera(
    b: &TestBox,
    creds: &venuebox::creators::FtpCredentials,
    mode: &str,
    args: &[&str],
) -> std::process::Output {
    let ftp = b.ftp.unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ftp_camera.py");
    let out = tokio::process::Command::new("python3")
        .arg(&script)
        .args([mode, &ftp.ip().to_string(), &ftp.port().to_string()])
        .args([&creds.user, &creds.password])
        .args(args)
        .output()
        .await
        .expect("python3 must be installed (tests/run.sh)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
