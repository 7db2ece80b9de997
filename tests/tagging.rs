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
    let deadline = Instant::now() + Duration::from_secs(180);
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

/// A small photo with no QR code in it, different for each `seed`.
fn plain(seed: u8) -> Vec<u8> {
    let img = image::RgbImage::from_fn(640, 480, |x, y| {
        image::Rgb([
            (x / 3) as u8 ^ seed,
            (y / 2) as u8,
            seed.wrapping_mul(37).wrapping_add((x ^ y) as u8),
        ])
    });
    jpeg(&img, 85, None)
}

async fn vendor(
    b: &TestBox,
    method: reqwest::Method,
    token: Option<&str>,
    path: &str,
    body: Option<serde_json::Value>,
) -> reqwest::Response {
    let mut r = reqwest::Client::new().request(method, b.url(path));
    if let Some(token) = token {
        r = r.bearer_auth(token);
    }
    if let Some(body) = body {
        r = r.json(&body);
    }
    r.send().await.unwrap()
}

#[tokio::test]
async fn stall_scans_and_typed_codes_tag_the_next_photos_and_vendors_fix_only_their_own() {
    let b = TestBox::start().await;
    let (_, ana) = b.creator("Ana Lima").await;
    let (_, cem) = b.creator("Cem Kaya").await;
    let (ben, ben_code) = attendee(&b).await;
    let (dia, dia_code) = attendee(&b).await;
    let post = reqwest::Method::POST;
    let next = |code: &str, via: &str| serde_json::json!({"code": code, "via": via});

    let p0 = b.tus_upload(&ana, &plain(0)).await;
    // Ben's typed code (lowercase, as someone types it): Ana's next photos are his.
    let typed = ben_code.typed.to_lowercase();
    let r = vendor(
        &b,
        post.clone(),
        Some(&ana),
        "/api/vendor/tagging/next",
        Some(next(&typed, "typed")),
    )
    .await;
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["attendee"], ben.pseudonym.as_str());
    let p1 = b.tus_upload(&ana, &plain(1)).await;
    let p2 = b.tus_upload(&ana, &plain(2)).await;
    let c1 = b.tus_upload(&cem, &plain(3)).await;
    // Dia's pass through the scanner: the run switches to her.
    let r = vendor(
        &b,
        post.clone(),
        Some(&ana),
        "/api/vendor/tagging/next",
        Some(next(&dia_code.qr, "scan")),
    )
    .await;
    assert_eq!(r.status(), 200);
    let p3 = b.tus_upload(&ana, &plain(4)).await;

    // Refused: a forged code, no token, a wrong token, an unknown field.
    let last = dia_code.qr.chars().last().unwrap();
    let forged = format!(
        "{}{}",
        &dia_code.qr[..18],
        if last == '0' { '1' } else { '0' }
    );
    let r = vendor(
        &b,
        post.clone(),
        Some(&ana),
        "/api/vendor/tagging/next",
        Some(next(&forged, "scan")),
    )
    .await;
    assert_eq!(r.status(), 400);
    assert!(
        !r.text().await.unwrap().contains(&forged),
        "codes are not echoed"
    );
    let r = vendor(
        &b,
        post.clone(),
        None,
        "/api/vendor/tagging/next",
        Some(next(&dia_code.qr, "scan")),
    )
    .await;
    assert_eq!(r.status(), 401);
    let r = vendor(
        &b,
        post.clone(),
        Some("vbu_nope"),
        "/api/vendor/tagging/next",
        Some(next(&dia_code.qr, "scan")),
    )
    .await;
    assert_eq!(r.status(), 401);
    let r = vendor(
        &b,
        post.clone(),
        Some(&ana),
        "/api/vendor/tagging/next",
        Some(serde_json::json!({"code": dia_code.qr, "via": "scan", "creator": 2})),
    )
    .await;
    assert_eq!(r.status(), 422);

    searched(&b, 5).await;
    assert!(tags(&b, p0).await.is_empty(), "before the scan");
    assert_eq!(tags(&b, p1).await, vec![ben.id.clone()]);
    assert_eq!(tags(&b, p2).await, vec![ben.id.clone()]);
    assert!(tags(&b, c1).await.is_empty(), "another creator's photo");
    assert_eq!(tags(&b, p3).await, vec![dia.id.clone()]);

    // By hand: Cem cannot touch Ana's photos (404, as if missing); Ana can.
    let tag_path = format!("/api/vendor/photos/{p0}/tags");
    let r = vendor(
        &b,
        post.clone(),
        Some(&cem),
        &tag_path,
        Some(serde_json::json!({"code": dia_code.typed})),
    )
    .await;
    assert_eq!(r.status(), 404);
    let untag_path = format!("/api/vendor/photos/{p1}/tags/{}", ben.pseudonym);
    let r = vendor(&b, reqwest::Method::DELETE, Some(&cem), &untag_path, None).await;
    assert_eq!(r.status(), 404);
    assert!(tags(&b, p0).await.is_empty());
    assert_eq!(tags(&b, p1).await, vec![ben.id.clone()]);
    let r = vendor(
        &b,
        post.clone(),
        Some(&ana),
        &tag_path,
        Some(serde_json::json!({"code": dia_code.typed})),
    )
    .await;
    assert_eq!(r.status(), 204);
    let r = vendor(&b, reqwest::Method::DELETE, Some(&ana), &untag_path, None).await;
    assert_eq!(r.status(), 204);
    assert_eq!(tags(&b, p0).await, vec![dia.id.clone()]);
    assert!(tags(&b, p1).await.is_empty());
    // A later photo recomputes Ana's runs: the removal by hand stays.
    let p4 = b.tus_upload(&ana, &plain(5)).await;
    searched(&b, 6).await;
    assert_eq!(tags(&b, p4).await, vec![dia.id.clone()]);
    assert!(
        tags(&b, p1).await.is_empty(),
        "removed by hand stays removed"
    );

    // The list: Ana's tags only, with how each came about.
    let list: serde_json::Value = vendor(
        &b,
        reqwest::Method::GET,
        Some(&ana),
        "/api/vendor/tags",
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    let rows = list["tags"].as_array().unwrap();
    let seen: Vec<(i64, &str, &str, bool)> = rows
        .iter()
        .map(|r| {
            (
                r["photo_id"].as_i64().unwrap(),
                r["attendee"].as_str().unwrap(),
                r["source"].as_str().unwrap(),
                r["removed"].as_bool().unwrap(),
            )
        })
        .collect();
    let (bp, dp) = (ben.pseudonym.as_str(), dia.pseudonym.as_str());
    assert_eq!(
        seen,
        vec![
            (p4, dp, "scan", false),
            (p3, dp, "scan", false),
            (p2, bp, "typed", false),
            (p1, bp, "hand", true),
            (p1, bp, "typed", false),
            (p0, dp, "hand", false),
        ]
    );
    let cems: serde_json::Value = vendor(
        &b,
        reqwest::Method::GET,
        Some(&cem),
        "/api/vendor/tags",
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(cems["tags"].as_array().unwrap().len(), 0);
    // Paging: two rows a page never splits a photo's tags.
    let page: serde_json::Value = vendor(
        &b,
        reqwest::Method::GET,
        Some(&ana),
        "/api/vendor/tags?limit=5",
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(page["tags"].as_array().unwrap().len(), 3);
    assert_eq!(page["next_before"], p1 + 1);

    let audited: Vec<(String, i64)> = b
        .state
        .store
        .read_sql(|c| {
            let mut stmt = c.prepare(
                "SELECT action, count(*) FROM audit_log WHERE action LIKE 'delivery.%' GROUP BY action ORDER BY action",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
        .await
        .unwrap();
    assert_eq!(
        audited,
        vec![
            ("delivery.scan".to_string(), 2),
            ("delivery.tag".to_string(), 5),
            ("delivery.untag".to_string(), 1),
        ],
        "every tagging is audited"
    );
    b.stop().await;
}
