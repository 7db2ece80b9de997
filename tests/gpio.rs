//! The status LED and the button through the simulated GPIO back end (issue 15, parts
//! 3 and 7): the box writes the LED to files in `gpio.sim_dir` and reads the button
//! from one (`src/hw/gpio.rs`); these tests force each state for real and press the
//! button by writing that file.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{phone, sha256_file, testdata, Options, TestBox};
use sha2::Digest;
use venuebox::config::{Config, GpioBackend};

/// Simulated GPIO in the box's temporary dir, and a power-off command that leaves a
/// marker file instead of powering the machine off.
fn simulated(c: &mut Config) {
    let root = c.storage.data_dir.parent().unwrap().to_path_buf();
    c.gpio.backend = GpioBackend::Simulated;
    c.gpio.sim_dir = root.join("gpio");
    c.gpio.poweroff_command = vec![
        "touch".into(),
        root.join("powered-off").to_str().unwrap().into(),
    ];
}

fn sim(b: &TestBox) -> PathBuf {
    b.state.config.gpio.sim_dir.clone()
}

fn marker(b: &TestBox) -> PathBuf {
    PathBuf::from(&b.state.config.gpio.poweroff_command[1])
}

/// Holds (`true`) or releases the button, replacing the file by rename as a real
/// writer should.
fn button(sim_dir: &Path, pressed: bool) {
    let tmp = sim_dir.join(".button.tmp");
    std::fs::write(&tmp, if pressed { "1\n" } else { "0\n" }).unwrap();
    std::fs::rename(&tmp, sim_dir.join("button")).unwrap();
}

fn pattern(sim_dir: &Path) -> String {
    std::fs::read_to_string(sim_dir.join("led-pattern"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// Waits (at most 15 s) for the LED to show `expected` (`state pattern`).
async fn wait_for_pattern(sim_dir: &Path, expected: &str) {
    let start = Instant::now();
    while pattern(sim_dir) != expected {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "LED shows {:?}, not {expected:?}",
            pattern(sim_dir)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The LED's levels seen over `span`, sampled every 20 ms.
async fn levels_over(sim_dir: &Path, span: Duration) -> Vec<String> {
    let start = Instant::now();
    let mut seen: Vec<String> = Vec::new();
    while start.elapsed() < span {
        let level = std::fs::read_to_string(sim_dir.join("led")).unwrap_or_default();
        let level = level.trim().to_string();
        if seen.last() != Some(&level) {
            seen.push(level);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    seen
}

fn blinks(levels: &[String]) -> bool {
    levels.iter().any(|l| l == "1") && levels.iter().any(|l| l == "0")
}

async fn wait_for_file(path: &Path, within: Duration) -> Duration {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < within,
            "{} never appeared",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    start.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_led_follows_the_box_from_boot_to_shutdown() {
    // Sync to an S3 endpoint nobody listens on: the uplink is down.
    let closed = common::free_port();
    let b = TestBox::start_with(Options {
        configure: Box::new(move |c| {
            simulated(c);
            c.sync.enabled = true;
            c.sync.target = venuebox::config::SyncTargetKind::S3;
            c.sync.endpoint = Some(format!("http://127.0.0.1:{closed}"));
            c.sync.bucket = "photos".into();
            c.sync.access_key_id = Some("GKtest".into());
            c.sync.secret_access_key = Some("secret".into());
            c.sync.cut_every_secs = 1;
            c.sync.probe_min_backoff_ms = 100;
            c.sync.probe_max_backoff_ms = 500;
        }),
        ..Default::default()
    })
    .await;
    let sim_dir = sim(&b);
    // Booting first, then ready: no photo waits, so a down uplink alone is no warning.
    wait_for_pattern(&sim_dir, "ready steady").await;
    let history = std::fs::read_to_string(sim_dir.join("led-history")).unwrap();
    assert_eq!(
        history.lines().collect::<Vec<_>>(),
        ["booting even-blink", "ready steady"]
    );
    assert_eq!(
        levels_over(&sim_dir, Duration::from_millis(1200)).await,
        ["1"],
        "ready is steady"
    );

    // A photo waiting with the uplink down.
    let (_, token) = b.creator("Ana").await;
    let photo = std::fs::read(testdata().join("photos/canon-350d_MG_9381.JPG")).unwrap();
    b.tus_upload(&token, &photo).await;
    wait_for_pattern(&sim_dir, "uplink-down slow-blink").await;
    assert_eq!(b.state.sync.status().uplink, "down");
    assert!(blinks(
        &levels_over(&sim_dir, Duration::from_millis(2500)).await
    ));

    // Disk nearly full: a reserve set so the real free space is under twice it (but
    // over it, so uploads still work).
    let free = venuebox::files::free_bytes(&b.data_dir()).unwrap();
    let b = b
        .restart_with(move |c| c.ingest.free_disk_reserve_bytes = free / 10 * 6)
        .await;
    // The uplink is down again with the photo waiting: the disk outranks it.
    let start = Instant::now();
    while b.state.sync.status().uplink != "down" {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "uplink never down"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(2 * venuebox::hw::led::POLL).await;
    wait_for_pattern(&sim_dir, "disk-nearly-full double-flash").await;
    assert!(blinks(
        &levels_over(&sim_dir, Duration::from_millis(2500)).await
    ));
    assert_eq!(pattern(&sim_dir), "disk-nearly-full double-flash");

    // Error: the database stops answering (the store is closed under the box).
    b.state.store.close().await.unwrap();
    assert!(!b.state.store.healthy().await);
    wait_for_pattern(&sim_dir, "error fast-blink").await;
    assert!(blinks(
        &levels_over(&sim_dir, Duration::from_millis(500)).await
    ));

    // A long press: the box stops, the LED goes dark, the power-off command runs.
    assert!(!marker(&b).exists());
    button(&sim_dir, true);
    wait_for_file(&marker(&b), Duration::from_secs(20)).await;
    button(&sim_dir, false);
    assert_eq!(pattern(&sim_dir), "shutting-down off");
    let led = std::fs::read_to_string(sim_dir.join("led")).unwrap();
    assert_eq!(led.trim(), "0");
    b.join().await.expect("a clean stop");
}

/// One tus upload sent in `chunks` PATCHes `pause` apart; stops at the first PATCH
/// that is not answered 204 (the box shutting down).
struct Upload {
    bytes: Vec<u8>,
    location: String,
    acknowledged: bool,
}

async fn upload_slowly(
    base: String,
    token: String,
    bytes: Vec<u8>,
    chunks: usize,
    pause: Duration,
) -> Upload {
    let c = reqwest::Client::new();
    let create = c
        .post(format!("{base}/files/"))
        .bearer_auth(&token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", bytes.len())
        .send()
        .await
        .unwrap();
    assert_eq!(create.status(), 201);
    let location = create.headers()["location"].to_str().unwrap().to_string();
    let mut upload = Upload {
        bytes,
        location,
        acknowledged: false,
    };
    let size = upload.bytes.len().div_ceil(chunks);
    let mut offset = 0;
    while offset < upload.bytes.len() {
        let end = (offset + size).min(upload.bytes.len());
        let sent = c
            .patch(format!("{base}{}", upload.location))
            .bearer_auth(&token)
            .header("Tus-Resumable", "1.0.0")
            .header("Content-Type", "application/offset+octet-stream")
            .header("Upload-Offset", offset)
            .body(upload.bytes[offset..end].to_vec())
            .send()
            .await;
        match sent {
            Ok(r) if r.status() == 204 => offset = end,
            _ => return upload,
        }
        if offset == upload.bytes.len() {
            upload.acknowledged = true;
            return upload;
        }
        tokio::time::sleep(pause).await;
    }
    upload
}

async fn stored_sha(b: &TestBox, sha: &str) -> Option<String> {
    let s = sha.to_string();
    let found = b
        .state
        .store
        .read_sql(move |c| venuebox::ingest::photo_by_sha(c, &s))
        .await
        .unwrap()?;
    assert_eq!(found.sha256, sha);
    Some(sha256_file(&venuebox::files::layout::photo(
        &b.data_dir(),
        sha,
    )))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_press_during_eight_uploads_keeps_every_acknowledged_photo() {
    let b = TestBox::start_with(Options {
        configure: Box::new(simulated),
        ..Default::default()
    })
    .await;
    let sim_dir = sim(&b);
    wait_for_pattern(&sim_dir, "ready steady").await;
    let (_, token) = b.creator("Ana").await;
    let mut files: Vec<PathBuf> = std::fs::read_dir(testdata().join("photos"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("jpg")))
        .collect();
    files.sort();
    let uploads: Vec<_> = files[..8]
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let bytes = std::fs::read(f).unwrap();
            // 40 PATCHes each, 20 to 160 ms apart: the first few finish before the long
            // press is taken (about 3 s), the others are cut by it.
            let pause = Duration::from_millis(20 * (i as u64 + 1));
            tokio::spawn(upload_slowly(b.url(""), token.clone(), bytes, 40, pause))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pressed = Instant::now();
    button(&sim_dir, true);
    let took = wait_for_file(&marker(&b), Duration::from_secs(30)).await;
    button(&sim_dir, false);
    let long = Duration::from_millis(b.state.config.gpio.long_press_ms);
    eprintln!(
        "long press to power-off command, 8 uploads in flight: {} ms after the {} ms hold ({} ms from the press)",
        took.saturating_sub(long).as_millis(),
        long.as_millis(),
        pressed.elapsed().as_millis()
    );
    let mut done = Vec::new();
    for u in uploads {
        done.push(u.await.unwrap());
    }
    let acknowledged = done.iter().filter(|u| u.acknowledged).count();
    assert!(
        (1..8).contains(&acknowledged),
        "{acknowledged} of 8 uploads finished: the press must come in the middle"
    );
    // The same data dir after a restart.
    let b = b.restart().await;
    let c = reqwest::Client::new();
    for u in &done {
        let sha = hex::encode(sha2::Sha256::digest(&u.bytes));
        if u.acknowledged {
            assert_eq!(stored_sha(&b, &sha).await.as_deref(), Some(sha.as_str()));
            continue;
        }
        let head = c
            .head(b.url(&u.location))
            .bearer_auth(&token)
            .header("Tus-Resumable", "1.0.0")
            .send()
            .await
            .unwrap();
        if head.status() == 404 {
            // Its last PATCH was taken but the answer was lost with the connection.
            assert_eq!(stored_sha(&b, &sha).await.as_deref(), Some(sha.as_str()));
            continue;
        }
        assert_eq!(head.status(), 200, "{}", u.location);
        let offset: usize = head.headers()["upload-offset"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(offset < u.bytes.len());
        let patch = c
            .patch(b.url(&u.location))
            .bearer_auth(&token)
            .header("Tus-Resumable", "1.0.0")
            .header("Content-Type", "application/offset+octet-stream")
            .header("Upload-Offset", offset)
            .body(u.bytes[offset..].to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(patch.status(), 204, "resuming {}", u.location);
        assert_eq!(stored_sha(&b, &sha).await.as_deref(), Some(sha.as_str()));
    }
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_press_shows_the_setup_code_to_staff_only() {
    let b = TestBox::start_with(Options {
        configure: Box::new(|c| {
            simulated(c);
            c.gpio.pairing_secs = 5;
            c.portal.attendee_networks = vec!["127.0.0.2/32".parse().unwrap()];
        }),
        ..Default::default()
    })
    .await;
    let sim_dir = sim(&b);
    wait_for_pattern(&sim_dir, "ready steady").await;
    // As a box started by systemd does: the code waits in its file for the first login.
    venuebox::auth::leave_setup_code(&b.data_dir(), &b.admin_code).unwrap();
    let (staff, attendee) = (phone(3), phone(2));
    let page = |client: reqwest::Client| {
        let url = b.url("/admin/login");
        async move {
            let r = client.get(url).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (status, before) = page(staff.clone()).await;
    assert_eq!(status, 200);
    assert!(!before.contains(&b.admin_code), "no code before the press");

    button(&sim_dir, true);
    tokio::time::sleep(Duration::from_millis(300)).await;
    button(&sim_dir, false);
    wait_for_pattern(&sim_dir, "pairing triple-flash").await;
    let (status, shown) = page(staff.clone()).await;
    assert_eq!(status, 200);
    assert!(
        shown.contains(&b.admin_code),
        "staff sees the code: {shown}"
    );
    let (status, hidden) = page(attendee.clone()).await;
    assert_eq!(status, 404, "the admin pages do not exist for attendees");
    assert!(
        !hidden.contains(&b.admin_code),
        "never to the attendee network"
    );
    assert!(!hidden.contains("Pairing"));

    // Once used, there is no code left to show, and the page says so.
    b.admin_token().await;
    let (_, used) = page(staff.clone()).await;
    assert!(!used.contains(&b.admin_code));
    assert!(used.contains("no-setup-code"), "{used}");

    // The window closes, and the LED goes back to ready.
    wait_for_pattern(&sim_dir, "ready steady").await;
    let (_, after) = page(staff).await;
    assert!(!after.contains("Pairing ("));
    b.stop().await;
}
