//! The HTTP edge: one axum app served on the plain listener and, when enabled, the
//! HTTPS one; the middleware every route gets (request ids, tracing, a concurrency
//! limit that sheds load, timeouts, body limits, security headers); the one error type
//! that turns subsystem errors into a status and a stable code; `/healthz`; and the
//! serve loop with graceful shutdown.
//!
//! Each capability module exposes its own `router()`; they are merged in [`app`] and
//! nowhere else. This module owns no business rules.

pub mod admin;
pub mod csrf;
mod error;
pub mod portal;
pub mod previews;
pub mod shell;
pub mod sync;
pub mod tus;

pub use error::{AppError, AppJson};

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::error_handling::HandleErrorLayer;
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{header, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::IncomingStream;
use axum::{Json, Router};
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;
use tower::ServiceBuilder;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnFailure, DefaultOnResponse, TraceLayer};

/// Everything a request handler may reach: cheap handles, cloned per request.
#[derive(Clone)]
pub struct AppState {
    /// The validated configuration.
    pub config: Arc<crate::config::Config>,
    /// The database.
    pub store: crate::db::Store,
    /// The box's identity.
    pub vault: crate::identity::Vault,
    /// When the service started (for `/healthz` uptime).
    pub started: std::time::Instant,
    /// Failed admin logins per client.
    pub login_limiter: Arc<crate::auth::LoginLimiter>,
    /// The ingest core every upload protocol commits through.
    pub ingest: crate::ingest::Ingest,
    /// Which tus uploads a PATCH is writing right now.
    pub upload_locks: Arc<tus::UploadLocks>,
    /// The render queue and derivative store.
    pub previews: crate::derivatives::Previews,
    /// The captive portal (its per-event secret and who is the box).
    pub portal: portal::Portal,
    /// The sync worker's status, for the dashboard.
    pub sync: crate::sync::SyncHandle,
}

impl AppState {
    /// The handles the door scanner works with (`consent::door`).
    pub fn door(&self) -> crate::consent::door::Door {
        crate::consent::door::Door {
            store: self.store.clone(),
            secret: self.portal.secret().clone(),
            config: self.config.door.clone(),
            debounce_secs: self.config.portal.attendance_debounce_secs as i64,
        }
    }
}

/// Who is on the other end of a connection: their address, and whether it came in
/// over TLS (cookies get `Secure` only then). Extract it as `ConnectInfo<ClientAddr>`.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr {
    /// The peer's address.
    pub addr: SocketAddr,
    /// True on the HTTPS listener.
    pub tls: bool,
    /// The box's own address the connection came in on (after any DNAT), when known.
    pub local: Option<SocketAddr>,
}

impl ClientAddr {
    /// The peer's IP address; an IPv4 client of a dual-stack (`[::]`) listener as
    /// plain IPv4.
    pub fn ip(&self) -> IpAddr {
        self.addr.ip().to_canonical()
    }
}

impl Connected<IncomingStream<'_, TcpListener>> for ClientAddr {
    fn connect_info(stream: IncomingStream<'_, TcpListener>) -> Self {
        ClientAddr {
            addr: *stream.remote_addr(),
            tls: false,
            local: stream.io().local_addr().ok(),
        }
    }
}

impl Connected<IncomingStream<'_, TlsListener>> for ClientAddr {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        ClientAddr {
            addr: *stream.remote_addr(),
            tls: true,
            local: stream.io().get_ref().0.local_addr().ok(),
        }
    }
}

/// Request ids: a random per-start prefix and a counter, short enough to grep.
#[derive(Clone)]
struct RequestIds {
    prefix: Arc<str>,
    next: Arc<AtomicU64>,
}

impl RequestIds {
    fn new() -> Self {
        use rand::Rng;
        let prefix: u32 = rand::thread_rng().gen();
        RequestIds {
            prefix: format!("{prefix:08x}").into(),
            next: Arc::new(AtomicU64::new(1)),
        }
    }
}

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("{}-{n}", self.prefix))
            .ok()
            .map(RequestId::new)
    }
}

/// The whole app: every capability's routes, with the middleware every route gets.
pub fn app(state: AppState) -> Router {
    let config = &state.config.http;
    let timeout = Duration::from_secs(config.request_timeout_secs);
    // Audience is decided by where a router is merged, each with its guard: the
    // public routes (health) and the attendee routes (the portal) are open to
    // everyone; the admin and vendor routes answer 404 to the attendee network, as if
    // they did not exist (authentication still applies to everyone else).
    let staff_only = || axum::middleware::from_fn_with_state(state.clone(), staff_network_only);
    let public = Router::new().route("/healthz", get(healthz));
    let attendee = portal::router();
    let admin = admin::router()
        .merge(sync::router())
        .merge(portal::staff_router())
        .route_layer(staff_only());
    let vendor = previews::router().route_layer(staff_only());
    // The uploads alone may be reached from other origins' pages (CORS, when
    // configured); the staff guard stays outside it, so the attendee network gets a
    // plain 404 even for a preflight.
    let uploads = tus::router(&state.config.tus).route_layer(staff_only());
    // Ordinary routes get a body limit and a total timeout; uploads stream for as
    // long as bytes keep coming (the tus module bounds them itself).
    let routes = Router::new()
        .merge(public)
        .merge(attendee)
        .merge(admin)
        .merge(vendor)
        .layer(DefaultBodyLimit::max(config.body_limit_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .merge(uploads)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            portal::gate,
        ))
        .with_state(state.clone());

    let middleware = ServiceBuilder::new()
        .layer(SetRequestIdLayer::x_request_id(RequestIds::new()))
        .layer(
            // Only the path is logged: query strings may carry tokens.
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                let id = request
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("request", id, method = %request.method(), path = request.uri().path())
            })
            .on_response(DefaultOnResponse::new().level(tracing::Level::INFO))
            .on_failure(DefaultOnFailure::new().level(tracing::Level::WARN)),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(HandleErrorLayer::new(|_: tower::BoxError| async {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, "1")],
                Json(json!({ "error": "overloaded", "message": "the box is busy; try again" })),
            )
        }))
        .load_shed()
        .concurrency_limit(config.max_in_flight)
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ));
    routes.layer(middleware)
}

/// Guard of the admin and vendor routers: a request that arrived from the attendee
/// network (`portal.attendee_networks`) gets 404, as for a path that does not exist.
/// Requests handed to the app in-process (no socket) have no client to judge.
async fn staff_network_only(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if let Some(ConnectInfo(client)) = request.extensions().get::<ConnectInfo<ClientAddr>>() {
        if state.portal.is_attendee(client.ip()) {
            return AppError::NotFound.into_response();
        }
    }
    next.run(request).await
}

/// `GET /healthz`: 200 when the database answers, 503 otherwise; always with version,
/// uptime and the data dir's free bytes, so a monitor sees why.
async fn healthz(State(state): State<AppState>) -> Response {
    let database_ok = state.store.healthy().await;
    let free = crate::files::free_bytes(&state.config.storage.data_dir).ok();
    let status = if database_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if database_ok { "ok" } else { "degraded" },
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_secs": state.started.elapsed().as_secs(),
        "database": { "ok": database_ok, "schema_version": crate::db::SCHEMA_VERSION },
        "disk": { "free_bytes": free },
    });
    (status, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

/// A TLS listener for axum: the shared accept loop ([`crate::net::tls`]) yields
/// finished handshakes; axum serves them.
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

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(pair) => pair,
            // The accept task only ends when this receiver is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
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

/// Serves `app` on the listeners until `shutdown` is cancelled, then stops accepting,
/// lets in-flight requests finish for at most `grace`, and returns. Requests still
/// running after `grace` are cut off with 503, so nothing touches the store once it is
/// closed. Returns `false` if any were cut off.
pub async fn serve(
    app: Router,
    listeners: Listeners,
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
    let mut servers = tokio::task::JoinSet::new();
    let service = app
        .clone()
        .into_make_service_with_connect_info::<ClientAddr>();
    let stop = shutdown.clone();
    servers.spawn(async move {
        axum::serve(listeners.http, service)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await
    });
    if let Some(https) = listeners.https {
        let service = app.into_make_service_with_connect_info::<ClientAddr>();
        let stop = shutdown.clone();
        servers.spawn(async move {
            axum::serve(https, service)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await
        });
    }
    let drained = async {
        while let Some(result) = servers.join_next().await {
            match result {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "HTTP server failed"),
                Err(e) => tracing::error!(error = %e, "HTTP server task failed"),
            }
        }
    };
    tokio::pin!(drained);
    tokio::select! {
        _ = &mut drained => return true,
        _ = shutdown.cancelled() => {}
    }
    if tokio::time::timeout(grace, &mut drained).await.is_ok() {
        return true;
    }
    tracing::warn!(
        grace_secs = grace.as_secs(),
        "cutting off requests still running at the end of the shutdown grace period"
    );
    hard_stop.cancel();
    // Cut-off requests answer at once; give their connections a moment to close.
    let _ = tokio::time::timeout(Duration::from_secs(1), &mut drained).await;
    false
}
