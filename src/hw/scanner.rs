//! The door scanner's reading loop: lines from the configured device go through the
//! serial layer's framing to `consent::door::scanned`, which decides what they mean.
//!
//! Two back ends, chosen by `door.scanner`: `serial` reads a serial device (USB CDC
//! scanners appear as /dev/ttyACM0, named /dev/venuebox-scanner by
//! hardware/99-venuebox-serial.rules; line ends CR, LF or both), reopening it with
//! backoff whenever it goes away, so unplugging and re-plugging the scanner needs no
//! restart; `simulated` follows a plain file that lines are appended to, for a box
//! without a scanner. Either way the state is kept in [`Devices`] under
//! [`SCANNER`].

use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt};
use tokio_util::sync::CancellationToken;

use crate::config::ScannerKind;
use crate::consent::door::{self, Door, MAX_LINE};
use crate::devices::{Devices, Link, SCANNER};
use crate::hw::serial::{self, Backoff, Frame, LineFramer};

/// How often the simulated back end looks for new lines.
const FOLLOW_EVERY: Duration = Duration::from_millis(200);

/// Reads the configured scanner until `shutdown`, registering it in `devices`.
pub async fn run(state: Door, devices: Devices, shutdown: CancellationToken) {
    let config = state.config.clone();
    match config.scanner {
        ScannerKind::Off => {}
        ScannerKind::Serial => {
            devices.register(SCANNER, "serial", &config.device);
            let mut backoff = Backoff::default();
            let mut reported = false;
            while !shutdown.is_cancelled() {
                match serial::open(&config.device, config.baud) {
                    Ok(port) => {
                        tracing::info!(device = %config.device.display(), "door scanner connected");
                        devices.set_link(SCANNER, Link::Connected);
                        backoff.reset();
                        reported = false;
                        let why = read_lines(&state, &devices, port, &shutdown).await;
                        devices.set_link(SCANNER, Link::WaitingForDevice);
                        if !shutdown.is_cancelled() {
                            devices.error(SCANNER, format!("disconnected: {why}"));
                            tracing::warn!(device = %config.device.display(), reason = %why, "door scanner disconnected; waiting for it");
                        }
                    }
                    Err(e) => {
                        devices.error(SCANNER, format!("cannot open: {e}"));
                        if !reported {
                            tracing::warn!(device = %config.device.display(), error = %e, "door scanner not available; retrying");
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
            devices.register(SCANNER, "simulated", &config.device);
            follow_file(&state, &devices, &config.device, &shutdown).await
        }
    }
}

/// Hands each framed line to the door, counting it.
async fn deliver(state: &Door, devices: &Devices, frames: Vec<Frame>) {
    for frame in frames {
        match frame {
            Frame::Line(line) => {
                door::scanned(state, &line).await;
                devices.update(SCANNER, |s| s.handled += 1);
            }
            Frame::Rejected(why) => {
                tracing::warn!(reason = why, "door scanner sent garbage; line ignored");
                devices.update(SCANNER, |s| s.rejected += 1);
                devices.error(SCANNER, format!("line rejected: {why}"));
            }
        }
    }
}

/// Reads lines from a scanner until it fails, ends, or `shutdown`; returns why it stopped.
async fn read_lines<R: AsyncRead + Unpin>(
    state: &Door,
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
        devices.update(SCANNER, |s| s.bytes += n as u64);
        deliver(state, devices, framer.push(&buf[..n])).await;
    }
}

/// Follows a file that scanned lines are appended to (the simulated scanner): connected
/// while the file exists, waiting while it does not.
async fn follow_file(state: &Door, devices: &Devices, path: &Path, shutdown: &CancellationToken) {
    let mut offset = 0u64;
    let mut framer = LineFramer::new(MAX_LINE);
    loop {
        match tokio::fs::File::open(path).await {
            Ok(mut file) => {
                devices.set_link(SCANNER, Link::Connected);
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
                        devices.update(SCANNER, |s| s.bytes += n as u64);
                        deliver(state, devices, framer.push(&fresh)).await;
                    }
                }
            }
            Err(e) => {
                devices.set_link(SCANNER, Link::WaitingForDevice);
                devices.error(SCANNER, format!("cannot open: {e}"));
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(FOLLOW_EVERY) => {}
        }
    }
}
