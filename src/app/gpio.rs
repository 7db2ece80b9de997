//! Wiring of the status LED and the button (`hw`): opened from `[gpio]`, driven by
//! two tasks of the service's [`Tasks`], and the power-off a long press asks for.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::hw::{self, power::PowerOff};
use crate::web::AppState;

use super::Tasks;

/// What the rest of start-up and shutdown need from the GPIO wiring.
pub(super) struct Gpio {
    booted: Arc<AtomicBool>,
    poweroff: PowerOff,
}

/// Opens the configured back end and spawns the LED driver and the button watcher.
/// A back end that cannot be opened (rppal on a machine that is not a Pi) is logged
/// and the box runs without LED and button.
pub(super) fn start(tasks: &Tasks, state: &AppState) -> Gpio {
    let gpio = Gpio {
        booted: Arc::default(),
        poweroff: PowerOff::default(),
    };
    let config = &state.config.gpio;
    let (led, button) = match hw::gpio::open(config) {
        Ok(Some(pins)) => pins,
        Ok(None) => return gpio,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), backend = ?config.backend, "GPIO unusable; no status LED, no button");
            return gpio;
        }
    };
    let sources = hw::led::Sources {
        store: state.store.clone(),
        sync: state.sync.clone(),
        data_dir: state.config.storage.data_dir.clone(),
        reserve_bytes: state.config.ingest.free_disk_reserve_bytes,
        booted: gpio.booted.clone(),
        pairing: state.pairing.clone(),
    };
    tasks.spawn("status led", hw::led::run(led, sources, tasks.shutdown()));
    let actions = hw::button::Actions {
        pairing: state.pairing.clone(),
        pairing_for: Duration::from_secs(config.pairing_secs),
        poweroff: gpio.poweroff.clone(),
        shutdown: tasks.shutdown(),
    };
    let long = Duration::from_millis(config.long_press_ms);
    tasks.spawn("button", hw::button::run(button, long, actions));
    gpio
}

impl Gpio {
    /// Every listener and worker is up: the LED leaves "booting".
    pub(super) fn booted(&self) {
        self.booted.store(true, Ordering::SeqCst);
    }

    /// After the database is closed: flushes and powers off if a long press asked.
    pub(super) async fn finish(&self, state: &AppState) -> anyhow::Result<()> {
        if !self.poweroff.requested() {
            return Ok(());
        }
        hw::power::finish(
            &state.config.storage.data_dir,
            &state.config.gpio.poweroff_command,
        )
        .await
    }
}
