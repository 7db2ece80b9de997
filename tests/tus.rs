//! tus 1.0.0 at /files/ with real clients: the official tus-js-client under Node
//! (abort and resume), curl (creation-with-upload, termination, checksum mismatch),
//! and hostile requests that must each get a clear status and store nothing.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use common::{sha256_file, testdata, Options, TestBox};
use sha2::Digest;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/gradient.jpg");

struct CurlResponse {
    status: u16,
    headers: HashMap<String, String>,
    body: String,
}

/// Runs curl with `args` (plus `-s -i`) and parses the response.
async fn curl(args: &[&str]) -> CurlResponse {
    let out = tokio::process::Command::new("curl")
        .args(["-s", "-i", "--max-time", "20"])
        .args(args)
        .output()
        .await
        .expect("curl must be installed (tests/run.sh installs it)");
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    // Skip interim "100 Continue" responses.
    let mut blocks: Vec<&str> = text.split("\r\n\r\n").collect();
    while blocks.len() > 1 && blocks[0].starts_with("HTTP/1.1 100") {
        blocks.remove(0);
    }
    let head = blocks[0];
    let body = blocks[1..].join("\r\n\r\n");
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    CurlResponse {
        status,
        headers,
        body,
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn photo_files(b: &TestBox) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let root = b.data_dir().join("photos/sha256");
    for dir in std::fs::read_dir(root).unwrap() {
        for f in std::fs::read_dir(dir.unwrap().path()).unwrap() {
            files.push(f.unwrap().path());
        }
    }
    files
}

async fn photo_count(b: &TestBox) -> i64 {
    b.state
        .store
        .read(|c| {
            c.query_row("SELECT count(*) FROM photos", [], |r| r.get(0))
                .map_err(venuebox::db::StoreError::from)
        })
        .await
        .unwrap()
}

fn stored_path(b: &TestBox, sha: &str) -> PathBuf {
    b.data_dir().join("photos/sha256").join(&sha[..2]).join(sha)
}

#[tokio::test]
async fn options_describes_the_server_without_authentication() {
    let b = TestBox::start().await;
    let r = curl(&["-X", "OPTIONS", &b.url("/files/")]).await;
    assert_eq!(r.status, 204);
    assert_eq!(r.headers["tus-version"], "1.0.0");
    assert_eq!(r.headers["tus-resumable"], "1.0.0");
    for ext in [
        "creation",
        "creation-with-upload",
        "creation-defer-length",
        "expiration",
        "checksum",
        "termination",
    ] {
        assert!(
            r.headers["tus-extension"].split(',').any(|e| e == ext),
            "{ext}"
        );
    }
    assert_eq!(r.headers["tus-checksum-algorithm"], "sha1,sha256");
    assert!(r.headers["tus-max-size"].parse::<u64>().unwrap() > 0);
    b.stop().await;
}

#[tokio::test]
async fn curl_creation_with_upload_stores_the_photo_once() {
    let b = TestBox::start().await;
    let (_, token) = b.creator("Ana").await;
    let auth = format!("Authorization: Bearer {token}");
    let size = std::fs::metadata(FIXTURE).unwrap().len().to_string();
    let meta = format!(
        "Upload-Metadata: filename {},filetype {}",
        b64(b"../../evil\nname.jpg"),
        b64(b"image/jpeg")
    );
    let upload = |_: ()| {
        let (auth, size, meta, url) = (auth.clone(), size.clone(), meta.clone(), b.url("/files/"));
        async move {
            curl(&[
                "-X",
                "POST",
                &url,
                "-H",
                &auth,
                "-H",
                "Tus-Resumable: 1.0.0",
                "-H",
                &format!("Upload-Length: {size}"),
                "-H",
                &meta,
                "-H",
                "Content-Type: application/offset+octet-stream",
                "--data-binary",
                &format!("@{FIXTURE}"),
            ])
            .await
        }
    };
    let r = upload(()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(r.headers["location"].starts_with("/files/"));
    assert_eq!(r.headers["upload-offset"], size);
    assert!(r.headers["upload-expires"].ends_with("GMT"));
    let sha = sha256_file(Path::new(FIXTURE));
    assert_eq!(sha256_file(&stored_path(&b, &sha)), sha);
    let photo = b
        .state
        .store
        .read(move |c| {
            venuebox::ingest::photo_by_sha(c, &sha).map_err(venuebox::db::StoreError::from)
        })
        .await
        .unwrap()
        .expect("a photo row");
    assert_eq!(photo.original_name, "evilname.jpg", "the name is sanitised");
    assert_eq!(
        (photo.media_type.as_str(), photo.source.as_str()),
        ("image/jpeg", "tus")
    );

    // The same bytes again: the same photo, no second copy.
    let again = upload(()).await;
    assert_eq!(again.status, 201);
    assert_eq!(photo_count(&b).await, 1);
    assert_eq!(photo_files(&b).len(), 1);
    b.stop().await;
}

#[tokio::test]
async fn curl_checksum_mismatch_is_460_and_writes_nothing_then_a_good_chunk_lands() {
    let b = TestBox::start().await;
    let (_, token) = b.creator("Ana").await;
    let auth = format!("Authorization: Bearer {token}");
    let bytes = std::fs::read(FIXTURE).unwrap();
    let create = curl(&[
        "-X",
        "POST",
        &b.url("/files/"),
        "-H",
        &auth,
        "-H",
        "Tus-Resumable: 1.0.0",
        "-H",
        &format!("Upload-Length: {}", bytes.len()),
    ])
    .await;
    assert_eq!(create.status, 201);
    let url = b.url(&create.headers["location"]);
    let half = bytes.len() / 2;
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first");
    std::fs::write(&first, &bytes[..half]).unwrap();
    let wrong = b64(&sha1::Sha1::digest(b"something else"));
    let r = curl(&[
        "-X",
        "PATCH",
        &url,
        "-H",
        &auth,
        "-H",
        "Tus-Resumable: 1.0.0",
        "-H",
        "Content-Type: application/offset+octet-stream",
        "-H",
        "Upload-Offset: 0",
        "-H",
        &format!("Upload-Checksum: sha1 {wrong}"),
        "--data-binary",
        &format!("@{}", first.display()),
    ])
    .await;
    assert_eq!(r.status, 460, "{}", r.body);
    let head = curl(&["-I", &url, "-H", &auth, "-H", "Tus-Resumable: 1.0.0"]).await;
    assert_eq!(
        head.headers["upload-offset"], "0",
        "the mismatched chunk was not written"
    );

    let unsupported = curl(&[
        "-X",
        "PATCH",
        &url,
        "-H",
        &auth,
        "-H",
        "Tus-Resumable: 1.0.0",
        "-H",
        "Content-Type: application/offset+octet-stream",
        "-H",
        "Upload-Offset: 0",
        "-H",
        "Upload-Checksum: md5 AAAA",
        "--data-binary",
        &format!("@{}", first.display()),
    ])
    .await;
    assert_eq!(unsupported.status, 400);

    for (offset, chunk) in [(0, &bytes[..half]), (half, &bytes[half..])] {
        let file = dir.path().join(format!("chunk{offset}"));
        std::fs::write(&file, chunk).unwrap();
        let sum = b64(&sha2::Sha256::digest(chunk));
        let r = curl(&[
            "-X",
            "PATCH",
            &url,
            "-H",
            &auth,
            "-H",
            "Tus-Resumable: 1.0.0",
            "-H",
            "Content-Type: application/offset+octet-stream",
            "-H",
            &format!("Upload-Offset: {offset}"),
            "-H",
            &format!("Upload-Checksum: sha256 {sum}"),
            "--data-binary",
            &format!("@{}", file.display()),
        ])
        .await;
        assert_eq!(r.status, 204, "{}", r.body);
        assert_eq!(
            r.headers["upload-offset"],
            (offset + chunk.len()).to_string()
        );
    }
    let sha = sha256_file(Path::new(FIXTURE));
    assert_eq!(sha256_file(&stored_path(&b, &sha)), sha);
    b.stop().await;
}

#[tokio::test]
async fn curl_termination_removes_the_upload_and_its_bytes() {
    let b = TestBox::start().await;
    let (_, token) = b.creator("Ana").await;
    let auth = format!("Authorization: Bearer {token}");
    let create = curl(&[
        "-X",
        "POST",
        &b.url("/files/"),
        "-H",
        &auth,
        "-H",
        "Tus-Resumable: 1.0.0",
        "-H",
        "Upload-Length: 100000",
        "-H",
        "Content-Type: application/offset+octet-stream",
        "--data-binary",
        &format!("@{FIXTURE}"),
    ])
    .await;
    assert_eq!(create.status, 201);
    let url = b.url(&create.headers["location"]);
    let id = create.headers["location"]
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    assert!(b.data_dir().join("uploads").join(&id).exists());
    let r = curl(&[
        "-X",
        "DELETE",
        &url,
        "-H",
        &auth,
        "-H",
        "Tus-Resumable: 1.0.0",
    ])
    .await;
    assert_eq!(r.status, 204);
    assert!(!b.data_dir().join("uploads").join(&id).exists());
    let head = curl(&["-I", &url, "-H", &auth, "-H", "Tus-Resumable: 1.0.0"]).await;
    assert_eq!(head.status, 404);
    assert_eq!(photo_count(&b).await, 0);
    b.stop().await;
}

/// tus-js-client (tests/tus-client/resume.mjs) uploads a corpus photo, aborts a third
/// of the way, resumes from the stored URL; the photo is stored once, whole.
async fn tus_js_client_resumes(mode: Option<&str>) {
    let photo = testdata().join("photos/canon-5dmk3_K6A7942.JPG");
    let b = TestBox::start().await;
    let (creator, token) = b.creator("Phone").await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tus-client/resume.mjs");
    assert!(
        script.with_file_name("node_modules/tus-js-client").is_dir(),
        "tus-js-client is not installed: run tests/run.sh (npm ci in tests/tus-client)"
    );
    let out = tokio::process::Command::new("node")
        .arg(&script)
        .arg(b.url("/files/"))
        .arg(&token)
        .arg(&photo)
        .args(mode)
        .output()
        .await
        .expect("node must be installed");
    assert!(
        out.status.success(),
        "tus-js-client: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let size = std::fs::metadata(&photo).unwrap().len();
    let aborted_at = result["abortedAt"].as_u64().unwrap();
    let resumed_from = result["resumedFrom"].as_u64().unwrap();
    assert!(aborted_at > 0 && aborted_at < size, "{result}");
    assert!(
        resumed_from >= aborted_at,
        "resumed, not restarted: {result}"
    );
    let sha = sha256_file(&photo);
    assert_eq!(sha256_file(&stored_path(&b, &sha)), sha);
    let photos = b
        .state
        .store
        .read(move |c| {
            venuebox::ingest::photos_of(c, creator).map_err(venuebox::db::StoreError::from)
        })
        .await
        .unwrap();
    assert_eq!(photos.len(), 1);
    assert_eq!(photos[0].original_name, "canon-5dmk3_K6A7942.JPG");
    assert_eq!(photos[0].size, size);
    b.stop().await;
}

#[tokio::test]
async fn tus_js_client_aborts_and_resumes_from_the_stored_url() {
    tus_js_client_resumes(None).await;
}

/// The same through `X-HTTP-Method-Override: PATCH` on POSTs (tus-js-client's
/// `overridePatchMethod`), which the tus core protocol says a server MUST honour.
#[tokio::test]
async fn tus_js_client_uploads_with_method_override() {
    tus_js_client_resumes(Some("override")).await;
}

/// POST with `X-HTTP-Method-Override` is handled as the method it names (HEAD,
/// DELETE), and a value that is not a tus method is refused with 400.
#[tokio::test]
async fn method_override_names_the_method_curl() {
    let b = TestBox::start().await;
    let (_, token) = b.creator("Ana").await;
    let auth = format!("Authorization: Bearer {token}");
    let tus = "Tus-Resumable: 1.0.0";
    let create = curl(&[
        "-X",
        "POST",
        &b.url("/files/"),
        "-H",
        &auth,
        "-H",
        tus,
        "-H",
        "Upload-Length: 100",
    ])
    .await;
    assert_eq!(create.status, 201);
    let url = b.url(&create.headers["location"]);
    let head = curl(&[
        "-X",
        "POST",
        &url,
        "-H",
        &auth,
        "-H",
        tus,
        "-H",
        "X-HTTP-Method-Override: HEAD",
    ])
    .await;
    assert_eq!(head.status, 200, "{}", head.body);
    assert_eq!(head.headers["upload-offset"], "0");
    let bad = curl(&[
        "-X",
        "POST",
        &url,
        "-H",
        &auth,
        "-H",
        tus,
        "-H",
        "X-HTTP-Method-Override: TRACE",
    ])
    .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    let delete = curl(&[
        "-X",
        "POST",
        &url,
        "-H",
        &auth,
        "-H",
        tus,
        "-H",
        "X-HTTP-Method-Override: delete",
    ])
    .await;
    assert_eq!(delete.status, 204, "{}", delete.body);
    let gone = curl(&["-I", &url, "-H", &auth, "-H", tus]).await;
    assert_eq!(gone.status, 404);
    b.stop().await;
}

#[tokio::test]
async fn offsets_survive_a_restart() {
    let b = TestBox::start().await;
    let (_, token) = b.creator("Ana").await;
    let bytes = std::fs::read(FIXTURE).unwrap();
    let c = reqwest::Client::new();
    let location = b.tus_create(&token, bytes.len()).await;
    let patch = c
        .patch(b.url(&location))
        .bearer_auth(&token)
        .header("Tus-Resumable", "1.0.0")
        .header("Content-Type", "application/offset+octet-stream")
        .header("Upload-Offset", "0")
        .body(bytes[..500].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), 204);

    let b = b.restart().await;
    let head = c
        .head(b.url(&location))
        .bearer_auth(&token)
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["upload-offset"], "500");
    assert_eq!(head.headers()["cache-control"], "no-store");
    let patch = c
        .patch(b.url(&location))
        .bearer_auth(&token)
        .header("Tus-Resumable", "1.0.0")
        .header("Content-Type", "application/offset+octet-stream")
        .header("Upload-Offset", "500")
        .body(bytes[500..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), 204);
    let sha = sha256_file(Path::new(FIXTURE));
    assert_eq!(sha256_file(&stored_path(&b, &sha)), sha);
    b.stop().await;
}

#[tokio::test]
async fn deferred_length_is_set_by_a_later_patch() {
    let b = TestBox::start().await;
    let (_, token) = b.creator("Ana").await;
    let bytes = std::fs::read(FIXTURE).unwrap();
    let c = reqwest::Client::new();
    let create = c
        .post(b.url("/files/"))
        .bearer_auth(&token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Defer-Length", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(create.status(), 201);
    let location = create.headers()["location"].to_str().unwrap().to_string();
    let head = c
        .head(b.url(&location))
        .bearer_auth(&token)
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(head.headers()["upload-defer-length"], "1");
    let send = |offset: usize, end: usize, length: Option<usize>| {
        let mut r = c
            .patch(b.url(&location))
            .bearer_auth(&token)
            .header("Tus-Resumable", "1.0.0")
            .header("Content-Type", "application/offset+octet-stream")
            .header("Upload-Offset", offset)
            .body(bytes[offset..end].to_vec());
        if let Some(length) = length {
            r = r.header("Upload-Length", length);
        }
        r.send()
    };
    assert_eq!(send(0, 400, None).await.unwrap().status(), 204);
    assert_eq!(
        send(400, bytes.len(), Some(bytes.len()))
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(photo_count(&b).await, 1);
    b.stop().await;
}

#[tokio::test]
async fn hostile_requests_get_clear_statuses_and_store_nothing() {
    let b = TestBox::start_with(Options {
        configure: Box::new(|c| c.ingest.max_file_bytes = 10 << 20),
        ..Default::default()
    })
    .await;
    let (_, token) = b.creator("Ana").await;
    let (_, other) = b.creator("Bo").await;
    let c = reqwest::Client::new();
    let post = |headers: &[(&str, &str)]| {
        let mut r = c.post(b.url("/files/"));
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        r.send()
    };
    let bearer = format!("Bearer {token}");
    let auth = ("Authorization", bearer.as_str());
    let tus = ("Tus-Resumable", "1.0.0");
    let cases: Vec<(Vec<(&str, &str)>, u16)> = vec![
        (vec![tus, ("Upload-Length", "10")], 401),
        (
            vec![
                tus,
                ("Authorization", "Bearer vbu_wrong"),
                ("Upload-Length", "10"),
            ],
            401,
        ),
        (vec![auth, ("Upload-Length", "10")], 412),
        (
            vec![auth, ("Tus-Resumable", "0.2.2"), ("Upload-Length", "10")],
            412,
        ),
        (vec![auth, tus], 400),
        (vec![auth, tus, ("Upload-Length", "-5")], 400),
        (vec![auth, tus, ("Upload-Length", "abc")], 400),
        (
            vec![auth, tus, ("Upload-Length", "99999999999999999999999")],
            400,
        ),
        (vec![auth, tus, ("Upload-Length", "999999999999")], 413),
        (vec![auth, tus, ("Upload-Length", "0")], 415),
        (
            vec![
                auth,
                tus,
                ("Upload-Length", "10"),
                ("Upload-Defer-Length", "1"),
            ],
            400,
        ),
        (vec![auth, tus, ("Upload-Defer-Length", "2")], 400),
        (
            vec![
                auth,
                tus,
                ("Upload-Length", "10"),
                ("Upload-Metadata", "filename not-base64!"),
            ],
            400,
        ),
    ];
    for (headers, expected) in &cases {
        let r = post(headers).await.unwrap();
        assert_eq!(r.status().as_u16(), *expected, "{headers:?}");
        assert_eq!(r.headers()["tus-resumable"], "1.0.0");
    }

    let create = post(&[auth, tus, ("Upload-Length", "2000")]).await.unwrap();
    assert_eq!(create.status(), 201);
    let location = create.headers()["location"].to_str().unwrap().to_string();
    let url = b.url(&location);
    let patch = |offset: Option<&str>, content_type: Option<&str>, who: &str, body: Vec<u8>| {
        let mut r = c
            .patch(&url)
            .bearer_auth(who)
            .header("Tus-Resumable", "1.0.0")
            .body(body);
        if let Some(o) = offset {
            r = r.header("Upload-Offset", o);
        }
        if let Some(t) = content_type {
            r = r.header("Content-Type", t);
        }
        r.send()
    };
    let ct = Some("application/offset+octet-stream");
    assert_eq!(
        patch(Some("0"), None, &token, vec![0xFF; 10])
            .await
            .unwrap()
            .status(),
        415
    );
    assert_eq!(
        patch(Some("0"), Some("text/plain"), &token, vec![0xFF; 10])
            .await
            .unwrap()
            .status(),
        415
    );
    assert_eq!(
        patch(None, ct, &token, vec![0xFF; 10])
            .await
            .unwrap()
            .status(),
        400
    );
    assert_eq!(
        patch(Some("7"), ct, &token, vec![0xFF; 10])
            .await
            .unwrap()
            .status(),
        409
    );
    assert_eq!(
        patch(Some("-1"), ct, &token, vec![0xFF; 10])
            .await
            .unwrap()
            .status(),
        400
    );
    assert_eq!(
        patch(Some("0"), ct, &other, vec![0xFF; 10])
            .await
            .unwrap()
            .status(),
        404,
        "another creator's upload"
    );
    assert_eq!(
        patch(Some("0"), ct, &token, vec![0xFF; 3000])
            .await
            .unwrap()
            .status(),
        413,
        "more than Upload-Length"
    );
    let head = c
        .head(&url)
        .bearer_auth(&token)
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(head.headers()["upload-offset"], "0");
    // Not a photo: refused when complete, and the upload is gone.
    let r = patch(Some("0"), ct, &token, b"%PDF-1.7 not a photo".repeat(100))
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("not an accepted photo type"));
    for bad_id in ["../../venuebox.db", "0123", "%2e%2e%2fvenuebox.db"] {
        let r = c
            .head(b.url(&format!("/files/{bad_id}")))
            .bearer_auth(&token)
            .header("Tus-Resumable", "1.0.0")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{bad_id}");
    }
    assert_eq!(photo_count(&b).await, 0);
    assert!(photo_files(&b).is_empty());
    b.stop().await;
}

#[tokio::test]
async fn concurrent_patches_to_one_upload_cannot_interleave() {
    let b = TestBox::start().await;
    let (_, token) = b.creator("Ana").await;
    let c = reqwest::Client::new();
    let url = b.url(&b.tus_create(&token, 1_000_000).await);
    // A slow PATCH: the body trickles in, holding the upload.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let stream = tokio_stream_from(rx);
    let slow = c
        .patch(&url)
        .bearer_auth(&token)
        .header("Tus-Resumable", "1.0.0")
        .header("Content-Type", "application/offset+octet-stream")
        .header("Upload-Offset", "0")
        .body(reqwest::Body::wrap_stream(stream))
        .send();
    let slow = tokio::spawn(slow);
    tx.send(Ok(vec![0xFF, 0xD8, 0xFF, 0xE0])).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = c
        .patch(&url)
        .bearer_auth(&token)
        .header("Tus-Resumable", "1.0.0")
        .header("Content-Type", "application/offset+octet-stream")
        .header("Upload-Offset", "0")
        .body(vec![1u8; 100])
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), 423);
    tx.send(Ok(vec![0u8; 96])).await.unwrap();
    drop(tx);
    let first = slow.await.unwrap().unwrap();
    assert_eq!(first.status(), 204);
    assert_eq!(first.headers()["upload-offset"], "100");
    b.stop().await;
}

/// A PATCH still streaming when its upload's expiry passes keeps the upload: the
/// sweeper skips an upload whose lock is held, so the 204 it gets is true (its bytes
/// are there, at the offset it was told). Before, the sweeper removed the row
/// mid-stream and the PATCH still answered 204, then the upload was 404 (issue 13,
/// item 7).
#[tokio::test]
async fn a_patch_streaming_past_the_expiry_is_not_swept_from_under_it() {
    let b = TestBox::start_with(Options {
        configure: Box::new(|c| c.tus.expire_after_secs = 1),
        ..Default::default()
    })
    .await;
    let (_, token) = b.creator("Ana").await;
    let c = reqwest::Client::new();
    let url = b.url(&b.tus_create(&token, 1_000_000).await);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let slow = tokio::spawn(
        c.patch(&url)
            .bearer_auth(&token)
            .header("Tus-Resumable", "1.0.0")
            .header("Content-Type", "application/offset+octet-stream")
            .header("Upload-Offset", "0")
            .body(reqwest::Body::wrap_stream(tokio_stream_from(rx)))
            .send(),
    );
    // Trickle for 3.5 s: the upload's 1 s expiry passes and the sweeper (every 1 s)
    // runs several times while the PATCH holds the upload.
    tx.send(Ok(vec![0xFF, 0xD8, 0xFF, 0xE0])).await.unwrap();
    for _ in 0..7 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        tx.send(Ok(vec![0u8; 1000])).await.unwrap();
    }
    drop(tx);
    let patched = slow.await.unwrap().unwrap();
    assert_eq!(patched.status(), 204, "{:?}", patched.text().await);
    assert_eq!(patched.headers()["upload-offset"], "7004");
    let head = c
        .head(&url)
        .bearer_auth(&token)
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200, "the acknowledged upload is still there");
    assert_eq!(head.headers()["upload-offset"], "7004");
    b.stop().await;
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[tokio::test]
async fn unfinished_uploads_expire_and_their_bytes_are_removed() {
    let b = TestBox::start_with(Options {
        configure: Box::new(|c| c.tus.expire_after_secs = 1),
        ..Default::default()
    })
    .await;
    let (_, token) = b.creator("Ana").await;
    let c = reqwest::Client::new();
    let create = c
        .post(b.url("/files/"))
        .bearer_auth(&token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", "5000")
        .header("Content-Type", "application/offset+octet-stream")
        .body(vec![0xFFu8; 100])
        .send()
        .await
        .unwrap();
    assert_eq!(create.status(), 201);
    let location = create.headers()["location"].to_str().unwrap().to_string();
    let id = location.rsplit('/').next().unwrap().to_string();
    let part = b.data_dir().join("uploads").join(&id);
    assert_eq!(std::fs::metadata(&part).unwrap().len(), 100);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    // Expired: gone to the client at once, whether or not the sweeper ran yet.
    let head = c
        .head(b.url(&location))
        .bearer_auth(&token)
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .unwrap();
    assert!(
        matches!(head.status().as_u16(), 404 | 410),
        "{}",
        head.status()
    );
    venuebox::web::tus::sweep(&b.state).await.unwrap();
    assert!(!part.exists(), "expired bytes removed");
    b.stop().await;
}

#[tokio::test]
async fn uploads_that_would_cross_the_disk_reserve_get_507() {
    let b = TestBox::start_with(Options {
        configure: Box::new(|c| c.ingest.free_disk_reserve_bytes = u64::MAX / 4),
        ..Default::default()
    })
    .await;
    let (_, token) = b.creator("Ana").await;
    let r = reqwest::Client::new()
        .post(b.url("/files/"))
        .bearer_auth(&token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", "1000")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 507);
    assert_eq!(photo_count(&b).await, 0);
    b.stop().await;
}

#[tokio::test]
async fn every_hostile_file_is_refused_with_a_reason_or_stored() {
    let bad = testdata().join("bad");
    let b = TestBox::start().await;
    let (_, token) = b.creator("Ana").await;
    let c = reqwest::Client::new();
    let mut stored = 0;
    let mut refused = 0;
    for entry in std::fs::read_dir(&bad).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md" || e == "tsv") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let mut r = c
            .post(b.url("/files/"))
            .bearer_auth(&token)
            .header("Tus-Resumable", "1.0.0")
            .header(
                "Upload-Metadata",
                format!("filename {}", b64(name.as_bytes())),
            );
        r = if bytes.is_empty() {
            r.header("Upload-Length", "0")
        } else {
            r.header("Upload-Length", bytes.len())
                .header("Content-Type", "application/offset+octet-stream")
                .body(bytes.clone())
        };
        let response = r.send().await.unwrap();
        match response.status().as_u16() {
            201 => {
                let sha = hex::encode(sha2::Sha256::digest(&bytes));
                assert_eq!(sha256_file(&stored_path(&b, &sha)), sha, "{name}");
                stored += 1;
            }
            415 => {
                let reason = response.text().await.unwrap();
                assert!(
                    reason.contains("refused") || reason.contains("not a photo"),
                    "{name}: {reason}"
                );
                refused += 1;
            }
            other => panic!("{name}: unexpected {other}"),
        }
        // The box is still up.
        assert_eq!(c.get(b.url("/healthz")).send().await.unwrap().status(), 200);
    }
    assert!(
        stored > 0 && refused > 0,
        "stored {stored}, refused {refused}"
    );
    assert_eq!(photo_count(&b).await, stored);
    b.stop().await;
}

#[tokio::test]
async fn a_creator_over_quota_gets_507_and_others_are_unaffected() {
    let fixture_len = std::fs::metadata(FIXTURE).unwrap().len();
    let b = TestBox::start_with(Options {
        configure: Box::new(move |c| c.ingest.creator_quota_bytes = fixture_len + 100),
        ..Default::default()
    })
    .await;
    let (_, ana) = b.creator("Ana").await;
    let (_, bo) = b.creator("Bo").await;
    let bytes = std::fs::read(FIXTURE).unwrap();
    let upload = |token: String, body: Vec<u8>| {
        let url = b.url("/files/");
        async move {
            reqwest::Client::new()
                .post(url)
                .bearer_auth(token)
                .header("Tus-Resumable", "1.0.0")
                .header("Upload-Length", body.len())
                .header("Content-Type", "application/offset+octet-stream")
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(upload(ana.clone(), bytes.clone()).await, 201);
    // A different photo (same bytes plus a trailing byte): over Ana's quota.
    let mut other = bytes.clone();
    other.push(0);
    assert_eq!(upload(ana, other.clone()).await, 507);
    assert_eq!(upload(bo, other).await, 201, "quotas are per creator");
    assert_eq!(photo_count(&b).await, 2);
    b.stop().await;
}

/// Hardening item 6: three uploads of one creator finishing at once must not
/// store more than the quota between them (the check and the insert are one
/// transaction). Each upload is created while nothing is stored yet, so every
/// creation passes its early check; only the commit can hold the line.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn uploads_finishing_at_once_stay_within_the_quota() {
    let bytes = std::fs::read(FIXTURE).unwrap();
    let len = bytes.len() as u64 + 1;
    // Room for two of the three photos, not three.
    let quota = len * 5 / 2;
    let b = TestBox::start_with(Options {
        configure: Box::new(move |c| c.ingest.creator_quota_bytes = quota),
        ..Default::default()
    })
    .await;
    let (_, ana) = b.creator("Ana").await;
    let c = reqwest::Client::new();
    let mut uploads = Vec::new();
    for i in 0..3u8 {
        let mut body = bytes.clone();
        body.push(i); // three different photos
        let location = b.tus_create(&ana, body.len()).await;
        uploads.push((location, body));
    }
    let finishing = uploads.into_iter().map(|(location, body)| {
        let c = c.clone();
        let url = b.url(&location);
        let ana = ana.clone();
        tokio::spawn(async move {
            c.patch(url)
                .bearer_auth(ana)
                .header("Tus-Resumable", "1.0.0")
                .header("Upload-Offset", 0)
                .header("Content-Type", "application/offset+octet-stream")
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    });
    let mut codes = Vec::new();
    for task in finishing.collect::<Vec<_>>() {
        codes.push(task.await.unwrap());
    }
    codes.sort_unstable();
    assert_eq!(codes, vec![204, 204, 507], "two fit, the third is refused");
    let stored: i64 = b
        .state
        .store
        .read_sql(|c| {
            c.query_row("SELECT coalesce(sum(size), 0) FROM photos", [], |r| {
                r.get(0)
            })
        })
        .await
        .unwrap();
    assert!(
        stored as u64 <= quota,
        "stored {stored} of a {quota}-byte quota"
    );
    assert_eq!(photo_count(&b).await, 2);
    b.stop().await;
}

// --- CORS: pages on other origins (tus-js-client, Uppy) uploading from a browser. ---

/// A listed origin, as a photographer's site would be.
const PAGE: &str = "https://photos.example.com";
/// A second listed origin: an address and a port, as a laptop on the LAN serves it.
const LAN_PAGE: &str = "http://192.168.1.20:8080";
/// An origin nobody listed.
const STRANGER: &str = "https://stranger.example";

/// Lists `origins` in `tus.cors_allowed_origins` (and puts 127.0.0.9 on the attendee
/// network, for the scope test).
fn with_cors_origins(origins: &[&str]) -> Options {
    let origins: Vec<String> = origins.iter().map(|o| o.to_string()).collect();
    Options {
        configure: Box::new(move |c| {
            c.tus.cors_allowed_origins = origins;
            c.portal.attendee_networks = vec!["127.0.0.9/32".parse().unwrap()];
        }),
        ..Default::default()
    }
}

/// A CORS-preflight request as Chromium sends it before a tus request.
async fn preflight(url: &str, origin: &str, method: &str) -> CurlResponse {
    curl(&[
        "-X",
        "OPTIONS",
        url,
        "-H",
        &format!("Origin: {origin}"),
        "-H",
        &format!("Access-Control-Request-Method: {method}"),
        "-H",
        "Access-Control-Request-Headers: authorization,content-type,tus-resumable,upload-length,upload-metadata",
    ])
    .await
}

/// The names of the response's `Access-Control-*` headers.
fn access_control(r: &CurlResponse) -> Vec<&str> {
    r.headers
        .keys()
        .map(String::as_str)
        .filter(|k| k.starts_with("access-control-"))
        .collect()
}

/// A comma-separated header as lowercase items.
fn items(r: &CurlResponse, name: &str) -> Vec<String> {
    r.headers
        .get(name)
        .map(|v| {
            v.split(',')
                .map(|i| i.trim().to_ascii_lowercase())
                .collect()
        })
        .unwrap_or_default()
}

/// What a page needs to read from the tus answers (tus-js-client reads `Location`
/// after creation and `Upload-Offset` after HEAD and PATCH).
const TUS_RESPONSE_HEADERS: [&str; 9] = [
    "location",
    "upload-offset",
    "upload-length",
    "upload-metadata",
    "upload-expires",
    "tus-resumable",
    "tus-version",
    "tus-max-size",
    "tus-extension",
];

/// A preflight from a listed origin is answered as one (Fetch standard, CORS
/// protocol): the origin, the tus methods and request headers, a max age, `Vary:
/// Origin`, no credentials. From any other origin it gets no `Access-Control-*`
/// header. tus's own OPTIONS (no `Access-Control-Request-Method`) is still tus
/// discovery.
#[tokio::test]
async fn cors_preflight_is_answered_for_listed_origins_only() {
    let b = TestBox::start_with(with_cors_origins(&[PAGE, LAN_PAGE])).await;
    let upload_url = b.url("/files/0123456789abcdef0123456789abcdef");
    for (url, origin, method) in [
        (b.url("/files/"), PAGE, "POST"),
        (b.url("/files"), LAN_PAGE, "POST"),
        (upload_url.clone(), PAGE, "PATCH"),
        (upload_url.clone(), LAN_PAGE, "HEAD"),
        (upload_url.clone(), PAGE, "DELETE"),
    ] {
        let r = preflight(&url, origin, method).await;
        assert!(
            (200..300).contains(&r.status),
            "{url} {method}: {}",
            r.status
        );
        assert_eq!(r.headers["access-control-allow-origin"], origin, "{url}");
        let methods = items(&r, "access-control-allow-methods");
        for m in ["post", "head", "patch", "delete", "options"] {
            assert!(methods.contains(&m.to_string()), "{m} in {methods:?}");
        }
        let allowed = items(&r, "access-control-allow-headers");
        for h in [
            "authorization",
            "content-type",
            "tus-resumable",
            "upload-length",
            "upload-offset",
            "upload-metadata",
            "upload-defer-length",
            "upload-concat",
            "x-http-method-override",
            "x-requested-with",
        ] {
            assert!(allowed.contains(&h.to_string()), "{h} in {allowed:?}");
        }
        assert_eq!(r.headers["access-control-max-age"], "7200");
        assert!(
            items(&r, "vary").contains(&"origin".into()),
            "{:?}",
            r.headers
        );
        assert!(
            !r.headers.contains_key("access-control-allow-credentials"),
            "uploads authenticate with a bearer token, never with credentials"
        );
        assert!(
            !r.headers.contains_key("tus-version"),
            "answered as a preflight, not as tus discovery"
        );
    }

    // Any other origin: no CORS header at all, so the browser stops there.
    for origin in [STRANGER, "https://photos.example.com.evil.example", "null"] {
        let r = preflight(&b.url("/files/"), origin, "POST").await;
        assert_eq!(access_control(&r), Vec::<&str>::new(), "{origin}");
        assert!(items(&r, "vary").contains(&"origin".into()));
    }

    // tus discovery: without an origin as before; from a listed origin readable by it.
    let plain = curl(&["-X", "OPTIONS", &b.url("/files/")]).await;
    assert_eq!(plain.status, 204);
    assert_eq!(plain.headers["tus-version"], "1.0.0");
    assert_eq!(access_control(&plain), Vec::<&str>::new());
    let from_page = curl(&[
        "-X",
        "OPTIONS",
        &b.url("/files/"),
        "-H",
        &format!("Origin: {PAGE}"),
    ])
    .await;
    assert_eq!(from_page.status, 204);
    assert_eq!(from_page.headers["tus-version"], "1.0.0");
    assert_eq!(from_page.headers["access-control-allow-origin"], PAGE);
    let exposed = items(&from_page, "access-control-expose-headers");
    for h in ["tus-version", "tus-max-size", "tus-extension"] {
        assert!(exposed.contains(&h.to_string()), "{h} in {exposed:?}");
    }
    b.stop().await;
}

/// Every tus answer to a listed origin (creation, PATCH, HEAD, DELETE, and errors)
/// names the origin and exposes the tus headers, so the page can read `Location` and
/// `Upload-Offset`. The server still answers any other origin (CORS is enforced by
/// the browser), with no CORS header the browser would accept.
#[tokio::test]
async fn cors_responses_expose_the_tus_headers_to_listed_origins() {
    let b = TestBox::start_with(with_cors_origins(&[PAGE])).await;
    let (_, token) = b.creator("Ana").await;
    let auth = format!("Authorization: Bearer {token}");
    let origin = format!("Origin: {PAGE}");
    let tus = "Tus-Resumable: 1.0.0";
    let bytes = std::fs::read(FIXTURE).unwrap();
    let size = bytes.len().to_string();
    let exposes_tus = |r: &CurlResponse, what: &str| {
        assert_eq!(r.headers["access-control-allow-origin"], PAGE, "{what}");
        let exposed = items(r, "access-control-expose-headers");
        for h in TUS_RESPONSE_HEADERS {
            assert!(
                exposed.contains(&h.to_string()),
                "{what}: {h} in {exposed:?}"
            );
        }
        assert!(items(r, "vary").contains(&"origin".into()), "{what}");
        assert!(!r.headers.contains_key("access-control-allow-credentials"));
    };

    let create = curl(&[
        "-X",
        "POST",
        &b.url("/files/"),
        "-H",
        &origin,
        "-H",
        &auth,
        "-H",
        tus,
        "-H",
        &format!("Upload-Length: {size}"),
        "-H",
        &format!("Upload-Metadata: filename {}", b64(b"page.jpg")),
    ])
    .await;
    assert_eq!(create.status, 201, "{}", create.body);
    exposes_tus(&create, "POST");
    let url = b.url(&create.headers["location"]);

    let half = &bytes[..bytes.len() / 2];
    std::fs::write(b.dir.path().join("half"), half).unwrap();
    let patch = curl(&[
        "-X",
        "PATCH",
        &url,
        "-H",
        &origin,
        "-H",
        &auth,
        "-H",
        tus,
        "-H",
        "Upload-Offset: 0",
        "-H",
        "Content-Type: application/offset+octet-stream",
        "--data-binary",
        &format!("@{}", b.dir.path().join("half").display()),
    ])
    .await;
    assert_eq!(patch.status, 204, "{}", patch.body);
    exposes_tus(&patch, "PATCH");
    assert_eq!(patch.headers["upload-offset"], half.len().to_string());

    let head = curl(&["-I", &url, "-H", &origin, "-H", &auth, "-H", tus]).await;
    assert_eq!(head.status, 200);
    exposes_tus(&head, "HEAD");
    assert_eq!(head.headers["upload-offset"], half.len().to_string());
    assert_eq!(head.headers["upload-length"], size);

    // An error the page must be able to read: no token.
    let refused = curl(&["-I", &url, "-H", &origin, "-H", tus]).await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.headers["access-control-allow-origin"], PAGE);

    let delete = curl(&["-X", "DELETE", &url, "-H", &origin, "-H", &auth, "-H", tus]).await;
    assert_eq!(delete.status, 204, "{}", delete.body);
    assert_eq!(delete.headers["access-control-allow-origin"], PAGE);

    // Another origin: the server answers, but nothing a browser would hand the page.
    let stranger = curl(&[
        "-X",
        "POST",
        &b.url("/files/"),
        "-H",
        &format!("Origin: {STRANGER}"),
        "-H",
        &auth,
        "-H",
        tus,
        "-H",
        "Upload-Length: 10",
    ])
    .await;
    assert_eq!(stranger.status, 201);
    assert_eq!(access_control(&stranger), Vec::<&str>::new());
    assert!(items(&stranger, "vary").contains(&"origin".into()));
    b.stop().await;
}

/// CORS is off unless configured (no `Access-Control-*`, no `Vary`), and even when
/// configured it reaches only the tus routes: admin, portal and health answer no
/// other origin, and the attendee network still gets a plain 404 for uploads.
#[tokio::test]
async fn cors_is_off_by_default_and_scoped_to_the_uploads() {
    let plain = TestBox::start().await;
    let r = preflight(&plain.url("/files/"), PAGE, "POST").await;
    assert_eq!(access_control(&r), Vec::<&str>::new());
    assert!(!r.headers.contains_key("vary"), "{:?}", r.headers);
    assert_eq!(
        r.headers["tus-version"], "1.0.0",
        "tus discovery, as before"
    );
    plain.stop().await;

    let b = TestBox::start_with(with_cors_origins(&[PAGE])).await;
    for path in [
        "/api/admin/login",
        "/api/admin/session",
        "/healthz",
        "/portal",
    ] {
        let r = preflight(&b.url(path), PAGE, "POST").await;
        assert_eq!(access_control(&r), Vec::<&str>::new(), "preflight {path}");
        let r = curl(&[&b.url(path), "-H", &format!("Origin: {PAGE}")]).await;
        assert_eq!(access_control(&r), Vec::<&str>::new(), "GET {path}");
    }
    let attendee = curl(&[
        "--interface",
        "127.0.0.9",
        "-X",
        "OPTIONS",
        &b.url("/files/"),
        "-H",
        &format!("Origin: {PAGE}"),
        "-H",
        "Access-Control-Request-Method: POST",
    ])
    .await;
    assert_eq!(attendee.status, 404);
    assert_eq!(access_control(&attendee), Vec::<&str>::new());
    b.stop().await;
}

#[tokio::test]
async fn unfinished_uploads_count_against_the_quota() {
    // Room for 100 KB: a deferred-length upload and a second upload cannot hold more
    // between them, whatever each declared.
    let b = TestBox::start_with(Options {
        configure: Box::new(|c| c.ingest.creator_quota_bytes = 100_000),
        ..Default::default()
    })
    .await;
    let (_, token) = b.creator("Ana").await;
    let bytes = std::fs::read(testdata().join("photos/canon-350d_MG_9381.JPG")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (dir.path().join("first"), dir.path().join("second"));
    std::fs::write(&first, &bytes[..60_000]).unwrap();
    std::fs::write(&second, &bytes[60_000..120_000]).unwrap();
    let auth = format!("Authorization: Bearer {token}");
    let files = b.url("/files/");
    let create = |length: Option<&str>| {
        let length = match length {
            Some(n) => format!("Upload-Length: {n}"),
            None => "Upload-Defer-Length: 1".to_string(),
        };
        let (auth, files) = (auth.clone(), files.clone());
        async move {
            curl(&[
                "-X",
                "POST",
                "-H",
                &auth,
                "-H",
                "Tus-Resumable: 1.0.0",
                "-H",
                &length,
                &files,
            ])
            .await
        }
    };
    let patch = |location: String, offset: usize, body: PathBuf| {
        let auth = auth.clone();
        let url = b.url(&location);
        async move {
            curl(&[
                "-X",
                "PATCH",
                "-H",
                &auth,
                "-H",
                "Tus-Resumable: 1.0.0",
                "-H",
                "Content-Type: application/offset+octet-stream",
                "-H",
                &format!("Upload-Offset: {offset}"),
                "--data-binary",
                &format!("@{}", body.display()),
                &url,
            ])
            .await
        }
    };
    let deferred = create(None).await;
    assert_eq!(deferred.status, 201);
    let location = deferred.headers["location"].clone();
    assert_eq!(patch(location.clone(), 0, first).await.status, 204);
    // 60 KB held by the unfinished upload: 60 KB more do not fit, declared or not.
    assert_eq!(create(Some("60000")).await.status, 507);
    let over = patch(location.clone(), 60_000, second).await;
    assert_eq!(over.status, 507, "{}", over.body);
    let head = curl(&[
        "-I",
        "-H",
        &auth,
        "-H",
        "Tus-Resumable: 1.0.0",
        &b.url(&location),
    ])
    .await;
    assert_eq!(head.headers["upload-offset"], "60000");
    // 40 KB still fit.
    assert_eq!(create(Some("40000")).await.status, 201);
    b.stop().await;
}

/// Only unfinished uploads count against `tus.max_open_uploads_per_creator`: a phone
/// sending one photo after another (each upload finished before the next) is never
/// refused, however many it sends. (Finished uploads keep their rows for HEAD until
/// they expire; they were counted, so the 65th photo of a day got 429.)
#[tokio::test]
async fn finished_uploads_do_not_count_against_the_open_upload_cap() {
    let b = TestBox::start_with(Options {
        configure: Box::new(|c| c.tus.max_open_uploads_per_creator = 2),
        ..Default::default()
    })
    .await;
    let (_, token) = b.creator("Ana").await;
    let c = reqwest::Client::new();
    for i in 0..5 {
        // The fixture with bytes after its end: a new photo each time, same pixels.
        let mut body = std::fs::read(FIXTURE).unwrap();
        body.extend_from_slice(format!("photo {i}").as_bytes());
        let r = c
            .post(b.url("/files/"))
            .bearer_auth(&token)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Length", body.len())
            .header("Content-Type", "application/offset+octet-stream")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "upload {i}: {:?}", r.text().await);
        assert_eq!(
            r.headers()["upload-offset"],
            body.len().to_string().as_str()
        );
    }
    assert_eq!(photo_count(&b).await, 5);
    b.stop().await;
}

/// A creator's unfinished uploads are capped (`tus.max_open_uploads_per_creator`):
/// a burst of creations at once gets exactly the cap through, the rest 429; another
/// creator is unaffected, and finishing one makes room.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_creations_gets_exactly_the_open_upload_cap() {
    let b = TestBox::start_with(Options {
        configure: Box::new(|c| c.tus.max_open_uploads_per_creator = 5),
        ..Default::default()
    })
    .await;
    let (_, ana) = b.creator("Ana").await;
    let (_, bo) = b.creator("Bo").await;
    let c = reqwest::Client::new();
    let create = |token: String| {
        let (c, url) = (c.clone(), b.url("/files/"));
        tokio::spawn(async move {
            let r = c
                .post(url)
                .bearer_auth(token)
                .header("Tus-Resumable", "1.0.0")
                .header("Upload-Length", 1000)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let location = r
                .headers()
                .get("location")
                .map(|l| l.to_str().unwrap().to_string());
            (status, location)
        })
    };
    let burst: Vec<_> = (0..30).map(|_| create(ana.clone())).collect();
    let mut created = Vec::new();
    let mut refused = 0;
    for task in burst {
        match task.await.unwrap() {
            (201, Some(location)) => created.push(location),
            (429, None) => refused += 1,
            other => panic!("creation answered {other:?}"),
        }
    }
    assert_eq!((created.len(), refused), (5, 25));
    assert_eq!(create(bo).await.unwrap().0, 201, "the cap is per creator");
    // Terminating one makes room for one more.
    let r = c
        .delete(b.url(&created[0]))
        .bearer_auth(&ana)
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(create(ana.clone()).await.unwrap().0, 201);
    assert_eq!(create(ana).await.unwrap().0, 429);
    b.stop().await;
}
