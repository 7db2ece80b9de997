//! The organiser dashboard's own figures and rules, apart from HTTP: the time span an
//! organiser picks ([`Span`]), the event window, percentiles, the box's health read
//! from sysfs and procfs ([`host`]), the alerts and their thresholds ([`alerts`], pure)
//! and the figures of a span read across the owners' tables ([`reads`]).
//!
//! What it may not touch: it writes no table, and it reaches neither engine (sync,
//! delivery): the figures those own (the sync worker's status, the outbox) are read by
//! the HTTP edge (`web::dashboard`) with the same functions `/metrics` calls, and handed
//! to [`alerts::evaluate`] as plain numbers. docs/dashboard.md says what every figure
//! means and where it comes from.

pub mod alerts;
pub mod host;
pub mod reads;

/// Seconds in a day.
pub const DAY: i64 = 86_400;

/// The time span the dashboard's panels count over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Span {
    /// The last 3600 seconds.
    #[default]
    Hour,
    /// Since 00:00 UTC today.
    Today,
    /// Everything the box holds (a box serves one event).
    Event,
}

impl Span {
    /// Every span, in the order the page offers them.
    pub const ALL: [Span; 3] = [Span::Hour, Span::Today, Span::Event];

    /// The span named `name` (`hour`, `today`, `event`), if it is one.
    pub fn parse(name: &str) -> Option<Span> {
        Span::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Its name in URLs (`?span=`).
    pub fn name(self) -> &'static str {
        match self {
            Span::Hour => "hour",
            Span::Today => "today",
            Span::Event => "event",
        }
    }

    /// Its name on the page.
    pub fn label(self) -> &'static str {
        match self {
            Span::Hour => "Last hour",
            Span::Today => "Today (UTC)",
            Span::Event => "Whole event",
        }
    }

    /// The first second it covers, for `now` (seconds since the epoch).
    pub fn since(self, now: i64) -> i64 {
        match self {
            Span::Hour => now - 3600,
            Span::Today => now - now.rem_euclid(DAY),
            Span::Event => 0,
        }
    }
}

/// A `YYYY-MM-DD` date as the second its day starts (UTC); `None` if it is not one.
pub fn day_start(date: &str) -> Option<i64> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(date.trim(), &format).ok()?;
    Some(date.midnight().assume_utc().unix_timestamp())
}

/// The event window `[start, end)` at `now`, in seconds since the epoch: the event's
/// days (`starts_on` to the end of `ends_on`, UTC) when both are set and parse, else
/// today (UTC). A window that does not contain `now` is still returned: the caller asks
/// [`in_window`].
pub fn event_window(starts_on: Option<&str>, ends_on: Option<&str>, now: i64) -> (i64, i64) {
    let today = now - now.rem_euclid(DAY);
    let start = starts_on.and_then(day_start);
    let end = ends_on.and_then(day_start).map(|d| d + DAY);
    match (start, end) {
        (Some(s), Some(e)) if s < e => (s, e),
        (Some(s), None) => (s, today.max(s) + DAY),
        (None, Some(e)) => (today.min(e - DAY), e),
        _ => (today, today + DAY),
    }
}

/// Whether `now` lies in `window`.
pub fn in_window(window: (i64, i64), now: i64) -> bool {
    window.0 <= now && now < window.1
}

/// The `q` quantile (0 to 1) of `values` by nearest rank (the smallest value with at
/// least `q` of the values at or below it); `None` for no values. Sorts `values`.
pub fn quantile(values: &mut [f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let rank = (q.clamp(0.0, 1.0) * values.len() as f64).ceil() as usize;
    Some(values[rank.saturating_sub(1).min(values.len() - 1)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_start_where_they_say() {
        let now = 1_790_000_000 + 5 * 3600 + 17;
        assert_eq!(Span::Hour.since(now), now - 3600);
        assert_eq!(Span::Today.since(now) % DAY, 0);
        assert!(now - Span::Today.since(now) < DAY);
        assert_eq!(Span::Event.since(now), 0);
        for s in Span::ALL {
            assert_eq!(Span::parse(s.name()), Some(s));
        }
        assert_eq!(Span::parse("week"), None);
    }

    #[test]
    fn the_event_window_is_its_days_else_today() {
        let d = day_start("2026-06-13").unwrap();
        assert_eq!(d % DAY, 0);
        let now = d + 3600;
        assert_eq!(
            event_window(Some("2026-06-13"), Some("2026-06-14"), now),
            (d, d + 2 * DAY)
        );
        assert_eq!(event_window(None, None, now), (d, d + DAY));
        assert_eq!(event_window(Some("junk"), None, now), (d, d + DAY));
        assert!(!in_window(
            event_window(Some("2026-06-20"), Some("2026-06-21"), now),
            now
        ));
    }

    #[test]
    fn quantiles_by_nearest_rank() {
        let mut v = vec![5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(quantile(&mut v, 0.5), Some(3.0));
        assert_eq!(quantile(&mut v, 0.95), Some(5.0));
        assert_eq!(quantile(&mut v, 0.0), Some(1.0));
        assert_eq!(quantile(&mut [], 0.5), None);
    }
}
