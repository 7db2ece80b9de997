//! Powering off after a long press: the service stops as on SIGTERM (uploads refused,
//! in-flight requests given the HTTP grace period, workers joined, the database closed
//! with `PRAGMA wal_checkpoint(TRUNCATE)` by `Store::close`), then [`finish`] flushes
//! the file systems (syncfs(2) on the data dir's, then sync(2)) and runs
//! `gpio.poweroff_command` (`systemctl poweroff` by default, systemctl(1)).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;

/// Set by a long press: "power off once stopped". A cheap clone of one flag.
#[derive(Debug, Clone, Default)]
pub struct PowerOff(Arc<AtomicBool>);

impl PowerOff {
    /// Asks for a power-off after the service has stopped.
    pub fn request(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Was a power-off asked for?
    pub fn requested(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Flushes the data dir's file system and every other, then runs `command` (program
/// and arguments) and waits for it. Call after the database is closed.
/// Errors: the flush, or the command failing to start or exiting non-zero.
pub async fn finish(data_dir: &Path, command: &[String]) -> anyhow::Result<()> {
    let dir = data_dir.to_path_buf();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let fd = std::fs::File::open(&dir).with_context(|| format!("opening {}", dir.display()))?;
        rustix::fs::syncfs(&fd).with_context(|| format!("syncfs on {}", dir.display()))?;
        rustix::fs::sync();
        Ok(())
    })
    .await??;
    let (program, args) = command
        .split_first()
        .context("gpio.poweroff_command is empty")?;
    tracing::warn!(command = ?command, "powering off");
    let status = tokio::process::Command::new(program)
        .args(args)
        .status()
        .await
        .with_context(|| format!("running {program}"))?;
    anyhow::ensure!(status.success(), "{command:?} failed: {status}");
    Ok(())
}
