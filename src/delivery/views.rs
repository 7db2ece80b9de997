//! Gallery page views, counted for the organiser's funnel (issue 16: "photos tagged →
//! gallery views → orders"): how many times the public gallery (`gallery`) and an
//! attendee's own photos (`mine`) were opened, per minute. No attendee, device or
//! address is recorded, only the count.
//!
//! A view costs no disk write: [`GalleryViews::note`] adds to a count in memory, and
//! [`GalleryViews::flush`] adds the counts to `delivery_gallery_views` in one
//! transaction (every 30 s and at shutdown, from the composition root). A phone that
//! reloads the gallery in a loop thus cannot wear the SD card or hold the write lock.
//! A power cut loses at most the views of the last flush period; the dashboard adds
//! what is still in memory ([`GalleryViews::pending_since`]) to what the table holds.

use std::collections::BTreeMap;
use std::sync::Mutex;

use rusqlite::{params, Connection};

use crate::db::{Store, StoreError};

/// Which gallery page was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum GalleryPage {
    /// `GET /portal/gallery`: the public gallery.
    Public,
    /// `GET /portal/mine`: the attendee's own photos.
    Mine,
}

impl GalleryPage {
    /// Its name in the table and as a metrics label: `gallery` or `mine`.
    pub fn as_str(self) -> &'static str {
        match self {
            GalleryPage::Public => "gallery",
            GalleryPage::Mine => "mine",
        }
    }
}

/// Views not yet in the table, per (minute start in seconds since the epoch, page).
#[derive(Debug, Default)]
pub struct GalleryViews {
    pending: Mutex<Pending>,
}

type Pending = BTreeMap<(i64, GalleryPage), u64>;

impl GalleryViews {
    /// Counts one view of `page` at `at` (seconds since the epoch).
    pub fn note(&self, page: GalleryPage, at: i64) {
        let minute = at - at.rem_euclid(60);
        *self.lock().entry((minute, page)).or_default() += 1;
    }

    /// Views still in memory whose minute began at or after `since`, per page
    /// (`gallery`, `mine`), summed; the dashboard adds them to [`views_since`].
    pub fn pending_since(&self, since: i64) -> Vec<(&'static str, u64)> {
        let pending = self.lock();
        let mut sums: BTreeMap<GalleryPage, u64> = BTreeMap::new();
        for (&(minute, page), &n) in pending.iter() {
            if minute >= since - since.rem_euclid(60) {
                *sums.entry(page).or_default() += n;
            }
        }
        sums.into_iter().map(|(p, n)| (p.as_str(), n)).collect()
    }

    /// Adds the counts in memory to `delivery_gallery_views` in one write transaction
    /// and forgets them; if the write or its commit fails they go back into memory for
    /// the next flush (a full disk loses no count). Returns how many views were written.
    pub async fn flush(&self, store: &Store) -> Result<u64, StoreError> {
        let taken = std::mem::take(&mut *self.lock());
        if taken.is_empty() {
            return Ok(0);
        }
        let counts = taken.clone();
        let written = store.write_sql(move |tx| record(tx, &counts)).await;
        if written.is_err() {
            let mut pending = self.lock();
            for (key, n) in taken {
                *pending.entry(key).or_default() += n;
            }
        }
        written
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Adds the views `views` still holds in memory since `since` to `rows` (as read by
/// [`views_since`]), keeping page order: what the table and memory hold together.
pub fn add_pending(rows: &mut Vec<(String, u64)>, views: &GalleryViews, since: i64) {
    for (page, n) in views.pending_since(since) {
        match rows.iter_mut().find(|r| r.0 == page) {
            Some(r) => r.1 += n,
            None => rows.push((page.to_string(), n)),
        }
    }
    rows.sort();
}

/// Adds `counts` to the table (inside the caller's transaction); returns their sum.
fn record(conn: &Connection, counts: &Pending) -> rusqlite::Result<u64> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO delivery_gallery_views (minute, page, views) VALUES (?1, ?2, ?3)
         ON CONFLICT (minute, page) DO UPDATE SET views = views + excluded.views",
    )?;
    let mut total = 0;
    for (&(minute, page), &n) in counts {
        stmt.execute(params![minute, page.as_str(), n])?;
        total += n;
    }
    Ok(total)
}

/// Views recorded in the table since `since` (seconds since the epoch; whole minutes
/// from the one `since` falls in), per page, as `(page, views)` in page order.
pub fn views_since(conn: &Connection, since: i64) -> rusqlite::Result<Vec<(String, u64)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT page, sum(views) FROM delivery_gallery_views WHERE minute >= ?1
         GROUP BY page ORDER BY page",
    )?;
    let rows = stmt.query_map([since - since.rem_euclid(60)], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })?;
    rows.collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::StoreOptions;

    fn store(dir: &tempfile::TempDir) -> Store {
        Store::open(&dir.path().join("venuebox.db"), &StoreOptions::default()).unwrap()
    }

    #[tokio::test]
    async fn views_are_counted_per_minute_and_added_on_flush() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir);
        let views = GalleryViews::default();
        views.note(GalleryPage::Public, 1_000_000_000); // minute 999_999_960
        views.note(GalleryPage::Public, 1_000_000_019);
        views.note(GalleryPage::Mine, 1_000_000_100); // the next-but-one minute
        assert_eq!(
            views.pending_since(1_000_000_000),
            vec![("gallery", 2), ("mine", 1)]
        );
        // Since a later minute: the first two are older.
        assert_eq!(views.pending_since(1_000_000_090), vec![("mine", 1)]);
        assert_eq!(views.flush(&store).await.unwrap(), 3);
        assert!(
            views.pending_since(0).is_empty(),
            "flushed counts leave memory"
        );
        views.note(GalleryPage::Public, 1_000_000_010);
        assert_eq!(views.flush(&store).await.unwrap(), 1);
        assert_eq!(views.flush(&store).await.unwrap(), 0);
        let since = |t| store.read_sql(move |c| views_since(c, t));
        assert_eq!(
            since(0).await.unwrap(),
            vec![("gallery".to_string(), 3), ("mine".to_string(), 1)]
        );
        assert_eq!(
            since(1_000_000_090).await.unwrap(),
            vec![("mine".to_string(), 1)]
        );
    }

    #[tokio::test]
    async fn a_failed_flush_keeps_the_counts() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir);
        let views = GalleryViews::default();
        views.note(GalleryPage::Mine, 60);
        views.note(GalleryPage::Mine, 61);
        store
            .write_sql(|tx| tx.execute_batch("DROP TABLE delivery_gallery_views"))
            .await
            .unwrap();
        assert!(views.flush(&store).await.is_err());
        assert_eq!(views.pending_since(0), vec![("mine", 2)]);
        store
            .write_sql(|tx| {
                tx.execute_batch(
                    "CREATE TABLE delivery_gallery_views (minute INTEGER NOT NULL,
                     page TEXT NOT NULL, views INTEGER NOT NULL, PRIMARY KEY (minute, page))",
                )
            })
            .await
            .unwrap();
        assert_eq!(views.flush(&store).await.unwrap(), 2);
        let rows = store.read_sql(|c| views_since(c, 0)).await.unwrap();
        assert_eq!(rows, vec![("mine".to_string(), 2)]);
    }
}
