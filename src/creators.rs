//! Creators: the vendors and photographers who sell at the event. Each has a name and
//! an upload token (stored only as a hash) that pairs their phone or laptop with the
//! box; the ingest subsystem adds FTP credentials for their cameras.
//!
//! Plain functions on an SQLite connection, so the HTTP API and the CLI share them.
//! This module decides who a creator is; it does not decide what they may upload.
//!
//! Owns `creators` and `creator_logos`: each creator's logo on the watermark, the PNG
//! kept as a BLOB (checked by [`crate::media::logo::check`] before it gets here).

use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;

use crate::db::{self, StoreError};
use crate::identity;

/// A creator account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Creator {
    /// Database id.
    pub id: i64,
    /// Display name, unique on the box (case-insensitive).
    pub name: String,
    /// Seconds since the epoch.
    pub created_at: i64,
}

/// A creator just made, with the upload token that is shown this once.
#[derive(Debug, Clone, Serialize)]
pub struct NewCreator {
    /// The account.
    #[serde(flatten)]
    pub creator: Creator,
    /// Bearer token for uploads; only its hash is kept.
    pub upload_token: String,
}

/// Why a creator could not be added.
#[derive(Debug, thiserror::Error)]
pub enum CreatorError {
    /// Empty, too long or containing control characters.
    #[error("a creator name must be 1 to 64 printable characters")]
    InvalidName,
    /// The name is taken.
    #[error("a creator named {0:?} already exists")]
    Exists(String),
    /// No creator has that name.
    #[error("no creator named {0:?}")]
    NotFound(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for CreatorError {
    fn from(e: rusqlite::Error) -> Self {
        CreatorError::Store(e.into())
    }
}

/// Checks and tidies a creator name (trimmed; 1–64 characters; no control characters).
pub fn clean_name(name: &str) -> Result<String, CreatorError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(CreatorError::InvalidName);
    }
    Ok(name.to_string())
}

/// Adds a creator and returns their new upload token. `actor` goes to the audit log.
pub fn add(conn: &Connection, name: &str, actor: &str) -> Result<NewCreator, CreatorError> {
    let name = clean_name(name)?;
    let token = identity::random_token("vbu_");
    let now = crate::clock::now();
    let inserted = conn.execute(
        "INSERT INTO creators (name, upload_token_hash, created_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (name) DO NOTHING",
        rusqlite::params![name, identity::token_hash(&token).as_slice(), now],
    )?;
    if inserted == 0 {
        return Err(CreatorError::Exists(name));
    }
    let id = conn.last_insert_rowid();
    db::audit(conn, actor, "creator.add", &name)?;
    Ok(NewCreator {
        creator: Creator {
            id,
            name,
            created_at: now,
        },
        upload_token: token,
    })
}

/// Every creator, by name.
pub fn list(conn: &Connection) -> rusqlite::Result<Vec<Creator>> {
    let mut stmt = conn.prepare(
        "SELECT id, name, created_at FROM creators WHERE disabled_at IS NULL ORDER BY name",
    )?;
    let rows = stmt.query_map([], row_to_creator)?;
    rows.collect()
}

/// The creator an upload token belongs to, if any.
pub fn by_upload_token(conn: &Connection, token: &str) -> rusqlite::Result<Option<Creator>> {
    conn.query_row(
        "SELECT id, name, created_at FROM creators
         WHERE upload_token_hash = ?1 AND disabled_at IS NULL",
        [identity::token_hash(token).as_slice()],
        row_to_creator,
    )
    .optional()
}

/// Creator `id`, if they exist and are not disabled.
pub fn enabled_by_id(conn: &Connection, id: i64) -> rusqlite::Result<Option<Creator>> {
    conn.query_row(
        "SELECT id, name, created_at FROM creators WHERE id = ?1 AND disabled_at IS NULL",
        [id],
        row_to_creator,
    )
    .optional()
}

/// FTP credentials just set, shown this once.
#[derive(Debug, Clone, Serialize)]
pub struct FtpCredentials {
    /// The user name a camera logs in with.
    pub user: String,
    /// The password (only its hash is kept).
    pub password: String,
}

/// A user name a camera menu can take: the creator's name in lowercase ASCII letters
/// and digits (at most 24), or `creator<id>` if nothing is left.
pub fn ftp_user_name(name: &str, id: i64) -> String {
    let slug: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .take(24)
        .collect();
    if slug.is_empty() {
        format!("creator{id}")
    } else {
        slug
    }
}

/// A password a person can type into a camera: 12 lowercase letters and digits without
/// look-alikes (about 60 random bits), e.g. `k7m2q9xd4rta`.
pub fn random_ftp_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::rngs::OsRng;
    (0..12)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Gives the creator named `name` FTP credentials (new ones if they had some).
pub fn set_ftp_credentials(
    conn: &Connection,
    name: &str,
    actor: &str,
) -> Result<FtpCredentials, CreatorError> {
    let (id, stored_name): (i64, String) = conn
        .query_row(
            "SELECT id, name FROM creators WHERE name = ?1 AND disabled_at IS NULL",
            [name.trim()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .ok_or_else(|| CreatorError::NotFound(name.to_string()))?;
    // Another creator's slug may collide ("Cam", "cam6", "Cam!" with id 6): take the
    // first free of slug, slug + id, slug-id. The last is always free: slugs have no
    // '-', and the id is this creator's own.
    let base = ftp_user_name(&stored_name, id);
    let mut user = format!("{base}-{id}");
    for candidate in [base.clone(), format!("{base}{id}")] {
        let taken: bool = conn
            .query_row(
                "SELECT 1 FROM creators WHERE ftp_user = ?1 AND id != ?2",
                rusqlite::params![candidate, id],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        if !taken {
            user = candidate;
            break;
        }
    }
    let password = random_ftp_password();
    conn.execute(
        "UPDATE creators SET ftp_user = ?2, ftp_password_hash = ?3 WHERE id = ?1",
        rusqlite::params![id, user, identity::token_hash(&password).as_slice()],
    )?;
    db::audit(conn, actor, "creator.ftp", &stored_name)?;
    Ok(FtpCredentials { user, password })
}

/// The creator with this FTP user name, if any.
pub fn by_ftp_user(conn: &Connection, user: &str) -> rusqlite::Result<Option<Creator>> {
    conn.query_row(
        "SELECT id, name, created_at FROM creators WHERE ftp_user = ?1 AND disabled_at IS NULL",
        [user],
        row_to_creator,
    )
    .optional()
}

/// The creator an FTP login belongs to, if the password matches.
pub fn by_ftp_login(
    conn: &Connection,
    user: &str,
    password: &str,
) -> rusqlite::Result<Option<Creator>> {
    let row: Option<(Creator, Vec<u8>)> = conn
        .query_row(
            "SELECT id, name, created_at, ftp_password_hash FROM creators
             WHERE ftp_user = ?1 AND ftp_password_hash IS NOT NULL AND disabled_at IS NULL",
            [user],
            |r| Ok((row_to_creator(r)?, r.get(3)?)),
        )
        .optional()?;
    Ok(row.and_then(|(creator, hash)| {
        use subtle::ConstantTimeEq;
        bool::from(
            hash.as_slice()
                .ct_eq(identity::token_hash(password).as_slice()),
        )
        .then_some(creator)
    }))
}

fn row_to_creator(r: &rusqlite::Row<'_>) -> rusqlite::Result<Creator> {
    Ok(Creator {
        id: r.get(0)?,
        name: r.get(1)?,
        created_at: r.get(2)?,
    })
}

/// A creator as the admin's list shows them: enabled or not, and their FTP user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreatorListing {
    /// The account.
    #[serde(flatten)]
    pub creator: Creator,
    /// When they were disabled (seconds since the epoch); `None` while enabled.
    pub disabled_at: Option<i64>,
    /// Their cameras' FTP user name, once credentials were made.
    pub ftp_user: Option<String>,
}

/// Every creator, disabled ones included, by name.
pub fn list_all(conn: &Connection) -> rusqlite::Result<Vec<CreatorListing>> {
    let mut stmt = conn.prepare(
        "SELECT id, name, created_at, disabled_at, ftp_user FROM creators ORDER BY name",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(CreatorListing {
            creator: row_to_creator(r)?,
            disabled_at: r.get(3)?,
            ftp_user: r.get(4)?,
        })
    })?;
    rows.collect()
}

/// The FTP user name of creator `id`, if they have FTP credentials.
pub fn ftp_user_of(conn: &Connection, id: i64) -> rusqlite::Result<Option<String>> {
    Ok(conn
        .query_row("SELECT ftp_user FROM creators WHERE id = ?1", [id], |r| {
            r.get::<_, Option<String>>(0)
        })
        .optional()?
        .flatten())
}

/// Disables (`true`) or enables again (`false`) creator `id`: a disabled creator's
/// upload token, FTP login and page sessions stop working at once (every lookup
/// here asks for `disabled_at IS NULL`); their photos stay. Audited as
/// `creator.disable` / `creator.enable`. `Ok(false)`: no such creator, or already so.
pub fn set_disabled(
    conn: &Connection,
    id: i64,
    disabled: bool,
    actor: &str,
) -> rusqlite::Result<bool> {
    let n = if disabled {
        conn.execute(
            "UPDATE creators SET disabled_at = ?2 WHERE id = ?1 AND disabled_at IS NULL",
            rusqlite::params![id, crate::clock::now()],
        )?
    } else {
        conn.execute(
            "UPDATE creators SET disabled_at = NULL WHERE id = ?1 AND disabled_at IS NOT NULL",
            [id],
        )?
    };
    if n > 0 {
        let name = name_of(conn, id)?.unwrap_or_default();
        let action = if disabled {
            "creator.disable"
        } else {
            "creator.enable"
        };
        db::audit(conn, actor, action, &name)?;
    }
    Ok(n > 0)
}

/// Gives enabled creator `id` a new upload token (the old one stops working) and
/// returns it, shown this once; `Ok(None)`: no such enabled creator. Audited as
/// `creator.token` (never the token). Sessions opened with the old token are the
/// caller's to end (`auth::end_creator_sessions`).
pub fn reset_upload_token(
    conn: &Connection,
    id: i64,
    actor: &str,
) -> rusqlite::Result<Option<String>> {
    let token = identity::random_token("vbu_");
    let n = conn.execute(
        "UPDATE creators SET upload_token_hash = ?2 WHERE id = ?1 AND disabled_at IS NULL",
        rusqlite::params![id, identity::token_hash(&token).as_slice()],
    )?;
    if n == 0 {
        return Ok(None);
    }
    let name = name_of(conn, id)?.unwrap_or_default();
    db::audit(conn, actor, "creator.token", &name)?;
    Ok(Some(token))
}

/// The id of the enabled creator named exactly `name`, if there is one.
pub fn id_by_name(conn: &Connection, name: &str) -> rusqlite::Result<Option<i64>> {
    conn.query_row(
        "SELECT id FROM creators WHERE name = ?1 AND disabled_at IS NULL",
        [name],
        |r| r.get::<_, i64>(0),
    )
    .optional()
}

/// The name of creator `id`, if they exist.
pub fn name_of(conn: &Connection, id: i64) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT name FROM creators WHERE id = ?1", [id], |r| {
        r.get(0)
    })
    .optional()
}

/// Turns syncing of a creator's untagged photos on or off. `Ok(false)`: no such
/// creator.
pub fn set_sync(conn: &Connection, id: i64, enabled: bool) -> rusqlite::Result<bool> {
    let n = conn.execute(
        "UPDATE creators SET sync_enabled = ?2 WHERE id = ?1",
        rusqlite::params![id, enabled],
    )?;
    Ok(n > 0)
}

/// A creator's logo as stored (without its pixels).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogoInfo {
    /// SHA-256 of the PNG, hex.
    pub sha256: String,
    /// Width of the PNG, px.
    pub width: u32,
    /// Height of the PNG, px.
    pub height: u32,
    /// Its length, bytes.
    pub bytes: u64,
    /// When it was set, seconds since the epoch.
    pub set_at: i64,
}

/// Sets (or replaces) the logo of enabled creator `id`: one row written in the
/// caller's transaction, so the old logo stays whole until the new one is committed.
/// Audited as `creator.logo` with the PNG's size and the start of its SHA-256.
/// `Ok(false)`: no such enabled creator.
pub fn set_logo(
    conn: &Connection,
    id: i64,
    logo: &crate::media::logo::CheckedLogo,
    actor: &str,
) -> rusqlite::Result<bool> {
    let Some(creator) = enabled_by_id(conn, id)? else {
        return Ok(false);
    };
    conn.execute(
        "INSERT INTO creator_logos (creator_id, png, sha256, width, height, set_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (creator_id) DO UPDATE SET png = excluded.png, sha256 = excluded.sha256,
           width = excluded.width, height = excluded.height, set_at = excluded.set_at",
        rusqlite::params![
            id,
            logo.png,
            logo.sha256.as_slice(),
            logo.width,
            logo.height,
            crate::clock::now()
        ],
    )?;
    let detail = format!(
        "{}: {}×{} px, {} bytes, sha256 {}",
        creator.name,
        logo.width,
        logo.height,
        logo.png.len(),
        hex::encode(&logo.sha256[..6])
    );
    db::audit(conn, actor, "creator.logo", &detail)?;
    Ok(true)
}

/// Removes creator `id`'s logo. Audited as `creator.logo.remove`. `Ok(false)`: they
/// had none.
pub fn remove_logo(conn: &Connection, id: i64, actor: &str) -> rusqlite::Result<bool> {
    let n = conn.execute("DELETE FROM creator_logos WHERE creator_id = ?1", [id])?;
    if n > 0 {
        let name = name_of(conn, id)?.unwrap_or_default();
        db::audit(conn, actor, "creator.logo.remove", &name)?;
    }
    Ok(n > 0)
}

/// What creator `id`'s logo is, if they have one.
pub fn logo_info(conn: &Connection, id: i64) -> rusqlite::Result<Option<LogoInfo>> {
    conn.query_row(
        "SELECT sha256, width, height, length(png), set_at FROM creator_logos
         WHERE creator_id = ?1",
        [id],
        |r| {
            Ok(LogoInfo {
                sha256: hex::encode(r.get::<_, Vec<u8>>(0)?),
                width: r.get(1)?,
                height: r.get(2)?,
                bytes: r.get(3)?,
                set_at: r.get(4)?,
            })
        },
    )
    .optional()
}

/// The SHA-256 of creator `id`'s logo PNG, if they have one: a cheap look-up for a
/// render, which finds the decoded logo by it (`media::logo::remembered`).
pub fn logo_sha256(conn: &Connection, id: i64) -> rusqlite::Result<Option<[u8; 32]>> {
    Ok(conn
        .query_row(
            "SELECT sha256 FROM creator_logos WHERE creator_id = ?1",
            [id],
            |r| r.get::<_, Vec<u8>>(0),
        )
        .optional()?
        .and_then(|v| <[u8; 32]>::try_from(v.as_slice()).ok()))
}

/// Creator `id`'s logo PNG as uploaded, if they have one (at most 1 MiB).
pub fn logo_png(conn: &Connection, id: i64) -> rusqlite::Result<Option<Vec<u8>>> {
    conn.query_row(
        "SELECT png FROM creator_logos WHERE creator_id = ?1",
        [id],
        |r| r.get(0),
    )
    .optional()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{Store, StoreOptions};

    #[test]
    fn ftp_user_names_never_collide() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db"), &StoreOptions::default()).unwrap();
        // Ids 1..: "Cam" takes "cam", "cam6" takes "cam6", and "Cam!" (id 6) finds
        // both "cam" and "cam6" taken; "!!!" (id 7, no letters) takes "creator7",
        // which "Creator7" then finds taken.
        let names = ["Cam", "cam6", "a", "b", "c", "Cam!", "!!!", "Creator7"];
        let mut users = std::collections::HashSet::new();
        for name in names {
            store.write_blocking(|tx| add(tx, name, "test")).unwrap();
        }
        for name in names {
            let made = store
                .write_blocking(|tx| set_ftp_credentials(tx, name, "test"))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(
                users.insert(made.user.clone()),
                "{name}: {} twice",
                made.user
            );
            let found = store
                .read_blocking(|c| {
                    by_ftp_login(c, &made.user, &made.password).map_err(StoreError::from)
                })
                .unwrap();
            assert_eq!(found.map(|c| c.name), Some(name.to_string()), "{name}");
        }
        // Asking again keeps every login working and distinct.
        let again = store
            .write_blocking(|tx| set_ftp_credentials(tx, "Cam!", "test"))
            .unwrap();
        assert!(users.contains(&again.user), "{}", again.user);
    }

    #[test]
    fn add_list_and_find_by_token() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db"), &StoreOptions::default()).unwrap();
        let made = store
            .write_blocking(|tx| add(tx, "  Ana Lima ", "test"))
            .unwrap();
        assert_eq!(made.creator.name, "Ana Lima");
        assert!(made.upload_token.starts_with("vbu_"));
        let dup = store.write_blocking(|tx| add(tx, "ana lima", "test"));
        assert!(matches!(dup, Err(CreatorError::Exists(_))));
        assert!(matches!(
            store.write_blocking(|tx| add(tx, "bad\nname", "test")),
            Err(CreatorError::InvalidName)
        ));
        let found = store
            .read_blocking(|c| by_upload_token(c, &made.upload_token).map_err(StoreError::from))
            .unwrap();
        assert_eq!(found, Some(made.creator.clone()));
        let none = store
            .read_blocking(|c| by_upload_token(c, "vbu_nope").map_err(StoreError::from))
            .unwrap();
        assert_eq!(none, None);
        let all = store
            .read_blocking(|c| list(c).map_err(StoreError::from))
            .unwrap();
        assert_eq!(all, vec![made.creator]);
        // The token itself is nowhere in the database.
        let raw = std::fs::read(dir.path().join("db")).unwrap();
        let wal = std::fs::read(dir.path().join("db-wal")).unwrap_or_default();
        let needle = made.upload_token.as_bytes();
        assert!(!raw.windows(needle.len()).any(|w| w == needle));
        assert!(!wal.windows(needle.len()).any(|w| w == needle));
    }

    #[test]
    fn a_logo_is_set_replaced_and_removed() {
        let conn = crate::db::memory_for_tests();
        let made = add(&conn, "Ana", "test").unwrap();
        let id = made.creator.id;
        let png = |px: [u8; 4]| {
            use image::ImageEncoder;
            let mut out = Vec::new();
            image::codecs::png::PngEncoder::new(&mut out)
                .write_image(&px.repeat(6), 3, 2, image::ExtendedColorType::Rgba8)
                .unwrap();
            crate::media::logo::check(out).unwrap()
        };
        assert_eq!(logo_info(&conn, id).unwrap(), None);
        let (red, blue) = (png([255, 0, 0, 255]), png([0, 0, 255, 255]));
        assert!(set_logo(&conn, id, &red, "test").unwrap());
        assert_eq!(logo_sha256(&conn, id).unwrap(), Some(red.sha256));
        assert!(set_logo(&conn, id, &blue, "test").unwrap());
        let info = logo_info(&conn, id).unwrap().unwrap();
        assert_eq!((info.width, info.height), (3, 2));
        assert_eq!(info.sha256, hex::encode(blue.sha256));
        assert_eq!(logo_png(&conn, id).unwrap(), Some(blue.png.clone()));
        assert!(!set_logo(&conn, 999, &blue, "test").unwrap());
        assert!(remove_logo(&conn, id, "test").unwrap());
        assert!(!remove_logo(&conn, id, "test").unwrap());
        assert_eq!(logo_png(&conn, id).unwrap(), None);
    }
}
