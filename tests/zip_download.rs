//! The order ZIP through its link (`GET /portal/d/{token}/zip`, issue 14, item 5),
//! against a real box on loopback: a 50-photo order streams with the box's peak
//! resident set growing under 20 MiB, the archive passes `unzip -t` and Python's
//! `zipfile`, each entry is byte for byte the photo's own (scrubbed) full download, the
//! whole archive spends one use, and a link revoked while the archive streams cuts it
//! short at the next file, recorded.
//!
//! One test in a binary of its own: the box runs in this process, so the kernel's peak
//! counter (`VmHWM`, reset through /proc/self/clear_refs, proc(5)) sees the box and no
//! other test.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::checks::{status_kib, unzip_test};
use common::{hidden, phone, testdata, vendor_orders_where, TestBox};

/// The corpus's JPEGs, sorted by name.
fn corpus() -> Vec<PathBuf> {
    let mut photos: Vec<PathBuf> = std::fs::read_dir(testdata().join("photos"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e.eq_ignore_ascii_case("jpg") || e.eq_ignore_ascii_case("jpeg"))
        })
        .collect();
    photos.sort();
    assert!(photos.len() >= 20, "corpus too small: {}", photos.len());
    photos
}

/// Fifty distinct camera JPEGs: the corpus, then corpus photos again with a JPEG
/// comment segment (COM, `FF FE`) after SOI naming the copy, so each is a photo of its
/// own to the box.
fn fifty_photos() -> Vec<Vec<u8>> {
    corpus()
        .iter()
        .cycle()
        .take(50)
        .enumerate()
        .map(|(i, path)| {
            let bytes = std::fs::read(path).unwrap();
            if i < corpus().len() {
                return bytes;
            }
            let note = format!("copy {i}");
            let mut copy = bytes[..2].to_vec();
            copy.extend_from_slice(&[0xFF, 0xFE]);
            copy.extend_from_slice(&((note.len() + 2) as u16).to_be_bytes());
            copy.extend_from_slice(note.as_bytes());
            copy.extend_from_slice(&bytes[2..]);
            copy
        })
        .collect()
}

async fn wait_rendered(b: &TestBox, admin: &str, ids: &[i64]) {
    // Generous: the test machine's cores are shared with other builds.
    for &id in ids {
        let mut done = false;
        for _ in 0..6000 {
            let state: serde_json::Value = phone(1)
                .get(b.url(&format!("/api/admin/photos/{id}/render")))
                .bearer_auth(admin)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_ne!(state["state"], "failed", "{state}");
            if state["state"] == "done" {
                done = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(done, "photo {id} not rendered in 300 s");
    }
}

/// Something to do part-way through a download.
type Later = std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>;

/// Streams `path` of the box to `out`; returns (status, headers, bytes written, whether
/// the body ended in an error). With `after`, calls it once `after.0` bytes are in.
async fn fetch_to(
    b: &TestBox,
    path: &str,
    out: &Path,
    mut after: Option<(u64, Later)>,
) -> (u16, reqwest::header::HeaderMap, u64, bool) {
    let mut r = phone(30).get(b.url(path)).send().await.unwrap();
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    let mut file = std::fs::File::create(out).unwrap();
    let mut got = 0u64;
    loop {
        match r.chunk().await {
            Ok(Some(chunk)) => {
                file.write_all(&chunk).unwrap();
                got += chunk.len() as u64;
                if after.as_ref().is_some_and(|(at, _)| got >= *at) {
                    after.take().unwrap().1.await;
                }
            }
            Ok(None) => return (status, headers, got, false),
            Err(_) => return (status, headers, got, true),
        }
    }
}

/// Python's zipfile reads the archive: every CRC right, STORE, the names in order, and
/// each entry's SHA-256 the one given. Returns what Python said on failure.
fn python_check(zip: &Path, expected: &[(String, String)]) -> Result<(), String> {
    let script = r#"
import hashlib, json, sys, zipfile
expected = json.load(sys.stdin)
with zipfile.ZipFile(sys.argv[1]) as z:
    assert z.testzip() is None, "bad CRC"
    infos = z.infolist()
    assert [i.filename for i in infos] == [n for n, _ in expected], [i.filename for i in infos]
    for info, (name, sha) in zip(infos, expected):
        assert info.compress_type == zipfile.ZIP_STORED, name
        assert hashlib.sha256(z.read(info)).hexdigest() == sha, f"{name}: not the full download"
"#;
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(zip)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 is installed (tests/run.sh)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(expected).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

async fn downloads(b: &TestBox, outcome: &str) -> Vec<(Option<i64>, i64)> {
    let outcome = outcome.to_string();
    b.state
        .store
        .read_sql(move |c| {
            let mut s = c.prepare(
                "SELECT photo_id, bytes FROM delivery_downloads WHERE outcome = ?1 ORDER BY id",
            )?;
            let rows = s.query_map([outcome], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifty_photo_order_streams_as_one_zip_in_little_memory() {
    let b = TestBox::start_with(common::Options {
        configure: Box::new(|c| c.event.name = "Night Market".into()),
        ..common::Options::default()
    })
    .await;
    let admin = b.admin_token().await;
    let (_, vendor) = b.creator("Studio Nord").await;
    let mut ids = Vec::new();
    for bytes in fifty_photos() {
        ids.push(b.tus_upload(&vendor, &bytes).await);
    }
    // An attendee with a pass, every photo tagged to them.
    let a = phone(9);
    let code = common::portal_pass(&b, &a, &[]).await;
    for &id in &ids {
        let r = phone(1)
            .put(b.url(&format!("/api/admin/photos/{id}/attendees")))
            .bearer_auth(&admin)
            .json(&serde_json::json!({ "passes": [code] }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
    }
    // The event-day bundle: every photo of theirs from the creator; confirmed.
    let creator: i64 = b
        .state
        .store
        .read_sql(|c| c.query_row("SELECT id FROM creators", [], |r| r.get(0)))
        .await
        .unwrap();
    let page = a
        .get(b.url("/portal/mine"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = a
        .post(b.url("/portal/orders"))
        .form(&[
            ("csrf", hidden(&page, "csrf")),
            ("bundle", creator.to_string()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "{:?}", r.text().await);
    let orders = vendor_orders_where(&b, &vendor, "?state=pending").await;
    let order = orders[0]["id"].as_i64().unwrap();
    assert_eq!(orders[0]["photos"].as_array().unwrap().len(), 50);
    let decide = |action: &'static str| {
        let (url, vendor) = (
            b.url(&format!("/api/vendor/orders/{order}/{action}")),
            vendor.clone(),
        );
        async move {
            let r = phone(1).post(url).bearer_auth(vendor).send().await.unwrap();
            assert_eq!(r.status(), 200, "{action}");
            let body: serde_json::Value = r.json().await.unwrap();
            let url = body["link"].as_str().expect("a link").to_string();
            url[url.find("/portal/d/").unwrap()..].to_string()
        }
    };
    let link = decide("confirm").await;
    // The link page offers the ZIP beside the photos.
    let page = phone(30)
        .get(b.url(&link))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&format!("href=\"{link}/zip\"")) && page.contains("3 downloads left"),
        "{page}"
    );
    // What each photo's full download serves (the admin's copy: no use spent).
    wait_rendered(&b, &admin, &ids).await;
    let mut expected = Vec::new();
    for &id in &ids {
        let full = phone(1)
            .get(b.url(&format!("/photos/{id}/full")))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        expected.push((
            format!("Night Market-{id}.jpg"),
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&full)),
        ));
    }

    // The ZIP, its memory measured from the request to its last byte.
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("order.zip");
    std::fs::write("/proc/self/clear_refs", "5").expect("reset the peak RSS (Linux >= 4.0)");
    let before = status_kib("VmRSS:");
    let (status, headers, got, cut) = fetch_to(&b, &format!("{link}/zip"), &zip, None).await;
    let peak = status_kib("VmHWM:");
    assert_eq!(status, 200);
    assert!(!cut, "the archive ended in an error");
    assert_eq!(headers["content-type"], "application/zip");
    assert_eq!(headers["content-length"], got.to_string().as_str());
    assert_eq!(headers["cache-control"], "no-store");
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=\"Night Market-"),
        "{:?}",
        headers["content-disposition"]
    );
    let growth = peak.saturating_sub(before);
    println!(
        "zip route: {got} bytes, RSS {before} KiB before, peak {peak} KiB, growth {growth} KiB"
    );
    assert!(
        growth < 20 * 1024,
        "the box's peak RSS grew by {growth} KiB serving a {got}-byte ZIP"
    );
    let (ok, said) = unzip_test(&zip);
    assert!(ok, "unzip -t: {said}");
    python_check(&zip, &expected).unwrap();
    // One use for the whole archive, recorded with its length and no photo.
    assert_eq!(downloads(&b, "ok").await, vec![(None, got as i64)]);
    let page = phone(30)
        .get(b.url(&link))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("2 downloads left"), "{page}");

    // Revoked while it streams: the archive stops at the next file, short of its
    // length and of a central directory, and the refusal is recorded.
    let relink = decide("reissue").await;
    let revoke: Later = {
        let (url, vendor) = (
            b.url(&format!("/api/vendor/orders/{order}/revoke")),
            vendor.clone(),
        );
        Box::pin(async move {
            let r = phone(1).post(url).bearer_auth(vendor).send().await.unwrap();
            assert_eq!(r.status(), 200);
        })
    };
    let partial = dir.path().join("partial.zip");
    let (status, headers, got, cut) = fetch_to(
        &b,
        &format!("{relink}/zip"),
        &partial,
        Some((1 << 20, revoke)),
    )
    .await;
    assert_eq!(status, 200);
    let planned: u64 = headers["content-length"].to_str().unwrap().parse().unwrap();
    assert!(cut && got < planned, "{got} of {planned} bytes, cut: {cut}");
    assert!(!unzip_test(&partial).0, "a cut archive passed unzip -t");
    let revoked = downloads(&b, "revoked").await;
    assert_eq!(revoked.len(), 1, "{revoked:?}");
    assert!(revoked[0].0.is_some_and(|p| ids.contains(&p)));
    // The dead link's ZIP: the refusal page, no archive.
    let r = phone(30)
        .get(b.url(&format!("{relink}/zip")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 410);
}
