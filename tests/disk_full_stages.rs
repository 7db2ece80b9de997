//! Disk full at every stage (issue 18 item 3): the data dir on a small tmpfs, filled
//! exactly (a filler file left with a set number of free bytes) while the box is in
//! the middle of each kind of write: a tus chunk and an FTP upload whose bytes are
//! arriving, a render writing its derivatives, an SQLite write that must grow the
//! WAL, and a WAL checkpoint that must grow the database file. At each stage the box
//! stays up (`/healthz` 200, other routes answer), refuses with 507 (HTTP) or 552
//! (FTP) where a write was asked for, damages nothing (every stored photo matches its
//! SHA-256, `PRAGMA integrity_check` is `ok`), and the same work succeeds once the
//! filler is removed. (Sync writes nothing in the data dir but the database and the
//! files it prepares to send: the sync stage is in tests/sync.rs. The box logs only
//! to stderr, never into the data dir.)
//!
//! Needs root (to mount tmpfs), as CI runs; fails loudly otherwise.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::tmpfs::{free, Tmpfs};
use common::{sha256_file, test_config, testdata, TestBox};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use venuebox::config::Config;

fn photo(name: &str) -> PathBuf {
    testdata().join("photos").join(name)
}

/// A box whose data dir is `data` (on the tmpfs), sync off (its own stage is in
/// tests/sync.rs) and a 1 MiB reserve, so the stage under test, not the reserve,
/// meets the full disk.
fn config(data: &Path) -> Config {
    let mut c = test_config(data.to_path_buf());
    c.ingest.free_disk_reserve_bytes = 1 << 20;
    c.sync.enabled = false;
    c
}

async fn start(data: &Path) -> TestBox {
    let data = data.to_path_buf();
    TestBox::start_with(common::Options {
        configure: Box::new(move |c| {
            c.storage.data_dir = data;
            c.ingest.free_disk_reserve_bytes = 1 << 20;
            c.sync.enabled = false;
        }),
        ..Default::default()
    })
    .await
}

/// The invariants of every stage: the box answers, what it stored is whole, the
/// database is intact.
async fn still_sound(b: &TestBox, admin: &str, stored: &[PathBuf]) {
    let health = reqwest::get(b.url("/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    let creators = reqwest::Client::new()
        .get(b.url("/api/admin/creators"))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap();
    assert_eq!(creators.status(), 200, "a read-only route still answers");
    for p in stored {
        let sha = sha256_file(p);
        let path = venuebox::files::layout::photo(&b.data_dir(), &sha);
        assert_eq!(sha256_file(&path), sha, "{}", p.display());
        b.photo_id(&sha).await;
    }
    let integrity: String = b
        .state
        .store
        .read(|c| {
            c.query_row("PRAGMA integrity_check", [], |r| r.get(0))
                .map_err(venuebox::db::StoreError::from)
        })
        .await
        .unwrap();
    assert_eq!(integrity, "ok");
}

/// The render state the admin API reports for `id` (`None`: nothing recorded).
async fn render_state(b: &TestBox, admin: &str, id: i64) -> Option<serde_json::Value> {
    let r = reqwest::Client::new()
        .get(b.url(&format!("/api/admin/photos/{id}/render")))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap();
    match r.status().as_u16() {
        404 => None,
        200 => Some(r.json().await.unwrap()),
        other => panic!("render state: {other}"),
    }
}

/// The one integer `sql` (a single-row, single-column query) reads from the box's store.
async fn read_i64(b: &TestBox, sql: &'static str) -> i64 {
    b.state
        .store
        .read(move |c| {
            c.query_row(sql, [], |r| r.get(0))
                .map_err(venuebox::db::StoreError::from)
        })
        .await
        .unwrap()
}

async fn wait_rendered(b: &TestBox, admin: &str, id: i64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(state) = render_state(b, admin, id).await {
            assert_ne!(state["state"], "failed", "{state}");
            if state["state"] == "done" {
                return;
            }
        }
        assert!(Instant::now() < deadline, "photo {id} not rendered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn get(b: &TestBox, admin: &str, path: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(b.url(path))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap()
}

/// Waits until `path` holds at least `size` bytes (the box has written them).
async fn wait_size(path: impl Fn() -> Option<PathBuf>, size: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(p) = path() {
            if std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0) >= size {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the box never wrote {size} bytes"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A tus chunk whose bytes are arriving when the disk fills: the write fails with
/// ENOSPC, the PATCH answers 507 with a message that says so, the upload keeps its
/// offset, and the same PATCH completes it once space is freed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tus_chunk_mid_stream() {
    let fs = Tmpfs::mount("24m");
    let data = fs.path.join("data");
    let b = start(&data).await;
    let admin = b.admin_token().await;
    let (_, token) = b.creator("Ana").await;
    let first = photo("canon-5dmk3_K6A7944.JPG");
    let id = b.tus_upload(&token, &std::fs::read(&first).unwrap()).await;
    wait_rendered(&b, &admin, id).await;

    let bytes = std::fs::read(photo("apple-iphone5.jpg")).unwrap();
    let client = reqwest::Client::new();
    let location = b.tus_create(&token, bytes.len()).await;
    let upload_id = location.rsplit('/').next().unwrap().to_string();
    let part = venuebox::files::layout::upload_part(&data, &upload_id);

    // One PATCH of the whole file over a raw socket: the first 256 KiB, then the disk
    // fills (nothing left), then the rest while the request is still open.
    let conn = tokio::net::TcpStream::connect(b.http).await.unwrap();
    let (mut rx, mut tx) = conn.into_split();
    let head = format!(
        "PATCH {location} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n\
         Tus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n\
         Content-Type: application/offset+octet-stream\r\nContent-Length: {}\r\n\r\n",
        b.http,
        bytes.len()
    );
    tx.write_all(head.as_bytes()).await.unwrap();
    tx.write_all(&bytes[..256 << 10]).await.unwrap();
    wait_size(|| Some(part.clone()), 256 << 10).await;
    let filler = fs.fill("filler", 0);
    let rest = bytes[256 << 10..].to_vec();
    // The box may stop reading once it has answered.
    let sender = tokio::spawn(async move {
        let _ = tx.write_all(&rest).await;
        tx
    });
    let mut answer = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    // Until the body's last line (or the connection ends, or 20 s pass).
    let complete = |a: &[u8]| {
        let a = String::from_utf8_lossy(a);
        a.split_once("\r\n\r\n")
            .is_some_and(|(_, body)| body.ends_with('\n'))
    };
    while !complete(&answer) {
        let mut buf = [0u8; 4096];
        match tokio::time::timeout_at(deadline.into(), rx.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => answer.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 507"),
        "a chunk cut off by a full disk: {answer}"
    );
    assert!(answer.contains("disk is full"), "{answer}");
    drop(sender.await.unwrap());
    drop(rx);

    // The upload kept its offset (the partial chunk was dropped); the box is sound.
    let head = client
        .head(b.url(&location))
        .bearer_auth(&token)
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["upload-offset"], "0");
    assert_eq!(
        get(&b, &admin, &format!("/photos/{id}/thumb"))
            .await
            .status(),
        200
    );
    still_sound(&b, &admin, std::slice::from_ref(&first)).await;

    // Space returns: the same PATCH finishes the upload.
    std::fs::remove_file(&filler).unwrap();
    let done = client
        .patch(b.url(&location))
        .bearer_auth(&token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Offset", "0")
        .header("Content-Type", "application/offset+octet-stream")
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 204);
    assert_eq!(done.headers()["upload-offset"], bytes.len().to_string());
    still_sound(&b, &admin, &[first, photo("apple-iphone5.jpg")]).await;
    b.stop().await;
}

/// An FTP upload whose bytes are arriving when the disk fills: 552, nothing stored as
/// a photo, and the same file goes in once space is freed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ftp_upload_mid_stream() {
    use std::io::Write;
    let fs = Tmpfs::mount("24m");
    let data = fs.path.join("data");
    let b = start(&data).await;
    let admin = b.admin_token().await;
    let (cam, _) = b.creator("Cam").await;
    let creds = b
        .state
        .store
        .write(|tx| venuebox::creators::set_ftp_credentials(tx, "Cam", "test"))
        .await
        .unwrap();
    let ftp = b.ftp.unwrap();
    let url = |name: &str| format!("ftp://{}:{}@{ftp}/{name}", creds.user, creds.password);
    let first = photo("canon-5dmk3_K6A7944.JPG");
    let out = std::process::Command::new("curl")
        .args(["-sS", "-T", first.to_str().unwrap(), &url("first.JPG")])
        .output()
        .expect("curl must be installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = b.photo_id(&sha256_file(&first)).await;
    wait_rendered(&b, &admin, id).await;

    // curl reads the file from a pipe: 256 KiB, then the disk fills, then the rest.
    let second = photo("apple-iphone5.jpg");
    let bytes = std::fs::read(&second).unwrap();
    let mut curl = std::process::Command::new("curl")
        .args(["-sS", "-v", "-T", "-", &url("second.JPG")])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = curl.stdin.take().unwrap();
    stdin.write_all(&bytes[..256 << 10]).unwrap();
    stdin.flush().unwrap();
    // The box writes an FTP upload under a hidden temporary name in the camera's tree.
    let tree = venuebox::files::layout::ftp(&data).join(cam.to_string());
    let partial = || {
        std::fs::read_dir(&tree).ok()?.find_map(|e| {
            let p = e.ok()?.path();
            p.file_name()?.to_str()?.starts_with(".vbx-").then_some(p)
        })
    };
    wait_size(partial, 256 << 10).await;
    let filler = fs.fill("filler", 0);
    let writer = std::thread::spawn(move || {
        // The box may close the data connection before curl has sent it all.
        let _ = stdin.write_all(&bytes[256 << 10..]);
    });
    let out = tokio::task::spawn_blocking(move || curl.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    writer.join().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.lines().any(|l| l.starts_with("< 552")),
        "an FTP upload cut off by a full disk answers 552: {log}"
    );
    let photos = read_i64(&b, "SELECT count(*) FROM photos").await;
    assert_eq!(photos, 1, "nothing half-received became a photo");
    still_sound(&b, &admin, std::slice::from_ref(&first)).await;

    std::fs::remove_file(&filler).unwrap();
    let out = std::process::Command::new("curl")
        .args(["-sS", "-T", second.to_str().unwrap(), &url("second.JPG")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    still_sound(&b, &admin, &[first, second]).await;
    b.stop().await;
}

/// A render whose derivatives cannot all be written (64 KiB free, less than one
/// photo's six derivatives): its previews answer 507 and the render is not marked
/// failed; once space is freed the queue renders it by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn render_mid_write() {
    let fs = Tmpfs::mount("32m");
    let data = fs.path.join("data");
    // The photos are stored while the box is off (a card import), so that the box
    // renders them only after the disk has filled.
    let files = [
        photo("canon-5dmk3_K6A7944.JPG"),
        photo("canon-5dmk3_K6A7942.JPG"),
    ];
    let (code, admin) = {
        let config = config(&data);
        let prepared = tokio::task::spawn_blocking(move || venuebox::app::prepare(config, None))
            .await
            .unwrap()
            .unwrap();
        let venuebox::auth::SetupCode::New(code) = prepared.setup_code else {
            panic!("a new box has a new code")
        };
        let state = prepared.state;
        let creator = state
            .store
            .write(|tx| venuebox::creators::add(tx, "Ana", "test"))
            .await
            .unwrap()
            .creator
            .id;
        venuebox::cli::import::import(
            &state.ingest,
            creator,
            &files,
            &indicatif::ProgressBar::hidden(),
        )
        .await
        .unwrap();
        // Logged in before the disk fills (a login is a write).
        let login = code.clone();
        let session = state
            .store
            .write(move |tx| {
                venuebox::auth::open_session(tx, &login, [127, 0, 0, 1].into(), 3600)
                    .map_err(venuebox::db::StoreError::from)
            })
            .await
            .unwrap()
            .expect("the setup code opens a session");
        state.store.close().await.unwrap();
        (code, session.token)
    };
    let filler = fs.fill("filler", 64 << 10);
    let b = TestBox::start_existing(config(&data), code).await;
    let ids = [
        b.photo_id(&sha256_file(&files[0])).await,
        b.photo_id(&sha256_file(&files[1])).await,
    ];

    // The queue meets the full disk: the preview answers 507, the state says why.
    let deadline = Instant::now() + Duration::from_secs(60);
    for id in ids {
        loop {
            let state = render_state(&b, &admin, id).await;
            if state.as_ref().is_some_and(|s| s["state"] == "no_space") {
                break;
            }
            assert!(
                state.as_ref().map_or(true, |s| s["state"] != "failed"),
                "a full disk is not the photo's failure: {state:?}"
            );
            assert!(
                Instant::now() < deadline,
                "never met the full disk: {state:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let preview = get(&b, &admin, &format!("/photos/{id}/preview")).await;
        assert_eq!(preview.status(), 507);
        let body: serde_json::Value = preview.json().await.unwrap();
        assert_eq!(body["error"], "disk_full", "{body}");
    }
    still_sound(&b, &admin, &files).await;

    // Space returns: both render without being asked, and every derivative serves.
    std::fs::remove_file(&filler).unwrap();
    for id in ids {
        wait_rendered(&b, &admin, id).await;
        for d in ["thumb", "preview", "watermarked"] {
            let r = get(&b, &admin, &format!("/photos/{id}/{d}")).await;
            assert_eq!(r.status(), 200, "{d}");
            image::load_from_memory(&r.bytes().await.unwrap()).unwrap();
        }
    }
    still_sound(&b, &admin, &files).await;
    b.stop().await;
}

/// Opens the box's database beside it (as `sqlite3` would) and truncates the WAL, so
/// that the next commit must grow it.
fn truncate_wal(data: &Path) {
    let conn = rusqlite::Connection::open(venuebox::files::layout::database(data)).unwrap();
    let (busy, _, _): (i64, i64, i64) = conn
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert_eq!(busy, 0, "the WAL was truncated");
}

/// An SQLite write that must grow the WAL on a full disk (`SQLITE_FULL`): the request
/// answers 507 with a stable code and a message, nothing changes, and the same
/// request succeeds once space is freed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_write_grows_the_wal() {
    let fs = Tmpfs::mount("24m");
    let data = fs.path.join("data");
    let b = start(&data).await;
    let admin = b.admin_token().await;
    let (_, token) = b.creator("Ana").await;
    let first = photo("canon-5dmk3_K6A7944.JPG");
    let id = b.tus_upload(&token, &std::fs::read(&first).unwrap()).await;
    wait_rendered(&b, &admin, id).await;

    truncate_wal(&data);
    let filler = fs.fill("filler", 0);
    let add = || async {
        reqwest::Client::new()
            .post(b.url("/api/admin/creators"))
            .bearer_auth(&admin)
            .json(&serde_json::json!({ "name": "Bea" }))
            .send()
            .await
            .unwrap()
    };
    let refused = add().await;
    assert_eq!(refused.status(), 507);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "disk_full", "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("disk is full"),
        "{body}"
    );
    still_sound(&b, &admin, std::slice::from_ref(&first)).await;
    let named = read_i64(&b, "SELECT count(*) FROM creators WHERE name = 'Bea'").await;
    assert_eq!(named, 0, "the refused write left nothing");

    std::fs::remove_file(&filler).unwrap();
    assert_eq!(add().await.status(), 201);
    still_sound(&b, &admin, &[first]).await;
    b.stop().await;
}

/// A WAL checkpoint that must grow the database file on a full disk: it fails
/// (`SQLITE_FULL`), the WAL keeps every commit, the box still stops cleanly (its
/// closing checkpoint meets the same full disk), and after a restart with space
/// everything committed is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wal_checkpoint_grows_the_database() {
    let fs = Tmpfs::mount("24m");
    let data = fs.path.join("data");
    let b = start(&data).await;
    let admin = b.admin_token().await;
    let (_, token) = b.creator("Ana").await;
    let first = photo("canon-5dmk3_K6A7944.JPG");
    let id = b.tus_upload(&token, &std::fs::read(&first).unwrap()).await;
    wait_rendered(&b, &admin, id).await;

    // 2 MB committed into the WAL only (below the 1000-page automatic checkpoint).
    truncate_wal(&data);
    let detail = "x".repeat(2 << 20);
    b.state
        .store
        .write_sql(move |tx| venuebox::db::audit(tx, "test", "bulk", &detail))
        .await
        .unwrap();
    let filler = fs.fill("filler", 0);
    let conn = rusqlite::Connection::open(venuebox::files::layout::database(&data)).unwrap();
    let checkpoint = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    assert_eq!(
        checkpoint.unwrap_err().sqlite_error_code(),
        Some(rusqlite::ErrorCode::DiskFull),
        "the checkpoint met the full disk"
    );
    drop(conn);
    still_sound(&b, &admin, std::slice::from_ref(&first)).await;

    // The box stops on the full disk; space returns; it starts with everything.
    let code = b.admin_code.clone();
    let config = (*b.state.config).clone();
    b.stop().await;
    std::fs::remove_file(&filler).unwrap();
    let b = TestBox::start_existing(config, code).await;
    let admin = b.admin_token().await;
    still_sound(&b, &admin, std::slice::from_ref(&first)).await;
    let bulk = read_i64(
        &b,
        "SELECT length(detail) FROM audit_log WHERE action = 'bulk'",
    )
    .await;
    assert_eq!(bulk, 2 << 20);
    let second = photo("apple-iphone5.jpg");
    b.tus_upload(&token, &std::fs::read(&second).unwrap()).await;
    still_sound(&b, &admin, &[first, second]).await;
    assert!(free(&data) > 0);
    b.stop().await;
}

/// The log's disk is full: the box logs only to stderr (journald under systemd, never
/// into the data dir); here stderr is a file on a second tmpfs with nothing free, so
/// every log line fails to write (as it would with `2>>` onto a full card, or a pipe
/// whose reader has gone). The real binary keeps serving: an upload whose handlers log
/// is stored, and once space is freed log lines are written again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_write_on_a_full_disk() {
    const BIN: &str = env!("CARGO_BIN_EXE_venuebox");
    let fs = Tmpfs::mount("24m");
    let data = fs.path.join("data");
    let logs = Tmpfs::mount("1m");
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(BIN)
            .arg("--data-dir")
            .arg(&data)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let token = cli(&["creator", "add", "Phone"])
        .lines()
        .last()
        .unwrap()
        .to_string();
    let log = logs.path.join("venuebox.log");
    let http = common::free_port();
    let child = std::process::Command::new(BIN)
        .arg("--data-dir")
        .arg(&data)
        .args(["run", "--http", &format!("127.0.0.1:{http}")])
        .args(["--ftp", &format!("127.0.0.1:{}", common::free_port())])
        .env("VENUEBOX_MDNS__ENABLED", "false")
        .env("VENUEBOX_SYNC__ENABLED", "false")
        .env("VENUEBOX_INGEST__FREE_DISK_RESERVE_BYTES", "1048576")
        .env("VENUEBOX_LOG", "info")
        .env_remove("VENUEBOX_ADMIN_TOKEN")
        .stdout(std::process::Stdio::null())
        // Appended to, as `2>>` does, so the test can pad it to a page boundary.
        .stderr(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .unwrap(),
        )
        .spawn()
        .unwrap();
    let mut child = Stopped(child);
    let base = format!("http://127.0.0.1:{http}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while reqwest::get(format!("{base}/healthz")).await.is_err() {
        assert!(Instant::now() < deadline, "the box did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // tmpfs allocates whole pages: the log is padded to the end of its last page, so
    // the next line needs a new one, and none is left.
    let size = std::fs::metadata(&log).unwrap().len();
    let pad = (4096 - size % 4096) % 4096;
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        f.write_all(&vec![b'\n'; pad as usize]).unwrap();
    }
    let filler = logs.fill("filler", 0);
    let written = std::fs::metadata(&log).unwrap().len();

    let upload = |name: &str| {
        let bytes = std::fs::read(photo(name)).unwrap();
        let (base, token) = (base.clone(), token.clone());
        async move {
            reqwest::Client::new()
                .post(format!("{base}/files/"))
                .bearer_auth(token)
                .header("Tus-Resumable", "1.0.0")
                .header("Upload-Length", bytes.len())
                .header("Content-Type", "application/offset+octet-stream")
                .body(bytes)
                .send()
                .await
                .map(|r| r.status().as_u16())
        }
    };
    let status = upload("canon-5dmk3_K6A7944.JPG").await;
    assert!(
        matches!(status, Ok(201)),
        "an upload while no log line can be written: {status:?}"
    );
    let health = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    assert!(child.0.try_wait().unwrap().is_none(), "the box is running");
    assert_eq!(
        std::fs::metadata(&log).unwrap().len(),
        written,
        "nothing was logged"
    );

    // Space for the log again: the next upload's lines are written.
    std::fs::remove_file(&filler).unwrap();
    assert!(matches!(upload("apple-iphone5.jpg").await, Ok(201)));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text[written as usize..].contains("photo stored"), "{text}");
    assert!(child.0.try_wait().unwrap().is_none(), "the box is running");
    let pid = rustix::process::Pid::from_child(&child.0);
    rustix::process::kill_process(pid, rustix::process::Signal::Term).unwrap();
    assert!(child.0.wait().unwrap().success(), "a clean stop");
    for name in ["canon-5dmk3_K6A7944.JPG", "apple-iphone5.jpg"] {
        let sha = sha256_file(&photo(name));
        let stored = venuebox::files::layout::photo(&data, &sha);
        assert_eq!(sha256_file(&stored), sha);
    }
}

/// A child process killed when dropped (a failed assertion leaves no box running).
struct Stopped(std::process::Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
