//! Disk full, for real: the data dir on a 24 MiB tmpfs. Uploads that would eat into
//! the free-disk reserve are refused (tus 507, FTP 552), the box stays up, nothing
//! stored is damaged, and uploads work again once space is freed.
//!
//! Needs root (to mount tmpfs), as CI runs; fails loudly otherwise.

mod common;

use std::path::PathBuf;

use common::tmpfs::{free, Tmpfs};
use common::{sha256_file, testdata, Options, TestBox};

async fn tus_upload(b: &TestBox, token: &str, bytes: &[u8]) -> u16 {
    reqwest::Client::new()
        .post(b.url("/files/"))
        .bearer_auth(token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", bytes.len())
        .header("Content-Type", "application/offset+octet-stream")
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_full_disk_refuses_uploads_keeps_what_is_stored_and_recovers() {
    let fs = Tmpfs::mount("24m");
    let data = fs.path.join("data");
    let b = TestBox::start_with(Options {
        configure: Box::new({
            let data = data.clone();
            move |c| {
                c.storage.data_dir = data;
                c.ingest.free_disk_reserve_bytes = 4 << 20;
            }
        }),
        ..Default::default()
    })
    .await;
    let (_, token) = b.creator("Ana").await;
    b.creator("Cam").await;
    let creds = b
        .state
        .store
        .write(|tx| venuebox::creators::set_ftp_credentials(tx, "Cam", "test"))
        .await
        .unwrap();

    // Something else on the card that can be deleted later to make room.
    let filler = fs.path.join("export.bin");
    std::fs::write(&filler, vec![0u8; 6 << 20]).unwrap();

    // Photos of about 1-3 MB each, all distinct.
    let mut photos: Vec<PathBuf> = std::fs::read_dir(testdata().join("photos"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension().is_some_and(|e| e.eq_ignore_ascii_case("jpg"))
                && (900_000..3_500_000).contains(&std::fs::metadata(p).unwrap().len())
        })
        .collect();
    photos.sort();

    // Fill with tus until the box says 507.
    let mut stored = Vec::new();
    let mut refused = false;
    for p in &photos {
        let bytes = std::fs::read(p).unwrap();
        match tus_upload(&b, &token, &bytes).await {
            201 => stored.push(p.clone()),
            507 => {
                refused = true;
                break;
            }
            other => panic!("{}: unexpected {other}", p.display()),
        }
    }
    assert!(
        refused,
        "the disk never filled: {} stored, {} free",
        stored.len(),
        free(&data)
    );
    assert!(!stored.is_empty());
    assert!(
        free(&data) >= 3 << 20,
        "the reserve held: {} bytes free",
        free(&data)
    );

    // FTP does not know a file's size in advance: it stores what still fits above the
    // reserve and answers 552 as soon as a file would cross it.
    let ftp = b.ftp.unwrap();
    let mut ftp_refused = false;
    let remaining: Vec<PathBuf> = photos
        .iter()
        .filter(|p| !stored.contains(p))
        .cloned()
        .collect();
    for (i, p) in remaining.iter().enumerate() {
        let out = tokio::process::Command::new("curl")
            .args(["-sS", "-v", "-T", p.to_str().unwrap()])
            .arg(format!(
                "ftp://{}:{}@{ftp}/f{i}.JPG",
                creds.user, creds.password
            ))
            .output()
            .await
            .expect("curl must be installed");
        let log = String::from_utf8_lossy(&out.stderr);
        if log.lines().any(|l| l.starts_with("< 552")) {
            ftp_refused = true;
            break;
        }
        assert!(out.status.success(), "{log}");
        stored.push(p.clone());
    }
    assert!(ftp_refused, "FTP never answered 552");
    assert!(
        free(&data) >= 3 << 20,
        "the reserve held: {} bytes free",
        free(&data)
    );
    let big = photos.iter().find(|p| !stored.contains(p)).unwrap();

    // The box stays up and what it stored is intact.
    let health = reqwest::get(b.url("/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    for p in &stored {
        let sha = sha256_file(p);
        let path = data.join("photos/sha256").join(&sha[..2]).join(&sha);
        assert_eq!(sha256_file(&path), sha, "{}", p.display());
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

    // Free space (the organiser deletes an old export): uploads work again.
    std::fs::remove_file(&filler).unwrap();
    let bytes = std::fs::read(big).unwrap();
    assert_eq!(tus_upload(&b, &token, &bytes).await, 201);
    b.stop().await;
}
