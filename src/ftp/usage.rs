//! What each camera's tree holds on disk beyond its stored photos, for the creator's
//! quota and for expiry.
//!
//! A photo in a tree is a hard link to the content store (link count 2 or more),
//! counted by ingest with the creator's photos. Everything else a creator can leave in
//! their tree is counted here: files that are not photos (a temporary name a camera
//! writes before RNFR/RNTO, an upload cut off mid-way and kept for REST, a file whose
//! photo was stored before under another name and could not be linked), each at its
//! length, and folders, at their size on disk. Such files expire
//! `ftp.expire_after_secs` after their last write; folders stay (cameras keep their
//! `DCIM/100CANON` layout between uploads).
//!
//! The ledger is the set of those paths per creator: filled by one walk of the trees
//! at start, kept by every operation that changes a tree (each notes the path it
//! changed, after changing it), and read by `lstat`ing its entries, so a size or a
//! removal is never stale. Only the running service writes the trees, and each path is
//! noted after its last change, so the set cannot miss a file.

use std::collections::{BTreeSet, HashMap};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use super::storage::PARTIAL_PREFIX;

/// The paths in each creator's tree that hold bytes their photos do not account for.
#[derive(Debug, Default)]
pub(super) struct TreeUsage {
    /// By creator id: files that are not photos, and folders (never the tree's root).
    entries: Mutex<HashMap<i64, BTreeSet<PathBuf>>>,
}

/// What a path in a tree holds on disk that the photos do not count.
enum Held {
    /// A regular file with no other link (not a stored photo): its length and last
    /// write.
    File(u64, SystemTime),
    /// A folder: its size on disk.
    Folder(u64),
}

/// What `path` holds beyond the photos, by its `lstat`; `None` for a stored photo, a
/// symbolic link or nothing at all.
fn held(path: &Path) -> Option<Held> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    if meta.is_dir() {
        Some(Held::Folder(meta.len()))
    } else if meta.is_file() && meta.nlink() == 1 {
        Some(Held::File(
            meta.len(),
            meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        ))
    } else {
        None
    }
}

fn expired(written: SystemTime, max_age: Duration) -> bool {
    SystemTime::now()
        .duration_since(written)
        .is_ok_and(|age| age >= max_age)
}

/// What [`TreeUsage::open`] removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Swept {
    /// Temporary files of uploads a crash cut off (`.vbx-*`).
    pub(super) partial: usize,
    /// Files that were not photos, older than `ftp.expire_after_secs`.
    pub(super) expired: usize,
}

impl TreeUsage {
    /// Walks `root` (`ftp/`, one folder per creator id) at start: removes the
    /// temporary files of STORs a crash cut off and the files that are not photos
    /// older than `max_age`, and records the rest.
    pub(super) fn open(root: &Path, max_age: Duration) -> std::io::Result<(TreeUsage, Swept)> {
        let usage = TreeUsage::default();
        let mut swept = Swept::default();
        let mut entries = usage.lock();
        for entry in walkdir::WalkDir::new(root).min_depth(2).follow_links(false) {
            let entry = entry.map_err(std::io::Error::other)?;
            let path = entry.path();
            let Some(creator) = path
                .strip_prefix(root)
                .ok()
                .and_then(|p| p.components().next())
                .and_then(|c| c.as_os_str().to_str())
                .and_then(|id| id.parse::<i64>().ok())
            else {
                continue;
            };
            if entry.file_type().is_file()
                && entry
                    .file_name()
                    .to_string_lossy()
                    .starts_with(PARTIAL_PREFIX)
            {
                std::fs::remove_file(path)?;
                swept.partial += 1;
                continue;
            }
            match held(path) {
                Some(Held::File(_, written)) if expired(written, max_age) => {
                    std::fs::remove_file(path)?;
                    swept.expired += 1;
                }
                Some(_) => {
                    entries
                        .entry(creator)
                        .or_default()
                        .insert(path.to_path_buf());
                }
                None => {}
            }
        }
        drop(entries);
        Ok((usage, swept))
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<i64, BTreeSet<PathBuf>>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records what `path` holds now, after an operation changed it: kept if it is a
    /// file that is not a photo or a folder, dropped otherwise (a photo, removed).
    pub(super) fn note(&self, creator: i64, path: &Path) {
        let mut entries = self.lock();
        let set = entries.entry(creator).or_default();
        if held(path).is_some() {
            set.insert(path.to_path_buf());
        } else {
            set.remove(path);
        }
    }

    /// Records a rename: `from` and everything under it (a folder's files) are now
    /// under `to`.
    pub(super) fn moved(&self, creator: i64, from: &Path, to: &Path) {
        {
            let mut entries = self.lock();
            let set = entries.entry(creator).or_default();
            // Paths order by component, so `from`'s subtree follows it directly.
            let under: Vec<PathBuf> = set
                .range(from.to_path_buf()..)
                .take_while(|p| p.starts_with(from))
                .cloned()
                .collect();
            for path in under {
                set.remove(&path);
                let rest = path.strip_prefix(from).unwrap_or(Path::new(""));
                set.insert(to.join(rest));
            }
        }
        self.note(creator, to);
    }

    /// Bytes the creator's tree holds beyond their photos, `except` the file at that
    /// path (an upload about to replace it). Entries gone meanwhile are dropped.
    pub(super) fn bytes(&self, creator: i64, except: &Path) -> u64 {
        let mut entries = self.lock();
        let Some(set) = entries.get_mut(&creator) else {
            return 0;
        };
        let mut total = 0u64;
        set.retain(|path| match held(path) {
            Some(Held::File(len, _)) => {
                if path != except {
                    total = total.saturating_add(len);
                }
                true
            }
            Some(Held::Folder(len)) => {
                total = total.saturating_add(len);
                true
            }
            None => false,
        });
        total
    }

    /// Removes the files that are not photos whose last write is `max_age` old or
    /// more; returns how many went.
    pub(super) fn expire(&self, max_age: Duration) -> usize {
        let mut removed = 0;
        let mut entries = self.lock();
        for set in entries.values_mut() {
            set.retain(|path| match held(path) {
                Some(Held::File(_, written)) if expired(written, max_age) => {
                    match std::fs::remove_file(path) {
                        Ok(()) => {
                            removed += 1;
                            false
                        }
                        Err(e) => {
                            tracing::warn!(path = %path.display(), error = %e, "cannot remove an expired FTP file");
                            true
                        }
                    }
                }
                Some(_) => true,
                None => false,
            });
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_files_that_are_not_photos_and_folders_and_follows_renames() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let home = root.join("7");
        std::fs::create_dir_all(home.join("DCIM")).unwrap();
        std::fs::write(home.join("DCIM/a.JPG.tmp"), [0u8; 100]).unwrap();
        // A stored photo: a second link elsewhere (the content store).
        std::fs::write(home.join("DCIM/b.JPG"), [0u8; 1000]).unwrap();
        std::fs::hard_link(home.join("DCIM/b.JPG"), root.join("store")).unwrap();
        std::fs::write(home.join("DCIM/.vbx-crash"), [0u8; 10]).unwrap();
        let (usage, swept) = TreeUsage::open(root, Duration::from_secs(3600)).unwrap();
        assert_eq!(swept.partial, 1);
        assert_eq!(swept.expired, 0);
        assert!(!home.join("DCIM/.vbx-crash").exists());
        let folder = std::fs::metadata(home.join("DCIM")).unwrap().len();
        assert_eq!(usage.bytes(7, Path::new("")), 100 + folder);
        assert_eq!(usage.bytes(7, &home.join("DCIM/a.JPG.tmp")), folder);
        assert_eq!(usage.bytes(8, Path::new("")), 0);

        std::fs::rename(home.join("DCIM"), home.join("100CANON")).unwrap();
        usage.moved(7, &home.join("DCIM"), &home.join("100CANON"));
        assert_eq!(usage.bytes(7, Path::new("")), 100 + folder);
        std::fs::remove_file(home.join("100CANON/a.JPG.tmp")).unwrap();
        usage.note(7, &home.join("100CANON/a.JPG.tmp"));
        assert_eq!(usage.bytes(7, Path::new("")), folder);

        std::fs::write(home.join("100CANON/c.part"), [0u8; 5]).unwrap();
        usage.note(7, &home.join("100CANON/c.part"));
        assert_eq!(usage.expire(Duration::from_secs(3600)), 0);
        assert_eq!(usage.expire(Duration::ZERO), 1);
        assert!(!home.join("100CANON/c.part").exists());
        assert!(home.join("100CANON/b.JPG").exists(), "photos never expire");
        assert!(home.join("100CANON").is_dir(), "folders never expire");
    }
}
