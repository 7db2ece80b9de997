//! Sync: store-and-forward of signed bundles to object storage.
//!
//! What consent allows is cut into bundles ([`outbox::cut`]): a manifest in canonical
//! JSON signed with the box's key, naming content-addressed assets, chained to the
//! previous manifest by hash (format: docs/bundle-format.md, [`manifest`]). Each cut is
//! one SQLite transaction that also queues every object to upload. The worker
//! ([`run`]) uploads the queue in priority order, HEAD before every PUT (an object
//! already there is skipped), large assets by multipart upload that resumes after a
//! crash, a manifest only after everything it names; when the target stops answering
//! it probes with backoff and jitter and carries on when it answers again.
//! [`verify`] checks a bucket or directory from the outside.
//!
//! This module reads photos, consent and attendance; it never changes them. Attendees
//! leave the box only as pseudonyms, and only with a current `sync` consent.

pub mod commands;
pub mod manifest;
pub mod outbox;
pub mod reads;
pub mod sent;
pub mod target;
pub mod verify;
mod view;

pub use view::{outbox_view, OutboxView};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use object_store::multipart::PartId;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::sync::CancellationToken;

use crate::config::SyncConfig;
use crate::db::{self, Store, StoreError};
use outbox::Pending;
use target::Target;

/// Why sync work failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The database.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The signing key.
    #[error(transparent)]
    Vault(#[from] crate::identity::VaultError),
}

impl From<rusqlite::Error> for SyncError {
    fn from(e: rusqlite::Error) -> Self {
        SyncError::Store(e.into())
    }
}

/// What the worker is doing, for the dashboard.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Status {
    /// The target, e.g. `s3://bucket/prefix`.
    pub target: String,
    /// `unknown` (nothing tried yet), `up` or `down`.
    pub uplink: &'static str,
    /// The last error, if the last attempt failed.
    pub last_error: Option<String>,
    /// When an object last reached the target (seconds since the epoch).
    pub last_upload_at: Option<i64>,
    /// Bytes sent since start (object payloads).
    pub bytes_sent: u64,
    /// Objects uploaded since start.
    pub objects_uploaded: u64,
    /// Objects found already in the target (HEAD) and skipped since start.
    pub objects_skipped: u64,
    /// Photos the last cut could not send because the disk is full: the files sent
    /// (their private metadata removed) could not be written. They wait for the first
    /// cut after space is freed.
    pub waiting_for_space: u64,
}

/// A cheap handle on the worker's status.
#[derive(Clone, Default)]
pub struct SyncHandle {
    status: Arc<Mutex<Status>>,
    wake: Arc<tokio::sync::Notify>,
    cut_now: Arc<std::sync::atomic::AtomicBool>,
}

impl SyncHandle {
    /// A copy of the status.
    pub fn status(&self) -> Status {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
    fn update(&self, f: impl FnOnce(&mut Status)) {
        f(&mut self.status.lock().unwrap_or_else(|e| e.into_inner()));
    }
    /// Asks the worker to cut and upload now (e.g. after tagging photos).
    pub fn wake(&self) {
        self.wake.notify_one();
    }
    /// Asks the worker to cut a bundle now, whatever the thresholds ("sync now").
    pub fn cut_now(&self) {
        self.cut_now
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.wake();
    }
}

use crate::clock::now;

/// Limits the average upload rate (granularity: one object or part).
struct Pacer {
    bytes_per_sec: u64,
    next: tokio::sync::Mutex<tokio::time::Instant>,
}

impl Pacer {
    fn new(bytes_per_sec: u64) -> Pacer {
        Pacer {
            bytes_per_sec,
            next: tokio::sync::Mutex::new(tokio::time::Instant::now()),
        }
    }
    async fn take(&self, bytes: u64) {
        if self.bytes_per_sec == 0 {
            return;
        }
        let start = {
            let mut next = self.next.lock().await;
            let start = (*next).max(tokio::time::Instant::now());
            *next = start + Duration::from_secs_f64(bytes as f64 / self.bytes_per_sec as f64);
            start
        };
        tokio::time::sleep_until(start).await;
    }
}

/// Everything the upload loop needs; shared by the service worker and `venuebox sync
/// push`.
pub struct Syncer {
    store: Store,
    config: SyncConfig,
    data_dir: PathBuf,
    event_name: String,
    target: Target,
    pacer: Pacer,
    handle: SyncHandle,
}

/// Why one object failed.
struct ObjectError {
    message: String,
    /// The target holds other bytes under this key: never overwrite, stop retrying.
    conflict: bool,
}

impl From<object_store::Error> for ObjectError {
    fn from(e: object_store::Error) -> Self {
        ObjectError {
            message: e.to_string(),
            conflict: false,
        }
    }
}

impl Syncer {
    /// Opens the configured target.
    pub fn new(
        store: Store,
        config: &crate::config::Config,
        event_name: String,
        handle: SyncHandle,
    ) -> anyhow::Result<Syncer> {
        let target = Target::from_config(&config.sync, &config.storage.data_dir)?;
        handle.update(|s| {
            s.target = target.describe.clone();
            s.uplink = "unknown";
        });
        Ok(Syncer {
            store,
            pacer: Pacer::new(config.sync.bandwidth_limit_bytes_per_sec),
            config: config.sync.clone(),
            data_dir: config.storage.data_dir.clone(),
            event_name,
            target,
            handle,
        })
    }

    /// Photos waiting for a bundle that may leave now: `(id, sha256, media type)`.
    /// Those consent or the creator's switch hold back are left out
    /// ([`outbox::may_leave`]): preparing them would read, scrub and fsync each of
    /// them again at every cut, and counting them would make every pass a cut.
    async fn unpublished(&self) -> Result<Vec<(i64, String, String)>, SyncError> {
        self.store
            .read(|c| {
                let all = reads::unpublished(c)?;
                outbox::may_leave(c, all).map_err(SyncError::from)
            })
            .await
    }

    /// Cuts bundles of whatever may leave now. EXIF is read, and the files sent with
    /// their private metadata removed are prepared ([`sent::prepare`]; unless
    /// `sync.send_originals`), before the transaction, so the write lock is held only
    /// for the database work.
    pub async fn cut(&self) -> Result<outbox::Cut, SyncError> {
        let candidates = self.unpublished().await?;
        let data_dir = self.data_dir.clone();
        let originals = self.config.send_originals;
        let (exif, prepared, no_space) = db::run_blocking(move || {
            let mut exif: HashMap<String, outbox::Exif> = HashMap::new();
            let mut prepared: HashMap<String, outbox::Sent> = HashMap::new();
            let mut no_space = 0u64;
            for (_, sha, media_type) in candidates {
                let path = crate::files::layout::photo(&data_dir, &sha);
                exif.insert(sha.clone(), outbox::read_exif(&path));
                if originals {
                    continue;
                }
                match sent::prepare(&data_dir, &sha, &media_type) {
                    Ok(sent) => {
                        prepared.insert(sha, sent);
                    }
                    // Camera raw and the like: kept on the box unless the organiser
                    // chose to send originals.
                    Err(sent::PrepareError::Privacy(e)) => {
                        tracing::debug!(photo = %sha, reason = %e, "not sent: its metadata cannot be removed")
                    }
                    Err(sent::PrepareError::Io(e)) if crate::files::is_disk_full(&e) => {
                        no_space += 1;
                        tracing::warn!(photo = %sha, error = %e, "not sent this time: the disk is full")
                    }
                    Err(e) => tracing::warn!(photo = %sha, error = %e, "not sent this time"),
                }
            }
            (exif, prepared, no_space)
        })
        .await?;
        self.handle.update(|s| s.waiting_for_space = no_space);
        let (data_dir, event) = (self.data_dir.clone(), self.event_name.clone());
        let cut = self
            .store
            .write(move |tx| {
                let sending = if originals {
                    outbox::Sending::Originals
                } else {
                    outbox::Sending::Scrubbed(&prepared)
                };
                outbox::cut(
                    tx,
                    &data_dir,
                    &event,
                    &exif,
                    &|sha| crate::files::layout::photo(&data_dir, sha),
                    sending,
                )
            })
            .await?;
        if !cut.bundles.is_empty() {
            tracing::info!(bundles = ?cut.bundles, assets = cut.assets, records = cut.records, "cut sync bundles");
        }
        // Files prepared for photos the cut left out are not needed until a later cut
        // prepares them again.
        self.sweep_sent().await?;
        Ok(cut)
    }

    /// Removes the prepared files no queued asset needs ([`sent::sweep`]).
    pub async fn sweep_sent(&self) -> Result<usize, SyncError> {
        let needed = self
            .store
            .read(|c| outbox::assets_waiting(c).map_err(SyncError::from))
            .await?;
        let data_dir = self.data_dir.clone();
        // Best effort: a file left here is only disk space, never sent by mistake.
        match db::run_blocking(move || sent::sweep(&data_dir, &needed)).await? {
            Ok(removed) => {
                if removed > 0 {
                    tracing::debug!(
                        files = removed,
                        "removed prepared sync files no queued asset needs"
                    );
                }
                Ok(removed)
            }
            Err(e) => {
                tracing::warn!(error = %e, "sweeping prepared sync files failed");
                Ok(0)
            }
        }
    }

    /// Is the target answering? (A missing object is an answer.)
    async fn probe(&self) -> Result<(), String> {
        match self.target.store().head(&self.target.path("probe")).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Uploads one batch; returns how many objects were attempted and whether all went.
    async fn upload_batch(&self) -> Result<(usize, bool), SyncError> {
        use futures_util::StreamExt;
        // Several rounds of work per query; `concurrency` objects in flight at any time
        // (no barrier per round), results recorded a few at a time (one fsync each).
        let limit = self.config.concurrency * 8;
        let batch = self
            .store
            .read(move |c| outbox::next_batch(c, limit).map_err(SyncError::from))
            .await?;
        let n = batch.len();
        let mut results = futures_util::stream::iter(batch)
            .map(|p| async move {
                let result = self.upload(&p).await;
                (p, result)
            })
            .buffer_unordered(self.config.concurrency);
        let mut all_ok = true;
        let mut done: Vec<(String, &'static str)> = Vec::new();
        while let Some((pending, result)) = results.next().await {
            match result {
                Ok(outcome) => {
                    self.handle.update(|s| {
                        if outcome == "present" {
                            s.objects_skipped += 1;
                        } else {
                            s.objects_uploaded += 1;
                            s.bytes_sent += pending.size;
                        }
                        s.last_upload_at = Some(now());
                    });
                    done.push((pending.key, outcome));
                    if done.len() >= 8 {
                        self.record_done(std::mem::take(&mut done)).await?;
                    }
                }
                Err(e) => {
                    all_ok = false;
                    let key = pending.key;
                    tracing::warn!(object = %key, error = %e.message, "sync upload failed");
                    self.handle
                        .update(|s| s.last_error = Some(format!("{key}: {}", e.message)));
                    self.store
                        .write(move |tx| {
                            outbox::mark_failed(tx, &key, &e.message, e.conflict)
                                .map_err(SyncError::from)
                        })
                        .await?;
                }
            }
        }
        self.record_done(done).await?;
        Ok((n, all_ok))
    }

    /// Records objects as in the target, in one transaction. (A crash before this
    /// leaves them queued; the next attempt finds them by HEAD and skips them.)
    async fn record_done(&self, done: Vec<(String, &'static str)>) -> Result<(), SyncError> {
        if done.is_empty() {
            return Ok(());
        }
        let assets: Vec<String> = done
            .iter()
            .filter_map(|(key, _)| key.strip_prefix("assets/sha256/").map(str::to_string))
            .collect();
        self.store
            .write(move |tx| {
                for (key, outcome) in &done {
                    outbox::mark_done(tx, key, outcome)?;
                }
                Ok::<_, SyncError>(())
            })
            .await?;
        // In the bucket and recorded: the prepared files are no longer needed.
        let data_dir = self.data_dir.clone();
        db::run_blocking(move || {
            for sha in assets {
                sent::done(&data_dir, &sha);
            }
        })
        .await?;
        Ok(())
    }

    /// HEAD, then PUT unless already there. Returns `uploaded` or `present`.
    async fn upload(&self, p: &Pending) -> Result<&'static str, ObjectError> {
        let path = self.target.path(&p.key);
        let store = self.target.store();
        match store.head(&path).await {
            Ok(meta) => {
                let same = match &p.body {
                    // Content-addressed: the key is the hash; the size guards truncation.
                    None => meta.size == p.size,
                    Some(body) => {
                        store.get(&path).await?.bytes().await?.as_ref() == body.as_slice()
                    }
                };
                return if same {
                    Ok("present")
                } else {
                    Err(ObjectError {
                        message: "the target holds different bytes under this key".into(),
                        conflict: true,
                    })
                };
            }
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        if let Some(body) = &p.body {
            self.pacer.take(body.len() as u64).await;
            store.put(&path, body.clone().into()).await?;
            return Ok("uploaded");
        }
        let sha = p.sha256.clone().unwrap_or_default();
        let file = sent::file(&self.data_dir, &sha);
        if let Some(dest) = self.target.local_file(&p.key) {
            return link_local(file, dest, sha).await;
        }
        if let (Some(_), true) = (
            self.target.multipart(),
            p.size >= self.config.multipart_threshold_bytes,
        ) {
            return self.upload_multipart(p, &file).await;
        }
        let bytes = tokio::fs::read(&file).await.map_err(|e| ObjectError {
            message: format!("reading {}: {e}", file.display()),
            conflict: false,
        })?;
        let bytes = db::run_blocking(move || {
            let ok = hex::encode(Sha256::digest(&bytes)) == sha;
            (bytes, ok)
        })
        .await
        .map_err(|e| ObjectError {
            message: e.to_string(),
            conflict: false,
        })?;
        if !bytes.1 {
            return Err(damaged(&file));
        }
        self.pacer.take(p.size).await;
        store.put(&path, bytes.0.into()).await?;
        Ok("uploaded")
    }

    /// A large asset in parts; the upload id and each finished part are recorded, so
    /// after a crash or uplink drop only the missing parts are sent.
    async fn upload_multipart(
        &self,
        p: &Pending,
        file: &Path,
    ) -> Result<&'static str, ObjectError> {
        let mp = self.target.multipart().expect("checked by the caller");
        let path = self.target.path(&p.key);
        let io = |e: std::io::Error| ObjectError {
            message: format!("reading {}: {e}", file.display()),
            conflict: false,
        };
        // The file must still be what was published before any of it is sent.
        let sha = p.sha256.clone().unwrap_or_default();
        let check = file.to_path_buf();
        let intact = db::run_blocking(move || -> std::io::Result<bool> {
            let mut hasher = Sha256::new();
            std::io::copy(&mut std::fs::File::open(&check)?, &mut hasher)?;
            Ok(hex::encode(hasher.finalize()) == sha)
        })
        .await
        .map_err(|e| ObjectError {
            message: e.to_string(),
            conflict: false,
        })?
        .map_err(io)?;
        if !intact {
            return Err(damaged(file));
        }
        let key = p.key.clone();
        let id = match &p.multipart_id {
            Some(id) => id.clone(),
            None => {
                let id = mp.create_multipart(&path).await?;
                self.save_multipart(&key, Some(id.clone()), vec![]).await?;
                id
            }
        };
        let part_size = self.config.part_size_bytes;
        let count = p.size.div_ceil(part_size) as usize;
        let mut parts = p.parts.clone();
        let mut handle = tokio::fs::File::open(file).await.map_err(io)?;
        while parts.len() < count {
            let i = parts.len();
            let offset = i as u64 * part_size;
            let len = part_size.min(p.size - offset) as usize;
            let mut chunk = vec![0u8; len];
            handle
                .seek(std::io::SeekFrom::Start(offset))
                .await
                .map_err(io)?;
            handle.read_exact(&mut chunk).await.map_err(io)?;
            self.pacer.take(len as u64).await;
            match mp.put_part(&path, &id, i, chunk.into()).await {
                Ok(part) => parts.push(part.content_id),
                Err(e @ object_store::Error::NotFound { .. }) => {
                    // The target forgot the upload (expired or aborted): start afresh.
                    self.save_multipart(&key, None, vec![]).await?;
                    return Err(e.into());
                }
                Err(e) => return Err(e.into()),
            }
            self.save_multipart(&key, Some(id.clone()), parts.clone())
                .await?;
        }
        let ids = parts
            .into_iter()
            .map(|content_id| PartId { content_id })
            .collect();
        match mp.complete_multipart(&path, &id, ids).await {
            Ok(_) => Ok("uploaded"),
            Err(e) => {
                if matches!(e, object_store::Error::NotFound { .. }) {
                    self.save_multipart(&key, None, vec![]).await?;
                }
                Err(e.into())
            }
        }
    }

    async fn save_multipart(
        &self,
        key: &str,
        id: Option<String>,
        parts: Vec<String>,
    ) -> Result<(), ObjectError> {
        let key = key.to_string();
        self.store
            .write(move |tx| {
                outbox::save_multipart(tx, &key, id.as_deref(), &parts).map_err(StoreError::from)
            })
            .await
            .map_err(|e| ObjectError {
                message: e.to_string(),
                conflict: false,
            })
    }

    /// Uploads until the queue is empty or a failure; returns the objects attempted.
    async fn upload_all(&self) -> Result<(usize, bool), SyncError> {
        let mut total = 0;
        loop {
            let (n, ok) = self.upload_batch().await?;
            total += n;
            if n == 0 || !ok {
                if ok {
                    self.handle.update(|s| {
                        s.uplink = "up";
                        s.last_error = None;
                    });
                }
                return Ok((total, ok));
            }
            self.handle.update(|s| s.uplink = "up");
        }
    }

    /// Cuts and uploads everything pending, once (`venuebox sync push`); fails on the
    /// first batch that does not fully go.
    pub async fn push(&self) -> anyhow::Result<Status> {
        self.cut().await?;
        let (_, ok) = self.upload_all().await?;
        let status = self.handle.status();
        anyhow::ensure!(
            ok,
            "sync stopped: {}",
            status.last_error.clone().unwrap_or_default()
        );
        Ok(status)
    }

    /// Waits out a failure: probes the target with exponential backoff and full jitter
    /// until it answers (or shutdown).
    async fn wait_for_uplink(&self, backoff: &mut Duration, shutdown: &CancellationToken) {
        use rand::Rng;
        let max = Duration::from_millis(self.config.probe_max_backoff_ms);
        let min = Duration::from_millis(self.config.probe_min_backoff_ms);
        loop {
            let jittered = backoff.mul_f64(rand::thread_rng().gen_range(0.5..=1.0));
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(jittered) => {}
            }
            *backoff = (*backoff * 2).min(max);
            match self.probe().await {
                Ok(()) => {
                    self.handle.update(|s| s.uplink = "up");
                    return;
                }
                Err(e) => {
                    self.handle.update(|s| {
                        s.uplink = "down";
                        s.last_error = Some(e);
                    });
                }
            }
            if *backoff < min {
                *backoff = min;
            }
        }
    }
}

/// A local target keeps assets as hard links to the stored photos (same content,
/// immutable, no second copy on the SD card), or as a copy on another filesystem.
async fn link_local(
    file: PathBuf,
    dest: PathBuf,
    sha: String,
) -> Result<&'static str, ObjectError> {
    let check = file.clone();
    let result = db::run_blocking(move || -> Result<(), ObjectError> {
        let io = |e: std::io::Error| ObjectError {
            message: format!("{}: {e}", dest.display()),
            conflict: false,
        };
        let mut hasher = Sha256::new();
        std::io::copy(&mut std::fs::File::open(&check).map_err(io)?, &mut hasher).map_err(io)?;
        if hex::encode(hasher.finalize()) != sha {
            return Err(damaged(&check));
        }
        let dir = dest.parent().expect("object paths have a parent");
        crate::files::create_dir(dir, 0o755).map_err(io)?;
        match std::fs::hard_link(&check, &dest) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(_) => {
                let bytes = std::fs::read(&check).map_err(io)?;
                crate::files::write_atomic(&dest, &bytes, 0o644).map_err(io)?;
            }
        }
        crate::files::sync_dir(dir).map_err(io)
    })
    .await;
    match result {
        Ok(Ok(())) => Ok("uploaded"),
        Ok(Err(e)) => Err(e),
        Err(e) => Err(ObjectError {
            message: e.to_string(),
            conflict: false,
        }),
    }
}

fn damaged(file: &Path) -> ObjectError {
    ObjectError {
        message: format!(
            "{} no longer matches its SHA-256; not uploaded",
            file.display()
        ),
        conflict: false,
    }
}

/// The sync worker: cuts bundles every `cut_every_photos` photos or `cut_every_secs`,
/// uploads the queue, and rides out uplink drops. Returns on shutdown (an upload in
/// flight is dropped; its object stays queued and is resumed at the next start).
pub async fn run(
    store: Store,
    app_config: Arc<crate::config::Config>,
    ingest: crate::ingest::Ingest,
    handle: SyncHandle,
    shutdown: CancellationToken,
) {
    let config = &app_config.sync;
    if !config.enabled {
        return;
    }
    let syncer = match Syncer::new(
        store,
        &app_config,
        app_config.event.name.clone(),
        handle.clone(),
    ) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "sync target unusable; sync is off");
            handle.update(|s| s.last_error = Some(format!("{e:#}")));
            return;
        }
    };
    let mut photos = ingest.subscribe();
    // What a power cut left in sync-sent/ (`.part` files, files of assets recorded
    // as uploaded) goes before anything else.
    if let Err(e) = syncer.sweep_sent().await {
        tracing::warn!(error = %e, "sweeping prepared sync files failed");
    }
    let cut_every = Duration::from_secs(config.cut_every_secs);
    let min_backoff = Duration::from_millis(config.probe_min_backoff_ms);
    let mut backoff = min_backoff;
    // The first pass cuts whatever waited while the box was off.
    let mut last_cut: Option<Instant> = None;
    while !shutdown.is_cancelled() {
        let waiting = syncer
            .unpublished()
            .await
            .map(|v| v.len() as u64)
            .unwrap_or(0);
        let asked = handle
            .cut_now
            .swap(false, std::sync::atomic::Ordering::SeqCst);
        let due = asked || last_cut.map_or(true, |t| t.elapsed() >= cut_every);
        if due || waiting >= config.cut_every_photos {
            if let Err(e) = syncer.cut().await {
                tracing::error!(error = %e, "cutting a sync bundle failed");
            }
            last_cut = Some(Instant::now());
        }
        let work = tokio::select! {
            _ = shutdown.cancelled() => break,
            r = syncer.upload_all() => r,
        };
        match work {
            Ok((_, true)) => {
                backoff = min_backoff;
                // Idle: wait for a photo, a wake-up, or the next time-based cut check.
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = photos.recv() => {}
                    _ = handle.wake.notified() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
            Ok((_, false)) => syncer.wait_for_uplink(&mut backoff, &shutdown).await,
            Err(e) => {
                tracing::error!(error = %e, "sync outbox failed");
                syncer.wait_for_uplink(&mut backoff, &shutdown).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_bandwidth_cap_paces_uploads() {
        let pacer = Pacer::new(1_000_000);
        let start = std::time::Instant::now();
        for _ in 0..4 {
            pacer.take(100_000).await;
        }
        // 4 × 100 kB at 1 MB/s: the last may start after 0.3 s.
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_millis(290), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
        // No cap: no waiting.
        let free = Pacer::new(0);
        let start = std::time::Instant::now();
        free.take(u64::MAX).await;
        assert!(start.elapsed() < Duration::from_millis(50));
    }
}
