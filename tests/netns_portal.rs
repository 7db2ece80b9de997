//! The venue network end to end, in network namespaces the test creates: a "box"
//! namespace runs Debian's dnsmasq with the SHIPPED config/dnsmasq.conf (pointed at the
//! namespace's interface instead of wlan0), the shipped config/nftables.conf (same
//! substitution) and the venuebox binary; a "phone" namespace, joined by a veth pair,
//! gets a DHCP lease with dhclient, and then:
//! - the lease carries DHCP option 114 with the Captive Portal API URI (RFC 8910),
//! - any name resolves to the box through the DNS server the lease named,
//! - its Android probe is redirected to the portal, by name and by literal address,
//! - the box's FTP port is unreachable from the attendee network (nftables).
//!
//! Needs root, iproute2, dnsmasq, isc-dhcp-client and curl (tests/run.sh installs them);
//! without them it fails, saying so.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_venuebox");
const BOX_IP: &str = "10.42.0.1";
const API: &str = "https://portal.example.org/captive-portal/api";

fn sh(args: &[&str]) -> Output {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{} must be installed (tests/run.sh): {e}", args[0]));
    out
}

fn must(args: &[&str]) -> String {
    let out = sh(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// The namespaces, their processes and files; all removed on drop, pass or fail.
struct Venue {
    box_ns: String,
    phone_ns: String,
    children: Vec<Child>,
    netns_etc: PathBuf,
}

impl Drop for Venue {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        for ns in [&self.phone_ns, &self.box_ns] {
            // dhclient daemonises; anything left in the namespace goes with it.
            if let Ok(out) = Command::new("ip").args(["netns", "pids", ns]).output() {
                for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    let _ = Command::new("kill").args(["-9", pid]).status();
                }
            }
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        let _ = std::fs::remove_dir_all(&self.netns_etc);
    }
}

fn in_ns(ns: &str, args: &[&str]) -> Vec<String> {
    let mut v = vec!["ip".to_string(), "netns".into(), "exec".into(), ns.into()];
    v.extend(args.iter().map(|s| s.to_string()));
    v
}

fn run_in(ns: &str, args: &[&str]) -> Output {
    let v = in_ns(ns, args);
    let v: Vec<&str> = v.iter().map(String::as_str).collect();
    sh(&v)
}

fn must_in(ns: &str, args: &[&str]) -> String {
    let v = in_ns(ns, args);
    let v: Vec<&str> = v.iter().map(String::as_str).collect();
    must(&v)
}

fn shipped(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("config")
            .join(name),
    )
    .unwrap()
}

#[test]
fn phone_gets_option_114_any_name_resolves_to_the_box_and_probes_reach_the_portal() {
    assert!(
        must(&["id", "-u"]).trim() == "0",
        "this test makes network namespaces and needs root (CI runs as root)"
    );
    let tag = std::process::id() % 100_000;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (box_ns, phone_ns) = (format!("vbbox{tag}"), format!("vbphone{tag}"));
    let (box_if, phone_if) = (format!("vbb{tag}"), format!("vbp{tag}"));
    let mut venue = Venue {
        box_ns: box_ns.clone(),
        phone_ns: phone_ns.clone(),
        children: Vec::new(),
        netns_etc: PathBuf::from("/etc/netns").join(&phone_ns),
    };
    must(&["ip", "netns", "add", &box_ns]);
    must(&["ip", "netns", "add", &phone_ns]);
    must(&[
        "ip", "link", "add", &box_if, "netns", &box_ns, "type", "veth", "peer", "name", &phone_if,
        "netns", &phone_ns,
    ]);
    for ns in [&box_ns, &phone_ns] {
        must_in(ns, &["ip", "link", "set", "lo", "up"]);
    }
    must_in(
        &box_ns,
        &["ip", "addr", "add", &format!("{BOX_IP}/24"), "dev", &box_if],
    );
    must_in(
        &box_ns,
        &[
            "ip",
            "-6",
            "addr",
            "add",
            "fd42:42::1/64",
            "dev",
            &box_if,
            "nodad",
        ],
    );
    must_in(&box_ns, &["ip", "link", "set", &box_if, "up"]);
    must_in(&phone_ns, &["ip", "link", "set", &phone_if, "up"]);

    // The shipped dnsmasq config, on this interface instead of the Wi-Fi's.
    let dnsmasq_conf = shipped("dnsmasq.conf")
        .replace("interface=wlan0_1\n", "")
        .replace("interface=wlan0\n", &format!("interface={box_if}\n"))
        .replace(
            "/var/lib/misc/dnsmasq.leases",
            &d.join("leases").display().to_string(),
        );
    assert!(dnsmasq_conf.contains(&format!("dhcp-option=tag:attendees,114,\"{API}\"")));
    std::fs::write(d.join("dnsmasq.conf"), &dnsmasq_conf).unwrap();
    let dnsmasq = Command::new("ip")
        .args([
            "netns",
            "exec",
            &box_ns,
            "dnsmasq",
            "--keep-in-foreground",
            "--user=root",
            "--log-facility=-",
        ])
        .arg(format!("--conf-file={}", d.join("dnsmasq.conf").display()))
        .arg(format!("--pid-file={}", d.join("dnsmasq.pid").display()))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(d.join("dnsmasq.log")).unwrap())
        .spawn()
        .expect("dnsmasq must be installed (tests/run.sh)");
    venue.children.push(dnsmasq);

    // The shipped firewall, on this interface.
    let nft = shipped("nftables.conf").replace(
        "define ATTENDEE_IF = \"wlan0\"",
        &format!("define ATTENDEE_IF = \"{box_if}\""),
    );
    std::fs::write(d.join("nftables.conf"), nft).unwrap();
    must_in(
        &box_ns,
        &["nft", "-f", &d.join("nftables.conf").display().to_string()],
    );

    // The box itself, as the service runs it: portal and API as shipped, FTP on.
    let shipped_config = shipped("venuebox.toml");
    assert!(shipped_config.contains(r#"attendee_networks = ["10.42.0.0/24", "fd42:42::/64"]"#));
    assert!(shipped_config.contains(r#"attendee_interfaces = ["wlan0"]"#));
    let data = d.join("data");
    let venuebox = Command::new("ip")
        .args(["netns", "exec", &box_ns, BIN, "run"])
        .env("VENUEBOX_STORAGE__DATA_DIR", &data)
        .env("VENUEBOX_HTTP__LISTEN", "[::]:80")
        .env("VENUEBOX_FTP__LISTEN", format!("{BOX_IP}:21"))
        .env("VENUEBOX_MDNS__ENABLED", "false")
        .env("VENUEBOX_PORTAL__URL", format!("http://{BOX_IP}"))
        .env("VENUEBOX_PORTAL__API_URL", API)
        // The shipped audience settings, on this interface.
        .env(
            "VENUEBOX_PORTAL__ATTENDEE_NETWORKS",
            r#"["10.42.0.0/24", "fd42:42::/64"]"#,
        )
        .env(
            "VENUEBOX_PORTAL__ATTENDEE_INTERFACES",
            format!(r#"["{box_if}"]"#),
        )
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(d.join("venuebox.log")).unwrap())
        .spawn()
        .unwrap();
    venue.children.push(venuebox);

    // The phone asks for a lease, requesting option 114 like a phone that knows RFC 8910.
    std::fs::write(
        d.join("dhclient.conf"),
        "option captive-portal code 114 = text;\n\
         request subnet-mask, broadcast-address, routers, domain-name-servers, captive-portal;\n",
    )
    .unwrap();
    let script = d.join("dhclient-script");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n\
             case \"$reason\" in BOUND|RENEW|REBOOT)\n\
               ip addr add \"$new_ip_address/$new_subnet_mask\" dev \"$interface\"\n\
               ip route add default via \"$new_routers\" dev \"$interface\" 2>/dev/null\n\
               {{ echo \"ip=$new_ip_address\"; echo \"dns=$new_domain_name_servers\"; \
                  echo \"router=$new_routers\"; echo \"captive=$new_captive_portal\"; }} > {}\n\
             esac\n",
            d.join("lease.env").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let lease = run_in(
        &phone_ns,
        &[
            "timeout",
            "30",
            "dhclient",
            "-1",
            "-v",
            "-cf",
            &d.join("dhclient.conf").display().to_string(),
            "-sf",
            &script.display().to_string(),
            "-lf",
            &d.join("dhclient.leases").display().to_string(),
            "-pf",
            &d.join("dhclient.pid").display().to_string(),
            &phone_if,
        ],
    );
    assert!(
        lease.status.success(),
        "no DHCP lease: {}\ndnsmasq: {}",
        String::from_utf8_lossy(&lease.stderr),
        std::fs::read_to_string(d.join("dnsmasq.log")).unwrap_or_default()
    );
    let env = std::fs::read_to_string(d.join("lease.env")).expect("the lease script ran");
    let field = |k: &str| {
        env.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or("")
            .to_string()
    };
    let ip = field("ip");
    assert!(ip.starts_with("10.42.0."), "lease address {ip}");
    assert_eq!(field("dns"), BOX_IP, "the box is the DNS server");
    assert_eq!(field("router"), BOX_IP);
    assert_eq!(field("captive"), API, "option 114 carries the API URI");

    // The phone uses the DNS server its lease named.
    std::fs::create_dir_all(&venue.netns_etc).unwrap();
    std::fs::write(
        venue.netns_etc.join("resolv.conf"),
        format!("nameserver {}\n", field("dns")),
    )
    .unwrap();
    for name in [
        "connectivitycheck.gstatic.com",
        "captive.apple.com",
        "anything.example.org",
    ] {
        let a = must_in(
            &phone_ns,
            &["dig", "+short", "+time=2", "+tries=2", name, "A"],
        );
        assert_eq!(a.trim(), BOX_IP, "{name} resolves to the box");
    }
    let aaaa = must_in(
        &phone_ns,
        &[
            "dig",
            "+short",
            "+time=2",
            "+tries=2",
            "www.msftconnecttest.com",
            "AAAA",
        ],
    );
    assert_eq!(aaaa.trim(), "fd42:42::1");

    // Wait for the box to listen, then probe like Android does, by name.
    let deadline = Instant::now() + Duration::from_secs(20);
    let probe = |url: &str| {
        let out = run_in(
            &phone_ns,
            &[
                "curl",
                "-s",
                "-o",
                "/dev/null",
                "--max-time",
                "3",
                "-A",
                "Dalvik/2.1.0 (Linux; U; Android 14)",
                "-w",
                "%{http_code} %{redirect_url}",
                url,
            ],
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    loop {
        let got = probe("http://connectivitycheck.gstatic.com/generate_204");
        if got.starts_with("302") {
            assert_eq!(got, format!("302 http://{BOX_IP}/portal"));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "probe answered {got:?}; box log: {}",
            std::fs::read_to_string(d.join("venuebox.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Over IPv6 too: the phone's address comes from the box's router advertisements.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let addrs = must_in(
            &phone_ns,
            &[
                "ip", "-6", "addr", "show", "dev", &phone_if, "scope", "global",
            ],
        );
        if addrs.contains("fd42:42:") && !addrs.contains("tentative") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no IPv6 address from the box's RA: {addrs}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = run_in(
        &phone_ns,
        &[
            "curl",
            "-6",
            "-s",
            "-o",
            "/dev/null",
            "--max-time",
            "3",
            "-w",
            "%{http_code} %{redirect_url} %{remote_ip}",
            "http://captive.apple.com/hotspot-detect.html",
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("302 http://{BOX_IP}/portal fd42:42::1"),
        "IPv6 probe"
    );
    // A probe to a literal address elsewhere is sent to the box by the firewall.
    let got = probe("http://203.0.113.7/generate_204");
    assert!(
        got.starts_with("30"),
        "literal-address request answered {got:?}"
    );
    assert!(got.contains("/portal"), "{got}");
    // The portal page itself loads.
    let page = must_in(
        &phone_ns,
        &[
            "curl",
            "-s",
            "--max-time",
            "3",
            &format!("http://{BOX_IP}/portal"),
        ],
    );
    assert!(page.contains("<form"), "portal page: {page}");
    // FTP is for vendors: dropped on the attendee network (while the box serves it).
    let ftp = run_in(
        &phone_ns,
        &["curl", "-s", "--max-time", "2", &format!("ftp://{BOX_IP}/")],
    );
    assert!(
        !ftp.status.success(),
        "FTP reachable from the attendee network"
    );
    assert_eq!(
        ftp.status.code(),
        Some(28),
        "dropped (timeout), not refused"
    );
    let local = run_in(
        &box_ns,
        &[
            "curl",
            "-s",
            "--max-time",
            "2",
            "-o",
            "/dev/null",
            "-w",
            "%{response_code}",
            &format!("ftp://{BOX_IP}/"),
        ],
    );
    assert!(
        String::from_utf8_lossy(&local.stdout).starts_with('5') || local.status.code() == Some(67),
        "the FTP server itself is up (asks for a login): {:?}",
        local
    );

    // The audience is decided by where a connection arrived (hardening item 3). The
    // phone's IPv6 link-local address is in no attendee network, yet the admin,
    // upload and photo paths stay hidden from it: with the shipped firewall (which
    // sends it to the box's attendee-side address) and without it (the interface
    // it arrived on is an attendee interface).
    let box_link_local = must_in(
        &box_ns,
        &[
            "ip", "-6", "-o", "addr", "show", "dev", &box_if, "scope", "link",
        ],
    );
    let box_link_local = box_link_local
        .split_whitespace()
        .skip_while(|w| *w != "inet6")
        .nth(1)
        .and_then(|a| a.split('/').next())
        .unwrap_or_else(|| panic!("no link-local address on the box: {box_link_local}"))
        .to_string();
    assert!(box_link_local.starts_with("fe80:"), "{box_link_local}");
    // Named as the address the box will see it reach (the firewall's DNAT target, or
    // the link-local address itself), so the captive gate lets it through to the guard.
    let over_link_local = |method: &str, path: &str, reached: &str| -> String {
        let url = format!("http://[{box_link_local}%25{phone_if}]{path}");
        let host = format!("Host: [{reached}]");
        let out = run_in(
            &phone_ns,
            &[
                "curl",
                "-6",
                "-s",
                "-o",
                "/dev/null",
                "--max-time",
                "3",
                "-X",
                method,
                "-H",
                &host,
                "-w",
                "%{http_code} %{local_ip}",
                &url,
            ],
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    for firewall in [true, false] {
        let reached = if firewall {
            "fd42:42::1"
        } else {
            box_link_local.as_str()
        };
        if !firewall {
            must_in(
                &box_ns,
                &["nft", "flush", "chain", "inet", "venuebox", "prerouting"],
            );
        }
        for (method, path) in [
            ("GET", "/admin/login"),
            ("GET", "/api/admin/sync"),
            ("POST", "/files/"),
            ("GET", "/photos/1/full"),
        ] {
            let got = over_link_local(method, path, reached);
            assert!(
                got.starts_with("404 fe80:"),
                "{method} {path} from a link-local address (firewall {firewall}): {got}"
            );
        }
        // The portal itself still answers there.
        let got = over_link_local("GET", "/portal", reached);
        assert!(
            got.starts_with("200 fe80:"),
            "portal over link-local: {got}"
        );
    }
    drop(venue);
}
