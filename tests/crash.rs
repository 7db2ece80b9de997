//! Power cut during uploads: the box is killed with SIGKILL while 20 uploads (10 tus,
//! 10 FTP) are in flight, then restarted. Every acknowledged photo must be there with
//! the right hash; every unacknowledged one resumes (tus) or is cleanly absent or
//! whole (FTP); no temporary file survives the restart's cleanup; and SQLite's
//! integrity check passes.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sha2::Digest;

mod common;
use common::{free_port, testdata};

const BIN: &str = env!("CARGO_BIN_EXE_venuebox");

fn sha256(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

fn cli(data: &Path, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn start(data: &Path, http: u16, ftp: u16) -> Child {
    let mut child = Command::new(BIN)
        .arg("--data-dir")
        .arg(data)
        .args([
            "run",
            "--http",
            &format!("127.0.0.1:{http}"),
            "--ftp",
            &format!("127.0.0.1:{ftp}"),
        ])
        .env("VENUEBOX_MDNS__ENABLED", "false")
        .env_remove("VENUEBOX_ADMIN_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let reader = BufReader::new(child.stdout.take().unwrap());
    for line in reader.lines() {
        if line.unwrap().contains("admin setup code") {
            break;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", ftp)).is_err() {
        assert!(Instant::now() < deadline, "FTP did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    child
}

/// A tus upload sent in small chunks with pauses, so the kill lands mid-way.
async fn tus_upload(
    base: String,
    token: String,
    bytes: Vec<u8>,
    name: String,
) -> (Option<String>, u64, bool) {
    let c = reqwest::Client::new();
    let create = match c
        .post(format!("{base}/files/"))
        .bearer_auth(&token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", bytes.len())
        .header(
            "Upload-Metadata",
            format!("filename {}", base64_encode(name.as_bytes())),
        )
        .send()
        .await
    {
        Ok(r) if r.status() == 201 => r,
        _ => return (None, 0, false),
    };
    let location = create.headers()["location"].to_str().unwrap().to_string();
    let mut acknowledged = 0u64;
    for chunk in bytes.chunks(96 * 1024) {
        let r = c
            .patch(format!("{base}{location}"))
            .bearer_auth(&token)
            .header("Tus-Resumable", "1.0.0")
            .header("Content-Type", "application/offset+octet-stream")
            .header("Upload-Offset", acknowledged)
            .body(chunk.to_vec())
            .send()
            .await;
        match r {
            Ok(r) if r.status() == 204 => acknowledged += chunk.len() as u64,
            _ => return (Some(location), acknowledged, false),
        }
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    (
        Some(location),
        acknowledged,
        acknowledged == bytes.len() as u64,
    )
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_during_twenty_uploads_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    cli(&data, &["creator", "add", "Crash"]);
    let token = cli(&data, &["creator", "add", "Phone"])
        .lines()
        .last()
        .unwrap()
        .to_string();
    let ftp_out = cli(&data, &["creator", "ftp", "Crash"]);
    let ftp_user = ftp_out
        .lines()
        .find_map(|l| l.strip_prefix("FTP user: "))
        .unwrap()
        .to_string();
    let ftp_password = ftp_out.lines().last().unwrap().to_string();

    // 20 distinct photos from the corpus.
    let mut photos: Vec<PathBuf> = std::fs::read_dir(testdata().join("photos"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("jpg")))
        .collect();
    photos.sort();
    let mut seen = HashSet::new();
    photos.retain(|p| seen.insert(sha256(&std::fs::read(p).unwrap())));
    assert!(
        photos.len() >= 20,
        "need 20 distinct photos, found {}",
        photos.len()
    );
    photos.truncate(20);
    let (tus_photos, ftp_photos) = photos.split_at(10);

    let (http, ftp) = (free_port(), free_port());
    let mut child = start(&data, http, ftp);
    let base = format!("http://127.0.0.1:{http}");

    let mut tus_tasks = Vec::new();
    for p in tus_photos {
        let bytes = std::fs::read(p).unwrap();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        tus_tasks.push(tokio::spawn(tus_upload(
            base.clone(),
            token.clone(),
            bytes,
            name,
        )));
    }
    let mut ftp_children = Vec::new();
    for p in ftp_photos {
        let url = format!(
            "ftp://{ftp_user}:{ftp_password}@127.0.0.1:{ftp}/{}",
            p.file_name().unwrap().to_string_lossy()
        );
        ftp_children.push(
            tokio::process::Command::new("curl")
                .args([
                    "-sS",
                    "--limit-rate",
                    "1500K",
                    "-T",
                    p.to_str().unwrap(),
                    &url,
                ])
                .stderr(Stdio::null())
                .spawn()
                .expect("curl must be installed"),
        );
    }
    // Let some finish and others be mid-way, then cut the power.
    tokio::time::sleep(Duration::from_millis(500)).await;
    child.kill().unwrap();
    child.wait().unwrap();

    let mut tus_results = Vec::new();
    for t in tus_tasks {
        tus_results.push(t.await.unwrap());
    }
    let mut ftp_acknowledged = Vec::new();
    for mut c in ftp_children {
        ftp_acknowledged.push(c.wait().await.unwrap().success());
    }
    let acked = tus_results.iter().filter(|r| r.2).count()
        + ftp_acknowledged.iter().filter(|a| **a).count();
    let interrupted = 20 - acked;
    assert!(
        interrupted > 0,
        "the kill came too late to interrupt anything; slow the uploads down"
    );

    // Power back.
    let (http, ftp) = (free_port(), free_port());
    let mut child = start(&data, http, ftp);
    let base = format!("http://127.0.0.1:{http}");
    let db = rusqlite::Connection::open(data.join("venuebox.db")).unwrap();
    let stored = |sha: &str| -> bool {
        db.query_row(
            "SELECT count(*) FROM photos WHERE sha256 = ?1",
            [sha],
            |r| r.get::<_, i64>(0),
        )
        .unwrap()
            == 1
            && data
                .join("photos/sha256")
                .join(&sha[..2])
                .join(sha)
                .is_file()
            && sha256(&std::fs::read(data.join("photos/sha256").join(&sha[..2]).join(sha)).unwrap())
                == sha
    };

    // Every acknowledged photo is there, whole.
    for (p, (_, _, done)) in tus_photos.iter().zip(&tus_results) {
        if *done {
            assert!(
                stored(&sha256(&std::fs::read(p).unwrap())),
                "acknowledged tus upload lost: {}",
                p.display()
            );
        }
    }
    for (p, done) in ftp_photos.iter().zip(&ftp_acknowledged) {
        let sha = sha256(&std::fs::read(p).unwrap());
        if *done {
            assert!(
                stored(&sha),
                "acknowledged FTP upload lost: {}",
                p.display()
            );
        } else {
            // Unacknowledged: absent, or stored whole (committed just before the kill).
            let rows: i64 = db
                .query_row(
                    "SELECT count(*) FROM photos WHERE sha256 = ?1",
                    [&sha],
                    |r| r.get(0),
                )
                .unwrap();
            assert!(
                rows == 0 || stored(&sha),
                "a half-stored FTP photo: {}",
                p.display()
            );
        }
    }
    // Unfinished tus uploads resume from the offset the box recorded.
    let c = reqwest::Client::new();
    for (p, (location, acked_bytes, done)) in tus_photos.iter().zip(&tus_results) {
        let (Some(location), false) = (location, done) else {
            continue;
        };
        let bytes = std::fs::read(p).unwrap();
        let head = c
            .head(format!("{base}{location}"))
            .bearer_auth(&token)
            .header("Tus-Resumable", "1.0.0")
            .send()
            .await
            .unwrap();
        assert_eq!(head.status(), 200, "{location}");
        let offset: u64 = head.headers()["upload-offset"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            offset >= *acked_bytes,
            "the box forgot acknowledged bytes: {offset} < {acked_bytes}"
        );
        assert!(offset <= bytes.len() as u64);
        if offset < bytes.len() as u64 {
            let r = c
                .patch(format!("{base}{location}"))
                .bearer_auth(&token)
                .header("Tus-Resumable", "1.0.0")
                .header("Content-Type", "application/offset+octet-stream")
                .header("Upload-Offset", offset)
                .body(bytes[offset as usize..].to_vec())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 204);
        }
        assert!(
            stored(&sha256(&bytes)),
            "resumed upload stored whole: {}",
            p.display()
        );
    }

    // No temporary files left: only the running process's own (empty) incoming folder,
    // and upload files that belong to known uploads.
    let incoming: Vec<PathBuf> = files_under(&data.join("incoming"))
        .into_iter()
        .filter(|p| !p.ends_with(".lock"))
        .collect();
    assert!(incoming.is_empty(), "{incoming:?}");
    let partials: Vec<PathBuf> = files_under(&data.join("ftp"))
        .into_iter()
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".vbx-")
        })
        .collect();
    assert!(partials.is_empty(), "{partials:?}");
    let known: HashSet<String> = db
        .prepare("SELECT id FROM uploads")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for f in files_under(&data.join("uploads")) {
        assert!(
            known.contains(f.file_name().unwrap().to_str().unwrap()),
            "orphan upload file {}",
            f.display()
        );
    }
    let integrity: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    child.kill().unwrap();
    child.wait().unwrap();
    eprintln!("{acked} acknowledged, {interrupted} interrupted");
}
