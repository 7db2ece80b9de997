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

pub mod links;
pub mod memo;
pub mod orders;
pub mod policy;
pub mod reads;
pub mod stall;
pub mod tagging;
pub mod views;
pub mod zip;

use rusqlite::{params, Connection};

use crate::clock::now;
use crate::devices::escpos::{Align, Receipt};

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
        &format!(
            "photo {photo_id}: {}",
            match public {
                Some(true) => "public",
                Some(false) => "not public",
                None => "creator's default",
            }
        ),
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

/// The receipt of a confirmed order (ESC/POS): the order's short code, its lines and
/// total, and the download link as text and as a QR code (the printer's native QR
/// command), with its expiry and uses. `creator` is the creator's name; `expires` the
/// link's expiry as shown (UTC).
pub fn receipt(
    event: &str,
    creator: &str,
    order: &orders::Order,
    url: &str,
    expires: &str,
    uses: u32,
) -> Vec<u8> {
    let money = |minor: u64| format!("{}.{:02} {}", minor / 100, minor % 100, order.currency);
    let mut r = Receipt::new()
        .align(Align::Center)
        .bold(true)
        .line(event)
        .bold(false)
        .line(creator)
        .feed(1)
        .bold(true)
        .line(&format!("Order {}", order.code))
        .bold(false)
        .align(Align::Left);
    for line in &order.lines {
        let what = match line.photo_id {
            Some(id) => format!("Photo {id}"),
            None => format!("Bundle, {} photos", order.photos.len()),
        };
        r = r.line(&format!("{what:<28}{:>14}", money(line.price_minor)));
    }
    r.bold(true)
        .line(&format!("{:<28}{:>14}", "Total", money(order.total_minor)))
        .bold(false)
        .feed(1)
        .align(Align::Center)
        .line("Scan to download your photos")
        .qr(url.as_bytes(), 4)
        .line(url)
        .line(&format!("Valid until {expires}, {uses} downloads"))
        .feed(3)
        .cut()
}
