//! Loading a [`Config`]: the layers (built-in defaults, the TOML file,
//! `VENUEBOX_SECTION__KEY` environment overrides, the command line), unknown keys
//! reported by path, and whole-config validation that collects every problem.

use super::*;

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
        for (key, value) in [
            ("http.max_in_flight", self.http.max_in_flight as u64),
            (
                "http.max_in_flight_per_client",
                self.http.max_in_flight_per_client as u64,
            ),
            ("http.body_timeout_secs", self.http.body_timeout_secs),
            ("http.header_timeout_secs", self.http.header_timeout_secs),
            ("http.max_connections", self.http.max_connections as u64),
            (
                "http.max_connections_per_client",
                self.http.max_connections_per_client as u64,
            ),
        ] {
            if value == 0 {
                bad(key, "must be at least 1".into());
            }
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
        if self.tus.max_open_uploads_per_creator == 0 {
            bad(
                "tus.max_open_uploads_per_creator",
                "must be at least 1".into(),
            );
        }
        let origins = &self.tus.cors_allowed_origins;
        if origins.len() > MAX_CORS_ORIGINS {
            bad(
                "tus.cors_allowed_origins",
                format!(
                    "lists {} origins; at most {MAX_CORS_ORIGINS}",
                    origins.len()
                ),
            );
        }
        for origin in origins {
            if let Err(reason) = check_origin(origin) {
                bad("tus.cors_allowed_origins", reason);
            }
        }
        if self.ftp.expire_after_secs == 0 {
            bad("ftp.expire_after_secs", "must be at least 1".into());
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
        if self.tagging.gap_secs == 0 {
            bad("tagging.gap_secs", "must be at least 1".into());
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
        if self.printer.kind != PrinterKind::Off && self.printer.device.as_os_str().is_empty() {
            bad(
                "printer.device",
                "must be set when printer.kind is on".into(),
            );
        }
        if !(300..=4_000_000).contains(&self.printer.baud) {
            bad(
                "printer.baud",
                format!(
                    "{} is not a serial speed (300 to 4000000)",
                    self.printer.baud
                ),
            );
        }
        if self.printer.queue == 0 {
            bad("printer.queue", "must be at least 1".into());
        }
        if self.printer.job_max_age_secs == 0 {
            bad("printer.job_max_age_secs", "must be at least 1".into());
        }
        self.gpio.validate(&mut bad);
        self.delivery.validate(&mut bad);
        self.dashboard.validate(&mut bad);
        self.tagging.validate(&self.door, &self.printer, &mut bad);
        // Every string has a length bound and no control characters: they end up in
        // every portal page, watermark band and manifest.
        for (key, value, max) in self.string_bounds() {
            if value.chars().count() > max {
                bad(
                    key,
                    format!(
                        "is {} characters long; at most {max}",
                        value.chars().count()
                    ),
                );
            } else if value.chars().any(char::is_control) {
                bad(key, "must not contain control characters".into());
            }
        }
        // Every number has an upper bound, so none can wrap in time or size arithmetic
        // (a retention of 10^15 days once purged everything at start).
        for (key, value, max) in self.upper_bounds() {
            if value > max {
                bad(
                    key,
                    format!("{value} is more than the largest allowed, {max}"),
                );
            }
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            bad(
                "log.level",
                format!("{:?} is not a log filter ({e})", self.log.level),
            );
        }
        issues
    }

    /// The length bound (in characters) of every string key, set or unset, the
    /// paths included: `(key path, value, longest allowed)`.
    fn string_bounds(&self) -> Vec<(&'static str, &str, usize)> {
        const URL: usize = 2048;
        const PATH: usize = 4096;
        let mut bounds: Vec<(&'static str, &str, usize)> = vec![
            ("box.name", &self.device.name, 63),
            ("http.listen", &self.http.listen, 64),
            ("https.listen", &self.https.listen, 64),
            ("ftp.listen", &self.ftp.listen, 64),
            ("event.name", &self.event.name, 120),
            ("event.locale", &self.event.locale, 35),
            ("watermark.text", &self.watermark.text, 40),
            ("portal.organiser", &self.portal.organiser, 200),
            ("portal.contact", &self.portal.contact, 200),
            ("portal.notice_version", &self.portal.notice_version, 32),
            ("log.level", &self.log.level, 512),
            ("sync.region", &self.sync.region, 64),
            ("sync.bucket", &self.sync.bucket, 63),
            ("sync.prefix", &self.sync.prefix, 512),
            ("delivery.currency", &self.delivery.currency, 3),
        ];
        for (key, value, max) in [
            ("ftp.implicit_listen", &self.ftp.implicit_listen, 64),
            ("mdns.instance", &self.mdns.instance, 63),
            ("event.starts_on", &self.event.starts_on, 10),
            ("event.ends_on", &self.event.ends_on, 10),
            ("portal.url", &self.portal.url, URL),
            ("portal.api_url", &self.portal.api_url, URL),
            ("portal.venue_info_url", &self.portal.venue_info_url, URL),
            ("sync.endpoint", &self.sync.endpoint, URL),
            ("sync.access_key_id", &self.sync.access_key_id, 256),
            ("sync.secret_access_key", &self.sync.secret_access_key, 256),
        ] {
            if let Some(value) = value {
                bounds.push((key, value, max));
            }
        }
        // A DNS name is at most 253 characters; with scheme and port an origin fits in 300.
        for origin in &self.tus.cors_allowed_origins {
            bounds.push(("tus.cors_allowed_origins", origin, 300));
        }
        // Linux interface names are at most 15 bytes (IFNAMSIZ - 1).
        for interface in &self.portal.attendee_interfaces {
            bounds.push(("portal.attendee_interfaces", interface, 15));
        }
        for part in &self.gpio.poweroff_command {
            bounds.push(("gpio.poweroff_command", part, PATH));
        }
        for (key, value) in [
            ("storage.data_dir", &self.storage.data_dir),
            ("door.device", &self.door.device),
            ("printer.device", &self.printer.device),
            ("gpio.sim_dir", &self.gpio.sim_dir),
            ("dashboard.host_root", &self.dashboard.host_root),
        ] {
            if let Some(value) = value.to_str() {
                bounds.push((key, value, PATH));
            }
        }
        for (key, value) in [
            ("https.cert_file", &self.https.cert_file),
            ("https.key_file", &self.https.key_file),
        ] {
            if let Some(value) = value.as_deref().and_then(|p| p.to_str()) {
                bounds.push((key, value, PATH));
            }
        }
        bounds
    }

    /// The upper bound of every numeric key that has none of its own in
    /// [`Config::validate`]: `(key path, value, largest allowed)`. The bounds are far
    /// above any real use and far below where seconds, bytes or counts overflow.
    fn upper_bounds(&self) -> [(&'static str, u64, u64); 34] {
        const DAY: u64 = 86_400;
        const GIB: u64 = 1 << 30;
        [
            ("printer.queue", self.printer.queue as u64, 1_000),
            (
                "printer.job_max_age_secs",
                self.printer.job_max_age_secs,
                DAY,
            ),
            ("previews.max_decodes", self.previews.max_decodes as u64, 64),
            (
                "previews.max_pixels",
                self.previews.max_pixels,
                1_000_000_000,
            ),
            (
                "previews.backpressure_queue",
                self.previews.backpressure_queue,
                1_000_000,
            ),
            (
                "storage.busy_timeout_ms",
                self.storage.busy_timeout_ms,
                600_000,
            ),
            (
                "http.request_timeout_secs",
                self.http.request_timeout_secs,
                3_600,
            ),
            (
                "http.body_limit_bytes",
                self.http.body_limit_bytes as u64,
                64 << 20,
            ),
            ("http.max_in_flight", self.http.max_in_flight as u64, 65_536),
            (
                "http.max_in_flight_per_client",
                self.http.max_in_flight_per_client as u64,
                65_536,
            ),
            ("http.body_timeout_secs", self.http.body_timeout_secs, 3_600),
            (
                "http.header_timeout_secs",
                self.http.header_timeout_secs,
                3_600,
            ),
            (
                "http.max_connections",
                self.http.max_connections as u64,
                1_000_000,
            ),
            (
                "http.max_connections_per_client",
                self.http.max_connections_per_client as u64,
                1_000_000,
            ),
            (
                "ingest.free_disk_reserve_bytes",
                self.ingest.free_disk_reserve_bytes,
                1 << 44,
            ),
            (
                "ingest.creator_quota_bytes",
                self.ingest.creator_quota_bytes,
                1 << 44,
            ),
            ("ingest.max_file_bytes", self.ingest.max_file_bytes, 1 << 40),
            (
                "tus.max_open_uploads_per_creator",
                self.tus.max_open_uploads_per_creator,
                100_000,
            ),
            (
                "tus.expire_after_secs",
                self.tus.expire_after_secs,
                30 * DAY,
            ),
            (
                "ftp.expire_after_secs",
                self.ftp.expire_after_secs,
                30 * DAY,
            ),
            (
                "admin.session_ttl_secs",
                self.admin.session_ttl_secs,
                30 * DAY,
            ),
            (
                "admin.login_max_failures",
                self.admin.login_max_failures as u64,
                1_000,
            ),
            ("admin.login_window_secs", self.admin.login_window_secs, DAY),
            ("portal.session_secs", self.portal.session_secs, 30 * DAY),
            ("portal.retention_days", self.portal.retention_days, 3_650),
            (
                "portal.attendance_debounce_secs",
                self.portal.attendance_debounce_secs,
                DAY,
            ),
            ("tagging.gap_secs", self.tagging.gap_secs, DAY),
            (
                "sync.cut_every_photos",
                self.sync.cut_every_photos,
                1_000_000,
            ),
            ("sync.cut_every_secs", self.sync.cut_every_secs, 7 * DAY),
            (
                "sync.bandwidth_limit_bytes_per_sec",
                self.sync.bandwidth_limit_bytes_per_sec,
                10 * GIB,
            ),
            // S3 limits a single PUT and a multipart part to 5 GiB.
            (
                "sync.multipart_threshold_bytes",
                self.sync.multipart_threshold_bytes,
                5 * GIB,
            ),
            ("sync.part_size_bytes", self.sync.part_size_bytes, 5 * GIB),
            (
                "sync.probe_min_backoff_ms",
                self.sync.probe_min_backoff_ms,
                3_600_000,
            ),
            (
                "sync.probe_max_backoff_ms",
                self.sync.probe_max_backoff_ms,
                3_600_000,
            ),
        ]
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

/// Checks that `origin` is written exactly as browsers send it in the `Origin` header
/// (the Fetch standard's serialisation of an origin, which the CORS check compares
/// byte for byte): `http` or `https`, `://`, a lowercase host (an ASCII DNS name, an
/// IPv4 address, or a bracketed IPv6 address in its shortest form), and `:port` only
/// when it is not the scheme's default. No path (not even `/`), query, user name or
/// wildcard. The reason names the fix when there is an obvious one.
fn check_origin(origin: &str) -> Result<(), String> {
    const LIKE: &str = "an origin like https://photos.example.com or http://192.168.1.20:8080";
    if origin.contains('*') {
        return Err(format!(
            "{origin:?}: wildcards are not allowed; list each origin that may upload"
        ));
    }
    let Some((scheme, rest)) = origin.split_once("://") else {
        return Err(format!("{origin:?} is not {LIKE}"));
    };
    let default_port = match scheme {
        "https" => "443",
        "http" => "80",
        s if s.eq_ignore_ascii_case("https") || s.eq_ignore_ascii_case("http") => {
            return Err(format!(
                "{origin:?}: write the scheme in lowercase, as browsers send it"
            ))
        }
        _ => return Err(format!("{origin:?}: the scheme must be http or https")),
    };
    if rest.contains(['/', '?', '#']) {
        return Err(format!(
            "{origin:?}: an origin has no path, not even a trailing / ({LIKE})"
        ));
    }
    if rest.contains('@') || rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{origin:?} is not {LIKE}"));
    }
    // The host, and what follows it (":port" or nothing).
    let (host, tail) = match rest.strip_prefix('[') {
        Some(inner) => {
            let Some((ip, tail)) = inner.split_once(']') else {
                return Err(format!("{origin:?}: an IPv6 address needs its closing ]"));
            };
            let Ok(parsed) = ip.parse::<std::net::Ipv6Addr>() else {
                return Err(format!("{origin:?}: {ip:?} is not an IPv6 address"));
            };
            if parsed.to_string() != ip {
                return Err(format!(
                    "{origin:?}: write the address as browsers do, [{parsed}]"
                ));
            }
            (&rest[..ip.len() + 2], tail)
        }
        None => match rest.find(':') {
            Some(colon) => (&rest[..colon], &rest[colon..]),
            None => (rest, ""),
        },
    };
    if !host.starts_with('[') {
        check_origin_host(origin, host)?;
    }
    match tail.strip_prefix(':') {
        None if tail.is_empty() => Ok(()),
        None => Err(format!("{origin:?} is not {LIKE}")),
        Some(port) if port == default_port => Err(format!(
            "{origin:?}: leave out the default port; browsers send {scheme}://{host}"
        )),
        Some(port)
            if !port.is_empty()
                && !port.starts_with('0')
                && port.bytes().all(|b| b.is_ascii_digit())
                && port.parse::<u16>().is_ok() =>
        {
            Ok(())
        }
        Some(port) => Err(format!("{origin:?}: {port:?} is not a port (1 to 65535)")),
    }
}

/// The host part of [`check_origin`] when it is not an IPv6 address: a DNS name of
/// lowercase ASCII labels, or an IPv4 address in dotted decimal.
fn check_origin_host(origin: &str, host: &str) -> Result<(), String> {
    if !host.is_ascii() {
        return Err(format!(
            "{origin:?}: write an internationalised host name in its ASCII (xn--) form, as browsers send it"
        ));
    }
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(format!(
            "{origin:?}: write the host in lowercase, as browsers send it"
        ));
    }
    let labels_ok = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        });
    if !labels_ok {
        return Err(format!("{origin:?}: {host:?} is not a host name"));
    }
    // A host whose last label is a number is an IPv4 address to a browser, which
    // writes it in plain dotted decimal (127.1 and 0x7f.0.0.1 become 127.0.0.1).
    let last = host.rsplit('.').next().unwrap_or_default();
    if last.bytes().all(|b| b.is_ascii_digit()) && host.parse::<std::net::Ipv4Addr>().is_err() {
        return Err(format!(
            "{origin:?}: {host:?} is not an IPv4 address in dotted decimal (like 192.168.1.20)"
        ));
    }
    Ok(())
}

fn from_tree(tree: toml::Table) -> Result<(Config, Vec<ConfigIssue>), ConfigIssue> {
    let mut unknown = BTreeSet::new();
    let value = toml::Value::Table(tree);
    let config: Config = serde_ignored::deserialize(value, |path| {
        unknown.insert(path.to_string());
    })
    .map_err(|e: toml::de::Error| {
        let reason = e.to_string().trim().replace('\n', " ");
        // toml names the key at the end ("... expected u32 in `admin.login_max_failures`"):
        // report it by that path, like every other issue.
        let key = reason
            .rsplit_once(" in `")
            .and_then(|(_, rest)| rest.strip_suffix('`'))
            .filter(|k| !k.is_empty() && !k.contains(' '))
            .unwrap_or("(value)")
            .to_string();
        ConfigIssue { key, reason }
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
    fn gpio_keys_are_checked() {
        let cases = [
            ("[gpio]\nled_pin = 40\n", "gpio.led_pin"),
            ("[gpio]\nbutton_pin = 17\n", "gpio.button_pin"),
            (
                "[gpio]\nbackend = \"simulated\"\nsim_dir = \"\"\n",
                "gpio.sim_dir",
            ),
            ("[gpio]\npairing_secs = 0\n", "gpio.pairing_secs"),
            ("[gpio]\nlong_press_ms = 100\n", "gpio.long_press_ms"),
            ("[gpio]\npoweroff_command = []\n", "gpio.poweroff_command"),
            (
                "[gpio]\npoweroff_command = [\"\"]\n",
                "gpio.poweroff_command",
            ),
        ];
        for (text, key) in cases {
            let err = load_str(text, &[]).expect_err(text);
            assert_eq!(keys(err), [key], "{text}");
        }
        let ok = load_str(
            "[gpio]\nbackend = \"rppal\"\nled_pin = 5\nbutton_pin = 6\npoweroff_command = [\"true\"]\n",
            &[],
        )
        .unwrap();
        assert_eq!(ok.gpio.backend, crate::config::GpioBackend::Rppal);
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
    fn a_tagging_gap_of_zero_is_refused_by_its_key() {
        let e = load_str("[tagging]\ngap_secs = 0\n", &[]).unwrap_err();
        assert!(keys(e).contains(&"tagging.gap_secs".to_string()));
        assert_eq!(
            load_str("[tagging]\ngap_secs = 60\n", &[])
                .unwrap()
                .tagging
                .gap_secs,
            60
        );
    }

    /// A stall scanner with a mistyped key, or on a device another one reads, is
    /// refused by its key path; a good one loads.
    #[test]
    fn stall_scanners_are_checked_by_their_key() {
        let text = "[door]\nscanner = \"serial\"\ndevice = \"/dev/door\"\n\
                    [[tagging.scanners]]\ncreator = \"anna\"\ndevice = \"/dev/stall-anna\"\nbaud = 9600\n\
                    [[tagging.scanners]]\ncreator = \"bert\"\ndevice = \"/dev/stall-anna\"\nbuad = 9600\n\
                    [[tagging.scanners]]\ncreator = \"cem\"\nscanner = \"simulated\"\ndevice = \"/dev/door\"\n";
        let e = load_str(text, &[]).unwrap_err();
        let shown = e.to_string();
        assert_eq!(
            keys(e),
            [
                "tagging.scanners.1.buad",
                "tagging.scanners.1.device",
                "tagging.scanners.2.device"
            ],
            "{shown}"
        );
        let ok = load_str(
            "[[tagging.scanners]]\ncreator = \"Anna Lima\"\ndevice = \"/dev/venuebox-stall-anna\"\n",
            &[],
        )
        .unwrap();
        assert_eq!(ok.tagging.scanners.len(), 1);
        assert_eq!(ok.tagging.scanners[0].scanner, ScannerKind::Serial);
        assert_eq!(ok.tagging.scanners[0].baud, 9600);
    }

    /// Every numeric key of the typed config, set to a huge value, is refused with
    /// its key path (issue 13, item 10: `retention_days = 10^15` once passed and
    /// purged every record at start). Keys are found from the config itself, so a new
    /// numeric key without a bound fails this test.
    #[test]
    fn every_numeric_key_has_an_upper_bound() {
        let full = toml::Table::try_from(Config::default()).unwrap();
        let mut numeric = Vec::new();
        for (section, table) in &full {
            let Some(table) = table.as_table() else {
                continue;
            };
            for (key, value) in table {
                match value {
                    toml::Value::Integer(_) | toml::Value::Float(_) => {
                        numeric.push((section.clone(), key.clone(), value.clone()))
                    }
                    toml::Value::Array(a) if a.iter().all(|v| v.is_integer()) && !a.is_empty() => {
                        numeric.push((section.clone(), key.clone(), value.clone()))
                    }
                    _ => {}
                }
            }
        }
        assert!(numeric.len() >= 25, "{numeric:?}");
        for (section, key, value) in numeric {
            let huge = match value {
                toml::Value::Float(_) => "1e30".to_string(),
                toml::Value::Array(a) => {
                    format!("[{}]", vec!["1000000000000000"; a.len()].join(", "))
                }
                _ => "1000000000000000".to_string(),
            };
            let text = format!("[{section}]\n{key} = {huge}\n");
            let path = format!("{section}.{key}");
            match load_str(&text, &[]) {
                Ok(_) => panic!("{path} = {huge} was accepted"),
                Err(e) => {
                    let shown = e.to_string();
                    assert!(
                        keys(e).contains(&path),
                        "{path} = {huge}: not reported by its path: {shown}"
                    )
                }
            }
        }
    }

    /// Every string key, set to 100 000 characters, is refused by its key path for
    /// its length (issue 13, item 11: a 900 KB event name went into every page,
    /// watermark and manifest). String keys are found from the config itself, plus
    /// the optional ones, unset by default.
    #[test]
    fn every_string_key_has_a_length_bound() {
        let full = toml::Table::try_from(Config::default()).unwrap();
        let mut keys_found: Vec<String> = Vec::new();
        for (section, table) in &full {
            let Some(table) = table.as_table() else {
                continue;
            };
            for (key, value) in table {
                if value.is_str()
                    && !matches!(
                        key.as_str(),
                        "scanner" | "format" | "target" | "kind" | "backend" | "trust"
                    )
                {
                    keys_found.push(format!("{section}.{key}"));
                }
            }
        }
        keys_found.extend(
            [
                "ftp.implicit_listen",
                "mdns.instance",
                "event.starts_on",
                "event.ends_on",
                "portal.url",
                "portal.api_url",
                "portal.venue_info_url",
                "sync.endpoint",
                "sync.access_key_id",
                "sync.secret_access_key",
                "https.cert_file",
                "https.key_file",
            ]
            .map(String::from),
        );
        assert!(keys_found.len() >= 20, "{keys_found:?}");
        let long = "x".repeat(100_000);
        for path in keys_found {
            let (section, key) = path.split_once('.').unwrap();
            let text = format!("[{section}]\n{key} = \"{long}\"\n");
            let Err(e) = load_str(&text, &[]) else {
                panic!("{path} of 100000 characters was accepted");
            };
            assert!(
                e.issues
                    .iter()
                    .any(|i| i.key == path && i.reason.contains("characters long")),
                "{path}: no length issue: {:?}",
                e.issues
            );
        }
        // The elements of a list of strings too.
        let text = format!("[tus]\ncors_allowed_origins = [\"https://{long}.example\"]\n");
        let Err(e) = load_str(&text, &[]) else {
            panic!("an origin of 100000 characters was accepted");
        };
        assert!(
            e.issues.iter().any(
                |i| i.key == "tus.cors_allowed_origins" && i.reason.contains("characters long")
            ),
            "{:?}",
            e.issues
        );
        let text = "[portal]\nattendee_interfaces = [\"wlan0-but-too-long\"]\n";
        let Err(e) = load_str(text, &[]) else {
            panic!("an interface name of 18 characters was accepted");
        };
        assert!(keys(e).contains(&"portal.attendee_interfaces".to_string()));
        // Control characters are refused too.
        let Err(e) = load_str("[event]\nname = \"Night\\u0007market\"\n", &[]) else {
            panic!("a control character in event.name was accepted");
        };
        assert!(keys(e).contains(&"event.name".to_string()));
    }

    /// `tus.cors_allowed_origins` takes origins only as browsers write them in the
    /// `Origin` header, since the CORS check compares them byte for byte: anything
    /// else would silently never match, so it is refused at load with the fix.
    #[test]
    fn cors_origins_are_checked_as_browsers_send_them() {
        for good in [
            "https://photos.example.com",
            "http://192.168.1.20:8080",
            "http://127.0.0.1:5173",
            "https://[2001:db8::1]",
            "http://[::1]:3000",
            "https://xn--bcher-kva.example",
            "http://localhost",
        ] {
            assert_eq!(check_origin(good), Ok(()), "{good}");
        }
        for (bad, says) in [
            ("*", "wildcard"),
            ("https://*.example.com", "wildcard"),
            ("https://photos.example.com/", "no path"),
            ("https://photos.example.com/upload", "no path"),
            ("https://photos.example.com?x=1", "no path"),
            ("photos.example.com", "is not an origin"),
            ("ftp://photos.example.com", "http or https"),
            ("HTTPS://photos.example.com", "lowercase"),
            ("https://Photos.Example.com", "lowercase"),
            ("https://photos.example.com:443", "default port"),
            ("http://photos.example.com:80", "default port"),
            ("https://photos.example.com:0", "not a port"),
            ("https://photos.example.com:65536", "not a port"),
            ("https://photos.example.com:", "not a port"),
            ("https://user@photos.example.com", "is not an origin"),
            ("https://bücher.example", "xn--"),
            ("https://[2001:DB8::1]", "[2001:db8::1]"),
            ("https://[2001:db8::1", "closing ]"),
            ("http://127.1", "dotted decimal"),
            ("https://", "not a host name"),
            ("https://a..b", "not a host name"),
            ("null", "is not an origin"),
        ] {
            let reason = check_origin(bad).expect_err(bad);
            assert!(reason.contains(says), "{bad}: {reason}");
        }
        // Through the loader: each bad one is named by the key.
        let err = load_str(
            "[tus]\ncors_allowed_origins = [\"https://ok.example\", \"https://bad.example/\", \"*\"]\n",
            &[],
        )
        .unwrap_err();
        assert_eq!(
            keys(err),
            vec!["tus.cors_allowed_origins", "tus.cors_allowed_origins"]
        );
        let many: Vec<String> = (0..=MAX_CORS_ORIGINS)
            .map(|i| format!("\"https://site{i}.example\""))
            .collect();
        let err = load_str(
            &format!("[tus]\ncors_allowed_origins = [{}]\n", many.join(", ")),
            &[],
        )
        .unwrap_err();
        assert_eq!(keys(err), vec!["tus.cors_allowed_origins"]);
        let config = load_str(
            "[tus]\ncors_allowed_origins = [\"https://photos.example.com\"]\n",
            &[],
        )
        .unwrap();
        assert_eq!(
            config.tus.cors_allowed_origins,
            vec!["https://photos.example.com"]
        );
        assert!(Config::default().tus.cors_allowed_origins.is_empty());
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
