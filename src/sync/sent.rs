//! What sync sends for a photo when it is not the stored original: the original with
//! its private metadata removed, exactly as the full download serves it (image bytes
//! identical; [`crate::media::privacy`]), prepared before a cut as a file of its own,
//! `sync-sent/<its SHA-256>`, and removed once the asset is in the bucket (hardening
//! item 2). `sync.send_originals = true` sends the originals instead.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::outbox::Sent;
use crate::files::{self, layout};
use crate::media::privacy::{self, Piece, PrivacyError};

/// Why a photo's sent file could not be prepared; the photo waits for a later cut.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// Its format's metadata cannot be removed safely (camera raw, or not walkable):
    /// it is not sent unless `sync.send_originals` is on.
    #[error(transparent)]
    Privacy(#[from] PrivacyError),
    /// The stored original no longer matches its SHA-256.
    #[error("{0} no longer matches its SHA-256; not sent")]
    Damaged(PathBuf),
    /// Reading the original or writing the file failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Prepares the file sent for the photo stored as `original_sha256` (`media_type`,
/// e.g. `image/jpeg`): reads the original, checks its hash, removes its private
/// metadata, and writes the result durably (fsynced, then renamed) to
/// [`layout::sync_sent`]. Returns its SHA-256 and size. Blocking; the whole original
/// is read into memory, as for the full download's plan.
pub fn prepare(
    data_dir: &Path,
    original_sha256: &str,
    media_type: &str,
) -> Result<Sent, PrepareError> {
    privacy::offered(media_type)?;
    let original = layout::photo(data_dir, original_sha256);
    let data = std::fs::read(&original)?;
    if hex::encode(Sha256::digest(&data)) != original_sha256 {
        return Err(PrepareError::Damaged(original));
    }
    let plan = privacy::full_plan(&data, media_type)?;
    let dir = layout::sync_sent(data_dir, "x")
        .parent()
        .expect("sync-sent/<hex>")
        .to_path_buf();
    files::create_dir(&dir, 0o700)?;
    let temp = dir.join(format!(".{}.part", crate::identity::random_token("")));
    let written = (|| -> std::io::Result<Sent> {
        let mut file = std::fs::File::create(&temp)?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        for piece in &plan.pieces {
            let bytes = match piece {
                Piece::Bytes(bytes) => bytes.as_slice(),
                Piece::Original(range) => &data[range.start as usize..range.end as usize],
            };
            hasher.update(bytes);
            file.write_all(bytes)?;
            size += bytes.len() as u64;
        }
        file.sync_all()?;
        let sha256 = hex::encode(hasher.finalize());
        std::fs::rename(&temp, layout::sync_sent(data_dir, &sha256))?;
        files::sync_dir(&dir)?;
        Ok(Sent { sha256, size })
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    Ok(written?)
}

/// The file the uploader sends for the asset `sha256`: its prepared file when there
/// is one, else the stored photo (an original sent as it is).
pub fn file(data_dir: &Path, sha256: &str) -> PathBuf {
    let sent = layout::sync_sent(data_dir, sha256);
    if sent.exists() {
        sent
    } else {
        layout::photo(data_dir, sha256)
    }
}

/// Removes the prepared file of the asset `sha256`, once it is in the bucket (none
/// is fine: originals have none).
pub fn done(data_dir: &Path, sha256: &str) {
    let _ = std::fs::remove_file(layout::sync_sent(data_dir, sha256));
}

/// Removes from `sync-sent/` every file no queued asset needs: the prepared files of
/// photos a cut left out (consent withdrawn, creator opted out: every cut prepares
/// every candidate before deciding), of assets recorded as uploaded when a power cut
/// came before their removal, and the `.part` files a cut was writing. `needed` holds
/// the SHA-256s of the assets still waiting ([`super::outbox::assets_waiting`]).
/// Returns how many files went. A `sync push` cutting beside the service at that
/// moment may lose a file it has just prepared; its upload then fails as damaged and
/// is retried.
pub fn sweep(
    data_dir: &Path,
    needed: &std::collections::HashSet<String>,
) -> std::io::Result<usize> {
    let dir = layout::sync_sent(data_dir, "x")
        .parent()
        .expect("sync-sent/<hex>")
        .to_path_buf();
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type()?.is_file() && !needed.contains(&name) {
            std::fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}
