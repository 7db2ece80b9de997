//! `venuebox import` of a memory card's folder tree, through the same ingest core.

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_venuebox");

fn testdata() -> PathBuf {
    let dir = std::env::var_os("VENUEBOX_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/testdata"));
    assert!(
        dir.join("photos").is_dir(),
        "test data not found at {} (set VENUEBOX_TESTDATA)",
        dir.display()
    );
    dir
}

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
