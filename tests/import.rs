//! `venuebox import` of a memory card's folder tree, through the same ingest core.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{testdata, TestBox};

const BIN: &str = env!("CARGO_BIN_EXE_venuebox");

fn venuebox(data: &Path, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env_remove("VENUEBOX_ADMIN_TOKEN")
        .output()
        .unwrap()
}

#[test]
fn import_a_card_reports_new_duplicate_and_refused_files() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let card = dir.path().join("card");
    let dcim = card.join("DCIM/100CANON");
    std::fs::create_dir_all(&dcim).unwrap();
    std::fs::create_dir_all(card.join(".Trashes")).unwrap();
    let photos = testdata().join("photos");
    for name in ["canon-350d_MG_9381.JPG", "nikon-d90_DSC_0003.JPG"] {
        std::fs::copy(photos.join(name), dcim.join(name)).unwrap();
    }
    // The same photo twice on the card, a PNG named .jpg, a text file, a hidden file.
    std::fs::copy(photos.join("nikon-d90_DSC_0003.JPG"), card.join("copy.JPG")).unwrap();
    std::fs::copy(
        testdata().join("bad/gen_png_named_jpg.jpg"),
        dcim.join("png.jpg"),
    )
    .unwrap();
    std::fs::write(card.join("MISC.TXT"), "camera settings").unwrap();
    std::fs::write(card.join(".Trashes/IMG_1.JPG"), [0xFF, 0xD8, 0xFF, 0xE0]).unwrap();

    let out = venuebox(
        &data,
        &["import", card.to_str().unwrap(), "--creator", "Nobody"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no creator named"));

    assert!(venuebox(&data, &["creator", "add", "Ana"]).status.success());
    let out = venuebox(
        &data,
        &["import", card.to_str().unwrap(), "--creator", "Ana"],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with("3 new, 1 already stored, 1 refused"),
        "{stdout}"
    );
    assert!(
        stdout.contains("MISC.TXT"),
        "refused files are listed: {stdout}"
    );
    assert!(
        stdout.contains("not an accepted photo type"),
        "with the reason: {stdout}"
    );

    // Again: everything is already there.
    let out = venuebox(
        &data,
        &["import", card.to_str().unwrap(), "--creator", "Ana"],
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("0 new, 4 already stored, 1 refused"));

    let conn = rusqlite::Connection::open(data.join("venuebox.db")).unwrap();
    let rows: Vec<(String, String, String)> = conn
        .prepare("SELECT original_name, media_type, source FROM photos ORDER BY original_name")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows.len(), 3);
    assert!(rows.contains(&("png.jpg".into(), "image/png".into(), "import".into())));
    // No temporary files are left behind.
    let leftovers: Vec<_> = walk(&data.join("incoming"))
        .into_iter()
        .filter(|p| !p.ends_with(".lock"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// A card imported beside the running service: the service announces the new photos
/// (for the renderer) as it does its own uploads, and its own are announced once.
#[tokio::test]
async fn the_running_service_notices_imported_photos() {
    let b = TestBox::start().await;
    let mut events = b.state.ingest.subscribe();
    b.creator("Ana").await;
    let card = b.dir.path().join("card");
    std::fs::create_dir_all(&card).unwrap();
    std::fs::copy(
        testdata().join("photos/hopper_gray.jpg"),
        card.join("hopper.jpg"),
    )
    .unwrap();
    let data = b.data_dir();
    let out = tokio::task::spawn_blocking(move || {
        venuebox(
            &data,
            &["import", card.to_str().unwrap(), "--creator", "Ana"],
        )
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let event = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .expect("the service announced the imported photo")
        .unwrap();
    assert_eq!(event.photo.source, "import");
    assert_eq!(event.photo.original_name, "hopper.jpg");

    // The service's own upload: announced exactly once.
    let (_, token) = b.creator("Bo").await;
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/gradient.jpg"
    ))
    .unwrap();
    let r = reqwest::Client::new()
        .post(b.url("/files/"))
        .bearer_auth(&token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", bytes.len())
        .header("Content-Type", "application/offset+octet-stream")
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let event = events.recv().await.unwrap();
    assert_eq!(event.photo.source, "tus");
    // Two polls of the watcher later, nothing more was announced.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(matches!(
        events.try_recv(),
        Err(tokio::sync::broadcast::error::TryRecvError::Empty)
    ));
    b.stop().await;
}
