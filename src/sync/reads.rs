//! The reads of sync that join across owners, to decide what a cut publishes. Every
//! query here only reads; the tables it reads: `photos` (ingest), `creators`,
//! `photo_attendees`, `attendees`, `attendee_erasures`, `consent_events`, `attendance`
//! (consent), `delivery_order_events`, `delivery_orders`, `delivery_order_lines`
//! (delivery), and sync's own `sync_photos`, `sync_attendees`.

use rusqlite::Connection;

/// The pass ids of the attendees tagged on photo `photo_id`.
pub fn tagged_attendees(conn: &Connection, photo_id: i64) -> rusqlite::Result<Vec<String>> {
    let mut stmt =
        conn.prepare_cached("SELECT attendee FROM photo_attendees WHERE photo_id = ?1")?;
    let rows = stmt.query_map([photo_id], |r| r.get(0))?;
    rows.collect()
}

/// The pseudonyms of the attendees tagged on photo `photo_id`, sorted.
pub fn pseudonyms_of(conn: &Connection, photo_id: i64) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT a.pseudonym FROM photo_attendees t JOIN attendees a ON a.id = t.attendee
         WHERE t.photo_id = ?1 ORDER BY a.pseudonym",
    )?;
    let rows = stmt.query_map([photo_id], |r| r.get(0))?;
    rows.collect()
}

/// Whether the creator of photo `photo_id` has sync on (`creators.sync_enabled`).
pub fn creator_syncs(conn: &Connection, photo_id: i64) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT c.sync_enabled FROM photos p JOIN creators c ON c.id = p.creator_id WHERE p.id = ?1",
        [photo_id],
        |r| r.get(0),
    )
}

/// Photos not yet published, as (id, sha256, media type): what the next cut would
/// consider.
pub fn unpublished(conn: &Connection) -> rusqlite::Result<Vec<(i64, String, String)>> {
    let mut stmt = conn.prepare(
        "SELECT p.id, p.sha256, p.media_type FROM photos p LEFT JOIN sync_photos s ON s.photo_id = p.id
         WHERE s.photo_id IS NULL OR s.tombstoned_in IS NOT NULL ORDER BY p.id",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    rows.collect()
}

/// Published photos not tombstoned: `(photo id, SHA-256 of the asset sent for it,
/// its creator's sync switch)`.
pub fn published_photos(conn: &Connection) -> rusqlite::Result<Vec<(i64, String, bool)>> {
    let mut stmt = conn.prepare(
        "SELECT s.photo_id, coalesce(s.sent_sha256, p.sha256), c.sync_enabled FROM sync_photos s
         JOIN photos p ON p.id = s.photo_id JOIN creators c ON c.id = p.creator_id
         WHERE s.tombstoned_in IS NULL ORDER BY s.photo_id",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    rows.collect()
}

/// Attendees whose records were published and not tombstoned: `(pseudonym, pass id
/// if they still exist, whether they were erased)`.
pub fn published_attendees(
    conn: &Connection,
) -> rusqlite::Result<Vec<(String, Option<String>, bool)>> {
    let mut stmt = conn.prepare(
        "SELECT s.pseudonym, a.id, EXISTS (SELECT 1 FROM attendee_erasures e WHERE e.pseudonym = s.pseudonym)
         FROM sync_attendees s LEFT JOIN attendees a ON a.pseudonym = s.pseudonym
         WHERE s.tombstoned_in IS NULL ORDER BY s.pseudonym",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    rows.collect()
}

/// A consent event: `(seq, pass id, pseudonym if the attendee still exists, scope,
/// granted, notice hash, channel, at)`.
pub type ConsentRow = (
    i64,
    String,
    Option<String>,
    String,
    bool,
    String,
    String,
    i64,
    Option<bool>,
);

/// Consent events after sequence number `from`, in order.
pub fn consent_since(conn: &Connection, from: i64) -> rusqlite::Result<Vec<ConsentRow>> {
    let mut stmt = conn.prepare(
        "SELECT e.seq, e.attendee, a.pseudonym, e.scope, e.granted, e.notice_hash, e.channel, e.at, e.clock_trusted
         FROM consent_events e LEFT JOIN attendees a ON a.id = e.attendee
         WHERE e.seq > ?1 ORDER BY e.seq",
    )?;
    let rows = stmt.query_map([from], |r| ConsentRow::try_from(r))?;
    rows.collect()
}

/// An attendance record: `(seq, pseudonym, pass id if the attendee still exists,
/// source, at, whether the clock was trusted (None: unknown))`.
pub type AttendanceRow = (i64, String, Option<String>, String, i64, Option<bool>);

/// Attendance after sequence number `from`, in order.
pub fn attendance_since(conn: &Connection, from: i64) -> rusqlite::Result<Vec<AttendanceRow>> {
    let mut stmt = conn.prepare(
        "SELECT t.seq, t.pseudonym, a.id, t.source, t.at, t.clock_trusted FROM attendance t
         LEFT JOIN attendees a ON a.pseudonym = t.pseudonym
         WHERE t.seq > ?1 ORDER BY t.seq",
    )?;
    let rows = stmt.query_map([from], |r| <_>::try_from(r))?;
    rows.collect()
}

/// A photo a cut may publish: `(id, sha256, size, media type, creator name, source,
/// received at, its creator's sync switch, whether the clock was trusted at arrival
/// (None: unknown))`.
pub type PhotoRow = (
    i64,
    String,
    u64,
    String,
    String,
    String,
    i64,
    bool,
    Option<bool>,
);

/// Photos never published, or tombstoned and so publishable again, oldest first.
pub fn photos_to_publish(conn: &Connection) -> rusqlite::Result<Vec<PhotoRow>> {
    let mut stmt = conn.prepare(
        "SELECT p.id, p.sha256, p.size, p.media_type, c.name, p.source, p.received_at, c.sync_enabled, p.clock_trusted
         FROM photos p JOIN creators c ON c.id = p.creator_id
         LEFT JOIN sync_photos s ON s.photo_id = p.id
         WHERE s.photo_id IS NULL OR s.tombstoned_in IS NOT NULL ORDER BY p.id",
    )?;
    let rows = stmt.query_map([], |r| PhotoRow::try_from(r))?;
    rows.collect()
}

/// An order event: `(seq, order id, order code, event, at, pass id, pseudonym,
/// creator name, currency, total in minor units)`.
pub type OrderEventRow = (
    i64,
    i64,
    String,
    String,
    i64,
    String,
    String,
    String,
    String,
    i64,
);

/// Order events after sequence number `from`, in order.
pub fn order_events_since(conn: &Connection, from: i64) -> rusqlite::Result<Vec<OrderEventRow>> {
    let mut stmt = conn.prepare(
        "SELECT e.seq, o.id, o.code, e.event, e.at, o.attendee, o.pseudonym, c.name, o.currency, o.total_minor
         FROM delivery_order_events e JOIN delivery_orders o ON o.id = e.order_id
         JOIN creators c ON c.id = o.creator_id
         WHERE e.seq > ?1 ORDER BY e.seq",
    )?;
    let rows = stmt.query_map([from], |r| OrderEventRow::try_from(r))?;
    rows.collect()
}

/// An order line: `(kind, SHA-256 of the photo of a photo line, price, creator's
/// share, organiser's share)`, in minor units.
pub type OrderLineRow = (String, Option<String>, i64, i64, i64);

/// The lines of order `order_id`, in order.
pub fn order_lines(conn: &Connection, order_id: i64) -> rusqlite::Result<Vec<OrderLineRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT l.kind, p.sha256, l.price_minor, l.creator_minor, l.organiser_minor
         FROM delivery_order_lines l LEFT JOIN photos p ON p.id = l.photo_id
         WHERE l.order_id = ?1 ORDER BY l.line",
    )?;
    let rows = stmt.query_map([order_id], |r| OrderLineRow::try_from(r))?;
    rows.collect()
}
