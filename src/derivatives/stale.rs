//! Watermarked previews made stale by a change of their creator's logo (issue 17,
//! item 6): the watermark draws the logo, so when a creator sets, replaces or removes
//! it, every watermarked preview of their photos already rendered shows the old one.
//!
//! They are deleted (both formats) and dropped from the in-memory cache; the next
//! request finds its file missing and renders the photo again (`ensure` renders
//! whenever a derivative of a `done` photo is missing), with the logo in force then.
//! Nothing is rendered ahead: a creator may have thousands of photos and only a few
//! are looked at, and the box's CPU is the renders' budget. Renders already running
//! when the logo changed may have read the old one (and requests join them): they are
//! waited for first, and only files written before they ended (or before the change,
//! for the other photos) are deleted, so a render that read the new logo keeps its
//! files.
//!
//! The deletions are flushed (their directories fsynced) before the change is
//! answered. The files are derivatives (made again on demand): a power cut between the
//! logo's commit and their deletion (milliseconds, or a running render's end) leaves
//! those previews with the old logo until the next change; no data is lost.
//!
//! Reads `photos` through `ingest::photos_of`; writes no table.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::{lock, Derivative, Previews, FORMATS, STAGE_ALL};
use crate::db::StoreError;

/// Longest wait for a render that was running when the logo changed.
pub const RUNNING_WAIT: Duration = Duration::from_secs(60);

/// Deletes the watermarked derivatives (every format) of the photos whose SHA-256 (hex)
/// are `shas` from the data dir `data_dir`, only those last written at or before
/// `written_by` when given; a missing file is fine. The directories they were in are
/// flushed, so a power cut after this returns does not bring them back. Returns how
/// many files were deleted. Blocking file I/O: for the CLI, or off the async runtime.
pub fn remove_watermarked_files(
    data_dir: &Path,
    shas: &[String],
    written_by: Option<SystemTime>,
) -> std::io::Result<usize> {
    let mut removed = 0;
    let mut touched = std::collections::BTreeSet::new();
    for sha in shas {
        for format in FORMATS {
            let path = crate::files::layout::derivative(
                data_dir,
                sha,
                Derivative::Watermarked.name(),
                format.ext(),
            );
            if let Some(cutoff) = written_by {
                match std::fs::metadata(&path).and_then(|m| m.modified()) {
                    Ok(written) if written > cutoff => continue,
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                }
            }
            match std::fs::remove_file(&path) {
                Ok(()) => {
                    removed += 1;
                    if let Some(dir) = path.parent() {
                        touched.insert(dir.to_path_buf());
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    for dir in touched {
        crate::files::sync_dir(&dir)?;
    }
    Ok(removed)
}

/// The SHA-256 (hex) of every photo of creator `creator_id`.
///
/// # Errors
/// The database could not be read.
pub fn photo_shas_of(
    conn: &rusqlite::Connection,
    creator_id: i64,
) -> rusqlite::Result<Vec<(i64, String)>> {
    Ok(crate::ingest::photos_of(conn, creator_id)?
        .into_iter()
        .map(|p| (p.id, p.sha256))
        .collect())
}

impl Previews {
    /// Creator `creator_id`'s logo changed (call after its commit): forgets the
    /// watermarked previews of their photos on disk and in memory, so that every
    /// request answered after this returns is rendered with the logo now in force.
    ///
    /// A render of one of their photos still running may have read the old logo, and
    /// a request arriving meanwhile joins it: each is waited for (at most
    /// [`RUNNING_WAIT`]), then its files are deleted. Files written after that, or
    /// after this call began for photos without a running render, come from renders
    /// that read the new logo and are kept (by their modification time), so a request
    /// that joined such a render finds its file. Returns how many files were deleted.
    ///
    /// # Errors
    /// The database could not be read, or a file could not be deleted.
    pub async fn forget_watermarked(&self, creator_id: i64) -> Result<usize, StoreError> {
        let photos = self
            .inner
            .store
            .read_sql(move |c| photo_shas_of(c, creator_id))
            .await?;
        // Renders are registered before their watermark is read: every render that
        // may have read the old logo is in the map now, or finished.
        let began = SystemTime::now();
        let running: Vec<(i64, tokio::sync::watch::Receiver<u8>)> = {
            let inflight = lock(&self.inner.inflight);
            photos
                .iter()
                .filter_map(|(id, _)| inflight.get(id).map(|rx| (*id, rx.clone())))
                .collect()
        };
        let finished: HashMap<i64, SystemTime> =
            futures_util::future::join_all(running.into_iter().map(|(id, mut rx)| async move {
                let _ = tokio::time::timeout(RUNNING_WAIT, rx.wait_for(|s| *s >= STAGE_ALL)).await;
                (id, SystemTime::now())
            }))
            .await
            .into_iter()
            .collect();
        let data_dir = self.inner.data_dir.clone();
        let cutoffs: Vec<(String, SystemTime)> = photos
            .iter()
            .map(|(id, sha)| (sha.clone(), finished.get(id).copied().unwrap_or(began)))
            .collect();
        let removed = tokio::task::spawn_blocking(move || {
            cutoffs.iter().try_fold(0, |n, (sha, cutoff)| {
                remove_watermarked_files(&data_dir, std::slice::from_ref(sha), Some(*cutoff))
                    .map(|m| n + m)
            })
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
        .map_err(|source| StoreError::Io {
            path: crate::files::layout::derivatives(&self.inner.data_dir),
            source,
        })?;
        // Last: a finished render's pre-warm may have put its old bytes in the cache.
        let mut cache = lock(&self.inner.cache);
        let (cache, used) = &mut *cache;
        for (id, _) in &photos {
            for format in FORMATS {
                if let Some(old) = cache.pop(&(*id, Derivative::Watermarked, format)) {
                    *used -= old.len();
                }
            }
        }
        Ok(removed)
    }
}
