//! Timestamps. Every timestamp in a document is RFC 3339 in UTC; file `mtime`
//! keeps nanoseconds so the crawler's stat fast-path compares exactly.

use chrono::{DateTime, SecondsFormat, Utc};

/// A UTC timestamp as stored in documents.
pub type Timestamp = DateTime<Utc>;

/// The current time.
pub fn now() -> Timestamp {
    Utc::now()
}

/// Converts a `SystemTime` (from `stat`) to a document timestamp, keeping
/// nanoseconds. Times before the epoch are represented exactly as well.
pub fn from_system_time(t: std::time::SystemTime) -> Timestamp {
    DateTime::<Utc>::from(t)
}

/// RFC 3339 text with the shortest exact fractional seconds.
pub fn format(t: &Timestamp) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}
