//! Timestamps as the tracking tables store them.
//!
//! The cataloger's tools (SQLAlchemy on SQLite) write `DATETIME` columns as text,
//! `YYYY-MM-DD HH:MM:SS.ffffff`, in UTC. fitsbak writes and reads the same.

use chrono::{DateTime, NaiveDateTime, Utc};

const FORMAT: &str = "%Y-%m-%d %H:%M:%S%.6f";

/// `2024-03-15 21:04:05.123456`.
pub fn to_db(at: DateTime<Utc>) -> String {
    at.format(FORMAT).to_string()
}

/// Parses what [`to_db`] writes, and the variants other tools write (no fraction,
/// a `T`, RFC 3339 with an offset).
pub fn from_db(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    for format in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, format) {
            return Some(naive.and_utc());
        }
    }
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// Seconds since the epoch of a file's modification time (negative before 1970).
pub fn mtime_seconds(meta: &std::fs::Metadata) -> i64 {
    match meta.modified() {
        Ok(t) => match t.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => d.as_secs() as i64,
            Err(e) => -(e.duration().as_secs() as i64),
        },
        Err(_) => 0,
    }
}

/// When a file's bytes or metadata last changed, to the nanosecond: its mtime and
/// its ctime (which no program can set back), so that a rewrite within the same
/// second as the last look, or one whose mtime was put back, is seen.
pub fn change_stamp(meta: &std::fs::Metadata) -> String {
    use std::os::unix::fs::MetadataExt;
    format!(
        "{}.{:09}:{}.{:09}",
        meta.mtime(),
        meta.mtime_nsec(),
        meta.ctime(),
        meta.ctime_nsec()
    )
}

/// The current time, truncated to microseconds (what the database keeps).
pub fn now() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_the_cataloger_format() {
        let at = DateTime::from_timestamp_micros(1_710_536_645_123_456).unwrap();
        let text = to_db(at);
        assert_eq!(text, "2024-03-15 21:04:05.123456");
        assert_eq!(from_db(&text), Some(at));
        assert_eq!(
            from_db("2024-03-15 21:04:05"),
            DateTime::from_timestamp(1_710_536_645, 0)
        );
        assert_eq!(
            from_db("2024-03-15T21:04:05+00:00"),
            DateTime::from_timestamp(1_710_536_645, 0)
        );
        assert_eq!(from_db("yesterday"), None);
        assert_eq!(now().timestamp_subsec_nanos() % 1000, 0);
    }
}
