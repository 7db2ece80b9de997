//! The dashboard's figures over a time span, read across their owners' tables in one
//! place (no table is written here). Tables read: photos, creators, renders, attendees,
//! consent_events, attendance, portal_clients, photo_attendees, delivery_tags,
//! delivery_orders, delivery_downloads, sync_photos, sync_bundles, sync_objects.
//!
//! Every function takes `since` (seconds since the epoch, `Span::since`) where the
//! figure is a count over the span, and reads only what the database records. Gallery
//! views and refused uploads are read through their owners (`delivery::views`,
//! `ingest::refusals_since`), since each is one table.

use rusqlite::{params, Connection};

/// The event funnel over a span, each step a count of what the database records.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Funnel {
    /// Distinct attendees whose attendance the portal recorded (`attendance`, source
    /// `portal`).
    pub portal_joins: u64,
    /// Distinct attendees who granted each scope (`consent_events`, granted).
    pub consents: Vec<(String, u64)>,
    /// Withdrawals per scope (`consent_events`, not granted).
    pub withdrawals: Vec<(String, u64)>,
    /// Passes issued (`attendees` created).
    pub passes: u64,
    /// Distinct photos tagged to an attendee (`photo_attendees` and live `delivery_tags`).
    pub photos_tagged: u64,
    /// Orders placed (`delivery_orders` created).
    pub orders: u64,
    /// Orders confirmed, paid or free (`delivery_orders` decided).
    pub confirmations: u64,
    /// Download attempts per outcome (`delivery_downloads`: `ok` and each refusal).
    pub downloads: Vec<(String, u64)>,
}

fn pairs(c: &Connection, sql: &str, since: i64) -> rusqlite::Result<Vec<(String, u64)>> {
    let mut stmt = c.prepare_cached(sql)?;
    let rows = stmt.query_map([since], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

fn count(c: &Connection, sql: &str, since: i64) -> rusqlite::Result<u64> {
    c.query_row(sql, [since], |r| r.get(0))
}

/// The funnel since `since`.
pub fn funnel(c: &Connection, since: i64) -> rusqlite::Result<Funnel> {
    Ok(Funnel {
        portal_joins: count(
            c,
            "SELECT count(DISTINCT pseudonym) FROM attendance WHERE source = 'portal' AND at >= ?1",
            since,
        )?,
        consents: pairs(
            c,
            "SELECT scope, count(DISTINCT attendee) FROM consent_events
             WHERE granted = 1 AND at >= ?1 GROUP BY scope ORDER BY scope",
            since,
        )?,
        withdrawals: pairs(
            c,
            "SELECT scope, count(*) FROM consent_events
             WHERE granted = 0 AND at >= ?1 GROUP BY scope ORDER BY scope",
            since,
        )?,
        passes: count(
            c,
            "SELECT count(*) FROM attendees WHERE created_at >= ?1",
            since,
        )?,
        photos_tagged: count(
            c,
            "SELECT count(*) FROM (SELECT photo_id FROM photo_attendees WHERE tagged_at >= ?1
             UNION SELECT photo_id FROM delivery_tags WHERE removed = 0 AND at >= ?1)",
            since,
        )?,
        orders: count(
            c,
            "SELECT count(*) FROM delivery_orders WHERE created_at >= ?1",
            since,
        )?,
        confirmations: count(
            c,
            "SELECT count(*) FROM delivery_orders
             WHERE state IN ('paid', 'free') AND decided_at >= ?1",
            since,
        )?,
        downloads: pairs(
            c,
            "SELECT outcome, count(*) FROM delivery_downloads WHERE at >= ?1
             GROUP BY outcome ORDER BY outcome",
            since,
        )?,
    })
}

/// Grants since `since` as `(scope, at)`, oldest first (the opt-in trend).
pub fn grants(c: &Connection, since: i64) -> rusqlite::Result<Vec<(String, i64)>> {
    let mut stmt = c.prepare_cached(
        "SELECT scope, at FROM consent_events WHERE granted = 1 AND at >= ?1 ORDER BY at",
    )?;
    let rows = stmt.query_map([since], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

/// Photos stored per creator and source over a span.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestRow {
    /// The creator's name (untrusted text: escape it).
    pub creator: String,
    /// `ftp`, `tus` or `import`.
    pub source: String,
    /// Photos stored.
    pub photos: u64,
    /// Their bytes.
    pub bytes: u64,
    /// When the last arrived (seconds since the epoch).
    pub last_at: i64,
}

/// Photos stored since `since`, per creator and source, most first.
pub fn ingest(c: &Connection, since: i64) -> rusqlite::Result<Vec<IngestRow>> {
    let mut stmt = c.prepare_cached(
        "SELECT c.name, p.source, count(*), sum(p.size), max(p.received_at)
         FROM photos p JOIN creators c ON c.id = p.creator_id
         WHERE p.received_at >= ?1 GROUP BY c.id, p.source ORDER BY 3 DESC, 1",
    )?;
    let rows = stmt.query_map([since], |r| {
        Ok(IngestRow {
            creator: r.get(0)?,
            source: r.get(1)?,
            photos: r.get(2)?,
            bytes: r.get(3)?,
            last_at: r.get(4)?,
        })
    })?;
    rows.collect()
}

/// When each photo stored since `since` arrived, oldest first.
pub fn arrivals(c: &Connection, since: i64) -> rusqlite::Result<Vec<i64>> {
    let mut stmt = c.prepare_cached(
        "SELECT received_at FROM photos WHERE received_at >= ?1 ORDER BY received_at",
    )?;
    let rows = stmt.query_map([since], |r| r.get(0))?;
    rows.collect()
}

/// Photo bytes stored since `since`.
pub fn bytes_since(c: &Connection, since: i64) -> rusqlite::Result<u64> {
    count(
        c,
        "SELECT coalesce(sum(size), 0) FROM photos WHERE received_at >= ?1",
        since,
    )
}

/// The time to first preview of one rendered photo (`renders.ttfp_end_ms`,
/// `ttfp_start_ms`), either unknown for some (imports).
#[derive(Debug, Clone, PartialEq)]
pub struct Ttfp {
    /// How the photo came: `ftp`, `tus` or `import`.
    pub source: String,
    /// Milliseconds from the upload's end to the first preview.
    pub from_end_ms: Option<f64>,
    /// Milliseconds from the upload's start to the first preview.
    pub from_start_ms: Option<f64>,
}

/// Time to first preview of the photos rendered since `since`.
pub fn ttfp(c: &Connection, since: i64) -> rusqlite::Result<Vec<Ttfp>> {
    let mut stmt = c.prepare_cached(
        "SELECT p.source, r.ttfp_end_ms, r.ttfp_start_ms FROM renders r
         JOIN photos p ON p.id = r.photo_id
         WHERE r.state = 'done' AND r.rendered_at >= ?1",
    )?;
    let rows = stmt.query_map([since], |r| {
        Ok(Ttfp {
            source: r.get(0)?,
            from_end_ms: r.get(1)?,
            from_start_ms: r.get(2)?,
        })
    })?;
    rows.collect()
}

/// Failed renders since `since` per recorded reason, most first.
pub fn render_failures(c: &Connection, since: i64) -> rusqlite::Result<Vec<(String, u64)>> {
    pairs(
        c,
        "SELECT coalesce(reason, 'no reason recorded'), count(*) FROM renders
         WHERE state = 'failed' AND rendered_at >= ?1 GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10",
        since,
    )
}

/// Renders done since `since` and their mean wall-clock time in ms (`renders.render_ms`).
pub fn render_time(c: &Connection, since: i64) -> rusqlite::Result<(u64, Option<f64>)> {
    c.query_row(
        "SELECT count(render_ms), avg(render_ms) FROM renders
         WHERE state = 'done' AND rendered_at >= ?1",
        [since],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// Per creator whose camera (FTP) sent photos since `since`: name and last arrival.
pub fn cameras(c: &Connection, since: i64) -> rusqlite::Result<Vec<(String, i64)>> {
    pairs(
        c,
        "SELECT c.name, max(p.received_at) FROM photos p JOIN creators c ON c.id = p.creator_id
         WHERE p.source = 'ftp' AND p.received_at >= ?1 GROUP BY c.id ORDER BY 1",
        since,
    )
    .map(|v| v.into_iter().map(|(n, at)| (n, at as i64)).collect())
}

/// Attendee devices admitted through the portal and not expired at `now` (a count;
/// the keys stay in the table).
pub fn devices_now(c: &Connection, now: i64) -> rusqlite::Result<u64> {
    count(
        c,
        "SELECT count(*) FROM portal_clients WHERE expires_at IS NULL OR expires_at > ?1",
        now,
    )
}

/// When the photo `id` arrived.
pub fn received_at(c: &Connection, id: i64) -> rusqlite::Result<Option<i64>> {
    use rusqlite::OptionalExtension;
    c.query_row("SELECT received_at FROM photos WHERE id = ?1", [id], |r| {
        r.get(0)
    })
    .optional()
}

/// When the oldest photo published in a bundle that has not reached the target yet
/// arrived.
pub fn oldest_in_unsent_bundle(c: &Connection) -> rusqlite::Result<Option<i64>> {
    c.query_row(
        "SELECT min(p.received_at) FROM sync_photos s
         JOIN sync_bundles b ON b.sequence = s.bundle JOIN photos p ON p.id = s.photo_id
         WHERE b.uploaded_at IS NULL AND s.tombstoned_in IS NULL",
        [],
        |r| r.get(0),
    )
}

/// The outbox over a span and now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncSpan {
    /// Bundles that reached the target since `since`.
    pub bundles_uploaded: u64,
    /// Objects that reached the target since `since`, and their bytes.
    pub objects_uploaded: u64,
    /// See `objects_uploaded`.
    pub bytes_uploaded: u64,
    /// Objects in a multipart upload started and not finished, and their bytes.
    pub uploading: u64,
    /// See `uploading`.
    pub uploading_bytes: u64,
    /// The last errors of objects not yet uploaded: `(error, objects)`, most first.
    pub errors: Vec<(String, u64)>,
}

/// The outbox since `since`.
pub fn sync_span(c: &Connection, since: i64) -> rusqlite::Result<SyncSpan> {
    let bundles_uploaded = count(
        c,
        "SELECT count(*) FROM sync_bundles WHERE uploaded_at >= ?1",
        since,
    )?;
    let (objects_uploaded, bytes_uploaded) = c.query_row(
        "SELECT count(*), coalesce(sum(size), 0) FROM sync_objects
         WHERE state = 'done' AND done_at >= ?1",
        params![since],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let (uploading, uploading_bytes) = c.query_row(
        "SELECT count(*), coalesce(sum(size), 0) FROM sync_objects
         WHERE state = 'pending' AND multipart_id IS NOT NULL",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let errors = pairs(
        c,
        "SELECT last_error, count(*) FROM sync_objects
         WHERE state <> 'done' AND last_error IS NOT NULL AND ?1 = ?1
         GROUP BY last_error ORDER BY 2 DESC, 1 LIMIT 5",
        since,
    )?;
    Ok(SyncSpan {
        bundles_uploaded,
        objects_uploaded,
        bytes_uploaded,
        uploading,
        uploading_bytes,
        errors,
    })
}

/// Counts `times` (seconds since the epoch) into `n` equal buckets covering
/// `[from, to)`; times outside are left out.
pub fn buckets(times: impl IntoIterator<Item = i64>, from: i64, to: i64, n: usize) -> Vec<u64> {
    let mut out = vec![0; n];
    let width = (to - from).max(1) as f64 / n.max(1) as f64;
    for t in times {
        if t >= from && t < to {
            let i = ((t - from) as f64 / width) as usize;
            out[i.min(n - 1)] += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_split_a_span_evenly() {
        assert_eq!(buckets([0, 1, 59, 60, 119, 120], 0, 120, 2), [3, 2]);
        assert_eq!(buckets([], 0, 10, 3), [0, 0, 0]);
    }

    #[test]
    fn every_read_runs_on_the_real_schema() {
        let c = crate::db::memory_for_tests();
        let f = funnel(&c, 0).unwrap();
        assert_eq!(f, Funnel::default());
        assert!(grants(&c, 0).unwrap().is_empty());
        assert!(ingest(&c, 0).unwrap().is_empty());
        assert!(arrivals(&c, 0).unwrap().is_empty());
        assert_eq!(bytes_since(&c, 0).unwrap(), 0);
        assert!(ttfp(&c, 0).unwrap().is_empty());
        assert!(render_failures(&c, 0).unwrap().is_empty());
        assert_eq!(render_time(&c, 0).unwrap(), (0, None));
        assert!(cameras(&c, 0).unwrap().is_empty());
        assert_eq!(devices_now(&c, 0).unwrap(), 0);
        assert_eq!(received_at(&c, 1).unwrap(), None);
        assert_eq!(oldest_in_unsent_bundle(&c).unwrap(), None);
        assert_eq!(sync_span(&c, 0).unwrap(), SyncSpan::default());
    }
}
