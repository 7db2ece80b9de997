//! The store: the box's SQLite database, its schema migrations, and the only way the
//! rest of the code reaches it.
//!
//! One writer connection (behind a mutex) and a small pool of read-only connections,
//! all used from tokio's blocking pool, never from an executor thread. Other processes
//! (the CLI: `venuebox creator add`, later `import`) open the same file; SQLite's locks
//! arbitrate and the busy timeout makes them wait their turn.
//!
//! Durability choices, for a box whose power can be cut at any instant:
//! - WAL journal: readers never block the writer, and a torn write of the log is
//!   discarded on recovery, never applied half-way.
//! - `synchronous = FULL`: every commit is fsynced before it returns. With WAL,
//!   `NORMAL` stays consistent but may lose the last commits on power loss; venuebox
//!   acknowledges a photo or a consent only after its commit, so it must not forget
//!   one it acknowledged. The cost is one fsync per write transaction, which is why
//!   writers batch into transactions.
//!
//! This module may not know about HTTP, and decides nothing about what a row means.
//!
//! Size: about 750 lines, a third of them the migrations (one ordered list, each step
//! naming its owner) and a third unit tests.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use tokio::sync::Semaphore;

/// Marks a database as venuebox's (`PRAGMA application_id`): "VBOX".
pub const APPLICATION_ID: i32 = 0x5642_4f58;

/// The schema, one migration per version. Version N is reached by applying the first N
/// entries in order; `PRAGMA user_version` records the version a file is at. Never edit
/// a released entry: add a new one. Each step names the module that owns (alone
/// writes) the tables it makes, as docs/architecture.md ("Table owners") lists them.
const MIGRATIONS: &[&str] = &[
    // 1 (owners: event, creators, db): the event, the creators selling at it, and
    // the audit log.
    "CREATE TABLE event (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        name TEXT NOT NULL,
        starts_on TEXT,
        ends_on TEXT,
        locale TEXT NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE TABLE creators (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE,
        upload_token_hash BLOB NOT NULL UNIQUE,
        created_at INTEGER NOT NULL,
        disabled_at INTEGER
    );
    CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY,
        at INTEGER NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT ''
    );",
    // 2 (owner: auth): admin access: the setup code (hash only) and sessions (token hashes only).
    "CREATE TABLE admin_credential (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        code_hash BLOB NOT NULL,
        source TEXT NOT NULL,
        set_at INTEGER NOT NULL
    );
    CREATE TABLE admin_sessions (
        token_hash BLOB PRIMARY KEY,
        csrf_token TEXT NOT NULL,
        client TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX admin_sessions_expiry ON admin_sessions (expires_at);
    CREATE INDEX audit_log_at ON audit_log (at);",
    // 3 (owner: ingest): photos (content-addressed, one row per distinct content) and resumable
    // uploads in progress (tus).
    "CREATE TABLE photos (
        id INTEGER PRIMARY KEY,
        sha256 TEXT NOT NULL UNIQUE,
        size INTEGER NOT NULL,
        media_type TEXT NOT NULL,
        raw INTEGER NOT NULL DEFAULT 0,
        creator_id INTEGER NOT NULL REFERENCES creators (id),
        original_name TEXT NOT NULL,
        source TEXT NOT NULL,
        received_at INTEGER NOT NULL
    );
    CREATE INDEX photos_creator ON photos (creator_id);
    CREATE TABLE uploads (
        id TEXT PRIMARY KEY,
        creator_id INTEGER NOT NULL REFERENCES creators (id),
        length INTEGER,
        offset INTEGER NOT NULL DEFAULT 0,
        metadata TEXT NOT NULL DEFAULT '',
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        photo_id INTEGER REFERENCES photos (id)
    ) WITHOUT ROWID;
    CREATE INDEX uploads_expiry ON uploads (expires_at);",
    // 4 (owner: creators): FTP credentials for creators' cameras (password as a hash only).
    "ALTER TABLE creators ADD COLUMN ftp_user TEXT;
    ALTER TABLE creators ADD COLUMN ftp_password_hash BLOB;
    CREATE UNIQUE INDEX creators_ftp_user ON creators (ftp_user);",
    // 5 (owner: derivatives): the render state of each photo's previews (files live in derivatives/).
    "CREATE TABLE renders (
        photo_id INTEGER PRIMARY KEY REFERENCES photos (id),
        state TEXT NOT NULL,
        reason TEXT,
        route TEXT,
        render_ms REAL,
        rendered_at INTEGER NOT NULL
    );",
    // 6 (owner: consent): the portal: attendees (a random pass id, a bearer secret, and its keyed-hash
    // pseudonym, the only id that leaves the box), append-only consent, attendance,
    // erasures, the privacy notices shown, the clients through the portal, and the
    // per-event secret the keyed hashes use.
    "CREATE TABLE attendees (
        id TEXT PRIMARY KEY,
        pseudonym TEXT NOT NULL UNIQUE,
        created_at INTEGER NOT NULL,
        language TEXT
    ) WITHOUT ROWID;
    CREATE TABLE consent_events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        attendee TEXT NOT NULL,
        scope TEXT NOT NULL CHECK (scope IN ('gallery', 'receive', 'sync', 'marketing')),
        granted INTEGER NOT NULL CHECK (granted IN (0, 1)),
        notice_hash TEXT NOT NULL,
        channel TEXT NOT NULL CHECK (channel IN ('portal', 'door', 'vendor')),
        at INTEGER NOT NULL
    );
    CREATE INDEX consent_events_attendee ON consent_events (attendee, scope, seq);
    CREATE INDEX consent_events_at ON consent_events (at);
    CREATE TABLE attendance (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        pseudonym TEXT NOT NULL,
        source TEXT NOT NULL CHECK (source IN ('portal', 'door')),
        at INTEGER NOT NULL
    );
    CREATE INDEX attendance_at ON attendance (at);
    CREATE INDEX attendance_pseudonym ON attendance (pseudonym, at);
    CREATE TABLE attendee_erasures (
        pseudonym TEXT NOT NULL,
        at INTEGER NOT NULL
    );
    CREATE TABLE notices (
        hash TEXT PRIMARY KEY,
        version TEXT NOT NULL,
        language TEXT NOT NULL,
        text TEXT NOT NULL,
        first_shown INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE portal_clients (
        client_key TEXT PRIMARY KEY,
        attendee TEXT,
        accepted_at INTEGER NOT NULL,
        expires_at INTEGER
    ) WITHOUT ROWID;
    CREATE TABLE portal_secret (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        secret BLOB NOT NULL
    );",
    // 7 (owner: derivatives): time to first preview of each photo, from the end and the
    // start of its upload, in milliseconds (NULL when not known, e.g. imported).
    "ALTER TABLE renders ADD COLUMN ttfp_end_ms REAL;
     ALTER TABLE renders ADD COLUMN ttfp_start_ms REAL;",
    // 8 (owners: consent for photo_attendees, creators for sync_enabled, sync for
    // sync_*): attendees tagged on photos (pass ids, never exported), each creator's
    // sync switch, and the outbox: bundles, the objects to upload, and what has been
    // published (so a later withdrawal becomes a tombstone).
    "CREATE TABLE photo_attendees (
        photo_id INTEGER NOT NULL REFERENCES photos (id),
        attendee TEXT NOT NULL,
        tagged_at INTEGER NOT NULL,
        PRIMARY KEY (photo_id, attendee)
    ) WITHOUT ROWID;
    CREATE INDEX photo_attendees_attendee ON photo_attendees (attendee);
    ALTER TABLE creators ADD COLUMN sync_enabled INTEGER NOT NULL DEFAULT 1;
    CREATE TABLE sync_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
    CREATE TABLE sync_bundles (
        sequence INTEGER PRIMARY KEY,
        sha256 TEXT NOT NULL,
        key_id TEXT NOT NULL,
        entries INTEGER NOT NULL,
        asset_bytes INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        uploaded_at INTEGER
    );
    CREATE TABLE sync_objects (
        key TEXT PRIMARY KEY,
        bundle INTEGER NOT NULL REFERENCES sync_bundles (sequence),
        kind TEXT NOT NULL,
        sha256 TEXT,
        size INTEGER NOT NULL,
        body BLOB,
        state TEXT NOT NULL DEFAULT 'pending',
        outcome TEXT,
        multipart_id TEXT,
        parts TEXT NOT NULL DEFAULT '[]',
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        done_at INTEGER
    ) WITHOUT ROWID;
    CREATE INDEX sync_objects_state ON sync_objects (state, bundle);
    CREATE TABLE sync_photos (
        photo_id INTEGER PRIMARY KEY REFERENCES photos (id),
        bundle INTEGER NOT NULL,
        tombstoned_in INTEGER
    );
    CREATE TABLE sync_attendees (
        pseudonym TEXT PRIMARY KEY,
        bundle INTEGER NOT NULL,
        tombstoned_in INTEGER
    ) WITHOUT ROWID;",
    // 9 (owner: sync): the SHA-256 of what was sent for a photo, when it is not the
    // original's (metadata removed; hardening item 2). Tombstones name it.
    "ALTER TABLE sync_photos ADD COLUMN sent_sha256 TEXT;",
    // 10 (owner: delivery): photos that are an attendee's pass QR photographed by the
    // creator (issue 14, QR-card tagging): they tag the frames that follow and are kept
    // out of every gallery.
    "CREATE TABLE delivery_pass_frames (
        photo_id INTEGER PRIMARY KEY REFERENCES photos (id),
        attendee TEXT NOT NULL,
        found_at INTEGER NOT NULL
    );",
    // 11 (owners: ingest for photos, consent for consent_events and attendance):
    // whether the clock was trusted when the row was written (`clock::Stamp`; NULL for
    // rows written before this migration: unknown).
    "ALTER TABLE photos ADD COLUMN clock_trusted INTEGER;
     ALTER TABLE consent_events ADD COLUMN clock_trusted INTEGER;
     ALTER TABLE attendance ADD COLUMN clock_trusted INTEGER;",
    // 12 (owner: delivery): tagging photos to attendees (issue 14, item 3). Every photo
    // the tagger has searched for a pass QR, with the order it is tagged in (EXIF
    // capture time on the camera's clock, else arrival); passes scanned or typed at a
    // creator's stall (they tag the creator's photos that arrive after the photo
    // `after_photo_id`); and why each delivery tag exists (`frame`, `scan`, `typed`,
    // or `hand`, where a `hand` row with removed = 1 undoes an automatic tag).
    // Attendees are named by pseudonym: a pass id is a bearer secret.
    "CREATE TABLE delivery_frames (
        photo_id INTEGER PRIMARY KEY REFERENCES photos (id),
        creator_id INTEGER NOT NULL,
        captured_at INTEGER,
        received_at INTEGER NOT NULL,
        searched_at INTEGER NOT NULL,
        qr_ms REAL
    );
    CREATE INDEX delivery_frames_creator ON delivery_frames (creator_id, photo_id);
    CREATE TABLE delivery_stall_scans (
        id INTEGER PRIMARY KEY,
        creator_id INTEGER NOT NULL REFERENCES creators (id),
        attendee TEXT NOT NULL,
        via TEXT NOT NULL CHECK (via IN ('scan', 'typed')),
        after_photo_id INTEGER NOT NULL,
        at INTEGER NOT NULL
    );
    CREATE INDEX delivery_stall_scans_creator ON delivery_stall_scans (creator_id, id);
    CREATE TABLE delivery_tags (
        photo_id INTEGER NOT NULL REFERENCES photos (id),
        attendee TEXT NOT NULL,
        source TEXT NOT NULL CHECK (source IN ('frame', 'scan', 'typed', 'hand')),
        removed INTEGER NOT NULL DEFAULT 0 CHECK (removed IN (0, 1)),
        at INTEGER NOT NULL,
        PRIMARY KEY (photo_id, attendee, source)
    ) WITHOUT ROWID;",
    // 13 (owner: delivery): what the creator marked public (issue 14, galleries): per
    // photo, and each creator's default for photos they did not mark.
    "CREATE TABLE delivery_photo_public (
        photo_id INTEGER PRIMARY KEY REFERENCES photos (id),
        public INTEGER NOT NULL CHECK (public IN (0, 1)),
        set_at INTEGER NOT NULL
    );
    CREATE TABLE delivery_creator_public (
        creator_id INTEGER PRIMARY KEY REFERENCES creators (id),
        public INTEGER NOT NULL CHECK (public IN (0, 1)),
        set_at INTEGER NOT NULL
    );",
    // 14 (owner: delivery): orders (one attendee, one creator; the attendee's pass id
    // stays on the box, its pseudonym is what sync exports), their priced lines with the
    // co-op split, and the photos each order delivers.
    "CREATE TABLE delivery_orders (
        id INTEGER PRIMARY KEY,
        code TEXT NOT NULL UNIQUE,
        attendee TEXT NOT NULL,
        pseudonym TEXT NOT NULL,
        creator_id INTEGER NOT NULL REFERENCES creators (id),
        currency TEXT NOT NULL,
        total_minor INTEGER NOT NULL CHECK (total_minor >= 0),
        state TEXT NOT NULL CHECK (state IN ('pending', 'paid', 'free', 'cancelled')),
        created_at INTEGER NOT NULL,
        decided_at INTEGER,
        decided_by TEXT
    );
    CREATE INDEX delivery_orders_attendee ON delivery_orders (attendee);
    CREATE INDEX delivery_orders_creator ON delivery_orders (creator_id, state);
    CREATE TABLE delivery_order_lines (
        order_id INTEGER NOT NULL REFERENCES delivery_orders (id),
        line INTEGER NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('photo', 'bundle')),
        photo_id INTEGER REFERENCES photos (id),
        price_minor INTEGER NOT NULL CHECK (price_minor >= 0),
        creator_minor INTEGER NOT NULL CHECK (creator_minor >= 0),
        organiser_minor INTEGER NOT NULL CHECK (organiser_minor >= 0),
        PRIMARY KEY (order_id, line)
    ) WITHOUT ROWID;
    CREATE TABLE delivery_order_photos (
        order_id INTEGER NOT NULL REFERENCES delivery_orders (id),
        photo_id INTEGER NOT NULL REFERENCES photos (id),
        PRIMARY KEY (order_id, photo_id)
    ) WITHOUT ROWID;
    CREATE INDEX delivery_order_photos_photo ON delivery_order_photos (photo_id);",
    // 15 (owner: delivery): download links (signed tokens naming an order, counted
    // uses) and the append-only record of every download attempt.
    "CREATE TABLE delivery_links (
        id INTEGER PRIMARY KEY,
        order_id INTEGER NOT NULL REFERENCES delivery_orders (id),
        token TEXT NOT NULL UNIQUE,
        issued_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        uses_allowed INTEGER NOT NULL CHECK (uses_allowed >= 1),
        uses INTEGER NOT NULL DEFAULT 0 CHECK (uses >= 0 AND uses <= uses_allowed),
        revoked_at INTEGER
    );
    CREATE INDEX delivery_links_order ON delivery_links (order_id);
    CREATE TABLE delivery_downloads (
        id INTEGER PRIMARY KEY,
        link_id INTEGER,
        photo_id INTEGER,
        at INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        outcome TEXT NOT NULL
    );
    CREATE INDEX delivery_downloads_at ON delivery_downloads (at);
    CREATE TRIGGER delivery_downloads_no_update BEFORE UPDATE ON delivery_downloads
        BEGIN SELECT RAISE(ABORT, 'delivery_downloads is append-only'); END;
    CREATE TRIGGER delivery_downloads_no_delete BEFORE DELETE ON delivery_downloads
        BEGIN SELECT RAISE(ABORT, 'delivery_downloads is append-only'); END;",
    // 16 (owner: delivery): what happened to each order, in order (placed, paid, free,
    // cancelled): the stream sync publishes, as consent events are.
    "CREATE TABLE delivery_order_events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        order_id INTEGER NOT NULL REFERENCES delivery_orders (id),
        event TEXT NOT NULL CHECK (event IN ('placed', 'paid', 'free', 'cancelled')),
        at INTEGER NOT NULL
    );",
    // 17 (owner: auth): creators' page sessions (issue 14, the vendor page): the upload
    // token exchanged for a session cookie; like admin sessions, only hashes stored.
    "CREATE TABLE creator_sessions (
        token_hash BLOB PRIMARY KEY,
        creator_id INTEGER NOT NULL REFERENCES creators (id),
        csrf_token TEXT NOT NULL,
        client TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX creator_sessions_expiry ON creator_sessions (expires_at);",
    // 18 (owner: event): prices and the co-op split set on the admin pages (issue 16),
    // over the config file's `[delivery]`: row 0 the event's own (a NULL keeps the
    // file's value), one row per creator with their own prices.
    "CREATE TABLE event_prices (
        creator_id INTEGER PRIMARY KEY,
        photo_price INTEGER,
        bundle_price INTEGER,
        organiser_percent INTEGER,
        updated_at INTEGER NOT NULL
    );",
    // 19 (owner: ingest): every refused upload request, when, how it came and why
    // (issue 16, the dashboard's refusals by reason); append-only.
    "CREATE TABLE ingest_refusals (
        id INTEGER PRIMARY KEY,
        at INTEGER NOT NULL,
        source TEXT NOT NULL CHECK (source IN ('ftp', 'tus', 'import')),
        reason TEXT NOT NULL
    );
    CREATE INDEX ingest_refusals_at ON ingest_refusals (at);
    CREATE TRIGGER ingest_refusals_no_update BEFORE UPDATE ON ingest_refusals
        BEGIN SELECT RAISE(ABORT, 'ingest_refusals is append-only'); END;",
    // 20 (owner: delivery): gallery page views per minute and page (`gallery`, `mine`),
    // counted in memory and added here every half minute; no attendee is named.
    "CREATE TABLE delivery_gallery_views (
        minute INTEGER NOT NULL,
        page TEXT NOT NULL,
        views INTEGER NOT NULL,
        PRIMARY KEY (minute, page)
    ) WITHOUT ROWID;",
    // 21 (owner: creators): each creator's logo on the watermark (issue 17, item 6):
    // the PNG as uploaded (checked and at most 1 MiB, `media::logo`), its SHA-256 (the
    // logo's identity in caches) and size. A row is replaced or deleted in one
    // transaction, so a power cut leaves the old logo or the new one, never part.
    "CREATE TABLE creator_logos (
        creator_id INTEGER PRIMARY KEY REFERENCES creators(id),
        png BLOB NOT NULL,
        sha256 BLOB NOT NULL,
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        set_at INTEGER NOT NULL
    );",
    // 22 (owner: ingest): `ingest_refusals` (19) is append-only for deletes too, as
    // `delivery_downloads` is; 19 refused only updates.
    "CREATE TRIGGER ingest_refusals_no_delete BEFORE DELETE ON ingest_refusals
        BEGIN SELECT RAISE(ABORT, 'ingest_refusals is append-only'); END;",
];

/// Creates the data dir if missing (mode 0700) and checks it accepts files, then opens
/// (and migrates) the database. Shared by the service and the CLI's state-changing
/// commands, so both work on the same data the same way.
pub fn open_store(config: &crate::config::Config) -> anyhow::Result<Store> {
    use anyhow::Context as _;
    let dir = &config.storage.data_dir;
    crate::files::create_dir(dir, 0o700)
        .and_then(|()| crate::files::check_writable(dir))
        .with_context(|| format!("data dir {} is not writable", dir.display()))?;
    let options = StoreOptions {
        readers: config.storage.readers,
        busy_timeout: Duration::from_millis(config.storage.busy_timeout_ms),
    };
    let store = Store::open(&crate::files::layout::database(dir), &options)?;
    Ok(store)
}

/// An in-memory database with every migration applied, for unit tests of the
/// table owners' functions.
#[cfg(test)]
pub(crate) fn memory_for_tests() -> Connection {
    let conn = Connection::open_in_memory().expect("in-memory database");
    conn.execute_batch(&MIGRATIONS.join(";\n"))
        .expect("migrations apply");
    conn
}

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Why the store could not be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file exists but is not an SQLite database (corrupt, or something else).
    #[error(
        "{path} is not an SQLite database; refusing to touch it (move it aside to start afresh)"
    )]
    NotADatabase {
        /// The database file.
        path: PathBuf,
    },
    /// An SQLite database of some other program.
    #[error("{path} is not a venuebox database; refusing to touch it")]
    Foreign {
        /// The database file.
        path: PathBuf,
    },
    /// Written by a newer venuebox: opening it could lose data the newer schema holds.
    #[error("{path} has schema version {found}, newer than this venuebox ({supported}); install the newer venuebox, never downgrade")]
    NewerSchema {
        /// The database file.
        path: PathBuf,
        /// Version found in the file.
        found: u32,
        /// Newest version this build knows.
        supported: u32,
    },
    /// The store was closed at shutdown.
    #[error("the store is closed")]
    Closed,
    /// A blocking task panicked or was cancelled.
    #[error("database task failed: {0}")]
    Task(String),
    /// Reading the file header failed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The database file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// SQLite said no.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

impl StoreError {
    /// True when the database could not grow because its filesystem is full:
    /// `SQLITE_FULL` (<https://www.sqlite.org/rescode.html#full>), or an I/O error
    /// that is `ENOSPC`/`EDQUOT` ([`crate::files::is_disk_full`]). SQLite rolls the
    /// transaction back; the same write succeeds once space is freed.
    pub fn is_disk_full(&self) -> bool {
        match self {
            StoreError::Sqlite(e) => e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull),
            StoreError::Io { source, .. } => crate::files::is_disk_full(source),
            _ => false,
        }
    }
}

/// Tuning of a store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Read-only connections in the pool.
    pub readers: usize,
    /// How long to wait for another process's lock.
    pub busy_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            readers: 4,
            busy_timeout: Duration::from_secs(5),
        }
    }
}

/// A cheap, cloneable handle on the database.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

struct Inner {
    path: PathBuf,
    /// `None` once closed.
    writer: Mutex<Option<Connection>>,
    readers: Mutex<Vec<Connection>>,
    /// One permit per reader connection, so a reader is always there for a permit holder.
    reader_permits: Semaphore,
    /// Write transactions this process has finished (see [`Store::commits`]).
    commits: std::sync::atomic::AtomicU64,
}

impl Store {
    /// Opens (creating if missing) and migrates the database at `path`. Blocking: call
    /// at start-up or from a blocking context.
    pub fn open(path: &Path, options: &StoreOptions) -> Result<Store, StoreError> {
        Self::open_at(path, options, SCHEMA_VERSION)
    }

    /// Creates or opens a database migrated only up to `version`. For tests of
    /// upgrades from an earlier schema; the service always uses [`Store::open`].
    #[doc(hidden)]
    pub fn open_at(path: &Path, options: &StoreOptions, version: u32) -> Result<Store, StoreError> {
        check_header(path)?;
        let writer = connect(path, options, false)?;
        check_identity(&writer, path)?;
        writer.pragma_update(None, "journal_mode", "WAL")?;
        migrate(&writer, version.min(SCHEMA_VERSION), path)?;
        let mut readers = Vec::with_capacity(options.readers);
        for _ in 0..options.readers.max(1) {
            readers.push(connect(path, options, true)?);
        }
        Ok(Store {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                reader_permits: Semaphore::new(readers.len()),
                readers: Mutex::new(readers),
                writer: Mutex::new(Some(writer)),
                commits: std::sync::atomic::AtomicU64::new(0),
            }),
        })
    }

    /// How many write transactions this process has finished through this store,
    /// committed or rolled back; it grows after the transaction ends and before
    /// [`Store::write`] returns. A value read before a read and equal to the value read
    /// now proves that this process wrote nothing in between, which is how memos of
    /// what the database said stay true (`delivery::memo`). Writes by other processes
    /// (the CLI) are not counted: such memos also age out.
    pub fn commits(&self) -> u64 {
        self.inner
            .commits
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `f` in one write transaction on a blocking thread; commits if it returns
    /// `Ok`, rolls back otherwise. The transaction starts IMMEDIATE, so it takes the
    /// write lock up front and waits (busy timeout) rather than failing half-way.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Transaction<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let store = self.clone();
        run_blocking(move || store.write_blocking(f)).await?
    }

    /// [`Store::write`] for plain SQL work: `f` returns a rusqlite result.
    pub async fn write_sql<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Transaction<'_>) -> rusqlite::Result<T> + Send + 'static,
        T: Send + 'static,
    {
        self.write(move |tx| f(tx).map_err(StoreError::from)).await
    }

    /// [`Store::read`] for plain SQL work: `f` returns a rusqlite result.
    pub async fn read_sql<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
        T: Send + 'static,
    {
        self.read(move |c| f(c).map_err(StoreError::from)).await
    }

    /// [`Store::write`] for callers already on a blocking thread (the CLI).
    pub fn write_blocking<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Transaction<'_>) -> Result<T, E>,
        E: From<StoreError>,
    {
        let mut guard = self.inner.writer.lock().unwrap_or_else(|e| e.into_inner());
        let conn = guard.as_mut().ok_or(StoreError::Closed)?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StoreError::from)?;
        let result = f(&tx).and_then(|value| {
            tx.commit().map_err(StoreError::from)?;
            Ok(value)
        });
        // Counted whatever the outcome, while the write lock is still held.
        self.inner
            .commits
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        result
    }

    /// Runs `f` on a read-only connection on a blocking thread.
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let _permit = self
            .inner
            .reader_permits
            .acquire()
            .await
            .map_err(|_| StoreError::Closed)?;
        let store = self.clone();
        run_blocking(move || store.read_blocking(f)).await?
    }

    /// [`Store::read`] for callers already on a blocking thread.
    pub fn read_blocking<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E>,
        E: From<StoreError>,
    {
        let conn = {
            let mut readers = self.inner.readers.lock().unwrap_or_else(|e| e.into_inner());
            readers.pop()
        };
        // Without a pooled connection (blocking callers do not hold permits, or the
        // pool is closed) open a short-lived one rather than wait.
        let conn = match conn {
            Some(conn) => conn,
            None => {
                if self
                    .inner
                    .writer
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .is_none()
                {
                    return Err(StoreError::Closed.into());
                }
                connect(&self.inner.path, &StoreOptions::default(), true).map_err(E::from)?
            }
        };
        let result = f(&conn);
        self.inner
            .readers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(conn);
        result
    }

    /// True when the database answers a query.
    pub async fn healthy(&self) -> bool {
        self.read(|conn| {
            conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| {
                r.get::<_, i64>(0)
            })
            .map_err(StoreError::from)
        })
        .await
        .is_ok()
    }

    /// A round trip through the writer: takes the write lock (an IMMEDIATE
    /// transaction, waiting at most the busy timeout), reads the schema, commits an
    /// empty transaction. Changes nothing and writes no page. Fails when another
    /// process holds the database's write lock past the busy timeout, when the file
    /// cannot be read, or after [`Store::close`]. The watchdog's database check.
    pub async fn write_round_trip(&self) -> Result<(), StoreError> {
        self.write_sql(|tx| {
            tx.query_row("SELECT count(*) FROM sqlite_schema", [], |r| {
                r.get::<_, i64>(0)
            })
        })
        .await
        .map(|_| ())
    }

    /// Flushes the WAL into the main file and closes every connection. Later calls to
    /// the store answer [`StoreError::Closed`]. On a full disk
    /// ([`StoreError::is_disk_full`]) the WAL is left for the next start and the close
    /// still succeeds.
    pub async fn close(&self) -> Result<(), StoreError> {
        let store = self.clone();
        run_blocking(move || {
            store.inner.reader_permits.close();
            store
                .inner
                .readers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clear();
            let writer = store
                .inner
                .writer
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            if let Some(conn) = writer {
                // On a full disk neither can grow the main file: the WAL keeps every
                // commit and is checkpointed at the next start, so the store still
                // closes cleanly (nothing is lost; SQLite reads through the WAL).
                let flushed = conn
                    .pragma_update(None, "optimize", 0x10002)
                    .and_then(|()| {
                        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                    })
                    .map_err(StoreError::from);
                match flushed {
                    Err(e) if e.is_disk_full() => tracing::warn!(
                        error = %e,
                        "the disk is full: the WAL is kept and checkpointed at the next start"
                    ),
                    other => other?,
                }
                conn.close().map_err(|(_, e)| e)?;
            }
            Ok(())
        })
        .await?
    }
}

/// Runs blocking work on tokio's blocking pool, turning a panic into an error (the
/// panic message is kept so the log says what happened).
pub async fn run_blocking<T, F>(f: F) -> Result<T, StoreError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        if e.is_panic() {
            let panic = e.into_panic();
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".into());
            StoreError::Task(message)
        } else {
            StoreError::Task("cancelled".into())
        }
    })
}

/// Refuses a file that exists, is non-empty, and does not start with SQLite's magic
/// header: it is corrupt or something else, and SQLite must not "repair" it.
fn check_header(path: &Path) -> Result<(), StoreError> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(StoreError::Io {
                path: path.into(),
                source,
            })
        }
    };
    let mut header = [0u8; 16];
    let mut read = 0;
    while read < header.len() {
        match file.read(&mut header[read..]) {
            Ok(0) => break,
            Ok(n) => read += n,
            Err(source) => {
                return Err(StoreError::Io {
                    path: path.into(),
                    source,
                })
            }
        }
    }
    if read == 0 || &header[..read] == b"SQLite format 3\0" {
        Ok(())
    } else {
        Err(StoreError::NotADatabase { path: path.into() })
    }
}

fn connect(path: &Path, options: &StoreOptions, read_only: bool) -> Result<Connection, StoreError> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI
    };
    let conn = Connection::open_with_flags(path, flags).map_err(|e| not_a_database(e, path))?;
    conn.busy_timeout(options.busy_timeout)?;
    conn.pragma_update(None, "foreign_keys", true)?;
    // See the module comment: FULL so that an acknowledged commit survives a power cut.
    conn.pragma_update(None, "synchronous", "FULL")?;
    if read_only {
        conn.pragma_update(None, "query_only", true)?;
    }
    Ok(conn)
}

fn not_a_database(e: rusqlite::Error, path: &Path) -> StoreError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) => StoreError::NotADatabase { path: path.into() },
        _ => StoreError::Sqlite(e),
    }
}

/// Refuses a database that belongs to another program or to a newer venuebox, before
/// anything is written to it.
fn check_identity(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let app_id: i32 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .map_err(|e| not_a_database(e, path))?;
    let version: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let objects: i64 = conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))?;
    let ours = app_id == APPLICATION_ID || (app_id == 0 && version == 0 && objects == 0);
    if !ours {
        return Err(StoreError::Foreign { path: path.into() });
    }
    if version > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            path: path.into(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(())
}

/// Applies the migrations between the file's version and `target`, all in one
/// transaction: a power cut leaves the file at its old version, never in between.
fn migrate(conn: &Connection, target: u32, path: &Path) -> Result<(), StoreError> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let result = (|| {
        // Read again under the lock: another process may have migrated meanwhile.
        check_identity(conn, path)?;
        let current: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        for (i, sql) in MIGRATIONS
            .iter()
            .enumerate()
            .take(target as usize)
            .skip(current as usize)
        {
            conn.execute_batch(sql)?;
            tracing::info!(version = i + 1, "applied schema migration");
        }
        if target > current {
            conn.pragma_update(None, "application_id", APPLICATION_ID)?;
            conn.pragma_update(None, "user_version", target)?;
        }
        Ok(())
    })();
    match result {
        Ok(()) => Ok(conn.execute_batch("COMMIT")?),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

use crate::clock::now;

/// Appends to the audit log. `actor` says who (`admin`, `cli`, `system`), `action`
/// what (`creator.add`), `detail` the object; never a secret.
pub fn audit(conn: &Connection, actor: &str, action: &str, detail: &str) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO audit_log (at, actor, action, detail) VALUES (?1, ?2, ?3, ?4)",
        rusqlite::params![now(), actor, action, detail],
    )?;
    Ok(())
}

/// One audit log entry.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AuditEntry {
    /// Seconds since the epoch.
    pub at: i64,
    /// Who did it.
    pub actor: String,
    /// What was done.
    pub action: String,
    /// To what.
    pub detail: String,
}

/// The most recent `limit` audit entries, newest first.
pub fn recent_audit(conn: &Connection, limit: u32) -> rusqlite::Result<Vec<AuditEntry>> {
    let mut stmt =
        conn.prepare("SELECT at, actor, action, detail FROM audit_log ORDER BY id DESC LIMIT ?1")?;
    let rows = stmt.query_map([limit], row_to_audit)?;
    rows.collect()
}

/// The most recent `limit` audit entries of `actor` (e.g. `creator:7`), newest first.
pub fn recent_audit_of(
    conn: &Connection,
    actor: &str,
    limit: u32,
) -> rusqlite::Result<Vec<AuditEntry>> {
    let mut stmt = conn.prepare(
        "SELECT at, actor, action, detail FROM audit_log WHERE actor = ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(rusqlite::params![actor, limit], row_to_audit)?;
    rows.collect()
}

/// Which audit entries to read: each field narrows, `None` does not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Entries whose actor starts with this (`admin`, `creator:7`, `creator:` for all
    /// creators).
    pub actor: Option<String>,
    /// Entries whose action starts with this (`creator.`, `delivery.confirm`).
    pub action: Option<String>,
    /// Entries at or after this time (seconds since the epoch).
    pub since: Option<i64>,
    /// Entries before this time (seconds since the epoch).
    pub until: Option<i64>,
}

/// The newest `limit` audit entries that `filter` lets through, newest first.
pub fn audit_filtered(
    conn: &Connection,
    filter: &AuditFilter,
    limit: u32,
) -> rusqlite::Result<Vec<AuditEntry>> {
    // Prefixes compared with substr, not LIKE: a `%` or `_` typed into the filter is
    // a plain character.
    let mut stmt = conn.prepare(
        "SELECT at, actor, action, detail FROM audit_log
         WHERE (?1 IS NULL OR substr(actor, 1, length(?1)) = ?1)
           AND (?2 IS NULL OR substr(action, 1, length(?2)) = ?2)
           AND (?3 IS NULL OR at >= ?3)
           AND (?4 IS NULL OR at < ?4)
         ORDER BY id DESC LIMIT ?5",
    )?;
    let rows = stmt.query_map(
        rusqlite::params![
            filter.actor,
            filter.action,
            filter.since,
            filter.until,
            limit
        ],
        row_to_audit,
    )?;
    rows.collect()
}

fn row_to_audit(r: &rusqlite::Row<'_>) -> rusqlite::Result<AuditEntry> {
    Ok(AuditEntry {
        at: r.get(0)?,
        actor: r.get(1)?,
        action: r.get(2)?,
        detail: r.get(3)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> StoreOptions {
        StoreOptions::default()
    }

    #[tokio::test]
    async fn writes_are_visible_to_readers_and_other_processes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("venuebox.db");
        let store = Store::open(&path, &opts()).unwrap();
        store
            .write(|tx| audit(tx, "test", "x", "y").map_err(StoreError::from))
            .await
            .unwrap();
        // A second handle stands in for the CLI opening the same file.
        let other = Store::open(&path, &opts()).unwrap();
        other
            .write_blocking(|tx| audit(tx, "cli", "z", "").map_err(StoreError::from))
            .unwrap();
        let n: i64 = store
            .read(|c| {
                c.query_row("SELECT count(*) FROM audit_log", [], |r| r.get(0))
                    .map_err(StoreError::from)
            })
            .await
            .unwrap();
        assert_eq!(n, 2);
        store.close().await.unwrap();
        assert!(matches!(
            store
                .write(|tx| audit(tx, "t", "x", "").map_err(StoreError::from))
                .await,
            Err(StoreError::Closed)
        ));
    }

    #[tokio::test]
    async fn failed_write_rolls_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db"), &opts()).unwrap();
        let r: Result<(), StoreError> = store
            .write(|tx| {
                audit(tx, "t", "x", "")?;
                Err(StoreError::Task("deliberate".into()))
            })
            .await;
        assert!(r.is_err());
        let n: i64 = store
            .read(|c| {
                c.query_row("SELECT count(*) FROM audit_log", [], |r| r.get(0))
                    .map_err(StoreError::from)
            })
            .await
            .unwrap();
        assert_eq!(n, 0);
    }

    #[test]
    fn pragmas_are_set() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db"), &opts()).unwrap();
        store
            .write_blocking(|tx| {
                let mode: String = tx.pragma_query_value(None, "journal_mode", |r| r.get(0))?;
                let sync: i64 = tx.pragma_query_value(None, "synchronous", |r| r.get(0))?;
                let fk: i64 = tx.pragma_query_value(None, "foreign_keys", |r| r.get(0))?;
                assert_eq!((mode.as_str(), sync, fk), ("wal", 2, 1));
                Ok::<_, StoreError>(())
            })
            .unwrap();
    }
}
