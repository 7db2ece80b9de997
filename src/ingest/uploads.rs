//! The `uploads` table (owned by ingest): resumable uploads in progress, one row per
//! tus upload with its creator, declared length, durable offset, metadata and expiry,
//! and the photo it became once committed. Plain functions on a connection so the tus
//! edge composes them in its own transactions; the protocol itself is `web::tus`.

use std::collections::HashSet;

use rusqlite::{Connection, OptionalExtension};

/// An upload as stored.
#[derive(Debug, Clone)]
pub struct Upload {
    /// The creator who made it (only they may touch it).
    pub creator_id: i64,
    /// Declared length in bytes; `None` while deferred (tus creation-defer-length).
    pub length: Option<u64>,
    /// Bytes received and fsynced.
    pub offset: u64,
    /// The `Upload-Metadata` header as received.
    pub metadata: String,
    /// When an unfinished upload expires (seconds since the epoch).
    pub expires_at: i64,
    /// The photo it became, once committed.
    pub photo_id: Option<i64>,
}

/// The upload `id`, if it exists.
pub fn get(conn: &Connection, id: &str) -> rusqlite::Result<Option<Upload>> {
    conn.query_row(
        "SELECT creator_id, length, offset, metadata, expires_at, photo_id FROM uploads WHERE id = ?1",
        [id],
        |r| {
            Ok(Upload {
                creator_id: r.get(0)?,
                length: r.get::<_, Option<i64>>(1)?.map(|n| n as u64),
                offset: r.get::<_, i64>(2)? as u64,
                metadata: r.get(3)?,
                expires_at: r.get(4)?,
                photo_id: r.get(5)?,
            })
        },
    )
    .optional()
}

/// Bytes `creator_id`'s unfinished uploads hold in `uploads/` (their durable
/// offsets): counted against the creator's quota with their photos.
pub fn unfinished_bytes(conn: &Connection, creator_id: i64) -> rusqlite::Result<u64> {
    conn.query_row(
        "SELECT coalesce(sum(offset), 0) FROM uploads WHERE creator_id = ?1 AND photo_id IS NULL",
        [creator_id],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n as u64)
}

/// Records a new upload at offset 0, created now, unless the creator already has
/// `max_open` unfinished uploads: then `Ok(false)` and nothing is recorded. Call it in
/// a write transaction, so a burst of creations cannot all pass the count.
pub fn create(
    conn: &Connection,
    id: &str,
    creator_id: i64,
    length: Option<u64>,
    metadata: &str,
    expires_at: i64,
    max_open: u64,
) -> rusqlite::Result<bool> {
    // A finished upload keeps its row (with its photo) until it expires, so HEAD still
    // answers; it is not open any more and does not count.
    let open: i64 = conn.query_row(
        "SELECT count(*) FROM uploads WHERE creator_id = ?1 AND photo_id IS NULL",
        [creator_id],
        |r| r.get(0),
    )?;
    if open as u64 >= max_open {
        return Ok(false);
    }
    conn.execute(
        "INSERT INTO uploads (id, creator_id, length, offset, metadata, created_at, expires_at)
         VALUES (?1, ?2, ?3, 0, ?4, ?5, ?6)",
        rusqlite::params![
            id,
            creator_id,
            length.map(|l| l as i64),
            metadata,
            crate::clock::now(),
            expires_at
        ],
    )?;
    Ok(true)
}

/// Records bytes received (after they were fsynced): the new offset, the length (a
/// deferred length may have been declared) and the pushed-back expiry. `Ok(false)`:
/// the upload's row is gone (it expired or was terminated), so nothing was recorded.
pub fn set_progress(
    conn: &Connection,
    id: &str,
    offset: u64,
    length: Option<u64>,
    expires_at: i64,
) -> rusqlite::Result<bool> {
    let n = conn.execute(
        "UPDATE uploads SET offset = ?2, length = ?3, expires_at = ?4 WHERE id = ?1",
        rusqlite::params![id, offset as i64, length.map(|l| l as i64), expires_at],
    )?;
    Ok(n > 0)
}

/// Records the photo a finished upload became.
pub fn set_photo(conn: &Connection, id: &str, photo_id: i64) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE uploads SET photo_id = ?2 WHERE id = ?1",
        rusqlite::params![id, photo_id],
    )?;
    Ok(())
}

/// Forgets an upload's row (its bytes are the caller's to remove).
pub fn delete(conn: &Connection, id: &str) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM uploads WHERE id = ?1", [id])?;
    Ok(())
}

/// The condition of an upload that may be removed at `:now`: expired, and not one
/// whose last byte arrived but whose commit a crash interrupted (finished instead).
const EXPIRED: &str = "expires_at <= :now AND NOT (photo_id IS NULL AND offset IS length)";

/// The ids of uploads expired at `now` (see [`delete_expired`]).
pub fn expired(conn: &Connection, now: i64) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare(&format!("SELECT id FROM uploads WHERE {EXPIRED}"))?;
    let rows = stmt.query_map(rusqlite::named_params! { ":now": now }, |r| r.get(0))?;
    rows.collect()
}

/// Removes upload `id`'s row if it is still expired at `now` (a PATCH that ended
/// meanwhile pushed its expiry on). Returns whether it was removed.
pub fn delete_expired(conn: &Connection, id: &str, now: i64) -> rusqlite::Result<bool> {
    let n = conn.execute(
        &format!("DELETE FROM uploads WHERE id = :id AND {EXPIRED}"),
        rusqlite::named_params! { ":id": id, ":now": now },
    )?;
    Ok(n > 0)
}

/// Every upload id with a row.
pub fn ids(conn: &Connection) -> rusqlite::Result<HashSet<String>> {
    let mut stmt = conn.prepare("SELECT id FROM uploads")?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    rows.collect()
}

/// Uploads whose last byte arrived but that never became a photo (a crash between
/// the last PATCH and the commit): `(id, creator_id, metadata)`.
pub fn interrupted(conn: &Connection) -> rusqlite::Result<Vec<(String, i64, String)>> {
    let mut stmt = conn.prepare(
        "SELECT id, creator_id, metadata FROM uploads
         WHERE photo_id IS NULL AND length IS NOT NULL AND offset = length",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    rows.collect()
}
