//! How results reach the user: JSON for scripts, aligned tables for people,
//! sizes and times made readable, notes on stderr unless `--quiet`.

use crate::error::Result;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::io::Write;

/// The output mode of one invocation.
#[derive(Debug, Clone, Copy, Default)]
pub struct Output {
    /// `--json`: stdout gets exactly one JSON document.
    pub json: bool,
    /// `--quiet`: no notes; tables shrink to their first column.
    pub quiet: bool,
    /// `--verbose`: the request log on stderr.
    pub verbose: bool,
}

impl Output {
    /// Writes `v` as pretty JSON to stdout.
    pub fn json(&self, v: &Value) -> Result<()> {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, v).map_err(std::io::Error::from)?;
        writeln!(out)?;
        Ok(())
    }

    /// Writes one line to stdout.
    pub fn line(&self, s: &str) -> Result<()> {
        writeln!(std::io::stdout().lock(), "{s}")?;
        Ok(())
    }

    /// A note for people on stderr (never with `--quiet` or `--json`).
    pub fn note(&self, s: &str) {
        if !self.quiet && !self.json {
            eprintln!("{s}");
        }
    }

    /// A table: a header row and aligned columns; with `--quiet`, only the
    /// first column and no header (one identifier per line, for `xargs`).
    pub fn table(&self, header: &[&str], rows: &[Vec<String>]) -> Result<()> {
        let mut out = std::io::stdout().lock();
        if self.quiet {
            for r in rows {
                writeln!(out, "{}", r.first().map(String::as_str).unwrap_or(""))?;
            }
            return Ok(());
        }
        if rows.is_empty() {
            return Ok(());
        }
        let cols = header.len();
        let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
        for r in rows {
            for (i, c) in r.iter().enumerate().take(cols) {
                width[i] = width[i].max(c.chars().count());
            }
        }
        let render = |cells: Vec<&str>| {
            let mut line = String::new();
            for (i, c) in cells.iter().enumerate() {
                if i + 1 == cells.len() {
                    line.push_str(c);
                } else {
                    line.push_str(c);
                    line.push_str(&" ".repeat(width[i] - c.chars().count() + 2));
                }
            }
            line.trim_end().to_string()
        };
        writeln!(out, "{}", render(header.to_vec()))?;
        for r in rows {
            writeln!(out, "{}", render(r.iter().map(String::as_str).collect()))?;
        }
        Ok(())
    }

    /// `key: value` lines, keys aligned.
    pub fn fields(&self, pairs: &[(&str, String)]) -> Result<()> {
        let w = pairs
            .iter()
            .map(|(k, _)| k.chars().count())
            .max()
            .unwrap_or(0);
        let mut out = std::io::stdout().lock();
        for (k, v) in pairs {
            writeln!(out, "{k:<w$}  {v}", w = w + 1, k = format!("{k}:"))?;
        }
        Ok(())
    }
}

/// Bytes in binary units with one decimal: `512 B`, `1.5 KiB`, `3.2 GiB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// `t` relative to `now`: "just now", "3 min ago", "2 h ago", "5 days ago",
/// "in 23 h"; a date beyond a month.
pub fn relative_time(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - t).num_seconds();
    let (ago, n) = (secs >= 0, secs.unsigned_abs());
    let amount = match n {
        0..10 => return "just now".into(),
        10..60 => format!("{n} s"),
        // Rounded to the nearest unit: a fresh 24-hour token is "in 24 h".
        60..3600 => format!("{} min", (n + 30) / 60),
        3600..86_400 => format!("{} h", (n + 1800) / 3600),
        86_400..2_592_000 => {
            let d = (n + 43_200) / 86_400;
            format!("{d} day{}", if d == 1 { "" } else { "s" })
        }
        _ => return t.format("%Y-%m-%d").to_string(),
    };
    if ago {
        format!("{amount} ago")
    } else {
        format!("in {amount}")
    }
}

/// A JSON timestamp field made relative to now; `-` when absent, the raw
/// text when it does not parse.
pub fn when(v: Option<&Value>) -> String {
    match v.and_then(Value::as_str) {
        None => "-".into(),
        Some(s) => DateTime::parse_from_rfc3339(s)
            .map(|t| relative_time(t.with_timezone(&Utc), Utc::now()))
            .unwrap_or_else(|_| s.to_string()),
    }
}

/// A JSON string field, `-` when absent or empty.
pub fn text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Bool(b)) => if *b { "yes" } else { "no" }.into(),
        Some(Value::Number(n)) => n.to_string(),
        _ => "-".into(),
    }
}

/// A JSON size field made human, `-` when absent.
pub fn size(v: Option<&Value>) -> String {
    v.and_then(Value::as_u64)
        .map(human_size)
        .unwrap_or_else(|| "-".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_size(bytes: u64, want: &str) {
        assert_eq!(human_size(bytes), want, "{bytes}");
    }

    #[test]
    fn sizes() {
        check_size(0, "0 B");
        check_size(1023, "1023 B");
        check_size(1024, "1.0 KiB");
        check_size(1536, "1.5 KiB");
        check_size(700_001, "683.6 KiB");
        check_size(5 * 1024 * 1024 * 1024, "5.0 GiB");
    }

    fn check_time(delta_secs: i64, want: &str) {
        let now = DateTime::parse_from_rfc3339("2025-06-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let t = now - chrono::Duration::seconds(delta_secs);
        assert_eq!(relative_time(t, now), want, "{delta_secs}");
    }

    #[test]
    fn relative_times() {
        check_time(3, "just now");
        check_time(42, "42 s ago");
        check_time(180, "3 min ago");
        check_time(7200, "2 h ago");
        check_time(86_400, "1 day ago");
        check_time(5 * 86_400, "5 days ago");
        check_time(-23 * 3600, "in 23 h");
        check_time(-(24 * 3600 - 5), "in 24 h");
        check_time(90 * 86_400, "2025-03-03");
    }
}
