//! The one wall clock: seconds since the Unix epoch, the unit of every `_at` column,
//! of link and session expiry, and of the times in bundle manifests. One function so
//! that every module agrees on the unit (and a test clock, if ever needed, has one
//! place to go).

/// Seconds since the Unix epoch (UTC), e.g. `1_795_000_000`.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
