//! The two GPIO lines the box uses, through the back end chosen at run time by
//! `gpio.backend`: the Raspberry Pi's GPIO through the rppal crate
//! (<https://docs.rs/rppal/0.22.1/rppal/gpio/>, memory-mapped `/dev/gpiomem`), or
//! files for machines without one (`simulated`):
//!
//! - `<sim_dir>/led`: `1` or `0`, rewritten (by rename, so never half-written) each
//!   time the LED changes;
//! - `<sim_dir>/led-pattern`: the state and pattern shown, e.g. `error fast-blink`;
//! - `<sim_dir>/led-history`: one such line appended per change, oldest first;
//! - `<sim_dir>/button`: written by whoever plays the button: `1` held down, anything
//!   else (or no file) released. Polled like the real pin, so a writer should replace
//!   it by rename too; a torn read only delays a press by one poll.

use std::path::PathBuf;

use crate::config::{GpioBackend, GpioConfig};

/// The status LED's output line.
pub enum Led {
    /// A real pin (BCM `gpio.led_pin`), high = lit.
    Pin(rppal::gpio::OutputPin),
    /// `<sim_dir>/led` and `<sim_dir>/led-pattern`.
    File(PathBuf),
}

impl Led {
    /// Lights (`true`) or darkens the LED. A simulated LED that cannot be written is
    /// logged, not fatal.
    pub fn set(&mut self, on: bool) {
        match self {
            Led::Pin(pin) => {
                if on {
                    pin.set_high()
                } else {
                    pin.set_low()
                }
            }
            Led::File(dir) => write(dir.join("led"), if on { "1\n" } else { "0\n" }),
        }
    }

    /// Tells a simulated LED's reader which state and pattern are shown (`state` then
    /// `pattern`, space-separated); a real LED only shows it.
    pub fn describe(&mut self, state: &str, pattern: &str) {
        if let Led::File(dir) = self {
            let line = format!("{state} {pattern}\n");
            write(dir.join("led-pattern"), &line);
            let appended = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join("led-history"))
                .and_then(|mut f| std::io::Write::write_all(&mut f, line.as_bytes()));
            if let Err(e) = appended {
                tracing::warn!(error = %e, "simulated LED history not written");
            }
        }
    }
}

fn write(path: PathBuf, text: &str) {
    if let Err(e) = crate::files::write_replacing_cache(&path, text.as_bytes(), 0o644) {
        tracing::warn!(path = %path.display(), error = %e, "simulated GPIO write failed");
    }
}

/// The button's input line.
pub enum Button {
    /// A real pin (BCM `gpio.button_pin`) with the internal pull-up: low = pressed.
    Pin(rppal::gpio::InputPin),
    /// `<sim_dir>/button`: `1` = pressed.
    File(PathBuf),
}

impl Button {
    /// Is the button held down now?
    pub fn pressed(&self) -> bool {
        match self {
            Button::Pin(pin) => pin.is_low(),
            Button::File(path) => std::fs::read(path).is_ok_and(|b| b.trim_ascii() == b"1"),
        }
    }
}

/// Opens the configured back end: `Ok(None)` when `gpio.backend` is `off`.
/// Errors: rppal's (no `/dev/gpiomem`, not a Raspberry Pi, pin busy), or the simulated
/// directory cannot be made.
pub fn open(config: &GpioConfig) -> anyhow::Result<Option<(Led, Button)>> {
    match config.backend {
        GpioBackend::Off => Ok(None),
        GpioBackend::Rppal => {
            let gpio = rppal::gpio::Gpio::new()?;
            let mut led = gpio.get(config.led_pin as u8)?.into_output_low();
            // Keep the last level when the service stops: the pin is not reset to an
            // input (which would darken the LED) until power goes.
            led.set_reset_on_drop(false);
            let button = gpio.get(config.button_pin as u8)?.into_input_pullup();
            Ok(Some((Led::Pin(led), Button::Pin(button))))
        }
        GpioBackend::Simulated => {
            std::fs::create_dir_all(&config.sim_dir)?;
            Ok(Some((
                Led::File(config.sim_dir.clone()),
                Button::File(config.sim_dir.join("button")),
            )))
        }
    }
}

/// rppal is built on every target and chosen at run time: on an x86-64 machine it
/// refuses (it identifies the Pi from /proc/cpuinfo and the device tree before
/// touching any memory), and the box runs on without LED and button.
#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    #[test]
    fn rppal_refuses_a_machine_that_is_not_a_pi() {
        let config = GpioConfig {
            backend: GpioBackend::Rppal,
            ..GpioConfig::default()
        };
        let err = open(&config)
            .err()
            .expect("this machine is not a Raspberry Pi");
        assert!(
            err.to_string().contains("Unknown Raspberry Pi model"),
            "{err}"
        );
    }

    #[test]
    fn the_simulated_button_reads_1_as_pressed() {
        let dir = tempfile::tempdir().unwrap();
        let config = GpioConfig {
            backend: GpioBackend::Simulated,
            sim_dir: dir.path().join("gpio"),
            ..GpioConfig::default()
        };
        let (mut led, button) = open(&config).unwrap().unwrap();
        assert!(!button.pressed(), "no file: released");
        std::fs::write(config.sim_dir.join("button"), "1\n").unwrap();
        assert!(button.pressed());
        std::fs::write(config.sim_dir.join("button"), "0").unwrap();
        assert!(!button.pressed());
        led.set(true);
        let level = std::fs::read_to_string(config.sim_dir.join("led")).unwrap();
        assert_eq!(level, "1\n");
    }
}
