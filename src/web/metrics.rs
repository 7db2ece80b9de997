//! `GET /metrics`: the box's figures in the Prometheus text format, for a scraper on
//! the box itself or an organiser's monitoring with the admin bearer token.
//!
//! Who may read it: an admin session (bearer token, or the admin pages' cookie) from
//! any staff network; or a client on loopback (127.0.0.0/8, ::1: a Prometheus or node
//! exporter textfile job running on the box) that carries no credentials at all. A
//! request with credentials that are not an admin session (a creator's upload token,
//! an attendee's pass cookie, a vendor session) is refused even from loopback: a
//! credential is never silently dropped to anonymous. The attendee network gets 404
//! from the staff guard of the router this one is merged into (`web::app`).
//!
//! The figures are read here from their owners, by the same functions the JSON
//! stats of the admin API call (`derivatives::Previews::metrics` beside `stats`,
//! `sync::outbox_view`, `consent::summary`, `delivery::links::outcomes`), plus photos
//! per source (`ingest`) and orders per state (`delivery::orders`); the text is
//! [`crate::metrics`]'.

use axum::extract::{ConnectInfo, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use axum_extra::extract::cookie::CookieJar;

use crate::db::StoreError;
use crate::metrics::{BoxFigures, Snapshot, SyncFigures};
use crate::web::admin::AdminSession;
use crate::web::{AppError, AppState, ClientAddr};

/// The metrics route.
pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

/// Cookies that say who the client is without being an admin session: an attendee's
/// pass and a vendor's session.
const OTHER_SESSIONS: [&str; 2] = [
    crate::web::portal::PASS_COOKIE,
    crate::web::vendor_page::SESSION_COOKIE,
];

/// Who the request is, for `/metrics`: `Ok` for an admin session or an anonymous
/// loopback client; 401 for an anonymous client elsewhere (or handed in-process, with
/// no address to judge), for credentials that are not a live admin session (the
/// extractor's answer) and for an attendee's or vendor's session cookie without an
/// admin one, from anywhere.
fn admit(
    admin: Option<&AdminSession>,
    client: Option<&ClientAddr>,
    headers: &HeaderMap,
) -> Result<(), AppError> {
    if admin.is_some() {
        return Ok(());
    }
    let jar = CookieJar::from_headers(headers);
    if OTHER_SESSIONS.iter().any(|name| jar.get(name).is_some()) {
        return Err(AppError::Unauthorized);
    }
    match client {
        Some(c) if c.ip().is_loopback() => Ok(()),
        _ => Err(AppError::Unauthorized),
    }
}

/// `GET /metrics` (see the module's opening).
async fn metrics(
    State(state): State<AppState>,
    admin: Option<AdminSession>,
    parts: Parts,
) -> Result<Response, AppError> {
    let client = parts
        .extensions
        .get::<ConnectInfo<ClientAddr>>()
        .map(|c| &c.0);
    admit(admin.as_ref(), client, &parts.headers)?;
    let snapshot = snapshot(&state).await?;
    let text = crate::metrics::encode(&snapshot)?;
    Ok((
        [
            (header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE),
            (header::CACHE_CONTROL, "no-store"),
        ],
        text,
    )
        .into_response())
}

/// Every figure, read from its owner: the in-memory ones first, then the database in
/// one blocking read.
pub(crate) async fn snapshot(state: &AppState) -> Result<Snapshot, AppError> {
    let pending = state.previews.pending().await?;
    let renders = state.previews.metrics(pending);
    let status = state.sync.status();
    let free = crate::files::free_bytes(&state.config.storage.data_dir).ok();
    let (photos, outbox, summary, orders, downloads, upload_refusals, mut gallery_views) = state
        .store
        .read(|c| {
            Ok::<_, StoreError>((
                crate::ingest::counts_by_source(c)?,
                crate::sync::outbox_view(c)?,
                crate::consent::summary(c)?,
                crate::delivery::orders::counts_by_state(c)?,
                crate::delivery::links::outcomes(c)?,
                crate::ingest::refusals_since(c, 0)?,
                crate::delivery::views::views_since(c, 0)?,
            ))
        })
        .await?;
    crate::delivery::views::add_pending(&mut gallery_views, &state.gallery_views, 0);
    let count = |v: i64| u64::try_from(v).unwrap_or(0);
    let by_name = |v: Vec<(String, i64)>| v.into_iter().map(|(k, n)| (k, count(n))).collect();
    let states = |v: &[(&str, u64)]| v.iter().map(|(k, n)| (k.to_string(), *n)).collect();
    Ok(Snapshot {
        box_figures: BoxFigures {
            version: env!("CARGO_PKG_VERSION").into(),
            uptime_seconds: state.started.elapsed().as_secs_f64(),
            disk_free_bytes: free,
        },
        photos,
        renders,
        sync: SyncFigures {
            enabled: state.config.sync.enabled,
            uplink: status.uplink.into(),
            last_upload_at: status.last_upload_at,
            bytes_sent: status.bytes_sent,
            objects_uploaded: status.objects_uploaded,
            objects_skipped: status.objects_skipped,
            bundles: states(&outbox.bundles_by_state()),
            objects: states(&outbox.objects_by_state()),
            pending_bytes: outbox.pending_bytes(),
        },
        attendees: count(summary.attendees),
        consent_granted: by_name(summary.granted.into_iter().collect()),
        attendance: by_name(summary.attendance.into_iter().collect()),
        unique_attendance: count(summary.unique_attendance),
        orders,
        downloads: by_name(downloads),
        upload_refusals,
        gallery_views,
    })
}
