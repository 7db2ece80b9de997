//! The HTTP server loop: accepts connections on the plain and the TLS listener, caps
//! them (box-wide and per client), serves each with hyper under a header-read
//! timeout, and drains them at shutdown.
//!
//! axum's own `axum::serve` sets no timer, so hyper's header-read timeout never runs
//! and a client trickling header bytes (slowloris) holds its connection for ever;
//! it also has no connection caps. This loop is axum's (hyper-util's `auto::Builder`,
//! one task per connection, graceful shutdown on a signal) with those added
//! (hardening item 8).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::{header, Request, StatusCode};
use axum::response::IntoResponse;
use axum::{Json, Router};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use super::ClientAddr;
use crate::config::HttpConfig;

/// A TLS listener: the shared accept loop ([`crate::net::tls`]) yields finished
/// handshakes; [`serve`] serves them.
pub struct TlsListener {
    local: SocketAddr,
    ready: tokio::sync::mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
}

impl TlsListener {
    /// Wraps a bound TCP listener; handshakes use `config`.
    pub fn new(tcp: TcpListener, config: rustls::ServerConfig) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let ready = crate::net::tls::accept_loop(tcp, config, "HTTPS");
        Ok(TlsListener { local, ready })
    }

    /// The address it listens on (its port when bound to port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// The bound sockets the app is served on.
pub struct Listeners {
    /// Plain HTTP.
    pub http: TcpListener,
    /// HTTPS, when enabled.
    pub https: Option<TlsListener>,
}

/// Connection limits of the server loop, from `[http]`.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// A request's headers must arrive within this time, or the connection is
    /// closed (`http.header_timeout_secs`); it also closes idle keep-alive
    /// connections.
    pub header_timeout: Duration,
    /// Open connections for the whole box (`http.max_connections`); beyond it new
    /// ones are closed at once.
    pub max_connections: usize,
    /// Open connections per client address (`http.max_connections_per_client`).
    pub max_connections_per_client: usize,
}

impl ConnectionLimits {
    /// The limits `[http]` sets.
    pub fn from_config(config: &HttpConfig) -> Self {
        ConnectionLimits {
            header_timeout: Duration::from_secs(config.header_timeout_secs),
            max_connections: config.max_connections,
            max_connections_per_client: config.max_connections_per_client,
        }
    }
}

/// Open connections, box-wide and per client address.
#[derive(Default)]
struct Open {
    total: usize,
    per_client: HashMap<IpAddr, usize>,
}

/// One admitted connection; dropping it gives its place back.
struct Admitted {
    open: Arc<Mutex<Open>>,
    client: IpAddr,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.total -= 1;
        if let Some(n) = open.per_client.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                open.per_client.remove(&self.client);
            }
        }
    }
}

/// Admits a connection from `client` if both caps allow it.
fn admit(open: &Arc<Mutex<Open>>, limits: &ConnectionLimits, client: IpAddr) -> Option<Admitted> {
    let mut state = open.lock().unwrap_or_else(|e| e.into_inner());
    let mine = state.per_client.get(&client).copied().unwrap_or(0);
    if state.total >= limits.max_connections || mine >= limits.max_connections_per_client {
        return None;
    }
    state.total += 1;
    *state.per_client.entry(client).or_insert(0) += 1;
    Some(Admitted {
        open: open.clone(),
        client,
    })
}

/// A connection's stream, and the box's own address it came in on.
trait Connection: AsyncRead + AsyncWrite + Send + Unpin + 'static {
    fn local(&self) -> Option<SocketAddr>;
}

impl Connection for TcpStream {
    fn local(&self) -> Option<SocketAddr> {
        self.local_addr().ok()
    }
}

impl Connection for TlsStream<TcpStream> {
    fn local(&self) -> Option<SocketAddr> {
        self.get_ref().0.local_addr().ok()
    }
}

/// Serves `app` on the listeners until `shutdown` is cancelled, then stops accepting,
/// lets in-flight requests finish for at most `grace`, and returns. Requests still
/// running after `grace` are cut off with 503, so nothing touches the store once it is
/// closed. Returns `false` if any were cut off.
///
/// Each request carries `ConnectInfo<ClientAddr>` (peer, listener, local address).
pub async fn serve(
    app: Router,
    listeners: Listeners,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
    grace: Duration,
) -> bool {
    let hard_stop = CancellationToken::new();
    let cut_off = hard_stop.clone();
    let app = app.layer(axum::middleware::from_fn(move |request: Request<axum::body::Body>, next: axum::middleware::Next| {
        let cut_off = cut_off.clone();
        async move {
            tokio::select! {
                response = next.run(request) => response,
                _ = cut_off.cancelled() => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(header::CONNECTION, "close")],
                    Json(json!({ "error": "shutting_down", "message": "the box is restarting; try again" })),
                ).into_response(),
            }
        }
    }));
    let connections = TaskTracker::new();
    let server = Server {
        app,
        limits,
        open: Arc::new(Mutex::new(Open::default())),
        connections: connections.clone(),
        shutdown: shutdown.clone(),
    };
    let mut accepting = tokio::task::JoinSet::new();
    {
        let server = server.clone();
        let listener = listeners.http;
        accepting.spawn(async move {
            loop {
                let accepted = tokio::select! {
                    accepted = listener.accept() => accepted,
                    _ = server.shutdown.cancelled() => return,
                };
                match accepted {
                    Ok((stream, peer)) => {
                        let _ = stream.set_nodelay(true);
                        server.connection(stream, peer, false);
                    }
                    Err(e) => {
                        // Out of descriptors, mostly: wait rather than spin.
                        tracing::warn!(error = %e, "HTTP accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
    }
    if let Some(mut https) = listeners.https {
        let server = server.clone();
        accepting.spawn(async move {
            loop {
                let accepted = tokio::select! {
                    accepted = https.ready.recv() => accepted,
                    _ = server.shutdown.cancelled() => return,
                };
                match accepted {
                    Some((stream, peer)) => server.connection(stream, peer, true),
                    None => return,
                }
            }
        });
    }
    shutdown.cancelled().await;
    while accepting.join_next().await.is_some() {}
    connections.close();
    if tokio::time::timeout(grace, connections.wait())
        .await
        .is_ok()
    {
        return true;
    }
    tracing::warn!(
        grace_secs = grace.as_secs(),
        "cutting off requests still running at the end of the shutdown grace period"
    );
    hard_stop.cancel();
    // Cut-off requests answer at once; give their connections a moment to close.
    let _ = tokio::time::timeout(Duration::from_secs(1), connections.wait()).await;
    false
}

/// What every connection task needs.
#[derive(Clone)]
struct Server {
    app: Router,
    limits: ConnectionLimits,
    open: Arc<Mutex<Open>>,
    connections: TaskTracker,
    shutdown: CancellationToken,
}

impl Server {
    /// Serves one accepted connection on its own task, or closes it at once when a
    /// connection cap is reached.
    fn connection<S: Connection>(&self, stream: S, peer: SocketAddr, tls: bool) {
        let local = stream.local();
        let client = ClientAddr {
            addr: peer,
            tls,
            local,
            interface: local.and_then(crate::net::arrival_interface),
        };
        let Some(admitted) = admit(&self.open, &self.limits, client.ip()) else {
            tracing::debug!(client = %client.ip(), "connection refused: too many open");
            return;
        };
        let service = self
            .app
            .clone()
            .map_request(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(client));
                request.map(axum::body::Body::new)
            });
        let service = TowerToHyperService::new(service);
        let header_timeout = self.limits.header_timeout;
        let shutdown = self.shutdown.clone();
        self.connections.spawn(async move {
            let _admitted = admitted;
            let mut builder = Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout);
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            tokio::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(e) = result {
                        tracing::trace!(error = %e, "connection ended with an error");
                    }
                    return;
                }
                _ = shutdown.cancelled() => {}
            }
            // Finish the request in flight, then close.
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        });
    }
}
