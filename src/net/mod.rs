//! The box on the network, below every protocol: mDNS announcements ([`mdns`]), the
//! shared TLS accept loop ([`tls`]) and the
//! checks of the venue network's configuration files ([`netcheck`]).

pub mod mdns;
pub mod netcheck;
pub mod tls;
