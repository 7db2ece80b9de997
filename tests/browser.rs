//! The box in a real browser: Debian's headless Chromium driven by playwright-core.
//!
//! - The captive portal (tests/browser/portal.mjs) from an OS probe URL to the portal,
//!   consent, the pass, my data and a withdrawal, and a decline without JavaScript.
//!   Screenshots are kept in target/test-artifacts/portal/ (look at them).
//! - A photographer's own page on another origin uploading with tus-js-client
//!   (tests/browser/tus_cors.mjs): Chromium's CORS enforcement lets the page listed in
//!   `tus.cors_allowed_origins` upload and stops an unlisted one.
//!
//! - Delivery (tests/browser/delivery.mjs) at 390x844 and 1280x800: consent, the
//!   gallery, my photos, an order, the vendor's confirmation on the vendor page, the
//!   progressive reveal and the download of one photo, then of the order's ZIP, through
//!   the link. Screenshots
//!   in target/test-artifacts/delivery/.
//!
//! - The creator's uploader page (tests/browser/uploader.mjs): two photos sent through
//!   a loopback proxy the test cuts twice mid-upload, a third interrupted by a reload;
//!   all stored byte-exact. Screenshots in target/test-artifacts/uploader/.
//!
//! - The organiser dashboard (tests/browser/dashboard.mjs): admin login, the dashboard,
//!   the photo count changing live (SSE) after a camera upload over FTP, no request off
//!   the box, no sideways scrolling on a phone. Screenshots in
//!   target/test-artifacts/dashboard/.
//!
//! Afterwards the database must hold exactly what the browser did.
//!
//! Needs node, npm's playwright-core (tests/run.sh runs `npm ci` in tests/browser),
//! tus-js-client (`npm ci` in tests/tus-client) and chromium; without them it fails,
//! saying so.

mod common;

use std::path::Path;
use std::process::Command;

use common::{sha256_file, Options, TestBox};
use venuebox::consent::{self, Scope};

/// Runs `node script args…` in tests/browser (blocking work, off the runtime), checks
/// that it exited successfully (showing its stdout and stderr if not) and returns the
/// JSON object its last line of stdout reports. The caller checks what it reports,
/// `ok` included.
async fn journey(script: &str, args: &[&str]) -> serde_json::Value {
    let script_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        script_dir.join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed: run `npm ci` in tests/browser (tests/run.sh does)"
    );
    let script = script.to_string();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let out = tokio::task::spawn_blocking({
        let script = script.clone();
        move || {
            Command::new("node")
                .arg(&script)
                .args(&args)
                .current_dir(&script_dir)
                .output()
                .expect("node must be installed (tests/run.sh)")
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "node {script} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout
        .trim()
        .lines()
        .last()
        .unwrap_or_else(|| panic!("node {script} printed nothing on stdout"));
    serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("node {script}'s last line is not JSON ({e}): {last}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn portal_journey_in_headless_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let b = TestBox::start().await;
    let shots = root.join("target/test-artifacts/portal");
    let _ = std::fs::remove_dir_all(&shots);
    let seen = journey(
        "portal.mjs",
        &[&b.http.port().to_string(), shots.to_str().unwrap()],
    )
    .await;
    assert_eq!(seen["ok"], true);
    assert_eq!(seen["probeAfter"], 204);
    for shot in [
        "1-welcome-de",
        "2-welcome-en",
        "3-pass",
        "4-my-data",
        "5-withdrawn",
        "6-declined-no-js",
    ] {
        let png = shots.join(format!("{shot}.png"));
        let len = std::fs::metadata(&png).map(|m| m.len()).unwrap_or(0);
        assert!(len > 5_000, "screenshot {} missing or blank", png.display());
    }

    // The pass the browser showed is a valid pass; its consent is what was clicked.
    let pass = seen["pass"].as_str().unwrap().to_string();
    let pass = consent::verify_pass_code(b.state.portal.secret(), &pass).expect("valid pass");
    let id = b
        .state
        .store
        .read_sql(move |c| consent::attendee_by_pass(c, &pass))
        .await
        .unwrap()
        .expect("the pass's attendee")
        .id;
    let state = b
        .state
        .store
        .read_sql(move |c| consent::current(c, &id))
        .await
        .unwrap();
    assert!(!state[&Scope::Gallery].granted, "gallery withdrawn");
    assert!(state[&Scope::Receive].granted, "receive granted");
    assert!(!state.contains_key(&Scope::Sync) && !state.contains_key(&Scope::Marketing));
    let rows: (i64, i64) = b
        .state
        .store
        .read_sql(|c| {
            c.query_row(
                "SELECT (SELECT count(*) FROM consent_events), (SELECT count(*) FROM attendees)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
        })
        .await
        .unwrap();
    assert_eq!(
        rows,
        (3, 2),
        "grant, grant, withdrawal; two passes (one declined)"
    );
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn delivery_journey_in_headless_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let b = TestBox::start().await;
    let admin = b.admin_token().await;
    let (_, vendor) = b.creator("Studio Nord").await;
    let mut photos = Vec::new();
    for name in ["kodak-dc280_DCP_4394.JPG", "polaroid-pdc640m_POL_0132.JPG"] {
        let bytes = std::fs::read(common::testdata().join("photos").join(name)).unwrap();
        photos.push(b.tus_upload(&vendor, &bytes).await);
    }
    let photo = photos[0];
    let photo_list = photos
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let shots = root.join("target/test-artifacts/delivery");
    let _ = std::fs::remove_dir_all(&shots);
    let seen = journey(
        "delivery.mjs",
        &[
            &b.http.port().to_string(),
            shots.to_str().unwrap(),
            &admin,
            &vendor,
            &photo_list,
        ],
    )
    .await;
    assert_eq!(seen["ok"], true);
    for shot in [
        "1-gallery",
        "2-mine",
        "3-ordered",
        "4-revealed",
        "5-link",
        "6-vendor",
    ] {
        for width in [390, 1280] {
            let png = shots.join(format!("{shot}-{width}.png"));
            let len = std::fs::metadata(&png).map(|m| m.len()).unwrap_or(0);
            assert!(len > 5_000, "screenshot {} missing or blank", png.display());
        }
    }
    // The file the browser saved is the full photo as the box serves it.
    let saved = shots.join(seen["filename"].as_str().unwrap());
    let full = reqwest::Client::new()
        .get(b.url(&format!("/photos/{photo}/full")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(std::fs::read(&saved).unwrap(), full.to_vec());
    // The ZIP the browser saved passes `unzip -t` and holds both full photos.
    let zip = shots.join(seen["zipname"].as_str().unwrap());
    let test = Command::new("unzip")
        .args(["-t", "-qq"])
        .arg(&zip)
        .output()
        .expect("unzip is installed (tests/run.sh)");
    assert!(test.status.success(), "unzip -t: {test:?}");
    let listed = Command::new("unzip").arg("-Z1").arg(&zip).output().unwrap();
    let names: Vec<String> = String::from_utf8(listed.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(names.len(), photos.len(), "{names:?}");
    for (name, id) in names.iter().zip(&photos) {
        assert!(name.ends_with(&format!("-{id}.jpg")), "{name}");
        let full = reqwest::Client::new()
            .get(b.url(&format!("/photos/{id}/full")))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let entry = Command::new("unzip")
            .arg("-p")
            .arg(&zip)
            .arg(name)
            .output()
            .unwrap();
        assert!(
            entry.stdout == full.to_vec(),
            "{name} is not photo {id}'s full download"
        );
    }
    // One order, paid; two downloads (the photo, the ZIP), recorded.
    let rows: (String, i64) = b
        .state
        .store
        .read_sql(|c| {
            c.query_row(
                "SELECT (SELECT group_concat(state) FROM delivery_orders),
                        (SELECT count(*) FROM delivery_downloads WHERE outcome = 'ok')",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
        })
        .await
        .unwrap();
    assert_eq!(rows, ("paid".to_string(), 2));
    b.stop().await;
}

/// The photographer's page: loads tus-js-client's browser bundle from its own origin
/// and nothing else (tus_cors.mjs drives the upload in it).
const UPLOADER_PAGE: &str = "<!doctype html><meta charset=utf-8><title>Ana's photos</title>\
<script src=/tus.js></script><p>Upload to the box</p>";

/// Serves the photographer's page, tus-js-client's browser bundle and a photo on
/// `listener`: a web origin of its own, apart from the box's.
fn serve_uploader_page(listener: tokio::net::TcpListener, tus_js: Vec<u8>, photo: Vec<u8>) {
    use axum::body::Bytes;
    use axum::http::header::CONTENT_TYPE;
    use axum::response::Html;
    use axum::routing::get;
    let (tus_js, photo) = (Bytes::from(tus_js), Bytes::from(photo));
    let page = axum::Router::new()
        .route("/", get(|| async { Html(UPLOADER_PAGE) }))
        .route(
            "/tus.js",
            get(move || async move { ([(CONTENT_TYPE, "text/javascript")], tus_js) }),
        )
        .route(
            "/photo.jpg",
            get(move || async move { ([(CONTENT_TYPE, "image/jpeg")], photo) }),
        );
    tokio::spawn(async move { axum::serve(listener, page).await });
}

/// tus-js-client on a page served from another origin (another loopback port) uploads
/// a photo to the box through Chromium's CORS checks when the box lists that origin
/// (creation, PATCH, a stop, HEAD, the remaining PATCHes), and is stopped by the
/// browser at its first request when it does not: nothing reaches the store.
#[tokio::test(flavor = "multi_thread")]
async fn tus_js_client_on_another_origin_uploads_only_when_listed() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bundle = root.join("tests/tus-client/node_modules/tus-js-client/dist/tus.js");
    let tus_js = std::fs::read(&bundle).unwrap_or_else(|e| {
        panic!(
            "tus-js-client's browser bundle {}: {e}; run `npm ci` in tests/tus-client (tests/run.sh does)",
            bundle.display()
        )
    });
    let fixture = root.join("tests/fixtures/gradient.jpg");
    let photo = std::fs::read(&fixture).unwrap();

    // Two pages, each its own origin: one listed in the box's config, one not.
    let listed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let unlisted = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let listed_page = format!("http://{}", listed.local_addr().unwrap());
    let unlisted_page = format!("http://{}", unlisted.local_addr().unwrap());
    serve_uploader_page(listed, tus_js.clone(), photo.clone());
    serve_uploader_page(unlisted, tus_js, photo);
    let origin = listed_page.clone();
    let b = TestBox::start_with(Options {
        configure: Box::new(move |c| c.tus.cors_allowed_origins = vec![origin]),
        ..Default::default()
    })
    .await;
    let (creator, token) = b.creator("Ana").await;

    let seen = journey(
        "tus_cors.mjs",
        &[
            &format!("{listed_page}/"),
            &format!("{unlisted_page}/"),
            &b.url("/files/"),
            &token,
        ],
    )
    .await;
    assert_eq!(seen["listed"]["ok"], true, "{seen}");
    assert_eq!(seen["unlisted"]["ok"], false, "{seen}");

    // The listed page's photo is stored, whole, once; the unlisted page's POST never
    // came (the preflight stopped it), so there is one upload row, not two.
    let sha = sha256_file(&fixture);
    let photos = b
        .state
        .store
        .read_sql(move |c| venuebox::ingest::photos_of(c, creator))
        .await
        .unwrap();
    assert_eq!(photos.len(), 1);
    assert_eq!(photos[0].sha256, sha);
    assert_eq!(photos[0].original_name, "from-a-page.jpg");
    let uploads: i64 = b
        .state
        .store
        .read_sql(|c| c.query_row("SELECT count(*) FROM uploads", [], |r| r.get(0)))
        .await
        .unwrap();
    assert_eq!(uploads, 1);
    b.stop().await;
}

/// A loopback TCP proxy the test controls: every connection is forwarded to `target`,
/// browser to box at about `rate` bytes per second (so an upload takes seconds and can
/// be cut in the middle); [`Proxy::cut`] drops every open connection and refuses new
/// ones (accepts and closes them at once) until [`Proxy::restore`].
struct Proxy {
    addr: std::net::SocketAddr,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Bytes forwarded from the browser to the box.
    forwarded: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Cancelled to drop the connections open now; replaced by a fresh one.
    drop_all: std::sync::Arc<std::sync::Mutex<tokio_util::sync::CancellationToken>>,
}

impl Proxy {
    async fn start(target: std::net::SocketAddr, rate: u64) -> Proxy {
        use std::sync::atomic::Ordering;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = Proxy {
            addr: listener.local_addr().unwrap(),
            up: std::sync::Arc::new(true.into()),
            forwarded: std::sync::Arc::new(0.into()),
            drop_all: Default::default(),
        };
        let (up, forwarded, drop_all) = (
            proxy.up.clone(),
            proxy.forwarded.clone(),
            proxy.drop_all.clone(),
        );
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                if !up.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let cancel = drop_all.lock().unwrap().clone();
                let forwarded = forwarded.clone();
                tokio::spawn(async move {
                    let Ok(server) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    let upstream = async {
                        let mut buf = vec![0u8; 16 * 1024];
                        loop {
                            let n = cr.read(&mut buf).await?;
                            if n == 0 {
                                return sw.shutdown().await;
                            }
                            sw.write_all(&buf[..n]).await?;
                            forwarded.fetch_add(n as u64, Ordering::SeqCst);
                            tokio::time::sleep(std::time::Duration::from_micros(
                                n as u64 * 1_000_000 / rate,
                            ))
                            .await;
                        }
                    };
                    let downstream = tokio::io::copy(&mut sr, &mut cw);
                    // Dropping both halves of both sockets closes them: the browser
                    // and the box each see the connection end mid-request.
                    tokio::select! {
                        _ = cancel.cancelled() => {}
                        _ = async { tokio::join!(upstream, downstream) } => {}
                    }
                });
            }
        });
        proxy
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn cut(&self) {
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
        let mut current = self.drop_all.lock().unwrap();
        current.cancel();
        *current = tokio_util::sync::CancellationToken::new();
    }

    fn restore(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    fn forwarded(&self) -> u64 {
        self.forwarded.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// The creator's uploader page (issue 16, item 4) in headless Chromium, talking to the
/// box through a loopback proxy the test cuts twice while two photos are on their way
/// (every connection dropped, new ones refused for two seconds, then restored): both
/// complete and the stored originals are byte-exact; a third photo interrupted by a
/// page reload continues from the box's offset. Every script comes from the box.
/// Screenshots in target/test-artifacts/uploader/.
#[tokio::test(flavor = "multi_thread")]
async fn uploader_page_survives_a_cut_connection_and_a_reload_in_headless_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let b = TestBox::start().await;
    let (creator, token) = b.creator("Studio Nord").await;
    let photos = common::testdata().join("photos");
    let files = [
        photos.join("canon-eos-rp_MG_0631.JPG"),
        photos.join("nikon-d90_DSC_0003.JPG"),
        photos.join("canon-5dmk3_K6A7942.JPG"),
    ];
    let cut_bytes: u64 = files[..2]
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum();
    let proxy = std::sync::Arc::new(Proxy::start(b.http, 1024 * 1024).await);

    // Two cuts while the first two photos are on their way (at a third and at two
    // thirds of their bytes, past the page and its scripts): each records how many
    // uploads were unfinished at that moment.
    let cutter = tokio::spawn({
        let (proxy, state) = (proxy.clone(), b.state.clone());
        async move {
            let mut unfinished_at_cuts = Vec::new();
            for at in [cut_bytes / 3, cut_bytes * 2 / 3] {
                while proxy.forwarded() < at {
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
                proxy.cut();
                let open: i64 = state
                    .store
                    .read_sql(|c| {
                        c.query_row(
                            "SELECT count(*) FROM uploads WHERE photo_id IS NULL AND offset < length",
                            [],
                            |r| r.get(0),
                        )
                    })
                    .await
                    .unwrap();
                unfinished_at_cuts.push(open);
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                proxy.restore();
            }
            unfinished_at_cuts
        }
    });

    let shots = root.join("target/test-artifacts/uploader");
    let _ = std::fs::remove_dir_all(&shots);
    let mut args = vec![
        proxy.url(),
        shots.to_str().unwrap().to_string(),
        token.clone(),
    ];
    args.extend(files.iter().map(|f| f.to_str().unwrap().to_string()));
    let seen = journey(
        "uploader.mjs",
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(seen["ok"], true, "{seen}");
    let unfinished_at_cuts = cutter.await.unwrap();
    assert!(
        unfinished_at_cuts.iter().all(|&n| n >= 1),
        "each cut came while an upload was under way: {unfinished_at_cuts:?}"
    );
    // The reload came after the box had the third photo's first MiB, and the page
    // continued from there instead of sending it again.
    let accepted = seen["acceptedBeforeReload"].as_u64().unwrap();
    assert!(accepted >= 1024 * 1024, "{seen}");
    let resumed: u64 = seen["reload"][0]["resumedFrom"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    assert!(resumed >= accepted, "{seen}");
    assert_eq!(seen["german"], "Fotos hochladen · Studio Nord", "{seen}");
    let scripts: Vec<&str> = seen["scripts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(
        scripts,
        [
            venuebox::web::uploader::tus_js_path(),
            venuebox::web::uploader::page_js_path()
        ],
        "the page's scripts are the box's own"
    );
    for shot in [
        "1-empty",
        "2-connection-lost",
        "3-done",
        "4-reloaded",
        "5-german",
    ] {
        for width in [390, 1280] {
            let png = shots.join(format!("{shot}-{width}.png"));
            let len = std::fs::metadata(&png).map(|m| m.len()).unwrap_or(0);
            assert!(len > 5_000, "screenshot {} missing or blank", png.display());
        }
    }

    // Every photo is stored once, as the creator's, and the stored original is the
    // file the browser read, byte for byte.
    let stored = b
        .state
        .store
        .read_sql(move |c| venuebox::ingest::photos_of(c, creator))
        .await
        .unwrap();
    assert_eq!(stored.len(), files.len(), "{stored:?}");
    for file in &files {
        let want = sha256_file(file);
        let photo = stored
            .iter()
            .find(|p| p.sha256 == want)
            .unwrap_or_else(|| panic!("{} is stored", file.display()));
        let on_disk = b.state.ingest.photo_path(&photo.sha256);
        assert_eq!(sha256_file(&on_disk), want, "{}", file.display());
        assert_eq!(
            photo.original_name,
            file.file_name().unwrap().to_str().unwrap()
        );
    }
    // One upload per photo: the retries and the reload continued their uploads.
    let uploads: (i64, i64) = b
        .state
        .store
        .read_sql(|c| {
            c.query_row("SELECT count(*), count(photo_id) FROM uploads", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
        })
        .await
        .unwrap();
    assert_eq!(uploads, (3, 3));
    b.stop().await;
}

/// The organiser dashboard (tests/browser/dashboard.mjs): log in, open the dashboard,
/// watch the photo count change live (SSE) after a camera upload over FTP; screenshots
/// at 1280x800 and 390x844 in target/test-artifacts/dashboard/.
#[tokio::test(flavor = "multi_thread")]
async fn dashboard_goes_live_in_headless_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let b = TestBox::start_with(Options {
        configure: Box::new(|c| {
            c.event.name = "Night <Market>".into();
            // The test machine's disk may be nearly full: not this test's alert.
            c.dashboard.disk_free_alert_percent = 1;
        }),
        ..Options::default()
    })
    .await;
    let name = "Studio Nord";
    b.creator(name).await;
    let creds = b
        .state
        .store
        .write(move |tx| venuebox::creators::set_ftp_credentials(tx, name, "test"))
        .await
        .unwrap();
    let photo = common::testdata().join("photos/canon-5dmk3_K6A7945.JPG");
    let shots = root.join("target/test-artifacts/dashboard");
    let _ = std::fs::remove_dir_all(&shots);
    let ftp = b.ftp.unwrap();
    let args = [
        format!("http://{}", b.http),
        shots.display().to_string(),
        b.admin_code.clone(),
        ftp.ip().to_string(),
        ftp.port().to_string(),
        creds.user.clone(),
        creds.password.clone(),
        photo.display().to_string(),
    ];
    let seen = journey(
        "dashboard.mjs",
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(seen["ok"], true, "{seen}");
    assert_eq!(seen["before"], "0");
    assert_eq!(seen["after"], "1");
    assert!(seen["changedAfterMs"].as_u64().unwrap() < 3000, "{seen}");
    assert_eq!(seen["current"], "Today (UTC)");
    for shot in ["dashboard-1280", "dashboard-390", "dashboard-390-full"] {
        let png = shots.join(format!("{shot}.png"));
        let len = std::fs::metadata(&png).map(|m| m.len()).unwrap_or(0);
        assert!(len > 5_000, "screenshot {} missing or blank", png.display());
    }
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn vendor_and_admin_pages_in_headless_chromium() {
    use venuebox::ingest::{Incoming, Source};
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let b = TestBox::start().await;
    let (creator, token) = b.creator("Studio Nord").await;
    b.creator("<script>alert(1)</script>").await;
    // Photos as a camera sends them: two good ones, one damaged, one RAW.
    let mut cr2 = b"II*\0\x10\0\0\0CR\x02\0".to_vec();
    cr2.resize(4096, 0);
    let photos = [
        (
            "DCP_4394.JPG",
            std::fs::read(common::testdata().join("photos/kodak-dc280_DCP_4394.JPG")).unwrap(),
        ),
        (
            "POL_0132.JPG",
            std::fs::read(common::testdata().join("photos/polaroid-pdc640m_POL_0132.JPG")).unwrap(),
        ),
        (
            "IMG_0007.JPG",
            std::fs::read(common::testdata().join("bad/gen_sof_zero_width.jpg")).unwrap(),
        ),
        ("IMG_0008.CR2", cr2),
    ];
    let mut ids = Vec::new();
    for (name, bytes) in photos {
        let incoming = Incoming {
            creator_id: creator,
            original_name: name.into(),
            source: Source::Ftp,
        };
        let received = b
            .state
            .ingest
            .receive(incoming, std::io::Cursor::new(bytes))
            .await
            .unwrap();
        ids.push(received.photo().clone());
    }
    for photo in &ids {
        b.state.previews.ensure(photo).await.unwrap();
    }
    let shots = root.join("target/test-artifacts/pages");
    let _ = std::fs::remove_dir_all(&shots);
    let url = b.url("");
    let url = url.trim_end_matches('/').to_string();
    let code = b.admin_code.clone();
    let seen = journey("pages.mjs", &[&url, shots.to_str().unwrap(), &token, &code]).await;
    assert_eq!(seen["ok"], true);
    assert_eq!(
        seen["photoRows"],
        serde_json::json!(["raw", "failed", "done", "done"]),
        "{seen}"
    );
    assert_eq!(seen["thumbsLoaded"], true);
    assert_eq!(seen["ftpUser"], "studionord");
    assert_eq!(
        seen["creatorNames"],
        serde_json::json!(["<script>alert(1)</script>", "Studio Nord"]),
        "the name is text on the page, not a script"
    );
    for shot in [
        "1-vendor",
        "2-vendor-photos",
        "3-vendor-cameras",
        "4-vendor-qr",
        "5-admin-creators",
        "6-admin-prices",
        "7-admin-audit",
        "8-admin-event",
    ] {
        for width in [390, 1280] {
            let png = shots.join(format!("{shot}-{width}.png"));
            let len = std::fs::metadata(&png).map(|m| m.len()).unwrap_or(0);
            assert!(len > 5_000, "screenshot {} missing or blank", png.display());
        }
    }
    b.stop().await;
}
