//! The dashboard's alerts: plain figures and the thresholds of `[dashboard]` in, the
//! alerts that hold now out, worst first. Pure (no I/O, no clock: `now` is handed in),
//! so each rule is tested on numbers; the HTTP edge gathers the figures.
//!
//! The rules (docs/dashboard.md):
//! - **uplink down, photos waiting**: sync is on, the uplink is down and the oldest
//!   photo that may be synced arrived more than `unsynced_alert_minutes` ago;
//! - **disk**: less than `disk_free_alert_percent` of the data disk free, or the free
//!   space would run out before the event window ends at the last hour's ingest rate;
//! - **render queue growing**: the queue depth never fell over the last
//!   `render_queue_growth_secs` and is higher at the end than at the start;
//! - **under-voltage**: now (critical), or at some time since boot (warning);
//! - **camera silent**: during the event window, a creator whose camera (FTP) sent
//!   photos in the window has sent none for `camera_silent_minutes`.

use crate::config::DashboardConfig;

/// How bad an alert is; the worst sort first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Work is being lost or will be soon.
    Critical,
    /// Needs a look.
    Warning,
}

impl Severity {
    /// `critical` or `warning` (a CSS class and a word on the page).
    pub fn name(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
        }
    }
}

/// One alert that holds now.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// How bad it is.
    pub severity: Severity,
    /// Which rule: `uplink`, `disk`, `render_queue`, `power`, `camera`.
    pub kind: &'static str,
    /// What it says (may name a creator: escape it when shown).
    pub text: String,
}

/// The figures the rules read, gathered at one moment.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// Seconds since the epoch.
    pub now: i64,
    /// `sync.enabled`.
    pub sync_enabled: bool,
    /// The sync worker found the uplink down at its last try.
    pub uplink_down: bool,
    /// When the oldest photo that may be synced but is not yet in the target arrived.
    pub oldest_unsynced_at: Option<i64>,
    /// The data disk's size and free bytes (`None` when statvfs failed).
    pub disk: Option<(u64, u64)>,
    /// Photo bytes stored over the last hour, per second.
    pub ingest_bytes_per_sec: f64,
    /// The event window `[start, end)` (`dashboard::event_window`).
    pub window: (i64, i64),
    /// Render queue depth samples `(at, depth)`, oldest first.
    pub queue: Vec<(i64, u64)>,
    /// Under-voltage now, if the box can tell.
    pub under_voltage_now: Option<bool>,
    /// Under-voltage since boot, if the box can tell.
    pub under_voltage_since_boot: Option<bool>,
    /// Per creator with camera photos in the event window: name and last arrival.
    pub cameras: Vec<(String, i64)>,
}

/// Minutes, rounded down, as a short phrase.
fn minutes(secs: i64) -> String {
    let m = secs.max(0) / 60;
    if m >= 120 {
        format!("{} h {} min", m / 60, m % 60)
    } else {
        format!("{m} min")
    }
}

/// Whether the queue grew over the last `window` seconds without ever falling.
pub fn queue_growing(samples: &[(i64, u64)], now: i64, window: u64) -> bool {
    let from = now - window as i64;
    // A sample at or before the window's start anchors it; without one the history is
    // too short to say.
    let Some(start) = samples.iter().rposition(|&(at, _)| at <= from) else {
        return false;
    };
    let run = &samples[start..];
    run.len() >= 2
        && run.windows(2).all(|w| w[1].1 >= w[0].1)
        && run.last().map(|l| l.1) > run.first().map(|f| f.1)
}

/// The alerts that hold for `i` under the thresholds of `t`, worst first (then by kind).
pub fn evaluate(i: &Inputs, t: &DashboardConfig) -> Vec<Alert> {
    let mut out = Vec::new();
    let mut add = |severity, kind, text: String| {
        out.push(Alert {
            severity,
            kind,
            text,
        })
    };
    if i.sync_enabled && i.uplink_down {
        if let Some(at) = i.oldest_unsynced_at {
            let age = i.now - at;
            if age > t.unsynced_alert_minutes as i64 * 60 {
                add(
                    Severity::Critical,
                    "uplink",
                    format!(
                        "Uplink down: the oldest photo not yet synced has waited {}",
                        minutes(age)
                    ),
                );
            }
        }
    }
    if let Some((total, free)) = i.disk {
        let percent = if total == 0 {
            0.0
        } else {
            free as f64 * 100.0 / total as f64
        };
        if percent < t.disk_free_alert_percent as f64 {
            add(
                Severity::Critical,
                "disk",
                format!(
                    "Disk {percent:.1} % free (alert below {} %)",
                    t.disk_free_alert_percent
                ),
            );
        } else if i.ingest_bytes_per_sec > 0.0 && i.now < i.window.1 {
            let full_in = free as f64 / i.ingest_bytes_per_sec;
            let left = (i.window.1 - i.now) as f64;
            if full_in < left {
                add(
                    Severity::Warning,
                    "disk",
                    format!(
                        "Disk full in about {} at the last hour's ingest rate, before the event ends",
                        minutes(full_in as i64)
                    ),
                );
            }
        }
    }
    if queue_growing(&i.queue, i.now, t.render_queue_growth_secs) {
        let (first, last) = (i.queue[0].1, i.queue[i.queue.len() - 1].1);
        let first = i
            .queue
            .iter()
            .rev()
            .find(|&&(at, _)| at <= i.now - t.render_queue_growth_secs as i64)
            .map_or(first, |s| s.1);
        add(
            Severity::Warning,
            "render_queue",
            format!(
                "Render queue growing: {first} → {last} photos in {} s",
                t.render_queue_growth_secs
            ),
        );
    }
    if i.under_voltage_now == Some(true) {
        add(
            Severity::Critical,
            "power",
            "Under-voltage now: use the official power supply and a short cable".into(),
        );
    } else if i.under_voltage_since_boot == Some(true) {
        add(
            Severity::Warning,
            "power",
            "Under-voltage happened since boot".into(),
        );
    }
    if crate::dashboard::in_window(i.window, i.now) {
        let limit = t.camera_silent_minutes as i64 * 60;
        let mut silent: Vec<&(String, i64)> = i
            .cameras
            .iter()
            .filter(|(_, last)| i.now - last > limit)
            .collect();
        silent.sort_by_key(|(_, last)| *last);
        for (name, last) in silent {
            add(
                Severity::Warning,
                "camera",
                format!("{name}'s camera silent for {}", minutes(i.now - last)),
            );
        }
    }
    out.sort_by_key(|a| a.severity);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_790_000_000;

    fn calm() -> Inputs {
        Inputs {
            now: NOW,
            sync_enabled: true,
            disk: Some((1000, 500)),
            window: (NOW - 3600, NOW + 3600),
            ..Inputs::default()
        }
    }

    fn kinds(i: &Inputs) -> Vec<&'static str> {
        evaluate(i, &DashboardConfig::default())
            .into_iter()
            .map(|a| a.kind)
            .collect()
    }

    #[test]
    fn a_calm_box_has_no_alerts() {
        assert!(kinds(&calm()).is_empty());
    }

    #[test]
    fn uplink_down_fires_only_past_the_age() {
        let mut i = calm();
        i.uplink_down = true;
        i.oldest_unsynced_at = Some(NOW - 29 * 60);
        assert!(kinds(&i).is_empty());
        i.oldest_unsynced_at = Some(NOW - 31 * 60);
        assert_eq!(kinds(&i), ["uplink"]);
        i.sync_enabled = false;
        assert!(kinds(&i).is_empty());
    }

    #[test]
    fn disk_low_or_full_before_the_end() {
        let mut i = calm();
        i.disk = Some((1000, 99));
        assert_eq!(kinds(&i), ["disk"]);
        i.disk = Some((1000, 500));
        // 500 bytes at 1 B/s: full in 500 s, the window ends in 3600 s.
        i.ingest_bytes_per_sec = 1.0;
        let a = evaluate(&i, &DashboardConfig::default());
        assert_eq!(a[0].severity, Severity::Warning);
        i.ingest_bytes_per_sec = 0.1;
        assert!(kinds(&i).is_empty());
    }

    #[test]
    fn a_growing_queue_needs_the_whole_window() {
        let t = 120;
        let s = |v: &[(i64, u64)]| queue_growing(v, NOW, t);
        assert!(s(&[(NOW - 130, 1), (NOW - 60, 3), (NOW, 5)]));
        assert!(!s(&[(NOW - 60, 1), (NOW, 5)]), "too short a history");
        assert!(!s(&[(NOW - 130, 1), (NOW - 60, 0), (NOW, 5)]), "it fell");
        assert!(!s(&[(NOW - 130, 4), (NOW, 4)]), "flat");
        let mut i = calm();
        i.queue = vec![(NOW - 200, 0), (NOW - 130, 1), (NOW, 9)];
        let a = evaluate(&i, &DashboardConfig::default());
        assert_eq!(a[0].text, "Render queue growing: 1 → 9 photos in 120 s");
    }

    #[test]
    fn power_and_silent_cameras_worst_first() {
        let mut i = calm();
        i.under_voltage_since_boot = Some(true);
        i.cameras = vec![("Bo <b>".into(), NOW - 21 * 60), ("Al".into(), NOW - 60)];
        let a = evaluate(&i, &DashboardConfig::default());
        assert_eq!(a.len(), 2);
        assert_eq!(a[1].text, "Bo <b>'s camera silent for 21 min");
        i.under_voltage_now = Some(true);
        let a = evaluate(&i, &DashboardConfig::default());
        assert_eq!((a[0].kind, a[0].severity), ("power", Severity::Critical));
        // Outside the event window a silent camera is no alert.
        i.window = (NOW + 10, NOW + 20);
        assert_eq!(kinds(&i), ["power"]);
    }
}
