//! Admin authentication, below the web edge: the setup code (made at first start,
//! or set by `VENUEBOX_ADMIN_TOKEN`), admin sessions (bearer tokens stored as hashes,
//! each with its CSRF token), and the failed-login limiter shared with FTP logins.
//! Owns the tables `admin_credential` and `admin_sessions`; nothing else writes them.
//! Cookies, extractors and pages are the web edge's (`web::admin`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension};
use subtle::ConstantTimeEq;

use crate::clock::now;
use crate::{db, files, identity};

/// File the setup code is left in when no one is watching the console (under systemd).
pub const SETUP_CODE_FILE: &str = crate::files::layout::SETUP_CODE;

/// What can go wrong in admin authentication.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// `VENUEBOX_ADMIN_TOKEN` is too short to be a secret.
    #[error("VENUEBOX_ADMIN_TOKEN must be at least 12 characters")]
    ShortCode,
    /// The database failed.
    #[error(transparent)]
    Sql(#[from] rusqlite::Error),
}

/// Counts failed logins per client and locks a client out once it has too many.
#[derive(Debug)]
pub struct LoginLimiter {
    max_failures: u32,
    window: Duration,
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl LoginLimiter {
    /// At most `max_failures` failures per `window`; the lock-out lasts until the window
    /// that began with the first failure ends.
    pub fn new(max_failures: u32, window: Duration) -> Self {
        LoginLimiter {
            max_failures,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Reserves one login attempt for `ip` before its code is checked: `Err(wait)`
    /// when `ip` is locked out for `wait` more; otherwise the attempt counts as a
    /// failure at once, until [`LoginLimiter::succeeded`] clears it. Counting before
    /// checking is what bounds a burst: 100 codes sent at once from one client get at
    /// most `max_failures` checks, not 100 (issue 13, item 5).
    pub fn attempt(&self, ip: IpAddr) -> Result<(), Duration> {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        // Forget old entries so a flood of addresses cannot grow the map without end.
        if map.len() > 10_000 {
            map.retain(|_, (_, since)| now.duration_since(*since) < self.window);
        }
        let entry = map.entry(client_key(ip)).or_insert((0, now));
        let elapsed = now.duration_since(entry.1);
        if elapsed >= self.window {
            *entry = (0, now);
        }
        if entry.0 >= self.max_failures {
            return Err(self.window - now.duration_since(entry.1));
        }
        entry.0 += 1;
        Ok(())
    }

    /// Clears `ip`'s failures after a successful login.
    pub fn succeeded(&self, ip: IpAddr) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&client_key(ip));
    }
}

/// The key a client is counted under: its IPv4 address, or its IPv6 /64.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut s = v6.segments();
                s[4..].fill(0);
                IpAddr::V6(s.into())
            }
        },
    }
}

/// The pairing window a short press of the box's button opens (`hw::button`): while
/// it is open, the admin login page shown to the vendors' network (never the attendee
/// network) shows the setup code left in [`setup_code_file`]. Shared by the hardware
/// edge, which opens it, and the web edge, which reads it; a cheap clone of one clock.
#[derive(Debug, Clone, Default)]
pub struct Pairing {
    until: Arc<Mutex<Option<Instant>>>,
}

impl Pairing {
    /// Opens (or extends) the window for `length` from now.
    pub fn open(&self, length: Duration) {
        *self.until.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now() + length);
    }

    /// How long the window stays open; `None` when it is closed.
    pub fn remaining(&self) -> Option<Duration> {
        let until = (*self.until.lock().unwrap_or_else(|e| e.into_inner()))?;
        until
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
    }

    /// Is the window open now?
    pub fn is_open(&self) -> bool {
        self.remaining().is_some()
    }
}

/// The setup code to show in a pairing window: the one left in [`setup_code_file`] at
/// first start, until the first successful login removes it. `None`: there is no code
/// to show (already used, replaced, set from `VENUEBOX_ADMIN_TOKEN`, or printed to a
/// console instead of left in the file).
pub fn code_to_show(data_dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(setup_code_file(data_dir)).ok()?;
    let code = text.trim();
    (!code.is_empty()).then(|| code.to_string())
}

/// What start-up did about the setup code.
#[derive(Debug, PartialEq, Eq)]
pub enum SetupCode {
    /// A new code was made; show it once.
    New(String),
    /// `VENUEBOX_ADMIN_TOKEN` sets the code.
    FromEnvironment,
    /// A code was made on an earlier start.
    Existing,
}

/// Makes sure an admin code exists: takes `from_env` if given (replacing any other,
/// and then ending every admin session when the code changed), otherwise creates one
/// on first start.
/// Errors: [`AuthError::ShortCode`] when `from_env` has fewer than 12 characters.
pub fn ensure_setup_code(
    conn: &Connection,
    from_env: Option<&str>,
) -> Result<SetupCode, AuthError> {
    if let Some(code) = from_env {
        if code.trim().len() < 12 {
            return Err(AuthError::ShortCode);
        }
        let hash = identity::setup_code_hash(code);
        let changed = conn.execute(
            "INSERT INTO admin_credential (id, code_hash, source, set_at) VALUES (1, ?1, 'environment', ?2)
             ON CONFLICT (id) DO UPDATE SET code_hash = ?1, source = 'environment', set_at = ?2
             WHERE code_hash IS NOT ?1",
            rusqlite::params![hash.as_slice(), crate::clock::now()],
        )?;
        if changed > 0 {
            // A new code ends every session, whichever way it was set (as
            // `admin reset-code` does): whoever held the old code is out.
            conn.execute("DELETE FROM admin_sessions", [])?;
            db::audit(
                conn,
                "system",
                "admin.code.set",
                "from VENUEBOX_ADMIN_TOKEN",
            )?;
        }
        return Ok(SetupCode::FromEnvironment);
    }
    let exists: bool = conn
        .query_row(
            "SELECT 1 FROM admin_credential WHERE id = 1",
            [],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    if exists {
        return Ok(SetupCode::Existing);
    }
    Ok(SetupCode::New(replace_setup_code(conn, "system")?))
}

/// Makes a new setup code, replacing the old one and ending every admin session.
pub fn replace_setup_code(conn: &Connection, actor: &str) -> rusqlite::Result<String> {
    let code = identity::random_setup_code();
    conn.execute(
        "INSERT INTO admin_credential (id, code_hash, source, set_at) VALUES (1, ?1, 'generated', ?2)
         ON CONFLICT (id) DO UPDATE SET code_hash = ?1, source = 'generated', set_at = ?2",
        rusqlite::params![identity::setup_code_hash(&code).as_slice(), crate::clock::now()],
    )?;
    conn.execute("DELETE FROM admin_sessions", [])?;
    db::audit(conn, actor, "admin.code.new", "")?;
    Ok(code)
}

/// Where the setup code is left for a box started by systemd.
pub fn setup_code_file(data_dir: &Path) -> PathBuf {
    crate::files::layout::setup_code(data_dir)
}

/// Leaves the setup code in a 0600 file in the data dir, for a box started with no one
/// at the console. The file is removed at the first successful login.
pub fn leave_setup_code(data_dir: &Path, code: &str) -> std::io::Result<PathBuf> {
    let path = setup_code_file(data_dir);
    files::write_atomic(&path, format!("{code}\n").as_bytes(), 0o600)?;
    Ok(path)
}

/// A session opened by [`open_session`]: its bearer token (shown once), CSRF token and
/// expiry.
#[derive(Debug, serde::Serialize)]
pub struct NewSession {
    /// Bearer token; also the cookie's value.
    pub token: String,
    /// CSRF token for cookie-authenticated changes.
    pub csrf_token: String,
    /// Seconds since the epoch.
    pub expires_at: i64,
}

/// A stored session found by its token: the token's hash (to end it), its CSRF token
/// and when it ends (seconds since the epoch).
#[derive(Debug, Clone)]
pub struct Session {
    /// SHA-256 of the bearer token, the row's key.
    pub token_hash: [u8; 32],
    /// The CSRF token forms and cookie-authenticated API calls must echo.
    pub csrf_token: String,
    /// When the session ends (seconds since the epoch).
    pub expires_at: i64,
}

/// Checks `code` against the stored setup code (in constant time) and, when it
/// matches, opens a session lasting `ttl_secs` for `ip`. `Ok(None)`: wrong code (the
/// failure is audited). Expired sessions are removed on the way.
pub fn open_session(
    conn: &Connection,
    code: &str,
    ip: IpAddr,
    ttl_secs: i64,
) -> rusqlite::Result<Option<NewSession>> {
    let stored: Option<Vec<u8>> = conn
        .query_row(
            "SELECT code_hash FROM admin_credential WHERE id = 1",
            [],
            |r| r.get(0),
        )
        .optional()?;
    let given = identity::setup_code_hash(code);
    let ok = stored.is_some_and(|s| bool::from(s.as_slice().ct_eq(given.as_slice())));
    if !ok {
        db::audit(conn, &format!("client {ip}"), "admin.login.failed", "")?;
        return Ok(None);
    }
    let now = now();
    conn.execute("DELETE FROM admin_sessions WHERE expires_at <= ?1", [now])?;
    let token = identity::random_token("vbs_");
    let csrf_token = identity::random_token("");
    let expires_at = now.saturating_add(ttl_secs);
    conn.execute(
        "INSERT INTO admin_sessions (token_hash, csrf_token, client, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        rusqlite::params![
            identity::token_hash(&token).as_slice(),
            csrf_token,
            ip.to_string(),
            now,
            expires_at
        ],
    )?;
    db::audit(conn, &format!("client {ip}"), "admin.login", "")?;
    Ok(Some(NewSession {
        token,
        csrf_token,
        expires_at,
    }))
}

/// The unexpired session whose bearer token is `token`, if any.
pub fn session(conn: &Connection, token: &str) -> rusqlite::Result<Option<Session>> {
    let hash = identity::token_hash(token);
    conn.query_row(
        "SELECT csrf_token, expires_at FROM admin_sessions WHERE token_hash = ?1 AND expires_at > ?2",
        rusqlite::params![hash.as_slice(), now()],
        |r| {
            Ok(Session {
                token_hash: hash,
                csrf_token: r.get(0)?,
                expires_at: r.get(1)?,
            })
        },
    )
    .optional()
}

/// Ends the session with this token hash (logout), audited.
pub fn end_session(conn: &Connection, token_hash: &[u8; 32]) -> rusqlite::Result<()> {
    conn.execute(
        "DELETE FROM admin_sessions WHERE token_hash = ?1",
        [token_hash.as_slice()],
    )?;
    db::audit(conn, "admin", "admin.logout", "")
}

/// Opens a page session for creator `creator_id` (who has just shown their upload
/// token) lasting `ttl_secs`, for `ip`; audited as `creator:<id>`. Expired creator
/// sessions are removed on the way.
pub fn open_creator_session(
    conn: &Connection,
    creator_id: i64,
    ip: IpAddr,
    ttl_secs: i64,
) -> rusqlite::Result<NewSession> {
    let now = now();
    conn.execute("DELETE FROM creator_sessions WHERE expires_at <= ?1", [now])?;
    let token = identity::random_token("vbc_");
    let csrf_token = identity::random_token("");
    let expires_at = now.saturating_add(ttl_secs);
    conn.execute(
        "INSERT INTO creator_sessions (token_hash, creator_id, csrf_token, client, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        rusqlite::params![
            identity::token_hash(&token).as_slice(),
            creator_id,
            csrf_token,
            ip.to_string(),
            now,
            expires_at
        ],
    )?;
    db::audit(
        conn,
        &format!("creator:{creator_id}"),
        "creator.login",
        &format!("client {ip}"),
    )?;
    Ok(NewSession {
        token,
        csrf_token,
        expires_at,
    })
}

/// The unexpired creator session whose token is `token`, with its creator's id (the
/// caller checks the creator is still enabled: `creators::enabled_by_id`).
pub fn creator_session(conn: &Connection, token: &str) -> rusqlite::Result<Option<(i64, Session)>> {
    let hash = identity::token_hash(token);
    conn.query_row(
        "SELECT creator_id, csrf_token, expires_at FROM creator_sessions
         WHERE token_hash = ?1 AND expires_at > ?2",
        rusqlite::params![hash.as_slice(), now()],
        |r| {
            Ok((
                r.get(0)?,
                Session {
                    token_hash: hash,
                    csrf_token: r.get(1)?,
                    expires_at: r.get(2)?,
                },
            ))
        },
    )
    .optional()
}

/// Ends the creator session with this token hash (logout), audited.
pub fn end_creator_session(
    conn: &Connection,
    creator_id: i64,
    token_hash: &[u8; 32],
) -> rusqlite::Result<()> {
    conn.execute(
        "DELETE FROM creator_sessions WHERE token_hash = ?1",
        [token_hash.as_slice()],
    )?;
    db::audit(conn, &format!("creator:{creator_id}"), "creator.logout", "")
}

/// Ends every page session of creator `creator_id` except the one whose token hash
/// is `keep` (after their upload token was replaced: whoever held the old one is
/// logged out). Returns how many ended.
pub fn end_creator_sessions(
    conn: &Connection,
    creator_id: i64,
    keep: Option<&[u8; 32]>,
) -> rusqlite::Result<usize> {
    conn.execute(
        "DELETE FROM creator_sessions WHERE creator_id = ?1 AND token_hash IS NOT ?2",
        rusqlite::params![creator_id, keep.map(|k| k.as_slice())],
    )
}

/// Does `given` equal `expected`, compared in constant time? (CSRF tokens.)
pub fn csrf_matches(expected: &str, given: Option<&str>) -> bool {
    given.is_some_and(|g| bool::from(g.as_bytes().ct_eq(expected.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        crate::db::memory_for_tests()
    }

    #[test]
    fn a_pairing_window_closes_after_its_length() {
        let pairing = Pairing::default();
        assert!(!pairing.is_open());
        pairing.open(Duration::from_millis(50));
        assert!(pairing.clone().is_open(), "clones share the window");
        std::thread::sleep(Duration::from_millis(80));
        assert!(!pairing.is_open());
    }

    #[test]
    fn the_code_to_show_is_the_file_left_at_first_start() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(code_to_show(dir.path()), None);
        leave_setup_code(dir.path(), "ABCD-EFGH-JKLM").unwrap();
        assert_eq!(code_to_show(dir.path()).as_deref(), Some("ABCD-EFGH-JKLM"));
    }

    #[test]
    fn a_new_code_from_the_environment_ends_every_session() {
        let conn = db();
        let ip: IpAddr = "10.0.0.5".parse().unwrap();
        ensure_setup_code(&conn, Some("first-code-1234")).unwrap();
        let old = open_session(&conn, "first-code-1234", ip, 3600)
            .unwrap()
            .unwrap();
        // The same code again (a restart): sessions stay.
        ensure_setup_code(&conn, Some("first-code-1234")).unwrap();
        assert!(session(&conn, &old.token).unwrap().is_some());
        // A rotated code: the old session is over, the old code refused.
        ensure_setup_code(&conn, Some("second-code-5678")).unwrap();
        assert!(session(&conn, &old.token).unwrap().is_none());
        assert!(open_session(&conn, "first-code-1234", ip, 3600)
            .unwrap()
            .is_none());
        assert!(open_session(&conn, "second-code-5678", ip, 3600)
            .unwrap()
            .is_some());
        // And `admin reset-code` (a generated code) does the same.
        let new = open_session(&conn, "second-code-5678", ip, 3600)
            .unwrap()
            .unwrap();
        replace_setup_code(&conn, "cli").unwrap();
        assert!(session(&conn, &new.token).unwrap().is_none());
    }

    #[test]
    fn limiter_locks_out_after_max_failures_and_clears_on_success() {
        let limiter = LoginLimiter::new(3, Duration::from_secs(60));
        let a: IpAddr = "10.0.0.5".parse().unwrap();
        let b: IpAddr = "10.0.0.6".parse().unwrap();
        for _ in 0..3 {
            assert!(limiter.attempt(a).is_ok());
        }
        let wait = limiter.attempt(a).unwrap_err();
        assert!(wait > Duration::from_secs(50));
        assert!(limiter.attempt(b).is_ok(), "other clients are not affected");
        limiter.succeeded(a);
        assert!(limiter.attempt(a).is_ok());
    }

    #[test]
    fn limiter_window_expires() {
        let limiter = LoginLimiter::new(1, Duration::from_millis(50));
        let a: IpAddr = "10.0.0.5".parse().unwrap();
        assert!(limiter.attempt(a).is_ok());
        assert!(limiter.attempt(a).is_err());
        std::thread::sleep(Duration::from_millis(60));
        assert!(limiter.attempt(a).is_ok());
    }

    #[test]
    fn ipv6_clients_are_counted_per_64() {
        let limiter = LoginLimiter::new(2, Duration::from_secs(60));
        assert!(limiter.attempt("2001:db8:1:2::1".parse().unwrap()).is_ok());
        assert!(limiter
            .attempt("2001:db8:1:2:ffff::9".parse().unwrap())
            .is_ok());
        assert!(limiter
            .attempt("2001:db8:1:2::77".parse().unwrap())
            .is_err());
        assert!(limiter.attempt("2001:db8:1:3::1".parse().unwrap()).is_ok());
    }
}
