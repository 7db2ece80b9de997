//! Door check-in: a QR/barcode scanner reads attendees' passes, one code per line, and
//! each valid pass counts one attendance (source `door`), pseudonymously.
//!
//! Two back ends, chosen by `door.scanner` at run time: `serial` reads a serial device
//! with tokio-serial (USB CDC scanners appear as /dev/ttyACM0; line ends CR, LF or
//! both), reopening it whenever it goes away, so unplugging and re-plugging the scanner
//! needs no restart; `simulated` follows a plain file that lines are appended to, for a
//! box without a scanner.

use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt};
use tokio_util::sync::CancellationToken;

use crate::config::DoorConfig;
use crate::config::ScannerKind;
use crate::consent::Secret;
use crate::consent::{self, Source};
use crate::db::Store;

/// The longest line a scanner may send; longer ones are discarded whole.
const MAX_LINE: usize = 512;
/// How long to wait before reopening a scanner that went away or could not be opened.
const REOPEN_AFTER: Duration = Duration::from_millis(500);

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
}

/// Handles one scanned line.
pub async fn handle_line(state: &Door, line: &str) -> anyhow::Result<Scan> {
    let Some(pseudonym) = consent::verify_pass_code(&state.secret, line) else {
        return Ok(Scan::Unknown);
    };
    let debounce = state.debounce_secs;
    let scan = state
        .store
        .write_sql(move |c| -> rusqlite::Result<Scan> {
            let Some(attendee) = consent::attendee_by_pseudonym(c, &pseudonym)? else {
                return Ok(Scan::Deleted);
            };
            Ok(
                if consent::record_attendance(c, &attendee.pseudonym, Source::Door, debounce)? {
                    Scan::CheckedIn
                } else {
                    Scan::Repeat
                },
            )
        })
        .await?;
    Ok(scan)
}

/// Reads the configured scanner until `shutdown`.
pub async fn run(state: Door, shutdown: CancellationToken) {
    let door = state.config.clone();
    match door.scanner {
        ScannerKind::Off => {}
        ScannerKind::Serial => {
            let mut reported = false;
            while !shutdown.is_cancelled() {
                let opened = tokio_serial::new(door.device.to_string_lossy(), door.baud)
                    .timeout(Duration::from_secs(1))
                    .data_bits(tokio_serial::DataBits::Eight)
                    .parity(tokio_serial::Parity::None)
                    .stop_bits(tokio_serial::StopBits::One)
                    .flow_control(tokio_serial::FlowControl::None);
                match tokio_serial::SerialStream::open(&opened) {
                    Ok(port) => {
                        tracing::info!(device = %door.device.display(), "door scanner connected");
                        reported = false;
                        let why = read_lines(&state, port, &shutdown).await;
                        if !shutdown.is_cancelled() {
                            tracing::warn!(device = %door.device.display(), reason = %why, "door scanner disconnected; waiting for it");
                        }
                    }
                    Err(e) => {
                        if !reported {
                            tracing::warn!(device = %door.device.display(), error = %e, "door scanner not available; retrying");
                            reported = true;
                        }
                    }
                }
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(REOPEN_AFTER) => {}
                }
            }
        }
        ScannerKind::Simulated => follow_file(&state, &door.device, &shutdown).await,
    }
}

/// Reads lines from a scanner until it fails, ends, or `shutdown`; returns why it stopped.
async fn read_lines<R: AsyncRead + Unpin>(
    state: &Door,
    mut port: R,
    shutdown: &CancellationToken,
) -> String {
    let mut line = Vec::with_capacity(MAX_LINE);
    let mut overlong = false;
    let mut buf = [0u8; 256];
    loop {
        let n = tokio::select! {
            _ = shutdown.cancelled() => return "shutting down".into(),
            read = port.read(&mut buf) => match read {
                Ok(0) => return "end of input".into(),
                Ok(n) => n,
                // A read timeout just means no scan in a while.
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => continue,
                Err(e) => return e.to_string(),
            },
        };
        for &b in &buf[..n] {
            if b == b'\n' || b == b'\r' {
                if !overlong && !line.is_empty() {
                    scanned(state, &line).await;
                }
                line.clear();
                overlong = false;
            } else if line.len() >= MAX_LINE {
                overlong = true;
            } else {
                line.push(b);
            }
        }
    }
}

/// Follows a file that scanned lines are appended to (the simulated scanner).
async fn follow_file(state: &Door, path: &Path, shutdown: &CancellationToken) {
    let mut offset = 0u64;
    let mut pending = Vec::new();
    loop {
        if let Ok(mut file) = tokio::fs::File::open(path).await {
            let len = file.metadata().await.map(|m| m.len()).unwrap_or(0);
            if len < offset {
                // Truncated or replaced: start again from the top.
                offset = 0;
                pending.clear();
            }
            if len > offset && file.seek(std::io::SeekFrom::Start(offset)).await.is_ok() {
                let mut fresh = Vec::new();
                if let Ok(n) = (&mut file).take(len - offset).read_to_end(&mut fresh).await {
                    offset += n as u64;
                    pending.extend_from_slice(&fresh);
                    while let Some(end) = pending.iter().position(|&b| b == b'\n' || b == b'\r') {
                        let line: Vec<u8> = pending.drain(..=end).collect();
                        let line = &line[..line.len() - 1];
                        if !line.is_empty() && line.len() <= MAX_LINE {
                            scanned(state, line).await;
                        }
                    }
                    if pending.len() > MAX_LINE {
                        pending.clear();
                    }
                }
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
}

async fn scanned(state: &Door, line: &[u8]) {
    let Ok(line) = std::str::from_utf8(line) else {
        tracing::warn!("door scanner sent a line that is not text; ignored");
        return;
    };
    match handle_line(state, line).await {
        // Never log the code itself: it is the attendee's pass.
        Ok(Scan::CheckedIn) => tracing::info!("door check-in"),
        Ok(Scan::Repeat) => tracing::debug!("door: pass scanned again; counted once"),
        Ok(Scan::Unknown) => tracing::warn!("door: not a pass of this event; ignored"),
        Ok(Scan::Deleted) => tracing::info!("door: pass of deleted records; ignored"),
        Err(e) => tracing::error!(error = %format!("{e:#}"), "door: could not record a check-in"),
    }
}
