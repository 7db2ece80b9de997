//! Serial devices as the rest of the box sees them, below the edges: each device's
//! state for the dashboard ([`Devices`]), the receipt printer's job queue ([`Printer`])
//! and the ESC/POS bytes a receipt is made of ([`escpos`]). `hw/` drives the devices and
//! writes their state here; `web/` reads it; `app/` and, later, delivery hand jobs to
//! the printer, none of them importing `hw/`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;
use tokio::sync::mpsc;

pub mod escpos;

/// Whether a device is there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Link {
    /// Open and in use.
    Connected,
    /// Not there (unplugged, not yet plugged in, failed to open); retried with backoff.
    WaitingForDevice,
}

/// One device's state, as `GET /api/admin/devices` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceStatus {
    /// `scanner` (the door's), `printer`, or `stall-scanner:<creator>` (see
    /// [`stall_scanner`]).
    pub name: String,
    /// `serial` or `simulated`.
    pub backend: &'static str,
    /// The device or file path.
    pub device: String,
    /// Connected or waiting.
    pub state: Link,
    /// When `state` last changed (seconds since the Unix epoch).
    pub since: i64,
    /// The last error (open, read or write failure, or a rejected line or job).
    pub last_error: Option<String>,
    /// When `last_error` happened (seconds since the Unix epoch).
    pub last_error_at: Option<i64>,
    /// Lines handled (door scanner: every clean line; stall scanner: passes that
    /// tagged) or jobs printed (printer).
    pub handled: u64,
    /// Lines discarded (garbage; at a stall also a line that is no pass of this event,
    /// or a creator not on the box) or jobs dropped (printer).
    pub rejected: u64,
    /// Bytes read (scanner) or written (printer).
    pub bytes: u64,
    /// Jobs waiting to be printed (printer; always 0 for the scanner).
    pub queued: u64,
}

/// Every configured device's state: a cheap handle, cloned into `hw/` (which writes)
/// and the web state (which reads).
#[derive(Debug, Clone, Default)]
pub struct Devices(Arc<Mutex<BTreeMap<String, DeviceStatus>>>);

impl Devices {
    /// Adds a device, waiting for it since now (a device registered again under the
    /// same name starts afresh).
    pub fn register(
        &self,
        name: impl Into<String>,
        backend: &'static str,
        device: &std::path::Path,
    ) {
        let name = name.into();
        let status = DeviceStatus {
            name: name.clone(),
            backend,
            device: device.display().to_string(),
            state: Link::WaitingForDevice,
            since: crate::clock::now(),
            last_error: None,
            last_error_at: None,
            handled: 0,
            rejected: 0,
            bytes: 0,
            queued: 0,
        };
        self.lock().insert(name, status);
    }

    /// Changes a registered device's state (no-op for an unknown name).
    pub fn update(&self, name: &str, change: impl FnOnce(&mut DeviceStatus)) {
        if let Some(status) = self.lock().get_mut(name) {
            change(status);
        }
    }

    /// Marks a device connected or waiting; `since` moves only on a change.
    pub fn set_link(&self, name: &str, state: Link) {
        self.update(name, |s| {
            if s.state != state {
                s.state = state;
                s.since = crate::clock::now();
            }
        });
    }

    /// Records an error on a device.
    pub fn error(&self, name: &str, error: impl std::fmt::Display) {
        let error = error.to_string();
        self.update(name, |s| {
            s.last_error = Some(error);
            s.last_error_at = Some(crate::clock::now());
        });
    }

    /// Every device's state, by name.
    pub fn snapshot(&self) -> Vec<DeviceStatus> {
        self.lock().values().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, DeviceStatus>> {
        // A panic while holding the lock leaves plain counters behind: keep going.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One print job: the ESC/POS bytes, and when it was queued (for `printer.job_max_age_secs`).
#[derive(Debug)]
pub struct PrintJob {
    /// What it is, for the log (`setup code`, `receipt`); never its content.
    pub what: &'static str,
    /// The bytes to send, as [`escpos::Receipt`] makes them.
    pub bytes: Vec<u8>,
    /// When it was queued.
    pub queued_at: Instant,
}

/// Why a job was not queued.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PrintError {
    /// `printer.kind` is `off`.
    #[error("no printer is configured")]
    Off,
    /// `printer.queue` jobs are already waiting.
    #[error("the printer queue is full")]
    QueueFull,
    /// The printer worker has stopped (shutting down).
    #[error("the printer is stopped")]
    Stopped,
}

/// The receipt printer's queue: a cheap handle to submit jobs to. `hw::printer::run`
/// takes the receiving end once and prints the jobs in order, keeping them across an
/// unplug until `printer.job_max_age_secs`.
#[derive(Debug, Clone)]
pub struct Printer {
    sender: Option<mpsc::Sender<PrintJob>>,
    receiver: Arc<Mutex<Option<mpsc::Receiver<PrintJob>>>>,
    devices: Devices,
}

/// The name a printer's state is registered under in [`Devices`].
pub const PRINTER: &str = "printer";
/// The name the door scanner's state is registered under in [`Devices`].
pub const SCANNER: &str = "scanner";

/// The name the stall scanner of the creator named `creator` (as configured in
/// `[[tagging.scanners]]`) is registered under in [`Devices`]: `stall-scanner:anna`.
pub fn stall_scanner(creator: &str) -> String {
    format!("stall-scanner:{creator}")
}

impl Printer {
    /// No printer: every submit fails with [`PrintError::Off`].
    pub fn off() -> Printer {
        Printer {
            sender: None,
            receiver: Arc::default(),
            devices: Devices::default(),
        }
    }

    /// A printer whose queue holds up to `capacity` jobs (at least 1); its state is
    /// counted in `devices` under [`PRINTER`].
    pub fn new(capacity: usize, devices: Devices) -> Printer {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        Printer {
            sender: Some(sender),
            receiver: Arc::new(Mutex::new(Some(receiver))),
            devices,
        }
    }

    /// True when a printer is configured.
    pub fn is_on(&self) -> bool {
        self.sender.is_some()
    }

    /// Queues a job without waiting.
    ///
    /// # Errors
    /// [`PrintError::Off`], [`PrintError::QueueFull`] or [`PrintError::Stopped`].
    pub fn submit(&self, what: &'static str, bytes: Vec<u8>) -> Result<(), PrintError> {
        let sender = self.sender.as_ref().ok_or(PrintError::Off)?;
        let job = PrintJob {
            what,
            bytes,
            queued_at: Instant::now(),
        };
        sender.try_send(job).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => PrintError::QueueFull,
            mpsc::error::TrySendError::Closed(_) => PrintError::Stopped,
        })?;
        self.devices.update(PRINTER, |s| s.queued += 1);
        Ok(())
    }

    /// The receiving end of the queue, for the one worker that prints; `None` when
    /// the printer is off or the queue was already taken.
    pub fn take_queue(&self) -> Option<mpsc::Receiver<PrintJob>> {
        self.receiver
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }
}
