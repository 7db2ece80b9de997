//! The outbox: deciding what may leave (consent), cutting signed bundles, and the
//! durable queue of objects still to upload. Plain functions on an SQLite connection,
//! called from the blocking pool; every cut is one transaction, so a power cut leaves
//! either the whole bundle queued or none of it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use super::manifest::{self, Entry, EventRef, Manifest, MANIFEST_FORMAT};
use super::{reads, SyncError};
use crate::identity;

/// Kinds of queued object, in the order they are uploaded within a bundle.
pub const KINDS: [&str; 4] = ["key", "asset", "signature", "manifest"];

use crate::clock::now;

/// May this attendee's data (pass id) leave the box? Their current consent decides.
fn attendee_may_sync(conn: &Connection, attendee: &str) -> rusqlite::Result<bool> {
    crate::consent::may(conn, attendee, crate::consent::Scope::Sync)
}

/// Why a photo may not (or no longer) leave, or `None` when it may.
fn photo_blocked(
    conn: &Connection,
    photo_id: i64,
    creator_sync: bool,
) -> rusqlite::Result<Option<&'static str>> {
    if !creator_sync {
        return Ok(Some("creator_opted_out"));
    }
    for attendee in reads::tagged_attendees(conn, photo_id)? {
        if !attendee_may_sync(conn, &attendee)? {
            let known = crate::consent::attendee(conn, &attendee)?.is_some();
            return Ok(Some(if known {
                "consent_withdrawn"
            } else {
                "erasure"
            }));
        }
    }
    Ok(None)
}

/// The photos of `candidates` (`(id, sha256, media type)`, as
/// [`reads::unpublished`] lists them) that may leave now: their creator syncs and every
/// attendee tagged on them consents. The others are neither prepared for a cut nor
/// counted as waiting for one, until consent or the creator's switch changes.
pub fn may_leave(
    conn: &Connection,
    candidates: Vec<(i64, String, String)>,
) -> rusqlite::Result<Vec<(i64, String, String)>> {
    let mut out = Vec::with_capacity(candidates.len());
    for candidate in candidates {
        let creator_sync = reads::creator_syncs(conn, candidate.0)?;
        if photo_blocked(conn, candidate.0, creator_sync)?.is_none() {
            out.push(candidate);
        }
    }
    Ok(out)
}

/// Capture time and camera from a photo's EXIF, when it has any.
#[derive(Debug, Clone, Default)]
pub struct Exif {
    /// DateTimeOriginal.
    pub captured_at: Option<String>,
    /// Make.
    pub make: Option<String>,
    /// Model.
    pub model: Option<String>,
}

/// Reads [`Exif`] from a stored photo; nothing on any error (a photo without EXIF is
/// normal).
pub fn read_exif(path: &Path) -> Exif {
    let Ok(file) = std::fs::File::open(path) else {
        return Exif::default();
    };
    let Ok(exif) = exif::Reader::new().read_from_container(&mut std::io::BufReader::new(file))
    else {
        return Exif::default();
    };
    let text = |tag| {
        exif.get_field(tag, exif::In::PRIMARY)
            .and_then(|f| match &f.value {
                exif::Value::Ascii(v) => v
                    .first()
                    .map(|s| String::from_utf8_lossy(s).trim().to_string())
                    .filter(|s| !s.is_empty()),
                _ => None,
            })
    };
    Exif {
        captured_at: text(exif::Tag::DateTimeOriginal),
        make: text(exif::Tag::Make),
        model: text(exif::Tag::Model),
    }
}

fn meta(conn: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT value FROM sync_meta WHERE key = ?1", [key], |r| {
        r.get(0)
    })
    .optional()
}

fn set_meta(conn: &Connection, key: &str, value: &str) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO sync_meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [key, value],
    )?;
    Ok(())
}

/// The next bundle sequence number.
pub fn next_sequence(conn: &Connection) -> rusqlite::Result<u64> {
    conn.query_row(
        "SELECT coalesce(max(sequence), 0) + 1 FROM sync_bundles",
        [],
        |r| r.get(0),
    )
}

/// What a cut queued.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Cut {
    /// Sequences of the bundles made (records first, then assets).
    pub bundles: Vec<u64>,
    /// Asset entries.
    pub assets: usize,
    /// Consent, attendance and tombstone entries.
    pub records: usize,
}

/// What sync sends for one photo: the object's SHA-256 (lowercase hex) and size in
/// bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// SHA-256 of the bytes sent.
    pub sha256: String,
    /// Their length.
    pub size: u64,
}

/// What a cut sends for its photos.
#[derive(Debug, Clone, Copy)]
pub enum Sending<'a> {
    /// The stored originals, byte for byte (`sync.send_originals = true`).
    Originals,
    /// For each photo (by its original's SHA-256), the file prepared beforehand with
    /// its private metadata removed; a photo missing from the map waits.
    Scrubbed(&'a HashMap<String, Sent>),
}

/// Cuts what consent allows into signed bundles and queues their objects: first a
/// bundle of records (consent, attendance, tombstones), then one of assets, so the
/// small records never wait behind large originals. `exif` holds what was read from
/// the files beforehand (outside the transaction); `photo_path` finds a photo's file
/// for any photo missing from it. `sending` says which bytes go for each photo.
pub fn cut(
    tx: &Connection,
    data_dir: &Path,
    event_name: &str,
    exif: &HashMap<String, Exif>,
    photo_path: &dyn Fn(&str) -> PathBuf,
    sending: Sending<'_>,
) -> Result<Cut, SyncError> {
    let at = now();
    let mut records = Vec::new();
    let mut photo_tombstones = Vec::new();
    let mut attendee_tombstones = Vec::new();

    // Published photos that may no longer leave: tombstones.
    {
        for (id, sha256, creator_sync) in reads::published_photos(tx)? {
            if let Some(reason) = photo_blocked(tx, id, creator_sync)? {
                records.push(Entry::Tombstone {
                    target: "asset".into(),
                    id: sha256,
                    reason: reason.into(),
                    at,
                });
                photo_tombstones.push(id);
            }
        }
    }
    // Attendees whose records were published and who withdrew or were erased.
    {
        for (pseudonym, id, erased) in reads::published_attendees(tx)? {
            let may = match &id {
                Some(id) => attendee_may_sync(tx, id)?,
                None => false,
            };
            if !may {
                let reason = if erased || id.is_none() {
                    "erasure"
                } else {
                    "consent_withdrawn"
                };
                records.push(Entry::Tombstone {
                    target: "attendee".into(),
                    id: pseudonym.clone(),
                    reason: reason.into(),
                    at,
                });
                attendee_tombstones.push(pseudonym);
            }
        }
    }
    // New consent and attendance records of attendees whose consent covers sync.
    let mut published_attendees = Vec::new();
    let consent_from: i64 = meta(tx, "consent_seq")?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut consent_to = consent_from;
    {
        for (seq, attendee, pseudonym, scope, granted, notice_hash, channel, at, clock_trusted) in
            reads::consent_since(tx, consent_from)?
        {
            consent_to = seq;
            let Some(pseudonym) = pseudonym else { continue };
            if attendee_may_sync(tx, &attendee)? {
                published_attendees.push(pseudonym.clone());
                records.push(Entry::Consent {
                    attendee: pseudonym,
                    scope,
                    granted,
                    notice_hash,
                    channel,
                    at,
                    clock_trusted,
                });
            }
        }
    }
    let attendance_from: i64 = meta(tx, "attendance_seq")?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut attendance_to = attendance_from;
    {
        for (seq, pseudonym, id, source, at, clock_trusted) in
            reads::attendance_since(tx, attendance_from)?
        {
            attendance_to = seq;
            let Some(id) = id else { continue };
            if attendee_may_sync(tx, &id)? {
                published_attendees.push(pseudonym.clone());
                records.push(Entry::Attendance {
                    attendee: pseudonym,
                    source,
                    at,
                    clock_trusted,
                });
            }
        }
    }
    // Order events (issue 14): every sale goes to the organiser's books; the attendee
    // is named, by pseudonym, only when their consent covers sync.
    let orders_from: i64 = meta(tx, "order_seq")?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut orders_to = orders_from;
    {
        for (seq, order_id, code, event, at, pass, pseudonym, creator, currency, total) in
            reads::order_events_since(tx, orders_from)?
        {
            orders_to = seq;
            let attendee = if attendee_may_sync(tx, &pass)? {
                published_attendees.push(pseudonym.clone());
                Some(pseudonym)
            } else {
                None
            };
            let lines = reads::order_lines(tx, order_id)?
                .into_iter()
                .map(
                    |(kind, photo, price, creator, organiser)| crate::sync::manifest::OrderLine {
                        kind,
                        photo,
                        price_minor: price,
                        creator_minor: creator,
                        organiser_minor: organiser,
                    },
                )
                .collect();
            records.push(Entry::Order {
                code,
                event,
                attendee,
                creator,
                currency,
                total_minor: total,
                lines,
                at,
            });
        }
    }
    // Photos that may leave and have not (or were tombstoned and may again).
    let mut assets = Vec::new();
    let mut asset_ids = Vec::new();
    let mut asset_bytes = 0u64;
    {
        for (
            id,
            sha256,
            size,
            media_type,
            creator,
            source,
            received_at,
            creator_sync,
            clock_trusted,
        ) in reads::photos_to_publish(tx)?
        {
            if photo_blocked(tx, id, creator_sync)?.is_some() {
                continue;
            }
            let sent = match sending {
                Sending::Originals => Sent {
                    sha256: sha256.clone(),
                    size,
                },
                Sending::Scrubbed(prepared) => match prepared.get(&sha256) {
                    Some(sent) => sent.clone(),
                    // Not prepared (arrived after, or cannot be scrubbed): waits.
                    None => continue,
                },
            };
            let exif = exif
                .get(&sha256)
                .cloned()
                .unwrap_or_else(|| read_exif(&photo_path(&sha256)));
            let attendees = reads::pseudonyms_of(tx, id)?;
            published_attendees.extend(attendees.iter().cloned());
            asset_bytes += sent.size;
            asset_ids.push((id, sent.sha256.clone()));
            assets.push(Entry::Asset {
                sha256: sent.sha256,
                original_sha256: Some(sha256),
                size: sent.size,
                media_type,
                creator,
                captured_at: exif.captured_at,
                camera_make: exif.make,
                camera_model: exif.model,
                source,
                received_at,
                clock_trusted,
                attendees,
            });
        }
    }

    let mut result = Cut {
        assets: assets.len(),
        records: records.len(),
        ..Cut::default()
    };
    if records.is_empty() && assets.is_empty() {
        set_meta(tx, "consent_seq", &consent_to.to_string())?;
        set_meta(tx, "attendance_seq", &attendance_to.to_string())?;
        set_meta(tx, "order_seq", &orders_to.to_string())?;
        return Ok(result);
    }
    let signer = identity::bundle_signer(data_dir)?;
    let event_id = match meta(tx, "event_id")? {
        Some(id) => id,
        None => {
            let id = format!("ev-{}", &crate::identity::random_token("")[..16]);
            set_meta(tx, "event_id", &id)?;
            id
        }
    };
    // The event's name as the admin last set it.
    let event = EventRef {
        id: event_id,
        name: crate::event::event(tx)?
            .map(|e| e.name)
            .unwrap_or_else(|| event_name.into()),
    };
    let first = next_sequence(tx)?;
    let mut sequence = first;
    let mut records_seq = None;
    for (entries, bytes) in [(records, 0u64), (assets, asset_bytes)] {
        if entries.is_empty() {
            continue;
        }
        let previous: Option<String> = tx
            .query_row(
                "SELECT sha256 FROM sync_bundles WHERE sequence = ?1",
                [sequence - 1],
                |r| r.get(0),
            )
            .optional()?;
        let count = entries.len();
        let assets_here: Vec<(String, u64)> = entries
            .iter()
            .filter_map(|e| match e {
                Entry::Asset { sha256, size, .. } => Some((sha256.clone(), *size)),
                _ => None,
            })
            .collect();
        let manifest = Manifest {
            format: MANIFEST_FORMAT.into(),
            event: event.clone(),
            box_id: signer.box_id().into(),
            sequence,
            previous,
            key_id: signer.key_id(),
            created_at: at,
            entries,
        };
        let (body, signature) = manifest::sign(&manifest, &signer.key_id(), |b| signer.sign(b));
        tx.execute(
            "INSERT INTO sync_bundles (sequence, sha256, key_id, entries, asset_bytes, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                sequence,
                manifest::sha256_hex(&body),
                signer.key_id(),
                count as i64,
                bytes,
                at
            ],
        )?;
        for record in &signer.chain {
            let key = manifest::keys::key_statement(signer.box_id(), record.statement.sequence);
            let body = manifest::canonical(record);
            tx.execute(
                "INSERT OR IGNORE INTO sync_objects (key, bundle, kind, size, body) VALUES (?1, ?2, 'key', ?3, ?4)",
                params![key, sequence, body.len() as i64, body],
            )?;
        }
        for (sha256, size) in assets_here {
            // An asset published before (and tombstoned since) is checked again: the
            // cloud side may have deleted it.
            tx.execute(
                "INSERT INTO sync_objects (key, bundle, kind, sha256, size) VALUES (?1, ?2, 'asset', ?3, ?4)
                 ON CONFLICT (key) DO UPDATE SET state = 'pending', bundle = excluded.bundle, outcome = NULL
                 WHERE state = 'done'",
                params![manifest::keys::asset(&sha256), sequence, sha256, size],
            )?;
        }
        tx.execute(
            "INSERT INTO sync_objects (key, bundle, kind, size, body) VALUES (?1, ?2, 'signature', ?3, ?4)",
            params![manifest::keys::signature(signer.box_id(), sequence), sequence, signature.len() as i64, signature],
        )?;
        tx.execute(
            "INSERT INTO sync_objects (key, bundle, kind, size, body) VALUES (?1, ?2, 'manifest', ?3, ?4)",
            params![manifest::keys::manifest(signer.box_id(), sequence), sequence, body.len() as i64, body],
        )?;
        if bytes == 0 {
            records_seq = Some(sequence);
        }
        result.bundles.push(sequence);
        sequence += 1;
    }
    let assets_seq = sequence - 1;
    if let Some(seq) = records_seq {
        for id in photo_tombstones {
            tx.execute(
                "UPDATE sync_photos SET tombstoned_in = ?2 WHERE photo_id = ?1",
                params![id, seq],
            )?;
        }
        for pseudonym in attendee_tombstones {
            tx.execute(
                "UPDATE sync_attendees SET tombstoned_in = ?2 WHERE pseudonym = ?1",
                params![pseudonym, seq],
            )?;
        }
    }
    for (id, sent_sha256) in asset_ids {
        tx.execute(
            "INSERT INTO sync_photos (photo_id, bundle, sent_sha256) VALUES (?1, ?2, ?3)
             ON CONFLICT (photo_id) DO UPDATE SET bundle = excluded.bundle, tombstoned_in = NULL,
                 sent_sha256 = excluded.sent_sha256",
            params![id, assets_seq, sent_sha256],
        )?;
    }
    for pseudonym in published_attendees {
        tx.execute(
            "INSERT INTO sync_attendees (pseudonym, bundle) VALUES (?1, ?2)
             ON CONFLICT (pseudonym) DO UPDATE SET tombstoned_in = NULL",
            params![pseudonym, result.bundles[0]],
        )?;
    }
    set_meta(tx, "consent_seq", &consent_to.to_string())?;
    set_meta(tx, "attendance_seq", &attendance_to.to_string())?;
    set_meta(tx, "order_seq", &orders_to.to_string())?;
    Ok(result)
}

/// An object waiting to be uploaded.
#[derive(Debug, Clone)]
pub struct Pending {
    /// Object key below the prefix.
    pub key: String,
    /// `key`, `asset`, `signature` or `manifest`.
    pub kind: String,
    /// The bundle it belongs to.
    pub bundle: u64,
    /// Asset content hash.
    pub sha256: Option<String>,
    /// Bytes.
    pub size: u64,
    /// Bytes of a small object (all but assets).
    pub body: Option<Vec<u8>>,
    /// A multipart upload in progress.
    pub multipart_id: Option<String>,
    /// ETags of the parts already uploaded, in order.
    pub parts: Vec<String>,
}

/// Up to `limit` objects that may be uploaded now, most urgent first: key statements;
/// then the signature and (after it) the manifest of every bundle whose assets are all
/// there, smallest bundle first; then assets, of the earliest bundle first, smallest
/// first. A manifest is therefore always uploaded after everything it names.
pub fn next_batch(conn: &Connection, limit: usize) -> rusqlite::Result<Vec<Pending>> {
    let mut stmt = conn.prepare_cached(
        "SELECT o.key, o.kind, o.bundle, o.sha256, o.size, o.body, o.multipart_id, o.parts
         FROM sync_objects o JOIN sync_bundles b ON b.sequence = o.bundle
         WHERE o.state = 'pending' AND (
            o.kind IN ('key', 'asset')
            OR (o.kind = 'signature' AND NOT EXISTS (SELECT 1 FROM sync_objects a
                WHERE a.bundle = o.bundle AND a.kind IN ('asset', 'key') AND a.state <> 'done'))
            OR (o.kind = 'manifest' AND NOT EXISTS (SELECT 1 FROM sync_objects a
                WHERE a.bundle = o.bundle AND a.kind <> 'manifest' AND a.state <> 'done')))
         ORDER BY CASE o.kind WHEN 'key' THEN 0 WHEN 'asset' THEN 2 ELSE 1 END,
                  CASE o.kind WHEN 'asset' THEN o.bundle ELSE b.asset_bytes END,
                  o.bundle, o.size, o.key
         LIMIT ?1",
    )?;
    let rows = stmt.query_map([limit as i64], |r| {
        let parts: String = r.get(7)?;
        Ok(Pending {
            key: r.get(0)?,
            kind: r.get(1)?,
            bundle: r.get(2)?,
            sha256: r.get(3)?,
            size: r.get(4)?,
            body: r.get(5)?,
            multipart_id: r.get(6)?,
            parts: serde_json::from_str(&parts).unwrap_or_default(),
        })
    })?;
    rows.collect()
}

/// The SHA-256s of the assets not yet in the target (pending, or stopped by a
/// conflict): the prepared files in `sync-sent/` that must stay.
pub fn assets_waiting(conn: &Connection) -> rusqlite::Result<std::collections::HashSet<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT sha256 FROM sync_objects WHERE kind = 'asset' AND state <> 'done' AND sha256 IS NOT NULL",
    )?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    rows.collect()
}

/// Whether anything waits for the uplink: objects not yet uploaded, or photos a cut
/// would send now ([`may_leave`]). Photos that consent or their creator's switch hold
/// back do not count: they wait for a change on the box, not for the cloud (the sync
/// LED's "waiting", `hw::led`; found by the crash soak, tests/soak.py).
pub fn waiting(conn: &Connection) -> rusqlite::Result<bool> {
    Ok(pending_count(conn)? > 0 || !may_leave(conn, reads::unpublished(conn)?)?.is_empty())
}

/// The id of the oldest photo (by id, the order of arrival) that waits for a cut: not
/// yet published, and allowed to leave now ([`may_leave`]); `None` when none waits.
/// Stops at the first that may leave, so a backlog held back by consent costs one
/// check per held photo ahead of it, not one per photo (the dashboard asks every second).
pub fn oldest_waiting(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    for candidate in reads::unpublished(conn)? {
        if let Some(photo) = may_leave(conn, vec![candidate])?.into_iter().next() {
            return Ok(Some(photo.0));
        }
    }
    Ok(None)
}

/// Pending objects (of any kind).
pub fn pending_count(conn: &Connection) -> rusqlite::Result<u64> {
    conn.query_row(
        "SELECT count(*) FROM sync_objects WHERE state = 'pending'",
        [],
        |r| r.get(0),
    )
}

/// Records an object as in the target (`outcome`: `uploaded` or `present`), and its
/// bundle as uploaded when it was the last.
pub fn mark_done(conn: &Connection, key: &str, outcome: &str) -> rusqlite::Result<()> {
    let at = now();
    conn.execute(
        "UPDATE sync_objects SET state = 'done', outcome = ?2, done_at = ?3, last_error = NULL,
         multipart_id = NULL, parts = '[]' WHERE key = ?1",
        params![key, outcome, at],
    )?;
    conn.execute(
        "UPDATE sync_bundles SET uploaded_at = ?1 WHERE uploaded_at IS NULL AND NOT EXISTS
         (SELECT 1 FROM sync_objects o WHERE o.bundle = sync_bundles.sequence AND o.state <> 'done')",
        [at],
    )?;
    Ok(())
}

/// Records a failed attempt (`conflict` stops retries: the target holds different
/// bytes under a key that must never change).
pub fn mark_failed(
    conn: &Connection,
    key: &str,
    error: &str,
    conflict: bool,
) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE sync_objects SET attempts = attempts + 1, last_error = ?2,
         state = CASE WHEN ?3 THEN 'conflict' ELSE state END WHERE key = ?1",
        params![key, error, conflict],
    )?;
    Ok(())
}

/// Records multipart progress (the upload id and the ETags of parts done so far).
pub fn save_multipart(
    conn: &Connection,
    key: &str,
    id: Option<&str>,
    parts: &[String],
) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE sync_objects SET multipart_id = ?2, parts = ?3 WHERE key = ?1",
        params![
            key,
            id,
            serde_json::to_string(parts).expect("strings serialise")
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        crate::db::memory_for_tests()
    }

    fn bundle(conn: &Connection, seq: u64, asset_bytes: u64) {
        conn.execute(
            "INSERT INTO sync_bundles (sequence, sha256, key_id, entries, asset_bytes, created_at)
             VALUES (?1, '', '', 1, ?2, 0)",
            params![seq, asset_bytes],
        )
        .unwrap();
    }

    fn object(conn: &Connection, key: &str, seq: u64, kind: &str, size: u64) {
        conn.execute(
            "INSERT INTO sync_objects (key, bundle, kind, size) VALUES (?1, ?2, ?3, ?4)",
            params![key, seq, kind, size],
        )
        .unwrap();
    }

    fn keys(conn: &Connection) -> Vec<String> {
        next_batch(conn, 100)
            .unwrap()
            .into_iter()
            .map(|p| p.key)
            .collect()
    }

    #[test]
    fn uploads_go_in_priority_order_with_each_manifest_last() {
        let conn = db();
        // Bundle 1: large originals. Bundle 2: records only.
        bundle(&conn, 1, 30_000_000);
        object(&conn, "k0", 1, "key", 300);
        object(&conn, "big", 1, "asset", 20_000_000);
        object(&conn, "small", 1, "asset", 10_000_000);
        object(&conn, "s1", 1, "signature", 200);
        object(&conn, "m1", 1, "manifest", 5_000);
        bundle(&conn, 2, 0);
        object(&conn, "s2", 2, "signature", 200);
        object(&conn, "m2", 2, "manifest", 900);
        // The key first; the records bundle's signature before any original; its
        // manifest waits for its signature; bundle 1's wait for its assets (smallest
        // first).
        assert_eq!(keys(&conn), ["k0", "s2", "small", "big"]);
        for key in ["k0", "s2"] {
            mark_done(&conn, key, "uploaded").unwrap();
        }
        assert_eq!(keys(&conn), ["m2", "small", "big"]);
        for key in ["m2", "small"] {
            mark_done(&conn, key, "uploaded").unwrap();
        }
        assert_eq!(keys(&conn), ["big"]);
        mark_done(&conn, "big", "present").unwrap();
        assert_eq!(keys(&conn), ["s1"]);
        mark_done(&conn, "s1", "uploaded").unwrap();
        assert_eq!(keys(&conn), ["m1"]);
        // A bundle counts as uploaded only when its manifest is.
        let uploaded = |seq: u64| -> bool {
            conn.query_row(
                "SELECT uploaded_at IS NOT NULL FROM sync_bundles WHERE sequence = ?1",
                [seq],
                |r| r.get(0),
            )
            .unwrap()
        };
        assert!(uploaded(2) && !uploaded(1));
        mark_done(&conn, "m1", "uploaded").unwrap();
        assert!(uploaded(1));
        assert_eq!(pending_count(&conn).unwrap(), 0);
    }
}
