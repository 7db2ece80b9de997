//! FTP/FTPS for cameras (Canon, Nikon, Sony bodies push photos this way), served by
//! libunftp with a storage back end of our own.
//!
//! Each creator logs in with their own user name and password (`venuebox creator ftp
//! NAME`) and sees only their own tree, `<data>/ftp/<creator id>/`: cameras make
//! folders per card or date (MKD/CWD), upload under a temporary name and rename
//! (RNFR/RNTO), resume (REST, APPE), list (LIST/NLST/MLSD) and check (SIZE/MDTM).
//! No path leaves the tree: `..`, NUL and control characters are refused.
//!
//! A file becomes a photo when its upload completes under a final name (or is renamed
//! to one): it is hard-linked into the ingest core, which commits it like any upload
//! (content-addressed, fsynced, then the row). The camera's tree keeps its own link,
//! so SIZE and LIST show what the camera sent, with no second copy on disk. Files in
//! the tree are never changed in place: every STOR/APPE writes a new file and renames
//! it over the old name, so the stored photo behind a link can never be altered.
//! DELE removes a file from the camera's tree only; the photo stays on the box.
//!
//! Explicit FTPS (AUTH TLS) uses the box's certificate with TLS session resumption,
//! which some clients require on the data channel. Implicit FTPS (port 990, Canon
//! bodies), which libunftp lacks, goes through `ImplicitRelay`, a TLS relay.

use std::fmt;
use std::io::SeekFrom;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use libunftp::options::{FtpsRequired, TlsFlags};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use unftp_core::auth::{
    AuthenticationError, Authenticator, Credentials, Principal, UserDetail, UserDetailError,
    UserDetailProvider,
};
use unftp_core::storage::{
    Error as StorageError, ErrorKind, Fileinfo, Metadata, StorageBackend, FEATURE_RESTART,
};

use crate::creators::{self, Creator};
use crate::db::{Store, StoreError};
use crate::files;
use crate::ingest::{
    keep_buffer, take_buffer, Hashing, Incoming, Ingest, IngestError, Source, SPACE_CHECK_BYTES,
};

/// A logged-in creator, as libunftp carries them through a session.
#[derive(Debug, Clone)]
pub struct CameraUser {
    /// The creator.
    pub creator: Creator,
}

impl fmt::Display for CameraUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "creator {}", self.creator.id)
    }
}

impl UserDetail for CameraUser {}

/// Checks FTP logins against the creators' credentials.
#[derive(Debug)]
struct CreatorLogins {
    store: Store,
    /// Failed FTP logins per client address (apart from the admin login's count).
    limiter: crate::auth::LoginLimiter,
}

#[async_trait]
impl Authenticator for CreatorLogins {
    async fn authenticate(
        &self,
        username: &str,
        creds: &Credentials,
    ) -> Result<Principal, AuthenticationError> {
        // Locked out: refused even with the right password, so guessing cannot go on.
        if self.limiter.check(creds.source_ip).is_err() {
            tracing::warn!(client = %creds.source_ip, "FTP login refused: too many failures");
            return Err(AuthenticationError::IpDisallowed);
        }
        let password = creds
            .password
            .clone()
            .ok_or(AuthenticationError::BadPassword)?;
        let user = username.to_string();
        let found = self
            .store
            .read(move |c| creators::by_ftp_login(c, &user, &password).map_err(StoreError::from))
            .await
            .map_err(|e| AuthenticationError::with_source("store", e))?;
        match found {
            Some(_) => {
                self.limiter.succeeded(creds.source_ip);
                Ok(Principal {
                    username: username.to_string(),
                })
            }
            None => {
                self.limiter.failed(creds.source_ip);
                tracing::warn!(client = %creds.source_ip, "failed FTP login");
                Err(AuthenticationError::BadPassword)
            }
        }
    }
}

#[async_trait]
impl UserDetailProvider for CreatorLogins {
    type User = CameraUser;

    async fn provide_user_detail(
        &self,
        principal: &Principal,
    ) -> Result<CameraUser, UserDetailError> {
        let user = principal.username.clone();
        let creator = self
            .store
            .read(move |c| creators::by_ftp_user(c, &user).map_err(StoreError::from))
            .await
            .map_err(|e| UserDetailError::with_source("store", e))?
            .ok_or_else(|| UserDetailError::UserNotFound {
                username: principal.username.clone(),
            })?;
        Ok(CameraUser { creator })
    }
}

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
/// listings and never taken for photos.
const PARTIAL_PREFIX: &str = ".vbx-";

/// The storage back end: each creator's tree under `<data>/ftp/<id>/`.
#[derive(Debug, Clone)]
pub struct CameraTrees {
    root: PathBuf,
    ingest: Ingest,
    /// For instant previews of files still arriving.
    previews: crate::derivatives::Previews,
}

/// True for names cameras and clients use while a file is still being written
/// (`IMG_0001.JPG.tmp`, `.part`, `~`, hidden files): such a file is not a photo yet.
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

fn ingest_error(e: IngestError) -> StorageError {
    let kind = match &e {
        // 552: out of space (the reserve) or over quota, as cameras expect.
        IngestError::DiskFull | IngestError::Quota { .. } | IngestError::TooLarge(_) => {
            ErrorKind::ExceededStorageAllocationError
        }
        IngestError::Refused(_) => ErrorKind::FileNameNotAllowedError,
        IngestError::Io(_) | IngestError::Store(_) => ErrorKind::LocalError,
    };
    tracing::info!(error = %e, "FTP upload not stored");
    StorageError::new(kind, e)
}

impl CameraTrees {
    fn home(&self, user: &CameraUser) -> PathBuf {
        self.root.join(user.creator.id.to_string())
    }

    fn path(&self, user: &CameraUser, path: &Path) -> Result<PathBuf, StorageError> {
        let home = self.home(user);
        std::fs::create_dir_all(&home).map_err(io_error)?;
        resolve(&home, path).map_err(StorageError::from)
    }

    /// Makes a completed file with a final name a photo; a file that is not a photo is
    /// removed from the tree and refused. `hashed` carries the SHA-256, size and first
    /// bytes when the caller computed them while receiving (STOR); a rename reads the
    /// file instead.
    fn commit_blocking(
        &self,
        user: &CameraUser,
        path: &Path,
        hashed: Option<(String, u64, Vec<u8>)>,
    ) -> Result<Option<i64>, StorageError> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if is_temporary_name(&name) {
            return Ok(None);
        }
        let temp = self.ingest.temp_path();
        std::fs::hard_link(path, &temp).map_err(io_error)?;
        let incoming = Incoming {
            creator_id: user.creator.id,
            original_name: name,
            source: Source::Ftp,
        };
        let result = match hashed {
            Some((sha256, size, head)) => self
                .ingest
                .commit_blocking(incoming, temp, sha256, size, head),
            None => self.ingest.receive_file_blocking(incoming, temp),
        };
        match result {
            Ok(outcome) => Ok(Some(outcome.photo().id)),
            Err(e) => {
                let _ = std::fs::remove_file(path);
                Err(ingest_error(e))
            }
        }
    }
}

/// A STOR/APPE in progress: a temporary file beside its final name in the camera's
/// tree, hashed as it is written.
struct Upload {
    file: std::fs::File,
    temp: PathBuf,
    target: PathBuf,
    dir: PathBuf,
    /// Hash, size and first bytes of everything written, the resumed part included.
    hashing: Hashing,
    start_pos: u64,
    max: u64,
    since_check: u64,
    /// The upload's key in the previews, for its instant preview.
    key: String,
    instant_head: Vec<u8>,
    offered: bool,
}

impl Upload {
    /// Opens the temporary file for a STOR (or APPE/REST from `start_pos`) into
    /// `target`; a resumed upload starts from a copy of the bytes already there.
    fn open(trees: &CameraTrees, target: PathBuf, start_pos: u64) -> Result<Upload, StorageError> {
        use std::io::{Read, Write};
        let dir = target
            .parent()
            .ok_or(ErrorKind::FileNameNotAllowedError)?
            .to_path_buf();
        if !std::fs::metadata(&dir).map(|m| m.is_dir()).unwrap_or(false) {
            return Err(ErrorKind::PermanentDirectoryNotAvailable.into());
        }
        trees
            .ingest
            .check_space(SPACE_CHECK_BYTES)
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
            temp,
            target,
            dir,
            // Hashed as the bytes are written, so the commit need not read the file again.
            hashing: Hashing::default(),
            start_pos,
            max: trees.ingest.limits().max_file_bytes,
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
                upload.discard();
                return Err(ErrorKind::PermanentFileNotAvailable.into());
            }
        }
        Ok(upload)
    }

    /// Takes the next bytes from the data connection: checked against the size limit
    /// and the free-disk reserve, hashed, written.
    fn take(&mut self, trees: &CameraTrees, chunk: &[u8]) -> Result<(), StorageError> {
        use std::io::Write;
        let n = chunk.len();
        if self.hashing.size() + n as u64 > self.max {
            return Err(ingest_error(IngestError::TooLarge(self.max)));
        }
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

    /// Removes the temporary file: nothing of this upload stays.
    fn discard(self) {
        drop(self.file);
        let _ = std::fs::remove_file(&self.temp);
    }

    /// Ends the upload after its stream ended with `streamed`, on a blocking thread:
    /// complete, the file is fsynced, renamed to its name and committed as a photo;
    /// cut off, what arrived is kept under its name for REST. Returns the bytes taken.
    fn finish(
        self,
        trees: &CameraTrees,
        user: &CameraUser,
        streamed: Result<(), StorageError>,
    ) -> unftp_core::storage::Result<u64> {
        self.file.sync_all().map_err(io_error)?;
        drop(self.file);
        std::fs::rename(&self.temp, &self.target).map_err(io_error)?;
        if streamed.is_err() {
            // Cut off mid-way: make the partial file durable in the tree so the camera
            // can resume it with REST after a power cut too.
            files::sync_dir(&self.dir).map_err(io_error)?;
            return streamed.map(|()| 0);
        }
        // Complete: its durability comes from the commit into the store (the tree is
        // the camera's view, and a lost tree entry only means a re-upload).
        let (size, start_pos) = (self.hashing.size(), self.start_pos);
        let hashed = Some(self.hashing.finish());
        if let Some(photo_id) = trees.commit_blocking(user, &self.target, hashed)? {
            // A file shorter than the limit whose thumbnail was not seen arriving.
            if !self.offered && !self.instant_head.is_empty() {
                trees.previews.offer_head(&self.key, self.instant_head);
            }
            trees.previews.upload_committed(&self.key, photo_id);
        }
        Ok(size - start_pos)
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
        mut input: R,
        path: P,
        start_pos: u64,
    ) -> unftp_core::storage::Result<u64> {
        let target = self.path(user, path.as_ref())?;
        // A resumed upload starts with a copy of the bytes already stored, which can be
        // large: made on a blocking thread. A new one only opens a file.
        let opened = if start_pos > 0 {
            let trees = self.clone();
            crate::db::run_blocking(move || Upload::open(&trees, target, start_pos))
                .await
                .map_err(|e| StorageError::new(ErrorKind::LocalError, e))?
        } else {
            Upload::open(self, target, 0)
        };
        let mut upload = match opened {
            Ok(upload) => upload,
            Err(e) => {
                // Out of space or over quota (552): the client reads the refusal after
                // sending, instead of hitting a closed connection and retrying blindly.
                if e.kind() == ErrorKind::ExceededStorageAllocationError {
                    drain(&mut input).await;
                }
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
                upload.discard();
                drain(&mut input).await;
                return streamed.map(|()| 0);
            }
        }
        let (trees, user) = (self.clone(), user.clone());
        crate::db::run_blocking(move || upload.finish(&trees, &user, streamed))
            .await
            .map_err(|e| StorageError::new(ErrorKind::LocalError, e))?
    }

    async fn del<P: AsRef<Path> + Send + fmt::Debug>(
        &self,
        user: &CameraUser,
        path: P,
    ) -> unftp_core::storage::Result<()> {
        let path = self.path(user, path.as_ref())?;
        tokio::fs::remove_file(path).await.map_err(io_error)
    }

    async fn mkd<P: AsRef<Path> + Send + fmt::Debug>(
        &self,
        user: &CameraUser,
        path: P,
    ) -> unftp_core::storage::Result<()> {
        let path = self.path(user, path.as_ref())?;
        tokio::fs::create_dir(&path)
            .await
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => {
                    StorageError::new(ErrorKind::PermanentDirectoryNotAvailable, e)
                }
                _ => io_error(e),
            })
    }

    async fn rename<P: AsRef<Path> + Send + fmt::Debug>(
        &self,
        user: &CameraUser,
        from: P,
        to: P,
    ) -> unftp_core::storage::Result<()> {
        let from = self.path(user, from.as_ref())?;
        let to = self.path(user, to.as_ref())?;
        tokio::fs::rename(&from, &to).await.map_err(io_error)?;
        if let Some(dir) = to.parent() {
            files::sync_dir(dir).map_err(io_error)?;
        }
        if tokio::fs::metadata(&to)
            .await
            .map(|m| m.is_file())
            .unwrap_or(false)
        {
            let (trees, user) = (self.clone(), user.clone());
            crate::db::run_blocking(move || trees.commit_blocking(&user, &to, None))
                .await
                .map_err(|e| StorageError::new(ErrorKind::LocalError, e))??;
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
        tokio::fs::remove_dir(path).await.map_err(io_error)
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

/// Removes the temporary files STOR writes before renaming into place (`.vbx-*`):
/// only a crash leaves them, and only the running service writes FTP trees.
fn sweep_partials(root: &Path) -> std::io::Result<usize> {
    let mut removed = 0;
    for entry in walkdir::WalkDir::new(root).follow_links(false) {
        let entry = entry.map_err(std::io::Error::other)?;
        if entry.file_type().is_file()
            && entry
                .file_name()
                .to_string_lossy()
                .starts_with(PARTIAL_PREFIX)
        {
            std::fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// What the FTP server works with: cheap handles, not the whole app state.
#[derive(Clone)]
pub struct Handles {
    /// The validated configuration (`ftp`, `admin` login limits, `storage.data_dir`).
    pub config: Arc<crate::config::Config>,
    /// The database (creator logins).
    pub store: Store,
    /// The ingest core every camera upload commits through.
    pub ingest: crate::ingest::Ingest,
    /// The render queue (instant previews of uploads in progress).
    pub previews: crate::derivatives::Previews,
    /// The box's identity (its TLS certificate, for implicit FTPS).
    pub vault: crate::identity::Vault,
}

/// Serves FTP on `listener` until `shutdown` is cancelled, then gives sessions the
/// configured grace period before cutting them off.
///
/// The accept loop is ours, not libunftp's: its own listener leaves Nagle's algorithm
/// on for control connections, which delays every `226` reply behind the client's
/// delayed ACK of the `150` before it, about 40 ms per file (measured with
/// benches/ingest.sh: 19 MB/s against vsftpd's 490). Here each control connection
/// gets TCP_NODELAY and is served by [`libunftp::Server::service`].
pub async fn serve(
    state: Handles,
    listener: TcpListener,
    implicit: Option<TcpListener>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let config = state.config.clone();
    let root = crate::files::layout::ftp(&config.storage.data_dir);
    files::create_dir(&root, 0o700)?;
    let swept = sweep_partials(&root)?;
    if swept > 0 {
        tracing::info!(files = swept, "removed partial FTP writes left by a crash");
    }
    let trees = CameraTrees {
        root,
        ingest: state.ingest.clone(),
        previews: state.previews.clone(),
    };
    let logins = Arc::new(CreatorLogins {
        store: state.store.clone(),
        limiter: crate::auth::LoginLimiter::new(
            config.admin.login_max_failures,
            Duration::from_secs(config.admin.login_window_secs),
        ),
    });
    let keys = crate::files::layout::keys(&config.storage.data_dir);
    let (first, last) = config.ftp.passive_ports;
    // `implicit`: the real client and the box's address it reached, for a session
    // whose control connection comes through the implicit-FTPS relay.
    let build = move |implicit: Option<(IpAddr, Option<Ipv4Addr>)>| {
        let trees = trees.clone();
        let authenticator: Arc<dyn Authenticator> = match implicit {
            Some((peer, _)) => Arc::new(RelayedLogins {
                inner: logins.clone(),
                peer,
            }),
            None => logins.clone(),
        };
        let builder = libunftp::ServerBuilder::with_user_detail_provider(
            Box::new(move || trees.clone()),
            logins.clone(),
        );
        let builder = match implicit {
            // Passive replies must name the address the client reached, not the relay's.
            Some((_, Some(local))) => builder.passive_host(local),
            _ => builder,
        };
        builder
            .authenticator(authenticator)
            .greeting("venuebox ready")
            .passive_ports(first..=last)
            // The box's certificate; libunftp's default flags: TLS 1.2 with session-id
            // and ticket resumption, which clients reuse on the data channel.
            .ftps(keys.join("tls.crt"), keys.join("tls.key"))
            .ftps_tls_flags(TlsFlags::default())
            .ftps_required(FtpsRequired::None, FtpsRequired::None)
            .idle_session_timeout(600)
            .build()
    };
    // Fail at start, not at the first camera, if the server cannot be built.
    drop(build(None)?);
    tracing::info!(addr = %listener.local_addr()?, "FTP serving");
    let relay = match implicit {
        Some(listener) => {
            tracing::info!(addr = %listener.local_addr()?, "implicit FTPS serving");
            Some(ImplicitRelay::new(listener, state.vault.tls_server_config()?).await?)
        }
        None => None,
    };
    let mut sessions = tokio::task::JoinSet::new();
    loop {
        let (stream, peer, implicit) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => (stream, peer, None),
                Err(e) => {
                    tracing::warn!(error = %e, "FTP accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            relayed = async { relay.as_ref().expect("guarded").next().await }, if relay.is_some() => match relayed {
                Some((stream, peer, local)) => (stream, peer, Some((peer.ip(), local))),
                None => continue,
            },
        };
        // Reap finished sessions so the set does not grow.
        while sessions.try_join_next().is_some() {}
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(%peer, error = %e, "cannot set TCP_NODELAY");
        }
        match build(implicit) {
            Ok(server) => {
                sessions.spawn(async move {
                    if let Err(e) = server.service(stream).await {
                        tracing::debug!(%peer, error = ?e, "FTP session ended with an error");
                    }
                });
            }
            Err(e) => tracing::error!(error = %e, "cannot start an FTP session"),
        }
    }
    drop(listener);
    let grace = Duration::from_secs(config.http.shutdown_grace_secs);
    if tokio::time::timeout(grace, async {
        while sessions.join_next().await.is_some() {}
    })
    .await
    .is_err()
    {
        tracing::warn!(
            "cutting off FTP sessions still open at the end of the shutdown grace period"
        );
        sessions.shutdown().await;
    }
    Ok(())
}

/// Logins of a session relayed from the implicit-FTPS port: libunftp sees the relay's
/// loopback address, so the real client's address is put back before the failed-login
/// limiter counts it.
#[derive(Debug)]
struct RelayedLogins {
    inner: Arc<CreatorLogins>,
    peer: IpAddr,
}

#[async_trait]
impl Authenticator for RelayedLogins {
    async fn authenticate(
        &self,
        username: &str,
        creds: &Credentials,
    ) -> Result<Principal, AuthenticationError> {
        let mut creds = creds.clone();
        creds.source_ip = self.peer;
        self.inner.authenticate(username, &creds).await
    }
}

/// Implicit FTPS (TLS from the first byte, port 990), which libunftp lacks: its
/// sessions start in plain text and upgrade on `AUTH TLS`. The relay terminates TLS on
/// the control connection with the box's certificate and hands libunftp the other end
/// of a loopback connection carrying the plain commands. Data connections do not pass
/// through it: the client sends `PROT P` as implicit clients do, and libunftp secures
/// the passive data connections itself, on the address the client reached.
struct ImplicitRelay {
    /// Finished handshakes: libunftp's end of the loopback pair, the real client, and
    /// the box's IPv4 address the client reached (for PASV replies).
    ready:
        tokio::sync::Mutex<tokio::sync::mpsc::Receiver<(TcpStream, SocketAddr, Option<Ipv4Addr>)>>,
}

impl ImplicitRelay {
    async fn new(
        listener: TcpListener,
        tls: rustls::ServerConfig,
    ) -> anyhow::Result<ImplicitRelay> {
        // libunftp's ends of the loopback pairs are accepted here, one pair at a time.
        let inner = Arc::new(tokio::sync::Mutex::new(
            TcpListener::bind("127.0.0.1:0").await?,
        ));
        let mut handshakes = crate::net::tls::accept_loop(listener, tls, "implicit FTPS");
        let (tx, ready) = tokio::sync::mpsc::channel(16);
        tokio::spawn(async move {
            loop {
                let (tls, peer) = tokio::select! {
                    _ = tx.closed() => return,
                    next = handshakes.recv() => match next {
                        Some(pair) => pair,
                        None => return,
                    },
                };
                let (inner, tx) = (inner.clone(), tx.clone());
                tokio::spawn(async move {
                    let tcp = tls.get_ref().0;
                    let _ = tcp.set_nodelay(true);
                    let local = match tcp.local_addr().map(|a| a.ip().to_canonical()) {
                        Ok(IpAddr::V4(v4)) => Some(v4),
                        _ => None,
                    };
                    let pair = async {
                        let listener = inner.lock().await;
                        let ours = TcpStream::connect(listener.local_addr()?).await?;
                        let want = ours.local_addr()?;
                        loop {
                            let (theirs, from) = listener.accept().await?;
                            // Anything else on loopback that found this port is dropped.
                            if from == want {
                                return Ok::<_, std::io::Error>((ours, theirs));
                            }
                        }
                    };
                    let (mut ours, theirs) = match pair.await {
                        Ok(pair) => pair,
                        Err(e) => {
                            return tracing::warn!(%peer, error = %e, "implicit FTPS relay failed")
                        }
                    };
                    let _ = ours.set_nodelay(true);
                    if tx.send((theirs, peer, local)).await.is_err() {
                        return;
                    }
                    let mut tls = tls;
                    // Ends when either side closes; libunftp's session then ends too.
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut ours).await;
                });
            }
        });
        Ok(ImplicitRelay {
            ready: tokio::sync::Mutex::new(ready),
        })
    }

    async fn next(&self) -> Option<(TcpStream, SocketAddr, Option<Ipv4Addr>)> {
        self.ready.lock().await.recv().await
    }
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
