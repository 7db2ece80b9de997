//! Delivery: how an attendee gets their photos at the stall, offline (issue 14,
//! ../shared/MISSION.md "Delivery"): which viewer may see which derivative of which
//! photo ([`policy`]), the galleries ([`reads`]), tagging photos to attendees, orders
//! the vendor confirms, and expiring, signed, counted download links. The design
//! (tables, routes, token format) is docs/delivery.md.
//!
//! An engine: it uses the domain modules (ingest, derivatives, consent, creators) and
//! the foundation, never `sync` (which reads the `delivery_*` tables through
//! `sync::reads`) nor an edge. Owns every `delivery_*` table; reads other owners'
//! tables only in [`reads`].

pub mod orders;
pub mod policy;
pub mod reads;

use rusqlite::{params, Connection};

use crate::clock::now;

/// Marks one photo public (shown in the public gallery while every attendee tagged on
/// it consents to `gallery`) or not; `None` forgets the mark, so the creator's default
/// ([`set_creator_default`]) applies again. `actor` goes to the audit log.
pub fn set_photo_public(
    conn: &Connection,
    photo_id: i64,
    public: Option<bool>,
    actor: &str,
) -> rusqlite::Result<()> {
    match public {
        Some(public) => conn.execute(
            "INSERT INTO delivery_photo_public (photo_id, public, set_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (photo_id) DO UPDATE SET public = excluded.public, set_at = excluded.set_at",
            params![photo_id, public, now()],
        )?,
        None => conn.execute(
            "DELETE FROM delivery_photo_public WHERE photo_id = ?1",
            [photo_id],
        )?,
    };
    crate::db::audit(
        conn,
        actor,
        "delivery.photo_public",
        &format!("photo {photo_id}: {public:?}"),
    )
}

/// Sets a creator's default: whether their photos not marked one way or the other are
/// public. Without a default they are not (privacy by default).
pub fn set_creator_default(
    conn: &Connection,
    creator_id: i64,
    public: bool,
    actor: &str,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO delivery_creator_public (creator_id, public, set_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (creator_id) DO UPDATE SET public = excluded.public, set_at = excluded.set_at",
        params![creator_id, public, now()],
    )?;
    crate::db::audit(
        conn,
        actor,
        "delivery.creator_public",
        &format!("creator {creator_id}: {public}"),
    )
}
