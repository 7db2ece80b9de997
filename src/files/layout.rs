//! The data dir's layout: every path under `storage.data_dir` is built here and
//! nowhere else, so the table in docs/architecture.md ("Data dir") has one source.
//! Pure path arithmetic; nothing here touches the file system.

use std::path::{Path, PathBuf};

/// Name of the SQLite database file (WAL mode adds `-wal` and `-shm` beside it).
pub const DATABASE: &str = "venuebox.db";
/// File the admin setup code is left in when no one watches the console (systemd).
pub const SETUP_CODE: &str = "admin-setup-code";

/// `venuebox.db`: the database.
pub fn database(data_dir: &Path) -> PathBuf {
    data_dir.join(DATABASE)
}

/// `admin-setup-code`: the setup code left for a box started by systemd (0600).
pub fn setup_code(data_dir: &Path) -> PathBuf {
    data_dir.join(SETUP_CODE)
}

/// `keys/`: the signing key, key chain and TLS key and certificate.
pub fn keys(data_dir: &Path) -> PathBuf {
    data_dir.join("keys")
}

/// `photos/sha256/`: every stored photo, sharded by the first two hex digits.
pub fn photos(data_dir: &Path) -> PathBuf {
    data_dir.join("photos/sha256")
}

/// `photos/sha256/<ab>/<hex>`: the stored photo whose SHA-256 is `sha256` (lowercase
/// hex; a shorter string is sharded by what it has).
pub fn photo(data_dir: &Path, sha256: &str) -> PathBuf {
    photos(data_dir)
        .join(&sha256[..2.min(sha256.len())])
        .join(sha256)
}

/// `incoming/`: temporary files of uploads in progress (one folder per process).
pub fn incoming(data_dir: &Path) -> PathBuf {
    data_dir.join("incoming")
}

/// `uploads/`: bytes of unfinished tus uploads.
pub fn uploads(data_dir: &Path) -> PathBuf {
    data_dir.join("uploads")
}

/// `uploads/<id>`: the bytes of tus upload `id` (an id the caller has checked).
pub fn upload_part(data_dir: &Path, id: &str) -> PathBuf {
    uploads(data_dir).join(id)
}

/// `derivatives/`: rendered thumbs and previews, sharded like the photos.
pub fn derivatives(data_dir: &Path) -> PathBuf {
    data_dir.join("derivatives")
}

/// `derivatives/<ab>/<hex>-<name>.<ext>`: one rendered derivative of a photo.
pub fn derivative(data_dir: &Path, sha256: &str, name: &str, ext: &str) -> PathBuf {
    derivatives(data_dir)
        .join(&sha256[..2.min(sha256.len())])
        .join(format!("{sha256}-{name}.{ext}"))
}

/// `ftp/`: each camera's own tree, one folder per creator id.
pub fn ftp(data_dir: &Path) -> PathBuf {
    data_dir.join("ftp")
}

/// `sync-target/`: the default (local) sync target, laid out like the bucket.
pub fn sync_target(data_dir: &Path) -> PathBuf {
    data_dir.join("sync-target")
}

/// `sync-sent/<hex>`: the file sync sends for an asset when it is not the stored
/// original (the original with its private metadata removed), named by its own
/// SHA-256; removed once the asset is in the bucket.
pub fn sync_sent(data_dir: &Path, sha256: &str) -> PathBuf {
    data_dir.join("sync-sent").join(sha256)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn photos_and_derivatives_are_sharded_by_their_hash() {
        let d = Path::new("/data");
        assert_eq!(
            photo(d, "abcdef"),
            Path::new("/data/photos/sha256/ab/abcdef")
        );
        assert_eq!(
            derivative(d, "abcdef", "thumb", "jpg"),
            Path::new("/data/derivatives/ab/abcdef-thumb.jpg")
        );
        assert_eq!(photo(d, "a"), Path::new("/data/photos/sha256/a/a"));
        assert_eq!(upload_part(d, "0f"), Path::new("/data/uploads/0f"));
    }
}
