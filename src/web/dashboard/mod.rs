//! The organiser dashboard (issue 16, item 1): one page at `GET /admin/dashboard`
//! (admin session: the admin pages' cookie or the bearer token), kept live over
//! Server-Sent Events at `GET /admin/dashboard/events` (the `text/event-stream` format
//! of the WHATWG HTML standard, §9.2 "Server-sent events"; axum's `response::sse`).
//!
//! What it shows: alerts at the top, worst first, and a summary (every second), then
//! four heavy panels (sync, the event funnel, ingest and previews, the box; every
//! `dashboard.heavy_refresh_secs`, at least 30 s) over the span the organiser picked
//! (`?span=hour|today|event`). The page is whole without its script (the first paint
//! is the same HTML the stream sends); `assets/dashboard/dashboard.js` only swaps each
//! panel's HTML for the one an event carries. No external asset, no inline script
//! (CSP `script-src 'self'`).
//!
//! Where the figures come from: the same reads `/metrics` makes (`web::metrics`'
//! snapshot: renders, the cache, photos per source, the outbox, consent, orders,
//! downloads), the sync worker's status, `dashboard::reads` for the figures over a span,
//! `dashboard::host` for the kernel's view of the box, and `dashboard::alerts` for the
//! rules. docs/dashboard.md lists every figure and its source.
//!
//! Cost: the summary is gathered once per second by one task shared by every open
//! dashboard (a `watch` channel; the task stops when the last one closes), so five
//! dashboards cost one gathering; the heavy panels are gathered per dashboard at their
//! slow period. A stream ends at its session's expiry and after five minutes at most;
//! the browser reconnects and is checked again (so a logged-out session stops seeing
//! the box).

mod chart;
mod panels;

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use serde::Deserialize;
use tokio::sync::watch;

use crate::dashboard::alerts::{self, Alert};
use crate::dashboard::host::{self, Health};
use crate::dashboard::{reads, Span};
use crate::db::StoreError;
use crate::delivery::views;
use crate::metrics::Snapshot;
use crate::web::admin::AdminSession;
use crate::web::{AppError, AppState};

/// The page's Content-Security-Policy: its own script and stream, inline style, nothing
/// from elsewhere.
const CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; \
style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; base-uri 'none'; \
frame-ancestors 'none'";

/// The page's script (swaps panels as events arrive).
const SCRIPT: &str = include_str!("../../../assets/dashboard/dashboard.js");

/// The longest a stream stays open before the browser must reconnect (and show its
/// session again).
const STREAM_MAX: Duration = Duration::from_secs(300);

/// Queue depth samples kept (one a second: the longest `render_queue_growth_secs`).
const QUEUE_SAMPLES: usize = 3700;

/// The dashboard's routes (merged with the admin routes: staff networks only).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/dashboard", get(page))
        .route("/admin/dashboard/events", get(events))
        .route("/admin/dashboard/dashboard.js", get(script))
        .layer(Extension(Hub::default()))
}

/// `?span=`: which span the panels count over.
#[derive(Debug, Deserialize, Default)]
struct SpanQuery {
    span: Option<String>,
}

impl SpanQuery {
    fn span(&self) -> Result<Span, AppError> {
        match self.span.as_deref() {
            None | Some("") => Ok(Span::default()),
            Some(name) => Span::parse(name)
                .ok_or_else(|| AppError::BadRequest("span must be hour, today or event".into())),
        }
    }
}

/// The figures read every second (the summary, the alerts, and the parts of the heavy
/// panels that are "now").
#[derive(Debug, Clone)]
pub(crate) struct Live {
    /// Seconds since the epoch when read.
    pub now: i64,
    /// What `/metrics` shows.
    pub snapshot: Snapshot,
    /// The sync worker's status.
    pub sync: crate::sync::Status,
    /// When the oldest photo that may be synced and is not in the target arrived.
    pub oldest_unsynced_at: Option<i64>,
    /// The data disk's size and free bytes.
    pub disk: Option<(u64, u64)>,
    /// Photo bytes stored in the last hour.
    pub bytes_last_hour: u64,
    /// Photos stored in the last minute.
    pub photos_last_minute: u64,
    /// Attendee devices through the portal now.
    pub devices_now: u64,
    /// The kernel's view of the box.
    pub health: Health,
    /// The event row (name, days).
    pub event: Option<crate::event::Event>,
    /// The alerts holding now, worst first.
    pub alerts: Vec<Alert>,
}

/// The one gathering of the summary shared by every open dashboard.
#[derive(Clone, Default)]
struct Hub(Arc<HubInner>);

#[derive(Default)]
struct HubInner {
    /// The latest figures (`None` until the first gathering).
    latest: Latest,
    /// Whether the gathering task runs.
    running: AtomicBool,
    /// Render queue depth samples `(at, depth)`, oldest first.
    queue: Mutex<VecDeque<(i64, u64)>>,
}

struct Latest(watch::Sender<Option<Arc<Live>>>);

impl Default for Latest {
    fn default() -> Self {
        Latest(watch::Sender::new(None))
    }
}

impl Hub {
    /// A receiver of the latest figures, starting the gathering task if none runs.
    fn subscribe(&self, state: &AppState) -> watch::Receiver<Option<Arc<Live>>> {
        let rx = self.0.latest.0.subscribe();
        if !self.0.running.swap(true, Ordering::SeqCst) {
            tokio::spawn(gather_while_watched(self.clone(), state.clone()));
        }
        rx
    }

    fn queue_samples(&self) -> Vec<(i64, u64)> {
        let q = self.0.queue.lock().unwrap_or_else(|e| e.into_inner());
        q.iter().copied().collect()
    }

    fn sample_queue(&self, at: i64, depth: u64) {
        let mut q = self.0.queue.lock().unwrap_or_else(|e| e.into_inner());
        // A gap (nobody watched) breaks the history: growth is judged on what was seen.
        if q.back().is_some_and(|&(last, _)| at - last > 5) {
            q.clear();
        }
        q.push_back((at, depth));
        while q.len() > QUEUE_SAMPLES {
            q.pop_front();
        }
    }
}

/// Gathers the live figures every second while any dashboard watches, then stops.
async fn gather_while_watched(hub: Hub, state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        if hub.0.latest.0.receiver_count() == 0 {
            hub.0.running.store(false, Ordering::SeqCst);
            // A dashboard that subscribed between the count and the store found the
            // task still running: take the job back for it.
            if hub.0.latest.0.receiver_count() > 0 && !hub.0.running.swap(true, Ordering::SeqCst) {
                continue;
            }
            return;
        }
        match live(&state, &hub).await {
            Ok(l) => {
                hub.0.latest.0.send_replace(Some(Arc::new(l)));
            }
            Err(e) => tracing::warn!(error = %e, "dashboard: figures could not be read"),
        }
    }
}

/// Reads the live figures and judges the alerts (sampling the render queue for them).
async fn live(state: &AppState, hub: &Hub) -> Result<Live, AppError> {
    let snapshot = crate::web::metrics::snapshot(state).await?;
    let now = crate::clock::now();
    hub.sample_queue(now, snapshot.renders.queue_depth);
    let sync = state.sync.status();
    let data_dir = state.config.storage.data_dir.clone();
    let root = state.config.dashboard.host_root.clone();
    let (disk, health) =
        tokio::task::spawn_blocking(move || (host::disk(&data_dir).ok(), host::read_health(&root)))
            .await
            .map_err(|e| AppError::Internal(e.into()))?;
    let (oldest_waiting, oldest_in_bundle, bytes_last_hour, photos_last_minute, devices_now, event) =
        state
            .store
            .read(move |c| {
                let waiting = crate::sync::outbox::oldest_waiting(c)?;
                let waiting_at = match waiting {
                    Some(id) => reads::received_at(c, id)?,
                    None => None,
                };
                Ok::<_, StoreError>((
                    waiting_at,
                    reads::oldest_in_unsent_bundle(c)?,
                    reads::bytes_since(c, now - 3600)?,
                    reads::arrivals(c, now - 60)?.len() as u64,
                    reads::devices_now(c, now)?,
                    crate::event::event(c)?,
                ))
            })
            .await?;
    let oldest_unsynced_at = match (oldest_waiting, oldest_in_bundle) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let window = crate::dashboard::event_window(
        event.as_ref().and_then(|e| e.starts_on.as_deref()),
        event.as_ref().and_then(|e| e.ends_on.as_deref()),
        now,
    );
    let cameras = state
        .store
        .read(move |c| reads::cameras(c, window.0).map_err(StoreError::from))
        .await?;
    let inputs = alerts::Inputs {
        now,
        sync_enabled: state.config.sync.enabled,
        uplink_down: sync.uplink == "down",
        oldest_unsynced_at,
        disk,
        ingest_bytes_per_sec: bytes_last_hour as f64 / 3600.0,
        window,
        queue: hub.queue_samples(),
        under_voltage_now: health.under_voltage_now(),
        under_voltage_since_boot: health
            .throttle
            .map(crate::dashboard::host::Throttle::under_voltage_since_boot),
        cameras,
    };
    let alerts = alerts::evaluate(&inputs, &state.config.dashboard);
    Ok(Live {
        now,
        snapshot,
        sync,
        oldest_unsynced_at,
        disk,
        bytes_last_hour,
        photos_last_minute,
        devices_now,
        health,
        event,
        alerts,
    })
}

/// The figures of the heavy panels over a span.
#[derive(Debug, Clone)]
pub(crate) struct Heavy {
    /// The span.
    pub span: Span,
    /// Its first second.
    pub since: i64,
    /// The funnel.
    pub funnel: reads::Funnel,
    /// Consent grants `(scope, at)`.
    pub grants: Vec<(String, i64)>,
    /// Photos per creator and source.
    pub ingest: Vec<IngestLine>,
    /// Arrival times.
    pub arrivals: Vec<i64>,
    /// Time to first preview per rendered photo.
    pub ttfp: Vec<reads::Ttfp>,
    /// Failed renders by reason.
    pub render_failures: Vec<(String, u64)>,
    /// Renders done and their mean wall-clock ms.
    pub render_time: (u64, Option<f64>),
    /// The outbox over the span.
    pub sync: reads::SyncSpan,
    /// Gallery page views per page (`gallery`, `mine`): the table's and those still in
    /// memory (`delivery::views`).
    pub gallery_views: Vec<(String, u64)>,
    /// Refused upload requests as `(source, reason, count)`, most first.
    pub refusals: Vec<(String, String, u64)>,
}

/// One row of the ingest table.
pub(crate) type IngestLine = reads::IngestRow;

async fn heavy(state: &AppState, span: Span, now: i64) -> Result<Heavy, AppError> {
    let since = span.since(now);
    let mut heavy = state
        .store
        .read(move |c| {
            Ok::<_, StoreError>(Heavy {
                span,
                since,
                funnel: reads::funnel(c, since)?,
                grants: reads::grants(c, since)?,
                ingest: reads::ingest(c, since)?,
                arrivals: reads::arrivals(c, since)?,
                ttfp: reads::ttfp(c, since)?,
                render_failures: reads::render_failures(c, since)?,
                render_time: reads::render_time(c, since)?,
                sync: reads::sync_span(c, since)?,
                gallery_views: views::views_since(c, since)?,
                refusals: crate::ingest::refusals_since(c, since)?,
            })
        })
        .await?;
    views::add_pending(&mut heavy.gallery_views, &state.gallery_views, since);
    Ok(heavy)
}

/// An HTML answer under the dashboard's CSP, never cached.
fn respond(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::CONTENT_SECURITY_POLICY, CSP),
        ],
        Html(body),
    )
        .into_response()
}

/// `GET /admin/dashboard`: the whole page, drawn from fresh figures.
async fn page(
    State(state): State<AppState>,
    Extension(hub): Extension<Hub>,
    session: Option<AdminSession>,
    Query(query): Query<SpanQuery>,
) -> Result<Response, AppError> {
    if session.is_none() {
        return Ok(respond(
            StatusCode::UNAUTHORIZED,
            panels::login_first().into_string(),
        ));
    }
    let span = query.span()?;
    let live = live(&state, &hub).await?;
    let heavy = heavy(&state, span, live.now).await?;
    let identity = state.vault.public_identity();
    Ok(respond(
        StatusCode::OK,
        panels::page(&live, &heavy, &identity).into_string(),
    ))
}

/// `GET /admin/dashboard/dashboard.js`: the page's script (no secret in it; staff
/// networks only, as the page).
async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        SCRIPT,
    )
        .into_response()
}

/// One SSE event: `event: <name>`, the HTML as data.
fn event(name: &'static str, html: maud::Markup) -> Result<SseEvent, Infallible> {
    Ok(SseEvent::default().event(name).data(html.into_string()))
}

/// `GET /admin/dashboard/events?span=`: `alerts` and `summary` every second, `sync`,
/// `funnel`, `ingest` and `box` at once and then every `dashboard.heavy_refresh_secs`.
async fn events(
    State(state): State<AppState>,
    Extension(hub): Extension<Hub>,
    session: AdminSession,
    Query(query): Query<SpanQuery>,
) -> Result<Response, AppError> {
    let span = query.span()?;
    let mut rx = hub.subscribe(&state);
    let heavy_every = Duration::from_secs(state.config.dashboard.heavy_refresh_secs);
    let left = u64::try_from(session.expires_at - crate::clock::now()).unwrap_or(0);
    let until = tokio::time::Instant::now() + STREAM_MAX.min(Duration::from_secs(left));
    let identity = state.vault.public_identity();
    let stream = async_stream::stream! {
        yield Ok::<_, Infallible>(SseEvent::default().retry(Duration::from_secs(1)));
        let mut slow = tokio::time::interval(heavy_every);
        slow.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let end = tokio::time::sleep_until(until);
        tokio::pin!(end);
        loop {
            tokio::select! {
                _ = &mut end => break,
                _ = slow.tick() => {
                    let latest = rx.borrow().clone();
                    let live = match latest {
                        Some(l) => Ok(l),
                        None => live(&state, &hub).await.map(Arc::new),
                    };
                    let figures = match live {
                        Ok(l) => heavy(&state, span, l.now).await.map(|h| (l, h)),
                        Err(e) => Err(e),
                    };
                    match figures {
                        Ok((l, h)) => {
                            yield event("sync", panels::sync(&l, &h));
                            yield event("funnel", panels::funnel(&l, &h));
                            yield event("ingest", panels::ingest(&l, &h));
                            yield event("box", panels::host(&l, &identity));
                        }
                        Err(e) => tracing::warn!(error = %e, "dashboard: panels could not be read"),
                    }
                }
                changed = rx.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    let latest = rx.borrow_and_update().clone();
                    if let Some(l) = latest {
                        yield event("alerts", panels::alerts(&l));
                        yield event("summary", panels::summary(&l));
                    }
                }
            }
        }
    };
    let mut response = Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
