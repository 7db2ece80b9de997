//! The shipped venue network configs (config/hostapd.conf, dnsmasq.conf,
//! nftables.conf) pass `venuebox config check`, with dnsmasq's and nft's own syntax
//! checks (tests/run.sh installs both); broken copies fail, each problem named.

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_venuebox");

fn shipped() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config")
}

fn check(dir: &Path) -> (bool, String) {
    for tool in ["dnsmasq", "nft"] {
        assert!(
            Command::new("sh")
                .arg("-c")
                .arg(format!("command -v {tool}"))
                .stdout(std::process::Stdio::null())
                .status()
                .unwrap()
                .success(),
            "{tool} must be installed (tests/run.sh installs it)"
        );
    }
    let out = Command::new(BIN)
        .args(["config", "check"])
        .arg(dir.join("venuebox.toml"))
        .env_remove("VENUEBOX_PORTAL__API_URL")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// A copy of the shipped configs with `edit` applied to one file.
fn broken(file: &str, edit: impl Fn(&str) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "venuebox.toml",
        "hostapd.conf",
        "dnsmasq.conf",
        "nftables.conf",
    ] {
        let text = std::fs::read_to_string(shipped().join(name)).unwrap();
        let text = if name == file { edit(&text) } else { text };
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

#[test]
fn shipped_network_configs_pass_with_the_real_tools() {
    let (ok, text) = check(&shipped());
    assert!(ok, "{text}");
    for name in ["hostapd.conf: ok", "dnsmasq.conf: ok", "nftables.conf: ok"] {
        assert!(text.contains(name), "{name} missing in:\n{text}");
    }
    assert!(
        !text.contains("did not run"),
        "every tool's own check ran:\n{text}"
    );
    // The shipped passphrase is a placeholder: say so.
    assert!(
        text.contains("wpa_passphrase is still the shipped one"),
        "{text}"
    );
}

#[test]
fn broken_network_configs_fail_naming_the_problem() {
    // (file, text to replace, replacement, the problem the check must name)
    let cases = [
        ("hostapd.conf", "channel=6", "channel=15", "channel 15 is not a channel of hw_mode=g"),
        ("hostapd.conf", "ap_isolate=1", "ap_isolate=0", "needs ap_isolate=1"),
        ("hostapd.conf", "ssid=Venue Photos", "ssid=Venue Photos of a very long event name!", "must be 1 to 32 bytes"),
        ("hostapd.conf", "wpa_passphrase=change-this-passphrase", "wpa_passphrase=short", "8 to 63"),
        ("dnsmasq.conf", "address=/#/10.42.0.1", "address=/#/10.99.0.1", "but [portal] url is on 10.42.0.1"),
        ("dnsmasq.conf", "dhcp-range=set:attendees,10.42.0.10", "dhcp-range=set:attendees,10.50.0.10", "outside [portal] attendee_networks"),
        ("dnsmasq.conf", "bind-dynamic", "bind-dynamic-please", "dnsmasq --test"),
        ("venuebox.toml", "# api_url = \"https://portal.example.org/captive-portal/api\"", "api_url = \"https://other.example.org/api\"", "dhcp-option 114 announces https://portal.example.org/captive-portal/api but [portal] api_url is https://other.example.org/api"),
        ("nftables.conf", "49152-49407", "50000-50100", "FTP_PASSIVE is 50000-50100"),
        ("nftables.conf", "dnat ip to $PORTAL4", "dnat ip too $PORTAL4", "nft -c"),
    ];
    for (file, from, to, expected) in cases {
        let dir = broken(file, |t| {
            assert!(t.contains(from), "{from:?} not in the shipped {file}");
            t.replacen(from, to, 1)
        });
        let (ok, text) = check(dir.path());
        assert!(!ok, "{file} edit for {expected:?} passed:\n{text}");
        assert!(text.contains(expected), "{expected:?} not in:\n{text}");
    }
}
