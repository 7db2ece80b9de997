//! The one wall clock: seconds since the Unix epoch, the unit of every `_at` column,
//! of link and session expiry, and of the times in bundle manifests. One function so
//! that every module agrees on the unit (and a test clock, if ever needed, has one
//! place to go).

/// Seconds since the Unix epoch (UTC), e.g. `1_795_000_000`.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// No clock reading before 2026-01-01T00:00:00Z is believable (seconds since the epoch).
pub const CLOCK_FLOOR: i64 = 1_767_225_600;

/// When this binary was built (seconds since the epoch), from build.rs.
pub const BUILT_AT: &str = env!("BUILT_AT_UNIX");

/// The earliest believable reading: this firmware's build time or [`CLOCK_FLOOR`],
/// whichever is later.
pub fn floor() -> i64 {
    BUILT_AT.parse::<i64>().unwrap_or(0).max(CLOCK_FLOOR)
}

/// The file systemd-timesyncd touches on every successful NTP synchronisation
/// (systemd-timesyncd.service(8), "Files"); it lives on /run, so it exists only once
/// the clock has been synchronised since this boot.
pub const NTP_SYNCHRONIZED_FILE: &str = "/run/systemd/timesync/synchronized";

/// Which clock readings are trusted (`clock.trust`; issue 15: a Raspberry Pi has no
/// battery clock, so after a power cut it boots with the time it last saved until NTP
/// sets it; records say whether the clock was trusted when they were written).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrustPolicy {
    /// Trusted once NTP has synchronised the clock since boot
    /// ([`NTP_SYNCHRONIZED_FILE`] exists) and the reading is not before [`floor`].
    #[default]
    Auto,
    /// Always trusted (a box with a battery-backed RTC or a GPS time source that
    /// systemd-timesyncd does not report), unless the reading is before [`floor`].
    Always,
    /// Never trusted.
    Never,
}

/// A time with whether the clock was trusted when it was read: what a record stores
/// (`at` and `clock_trusted` columns; `clock_trusted` in bundle manifests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Seconds since the Unix epoch (UTC).
    pub at: i64,
    /// Whether the clock was trusted under the box's [`TrustPolicy`].
    pub trusted: bool,
}

/// The time now and whether it is trusted under `policy`: one `stat` of
/// [`NTP_SYNCHRONIZED_FILE`] for [`TrustPolicy::Auto`].
pub fn stamp(policy: TrustPolicy) -> Stamp {
    let at = now();
    let synchronized = match policy {
        TrustPolicy::Auto => std::path::Path::new(NTP_SYNCHRONIZED_FILE).exists(),
        TrustPolicy::Always => true,
        TrustPolicy::Never => false,
    };
    Stamp {
        at,
        trusted: judge(at, floor(), synchronized),
    }
}

/// Whether a reading `at` is trusted: a synchronised clock whose reading is not before
/// `floor` (an RTC-less box that restored a saved time can be "synchronised" only later).
pub fn judge(at: i64, floor: i64, synchronized: bool) -> bool {
    synchronized && at >= floor
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reading_is_trusted_only_when_synchronised_and_believable() {
        assert!(judge(CLOCK_FLOOR + 10, CLOCK_FLOOR, true));
        assert!(!judge(CLOCK_FLOOR + 10, CLOCK_FLOOR, false));
        assert!(
            !judge(CLOCK_FLOOR - 10, CLOCK_FLOOR, true),
            "before the floor"
        );
        assert!(
            stamp(TrustPolicy::Always).trusted,
            "now is after the build time"
        );
        assert!(!stamp(TrustPolicy::Never).trusted);
        assert_eq!(
            stamp(TrustPolicy::Auto).trusted,
            std::path::Path::new(NTP_SYNCHRONIZED_FILE).exists()
        );
        assert!(floor() >= CLOCK_FLOOR);
    }
}
