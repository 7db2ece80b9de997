//! The `[tagging]` section: how long a run of photos tagged to one attendee lasts, and
//! the pass scanners at creators' stalls (`[[tagging.scanners]]`, read by
//! `hw::scanner`, each line handed to `delivery::stall`). Checked by
//! [`TaggingConfig::validate`], every problem named by its key path as unknown keys are
//! (`tagging.scanners.0.device`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{DoorConfig, PrinterConfig, PrinterKind, ScannerKind};

/// The most stall scanners one box reads (a USB hub's worth, and then some).
pub const MAX_STALL_SCANNERS: usize = 32;

/// The longest device path (PATH_MAX).
const MAX_PATH: usize = 4096;

/// The longest creator name (as `creators::clean_name` allows).
const MAX_CREATOR: usize = 64;

/// Tagging photos to attendees (see `delivery::tagging`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct TaggingConfig {
    /// A run of photos tagged to one attendee (after their pass frame or a stall scan)
    /// ends at a pause longer than this many seconds between two of the creator's
    /// photos (by capture time, else arrival); 1 to 86 400.
    pub gap_secs: u64,
    /// Pass scanners plugged into the box at creators' stalls: a pass one reads tags
    /// that creator's next photos to the pass's attendee, as a scan on the vendor page
    /// does. None by default; at most [`MAX_STALL_SCANNERS`].
    pub scanners: Vec<StallScannerConfig>,
}

impl Default for TaggingConfig {
    fn default() -> Self {
        TaggingConfig {
            gap_secs: 300,
            scanners: Vec::new(),
        }
    }
}

/// One `[[tagging.scanners]]` entry: a serial QR/barcode scanner at a creator's stall.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct StallScannerConfig {
    /// The creator's name, as `venuebox creator add` made it (matched as the box
    /// matches names: ASCII case ignored). Looked up at every scan, so the creator may
    /// be added after the box started.
    pub creator: String,
    /// `serial` (the default), `simulated` (lines appended to the file at `device`) or
    /// `off` (the entry is kept but not read).
    pub scanner: ScannerKind,
    /// The scanner's tty (`/dev/venuebox-stall-anna`, named by a udev rule as in
    /// hardware/99-venuebox-serial.rules) or, for `simulated`, the file to follow.
    pub device: PathBuf,
    /// Serial speed (300 to 4 000 000; USB CDC scanners ignore it).
    pub baud: u32,
}

impl Default for StallScannerConfig {
    fn default() -> Self {
        StallScannerConfig {
            creator: String::new(),
            scanner: ScannerKind::Serial,
            device: PathBuf::new(),
            baud: 9600,
        }
    }
}

impl TaggingConfig {
    /// Semantic checks of the stall scanners: each names a creator and a device, no
    /// creator has two, no device is read twice or is also the door scanner's or the
    /// printer's (a line would then be two things at once), speeds are serial speeds.
    /// (`gap_secs` is checked with the other numbers in `Config::validate`.)
    pub(crate) fn validate(
        &self,
        door: &DoorConfig,
        printer: &PrinterConfig,
        bad: &mut dyn FnMut(&str, String),
    ) {
        if self.scanners.len() > MAX_STALL_SCANNERS {
            bad(
                "tagging.scanners",
                format!(
                    "{} stall scanners; at most {MAX_STALL_SCANNERS}",
                    self.scanners.len()
                ),
            );
        }
        let mut creators: HashMap<String, usize> = HashMap::new();
        let mut devices: HashMap<&Path, usize> = HashMap::new();
        for (i, s) in self.scanners.iter().enumerate() {
            let key = |field: &str| format!("tagging.scanners.{i}.{field}");
            let name = &s.creator;
            if name.trim().is_empty() {
                bad(
                    &key("creator"),
                    "must name a creator, as `venuebox creator add` made them".into(),
                );
            } else if name.chars().count() > MAX_CREATOR {
                bad(
                    &key("creator"),
                    format!(
                        "is {} characters long; at most {MAX_CREATOR}",
                        name.chars().count()
                    ),
                );
            } else if name.chars().any(char::is_control) {
                bad(
                    &key("creator"),
                    "must not contain control characters".into(),
                );
            } else if name.trim() != name {
                bad(
                    &key("creator"),
                    format!("{name:?} begins or ends with spaces; creator names do not"),
                );
            } else if let Some(j) = creators.insert(name.to_ascii_lowercase(), i) {
                bad(
                    &key("creator"),
                    format!("{name:?} already has a stall scanner (tagging.scanners.{j})"),
                );
            }
            if !(300..=4_000_000).contains(&s.baud) {
                bad(
                    &key("baud"),
                    format!("{} is not a serial speed (300 to 4000000)", s.baud),
                );
            }
            if s.scanner == ScannerKind::Off {
                continue;
            }
            let device = s.device.as_os_str();
            if device.is_empty() {
                bad(
                    &key("device"),
                    "must be set (the scanner's tty, or the file a simulated one reads)".into(),
                );
                continue;
            }
            let shown = s.device.to_string_lossy();
            if shown.chars().count() > MAX_PATH {
                bad(
                    &key("device"),
                    format!(
                        "is {} characters long; at most {MAX_PATH}",
                        shown.chars().count()
                    ),
                );
                continue;
            }
            if shown.chars().any(char::is_control) {
                bad(&key("device"), "must not contain control characters".into());
                continue;
            }
            if let Some(j) = devices.insert(&s.device, i) {
                bad(
                    &key("device"),
                    format!("{shown} is already read by tagging.scanners.{j}"),
                );
            }
            if door.scanner != ScannerKind::Off && door.device == s.device {
                bad(
                    &key("device"),
                    format!("{shown} is the door scanner's (door.device)"),
                );
            }
            if printer.kind != PrinterKind::Off && printer.device == s.device {
                bad(
                    &key("device"),
                    format!("{shown} is the receipt printer's (printer.device)"),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scanner(creator: &str, device: &str) -> StallScannerConfig {
        StallScannerConfig {
            creator: creator.into(),
            device: device.into(),
            ..StallScannerConfig::default()
        }
    }

    fn issues(t: &TaggingConfig, door: &DoorConfig, printer: &PrinterConfig) -> Vec<String> {
        let mut keys = Vec::new();
        t.validate(door, printer, &mut |k, r| keys.push(format!("{k}: {r}")));
        keys
    }

    #[test]
    fn every_bad_stall_scanner_is_named_by_its_key() {
        let door = DoorConfig {
            scanner: ScannerKind::Serial,
            device: "/dev/venuebox-scanner".into(),
            baud: 9600,
        };
        let printer = PrinterConfig {
            kind: PrinterKind::Serial,
            ..PrinterConfig::default()
        };
        let t = TaggingConfig {
            scanners: vec![
                scanner("anna", "/dev/venuebox-stall-anna"),
                scanner("", "/dev/a"),
                scanner("ANNA", "/dev/venuebox-stall-anna"),
                scanner("bert", "/dev/venuebox-scanner"),
                scanner("cem", "/dev/venuebox-printer"),
                StallScannerConfig {
                    baud: 12,
                    ..scanner(" dia", "")
                },
                scanner("eve\u{7}", &"x".repeat(5000)),
            ],
            ..TaggingConfig::default()
        };
        let got = issues(&t, &door, &printer);
        let keys: Vec<&str> = got.iter().map(|i| i.split(':').next().unwrap()).collect();
        assert_eq!(
            keys,
            [
                "tagging.scanners.1.creator",
                "tagging.scanners.2.creator",
                "tagging.scanners.2.device",
                "tagging.scanners.3.device",
                "tagging.scanners.4.device",
                "tagging.scanners.5.creator",
                "tagging.scanners.5.baud",
                "tagging.scanners.5.device",
                "tagging.scanners.6.creator",
                "tagging.scanners.6.device",
            ],
            "{got:#?}"
        );
        assert!(
            got[2].contains("already read by tagging.scanners.0"),
            "{got:?}"
        );
        assert!(got[3].contains("door scanner"), "{got:?}");
        assert!(got[4].contains("printer"), "{got:?}");

        // The door's and the printer's devices are theirs only while they are on; an
        // `off` stall scanner reads nothing and clashes with nothing.
        let t = TaggingConfig {
            scanners: vec![
                scanner("bert", "/dev/venuebox-scanner"),
                scanner("cem", "/dev/venuebox-printer"),
                StallScannerConfig {
                    scanner: ScannerKind::Off,
                    ..scanner("dia", "/dev/venuebox-scanner")
                },
            ],
            ..TaggingConfig::default()
        };
        assert!(
            issues(&t, &DoorConfig::default(), &PrinterConfig::default()).is_empty(),
            "nothing is on"
        );
        let many = TaggingConfig {
            scanners: (0..=MAX_STALL_SCANNERS)
                .map(|i| scanner(&format!("c{i}"), &format!("/dev/s{i}")))
                .collect(),
            ..TaggingConfig::default()
        };
        assert_eq!(
            issues(&many, &DoorConfig::default(), &PrinterConfig::default()).len(),
            1
        );
    }
}
