//! The status LED: what the box is doing, as one blink pattern (ESPHome's status LED
//! convention: steady when all is well, a slow blink for a warning, a fast blink for
//! an error). [`state`] is a pure function of what the box reports ([`Inputs`]); the
//! highest-priority state wins, in this order:
//!
//! | state            | when                                                         | pattern (on/off, ms)         |
//! |------------------|--------------------------------------------------------------|------------------------------|
//! | pairing          | a short press opened the pairing window                      | 3 × (100/100), 1000 off      |
//! | error            | the database does not answer                                 | fast blink 100/100           |
//! | disk-nearly-full | free space under 2 × `ingest.free_disk_reserve_bytes`        | 2 × (200/200), 1400 off      |
//! | uplink-down      | sync's uplink is down and photos wait to be synced           | slow blink 200/1800          |
//! | booting          | until every listener and worker is up                        | even blink 500/500           |
//! | ready            | otherwise                                                    | steady on                    |
//!
//! Pairing is first because a person just pressed the button and waits to see it
//! taken. At shutdown the LED goes dark.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::gpio::Led;
use crate::auth::Pairing;
use crate::db::{Store, StoreError};
use crate::sync::SyncHandle;

/// What the LED's state is decided from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Inputs {
    /// Every listener and worker is up.
    pub booted: bool,
    /// The database answers (`Store::healthy`).
    pub db_healthy: bool,
    /// Free space in the data dir is under twice the reserve uploads keep.
    pub disk_nearly_full: bool,
    /// Sync's uplink is down and at least one photo or object waits to be sent.
    pub uplink_down_with_backlog: bool,
    /// The pairing window is open.
    pub pairing: bool,
}

/// What the LED shows, highest priority first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// The pairing window is open.
    Pairing,
    /// The database is unhealthy.
    Error,
    /// The disk is nearly full.
    DiskNearlyFull,
    /// The uplink is down with photos waiting.
    UplinkDown,
    /// Starting.
    Booting,
    /// All is well.
    Ready,
}

/// A pattern: `(lit, milliseconds)` steps, repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pattern {
    /// Its name in docs and in the simulated `led-pattern` file.
    pub name: &'static str,
    /// The steps, played in order and repeated.
    pub steps: &'static [(bool, u64)],
}

/// The state for these inputs (see the module's table for the priorities).
pub fn state(inputs: &Inputs) -> State {
    if inputs.pairing {
        State::Pairing
    } else if !inputs.db_healthy {
        State::Error
    } else if inputs.disk_nearly_full {
        State::DiskNearlyFull
    } else if inputs.uplink_down_with_backlog {
        State::UplinkDown
    } else if !inputs.booted {
        State::Booting
    } else {
        State::Ready
    }
}

impl State {
    /// The state's name, e.g. `disk-nearly-full`.
    pub fn name(self) -> &'static str {
        match self {
            State::Pairing => "pairing",
            State::Error => "error",
            State::DiskNearlyFull => "disk-nearly-full",
            State::UplinkDown => "uplink-down",
            State::Booting => "booting",
            State::Ready => "ready",
        }
    }

    /// The pattern the LED plays in this state.
    pub fn pattern(self) -> Pattern {
        let (name, steps): (&'static str, &'static [(bool, u64)]) = match self {
            State::Pairing => (
                "triple-flash",
                &[
                    (true, 100),
                    (false, 100),
                    (true, 100),
                    (false, 100),
                    (true, 100),
                    (false, 1000),
                ],
            ),
            State::Error => ("fast-blink", &[(true, 100), (false, 100)]),
            State::DiskNearlyFull => (
                "double-flash",
                &[(true, 200), (false, 200), (true, 200), (false, 1400)],
            ),
            State::UplinkDown => ("slow-blink", &[(true, 200), (false, 1800)]),
            State::Booting => ("even-blink", &[(true, 500), (false, 500)]),
            State::Ready => ("steady", &[(true, 1000)]),
        };
        Pattern { name, steps }
    }
}

/// Where the driver reads the box's state from.
#[derive(Clone)]
pub struct Sources {
    /// The database (health, and photos waiting for sync).
    pub store: Store,
    /// The sync worker's status (the uplink).
    pub sync: SyncHandle,
    /// The data dir, whose file system's free space is watched.
    pub data_dir: PathBuf,
    /// `ingest.free_disk_reserve_bytes`.
    pub reserve_bytes: u64,
    /// Set once every listener and worker is up.
    pub booted: Arc<AtomicBool>,
    /// The pairing window.
    pub pairing: Pairing,
}

impl Sources {
    /// Reads every input now (a database query, a `statvfs`, the sync status).
    pub async fn inputs(&self) -> Inputs {
        let db_healthy = self.store.healthy().await;
        let uplink_down = self.sync.status().uplink == "down";
        let backlog = uplink_down
            && db_healthy
            && self
                .store
                .read(|c| Ok::<_, StoreError>(crate::sync::outbox::waiting(c)?))
                .await
                .unwrap_or(false);
        let free = crate::files::free_bytes(&self.data_dir).ok();
        Inputs {
            booted: self.booted.load(Ordering::SeqCst),
            db_healthy,
            disk_nearly_full: free.is_some_and(|f| f < self.reserve_bytes.saturating_mul(2)),
            uplink_down_with_backlog: backlog,
            pairing: self.pairing.is_open(),
        }
    }
}

/// How often the driver reads its [`Sources`].
pub const POLL: Duration = Duration::from_millis(500);

/// Drives the LED until `shutdown`, then darkens it. A state change restarts the
/// new pattern at its first step.
/// Booting is shown at once, before the first reading of the sources.
pub async fn run(mut led: Led, sources: Sources, shutdown: CancellationToken) {
    led.describe(State::Booting.name(), State::Booting.pattern().name);
    let mut shown = Some(State::Booting);
    let mut step = 0;
    let mut next_step = Instant::now();
    let mut next_poll = Instant::now();
    loop {
        let now = Instant::now();
        if now >= next_poll {
            let state = state(&sources.inputs().await);
            next_poll = Instant::now() + POLL;
            if shown != Some(state) {
                tracing::info!(state = state.name(), "status LED");
                led.describe(state.name(), state.pattern().name);
                shown = Some(state);
                step = 0;
                next_step = Instant::now();
            }
        }
        if let (Some(state), true) = (shown, Instant::now() >= next_step) {
            let steps = state.pattern().steps;
            let (lit, ms) = steps[step % steps.len()];
            led.set(lit);
            step = (step + 1) % steps.len();
            next_step = Instant::now() + Duration::from_millis(ms);
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep_until(next_step.min(next_poll)) => {}
        }
    }
    led.describe("shutting-down", "off");
    led.set(false);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn well() -> Inputs {
        Inputs {
            booted: true,
            db_healthy: true,
            ..Inputs::default()
        }
    }

    #[test]
    fn each_state_from_its_inputs() {
        assert_eq!(state(&well()), State::Ready);
        assert_eq!(
            state(&Inputs {
                booted: false,
                ..well()
            }),
            State::Booting
        );
        let cases = [
            (
                Inputs {
                    uplink_down_with_backlog: true,
                    ..well()
                },
                State::UplinkDown,
            ),
            (
                Inputs {
                    disk_nearly_full: true,
                    ..well()
                },
                State::DiskNearlyFull,
            ),
            (
                Inputs {
                    db_healthy: false,
                    ..well()
                },
                State::Error,
            ),
            (
                Inputs {
                    pairing: true,
                    ..well()
                },
                State::Pairing,
            ),
        ];
        for (inputs, expected) in cases {
            assert_eq!(state(&inputs), expected, "{inputs:?}");
        }
    }

    #[test]
    fn the_highest_priority_state_wins() {
        let all = Inputs {
            booted: false,
            db_healthy: false,
            disk_nearly_full: true,
            uplink_down_with_backlog: true,
            pairing: true,
        };
        assert_eq!(state(&all), State::Pairing);
        let no_pairing = Inputs {
            pairing: false,
            ..all
        };
        assert_eq!(state(&no_pairing), State::Error);
        let healthy = Inputs {
            db_healthy: true,
            ..no_pairing
        };
        assert_eq!(state(&healthy), State::DiskNearlyFull);
        let disk_ok = Inputs {
            disk_nearly_full: false,
            ..healthy
        };
        assert_eq!(state(&disk_ok), State::UplinkDown);
        let uplink_ok = Inputs {
            uplink_down_with_backlog: false,
            ..disk_ok
        };
        assert_eq!(state(&uplink_ok), State::Booting);
    }

    #[test]
    fn patterns_are_distinct_and_errors_blink_fastest() {
        let states = [
            State::Pairing,
            State::Error,
            State::DiskNearlyFull,
            State::UplinkDown,
            State::Booting,
            State::Ready,
        ];
        let patterns: Vec<_> = states.iter().map(|s| s.pattern()).collect();
        for (i, a) in patterns.iter().enumerate() {
            assert!(a.steps.iter().all(|s| s.1 > 0), "{}", a.name);
            for b in &patterns[i + 1..] {
                assert_ne!(a.steps, b.steps, "{} and {}", a.name, b.name);
            }
        }
        let period = |s: State| s.pattern().steps.iter().map(|s| s.1).sum::<u64>();
        assert!(period(State::Error) < period(State::UplinkDown));
        assert!(
            State::Ready.pattern().steps.iter().all(|s| s.0),
            "ready is steady"
        );
    }
}
