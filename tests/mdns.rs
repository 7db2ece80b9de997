//! The mDNS announcer against a real mDNS browser: a second, independent mdns-sd
//! daemon in this process browses `_http._tcp` and `_ftp._tcp`, must resolve both
//! services of the box (instance name, host, port, TXT records, addresses) from the
//! multicast packets it receives, and must see them removed after
//! `Announcer::shutdown`.
//!
//! Multicast needs a network the test owns. Not the host's: its real interfaces are
//! not ours to send on, and even on `lo` (which Linux does loop multicast over,
//! MULTICAST flag or not) the daemons would join the group on every interface at
//! start and share port 5353 with any responder on the host, such as Avahi. So the
//! test re-runs itself under `unshare --net`: a private network namespace, gone when
//! the process ends (nothing to clean up, nothing on the host changes), in which it
//! creates a veth pair — `mdns-box` (10.77.0.1) and `mdns-phone` (10.77.0.2), like the
//! box and an attendee's phone on one Wi-Fi. The box's listeners are configured on
//! `0.0.0.0`, as on a real box, so it announces on every non-loopback interface; the
//! browser listens on `mdns-phone` only. It needs root (or CAP_SYS_ADMIN and
//! CAP_NET_ADMIN), `unshare` (util-linux) and `ip` (iproute2); without them it fails,
//! saying so.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mdns_sd::{IfKind, Receiver, ServiceDaemon, ServiceEvent};
use venuebox::config::Config;
use venuebox::net::mdns::{Announcer, FTP_SERVICE_TYPE, HTTP_SERVICE_TYPE};

/// Set in the re-run copy of this test, which runs inside the namespace.
const IN_NAMESPACE: &str = "MDNS_TEST_IN_PRIVATE_NETNS";
/// Printed by the re-run copy first thing, so that a failure of `unshare` itself (which
/// never starts it) is told apart from a failure of the test.
const NAMESPACE_MARKER: &str = "mdns test: inside a private network namespace";
/// The whole re-run, namespace set-up included, must finish within this.
const CHILD_TIMEOUT: Duration = Duration::from_secs(25);
/// From start to both services resolved (probing alone takes about 0.75 s).
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(8);
/// From shutdown to both services removed (goodbyes are sent at once).
const REMOVE_TIMEOUT: Duration = Duration::from_secs(4);

const BOX_ADDR: &str = "10.77.0.1";
const PHONE_ADDR: &str = "10.77.0.2";
const INSTANCE: &str = "Stall 7 photos";
const HTTP_PORT: u16 = 18080;
const FTP_PORT: u16 = 12121;

#[test]
fn box_is_announced_and_withdrawn() {
    if std::env::var_os(IN_NAMESPACE).is_some() {
        announced_and_withdrawn_in_namespace();
    } else {
        rerun_in_private_network_namespace("box_is_announced_and_withdrawn");
    }
}

/// Runs this test binary again, filtered to `test`, in a new network namespace, and
/// fails with its output if it fails.
fn rerun_in_private_network_namespace(test: &str) {
    let exe = std::env::current_exe().expect("path of the test binary");
    let mut child = Command::new("unshare")
        .arg("--net")
        .arg("--")
        .arg(&exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(IN_NAMESPACE, "1")
        // The panic message names the failing line; a backtrace of the copy is noise.
        .env("RUST_BACKTRACE", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "this test needs `unshare` (util-linux) to make a private network \
                 namespace for its multicast traffic, and it could not be run: {e}"
            )
        });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for the namespaced test") {
            break Some(status);
        }
        if started.elapsed() > CHILD_TIMEOUT {
            let _ = child.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = child
        .wait_with_output()
        .expect("output of the namespaced test");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if status.is_some() && !stdout.contains(NAMESPACE_MARKER) {
        panic!(
            "`unshare --net` could not create a private network namespace for this \
             test's multicast traffic; it needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN):\n\
             {stderr}"
        );
    }
    match status {
        Some(status) if status.success() => {
            // The filtered run must really have run the test, not matched nothing.
            assert!(
                stdout.contains("1 passed"),
                "the namespaced run passed without running the test:\n{stdout}{stderr}"
            );
        }
        Some(status) => panic!(
            "the test failed inside its network namespace ({status}):\n--- stdout\n\
             {stdout}\n--- stderr\n{stderr}"
        ),
        None => panic!(
            "the namespaced test did not finish within {CHILD_TIMEOUT:?}:\n--- stdout\n\
             {stdout}\n--- stderr\n{stderr}"
        ),
    }
}

/// Runs `ip ARGS` and fails, naming the command, if it does not succeed.
fn ip(args: &str) {
    let output = Command::new("ip")
        .args(args.split_whitespace())
        .output()
        .unwrap_or_else(|e| panic!("this test needs `ip` (iproute2): {e}"));
    assert!(
        output.status.success(),
        "`ip {args}` failed in the test's network namespace: {}",
        String::from_utf8_lossy(&output.stderr).trim()
    );
}

/// A fresh namespace has only `lo`, down. Make the veth pair the box and the phone
/// share.
fn set_up_network() {
    ip("link add mdns-box type veth peer name mdns-phone");
    ip(&format!("addr add {BOX_ADDR}/24 dev mdns-box"));
    ip(&format!("addr add {PHONE_ADDR}/24 dev mdns-phone"));
    ip("link set mdns-box up");
    ip("link set mdns-phone up");
    ip("link set lo up");
}

fn box_config() -> Config {
    let mut config = Config::default();
    config.device.name = "venuebox-test".into();
    config.mdns.enabled = true;
    config.mdns.instance = Some(INSTANCE.into());
    config.http.listen = "0.0.0.0:80".into();
    config.ftp.listen = "0.0.0.0:21".into();
    assert_eq!(
        config.validate(),
        vec![],
        "the test's configuration is valid"
    );
    config
}

/// What the browser learnt about one service.
#[derive(Debug, Default)]
struct Seen {
    /// Every address any resolution reported.
    addresses: HashSet<IpAddr>,
    /// The latest resolution: host, port, TXT records.
    host: String,
    port: u16,
    txt: HashMap<String, String>,
    resolved: bool,
    removed: bool,
}

/// Applies every event waiting on `events` to `seen`, keyed by full name.
fn drain(events: &Receiver<ServiceEvent>, seen: &mut HashMap<String, Seen>) {
    while let Ok(event) = events.try_recv() {
        match event {
            ServiceEvent::ServiceResolved(service) => {
                let entry = seen.entry(service.fullname.clone()).or_default();
                entry
                    .addresses
                    .extend(service.addresses.iter().map(|a| a.to_ip_addr()));
                entry.host = service.host.clone();
                entry.port = service.port;
                entry.txt = service.txt_properties.clone().into_property_map_str();
                entry.resolved = true;
            }
            ServiceEvent::ServiceRemoved(_, fullname) => {
                seen.entry(fullname).or_default().removed = true;
            }
            _ => {}
        }
    }
}

/// Collects events from both browsers until `done` holds or `timeout` passes.
fn wait_for(
    browsers: &[&Receiver<ServiceEvent>],
    seen: &mut HashMap<String, Seen>,
    timeout: Duration,
    done: impl Fn(&HashMap<String, Seen>) -> bool,
) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        for events in browsers {
            drain(events, seen);
        }
        if done(seen) {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn announced_and_withdrawn_in_namespace() {
    println!("{NAMESPACE_MARKER}");
    set_up_network();
    let http_name = format!("{INSTANCE}.{HTTP_SERVICE_TYPE}");
    let ftp_name = format!("{INSTANCE}.{FTP_SERVICE_TYPE}");

    // The phone: its own daemon, on its own end of the veth pair only, so everything
    // it learns arrived as multicast on that interface.
    let phone = ServiceDaemon::new().expect("browser daemon");
    phone.disable_interface(IfKind::All).unwrap();
    phone.enable_interface("mdns-phone").unwrap();
    let http_events = phone.browse(HTTP_SERVICE_TYPE).unwrap();
    let ftp_events = phone.browse(FTP_SERVICE_TYPE).unwrap();
    let browsers = [&http_events, &ftp_events];

    let announcer = Announcer::start(&box_config(), None, HTTP_PORT, Some(FTP_PORT)).unwrap();
    assert_eq!(
        announcer.service_names(),
        [http_name.clone(), ftp_name.clone()]
    );

    // Resolved, and with the box end's address: that record can only have reached
    // the phone's interface across the veth pair.
    let box_addr: IpAddr = BOX_ADDR.parse().unwrap();
    let mut seen = HashMap::new();
    let both_resolved = wait_for(&browsers, &mut seen, RESOLVE_TIMEOUT, |seen| {
        [&http_name, &ftp_name].iter().all(|name| {
            seen.get(*name)
                .is_some_and(|s| s.resolved && s.addresses.contains(&box_addr))
        })
    });
    assert!(
        both_resolved,
        "the browser did not resolve both services, with {BOX_ADDR} among their addresses, \
         within {RESOLVE_TIMEOUT:?}; it saw {seen:#?}"
    );
    let allowed: HashSet<IpAddr> = [BOX_ADDR, PHONE_ADDR]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
    for (name, port) in [(&http_name, HTTP_PORT), (&ftp_name, FTP_PORT)] {
        let service = &seen[name];
        assert_eq!(service.host, "venuebox-test.local.", "{name}");
        assert_eq!(service.port, port, "{name}");
        assert_eq!(
            service.txt.get("version").map(String::as_str),
            Some(env!("CARGO_PKG_VERSION")),
            "{name}: {:?}",
            service.txt
        );
        assert_eq!(
            service.txt.get("path").map(String::as_str),
            Some("/"),
            "{name}: {:?}",
            service.txt
        );
        // Listening on 0.0.0.0: the box's IPv4 addresses, never loopback or IPv6.
        assert!(
            !service.addresses.is_empty() && service.addresses.is_subset(&allowed),
            "{name} resolved to {:?}, expected addresses among {allowed:?}",
            service.addresses
        );
    }
    assert!(
        !seen.values().any(|s| s.removed),
        "nothing may be removed before shutdown: {seen:#?}"
    );

    let shutdown_started = Instant::now();
    announcer.shutdown();
    let shutdown_took = shutdown_started.elapsed();
    assert!(
        shutdown_took < Duration::from_secs(2),
        "shutdown took {shutdown_took:?}"
    );

    let both_removed = wait_for(&browsers, &mut seen, REMOVE_TIMEOUT, |seen| {
        [&http_name, &ftp_name]
            .iter()
            .all(|name| seen.get(*name).is_some_and(|s| s.removed))
    });
    assert!(
        both_removed,
        "the browser did not see both services removed within {REMOVE_TIMEOUT:?} of \
         shutdown; it saw {seen:#?}"
    );
    let _ = phone.shutdown();
}
