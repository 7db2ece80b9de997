//! The button: debounced, and told apart as a short press (released before
//! `gpio.long_press_ms`: opens the pairing window) or a long press (held that long:
//! a safe shutdown, taken at once while still held). [`Presses`] is the pure part,
//! fed samples; [`run`] polls the pin every [`POLL`].

use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::gpio::Button;
use super::power::PowerOff;
use crate::auth::Pairing;

/// How often the pin is read.
pub const POLL: Duration = Duration::from_millis(10);
/// How long a level must hold before it counts (contact bounce lasts a few ms).
pub const DEBOUNCE: Duration = Duration::from_millis(30);

/// What a press meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Press {
    /// Pressed and released before the long-press time.
    Short,
    /// Held for the long-press time (reported once, while still held).
    Long,
}

/// Turns raw samples of the button into presses.
#[derive(Debug)]
pub struct Presses {
    debounce: Duration,
    long: Duration,
    stable: bool,
    candidate: Option<(bool, Instant)>,
    pressed_at: Option<Instant>,
    long_reported: bool,
}

impl Presses {
    /// Levels must hold for `debounce`; a press held for `long` is [`Press::Long`].
    pub fn new(debounce: Duration, long: Duration) -> Presses {
        Presses {
            debounce,
            long,
            stable: false,
            candidate: None,
            pressed_at: None,
            long_reported: false,
        }
    }

    /// Feeds one sample (`pressed`, taken at `now`); returns a press when one ends
    /// (short) or reaches the long-press time (long).
    pub fn sample(&mut self, pressed: bool, now: Instant) -> Option<Press> {
        if pressed == self.stable {
            self.candidate = None;
        } else {
            let since = match self.candidate {
                Some((level, at)) if level == pressed => at,
                _ => {
                    self.candidate = Some((pressed, now));
                    now
                }
            };
            if now.duration_since(since) >= self.debounce {
                self.stable = pressed;
                self.candidate = None;
                if pressed {
                    self.pressed_at = Some(since);
                    self.long_reported = false;
                } else {
                    let was_pressed = self.pressed_at.take().is_some();
                    if was_pressed && !self.long_reported {
                        return Some(Press::Short);
                    }
                }
            }
        }
        match self.pressed_at {
            Some(at)
                if self.stable && !self.long_reported && now.duration_since(at) >= self.long =>
            {
                self.long_reported = true;
                Some(Press::Long)
            }
            _ => None,
        }
    }
}

/// What the presses do.
pub struct Actions {
    /// Opened by a short press.
    pub pairing: Pairing,
    /// For how long.
    pub pairing_for: Duration,
    /// Marked by a long press, before `shutdown` is cancelled.
    pub poweroff: PowerOff,
    /// The service's root token: a long press stops the service as SIGTERM does.
    pub shutdown: CancellationToken,
}

/// Watches the button until shutdown.
pub async fn run(button: Button, long_press: Duration, actions: Actions) {
    let mut presses = Presses::new(DEBOUNCE, long_press);
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = actions.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        match presses.sample(button.pressed(), Instant::now()) {
            Some(Press::Short) => {
                tracing::info!(
                    secs = actions.pairing_for.as_secs(),
                    "button: short press, pairing window open"
                );
                actions.pairing.open(actions.pairing_for);
            }
            Some(Press::Long) => {
                tracing::warn!("button: long press, safe shutdown and power off");
                actions.poweroff.request();
                actions.shutdown.cancel();
                return;
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    /// Feeds `levels` as (level, how long) at 10 ms samples; returns the presses with
    /// the time they were reported (ms from the start).
    fn play(levels: &[(bool, u64)]) -> Vec<(Press, u64)> {
        let start = Instant::now();
        let mut presses = Presses::new(MS(30), MS(3000));
        let mut t = 0;
        let mut out = Vec::new();
        for &(level, ms) in levels {
            for _ in 0..ms / 10 {
                if let Some(p) = presses.sample(level, start + MS(t)) {
                    out.push((p, t));
                }
                t += 10;
            }
        }
        out
    }

    #[test]
    fn a_short_press_is_reported_at_release() {
        let out = play(&[(false, 100), (true, 300), (false, 100)]);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0, Press::Short);
        assert!((400..=450).contains(&out[0].1), "{out:?}");
    }

    #[test]
    fn a_long_press_is_reported_once_while_held() {
        let out = play(&[(false, 50), (true, 5000), (false, 200)]);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].0, Press::Long);
        assert!((3050..=3100).contains(&out[0].1), "{out:?}");
    }

    #[test]
    fn bounces_are_ignored() {
        // Contact bounce: 10 ms blips either way never count.
        let mut levels = vec![(false, 100)];
        for _ in 0..5 {
            levels.extend([(true, 10), (false, 10)]);
        }
        levels.push((false, 200));
        assert!(play(&levels).is_empty());
        // A press that bounces at its start and end is still one short press.
        let mut levels = vec![(false, 100), (true, 10), (false, 10), (true, 400)];
        levels.extend([(false, 10), (true, 10), (false, 300)]);
        let out = play(&levels);
        assert_eq!(out.iter().map(|p| p.0).collect::<Vec<_>>(), [Press::Short]);
    }
}
