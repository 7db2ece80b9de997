//! Delivery's reads across owners: stored photos (`photos`, ingest's) with a finished
//! render (`renders`, derivatives') that the tagger has not searched yet
//! (`delivery_frames`, ours); the newest photo of a creator; tags (`delivery_tags`,
//! ours) of a creator's photos. Read only.

use rusqlite::{params, Connection};

use crate::ingest::Photo;

/// Photos rendered (`done`) but not yet searched for a pass QR, oldest first, at most
/// `limit`: the tagger's backlog after a restart or a burst.
pub fn unsearched_photos(conn: &Connection, limit: u32) -> rusqlite::Result<Vec<i64>> {
    let mut stmt = conn.prepare(
        "SELECT p.id FROM photos p JOIN renders r ON r.photo_id = p.id
         WHERE r.state = 'done'
           AND NOT EXISTS (SELECT 1 FROM delivery_frames f WHERE f.photo_id = p.id)
         ORDER BY p.id LIMIT ?1",
    )?;
    let ids = stmt.query_map([limit], |r| r.get(0))?;
    ids.collect()
}

/// The id of the creator's newest stored photo (0 if none): a stall scan tags the
/// photos after it.
pub fn last_photo_of(conn: &Connection, creator_id: i64) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT coalesce(max(id), 0) FROM photos WHERE creator_id = ?1",
        [creator_id],
        |r| r.get(0),
    )
}

/// One tag of a creator's photo, as the vendor API lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TagRow {
    /// The photo.
    pub photo_id: i64,
    /// The attendee's pseudonym.
    pub attendee: String,
    /// `frame` (after their pass frame), `scan` or `typed` (at the stall), `hand`.
    pub source: String,
    /// A `hand` row that removed an automatic tag.
    pub removed: bool,
    /// When it was made, seconds since the epoch.
    pub at: i64,
}

/// The tags of a creator's photos, newest photo first, at most `limit`, only photos
/// with an id below `before` (keyset paging).
pub fn tags_of_creator(
    conn: &Connection,
    creator_id: i64,
    before: i64,
    limit: u32,
) -> rusqlite::Result<Vec<TagRow>> {
    let mut stmt = conn.prepare(
        "SELECT t.photo_id, t.attendee, t.source, t.removed, t.at
         FROM delivery_tags t JOIN photos p ON p.id = t.photo_id
         WHERE p.creator_id = ?1 AND t.photo_id < ?2
         ORDER BY t.photo_id DESC, t.source, t.attendee LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![creator_id, before, limit], |r| {
        Ok(TagRow {
            photo_id: r.get(0)?,
            attendee: r.get(1)?,
            source: r.get(2)?,
            removed: r.get::<_, i64>(3)? != 0,
            at: r.get(4)?,
        })
    })?;
    rows.collect()
}

/// The photo, if it is the creator's (the by-hand API's check).
pub fn photo_of_creator(
    conn: &Connection,
    photo_id: i64,
    creator_id: i64,
) -> rusqlite::Result<Option<Photo>> {
    Ok(crate::ingest::photo_by_id(conn, photo_id)?.filter(|p| p.creator_id == creator_id))
}
