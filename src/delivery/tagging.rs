//! Tagging photos to attendees, three ways (issue 14, item 3):
//!
//! - **Pass frames.** The photographer photographs the attendee's pass QR on their
//!   phone. After a photo's previews are rendered, the tagger searches its 1280 px
//!   preview for QR codes (`media::qr`, on its own idle-priority thread, after the
//!   first preview exists, so it never delays one). A photo holding a valid pass code
//!   of this event becomes a pass frame (`delivery_pass_frames`, kept out of every
//!   gallery) and starts a run: the creator's following photos, in capture order
//!   (EXIF DateTimeOriginal on the camera's clock, else arrival time), are tagged to
//!   that attendee until the next pass frame or a pause longer than
//!   `tagging.gap_secs` between two photos.
//! - **Stall scans.** The vendor scans the pass (a keyboard-wedge scanner on the
//!   vendor page) or types its short code: the creator's photos that arrive after it,
//!   in arrival order, are tagged the same way, until the next scan, a pass frame or
//!   the gap.
//! - **By hand.** The vendor adds or removes a tag on one of their own photos; a
//!   removal sticks (a `hand` row with removed = 1) however the runs are recomputed.
//!
//! Render order does not matter: each searched photo and each scan recomputes the
//! creator's whole assignment ([`retag_creator`]), so a photo rendered before its pass
//! frame is tagged once the pass frame is found, and a photo whose run changed is
//! re-tagged. Photos not yet searched are not tagged until they are.
//!
//! Which attendee is on which photo is consent's table (`photo_attendees`, pass ids),
//! written only through `consent::add_photo_tag` / `remove_photo_tag`; why each tag
//! exists is ours (`delivery_tags`, by pseudonym). Every change is audited
//! (`delivery.tag`, `delivery.untag`, `delivery.scan`, `delivery.pass_frame`).

use std::collections::HashMap;
use std::path::PathBuf;

use rusqlite::{params, Connection, OptionalExtension};
use tokio_util::sync::CancellationToken;

use crate::clock::now;
use crate::consent::{self, PassRef, Secret};
use crate::db::{audit, Store, StoreError};
use crate::derivatives::{Derivative, Previews};
use crate::ingest::Photo;
use crate::media::render::Format;

use super::reads;

/// How many bytes of an original are read for its EXIF capture time (the EXIF block
/// of a camera JPEG sits in its first 64 KiB; maker notes can push it further).
const EXIF_HEAD: u64 = 256 * 1024;

/// How a pass reached a creator's stall.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// Read by a scanner (a keyboard-wedge scanner types into the vendor page).
    Scan,
    /// Typed from the pass page's short form.
    Typed,
}

impl Via {
    fn as_str(self) -> &'static str {
        match self {
            Via::Scan => "scan",
            Via::Typed => "typed",
        }
    }
}

/// What a search of one photo found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Searched {
    /// The attendee (pseudonym) whose valid pass the photo holds: a pass frame.
    pub pass_of: Option<String>,
    /// Tags added and removed across the creator's photos by the recomputation.
    pub changes: Changes,
}

/// Tags added and removed by one recomputation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Changes {
    /// Tags put on photos.
    pub added: u32,
    /// Tags taken off photos.
    pub removed: u32,
}

/// The tagger: searches rendered photos for pass codes and keeps the creators' tags.
#[derive(Clone)]
pub struct Tagger {
    store: Store,
    previews: Previews,
    data_dir: PathBuf,
    secret: Secret,
    gap_secs: i64,
    background: std::sync::Arc<crate::lowprio::Background>,
}

impl std::fmt::Debug for Tagger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tagger")
            .field("gap_secs", &self.gap_secs)
            .finish_non_exhaustive()
    }
}

impl Tagger {
    /// A tagger over the store and the rendered previews; `secret` checks pass codes,
    /// `config.tagging.gap_secs` ends runs. Searches run on one thread of their own at
    /// nice 19, under SCHED_IDLE when renders are (`previews.render_idle`): they give
    /// way to ingest and renders, and on a box kept busy they wait.
    pub fn new(
        store: Store,
        previews: Previews,
        secret: Secret,
        config: &crate::config::Config,
    ) -> Tagger {
        Tagger {
            store,
            previews,
            data_dir: config.storage.data_dir.clone(),
            secret,
            gap_secs: config.tagging.gap_secs as i64,
            background: std::sync::Arc::new(crate::lowprio::Background::new(
                1,
                19,
                config.previews.render_idle,
                "qr",
            )),
        }
    }

    /// Searches photos as their renders finish (`rendered`), after first catching up
    /// with every rendered photo not yet searched (a restart, a burst), until
    /// `shutdown`.
    pub async fn run(
        self,
        mut rendered: tokio::sync::broadcast::Receiver<Photo>,
        shutdown: CancellationToken,
    ) {
        let mut catch_up = true;
        loop {
            if catch_up {
                catch_up = false;
                loop {
                    let ids = match self
                        .store
                        .read_sql(|c| reads::unsearched_photos(c, 64))
                        .await
                    {
                        Ok(ids) => ids,
                        Err(e) => {
                            tracing::warn!(error = %e, "tagger: cannot list unsearched photos");
                            break;
                        }
                    };
                    if ids.is_empty() {
                        break;
                    }
                    for id in ids {
                        if shutdown.is_cancelled() {
                            return;
                        }
                        let photo = self
                            .store
                            .read_sql(move |c| crate::ingest::photo_by_id(c, id))
                            .await;
                        if let Ok(Some(photo)) = photo {
                            self.search_logged(&photo).await;
                        }
                    }
                }
            }
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => return,
                event = rendered.recv() => match event {
                    Ok(photo) => self.search_logged(&photo).await,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => catch_up = true,
                    Err(_) => return,
                },
            }
        }
    }

    async fn search_logged(&self, photo: &Photo) {
        match self.search(photo).await {
            Ok(s) if s.pass_of.is_some() => {
                tracing::info!(photo = photo.id, added = s.changes.added, "pass frame")
            }
            Ok(_) => {}
            // Never log a code: a pass is the attendee's.
            Err(e) => tracing::warn!(photo = photo.id, error = %e, "tagger: search failed"),
        }
    }

    /// Searches one rendered photo for pass codes, records it (and, with a valid
    /// code, its pass frame), and recomputes its creator's tags. A photo already
    /// searched is searched again (same outcome).
    pub async fn search(&self, photo: &Photo) -> Result<Searched, StoreError> {
        let preview = self
            .previews
            .path(&photo.sha256, Derivative::Preview, Format::Jpeg);
        let original = crate::files::layout::photo(&self.data_dir, &photo.sha256);
        let work = move || {
            let head = read_head(&original);
            let captured = head.as_deref().and_then(crate::media::jpeg::capture_time);
            let found = std::fs::read(&preview)
                .map_err(|e| e.to_string())
                .and_then(|b| crate::media::qr::find_in_jpeg(&b).map_err(|e| e.to_string()));
            (captured, found)
        };
        let (captured, found) = self
            .background
            .run(work)
            .await
            .map_err(|_| StoreError::Closed)?;
        let (texts, qr_ms) = match found {
            Ok(f) => (f.texts, Some((f.decode + f.detect).as_secs_f64() * 1000.0)),
            Err(e) => {
                tracing::debug!(photo = photo.id, error = %e, "tagger: no preview to search");
                (Vec::new(), None)
            }
        };
        // Codes are checked (keyed tag) before any lookup; a foreign QR is no pass.
        let passes: Vec<PassRef> = texts
            .iter()
            .filter_map(|t| consent::verify_pass_code(&self.secret, t))
            .collect();
        let (photo, gap) = (photo.clone(), self.gap_secs);
        self.store
            .write(move |tx| {
                let mut pass_of = None;
                for pass in &passes {
                    if let Some(a) = consent::attendee_by_pass(tx, pass)? {
                        pass_of = Some(a.pseudonym);
                        break;
                    }
                }
                record_frame(tx, &photo, captured, qr_ms, pass_of.as_deref())?;
                let changes = retag_creator(tx, photo.creator_id, gap, "tagger")?;
                Ok::<_, StoreError>(Searched { pass_of, changes })
            })
            .await
    }
}

/// The first bytes of a file (for its EXIF), if it can be read.
fn read_head(path: &std::path::Path) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut head = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(EXIF_HEAD)
        .read_to_end(&mut head)
        .ok()?;
    Some(head)
}

/// Records a searched photo and, when it holds a valid pass, its pass frame.
fn record_frame(
    conn: &Connection,
    photo: &Photo,
    captured_at: Option<i64>,
    qr_ms: Option<f64>,
    pass_of: Option<&str>,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO delivery_frames (photo_id, creator_id, captured_at, received_at, searched_at, qr_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (photo_id) DO UPDATE SET captured_at = ?3, searched_at = ?5, qr_ms = ?6",
        params![photo.id, photo.creator_id, captured_at, photo.received_at, now(), qr_ms],
    )?;
    conn.execute(
        "DELETE FROM delivery_pass_frames WHERE photo_id = ?1",
        [photo.id],
    )?;
    if let Some(attendee) = pass_of {
        conn.execute(
            "INSERT INTO delivery_pass_frames (photo_id, attendee, found_at) VALUES (?1, ?2, ?3)",
            params![photo.id, attendee, now()],
        )?;
        audit(
            conn,
            "tagger",
            "delivery.pass_frame",
            &format!("photo {} holds the pass of {}", photo.id, short(attendee)),
        )?;
    }
    Ok(())
}

/// Whether a photo is a pass frame (galleries leave those out).
pub fn is_pass_frame(conn: &Connection, photo_id: i64) -> rusqlite::Result<bool> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM delivery_pass_frames WHERE photo_id = ?1",
            [photo_id],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// A pseudonym as the audit log shows it (its first 10 hex digits: the short code's
/// id, enough to tell attendees apart).
pub(crate) fn short(pseudonym: &str) -> &str {
    pseudonym.get(..10).unwrap_or(pseudonym)
}

/// One searched photo of a creator, as the recomputation sees it.
struct Frame {
    photo_id: i64,
    /// Capture time if known, else arrival time.
    t: i64,
    received_at: i64,
    pass: Option<String>,
}

/// One stall scan.
struct StallScan {
    attendee: String,
    via: &'static str,
    after_photo_id: i64,
    at: i64,
}

/// Recomputes which attendee every searched photo of `creator_id` is tagged to by
/// pass frames and stall scans, and brings `delivery_tags` and consent's
/// `photo_attendees` in line, auditing each change as `actor`. When a pass frame's run
/// and a stall scan's both reach a photo, the one that arrived later wins (a pass
/// frame by its photo id, a scan by the newest photo when it was made).
pub fn retag_creator(
    conn: &Connection,
    creator_id: i64,
    gap_secs: i64,
    actor: &str,
) -> rusqlite::Result<Changes> {
    let mut stmt = conn.prepare(
        "SELECT f.photo_id, coalesce(f.captured_at, f.received_at), f.received_at, p.attendee
         FROM delivery_frames f LEFT JOIN delivery_pass_frames p ON p.photo_id = f.photo_id
         WHERE f.creator_id = ?1",
    )?;
    let mut frames = stmt
        .query_map([creator_id], |r| {
            Ok(Frame {
                photo_id: r.get(0)?,
                t: r.get(1)?,
                received_at: r.get(2)?,
                pass: r.get(3)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut stmt = conn.prepare(
        "SELECT attendee, via, after_photo_id, at FROM delivery_stall_scans
         WHERE creator_id = ?1 ORDER BY id",
    )?;
    let scans = stmt
        .query_map([creator_id], |r| {
            Ok(StallScan {
                attendee: r.get(0)?,
                via: if r.get::<_, String>(1)? == "scan" {
                    "scan"
                } else {
                    "typed"
                },
                after_photo_id: r.get(2)?,
                at: r.get(3)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;

    // photo → (attendee, source, rank): rank orders the starts by arrival.
    let mut desired: HashMap<i64, (String, &'static str, i64)> = HashMap::new();
    // Pass frames' runs, in capture order.
    frames.sort_by_key(|f| (f.t, f.photo_id));
    let mut run: Option<(&str, i64, i64)> = None;
    for f in &frames {
        if let Some(pass) = &f.pass {
            run = Some((pass, f.t, 2 * f.photo_id));
            continue;
        }
        if let Some((attendee, last, rank)) = run {
            if f.t - last <= gap_secs {
                desired.insert(f.photo_id, (attendee.to_string(), "frame", rank));
                run = Some((attendee, f.t, rank));
            } else {
                run = None;
            }
        }
    }
    // Stall scans' runs, in arrival order.
    frames.sort_by_key(|f| f.photo_id);
    for (i, scan) in scans.iter().enumerate() {
        let until = scans.get(i + 1).map_or(i64::MAX, |s| s.after_photo_id);
        let rank = 2 * scan.after_photo_id + 1;
        let mut last = scan.at;
        for f in frames
            .iter()
            .filter(|f| f.photo_id > scan.after_photo_id && f.photo_id <= until)
        {
            if f.pass.is_some() || f.received_at - last > gap_secs {
                break;
            }
            last = f.received_at;
            if desired.get(&f.photo_id).map_or(true, |d| d.2 < rank) {
                desired.insert(f.photo_id, (scan.attendee.clone(), scan.via, rank));
            }
        }
    }

    // What is recorded now, for this creator's searched photos.
    let mut stmt = conn.prepare(
        "SELECT t.photo_id, t.attendee, t.source FROM delivery_tags t
         JOIN delivery_frames f ON f.photo_id = t.photo_id
         WHERE f.creator_id = ?1 AND t.source != 'hand'",
    )?;
    let current = stmt
        .query_map([creator_id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut changes = Changes::default();
    for (photo, attendee, source) in &current {
        let keep = desired
            .get(photo)
            .is_some_and(|(a, s, _)| a == attendee && s == source);
        if !keep {
            conn.execute(
                "DELETE FROM delivery_tags WHERE photo_id = ?1 AND attendee = ?2 AND source = ?3",
                params![photo, attendee, source],
            )?;
            if apply(conn, *photo, attendee)? == Some(false) {
                changes.removed += 1;
                audit(
                    conn,
                    actor,
                    "delivery.untag",
                    &format!("photo {photo}: {} (was {source})", short(attendee)),
                )?;
            }
        }
    }
    let mut wanted: Vec<_> = desired.into_iter().collect();
    wanted.sort_by_key(|(photo, _)| *photo);
    for (photo, (attendee, source, _)) in wanted {
        let inserted = conn.execute(
            "INSERT OR IGNORE INTO delivery_tags (photo_id, attendee, source, at)
             VALUES (?1, ?2, ?3, ?4)",
            params![photo, attendee, source, now()],
        )?;
        if inserted > 0 && apply(conn, photo, &attendee)? == Some(true) {
            changes.added += 1;
            audit(
                conn,
                actor,
                "delivery.tag",
                &format!("photo {photo}: {} by {source}", short(&attendee)),
            )?;
        }
    }
    Ok(changes)
}

/// Brings consent's `photo_attendees` in line with our records for one photo and
/// attendee: a `hand` row decides; otherwise any automatic row tags. Returns the tag's
/// new state if it changed (`None`: unchanged, or the attendee deleted their records).
fn apply(conn: &Connection, photo_id: i64, pseudonym: &str) -> rusqlite::Result<Option<bool>> {
    let rows: Vec<(String, bool)> = {
        let mut stmt = conn.prepare(
            "SELECT source, removed FROM delivery_tags WHERE photo_id = ?1 AND attendee = ?2",
        )?;
        let rows = stmt.query_map(params![photo_id, pseudonym], |r| {
            Ok((r.get(0)?, r.get::<_, i64>(1)? != 0))
        })?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let tagged = match rows.iter().find(|(s, _)| s == "hand") {
        Some((_, removed)) => !removed,
        None => !rows.is_empty(),
    };
    let Some(attendee) = consent::attendee_by_pseudonym(conn, pseudonym)? else {
        return Ok(None);
    };
    let changed = if tagged {
        consent::add_photo_tag(conn, photo_id, &attendee.id)?
    } else {
        consent::remove_photo_tag(conn, photo_id, &attendee.id)?
    };
    Ok(changed.then_some(tagged))
}

/// Why a vendor's tagging request was refused.
#[derive(Debug, thiserror::Error)]
pub enum TagError {
    /// Not a pass of this event (bad tag, wrong format), or its attendee is gone.
    #[error("not a pass of this event")]
    UnknownPass,
    /// No such photo among the creator's own.
    #[error("no such photo")]
    NoSuchPhoto,
    /// The database failed.
    #[error(transparent)]
    Db(#[from] rusqlite::Error),
}

/// A pass scanned or typed at `creator_id`'s stall: their photos that arrive after
/// now are tagged to its attendee (see the module comment). Returns the attendee's
/// pseudonym.
pub fn scan_at_stall(
    conn: &Connection,
    secret: &Secret,
    creator_id: i64,
    code: &str,
    via: Via,
    gap_secs: i64,
) -> Result<String, TagError> {
    let pass = consent::verify_pass_code(secret, code).ok_or(TagError::UnknownPass)?;
    let attendee = consent::attendee_by_pass(conn, &pass)?.ok_or(TagError::UnknownPass)?;
    let after = reads::last_photo_of(conn, creator_id)?;
    conn.execute(
        "INSERT INTO delivery_stall_scans (creator_id, attendee, via, after_photo_id, at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![creator_id, attendee.pseudonym, via.as_str(), after, now()],
    )?;
    let actor = format!("creator:{creator_id}");
    audit(
        conn,
        &actor,
        "delivery.scan",
        &format!(
            "{} {} at the stall: photos after {after}",
            short(&attendee.pseudonym),
            if via == Via::Scan { "scanned" } else { "typed" }
        ),
    )?;
    retag_creator(conn, creator_id, gap_secs, &actor)?;
    Ok(attendee.pseudonym)
}

/// Tags the attendee of pass `code` on the creator's photo by hand. Returns whether
/// the photo's tags changed.
pub fn tag_by_hand(
    conn: &Connection,
    secret: &Secret,
    creator_id: i64,
    photo_id: i64,
    code: &str,
) -> Result<bool, TagError> {
    let pass = consent::verify_pass_code(secret, code).ok_or(TagError::UnknownPass)?;
    reads::photo_of_creator(conn, photo_id, creator_id)?.ok_or(TagError::NoSuchPhoto)?;
    let attendee = consent::attendee_by_pass(conn, &pass)?.ok_or(TagError::UnknownPass)?;
    hand(conn, creator_id, photo_id, &attendee.pseudonym, false)
}

/// Removes the attendee (`pseudonym`, as the tag list shows it) from the creator's
/// photo by hand; a later recomputation does not put it back. Returns whether the
/// photo's tags changed.
pub fn untag_by_hand(
    conn: &Connection,
    creator_id: i64,
    photo_id: i64,
    pseudonym: &str,
) -> Result<bool, TagError> {
    reads::photo_of_creator(conn, photo_id, creator_id)?.ok_or(TagError::NoSuchPhoto)?;
    hand(conn, creator_id, photo_id, pseudonym, true)
}

fn hand(
    conn: &Connection,
    creator_id: i64,
    photo_id: i64,
    pseudonym: &str,
    removed: bool,
) -> Result<bool, TagError> {
    conn.execute(
        "INSERT INTO delivery_tags (photo_id, attendee, source, removed, at)
         VALUES (?1, ?2, 'hand', ?3, ?4)
         ON CONFLICT (photo_id, attendee, source) DO UPDATE SET removed = ?3, at = ?4",
        params![photo_id, pseudonym, removed, now()],
    )?;
    let changed = apply(conn, photo_id, pseudonym)?.is_some();
    audit(
        conn,
        &format!("creator:{creator_id}"),
        if removed {
            "delivery.untag"
        } else {
            "delivery.tag"
        },
        &format!("photo {photo_id}: {} by hand", short(pseudonym)),
    )?;
    Ok(changed)
}

/// The tagger's detection times (milliseconds: JPEG decode to grey plus QR search per
/// photo), for the benchmark: median and 95th percentile over every searched photo,
/// and how many.
pub fn qr_figures(conn: &Connection) -> rusqlite::Result<(usize, Option<f64>, Option<f64>)> {
    let mut stmt =
        conn.prepare("SELECT qr_ms FROM delivery_frames WHERE qr_ms IS NOT NULL ORDER BY qr_ms")?;
    let ms = stmt
        .query_map([], |r| r.get::<_, f64>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let at = |q: f64| (!ms.is_empty()).then(|| ms[((ms.len() - 1) as f64 * q).round() as usize]);
    Ok((ms.len(), at(0.5), at(0.95)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database with two attendees; foreign keys off (only the tagging rows matter).
    fn db() -> (Connection, consent::Attendee, consent::Attendee) {
        let conn = crate::db::memory_for_tests();
        conn.pragma_update(None, "foreign_keys", false).unwrap();
        let secret = consent::ensure_secret(&conn).unwrap();
        let a = consent::new_attendee(&conn, &secret, "en").unwrap();
        let b = consent::new_attendee(&conn, &secret, "en").unwrap();
        (conn, a, b)
    }

    /// Records photo `id` of creator 1 as searched, captured at `t`, maybe a pass frame.
    fn frame(conn: &Connection, id: i64, t: Option<i64>, pass: Option<&consent::Attendee>) {
        let photo = Photo {
            id,
            sha256: String::new(),
            size: 0,
            media_type: "image/jpeg".into(),
            raw: false,
            creator_id: 1,
            original_name: String::new(),
            source: "ftp".into(),
            received_at: 1_000 + id,
        };
        record_frame(conn, &photo, t, None, pass.map(|a| a.pseudonym.as_str())).unwrap();
    }

    fn on(conn: &Connection, photo: i64) -> Vec<String> {
        consent::photo_tags(conn, photo).unwrap()
    }

    #[test]
    fn runs_follow_capture_time_end_at_the_gap_and_at_the_next_pass() {
        let (conn, a, b) = db();
        // Searched out of order (renders finish in any order): 3 before its pass 2.
        frame(&conn, 3, Some(110), None);
        retag_creator(&conn, 1, 60, "t").unwrap();
        assert!(on(&conn, 3).is_empty(), "no pass frame yet");
        frame(&conn, 2, Some(100), Some(&a));
        frame(&conn, 1, Some(50), None); // captured before the pass
        frame(&conn, 4, Some(150), None);
        frame(&conn, 5, Some(300), None); // 150 s after 4: past the 60 s gap
        frame(&conn, 6, Some(310), Some(&b));
        frame(&conn, 7, None, None); // no capture time: its arrival (1007) orders it
        let changes = retag_creator(&conn, 1, 60, "t").unwrap();
        assert_eq!(on(&conn, 3), vec![a.id.clone()]);
        assert_eq!(on(&conn, 4), vec![a.id.clone()]);
        for photo in [1, 2, 5, 6, 7] {
            assert!(on(&conn, photo).is_empty(), "photo {photo}");
        }
        assert_eq!(
            changes,
            Changes {
                added: 2,
                removed: 0
            }
        );
        // A pass frame found later between 3 and 4 takes 4 over.
        frame(&conn, 8, Some(120), Some(&b));
        let changes = retag_creator(&conn, 1, 60, "t").unwrap();
        assert_eq!(on(&conn, 4), vec![b.id.clone()]);
        assert_eq!(
            changes,
            Changes {
                added: 1,
                removed: 1
            }
        );
        assert_eq!(
            retag_creator(&conn, 1, 60, "t").unwrap(),
            Changes::default(),
            "idempotent"
        );
    }

    #[test]
    fn a_later_stall_scan_wins_over_an_earlier_pass_frame_and_hand_removals_stick() {
        let (conn, a, b) = db();
        frame(&conn, 1, Some(100), Some(&a));
        frame(&conn, 2, Some(110), None);
        // Scanned at the stall after photo 2 arrived.
        conn.execute(
            "INSERT INTO delivery_stall_scans (creator_id, attendee, via, after_photo_id, at)
             VALUES (1, ?1, 'scan', 2, 1002)",
            [&b.pseudonym],
        )
        .unwrap();
        frame(&conn, 3, Some(120), None);
        retag_creator(&conn, 1, 60, "t").unwrap();
        assert_eq!(on(&conn, 2), vec![a.id.clone()]);
        assert_eq!(
            on(&conn, 3),
            vec![b.id.clone()],
            "the scan came after the pass"
        );
        hand(&conn, 1, 3, &b.pseudonym, true).unwrap();
        assert!(on(&conn, 3).is_empty());
        frame(&conn, 4, Some(130), None);
        retag_creator(&conn, 1, 60, "t").unwrap();
        assert!(on(&conn, 3).is_empty(), "removed by hand stays removed");
        assert_eq!(on(&conn, 4), vec![b.id.clone()]);
    }
}
