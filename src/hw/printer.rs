//! The receipt printer's worker: takes jobs from the [`Printer`] queue in order and
//! writes them to the configured device (`serial`: an ESC/POS printer on a serial
//! device, named /dev/venuebox-printer by hardware/99-venuebox-serial.rules;
//! `simulated`: appended to a file).
//!
//! Unplug and replug: a job that cannot be written (the device is gone, or goes away
//! while it is written) is kept and written again, whole, once the device is back: a
//! printer that lost power lost its buffer too, and every job starts with ESC @. The
//! worker reopens the device with the serial layer's backoff (250 ms to 5 s). A job
//! still not printed `printer.job_max_age_secs` after it was queued is dropped with an
//! error (logged, counted as rejected, kept as the device's last error), so a printer
//! plugged back in an hour later does not print stale slips. The queue is bounded
//! (`printer.queue`): a job beyond it is refused when submitted. Partial writes are
//! retried until the whole job is out (`write_all`), then flushed (tcdrain).

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use crate::config::{PrinterConfig, PrinterKind};
use crate::devices::{Devices, Link, PrintJob, Printer, PRINTER};
use crate::hw::serial::{self, Backoff};

/// The printer end of a connection: a serial port or the simulated file. Anything the
/// printer sends back (status bytes) is read and dropped; reading also notices an
/// unplug while no job is being written.
trait Port: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Port for T {}

/// Makes the printer handle for `config`: [`Printer::off`] when `printer.kind` is off,
/// else a queue of `printer.queue` jobs whose state is registered in `devices`.
pub fn handle(config: &PrinterConfig, devices: &Devices) -> Printer {
    let backend = match config.kind {
        PrinterKind::Off => return Printer::off(),
        PrinterKind::Serial => "serial",
        PrinterKind::Simulated => "simulated",
    };
    devices.register(PRINTER, backend, &config.device);
    Printer::new(config.queue, devices.clone())
}

/// Prints queued jobs until `shutdown` (returns at once when the printer is off or
/// another worker took the queue).
pub async fn run(
    printer: Printer,
    config: PrinterConfig,
    devices: Devices,
    shutdown: CancellationToken,
) {
    let Some(mut queue) = printer.take_queue() else {
        return;
    };
    let max_age = Duration::from_secs(config.job_max_age_secs);
    let mut pending: Option<PrintJob> = None;
    let mut backoff = Backoff::default();
    let mut reported = false;
    while !shutdown.is_cancelled() {
        match open(&config).await {
            Ok(mut port) => {
                // Reading a real device notices an unplug while idle; the simulated
                // file is opened for appending only.
                let watch = config.kind == PrinterKind::Serial;
                tracing::info!(device = %config.device.display(), "printer connected");
                devices.set_link(PRINTER, Link::Connected);
                backoff.reset();
                reported = false;
                let why = serve(
                    &mut port,
                    watch,
                    &mut queue,
                    &mut pending,
                    max_age,
                    &devices,
                    &shutdown,
                )
                .await;
                devices.set_link(PRINTER, Link::WaitingForDevice);
                if shutdown.is_cancelled() {
                    return;
                }
                devices.error(PRINTER, format!("disconnected: {why}"));
                tracing::warn!(device = %config.device.display(), reason = %why, "printer disconnected; waiting for it");
            }
            Err(e) => {
                devices.error(PRINTER, format!("cannot open: {e}"));
                if !reported {
                    tracing::warn!(device = %config.device.display(), error = %e, "printer not available; retrying");
                    reported = true;
                }
            }
        }
        // While the printer is away, jobs that waited too long are dropped now, oldest
        // first (the queue is in order: the first fresh one ends the sweep).
        loop {
            if pending.is_none() {
                pending = queue.try_recv().ok();
            }
            match pending.take_if(|job| job.queued_at.elapsed() > max_age) {
                Some(job) => drop_job(&devices, job, max_age),
                None => break,
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(backoff.next_wait()) => {}
        }
    }
}

async fn open(config: &PrinterConfig) -> std::io::Result<Box<dyn Port>> {
    Ok(match config.kind {
        PrinterKind::Simulated => Box::new(
            tokio::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(&config.device)
                .await?,
        ),
        _ => Box::new(serial::open(&config.device, config.baud)?),
    })
}

fn drop_job(devices: &Devices, job: PrintJob, max_age: Duration) {
    tracing::error!(
        job = job.what,
        max_age_secs = max_age.as_secs(),
        "print job dropped: the printer was not back in time"
    );
    devices.update(PRINTER, |s| {
        s.queued = s.queued.saturating_sub(1);
        s.rejected += 1;
    });
    devices.error(
        PRINTER,
        format!(
            "{} dropped after {} s unprinted",
            job.what,
            max_age.as_secs()
        ),
    );
}

/// Writes jobs to an open port until it fails or `shutdown`; returns why it stopped.
/// A job that failed to write is left in `pending`.
async fn serve(
    port: &mut Box<dyn Port>,
    watch: bool,
    queue: &mut tokio::sync::mpsc::Receiver<PrintJob>,
    pending: &mut Option<PrintJob>,
    max_age: Duration,
    devices: &Devices,
    shutdown: &CancellationToken,
) -> String {
    let mut sink = [0u8; 64];
    loop {
        let job = match pending.take() {
            Some(job) => job,
            None => tokio::select! {
                _ = shutdown.cancelled() => return "shutting down".into(),
                job = queue.recv() => match job {
                    Some(job) => job,
                    None => return "queue closed".into(),
                },
                read = port.read(&mut sink), if watch => match read {
                    Ok(0) => return "end of input (hung up)".into(),
                    Ok(_) => continue,
                    Err(e) if e.kind() == std::io::ErrorKind::TimedOut => continue,
                    Err(e) => return e.to_string(),
                },
            },
        };
        if job.queued_at.elapsed() > max_age {
            drop_job(devices, job, max_age);
            continue;
        }
        let written = async {
            port.write_all(&job.bytes).await?;
            port.flush().await
        };
        let written = tokio::select! {
            _ = shutdown.cancelled() => return "shutting down".into(),
            written = written => written,
        };
        match written {
            Ok(()) => {
                tracing::info!(job = job.what, bytes = job.bytes.len(), "printed");
                devices.update(PRINTER, |s| {
                    s.queued = s.queued.saturating_sub(1);
                    s.handled += 1;
                    s.bytes += job.bytes.len() as u64;
                });
            }
            Err(e) => {
                *pending = Some(job);
                return e.to_string();
            }
        }
    }
}
