//! The `[dashboard]` section: how often the organiser dashboard's heavy panels are
//! redrawn, where the Raspberry Pi's sysfs and procfs are read from (a temp dir in
//! tests), and the thresholds of its alerts. Checked by [`DashboardConfig::validate`],
//! every problem named by its key; the numbers' ranges, upper bounds included, are
//! checked there too, so the section stays in one file.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The organiser dashboard (`web::dashboard`, `dashboard`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DashboardConfig {
    /// Seconds between two redraws of the heavy panels (sync, funnel, ingest, the box)
    /// on an open dashboard; 30 to 3600. The summary and alerts are redrawn every second.
    pub heavy_refresh_secs: u64,
    /// The directory `sys/` and `proc/` are read under for temperature, throttling,
    /// under-voltage, memory and load (`/` on the box; a temp dir in tests). Absolute, at
    /// most 4096 characters.
    pub host_root: PathBuf,
    /// Alert when the uplink is down and a photo that may be synced has waited longer
    /// than this many minutes; 1 to 1440.
    pub unsynced_alert_minutes: u64,
    /// Alert when less than this share of the data disk is free, in percent; 1 to 90.
    pub disk_free_alert_percent: u64,
    /// Alert when the render queue has grown without shrinking for this many seconds;
    /// 10 to 3600.
    pub render_queue_growth_secs: u64,
    /// Alert when a creator's camera (FTP uploads) that sent photos during the event
    /// window has been silent for this many minutes; 1 to 1440.
    pub camera_silent_minutes: u64,
}

impl Default for DashboardConfig {
    fn default() -> Self {
        DashboardConfig {
            heavy_refresh_secs: 60,
            host_root: PathBuf::from("/"),
            unsynced_alert_minutes: 30,
            disk_free_alert_percent: 10,
            render_queue_growth_secs: 120,
            camera_silent_minutes: 20,
        }
    }
}

impl DashboardConfig {
    /// Semantic checks of the `[dashboard]` section: every number within its range (its
    /// upper bound included), `host_root` an absolute path.
    pub(crate) fn validate(&self, bad: &mut dyn FnMut(&str, String)) {
        for (key, value, low, high) in [
            (
                "dashboard.heavy_refresh_secs",
                self.heavy_refresh_secs,
                30,
                3600,
            ),
            (
                "dashboard.unsynced_alert_minutes",
                self.unsynced_alert_minutes,
                1,
                1440,
            ),
            (
                "dashboard.disk_free_alert_percent",
                self.disk_free_alert_percent,
                1,
                90,
            ),
            (
                "dashboard.render_queue_growth_secs",
                self.render_queue_growth_secs,
                10,
                3600,
            ),
            (
                "dashboard.camera_silent_minutes",
                self.camera_silent_minutes,
                1,
                1440,
            ),
        ] {
            if !(low..=high).contains(&value) {
                bad(key, format!("{value} is not between {low} and {high}"));
            }
        }
        // Its length and characters are checked with every other path
        // (`Config::string_bounds`).
        if !self.host_root.is_absolute() {
            bad("dashboard.host_root", "must be an absolute path".into());
        }
    }
}
