//! Derivatives: the render queue that turns every stored photo into its thumb (320),
//! preview (1280) and watermarked preview (1280), each as JPEG and WebP, the plan of
//! the "full" download (the original without its private metadata, see
//! [`crate::media::privacy`]), the in-memory cache of small derivatives and the render
//! figures. Owns the table `renders`. The HTTP endpoints that serve them are
//! `web::previews`.
//!
//! Instant previews: while an upload is still arriving, the EXIF thumbnail in its
//! first bytes is extracted, oriented and kept in memory under the upload's key (the
//! tus upload id); it is served at `/uploads/{key}/preview` at once, and as the
//! photo's thumb/preview until the render is done.
//!
//! New photos (announced by the ingest core) are rendered before the backlog (photos
//! stored while the service was down, found at start). Workers are bounded (one per
//! core), each render runs on the blocking pool, and two requests for the same
//! unrendered photo share one render. A photo that cannot be rendered is recorded as
//! failed with its reason; the queue goes on. A render whose derivatives cannot be
//! written because the disk is full is not a failure of the photo: nothing is recorded,
//! the photo's state reads `no_space` (its previews answer 507), and it is rendered
//! again once [`RETRY_FREE_BYTES`] are free (checked every [`NO_SPACE_RETRY`]).
//!
//! Small hot derivatives are kept in an in-memory LRU with a byte budget, with
//! hit/miss counters per size that the serving edge bumps.
//!
//! Size: about 780 lines: the queue, the staged render and the cache share the in-flight
//! map and its stages; the figures are `derivatives::stats`, the cross-owner reads
//! `derivatives::reads`.

pub mod reads;
pub mod stale;
mod stats;

use stats::{Counters, Figures, Timeline};

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::OptionalExtension;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::db::{self, Store, StoreError};
use crate::files::{self, layout};
use crate::ingest::{Ingest, Photo};
use crate::media::privacy::FullPlan;
use crate::media::render::{Format, Job, Renderer};
use crate::media::watermark::Watermark;

/// A derivative of a photo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Derivative {
    /// Longest edge 320.
    Thumb,
    /// Longest edge 1280.
    Preview,
    /// The preview with the watermark (event, creator, "PREVIEW").
    Watermarked,
    /// The original bytes without private metadata.
    Full,
}

impl Derivative {
    /// Longest edge in pixels (0 for the full derivative: the original's).
    pub fn size(self) -> u32 {
        match self {
            Derivative::Thumb => 320,
            Derivative::Preview | Derivative::Watermarked => 1280,
            Derivative::Full => 0,
        }
    }

    pub fn parse(name: &str) -> Option<Derivative> {
        match name {
            "thumb" => Some(Derivative::Thumb),
            "preview" => Some(Derivative::Preview),
            "watermarked" => Some(Derivative::Watermarked),
            "full" => Some(Derivative::Full),
            _ => None,
        }
    }

    /// The name in URLs and figures.
    pub fn name(self) -> &'static str {
        match self {
            Derivative::Thumb => "thumb",
            Derivative::Preview => "preview",
            Derivative::Watermarked => "watermarked",
            Derivative::Full => "full",
        }
    }
}

/// What a render makes, in this order (one job each, every format).
const RENDERED: [Derivative; 3] = [
    Derivative::Preview,
    Derivative::Watermarked,
    Derivative::Thumb,
];
/// Every derivative, in the order of the counters.
const ALL: [Derivative; 4] = [
    Derivative::Thumb,
    Derivative::Preview,
    Derivative::Watermarked,
    Derivative::Full,
];
/// Every rendered derivative exists in each of these.
const FORMATS: [Format; 2] = [Format::Jpeg, Format::Webp];
/// How far a render in flight is: its first format stored (JPEG, servable)...
const STAGE_FIRST: u8 = 1;
/// ... or every format (or it failed).
const STAGE_ALL: u8 = 2;
/// JPEG quality of derivatives (WebP gets [`crate::media::render::webp_quality`] of it).
const QUALITY: u8 = 85;
/// In-memory cache budget for small derivatives.
const CACHE_BYTES: usize = 16 << 20;
/// Derivatives larger than this are served from disk, never cached.
pub const CACHE_MAX_ITEM: usize = 512 << 10;
/// How far into an upload the EXIF thumbnail is looked for (EXIF is at most 64 KB,
/// after at most a JFIF segment).
pub const INSTANT_HEAD_BYTES: u64 = 128 << 10;
/// Instant previews kept in memory.
const INSTANT_KEEP: usize = 256;
/// Longest edge of a first look, in pixels: the thumb's size, so the gallery's grid
/// shows it as sharp as the render will.
pub const FIRST_LOOK_SIZE: u32 = 320;
/// Nice value of the first-look thread: ingest's own (0), far above the renders
/// (SCHED_IDLE), which wait an upload burst out. Measured with `benches/ttfp.sh` (8
/// uploaders, docs/benchmarks.md): at nice 5 the burst's TTFP p95 was 72–78 ms, at 0
/// 28–46 ms, with upload throughput the same within the noise either way; a first
/// look costs a few milliseconds per photo without a thumbnail.
pub const FIRST_LOOK_NICE: i32 = 0;
/// Free bytes in the data dir at which renders the full disk stopped are tried again:
/// room for every derivative of a large photo (a 45 MP photo's six come to about
/// 1.5 MB), so a retry on a disk that is still full does not decode for nothing.
pub const RETRY_FREE_BYTES: u64 = 4 << 20;
/// How often the render queue looks whether space has returned for renders the full
/// disk stopped.
pub const NO_SPACE_RETRY: Duration = Duration::from_secs(2);
/// The state of a photo whose derivatives could not be written for lack of space.
pub const NO_SPACE: &str = "no_space";

/// Where a photo's render stands.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RenderState {
    /// `done`, `failed`, `raw` (no preview for camera RAW), `rendering`, or
    /// [`NO_SPACE`] (the disk was full; rendered again once space returns).
    pub state: String,
    /// Why it failed, in words a vendor can read.
    pub reason: Option<String>,
    /// How it was rendered (`mpf-preview`, `scaled-decode`, ...).
    pub route: Option<String>,
    /// Milliseconds the render took.
    pub render_ms: Option<f64>,
    /// Milliseconds from the end of the upload to the first preview.
    pub ttfp_end_ms: Option<f64>,
    /// Milliseconds from the start of the upload to the first preview.
    pub ttfp_start_ms: Option<f64>,
}

/// Encoded derivatives by (photo, derivative, format), least recently used first out.
type ThumbCache = lru::LruCache<(i64, Derivative, Format), Arc<Vec<u8>>>;

/// Why the full derivative of a photo cannot be planned.
#[derive(Debug, thiserror::Error)]
pub enum FullPlanError {
    /// Not offered for this format, or its metadata cannot be walked safely.
    #[error(transparent)]
    Privacy(#[from] crate::media::privacy::PrivacyError),
    /// The stored photo could not be read.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The blocking pool failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The render queue and derivative store: a cheap, cloneable handle.
#[derive(Clone)]
pub struct Previews {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    data_dir: PathBuf,
    /// Renders in progress, by photo: waiters watch their stage (`STAGE_FIRST`, `STAGE_ALL`).
    inflight: Mutex<HashMap<i64, watch::Receiver<u8>>>,
    /// Where renders run: their own threads, below ingest's priority.
    background: crate::lowprio::Background,
    /// The memory budget: at most `previews.max_decodes` renders at a time.
    workers: tokio::sync::Semaphore,
    /// Hot small derivatives in memory, and the bytes they take.
    cache: Mutex<(ThumbCache, usize)>,
    counters: Counters,
    /// Instant previews by upload key (tus upload id): the EXIF thumbnail, or the
    /// first look.
    instants: Mutex<lru::LruCache<String, Arc<Vec<u8>>>>,
    /// The one thread first looks are made on (see [`Previews::upload_committed`]).
    first_looks: crate::lowprio::Background,
    /// Head offers whose thumbnail search is still running, by upload key: how many,
    /// and the photo's SHA-256 once the upload is committed (its first look waits for
    /// them: only a head without a thumbnail leads to one).
    heads: Mutex<HashMap<String, (u32, Option<String>)>>,
    /// Uploads' timelines by upload key, and the upload key of committed photos.
    timelines: Mutex<lru::LruCache<String, Timeline>>,
    upload_of: Mutex<lru::LruCache<i64, String>>,
    /// When each announced photo was committed (uploads without a key: FTP, import).
    committed_at: Mutex<lru::LruCache<i64, Instant>>,
    figures: Mutex<Figures>,
    /// Full-derivative plans by photo (the scrubbed metadata, a few KB each).
    plans: Mutex<lru::LruCache<i64, Arc<crate::media::privacy::FullPlan>>>,
    max_pixels: u64,
    watermark: crate::config::WatermarkConfig,
    /// Photos whose last render could not write its derivatives because the disk was
    /// full: no `renders` row is written for them; the queue renders them again once
    /// space returns.
    no_space: Mutex<std::collections::BTreeSet<i64>>,
    /// Photos whose previews are all stored, announced after their render is recorded
    /// (the delivery engine's tagger searches them for pass codes then: after the
    /// first preview, never before it).
    rendered: tokio::sync::broadcast::Sender<Photo>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn lru<K: std::hash::Hash + Eq, V>(n: usize) -> Mutex<lru::LruCache<K, V>> {
    Mutex::new(lru::LruCache::new(NonZeroUsize::new(n).expect("non-zero")))
}

impl std::fmt::Debug for Previews {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Previews")
            .field("data_dir", &self.inner.data_dir)
            .finish_non_exhaustive()
    }
}

impl Previews {
    /// Opens the derivative store in `<data>/derivatives/`.
    pub fn open(store: Store, config: &crate::config::Config) -> std::io::Result<Previews> {
        let data_dir = &config.storage.data_dir;
        files::create_dir(&layout::derivatives(data_dir), 0o700)?;
        let decodes = match config.previews.max_decodes {
            0 => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            n => n,
        };
        Ok(Previews {
            inner: Arc::new(Inner {
                store,
                data_dir: data_dir.clone(),
                inflight: Mutex::new(HashMap::new()),
                background: crate::lowprio::Background::new(
                    decodes,
                    config.previews.render_nice,
                    config.previews.render_idle,
                    "render",
                ),
                workers: tokio::sync::Semaphore::new(decodes),
                cache: Mutex::new((
                    lru::LruCache::new(NonZeroUsize::new(4096).expect("non-zero")),
                    0,
                )),
                counters: Counters::default(),
                instants: lru(INSTANT_KEEP),
                first_looks: crate::lowprio::Background::new(
                    1,
                    FIRST_LOOK_NICE,
                    false,
                    "first-look",
                ),
                heads: Mutex::default(),
                timelines: lru(1024),
                upload_of: lru(1024),
                committed_at: lru(4096),
                figures: Mutex::default(),
                plans: lru(256),
                max_pixels: config.previews.max_pixels,
                watermark: config.watermark.clone(),
                rendered: tokio::sync::broadcast::channel(256).0,
                no_space: Mutex::default(),
            }),
        })
    }

    /// Photos as their renders finish (state `done`, every derivative stored). A
    /// receiver that falls behind by more than 256 photos gets `Lagged` and should
    /// look in the store for what it missed.
    pub fn subscribe_rendered(&self) -> tokio::sync::broadcast::Receiver<Photo> {
        self.inner.rendered.subscribe()
    }

    pub fn path(&self, sha: &str, d: Derivative, format: Format) -> PathBuf {
        layout::derivative(&self.inner.data_dir, sha, d.name(), format.ext())
    }

    fn all_exist(&self, sha: &str) -> bool {
        RENDERED
            .iter()
            .all(|d| FORMATS.iter().all(|f| self.path(sha, *d, *f).exists()))
    }

    /// An upload began (tus creation): its time-to-first-preview starts now.
    pub fn upload_started(&self, key: &str) {
        lock(&self.inner.timelines).put(
            key.to_string(),
            Timeline {
                started: Some(Instant::now()),
                ..Timeline::default()
            },
        );
    }

    /// An upload (tus id or FTP transfer key) became the stored `photo`.
    ///
    /// If the upload has no instant preview (its EXIF thumbnail was missing, unusable
    /// or not seen), a *first look* is made at once: the stored photo rendered to
    /// [`FIRST_LOOK_SIZE`] (a shrink-on-load decode, a few milliseconds), one at a
    /// time on a thread of its own at nice [`FIRST_LOOK_NICE`]. Renders run under
    /// SCHED_IDLE and wait out an upload burst; the first look runs beside ingest, so
    /// every photo's first preview exists within milliseconds of its upload's end (issue 17, item 5:
    /// TTFP p95 ≤ 100 ms during an 8-camera burst). It is served, like the EXIF
    /// thumbnail, until the render's derivatives are stored. Best effort: a photo that
    /// cannot be decoded has no first look (its render will say why). Camera RAW has
    /// none.
    pub fn upload_committed(&self, key: &str, photo: &Photo) {
        if let Some(t) = lock(&self.inner.timelines).get_mut(key) {
            t.ended = Some(Instant::now());
        }
        lock(&self.inner.upload_of).put(photo.id, key.to_string());
        if photo.raw {
            return;
        }
        let mut heads = lock(&self.inner.heads);
        match heads.get_mut(key) {
            // The thumbnail search decides when it ends.
            Some((_, committed)) => *committed = Some(photo.sha256.clone()),
            None if self.wants_instant(key) => self.first_look(key, &photo.sha256),
            None => {}
        }
    }

    fn first_look(&self, key: &str, sha: &str) {
        let (previews, key) = (self.clone(), key.to_string());
        let source = layout::photo(&self.inner.data_dir, sha);
        let max_pixels = self.inner.max_pixels;
        tokio::spawn(async move {
            let wanted = previews.clone();
            let wanted_key = key.clone();
            let made = previews
                .inner
                .first_looks
                .run(move || {
                    // The EXIF thumbnail may have been found while this waited.
                    if !wanted.wants_instant(&wanted_key) {
                        return None;
                    }
                    let data = crate::media::render::read_source(&source).ok()?;
                    let mut renderer = Renderer::new(max_pixels).ok()?;
                    renderer.render(&data, FIRST_LOOK_SIZE, QUALITY).ok()
                })
                .await
                .ok()
                .flatten();
            let Some(rendered) = made else {
                return;
            };
            let mut instants = lock(&previews.inner.instants);
            if instants.contains(&key) {
                return;
            }
            previews
                .inner
                .counters
                .first_looks
                .fetch_add(1, Ordering::Relaxed);
            if let Some(t) = lock(&previews.inner.timelines).get_mut(&key) {
                t.instant.get_or_insert(Instant::now());
            }
            tracing::debug!(upload = %key, route = rendered.route.as_str(), bytes = rendered.bytes.len(), "first look");
            instants.put(key, Arc::new(rendered.bytes));
        });
    }

    /// The one rule of the instant-preview feed (tus and FTP alike): the first bytes
    /// of an upload are offered once the EXIF thumbnail in them has arrived whole (and
    /// at least 32 KiB are in, so a tiny first chunk is not decoded in vain), or once
    /// [`INSTANT_HEAD_BYTES`] have arrived (then the thumbnail is missing, or lies
    /// beyond them). An upload that ends earlier is offered at its end.
    pub fn head_ready(head: &[u8]) -> bool {
        head.len() as u64 >= INSTANT_HEAD_BYTES
            || (head.len() >= 32 << 10
                && crate::media::jpeg::jpeg_meta(head).exif_thumbnail.is_some())
    }

    /// Does the upload still lack an instant preview?
    pub fn wants_instant(&self, key: &str) -> bool {
        !lock(&self.inner.instants).contains(key)
    }

    /// Looks for the EXIF thumbnail in `head` (the first bytes of upload `key`), off
    /// the async runtime, and keeps it as the upload's instant preview. Never fails:
    /// an upload without a usable thumbnail simply has none.
    pub fn offer_head(&self, key: &str, head: Vec<u8>) {
        let (previews, key) = (self.clone(), key.to_string());
        lock(&self.inner.heads).entry(key.clone()).or_default().0 += 1;
        tokio::spawn(async move {
            let found =
                tokio::task::spawn_blocking(move || crate::media::render::instant_preview(&head))
                    .await
                    .ok()
                    .flatten();
            let mut heads = lock(&previews.inner.heads);
            let committed = match heads.get_mut(&key) {
                Some((n, committed)) => {
                    *n -= 1;
                    let last = *n == 0;
                    let committed = committed.clone();
                    if last {
                        heads.remove(&key);
                    }
                    committed.filter(|_| last)
                }
                None => None,
            };
            let mut instants = lock(&previews.inner.instants);
            match found {
                Some(jpeg) if !instants.contains(&key) => {
                    previews
                        .inner
                        .counters
                        .instants
                        .fetch_add(1, Ordering::Relaxed);
                    if let Some(t) = lock(&previews.inner.timelines).get_mut(&key) {
                        t.instant.get_or_insert(Instant::now());
                    }
                    tracing::debug!(upload = %key, bytes = jpeg.len(), "instant preview");
                    instants.put(key, Arc::new(jpeg));
                }
                Some(_) => {}
                // No thumbnail, and the upload was committed while this looked.
                None => {
                    if let Some(sha) = committed.filter(|_| !instants.contains(&key)) {
                        drop(instants);
                        drop(heads);
                        previews.first_look(&key, &sha);
                    }
                }
            }
        });
    }

    /// The instant preview of upload `key`.
    pub fn instant(&self, key: &str) -> Option<Arc<Vec<u8>>> {
        lock(&self.inner.instants).get(key).cloned()
    }

    pub fn instant_of_photo(&self, photo_id: i64) -> Option<Arc<Vec<u8>>> {
        let key = lock(&self.inner.upload_of).peek(&photo_id).cloned()?;
        self.instant(&key)
    }

    /// Photos stored without a render yet: the queue's real depth (announced,
    /// waiting for a decode slot, or left for the backlog).
    pub async fn pending(&self) -> Result<u64, StoreError> {
        self.inner
            .store
            .read(|c| reads::unrendered_count(c).map_err(StoreError::from))
            .await
    }

    /// How many renders ran (for tests and figures).
    pub fn renders(&self) -> u64 {
        self.inner.counters.renders.load(Ordering::Relaxed)
    }

    /// Renders `photo` unless its derivatives exist; concurrent calls for one photo
    /// share one render. Returns the photo's render state once every derivative is
    /// stored (or the render failed).
    pub async fn ensure(&self, photo: &Photo) -> Result<RenderState, StoreError> {
        self.ensure_until(photo, STAGE_ALL).await
    }

    /// As [`Previews::ensure`], but returns as soon as the derivatives in `format`
    /// are stored: JPEG is encoded first, so a JPEG request need not wait for WebP.
    /// The state is "rendering" if the render is still going on.
    pub async fn ensure_format(
        &self,
        photo: &Photo,
        format: Format,
    ) -> Result<RenderState, StoreError> {
        let stage = if format == FORMATS[0] {
            STAGE_FIRST
        } else {
            STAGE_ALL
        };
        self.ensure_until(photo, stage).await
    }

    async fn ensure_until(&self, photo: &Photo, stage: u8) -> Result<RenderState, StoreError> {
        // The disk was full at the last try and still is: no decode for nothing.
        if lock(&self.inner.no_space).contains(&photo.id) && !self.space_returned() {
            return Ok(no_space_state());
        }
        if let Some(state) = self.state(photo.id).await? {
            if state.state != "done" || self.all_exist(&photo.sha256) {
                return Ok(state);
            }
        }
        let mut progress = {
            let mut inflight = lock(&self.inner.inflight);
            // A render whose task died (a panic) has dropped its sender: start anew.
            match inflight
                .get(&photo.id)
                .filter(|rx| rx.has_changed().is_ok())
            {
                Some(rx) => rx.clone(),
                None => {
                    let (tx, rx) = watch::channel(0u8);
                    inflight.insert(photo.id, rx.clone());
                    // Its own task: a client that goes away does not stop the render.
                    let (me, photo) = (self.clone(), photo.clone());
                    tokio::spawn(async move {
                        let tx = Arc::new(tx);
                        let result = me.render(&photo, &tx).await;
                        lock(&me.inner.inflight).remove(&photo.id);
                        let _ = tx.send(STAGE_ALL);
                        if let Err(e) = result {
                            tracing::warn!(photo = photo.id, error = %e, "render not recorded");
                        }
                    });
                    rx
                }
            }
        };
        let _ = progress.wait_for(|s| *s >= stage).await;
        if lock(&self.inner.no_space).contains(&photo.id) {
            return Ok(no_space_state());
        }
        Ok(self.state(photo.id).await?.unwrap_or(RenderState {
            state: "rendering".into(),
            reason: None,
            route: None,
            render_ms: None,
            ttfp_end_ms: None,
            ttfp_start_ms: None,
        }))
    }

    /// The watermark for `photo`: the configured mark, the event's and the creator's
    /// names, and the creator's logo if they set one.
    async fn watermark_for(&self, photo: &Photo) -> Result<Watermark, StoreError> {
        let cfg = self.inner.watermark.clone();
        let creator_id = photo.creator_id;
        let (event, creator, logo) = self
            .inner
            .store
            .read(move |c| {
                let event = crate::event::event(c)?.map(|e| e.name);
                let creator = crate::creators::name_of(c, creator_id)?;
                // The decoded logo is kept by its PNG's SHA-256: the PNG is read and
                // decoded once per logo, not per render.
                let logo = match crate::creators::logo_sha256(c, creator_id)? {
                    None => None,
                    Some(sha) => match crate::media::logo::remembered(&sha) {
                        Some(logo) => Some(Ok(logo)),
                        None => crate::creators::logo_png(c, creator_id)?.map(Err),
                    },
                };
                Ok::<_, StoreError>((event, creator, logo))
            })
            .await?;
        let logo = match logo {
            None => None,
            Some(Ok(logo)) => Some(logo),
            Some(Err(png)) => {
                // Checked when it was set; decoded off the runtime (tens of ms).
                let checked = tokio::task::spawn_blocking(move || crate::media::logo::check(png))
                    .await
                    .map_err(|e| StoreError::Task(e.to_string()))?;
                match checked {
                    Ok(checked) => {
                        crate::media::logo::remember(checked.logo.clone());
                        Some(checked.logo)
                    }
                    Err(e) => {
                        tracing::warn!(creator = creator_id, error = %e, "the stored logo does not decode: drawn without it");
                        None
                    }
                }
            }
        };
        let line: Vec<String> = [
            event.filter(|_| cfg.show_event),
            creator.filter(|_| cfg.show_creator),
        ]
        .into_iter()
        .flatten()
        .filter(|s| !s.trim().is_empty())
        .collect();
        Ok(Watermark {
            mark: cfg.text,
            lines: if line.is_empty() {
                vec![]
            } else {
                vec![line.join(" · ")]
            },
            opacity: cfg.opacity,
            logo,
        })
    }

    async fn render(
        &self,
        photo: &Photo,
        progress: &Arc<watch::Sender<u8>>,
    ) -> Result<(), StoreError> {
        let _permit = self
            .inner
            .workers
            .acquire()
            .await
            .map_err(|_| StoreError::Closed)?;
        self.inner.counters.renders.fetch_add(1, Ordering::Relaxed);
        let watermark = self.watermark_for(photo).await?;
        let (id, sha, raw) = (photo.id, photo.sha256.clone(), photo.raw);
        let source = layout::photo(&self.inner.data_dir, &sha);
        let paths: Vec<Vec<PathBuf>> = FORMATS
            .iter()
            .map(|f| RENDERED.iter().map(|d| self.path(&sha, *d, *f)).collect())
            .collect();
        let max_pixels = self.inner.max_pixels;
        let started = Instant::now();
        let progress = progress.clone();
        // Set when a derivative could not be written because the disk is full.
        let out_of_space = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let full = out_of_space.clone();
        /// Route, decode/resize/encode times, when the first format was stored, and
        /// the CPU time the render's thread spent (None where the kernel does not say).
        type Outcome = (
            String,
            Duration,
            Duration,
            Duration,
            Instant,
            Option<Duration>,
        );
        let work = move || -> Result<Outcome, String> {
            if raw {
                return Err("raw".into());
            }
            let cpu_before = stats::thread_cpu_time();
            let data = crate::media::render::read_source(&source)
                .map_err(|e| format!("cannot read the photo: {e}"))?;
            let mut renderer = Renderer::new(max_pixels).map_err(|e| e.to_string())?;
            let jobs: Vec<Job<'_>> = RENDERED
                .iter()
                .map(|d| Job {
                    size: d.size(),
                    watermark: (*d == Derivative::Watermarked).then_some(&watermark),
                })
                .collect();
            let mut stored = 0;
            let mut first_stored = None;
            let set = renderer
                .render_staged(&data, &jobs, &FORMATS, QUALITY, |batch| {
                    // The thumbs were made last; written first, so that a reader
                    // finding every file finds them whole (each write is atomic).
                    for (rendered, target) in batch.iter().zip(&paths[stored]).rev() {
                        let dir = target.parent().expect("has a parent");
                        files::create_dir(dir, 0o700)
                            // Not flushed: a preview can be made again, and its
                            // flushes would hold up uploads' (served only if whole).
                            .and_then(|()| {
                                files::write_replacing_cache(target, &rendered.bytes, 0o600)
                            })
                            .map_err(|e| {
                                if files::is_disk_full(&e) {
                                    full.store(true, Ordering::Relaxed);
                                }
                                crate::media::render::RenderError::Encode(format!(
                                    "cannot write {}: {e}",
                                    target.display()
                                ))
                            })?;
                    }
                    stored += 1;
                    if first_stored.is_none() {
                        first_stored = Some(Instant::now());
                        let _ = progress.send(STAGE_FIRST);
                    }
                    Ok(())
                })
                .map_err(|e| e.to_string())?;
            let route = set[0].route.as_str().to_string();
            let resize = set[..jobs.len()].iter().map(|r| r.resize).sum();
            let encode = set.iter().map(|r| r.encode).sum();
            let first = first_stored.expect("a format was stored");
            let cpu = cpu_before
                .zip(stats::thread_cpu_time())
                .map(|(before, after)| after.saturating_sub(before));
            Ok((route, set[0].decode, resize, encode, first, cpu))
        };
        let outcome = match self.inner.background.run(work).await {
            Ok(outcome) => outcome,
            Err(e) => Err(e.to_string()),
        };
        let done = Instant::now();
        if outcome.is_err() && out_of_space.load(Ordering::Relaxed) {
            // Not the photo's fault: nothing recorded, rendered again when space returns.
            let reason = outcome.err().unwrap_or_default();
            tracing::warn!(photo = id, %reason, "render stopped: the disk is full; it is tried again once space is freed");
            lock(&self.inner.no_space).insert(id);
            return Ok(());
        }
        lock(&self.inner.no_space).remove(&id);
        let ms = (done - started).as_secs_f64() * 1000.0;
        let mut first_stored = None;
        let (state, reason, route) = match outcome {
            Ok((route, decode, resize, encode, first, cpu)) => {
                first_stored = Some(first);
                let mut figures = lock(&self.inner.figures);
                let name = crate::media::render::ROUTES
                    .iter()
                    .find(|r| r.as_str() == route)
                    .map_or("other", |r| r.as_str());
                let t = figures.routes.entry(name).or_default();
                t.renders += 1;
                t.decode_ms += decode.as_secs_f64() * 1000.0;
                t.resize_ms += resize.as_secs_f64() * 1000.0;
                t.encode_ms += encode.as_secs_f64() * 1000.0;
                if let Some(cpu) = cpu {
                    t.cpu_renders += 1;
                    t.cpu_ms += cpu.as_secs_f64() * 1000.0;
                }
                ("done", None, Some(route))
            }
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
        // Time to first preview: the instant preview if there was one, else this render.
        let key = lock(&self.inner.upload_of).peek(&id).cloned();
        let timeline = key
            .and_then(|k| lock(&self.inner.timelines).peek(&k).copied())
            .unwrap_or_default();
        let ended = timeline
            .ended
            .or_else(|| lock(&self.inner.committed_at).peek(&id).copied());
        let (mut ttfp_end, mut ttfp_start) = (None, None);
        if state == "done" {
            // The first servable preview: the instant one, or the first format stored.
            let rendered = first_stored.unwrap_or(done);
            let first = timeline.instant.map_or(rendered, |i| i.min(rendered));
            let since = |t: Instant| first.saturating_duration_since(t).as_secs_f64() * 1000.0;
            ttfp_end = ended.map(since);
            ttfp_start = timeline.started.map(since);
            let mut figures = lock(&self.inner.figures);
            if let Some(v) = ttfp_end {
                figures.ttfp_from_end(v);
            }
            if let Some(v) = ttfp_start {
                figures.ttfp_from_start(v);
            }
        }
        if state == "done" {
            self.prewarm(id, &sha);
        }
        self.inner
            .store
            .write(move |tx| {
                tx.execute(
                    "INSERT INTO renders (photo_id, state, reason, route, render_ms, rendered_at, ttfp_end_ms, ttfp_start_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                     ON CONFLICT (photo_id) DO UPDATE SET state = ?2, reason = ?3, route = ?4, render_ms = ?5, rendered_at = ?6,
                       ttfp_end_ms = COALESCE(ttfp_end_ms, ?7), ttfp_start_ms = COALESCE(ttfp_start_ms, ?8)",
                    rusqlite::params![id, state, reason, route, ms, crate::clock::now(), ttfp_end, ttfp_start],
                )
                .map_err(StoreError::from)
            })
            .await?;
        if state == "done" {
            // No receiver (no tagger) is fine.
            let _ = self.inner.rendered.send(photo.clone());
        }
        Ok(())
    }

    /// Loads the just-rendered thumb into memory, in the format asked for most, and
    /// whichever larger derivative is asked for most: the next request is a hit.
    fn prewarm(&self, id: i64, sha: &str) {
        let c = &self.inner.counters;
        let format = if c.formats[1].load(Ordering::Relaxed) > c.formats[0].load(Ordering::Relaxed)
        {
            Format::Webp
        } else {
            Format::Jpeg
        };
        let larger = if c.hits[2].load(Ordering::Relaxed) + c.misses[2].load(Ordering::Relaxed)
            > c.hits[1].load(Ordering::Relaxed) + c.misses[1].load(Ordering::Relaxed)
        {
            Derivative::Watermarked
        } else {
            Derivative::Preview
        };
        for d in [Derivative::Thumb, larger] {
            if let Ok(bytes) = std::fs::read(self.path(sha, d, format)) {
                if bytes.len() <= CACHE_MAX_ITEM && is_whole(&bytes, format) {
                    self.remember((id, d, format), Arc::new(bytes));
                }
            }
        }
    }

    /// Whether [`RETRY_FREE_BYTES`] are free in the data dir (an unreadable figure
    /// counts as yes: the render itself then says).
    fn space_returned(&self) -> bool {
        files::free_bytes(&self.inner.data_dir).map_or(true, |free| free >= RETRY_FREE_BYTES)
    }

    /// Photos whose render the full disk stopped, waiting for space.
    pub fn waiting_for_space(&self) -> usize {
        lock(&self.inner.no_space).len()
    }

    /// Is photo `photo_id`'s render waiting for disk space ([`NO_SPACE`])?
    pub fn is_waiting_for_space(&self, photo_id: i64) -> bool {
        lock(&self.inner.no_space).contains(&photo_id)
    }

    /// The photo's render state for the admin: [`NO_SPACE`] while its render waits
    /// for disk space, else what [`Previews::state`] records.
    pub async fn current_state(&self, photo_id: i64) -> Result<Option<RenderState>, StoreError> {
        if lock(&self.inner.no_space).contains(&photo_id) {
            return Ok(Some(no_space_state()));
        }
        self.state(photo_id).await
    }

    /// The photo's render state, if it was rendered (or tried).
    pub async fn state(&self, photo_id: i64) -> Result<Option<RenderState>, StoreError> {
        self.inner
            .store
            .read(move |c| {
                c.query_row(
                    "SELECT state, reason, route, render_ms, ttfp_end_ms, ttfp_start_ms FROM renders WHERE photo_id = ?1",
                    [photo_id],
                    |r| {
                        Ok(RenderState {
                            state: r.get(0)?,
                            reason: r.get(1)?,
                            route: r.get(2)?,
                            render_ms: r.get(3)?,
                            ttfp_end_ms: r.get(4)?,
                            ttfp_start_ms: r.get(5)?,
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
        let mut filler = tokio::spawn(fill_backlog(self.inner.store.clone(), backlog_tx.clone()));
        let mut tasks = tokio::task::JoinSet::new();
        let mut retry = tokio::time::interval(NO_SPACE_RETRY);
        retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // New photos first: an attendee is waiting for those.
            let photo = tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                _ = retry.tick() => {
                    // Renders the full disk stopped have no row: the backlog holds
                    // them, so it is refilled once space has returned.
                    let waiting = !lock(&self.inner.no_space).is_empty();
                    if waiting && self.space_returned() && filler.is_finished() {
                        tracing::info!(photos = self.waiting_for_space(), "space has returned: rendering what the full disk stopped");
                        lock(&self.inner.no_space).clear();
                        filler = tokio::spawn(fill_backlog(self.inner.store.clone(), backlog_tx.clone()));
                    }
                    continue;
                }
                event = announced.recv() => match event {
                    Ok(event) => {
                        lock(&self.inner.committed_at).put(event.photo.id, Instant::now());
                        event.photo
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        // Announcements were lost in a burst: the photos are in the
                        // store, so look for unrendered ones again.
                        tracing::warn!(missed = n, "render queue fell behind; rescanning the store");
                        if filler.is_finished() {
                            filler = tokio::spawn(fill_backlog(self.inner.store.clone(), backlog_tx.clone()));
                        }
                        continue;
                    }
                    Err(_) => break,
                },
                Some(photo) = backlog.recv() => photo,
            };
            self.inner.counters.queued.fetch_add(1, Ordering::Relaxed);
            // Backpressure: wait for a free decode slot before taking more work, so
            // the queue holds photos in the store, not in memory.
            // Shutdown is watched here too: with every slot busy rendering, a stop
            // would otherwise wait for a decode to end (seconds on a Pi).
            let permit = tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                permit = self.inner.workers.acquire() => permit,
            };
            let Ok(permit) = permit else {
                break;
            };
            drop(permit);
            while tasks.try_join_next().is_some() {}
            let previews = self.clone();
            tasks.spawn(async move {
                if let Err(e) = previews.ensure(&photo).await {
                    tracing::warn!(photo = photo.id, error = %e, "render bookkeeping failed");
                }
                previews
                    .inner
                    .counters
                    .queued
                    .fetch_sub(1, Ordering::Relaxed);
            });
        }
        filler.abort();
        tasks.shutdown().await;
    }

    pub fn cached(&self, key: (i64, Derivative, Format)) -> Option<Arc<Vec<u8>>> {
        lock(&self.inner.cache).0.get(&key).cloned()
    }

    pub fn remember(&self, key: (i64, Derivative, Format), bytes: Arc<Vec<u8>>) {
        let mut guard = lock(&self.inner.cache);
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

    /// The plan of `photo`'s full derivative (made once, kept in memory).
    /// Errors: [`FullPlanError::Privacy`] when the format is not offered or its
    /// metadata cannot be walked (answered 409 at the edge); I/O and store failures.
    pub async fn full_plan(&self, photo: &Photo) -> Result<Arc<FullPlan>, FullPlanError> {
        if let Some(plan) = lock(&self.inner.plans).get(&photo.id).cloned() {
            return Ok(plan);
        }
        crate::media::privacy::offered(&photo.media_type)?;
        let source = self.source(&photo.sha256);
        let media_type = photo.media_type.clone();
        let plan = db::run_blocking(move || {
            let data = std::fs::read(&source)?;
            Ok::<_, std::io::Error>(crate::media::privacy::full_plan(&data, &media_type))
        })
        .await???;
        let plan = Arc::new(plan);
        lock(&self.inner.plans).put(photo.id, plan.clone());
        Ok(plan)
    }

    pub fn source(&self, sha: &str) -> PathBuf {
        layout::photo(&self.inner.data_dir, sha)
    }
}

/// Where a photo's previews stand, in words a vendor understands (their page,
/// `web::vendor_photos`), not the render's internal reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Explained {
    /// A short label: "Preview ready", "Waiting", "No preview".
    pub label: &'static str,
    /// One or two sentences: what happened and what the vendor can do.
    pub words: &'static str,
    /// Whether the vendor need do nothing (the preview is there or on its way).
    pub fine: bool,
}

/// Explains a render `state` (`None`: not tried yet) and its recorded `reason`
/// (the [`crate::media::render::RenderError`] text, or another failure's) to the photo's
/// creator; `waiting_for_space`: the full disk stopped its render ([`NO_SPACE`]).
pub fn explain(state: Option<&str>, reason: Option<&str>, waiting_for_space: bool) -> Explained {
    let says = |label, words, fine| Explained { label, words, fine };
    if waiting_for_space || state == Some(NO_SPACE) {
        return says(
            "Waiting for space",
            "The box's storage is full, so the preview could not be saved. Your photo is safe; \
             its preview is made as soon as space is freed. Please tell the organiser.",
            false,
        );
    }
    let reason = reason.unwrap_or("");
    match state {
        None | Some("rendering") => says(
            "Preview on its way",
            "The photo is stored; its preview is being made.",
            true,
        ),
        Some("done") => says("Preview ready", "Attendees can see its preview.", true),
        Some("raw") => says(
            "RAW: no preview",
            "A camera RAW file is stored and can be delivered, but the box makes no preview \
             of RAW files, so attendees cannot see it. Shoot RAW+JPEG to give them a preview.",
            false,
        ),
        Some(_) if reason.starts_with("image too large to render") => says(
            "Too large to preview",
            "The photo has more pixels than the box can make a preview of (a very large \
             panorama, for example). It is stored, but attendees cannot see it.",
            false,
        ),
        Some(_) if reason.starts_with("no preview for") => says(
            "File type without preview",
            "The box cannot make previews of this kind of file (HEIC, for example). It is \
             stored; send a JPEG as well if attendees should see it.",
            false,
        ),
        Some(_) if reason.starts_with("cannot decode the image") => says(
            "Damaged file",
            "The file looks damaged or incomplete: the transfer may have been cut off, or \
             the memory card has an error. Send the photo again from the camera or card.",
            false,
        ),
        Some(_) => says(
            "Preview failed",
            "The box could not make a preview of this photo. It is stored; the organiser \
             can find the details in the box's log.",
            false,
        ),
    }
}

fn no_space_state() -> RenderState {
    RenderState {
        state: NO_SPACE.into(),
        reason: Some(
            "the box's disk is full: the previews could not be written; they are rendered once space is freed"
                .into(),
        ),
        route: None,
        render_ms: None,
        ttfp_end_ms: None,
        ttfp_start_ms: None,
    }
}

/// Sends every photo without a render to the queue, newest first.
async fn fill_backlog(store: Store, backlog: mpsc::Sender<Photo>) {
    let pending = store
        .read(|c| reads::unrendered(c).map_err(StoreError::from))
        .await
        .unwrap_or_default();
    for sha in pending {
        let photo = store
            .read(move |c| crate::ingest::photo_by_sha(c, &sha).map_err(StoreError::from))
            .await;
        if let Ok(Some(photo)) = photo {
            if backlog.send(photo).await.is_err() {
                return;
            }
        }
    }
}

/// Reads a stored derivative; `None` (and the file removed) if it is not whole.
pub async fn read_whole(
    path: &std::path::Path,
    format: Format,
) -> std::io::Result<Option<Vec<u8>>> {
    let bytes = tokio::fs::read(path).await?;
    if is_whole(&bytes, format) {
        return Ok(Some(bytes));
    }
    match tokio::fs::remove_file(path).await {
        Ok(()) => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Is `bytes` a whole encoded image, as the encoders write them: a JPEG from SOI to
/// EOI, a WebP whose RIFF size covers the file exactly? A derivative that a power cut
/// left empty, short or zero-filled is not.
pub fn is_whole(bytes: &[u8], format: Format) -> bool {
    match format {
        Format::Jpeg => bytes.starts_with(&[0xFF, 0xD8]) && bytes.ends_with(&[0xFF, 0xD9]),
        Format::Webp => {
            bytes.len() >= 12
                && bytes.starts_with(b"RIFF")
                && &bytes[8..12] == b"WEBP"
                && u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize + 8
                    == bytes.len()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::explain;
    use crate::media::render::RenderError;

    /// Each failure the renderer records gets its own words, taken from the error's
    /// own text (so a changed message cannot slip to the generic words unnoticed).
    #[test]
    fn every_render_failure_is_explained_in_its_own_words() {
        let failures = [
            RenderError::TooLarge {
                width: 90_000,
                height: 20_000,
                limit: 100_000_000,
            },
            RenderError::Unsupported("HEIC".into()),
            RenderError::Decode("premature end of data".into()),
        ];
        let mut seen = std::collections::HashSet::new();
        for e in &failures {
            let said = explain(Some("failed"), Some(&e.to_string()), false);
            assert!(!said.fine, "{e}");
            assert_ne!(
                said.label, "Preview failed",
                "{e} fell to the generic words"
            );
            assert!(seen.insert(said.label), "{e}: {} twice", said.label);
        }
        let other = explain(
            Some("failed"),
            Some("No such file or directory (os error 2)"),
            false,
        );
        assert_eq!(other.label, "Preview failed");
        assert!(
            !other.words.contains("os error"),
            "internal text is not shown"
        );
        assert!(explain(Some("done"), None, false).fine);
        assert!(explain(None, None, false).fine);
        assert!(!explain(Some("raw"), Some("camera RAW: stored, no preview"), false).fine);
        assert_eq!(explain(None, None, true).label, "Waiting for space");
    }
}
