//! `venuebox doctor`: what stands between this machine and a working event, each
//! problem with its fix. Read-only: it binds nothing it keeps, writes only a probe file
//! in the data dir, and opens the database read-only (or not at all when missing).
//!
//! Checks, in report order (`check` names are stable):
//! - `ports.http`, `ports.https`, `ports.ftp`, `ports.ftps`: each configured listener
//!   can be bound, or is held by a venuebox already running (its `/healthz` answers);
//! - `data_dir`: exists, accepts files, free space against `ingest.free_disk_reserve_bytes`
//!   (error below it, warning below [`SPACE_WARNING_FACTOR`] times it);
//! - `storage`: the medium under the data dir (SD card, SSD, spinning disk), from
//!   `/sys/dev/block/MAJ:MIN` of the data dir's device (or of the mount's source,
//!   through `/proc/self/mountinfo`, for filesystems with anonymous devices);
//! - `clock`: not before the firmware's build time nor [`CLOCK_FLOOR`], not before the
//!   newest stored photo or audit entry (a Raspberry Pi has no real-time clock);
//! - `service.hostapd`, `service.dnsmasq`, `service.nftables`: installed and enabled
//!   (`systemctl is-enabled`, systemctl(1)); "cannot tell" when systemd is not running;
//! - `network.<file>`: the venue network configs beside `--config` (as `config check`);
//! - `door`: the scanner's serial device exists (when `door.scanner = "serial"`);
//! - `stall.<creator>`: each `[[tagging.scanners]]` entry's serial device exists, as
//!   for the door;
//! - `gpio`: `/dev/gpiochip0` on a Raspberry Pi;
//! - `power`: under-voltage and throttling since boot (`vcgencmd get_throttled`);
//! - `uplink`: the S3 sync endpoint answers a TCP connect.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde::Serialize;

use crate::config::{Config, ScannerKind, SyncTargetKind};

/// How bad a finding is. Ordered: `Ok < Info < Warning < Error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Checked and fine.
    Ok,
    /// Not checked or not applicable here, with the reason (e.g. not a Raspberry Pi).
    Info,
    /// Works, but fix before an event (or it could not be checked).
    Warning,
    /// The box will not work as configured; `venuebox doctor` exits 1.
    Error,
}

impl Level {
    fn label(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Info => "info",
            Level::Warning => "WARNING",
            Level::Error => "ERROR",
        }
    }
}

/// One thing the doctor found.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// Which check, a stable dotted name such as `ports.http` or `data_dir`.
    pub check: String,
    /// How bad.
    pub level: Level,
    /// What was found, one sentence.
    pub what: String,
    /// How to fix it; `None` when there is nothing to do.
    pub fix: Option<String>,
}

/// Everything the doctor found, in check order.
///
/// `--json` prints it as
/// `{"ok": bool, "errors": N, "warnings": N, "findings": [{"check": "ports.http",
/// "level": "ok"|"info"|"warning"|"error", "what": "…", "fix": "…"|null}, …]}`;
/// `ok` is true when no finding is an error. The shape is stable: fields are only
/// ever added.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// No finding is an error.
    pub ok: bool,
    /// Findings at level error.
    pub errors: usize,
    /// Findings at level warning.
    pub warnings: usize,
    /// Every finding.
    pub findings: Vec<Finding>,
}

impl Report {
    fn new(findings: Vec<Finding>) -> Report {
        let count = |l| findings.iter().filter(|f| f.level == l).count();
        let errors = count(Level::Error);
        let warnings = count(Level::Warning);
        Report {
            ok: errors == 0,
            errors,
            warnings,
            findings,
        }
    }

    /// The report for a terminal: one line per finding (level, check, what), the fix
    /// indented below it, and a summary line.
    pub fn to_text(&self) -> String {
        let width = self
            .findings
            .iter()
            .map(|f| f.check.len())
            .max()
            .unwrap_or(0);
        let mut out = String::new();
        for f in &self.findings {
            out += &format!("{:<7}  {:<width$}  {}\n", f.level.label(), f.check, f.what);
            if let Some(fix) = &f.fix {
                out += &format!("{:<7}  {:<width$}  fix: {fix}\n", "", "");
            }
        }
        out += &format!("{} error(s), {} warning(s)\n", self.errors, self.warnings);
        out
    }
}

/// Free space below this many times `ingest.free_disk_reserve_bytes` is a warning.
pub const SPACE_WARNING_FACTOR: u64 = 4;

pub use crate::clock::{BUILT_AT, CLOCK_FLOOR};

/// How long a network probe (a TCP connect, a `/healthz` answer) may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Runs every check. `config_file` is the `--config` file, whose directory is searched
/// for the venue network configs; without one that check is skipped.
pub fn examine(config: &Config, config_file: Option<&Path>) -> Report {
    let mut findings = Vec::new();
    findings.extend(check_ports(config));
    findings.extend(check_data_dir(config));
    findings.push(check_storage(&config.storage.data_dir));
    findings.push(check_clock(config));
    findings.push(clock_trust_finding(
        config.clock.trust,
        crate::clock::stamp(config.clock.trust).trusted,
    ));
    findings.extend(check_services());
    findings.extend(check_network_configs(config, config_file));
    findings.push(check_door(config));
    findings.extend(check_stall_scanners(config));
    let pi = raspberry_pi_model();
    findings.push(check_gpio(pi.as_deref()));
    findings.push(check_power(pi.as_deref()));
    findings.push(check_uplink(config));
    Report::new(findings)
}

fn finding(check: &str, level: Level, what: impl Into<String>, fix: Option<String>) -> Finding {
    Finding {
        check: check.to_string(),
        level,
        what: what.into(),
        fix,
    }
}

// ---- ports ----

fn check_ports(config: &Config) -> Vec<Finding> {
    let mut listeners: Vec<(&str, &str, &str)> =
        vec![("ports.http", "http.listen", &config.http.listen)];
    if config.https.enabled {
        listeners.push(("ports.https", "https.listen", &config.https.listen));
    }
    if config.ftp.enabled {
        listeners.push(("ports.ftp", "ftp.listen", &config.ftp.listen));
        if let Some(implicit) = &config.ftp.implicit_listen {
            listeners.push(("ports.ftps", "ftp.implicit_listen", implicit));
        }
    }
    // Asked once: a venuebox answering on http.listen holds its other ports too.
    let running = config
        .http
        .listen
        .parse::<SocketAddr>()
        .ok()
        .and_then(venuebox_at);
    listeners
        .into_iter()
        .map(|(check, key, listen)| port_finding(check, key, listen, running.as_deref()))
        .collect()
}

fn port_finding(check: &str, key: &str, listen: &str, running: Option<&str>) -> Finding {
    let Ok(addr) = listen.parse::<SocketAddr>() else {
        return finding(
            check,
            Level::Error,
            format!("{key} = {listen:?} is not an address"),
            Some(format!("set {key} to an IP:port, e.g. 0.0.0.0:80")),
        );
    };
    if addr.port() == 0 {
        return finding(
            check,
            Level::Ok,
            format!("{key} = {addr}: any free port"),
            None,
        );
    }
    match TcpListener::bind(addr) {
        Ok(_) => finding(check, Level::Ok, format!("{addr} ({key}) is free"), None),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => match running {
            Some(version) => finding(
                check,
                Level::Info,
                format!("{addr} ({key}) is held by the running venuebox {version}"),
                None,
            ),
            None => finding(
                check,
                Level::Error,
                format!("{addr} ({key}) is taken by another program"),
                Some(format!(
                    "find it with `ss -ltnp 'sport = :{}'` and stop it, or set {key} to a free port",
                    addr.port()
                )),
            ),
        },
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => finding(
            check,
            Level::Warning,
            format!("{addr} ({key}) needs privileges this user lacks ({e})"),
            Some(
                "run as the service does (its systemd unit grants CAP_NET_BIND_SERVICE), \
                 or use a port above 1023"
                    .into(),
            ),
        ),
        Err(e) => finding(
            check,
            Level::Error,
            format!("{addr} ({key}) cannot be bound: {e}"),
            Some(format!(
                "set {key} to an address of this machine (`ip addr` lists them)"
            )),
        ),
    }
}

/// The version of the venuebox whose `/healthz` answers at `addr`, if one does.
fn venuebox_at(addr: SocketAddr) -> Option<String> {
    let mut target = addr;
    if target.ip().is_unspecified() {
        target.set_ip(if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    let mut stream = TcpStream::connect_timeout(&target, PROBE_TIMEOUT).ok()?;
    stream.set_read_timeout(Some(PROBE_TIMEOUT)).ok()?;
    stream.set_write_timeout(Some(PROBE_TIMEOUT)).ok()?;
    stream
        .write_all(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut answer = Vec::new();
    let _ = stream.take(64 * 1024).read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    let (head, body) = answer.split_once("\r\n\r\n")?;
    if !head.starts_with("HTTP/1.") {
        return None;
    }
    let health: serde_json::Value = serde_json::from_str(body).ok()?;
    health.get("uptime_secs")?;
    health.get("version")?.as_str().map(str::to_string)
}

// ---- data dir ----

fn check_data_dir(config: &Config) -> Vec<Finding> {
    let dir = &config.storage.data_dir;
    let shown = dir.display();
    let mut out = Vec::new();
    let existing = if dir.is_dir() {
        match crate::files::check_writable(dir) {
            Ok(()) => out.push(finding(
                "data_dir",
                Level::Ok,
                format!("{shown} exists and accepts files"),
                None,
            )),
            Err(e) => out.push(finding(
                "data_dir",
                Level::Error,
                format!("{shown} does not accept new files: {e}"),
                Some(format!(
                    "make it writable by the service user (`chown -R venuebox: {shown}`), \
                     or remount its filesystem read-write"
                )),
            )),
        }
        dir.clone()
    } else if dir.exists() {
        out.push(finding(
            "data_dir",
            Level::Error,
            format!("{shown} is not a directory"),
            Some("point storage.data_dir (or --data-dir) at a directory".into()),
        ));
        return out;
    } else {
        out.push(finding(
            "data_dir",
            Level::Info,
            format!("{shown} does not exist yet; `venuebox run` creates it"),
            None,
        ));
        match nearest_existing(dir) {
            Some(p) => p,
            None => return out,
        }
    };
    let reserve = config.ingest.free_disk_reserve_bytes;
    out.push(match crate::files::free_bytes(&existing) {
        Ok(free) => space_finding(&existing, free, reserve),
        Err(e) => finding(
            "data_dir.space",
            Level::Warning,
            format!("cannot read the free space of {}: {e}", existing.display()),
            None,
        ),
    });
    out
}

fn space_finding(dir: &Path, free: u64, reserve: u64) -> Finding {
    let what = format!(
        "{} free on {}'s filesystem (reserve ingest.free_disk_reserve_bytes = {})",
        human_bytes(free),
        dir.display(),
        human_bytes(reserve)
    );
    let fix = "free space (delete what is synced, or move storage.data_dir to a larger disk)";
    if free < reserve {
        finding(
            "data_dir.space",
            Level::Error,
            format!("{what}: below the reserve, every upload is refused"),
            Some(fix.into()),
        )
    } else if free < reserve.saturating_mul(SPACE_WARNING_FACTOR) {
        finding(
            "data_dir.space",
            Level::Warning,
            format!("{what}: less than {SPACE_WARNING_FACTOR}× the reserve"),
            Some(fix.into()),
        )
    } else {
        finding("data_dir.space", Level::Ok, what, None)
    }
}

fn nearest_existing(path: &Path) -> Option<PathBuf> {
    let absolute = std::path::absolute(path).ok()?;
    absolute
        .ancestors()
        .find(|p| p.is_dir())
        .map(Path::to_path_buf)
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

// ---- storage medium ----

fn check_storage(data_dir: &Path) -> Finding {
    let Some(dir) = nearest_existing(data_dir) else {
        return finding(
            "storage",
            Level::Info,
            "no existing directory to look at",
            None,
        );
    };
    match block_device_of(&dir) {
        Ok(disk) => storage_finding(&disk),
        Err(why) => finding(
            "storage",
            Level::Info,
            format!("cannot tell the medium under {}: {why}", dir.display()),
            None,
        ),
    }
}

/// The disk (not the partition) holding a filesystem, from sysfs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disk {
    /// Kernel name, e.g. `mmcblk0`, `sda`, `nvme0n1`.
    pub name: String,
    /// `queue/rotational`: a spinning disk.
    pub rotational: bool,
}

/// What the medium means for an event: an SD card wears out and stalls under a day of
/// writes, so it is a warning with the advice to use an SSD.
pub fn storage_finding(disk: &Disk) -> Finding {
    if disk.name.starts_with("mmcblk") {
        finding(
            "storage",
            Level::Warning,
            format!("the data dir is on an SD card ({})", disk.name),
            Some(
                "for long events put storage.data_dir on a USB SSD: SD cards slow down and \
                 wear out under sustained writes"
                    .into(),
            ),
        )
    } else if disk.rotational {
        finding(
            "storage",
            Level::Info,
            format!("the data dir is on a spinning disk ({})", disk.name),
            Some("an SSD survives knocks at a venue better".into()),
        )
    } else {
        finding(
            "storage",
            Level::Ok,
            format!("the data dir is on a solid-state disk ({})", disk.name),
            None,
        )
    }
}

fn block_device_of(dir: &Path) -> Result<Disk, String> {
    let stat = rustix::fs::stat(dir).map_err(|e| e.to_string())?;
    let (major, minor) = (
        rustix::fs::major(stat.st_dev),
        rustix::fs::minor(stat.st_dev),
    );
    if let Some(disk) = disk_of(major, minor) {
        return Ok(disk);
    }
    // Anonymous device (btrfs, overlay, tmpfs): the mount's source may be a block device.
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").map_err(|e| e.to_string())?;
    let Some((fstype, source)) = mount_of(&mountinfo, major, minor) else {
        return Err(format!("device {major}:{minor} is in no mount"));
    };
    if source.starts_with("/dev/") {
        if let Ok(s) = rustix::fs::stat(source.as_str()) {
            let (ma, mi) = (rustix::fs::major(s.st_rdev), rustix::fs::minor(s.st_rdev));
            if let Some(disk) = disk_of(ma, mi) {
                return Ok(disk);
            }
        }
    }
    Err(format!(
        "it is a {fstype} filesystem ({source}), not a disk"
    ))
}

/// The disk behind block device `major:minor`, through `/sys/dev/block` (a partition's
/// directory sits inside its disk's and holds a `partition` file).
fn disk_of(major: u32, minor: u32) -> Option<Disk> {
    let dev = std::fs::canonicalize(format!("/sys/dev/block/{major}:{minor}")).ok()?;
    let disk = if dev.join("partition").exists() {
        dev.parent()?.to_path_buf()
    } else {
        dev
    };
    let name = disk.file_name()?.to_string_lossy().into_owned();
    let rotational = std::fs::read_to_string(disk.join("queue/rotational"))
        .map(|s| s.trim() == "1")
        .unwrap_or(false);
    Some(Disk { name, rotational })
}

/// The filesystem type and source of the mount with device `major:minor`, from
/// `/proc/self/mountinfo` (proc(5): field 3 is `major:minor`; after the ` - ` separator
/// come the type and the source).
pub fn mount_of(mountinfo: &str, major: u32, minor: u32) -> Option<(String, String)> {
    let wanted = format!("{major}:{minor}");
    mountinfo.lines().find_map(|line| {
        let (before, after) = line.split_once(" - ")?;
        if before.split(' ').nth(2)? != wanted {
            return None;
        }
        let mut rest = after.split(' ');
        Some((rest.next()?.to_string(), rest.next()?.to_string()))
    })
}

// ---- clock ----

fn check_clock(config: &Config) -> Finding {
    let built: i64 = BUILT_AT.parse().unwrap_or(0);
    let newest = newest_record(&config.storage.data_dir);
    clock_finding(crate::clock::now(), built.max(CLOCK_FLOOR), newest)
}

/// The newest time stored in the database (a photo's arrival, an audit entry), if the
/// database exists and has one. Opened read-only: the doctor never creates it.
fn newest_record(data_dir: &Path) -> Option<i64> {
    let path = crate::files::layout::database(data_dir);
    if !path.is_file() {
        return None;
    }
    let conn =
        rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .ok()?;
    let photo = crate::ingest::newest_received_at(&conn).ok().flatten();
    let audit = crate::db::recent_audit(&conn, 1)
        .ok()
        .and_then(|v| v.first().map(|e| e.at));
    photo.max(audit)
}

/// Judges the clock reading `now` against `floor` (no believable time is earlier) and
/// the newest time stored in the database.
pub fn clock_finding(now: i64, floor: i64, newest: Option<i64>) -> Finding {
    let fix = "connect the uplink so NTP sets the clock (`timedatectl` shows \
               \"System clock synchronized: yes\"), or set it from a phone's time: \
               `sudo date -u -s 'YYYY-MM-DD HH:MM:SS'`";
    if now < floor {
        return finding(
            "clock",
            Level::Warning,
            format!(
                "the clock reads {}, before {} (this firmware's build or 2026-01-01): \
                 a Raspberry Pi has no battery clock",
                iso(now),
                iso(floor)
            ),
            Some(fix.into()),
        );
    }
    if let Some(newest) = newest.filter(|&n| now < n) {
        return finding(
            "clock",
            Level::Warning,
            format!(
                "the clock reads {}, before the newest record in the database ({}): it went back",
                iso(now),
                iso(newest)
            ),
            Some(fix.into()),
        );
    }
    finding(
        "clock",
        Level::Ok,
        format!("the clock reads {}", iso(now)),
        None,
    )
}

/// Whether new records are being marked as written with a trusted clock (issue 15),
/// under `policy`: an `info` finding either way (an offline venue has no NTP, and that
/// is not a fault), saying what makes it trusted.
pub fn clock_trust_finding(policy: crate::clock::TrustPolicy, trusted: bool) -> Finding {
    use crate::clock::TrustPolicy;
    let what = match (policy, trusted) {
        (_, true) => "new records are marked as written with a trusted clock".to_string(),
        (TrustPolicy::Auto, false) => format!(
            "new records are marked as written with an untrusted clock: NTP has not \
             synchronised it since boot ({} is missing)",
            crate::clock::NTP_SYNCHRONIZED_FILE
        ),
        (TrustPolicy::Always, false) => {
            "new records are marked untrusted: the clock reads before this firmware was built"
                .to_string()
        }
        (TrustPolicy::Never, false) => {
            "new records are marked as written with an untrusted clock (clock.trust = \"never\")"
                .to_string()
        }
    };
    let fix = (!trusted && policy == TrustPolicy::Auto).then(|| {
        "connect the uplink so systemd-timesyncd synchronises the clock, or set \
         clock.trust = \"always\" on a box with a battery-backed RTC or GPS"
            .to_string()
    });
    finding("clock.trust", Level::Info, what, fix)
}

fn iso(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| t.to_string())
}

// ---- services ----

fn check_services() -> Vec<Finding> {
    // sd_booted(3): systemd is the init system when this directory exists.
    let systemd = Path::new("/run/systemd/system").is_dir() && find_program("systemctl").is_some();
    [
        ("hostapd", "hostapd", "hostapd", "the Wi-Fi access point"),
        ("dnsmasq", "dnsmasq", "dnsmasq", "DHCP and DNS for phones"),
        ("nft", "nftables", "nftables", "the firewall and portal redirect"),
    ]
    .into_iter()
    .map(|(program, unit, package, role)| {
        let check = format!("service.{unit}");
        if find_program(program).is_none() {
            return finding(
                &check,
                Level::Warning,
                format!("{program} ({role}) is not installed"),
                Some(format!("`sudo apt install {package}` (docs/venue-network.md)")),
            );
        }
        if !systemd {
            return finding(
                &check,
                Level::Warning,
                format!("{program} is installed; cannot tell whether {unit}.service is enabled (systemd is not running)"),
                Some(format!("on the box: `systemctl is-enabled {unit}`")),
            );
        }
        let state = Command::new("systemctl")
            .args(["is-enabled", &format!("{unit}.service")])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        if state == "enabled" {
            finding(&check, Level::Ok, format!("{unit}.service is installed and enabled"), None)
        } else {
            finding(
                &check,
                Level::Warning,
                format!("{unit}.service is installed but not enabled ({state})"),
                Some(format!("`sudo systemctl enable --now {unit}`")),
            )
        }
    })
    .collect()
}

/// The program's path on `PATH`, or in /usr/sbin and /sbin (where hostapd, dnsmasq
/// and nft live, often off an ordinary user's PATH).
fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|dir| dir.join(name))
        .find(|p| {
            use std::os::unix::fs::PermissionsExt;
            p.metadata()
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

// ---- venue network configs ----

fn check_network_configs(config: &Config, config_file: Option<&Path>) -> Vec<Finding> {
    let Some(dir) = config_file.and_then(Path::parent) else {
        return Vec::new();
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let mut out = Vec::new();
    for report in crate::net::netcheck::check_dir(dir, config) {
        let name = report
            .file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let check = format!("network.{name}");
        let fix = || {
            Some(format!(
                "edit {} (docs/venue-network.md)",
                report.file.display()
            ))
        };
        for e in &report.errors {
            out.push(finding(&check, Level::Error, e.clone(), fix()));
        }
        for w in &report.warnings {
            out.push(finding(&check, Level::Warning, w.clone(), fix()));
        }
        if report.errors.is_empty() && report.warnings.is_empty() {
            out.push(finding(
                &check,
                Level::Ok,
                format!("{} agrees with the config", report.file.display()),
                None,
            ));
        }
    }
    out
}

// ---- pass scanners and GPIO ----

fn check_door(config: &Config) -> Finding {
    check_scanner(
        "door",
        "door scanner",
        "door",
        config.door.scanner,
        &config.door.device,
    )
}

/// One finding per `[[tagging.scanners]]` entry, named `stall.<creator>`.
fn check_stall_scanners(config: &Config) -> Vec<Finding> {
    config
        .tagging
        .scanners
        .iter()
        .enumerate()
        .map(|(i, s)| {
            check_scanner(
                &format!("stall.{}", s.creator),
                &format!("{}'s stall scanner", s.creator),
                &format!("tagging.scanners.{i}"),
                s.scanner,
                &s.device,
            )
        })
        .collect()
}

/// Whether a pass scanner's serial device is there: `check` names the finding, `what`
/// the scanner in its text, `key` the config table its `scanner` and `device` are in.
fn check_scanner(check: &str, what: &str, key: &str, kind: ScannerKind, path: &Path) -> Finding {
    let device = path.display();
    match kind {
        ScannerKind::Off => finding(
            check,
            Level::Info,
            format!("no {what} ({key}.scanner = off)"),
            None,
        ),
        ScannerKind::Simulated => finding(
            check,
            Level::Info,
            format!("{what} simulated from {device}"),
            None,
        ),
        ScannerKind::Serial => {
            use std::os::unix::fs::FileTypeExt;
            match std::fs::metadata(path) {
                Ok(m) if m.file_type().is_char_device() => finding(
                    check,
                    Level::Ok,
                    format!("{what} device {device} is present"),
                    None,
                ),
                Ok(_) => finding(
                    check,
                    Level::Error,
                    format!("{key}.device {device} is not a serial device"),
                    Some(format!(
                        "set {key}.device to the scanner's tty (`ls -l /dev/serial/by-id/`)"
                    )),
                ),
                Err(e) => finding(
                    check,
                    Level::Error,
                    format!("{what} device {device} is missing ({e})"),
                    Some(format!(
                        "plug the scanner in, or set {key}.device to its tty \
                         (`ls -l /dev/serial/by-id/` lists serial devices)"
                    )),
                ),
            }
        }
    }
}

/// The Raspberry Pi model from the device tree (`/proc/device-tree/model`), or `None`
/// on any other machine.
fn raspberry_pi_model() -> Option<String> {
    let model = std::fs::read_to_string("/proc/device-tree/model").ok()?;
    let model = model.trim_end_matches('\0').trim().to_string();
    model.contains("Raspberry Pi").then_some(model)
}

fn check_gpio(pi: Option<&str>) -> Finding {
    let Some(model) = pi else {
        return finding(
            "gpio",
            Level::Info,
            "not a Raspberry Pi: GPIO simulated",
            None,
        );
    };
    if Path::new("/dev/gpiochip0").exists() {
        finding(
            "gpio",
            Level::Ok,
            format!("{model}: /dev/gpiochip0 is present"),
            None,
        )
    } else {
        finding(
            "gpio",
            Level::Error,
            format!("{model}: /dev/gpiochip0 is missing"),
            Some("use Raspberry Pi OS's kernel (it provides the GPIO character device)".into()),
        )
    }
}

// ---- power ----

fn check_power(pi: Option<&str>) -> Finding {
    if pi.is_none() {
        return finding(
            "power",
            Level::Info,
            "not a Raspberry Pi: no under-voltage history",
            None,
        );
    }
    match read_throttled() {
        Some(bits) => power_finding(bits),
        None => finding(
            "power",
            Level::Warning,
            "cannot read the throttle state (no vcgencmd, no get_throttled in sysfs)",
            Some("`sudo apt install libraspberrypi-bin` for vcgencmd".into()),
        ),
    }
}

fn read_throttled() -> Option<u32> {
    if let Some(vcgencmd) = find_program("vcgencmd") {
        if let Ok(out) = Command::new(vcgencmd).arg("get_throttled").output() {
            // "throttled=0x50005"
            let text = String::from_utf8_lossy(&out.stdout);
            if let Some(hex) = text.trim().strip_prefix("throttled=0x") {
                if let Ok(bits) = u32::from_str_radix(hex, 16) {
                    return Some(bits);
                }
            }
        }
    }
    let text =
        std::fs::read_to_string("/sys/devices/platform/soc/soc:firmware/get_throttled").ok()?;
    u32::from_str_radix(text.trim().trim_start_matches("0x"), 16).ok()
}

/// Judges `vcgencmd get_throttled`'s bits (Raspberry Pi documentation, "vcgencmd",
/// get_throttled): 0 under-voltage now, 1 ARM frequency capped now, 2 throttled now,
/// 3 soft temperature limit now; 16–19 the same "has occurred since boot".
pub fn power_finding(bits: u32) -> Finding {
    const NAMES: [&str; 4] = [
        "under-voltage",
        "ARM frequency capped",
        "throttled",
        "soft temperature limit",
    ];
    let now: Vec<&str> = (0..4)
        .filter(|b| bits & (1 << b) != 0)
        .map(|b| NAMES[b])
        .collect();
    let past: Vec<&str> = (0..4)
        .filter(|b| bits & (1 << (b + 16)) != 0)
        .map(|b| NAMES[b])
        .collect();
    let supply = "use the official power supply (5 V 3 A for a Pi 4, 5 V 5 A for a Pi 5) \
                  with a short cable, and keep the box ventilated";
    if bits & 1 != 0 {
        finding(
            "power",
            Level::Error,
            format!("under-voltage now (0x{bits:x}: {})", now.join(", ")),
            Some(supply.into()),
        )
    } else if !now.is_empty() || !past.is_empty() {
        let mut what = format!("0x{bits:x}:");
        if !now.is_empty() {
            what += &format!(" now {};", now.join(", "));
        }
        if !past.is_empty() {
            what += &format!(" since boot {}", past.join(", "));
        }
        finding(
            "power",
            Level::Warning,
            what.trim_end_matches(';').to_string(),
            Some(supply.into()),
        )
    } else {
        finding(
            "power",
            Level::Ok,
            "no under-voltage or throttling since boot",
            None,
        )
    }
}

// ---- uplink ----

fn check_uplink(config: &Config) -> Finding {
    let sync = &config.sync;
    if !sync.enabled {
        return finding("uplink", Level::Info, "sync is off: no uplink needed", None);
    }
    if sync.target == SyncTargetKind::Local {
        return finding(
            "uplink",
            Level::Info,
            "sync goes to a local directory: no uplink needed",
            None,
        );
    }
    let endpoint = sync
        .endpoint
        .clone()
        .unwrap_or_else(|| format!("https://s3.{}.amazonaws.com", sync.region));
    let Some(authority) = host_port(&endpoint) else {
        return finding(
            "uplink",
            Level::Error,
            format!("sync.endpoint {endpoint:?} is not an http(s) URL"),
            Some("set sync.endpoint to e.g. https://s3.eu-central-1.amazonaws.com".into()),
        );
    };
    match connect(&authority) {
        Ok(addr) => finding(
            "uplink",
            Level::Ok,
            format!("sync endpoint {authority} answers ({addr})"),
            None,
        ),
        Err(why) => finding(
            "uplink",
            Level::Warning,
            format!("sync endpoint {authority} is unreachable ({why}); photos wait in the outbox"),
            Some(
                "connect the uplink (Ethernet, or a phone's hotspot), or check sync.endpoint"
                    .into(),
            ),
        ),
    }
}

/// `host:port` of an http(s) URL, the port defaulted by the scheme.
pub fn host_port(url: &str) -> Option<String> {
    let (default, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (443, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (80, rest)
    } else {
        return None;
    };
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if authority.is_empty() {
        return None;
    }
    let has_port = match authority.rfind(']') {
        Some(end) => authority[end..].contains(':'),
        None => authority.contains(':'),
    };
    Some(if has_port {
        authority.to_string()
    } else {
        format!("{authority}:{default}")
    })
}

/// Resolves (in a thread, so a dead resolver cannot hang the doctor) and connects.
fn connect(authority: &str) -> Result<SocketAddr, String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let name = authority.to_string();
    std::thread::spawn(move || {
        let _ = tx.send(name.to_socket_addrs().map(|a| a.collect::<Vec<_>>()));
    });
    let addrs = match rx.recv_timeout(PROBE_TIMEOUT) {
        Ok(Ok(addrs)) if !addrs.is_empty() => addrs,
        Ok(Ok(_)) => return Err("the name has no address".into()),
        Ok(Err(e)) => return Err(format!("name lookup failed: {e}")),
        Err(_) => return Err("name lookup timed out".into()),
    };
    let mut last = String::new();
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, PROBE_TIMEOUT) {
            Ok(_) => return Ok(addr),
            Err(e) => last = format!("{addr}: {e}"),
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn power_bits_decode_per_the_documentation() {
        assert_eq!(power_finding(0).level, Level::Ok);
        let now = power_finding(0x5_0005);
        assert_eq!(now.level, Level::Error);
        assert!(now.what.contains("under-voltage"), "{}", now.what);
        let past = power_finding(0x5_0000);
        assert_eq!(past.level, Level::Warning);
        assert!(
            past.what.contains("since boot under-voltage, throttled"),
            "{}",
            past.what
        );
        assert!(power_finding(1 << 3)
            .what
            .contains("now soft temperature limit"));
    }

    #[test]
    fn clock_before_the_floor_or_the_newest_record_is_a_warning() {
        let floor = CLOCK_FLOOR;
        assert_eq!(clock_finding(floor + 10, floor, None).level, Level::Ok);
        let early = clock_finding(0, floor, None);
        assert_eq!(early.level, Level::Warning);
        assert!(early.what.contains("1970-01-01"), "{}", early.what);
        assert!(early.fix.unwrap().contains("date -u -s"));
        let back = clock_finding(floor + 10, floor, Some(floor + 100));
        assert_eq!(back.level, Level::Warning);
        assert!(back.what.contains("newest record"), "{}", back.what);
        assert_eq!(
            clock_finding(floor + 100, floor, Some(floor + 10)).level,
            Level::Ok
        );
    }

    #[test]
    fn sd_card_gets_ssd_advice() {
        let sd = storage_finding(&Disk {
            name: "mmcblk0".into(),
            rotational: false,
        });
        assert_eq!(sd.level, Level::Warning);
        assert!(sd.fix.unwrap().contains("SSD"));
        let ssd = storage_finding(&Disk {
            name: "sda".into(),
            rotational: false,
        });
        assert_eq!(ssd.level, Level::Ok);
    }

    #[test]
    fn mountinfo_lines_give_type_and_source() {
        let info = "22 1 0:21 / / rw,relatime shared:1 - btrfs /dev/nvme0n1p2 rw\n\
                    30 22 0:45 / /tmp rw shared:5 - tmpfs tmpfs rw,size=1024k\n";
        assert_eq!(
            mount_of(info, 0, 45),
            Some(("tmpfs".to_string(), "tmpfs".to_string()))
        );
        assert_eq!(
            mount_of(info, 0, 21),
            Some(("btrfs".to_string(), "/dev/nvme0n1p2".to_string()))
        );
        assert_eq!(mount_of(info, 8, 1), None);
    }

    #[test]
    fn endpoints_become_host_and_port() {
        assert_eq!(
            host_port("https://s3.amazonaws.com").as_deref(),
            Some("s3.amazonaws.com:443")
        );
        assert_eq!(
            host_port("http://127.0.0.1:3900/").as_deref(),
            Some("127.0.0.1:3900")
        );
        assert_eq!(host_port("http://[::1]/x").as_deref(), Some("[::1]:80"));
        assert_eq!(
            host_port("http://[::1]:9000").as_deref(),
            Some("[::1]:9000")
        );
        assert_eq!(host_port("ftp://x"), None);
    }

    #[test]
    fn clock_trust_is_information_with_a_fix_only_when_ntp_can_help() {
        use crate::clock::TrustPolicy;
        let ok = clock_trust_finding(TrustPolicy::Auto, true);
        assert_eq!((ok.level, ok.fix.is_none()), (Level::Info, true));
        assert!(ok.what.contains("trusted clock") && !ok.what.contains("untrusted"));
        let auto = clock_trust_finding(TrustPolicy::Auto, false);
        assert!(auto.what.contains("untrusted") && auto.what.contains("NTP"));
        assert!(auto.fix.unwrap().contains("clock.trust"));
        let never = clock_trust_finding(TrustPolicy::Never, false);
        assert!(never.what.contains("never") && never.fix.is_none());
    }

    #[test]
    fn space_below_reserve_is_an_error_and_near_it_a_warning() {
        let dir = Path::new("/data");
        assert_eq!(space_finding(dir, 10, 100).level, Level::Error);
        assert_eq!(space_finding(dir, 300, 100).level, Level::Warning);
        assert_eq!(space_finding(dir, 400, 100).level, Level::Ok);
    }
}
