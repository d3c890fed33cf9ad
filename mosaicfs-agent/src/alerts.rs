//! The agent's notifications (plan 7.2): every `notification_check_secs`
//! the agent looks at the conditions below and raises or resolves one
//! `notification::{node_id}::{condition_key}` document per condition in its
//! local database (flow 1 carries them to the control plane). Writing,
//! deduplication and rate limiting are `mosaicfs_common::notify`'s.
//!
//! | `condition_key` | Severity | Raised | Resolved |
//! |---|---|---|---|
//! | `first_crawl_complete` | info | after the first full crawl (once per node) | never |
//! | `watch_path_inaccessible:{path}` | error | the watch path cannot be listed | it can |
//! | `storage_near_capacity:{filesystem_id}` | warning | used ≥ `storage_warn_percent` | below it |
//! | `inotify_limit_approaching` | warning | watches ≥ 90 % of `fs.inotify.max_user_watches`, or directories left unwatched | below and none |
//! | `replication_error` | error | the replication monitor reports `error` | it reports `ok` |
//!
//! The checks do only cheap system calls (`read_dir` of each root, one
//! `statvfs` per filesystem) and read the status board the watcher and the
//! replication monitor already fill.

use crate::status::StatusBoard;
use mosaicfs_common::documents::NotificationSeverity;
use mosaicfs_common::notify::{Notice, Notifier};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Share of `max_user_watches` that raises the inotify warning.
pub const INOTIFY_WARN_RATIO: f64 = 0.9;

/// What the checks look at.
#[derive(Clone)]
pub struct Checks {
    /// The node.
    pub node_id: String,
    /// Watch paths as configured.
    pub watch_paths: Vec<PathBuf>,
    /// Storage warning threshold, percent used.
    pub storage_warn_percent: u8,
    /// The watcher's and the replication monitor's reports.
    pub board: StatusBoard,
}

/// Whether a filesystem this full needs the warning.
pub fn storage_full(used: u64, capacity: u64, warn_percent: u8) -> bool {
    capacity > 0 && (used as f64) * 100.0 >= (capacity as f64) * f64::from(warn_percent)
}

/// Whether the watcher's figures need the inotify warning:
/// `(watched, unwatched, limit)`.
pub fn inotify_near_limit(watcher: &Value) -> Option<(u64, u64, u64)> {
    let watched = watcher.get("watched_directories")?.as_u64()?;
    let unwatched = watcher
        .get("unwatched_directories")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let limit = watcher
        .get("max_user_watches")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let near = unwatched > 0 || (limit > 0 && watched as f64 >= limit as f64 * INOTIFY_WARN_RATIO);
    near.then_some((watched, unwatched, limit))
}

/// Runs every check once.
pub async fn check_once(n: &Notifier, c: &Checks) {
    let mut results = Vec::new();
    for root in &c.watch_paths {
        let key = format!("watch_path_inaccessible:{}", root.display());
        let root2 = root.clone();
        let listed = tokio::task::spawn_blocking(move || std::fs::read_dir(&root2).map(|_| ()))
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        results.push(match listed {
            Ok(()) => n.resolve(&key).await,
            Err(e) => {
                n.raise(Notice::new(
                    key,
                    "crawler",
                    NotificationSeverity::Error,
                    format!("Watch path {} is inaccessible", root.display()),
                    format!(
                        "The agent cannot list {} ({e}). Its files stay in the index unchanged until it can; check that the disk is mounted and the agent's user may read it.",
                        root.display()
                    ),
                ))
                .await
            }
        });
    }

    let paths = c.watch_paths.clone();
    let filesystems = tokio::task::spawn_blocking(move || crate::storage::measure(&paths))
        .await
        .unwrap_or_default();
    for fs in filesystems {
        let key = format!("storage_near_capacity:{}", fs.filesystem_id);
        results.push(
            if storage_full(fs.used_bytes, fs.capacity_bytes, c.storage_warn_percent) {
                let pct = fs.used_bytes as f64 * 100.0 / fs.capacity_bytes as f64;
                n.raise(Notice::new(
                    key,
                    "storage",
                    NotificationSeverity::Warning,
                    format!("{} is {pct:.0} % full", fs.mount.mount_point.display()),
                    format!(
                        "The filesystem at {} (holding {}) has {} bytes free of {}; the warning threshold is {} %.",
                        fs.mount.mount_point.display(),
                        fs.watch_paths.join(", "),
                        fs.available_bytes,
                        fs.capacity_bytes,
                        c.storage_warn_percent
                    ),
                ))
                .await
            } else {
                n.resolve(&key).await
            },
        );
    }

    if let Some(w) = c.board.subsystem("watcher") {
        let key = "inotify_limit_approaching";
        results.push(match inotify_near_limit(&w) {
            Some((watched, unwatched, limit)) => {
                n.raise(Notice::new(
                    key,
                    "watcher",
                    NotificationSeverity::Warning,
                    "inotify watch limit nearly reached",
                    format!(
                        "The agent watches {watched} directories of fs.inotify.max_user_watches = {limit}; {unwatched} are unwatched and only seen by the periodic crawl. Raise it: sysctl -w fs.inotify.max_user_watches={}.",
                        crate::watcher::RECOMMENDED_MAX_USER_WATCHES
                    ),
                ))
                .await
            }
            None => n.resolve(key).await,
        });
    }

    if let Some(r) = c.board.subsystem("replication") {
        let key = "replication_error";
        match r.get("status").and_then(Value::as_str) {
            Some("error") => results.push(
                n.raise(Notice::new(
                    key,
                    "replication",
                    NotificationSeverity::Error,
                    "Replication with the control plane is failing",
                    format!(
                        "{}; the agent keeps working locally and catches up with a full crawl when it is back.",
                        r.get("detail").and_then(Value::as_str).unwrap_or("the control plane is unreachable")
                    ),
                ))
                .await,
            ),
            Some("ok") => results.push(n.resolve(key).await),
            _ => {}
        }
    }
    for r in results {
        if let Err(e) = r {
            tracing::warn!(node_id = %c.node_id, operation = "notify", error = %e,
                "cannot write a notification; the next check retries");
        }
    }
}

/// Runs the checks every `interval` until `cancel`.
pub async fn run(n: Notifier, c: Checks, interval: Duration, cancel: CancellationToken) {
    loop {
        check_once(&n, &c).await;
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

/// The info written once after the first full crawl.
pub fn first_crawl_notice(files: u64, duration_ms: u64) -> Notice {
    Notice::new(
        "first_crawl_complete",
        "crawler",
        NotificationSeverity::Info,
        "First crawl complete",
        format!(
            "The first full crawl indexed {files} files in {} s.",
            duration_ms / 1000
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn thresholds() {
        assert!(storage_full(90, 100, 90));
        assert!(!storage_full(89, 100, 90));
        assert!(!storage_full(0, 0, 90));
        assert!(
            inotify_near_limit(&json!({"watched_directories": 900, "max_user_watches": 1000}))
                .is_some()
        );
        assert!(
            inotify_near_limit(&json!({"watched_directories": 899, "max_user_watches": 1000}))
                .is_none()
        );
        assert!(inotify_near_limit(&json!({"watched_directories": 1, "unwatched_directories": 3, "max_user_watches": 1000})).is_some());
        assert!(inotify_near_limit(&json!({"watched_directories": 10})).is_none());
    }
}
