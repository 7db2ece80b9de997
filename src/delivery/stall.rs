//! A pass scanner plugged into the box at a creator's stall (`[[tagging.scanners]]`):
//! what one line it reads means. `hw::scanner` reads the device (serial or simulated,
//! reconnecting after an unplug) and calls [`Stall::scanned`] for every clean line; a
//! valid pass of this event is a stall scan ([`tagging::scan_at_stall`], `via` scan),
//! exactly as one made on the vendor page: the creator's photos that arrive after it
//! are tagged to the pass's attendee.
//!
//! The creator is looked up by name at every line, so a scanner configured for a
//! creator added after the box started works from their first scan. Codes are never
//! logged (a pass is the attendee's); the attendee's pseudonym only in its short form.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::consent::Secret;
use crate::db::{Store, StoreError};

use super::tagging::{self, TagError, Via};

/// What a line read at a stall did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StallScan {
    /// A valid pass: the creator's next photos go to this attendee (pseudonym).
    Tagged(String),
    /// Not a pass of this event (forged, mistyped, foreign, another event's), or its
    /// attendee deleted their records: nothing tagged.
    NotAPass,
    /// No enabled creator of the configured name is on the box (yet): nothing tagged.
    UnknownCreator,
}

/// What a stall scanner's lines need: the database, the event's secret (to check
/// passes), whose stall it is and when a run ends. Cheap to clone; clones share the
/// "unknown creator" warning.
#[derive(Clone)]
pub struct Stall {
    /// The database (stall scans and tags are recorded here).
    pub store: Store,
    /// The per-event secret passes are keyed with.
    pub secret: Secret,
    /// The creator's name, as `[[tagging.scanners]]` gives it.
    pub creator: String,
    /// `tagging.gap_secs`.
    pub gap_secs: i64,
    /// Whether the missing creator was already warned about (warned once until they
    /// are found).
    warned: Arc<AtomicBool>,
}

impl std::fmt::Debug for Stall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stall")
            .field("creator", &self.creator)
            .field("gap_secs", &self.gap_secs)
            .finish_non_exhaustive()
    }
}

impl Stall {
    /// The stall of the creator named `creator`.
    pub fn new(store: Store, secret: Secret, creator: &str, gap_secs: i64) -> Stall {
        Stall {
            store,
            secret,
            creator: creator.to_string(),
            gap_secs,
            warned: Arc::default(),
        }
    }

    /// Handles one line: looks the creator up, and makes a valid pass a stall scan
    /// (one write transaction).
    ///
    /// # Errors
    /// The store failed; nothing was recorded.
    pub async fn handle_line(&self, line: &str) -> Result<StallScan, StoreError> {
        let (secret, creator, code, gap) = (
            self.secret.clone(),
            self.creator.clone(),
            line.to_string(),
            self.gap_secs,
        );
        self.store
            .write(move |tx| {
                let Some(creator_id) = crate::creators::id_by_name(tx, &creator)? else {
                    return Ok(StallScan::UnknownCreator);
                };
                match tagging::scan_at_stall(tx, &secret, creator_id, &code, Via::Scan, gap) {
                    Ok(pseudonym) => Ok(StallScan::Tagged(pseudonym)),
                    Err(TagError::UnknownPass | TagError::NoSuchPhoto) => Ok(StallScan::NotAPass),
                    Err(TagError::Db(e)) => Err(StoreError::from(e)),
                }
            })
            .await
    }

    /// [`Stall::handle_line`], logged (never the code; the attendee's pseudonym in its
    /// short form; a missing creator warned about once until they appear).
    pub async fn scanned(&self, line: &str) -> Result<StallScan, StoreError> {
        let scan = self.handle_line(line).await;
        let creator = self.creator.as_str();
        match &scan {
            Ok(StallScan::Tagged(pseudonym)) => {
                self.warned.store(false, Ordering::Relaxed);
                tracing::info!(
                    creator,
                    attendee = tagging::short(pseudonym),
                    "stall scan: the creator's next photos are tagged to this attendee"
                )
            }
            Ok(StallScan::NotAPass) => {
                self.warned.store(false, Ordering::Relaxed);
                tracing::warn!(creator, "stall scan: not a pass of this event; ignored")
            }
            Ok(StallScan::UnknownCreator) => {
                if !self.warned.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        creator,
                        "stall scan: no creator of this name on the box (`venuebox creator add`); scans ignored until there is"
                    )
                }
            }
            Err(e) => tracing::error!(creator, error = %e, "stall scan: could not record it"),
        }
        scan
    }
}
