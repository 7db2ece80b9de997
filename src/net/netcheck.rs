//! Checks of the venue network configs shipped in `config/` (hostapd.conf,
//! dnsmasq.conf, nftables.conf) against each other and against venuebox.toml: what
//! `venuebox config check` can find without a radio. Where the real tool is installed
//! (dnsmasq, nft) its own syntax check runs too; where it is not, the report says so.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::config::Config;

/// What checking one file found.
#[derive(Debug, Default)]
pub struct Report {
    /// The file.
    pub file: PathBuf,
    /// Problems that make the network not work as intended.
    pub errors: Vec<String>,
    /// Things to fix before an event (default passwords) or that could not be checked.
    pub warnings: Vec<String>,
}

/// A check of one file: its path, its text, the venuebox config.
type Check = fn(&Path, &str, &Config) -> Report;

/// Checks whichever of the three files exist in `dir`.
pub fn check_dir(dir: &Path, config: &Config) -> Vec<Report> {
    let mut reports = Vec::new();
    let checks: [(&str, Check); 3] = [
        ("hostapd.conf", check_hostapd),
        ("dnsmasq.conf", check_dnsmasq),
        ("nftables.conf", check_nftables),
    ];
    for (name, check) in checks {
        let path = dir.join(name);
        match std::fs::read_to_string(&path) {
            Ok(text) => reports.push(check(&path, &text, config)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => reports.push(Report {
                errors: vec![format!("cannot read: {e}")],
                file: path,
                ..Report::default()
            }),
        }
    }
    reports
}

/// `key=value` lines, comments and blanks skipped, in order.
fn pairs(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

/// hostapd: the attendee network (the first) is open with client isolation; every
/// network has a valid SSID; channel and band agree; WPA passphrases are valid.
pub fn check_hostapd(path: &Path, text: &str, _config: &Config) -> Report {
    let mut r = Report {
        file: path.to_path_buf(),
        ..Report::default()
    };
    // Split into networks: the first runs until the first `bss=`.
    let mut networks: Vec<BTreeMap<String, String>> = vec![BTreeMap::new()];
    for (k, v) in pairs(text) {
        if k == "bss" {
            networks.push(BTreeMap::new());
        }
        networks.last_mut().expect("never empty").insert(k, v);
    }
    let first = &networks[0];
    for key in ["interface", "ssid", "hw_mode", "channel", "country_code"] {
        if !first.contains_key(key) {
            r.errors.push(format!("{key} is missing"));
        }
    }
    if let Some(cc) = first.get("country_code") {
        if cc.len() != 2 || !cc.chars().all(|c| c.is_ascii_uppercase()) {
            r.errors.push(format!(
                "country_code {cc:?} is not two capital letters (ISO 3166-1)"
            ));
        }
    }
    if let (Some(mode), Some(channel)) = (first.get("hw_mode"), first.get("channel")) {
        let ok = match (mode.as_str(), channel.parse::<u32>()) {
            ("b" | "g", Ok(c)) => (1..=14).contains(&c),
            ("a", Ok(c)) => (36..=177).contains(&c),
            (_, Err(_)) if channel == "acs_survey" || channel == "0" => true,
            ("b" | "g" | "a" | "ad", Err(_)) => false,
            _ => {
                r.errors
                    .push(format!("hw_mode {mode:?} is not one of a, b, g, ad"));
                true
            }
        };
        if !ok {
            r.errors.push(format!(
                "channel {channel} is not a channel of hw_mode={mode}"
            ));
        }
    }
    for (i, net) in networks.iter().enumerate() {
        let name = if i == 0 {
            "the attendee network".to_string()
        } else {
            format!(
                "network {}",
                net.get("bss").map(String::as_str).unwrap_or("?")
            )
        };
        match net.get("ssid") {
            Some(ssid) if !ssid.is_empty() && ssid.len() <= 32 => {}
            Some(ssid) => r
                .errors
                .push(format!("{name}: ssid {ssid:?} must be 1 to 32 bytes")),
            None => r.errors.push(format!("{name}: ssid is missing")),
        }
        let wpa = net.get("wpa").is_some_and(|v| v != "0");
        if i == 0 {
            if wpa {
                r.errors.push(
                    "the attendee network must be open (no wpa): phones join it to reach the portal"
                        .into(),
                );
            }
            if net.get("ap_isolate").map(String::as_str) != Some("1") {
                r.errors.push(
                    "the attendee network needs ap_isolate=1: attendees must not reach each other"
                        .into(),
                );
            }
        } else if wpa {
            match net.get("wpa_passphrase") {
                Some(p) if !(8..=63).contains(&p.len()) => r
                    .errors
                    .push(format!("{name}: wpa_passphrase must be 8 to 63 characters")),
                Some(p) if p.starts_with("change-this") => r.warnings.push(format!(
                    "{name}: wpa_passphrase is still the shipped one; set one for the event"
                )),
                Some(_) => {}
                None if net.contains_key("wpa_psk") => {}
                None => r
                    .errors
                    .push(format!("{name}: wpa=2 needs wpa_passphrase (or wpa_psk)")),
            }
        } else {
            r.warnings.push(format!(
                "{name} is open: cameras' FTP passwords would cross it in clear text"
            ));
        }
    }
    r
}

/// dnsmasq: every name answers with the portal's address; option 114 announces the
/// configured API; the attendee range lies inside the attendee networks; and, when
/// dnsmasq is installed, its own syntax check passes.
pub fn check_dnsmasq(path: &Path, text: &str, config: &Config) -> Report {
    let mut r = Report {
        file: path.to_path_buf(),
        ..Report::default()
    };
    let pairs = pairs(text);
    let portal_ip = config
        .portal
        .url
        .as_deref()
        .and_then(|u| u.split_once("://"))
        .and_then(|(_, rest)| rest.split(['/', ':']).next())
        .and_then(|h| h.parse::<IpAddr>().ok());
    let wildcard: Vec<IpAddr> = pairs
        .iter()
        .filter(|(k, _)| k == "address")
        .filter_map(|(_, v)| v.strip_prefix("/#/"))
        .filter_map(|ip| ip.parse().ok())
        .collect();
    if wildcard.is_empty() {
        r.errors.push(
            "no address=/#/<box> line: names must resolve to the box for the portal to open".into(),
        );
    } else if let Some(ip) = portal_ip {
        if !wildcard.contains(&ip) {
            r.errors.push(format!(
                "address=/#/ answers {wildcard:?}, but [portal] url is on {ip}"
            ));
        }
    }
    let announced: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "dhcp-option")
        .filter_map(|(_, v)| {
            let fields: Vec<&str> = v.split(',').collect();
            let i = fields
                .iter()
                .position(|f| matches!(f.trim(), "114" | "option:captive-portal"))?;
            Some(
                fields[i + 1..]
                    .join(",")
                    .trim()
                    .trim_matches('"')
                    .to_string(),
            )
        })
        .collect();
    match (&config.portal.api_url, announced.as_slice()) {
        (Some(api), []) => r.errors.push(format!(
            "[portal] api_url is {api} but no dhcp-option 114 announces it"
        )),
        (Some(api), urls) => {
            for url in urls {
                if url != api {
                    r.errors.push(format!(
                        "dhcp-option 114 announces {url} but [portal] api_url is {api}"
                    ));
                }
            }
        }
        (None, [url, ..]) => r.warnings.push(format!(
            "dhcp-option 114 announces {url} but [portal] api_url is unset: phones will find no API there"
        )),
        (None, []) => {}
    }
    let networks = &config.portal.attendee_networks;
    if !networks.is_empty() {
        for (_, v) in pairs.iter().filter(|(k, _)| k == "dhcp-range") {
            if !v.contains("attendees") {
                continue;
            }
            // The first two addresses are the range; a netmask may follow.
            for field in v
                .split(',')
                .filter(|f| f.trim().parse::<IpAddr>().is_ok())
                .take(2)
            {
                if let Ok(ip) = field.trim().parse::<IpAddr>() {
                    if ip.is_ipv4() && !networks.iter().any(|n| n.contains(&ip)) {
                        r.errors.push(format!(
                            "attendee DHCP address {ip} is outside [portal] attendee_networks"
                        ));
                    }
                }
            }
        }
    }
    match Command::new("dnsmasq")
        .arg("--test")
        .arg(format!("--conf-file={}", path.display()))
        .output()
    {
        Ok(out) if out.status.success() => {}
        Ok(out) => r.errors.push(format!(
            "dnsmasq --test: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(_) => r
            .warnings
            .push("dnsmasq is not installed here: its own syntax check did not run".into()),
    }
    r
}

/// nftables: the passive FTP range matches the config, and `nft -c` accepts the file
/// when nft is installed and may run.
pub fn check_nftables(path: &Path, text: &str, config: &Config) -> Report {
    let mut r = Report {
        file: path.to_path_buf(),
        ..Report::default()
    };
    let (first, last) = config.ftp.passive_ports;
    let passive = text.lines().find_map(|l| {
        l.trim()
            .strip_prefix("define FTP_PASSIVE")
            .map(|v| v.trim().trim_start_matches('=').trim().to_string())
    });
    match passive {
        Some(range) if range == format!("{first}-{last}") => {}
        Some(range) => r.errors.push(format!(
            "FTP_PASSIVE is {range} but [ftp] passive_ports is [{first}, {last}]"
        )),
        None => r
            .warnings
            .push("no FTP_PASSIVE define: cannot check the passive FTP ports".into()),
    }
    for needed in ["ATTENDEE_IF", "chain forward"] {
        if !text.contains(needed) {
            r.errors.push(format!("{needed} is missing"));
        }
    }
    match Command::new("nft").arg("-c").arg("-f").arg(path).output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            let err = String::from_utf8_lossy(&out.stderr);
            if err.contains("Operation not permitted") {
                r.warnings
                    .push("nft -c needs root here: its own check did not run".into());
            } else {
                r.errors.push(format!("nft -c: {}", err.trim()));
            }
        }
        Err(_) => r
            .warnings
            .push("nft is not installed here: its own check did not run".into()),
    }
    r
}
