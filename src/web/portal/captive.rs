//! Captive-portal detection: what each phone OS probes, and the exact answer it counts
//! as "online" once its owner is through the portal. Before that, every probe (and any
//! request for a host that is not the box) is redirected to the portal, which makes the
//! OS open its captive sheet there.
//!
//! Clients are told apart by their MAC address where the kernel's neighbour table has
//! it (the address survives a DHCP renewal) and by IP address otherwise; either is kept
//! only as a keyed hash.

use std::net::IpAddr;

/// Apple's success page (iOS, iPadOS, macOS): `Success` in the title and the body.
pub const APPLE_SUCCESS: &str =
    "<HTML><HEAD><TITLE>Success</TITLE></HEAD><BODY>Success</BODY></HTML>";
/// Firefox's `canonical.html`.
pub const FIREFOX_CANONICAL: &str =
    "<meta http-equiv=\"refresh\" content=\"0;url=https://support.mozilla.org/kb/captive-portal\"/>\n";
/// Firefox's `success.txt`.
pub const FIREFOX_SUCCESS: &str = "success\n";
/// Windows' `connecttest.txt` (Windows 10 and later).
pub const WINDOWS_CONNECT_TEST: &str = "Microsoft Connect Test";
/// Windows' `ncsi.txt` (older Windows).
pub const WINDOWS_NCSI: &str = "Microsoft NCSI";

/// GNOME NetworkManager's and Arch's `check_network_status.txt` / `nm-check.txt`.
pub const NETWORKMANAGER_ONLINE: &str = "NetworkManager is online\n";
/// Fedora's `hotspot.txt`.
pub const FEDORA_OK: &str = "OK";

/// What an OS expects from one of its probes once the network is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Online {
    /// 200 with this body and content type.
    Body(&'static str, &'static str),
    /// 204 with no body.
    NoContent,
    /// A redirect to a page of the portal (Windows opens `/redirect` in a browser).
    Portal,
}

/// Which paths of a probe host are probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paths {
    /// Every path (older Apple systems probe random paths on their hosts).
    Any,
    /// Only these.
    Exact(&'static [&'static str]),
}

/// One kind of probe: the hosts and paths an OS family fetches, the answer it counts
/// as online, and where that is documented or seen.
#[derive(Debug, Clone, Copy)]
pub struct ProbeRule {
    /// Who sends it.
    pub family: &'static str,
    /// The hosts probed (lowercase).
    pub hosts: &'static [&'static str],
    /// Which of their paths are probes.
    pub paths: Paths,
    /// The answer that means "online".
    pub online: Online,
    /// The source of the rule (code, documentation or capture).
    pub source: &'static str,
}

const HTML: &str = "text/html";
const TEXT: &str = "text/plain";
const GENERATE_204: Paths = Paths::Exact(&["/generate_204", "/gen_204"]);

/// Every captive-portal probe the box knows: one table, each row tested one by one
/// (unit test below and tests/portal.rs before and after consent). A probe host's
/// other paths are ordinary foreign requests (redirected to the portal).
pub const PROBES: &[ProbeRule] = &[
    ProbeRule {
        family: "Apple iOS, iPadOS, macOS (CaptiveNetworkSupport)",
        hosts: &[
            "captive.apple.com",
            "www.appleiphonecell.com",
            "www.ibook.info",
            "www.itools.info",
            "www.airport.us",
            "www.thinkdifferent.us",
        ],
        paths: Paths::Any,
        online: Online::Body(APPLE_SUCCESS, HTML),
        source: "captures of iOS 7-18 and macOS: /hotspot-detect.html and random paths",
    },
    ProbeRule {
        family: "Apple, older systems",
        hosts: &["www.apple.com"],
        paths: Paths::Exact(&["/library/test/success.html"]),
        online: Online::Body(APPLE_SUCCESS, HTML),
        source: "iOS 6 and earlier, macOS before 10.9",
    },
    ProbeRule {
        family: "Android (AOSP NetworkMonitor), ChromeOS, Chrome",
        hosts: &[
            "connectivitycheck.gstatic.com",
            "connectivitycheck.android.com",
            "clients1.google.com",
            "clients3.google.com",
            "www.google.com",
            "play.googleapis.com",
            "www.gstatic.com",
        ],
        paths: GENERATE_204,
        online: Online::NoContent,
        source: "AOSP packages/modules/NetworkStack config_captive_portal_http_url and fallbacks",
    },
    ProbeRule {
        family: "Android forks: Xiaomi MIUI/HyperOS, Huawei EMUI/HarmonyOS, vivo, GrapheneOS",
        hosts: &[
            "connect.rom.miui.com",
            "connectivitycheck.platform.hicloud.com",
            "wifi.vivo.com.cn",
            "grapheneos.online",
            "connectivitycheck.grapheneos.network",
        ],
        paths: GENERATE_204,
        online: Online::NoContent,
        source: "the forks' overlays of config_captive_portal_http_url (same protocol as AOSP)",
    },
    ProbeRule {
        family: "Windows 10 and later (NCSI)",
        hosts: &["www.msftconnecttest.com", "ipv6.msftconnecttest.com"],
        paths: Paths::Exact(&["/connecttest.txt"]),
        online: Online::Body(WINDOWS_CONNECT_TEST, TEXT),
        source: "Microsoft Learn, Network Connectivity Status Indicator",
    },
    ProbeRule {
        family: "Windows, opening the captive page",
        hosts: &["www.msftconnecttest.com", "ipv6.msftconnecttest.com"],
        paths: Paths::Exact(&["/redirect"]),
        online: Online::Portal,
        source: "Microsoft Learn, Network Connectivity Status Indicator",
    },
    ProbeRule {
        family: "Windows before 10 (NCSI)",
        hosts: &["www.msftncsi.com", "ipv6.msftncsi.com"],
        paths: Paths::Exact(&["/ncsi.txt"]),
        online: Online::Body(WINDOWS_NCSI, TEXT),
        source: "Microsoft Learn, Network Connectivity Status Indicator",
    },
    ProbeRule {
        family: "Firefox (all versions)",
        hosts: &["detectportal.firefox.com", "firefox-portal-detection.com"],
        paths: Paths::Exact(&["/canonical.html"]),
        online: Online::Body(FIREFOX_CANONICAL, HTML),
        source:
            "Firefox network.captive-portal-service.* prefs; firefox-portal-detection.com from 155",
    },
    ProbeRule {
        family: "Firefox (all versions)",
        hosts: &["detectportal.firefox.com", "firefox-portal-detection.com"],
        paths: Paths::Exact(&["/success.txt"]),
        online: Online::Body(FIREFOX_SUCCESS, TEXT),
        source: "Firefox network.connectivity-service.* prefs (?ipv4 / ?ipv6 queries)",
    },
    ProbeRule {
        family: "Firefox 155 and later",
        hosts: &["firefox-portal-detection.com"],
        paths: Paths::Exact(&["/generate_204"]),
        online: Online::NoContent,
        source: "Firefox 155 captive-portal detection (issue 13, item 18)",
    },
    ProbeRule {
        family: "GNOME NetworkManager (Debian, Ubuntu desktops with GNOME, many distributions)",
        hosts: &["nmcheck.gnome.org"],
        paths: Paths::Exact(&["/check_network_status.txt"]),
        online: Online::Body(NETWORKMANAGER_ONLINE, TEXT),
        source: "NetworkManager-config-connectivity-gnome (connectivity uri)",
    },
    ProbeRule {
        family: "Arch Linux NetworkManager",
        hosts: &["ping.archlinux.org"],
        paths: Paths::Exact(&["/nm-check.txt"]),
        online: Online::Body(NETWORKMANAGER_ONLINE, TEXT),
        source: "Arch networkmanager package, /usr/lib/NetworkManager/conf.d/20-connectivity.conf",
    },
    ProbeRule {
        family: "Fedora NetworkManager",
        hosts: &["fedoraproject.org"],
        paths: Paths::Exact(&["/static/hotspot.txt"]),
        online: Online::Body(FEDORA_OK, TEXT),
        source: "Fedora NetworkManager-config-connectivity-fedora",
    },
    ProbeRule {
        family: "Ubuntu NetworkManager",
        hosts: &["connectivity-check.ubuntu.com"],
        paths: Paths::Any,
        online: Online::NoContent,
        source: "Ubuntu network-manager-config-connectivity-ubuntu (answers 204)",
    },
];

/// The probe this request is, if it is one: by host and path, from [`PROBES`].
pub fn probe(host: &str, path: &str) -> Option<Online> {
    PROBES.iter().find_map(|rule| {
        let path_ok = match rule.paths {
            Paths::Any => true,
            Paths::Exact(paths) => paths.contains(&path),
        };
        (path_ok && rule.hosts.contains(&host)).then_some(rule.online)
    })
}

/// The MAC address the kernel's neighbour table has for an IPv4 client, lowercase.
/// `None` for IPv6 (the table is not in /proc), loopback, or an unknown client.
pub fn mac_of(ip: IpAddr) -> Option<String> {
    let IpAddr::V4(v4) = ip else { return None };
    if v4.is_loopback() {
        return None;
    }
    let table = std::fs::read_to_string("/proc/net/arp").ok()?;
    mac_in_arp_table(&table, &v4.to_string())
}

/// Looks `ip` up in the text of `/proc/net/arp`: `IP HWtype Flags HWaddress Mask Device`.
fn mac_in_arp_table(table: &str, ip: &str) -> Option<String> {
    table.lines().skip(1).find_map(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        // Flags 0x0 is an incomplete entry; 00:00:... is no address.
        (cols.len() >= 4 && cols[0] == ip && cols[2] != "0x0" && cols[3] != "00:00:00:00:00:00")
            .then(|| cols[3].to_ascii_lowercase())
    })
}

/// The host of a request without its port, lowercase, without a trailing dot.
pub fn host_only(host: &str) -> String {
    let host = host.trim();
    let bare = if let Some(rest) = host.strip_prefix('[') {
        // [v6]:port
        rest.split(']').next().unwrap_or("")
    } else if host.matches(':').count() == 1 {
        host.split(':').next().unwrap_or("")
    } else {
        host
    };
    bare.trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_are_recognised_by_host_and_path() {
        assert_eq!(
            probe("captive.apple.com", "/hotspot-detect.html"),
            Some(Online::Body(APPLE_SUCCESS, "text/html"))
        );
        assert_eq!(
            probe("connectivitycheck.gstatic.com", "/generate_204"),
            Some(Online::NoContent)
        );
        assert_eq!(
            probe("clients3.google.com", "/gen_204"),
            Some(Online::NoContent)
        );
        assert_eq!(probe("clients3.google.com", "/other"), None);
        assert_eq!(probe("www.apple.com", "/"), None);
        assert_eq!(
            probe("www.msftconnecttest.com", "/redirect"),
            Some(Online::Portal)
        );
        assert_eq!(probe("example.org", "/generate_204"), None);
    }

    /// Every row of the table, host by host and path by path, answers its own online
    /// answer, and the same host with another path is not a probe (unless any path is).
    #[test]
    fn every_probe_in_the_table_is_recognised_one_by_one() {
        for rule in PROBES {
            for host in rule.hosts {
                let paths: &[&str] = match rule.paths {
                    Paths::Any => &["/", "/hotspot-detect.html", "/x7f3a.html"],
                    Paths::Exact(paths) => paths,
                };
                for path in paths {
                    assert_eq!(
                        probe(host, path),
                        Some(rule.online),
                        "{} {host}{path}",
                        rule.family
                    );
                }
                if let Paths::Exact(_) = rule.paths {
                    assert!(
                        PROBES
                            .iter()
                            .any(|r| r.hosts.contains(host) && r.paths == Paths::Any)
                            || probe(host, "/not-a-probe").is_none(),
                        "{host}"
                    );
                }
            }
            assert!(!rule.source.is_empty() && !rule.family.is_empty());
        }
    }

    #[test]
    fn arp_table_lookup() {
        let table = "IP address       HW type     Flags       HW address            Mask     Device\n\
                     10.42.0.23       0x1         0x2         AA:bb:cc:00:11:22     *        wlan0\n\
                     10.42.0.24       0x1         0x0         00:00:00:00:00:00     *        wlan0\n";
        assert_eq!(
            mac_in_arp_table(table, "10.42.0.23").as_deref(),
            Some("aa:bb:cc:00:11:22")
        );
        assert_eq!(mac_in_arp_table(table, "10.42.0.24"), None);
        assert_eq!(mac_in_arp_table(table, "10.42.0.2"), None);
    }

    #[test]
    fn hosts_lose_their_port() {
        assert_eq!(host_only("Captive.Apple.com."), "captive.apple.com");
        assert_eq!(host_only("10.42.0.1:8080"), "10.42.0.1");
        assert_eq!(host_only("[fd00::1]:80"), "fd00::1");
        assert_eq!(host_only("fd00::1"), "fd00::1");
    }
}
