//! The HTTP edge: one axum app served on the plain listener and, when enabled, the
//! HTTPS one; the middleware every route gets (request ids, tracing, one in-flight
//! limit for the whole box that sheds load, a per-client cap, body-read and request
//! timeouts, body limits, security headers; docs/decisions.md lists the limits); the
//! one error type that turns subsystem errors into a status and a stable code;
//! `/healthz`; and the serve loop ([`serve`]: connection caps, header-read timeout,
//! graceful shutdown).
//!
//! Each capability module exposes its own `router()`; they are merged in [`app`] and
//! nowhere else. This module owns no business rules.

pub mod admin;
pub mod admin_pages;
pub mod csrf;
pub mod dashboard;
pub mod delivery;
mod error;
pub mod metrics;
pub mod portal;
pub mod previews;
mod server;
pub mod shell;
pub mod sync;
pub mod tagging;
pub mod tus;
pub mod uploader;
pub mod vendor;
pub mod vendor_cameras;
pub mod vendor_logo;
pub mod vendor_page;
pub mod vendor_photos;

pub use error::{AppError, AppJson};
pub use server::{serve, ConnectionLimits, Listeners, TlsListener};

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::error_handling::HandleErrorLayer;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{header, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::ServiceBuilder;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnFailure, DefaultOnResponse, TraceLayer};

/// Everything a request handler may reach, behind one `Arc`: the state is cloned
/// several times per request (each middleware and extractor takes its own), so a clone
/// is one reference count, not one per handle. Reads its fields through `Deref` to
/// [`Handles`].
#[derive(Clone)]
pub struct AppState(Arc<Handles>);

impl AppState {
    /// The state of `handles`.
    pub fn new(handles: Handles) -> AppState {
        AppState(Arc::new(handles))
    }
}

impl std::ops::Deref for AppState {
    type Target = Handles;
    fn deref(&self) -> &Handles {
        &self.0
    }
}

/// The handles [`AppState`] shares.
pub struct Handles {
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
    /// The serial devices' states (door scanner, printer), for the dashboard.
    pub devices: crate::devices::Devices,
    /// The receipt printer's queue ([`crate::devices::Printer::off`] when none).
    pub printer: crate::devices::Printer,
    /// The pairing window the button opens (the login page then shows the setup code
    /// to the vendors' network).
    pub pairing: crate::auth::Pairing,
    /// Attendees' photo lookups remembered while certainly still true.
    pub memo: crate::delivery::memo::Memo,
    /// Gallery page views counted in memory until the next flush (the funnel).
    pub gallery_views: Arc<crate::delivery::views::GalleryViews>,
}

impl AppState {
    /// The handles the door scanner works with (`consent::door`).
    pub fn door(&self) -> crate::consent::door::Door {
        crate::consent::door::Door {
            store: self.store.clone(),
            secret: self.portal.secret().clone(),
            config: self.config.door.clone(),
            debounce_secs: self.config.portal.attendance_debounce_secs as i64,
            clock_trust: self.config.clock.trust,
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
    /// The interface it arrived on ([`crate::net::arrival_interface`]), when known.
    pub interface: Option<crate::net::IfName>,
}

impl ClientAddr {
    /// The peer's IP address; an IPv4 client of a dual-stack (`[::]`) listener as
    /// plain IPv4.
    pub fn ip(&self) -> IpAddr {
        self.addr.ip().to_canonical()
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

/// A request path as it may be logged: a download link's token
/// (`/portal/d/<token>/...`, a bearer secret: whoever holds it downloads the order) is
/// replaced by `<token>`, so the log names the route and the photo but never the link.
/// Secrets stay out of logs (../shared/MISSION.md, "Constraints").
pub fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    const LINKS: &str = "/portal/d/";
    match path.strip_prefix(LINKS) {
        Some(rest) => {
            let tail = rest.find('/').map_or("", |i| &rest[i..]);
            format!("{LINKS}<token>{tail}").into()
        }
        None => path.into(),
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
    let attendee = portal::router().merge(delivery::attendee_router());
    let admin = admin::router()
        .merge(admin_pages::router())
        .merge(sync::router())
        .merge(metrics::router())
        .merge(dashboard::router())
        .merge(portal::staff_router())
        .route_layer(staff_only());
    let vendor = previews::router()
        .merge(tagging::router())
        .merge(delivery::staff_router())
        .merge(vendor_page::router())
        .merge(vendor_photos::router())
        .merge(vendor_cameras::router())
        .merge(vendor_logo::router())
        .merge(uploader::router())
        .route_layer(staff_only());
    // One in-flight limit for the whole box: the semaphore is shared by every route
    // (a layer applied with `Router::layer` is cloned per route, so a plain
    // `concurrency_limit` would give each route its own; hardening item 8). Beyond
    // it the box answers 503 at once rather than queueing.
    let in_flight = Arc::new(tokio::sync::Semaphore::new(config.max_in_flight));
    let box_limit =
        || {
            ServiceBuilder::new()
            .layer(HandleErrorLayer::new(|_: tower::BoxError| async {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(header::RETRY_AFTER, "1")],
                    Json(json!({ "error": "overloaded", "message": "the box is busy; try again" })),
                )
            }))
            .load_shed()
            .layer(GlobalConcurrencyLimitLayer::with_semaphore(in_flight.clone()))
        };
    // Uploads stream for as long as bytes keep coming (the tus module bounds them
    // itself); they hold a place in the box's limit while they do.
    // The uploads alone may be reached from other origins' pages (CORS, when
    // configured); the staff guard stays outside it, so the attendee network gets a
    // plain 404 even for a preflight.
    let uploads = tus::router(&state)
        .route_layer(staff_only())
        .layer(box_limit());
    // Ordinary routes: the whole body is read first, within `http.body_timeout_secs`
    // and the body limit, before the request takes a place in the box's limit, so
    // slow senders hold no place; then a total timeout for the handler.
    let body_read = BodyRead {
        limit: config.body_limit_bytes,
        timeout: Duration::from_secs(config.body_timeout_secs),
    };
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
        .layer(box_limit())
        .layer(axum::middleware::from_fn_with_state(
            body_read,
            read_whole_body,
        ))
        .merge(uploads)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            portal::gate,
        ))
        .with_state(state.clone());

    let per_client = Arc::new(PerClient {
        cap: config.max_in_flight_per_client,
        in_flight: Mutex::new(HashMap::new()),
    });
    let middleware = ServiceBuilder::new()
        .layer(SetRequestIdLayer::x_request_id(RequestIds::new()))
        .layer(
            // Only the path is logged, and not all of it: query strings and download
            // links carry tokens (`loggable_path`).
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request<_>| {
                    let id = request
                        .headers()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    let path = loggable_path(request.uri().path());
                    tracing::info_span!("request", id, method = %request.method(), path = %path)
                })
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO))
                .on_failure(DefaultOnFailure::new().level(tracing::Level::WARN)),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(axum::middleware::from_fn_with_state(
            per_client,
            per_client_cap,
        ))
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

/// Requests in flight per client address, and the cap (`http.max_in_flight_per_client`).
struct PerClient {
    cap: usize,
    in_flight: Mutex<HashMap<IpAddr, usize>>,
}

/// One request's place in its client's count; dropping it gives the place back.
struct ClientPlace {
    of: Arc<PerClient>,
    ip: IpAddr,
}

impl Drop for ClientPlace {
    fn drop(&mut self) {
        let mut in_flight = self.of.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = in_flight.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                in_flight.remove(&self.ip);
            }
        }
    }
}

/// Answers 429 (Retry-After: 1) to a client that already has
/// `http.max_in_flight_per_client` requests in flight, so one client cannot take the
/// box's whole in-flight limit. The place is taken before the check (a burst cannot
/// slip through between check and count). Requests handed to the app in-process (no
/// socket) are not counted.
async fn per_client_cap(
    State(of): State<Arc<PerClient>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let Some(&ConnectInfo(client)) = request.extensions().get::<ConnectInfo<ClientAddr>>() else {
        return next.run(request).await;
    };
    let ip = client.ip();
    let place = {
        let mut in_flight = of.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        let n = in_flight.entry(ip).or_insert(0);
        *n += 1;
        let over = *n > of.cap;
        (ClientPlace { of: of.clone(), ip }, over)
    };
    if place.1 {
        return AppError::TooManyRequests(Duration::from_secs(1)).into_response();
    }
    let response = next.run(request).await;
    drop(place);
    response
}

/// How an ordinary request's body is read: at most `limit` bytes within `timeout`.
#[derive(Clone, Copy)]
struct BodyRead {
    limit: usize,
    timeout: Duration,
}

/// Reads an ordinary request's whole body before anything else runs: 408 if it has
/// not all arrived within `http.body_timeout_secs` (a slow sender cannot hold a
/// request open), 413 if it is longer than `http.body_limit_bytes` (or, for a logo
/// upload, [`vendor_logo::body_limit`]; the vendor page's form is sent back to the
/// page instead, [`vendor_logo::too_large`]).
async fn read_whole_body(
    State(read): State<BodyRead>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let limit = vendor_logo::body_limit(parts.uri.path(), read.limit);
    let bytes = match tokio::time::timeout(read.timeout, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) => {
            let too_long = std::error::Error::source(&e)
                .is_some_and(|cause| cause.is::<http_body_util::LengthLimitError>());
            if !too_long {
                return AppError::BadRequest("the body could not be read".into()).into_response();
            }
            return vendor_logo::too_large(parts.uri.path()).unwrap_or_else(|| {
                AppError::InvalidBody(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the body is longer than {limit} bytes"),
                )
                .into_response()
            });
        }
        Err(_) => {
            return AppError::InvalidBody(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the body did not arrive within {} s",
                    read.timeout.as_secs()
                ),
            )
            .into_response()
        }
    };
    next.run(axum::extract::Request::from_parts(
        parts,
        axum::body::Body::from(bytes),
    ))
    .await
}

/// Guard of the admin and vendor routers: a request that arrived from the attendee
/// network ([`portal::Portal::is_attendee_connection`]: by the interface it arrived
/// on, the box's address it reached, or the client's address) gets 404, as for a path
/// that does not exist.
/// Requests handed to the app in-process (no socket) have no client to judge.
async fn staff_network_only(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if let Some(ConnectInfo(client)) = request.extensions().get::<ConnectInfo<ClientAddr>>() {
        if state.portal.is_attendee_connection(client) {
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

#[cfg(test)]
mod tests {
    use super::loggable_path;

    #[test]
    fn download_link_tokens_stay_out_of_logged_paths() {
        let token = "eyJ2IjoxfQ.c2lnbmF0dXJl";
        for (path, logged) in [
            (
                format!("/portal/d/{token}"),
                "/portal/d/<token>".to_string(),
            ),
            (
                format!("/portal/d/{token}/zip"),
                "/portal/d/<token>/zip".into(),
            ),
            (
                format!("/portal/d/{token}/7/thumb"),
                "/portal/d/<token>/7/thumb".into(),
            ),
            ("/portal/gallery".into(), "/portal/gallery".into()),
            ("/photos/7/full".into(), "/photos/7/full".into()),
        ] {
            let got = loggable_path(&path);
            assert_eq!(got, logged);
            assert!(!got.contains(token));
        }
    }
}
