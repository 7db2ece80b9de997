//! The outbox as the dashboard shows it: counts of bundles and objects by state,
//! bytes still to upload, the latest bundles and the objects still waiting. Reads
//! sync's own tables only.

use serde::Serialize;

/// The outbox as the dashboard shows it.
#[derive(Debug, Serialize)]
pub struct OutboxView {
    bundles: Counts,
    objects: Counts,
    pending_bytes: u64,
    recent_bundles: Vec<BundleView>,
    waiting_objects: Vec<ObjectView>,
}

impl OutboxView {
    /// Bundles by state: `[("uploaded", n), ("pending", n)]` (the JSON's `bundles`).
    pub fn bundles_by_state(&self) -> [(&'static str, u64); 2] {
        [
            ("uploaded", self.bundles.uploaded),
            ("pending", self.bundles.pending),
        ]
    }

    /// Objects by state: `done`, `pending`, `conflict` (the JSON's `objects`:
    /// `uploaded` is the `done` state).
    pub fn objects_by_state(&self) -> [(&'static str, u64); 3] {
        [
            ("done", self.objects.uploaded),
            ("pending", self.objects.pending),
            ("conflict", self.objects.conflict),
        ]
    }

    /// Bytes of the objects not uploaded yet.
    pub fn pending_bytes(&self) -> u64 {
        self.pending_bytes
    }
}

#[derive(Debug, Serialize, Default)]
struct Counts {
    total: u64,
    uploaded: u64,
    pending: u64,
    conflict: u64,
}

#[derive(Debug, Serialize)]
struct BundleView {
    sequence: u64,
    sha256: String,
    key_id: String,
    entries: u64,
    asset_bytes: u64,
    created_at: i64,
    uploaded_at: Option<i64>,
    objects_pending: u64,
}

#[derive(Debug, Serialize)]
struct ObjectView {
    key: String,
    kind: String,
    bundle: u64,
    size: u64,
    state: String,
    attempts: u64,
    parts_done: usize,
    last_error: Option<String>,
}

/// The outbox as the dashboard shows it: counts of bundles and objects by state, bytes
/// still to upload, the 20 latest bundles and up to 50 objects still waiting.
pub fn outbox_view(c: &rusqlite::Connection) -> rusqlite::Result<OutboxView> {
    let bundles = c.query_row(
        "SELECT count(*), count(uploaded_at) FROM sync_bundles",
        [],
        |r| {
            let (total, uploaded): (u64, u64) = (r.get(0)?, r.get(1)?);
            Ok(Counts {
                total,
                uploaded,
                pending: total - uploaded,
                conflict: 0,
            })
        },
    )?;
    let objects = c.query_row(
        "SELECT count(*), count(*) FILTER (WHERE state = 'done'), count(*) FILTER (WHERE state = 'pending'),
                count(*) FILTER (WHERE state = 'conflict'),
                coalesce(sum(size) FILTER (WHERE state <> 'done'), 0)
         FROM sync_objects",
        [],
        |r| {
            Ok((
                Counts {
                    total: r.get(0)?,
                    uploaded: r.get(1)?,
                    pending: r.get(2)?,
                    conflict: r.get(3)?,
                },
                r.get::<_, u64>(4)?,
            ))
        },
    )?;
    let mut stmt = c.prepare(
        "SELECT b.sequence, b.sha256, b.key_id, b.entries, b.asset_bytes, b.created_at, b.uploaded_at,
                (SELECT count(*) FROM sync_objects o WHERE o.bundle = b.sequence AND o.state <> 'done')
         FROM sync_bundles b ORDER BY b.sequence DESC LIMIT 20",
    )?;
    let recent = stmt
        .query_map([], |r| {
            Ok(BundleView {
                sequence: r.get(0)?,
                sha256: r.get(1)?,
                key_id: r.get(2)?,
                entries: r.get(3)?,
                asset_bytes: r.get(4)?,
                created_at: r.get(5)?,
                uploaded_at: r.get(6)?,
                objects_pending: r.get(7)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let mut stmt = c.prepare(
        "SELECT key, kind, bundle, size, state, attempts, parts, last_error FROM sync_objects
         WHERE state <> 'done' ORDER BY bundle, key LIMIT 50",
    )?;
    let waiting = stmt
        .query_map([], |r| {
            let parts: String = r.get(6)?;
            Ok(ObjectView {
                key: r.get(0)?,
                kind: r.get(1)?,
                bundle: r.get(2)?,
                size: r.get(3)?,
                state: r.get(4)?,
                attempts: r.get(5)?,
                parts_done: serde_json::from_str::<Vec<String>>(&parts)
                    .map(|p| p.len())
                    .unwrap_or(0),
                last_error: r.get(7)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(OutboxView {
        bundles,
        objects: objects.0,
        pending_bytes: objects.1,
        recent_bundles: recent,
        waiting_objects: waiting,
    })
}
