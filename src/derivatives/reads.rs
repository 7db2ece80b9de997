//! The render queue's reads across owners: stored photos (`photos`, ingest's) that
//! have no row in `renders` (derivatives') yet. Read only.

use rusqlite::Connection;

/// How many stored photos have no render yet.
pub fn unrendered_count(conn: &Connection) -> rusqlite::Result<u64> {
    conn.query_row(
        "SELECT count(*) FROM photos p
         WHERE NOT EXISTS (SELECT 1 FROM renders r WHERE r.photo_id = p.id)",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n as u64)
}

/// The SHA-256 of every stored photo without a render, newest first.
pub fn unrendered(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare(
        "SELECT sha256 FROM photos WHERE id NOT IN (SELECT photo_id FROM renders) ORDER BY id DESC",
    )?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    rows.collect()
}

/// One of a creator's photos as their page lists it: what arrived and where its
/// previews stand.
#[derive(Debug, Clone, PartialEq)]
pub struct CreatorPhoto {
    /// The photo's id.
    pub id: i64,
    /// The file name it arrived under (from the camera, the uploader or the import).
    pub original_name: String,
    /// How it arrived: `ftp`, `tus` or `import`.
    pub source: String,
    /// When it was stored, seconds since the epoch.
    pub received_at: i64,
    /// Its size in bytes.
    pub size: u64,
    /// The render's state (`done`, `failed`, `raw`, `rendering`), `None` while no
    /// render has been tried.
    pub state: Option<String>,
    /// The render's recorded reason, for a failed or RAW photo.
    pub reason: Option<String>,
}

/// The newest `limit` photos of creator `creator` (newest first) with their render
/// state. Only that creator's photos: the page that shows them never sees another's.
pub fn photos_of_creator(
    conn: &Connection,
    creator: i64,
    limit: u32,
) -> rusqlite::Result<Vec<CreatorPhoto>> {
    let mut stmt = conn.prepare(
        "SELECT p.id, p.original_name, p.source, p.received_at, p.size, r.state, r.reason
         FROM photos p LEFT JOIN renders r ON r.photo_id = p.id
         WHERE p.creator_id = ?1 ORDER BY p.id DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(rusqlite::params![creator, limit], |r| {
        Ok(CreatorPhoto {
            id: r.get(0)?,
            original_name: r.get(1)?,
            source: r.get(2)?,
            received_at: r.get(3)?,
            size: r.get::<_, i64>(4)? as u64,
            state: r.get(5)?,
            reason: r.get(6)?,
        })
    })?;
    rows.collect()
}
