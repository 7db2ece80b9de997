//! The HTTP edge: one axum app served on the plain listener and, when enabled, the
//! HTTPS one; the middleware every route gets (request ids, tracing, a concurrency
//! limit that sheds load, timeouts, body limits, security headers); the one error type
//! that turns subsystem errors into a status and a stable code; `/healthz`; and the
//! serve loop with graceful shutdown.
//!
//! Each capability module exposes its own `router()`; they are merged in [`app`] and
//! nowhere else. This module owns no business rules.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::error_handling::HandleErrorLayer;
use axum::extract::connect_info::Connected;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::IncomingStream;
use axum::{Json, Router};
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceBuilder;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnFailure, DefaultOnResponse, TraceLayer};

use crate::store::StoreError;
use crate::AppState;

/// The error every handler returns. Each variant names its HTTP status; the body is
/// `{"error": "<stable code>", "message": "..."}`. Internal causes are logged with the
/// request's id and never sent to the client.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// 400: the request is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no valid credentials.
    #[error("authentication required")]
    Unauthorized,
    /// 403: credentials valid, but the CSRF token is missing or wrong.
    #[error("missing or wrong CSRF token")]
    Csrf,
    /// 404.
    #[error("not found")]
    NotFound,
    /// 409: conflicts with what is stored.
    #[error("{0}")]
    Conflict(String),
    /// 429: too many failed attempts; retry after the given time.
    #[error("too many attempts; try again in {} s", .0.as_secs().max(1))]
    TooManyRequests(Duration),
    /// 500: a fault on the box (logged, not described to the client).
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl AppError {
    pub(crate) fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            AppError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            AppError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            AppError::Csrf => (StatusCode::FORBIDDEN, "csrf"),
            AppError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            AppError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            AppError::TooManyRequests(_) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            AppError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        AppError::Internal(e.into())
    }
}

impl From<rusqlite::Error> for AppError {
    fn from(e: rusqlite::Error) -> Self {
        AppError::Internal(e.into())
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if let AppError::Internal(cause) = &self {
            tracing::error!(error = %format!("{cause:#}"), "request failed");
        }
        let mut response = (
            status,
            Json(json!({ "error": code, "message": self.to_string() })),
        )
            .into_response();
        match &self {
            AppError::TooManyRequests(wait) => {
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(wait.as_secs().max(1)),
                );
            }
            AppError::Unauthorized => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
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
    // Ordinary routes get a body limit and a total timeout; uploads stream for as
    // long as bytes keep coming (the tus module bounds them itself).
    let routes = Router::new()
        .route("/healthz", get(healthz))
        .merge(crate::admin::router())
        .merge(crate::previews::router())
        .merge(crate::sync::router())
        .merge(crate::portal::router())
        .layer(DefaultBodyLimit::max(config.body_limit_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .merge(crate::tus::router())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::portal::gate,
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

/// `GET /healthz`: 200 when the database answers, 503 otherwise; always with version,
/// uptime and the data dir's free bytes, so a monitor sees why.
async fn healthz(State(state): State<AppState>) -> Response {
    let database_ok = state.store.healthy().await;
    let free = crate::durable::free_bytes(&state.config.storage.data_dir).ok();
    let status = if database_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if database_ok { "ok" } else { "degraded" },
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_secs": state.started.elapsed().as_secs(),
        "database": { "ok": database_ok, "schema_version": crate::store::SCHEMA_VERSION },
        "disk": { "free_bytes": free },
    });
    (status, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

/// A TLS listener for axum: accepts TCP, runs handshakes concurrently (each bounded by
/// a timeout, so a slow or silent client cannot stall others), and yields finished
/// streams.
pub struct TlsListener {
    local: SocketAddr,
    ready: tokio::sync::mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
}

/// How long a client gets to finish a TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at once.
const MAX_HANDSHAKES: usize = 64;

impl TlsListener {
    /// Wraps a bound TCP listener; handshakes use `config`.
    pub fn new(tcp: TcpListener, config: rustls::ServerConfig) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let (tx, ready) = tokio::sync::mpsc::channel(MAX_HANDSHAKES);
        let permits = Arc::new(tokio::sync::Semaphore::new(MAX_HANDSHAKES));
        tokio::spawn(async move {
            loop {
                let permit = tokio::select! {
                    _ = tx.closed() => return,
                    p = permits.clone().acquire_owned() => p.expect("never closed"),
                };
                let (stream, peer) = tokio::select! {
                    _ = tx.closed() => return,
                    accepted = tcp.accept() => match accepted {
                        Ok(pair) => pair,
                        Err(e) => {
                            // EMFILE and friends: back off instead of spinning.
                            tracing::warn!(error = %e, "HTTPS accept failed");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    },
                };
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let _permit = permit;
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { local, ready })
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
