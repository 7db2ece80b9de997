//! What the database last said about an attendee's photo request, remembered while it
//! is certainly still true, so that a phone fetching the same photo again (a gallery
//! scrolled back, a preview reopened, a reload) is answered without a trip to the
//! database's blocking pool (issue 14, "Benchmark": that trip was about a fifth of a
//! cached preview's cost).
//!
//! An entry holds who the pass cookie names, the photo, and the policy's facts about it
//! for that viewer ([`crate::delivery::reads::facts`]); the policy itself is still
//! asked on every request ([`crate::delivery::policy`]). An entry is used only while
//! both hold:
//! - this process has finished no write transaction since the entry was read
//!   ([`crate::db::Store::commits`] unchanged): every change that can narrow what an
//!   attendee sees (consent withdrawn, a tag taken off, a public mark removed, an order
//!   cancelled, a link revoked, an attendee erased, a photo removed) is written by this
//!   process, so any write at all forgets everything;
//! - it is younger than [`MAX_AGE`], for writes by another process (the CLI commands:
//!   none of them narrows what anyone may see, but the bound keeps the promise that the
//!   service reads what they wrote "on its next request" within a second).
//!
//! Only lookups that found the photo are kept; a missing photo is always looked up
//! again. At most [`MAX_ENTRIES`] entries; when full, all are dropped (a gallery's worth
//! of requests refills what is used).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::db::Store;
use crate::delivery::policy::{PhotoFacts, Viewer};
use crate::ingest::Photo;

/// How long an entry may be used at most, whatever the writes.
pub const MAX_AGE: Duration = Duration::from_secs(1);

/// Entries kept at most (each about 300 bytes: a few hundred kilobytes in all).
pub const MAX_ENTRIES: usize = 4096;

/// What one lookup found: the viewer the credentials name, the photo, and the policy's
/// facts about it for that viewer.
#[derive(Debug, Clone)]
pub struct Found {
    /// Who asked.
    pub viewer: Viewer,
    /// The photo.
    pub photo: Photo,
    /// The facts [`crate::delivery::policy::may_view`] needs.
    pub facts: PhotoFacts,
}

/// The key: the pass id the request presented (`None`: none), and the photo id.
pub type Key = (Option<String>, i64);

struct Entry {
    commits: u64,
    read_at: Instant,
    found: Arc<Found>,
}

/// The memo: cheap to clone (one shared map).
#[derive(Clone)]
pub struct Memo {
    store: Store,
    entries: Arc<Mutex<HashMap<Key, Entry>>>,
}

impl Memo {
    /// An empty memo over `store`'s writes.
    pub fn new(store: Store) -> Memo {
        Memo {
            store,
            entries: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The store's write count now: read it *before* the lookup whose result
    /// [`Memo::put`] will keep, so that a write finishing during the lookup makes the
    /// entry unusable rather than wrongly fresh.
    pub fn mark(&self) -> u64 {
        self.store.commits()
    }

    /// The entry for `key`, if it is still certainly true.
    pub fn get(&self, key: &Key) -> Option<Arc<Found>> {
        let commits = self.store.commits();
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let entry = entries.get(key)?;
        if entry.commits == commits && entry.read_at.elapsed() < MAX_AGE {
            return Some(entry.found.clone());
        }
        entries.remove(key);
        None
    }

    /// Keeps what a lookup started at `mark` ([`Memo::mark`]) found for `key`. Kept
    /// only when no write has finished since the mark.
    pub fn put(&self, key: Key, mark: u64, found: Arc<Found>) {
        if self.store.commits() != mark {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(
            key,
            Entry {
                commits: mark,
                read_at: Instant::now(),
                found,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::StoreOptions;

    fn found(id: i64) -> Arc<Found> {
        Arc::new(Found {
            viewer: Viewer::Attendee("a".into()),
            photo: Photo {
                id,
                sha256: "00".repeat(32),
                size: 1,
                media_type: "image/jpeg".into(),
                raw: false,
                creator_id: 1,
                original_name: "a.jpg".into(),
                source: "tus".into(),
                received_at: 0,
            },
            facts: PhotoFacts {
                creator_id: 1,
                public: true,
                ..PhotoFacts::default()
            },
        })
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db"), &StoreOptions::default()).unwrap();
        (dir, store)
    }

    #[test]
    fn any_write_forgets_what_was_read_before_it() {
        let (_dir, store) = store();
        let memo = Memo::new(store.clone());
        let key: Key = (Some("pass".into()), 7);
        let mark = memo.mark();
        memo.put(key.clone(), mark, found(7));
        assert_eq!(memo.get(&key).unwrap().photo.id, 7);
        store
            .write_blocking(|_| Ok::<_, crate::db::StoreError>(()))
            .unwrap();
        assert!(memo.get(&key).is_none(), "a write must forget the entry");
        // A failed (rolled back) transaction counts too: nothing is assumed of it.
        let mark = memo.mark();
        memo.put(key.clone(), mark, found(7));
        let _ = store.write_blocking(|_| Err::<(), _>(crate::db::StoreError::Closed));
        assert!(memo.get(&key).is_none());
    }

    #[test]
    fn a_lookup_overtaken_by_a_write_is_not_kept() {
        let (_dir, store) = store();
        let memo = Memo::new(store.clone());
        let key: Key = (None, 1);
        let mark = memo.mark();
        // The write finishes while the lookup is under way.
        store
            .write_blocking(|_| Ok::<_, crate::db::StoreError>(()))
            .unwrap();
        memo.put(key.clone(), mark, found(1));
        assert!(memo.get(&key).is_none());
    }

    #[test]
    fn entries_age_out_and_the_memo_stays_bounded() {
        let (_dir, store) = store();
        let memo = Memo::new(store);
        let key: Key = (Some("p".into()), 1);
        memo.put(key.clone(), memo.mark(), found(1));
        memo.entries.lock().unwrap().get_mut(&key).unwrap().read_at -= MAX_AGE;
        assert!(memo.get(&key).is_none(), "older than MAX_AGE");
        for id in 0..(MAX_ENTRIES as i64 + 10) {
            memo.put((None, id), memo.mark(), found(id));
        }
        assert!(memo.entries.lock().unwrap().len() <= MAX_ENTRIES);
        // Different passes are different entries: one attendee's facts never answer
        // another's request.
        memo.put((Some("x".into()), 5), memo.mark(), found(5));
        assert!(memo.get(&(Some("y".into()), 5)).is_none());
        assert!(memo.get(&(Some("x".into()), 5)).is_some());
    }
}
