//! The box on the network, below every protocol: mDNS announcements ([`mdns`]), the
//! shared TLS accept loop of HTTPS and implicit FTPS ([`tls`]), and the checks of the
//! venue network's configuration files ([`netcheck`]).

pub mod mdns;
pub mod netcheck;
pub mod tls;
