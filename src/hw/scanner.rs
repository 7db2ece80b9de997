//! The pass scanners' reading loop, one for every scanner: the door's (each line to
//! `consent::door::scanned`, which checks the attendee in) and those at creators'
//! stalls (`[[tagging.scanners]]`, each line to `delivery::stall`, which tags the
//! creator's next photos). Lines go through the serial layer's framing first; what a
//! clean line means is the [`Lines`] handler's business.
//!
//! Two back ends, chosen by the scanner's `scanner` key: `serial` reads a serial device
//! (USB CDC scanners appear as /dev/ttyACM0, named /dev/venuebox-scanner or
//! /dev/venuebox-stall-<name> by hardware/99-venuebox-serial.rules; line ends CR, LF or
//! both), reopening it with backoff whenever it goes away, so unplugging and
//! re-plugging a scanner needs no restart; `simulated` follows a plain file that lines
//! are appended to, for a box without a scanner. Either way each scanner's state is
//! kept in [`Devices`] under its own name ([`SCANNER`] for the door,
//! [`stall_scanner`] for a stall).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt};
use tokio_util::sync::CancellationToken;

use crate::config::{ScannerKind, StallScannerConfig};
use crate::consent::door::{self, Door, MAX_LINE};
use crate::delivery::stall::{Stall, StallScan};
use crate::devices::{stall_scanner, Devices, Link, SCANNER};
use crate::hw::serial::{self, Backoff, Frame, LineFramer};

/// How often the simulated back end looks for new lines.
const FOLLOW_EVERY: Duration = Duration::from_millis(200);

/// What a handler made of one clean line, for the scanner's counters in [`Devices`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The line was acted on (`handled` + 1).
    Handled,
    /// The line was refused, and why (`rejected` + 1, the reason as the last error).
    Rejected(String),
}

/// What a scanner's clean lines are handed to.
pub trait Lines: Send + Sync {
    /// Acts on one line (no line end; never logged by the reader: it may be a pass).
    fn line(&self, line: &str) -> impl Future<Output = Outcome> + Send;
}

/// The door counts every clean line as handled: `consent::door` logs what it was.
impl Lines for Door {
    async fn line(&self, line: &str) -> Outcome {
        door::scanned(self, line).await;
        Outcome::Handled
    }
}

/// A stall counts a pass that tagged as handled, anything else as rejected.
impl Lines for Stall {
    async fn line(&self, line: &str) -> Outcome {
        match self.scanned(line).await {
            Ok(StallScan::Tagged(_)) => Outcome::Handled,
            Ok(StallScan::NotAPass) => Outcome::Rejected("not a pass of this event".into()),
            Ok(StallScan::UnknownCreator) => Outcome::Rejected(format!(
                "no creator named {:?} on the box (add them with `venuebox creator add`)",
                self.creator
            )),
            Err(e) => Outcome::Rejected(format!("not recorded: {e}")),
        }
    }
}

/// One scanner to read: its name in [`Devices`] and the logs, its back end, its device
/// (or file) and its speed.
#[derive(Debug, Clone)]
pub struct Source {
    /// `scanner` (the door) or `stall-scanner:<creator>`.
    pub name: String,
    /// The back end; `off` reads nothing.
    pub kind: ScannerKind,
    /// The tty, or the file a simulated scanner follows.
    pub device: PathBuf,
    /// Serial speed.
    pub baud: u32,
}

/// Reads the door scanner (`door.*`) until `shutdown`, registering it in `devices`
/// under [`SCANNER`].
pub async fn run(state: Door, devices: Devices, shutdown: CancellationToken) {
    let source = Source {
        name: SCANNER.to_string(),
        kind: state.config.scanner,
        device: state.config.device.clone(),
        baud: state.config.baud,
    };
    read(&source, &state, &devices, &shutdown).await
}

/// Reads one stall scanner until `shutdown`, registering it in `devices` under
/// [`stall_scanner`]`(creator)`; every clean line goes to `stall`.
pub async fn run_stall(
    stall: Stall,
    config: StallScannerConfig,
    devices: Devices,
    shutdown: CancellationToken,
) {
    let source = Source {
        name: stall_scanner(&config.creator),
        kind: config.scanner,
        device: config.device,
        baud: config.baud,
    };
    read(&source, &stall, &devices, &shutdown).await
}

/// Reads `source` until `shutdown`, handing each clean line to `handler`: the one
/// reading loop of every scanner. Registers the scanner in `devices` (unless `off`).
pub async fn read<H: Lines>(
    source: &Source,
    handler: &H,
    devices: &Devices,
    shutdown: &CancellationToken,
) {
    let name = source.name.as_str();
    let shown = source.device.display();
    match source.kind {
        ScannerKind::Off => {}
        ScannerKind::Serial => {
            devices.register(name, "serial", &source.device);
            let mut backoff = Backoff::default();
            let mut reported = false;
            while !shutdown.is_cancelled() {
                match serial::open(&source.device, source.baud) {
                    Ok(port) => {
                        tracing::info!(scanner = name, device = %shown, "scanner connected");
                        devices.set_link(name, Link::Connected);
                        backoff.reset();
                        reported = false;
                        let why = read_lines(name, handler, devices, port, shutdown).await;
                        devices.set_link(name, Link::WaitingForDevice);
                        if !shutdown.is_cancelled() {
                            devices.error(name, format!("disconnected: {why}"));
                            tracing::warn!(scanner = name, device = %shown, reason = %why, "scanner disconnected; waiting for it");
                        }
                    }
                    Err(e) => {
                        devices.error(name, format!("cannot open: {e}"));
                        if !reported {
                            tracing::warn!(scanner = name, device = %shown, error = %e, "scanner not available; retrying");
                            reported = true;
                        }
                    }
                }
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(backoff.next_wait()) => {}
                }
            }
        }
        ScannerKind::Simulated => {
            devices.register(name, "simulated", &source.device);
            follow_file(name, handler, devices, &source.device, shutdown).await
        }
    }
}

/// Hands each framed line to the handler, counting it.
async fn deliver<H: Lines>(name: &str, handler: &H, devices: &Devices, frames: Vec<Frame>) {
    for frame in frames {
        let outcome = match frame {
            Frame::Line(line) => handler.line(&line).await,
            Frame::Rejected(why) => {
                tracing::warn!(
                    scanner = name,
                    reason = why,
                    "scanner sent garbage; line ignored"
                );
                Outcome::Rejected(why.to_string())
            }
        };
        match outcome {
            Outcome::Handled => devices.update(name, |s| s.handled += 1),
            Outcome::Rejected(why) => {
                devices.update(name, |s| s.rejected += 1);
                devices.error(name, format!("line rejected: {why}"));
            }
        }
    }
}

/// Reads lines from a scanner until it fails, ends, or `shutdown`; returns why it stopped.
async fn read_lines<H: Lines, R: AsyncRead + Unpin>(
    name: &str,
    handler: &H,
    devices: &Devices,
    mut port: R,
    shutdown: &CancellationToken,
) -> String {
    let mut framer = LineFramer::new(MAX_LINE);
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
        devices.update(name, |s| s.bytes += n as u64);
        deliver(name, handler, devices, framer.push(&buf[..n])).await;
    }
}

/// Follows a file that scanned lines are appended to (the simulated scanner): connected
/// while the file exists, waiting while it does not.
async fn follow_file<H: Lines>(
    name: &str,
    handler: &H,
    devices: &Devices,
    path: &Path,
    shutdown: &CancellationToken,
) {
    let mut offset = 0u64;
    let mut framer = LineFramer::new(MAX_LINE);
    loop {
        match tokio::fs::File::open(path).await {
            Ok(mut file) => {
                devices.set_link(name, Link::Connected);
                let len = file.metadata().await.map(|m| m.len()).unwrap_or(0);
                if len < offset {
                    // Truncated or replaced: start again from the top.
                    offset = 0;
                    framer = LineFramer::new(MAX_LINE);
                }
                if len > offset && file.seek(std::io::SeekFrom::Start(offset)).await.is_ok() {
                    let mut fresh = Vec::new();
                    if let Ok(n) = (&mut file).take(len - offset).read_to_end(&mut fresh).await {
                        offset += n as u64;
                        devices.update(name, |s| s.bytes += n as u64);
                        deliver(name, handler, devices, framer.push(&fresh)).await;
                    }
                }
            }
            Err(e) => {
                devices.set_link(name, Link::WaitingForDevice);
                devices.error(name, format!("cannot open: {e}"));
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(FOLLOW_EVERY) => {}
        }
    }
}
