//! mDNS/DNS-SD announcements: the box tells the venue LAN it is there, so phones find
//! the portal and dashboard (`_http._tcp`) and cameras find the ingest server
//! (`_ftp._tcp`) by name instead of by an IP address nobody knows.
//!
//! This module owns one [`mdns_sd::ServiceDaemon`] (a thread of its own, with its own
//! UDP sockets on port 5353) and the two service records it publishes: instance name
//! (`mdns.instance`, else the box's label), host name `<label>.local.`, port, and TXT
//! records `version` and `path`. It may not bind or serve the listeners it announces
//! (the caller binds them and passes the ports), touch the store, or change the host's
//! network configuration: which interfaces a service is announced on follows from the
//! address its listener is bound to (see [`Announcer::start`]).
//!
//! Withdrawal is part of the lifecycle: [`Announcer::shutdown`] sends goodbye packets
//! (TTL 0) so browsers drop the box at once rather than when the records expire (after
//! 2 minutes for SRV and addresses, 75 for PTR and TXT).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::thread;
use std::time::{Duration, Instant};

use mdns_sd::{DaemonEvent, IfKind, IfPredicate, ServiceDaemon, ServiceInfo, UnregisterStatus};

use crate::config::Config;

/// DNS-SD type of the portal and dashboard (RFC 6763 service type `http`).
pub const HTTP_SERVICE_TYPE: &str = "_http._tcp.local.";

/// DNS-SD type of camera ingest (RFC 6763 service type `ftp`).
pub const FTP_SERVICE_TYPE: &str = "_ftp._tcp.local.";

/// How long [`Announcer::shutdown`] waits, in all, for the daemon to confirm that it
/// sent the goodbye packets. The daemon answers within milliseconds unless its thread
/// is gone, so this only bounds the unhappy path.
const UNREGISTER_TIMEOUT: Duration = Duration::from_secs(1);

/// mdns-sd repeats each goodbye 120 ms after the first (in case a peer missed it), from
/// a timer in its own thread; the daemon must still be running then or the repeat is
/// lost.
const GOODBYE_REPEAT_WAIT: Duration = Duration::from_millis(200);

/// How long [`Announcer::shutdown`] waits for the daemon thread to confirm it stopped.
const DAEMON_EXIT_TIMEOUT: Duration = Duration::from_secs(1);

/// Why the announcements could not start.
#[derive(Debug, thiserror::Error)]
pub enum MdnsError {
    /// The mDNS daemon could not be created (its thread, poller or waker). Socket
    /// problems, such as port 5353 being unusable, surface later in the log instead,
    /// because the daemon opens its sockets in its own thread.
    #[error("cannot start the mDNS daemon: {0}")]
    Daemon(#[source] mdns_sd::Error),
    /// A service record was refused (e.g. a TXT value too long) or could not be handed
    /// to the daemon.
    #[error("cannot announce {service_type} as {instance:?}: {source}")]
    Register {
        /// The DNS-SD service type, e.g. `_http._tcp.local.`.
        service_type: &'static str,
        /// The instance name that was to be announced.
        instance: String,
        /// What mdns-sd said.
        #[source]
        source: mdns_sd::Error,
    },
}

/// The box's announcements on the LAN, live from [`Announcer::start`] until
/// [`Announcer::shutdown`].
///
/// Dropping it without calling `shutdown` still asks the daemon to send goodbyes and
/// stop, but does not wait for either: if the process exits right after, browsers may
/// keep showing the box until the records expire. Call `shutdown`.
pub struct Announcer {
    /// `None` when `mdns.enabled` is false: nothing was started, nothing to withdraw.
    daemon: Option<ServiceDaemon>,
    /// Full DNS-SD names of the registered services, needed to unregister them.
    fullnames: Vec<String>,
}

impl Announcer {
    /// Starts the daemon and announces `_http._tcp` on `http_port` and, when
    /// `ftp_port` is given, `_ftp._tcp` on it. The ports are those actually bound (a
    /// listener configured with port 0 gets its port from the OS).
    ///
    /// Each service is announced only where its listener can be reached, judged from
    /// the configured listen address (`http.listen`, `ftp.listen`):
    /// - `0.0.0.0`: the IPv4 addresses of every non-loopback interface;
    /// - `::`: the IPv4 and IPv6 addresses of every non-loopback interface;
    /// - a specific address: that address alone, on its interface. A development box
    ///   on `127.0.0.1` therefore announces on loopback only, never on the LAN.
    ///
    /// The addresses follow the host's: mdns-sd rechecks the interfaces every few
    /// seconds and announces addresses that appear (e.g. when the venue Wi-Fi comes
    /// up). If another device already uses the instance or host name, mdns-sd renames
    /// ours (`name (2)`, `host-2.local.`) and a warning is logged.
    ///
    /// When `mdns.enabled` is false this starts nothing and returns an idle
    /// `Announcer`, so callers need no special case.
    ///
    /// Not blocking: the daemon does its I/O (probing, announcing, answering) in its
    /// own thread; this only spawns that thread and queues commands to it, so it may be
    /// called from async code.
    pub fn start(
        config: &Config,
        box_id: Option<&str>,
        http_port: u16,
        ftp_port: Option<u16>,
    ) -> Result<Announcer, MdnsError> {
        if !config.mdns.enabled {
            tracing::info!("mDNS announcements are disabled (mdns.enabled = false)");
            return Ok(Announcer {
                daemon: None,
                fullnames: Vec::new(),
            });
        }
        let label = box_label(config, box_id);
        let instance = instance_name(config, &label);
        let host = host_name(&label);
        let mut services = vec![(HTTP_SERVICE_TYPE, config.http_addr().ip(), http_port)];
        if let Some(port) = ftp_port {
            services.push((FTP_SERVICE_TYPE, config.ftp_addr().ip(), port));
        }

        let daemon = ServiceDaemon::new().map_err(MdnsError::Daemon)?;
        // From here on, an early return drops `announcer`, which stops the daemon.
        let mut announcer = Announcer {
            daemon: Some(daemon.clone()),
            fullnames: Vec::new(),
        };
        // Registered before the services so that conflicts found while probing them
        // are reported.
        match daemon.monitor() {
            Ok(events) => log_daemon_events(events),
            Err(e) => tracing::warn!("mDNS daemon events will not be logged: {e}"),
        }
        for (service_type, listen_ip, port) in services {
            let register_error = |source| MdnsError::Register {
                service_type,
                instance: instance.to_string(),
                source,
            };
            let mut info = ServiceInfo::new(
                service_type,
                instance,
                &host,
                (),
                port,
                &txt_properties("/")[..],
            )
            .map_err(register_error)?
            .enable_addr_auto();
            let reach = announced_on(listen_ip);
            info.set_interfaces(reach.if_kinds());
            let fullname = info.get_fullname().to_string();
            daemon.register(info).map_err(register_error)?;
            tracing::info!(
                service = %fullname,
                host = %host,
                port,
                on = %reach,
                "announcing on mDNS"
            );
            announcer.fullnames.push(fullname);
        }
        Ok(announcer)
    }

    /// Full DNS-SD names of the announced services, e.g. `Stall 7._http._tcp.local.`
    /// (a `.` or `\` in the instance name appears escaped with `\`); empty when
    /// announcements are disabled.
    pub fn service_names(&self) -> &[String] {
        &self.fullnames
    }

    /// Withdraws the services (goodbye packets, repeated once, so browsers drop them
    /// now) and stops the daemon thread. Problems are logged, not returned: at this
    /// point there is nothing left to do about them.
    ///
    /// Blocking, usually for about 0.2 s (the wait for the repeated goodbye) and at
    /// most about 2.2 s (if the daemon thread stopped answering): from async code, call
    /// it inside `tokio::task::spawn_blocking`. Call it before the process exits, while
    /// the network is still up.
    pub fn shutdown(mut self) {
        let Some(daemon) = self.daemon.take() else {
            return;
        };
        let deadline = Instant::now() + UNREGISTER_TIMEOUT;
        let pending: Vec<_> = self
            .fullnames
            .iter()
            .filter_map(|name| match daemon.unregister(name) {
                Ok(status) => Some((name, status)),
                Err(e) => {
                    tracing::warn!(service = %name, "cannot withdraw from mDNS: {e}");
                    None
                }
            })
            .collect();
        for (name, status) in pending {
            let left = deadline.saturating_duration_since(Instant::now());
            match status.recv_timeout(left) {
                Ok(UnregisterStatus::OK) => tracing::info!(service = %name, "withdrawn from mDNS"),
                Ok(UnregisterStatus::NotFound) => {
                    tracing::warn!(service = %name, "mDNS daemon no longer had this service")
                }
                Err(e) => tracing::warn!(service = %name, "mDNS withdrawal unconfirmed: {e}"),
            }
        }
        thread::sleep(GOODBYE_REPEAT_WAIT);
        match daemon.shutdown() {
            Ok(status) => {
                if let Err(e) = status.recv_timeout(DAEMON_EXIT_TIMEOUT) {
                    tracing::warn!("mDNS daemon did not confirm it stopped: {e}");
                }
            }
            Err(e) => tracing::warn!("cannot stop the mDNS daemon: {e}"),
        }
    }
}

impl std::fmt::Debug for Announcer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Announcer")
            .field("running", &self.daemon.is_some())
            .field("services", &self.fullnames)
            .finish()
    }
}

impl Drop for Announcer {
    /// The path for an `Announcer` dropped without [`Announcer::shutdown`] (an early
    /// return, a panic): ask the daemon to stop, which makes it send one goodbye per
    /// service, and do not wait. Without this its thread would run until the process
    /// ends, answering for services that no longer exist.
    fn drop(&mut self) {
        if let Some(daemon) = self.daemon.take() {
            if let Err(e) = daemon.shutdown() {
                tracing::debug!("stopping the mDNS daemon on drop: {e}");
            }
        }
    }
}

/// The box's DNS label on the LAN: `box.name` as the vendor set it, but while it is
/// still the shipped `venuebox` the unique `venuebox-<4 hex of the box id>` that
/// `hw::names` also gives the host and the Wi-Fi networks (issue 15: two boxes at one
/// market must not announce the same name; mdns-sd would rename one at random, as
/// `venuebox (2)`, and a camera set up for one box could find the other).
fn box_label(config: &Config, box_id: Option<&str>) -> String {
    match box_id.and_then(crate::identity::box_suffix) {
        Some(suffix) if config.device.name == crate::identity::HOST_STEM => {
            crate::identity::unique_host_name(&suffix)
        }
        _ => config.device.name.clone(),
    }
}

/// The instance name to announce: `mdns.instance`, else the box's `label` (see
/// [`box_label`]), without surrounding blanks (which browsers would show as part of the
/// name). Configuration validation has already limited it to 1–63 bytes without control
/// characters; a name that is blank once trimmed falls back to the label, which is a
/// valid DNS label.
fn instance_name<'a>(config: &'a Config, label: &'a str) -> &'a str {
    let instance = config.mdns.instance.as_deref().unwrap_or("").trim();
    if instance.is_empty() {
        label
    } else {
        instance
    }
}

/// The host name the address records are published under: `<label>.local.`.
fn host_name(box_name: &str) -> String {
    format!("{box_name}.local.")
}

/// TXT records of a service: the firmware version, so a fleet tool can see what each
/// box runs, and `path`, which RFC 6763 defines for `_http._tcp` (the page to open)
/// and `_ftp._tcp` (the directory to use).
fn txt_properties(path: &str) -> [(&'static str, &str); 2] {
    [("version", env!("CARGO_PKG_VERSION")), ("path", path)]
}

/// Where a listener bound to some address can be reached from, and so where its
/// service is announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    /// Bound to `0.0.0.0`: every non-loopback interface, over IPv4.
    AllIpv4,
    /// Bound to `::` (dual-stack on Linux): every non-loopback interface, both
    /// families.
    All,
    /// Bound to one address: only there.
    Only(IpAddr),
}

fn announced_on(listen_ip: IpAddr) -> Reach {
    match listen_ip {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED) => Reach::AllIpv4,
        IpAddr::V6(Ipv6Addr::UNSPECIFIED) => Reach::All,
        ip => Reach::Only(ip),
    }
}

impl Reach {
    /// The interface selection mdns-sd applies to a service's automatic addresses.
    /// Loopback is left out of the wildcard cases: a LAN browser cannot use 127.0.0.1,
    /// and the loopback interface usually cannot carry multicast anyway.
    fn if_kinds(self) -> Vec<IfKind> {
        match self {
            Reach::AllIpv4 => vec![IfKind::Predicate(IfPredicate::new(|intf| {
                !intf.is_loopback() && intf.ip().is_ipv4()
            }))],
            Reach::All => vec![IfKind::Predicate(IfPredicate::new(|intf| {
                !intf.is_loopback()
            }))],
            Reach::Only(ip) => vec![IfKind::Addr(ip)],
        }
    }
}

impl std::fmt::Display for Reach {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reach::AllIpv4 => f.write_str("all non-loopback IPv4 addresses"),
            Reach::All => f.write_str("all non-loopback addresses"),
            Reach::Only(ip) => write!(f, "{ip} only"),
        }
    }
}

/// Logs what the daemon reports, from a thread of its own that ends when the daemon
/// does (its end of the channel is dropped then). Name conflicts are the event that
/// matters: two boxes at one venue with the same name.
fn log_daemon_events(events: mdns_sd::Receiver<DaemonEvent>) {
    let spawned = thread::Builder::new()
        .name("mdns-events".into())
        .spawn(move || {
            for event in events.iter() {
                match event {
                    DaemonEvent::NameChange(change) => tracing::warn!(
                        original = %change.original,
                        now = %change.new_name,
                        "another device on the LAN uses this mDNS name, so the box is \
                         announced under the new one; give each box its own box.name or \
                         mdns.instance"
                    ),
                    DaemonEvent::Error(e) => tracing::warn!("mDNS daemon: {e}"),
                    other => tracing::debug!("mDNS daemon: {other:?}"),
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("mDNS daemon events will not be logged: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_defaults_to_the_box_name() {
        let mut config = Config::default();
        config.device.name = "stall-7".into();
        assert_eq!(instance_name(&config, "stall-7"), "stall-7");

        config.mdns.instance = Some("  Stall 7 photos ".into());
        assert_eq!(instance_name(&config, "stall-7"), "Stall 7 photos");

        // Blank after trimming: the box name, which is always a valid label.
        config.mdns.instance = Some("   ".into());
        assert_eq!(instance_name(&config, "stall-7"), "stall-7");
    }

    #[test]
    fn a_box_with_the_shipped_name_is_announced_under_its_unique_name() {
        let mut config = Config::default();
        assert_eq!(config.device.name, "venuebox", "the shipped name");
        let (a, b) = ("vb1-3fa2c0ffee", "vb1-77e1d00d");
        assert_eq!(box_label(&config, Some(a)), "venuebox-3fa2");
        assert_eq!(box_label(&config, Some(b)), "venuebox-77e1");
        assert_eq!(
            host_name(&box_label(&config, Some(a))),
            "venuebox-3fa2.local."
        );
        assert_eq!(instance_name(&config, "venuebox-3fa2"), "venuebox-3fa2");
        // No usable box id: the configured name, as before.
        assert_eq!(box_label(&config, None), "venuebox");
        assert_eq!(box_label(&config, Some("not-an-id")), "venuebox");
        // A name the vendor chose is theirs.
        config.device.name = "stall-7".into();
        assert_eq!(box_label(&config, Some(a)), "stall-7");
    }

    #[test]
    fn host_name_is_the_box_name_in_local() {
        assert_eq!(host_name("venuebox"), "venuebox.local.");
    }

    #[test]
    fn txt_records_carry_version_and_path() {
        assert_eq!(
            txt_properties("/"),
            [("version", env!("CARGO_PKG_VERSION")), ("path", "/")]
        );
    }

    #[test]
    fn service_records_are_accepted_by_mdns_sd() {
        // A 63-byte instance name with characters that need escaping (dot, backslash)
        // still makes a valid record with the expected full name.
        let instance = format!("Stall 7. \\ {}", "x".repeat(52));
        assert_eq!(instance.len(), 63);
        let info = ServiceInfo::new(
            HTTP_SERVICE_TYPE,
            &instance,
            &host_name("venuebox"),
            (),
            8080,
            &txt_properties("/")[..],
        )
        .unwrap();
        assert!(info.get_fullname().starts_with("Stall 7\\. \\\\ x"));
        assert!(info.get_fullname().ends_with("._http._tcp.local."));
        assert_eq!(info.get_property_val_str("path"), Some("/"));
        assert_eq!(
            info.get_property_val_str("version"),
            Some(env!("CARGO_PKG_VERSION"))
        );
    }

    #[test]
    fn services_are_announced_where_their_listener_is_reachable() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(announced_on(ip("0.0.0.0")), Reach::AllIpv4);
        assert_eq!(announced_on(ip("::")), Reach::All);
        assert_eq!(announced_on(ip("127.0.0.1")), Reach::Only(ip("127.0.0.1")));
        assert_eq!(
            announced_on(ip("192.168.4.1")),
            Reach::Only(ip("192.168.4.1"))
        );
        assert!(matches!(
            Reach::Only(ip("192.168.4.1")).if_kinds()[..],
            [IfKind::Addr(a)] if a == ip("192.168.4.1")
        ));
    }

    #[test]
    fn disabled_announcer_starts_nothing() {
        let mut config = Config::default();
        config.mdns.enabled = false;
        let announcer = Announcer::start(&config, None, 8080, Some(2121)).unwrap();
        assert!(announcer.daemon.is_none());
        assert!(announcer.service_names().is_empty());
        announcer.shutdown();
    }
}
