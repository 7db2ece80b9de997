//! Sync against a real Garage on loopback: the corpus arrives and verifies; an uplink
//! cut mid-upload and a kill -9 mid-sync both end with every object exactly once and
//! the chain intact; tampering is caught and named; what consent forbids never reaches
//! the bucket; a key rotation mid-event verifies; one box's tombstone does not excuse
//! another box's missing asset.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::garage::{list, Garage, Uplink};
use common::{testdata, TestBox};
use venuebox::config::Config;
use venuebox::sync::manifest::{self, keys, Entry};
use venuebox::sync::target::Target;

const BIN: &str = env!("CARGO_BIN_EXE_venuebox");

fn photos(n: usize) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(testdata().join("photos"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
            ext != "tsv" && ext != "md"
        })
        .collect();
    files.sort();
    files.truncate(n);
    files
}

fn configure(
    garage: &Garage,
    endpoint: String,
    prefix: &'static str,
) -> Box<dyn FnOnce(&mut Config)> {
    let mut sync = venuebox::config::SyncConfig::default();
    garage.configure(&mut sync, &endpoint, prefix);
    Box::new(move |c: &mut Config| {
        c.sync = sync;
        c.sync.cut_every_secs = 1;
        c.sync.probe_min_backoff_ms = 100;
        c.sync.probe_max_backoff_ms = 500;
    })
}

async fn start_box(configure: Box<dyn FnOnce(&mut Config)>) -> TestBox {
    TestBox::start_with(common::Options {
        configure,
        extra_routes: None,
    })
    .await
}

async fn import(b: &TestBox, creator: i64, files: &[PathBuf]) {
    venuebox::cli::import::import(
        &b.state.ingest,
        creator,
        files,
        &indicatif::ProgressBar::hidden(),
    )
    .await
    .unwrap();
}

/// (objects not yet uploaded, photos not yet published, bundles uploaded)
async fn outbox(b: &TestBox) -> (i64, i64, i64) {
    b.state
        .store
        .read(|c| {
            c.query_row(
                "SELECT (SELECT count(*) FROM sync_objects WHERE state <> 'done'),
                        (SELECT count(*) FROM photos p LEFT JOIN sync_photos s ON s.photo_id = p.id
                          WHERE s.photo_id IS NULL OR s.tombstoned_in IS NOT NULL),
                        (SELECT count(*) FROM sync_bundles WHERE uploaded_at IS NOT NULL)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(venuebox::db::StoreError::from)
        })
        .await
        .unwrap()
}

/// Waits until nothing is queued, `unpublished` photos remain unpublished, and at
/// least `bundles` bundles are uploaded.
async fn wait_synced(b: &TestBox, unpublished: i64, bundles: i64, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let state = outbox(b).await;
        if state.0 == 0 && state.1 == unpublished && state.2 >= bundles {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "not synced in time: {state:?}, status {:?}",
            b.state.sync.status()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn verify_cli(garage: &Garage, location: &str) -> (bool, serde_json::Value) {
    let out = Command::new(BIN)
        .args(["bundle", "verify", location, "--json"])
        .envs(garage.env())
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("no JSON: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.success(), report)
}

async fn verify(target: &Target) -> venuebox::sync::verify::Report {
    venuebox::sync::verify::verify(target, &indicatif::ProgressBar::hidden())
        .await
        .unwrap()
}

/// The object keys a fully synced box must have put in the bucket: its assets, its
/// key statements, and a manifest and signature per bundle.
fn expected_keys(
    box_id: &str,
    assets: &[String],
    key_statements: u64,
    bundles: u64,
) -> Vec<String> {
    let mut keys: Vec<String> = assets.iter().map(|s| keys::asset(s)).collect();
    keys.extend((0..key_statements).map(|n| keys::key_statement(box_id, n)));
    for n in 1..=bundles {
        keys.push(keys::manifest(box_id, n));
        keys.push(keys::signature(box_id, n));
    }
    keys.sort();
    keys.dedup();
    keys
}

/// SHA-256 of what sync sends for a camera file by default: the file with its private
/// metadata removed, as the full download serves it (hardening item 2).
fn sent_sha(file: &Path) -> String {
    use sha2::Digest;
    let data = std::fs::read(file).unwrap();
    let media =
        venuebox::ingest::sniff(&data[..data.len().min(64)], file.to_str().unwrap()).unwrap();
    let plan = venuebox::media::privacy::full_plan(&data, media.mime).unwrap();
    hex::encode(sha2::Sha256::digest(plan.assemble(&data)))
}

/// The assets sync sends for `files`, sorted, once each.
fn sha_of(files: &[PathBuf]) -> Vec<String> {
    let mut v: Vec<String> = files.iter().map(|f| sent_sha(f)).collect();
    v.sort();
    v.dedup();
    v
}

fn box_id(b: &TestBox) -> String {
    venuebox::identity::bundle_signer(&b.data_dir())
        .unwrap()
        .box_id()
        .to_string()
}

async fn bundles_done(b: &TestBox) -> u64 {
    b.state
        .store
        .read(|c| {
            c.query_row("SELECT count(*) FROM sync_bundles", [], |r| r.get(0))
                .map_err(venuebox::db::StoreError::from)
        })
        .await
        .unwrap()
}

/// Consent and attendance written with a clock that is not trusted (a box that booted
/// without NTP): the manifest must say so.
fn stamp() -> venuebox::clock::Stamp {
    venuebox::clock::stamp(venuebox::clock::TrustPolicy::Never)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corpus_syncs_to_garage_and_verifies() {
    let garage = tokio::task::spawn_blocking(Garage::start).await.unwrap();
    let b = start_box(configure(&garage, garage.endpoint.clone(), "events/one")).await;
    let (creator, _) = b.creator("Ana Lima Studio").await;
    let files = photos(usize::MAX);
    import(&b, creator, &files).await;
    wait_synced(&b, 0, 1, Duration::from_secs(60)).await;

    // The dashboard's view, through the admin API.
    let token = b.admin_token().await;
    let view: serde_json::Value = reqwest::Client::new()
        .get(b.url("/api/admin/sync"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(view["uplink"], "up", "{view}");
    assert_eq!(view["objects"]["pending"], 0, "{view}");
    assert_eq!(view["target"], "s3://venuebox/events/one", "{view}");
    // Attendees (and anyone without a session) never reach it.
    let anonymous = reqwest::get(b.url("/api/admin/sync")).await.unwrap();
    assert_eq!(anonymous.status(), 401);

    let bundles = bundles_done(&b).await;
    let target = garage.target("events/one");
    assert_eq!(
        list(&target).await,
        expected_keys(&box_id(&b), &sha_of(&files), 1, bundles)
    );
    let (ok, report) = verify_cli(&garage, "s3://venuebox/events/one");
    assert!(ok, "{report:#}");
    assert_eq!(report["assets_checked"], sha_of(&files).len(), "{report:#}");
    // Manifests carry EXIF provenance (the corpus may be cut into several bundles:
    // photos that arrive while a cut prepares their files wait for the next one).
    let mut entries = Vec::new();
    for n in 1..=bundles {
        let m = target
            .store()
            .get(&target.path(&keys::manifest(&box_id(&b), n)))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        entries.extend(manifest::parse_manifest(&m).unwrap().entries);
    }
    assert!(entries.iter().any(|e| matches!(e, Entry::Asset { camera_make: Some(make), captured_at: Some(_), .. } if make == "Canon")), "{entries:?}");
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uplink_cut_mid_upload_then_every_object_arrives_once() {
    let garage = tokio::task::spawn_blocking(Garage::start).await.unwrap();
    let uplink = Uplink::start(garage.s3_addr).await;
    let inner = configure(&garage, uplink.endpoint(), "drop");
    let paced: Box<dyn FnOnce(&mut Config)> = Box::new(move |c: &mut Config| {
        inner(c);
        // ~8 MB/s: the corpus takes a few seconds, long enough to cut it mid-way.
        c.sync.bandwidth_limit_bytes_per_sec = 8_000_000;
        c.sync.cut_every_photos = 1000;
    });
    let b = start_box(paced).await;
    let (creator, _) = b.creator("Ana").await;
    let files = photos(usize::MAX);
    import(&b, creator, &files).await;
    // Wait for some objects to be up, then cut the uplink.
    let deadline = Instant::now() + Duration::from_secs(30);
    while b.state.sync.status().objects_uploaded < 5 {
        assert!(Instant::now() < deadline, "{:?}", b.state.sync.status());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    uplink.set_up(false);
    let deadline = Instant::now() + Duration::from_secs(30);
    while b.state.sync.status().uplink != "down" {
        assert!(
            Instant::now() < deadline,
            "never noticed the drop: {:?}",
            b.state.sync.status()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pending_while_down = outbox(&b).await.0;
    assert!(
        pending_while_down > 0,
        "everything went before the cut; nothing was tested"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    uplink.set_up(true);
    wait_synced(&b, 0, 1, Duration::from_secs(60)).await;

    let status = b.state.sync.status();
    let bundles = bundles_done(&b).await;
    let expected = expected_keys(&box_id(&b), &sha_of(&files), 1, bundles);
    // Every object exactly once: the bucket holds exactly the expected keys, and the
    // box counted each either as uploaded or (a PUT whose answer the cut lost) found
    // by HEAD, never twice.
    let target = garage.target("drop");
    assert_eq!(list(&target).await, expected);
    assert_eq!(
        status.objects_uploaded + status.objects_skipped,
        expected.len() as u64,
        "{status:?}"
    );
    let report = verify(&target).await;
    assert!(report.ok, "{:?}", report.failures);
    b.stop().await;
}

fn cli(data: &Path, env: &[(String, String)], args: &[&str]) -> String {
    let out = Command::new(BIN)
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .envs(env.iter().cloned())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_sync_resumes_without_loss_or_duplicates() {
    let garage = tokio::task::spawn_blocking(Garage::start).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut env = garage.env();
    for (k, v) in [
        ("VENUEBOX_SYNC__TARGET", "s3".to_string()),
        ("VENUEBOX_SYNC__ENDPOINT", garage.endpoint.clone()),
        ("VENUEBOX_SYNC__REGION", common::garage::REGION.to_string()),
        ("VENUEBOX_SYNC__BUCKET", garage.bucket.clone()),
        ("VENUEBOX_SYNC__PREFIX", "crash".to_string()),
        ("VENUEBOX_SYNC__CUT_EVERY_SECS", "1".to_string()),
        (
            "VENUEBOX_SYNC__BANDWIDTH_LIMIT_BYTES_PER_SEC",
            "6000000".to_string(),
        ),
        // A large asset goes by multipart in 5 MiB parts, so the kill can land mid-way.
        (
            "VENUEBOX_SYNC__MULTIPART_THRESHOLD_BYTES",
            "5242880".to_string(),
        ),
        ("VENUEBOX_SYNC__PART_SIZE_BYTES", "5242880".to_string()),
        ("VENUEBOX_SYNC__PROBE_MIN_BACKOFF_MS", "100".to_string()),
        ("VENUEBOX_MDNS__ENABLED", "false".to_string()),
    ] {
        env.push((k.into(), v));
    }
    cli(&data, &env, &["creator", "add", "Ana"]);
    cli(
        &data,
        &env,
        &[
            "import",
            testdata().join("photos").to_str().unwrap(),
            "--creator",
            "Ana",
        ],
    );
    // A 16 MiB JPEG: a real one with 16 MiB of noise added to its scan data (no 0xFF,
    // so no marker), which the scrubber copies as it is: three parts and a bit.
    let big = dir.path().join("big");
    std::fs::create_dir(&big).unwrap();
    let mut bytes = std::fs::read("tests/fixtures/gradient.jpg").unwrap();
    let eoi = bytes.len() - 2;
    assert_eq!(&bytes[eoi..], [0xFF, 0xD9]);
    let noise = (0..(16 << 20)).map(|_| rand::random::<u8>().min(0xFE));
    bytes.splice(eoi..eoi, noise);
    std::fs::write(big.join("huge.jpg"), &bytes).unwrap();
    cli(
        &data,
        &env,
        &["import", big.to_str().unwrap(), "--creator", "Ana"],
    );

    let start = |env: &[(String, String)]| {
        Command::new(BIN)
            .arg("--data-dir")
            .arg(&data)
            .args([
                "run",
                "--http",
                &format!("127.0.0.1:{}", common::free_port()),
                "--ftp",
                &format!("127.0.0.1:{}", common::free_port()),
            ])
            .envs(env.iter().cloned())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let target = garage.target("crash");
    let mut child = start(&env);
    // Kill once some objects are up and the big asset's multipart has begun.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = cli(&data, &env, &["sync", "status"]);
        let status: serde_json::Value = serde_json::from_str(&status).unwrap();
        let parts_done = status["waiting_objects"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["parts_done"].as_u64().unwrap_or(0) >= 1);
        if parts_done && list(&target).await.len() >= 5 {
            break;
        }
        assert!(Instant::now() < deadline, "sync did not start: {status:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let before = list(&target).await;

    let mut child = start(&env);
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let status: serde_json::Value =
            serde_json::from_str(&cli(&data, &env, &["sync", "status"])).unwrap();
        if status["objects"]["pending"] == 0
            && status["bundles"]["total"].as_u64().unwrap() > 0
            && status["bundles"]["pending"] == 0
        {
            break;
        }
        assert!(Instant::now() < deadline, "did not resume: {status:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap();

    let after = list(&target).await;
    assert!(before.iter().all(|k| after.contains(k)));
    let (ok, report) = verify_cli(&garage, "s3://venuebox/crash");
    assert!(ok, "{report:#}");
    let mut files = photos(usize::MAX);
    files.push(big.join("huge.jpg"));
    assert_eq!(report["assets_checked"], sha_of(&files).len(), "{report:#}");
    let box_id = venuebox::identity::bundle_signer(&data)
        .unwrap()
        .box_id()
        .to_string();
    let bundles = report["boxes"][0]["bundles"].as_u64().unwrap();
    assert_eq!(after, expected_keys(&box_id, &sha_of(&files), 1, bundles));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_is_caught_and_named() {
    let garage = tokio::task::spawn_blocking(Garage::start).await.unwrap();
    let b = start_box(configure(&garage, garage.endpoint.clone(), "t")).await;
    let (creator, _) = b.creator("Ana").await;
    let files = photos(4);
    import(&b, creator, &files[..2]).await;
    wait_synced(&b, 0, 1, Duration::from_secs(30)).await;
    import(&b, creator, &files[2..]).await;
    wait_synced(&b, 0, 2, Duration::from_secs(30)).await;
    let signer = venuebox::identity::bundle_signer(&b.data_dir()).unwrap();
    b.stop().await;

    let target = garage.target("t");
    assert!(verify(&target).await.ok);
    let id = signer.box_id().to_string();
    let store = target.store();
    let get = |key: String| {
        let target = target.clone();
        async move {
            target
                .store()
                .get(&target.path(&key))
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap()
                .to_vec()
        }
    };
    let put = |key: String, bytes: Vec<u8>| {
        let target = target.clone();
        async move {
            target
                .store()
                .put(&target.path(&key), bytes.into())
                .await
                .unwrap();
        }
    };
    let named = |report: &venuebox::sync::verify::Report, key: &str| {
        assert!(!report.ok);
        assert!(
            report.failures.iter().any(|f| f.object == key),
            "{key} not named: {:?}",
            report.failures
        );
    };

    // A manifest changed after signing (re-canonicalised, so only the signature tells).
    let m1 = keys::manifest(&id, 1);
    let original = get(m1.clone()).await;
    let mut m = manifest::parse_manifest(&original).unwrap();
    m.created_at += 1;
    put(m1.clone(), manifest::canonical(&m)).await;
    named(&verify(&target).await, &m1);
    put(m1.clone(), original).await;

    // A signature altered.
    let s2 = keys::signature(&id, 2);
    let original = get(s2.clone()).await;
    let mut sig = manifest::parse_signature(&original).unwrap();
    sig.signature = sig.signature.chars().rev().collect();
    put(s2.clone(), manifest::canonical(&sig)).await;
    named(&verify(&target).await, &s2);
    put(s2.clone(), original).await;

    // An asset altered, then missing.
    let sha = sent_sha(&files[0]);
    let a = keys::asset(&sha);
    let original = get(a.clone()).await;
    let mut altered = original.clone();
    altered[1000] ^= 0xFF;
    put(a.clone(), altered).await;
    let report = verify(&target).await;
    named(&report, &a);
    store.delete(&target.path(&a)).await.unwrap();
    let report = verify(&target).await;
    named(&report, &a);
    assert!(
        report
            .failures
            .iter()
            .any(|f| f.problem.contains("missing")),
        "{:?}",
        report.failures
    );
    put(a.clone(), original).await;

    // A forked chain: a validly signed bundle 3 that does not follow bundle 2.
    let mut fork = manifest::parse_manifest(&get(keys::manifest(&id, 2)).await).unwrap();
    fork.sequence = 3;
    fork.previous = Some("00".repeat(32));
    let (bytes, sig) = manifest::sign(&fork, &signer.key_id(), |b| signer.sign(b));
    put(keys::manifest(&id, 3), bytes).await;
    put(keys::signature(&id, 3), sig).await;
    let report = verify(&target).await;
    named(&report, &keys::manifest(&id, 3));
    assert!(
        report.failures.iter().any(|f| f.problem.contains("fork")),
        "{:?}",
        report.failures
    );
    store
        .delete(&target.path(&keys::signature(&id, 3)))
        .await
        .unwrap();
    store
        .delete(&target.path(&keys::manifest(&id, 3)))
        .await
        .unwrap();

    // A gap: bundle 1 gone. And an object the format does not explain.
    put("notes.txt".into(), b"hello".to_vec()).await;
    let report = verify(&target).await;
    named(&report, "notes.txt");
    store.delete(&target.path("notes.txt")).await.unwrap();

    // The CLI exits non-zero and names the object.
    store.delete(&target.path(&m1)).await.unwrap();
    let out = Command::new(BIN)
        .args(["bundle", "verify", "s3://venuebox/t"])
        .envs(garage.env())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("FAIL {m1}")), "{stdout}");
}

/// Box B, a sound box of its own (its own key, a valid genesis, one signed manifest),
/// tombstones an asset of box A that is gone from the bucket: A's result is still a
/// missing asset. Only what A's own chain signed speaks for A.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_box_cannot_excuse_a_missing_asset() {
    let garage = tokio::task::spawn_blocking(Garage::start).await.unwrap();
    let a = start_box(configure(&garage, garage.endpoint.clone(), "cross")).await;
    let (creator, _) = a.creator("Ana").await;
    let files = photos(2);
    import(&a, creator, &files).await;
    wait_synced(&a, 0, 1, Duration::from_secs(30)).await;
    let a_id = box_id(&a);
    a.stop().await;
    let target = garage.target("cross");
    assert!(verify(&target).await.ok);
    let gone = sent_sha(&files[0]);
    target
        .store()
        .delete(&target.path(&keys::asset(&gone)))
        .await
        .unwrap();

    // A box id sorting after A's, so a verifier walking the boxes in order meets B's
    // tombstone after A's asset entry (the order that fooled a bucket-wide set; the unit
    // tests in sync::verify take both orders). Half of all ids do.
    let (_b_dir, b) = loop {
        let dir = tempfile::tempdir().unwrap();
        venuebox::identity::Vault::open(dir.path(), "b").unwrap();
        let b = venuebox::identity::bundle_signer(dir.path()).unwrap();
        if b.box_id() > a_id.as_str() {
            break (dir, b);
        }
    };
    let b_id = b.box_id().to_string();
    let put = |key: String, bytes: Vec<u8>| {
        let target = target.clone();
        async move {
            target
                .store()
                .put(&target.path(&key), bytes.into())
                .await
                .unwrap();
        }
    };
    put(
        keys::key_statement(&b_id, 0),
        manifest::canonical(&b.chain[0]),
    )
    .await;
    let tombstoning = manifest::Manifest {
        format: manifest::MANIFEST_FORMAT.into(),
        event: manifest::EventRef {
            id: "ev-b".into(),
            name: "Elsewhere".into(),
        },
        box_id: b_id.clone(),
        sequence: 1,
        previous: None,
        key_id: b.key_id(),
        created_at: 1_700_000_000,
        entries: vec![Entry::Tombstone {
            target: "asset".into(),
            id: gone.clone(),
            reason: "consent_withdrawn".into(),
            at: 1_700_000_000,
        }],
    };
    let (bytes, sig) = manifest::sign(&tombstoning, &b.key_id(), |m| b.sign(m));
    put(keys::signature(&b_id, 1), sig).await;
    put(keys::manifest(&b_id, 1), bytes).await;

    let out = Command::new(BIN)
        .args(["bundle", "verify", "s3://venuebox/cross", "--json"])
        .args(["--box-id", &a_id])
        .envs(garage.env())
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{report:#}");
    // Box B is sound; the one failure is A's missing asset, named by A's manifest.
    let failures = report["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{report:#}");
    assert_eq!(failures[0]["object"], keys::asset(&gone));
    let problem = failures[0]["problem"].as_str().unwrap();
    assert!(
        problem.starts_with("missing asset") && problem.contains(&format!("boxes/{a_id}/")),
        "{problem}"
    );
    assert_eq!(report["boxes"].as_array().unwrap().len(), 2, "{report:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_what_consent_allows_reaches_the_bucket() {
    use venuebox::consent::{self, Channel, Scope};
    let garage = tokio::task::spawn_blocking(Garage::start).await.unwrap();
    let inner = configure(&garage, garage.endpoint.clone(), "consent");
    // Cut only when asked, so photos are tagged before any cut sees them.
    let b = start_box(Box::new(move |c: &mut Config| {
        inner(c);
        c.sync.cut_every_secs = 3600;
        // Photos arrive with a trusted clock (an RTC box), consent below is written
        // with an untrusted one: the manifests must carry each record's own answer.
        c.clock.trust = venuebox::clock::TrustPolicy::Always;
    }))
    .await;
    let (ana, _) = b.creator("Ana").await;
    let (bo, _) = b.creator("Bo").await;
    let token = b.admin_token().await;
    let http = reqwest::Client::new();
    // Bo turns sync off before anything is cut.
    let r = http
        .put(b.url(&format!("/api/admin/creators/{bo}/sync")))
        .bearer_auth(&token)
        .json(&serde_json::json!({"enabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    // Two attendees: one consents to sync, one only to the gallery.
    let (yes, no) = b
        .state
        .store
        .write(|tx| {
            let secret = consent::ensure_secret(tx)?;
            let notice = consent::remember_notice(tx, "1", "en", "notice")?;
            let yes = consent::new_attendee(tx, &secret, "en")?;
            let no = consent::new_attendee(tx, &secret, "en")?;
            consent::record(
                tx,
                &yes.id,
                Scope::Sync,
                true,
                &notice,
                Channel::Portal,
                stamp(),
            )?;
            consent::record(
                tx,
                &no.id,
                Scope::Gallery,
                true,
                &notice,
                Channel::Portal,
                stamp(),
            )?;
            consent::record_attendance(tx, &yes.pseudonym, consent::Source::Portal, 0, stamp())?;
            Ok::<_, venuebox::db::StoreError>((yes, no))
        })
        .await
        .unwrap();
    let files = photos(4);
    // Import, then tag before the next cut can run.
    import(&b, ana, &files[..3]).await;
    import(&b, bo, &files[3..]).await;
    let ids: Vec<i64> = b
        .state
        .store
        .read(|c| {
            let mut s = c.prepare("SELECT id FROM photos ORDER BY id")?;
            let v = s
                .query_map([], |r| r.get(0))?
                .collect::<Result<Vec<i64>, _>>()?;
            Ok::<_, venuebox::db::StoreError>(v)
        })
        .await
        .unwrap();
    let tag = |photo: i64, who: Vec<String>| {
        let (http, url, token) = (
            http.clone(),
            b.url(&format!("/api/admin/photos/{photo}/attendees")),
            token.clone(),
        );
        async move {
            let r = http
                .put(url)
                .bearer_auth(token)
                .json(&serde_json::json!({"passes": who}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 204);
        }
    };
    // Unknown passes and photos are refused, naming neither the pass nor storing it.
    let put = |photo: i64, who: &str| {
        http.put(b.url(&format!("/api/admin/photos/{photo}/attendees")))
            .bearer_auth(&token)
            .json(&serde_json::json!({ "passes": [who] }))
            .send()
    };
    let r = put(ids[0], "not-a-pass").await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(!r.text().await.unwrap().contains("not-a-pass"));
    let secret = b.state.portal.secret().clone();
    let (yes_pass, no_pass) = (
        consent::pass_code(&secret, &yes).qr,
        consent::pass_code(&secret, &no).qr,
    );
    // A pass id (the attendee's bearer secret) is not a pass code.
    assert_eq!(put(ids[0], &yes.id).await.unwrap().status(), 400);
    assert_eq!(put(999_999, &yes_pass).await.unwrap().status(), 404);
    tag(ids[0], vec![yes_pass.clone()]).await;
    tag(ids[1], vec![yes_pass.clone(), no_pass.clone()]).await;
    // photo 2: untagged, Ana syncs; photo 3: Bo's, sync off.
    let _ = tag;
    let now = |b: &TestBox| {
        http.post(b.url("/api/admin/sync/now"))
            .bearer_auth(&token)
            .send()
    };
    assert_eq!(now(&b).await.unwrap().status(), 202);
    wait_synced(&b, 2, 1, Duration::from_secs(30)).await;

    let target = garage.target("consent");
    let keys_in_bucket = list(&target).await;
    let sha: Vec<String> = files.iter().map(|f| sent_sha(f)).collect();
    assert!(keys_in_bucket.contains(&keys::asset(&sha[0])));
    assert!(keys_in_bucket.contains(&keys::asset(&sha[2])));
    assert!(
        !keys_in_bucket.contains(&keys::asset(&sha[1])),
        "an attendee who did not consent is on it"
    );
    assert!(
        !keys_in_bucket.contains(&keys::asset(&sha[3])),
        "its creator turned sync off"
    );
    // Manifests name attendees by pseudonym only; pass ids never leave.
    let mut all = String::new();
    for k in keys_in_bucket.iter().filter(|k| k.starts_with("boxes/")) {
        all += std::str::from_utf8(
            &target
                .store()
                .get(&target.path(k))
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap(),
        )
        .unwrap();
    }
    assert!(all.contains(&yes.pseudonym));
    assert!(!all.contains(&yes.id) && !all.contains(&no.id) && !all.contains(&no.pseudonym));
    assert!(all.contains("\"type\":\"attendance\""));
    // Records say whether the clock was trusted when they were written (issue 15).
    let mut trusted = (0, 0, 0, 0);
    for k in keys_in_bucket
        .iter()
        .filter(|k| k.contains("/bundles/") && !k.ends_with(".sig.json"))
    {
        let bytes = target
            .store()
            .get(&target.path(k))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        for e in manifest::parse_manifest(&bytes).unwrap().entries {
            match e {
                Entry::Asset { clock_trusted, .. } => {
                    assert_eq!(
                        clock_trusted,
                        Some(true),
                        "photos arrived under clock.trust = always"
                    );
                    trusted.0 += 1;
                }
                Entry::Consent { clock_trusted, .. } => {
                    assert_eq!(
                        clock_trusted,
                        Some(false),
                        "consent was written with an untrusted clock"
                    );
                    trusted.1 += 1;
                }
                Entry::Attendance { clock_trusted, .. } => {
                    assert_eq!(clock_trusted, Some(false));
                    trusted.2 += 1;
                }
                _ => trusted.3 += 1,
            }
        }
    }
    assert!(
        trusted.0 == 2 && trusted.1 >= 1 && trusted.2 >= 1,
        "{trusted:?}"
    );

    // The consenting attendee withdraws: the next bundle tombstones them and their photo.
    b.state
        .store
        .write(move |tx| {
            let notice = consent::remember_notice(tx, "1", "en", "notice")?;
            consent::record(
                tx,
                &yes.id,
                Scope::Sync,
                false,
                &notice,
                Channel::Portal,
                stamp(),
            )?;
            Ok::<_, venuebox::db::StoreError>(())
        })
        .await
        .unwrap();
    assert_eq!(now(&b).await.unwrap().status(), 202);
    wait_synced(&b, 3, 2, Duration::from_secs(30)).await;
    let id = box_id(&b);
    let n = bundles_done(&b).await;
    let last = manifest::parse_manifest(
        &target
            .store()
            .get(&target.path(&keys::manifest(&id, n)))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    assert!(last.entries.iter().any(|e| matches!(e, Entry::Tombstone { target, id, .. } if target == "asset" && *id == sha[0])), "{last:?}");
    assert!(last.entries.iter().any(|e| matches!(e, Entry::Tombstone { target, reason, .. } if target == "attendee" && reason == "consent_withdrawn")), "{last:?}");
    assert!(verify(&target).await.ok);
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_mid_event_verifies_across_it() {
    let garage = tokio::task::spawn_blocking(Garage::start).await.unwrap();
    let b = start_box(configure(&garage, garage.endpoint.clone(), "rot")).await;
    let (creator, _) = b.creator("Ana").await;
    let files = photos(4);
    import(&b, creator, &files[..2]).await;
    wait_synced(&b, 0, 1, Duration::from_secs(30)).await;
    let before = venuebox::identity::bundle_signer(&b.data_dir()).unwrap();
    // The CLI rotates beside the running service.
    let out = cli(&b.data_dir(), &[], &["keys", "rotate"]);
    assert!(out.contains("new key id"), "{out}");
    import(&b, creator, &files[2..]).await;
    wait_synced(&b, 0, 2, Duration::from_secs(30)).await;
    let after = venuebox::identity::bundle_signer(&b.data_dir()).unwrap();
    assert_ne!(before.key_id(), after.key_id());
    assert_eq!(before.box_id(), after.box_id());

    let target = garage.target("rot");
    let report = verify(&target).await;
    assert!(report.ok, "{:?}", report.failures);
    assert_eq!(report.boxes[0].keys, 2);
    // The box id survives the rotation; `keys show` prints it for pinning.
    let shown: serde_json::Value =
        serde_json::from_str(&cli(&b.data_dir(), &[], &["keys", "show", "--json"])).unwrap();
    assert_eq!(shown["box_id"], before.box_id());
    assert_eq!(shown["key_id"], after.key_id());
    let pinned = |id: &str| {
        Command::new(BIN)
            .args(["bundle", "verify", "s3://venuebox/rot", "--box-id", id])
            .envs(garage.env())
            .output()
            .unwrap()
            .status
            .code()
    };
    assert_eq!(pinned(before.box_id()), Some(0));
    assert_eq!(
        pinned(&after.key_id()),
        Some(1),
        "the new key is not the box's genesis"
    );
    let id = box_id(&b);
    let n = bundles_done(&b).await;
    let last = manifest::parse_manifest(
        &target
            .store()
            .get(&target.path(&keys::manifest(&id, n)))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(last.key_id, after.key_id());
    // The old key is gone from the box, and a bundle it signs after the rotation fails.
    let pem = std::fs::read_to_string(b.data_dir().join("keys/signing.key")).unwrap();
    assert!(!pem.is_empty());
    let mut late = last.clone();
    late.sequence = n + 1;
    late.previous = Some(manifest::sha256_hex(
        &target
            .store()
            .get(&target.path(&keys::manifest(&id, n)))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    ));
    late.key_id = before.key_id();
    let (bytes, sig) = manifest::sign(&late, &before.key_id(), |m| before.sign(m));
    target
        .store()
        .put(&target.path(&keys::manifest(&id, n + 1)), bytes.into())
        .await
        .unwrap();
    target
        .store()
        .put(&target.path(&keys::signature(&id, n + 1)), sig.into())
        .await
        .unwrap();
    let report = verify(&target).await;
    assert!(
        report
            .failures
            .iter()
            .any(|f| f.object == keys::signature(&id, n + 1)),
        "{:?}",
        report.failures
    );
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_development_box_syncs_to_its_data_dir_out_of_the_box() {
    // Default configuration: the local target inside the data dir.
    let b = start_box(Box::new(|c: &mut Config| c.sync.cut_every_secs = 1)).await;
    let (creator, _) = b.creator("Ana").await;
    let files = photos(3);
    import(&b, creator, &files).await;
    wait_synced(&b, 0, 1, Duration::from_secs(30)).await;
    let dir = b.data_dir().join("sync-target");
    let id = box_id(&b);
    for sha in sha_of(&files) {
        assert!(dir.join(keys::asset(&sha)).is_file());
    }
    assert!(dir.join(keys::manifest(&id, 1)).is_file());
    let run = |dir: &Path| {
        Command::new(BIN)
            .args(["bundle", "verify", dir.to_str().unwrap(), "--json"])
            .output()
            .unwrap()
    };
    let out = run(&dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // A damaged asset on the target is named.
    let asset = dir.join(keys::asset(&sha_of(&files)[0]));
    // Assets are the photos with their private metadata removed; the prepared
    // copies are gone from the box once in the target.
    assert_eq!(common::sha256_file(&asset), sha_of(&files)[0]);
    let sent = b.data_dir().join("sync-sent");
    assert_eq!(std::fs::read_dir(&sent).map_or(0, |d| d.count()), 0);
    // Replaced as a tool would (never in place: that would change the stored photo).
    std::fs::remove_file(&asset).unwrap();
    std::fs::write(&asset, b"not the photo").unwrap();
    let out = run(&dir);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["failures"][0]["object"],
        keys::asset(&sha_of(&files)[0]),
        "{report:#}"
    );
    b.stop().await;
}

/// Every tag exiftool reads in `bytes`, as "Group:Name".
fn exif_tags(bytes: &[u8]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("asset.jpg");
    std::fs::write(&path, bytes).unwrap();
    let out = Command::new("exiftool")
        .args(["-j", "-a", "-G1", path.to_str().unwrap()])
        .output()
        .expect("exiftool cannot run: tests/run.sh installs it");
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v[0].as_object().unwrap().keys().cloned().collect()
}

/// Hardening item 2: the bucket held the unscrubbed original (GPS, body serial, owner
/// name, XMP location) while every download was clean. By default sync now sends what
/// the full download serves, and the manifest records both hashes;
/// `sync.send_originals` sends the camera's bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bucket_gets_what_the_full_download_serves() {
    let garage = tokio::task::spawn_blocking(Garage::start).await.unwrap();
    // Canon 5D Mark III: GPS, body serial, owner name, Artist and Copyright.
    let private = testdata().join("photos/canon-5dmk3_K6A7942.JPG");
    let original = std::fs::read(&private).unwrap();
    let original_sha = common::sha256_file(&private);
    let private_tag =
        |t: &String| t.contains("GPS") || t.contains("SerialNumber") || t.contains("OwnerName");
    assert!(
        exif_tags(&original).iter().any(private_tag),
        "the input has private tags"
    );

    for send_originals in [false, true] {
        let prefix: &'static str = if send_originals {
            "originals"
        } else {
            "scrubbed"
        };
        let configure = configure(&garage, garage.endpoint.clone(), prefix);
        let b = start_box(Box::new(move |c: &mut Config| {
            configure(c);
            c.sync.send_originals = send_originals;
        }))
        .await;
        let (creator, _) = b.creator("Ana").await;
        import(&b, creator, std::slice::from_ref(&private)).await;
        wait_synced(&b, 0, 1, Duration::from_secs(60)).await;

        let target = garage.target(prefix);
        let m = target
            .store()
            .get(&target.path(&keys::manifest(&box_id(&b), bundles_done(&b).await)))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let m = manifest::parse_manifest(&m).unwrap();
        let (sha256, original_sha256, size) = m
            .entries
            .iter()
            .find_map(|e| match e {
                Entry::Asset {
                    sha256,
                    original_sha256,
                    size,
                    ..
                } => Some((sha256.clone(), original_sha256.clone(), *size)),
                _ => None,
            })
            .expect("an asset entry");
        assert_eq!(
            original_sha256.as_deref(),
            Some(original_sha.as_str()),
            "provenance"
        );
        let asset = target
            .store()
            .get(&target.path(&keys::asset(&sha256)))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(asset.len() as u64, size);
        if send_originals {
            assert_eq!(sha256, original_sha);
            assert_eq!(asset.as_ref(), original.as_slice(), "byte-exact original");
        } else {
            // What the full download serves, byte for byte.
            let id = b.photo_id(&original_sha).await;
            let full = reqwest::Client::new()
                .get(b.url(&format!("/photos/{id}/full")))
                .bearer_auth(b.admin_token().await)
                .send()
                .await
                .unwrap();
            assert_eq!(full.status(), 200);
            assert_eq!(asset.as_ref(), full.bytes().await.unwrap().as_ref());
            assert_ne!(sha256, original_sha);
            let left: Vec<String> = exif_tags(&asset).into_iter().filter(private_tag).collect();
            assert!(left.is_empty(), "private tags reached the bucket: {left:?}");
            // The image data is the camera's.
            let sos = |d: &[u8]| d.windows(2).rposition(|w| w == [0xFF, 0xDA]).unwrap();
            assert_eq!(&asset[sos(&asset)..], &original[sos(&original)..]);
        }
        let (ok, report) = verify_cli(&garage, &format!("s3://venuebox/{prefix}"));
        assert!(ok, "{report:#}");
        assert_eq!(report["assets_checked"], 1, "{report:#}");
        b.stop().await;
    }
}

/// Disk full mid-sync (issue 18 item 3): the data dir on a tmpfs with nothing free when
/// a cut prepares the files it sends. The box stays up, the dashboard says how many
/// photos wait for space, nothing half-made reaches the bucket, and the first cut after
/// space is freed sends them all; the bucket verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_mid_cut_holds_the_photos_until_space_returns() {
    let garage = tokio::task::spawn_blocking(Garage::start).await.unwrap();
    let fs = common::tmpfs::Tmpfs::mount("32m");
    let data = fs.path.join("data");
    let sync = configure(&garage, garage.endpoint.clone(), "events/full");
    let b = start_box(Box::new({
        let data = data.clone();
        move |c: &mut Config| {
            sync(c);
            c.storage.data_dir = data;
            c.ingest.free_disk_reserve_bytes = 1 << 20;
            // Cuts only when asked, so the test knows when one runs.
            c.sync.cut_every_secs = 3600;
            c.sync.cut_every_photos = 1000;
        }
    }))
    .await;
    let admin = b.admin_token().await;
    let (creator, _) = b.creator("Ana").await;
    let files = vec![
        testdata().join("photos/canon-5dmk3_K6A7944.JPG"),
        testdata().join("photos/canon-5dmk3_K6A7942.JPG"),
    ];
    // The start-up pass (it cuts whatever waits) done before the photos arrive: on a
    // slow machine it came after the first import and sent that photo, so only one
    // waited for space (CI, stop 26).
    let deadline = Instant::now() + Duration::from_secs(60);
    while b.state.sync.status().uplink != "up" {
        assert!(Instant::now() < deadline, "{:?}", b.state.sync.status());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    import(&b, creator, &files).await;
    // Renders done before the disk fills.
    while b.state.previews.pending().await.unwrap() > 0 {
        assert!(Instant::now() < deadline, "{:?}", b.state.sync.status());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let client = reqwest::Client::new();
    let view = || async {
        client
            .get(b.url("/api/admin/sync"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()
    };
    let sync_now = || async {
        let r = client
            .post(b.url("/api/admin/sync/now"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
    };

    let filler = fs.fill("filler", 0);
    sync_now().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v = view().await;
        if v["waiting_for_space"] == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the dashboard never said why: {v}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(outbox(&b).await.1, 2, "both photos wait");
    let health = reqwest::get(b.url("/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    let target = garage.target("events/full");
    assert!(
        !list(&target).await.iter().any(|k| k.starts_with("assets/")),
        "no asset left the box"
    );
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

    std::fs::remove_file(&filler).unwrap();
    sync_now().await;
    wait_synced(&b, 0, 1, Duration::from_secs(60)).await;
    assert_eq!(view().await["waiting_for_space"], 0);
    let bundles = bundles_done(&b).await;
    assert_eq!(
        list(&target).await,
        expected_keys(&box_id(&b), &sha_of(&files), 1, bundles)
    );
    let report = verify(&target).await;
    assert!(report.ok, "the bucket verifies: {report:?}");
    b.stop().await;
}

/// A photo sync may not send (here: its creator turned sync off) is not prepared at
/// every cut, nothing is left in `sync-sent/`, and what a power cut left there (a
/// `.part` file, a file of an asset recorded as uploaded) is gone after the restart.
/// Found by the crash soak (tests/soak.py): every cut prepared the left-out photos
/// again, nothing ever removed them, and they counted as waiting, so every pass cut.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_files_no_queued_asset_needs_are_removed() {
    let b = start_box(Box::new(|c: &mut Config| c.sync.cut_every_secs = 1)).await;
    let (ana, _) = b.creator("Ana").await;
    let (bo, _) = b.creator("Bo").await;
    let r = reqwest::Client::new()
        .put(b.url(&format!("/api/admin/creators/{bo}/sync")))
        .bearer_auth(b.admin_token().await)
        .json(&serde_json::json!({"enabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let files = photos(2);
    import(&b, ana, &files[..1]).await;
    import(&b, bo, &files[1..]).await;
    // Ana's photo is published; Bo's waits, and is not prepared again at every cut
    // (each would write a file into sync-sent/, changing its mtime).
    wait_synced(&b, 1, 1, Duration::from_secs(30)).await;
    // Nothing waits for the uplink (the sync LED's "waiting"): Bo's photo waits for Bo.
    let waiting = b
        .state
        .store
        .read_sql(venuebox::sync::outbox::waiting)
        .await
        .unwrap();
    assert!(
        !waiting,
        "a held-back photo counted as waiting for the uplink"
    );
    let sent = b.data_dir().join("sync-sent");
    let mtime = || std::fs::metadata(&sent).unwrap().modified().unwrap();
    let before = mtime();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        mtime(),
        before,
        "a photo sync may not send was prepared again"
    );
    let left = |dir: &Path| -> Vec<String> {
        std::fs::read_dir(dir).map_or(Vec::new(), |d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
    };
    assert_eq!(
        left(&sent),
        Vec::<String>::new(),
        "prepared files left behind"
    );
    // A power cut's leftovers: a file being written, and the prepared file of an
    // asset already in the target.
    std::fs::create_dir_all(&sent).unwrap();
    std::fs::write(sent.join(".abc.part"), b"half").unwrap();
    std::fs::write(sent.join(&sha_of(&files[..1])[0]), b"uploaded").unwrap();
    let b = b.restart().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !left(&sent).is_empty() {
        assert!(
            Instant::now() < deadline,
            "left after the restart: {:?}",
            left(&sent)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.stop().await;
}
