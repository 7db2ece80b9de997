//! Configuration: one typed [`Config`] built in layers — built-in development defaults,
//! then the TOML file, then `VENUEBOX_SECTION__KEY` environment overrides, then the
//! command line — and validated as a whole before anything starts.
//!
//! This module owns parsing and validation only. It never touches the data dir or
//! binds a socket: whether a directory is writable or a port is free is found out by
//! the code that uses them, and reported there.
//!
//! Validation collects every problem it can find, each named by its key path
//! (`http.listen`), so a vendor fixing a config file sees the whole list at once.

use std::collections::BTreeSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Prefix of every environment variable venuebox reads.
pub const ENV_PREFIX: &str = "VENUEBOX_";

/// Environment variables with the prefix that are not config overrides; they are read
/// elsewhere and so must not be reported as unknown keys.
const ENV_NOT_CONFIG: &[&str] = &["VENUEBOX_ADMIN_TOKEN", "VENUEBOX_TESTDATA", "VENUEBOX_LOG"];

/// The whole configuration of one box.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Config {
    /// Identity of this box on the network.
    #[serde(rename = "box")]
    pub device: DeviceConfig,
    /// Where everything the box keeps is stored.
    pub storage: StorageConfig,
    /// The plain-HTTP listener (portal, dashboard, APIs).
    pub http: HttpConfig,
    /// The optional HTTPS listener serving the same app.
    pub https: HttpsConfig,
    /// Camera ingest over FTP.
    pub ftp: FtpConfig,
    /// What uploads may do to the disk, whatever their protocol.
    pub ingest: IngestConfig,
    /// Resumable uploads from phones and laptops (tus).
    pub tus: TusConfig,
    /// Announcing the box on the LAN with mDNS/DNS-SD.
    pub mdns: MdnsConfig,
    /// The event this box is serving.
    pub event: EventConfig,
    /// Admin access.
    pub admin: AdminConfig,
    /// The captive portal attendees' phones land on, consent and attendance.
    pub portal: PortalConfig,
    /// The pass scanner at the door.
    pub door: DoorConfig,
    /// Logging.
    pub log: LogConfig,
    /// The render queue.
    pub previews: PreviewsConfig,
    /// The watermark on previews of unpaid photos.
    pub watermark: WatermarkConfig,
    /// Signed bundles to object storage (see `sync`).
    pub sync: SyncConfig,
}

/// Default of `previews.max_pixels`: images declaring more pixels (about 100 MP) are
/// refused before anything is allocated (the renderer's decompression-bomb guard).
pub const DEFAULT_MAX_PIXELS: u64 = 100_000_000;

/// The render queue (thumbs, previews).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct PreviewsConfig {
    /// Photos decoded at once; 0 means one per core. Each decode of a 45 MP JPEG for a
    /// 1280 preview takes about 45 MB (a PNG at full size, up to `max_pixels` × 4):
    /// on a 1 GB Pi, 2 keeps the peak bounded.
    pub max_decodes: usize,
    /// Images declaring more pixels are refused before anything is allocated.
    pub max_pixels: u64,
    /// Backpressure: while more photos than this wait for their previews, new tus
    /// uploads are asked to come back later (503 with Retry-After; tus clients retry).
    /// Uploads already started and FTP (cameras cannot retry well) are never refused.
    /// 0: never.
    pub backpressure_queue: u64,
    /// Nice value of the render threads (0–19): renders give way to ingest, so a
    /// burst of previews never slows a camera's upload. 0: the same priority.
    pub render_nice: i32,
    /// Run the render threads under Linux's SCHED_IDLE policy: only on CPU time no
    /// other thread wants, and an upload's thread that wakes takes the CPU from them at
    /// once. Renders still use every idle core. false: `render_nice` alone.
    pub render_idle: bool,
}

impl Default for PreviewsConfig {
    fn default() -> Self {
        PreviewsConfig {
            max_decodes: 0,
            max_pixels: DEFAULT_MAX_PIXELS,
            backpressure_queue: 200,
            render_nice: 10,
            render_idle: true,
        }
    }
}

/// The watermark drawn on the watermarked preview.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct WatermarkConfig {
    /// Tiled over the picture; empty for none.
    pub text: String,
    /// Strength of the tiled text, 0–1.
    pub opacity: f32,
    /// Name the event in the bottom band.
    pub show_event: bool,
    /// Name the creator in the bottom band.
    pub show_creator: bool,
}

impl Default for WatermarkConfig {
    fn default() -> Self {
        WatermarkConfig {
            text: "PREVIEW".into(),
            opacity: 0.35,
            show_event: true,
            show_creator: true,
        }
    }
}

/// Identity of this box on the network.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct DeviceConfig {
    /// Instance name: `<name>.local` in the TLS certificate and the mDNS host name.
    /// Letters, digits and hyphens only, so it is a valid DNS label.
    pub name: String,
}

/// Where the box keeps its data.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct StorageConfig {
    /// The data dir: database, keys, photos. Created (mode 0700) if missing.
    pub data_dir: PathBuf,
    /// Reader connections kept open beside the single writer.
    pub readers: usize,
    /// How long a writer waits for a lock held by another process (e.g. the CLI).
    pub busy_timeout_ms: u64,
}

/// The plain-HTTP listener.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct HttpConfig {
    /// Address to listen on, e.g. `0.0.0.0:80`.
    pub listen: String,
    /// Longest time a request may take before it is answered 408.
    pub request_timeout_secs: u64,
    /// Largest request body accepted by ordinary routes (uploads have their own limits).
    pub body_limit_bytes: usize,
    /// Requests handled at once; more are answered 503 at once rather than queued.
    pub max_in_flight: usize,
    /// On SIGTERM, how long in-flight requests get to finish. Keep it below systemd's
    /// `TimeoutStopSec`.
    pub shutdown_grace_secs: u64,
}

/// The optional HTTPS listener.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct HttpsConfig {
    /// Serve HTTPS at all.
    pub enabled: bool,
    /// Address to listen on, e.g. `0.0.0.0:443`.
    pub listen: String,
    /// PEM certificate chain to serve instead of the box's self-signed one (e.g. for an
    /// organiser's real domain). Must be given together with `key_file`.
    pub cert_file: Option<PathBuf>,
    /// PEM private key for `cert_file`.
    pub key_file: Option<PathBuf>,
}

/// Camera ingest over FTP (served by the ingest subsystem).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct FtpConfig {
    /// Serve FTP at all.
    pub enabled: bool,
    /// Address the FTP control channel listens on, e.g. `0.0.0.0:21`.
    pub listen: String,
    /// First and last port of the passive-mode data connections, e.g. `[49152, 49407]`.
    /// Open the same range in the firewall of the camera LAN.
    pub passive_ports: (u16, u16),
    /// Where implicit FTPS (TLS from the first byte, as Canon bodies use) listens, e.g.
    /// `0.0.0.0:990`; unset: not served.
    pub implicit_listen: Option<String>,
}

/// Limits every upload obeys, whatever its protocol.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct IngestConfig {
    /// Free bytes always left on the data dir's filesystem: an upload that would eat
    /// into them is refused (HTTP 507, FTP 552), so the database and the system keep
    /// room to work.
    pub free_disk_reserve_bytes: u64,
    /// Bytes each creator may store; 0 means no limit.
    pub creator_quota_bytes: u64,
    /// Largest single file accepted.
    pub max_file_bytes: u64,
}

/// Resumable uploads (tus 1.0.0 at `/files/`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct TusConfig {
    /// An unfinished upload untouched for this long expires and its bytes are removed.
    pub expire_after_secs: u64,
}

/// mDNS/DNS-SD announcements.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct MdnsConfig {
    /// Advertise `_http._tcp` (portal, dashboard) and `_ftp._tcp` (camera ingest).
    pub enabled: bool,
    /// Instance name shown in browsers and cameras; defaults to `box.name`. Make it
    /// unique per box at a venue.
    pub instance: Option<String>,
}

/// The event the box serves. Written into the database at start.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct EventConfig {
    /// Name shown to attendees and on watermarks.
    pub name: String,
    /// First day, `YYYY-MM-DD`, if known.
    pub starts_on: Option<String>,
    /// Last day, `YYYY-MM-DD`, if known.
    pub ends_on: Option<String>,
    /// Default locale of pages (BCP 47, e.g. `en`, `fr`).
    pub locale: String,
}

/// Admin access.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct AdminConfig {
    /// Lifetime of an admin session.
    pub session_ttl_secs: u64,
    /// Failed logins allowed from one client address within `login_window_secs`.
    pub login_max_failures: u32,
    /// Window over which failed logins are counted; the lock-out lasts as long.
    pub login_window_secs: u64,
}

/// The captive portal, consent and attendance.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct PortalConfig {
    /// Answer phones' captive-portal probes and redirect unknown hosts to the portal.
    pub enabled: bool,
    /// Where attendees reach the portal, e.g. `http://10.42.0.1` (the box's address on
    /// the attendee Wi-Fi). Default: derived from `http.listen`.
    pub url: Option<String>,
    /// The RFC 8908 Captive Portal API URI that DHCP option 114 announces, e.g.
    /// `https://portal.example.org/captive-portal/api`. Must be https (RFC 8908);
    /// needs `https.cert_file` for that domain. Unset: not announced, phones fall
    /// back to probe detection.
    pub api_url: Option<String>,
    /// A page about the venue (RFC 8908 `venue-info-url`).
    pub venue_info_url: Option<String>,
    /// Length of a portal session in seconds (RFC 8908 `seconds-remaining`); 0 = no
    /// limit. When it ends, the phone is sent back to the portal to extend it.
    pub session_secs: u64,
    /// Who is responsible for the data (shown in the privacy notice).
    pub organiser: String,
    /// How attendees reach the organiser about their data.
    pub contact: String,
    /// Version of the privacy notice; change it whenever the notice's meaning changes.
    pub notice_version: String,
    /// Consent and attendance rows older than this many days are purged.
    pub retention_days: u64,
    /// Repeats of one attendance within this many seconds count once.
    pub attendance_debounce_secs: u64,
    /// The attendee Wi-Fi's networks (e.g. `10.42.0.0/24`, `fd42::/64`): clients in
    /// them never reach admin, upload or photo paths, whatever the firewall does.
    pub attendee_networks: Vec<ipnet::IpNet>,
}

/// Which back end reads the door scanner.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ScannerKind {
    /// No scanner.
    Off,
    /// A serial (USB CDC or UART) QR/barcode scanner sending one code per line.
    Serial,
    /// Lines read from a file or FIFO at `door.device` (development without hardware).
    Simulated,
}

/// The pass scanner at the door.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct DoorConfig {
    /// `off`, `serial` or `simulated`.
    pub scanner: ScannerKind,
    /// The device (`/dev/ttyACM0`) or, for `simulated`, the file or FIFO to read.
    pub device: PathBuf,
    /// Serial speed.
    pub baud: u32,
}

/// Logging.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct LogConfig {
    /// `human` (default) or `json` (one object per line, for journald and collectors).
    pub format: LogFormat,
    /// A tracing filter such as `info` or `venuebox=debug,tower_http=info`.
    pub level: String,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Readable lines for a terminal or journald.
    Human,
    /// One JSON object per line.
    Json,
}

// The defaults are those of a development box (`venuebox run` with no arguments): data
// beside the current directory and listeners on loopback only. The shipped
// config/venuebox.toml sets the production values.
impl Default for DeviceConfig {
    fn default() -> Self {
        DeviceConfig {
            name: "venuebox".into(),
        }
    }
}
impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            data_dir: PathBuf::from("venuebox-data"),
            readers: 4,
            busy_timeout_ms: 5_000,
        }
    }
}
impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: "127.0.0.1:8080".into(),
            request_timeout_secs: 30,
            body_limit_bytes: 1 << 20,
            max_in_flight: 256,
            shutdown_grace_secs: 10,
        }
    }
}
impl Default for HttpsConfig {
    fn default() -> Self {
        HttpsConfig {
            enabled: false,
            listen: "127.0.0.1:8443".into(),
            cert_file: None,
            key_file: None,
        }
    }
}
impl Default for FtpConfig {
    fn default() -> Self {
        FtpConfig {
            enabled: true,
            listen: "127.0.0.1:2121".into(),
            passive_ports: (49152, 49407),
            implicit_listen: None,
        }
    }
}
impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            free_disk_reserve_bytes: 256 << 20,
            creator_quota_bytes: 0,
            max_file_bytes: 2 << 30,
        }
    }
}
impl Default for TusConfig {
    fn default() -> Self {
        TusConfig {
            expire_after_secs: 24 * 3600,
        }
    }
}
impl Default for MdnsConfig {
    fn default() -> Self {
        MdnsConfig {
            enabled: true,
            instance: None,
        }
    }
}
impl Default for EventConfig {
    fn default() -> Self {
        EventConfig {
            name: "Pop-up event".into(),
            starts_on: None,
            ends_on: None,
            locale: "en".into(),
        }
    }
}
impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            session_ttl_secs: 12 * 3600,
            login_max_failures: 5,
            login_window_secs: 300,
        }
    }
}
impl Default for PortalConfig {
    fn default() -> Self {
        PortalConfig {
            enabled: true,
            url: None,
            api_url: None,
            venue_info_url: None,
            session_secs: 0,
            organiser: "The event organiser".into(),
            contact: "the organiser's desk at the venue".into(),
            notice_version: "1".into(),
            retention_days: 30,
            attendance_debounce_secs: 60,
            attendee_networks: Vec::new(),
        }
    }
}
impl Default for DoorConfig {
    fn default() -> Self {
        DoorConfig {
            scanner: ScannerKind::Off,
            device: PathBuf::from("/dev/ttyACM0"),
            baud: 9600,
        }
    }
}
impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Human,
            level: "info".into(),
        }
    }
}

/// Where sync bundles go.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SyncTargetKind {
    /// A directory laid out exactly like the bucket (default: `<data dir>/sync-target`).
    Local,
    /// An S3-compatible bucket (AWS S3, R2, B2, Garage, MinIO).
    S3,
}

/// Signed bundles and store-and-forward sync. `Debug` never prints the secret key.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct SyncConfig {
    /// Sync at all (the outbox is still filled only while this is on).
    pub enabled: bool,
    /// `local` or `s3`.
    pub target: SyncTargetKind,
    /// For `local`: the directory (default `<data dir>/sync-target`).
    pub local_dir: Option<PathBuf>,
    /// For `s3`: the endpoint URL, e.g. `https://s3.eu-central-1.amazonaws.com` or
    /// `http://127.0.0.1:3900` (Garage); unset means AWS.
    pub endpoint: Option<String>,
    /// For `s3`: the region (Garage: its `s3_region`).
    pub region: String,
    /// For `s3`: the bucket.
    pub bucket: String,
    /// Key prefix inside the bucket or directory (may be empty).
    pub prefix: String,
    /// For `s3`: access key id; unset means `AWS_ACCESS_KEY_ID` from the environment.
    pub access_key_id: Option<String>,
    /// For `s3`: secret key; unset means `AWS_SECRET_ACCESS_KEY`. Never logged.
    pub secret_access_key: Option<String>,
    /// Cut a bundle once this many photos wait.
    pub cut_every_photos: u64,
    /// Cut a bundle at least this often (seconds) when anything waits.
    pub cut_every_secs: u64,
    /// Upload speed cap in bytes/s for metered links; 0 = none.
    pub bandwidth_limit_bytes_per_sec: u64,
    /// Objects uploaded at once.
    pub concurrency: usize,
    /// Assets at least this large go by resumable multipart upload (S3 only).
    pub multipart_threshold_bytes: u64,
    /// Size of each multipart part (S3 needs at least 5 MiB).
    pub part_size_bytes: u64,
    /// While the uplink is down, probes back off from this (milliseconds)…
    pub probe_min_backoff_ms: u64,
    /// … to at most this, with random jitter.
    pub probe_max_backoff_ms: u64,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            enabled: true,
            target: SyncTargetKind::Local,
            local_dir: None,
            endpoint: None,
            region: "us-east-1".into(),
            bucket: String::new(),
            prefix: String::new(),
            access_key_id: None,
            secret_access_key: None,
            cut_every_photos: 50,
            cut_every_secs: 300,
            bandwidth_limit_bytes_per_sec: 0,
            concurrency: 4,
            multipart_threshold_bytes: 16 << 20,
            part_size_bytes: 8 << 20,
            probe_min_backoff_ms: 1000,
            probe_max_backoff_ms: 60_000,
        }
    }
}

impl fmt::Debug for SyncConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncConfig")
            .field("enabled", &self.enabled)
            .field("target", &self.target)
            .field("local_dir", &self.local_dir)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

impl SyncConfig {
    /// Semantic checks of the `[sync]` section.
    fn validate(&self, bad: &mut dyn FnMut(&str, String)) {
        if self.target == SyncTargetKind::S3 {
            if self.bucket.is_empty()
                || self.bucket.len() > 63
                || !self
                    .bucket
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
            {
                bad(
                    "sync.bucket",
                    format!(
                        "{:?} is not a bucket name (lowercase letters, digits, - and .)",
                        self.bucket
                    ),
                );
            }
            if let Some(endpoint) = &self.endpoint {
                if !(endpoint.starts_with("https://") || endpoint.starts_with("http://")) {
                    bad(
                        "sync.endpoint",
                        format!("{endpoint:?} is not an http(s):// URL"),
                    );
                }
            }
            if self.region.is_empty() {
                bad("sync.region", "must not be empty".into());
            }
        }
        if self.prefix.starts_with('/') || self.prefix.split('/').any(|p| p == "..") {
            bad("sync.prefix", "must be relative, without '..'".into());
        }
        if self.cut_every_photos == 0 {
            bad("sync.cut_every_photos", "must be at least 1".into());
        }
        if self.cut_every_secs == 0 {
            bad("sync.cut_every_secs", "must be at least 1".into());
        }
        if !(1..=32).contains(&self.concurrency) {
            bad("sync.concurrency", "must be between 1 and 32".into());
        }
        if self.part_size_bytes < 5 << 20 {
            bad(
                "sync.part_size_bytes",
                "must be at least 5 MiB (5242880)".into(),
            );
        }
        if self.multipart_threshold_bytes < self.part_size_bytes {
            bad(
                "sync.multipart_threshold_bytes",
                "must be at least sync.part_size_bytes".into(),
            );
        }
        if self.probe_min_backoff_ms == 0 || self.probe_max_backoff_ms < self.probe_min_backoff_ms {
            bad(
                "sync.probe_max_backoff_ms",
                "backoff must be 1 ms or more and max >= min".into(),
            );
        }
    }
}

/// One problem found in the configuration, named by its key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// Dotted key path, e.g. `http.listen`, or the environment variable's name.
    pub key: String,
    /// What is wrong, in words a vendor can act on.
    pub reason: String,
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.reason)
    }
}

/// Every problem found in a configuration.
#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    /// Where the configuration came from (a file path, or "defaults").
    pub source_name: String,
    /// The problems, in the order found.
    pub issues: Vec<ConfigIssue>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} has {} error(s)", self.source_name, self.issues.len())?;
        for issue in &self.issues {
            write!(f, "\n  {issue}")?;
        }
        Ok(())
    }
}

/// Command-line values that win over the file and the environment.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--data-dir`
    pub data_dir: Option<PathBuf>,
    /// `--http`
    pub http_listen: Option<String>,
    /// `--ftp`
    pub ftp_listen: Option<String>,
}

impl Config {
    /// Builds the configuration from an optional TOML file, the given environment
    /// variables (usually `std::env::vars()`) and command-line overrides, and validates
    /// it. Every problem found is returned at once.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: &Overrides,
    ) -> Result<Config, ConfigError> {
        let source_name = file
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "configuration".into());
        let fail = |issues| ConfigError {
            source_name: source_name.clone(),
            issues,
        };
        let mut tree = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    fail(vec![ConfigIssue {
                        key: "(file)".into(),
                        reason: format!("cannot read {}: {e}", path.display()),
                    }])
                })?;
                text.parse::<toml::Table>().map_err(|e| {
                    fail(vec![ConfigIssue {
                        key: "(syntax)".into(),
                        reason: e.to_string().trim().replace('\n', " "),
                    }])
                })?
            }
            None => toml::Table::new(),
        };
        let mut issues = apply_env(&mut tree, env);
        apply_overrides(&mut tree, overrides);
        let config = match from_tree(tree) {
            Ok((config, unknown)) => {
                issues.extend(unknown);
                Some(config)
            }
            Err(issue) => {
                issues.push(issue);
                None
            }
        };
        if let Some(config) = &config {
            issues.extend(config.validate());
        }
        match config {
            Some(config) if issues.is_empty() => Ok(config),
            _ => Err(fail(issues)),
        }
    }

    /// Semantic checks that serde cannot make: addresses parse, numbers are in range,
    /// names are valid. Returns every problem found.
    pub fn validate(&self) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        let mut bad = |key: &str, reason: String| {
            issues.push(ConfigIssue {
                key: key.into(),
                reason,
            })
        };
        let name = &self.device.name;
        if name.is_empty()
            || name.len() > 63
            || name.starts_with('-')
            || name.ends_with('-')
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            bad(
                "box.name",
                format!("{name:?} is not a valid DNS label (letters, digits, inner hyphens; at most 63)"),
            );
        }
        if self.storage.data_dir.as_os_str().is_empty() {
            bad("storage.data_dir", "must not be empty".into());
        }
        if !(1..=64).contains(&self.storage.readers) {
            bad(
                "storage.readers",
                format!("{} is not between 1 and 64", self.storage.readers),
            );
        }
        for (key, addr) in [
            ("http.listen", &self.http.listen),
            ("https.listen", &self.https.listen),
            ("ftp.listen", &self.ftp.listen),
        ] {
            if let Err(e) = addr.parse::<SocketAddr>() {
                bad(
                    key,
                    format!("{addr:?} is not an address like 0.0.0.0:80 ({e})"),
                );
            }
        }
        if self.http.request_timeout_secs == 0 {
            bad("http.request_timeout_secs", "must be at least 1".into());
        }
        if self.http.body_limit_bytes < 1024 {
            bad("http.body_limit_bytes", "must be at least 1024".into());
        }
        if self.http.max_in_flight == 0 {
            bad("http.max_in_flight", "must be at least 1".into());
        }
        if self.http.shutdown_grace_secs > 60 {
            bad(
                "http.shutdown_grace_secs",
                "must be at most 60 (systemd stops the service soon after)".into(),
            );
        }
        match (&self.https.cert_file, &self.https.key_file) {
            (Some(_), None) => bad(
                "https.key_file",
                "is required when https.cert_file is set".into(),
            ),
            (None, Some(_)) => bad(
                "https.cert_file",
                "is required when https.key_file is set".into(),
            ),
            _ => {}
        }
        for (key, path) in [
            ("https.cert_file", &self.https.cert_file),
            ("https.key_file", &self.https.key_file),
        ] {
            if let Some(path) = path {
                if !path.is_file() {
                    bad(key, format!("{} is not a readable file", path.display()));
                }
            }
        }
        if let Some(addr) = &self.ftp.implicit_listen {
            if let Err(e) = addr.parse::<SocketAddr>() {
                bad(
                    "ftp.implicit_listen",
                    format!("{addr:?} is not an address like 0.0.0.0:990 ({e})"),
                );
            }
        }
        let (first, last) = self.ftp.passive_ports;
        if first < 1024 || last < first {
            bad(
                "ftp.passive_ports",
                format!("[{first}, {last}] is not a range of unprivileged ports (first <= last, from 1024)"),
            );
        }
        if self.ingest.max_file_bytes < 1024 {
            bad("ingest.max_file_bytes", "must be at least 1024".into());
        }
        if !(0.0..=1.0).contains(&self.watermark.opacity) {
            bad("watermark.opacity", "must be between 0 and 1".into());
        }
        if !(0..=19).contains(&self.previews.render_nice) {
            bad("previews.render_nice", "must be between 0 and 19".into());
        }
        if self.previews.max_pixels < 1_000_000 {
            bad("previews.max_pixels", "must be at least 1000000".into());
        }
        if self.tus.expire_after_secs == 0 {
            bad("tus.expire_after_secs", "must be at least 1".into());
        }
        if let Some(instance) = &self.mdns.instance {
            if instance.is_empty() || instance.len() > 63 || instance.chars().any(char::is_control)
            {
                bad(
                    "mdns.instance",
                    "must be 1 to 63 bytes without control characters".into(),
                );
            }
        }
        if self.event.name.trim().is_empty() {
            bad("event.name", "must not be empty".into());
        }
        let date = time::macros::format_description!("[year]-[month]-[day]");
        let mut dates = [None, None];
        for (i, (key, value)) in [
            ("event.starts_on", &self.event.starts_on),
            ("event.ends_on", &self.event.ends_on),
        ]
        .into_iter()
        .enumerate()
        {
            if let Some(value) = value {
                match time::Date::parse(value, date) {
                    Ok(d) => dates[i] = Some(d),
                    Err(_) => bad(key, format!("{value:?} is not a date like 2026-07-14")),
                }
            }
        }
        if let [Some(start), Some(end)] = dates {
            if end < start {
                bad("event.ends_on", "is before event.starts_on".into());
            }
        }
        let locale = &self.event.locale;
        if locale.is_empty()
            || locale.len() > 35
            || !locale
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            bad(
                "event.locale",
                format!("{locale:?} is not a language tag like en or pt-BR"),
            );
        }
        if self.admin.session_ttl_secs < 60 {
            bad("admin.session_ttl_secs", "must be at least 60".into());
        }
        if self.admin.login_max_failures == 0 {
            bad("admin.login_max_failures", "must be at least 1".into());
        }
        if self.admin.login_window_secs == 0 {
            bad("admin.login_window_secs", "must be at least 1".into());
        }
        self.sync.validate(&mut bad);
        for (key, url, https_only) in [
            ("portal.url", &self.portal.url, false),
            ("portal.api_url", &self.portal.api_url, true),
            ("portal.venue_info_url", &self.portal.venue_info_url, false),
        ] {
            if let Some(url) = url {
                if let Err(reason) = check_url(url, https_only) {
                    bad(key, reason);
                }
            }
        }
        if self.portal.notice_version.trim().is_empty() {
            bad("portal.notice_version", "must not be empty".into());
        }
        if self.portal.organiser.trim().is_empty() {
            bad("portal.organiser", "must not be empty".into());
        }
        if self.portal.retention_days == 0 {
            bad("portal.retention_days", "must be at least 1".into());
        }
        if self.door.scanner != ScannerKind::Off && self.door.device.as_os_str().is_empty() {
            bad("door.device", "must be set when door.scanner is on".into());
        }
        if !(300..=4_000_000).contains(&self.door.baud) {
            bad(
                "door.baud",
                format!("{} is not a serial speed (300 to 4000000)", self.door.baud),
            );
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            bad(
                "log.level",
                format!("{:?} is not a log filter ({e})", self.log.level),
            );
        }
        issues
    }

    /// The portal's base URL, without a trailing slash: `portal.url`, or one derived
    /// from `http.listen` (an unspecified address becomes loopback).
    pub fn portal_url(&self) -> String {
        if let Some(url) = &self.portal.url {
            return url.trim_end_matches('/').to_string();
        }
        let addr: SocketAddr = self
            .http
            .listen
            .parse()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 80)));
        http_url(addr)
    }

    /// The mDNS instance name: `mdns.instance`, or `box.name`.
    pub fn mdns_instance(&self) -> &str {
        self.mdns.instance.as_deref().unwrap_or(&self.device.name)
    }

    /// The FTP address, parsed (valid after [`Config::load`]).
    pub fn ftp_addr(&self) -> SocketAddr {
        self.ftp.listen.parse().expect("validated at load")
    }

    /// The HTTP address, parsed (valid after [`Config::load`]).
    pub fn http_addr(&self) -> SocketAddr {
        self.http.listen.parse().expect("validated at load")
    }

    /// The HTTPS address, parsed (valid after [`Config::load`]).
    pub fn https_addr(&self) -> SocketAddr {
        self.https.listen.parse().expect("validated at load")
    }
}

/// Turns the TOML tree into a [`Config`], reporting unknown keys by path. A type error
/// (a string where a number belongs) stops deserialisation, so it is reported alone
/// with the unknown keys found before it.
/// The http URL of a listener, without a trailing slash: an unspecified address
/// becomes loopback, port 80 is left out.
pub fn http_url(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_string(),
        ip if ip.is_unspecified() => "[::1]".to_string(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    match addr.port() {
        80 => format!("http://{ip}"),
        port => format!("http://{ip}:{port}"),
    }
}

/// Checks that `url` is an absolute http(s) URL with a host and no spaces.
fn check_url(url: &str, https_only: bool) -> Result<(), String> {
    let rest = match url.split_once("://") {
        Some(("https", rest)) => rest,
        Some(("http", rest)) if !https_only => rest,
        _ if https_only => return Err(format!("{url:?} must start with https:// (RFC 8908)")),
        _ => return Err(format!("{url:?} must start with http:// or https://")),
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{url:?} is not a URL like http://10.42.0.1"));
    }
    Ok(())
}

fn from_tree(tree: toml::Table) -> Result<(Config, Vec<ConfigIssue>), ConfigIssue> {
    let mut unknown = BTreeSet::new();
    let value = toml::Value::Table(tree);
    let config: Config = serde_ignored::deserialize(value, |path| {
        unknown.insert(path.to_string());
    })
    .map_err(|e: toml::de::Error| ConfigIssue {
        key: "(value)".into(),
        reason: e.to_string().trim().replace('\n', " "),
    })?;
    let issues = unknown
        .into_iter()
        .map(|key| ConfigIssue {
            key,
            reason: "unknown key".into(),
        })
        .collect();
    Ok((config, issues))
}

/// Applies `VENUEBOX_SECTION__KEY=value` overrides to the tree. The value is read as a
/// TOML value when it parses as one (`8080`, `true`) and as a string otherwise.
fn apply_env(
    tree: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Vec<ConfigIssue> {
    let mut issues = Vec::new();
    for (name, raw) in env {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        if ENV_NOT_CONFIG.contains(&name.as_str()) {
            continue;
        }
        let path: Vec<String> = rest.split("__").map(|s| s.to_ascii_lowercase()).collect();
        if path.len() != 2 || path.iter().any(String::is_empty) {
            issues.push(ConfigIssue {
                key: name.clone(),
                reason: "environment overrides are named VENUEBOX_SECTION__KEY, e.g. VENUEBOX_HTTP__LISTEN".into(),
            });
            continue;
        }
        let value = format!("v = {raw}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or(toml::Value::String(raw));
        let section = tree
            .entry(path[0].clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        match section {
            toml::Value::Table(t) => {
                t.insert(path[1].clone(), value);
            }
            _ => issues.push(ConfigIssue {
                key: name.clone(),
                reason: format!("{} is not a section", path[0]),
            }),
        }
    }
    issues
}

fn apply_overrides(tree: &mut toml::Table, overrides: &Overrides) {
    let mut set = |section: &str, key: &str, value: toml::Value| {
        let entry = tree
            .entry(section.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let toml::Value::Table(t) = entry {
            t.insert(key.into(), value);
        }
    };
    if let Some(dir) = &overrides.data_dir {
        set(
            "storage",
            "data_dir",
            toml::Value::String(dir.display().to_string()),
        );
    }
    if let Some(addr) = &overrides.http_listen {
        set("http", "listen", toml::Value::String(addr.clone()));
    }
    if let Some(addr) = &overrides.ftp_listen {
        set("ftp", "listen", toml::Value::String(addr.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("venuebox.toml");
        std::fs::write(&path, text).unwrap();
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Config::load(Some(&path), env, &Overrides::default())
    }

    fn keys(err: ConfigError) -> Vec<String> {
        err.issues.into_iter().map(|i| i.key).collect()
    }

    #[test]
    fn defaults_are_a_valid_development_box() {
        let config = Config::load(None, [], &Overrides::default()).unwrap();
        assert_eq!(config.http_addr().to_string(), "127.0.0.1:8080");
        assert_eq!(config.storage.data_dir, PathBuf::from("venuebox-data"));
    }

    #[test]
    fn shipped_production_config_is_valid_and_complete() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/venuebox.toml");
        let config = Config::load(Some(&path), [], &Overrides::default()).unwrap();
        assert_eq!(config.http.listen, "[::]:80");
        assert_eq!(config.storage.data_dir, PathBuf::from("/var/lib/venuebox"));
        // Every key of the typed config appears in the shipped file, so it documents all.
        let shipped: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
        let full = toml::Table::try_from(Config::default()).unwrap();
        for (section, table) in full {
            let toml::Value::Table(table) = table else {
                continue;
            };
            for key in table.keys() {
                let present = shipped
                    .get(&section)
                    .and_then(|s| s.as_table())
                    .map(|s| s.contains_key(key))
                    .unwrap_or(false);
                let text = std::fs::read_to_string(&path).unwrap();
                let commented = text.contains(&format!("# {key} ="));
                assert!(
                    present || commented,
                    "{section}.{key} is missing from config/venuebox.toml"
                );
            }
        }
    }

    #[test]
    fn unknown_keys_are_named_by_path() {
        let err = load_str(
            "[http]\nlisten = \"0.0.0.0:80\"\nlisten_port = 80\n[cloud]\nx = 1\n",
            &[],
        )
        .unwrap_err();
        assert_eq!(keys(err), vec!["cloud", "http.listen_port"]);
    }

    #[test]
    fn every_semantic_error_is_reported_at_once() {
        let err = load_str(
            "[http]\nlisten = \"localhost\"\n[event]\nstarts_on = \"2026-13-01\"\n[box]\nname = \"my box\"\n[previews]\nrender_nice = 25\n",
            &[],
        )
        .unwrap_err();
        let keys = keys(err);
        assert!(
            keys.contains(&"previews.render_nice".to_string()),
            "{keys:?}"
        );
        assert!(keys.contains(&"http.listen".to_string()), "{keys:?}");
        assert!(keys.contains(&"event.starts_on".to_string()), "{keys:?}");
        assert!(keys.contains(&"box.name".to_string()), "{keys:?}");
    }

    #[test]
    fn type_errors_name_the_key() {
        let err = load_str("[http]\nbody_limit_bytes = \"big\"\n", &[]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("body_limit_bytes"), "{text}");
    }

    #[test]
    fn syntax_errors_are_reported() {
        let err = load_str("[http\n", &[]).unwrap_err();
        assert_eq!(keys(err), vec!["(syntax)"]);
    }

    #[test]
    fn environment_overrides_the_file_and_cli_overrides_both() {
        let config = load_str(
            "[http]\nlisten = \"0.0.0.0:80\"\n",
            &[
                ("VENUEBOX_HTTP__LISTEN", "127.0.0.1:9000"),
                ("VENUEBOX_ADMIN__LOGIN_MAX_FAILURES", "3"),
            ],
        )
        .unwrap();
        assert_eq!(config.http.listen, "127.0.0.1:9000");
        assert_eq!(config.admin.login_max_failures, 3);

        let overrides = Overrides {
            http_listen: Some("127.0.0.1:9001".into()),
            ..Default::default()
        };
        let env = [(
            "VENUEBOX_HTTP__LISTEN".to_string(),
            "127.0.0.1:9000".to_string(),
        )];
        let config = Config::load(None, env, &overrides).unwrap();
        assert_eq!(config.http.listen, "127.0.0.1:9001");
    }

    #[test]
    fn unknown_environment_overrides_are_errors() {
        let err = load_str(
            "",
            &[("VENUEBOX_HTTP_LISTEN", "x"), ("VENUEBOX_HTTP__PORT", "80")],
        )
        .unwrap_err();
        assert_eq!(keys(err), vec!["VENUEBOX_HTTP_LISTEN", "http.port"]);
        // Variables that are not overrides are left alone.
        load_str("", &[("VENUEBOX_ADMIN_TOKEN", "secret")]).unwrap();
    }
}
