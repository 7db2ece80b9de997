//! Orders: an attendee's claim on photos of one creator, priced from the config, that
//! the creator confirms (payment taken on their own terminal), marks free, or cancels.
//! One order belongs to one attendee and one creator: a selection across creators
//! becomes one order per creator, each confirmed by its own creator.
//!
//! Each line records the co-op split: the organiser's share is
//! `price × organiser_percent / 100` rounded down to a whole minor unit, the creator
//! gets the rest, so the shares always add up to the price. Owns `delivery_orders`,
//! `delivery_order_lines`, `delivery_order_photos`, `delivery_order_events`.

use rand::Rng;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use crate::clock::now;
use crate::config::DeliveryConfig;
use crate::delivery::reads;

/// Most photos one order form may name.
pub const MAX_PHOTOS: usize = 200;

/// Why an order could not be placed or changed.
#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    /// Nothing selected that this attendee may order.
    #[error("nothing to order: choose photos of yours")]
    Empty,
    /// The form names a photo that is not the attendee's (or does not exist).
    #[error("photo {0} is not one of yours")]
    NotYours(i64),
    /// Too many photos in one form.
    #[error("at most {MAX_PHOTOS} photos per order")]
    TooMany,
    /// No such order (or not this creator's).
    #[error("no such order")]
    NotFound,
    /// The order is not in a state that allows this.
    #[error("the order is {0}")]
    State(String),
    /// The database failed.
    #[error(transparent)]
    Sql(#[from] rusqlite::Error),
}

/// An order's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Placed, waiting for the creator.
    Pending,
    /// Payment taken.
    Paid,
    /// Given free.
    Free,
    /// Cancelled (by the creator or the admin).
    Cancelled,
}

impl State {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Paid => "paid",
            State::Free => "free",
            State::Cancelled => "cancelled",
        }
    }

    fn parse(s: &str) -> State {
        match s {
            "paid" => State::Paid,
            "free" => State::Free,
            "cancelled" => State::Cancelled,
            _ => State::Pending,
        }
    }

    /// Paid or free: the photos are the attendee's.
    pub fn confirmed(self) -> bool {
        matches!(self, State::Paid | State::Free)
    }
}

/// What an attendee selected: single photos, and event-day bundles by creator id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Photo ids.
    pub photos: Vec<i64>,
    /// Creator ids whose bundle is wanted.
    pub bundles: Vec<i64>,
}

/// One priced line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Line {
    /// `photo` or `bundle`.
    pub kind: &'static str,
    /// The photo of a `photo` line.
    pub photo_id: Option<i64>,
    /// Price in minor units.
    pub price_minor: u64,
    /// The creator's share.
    pub creator_minor: u64,
    /// The organiser's share.
    pub organiser_minor: u64,
}

/// An order as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Order {
    /// Database id.
    pub id: i64,
    /// The short code on the receipt and the attendee's page (e.g. `K7Q-3MX`).
    pub code: String,
    /// The attendee's pseudonym (never the pass id).
    pub pseudonym: String,
    /// The creator it belongs to.
    pub creator_id: i64,
    /// ISO 4217 currency.
    pub currency: String,
    /// Sum of the lines, minor units.
    pub total_minor: u64,
    /// Its state.
    pub state: State,
    /// When it was placed (seconds since the epoch).
    pub created_at: i64,
    /// When it was confirmed, made free or cancelled.
    pub decided_at: Option<i64>,
    /// The priced lines.
    pub lines: Vec<Line>,
    /// The photos it delivers.
    pub photos: Vec<i64>,
}

/// The split of `price` at `organiser_percent`: (creator, organiser), organiser
/// rounded down.
pub fn split(price: u64, organiser_percent: u8) -> (u64, u64) {
    let organiser = price * u64::from(organiser_percent.min(100)) / 100;
    (price - organiser, organiser)
}

/// A short, typeable order code: 6 characters of Crockford base 32 (no I, L, O, U).
fn new_code() -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut rng = rand::thread_rng();
    let c: String = (0..6)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{}-{}", &c[..3], &c[3..])
}

/// Places the orders of `selection` for `attendee` (pass id, with its pseudonym): one
/// per creator, priced from `config`. Every photo named must be listable and tagged to
/// the attendee, or nothing is placed. Returns the orders placed.
pub fn place(
    conn: &Connection,
    attendee: &str,
    pseudonym: &str,
    selection: &Selection,
    config: &DeliveryConfig,
) -> Result<Vec<Order>, OrderError> {
    if selection.photos.len() > MAX_PHOTOS || selection.bundles.len() > MAX_PHOTOS {
        return Err(OrderError::TooMany);
    }
    // The prices in force: the file's, with what the admin pages set over them.
    let config = &crate::event::delivery_in_force(conn, config)?;
    let mut wanted: Vec<i64> = selection.photos.clone();
    wanted.sort_unstable();
    wanted.dedup();
    let found = reads::orderable(conn, attendee, &wanted)?;
    if let Some(missing) = wanted
        .iter()
        .find(|id| !found.iter().any(|(f, _)| f == *id))
    {
        return Err(OrderError::NotYours(*missing));
    }
    // creator -> (bundle photos if a bundle, single photos)
    let mut by_creator: std::collections::BTreeMap<i64, (Option<Vec<i64>>, Vec<i64>)> =
        Default::default();
    for creator in &selection.bundles {
        let photos = reads::tagged_from(conn, attendee, *creator)?;
        if !photos.is_empty() {
            by_creator.entry(*creator).or_default().0 = Some(photos);
        }
    }
    for (photo, creator) in found {
        by_creator.entry(creator).or_default().1.push(photo);
    }
    if by_creator.is_empty() {
        return Err(OrderError::Empty);
    }
    let mut placed = Vec::new();
    for (creator, (bundle, singles)) in by_creator {
        let name = crate::creators::name_of(conn, creator)?.unwrap_or_default();
        let (photo_price, bundle_price) = config.prices(&name);
        let mut lines = Vec::new();
        let photos = match bundle {
            // The bundle holds every photo of theirs from this creator: singles of the
            // same creator are in it already.
            Some(photos) => {
                let (c, o) = split(bundle_price, config.organiser_percent);
                lines.push(Line {
                    kind: "bundle",
                    photo_id: None,
                    price_minor: bundle_price,
                    creator_minor: c,
                    organiser_minor: o,
                });
                photos
            }
            None => {
                for photo in &singles {
                    let (c, o) = split(photo_price, config.organiser_percent);
                    lines.push(Line {
                        kind: "photo",
                        photo_id: Some(*photo),
                        price_minor: photo_price,
                        creator_minor: c,
                        organiser_minor: o,
                    });
                }
                singles
            }
        };
        let total: u64 = lines.iter().map(|l| l.price_minor).sum();
        let created_at = now();
        let mut code = new_code();
        while conn
            .query_row(
                "SELECT 1 FROM delivery_orders WHERE code = ?1",
                [&code],
                |_| Ok(()),
            )
            .optional()?
            .is_some()
        {
            code = new_code();
        }
        conn.execute(
            "INSERT INTO delivery_orders (code, attendee, pseudonym, creator_id, currency, total_minor, state, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7)",
            params![code, attendee, pseudonym, creator, config.currency, total as i64, created_at],
        )?;
        let id = conn.last_insert_rowid();
        for (n, l) in lines.iter().enumerate() {
            conn.execute(
                "INSERT INTO delivery_order_lines (order_id, line, kind, photo_id, price_minor, creator_minor, organiser_minor)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![id, n as i64 + 1, l.kind, l.photo_id, l.price_minor as i64, l.creator_minor as i64, l.organiser_minor as i64],
            )?;
        }
        for p in &photos {
            conn.execute(
                "INSERT INTO delivery_order_photos (order_id, photo_id) VALUES (?1, ?2)",
                params![id, p],
            )?;
        }
        event(conn, id, "placed", created_at)?;
        crate::db::audit(
            conn,
            "attendee",
            "delivery.order",
            &format!("{code} creator {creator} total {total}"),
        )?;
        placed.push(Order {
            id,
            code,
            pseudonym: pseudonym.to_string(),
            creator_id: creator,
            currency: config.currency.clone(),
            total_minor: total,
            state: State::Pending,
            created_at,
            decided_at: None,
            lines,
            photos,
        });
    }
    Ok(placed)
}

fn row_to_order(r: &rusqlite::Row<'_>) -> rusqlite::Result<Order> {
    Ok(Order {
        id: r.get(0)?,
        code: r.get(1)?,
        pseudonym: r.get(2)?,
        creator_id: r.get(3)?,
        currency: r.get(4)?,
        total_minor: r.get::<_, i64>(5)? as u64,
        state: State::parse(&r.get::<_, String>(6)?),
        created_at: r.get(7)?,
        decided_at: r.get(8)?,
        lines: Vec::new(),
        photos: Vec::new(),
    })
}

const ORDER_COLUMNS: &str =
    "id, code, pseudonym, creator_id, currency, total_minor, state, created_at, decided_at";

fn with_details(conn: &Connection, mut order: Order) -> rusqlite::Result<Order> {
    let mut stmt = conn.prepare_cached(
        "SELECT kind, photo_id, price_minor, creator_minor, organiser_minor FROM delivery_order_lines
         WHERE order_id = ?1 ORDER BY line",
    )?;
    order.lines = stmt
        .query_map([order.id], |r| {
            Ok(Line {
                kind: if r.get::<_, String>(0)? == "bundle" {
                    "bundle"
                } else {
                    "photo"
                },
                photo_id: r.get(1)?,
                price_minor: r.get::<_, i64>(2)? as u64,
                creator_minor: r.get::<_, i64>(3)? as u64,
                organiser_minor: r.get::<_, i64>(4)? as u64,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut stmt = conn.prepare_cached(
        "SELECT photo_id FROM delivery_order_photos WHERE order_id = ?1 ORDER BY photo_id",
    )?;
    order.photos = stmt
        .query_map([order.id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(order)
}

/// Appends to the stream of order events sync publishes.
fn event(conn: &Connection, order_id: i64, event: &str, at: i64) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO delivery_order_events (order_id, event, at) VALUES (?1, ?2, ?3)",
        params![order_id, event, at],
    )?;
    Ok(())
}

/// Order `id`, with its lines and photos.
pub fn get(conn: &Connection, id: i64) -> rusqlite::Result<Option<Order>> {
    let order = conn
        .query_row(
            &format!("SELECT {ORDER_COLUMNS} FROM delivery_orders WHERE id = ?1"),
            [id],
            row_to_order,
        )
        .optional()?;
    order.map(|o| with_details(conn, o)).transpose()
}

/// An attendee erased their records (`consent::erase`): their orders keep their
/// pseudonym (the vendor's books and the synced bundles name orders by it) but lose
/// the pass id, which becomes the same `erased:<pseudonym>` marker that erasure leaves
/// on tags, so no order can be found by, or lead back to, the pass any more, and its
/// links answer "withdrawn". Call in the erasure's transaction. Returns the orders
/// changed.
pub fn forget_attendee(
    conn: &Connection,
    pass_id: &str,
    pseudonym: &str,
) -> rusqlite::Result<usize> {
    conn.execute(
        "UPDATE delivery_orders SET attendee = 'erased:' || ?2 WHERE attendee = ?1",
        params![pass_id, pseudonym],
    )
}

/// The pass id of the attendee who placed order `id`.
pub fn attendee_of(conn: &Connection, id: i64) -> rusqlite::Result<Option<String>> {
    conn.query_row(
        "SELECT attendee FROM delivery_orders WHERE id = ?1",
        [id],
        |r| r.get(0),
    )
    .optional()
}

/// How many orders are in each state, by the state's name; a state with none is absent.
pub fn counts_by_state(conn: &Connection) -> rusqlite::Result<Vec<(String, u64)>> {
    let mut stmt =
        conn.prepare("SELECT state, count(*) FROM delivery_orders GROUP BY state ORDER BY state")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

/// Orders, newest first: of one creator (or all with `None`), in one state (or all),
/// of one attendee (or all), at most `limit`.
pub fn list(
    conn: &Connection,
    creator: Option<i64>,
    state: Option<State>,
    attendee: Option<&str>,
    limit: u32,
) -> rusqlite::Result<Vec<Order>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ORDER_COLUMNS} FROM delivery_orders
         WHERE (?1 IS NULL OR creator_id = ?1) AND (?2 IS NULL OR state = ?2) AND (?3 IS NULL OR attendee = ?3)
         ORDER BY id DESC LIMIT ?4"
    ))?;
    let orders = stmt
        .query_map(
            params![creator, state.map(State::as_str), attendee, limit],
            row_to_order,
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    orders.into_iter().map(|o| with_details(conn, o)).collect()
}

/// Moves order `id` to `to` (`paid`, `free` or `cancelled`), if `creator` (or the
/// admin, `None`) may: confirming and making free only from pending; cancelling from
/// pending, paid or free (a refund at the stall; its links stop working).
pub fn decide(
    conn: &Connection,
    id: i64,
    creator: Option<i64>,
    to: State,
    actor: &str,
) -> Result<Order, OrderError> {
    let order = get(conn, id)?.ok_or(OrderError::NotFound)?;
    if creator.is_some_and(|c| c != order.creator_id) {
        return Err(OrderError::NotFound);
    }
    let allowed = match to {
        State::Paid | State::Free => order.state == State::Pending,
        State::Cancelled => order.state != State::Cancelled,
        State::Pending => false,
    };
    if !allowed {
        return Err(OrderError::State(order.state.as_str().into()));
    }
    let total = if to == State::Free {
        0
    } else {
        order.total_minor
    };
    if to == State::Free {
        conn.execute(
            "UPDATE delivery_order_lines SET price_minor = 0, creator_minor = 0, organiser_minor = 0 WHERE order_id = ?1",
            [id],
        )?;
    }
    let at = now();
    conn.execute(
        "UPDATE delivery_orders SET state = ?2, total_minor = ?3, decided_at = ?4, decided_by = ?5 WHERE id = ?1",
        params![id, to.as_str(), total as i64, at, actor],
    )?;
    event(conn, id, to.as_str(), at)?;
    crate::db::audit(
        conn,
        actor,
        &format!("delivery.order.{}", to.as_str()),
        &order.code,
    )?;
    Ok(get(conn, id)?.expect("just updated"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_organiser_share_rounds_down_and_the_shares_add_up() {
        assert_eq!(split(999, 10), (900, 99));
        assert_eq!(split(5, 33), (4, 1));
        assert_eq!(split(1, 99), (1, 0));
        assert_eq!(split(0, 50), (0, 0));
        assert_eq!(split(100, 100), (0, 100));
        for price in [0, 1, 7, 499, 1000, crate::config::MAX_PRICE_MINOR] {
            for pct in [0, 1, 15, 50, 99, 100] {
                let (c, o) = split(price, pct);
                assert_eq!(c + o, price);
            }
        }
    }

    #[test]
    fn codes_are_short_and_typeable() {
        let c = new_code();
        assert_eq!(c.len(), 7);
        assert!(c
            .chars()
            .all(|c| c == '-' || (c.is_ascii_alphanumeric() && !"ILOU".contains(c))));
    }
}
