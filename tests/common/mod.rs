//! The test harness: the whole app, in-process, on ephemeral loopback ports, with a
//! temporary data dir. Tests talk to it over real sockets with a real HTTP client.

#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod checks;
pub mod garage;
pub mod tmpfs;

use std::net::SocketAddr;
use std::path::PathBuf;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use venuebox::auth::SetupCode;
use venuebox::config::{Config, Overrides};
use venuebox::web::AppState;

/// A running box.
pub struct TestBox {
    /// Keeps the data dir alive for the box's lifetime.
    pub dir: tempfile::TempDir,
    /// The plain HTTP address.
    pub http: SocketAddr,
    /// The HTTPS address, when enabled.
    pub https: Option<SocketAddr>,
    /// The FTP address, when enabled.
    pub ftp: Option<SocketAddr>,
    /// The implicit-FTPS address, when `ftp.implicit_listen` is set.
    pub ftps_implicit: Option<SocketAddr>,
    /// The admin setup code made at first start.
    pub admin_code: String,
    /// The state the app serves (store, vault, config).
    pub state: AppState,
    shutdown: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

/// What a test may change before the box starts.
pub struct Options {
    /// Applied to the configuration.
    pub configure: Box<dyn FnOnce(&mut Config)>,
    /// Extra routes merged into the app (e.g. a deliberately slow one).
    pub extra_routes: Option<axum::Router<AppState>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            configure: Box::new(|_| {}),
            extra_routes: None,
        }
    }
}

/// The shared test data (real camera photos, hostile files): `VENUEBOX_TESTDATA`, or
/// `../shared/testdata` beside the repository. Missing data fails the test loudly.
pub fn testdata() -> PathBuf {
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

/// A phone: its own loopback address `127.0.0.<n>` (the box tells clients apart by
/// address) and cookie jar, never following redirects.
pub fn phone(n: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, n)))
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The value of the hidden form field `name` in `page`.
pub fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in page"))
        + marker.len();
    page[start..].split('"').next().unwrap().to_string()
}

/// Starts socat with a connected pseudo-terminal pair linked at `device` (the serial
/// device the box opens) and `peer` (the end the test reads and writes), removing
/// stale links first, and waits until both links exist. Kill the child to unplug.
pub fn socat_pty_pair(device: &std::path::Path, peer: &std::path::Path) -> std::process::Child {
    let _ = std::fs::remove_file(device);
    let _ = std::fs::remove_file(peer);
    let child = std::process::Command::new("socat")
        .arg(format!("pty,raw,echo=0,link={}", device.display()))
        .arg(format!("pty,raw,echo=0,link={}", peer.display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("socat must be installed (tests/run.sh installs it)");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !(device.exists() && peer.exists()) {
        assert!(
            std::time::Instant::now() < deadline,
            "socat made no pty pair"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child
}

/// A free loopback port (for a box started as a separate process).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A box prepared on a fresh data dir but not serving: no render queue, no sweeper,
/// so nothing happens unless the test asks. Keep the returned dir alive.
pub async fn prepared_state() -> (tempfile::TempDir, AppState) {
    prepared_state_with(|_| {}).await
}

/// [`prepared_state`] with the test configuration changed by `configure` first.
pub async fn prepared_state_with(
    configure: impl FnOnce(&mut venuebox::config::Config),
) -> (tempfile::TempDir, AppState) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path().join("data"));
    configure(&mut config);
    let state = tokio::task::spawn_blocking(move || venuebox::app::prepare(config, None))
        .await
        .unwrap()
        .expect("prepare")
        .state;
    (dir, state)
}

/// SHA-256 of a file, lowercase hex.
pub fn sha256_file(path: &std::path::Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

/// A configuration for tests: loopback, port 0, data in `data_dir`.
pub fn test_config(data_dir: PathBuf) -> Config {
    let overrides = Overrides {
        data_dir: Some(data_dir),
        http_listen: Some("127.0.0.1:0".into()),
        ftp_listen: Some("127.0.0.1:0".into()),
    };
    let mut config = Config::load(None, [], &overrides).expect("test config is valid");
    config.https.listen = "127.0.0.1:0".into();
    config.http.shutdown_grace_secs = 5;
    // Parallel test boxes must not announce themselves to each other (tests/mdns.rs
    // tests announcements in a network namespace of its own).
    config.mdns.enabled = false;
    // The shipped 256 MiB reserve makes the LED and doctor warn below 512 MiB / 1 GiB
    // free, which says more about the test machine's disk than about the box; tests of
    // the reserve set their own (tests/disk_full.rs, tests/gpio.rs).
    config.ingest.free_disk_reserve_bytes = 16 << 20;
    config
}

impl TestBox {
    /// Starts a box with the test configuration.
    pub async fn start() -> TestBox {
        Self::start_with(Options::default()).await
    }

    /// Starts a box with changes.
    pub async fn start_with(options: Options) -> TestBox {
        let dir = tempfile::tempdir().unwrap();
        let mut config = test_config(dir.path().join("data"));
        (options.configure)(&mut config);
        Self::launch(dir, config, None, options.extra_routes).await
    }

    /// Stops the box and starts it again on the same data dir and configuration, as a
    /// reboot would (new ports).
    pub async fn restart(self) -> TestBox {
        let config = (*self.state.config).clone();
        let code = self.admin_code.clone();
        let dir = self.stop().await;
        Self::launch(dir, config, Some(code), None).await
    }

    /// [`TestBox::restart`] with a changed configuration.
    pub async fn restart_with(self, change: impl FnOnce(&mut Config)) -> TestBox {
        let mut config = (*self.state.config).clone();
        change(&mut config);
        let code = self.admin_code.clone();
        let dir = self.stop().await;
        Self::launch(dir, config, Some(code), None).await
    }

    /// Starts a box on a data dir made before (by [`venuebox::app::prepare`], whose
    /// setup code was `admin_code`), as a box starts again after a power cut.
    pub async fn start_existing(config: Config, admin_code: String) -> TestBox {
        Self::launch(tempfile::tempdir().unwrap(), config, Some(admin_code), None).await
    }

    async fn launch(
        dir: tempfile::TempDir,
        mut config: Config,
        known_code: Option<String>,
        extra_routes: Option<axum::Router<AppState>>,
    ) -> TestBox {
        config.http.listen = "127.0.0.1:0".into();
        config.https.listen = "127.0.0.1:0".into();
        config.ftp.listen = "127.0.0.1:0".into();
        if config.ftp.implicit_listen.is_some() {
            config.ftp.implicit_listen = Some("127.0.0.1:0".into());
        }
        let prepared = tokio::task::spawn_blocking(move || venuebox::app::prepare(config, None))
            .await
            .unwrap()
            .expect("prepare");
        let admin_code = match (prepared.setup_code, known_code) {
            (SetupCode::New(code), None) => code,
            (SetupCode::Existing, Some(code)) => code,
            (other, known) => panic!("unexpected setup code state {other:?} (known: {known:?})"),
        };
        let state = prepared.state;
        let sockets = venuebox::app::bind(&state).await.expect("bind");
        let http = sockets.web.http.local_addr().unwrap();
        let https = sockets.web.https.as_ref().map(|l| l.local_addr().unwrap());
        let mut router = venuebox::web::app(state.clone());
        if let Some(extra) = extra_routes {
            router = router.merge(extra.with_state(state.clone()));
        }
        let ftp = sockets.ftp.as_ref().map(|l| l.local_addr().unwrap());
        let ftps_implicit = sockets
            .ftps_implicit
            .as_ref()
            .map(|l| l.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(venuebox::app::serve_router(
            router,
            state.clone(),
            sockets,
            shutdown.clone(),
        ));
        TestBox {
            dir,
            http,
            https,
            ftp,
            ftps_implicit,
            admin_code,
            state,
            shutdown,
            task,
        }
    }

    /// Uploads `bytes` in one tus creation-with-upload and returns the stored photo's id.
    pub async fn tus_upload(&self, token: &str, bytes: &[u8]) -> i64 {
        let r = reqwest::Client::new()
            .post(self.url("/files/"))
            .bearer_auth(token)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Length", bytes.len())
            .header("Content-Type", "application/offset+octet-stream")
            .body(bytes.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        self.photo_id(&hex::encode(<sha2::Sha256 as sha2::Digest>::digest(bytes)))
            .await
    }

    /// Creates a tus upload of `length` bytes (POST /files/, no body) for the creator
    /// `token`, checks the 201 and returns its `Location` path (`/files/<id>`).
    pub async fn tus_create(&self, token: &str, length: usize) -> String {
        let r = reqwest::Client::new()
            .post(self.url("/files/"))
            .bearer_auth(token)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Length", length)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        r.headers()["location"].to_str().unwrap().to_string()
    }

    /// The id of the stored photo with this SHA-256 (which must be stored).
    pub async fn photo_id(&self, sha256: &str) -> i64 {
        let sha = sha256.to_string();
        self.state
            .store
            .read_sql(move |c| venuebox::ingest::photo_by_sha(c, &sha))
            .await
            .unwrap()
            .expect("the photo is stored")
            .id
    }

    /// Adds a creator directly in the store and returns (id, upload token).
    pub async fn creator(&self, name: &str) -> (i64, String) {
        let name = name.to_string();
        let made = self
            .state
            .store
            .write(move |tx| venuebox::creators::add(tx, &name, "test"))
            .await
            .unwrap();
        (made.creator.id, made.upload_token)
    }

    /// `http://127.0.0.1:<port><path>`
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.http, path)
    }

    /// The data dir.
    pub fn data_dir(&self) -> PathBuf {
        self.state.config.storage.data_dir.clone()
    }

    /// Logs in through the API and returns the bearer token.
    pub async fn admin_token(&self) -> String {
        let response = reqwest::Client::new()
            .post(self.url("/api/admin/login"))
            .json(&serde_json::json!({ "code": self.admin_code }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().await.unwrap();
        body["token"].as_str().unwrap().to_string()
    }

    /// Logs the browser `c` in on the vendor page with the upload token `token`, as a
    /// person does: GETs `/vendor/login` for its CSRF cookie and hidden `csrf` field,
    /// then POSTs the form with `csrf` and `token`. Returns the POST's response without
    /// asserting its status (303 to `/vendor` on success), so tests of refused logins
    /// use it too.
    pub async fn vendor_login(&self, c: &reqwest::Client, token: &str) -> reqwest::Response {
        let page = c
            .get(self.url("/vendor/login"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        c.post(self.url("/vendor/login"))
            .form(&[("csrf", hidden(&page, "csrf").as_str()), ("token", token)])
            .send()
            .await
            .unwrap()
    }

    /// Asks the box to stop, as SIGTERM does.
    pub fn begin_shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Stops the box and waits for it to finish.
    pub async fn stop(self) -> tempfile::TempDir {
        self.shutdown.cancel();
        self.task.await.unwrap().expect("clean stop");
        self.dir
    }

    /// Waits for a stop begun with [`TestBox::begin_shutdown`].
    pub async fn join(self) -> anyhow::Result<()> {
        self.task.await.unwrap()
    }
}

/// An attendee through the portal on `phone`: consents with `scopes` ticked and returns
/// the pass code the pass page shows (its typeable form).
pub async fn portal_pass(b: &TestBox, phone: &reqwest::Client, scopes: &[&str]) -> String {
    let page = phone
        .get(b.url("/portal"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = hidden(&page, "csrf");
    let mut form = vec![("csrf", csrf.as_str()), ("action", "accept")];
    for s in scopes {
        form.push((s, "yes"));
    }
    let r = phone
        .post(b.url("/portal/consent"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let pass = phone
        .get(b.url("/portal/pass"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let marker = "<code class=\"pass\">";
    let start = pass.find(marker).expect("pass code shown") + marker.len();
    pass[start..].split('<').next().unwrap().to_string()
}

/// The attendee on `attendee` orders `photos` from "my photos", as the page's form
/// does: GETs `/portal/mine` for its hidden `csrf` field, then POSTs `/portal/orders`
/// with `csrf` and one `photo` field per id. Returns the POST's response without
/// asserting its status (303 to the order page when placed). Tests of forged or bad
/// forms post their own.
pub async fn place_order(
    b: &TestBox,
    attendee: &reqwest::Client,
    photos: &[i64],
) -> reqwest::Response {
    let page = attendee
        .get(b.url("/portal/mine"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut form = vec![("csrf", hidden(&page, "csrf"))];
    form.extend(photos.iter().map(|p| ("photo", p.to_string())));
    attendee
        .post(b.url("/portal/orders"))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// The orders the creator with upload token `vendor_token` sees on the vendor API
/// (`GET /api/vendor/orders`, its default filter), checking the 200.
pub async fn vendor_orders(b: &TestBox, vendor_token: &str) -> serde_json::Value {
    vendor_orders_where(b, vendor_token, "").await
}

/// [`vendor_orders`] with a query string appended to the path, e.g. `"?state=pending"`.
pub async fn vendor_orders_where(
    b: &TestBox,
    vendor_token: &str,
    query: &str,
) -> serde_json::Value {
    let r = phone(1)
        .get(b.url(&format!("/api/vendor/orders{query}")))
        .bearer_auth(vendor_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "GET /api/vendor/orders{query}");
    r.json().await.unwrap()
}
