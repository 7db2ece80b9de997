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

/// The probe this request is, if it is one: by host and path.
pub fn probe(host: &str, path: &str) -> Option<Online> {
    let html = "text/html";
    let text = "text/plain";
    match host {
        // Apple probes these paths, and older versions random paths on these hosts.
        "captive.apple.com"
        | "www.apple.com"
        | "www.appleiphonecell.com"
        | "www.ibook.info"
        | "www.itools.info"
        | "www.airport.us"
        | "www.thinkdifferent.us" => (host != "www.apple.com"
            || path == "/library/test/success.html")
            .then_some(Online::Body(APPLE_SUCCESS, html)),
        "connectivitycheck.gstatic.com"
        | "connectivitycheck.android.com"
        | "clients1.google.com"
        | "clients3.google.com"
        | "www.google.com"
        | "play.googleapis.com"
        | "www.gstatic.com" => {
            matches!(path, "/generate_204" | "/gen_204").then_some(Online::NoContent)
        }
        "www.msftconnecttest.com" | "ipv6.msftconnecttest.com" => match path {
            "/connecttest.txt" => Some(Online::Body(WINDOWS_CONNECT_TEST, text)),
            "/redirect" => Some(Online::Portal),
            _ => None,
        },
        "www.msftncsi.com" | "ipv6.msftncsi.com" => {
            (path == "/ncsi.txt").then_some(Online::Body(WINDOWS_NCSI, text))
        }
        "detectportal.firefox.com" => match path {
            "/canonical.html" => Some(Online::Body(FIREFOX_CANONICAL, html)),
            "/success.txt" => Some(Online::Body(FIREFOX_SUCCESS, text)),
            _ => None,
        },
        _ => None,
    }
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
