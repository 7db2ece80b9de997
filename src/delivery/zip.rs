//! One ZIP for a multi-photo order (issue 14, "Expiring, signed, counted links"):
//! streamed as it is written, never buffered whole, checked against the link before
//! every file.
//!
//! The archive is written by `astral_async_zip` (Astral's maintained fork of
//! async_zip: a streaming writer whose ZIP64 data descriptors are the 8-byte ones
//! APPNOTE 4.3.9 asks for) in the STORE method — JPEGs do not compress — with each
//! entry's CRC-32 computed while its bytes pass and sent after them in a data
//! descriptor, so the first bytes leave as soon as the first check has passed, and
//! every file is read once. What this file adds by hand is what no crate does
//! (docs/decisions.md, "ZIP downloads"): entry names made safe and unique, the exact
//! archive length up front (so the route can send `Content-Length`), and the pull-driven
//! stream with the per-file check.
//!
//! An entry is a file as it is, or (what the download route uses) a photo's full
//! derivative: its `media::privacy` plan applied to the stored original, so each file in
//! the ZIP is byte for byte what the photo's own download serves, metadata scrubbed.
//!
//! Memory is O(chunk), not O(archive): one [`CHUNK`]-sized read buffer and the bytes of
//! at most one chunk plus headers in flight, whatever the number or size of the files
//! (plus the plans' rewritten metadata, which the caller holds: a few KiB a photo).
//!
//! The ZIP64 format is used for every entry (a ZIP64 extra field in each header, 8-byte
//! sizes in each data descriptor, the ZIP64 end records), whatever the sizes: it is
//! what the writer does in streaming mode, it keeps the archive length one formula, and
//! `unzip`, Python's `zipfile`, Windows Explorer, macOS and Android read it.
//!
//! May touch: the photo files it is handed (read only). Never the database: the caller
//! decides which files go in and what the check asks.

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use async_zip::base::write::ZipFileWriter;
use async_zip::{Compression, ZipDateTime, ZipDateTimeBuilder, ZipEntryBuilder};
use bytes::{Bytes, BytesMut};
use futures_lite::io::{AsyncWrite, AsyncWriteExt};
use futures_util::Stream;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::media::privacy::{FullPlan, Piece};

/// Bytes read from a photo file at a time, and so about the most the stream holds at
/// once (one read buffer, plus one chunk on its way to the client).
pub const CHUNK: usize = 128 * 1024;

/// The longest entry name, in bytes of UTF-8: the common file-system limit for one path
/// component (ext4, APFS, NTFS: 255), so every name can be extracted as it is.
pub const MAX_NAME_BYTES: usize = 255;

/// One file of the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The name in the archive. Any string: [`Archive::new`] makes it safe (one path
    /// component, no control or bidi characters, at most [`MAX_NAME_BYTES`]) and unique;
    /// [`entry_name`] makes the usual `<event>-<photo id>.<ext>`.
    pub name: String,
    /// The file on disk whose bytes are the entry.
    pub path: PathBuf,
    /// The file's length in bytes, as the caller knows it (the photo row). The archive
    /// length is computed from it; a file found with another length ends the stream
    /// with an error rather than writing an archive of another length.
    pub len: u64,
    /// Last modification, seconds since the Unix epoch (UTC); written as the entry's
    /// MS-DOS date and time in UTC, clamped to the years that format holds (1980–2107).
    pub modified_unix: i64,
    /// `None`: the entry is the file's bytes as they are. `Some`: the entry is this
    /// plan applied to the file (`media::privacy`'s full derivative: rewritten
    /// metadata from memory, the image data read from the file as it goes), and
    /// [`Entry::len`] is the plan's length.
    pub plan: Option<Arc<FullPlan>>,
}

impl Entry {
    /// The file at `path` as it is, `len` bytes long.
    pub fn file(name: impl Into<String>, path: PathBuf, len: u64, modified_unix: i64) -> Entry {
        Entry {
            name: name.into(),
            path,
            len,
            modified_unix,
            plan: None,
        }
    }

    /// `plan` applied to the file at `path` (the stored original it was made from):
    /// what a photo's full download serves, so the ZIP holds the same bytes.
    pub fn planned(
        name: impl Into<String>,
        path: PathBuf,
        plan: Arc<FullPlan>,
        modified_unix: i64,
    ) -> Entry {
        Entry {
            name: name.into(),
            path,
            len: plan.len(),
            modified_unix,
            plan: Some(plan),
        }
    }

    /// The pieces the entry's bytes are made of, in order.
    fn pieces(&self) -> Vec<Piece> {
        match &self.plan {
            Some(plan) => plan.pieces.clone(),
            None => vec![Piece::Original(0..self.len)],
        }
    }

    /// The least length the file must have: its whole length for a plain file, the end
    /// of the last range a plan reads from it.
    fn file_len_needed(&self) -> u64 {
        self.pieces()
            .iter()
            .filter_map(|p| match p {
                Piece::Original(r) => Some(r.end),
                Piece::Bytes(_) => None,
            })
            .max()
            .unwrap_or(0)
    }
}

/// Why a stream ended early. The stream yields it inside an [`io::Error`]
/// (`io::Error::get_ref` then `downcast_ref::<ZipError>()` recovers it); the client
/// sees a truncated download, never a valid archive with files silently missing.
#[derive(Debug, thiserror::Error)]
pub enum ZipError {
    /// The caller's check refused the entry (link expired or revoked, consent
    /// withdrawn...). Kind `PermissionDenied`.
    #[error("delivery refused at entry {index} ({name})")]
    Refused {
        /// 0-based position of the refused entry in the archive.
        index: usize,
        /// Its (safe) name.
        name: String,
    },
    /// The file on disk does not have the length the archive was planned with.
    /// Kind `InvalidData`.
    #[error("{name}: expected {expected} bytes on disk, found {found}")]
    LengthChanged {
        /// The entry's (safe) name.
        name: String,
        /// [`Entry::len`].
        expected: u64,
        /// What the file holds (or what could be read before it ended).
        found: u64,
    },
    /// The ZIP writer failed (it only fails on I/O, which never happens writing to
    /// memory, or on limits the names and ZIP64 keep us within). Kind `Other`.
    #[error("zip writer: {0}")]
    Writer(#[from] async_zip::error::ZipError),
}

impl From<ZipError> for io::Error {
    fn from(err: ZipError) -> io::Error {
        let kind = match err {
            ZipError::Refused { .. } => io::ErrorKind::PermissionDenied,
            ZipError::LengthChanged { .. } => io::ErrorKind::InvalidData,
            ZipError::Writer(_) => io::ErrorKind::Other,
        };
        io::Error::new(kind, err)
    }
}

/// The usual entry name of a photo: `<event>-<photo id>.<extension>`, made safe.
/// E.g. `entry_name("Night Market", 42, "jpg")` is `Night Market-42.jpg`.
pub fn entry_name(event: &str, photo_id: i64, extension: &str) -> String {
    safe_name(&format!("{event}-{photo_id}.{extension}"))
}

/// `raw` as one safe path component for every unzip tool and file system: `/`, `\`,
/// control characters (C0, DEL, C1), Unicode bidi and zero-width format characters
/// and the characters Windows forbids (`<>:"|?*`) become `_`; leading dots and spaces
/// go (no `..`, no hidden files), as do trailing dots and spaces (Windows drops them);
/// a Windows device name (`CON`, `nul.jpg`, `COM1`...) gets a `_` in front; the result is cut
/// to [`MAX_NAME_BYTES`] at a character boundary, keeping the extension; an empty
/// result is `photo`.
pub fn safe_name(raw: &str) -> String {
    let mapped: String = raw
        .chars()
        .map(|c| if is_unsafe_char(c) { '_' } else { c })
        .collect();
    let trimmed = mapped
        .trim_start_matches(['.', ' '])
        .trim_end_matches(['.', ' ']);
    let mut name = if trimmed.is_empty() {
        "photo".to_string()
    } else {
        trimmed.to_string()
    };
    let stem = name.split('.').next().unwrap_or("").trim_end();
    if is_windows_device(stem) {
        name.insert(0, '_');
    }
    truncate_keeping_extension(name, MAX_NAME_BYTES)
}

fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '/' | '\\' | '<' | '>' | ':' | '"' | '|' | '?' | '*')
        // Bidi marks, embeddings, overrides and isolates (a name that reads
        // `photo.jpg` but is `gpj.exe`), zero-width characters, the BOM.
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}' | '\u{061C}')
}

fn is_windows_device(stem: &str) -> bool {
    let upper = stem.to_ascii_uppercase();
    matches!(upper.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || ((upper.starts_with("COM") || upper.starts_with("LPT"))
            && upper.len() == 4
            && upper.as_bytes()[3].is_ascii_digit())
}

/// Cuts `name` to at most `max` bytes at a character boundary, keeping a short
/// extension (up to 16 bytes) when there is one.
fn truncate_keeping_extension(name: String, max: usize) -> String {
    if name.len() <= max {
        return name;
    }
    let (stem, ext) = match name.rfind('.') {
        Some(dot) if dot > 0 && name.len() - dot <= 16 => name.split_at(dot),
        _ => (name.as_str(), ""),
    };
    let mut end = max - ext.len();
    while !stem.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{}", &stem[..end], ext)
}

/// Makes every name unique, comparing without regard to case (Windows and macOS file
/// systems do not tell `A.jpg` from `a.jpg`): the second `x.jpg` becomes `x-2.jpg`,
/// the third `x-3.jpg`, skipping any name already taken.
fn unique_names(entries: &mut [Entry]) {
    let mut taken = std::collections::HashSet::new();
    for entry in entries.iter_mut() {
        if taken.insert(entry.name.to_lowercase()) {
            continue;
        }
        let (stem, ext) = match entry.name.rfind('.') {
            Some(dot) if dot > 0 => entry.name.split_at(dot),
            _ => (entry.name.as_str(), ""),
        };
        let (stem, ext) = (stem.to_string(), ext.to_string());
        let mut n = 2u64;
        let unique = loop {
            let suffix = format!("-{n}{ext}");
            let mut end = stem.len().min(MAX_NAME_BYTES - suffix.len());
            while !stem.is_char_boundary(end) {
                end -= 1;
            }
            let candidate = format!("{}{suffix}", &stem[..end]);
            if taken.insert(candidate.to_lowercase()) {
                break candidate;
            }
            n += 1;
        };
        entry.name = unique;
    }
}

// Sizes of the records the writer emits, in bytes (APPNOTE.TXT 6.3.10, sections 4.3.7,
// 4.3.9, 4.3.12, 4.3.14-4.3.16, 4.5.3). The test `computed_length_is_produced_length`
// holds them to what the writer really writes.
/// Local file header (30) + ZIP64 extra with both sizes (4 + 16).
const LOCAL_HEADER: u64 = 30 + 20;
/// Data descriptor: signature, CRC-32, two 8-byte sizes.
const DATA_DESCRIPTOR: u64 = 4 + 4 + 8 + 8;
/// Central directory header (46) + ZIP64 extra with both sizes and the offset (4 + 24).
const CENTRAL_HEADER: u64 = 46 + 28;
/// ZIP64 end of central directory record (56) and locator (20), end record (22).
const END_RECORDS: u64 = 56 + 20 + 22;
/// The end record alone: an empty archive (the writer needs ZIP64 only once an entry
/// is streamed).
const EMPTY_ARCHIVE: u64 = 22;

/// An archive ready to stream: its entries with safe, unique names.
#[derive(Debug, Clone)]
pub struct Archive {
    entries: Vec<Entry>,
}

impl Archive {
    /// Plans the archive: every name through [`safe_name`], then made unique (case
    /// folded) by a `-2`, `-3`... before the extension. The order is kept.
    pub fn new(mut entries: Vec<Entry>) -> Archive {
        for entry in entries.iter_mut() {
            entry.name = safe_name(&entry.name);
        }
        unique_names(&mut entries);
        Archive { entries }
    }

    /// The entries as they will be written (final names).
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The exact length of the archive in bytes, known before a byte is written (STORE
    /// and known sizes): the value for `Content-Length`. Holds as long as each file has
    /// its [`Entry::len`]; when one does not, the stream ends in an error instead.
    pub fn len(&self) -> u64 {
        if self.entries.is_empty() {
            return EMPTY_ARCHIVE;
        }
        let per_entry: u64 = self
            .entries
            .iter()
            .map(|e| {
                let name = e.name.len() as u64;
                LOCAL_HEADER + name + e.len + DATA_DESCRIPTOR + CENTRAL_HEADER + name
            })
            .sum();
        per_entry + END_RECORDS
    }

    /// Whether the archive has no entries (it still has an end record: [`Archive::len`]
    /// is 22).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The archive as a stream of byte chunks, produced only as fast as it is polled.
    ///
    /// Before each entry, `check(&entry)` runs (the entry with its final name); when it
    /// answers `false`, the stream yields one `Err` of kind `PermissionDenied` holding
    /// [`ZipError::Refused`] and ends: what was sent is a truncated archive with no
    /// central directory, which every unzip tool rejects. A file that cannot be opened
    /// or read, or that does not have [`Entry::len`] bytes, ends it the same way (kinds
    /// of the I/O error, or `InvalidData` with [`ZipError::LengthChanged`]). After an
    /// `Err` the stream yields nothing more.
    ///
    /// Each entry's header goes out as soon as its check has passed; its data follows in
    /// chunks of at most [`CHUNK`] bytes; the central directory goes last. The
    /// concatenated chunks of a stream that ends without error are exactly
    /// [`Archive::len`] bytes.
    pub fn stream<F, Fut>(self, mut check: F) -> impl Stream<Item = io::Result<Bytes>> + Send
    where
        F: FnMut(&Entry) -> Fut + Send + 'static,
        Fut: Future<Output = bool> + Send,
    {
        async_stream::try_stream! {
            let spool = Spool::default();
            let mut zip = ZipFileWriter::new(spool.clone());
            let mut buf = vec![0u8; CHUNK];
            for (index, entry) in self.entries.into_iter().enumerate() {
                if !check(&entry).await {
                    Err(ZipError::Refused { index, name: entry.name.clone() })?;
                }
                let mut file = tokio::fs::File::open(&entry.path).await?;
                let on_disk = file.metadata().await?.len();
                let needed = entry.file_len_needed();
                let fits = match entry.plan {
                    None => on_disk == entry.len,
                    Some(_) => on_disk >= needed,
                };
                if !fits {
                    Err(ZipError::LengthChanged {
                        name: entry.name.clone(),
                        expected: needed,
                        found: on_disk,
                    })?;
                }
                let header = ZipEntryBuilder::new(entry.name.clone().into(), Compression::Stored)
                    .size(entry.len, entry.len)
                    .last_modification_date(dos_time(entry.modified_unix))
                    .unix_permissions(0o100644);
                let mut writer = zip.write_entry_stream(header).await.map_err(ZipError::from)?;
                yield spool.take();
                let mut written = 0u64;
                for piece in entry.pieces() {
                    let range = match piece {
                        Piece::Bytes(bytes) => {
                            writer.write_all(&bytes).await?;
                            written += bytes.len() as u64;
                            yield spool.take();
                            continue;
                        }
                        Piece::Original(range) => range,
                    };
                    file.seek(io::SeekFrom::Start(range.start)).await?;
                    let mut left = range.end - range.start;
                    while left > 0 {
                        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                        let n = file.read(&mut buf[..want]).await?;
                        if n == 0 {
                            Err(ZipError::LengthChanged {
                                name: entry.name.clone(),
                                expected: entry.len,
                                found: written,
                            })?;
                        }
                        writer.write_all(&buf[..n]).await?;
                        left -= n as u64;
                        written += n as u64;
                        yield spool.take();
                    }
                }
                writer.close().await.map_err(ZipError::from)?;
                // The data descriptor now, not with the next header: an entry whose
                // bytes have all gone out is complete even if the next check fails.
                yield spool.take();
            }
            zip.close().await.map_err(ZipError::from)?;
            yield spool.take();
        }
    }
}

/// `stream(entries, check)` is `Archive::new(entries).stream(check)`: the shape the
/// download route wants. Use [`Archive`] when the length is needed first.
pub fn stream<F, Fut>(entries: Vec<Entry>, check: F) -> impl Stream<Item = io::Result<Bytes>> + Send
where
    F: FnMut(&Entry) -> Fut + Send + 'static,
    Fut: Future<Output = bool> + Send,
{
    Archive::new(entries).stream(check)
}

/// The exact length in bytes of the archive [`stream`] makes of `entries`
/// ([`Archive::len`]).
pub fn archive_len(entries: &[Entry]) -> u64 {
    Archive::new(entries.to_vec()).len()
}

/// `unix` seconds as an MS-DOS date and time (UTC, 2-second steps), clamped to
/// 1980-01-01 00:00:00 ..= 2107-12-31 23:59:58, the range the format holds.
fn dos_time(unix: i64) -> ZipDateTime {
    const MIN: i64 = 315_532_800; // 1980-01-01T00:00:00Z
    const MAX: i64 = 4_354_819_198; // 2107-12-31T23:59:58Z
    let t = time::OffsetDateTime::from_unix_timestamp(unix.clamp(MIN, MAX))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    ZipDateTimeBuilder::new()
        .year(t.year())
        .month(u8::from(t.month()).into())
        .day(t.day().into())
        .hour(t.hour().into())
        .minute(t.minute().into())
        .second(t.second().into())
        .build()
}

/// Where the writer puts its bytes until the stream hands them on: a shared buffer,
/// drained after every write (so it never holds more than one chunk plus headers).
#[derive(Clone, Default)]
struct Spool(Arc<Mutex<BytesMut>>);

impl Spool {
    /// Everything written since the last call.
    fn take(&self) -> Bytes {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .split()
            .freeze()
    }
}

impl AsyncWrite for Spool {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_one_safe_component() {
        assert_eq!(safe_name("../../etc/passwd"), "_.._etc_passwd");
        assert_eq!(safe_name(".."), "photo");
        assert_eq!(safe_name("..."), "photo");
        assert_eq!(safe_name(""), "photo");
        assert_eq!(safe_name(".hidden.jpg"), "hidden.jpg");
        assert_eq!(safe_name("a\\b.jpg"), "a_b.jpg");
        assert_eq!(safe_name("C:evil.jpg"), "C_evil.jpg");
        assert_eq!(safe_name("tab\there\n.jpg"), "tab_here_.jpg");
        assert_eq!(safe_name("del\u{7f}.jpg"), "del_.jpg");
        assert_eq!(safe_name("c1\u{85}.jpg"), "c1_.jpg");
        assert_eq!(safe_name("photo\u{202E}gpj.exe"), "photo_gpj.exe");
        assert_eq!(safe_name("zero\u{200B}width.jpg"), "zero_width.jpg");
        assert_eq!(safe_name("trailing. . "), "trailing");
        assert_eq!(safe_name("nul.jpg"), "_nul.jpg");
        assert_eq!(safe_name("COM1"), "_COM1");
        assert_eq!(safe_name("console.jpg"), "console.jpg");
        assert_eq!(safe_name("Straße-ß-日本.jpg"), "Straße-ß-日本.jpg");
        let long = format!("{}.jpg", "é".repeat(300));
        let cut = safe_name(&long);
        assert!(cut.len() <= MAX_NAME_BYTES, "{}", cut.len());
        assert!(cut.ends_with("é.jpg"));
    }

    #[test]
    fn entry_names_read_event_dash_id() {
        assert_eq!(entry_name("Night Market", 42, "jpg"), "Night Market-42.jpg");
        assert_eq!(entry_name("a/b", 7, "jpg"), "a_b-7.jpg");
    }

    #[test]
    fn duplicate_names_get_a_number_case_blind() {
        let entry = |name: &str| Entry {
            name: name.into(),
            path: PathBuf::new(),
            len: 0,
            modified_unix: 0,
            plan: None,
        };
        let archive = Archive::new(vec![
            entry("x.jpg"),
            entry("X.JPG"),
            entry("x-2.jpg"),
            entry("x.jpg"),
            entry("noext"),
            entry("noext"),
        ]);
        let names: Vec<&str> = archive.entries().iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "x.jpg",
                "X-2.JPG",
                "x-2-2.jpg",
                "x-3.jpg",
                "noext",
                "noext-2"
            ]
        );
    }

    #[test]
    fn dos_time_is_utc_and_clamped() {
        // 2026-11-30T14:46:33Z
        let t = dos_time(1_796_049_993);
        assert_eq!((t.year(), t.month(), t.day()), (2026, 11, 30));
        assert_eq!((t.hour(), t.minute(), t.second()), (14, 46, 32));
        assert_eq!(dos_time(-5).year(), 1980);
        assert_eq!(dos_time(i64::MAX).year(), 2107);
    }
}
