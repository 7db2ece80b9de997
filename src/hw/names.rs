//! The box's names on the network, unique per box and made without the internet: a
//! short suffix from the box id (its first four hex digits after `vb1-`) goes on the
//! host name (`venuebox-3fa2`) and on every Wi-Fi network name in hostapd.conf
//! (`Venue Photos 3fa2`), so two boxes at one market never answer to the same name.
//! `venuebox names --apply` (run as root by `venuebox-names.service` on every boot,
//! after venuebox has made its keys and before hostapd starts) writes them; it is
//! idempotent, and an SSID the vendor already changed by hand keeps their name.

use std::path::{Path, PathBuf};

/// The default SSIDs shipped in config/hostapd.conf: only these get the suffix (a
/// network the vendor renamed is theirs).
pub const SHIPPED_SSIDS: &[&str] = &["Venue Photos", "venuebox-vendors"];

pub use crate::identity::{box_suffix as suffix, unique_host_name as host_name, HOST_STEM};

/// hostapd.conf with ` <suffix>` added to each shipped SSID (`ssid=` lines whose
/// value is one of [`SHIPPED_SSIDS`]); other lines, and SSIDs that already carry the
/// suffix or were renamed, are kept byte for byte. Returns `None` when nothing changes.
pub fn suffixed_hostapd(conf: &str, suffix: &str) -> Option<String> {
    let mut changed = false;
    let lines: Vec<String> = conf
        .split_inclusive('\n')
        .map(|line| {
            let body = line.trim_end_matches(['\n', '\r']);
            let end = &line[body.len()..];
            match body.strip_prefix("ssid=") {
                Some(ssid) if SHIPPED_SSIDS.contains(&ssid) => {
                    changed = true;
                    format!("ssid={ssid} {suffix}{end}")
                }
                _ => line.to_string(),
            }
        })
        .collect();
    changed.then(|| lines.concat())
}

/// What [`apply`] changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// The host name set, when it changed.
    pub host_name: Option<String>,
    /// hostapd.conf, when an SSID got its suffix.
    pub hostapd: Option<PathBuf>,
}

/// Writes the names under `root` (`/` on the box; another directory for a staged
/// image or a test): `etc/hostname`, the `127.0.1.1` line of `etc/hosts`, and the
/// SSIDs in `etc/hostapd/hostapd.conf` (if present). Each file is replaced atomically
/// and keeps its mode. When `set_running` is true, the running system's host name is
/// set too (sethostname(2): needs root, CAP_SYS_ADMIN). Errors: I/O errors, with the
/// path.
pub fn apply(root: &Path, suffix: &str, set_running: bool) -> anyhow::Result<Applied> {
    use anyhow::Context as _;
    let mut applied = Applied::default();
    let name = host_name(suffix);
    let hostname = root.join("etc/hostname");
    let current = std::fs::read_to_string(&hostname).unwrap_or_default();
    if current.trim() != name {
        replace(&hostname, format!("{name}\n").as_bytes(), 0o644)
            .with_context(|| format!("writing {}", hostname.display()))?;
        applied.host_name = Some(name.clone());
    }
    let hosts = root.join("etc/hosts");
    if let Ok(text) = std::fs::read_to_string(&hosts) {
        let line = format!("127.0.1.1\t{name}");
        let mut lines: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with("127.0.1.1"))
            .collect();
        lines.push(&line);
        let new = lines.join("\n") + "\n";
        if new != text {
            replace(&hosts, new.as_bytes(), 0o644)
                .with_context(|| format!("writing {}", hosts.display()))?;
        }
    }
    let hostapd = root.join("etc/hostapd/hostapd.conf");
    if let Ok(conf) = std::fs::read_to_string(&hostapd) {
        if let Some(new) = suffixed_hostapd(&conf, suffix) {
            replace(&hostapd, new.as_bytes(), 0o600)
                .with_context(|| format!("writing {}", hostapd.display()))?;
            applied.hostapd = Some(hostapd);
        }
    }
    if set_running {
        rustix::system::sethostname(name.as_bytes())
            .with_context(|| format!("setting the host name to {name} (needs root)"))?;
    }
    Ok(applied)
}

/// Replaces `path` atomically (temporary file, fsync, rename), keeping its mode if it
/// exists, else `mode`.
fn replace(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let mode = std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(mode);
    let dir = path.parent().expect("an absolute or rooted path");
    std::fs::create_dir_all(dir)?;
    let temp = dir.join(format!(
        ".{}.venuebox-names",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file")
    ));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&temp)?;
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)?;
        crate::files::sync_dir(dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_suffix_is_the_box_ids_first_four_hex_digits() {
        assert_eq!(suffix("vb1-3FA2c0ffee").as_deref(), Some("3fa2"));
        assert_eq!(suffix("vb1-3fa").as_deref(), None);
        assert_eq!(suffix("vb1-zz12abcd").as_deref(), None);
        assert_eq!(suffix("3fa2abcd").as_deref(), None);
        assert_eq!(host_name("3fa2"), "venuebox-3fa2");
    }

    #[test]
    fn only_shipped_ssids_get_the_suffix_once() {
        let shipped =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/hostapd.conf"))
                .unwrap();
        let once = suffixed_hostapd(&shipped, "3fa2").expect("the shipped SSIDs change");
        assert!(once.contains("\nssid=Venue Photos 3fa2\n"), "{once}");
        assert!(once.contains("\nssid=venuebox-vendors 3fa2\n"), "{once}");
        assert_eq!(once.len(), shipped.len() + 2 * " 3fa2".len());
        assert_eq!(suffixed_hostapd(&once, "3fa2"), None, "idempotent");
        let renamed = "ssid=Stall 42\r\nchannel=6\n";
        assert_eq!(
            suffixed_hostapd(renamed, "3fa2"),
            None,
            "a vendor's name is kept"
        );
    }

    #[test]
    fn apply_writes_the_names_under_a_root_and_keeps_modes() {
        let root = tempfile::tempdir().unwrap();
        let etc = root.path().join("etc");
        std::fs::create_dir_all(etc.join("hostapd")).unwrap();
        std::fs::write(etc.join("hostname"), "raspberrypi\n").unwrap();
        std::fs::write(
            etc.join("hosts"),
            "127.0.0.1\tlocalhost\n127.0.1.1\traspberrypi\n",
        )
        .unwrap();
        let conf = etc.join("hostapd/hostapd.conf");
        std::fs::write(&conf, "interface=wlan0\nssid=Venue Photos\n").unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o600)).unwrap();
        let applied = apply(root.path(), "3fa2", false).unwrap();
        assert_eq!(applied.host_name.as_deref(), Some("venuebox-3fa2"));
        assert_eq!(
            std::fs::read_to_string(etc.join("hostname")).unwrap(),
            "venuebox-3fa2\n"
        );
        assert_eq!(
            std::fs::read_to_string(etc.join("hosts")).unwrap(),
            "127.0.0.1\tlocalhost\n127.0.1.1\tvenuebox-3fa2\n"
        );
        assert_eq!(
            std::fs::read_to_string(&conf).unwrap(),
            "interface=wlan0\nssid=Venue Photos 3fa2\n"
        );
        assert_eq!(
            std::fs::metadata(&conf).unwrap().permissions().mode() & 0o777,
            0o600
        );
        // A second boot changes nothing.
        assert_eq!(
            apply(root.path(), "3fa2", false).unwrap(),
            Applied::default()
        );
    }
}
