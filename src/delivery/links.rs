//! Download links: a token naming an order, its expiry and its allowed uses, signed
//! with the box's ed25519 key, so anyone holding the box's public key (the synced key
//! chain) can check it offline; and the counted uses and the append-only record of
//! every attempt. Owns `delivery_links` and `delivery_downloads`.
//!
//! Token format (docs/delivery.md): `base64url(payload) "." base64url(signature)`, no
//! padding; the payload is the JSON object
//! `{"v":1,"key":"<key id>","link":<id>,"order":"<order code>","exp":<unix s>,"uses":<n>}`
//! and the signature is ed25519 over `"venuebox-link-v1\n"` followed by the payload
//! bytes. The token is only a claim: the box also checks its own record of the link
//! (revoked? uses left?), which the token cannot carry.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::clock::now;

/// What the signature covers, before the payload.
pub const DOMAIN: &[u8] = b"venuebox-link-v1\n";

/// The claims a token carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    /// Format version: 1.
    pub v: u8,
    /// The id of the key that signed (`identity::key_id`).
    pub key: String,
    /// The link's id on the box.
    pub link: i64,
    /// The order's short code.
    pub order: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Downloads allowed.
    pub uses: u32,
}

/// Why a link does not deliver. Each is a failed delivery for the dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// Not a token, or its signature does not verify.
    Tampered,
    /// Signed by another box's key.
    OtherBox,
    /// Past its expiry.
    Expired,
    /// Every use spent.
    UsedUp,
    /// Revoked by the vendor (or its order cancelled or re-issued).
    Revoked,
    /// The attendee deleted their records since the link was issued.
    Withdrawn,
    /// The photo asked for is not in the link's order.
    NotInOrder,
}

impl Refusal {
    /// The outcome recorded.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Tampered => "tampered",
            Refusal::OtherBox => "other_box",
            Refusal::Expired => "expired",
            Refusal::UsedUp => "used_up",
            Refusal::Revoked => "revoked",
            Refusal::Withdrawn => "withdrawn",
            Refusal::NotInOrder => "not_in_order",
        }
    }
}

/// Makes a token for `claims`, signed by `sign`.
pub fn encode(claims: &Claims, sign: impl Fn(&[u8]) -> Signature) -> String {
    let payload = serde_json::to_vec(claims).expect("claims serialise");
    let mut message = DOMAIN.to_vec();
    message.extend_from_slice(&payload);
    let signature = sign(&message);
    format!(
        "{}.{}",
        B64.encode(&payload),
        B64.encode(signature.to_bytes())
    )
}

/// Checks a token's signature against `keys` (key id, public key) and returns its
/// claims: [`Refusal::OtherBox`] when it names a key not among them,
/// [`Refusal::Tampered`] when it is malformed or does not verify. Pure: the cloud side
/// does the same with the synced key chain.
pub fn verify(token: &str, keys: &[(String, VerifyingKey)]) -> Result<Claims, Refusal> {
    if token.len() > 1024 {
        return Err(Refusal::Tampered);
    }
    let (payload, signature) = token.split_once('.').ok_or(Refusal::Tampered)?;
    let payload = B64.decode(payload).map_err(|_| Refusal::Tampered)?;
    let signature = B64.decode(signature).map_err(|_| Refusal::Tampered)?;
    let signature = Signature::from_slice(&signature).map_err(|_| Refusal::Tampered)?;
    let claims: Claims = serde_json::from_slice(&payload).map_err(|_| Refusal::Tampered)?;
    if claims.v != 1 {
        return Err(Refusal::Tampered);
    }
    let (_, key) = keys
        .iter()
        .find(|(id, _)| *id == claims.key)
        .ok_or(Refusal::OtherBox)?;
    let mut message = DOMAIN.to_vec();
    message.extend_from_slice(&payload);
    key.verify(&message, &signature)
        .map_err(|_| Refusal::Tampered)?;
    Ok(claims)
}

/// A link as the box records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Link {
    /// Its id.
    pub id: i64,
    /// The order it delivers.
    pub order_id: i64,
    /// The token (a bearer secret: shown to the attendee, printed on the receipt).
    pub token: String,
    /// Issued at, seconds since the epoch.
    pub issued_at: i64,
    /// Expires at.
    pub expires_at: i64,
    /// Downloads allowed.
    pub uses_allowed: u32,
    /// Downloads made.
    pub uses: u32,
    /// When revoked, if it was.
    pub revoked_at: Option<i64>,
}

const LINK_COLUMNS: &str =
    "id, order_id, token, issued_at, expires_at, uses_allowed, uses, revoked_at";

fn row_to_link(r: &rusqlite::Row<'_>) -> rusqlite::Result<Link> {
    Ok(Link {
        id: r.get(0)?,
        order_id: r.get(1)?,
        token: r.get(2)?,
        issued_at: r.get(3)?,
        expires_at: r.get(4)?,
        uses_allowed: r.get(5)?,
        uses: r.get(6)?,
        revoked_at: r.get(7)?,
    })
}

/// Issues a link for order `order_id` (code `code`): valid `ttl_secs` from now, for
/// `uses` downloads, signed by `sign` as key `key_id`. Earlier links of the order are
/// revoked (a re-issue replaces them).
pub fn issue(
    conn: &Connection,
    order_id: i64,
    code: &str,
    ttl_secs: u64,
    uses: u32,
    key_id: &str,
    sign: impl Fn(&[u8]) -> Signature,
) -> rusqlite::Result<Link> {
    revoke(conn, order_id)?;
    let issued_at = now();
    let expires_at = issued_at.saturating_add(ttl_secs as i64);
    // The id first (the token names it), then the token.
    conn.execute(
        "INSERT INTO delivery_links (order_id, token, issued_at, expires_at, uses_allowed)
         VALUES (?1, 'pending:' || ?1 || ':' || ?2, ?2, ?3, ?4)",
        params![order_id, issued_at, expires_at, uses],
    )?;
    let id = conn.last_insert_rowid();
    let token = encode(
        &Claims {
            v: 1,
            key: key_id.to_string(),
            link: id,
            order: code.to_string(),
            exp: expires_at,
            uses,
        },
        sign,
    );
    conn.execute(
        "UPDATE delivery_links SET token = ?2 WHERE id = ?1",
        params![id, token],
    )?;
    crate::db::audit(
        conn,
        "delivery",
        "delivery.link.issue",
        &format!("order {code} link {id}"),
    )?;
    Ok(Link {
        id,
        order_id,
        token,
        issued_at,
        expires_at,
        uses_allowed: uses,
        uses: 0,
        revoked_at: None,
    })
}

/// Revokes every live link of order `order_id`; returns how many.
pub fn revoke(conn: &Connection, order_id: i64) -> rusqlite::Result<usize> {
    conn.execute(
        "UPDATE delivery_links SET revoked_at = ?2 WHERE order_id = ?1 AND revoked_at IS NULL",
        params![order_id, now()],
    )
}

/// The newest link of order `order_id`, if any.
pub fn of_order(conn: &Connection, order_id: i64) -> rusqlite::Result<Option<Link>> {
    conn.query_row(
        &format!("SELECT {LINK_COLUMNS} FROM delivery_links WHERE order_id = ?1 ORDER BY id DESC LIMIT 1"),
        [order_id],
        row_to_link,
    )
    .optional()
}

/// What a verified token may open: the link's record, checked against everything the
/// token cannot say (revoked, uses, its order still confirmed, its attendee still
/// there). `claims` must come from [`verify`].
pub fn check(
    conn: &Connection,
    claims: &Claims,
    at: i64,
) -> rusqlite::Result<Result<Link, Refusal>> {
    let (link, code) = match standing(conn, claims.link)? {
        Ok(v) => v,
        Err(why) => return Ok(Err(why)),
    };
    if code != claims.order || link.expires_at != claims.exp {
        return Ok(Err(Refusal::Tampered));
    }
    if at >= link.expires_at {
        return Ok(Err(Refusal::Expired));
    }
    if link.uses >= link.uses_allowed {
        return Ok(Err(Refusal::UsedUp));
    }
    Ok(Ok(link))
}

/// Whether link `id` still delivers what a download already under way (a ZIP, file by
/// file) has paid its use for: not revoked, its order still confirmed (paid or free),
/// its attendee not erased. Expiry and uses are not asked again: they were checked,
/// and the use spent, when the download began.
pub fn still_delivers(conn: &Connection, id: i64) -> rusqlite::Result<Result<(), Refusal>> {
    Ok(standing(conn, id)?.map(|_| ()))
}

/// Link `id` and its order's code, when the link is known, not revoked, its order
/// confirmed and its attendee still there.
fn standing(conn: &Connection, id: i64) -> rusqlite::Result<Result<(Link, String), Refusal>> {
    let Some(link) = conn
        .query_row(
            &format!("SELECT {LINK_COLUMNS} FROM delivery_links WHERE id = ?1"),
            [id],
            row_to_link,
        )
        .optional()?
    else {
        // Signed by this box but unknown here (a restored database?): not deliverable.
        return Ok(Err(Refusal::Revoked));
    };
    let order: Option<(String, String, String)> = conn
        .query_row(
            "SELECT code, state, attendee FROM delivery_orders WHERE id = ?1",
            [link.order_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((code, state, attendee)) = order else {
        return Ok(Err(Refusal::Revoked));
    };
    if link.revoked_at.is_some() || !matches!(state.as_str(), "paid" | "free") {
        return Ok(Err(Refusal::Revoked));
    }
    if crate::consent::attendee(conn, &attendee)?.is_none() {
        return Ok(Err(Refusal::Withdrawn));
    }
    Ok(Ok((link, code)))
}

/// Spends one use of link `id` for a download of `photo_id` (`None`: the order's ZIP)
/// of `bytes` bytes, and records it; `false` (and a `used_up` record) when none is
/// left. One statement decides, so concurrent downloads of the last use give exactly
/// one `true`.
pub fn spend(
    conn: &Connection,
    id: i64,
    photo_id: Option<i64>,
    bytes: u64,
    at: i64,
) -> rusqlite::Result<bool> {
    let spent = conn.execute(
        "UPDATE delivery_links SET uses = uses + 1
         WHERE id = ?1 AND uses < uses_allowed AND revoked_at IS NULL AND expires_at > ?2",
        params![id, at],
    )? == 1;
    record(
        conn,
        Some(id),
        photo_id,
        if spent { bytes } else { 0 },
        if spent {
            "ok"
        } else {
            Refusal::UsedUp.as_str()
        },
    )?;
    Ok(spent)
}

/// Appends one download attempt to the record.
pub fn record(
    conn: &Connection,
    link: Option<i64>,
    photo: Option<i64>,
    bytes: u64,
    outcome: &str,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO delivery_downloads (link_id, photo_id, at, bytes, outcome) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![link, photo, now(), bytes as i64, outcome],
    )?;
    Ok(())
}

/// Download attempts by outcome (for the dashboard): (outcome, count).
pub fn outcomes(conn: &Connection) -> rusqlite::Result<Vec<(String, i64)>> {
    let mut stmt = conn.prepare(
        "SELECT outcome, count(*) FROM delivery_downloads GROUP BY outcome ORDER BY outcome",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn claims() -> Claims {
        Claims {
            v: 1,
            key: "k1".into(),
            link: 7,
            order: "K7Q-3MX".into(),
            exp: 2_000_000_000,
            uses: 3,
        }
    }

    #[test]
    fn a_token_verifies_offline_and_any_change_breaks_it() {
        let k = key(1);
        let keys = vec![("k1".to_string(), k.verifying_key())];
        let token = encode(&claims(), |m| k.sign(m));
        assert_eq!(verify(&token, &keys), Ok(claims()));
        // Another box's key: named, not ours.
        let other = key(2);
        let foreign = encode(
            &Claims {
                key: "k2".into(),
                ..claims()
            },
            |m| other.sign(m),
        );
        assert_eq!(verify(&foreign, &keys), Err(Refusal::OtherBox));
        // Another key claiming to be ours.
        let forged = encode(&claims(), |m| other.sign(m));
        assert_eq!(verify(&forged, &keys), Err(Refusal::Tampered));
        // A changed payload (more uses) with the old signature.
        let (_, sig) = token.split_once('.').unwrap();
        let more = B64.encode(
            serde_json::to_vec(&Claims {
                uses: 99,
                ..claims()
            })
            .unwrap(),
        );
        assert_eq!(
            verify(&format!("{more}.{sig}"), &keys),
            Err(Refusal::Tampered)
        );
        for junk in ["", ".", "abc", "a.b", &"x".repeat(2000)] {
            assert_eq!(verify(junk, &keys), Err(Refusal::Tampered), "{junk:?}");
        }
    }
}
