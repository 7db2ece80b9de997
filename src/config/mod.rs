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

mod dashboard;
mod delivery;
mod load;
mod tagging;

pub use dashboard::DashboardConfig;
pub use delivery::{CreatorPrices, DeliveryConfig, MAX_PRICE_MINOR};
pub use load::{http_url, ConfigError, ConfigIssue, Overrides};
pub use tagging::{StallScannerConfig, TaggingConfig, MAX_STALL_SCANNERS};

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
    /// Tagging photos to attendees (issue 14: pass frames, stall scans, by hand).
    pub tagging: TaggingConfig,
    /// The receipt printer.
    pub printer: PrinterConfig,
    /// Logging.
    pub log: LogConfig,
    /// The render queue.
    pub previews: PreviewsConfig,
    /// The watermark on previews of unpaid photos.
    pub watermark: WatermarkConfig,
    /// Signed bundles to object storage (see `sync`).
    pub sync: SyncConfig,
    /// The status LED and the button (see `hw`).
    pub gpio: GpioConfig,
    /// Whether the clock is trusted (see `clock`).
    pub clock: ClockConfig,
    /// Prices, the co-op split and download links (see `delivery`).
    pub delivery: DeliveryConfig,
    /// The organiser dashboard: refresh, host root, alert thresholds.
    pub dashboard: DashboardConfig,
}

/// `[clock]`: which clock readings records mark as trusted.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ClockConfig {
    /// `auto` (trusted once NTP synchronised the clock this boot), `always` (a
    /// battery-backed RTC or GPS the kernel's NTP state does not show), or `never`.
    pub trust: crate::clock::TrustPolicy,
}

/// Which GPIO back end drives the status LED and reads the button, chosen at run time.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum GpioBackend {
    /// No LED, no button.
    Off,
    /// The Raspberry Pi's GPIO through the rppal crate (`/dev/gpiomem`).
    Rppal,
    /// Files in `gpio.sim_dir`: the LED is written to `led` and `led-pattern`, the button
    /// is read from `button` (`1` pressed, `0` released). For tests and other machines.
    Simulated,
}

/// The status LED and the button: pins, timings and what a long press runs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct GpioConfig {
    /// `off`, `rppal` or `simulated`.
    pub backend: GpioBackend,
    /// BCM number of the LED's pin (0 to 27), driven high to light it.
    pub led_pin: u32,
    /// BCM number of the button's pin (0 to 27); the button shorts it to ground and the
    /// internal pull-up holds it high otherwise.
    pub button_pin: u32,
    /// For `simulated`: the directory of the `led`, `led-pattern` and `button` files.
    pub sim_dir: PathBuf,
    /// How long a short press opens the pairing window, in seconds.
    pub pairing_secs: u64,
    /// How long the button must be held for a safe shutdown, in milliseconds.
    pub long_press_ms: u64,
    /// What a long press runs once the service has stopped cleanly: program and
    /// arguments, no shell.
    pub poweroff_command: Vec<String>,
}

impl Default for GpioConfig {
    fn default() -> Self {
        GpioConfig {
            backend: GpioBackend::Off,
            led_pin: 17,
            button_pin: 27,
            sim_dir: PathBuf::from("/run/venuebox/gpio"),
            pairing_secs: 60,
            long_press_ms: 3000,
            poweroff_command: vec!["systemctl".into(), "poweroff".into()],
        }
    }
}

impl GpioConfig {
    /// Semantic checks of the `[gpio]` section.
    fn validate(&self, bad: &mut dyn FnMut(&str, String)) {
        for (key, pin) in [
            ("gpio.led_pin", self.led_pin),
            ("gpio.button_pin", self.button_pin),
        ] {
            if pin > 27 {
                bad(key, format!("{pin} is not a BCM GPIO number (0 to 27)"));
            }
        }
        if self.led_pin == self.button_pin {
            bad("gpio.button_pin", "must differ from gpio.led_pin".into());
        }
        if self.backend == GpioBackend::Simulated && self.sim_dir.as_os_str().is_empty() {
            bad(
                "gpio.sim_dir",
                "must be set when gpio.backend is simulated".into(),
            );
        }
        if !(1..=3600).contains(&self.pairing_secs) {
            bad("gpio.pairing_secs", "must be between 1 and 3600".into());
        }
        if !(500..=30_000).contains(&self.long_press_ms) {
            bad("gpio.long_press_ms", "must be between 500 and 30000".into());
        }
        if !self
            .poweroff_command
            .first()
            .is_some_and(|p| !p.trim().is_empty())
        {
            bad("gpio.poweroff_command", "must name a program".into());
        }
    }
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
    /// Tiled diagonally over the picture; empty for none. Latin-1 (others draw as `?`).
    pub text: String,
    /// Strength of the tiled text, 0–1: the white text's opacity (its dark halo is
    /// 0.8 of it).
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
    /// Requests handled at once by the whole box (every route, both listeners); more
    /// are answered 503 at once rather than queued.
    pub max_in_flight: usize,
    /// Requests one client address may have in flight at once; more are answered 429.
    pub max_in_flight_per_client: usize,
    /// An ordinary request's whole body must arrive within this many seconds, or it
    /// is answered 408 (uploads are exempt: tus bounds them by an idle timeout).
    pub body_timeout_secs: u64,
    /// A request's headers must arrive within this many seconds, or the connection is
    /// closed; also how long an idle keep-alive connection stays open.
    pub header_timeout_secs: u64,
    /// Open connections for the whole box; more are closed at once.
    pub max_connections: usize,
    /// Open connections per client address; more are closed at once.
    pub max_connections_per_client: usize,
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
    /// A file in a camera's tree that is not a photo (a temporary name such as
    /// `IMG_0001.JPG.tmp` or `.IMG_0001.JPG` not yet renamed to a photo's name, or an
    /// upload cut off mid-way and kept for REST) is removed this many seconds after
    /// its last write; until then it counts against its creator's quota. At most 30
    /// days.
    pub expire_after_secs: u64,
}

/// Limits every upload obeys, whatever its protocol.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct IngestConfig {
    /// Free bytes always left on the data dir's filesystem: an upload that would eat
    /// into them is refused (HTTP 507, FTP 552), so the database and the system keep
    /// room to work.
    pub free_disk_reserve_bytes: u64,
    /// Bytes each creator may hold on the box: their photos, their unfinished tus
    /// uploads, and the files of their FTP tree that are not photos yet; 0 means no
    /// limit.
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
    /// Unfinished uploads one creator may have at once; creating another answers 429.
    pub max_open_uploads_per_creator: u64,
    /// Web pages on other origins that may upload here from a browser (CORS, see
    /// `web::tus::cors`), e.g. a photographer's own site running tus-js-client or Uppy.
    /// Each is an origin exactly as browsers send it in the `Origin` header:
    /// `scheme://host[:port]`, lowercase, no path (not even `/`), the port only when
    /// it is not the scheme's default, e.g. `https://photos.example.com`. No wildcard.
    /// At most [`MAX_CORS_ORIGINS`]. Empty (the default): browsers block uploads from
    /// any page not served by the box itself.
    pub cors_allowed_origins: Vec<String>,
}

/// Most origins `tus.cors_allowed_origins` may list (a handful is real use; the list
/// is compared on every upload request).
pub const MAX_CORS_ORIGINS: usize = 32;

/// mDNS/DNS-SD announcements.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct MdnsConfig {
    /// Advertise `_http._tcp` (portal, dashboard) and `_ftp._tcp` (camera ingest).
    pub enabled: bool,
    /// Instance name shown in browsers and cameras; defaults to `box.name`, or to the
    /// unique `venuebox-<4 hex of the box id>` while `box.name` is the shipped
    /// `venuebox` (`net::mdns`).
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
    /// The attendee Wi-Fi's interfaces (e.g. `wlan0`): a connection that arrived on
    /// one is an attendee's, whatever its address (IPv6 link-local included).
    pub attendee_interfaces: Vec<String>,
}

/// Which back end reads a pass scanner (the door's, or one at a creator's stall).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ScannerKind {
    /// No scanner.
    Off,
    /// A serial (USB CDC or UART) QR/barcode scanner sending one code per line.
    Serial,
    /// Lines read from a file or FIFO at the `device` (development without hardware).
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

/// Which back end drives the receipt printer.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PrinterKind {
    /// No printer.
    Off,
    /// An ESC/POS printer on a serial device (USB CDC, USB-serial adapter or UART).
    Serial,
    /// The ESC/POS byte stream appended to the file at `printer.device` (development
    /// without a printer).
    Simulated,
}

/// The receipt printer (ESC/POS).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct PrinterConfig {
    /// `off`, `serial` or `simulated`.
    pub kind: PrinterKind,
    /// The device (`/dev/venuebox-printer`) or, for `simulated`, the file to append to.
    pub device: PathBuf,
    /// Serial speed (most USB printers ignore it; UART printers are often 9600 or 19200).
    pub baud: u32,
    /// How many print jobs may wait for the printer; a job beyond that is refused.
    pub queue: usize,
    /// A job not printed within this many seconds (printer unplugged, out of paper and
    /// off) is dropped with an error rather than printed late.
    pub job_max_age_secs: u64,
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
            max_in_flight_per_client: 32,
            body_timeout_secs: 10,
            header_timeout_secs: 10,
            max_connections: 1024,
            max_connections_per_client: 64,
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
            expire_after_secs: 24 * 3600,
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
            max_open_uploads_per_creator: 64,
            cors_allowed_origins: Vec::new(),
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
            attendee_interfaces: Vec::new(),
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
impl Default for PrinterConfig {
    fn default() -> Self {
        PrinterConfig {
            kind: PrinterKind::Off,
            device: PathBuf::from("/dev/venuebox-printer"),
            baud: 9600,
            queue: 16,
            job_max_age_secs: 600,
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
    /// Send each photo's original bytes, metadata and all (GPS, body serial, owner
    /// name, XMP location). Off by default: sync sends what the full download serves
    /// (private metadata removed, image bytes identical), and photos whose metadata
    /// cannot be removed (camera raw) wait. On is a privacy trade an organiser makes
    /// knowingly (docs/decisions.md, "Sync sends what the full download serves").
    pub send_originals: bool,
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
            send_originals: false,
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
