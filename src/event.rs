//! The event the box serves: one row (`event`, owned here) with its name, dates and
//! default locale. Written from the config file on first start and by the admin API;
//! read by the portal, the watermark band and sync's manifests.

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
