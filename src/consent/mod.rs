//! Consent and attendance: the records the portal, the door scanner and the vendors
//! write about attendees, and the one question the rest of the box asks of them:
//! [`may`] this happen to attendee A's data?
//!
//! An attendee is a random pass id (a bearer secret held in the attendee's cookie and
//! printed in their pass QR code; it never leaves the box) and a pseudonym, a keyed
//! hash of the pass id under a per-event secret: the only id that may appear in
//! anything exported. Attendance rows carry only pseudonyms, never a MAC, an address
//! or a name.
//!
//! Consent is append-only: every grant and every withdrawal is a new row, with the
//! scope, the hash of the privacy notice the attendee was shown, the channel and the
//! time. The current state of a scope is its latest row. The only deletions are the
//! attendee's own "delete my records" (which leaves an erasure row holding the
//! pseudonym, so a sync can tell the cloud) and the retention purge.
//!
//! Size: about 590 lines of code and 135 of tests: every consent and attendance rule
//! (the one `may` question, erasure, retention) stays beside the tables it writes.

pub mod door;

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine;
use hmac::{Hmac, Mac};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::clock::now;
use crate::db::audit;

/// What an attendee may agree to, one scope at a time. Nothing is granted by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Photos of me may be shown in the public gallery.
    Gallery,
    /// Send my photos to me (delivery links).
    Receive,
    /// My photos and records may be synced to the organiser's cloud.
    Sync,
    /// The organiser may contact me about future events.
    Marketing,
}

impl Scope {
    /// Every scope, in the order the portal shows them.
    pub const ALL: [Scope; 4] = [
        Scope::Gallery,
        Scope::Receive,
        Scope::Sync,
        Scope::Marketing,
    ];

    /// The stable name stored in the database and used in forms.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Gallery => "gallery",
            Scope::Receive => "receive",
            Scope::Sync => "sync",
            Scope::Marketing => "marketing",
        }
    }

    /// The scope with this stable name.
    pub fn parse(name: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a consent decision was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// The attendee, on the captive portal.
    Portal,
    /// Staff at the door, on the attendee's word.
    Door,
    /// A vendor at their stand, on the attendee's word.
    Vendor,
}

impl Channel {
    /// The stable name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Portal => "portal",
            Channel::Door => "door",
            Channel::Vendor => "vendor",
        }
    }
}

/// Where an attendance was counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The attendee's phone went through the portal.
    Portal,
    /// The attendee's pass was scanned at the door.
    Door,
}

impl Source {
    /// The stable name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Portal => "portal",
            Source::Door => "door",
        }
    }
}

/// The per-event secret every keyed hash of this box uses.
#[derive(Clone)]
pub struct Secret([u8; 32]);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    /// A keyed hash of `value` in the given domain (so a hash made for one purpose never
    /// matches one made for another): 128 bits in lowercase hex.
    pub fn keyed_hash(&self, domain: &str, value: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("any key length");
        mac.update(domain.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
    }

    /// The pseudonym of an attendee: the only id of theirs that may leave the box.
    pub fn pseudonym(&self, attendee: &str) -> String {
        self.keyed_hash("attendee", attendee)
    }
}

/// Loads the per-event secret, creating it on first use. Call inside a write.
pub fn ensure_secret(conn: &Connection) -> rusqlite::Result<Secret> {
    if let Some(secret) = load_secret(conn)? {
        return Ok(secret);
    }
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    conn.execute(
        "INSERT INTO portal_secret (id, secret) VALUES (1, ?1)",
        params![&bytes[..]],
    )?;
    Ok(Secret(bytes))
}

/// The per-event secret, if one has been made.
pub fn load_secret(conn: &Connection) -> rusqlite::Result<Option<Secret>> {
    let bytes: Option<Vec<u8>> = conn
        .query_row("SELECT secret FROM portal_secret WHERE id = 1", [], |r| {
            r.get(0)
        })
        .optional()?;
    Ok(bytes.and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok().map(Secret)))
}

/// One attendee: their pass id (secret) and pseudonym (exportable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attendee {
    /// The random pass id. A bearer secret: never log or export it.
    pub id: String,
    /// The keyed hash of the pass id.
    pub pseudonym: String,
}

/// Makes a new attendee with a fresh random pass id.
pub fn new_attendee(
    conn: &Connection,
    secret: &Secret,
    language: &str,
) -> rusqlite::Result<Attendee> {
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let pseudonym = secret.pseudonym(&id);
    conn.execute(
        "INSERT INTO attendees (id, pseudonym, created_at, language) VALUES (?1, ?2, ?3, ?4)",
        params![id, pseudonym, now(), language],
    )?;
    Ok(Attendee { id, pseudonym })
}

/// The attendee with this pass id, if they exist (and have not deleted their records).
pub fn attendee(conn: &Connection, id: &str) -> rusqlite::Result<Option<Attendee>> {
    attendee_where(
        conn,
        "SELECT id, pseudonym FROM attendees WHERE id = ?1",
        id,
    )
}

fn attendee_where(conn: &Connection, sql: &str, key: &str) -> rusqlite::Result<Option<Attendee>> {
    // The pass lookup runs on every attendee request: prepared once per connection.
    conn.prepare_cached(sql)?
        .query_row(params![key], |r| {
            Ok(Attendee {
                id: r.get(0)?,
                pseudonym: r.get(1)?,
            })
        })
        .optional()
}

/// Prefix of the long pass code of the first pass pages (`VBX1:<pseudonym>:<tag>`),
/// still accepted (see [`verify_pass_code`]).
const PASS_PREFIX_LONG: &str = "VBX1";

/// Prefix of the short pass code in the QR code: `VB1` then the 16 characters of the
/// typeable form, without dashes (19 characters, all in QR's alphanumeric set).
pub const PASS_PREFIX: &str = "VB1";

/// The alphabet of the short pass code: Crockford's base32 (digits and uppercase
/// letters without I, L, O and U), so a typed code has no look-alike characters
/// (<https://www.crockford.com/base32.html>). Input is read case-insensitively, with
/// I and L read as 1 and O as 0, as Crockford's decoding rule says.
fn short_alphabet() -> data_encoding::Encoding {
    let mut spec = data_encoding::Specification::new();
    spec.symbols.push_str("0123456789ABCDEFGHJKMNPQRSTVWXYZ");
    spec.translate.from.push_str("abcdefghjkmnpqrstvwxyzIiLlOo");
    spec.translate.to.push_str("ABCDEFGHJKMNPQRSTVWXYZ111100");
    spec.encoding().expect("a valid base32 specification")
}

/// Bytes of the pseudonym in a short code (40 bits: 8 base32 characters).
const SHORT_ID_BYTES: usize = 5;
/// Bytes of the keyed tag in a short code (40 bits: 8 base32 characters).
const SHORT_TAG_BYTES: usize = 5;

/// Which attendee a verified pass code names: what [`attendee_by_pass`] looks up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PassRef {
    /// A long (`VBX1:`) code: the whole pseudonym.
    Pseudonym(String),
    /// A short (`VB1`) code: the first 40 bits of the pseudonym, as 10 lowercase hex
    /// digits. An event's attendees share such a prefix with odds of about
    /// n²/2⁴¹ (n = 10 000: 5 in 100 million); a shared one names nobody.
    Prefix(String),
}

/// An attendee's pass code, in its two forms: the text of the QR code and the form a
/// person types. Both hold the first 40 bits of the pseudonym (never the pass id, which
/// opens the attendee's data: the code is shown to staff and scanned by devices) and a
/// 40-bit keyed tag (HMAC-SHA-256 under the event's secret), so a forged or mistyped
/// code is refused before any lookup: a guess passes with odds of 2⁻⁴⁰ (one in about
/// 1.1 × 10¹²) and must then also hit an attendee's 40-bit id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassCode {
    /// The QR code's text: `VB1` + 16 base32 characters (19 characters, QR version 2
    /// at error correction level Q in alphanumeric mode).
    pub qr: String,
    /// The typeable form: the same 16 characters in four groups of four,
    /// `XXXX-XXXX-XXXX-XXXX`.
    pub typed: String,
}

/// The keyed tag of a short code's id (8 base32 characters).
fn short_tag(secret: &Secret, id: &str) -> String {
    let hex_tag = secret.keyed_hash("pass-short", id);
    let bytes = hex::decode(&hex_tag[..SHORT_TAG_BYTES * 2]).expect("hex from keyed_hash");
    short_alphabet().encode(&bytes)
}

/// The pass code of an attendee (see [`PassCode`]).
pub fn pass_code(secret: &Secret, attendee: &Attendee) -> PassCode {
    let prefix = hex::decode(&attendee.pseudonym[..SHORT_ID_BYTES * 2])
        .expect("a pseudonym is hex from keyed_hash");
    let id = short_alphabet().encode(&prefix);
    let tag = short_tag(secret, &id);
    let body = format!("{id}{tag}");
    let typed = body
        .as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).expect("ASCII"))
        .collect::<Vec<_>>()
        .join("-");
    PassCode {
        qr: format!("{PASS_PREFIX}{body}"),
        typed,
    }
}

/// The long pass code of the first pass pages (`VBX1:<pseudonym>:<16 hex tag>`, 55
/// characters), still accepted by [`verify_pass_code`]: kept for tests of that path.
pub fn long_pass_code(secret: &Secret, attendee: &Attendee) -> String {
    let tag = &secret.keyed_hash("pass", &attendee.pseudonym)[..16];
    format!("{PASS_PREFIX_LONG}:{}:{tag}", attendee.pseudonym)
}

/// Whom a scanned, photographed or typed pass code names, if the code is well formed
/// and its keyed tag is ours (compared in constant time; no database lookup happens
/// for a code that fails). Accepts the short code as the QR holds it (`VB1…`) or as
/// typed (16 characters, any case, dashes and spaces ignored, I/L read as 1 and O as 0),
/// and the long `VBX1:` code of earlier pass pages, whose 64-bit tag is as strong.
pub fn verify_pass_code(secret: &Secret, code: &str) -> Option<PassRef> {
    let code = code.trim();
    if code.len() > 128 {
        return None;
    }
    // The long code's prefix with its colon: a short code's id may itself begin with
    // the letters VBX1 (one id in 32⁴; found by fuzz target pass_code), and its typed
    // form must not be read as a long code.
    if code
        .strip_prefix(PASS_PREFIX_LONG)
        .is_some_and(|rest| rest.starts_with(':'))
    {
        return verify_long(secret, code).map(PassRef::Pseudonym);
    }
    let compact: String = code.chars().filter(|c| !matches!(c, '-' | ' ')).collect();
    // Slicing below is by bytes: anything but ASCII is no pass anyway.
    if !compact.is_ascii() {
        return None;
    }
    let body = match compact.len() {
        19 if compact[..3].eq_ignore_ascii_case(PASS_PREFIX) => &compact[3..],
        16 => &compact[..],
        _ => return None,
    };
    let alphabet = short_alphabet();
    let id_bytes = alphabet.decode(&body.as_bytes()[..8]).ok()?;
    let tag_bytes = alphabet.decode(&body.as_bytes()[8..]).ok()?;
    // The canonical spelling of the id (the tag was made over it).
    let id = alphabet.encode(&id_bytes);
    let expected = alphabet
        .decode(short_tag(secret, &id).as_bytes())
        .expect("our own encoding");
    let ok: bool = subtle::ConstantTimeEq::ct_eq(&expected[..], &tag_bytes[..]).into();
    ok.then(|| PassRef::Prefix(hex::encode(id_bytes)))
}

/// The pseudonym in a long (`VBX1:`) code, if its tag is ours.
fn verify_long(secret: &Secret, code: &str) -> Option<String> {
    let mut parts = code.split(':');
    let (prefix, pseudonym, tag) = (parts.next()?, parts.next()?, parts.next()?);
    if prefix != PASS_PREFIX_LONG
        || parts.next().is_some()
        || pseudonym.is_empty()
        || pseudonym.len() > 64
    {
        return None;
    }
    let expected = secret.keyed_hash("pass", pseudonym);
    let ok: bool = subtle::ConstantTimeEq::ct_eq(&expected.as_bytes()[..16], tag.as_bytes()).into();
    ok.then(|| pseudonym.to_string())
}

/// The attendee a verified pass code names, if they still exist (and, for a short
/// code, exactly one attendee has that id).
pub fn attendee_by_pass(conn: &Connection, pass: &PassRef) -> rusqlite::Result<Option<Attendee>> {
    match pass {
        PassRef::Pseudonym(p) => attendee_by_pseudonym(conn, p),
        PassRef::Prefix(prefix) => {
            // Pseudonyms are lowercase hex: every one starting with `prefix` sorts in
            // [prefix, prefix + "g"), a range the unique index answers.
            let mut stmt = conn.prepare(
                "SELECT id, pseudonym FROM attendees
                 WHERE pseudonym >= ?1 AND pseudonym < ?1 || 'g' LIMIT 2",
            )?;
            let found = stmt
                .query_map([prefix], |r| {
                    Ok(Attendee {
                        id: r.get(0)?,
                        pseudonym: r.get(1)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(match <[Attendee; 1]>::try_from(found) {
                Ok([one]) => Some(one),
                Err(_) => None,
            })
        }
    }
}

/// The attendee with this pseudonym (from a scanned pass), if they still exist.
pub fn attendee_by_pseudonym(
    conn: &Connection,
    pseudonym: &str,
) -> rusqlite::Result<Option<Attendee>> {
    attendee_where(
        conn,
        "SELECT id, pseudonym FROM attendees WHERE pseudonym = ?1",
        pseudonym,
    )
}

/// The attendee id and language (`""` when unknown) of the attendee a verified pass
/// code names, if they still exist.
pub fn language_by_pass(
    conn: &Connection,
    pass: &PassRef,
) -> rusqlite::Result<Option<(String, String)>> {
    let Some(attendee) = attendee_by_pass(conn, pass)? else {
        return Ok(None);
    };
    conn.query_row(
        "SELECT id, coalesce(language, '') FROM attendees WHERE id = ?1",
        [attendee.id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
}

/// Whether a portal client (its keyed client key, never a raw MAC) is through the
/// portal: `None` never admitted (or purged), `Some(None)` admitted with no session
/// limit, `Some(Some(t))` admitted until `t` (seconds since the epoch).
pub fn portal_client_expiry(
    conn: &Connection,
    client_key: &str,
) -> rusqlite::Result<Option<Option<i64>>> {
    conn.query_row(
        "SELECT expires_at FROM portal_clients WHERE client_key = ?1",
        [client_key],
        |r| r.get(0),
    )
    .optional()
}

/// Admits a portal client for `attendee` now, until `expires_at` (`None`: no limit),
/// replacing any earlier admission of that client.
pub fn admit_portal_client(
    conn: &Connection,
    client_key: &str,
    attendee: &str,
    expires_at: Option<i64>,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO portal_clients (client_key, attendee, accepted_at, expires_at)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (client_key) DO UPDATE SET attendee = ?2, accepted_at = ?3, expires_at = ?4",
        params![client_key, attendee, now(), expires_at],
    )?;
    Ok(())
}

/// Remembers the text of a privacy notice as shown and returns its hash, which every
/// consent row given under it carries.
pub fn remember_notice(
    conn: &Connection,
    version: &str,
    language: &str,
    text: &str,
) -> rusqlite::Result<String> {
    let hash = notice_hash(version, language, text);
    conn.execute(
        "INSERT OR IGNORE INTO notices (hash, version, language, text, first_shown)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![hash, version, language, text, now()],
    )?;
    Ok(hash)
}

/// The hash identifying one version of a notice in one language.
pub fn notice_hash(version: &str, language: &str, text: &str) -> String {
    let mut h = Sha256::new();
    for part in [version, language, text] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// The current state of one scope for one attendee.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScopeState {
    /// Granted (true) or withdrawn (false).
    pub granted: bool,
    /// The notice the decision was taken under.
    pub notice_hash: String,
    /// Where.
    pub channel: String,
    /// When (seconds since the epoch).
    pub at: i64,
}

/// The current consent of an attendee: the latest row of each scope they decided on.
pub fn current(conn: &Connection, attendee: &str) -> rusqlite::Result<BTreeMap<Scope, ScopeState>> {
    let mut stmt = conn.prepare_cached(
        "SELECT scope, granted, notice_hash, channel, at FROM consent_events
         WHERE attendee = ?1 ORDER BY seq",
    )?;
    let rows = stmt.query_map(params![attendee], |r| {
        Ok((
            r.get::<_, String>(0)?,
            ScopeState {
                granted: r.get(1)?,
                notice_hash: r.get(2)?,
                channel: r.get(3)?,
                at: r.get(4)?,
            },
        ))
    })?;
    let mut state = BTreeMap::new();
    for row in rows {
        let (scope, s) = row?;
        if let Some(scope) = Scope::parse(&scope) {
            state.insert(scope, s);
        }
    }
    Ok(state)
}

/// May `scope` happen to `attendee`'s data? True only when their latest decision on
/// the scope is a grant; false if never asked, withdrawn, purged or erased.
pub fn may(conn: &Connection, attendee: &str, scope: Scope) -> rusqlite::Result<bool> {
    let granted: Option<bool> = conn
        .query_row(
            "SELECT granted FROM consent_events WHERE attendee = ?1 AND scope = ?2
             ORDER BY seq DESC LIMIT 1",
            params![attendee, scope.as_str()],
            |r| r.get(0),
        )
        .optional()?;
    Ok(granted == Some(true))
}

/// Records a decision at `stamp` (its time and whether the clock was trusted). A
/// decision that repeats the current state under the same notice is not recorded
/// again; returns whether a row was written.
pub fn record(
    conn: &Connection,
    attendee: &str,
    scope: Scope,
    granted: bool,
    notice_hash: &str,
    channel: Channel,
    stamp: crate::clock::Stamp,
) -> rusqlite::Result<bool> {
    let latest: Option<(bool, String)> = conn
        .query_row(
            "SELECT granted, notice_hash FROM consent_events WHERE attendee = ?1 AND scope = ?2
             ORDER BY seq DESC LIMIT 1",
            params![attendee, scope.as_str()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    match latest {
        Some((g, ref h)) if g == granted && h == notice_hash => return Ok(false),
        // Withdrawing what was never granted records nothing either.
        None if !granted => return Ok(false),
        _ => {}
    }
    conn.execute(
        "INSERT INTO consent_events (attendee, scope, granted, notice_hash, channel, at, clock_trusted)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            attendee,
            scope.as_str(),
            granted,
            notice_hash,
            channel.as_str(),
            stamp.at,
            stamp.trusted
        ],
    )?;
    Ok(true)
}

/// Counts one attendance. Repeats within `debounce_secs` of the last one from the same
/// source (a scanner reading a code twice, a phone re-probing) are not counted again;
/// returns whether a row was written. `stamp` is the time and whether the clock was
/// trusted.
pub fn record_attendance(
    conn: &Connection,
    pseudonym: &str,
    source: Source,
    debounce_secs: i64,
    stamp: crate::clock::Stamp,
) -> rusqlite::Result<bool> {
    let at = stamp.at;
    let recent: Option<i64> = conn
        .query_row(
            "SELECT at FROM attendance WHERE pseudonym = ?1 AND source = ?2 AND at > ?3
             ORDER BY seq DESC LIMIT 1",
            params![pseudonym, source.as_str(), at - debounce_secs],
            |r| r.get(0),
        )
        .optional()?;
    if recent.is_some() {
        return Ok(false);
    }
    conn.execute(
        "INSERT INTO attendance (pseudonym, source, at, clock_trusted) VALUES (?1, ?2, ?3, ?4)",
        params![pseudonym, source.as_str(), at, stamp.trusted],
    )?;
    Ok(true)
}

/// Deletes everything the box holds about an attendee ("delete my records"): their
/// consent rows, attendance, portal clients and the attendee itself. An erasure row
/// keeps the pseudonym (and nothing else) so a later sync can tell the cloud.
pub fn erase(conn: &Connection, attendee: &Attendee) -> rusqlite::Result<()> {
    conn.execute(
        "DELETE FROM consent_events WHERE attendee = ?1",
        params![attendee.id],
    )?;
    conn.execute(
        "DELETE FROM attendance WHERE pseudonym = ?1",
        params![attendee.pseudonym],
    )?;
    conn.execute(
        "DELETE FROM portal_clients WHERE attendee = ?1",
        params![attendee.id],
    )?;
    // Photos they were tagged on stay tagged, by a marker that is no pass and consents
    // to nothing: those photos never leave the box for their sake.
    conn.execute(
        "UPDATE photo_attendees SET attendee = 'erased:' || ?2 WHERE attendee = ?1",
        params![attendee.id, attendee.pseudonym],
    )?;
    conn.execute("DELETE FROM attendees WHERE id = ?1", params![attendee.id])?;
    conn.execute(
        "INSERT INTO attendee_erasures (pseudonym, at) VALUES (?1, ?2)",
        params![attendee.pseudonym, now()],
    )?;
    audit(conn, "attendee", "attendee.erase", &attendee.pseudonym)
}

/// What a retention purge removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Purged {
    /// Consent rows.
    pub consent: usize,
    /// Attendance rows.
    pub attendance: usize,
    /// Portal clients whose acceptance is that old.
    pub clients: usize,
}

/// Removes consent and attendance rows older than `before` (seconds since the epoch)
/// and records the purge in the audit log when anything went.
pub fn purge_older_than(conn: &Connection, before: i64) -> rusqlite::Result<Purged> {
    let purged = Purged {
        consent: conn.execute("DELETE FROM consent_events WHERE at < ?1", params![before])?,
        attendance: conn.execute("DELETE FROM attendance WHERE at < ?1", params![before])?,
        clients: conn.execute(
            "DELETE FROM portal_clients WHERE accepted_at < ?1",
            params![before],
        )?,
    };
    if purged != Purged::default() {
        audit(
            conn,
            "system",
            "retention.purge",
            &format!(
                "before {before}: {} consent, {} attendance, {} portal clients",
                purged.consent, purged.attendance, purged.clients
            ),
        )?;
    }
    Ok(purged)
}

/// Figures for the dashboard.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Attendees with a pass.
    pub attendees: i64,
    /// Attendees currently granting each scope.
    pub granted: BTreeMap<String, i64>,
    /// Attendance rows per source.
    pub attendance: BTreeMap<String, i64>,
    /// Distinct pseudonyms counted at all.
    pub unique_attendance: i64,
}

/// Counts for the dashboard: passes, current grants per scope, attendance.
pub fn summary(conn: &Connection) -> rusqlite::Result<Summary> {
    let mut s = Summary {
        attendees: conn.query_row("SELECT count(*) FROM attendees", [], |r| r.get(0))?,
        unique_attendance: conn.query_row(
            "SELECT count(DISTINCT pseudonym) FROM attendance",
            [],
            |r| r.get(0),
        )?,
        ..Summary::default()
    };
    let mut stmt = conn.prepare(
        "SELECT scope, count(*) FROM consent_events c
         WHERE seq = (SELECT max(seq) FROM consent_events d
                      WHERE d.attendee = c.attendee AND d.scope = c.scope)
           AND granted = 1
         GROUP BY scope",
    )?;
    for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
        let (scope, n) = row?;
        s.granted.insert(scope, n);
    }
    let mut stmt = conn.prepare("SELECT source, count(*) FROM attendance GROUP BY source")?;
    for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
        let (source, n) = row?;
        s.attendance.insert(source, n);
    }
    Ok(s)
}

/// Replaces who is on photo `photo_id` with `attendees` (pass ids), tagged now.
pub fn tag_photo(conn: &Connection, photo_id: i64, attendees: &[String]) -> rusqlite::Result<()> {
    conn.execute(
        "DELETE FROM photo_attendees WHERE photo_id = ?1",
        [photo_id],
    )?;
    for attendee in attendees {
        conn.execute(
            "INSERT OR IGNORE INTO photo_attendees (photo_id, attendee, tagged_at) VALUES (?1, ?2, ?3)",
            params![photo_id, attendee, now()],
        )?;
    }
    Ok(())
}

/// Tags one more attendee (pass id) on photo `photo_id`, keeping the others (the
/// delivery engine's tagging). Returns whether the tag is new.
pub fn add_photo_tag(conn: &Connection, photo_id: i64, attendee: &str) -> rusqlite::Result<bool> {
    Ok(conn.execute(
        "INSERT OR IGNORE INTO photo_attendees (photo_id, attendee, tagged_at) VALUES (?1, ?2, ?3)",
        params![photo_id, attendee, now()],
    )? > 0)
}

/// Who is tagged on photo `photo_id` (pass ids, or `erased:<pseudonym>` markers),
/// sorted.
pub fn photo_tags(conn: &Connection, photo_id: i64) -> rusqlite::Result<Vec<String>> {
    let mut stmt =
        conn.prepare("SELECT attendee FROM photo_attendees WHERE photo_id = ?1 ORDER BY attendee")?;
    let rows = stmt.query_map([photo_id], |r| r.get(0))?;
    rows.collect()
}

/// Removes one attendee (pass id) from photo `photo_id`. Returns whether there was
/// such a tag.
pub fn remove_photo_tag(
    conn: &Connection,
    photo_id: i64,
    attendee: &str,
) -> rusqlite::Result<bool> {
    Ok(conn.execute(
        "DELETE FROM photo_attendees WHERE photo_id = ?1 AND attendee = ?2",
        params![photo_id, attendee],
    )? > 0)
}

/// Purges consent and attendance older than `retention_days` (one run of the
/// hourly retention task), logging what went.
pub async fn purge_expired(store: &crate::db::Store, retention_days: u64) {
    let before = now().saturating_sub((retention_days as i64).saturating_mul(86_400));
    match store.write_sql(move |c| purge_older_than(c, before)).await {
        Ok(p) if p != Purged::default() => {
            tracing::info!(
                consent = p.consent,
                attendance = p.attendance,
                clients = p.clients,
                "retention purge"
            )
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "retention purge failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        crate::db::memory_for_tests()
    }

    /// A trusted stamp of now.
    fn t() -> crate::clock::Stamp {
        crate::clock::stamp(crate::clock::TrustPolicy::Always)
    }

    /// Found by fuzz target pass_code: an attendee whose short id encodes to letters
    /// beginning "VBX1" (pseudonym dafa10e04c…) had a typed code read as the start of a
    /// long `VBX1:` code, and refused; the QR form worked. Every spelling verifies now.
    #[test]
    fn a_short_code_whose_id_spells_the_long_prefix_verifies_in_every_spelling() {
        let secret = Secret([0u8; 32]);
        let attendee = Attendee {
            id: "pass-id".into(),
            pseudonym: "dafa10e04c830681a03dad960b648e8e".into(),
        };
        let code = pass_code(&secret, &attendee);
        assert!(code.typed.starts_with("VBX1-"), "{}", code.typed);
        let prefix = Some(PassRef::Prefix("dafa10e04c".into()));
        for spelling in [
            code.qr.clone(),
            code.typed.clone(),
            code.typed.replace('-', " "),
            code.typed.replace('-', ""),
            code.typed.to_lowercase(),
        ] {
            assert_eq!(verify_pass_code(&secret, &spelling), prefix, "{spelling}");
        }
        // The long code still verifies, and a long code cut at its prefix names nobody.
        let long = long_pass_code(&secret, &attendee);
        assert_eq!(
            verify_pass_code(&secret, &long),
            Some(PassRef::Pseudonym(attendee.pseudonym.clone()))
        );
        assert_eq!(verify_pass_code(&secret, "VBX1:"), None);
    }

    #[test]
    fn consent_is_append_only_and_latest_wins() {
        let conn = db();
        let secret = ensure_secret(&conn).unwrap();
        let a = new_attendee(&conn, &secret, "en").unwrap();
        assert!(
            !may(&conn, &a.id, Scope::Sync).unwrap(),
            "nothing granted by default"
        );
        assert!(!record(&conn, &a.id, Scope::Sync, false, "n1", Channel::Portal, t()).unwrap());
        assert!(record(&conn, &a.id, Scope::Sync, true, "n1", Channel::Portal, t()).unwrap());
        assert!(!record(&conn, &a.id, Scope::Sync, true, "n1", Channel::Portal, t()).unwrap());
        assert!(may(&conn, &a.id, Scope::Sync).unwrap());
        assert!(!may(&conn, &a.id, Scope::Gallery).unwrap());
        assert!(record(&conn, &a.id, Scope::Sync, false, "n1", Channel::Door, t()).unwrap());
        assert!(!may(&conn, &a.id, Scope::Sync).unwrap());
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM consent_events", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 2, "grant and withdrawal are both kept");
        let state = current(&conn, &a.id).unwrap();
        assert_eq!(state[&Scope::Sync].channel, "door");
        assert!(!state[&Scope::Sync].granted);
    }

    #[test]
    fn pass_codes_verify_and_forgeries_do_not() {
        let conn = db();
        let secret = ensure_secret(&conn).unwrap();
        let a = new_attendee(&conn, &secret, "en").unwrap();
        let code = pass_code(&secret, &a);
        assert_eq!(code.qr.len(), 19, "{}", code.qr);
        assert!(code.qr.starts_with(PASS_PREFIX));
        assert!(
            code.qr
                .chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()),
            "QR alphanumeric mode: {}",
            code.qr
        );
        assert_eq!(code.typed.len(), 19);
        assert_eq!(code.typed.matches('-').count(), 3);
        assert!(
            !code.typed.contains(['I', 'L', 'O', 'U']),
            "no look-alike letters: {}",
            code.typed
        );
        assert!(!code.qr.contains(&a.id), "the pass id never appears");
        // What the pass page renders: QR version 2 at level Q (the 55-character long
        // code needed version 4 at M).
        let qr = qrcode::QrCode::with_error_correction_level(&code.qr, qrcode::EcLevel::Q).unwrap();
        assert_eq!(qr.version(), qrcode::Version::Normal(2));
        let prefix = PassRef::Prefix(a.pseudonym[..10].to_string());
        // Every accepted spelling names the attendee.
        let sloppy = code
            .typed
            .to_lowercase()
            .replace('-', " ")
            .replace('1', "l");
        let sloppy = sloppy.replace('0', "o");
        for spelling in [
            code.qr.clone(),
            code.typed.clone(),
            sloppy,
            format!(" {} ", code.qr),
        ] {
            let pass = verify_pass_code(&secret, &spelling);
            assert_eq!(pass.as_ref(), Some(&prefix), "{spelling}");
            assert_eq!(attendee_by_pass(&conn, &prefix).unwrap(), Some(a.clone()));
        }
        // A mistyped or forged code fails on its tag: change each character in turn.
        for i in 3..code.qr.len() {
            let mut bytes = code.qr.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let changed = String::from_utf8(bytes).unwrap();
            assert_eq!(verify_pass_code(&secret, &changed), None, "{changed}");
        }
        assert_eq!(verify_pass_code(&secret, "VB1"), None);
        assert_eq!(
            verify_pass_code(&secret, "VBäÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄ"),
            None,
            "no panic on non-ASCII"
        );
        assert_eq!(verify_pass_code(&secret, &format!("{}0", code.qr)), None);
        assert_eq!(verify_pass_code(&secret, "VB1UUUUUUUUUUUUUUUU"), None);
        let other = ensure_secret(&db()).unwrap();
        assert_eq!(
            verify_pass_code(&other, &code.qr),
            None,
            "another event's secret"
        );

        // The long code of earlier pages still works, and its forgeries do not.
        let long = long_pass_code(&secret, &a);
        assert_eq!(
            verify_pass_code(&secret, &long),
            Some(PassRef::Pseudonym(a.pseudonym.clone()))
        );
        let forged = long.replace(&a.pseudonym, "0123456789abcdef0123456789abcdef");
        assert_eq!(verify_pass_code(&secret, &forged), None);
        assert_eq!(verify_pass_code(&secret, "VBX1:x"), None);
        assert_eq!(verify_pass_code(&secret, &format!("{long}:extra")), None);
        assert_eq!(verify_pass_code(&other, &long), None);
    }

    #[test]
    fn a_shared_short_id_names_nobody() {
        let conn = db();
        for pseudonym in ["abcdef0123aa", "abcdef0123bb", "abcdef0124cc"] {
            conn.execute(
                "INSERT INTO attendees (id, pseudonym, created_at) VALUES (?1, ?1, 0)",
                [pseudonym],
            )
            .unwrap();
        }
        let shared = PassRef::Prefix("abcdef0123".into());
        assert_eq!(attendee_by_pass(&conn, &shared).unwrap(), None);
        let one = PassRef::Prefix("abcdef0124".into());
        assert_eq!(
            attendee_by_pass(&conn, &one).unwrap().map(|a| a.pseudonym),
            Some("abcdef0124cc".to_string())
        );
    }

    #[test]
    fn erase_leaves_only_the_pseudonym() {
        let conn = db();
        let secret = ensure_secret(&conn).unwrap();
        let a = new_attendee(&conn, &secret, "en").unwrap();
        record(
            &conn,
            &a.id,
            Scope::Gallery,
            true,
            "n",
            Channel::Portal,
            t(),
        )
        .unwrap();
        record_attendance(&conn, &a.pseudonym, Source::Portal, 60, t()).unwrap();
        // A tag on photo 7 (no such photo here: only the tag matters).
        conn.pragma_update(None, "foreign_keys", false).unwrap();
        conn.execute(
            "INSERT INTO photo_attendees (photo_id, attendee, tagged_at) VALUES (7, ?1, 0)",
            [&a.id],
        )
        .unwrap();
        erase(&conn, &a).unwrap();
        let tag: String = conn
            .query_row(
                "SELECT attendee FROM photo_attendees WHERE photo_id = 7",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(
            tag,
            format!("erased:{}", a.pseudonym),
            "the photo stays tagged, by no pass"
        );
        assert!(!may(&conn, &tag, Scope::Sync).unwrap());
        assert_eq!(attendee(&conn, &a.id).unwrap(), None);
        assert!(!may(&conn, &a.id, Scope::Gallery).unwrap());
        let left: i64 = conn
            .query_row(
                "SELECT (SELECT count(*) FROM consent_events) + (SELECT count(*) FROM attendance)",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(left, 0);
        let erased: String = conn
            .query_row("SELECT pseudonym FROM attendee_erasures", [], |r| r.get(0))
            .unwrap();
        assert_eq!(erased, a.pseudonym);
    }

    #[test]
    fn attendance_is_debounced() {
        let conn = db();
        assert!(record_attendance(&conn, "p", Source::Door, 30, t()).unwrap());
        assert!(!record_attendance(&conn, "p", Source::Door, 30, t()).unwrap());
        assert!(record_attendance(&conn, "p", Source::Portal, 30, t()).unwrap());
        assert!(record_attendance(&conn, "q", Source::Door, 30, t()).unwrap());
    }

    #[test]
    fn purge_removes_old_rows_and_audits() {
        let conn = db();
        record_attendance(&conn, "p", Source::Door, 0, t()).unwrap();
        conn.execute("UPDATE attendance SET at = 100", []).unwrap();
        record_attendance(&conn, "q", Source::Door, 0, t()).unwrap();
        let purged = purge_older_than(&conn, 1000).unwrap();
        assert_eq!(purged.attendance, 1);
        let audits = crate::db::recent_audit(&conn, 100)
            .unwrap()
            .into_iter()
            .filter(|e| e.action == "retention.purge")
            .count();
        assert_eq!(audits, 1);
        assert_eq!(purge_older_than(&conn, 1000).unwrap(), Purged::default());
    }
}
