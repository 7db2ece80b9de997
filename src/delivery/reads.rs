//! Delivery's reads across owners, read only: `photos` (ingest), `renders`
//! (derivatives), `photo_attendees` and `consent_events` (consent), `creators`, and
//! delivery's own `delivery_pass_frames`, `delivery_photo_public`,
//! `delivery_creator_public`, `delivery_orders`, `delivery_order_photos`,
//! `delivery_frames` and `delivery_tags`.
//!
//! The galleries are keyset-paginated, newest first: a page is the photos whose id is
//! below the cursor (the last id of the page before), so a page costs the same however
//! deep it is and a photo arriving meanwhile does not shift the pages. The tagger reads
//! the photos rendered but not yet searched for a pass QR, a creator's newest photo,
//! and the tags of a creator's photos.

use std::sync::LazyLock;

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use crate::delivery::policy::{PhotoFacts, Viewer};
use crate::ingest::Photo;

/// The SQL condition "photo `p` is public now": marked public (or its creator's
/// default is, and it is not marked), and no attendee tagged on it has a current
/// decision on `gallery` other than a grant (an erased attendee's tag, which has no
/// consent at all, keeps it out).
const PUBLIC: &str = "COALESCE(
        (SELECT pp.public FROM delivery_photo_public pp WHERE pp.photo_id = p.id),
        (SELECT cp.public FROM delivery_creator_public cp WHERE cp.creator_id = p.creator_id),
        0) = 1
    AND NOT EXISTS (
        SELECT 1 FROM photo_attendees pa WHERE pa.photo_id = p.id
        AND COALESCE((SELECT ce.granted FROM consent_events ce
                      WHERE ce.attendee = pa.attendee AND ce.scope = 'gallery'
                      ORDER BY ce.seq DESC LIMIT 1), 0) = 0)";

/// The SQL condition "photo `p` may be listed in a gallery at all": not a pass frame,
/// not a RAW file (no preview), and its render did not fail (a photo appears as soon as
/// it is stored; its thumb is served once rendered).
const LISTABLE: &str = "p.raw = 0
    AND NOT EXISTS (SELECT 1 FROM delivery_pass_frames f WHERE f.photo_id = p.id)
    AND NOT EXISTS (SELECT 1 FROM renders r WHERE r.photo_id = p.id AND r.state != 'done')";

/// The SQL condition "photo `p` is in a paid or free order of attendee ?1".
const CONFIRMED_FOR: &str = "EXISTS (
        SELECT 1 FROM delivery_order_photos op JOIN delivery_orders o ON o.id = op.order_id
        WHERE op.photo_id = p.id AND o.attendee = ?1 AND o.state IN ('paid', 'free'))";

/// The facts [`crate::delivery::policy::may_view`] needs about photo `photo_id`, as
/// `viewer` sees it; `None` when there is no such photo.
pub fn facts(
    conn: &Connection,
    viewer: &Viewer,
    photo_id: i64,
) -> rusqlite::Result<Option<PhotoFacts>> {
    let attendee = match viewer {
        Viewer::Attendee(id) => id.as_str(),
        _ => "",
    };
    // Asked on every photo served: made once, and prepared once per connection.
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT p.creator_id,
                EXISTS (SELECT 1 FROM delivery_pass_frames f WHERE f.photo_id = p.id),
                {PUBLIC},
                EXISTS (SELECT 1 FROM photo_attendees t WHERE t.photo_id = p.id AND t.attendee = ?1 AND ?1 != ''),
                ({CONFIRMED_FOR} AND ?1 != '')
         FROM photos p WHERE p.id = ?2"
        )
    });
    let mut stmt = conn.prepare_cached(&SQL)?;
    stmt.query_row(params![attendee, photo_id], |r| {
        Ok(PhotoFacts {
            creator_id: r.get(0)?,
            pass_frame: r.get(1)?,
            public: r.get(2)?,
            tagged_to_viewer: r.get(3)?,
            confirmed_for_viewer: r.get(4)?,
        })
    })
    .optional()
}

/// One photo in a gallery page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GalleryPhoto {
    /// The photo's id.
    pub id: i64,
    /// Its creator.
    pub creator_id: i64,
    /// The creator's name.
    pub creator: String,
    /// Whether the viewing attendee has it in a paid or free order (so they see it
    /// unwatermarked); always false in the public gallery.
    pub confirmed: bool,
}

/// A page of a gallery: at most `limit` photos, and the cursor of the next page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GalleryPage {
    /// The photos, newest first.
    pub photos: Vec<GalleryPhoto>,
    /// Pass as `before` for the next page; `None` on the last page.
    pub next: Option<i64>,
}

fn page(
    conn: &Connection,
    sql: &str,
    attendee: &str,
    before: Option<i64>,
    limit: usize,
) -> rusqlite::Result<GalleryPage> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(
        params![attendee, before.unwrap_or(i64::MAX), limit as i64 + 1],
        |r| {
            Ok(GalleryPhoto {
                id: r.get(0)?,
                creator_id: r.get(1)?,
                creator: r.get(2)?,
                confirmed: r.get(3)?,
            })
        },
    )?;
    let mut photos = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    let next = if photos.len() > limit {
        photos.truncate(limit);
        photos.last().map(|p| p.id)
    } else {
        None
    };
    Ok(GalleryPage { photos, next })
}

/// A page of the public gallery: photos public now, newest first, below `before`.
pub fn public_gallery(
    conn: &Connection,
    before: Option<i64>,
    limit: usize,
) -> rusqlite::Result<GalleryPage> {
    let sql = format!(
        "SELECT p.id, p.creator_id, c.name, 0 FROM photos p JOIN creators c ON c.id = p.creator_id
         WHERE ?1 = '' AND p.id < ?2 AND {LISTABLE} AND {PUBLIC}
         ORDER BY p.id DESC LIMIT ?3"
    );
    page(conn, &sql, "", before, limit)
}

/// A page of "my photos": the photos tagged to `attendee` (a pass id), whatever the
/// gallery scope, newest first, below `before`.
pub fn my_photos(
    conn: &Connection,
    attendee: &str,
    before: Option<i64>,
    limit: usize,
) -> rusqlite::Result<GalleryPage> {
    let sql = format!(
        "SELECT p.id, p.creator_id, c.name, {CONFIRMED_FOR}
         FROM photo_attendees t JOIN photos p ON p.id = t.photo_id JOIN creators c ON c.id = p.creator_id
         WHERE t.attendee = ?1 AND p.id < ?2 AND {LISTABLE}
         ORDER BY p.id DESC LIMIT ?3"
    );
    page(conn, &sql, attendee, before, limit)
}

/// Every photo tagged to `attendee` from `creator_id` that a gallery may list, oldest
/// first: what an event-day bundle of that creator holds.
pub fn tagged_from(
    conn: &Connection,
    attendee: &str,
    creator_id: i64,
) -> rusqlite::Result<Vec<i64>> {
    let sql = format!(
        "SELECT p.id FROM photo_attendees t JOIN photos p ON p.id = t.photo_id
         WHERE t.attendee = ?1 AND p.creator_id = ?2 AND {LISTABLE} ORDER BY p.id"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![attendee, creator_id], |r| r.get(0))?;
    rows.collect()
}

/// The creator of each listable photo in `ids` tagged to `attendee` (the photos an
/// attendee may order singly); ids that are not theirs are left out.
pub fn orderable(
    conn: &Connection,
    attendee: &str,
    ids: &[i64],
) -> rusqlite::Result<Vec<(i64, i64)>> {
    let sql = format!(
        "SELECT p.id, p.creator_id FROM photo_attendees t JOIN photos p ON p.id = t.photo_id
         WHERE t.attendee = ?1 AND p.id = ?2 AND {LISTABLE}"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut found = Vec::new();
    for id in ids {
        if let Some(row) = stmt
            .query_row(params![attendee, id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?
        {
            found.push(row);
        }
    }
    Ok(found)
}

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
