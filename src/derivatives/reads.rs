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
