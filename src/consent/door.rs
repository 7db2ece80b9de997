//! Door check-in: a QR/barcode scanner reads attendees' passes, one code per line, and
//! each valid pass counts one attendance (source `door`), pseudonymously.
//!
//! This module decides what a line means; reading lines from the scanner (a serial
//! device, or the simulated file) is the hardware edge's: `hw::scanner` calls
//! [`scanned`] for every clean line.

use crate::config::DoorConfig;
use crate::consent::Secret;
use crate::consent::{self, Source};
use crate::db::Store;

/// The longest line a scanner may send; longer ones are discarded whole.
pub const MAX_LINE: usize = 512;

/// What a scanned line did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    /// A valid pass: one check-in counted.
    CheckedIn,
    /// A valid pass scanned again within the debounce window.
    Repeat,
    /// Not one of this event's passes (forged, mistyped, another event's).
    Unknown,
    /// A pass whose attendee deleted their records.
    Deleted,
}

/// What the door needs: the database, the event's secret (to check passes), the
/// scanner's configuration and the attendance debounce (seconds: one check-in per
/// attendee per debounce window counts).
#[derive(Clone)]
pub struct Door {
    /// The database (attendance is recorded here).
    pub store: Store,
    /// The per-event secret passes are keyed with.
    pub secret: Secret,
    /// `door` section of the configuration.
    pub config: DoorConfig,
    /// `portal.attendance_debounce_secs`.
    pub debounce_secs: i64,
    /// `clock.trust`: whether a check-in's time is marked trusted.
    pub clock_trust: crate::clock::TrustPolicy,
}

/// Handles one scanned line.
pub async fn handle_line(state: &Door, line: &str) -> anyhow::Result<Scan> {
    let Some(pass) = consent::verify_pass_code(&state.secret, line) else {
        return Ok(Scan::Unknown);
    };
    let debounce = state.debounce_secs;
    let stamp = crate::clock::stamp(state.clock_trust);
    let scan = state
        .store
        .write_sql(move |c| -> rusqlite::Result<Scan> {
            let Some(attendee) = consent::attendee_by_pass(c, &pass)? else {
                return Ok(Scan::Deleted);
            };
            Ok(
                if consent::record_attendance(
                    c,
                    &attendee.pseudonym,
                    Source::Door,
                    debounce,
                    stamp,
                )? {
                    Scan::CheckedIn
                } else {
                    Scan::Repeat
                },
            )
        })
        .await?;
    Ok(scan)
}

/// Handles one scanned line and logs what it did (never the code: it is the attendee's
/// pass). The scanner's reading loop (`hw::scanner`) calls it for every clean line.
pub async fn scanned(state: &Door, line: &str) -> Option<Scan> {
    let scan = handle_line(state, line).await;
    match &scan {
        // Never log the code itself: it is the attendee's pass.
        Ok(Scan::CheckedIn) => tracing::info!("door check-in"),
        Ok(Scan::Repeat) => tracing::debug!("door: pass scanned again; counted once"),
        Ok(Scan::Unknown) => tracing::warn!("door: not a pass of this event; ignored"),
        Ok(Scan::Deleted) => tracing::info!("door: pass of deleted records; ignored"),
        Err(e) => tracing::error!(error = %format!("{e:#}"), "door: could not record a check-in"),
    }
    scan.ok()
}
