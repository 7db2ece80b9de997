//! Previews: the render queue that turns every stored photo into its thumb (320) and
//! preview (1280), and the endpoints that serve them.
//!
//! New photos (announced by the ingest core) are rendered before the backlog (photos
//! stored while the service was down, found at start). Workers are bounded (one per
//! core), each render runs on the blocking pool, and two requests for the same
//! unrendered photo share one render. A photo that cannot be rendered is recorded as
//! failed with its reason; the queue goes on.
//!
//! Serving asks one function, [`may_view`], whether a request may see a derivative;
//! until the portal and delivery work decide what attendees see, only an admin may.
//! Responses carry a strong ETag (content address + size), answer 304 to a matching
//! If-None-Match, and small hot derivatives are kept in an in-memory LRU with a byte
//! budget, with hit/miss counters per size.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{FromRequestParts, Path as UrlPath, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use rusqlite::OptionalExtension;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::admin::AdminSession;
use crate::http::AppError;
use crate::ingest::{Ingest, Photo};
use crate::render::{Renderer, DEFAULT_MAX_PIXELS};
use crate::store::{self, Store, StoreError};
use crate::{durable, AppState};

/// A derivative size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Derivative {
    /// Longest edge 320.
    Thumb,
    /// Longest edge 1280.
    Preview,
}

impl Derivative {
    /// Longest edge in pixels.
    pub fn size(self) -> u32 {
        match self {
            Derivative::Thumb => 320,
            Derivative::Preview => 1280,
        }
    }

    fn parse(name: &str) -> Option<Derivative> {
        match name {
            "thumb" => Some(Derivative::Thumb),
            "preview" => Some(Derivative::Preview),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Derivative::Thumb => "thumb",
            Derivative::Preview => "preview",
        }
    }
}

const ALL: [Derivative; 2] = [Derivative::Preview, Derivative::Thumb];
/// JPEG quality of derivatives.
const QUALITY: u8 = 85;
/// In-memory cache budget for thumbs.
const CACHE_BYTES: usize = 16 << 20;

/// Where a photo's render stands.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RenderState {
    /// `done`, `failed` or `raw` (no preview for camera RAW).
    pub state: String,
    /// Why it failed, in words a vendor can read.
    pub reason: Option<String>,
    /// How it was rendered (`mpf-preview`, `scaled-decode`, ...).
    pub route: Option<String>,
    /// Milliseconds the render took.
    pub render_ms: Option<f64>,
}

#[derive(Default)]
struct Counters {
    hits: [AtomicU64; 2],
    misses: [AtomicU64; 2],
    renders: AtomicU64,
}

fn index(d: Derivative) -> usize {
    match d {
        Derivative::Thumb => 0,
        Derivative::Preview => 1,
    }
}

/// Encoded derivatives by (photo, size), least recently used first out.
type ThumbCache = lru::LruCache<(i64, Derivative), Arc<Vec<u8>>>;

/// The render queue and derivative store: a cheap, cloneable handle.
#[derive(Clone)]
pub struct Previews {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    dir: PathBuf,
    photos_dir: PathBuf,
    /// Renders in progress, by photo: waiters watch for `true`.
    inflight: Mutex<HashMap<i64, watch::Receiver<bool>>>,
    /// At most one render per core at a time.
    workers: tokio::sync::Semaphore,
    /// Hot thumbs in memory, and the bytes they take.
    cache: Mutex<(ThumbCache, usize)>,
    counters: Counters,
}

impl Previews {
    /// Opens the derivative store in `<data>/derivatives/`.
    pub fn open(store: Store, data_dir: &std::path::Path) -> std::io::Result<Previews> {
        let dir = data_dir.join("derivatives");
        durable::create_dir(&dir, 0o700)?;
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        Ok(Previews {
            inner: Arc::new(Inner {
                store,
                dir,
                photos_dir: data_dir.join("photos/sha256"),
                inflight: Mutex::new(HashMap::new()),
                workers: tokio::sync::Semaphore::new(cores),
                cache: Mutex::new((
                    lru::LruCache::new(NonZeroUsize::new(4096).expect("non-zero")),
                    0,
                )),
                counters: Counters::default(),
            }),
        })
    }

    fn path(&self, sha: &str, d: Derivative) -> PathBuf {
        self.inner
            .dir
            .join(&sha[..2])
            .join(format!("{sha}-{}.jpg", d.size()))
    }

    /// How many renders ran (for tests and figures).
    pub fn renders(&self) -> u64 {
        self.inner.counters.renders.load(Ordering::Relaxed)
    }

    /// Renders `photo` unless its derivatives exist; concurrent calls for one photo
    /// share one render. Returns the photo's render state.
    pub async fn ensure(&self, photo: &Photo) -> Result<RenderState, StoreError> {
        if let Some(state) = self.state(photo.id).await? {
            if state.state != "done" || ALL.iter().all(|d| self.path(&photo.sha256, *d).exists()) {
                return Ok(state);
            }
        }
        let (mine, mut wait) = {
            let mut inflight = self
                .inner
                .inflight
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            match inflight.get(&photo.id) {
                Some(rx) => (None, rx.clone()),
                None => {
                    let (tx, rx) = watch::channel(false);
                    inflight.insert(photo.id, rx.clone());
                    (Some(tx), rx)
                }
            }
        };
        match mine {
            Some(done) => {
                let result = self.render(photo).await;
                self.inner
                    .inflight
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&photo.id);
                let _ = done.send(true);
                result?;
            }
            None => {
                let _ = wait.wait_for(|done| *done).await;
            }
        }
        Ok(self.state(photo.id).await?.unwrap_or(RenderState {
            state: "failed".into(),
            reason: Some("not rendered".into()),
            route: None,
            render_ms: None,
        }))
    }

    async fn render(&self, photo: &Photo) -> Result<(), StoreError> {
        let _permit = self
            .inner
            .workers
            .acquire()
            .await
            .map_err(|_| StoreError::Closed)?;
        self.inner.counters.renders.fetch_add(1, Ordering::Relaxed);
        let (id, sha, raw) = (photo.id, photo.sha256.clone(), photo.raw);
        let source = self.inner.photos_dir.join(&sha[..2]).join(&sha);
        let targets: Vec<PathBuf> = ALL.iter().map(|d| self.path(&sha, *d)).collect();
        let started = Instant::now();
        let outcome = store::run_blocking(move || -> Result<String, String> {
            if raw {
                return Err("raw".into());
            }
            let data = std::fs::read(&source).map_err(|e| format!("cannot read the photo: {e}"))?;
            let mut renderer = Renderer::new(DEFAULT_MAX_PIXELS).map_err(|e| e.to_string())?;
            let sizes: Vec<u32> = ALL.iter().map(|d| d.size()).collect();
            let set = renderer
                .render_set(&data, &sizes, QUALITY)
                .map_err(|e| e.to_string())?;
            let route = set[0].route.as_str().to_string();
            for (rendered, target) in set.iter().zip(&targets) {
                durable::create_dir(target.parent().expect("has a parent"), 0o700)
                    .map_err(|e| e.to_string())?;
                durable::write_atomic(target, &rendered.bytes, 0o600).map_err(|e| e.to_string())?;
            }
            Ok(route)
        })
        .await?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let (state, reason, route) = match outcome {
            Ok(route) => ("done", None, Some(route)),
            Err(raw) if raw == "raw" => (
                "raw",
                Some("camera RAW: stored, no preview".to_string()),
                None,
            ),
            Err(reason) => {
                tracing::warn!(photo = id, %reason, "render failed");
                ("failed", Some(reason), None)
            }
        };
        self.inner
            .store
            .write(move |tx| {
                tx.execute(
                    "INSERT INTO renders (photo_id, state, reason, route, render_ms, rendered_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (photo_id) DO UPDATE SET state = ?2, reason = ?3, route = ?4, render_ms = ?5, rendered_at = ?6",
                    rusqlite::params![id, state, reason, route, ms, store::now()],
                )
                .map_err(StoreError::from)
            })
            .await?;
        Ok(())
    }

    /// The photo's render state, if it was rendered (or tried).
    pub async fn state(&self, photo_id: i64) -> Result<Option<RenderState>, StoreError> {
        self.inner
            .store
            .read(move |c| {
                c.query_row(
                    "SELECT state, reason, route, render_ms FROM renders WHERE photo_id = ?1",
                    [photo_id],
                    |r| {
                        Ok(RenderState {
                            state: r.get(0)?,
                            reason: r.get(1)?,
                            route: r.get(2)?,
                            render_ms: r.get(3)?,
                        })
                    },
                )
                .optional()
                .map_err(StoreError::from)
            })
            .await
    }

    /// Renders new photos as they are announced, and the backlog (photos without a
    /// render) after them, until `shutdown`.
    pub async fn run(self, ingest: Ingest, shutdown: CancellationToken) {
        let mut announced = ingest.subscribe();
        let (backlog_tx, mut backlog) = mpsc::channel::<Photo>(64);
        let store = self.inner.store.clone();
        let filler = tokio::spawn(async move {
            let pending = store
                .read(|c| {
                    let mut stmt = c.prepare(
                        "SELECT sha256 FROM photos WHERE id NOT IN (SELECT photo_id FROM renders) ORDER BY id DESC",
                    )?;
                    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
                    rows.collect::<Result<Vec<_>, _>>().map_err(StoreError::from)
                })
                .await
                .unwrap_or_default();
            for sha in pending {
                let photo = store
                    .read(move |c| crate::ingest::photo_by_sha(c, &sha).map_err(StoreError::from))
                    .await;
                if let Ok(Some(photo)) = photo {
                    if backlog_tx.send(photo).await.is_err() {
                        return;
                    }
                }
            }
        });
        let mut tasks = tokio::task::JoinSet::new();
        loop {
            // New photos first: an attendee is waiting for those.
            let photo = tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                event = announced.recv() => match event {
                    Ok(event) => event.photo,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "render queue fell behind; the backlog will catch up at the next start");
                        continue;
                    }
                    Err(_) => break,
                },
                Some(photo) = backlog.recv() => photo,
            };
            // Backpressure: wait for a free worker before taking more work.
            let Ok(permit) = self.inner.workers.acquire().await else {
                break;
            };
            drop(permit);
            while tasks.try_join_next().is_some() {}
            let previews = self.clone();
            tasks.spawn(async move {
                if let Err(e) = previews.ensure(&photo).await {
                    tracing::warn!(photo = photo.id, error = %e, "render bookkeeping failed");
                }
            });
        }
        filler.abort();
        tasks.shutdown().await;
    }

    fn cached(&self, key: (i64, Derivative)) -> Option<Arc<Vec<u8>>> {
        let mut guard = self.inner.cache.lock().unwrap_or_else(|e| e.into_inner());
        guard.0.get(&key).cloned()
    }

    fn remember(&self, key: (i64, Derivative), bytes: Arc<Vec<u8>>) {
        let mut guard = self.inner.cache.lock().unwrap_or_else(|e| e.into_inner());
        let (cache, used) = &mut *guard;
        *used += bytes.len();
        if let Some(old) = cache.put(key, bytes) {
            *used -= old.len();
        }
        while *used > CACHE_BYTES {
            match cache.pop_lru() {
                Some((_, old)) => *used -= old.len(),
                None => break,
            }
        }
    }
}

/// May this request see this derivative of this photo? The one place that decides;
/// until the portal and delivery decide what attendees see, only an admin may.
pub fn may_view(admin: Option<&AdminSession>, _photo: &Photo, _derivative: Derivative) -> bool {
    admin.is_some()
}

/// The preview routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/photos/{id}/{derivative}", get(serve))
        .route("/api/admin/photos/{id}/render", get(render_state))
        .route("/api/admin/previews/stats", get(stats))
}

async fn photo_by_id(state: &AppState, id: i64) -> Result<Photo, AppError> {
    state
        .store
        .read(move |c| crate::ingest::photo_by_id(c, id).map_err(StoreError::from))
        .await?
        .ok_or(AppError::NotFound)
}

async fn serve(
    State(state): State<AppState>,
    UrlPath((id, derivative)): UrlPath<(i64, String)>,
    headers: HeaderMap,
    request: axum::extract::Request,
) -> Result<Response, AppError> {
    let derivative = Derivative::parse(&derivative).ok_or(AppError::NotFound)?;
    let (mut parts, _) = request.into_parts();
    let admin = AdminSession::from_request_parts(&mut parts, &state)
        .await
        .ok();
    let photo = photo_by_id(&state, id).await?;
    if !may_view(admin.as_ref(), &photo, derivative) {
        return Err(if admin.is_none() {
            AppError::Unauthorized
        } else {
            AppError::NotFound
        });
    }
    let etag = format!("\"{}-{}-v1\"", photo.sha256, derivative.size());
    let respond = |status: StatusCode, body: Option<Arc<Vec<u8>>>| {
        let mut response = match body {
            Some(bytes) => (status, bytes.as_ref().clone()).into_response(),
            None => status.into_response(),
        };
        let h = response.headers_mut();
        h.insert(header::ETAG, HeaderValue::from_str(&etag).expect("ascii"));
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, max-age=86400"),
        );
        h.insert(
            header::VARY,
            HeaderValue::from_static("Accept, Cookie, Authorization"),
        );
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
        response
    };
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
    {
        return Ok(respond(StatusCode::NOT_MODIFIED, None));
    }
    let previews = &state.previews;
    let key = (photo.id, derivative);
    if let Some(bytes) = previews.cached(key) {
        previews.inner.counters.hits[index(derivative)].fetch_add(1, Ordering::Relaxed);
        return Ok(respond(StatusCode::OK, Some(bytes)));
    }
    previews.inner.counters.misses[index(derivative)].fetch_add(1, Ordering::Relaxed);
    let render = previews.ensure(&photo).await?;
    if render.state != "done" {
        return Err(AppError::Conflict(
            render.reason.unwrap_or_else(|| "no preview".into()),
        ));
    }
    let bytes = Arc::new(
        tokio::fs::read(previews.path(&photo.sha256, derivative))
            .await
            .map_err(|e| AppError::Internal(e.into()))?,
    );
    if derivative == Derivative::Thumb {
        previews.remember(key, bytes.clone());
    }
    Ok(respond(StatusCode::OK, Some(bytes)))
}

async fn render_state(
    State(state): State<AppState>,
    _: AdminSession,
    UrlPath(id): UrlPath<i64>,
) -> Result<Json<RenderState>, AppError> {
    let photo = photo_by_id(&state, id).await?;
    Ok(Json(
        state
            .previews
            .state(photo.id)
            .await?
            .ok_or(AppError::NotFound)?,
    ))
}

async fn stats(State(state): State<AppState>, _: AdminSession) -> Json<serde_json::Value> {
    let c = &state.previews.inner.counters;
    let size = |d: Derivative| {
        let (hits, misses) = (
            c.hits[index(d)].load(Ordering::Relaxed),
            c.misses[index(d)].load(Ordering::Relaxed),
        );
        serde_json::json!({
            "hits": hits,
            "misses": misses,
            "hit_ratio": if hits + misses == 0 { 0.0 } else { hits as f64 / (hits + misses) as f64 },
        })
    };
    Json(serde_json::json!({
        "renders": c.renders.load(Ordering::Relaxed),
        Derivative::Thumb.name(): size(Derivative::Thumb),
        Derivative::Preview.name(): size(Derivative::Preview),
    }))
}
