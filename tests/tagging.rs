//! Tagging photos to attendees (issue 14, item 3), through the real server: a
//! photographer's camera uploads over FTP (curl) a frame of an attendee's pass QR on a
//! phone screen (small, rotated, blurred: `common/passframe.rs`) and the frames after
//! it; the box finds the pass in the rendered preview and tags the following frames.

mod common;
#[path = "common/passframe.rs"]
mod passframe;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{testdata, Options, TestBox};
use passframe::{composite, jpeg, photo, Shot};
use venuebox::consent;

fn corpus(name: &str) -> PathBuf {
    testdata().join("photos").join(name)
}

/// Sets FTP credentials for a new creator; returns (creator id, ftp URL, upload token).
async fn camera(b: &TestBox, name: &str) -> (i64, String, String) {
    let (id, token) = b.creator(name).await;
    let name = name.to_string();
    let creds = b
        .state
        .store
        .write(move |tx| venuebox::creators::set_ftp_credentials(tx, &name, "test"))
        .await
        .unwrap();
    let url = format!(
        "ftp://{}:{}@{}/",
        creds.user,
        creds.password,
        b.ftp.unwrap()
    );
    (id, url, token)
}

/// Uploads one file the way a camera does (curl, FTP, passive mode); returns the
/// photo's id.
async fn shoot(b: &TestBox, url: &str, dir: &Path, name: &str, bytes: &[u8]) -> i64 {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    let out = tokio::process::Command::new("curl")
        .args(["-sS", "--ftp-pasv", "-T", path.to_str().unwrap(), url])
        .output()
        .await
        .expect("curl must be installed (tests/run.sh installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    b.photo_id(&common::sha256_file(&path)).await
}

/// A new attendee and their pass code.
async fn attendee(b: &TestBox) -> (consent::Attendee, consent::PassCode) {
    let secret = b.state.portal.secret().clone();
    let a = b
        .state
        .store
        .write_sql(move |c| consent::new_attendee(c, &secret, "en"))
        .await
        .unwrap();
    let code = consent::pass_code(b.state.portal.secret(), &a);
    (a, code)
}

/// Waits until the tagger has searched `n` photos.
async fn searched(b: &TestBox, n: i64) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let done: i64 = b
            .state
            .store
            .read_sql(|c| c.query_row("SELECT count(*) FROM delivery_frames", [], |r| r.get(0)))
            .await
            .unwrap();
        if done >= n {
            return;
        }
        assert!(Instant::now() < deadline, "{done} of {n} photos searched");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Who is on each photo (pass ids), by photo id.
async fn tags(b: &TestBox, photo: i64) -> Vec<String> {
    b.state
        .store
        .read_sql(move |c| {
            let mut stmt = c.prepare(
                "SELECT attendee FROM photo_attendees WHERE photo_id = ?1 ORDER BY attendee",
            )?;
            let rows = stmt.query_map([photo], |r| r.get(0))?;
            rows.collect()
        })
        .await
        .unwrap()
}

async fn pass_frames(b: &TestBox) -> Vec<(i64, String)> {
    b.state
        .store
        .read_sql(|c| {
            let mut stmt =
                c.prepare("SELECT photo_id, attendee FROM delivery_pass_frames ORDER BY photo_id")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_photographed_pass_tags_the_following_frames_and_forged_or_foreign_codes_tag_nothing() {
    let b = TestBox::start_with(Options {
        configure: Box::new(|c| c.tagging.gap_secs = 300),
        ..Options::default()
    })
    .await;
    let (_, url, _) = camera(&b, "Ana Lima").await;
    let (ben, ben_code) = attendee(&b).await;
    let dir = tempfile::tempdir().unwrap();
    let base = |name: &str| photo(&corpus(name), 2400);
    let at = |s: &str| Some(format!("2026:11:30 {s}"));

    // A forged code: the right shape, a wrong keyed tag.
    let last = ben_code.qr.chars().last().unwrap();
    let forged = format!(
        "{}{}",
        &ben_code.qr[..18],
        if last == '0' { '1' } else { '0' }
    );
    let frames: Vec<(&str, Vec<u8>)> = vec![
        // Captured after the pass frame but uploaded before it: tagged all the same
        // (capture order, not arrival).
        (
            "f1.jpg",
            jpeg(
                &base("nikon-d90_DSC_0003.JPG"),
                85,
                at("10:00:10").as_deref(),
            ),
        ),
        (
            "pass.jpg",
            jpeg(
                &composite(
                    base("sony-slt-a57_DSC8831.JPG"),
                    &ben_code.qr,
                    &Shot::default(),
                ),
                80,
                at("10:00:00").as_deref(),
            ),
        ),
        (
            "f2.jpg",
            jpeg(
                &base("gopro-hero7_GOPR8509.JPG"),
                85,
                at("10:00:20").as_deref(),
            ),
        ),
        (
            "f3.jpg",
            jpeg(
                &base("pentax-istdl_IMGP6670.JPG"),
                85,
                at("10:01:00").as_deref(),
            ),
        ),
        // 29 minutes later: past the 300 s gap, the run has ended.
        (
            "late.jpg",
            jpeg(
                &base("kodak-dc280_DCP_4394.JPG"),
                85,
                at("10:30:00").as_deref(),
            ),
        ),
        (
            "forged.jpg",
            jpeg(
                &composite(
                    base("olympus-c3000z_PA250003.JPG"),
                    &forged,
                    &Shot {
                        angle: -12.0,
                        ..Shot::default()
                    },
                ),
                80,
                at("11:00:00").as_deref(),
            ),
        ),
        (
            "after-forged.jpg",
            jpeg(&base("hp-m425_HPIM0044.JPG"), 85, at("11:00:10").as_deref()),
        ),
        (
            "foreign.jpg",
            jpeg(
                &composite(
                    base("nikon-d90_DSC_0003.JPG"),
                    "https://example.org/VB1",
                    &Shot::default(),
                ),
                80,
                at("12:00:00").as_deref(),
            ),
        ),
        (
            "after-foreign.jpg",
            jpeg(
                &base("gopro-hero7_GOPR8509.JPG"),
                70,
                at("12:00:10").as_deref(),
            ),
        ),
    ];
    let mut ids = std::collections::HashMap::new();
    for (name, bytes) in &frames {
        ids.insert(*name, shoot(&b, &url, dir.path(), name, bytes).await);
    }
    searched(&b, frames.len() as i64).await;

    assert_eq!(
        pass_frames(&b).await,
        vec![(ids["pass.jpg"], ben.pseudonym.clone())],
        "only the genuine pass makes a pass frame"
    );
    for name in ["f1.jpg", "f2.jpg", "f3.jpg"] {
        assert_eq!(tags(&b, ids[name]).await, vec![ben.id.clone()], "{name}");
    }
    for name in [
        "pass.jpg",
        "late.jpg",
        "forged.jpg",
        "after-forged.jpg",
        "foreign.jpg",
        "after-foreign.jpg",
    ] {
        assert!(
            tags(&b, ids[name]).await.is_empty(),
            "{name} is tagged to nobody"
        );
    }
    // Each tagging is audited.
    let audited: i64 = b
        .state
        .store
        .read_sql(|c| {
            c.query_row(
                "SELECT count(*) FROM audit_log WHERE action = 'delivery.tag'",
                [],
                |r| r.get(0),
            )
        })
        .await
        .unwrap();
    assert_eq!(audited, 3);
    b.stop().await;
}
