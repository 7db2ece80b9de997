//! A real Garage (S3-compatible object store) for tests: a single-node cluster on free
//! loopback ports in a temporary directory, with one bucket and one key; and a
//! loopback TCP proxy that can cut the "uplink" between the box and it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use venuebox::sync::target::{S3Settings, Target};

/// The `garage` binary: on PATH, or where `cargo install` puts it. Missing fails loudly.
pub fn garage_bin() -> PathBuf {
    let candidates = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain(std::env::var_os("CARGO_HOME").map(|h| PathBuf::from(h).join("bin")))
        .chain(std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin")));
    for dir in candidates {
        let bin = dir.join("garage");
        if bin.is_file() {
            return bin;
        }
    }
    panic!("garage not found on PATH or in ~/.cargo/bin (tests/run.sh installs it: cargo install garage --locked)");
}

/// A running single-node Garage.
pub struct Garage {
    dir: tempfile::TempDir,
    config: PathBuf,
    child: Option<Child>,
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    /// The S3 API address.
    pub s3_addr: SocketAddr,
    /// The bucket made for the test.
    pub bucket: String,
    /// Access key id.
    pub key_id: String,
    /// Secret key.
    pub secret: String,
}

/// Garage's `s3_region`.
pub const REGION: &str = "garage";

impl Garage {
    /// Starts Garage, lays out the single node, makes bucket `venuebox` and a key.
    pub fn start() -> Garage {
        let dir = tempfile::tempdir().unwrap();
        let rpc = super::free_port();
        let s3 = super::free_port();
        let secret: String = (0..32)
            .map(|_| format!("{:02x}", rand::random::<u8>()))
            .collect();
        let config = dir.path().join("garage.toml");
        std::fs::write(
            &config,
            format!(
                "metadata_dir = \"{d}/meta\"\ndata_dir = \"{d}/data\"\ndb_engine = \"sqlite\"\n\
                 replication_factor = 1\nrpc_bind_addr = \"127.0.0.1:{rpc}\"\n\
                 rpc_public_addr = \"127.0.0.1:{rpc}\"\nrpc_secret = \"{secret}\"\n\
                 [s3_api]\ns3_region = \"{REGION}\"\napi_bind_addr = \"127.0.0.1:{s3}\"\n",
                d = dir.path().display()
            ),
        )
        .unwrap();
        let mut garage = Garage {
            config,
            child: None,
            endpoint: format!("http://127.0.0.1:{s3}"),
            s3_addr: format!("127.0.0.1:{s3}").parse().unwrap(),
            bucket: "venuebox".into(),
            key_id: String::new(),
            secret: String::new(),
            dir,
        };
        garage.spawn();
        let id = garage.cli_retry(&["node", "id", "-q"]);
        let id = id.trim().split('@').next().unwrap().to_string();
        garage.cli_retry(&["layout", "assign", "-z", "dc1", "-c", "1G", &id]);
        garage.cli_retry(&["layout", "apply", "--version", "1"]);
        garage.cli_retry(&["bucket", "create", "venuebox"]);
        let key = garage.cli_retry(&["key", "create", "venuebox-test"]);
        let field = |name: &str| {
            key.lines()
                .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
                .unwrap_or_else(|| panic!("no {name} in garage's output:\n{key}"))
        };
        garage.key_id = field("Key ID:");
        garage.secret = field("Secret key:");
        garage.cli_retry(&[
            "bucket",
            "allow",
            "--read",
            "--write",
            "--owner",
            "venuebox",
            "--key",
            "venuebox-test",
        ]);
        garage
    }

    fn spawn(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("server.log")).unwrap();
        let child = Command::new(garage_bin())
            .arg("-c")
            .arg(&self.config)
            .arg("server")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting garage");
        self.child = Some(child);
    }

    /// Runs a `garage` admin command until it succeeds (the node needs a moment to
    /// come up and to apply its layout); returns stdout.
    fn cli_retry(&self, args: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = Command::new(garage_bin())
                .arg("-c")
                .arg(&self.config)
                .args(args)
                .output()
                .unwrap();
            if out.status.success() {
                return String::from_utf8_lossy(&out.stdout).into_owned();
            }
            if Instant::now() > deadline {
                panic!(
                    "garage {args:?} failed: {}\nserver log:\n{}",
                    String::from_utf8_lossy(&out.stderr),
                    std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Kills the server (as a crash or power cut would).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The bucket as the box's sync target sees it.
    pub fn target(&self, prefix: &str) -> Target {
        Target::s3(self.settings(&self.endpoint), prefix).unwrap()
    }

    /// Connection settings for `endpoint` (Garage itself or a proxy in front of it).
    pub fn settings(&self, endpoint: &str) -> S3Settings {
        S3Settings {
            endpoint: Some(endpoint.to_string()),
            region: REGION.into(),
            bucket: self.bucket.clone(),
            access_key_id: Some(self.key_id.clone()),
            secret_access_key: Some(self.secret.clone()),
        }
    }

    /// Points a box's `[sync]` section at this Garage (through `endpoint`).
    pub fn configure(&self, sync: &mut venuebox::config::SyncConfig, endpoint: &str, prefix: &str) {
        sync.target = venuebox::config::SyncTargetKind::S3;
        sync.endpoint = Some(endpoint.to_string());
        sync.region = REGION.into();
        sync.bucket = self.bucket.clone();
        sync.prefix = prefix.into();
        sync.access_key_id = Some(self.key_id.clone());
        sync.secret_access_key = Some(self.secret.clone());
    }

    /// Environment for `venuebox bundle verify s3://…` and for a box run as a process.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ENDPOINT_URL".into(), self.endpoint.clone()),
            ("AWS_REGION".into(), REGION.into()),
            ("AWS_ACCESS_KEY_ID".into(), self.key_id.clone()),
            ("AWS_SECRET_ACCESS_KEY".into(), self.secret.clone()),
        ]
    }

    /// The data directory (for log inspection).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Every key under `prefix` in the target, sorted.
pub async fn list(target: &Target) -> Vec<String> {
    use futures_util::TryStreamExt;
    let mut keys: Vec<String> = target
        .store()
        .list(target.prefix_path().as_ref())
        .map_ok(|m| target.key_of(&m.location).unwrap())
        .try_collect()
        .await
        .unwrap();
    keys.sort();
    keys
}

/// A loopback TCP proxy standing in for the uplink: while down, it cuts every open
/// connection and refuses new ones.
pub struct Uplink {
    /// Where clients connect.
    pub addr: SocketAddr,
    up: Arc<AtomicBool>,
    generation: Arc<std::sync::Mutex<CancellationToken>>,
    /// Bytes forwarded from clients to the server.
    pub bytes_up: Arc<AtomicU64>,
    stop: CancellationToken,
}

impl Uplink {
    /// Starts a proxy to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Uplink {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let generation = Arc::new(std::sync::Mutex::new(CancellationToken::new()));
        let bytes_up = Arc::new(AtomicU64::new(0));
        let stop = CancellationToken::new();
        let (u, g, b, s) = (
            up.clone(),
            generation.clone(),
            bytes_up.clone(),
            stop.clone(),
        );
        tokio::spawn(async move {
            loop {
                let (mut client, _) = tokio::select! {
                    _ = s.cancelled() => return,
                    r = listener.accept() => r.unwrap(),
                };
                if !u.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let cut = g.lock().unwrap().clone();
                let b = b.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    let (mut cr, mut cw) = client.split();
                    let (mut sr, mut sw) = server.split();
                    let counted = async {
                        let mut buf = vec![0u8; 64 * 1024];
                        loop {
                            use tokio::io::{AsyncReadExt, AsyncWriteExt};
                            let n = cr.read(&mut buf).await?;
                            if n == 0 {
                                return sw.shutdown().await;
                            }
                            b.fetch_add(n as u64, Ordering::Relaxed);
                            sw.write_all(&buf[..n]).await?;
                        }
                    };
                    tokio::select! {
                        _ = cut.cancelled() => {}
                        _ = async { tokio::join!(counted, tokio::io::copy(&mut sr, &mut cw)) } => {}
                    }
                });
            }
        });
        Uplink {
            addr,
            up,
            generation,
            bytes_up,
            stop,
        }
    }

    /// `http://<addr>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Cuts the uplink (open connections are dropped at once) or restores it.
    pub fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
        if !up {
            let mut g = self.generation.lock().unwrap();
            g.cancel();
            *g = CancellationToken::new();
        }
    }
}

impl Drop for Uplink {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
