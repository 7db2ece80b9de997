//! The box on the network, below every protocol: mDNS announcements ([`mdns`]), the
//! shared TLS accept loop of HTTPS and implicit FTPS ([`tls`]), and the checks of the
//! venue network's configuration files ([`netcheck`]).

pub mod mdns;
pub mod netcheck;
pub mod tls;

/// A network interface's name (Linux: at most 15 bytes, `IFNAMSIZ` − 1), kept inline
/// so a connection's [`crate::web::ClientAddr`] stays `Copy`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct IfName {
    bytes: [u8; 16],
    len: u8,
}

impl IfName {
    /// `name` if it fits (at most 16 bytes), else `None`.
    pub fn new(name: &str) -> Option<IfName> {
        let mut bytes = [0u8; 16];
        bytes
            .get_mut(..name.len())?
            .copy_from_slice(name.as_bytes());
        Some(IfName {
            bytes,
            len: name.len() as u8,
        })
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("")
    }
}

impl std::fmt::Debug for IfName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

/// The interface a connection arrived on, from the box's own address it reached
/// (`local`, after any DNAT): for an IPv6 link-local address its scope id names the
/// interface (RFC 4007 §6); otherwise the interface holding that address. `None` when
/// no interface holds it (or the interfaces cannot be listed). One `getifaddrs` call.
pub fn arrival_interface(local: std::net::SocketAddr) -> Option<IfName> {
    let interfaces = if_addrs::get_if_addrs().ok()?;
    let found = match local {
        std::net::SocketAddr::V6(v6) if v6.scope_id() != 0 => {
            interfaces.iter().find(|i| i.index == Some(v6.scope_id()))
        }
        _ => {
            let ip = local.ip().to_canonical();
            interfaces.iter().find(|i| i.addr.ip() == ip)
        }
    };
    found.and_then(|i| IfName::new(&i.name))
}
