//! The event the box serves: one row (`event`, owned here) with its name, dates and
//! default locale. Written from the config file on first start and by the admin API;
//! read by the portal, the watermark band and sync's manifests.
//!
//! Also the event's prices and co-op split as the admin pages set them
//! (`event_prices`, owned here): stored over the config file's `[delivery]` section,
//! which stays the default; [`delivery_in_force`] is what orders are priced with.

use rusqlite::{Connection, OptionalExtension};

use crate::clock::now;

/// The event the box serves.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Event {
    /// Shown to attendees.
    pub name: String,
    /// First day, `YYYY-MM-DD`.
    pub starts_on: Option<String>,
    /// Last day, `YYYY-MM-DD`.
    pub ends_on: Option<String>,
    /// Default locale.
    pub locale: String,
}

/// Writes the event row (there is one per box).
pub fn set_event(conn: &Connection, event: &Event) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO event (id, name, starts_on, ends_on, locale, updated_at)
         VALUES (1, ?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (id) DO UPDATE SET name = ?1, starts_on = ?2, ends_on = ?3, locale = ?4, updated_at = ?5
         WHERE (name, starts_on, ends_on, locale) IS NOT (?1, ?2, ?3, ?4)",
        rusqlite::params![event.name, event.starts_on, event.ends_on, event.locale, now()],
    )?;
    Ok(())
}

/// The event row, if set.
pub fn event(conn: &Connection) -> rusqlite::Result<Option<Event>> {
    conn.query_row(
        "SELECT name, starts_on, ends_on, locale FROM event WHERE id = 1",
        [],
        |r| {
            Ok(Event {
                name: r.get(0)?,
                starts_on: r.get(1)?,
                ends_on: r.get(2)?,
                locale: r.get(3)?,
            })
        },
    )
    .optional()
}

/// Prices set on the admin pages: the event's (creator `None`) or one creator's; a
/// `None` price keeps the config file's.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PriceSetting {
    /// Price of one photo, in minor units.
    pub photo_price: Option<u64>,
    /// Price of the bundle, in minor units.
    pub bundle_price: Option<u64>,
    /// The organiser's share in percent (the event's row only).
    pub organiser_percent: Option<u8>,
}

/// Every price setting: creator id (`0`: the event's own) → setting.
pub fn price_settings(
    conn: &Connection,
) -> rusqlite::Result<std::collections::BTreeMap<i64, PriceSetting>> {
    let mut stmt = conn.prepare(
        "SELECT creator_id, photo_price, bundle_price, organiser_percent FROM event_prices",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            PriceSetting {
                photo_price: r.get::<_, Option<i64>>(1)?.map(|v| v as u64),
                bundle_price: r.get::<_, Option<i64>>(2)?.map(|v| v as u64),
                organiser_percent: r.get::<_, Option<i64>>(3)?.map(|v| v as u8),
            },
        ))
    })?;
    rows.collect()
}

/// Stores the setting of `creator` (`0`: the event's own), replacing the one before;
/// a setting of nothing but `None`s removes the row (the file's values apply again).
/// Checked by the caller (`Config::validate` on [`delivery_in_force`]'s result).
pub fn set_prices(conn: &Connection, creator: i64, setting: &PriceSetting) -> rusqlite::Result<()> {
    if *setting == PriceSetting::default() {
        conn.execute("DELETE FROM event_prices WHERE creator_id = ?1", [creator])?;
        return Ok(());
    }
    conn.execute(
        "INSERT INTO event_prices (creator_id, photo_price, bundle_price, organiser_percent, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (creator_id) DO UPDATE SET photo_price = ?2, bundle_price = ?3,
             organiser_percent = ?4, updated_at = ?5",
        rusqlite::params![
            creator,
            setting.photo_price.map(|v| v as i64),
            setting.bundle_price.map(|v| v as i64),
            setting.organiser_percent.map(i64::from),
            now()
        ],
    )?;
    Ok(())
}

/// `file` (the config's `[delivery]`) with the stored settings over it: the event's
/// prices and split, and each creator's own prices (under their name, over the
/// file's entry for that name). A setting of a creator who no longer exists is
/// skipped.
pub fn delivery_in_force(
    conn: &Connection,
    file: &crate::config::DeliveryConfig,
) -> rusqlite::Result<crate::config::DeliveryConfig> {
    overlay(conn, file, &price_settings(conn)?)
}

/// `file` with `settings` over it (see [`delivery_in_force`]).
pub fn overlay(
    conn: &Connection,
    file: &crate::config::DeliveryConfig,
    settings: &std::collections::BTreeMap<i64, PriceSetting>,
) -> rusqlite::Result<crate::config::DeliveryConfig> {
    let mut config = file.clone();
    for (&creator, s) in settings {
        if creator == 0 {
            config.photo_price = s.photo_price.unwrap_or(config.photo_price);
            config.bundle_price = s.bundle_price.unwrap_or(config.bundle_price);
            config.organiser_percent = s.organiser_percent.unwrap_or(config.organiser_percent);
            continue;
        }
        let Some(name) = crate::creators::name_of(conn, creator)? else {
            continue;
        };
        let from_file = config
            .creators
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(&name))
            .map(|(_, p)| p.clone())
            .unwrap_or_default();
        config
            .creators
            .retain(|n, _| !n.eq_ignore_ascii_case(&name));
        config.creators.insert(
            name,
            crate::config::CreatorPrices {
                photo: s.photo_price.or(from_file.photo),
                bundle: s.bundle_price.or(from_file.bundle),
            },
        );
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{Store, StoreError, StoreOptions};

    #[test]
    fn event_round_trips_and_is_unique() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db"), &StoreOptions::default()).unwrap();
        let e = Event {
            name: "Night market".into(),
            starts_on: Some("2026-11-27".into()),
            ends_on: None,
            locale: "fr".into(),
        };
        store
            .write_blocking(|tx| {
                set_event(tx, &e)?;
                set_event(tx, &e)?;
                Ok::<_, StoreError>(())
            })
            .unwrap();
        let got = store
            .read_blocking(|c| event(c).map_err(StoreError::from))
            .unwrap();
        assert_eq!(got, Some(e));
    }
}
