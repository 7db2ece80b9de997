//! The storage back end libunftp serves: each creator's own tree under `ftp/<id>/`,
//! paths kept inside it, temporary names recognised, and every completed upload
//! committed through the ingest core (hashed as it streams, fsynced, hard-linked into
//! the store) with its instant preview fed on the way.
//!
//! Every byte a creator can leave in their tree is accounted for: a photo by ingest,
//! anything else (a file under a temporary name, a cut-off upload kept for REST, a
//! folder) by `ftp::usage`, against the same quota; a file that is not a photo must
//! still start like one (`ingest::sniff`), and it expires. A STOR writes a temporary
//! `.vbx-*` file beside its target and moves it into place only once it is accepted:
//! every refusal (name, quota, type, disk reserve, a cut connection with nothing worth
//! keeping, a cancelled transfer) removes it and leaves the target as it was.

use std::fmt;
use std::io::SeekFrom;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt};
use unftp_core::storage::{
    Error as StorageError, ErrorKind, Fileinfo, Metadata, StorageBackend, FEATURE_RESTART,
};

use super::logins::CameraUser;
use super::usage::TreeUsage;
use crate::files;
use crate::ingest::{
    keep_buffer, take_buffer, Hashing, Incoming, Ingest, IngestError, Outcome, Refusal, Source,
    SPACE_CHECK_BYTES,
};

/// Metadata of a file or folder in a camera's tree.
#[derive(Debug)]
pub struct Meta(std::fs::Metadata);

impl Metadata for Meta {
    fn len(&self) -> u64 {
        self.0.len()
    }
    fn is_dir(&self) -> bool {
        self.0.is_dir()
    }
    fn is_file(&self) -> bool {
        self.0.is_file()
    }
    fn is_symlink(&self) -> bool {
        self.0.file_type().is_symlink()
    }
    fn modified(&self) -> unftp_core::storage::Result<SystemTime> {
        self.0
            .modified()
            .map_err(|e| StorageError::new(ErrorKind::LocalError, e))
    }
    fn gid(&self) -> u32 {
        0
    }
    fn uid(&self) -> u32 {
        0
    }
}

/// Bytes read from an upload's data connection at a time, into a buffer kept between
/// uploads (`ingest::take_buffer`). 256 KiB instead of 64 KiB cut the time spent
/// streaming the photo corpus by about a quarter on tmpfs when each chunk still went
/// to tokio's blocking pool (benches/ingest.sh, phases timed per STOR); read and
/// written in line now, it still means fewer reads and writes per photo.
const STOR_BUFFER: usize = 256 * 1024;

/// Prefix of the files a STOR writes before renaming them into place; hidden from
/// listings, never taken for photos, and a name no client may use.
pub(super) const PARTIAL_PREFIX: &str = ".vbx-";

/// The storage back end: each creator's tree under `<data>/ftp/<id>/`.
#[derive(Debug, Clone)]
pub struct CameraTrees {
    /// `ftp/`: one folder per creator id below it.
    pub(super) root: PathBuf,
    /// Where completed uploads are committed.
    pub(super) ingest: Ingest,
    /// For instant previews of files still arriving.
    pub(super) previews: crate::derivatives::Previews,
    /// What the trees hold beyond the stored photos: counted against the quota,
    /// expired.
    pub(super) usage: Arc<TreeUsage>,
}

/// How much more a creator may write, from their quota (`ingest.creator_quota_bytes`).
#[derive(Debug, Clone, Copy)]
struct Room {
    /// Bytes left; `u64::MAX` without a quota.
    left: u64,
    /// Bytes already used: photos and what the tree holds besides.
    used: u64,
    /// The quota; 0 means none.
    quota: u64,
}

impl Room {
    /// Refuses `size` bytes that do not fit.
    fn check(&self, size: u64) -> Result<(), StorageError> {
        if size > self.left {
            return Err(ingest_error(IngestError::Quota {
                used: self.used,
                quota: self.quota,
            }));
        }
        Ok(())
    }
}

/// True for names cameras and clients use while a file is still being written
/// (`IMG_0001.JPG.tmp`, `.part`, `~`, hidden files): such a file is not a photo yet.
/// Cameras (some Canon and Nikon bodies, FTP clients such as WinSCP and FileZilla's
/// `.filepart`) upload under such a name and RNFR/RNTO to the real one when done; the
/// file becomes a photo at that rename. Until then it is kept in the tree, counted
/// against the creator's quota, and removed `ftp.expire_after_secs` after its last
/// write.
pub fn is_temporary_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.starts_with('.')
        || lower.ends_with('~')
        || [
            ".tmp",
            ".temp",
            ".part",
            ".partial",
            ".crdownload",
            ".filepart",
        ]
        .iter()
        .any(|ext| lower.ends_with(ext))
}

/// Resolves a client's path inside `home`. Relative and absolute paths are both taken
/// from the tree's root; `..`, NUL, control characters and over-long names are
/// refused, so nothing outside the tree can be named.
pub fn resolve(home: &Path, path: &Path) -> Result<PathBuf, ErrorKind> {
    let text = path.to_str().ok_or(ErrorKind::FileNameNotAllowedError)?;
    if text.len() > 1024 || text.chars().any(char::is_control) {
        return Err(ErrorKind::FileNameNotAllowedError);
    }
    let mut resolved = home.to_path_buf();
    for component in path.components() {
        match component {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(name) => {
                let name = name.to_str().ok_or(ErrorKind::FileNameNotAllowedError)?;
                if name.len() > 255 || name.starts_with(PARTIAL_PREFIX) {
                    return Err(ErrorKind::FileNameNotAllowedError);
                }
                resolved.push(name);
            }
            Component::ParentDir | Component::Prefix(_) => {
                return Err(ErrorKind::FileNameNotAllowedError)
            }
        }
    }
    Ok(resolved)
}

fn io_error(e: std::io::Error) -> StorageError {
    let kind = match e.kind() {
        std::io::ErrorKind::NotFound => ErrorKind::PermanentFileNotAvailable,
        std::io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
        std::io::ErrorKind::DirectoryNotEmpty => ErrorKind::PermanentDirectoryNotEmpty,
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => {
            ErrorKind::ExceededStorageAllocationError
        }
        _ => ErrorKind::LocalError,
    };
    StorageError::new(kind, e)
}

/// The refusal an FTP error stands for: the ingest error it carries, or a disk that
/// filled while the file was written (552 from [`io_error`]).
fn refusal_of(e: &StorageError) -> Option<Refusal> {
    let source = std::error::Error::source(e);
    if let Some(ingest) = source.and_then(|s| s.downcast_ref::<IngestError>()) {
        return ingest.refusal();
    }
    let io = source.and_then(|s| s.downcast_ref::<std::io::Error>());
    io.filter(|io| files::is_disk_full(io))
        .map(|_| Refusal::DiskFull)
}

fn ingest_error(e: IngestError) -> StorageError {
    let kind = match &e {
        // 552: out of space (the reserve) or over quota, as cameras expect.
        IngestError::DiskFull | IngestError::Quota { .. } | IngestError::TooLarge(_) => {
            ErrorKind::ExceededStorageAllocationError
        }
        // The disk filled while the file or its row was written: 552 as well.
        e if e.is_disk_full() => ErrorKind::ExceededStorageAllocationError,
        IngestError::Refused(_) => ErrorKind::FileNameNotAllowedError,
        IngestError::Io(_) | IngestError::Store(_) => ErrorKind::LocalError,
    };
    tracing::info!(error = %e, "FTP upload not stored");
    StorageError::new(kind, e)
}

impl CameraTrees {
    /// Records a refused upload (`ingest::Refusal`: not a photo, too large, over quota,
    /// out of disk) for the dashboard; any other outcome is left alone.
    async fn note_refusal<T>(&self, result: &Result<T, StorageError>) {
        if let Some(refusal) = result.as_ref().err().and_then(refusal_of) {
            self.ingest.note_refusal(Source::Ftp, refusal).await;
        }
    }

    /// `STOR`/`APPE` (libunftp's `put`): the upload to `path`, from `start_pos` on a
    /// `REST`; see [`Upload`].
    async fn receive<R: AsyncRead + Send + Sync + Unpin + 'static>(
        &self,
        user: &CameraUser,
        mut input: R,
        path: &Path,
        start_pos: u64,
    ) -> unftp_core::storage::Result<u64> {
        let opened = match self.upload_target(user, path) {
            Ok(target) => match self.room(user, &target).await {
                // A resumed upload starts with a copy of the bytes already stored,
                // which can be large: made on a blocking thread. A new one only opens
                // a file.
                Ok(room) if start_pos > 0 => {
                    let trees = self.clone();
                    crate::db::run_blocking(move || Upload::open(&trees, target, start_pos, room))
                        .await
                        .map_err(|e| StorageError::new(ErrorKind::LocalError, e))
                        .and_then(|opened| opened)
                }
                Ok(room) => Upload::open(self, target, 0, room),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        let mut upload = match opened {
            Ok(upload) => upload,
            Err(e) => {
                // Refused before anything was written (a folder's name, out of space,
                // over quota): the client reads the refusal after sending, instead of
                // hitting a closed connection and retrying blindly.
                drain(&mut input).await;
                return Err(e);
            }
        };
        // The data connection is read on this task and each chunk written to the file
        // in line: a write into the page cache takes microseconds, while a hop to a
        // blocking thread per chunk (or a blocking thread woken per read) cost more
        // than the copy itself (benches/ingest.sh on tmpfs). The fsync and the commit,
        // which wait for the disk, run on a blocking thread.
        let mut buf = take_buffer(STOR_BUFFER);
        let streamed: Result<(), StorageError> = loop {
            match input.read(&mut buf).await {
                Ok(0) => break Ok(()),
                Ok(n) => {
                    if let Err(e) = upload.take(self, &buf[..n]) {
                        break Err(e);
                    }
                }
                Err(e) => break Err(StorageError::new(ErrorKind::ConnectionClosed, e)),
            }
        };
        keep_buffer(buf);
        if let Err(e) = &streamed {
            // A cut connection keeps what arrived (for REST); anything else keeps nothing.
            if e.kind() != ErrorKind::ConnectionClosed {
                drop(upload);
                drain(&mut input).await;
                return streamed.map(|()| 0);
            }
        }
        let (trees, user) = (self.clone(), user.clone());
        crate::db::run_blocking(move || upload.finish(&trees, &user, streamed))
            .await
            .map_err(|e| StorageError::new(ErrorKind::LocalError, e))?
    }

    fn home(&self, user: &CameraUser) -> PathBuf {
        self.root.join(user.creator.id.to_string())
    }

    fn path(&self, user: &CameraUser, path: &Path) -> Result<PathBuf, StorageError> {
        let home = self.home(user);
        std::fs::create_dir_all(&home).map_err(io_error)?;
        resolve(&home, path).map_err(StorageError::from)
    }

    /// Where a STOR/APPE of `path` writes: refused (553) unless it names a file, so
    /// that `/`, `.`, `..`, a trailing slash or an existing folder never get as far as
    /// a temporary file (which would land in the folder's parent: for `/`, the shared
    /// `ftp/` root, outside every creator's tree).
    fn upload_target(&self, user: &CameraUser, path: &Path) -> Result<PathBuf, StorageError> {
        let text = path.to_str().ok_or(ErrorKind::FileNameNotAllowedError)?;
        let last = text.rsplit('/').next().unwrap_or_default();
        if matches!(last, "" | "." | "..") {
            return Err(ErrorKind::FileNameNotAllowedError.into());
        }
        let target = self.path(user, path)?;
        if target == self.home(user)
            || std::fs::symlink_metadata(&target).is_ok_and(|m| !m.is_file())
        {
            return Err(ErrorKind::FileNameNotAllowedError.into());
        }
        Ok(target)
    }

    /// How much the creator may still write in place of `target` (whose own bytes, if
    /// it is not a photo, are about to be replaced), beside their photos, unfinished
    /// tus uploads and the rest of their tree: refused with 552 when nothing is left.
    /// Without a quota, no question is asked.
    async fn room(&self, user: &CameraUser, target: &Path) -> Result<Room, StorageError> {
        let quota = self.ingest.limits().creator_quota_bytes;
        if quota == 0 {
            return Ok(Room {
                left: u64::MAX,
                used: 0,
                quota,
            });
        }
        let held = self.usage.bytes(user.creator.id, target);
        let left = self
            .ingest
            .room(user.creator.id, held, 1)
            .await
            .map_err(ingest_error)?;
        Ok(Room {
            left,
            used: quota - left,
            quota,
        })
    }

    /// Commits the complete file at `file` as a photo named `name` through the ingest
    /// core (a hard link of it goes into `incoming/`; `file` itself stays). `hashed`
    /// carries the SHA-256, size and first bytes when the caller computed them while
    /// receiving (STOR); a rename reads the file instead. The caller decides what
    /// becomes of `file` when this fails.
    fn commit_blocking(
        &self,
        user: &CameraUser,
        file: &Path,
        name: &str,
        hashed: Option<(String, u64, Vec<u8>)>,
    ) -> Result<Outcome, StorageError> {
        let temp = self.ingest.temp_path();
        std::fs::hard_link(file, &temp).map_err(io_error)?;
        let incoming = Incoming {
            creator_id: user.creator.id,
            original_name: name.to_string(),
            source: Source::Ftp,
        };
        match hashed {
            Some((sha256, size, head)) => self
                .ingest
                .commit_blocking(incoming, temp, sha256, size, head),
            None => self.ingest.receive_file_blocking(incoming, temp),
        }
        .map_err(ingest_error)
    }

    /// Makes `path` in a tree a link to the stored photo `sha256` (replacing the file
    /// there), so that a photo uploaded again, under this name or by another camera,
    /// costs no second copy of its bytes.
    fn link_photo(&self, sha256: &str, path: &Path) -> std::io::Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let temp = dir.join(format!(
            "{PARTIAL_PREFIX}{}",
            crate::identity::random_token("")
        ));
        std::fs::hard_link(self.ingest.photo_path(sha256), &temp)?;
        std::fs::rename(&temp, path).inspect_err(|_| {
            let _ = std::fs::remove_file(&temp);
        })
    }
}

/// The last component of `path`, as text.
fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A STOR/APPE in progress: a temporary file beside its final name in the camera's
/// tree, hashed as it is written. Dropped without [`Upload::finish`] placing it (any
/// refusal, an error, a transfer cancelled mid-way), it removes its temporary file.
struct Upload {
    file: std::fs::File,
    /// The temporary file, until it is moved into place.
    temp: Option<PathBuf>,
    target: PathBuf,
    dir: PathBuf,
    /// Hash, size and first bytes of everything written, the resumed part included.
    hashing: Hashing,
    start_pos: u64,
    max: u64,
    /// What the creator's quota leaves for this file.
    room: Room,
    since_check: u64,
    /// The upload's key in the previews, for its instant preview.
    key: String,
    instant_head: Vec<u8>,
    offered: bool,
}

impl Drop for Upload {
    fn drop(&mut self) {
        if let Some(temp) = self.temp.take() {
            let _ = std::fs::remove_file(temp);
        }
    }
}

impl Upload {
    /// Opens the temporary file for a STOR (or APPE/REST from `start_pos`) into
    /// `target`; a resumed upload starts from a copy of the bytes already there.
    fn open(
        trees: &CameraTrees,
        target: PathBuf,
        start_pos: u64,
        room: Room,
    ) -> Result<Upload, StorageError> {
        use std::io::{Read, Write};
        let dir = target
            .parent()
            .ok_or(ErrorKind::FileNameNotAllowedError)?
            .to_path_buf();
        if !std::fs::metadata(&dir).map(|m| m.is_dir()).unwrap_or(false) {
            return Err(ErrorKind::PermanentDirectoryNotAvailable.into());
        }
        // A resumed upload first copies the part already stored.
        room.check(start_pos)?;
        trees
            .ingest
            .check_space(start_pos.saturating_add(SPACE_CHECK_BYTES))
            .map_err(ingest_error)?;
        let token = crate::identity::random_token("");
        let temp = dir.join(format!("{PARTIAL_PREFIX}{token}"));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(io_error)?;
        // Instant preview: the EXIF thumbnail is in the first bytes; they are offered
        // to the previews as they arrive (a copy of at most 128 KiB, decoded elsewhere).
        let key = format!("ftp-{token}");
        trees.previews.upload_started(&key);
        let mut upload = Upload {
            file,
            temp: Some(temp),
            target,
            dir,
            // Hashed as the bytes are written, so the commit need not read the file again.
            hashing: Hashing::default(),
            start_pos,
            max: trees.ingest.limits().max_file_bytes,
            room,
            since_check: 0,
            key,
            instant_head: Vec::new(),
            offered: start_pos > 0,
        };
        if start_pos > 0 {
            let copied = (|| -> std::io::Result<u64> {
                let mut existing = std::fs::File::open(&upload.target)?;
                let mut buf = take_buffer(STOR_BUFFER);
                let mut copied = 0u64;
                while copied < start_pos {
                    let want = ((start_pos - copied) as usize).min(buf.len());
                    let n = existing.read(&mut buf[..want])?;
                    if n == 0 {
                        break;
                    }
                    upload.hashing.update(&buf[..n]);
                    upload.file.write_all(&buf[..n])?;
                    copied += n as u64;
                }
                keep_buffer(buf);
                Ok(copied)
            })();
            if copied.ok() != Some(start_pos) {
                return Err(ErrorKind::PermanentFileNotAvailable.into());
            }
        }
        Ok(upload)
    }

    /// Takes the next bytes from the data connection: checked against the size limit,
    /// the creator's quota and the free-disk reserve, hashed, written.
    fn take(&mut self, trees: &CameraTrees, chunk: &[u8]) -> Result<(), StorageError> {
        use std::io::Write;
        let n = chunk.len();
        let size = self.hashing.size() + n as u64;
        if size > self.max {
            return Err(ingest_error(IngestError::TooLarge(self.max)));
        }
        self.room.check(size)?;
        self.since_check += n as u64;
        if self.since_check >= SPACE_CHECK_BYTES {
            trees
                .ingest
                .check_space(SPACE_CHECK_BYTES)
                .map_err(ingest_error)?;
            self.since_check = 0;
        }
        self.hashing.update(chunk);
        self.file.write_all(chunk).map_err(io_error)?;
        if !self.offered {
            let limit = crate::derivatives::INSTANT_HEAD_BYTES as usize;
            let take = (limit - self.instant_head.len()).min(n);
            self.instant_head.extend_from_slice(&chunk[..take]);
            // Offered once, by the feed's one rule.
            if crate::derivatives::Previews::head_ready(&self.instant_head) {
                self.offered = true;
                trees
                    .previews
                    .offer_head(&self.key, std::mem::take(&mut self.instant_head));
            }
        }
        Ok(())
    }

    /// Moves the temporary file into place under the target's name.
    fn place(&mut self) -> Result<(), StorageError> {
        let temp = self.temp.as_ref().expect("placed once");
        std::fs::rename(temp, &self.target).map_err(io_error)?;
        self.temp = None;
        Ok(())
    }

    /// Ends the upload after its stream ended with `streamed`, on a blocking thread.
    ///
    /// Complete under a photo's name: committed as a photo (from the temporary file),
    /// then moved into place; refused, the target is left as it was. Complete under a
    /// temporary name, or cut off mid-way (kept for REST, made durable so a camera can
    /// resume after a power cut too): moved into place as a file that is not a photo
    /// yet, if its first bytes are a photo's (`ingest::sniff`); anything else is
    /// refused (553) or, cut off, dropped. Returns the bytes taken.
    fn finish(
        mut self,
        trees: &CameraTrees,
        user: &CameraUser,
        streamed: Result<(), StorageError>,
    ) -> unftp_core::storage::Result<u64> {
        self.file.sync_all().map_err(io_error)?;
        let name = file_name(&self.target);
        let creator = user.creator.id;
        let taken = self.hashing.size() - self.start_pos;
        if streamed.is_err() || is_temporary_name(&name) {
            if let Err(reason) = crate::ingest::sniff(self.hashing.head(), &name) {
                tracing::info!(%reason, name, "FTP file not kept: not a photo");
                return match streamed {
                    Err(e) => Err(e),
                    Ok(()) => Err(ingest_error(IngestError::Refused(reason))),
                };
            }
            self.place()?;
            trees.usage.note(creator, &self.target);
            if streamed.is_err() {
                files::sync_dir(&self.dir).map_err(io_error)?;
            }
            return streamed.map(|()| taken);
        }
        // Complete: its durability comes from the commit into the store (the tree is
        // the camera's view, and a lost tree entry only means a re-upload).
        let hashed = std::mem::take(&mut self.hashing).finish();
        let temp = self.temp.clone().expect("not placed yet");
        let outcome = trees.commit_blocking(user, &temp, &name, Some(hashed))?;
        let photo = outcome.photo().clone();
        match outcome {
            // The temporary file is now a link to the stored photo.
            Outcome::New(_) => self.place()?,
            // Stored before: the tree links to that copy, and this one goes.
            Outcome::Duplicate(_) => {
                if let Err(e) = trees.link_photo(&photo.sha256, &self.target) {
                    tracing::warn!(error = %e, "cannot link an FTP file to its stored photo; keeping its own copy");
                    self.place()?;
                }
            }
        }
        trees.usage.note(creator, &self.target);
        // A file shorter than the limit whose thumbnail was not seen arriving.
        if !self.offered && !self.instant_head.is_empty() {
            trees
                .previews
                .offer_head(&self.key, std::mem::take(&mut self.instant_head));
        }
        trees.previews.upload_committed(&self.key, &photo);
        Ok(taken)
    }
}

#[async_trait]
impl StorageBackend<CameraUser> for CameraTrees {
    type Metadata = Meta;

    fn supported_features(&self) -> u32 {
        FEATURE_RESTART
    }

    async fn metadata<P: AsRef<Path> + Send + fmt::Debug>(
        &self,
        user: &CameraUser,
        path: P,
    ) -> unftp_core::storage::Result<Meta> {
        let path = self.path(user, path.as_ref())?;
        tokio::fs::symlink_metadata(path)
            .await
            .map(Meta)
            .map_err(io_error)
    }

    async fn list<P: AsRef<Path> + Send + fmt::Debug>(
        &self,
        user: &CameraUser,
        path: P,
    ) -> unftp_core::storage::Result<Vec<Fileinfo<PathBuf, Meta>>> {
        let dir = self.path(user, path.as_ref())?;
        let mut entries = tokio::fs::read_dir(&dir).await.map_err(io_error)?;
        let mut list = Vec::new();
        while let Some(entry) = entries.next_entry().await.map_err(io_error)? {
            let name = entry.file_name();
            if name.to_string_lossy().starts_with(PARTIAL_PREFIX) {
                continue;
            }
            let metadata = entry.metadata().await.map_err(io_error)?;
            list.push(Fileinfo {
                path: PathBuf::from(name),
                metadata: Meta(metadata),
            });
        }
        list.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(list)
    }

    async fn get<P: AsRef<Path> + Send + fmt::Debug>(
        &self,
        user: &CameraUser,
        path: P,
        start_pos: u64,
    ) -> unftp_core::storage::Result<Box<dyn AsyncRead + Send + Sync + Unpin>> {
        let path = self.path(user, path.as_ref())?;
        let mut file = tokio::fs::File::open(path).await.map_err(io_error)?;
        if start_pos > 0 {
            file.seek(SeekFrom::Start(start_pos))
                .await
                .map_err(io_error)?;
        }
        Ok(Box::new(file))
    }

    async fn put<
        P: AsRef<Path> + Send + fmt::Debug,
        R: AsyncRead + Send + Sync + Unpin + 'static,
    >(
        &self,
        user: &CameraUser,
        input: R,
        path: P,
        start_pos: u64,
    ) -> unftp_core::storage::Result<u64> {
        let stored = self.receive(user, input, path.as_ref(), start_pos).await;
        self.note_refusal(&stored).await;
        stored
    }

    async fn del<P: AsRef<Path> + Send + fmt::Debug>(
        &self,
        user: &CameraUser,
        path: P,
    ) -> unftp_core::storage::Result<()> {
        let path = self.path(user, path.as_ref())?;
        tokio::fs::remove_file(&path).await.map_err(io_error)?;
        self.usage.note(user.creator.id, &path);
        Ok(())
    }

    async fn mkd<P: AsRef<Path> + Send + fmt::Debug>(
        &self,
        user: &CameraUser,
        path: P,
    ) -> unftp_core::storage::Result<()> {
        let path = self.path(user, path.as_ref())?;
        // A folder takes disk too: the reserve and the quota (at its size) apply.
        self.ingest
            .check_space(SPACE_CHECK_BYTES)
            .map_err(ingest_error)?;
        self.room(user, &path).await?;
        tokio::fs::create_dir(&path)
            .await
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => {
                    StorageError::new(ErrorKind::PermanentDirectoryNotAvailable, e)
                }
                _ => io_error(e),
            })?;
        self.usage.note(user.creator.id, &path);
        Ok(())
    }

    async fn rename<P: AsRef<Path> + Send + fmt::Debug>(
        &self,
        user: &CameraUser,
        from: P,
        to: P,
    ) -> unftp_core::storage::Result<()> {
        let from = self.path(user, from.as_ref())?;
        let to = self.path(user, to.as_ref())?;
        let home = self.home(user);
        if from == home || to == home {
            return Err(ErrorKind::PermissionDenied.into());
        }
        tokio::fs::rename(&from, &to).await.map_err(io_error)?;
        let creator = user.creator.id;
        self.usage.moved(creator, &from, &to);
        if let Some(dir) = to.parent() {
            files::sync_dir(dir).map_err(io_error)?;
        }
        let name = file_name(&to);
        // A file that is not a photo yet, given a photo's name (a camera's upload
        // under a temporary name, renamed when done): it becomes one now. A photo
        // renamed stays the photo it is (its link count says so).
        let becomes_photo = !is_temporary_name(&name)
            && tokio::fs::symlink_metadata(&to)
                .await
                .is_ok_and(|m| m.is_file() && m.nlink() == 1);
        if becomes_photo {
            let (trees, user) = (self.clone(), user.clone());
            let committed = crate::db::run_blocking(move || {
                let committed = match trees.commit_blocking(&user, &to, &name, None) {
                    Ok(Outcome::New(_)) => Ok(()),
                    Ok(Outcome::Duplicate(photo)) => {
                        if let Err(e) = trees.link_photo(&photo.sha256, &to) {
                            tracing::warn!(error = %e, "cannot link an FTP file to its stored photo; keeping its own copy");
                        }
                        Ok(())
                    }
                    // Refused (not a photo, over quota): the file goes.
                    Err(e) => {
                        let _ = std::fs::remove_file(&to);
                        Err(e)
                    }
                };
                trees.usage.note(creator, &to);
                committed
            })
            .await
            .map_err(|e| StorageError::new(ErrorKind::LocalError, e))
            .and_then(|committed| committed);
            self.note_refusal(&committed).await;
            committed?;
        }
        Ok(())
    }

    async fn rmd<P: AsRef<Path> + Send + fmt::Debug>(
        &self,
        user: &CameraUser,
        path: P,
    ) -> unftp_core::storage::Result<()> {
        let path = self.path(user, path.as_ref())?;
        if path == self.home(user) {
            return Err(ErrorKind::PermissionDenied.into());
        }
        tokio::fs::remove_dir(&path).await.map_err(io_error)?;
        self.usage.note(user.creator.id, &path);
        Ok(())
    }

    async fn cwd<P: AsRef<Path> + Send + fmt::Debug>(
        &self,
        user: &CameraUser,
        path: P,
    ) -> unftp_core::storage::Result<()> {
        let path = self.path(user, path.as_ref())?;
        match tokio::fs::metadata(path).await {
            Ok(m) if m.is_dir() => Ok(()),
            _ => Err(ErrorKind::PermanentDirectoryNotAvailable.into()),
        }
    }
}

/// Reads and discards the rest of a refused upload (at most 256 MiB, for at most 30 s)
/// so the client finishes sending and reads the refusal (552) instead of hitting a
/// closed connection and retrying blindly.
async fn drain<R: AsyncRead + Unpin>(input: &mut R) {
    let mut limited = input.take(256 << 20);
    let mut sink = tokio::io::sink();
    let _ = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::io::copy(&mut limited, &mut sink),
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_tree() {
        let home = Path::new("/data/ftp/7");
        assert_eq!(
            resolve(home, Path::new("/DCIM/100CANON/IMG_1.JPG")).unwrap(),
            home.join("DCIM/100CANON/IMG_1.JPG")
        );
        assert_eq!(resolve(home, Path::new("a/./b")).unwrap(), home.join("a/b"));
        assert_eq!(resolve(home, Path::new("/")).unwrap(), home);
        for bad in ["../6/x", "/a/../../x", "a\0b", "a\nb", ".vbx-abc"] {
            assert!(resolve(home, Path::new(bad)).is_err(), "{bad:?}");
        }
        assert!(resolve(home, Path::new(&"x".repeat(300))).is_err());
        assert!(resolve(home, Path::new(&"d/".repeat(600))).is_err());
    }

    #[test]
    fn temporary_names_are_recognised() {
        for name in [
            "IMG_0001.JPG.tmp",
            ".IMG_0001.JPG",
            "a.part",
            "DSC~",
            "x.FILEPART",
        ] {
            assert!(is_temporary_name(name), "{name}");
        }
        for name in ["IMG_0001.JPG", "DSC_0001.NEF", "temp.jpg"] {
            assert!(!is_temporary_name(name), "{name}");
        }
    }
}
