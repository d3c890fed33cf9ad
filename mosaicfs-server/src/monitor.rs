//! The control plane's notifications (plan 7.4) that come from periodic
//! checks, every `--monitor-interval-secs`:
//!
//! - `control_plane_disk_low`: the data directory's filesystem is at least
//!   `--disk-warn-percent` full (`statvfs`); resolved below it.
//! - `credential_inactive:{access_key_id}`: an enabled credential not used
//!   (`last_seen`, else `created_at`) for `--credential-inactive-days`;
//!   resolved when it is used, disabled or deleted.
//! - **The conflict watcher**: node documents with conflicting revisions
//!   are merged by field ownership (`update_merging` with
//!   `merge_node_revisions`, the losers deleted); virtual-directory
//!   documents still conflicted at two checks in a row raise
//!   `conflicts:{doc_id}` (the user chooses: the API's next write of the
//!   directory replaces the winner, and the losing revisions are listed in
//!   the message), resolved when the conflict is gone.
//!
//! `replication_stalled:browser` is raised by the flow 3 monitor
//! (`replication.rs`), `new_node_registered:{node_id}` by registration.

use crate::state::AppState;
use mosaicfs_common::documents::{NotificationSeverity, merge_node_revisions};
use mosaicfs_common::ids;
use mosaicfs_common::notify::Notice;
use serde_json::Value;
use std::collections::HashSet;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// State kept between checks.
#[derive(Default)]
pub struct Monitor {
    /// Directory documents conflicted at the last check.
    conflicted_dirs: HashSet<String>,
    /// Those raised as notifications.
    raised_dirs: HashSet<String>,
    /// Credentials checked at the last run (to resolve deleted ones).
    credentials: HashSet<String>,
}

/// Percent of `capacity` in use.
fn used_percent(v: &rustix::fs::StatVfs) -> f64 {
    let total = v.f_blocks as f64;
    if total == 0.0 {
        return 0.0;
    }
    (v.f_blocks.saturating_sub(v.f_bfree)) as f64 * 100.0 / total
}

impl Monitor {
    /// Runs every check once; failures are logged, never fatal.
    pub async fn check_once(&mut self, state: &AppState) {
        let started = Instant::now();
        if let Err(e) = self.disk(state).await {
            tracing::warn!(operation = "monitor", error = %e, "disk check failed");
        }
        if let Err(e) = self.credentials(state).await {
            tracing::warn!(operation = "monitor", error = %e, "credential check failed");
        }
        if let Err(e) = self.conflicts(state).await {
            tracing::warn!(operation = "monitor", error = %e, "conflict check failed");
        }
        tracing::debug!(
            operation = "monitor",
            duration_ms = started.elapsed().as_millis() as u64,
            "control plane checks done"
        );
    }

    async fn disk(&mut self, state: &AppState) -> Result<(), mosaicfs_common::couch::CouchError> {
        let dir = state.config.data_dir.clone();
        let Ok(Ok(v)) = tokio::task::spawn_blocking(move || rustix::fs::statvfs(&dir)).await else {
            return Ok(());
        };
        let pct = used_percent(&v);
        let key = "control_plane_disk_low";
        if pct >= f64::from(state.config.disk_warn_percent) {
            state
                .notifier
                .raise(Notice::new(
                    key,
                    "server",
                    NotificationSeverity::Warning,
                    format!("Control plane disk {pct:.0} % full"),
                    format!(
                        "The filesystem of the server's data directory ({}) is {pct:.0} % full (threshold {} %). The index and CouchDB need room to grow.",
                        state.config.data_dir.display(),
                        state.config.disk_warn_percent
                    ),
                ))
                .await
        } else {
            state.notifier.resolve(key).await
        }
    }

    async fn credentials(
        &mut self,
        state: &AppState,
    ) -> Result<(), mosaicfs_common::couch::CouchError> {
        let mut docs = Vec::new();
        state
            .db
            .for_each_prefix_page(ids::CREDENTIAL_PREFIX, 500, true, |rows| {
                docs.extend(rows.into_iter().filter_map(|r| r.doc));
            })
            .await?;
        let now = chrono::Utc::now();
        let limit = chrono::Duration::days(i64::from(state.config.credential_inactive_days));
        let mut seen = HashSet::new();
        for d in docs {
            let Some(key) = d.get("access_key_id").and_then(Value::as_str) else {
                continue;
            };
            seen.insert(key.to_string());
            let cond = format!("credential_inactive:{key}");
            let enabled = d.get("enabled").and_then(Value::as_bool) == Some(true);
            let last = ["last_seen", "created_at"]
                .iter()
                .find_map(|k| d.get(*k).and_then(Value::as_str))
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&chrono::Utc));
            match last {
                Some(t) if enabled && now - t > limit => {
                    let name = d.get("name").and_then(Value::as_str).unwrap_or("");
                    state
                        .notifier
                        .raise(Notice::new(
                            cond,
                            "credentials",
                            NotificationSeverity::Warning,
                            format!("Access key {key} is inactive"),
                            format!(
                                "Access key {key} ({name}) has not been used for {} days. Revoke it if nobody needs it.",
                                (now - t).num_days()
                            ),
                        ))
                        .await?
                }
                _ => state.notifier.resolve(&cond).await?,
            }
        }
        for gone in self.credentials.difference(&seen) {
            state
                .notifier
                .resolve(&format!("credential_inactive:{gone}"))
                .await?;
        }
        self.credentials = seen;
        Ok(())
    }

    async fn conflicts(
        &mut self,
        state: &AppState,
    ) -> Result<(), mosaicfs_common::couch::CouchError> {
        for doc in state.db.conflicted_under(ids::NODE_PREFIX).await? {
            let Some(id) = doc.get("_id").and_then(Value::as_str) else {
                continue;
            };
            // A write of the merge resolves the conflict (losers deleted).
            state
                .db
                .update_merging(id, merge_node_revisions, |stored| stored)
                .await?;
            tracing::info!(operation = "conflict_watch", doc_id = %id, "node document conflict merged");
        }
        let dirs = state.db.conflicted_under(ids::DIR_PREFIX).await?;
        let mut now_conflicted = HashSet::new();
        for doc in dirs {
            let Some(id) = doc.get("_id").and_then(Value::as_str) else {
                continue;
            };
            now_conflicted.insert(id.to_string());
            if !self.conflicted_dirs.contains(id) {
                continue;
            }
            let path = doc
                .get("virtual_path")
                .and_then(Value::as_str)
                .unwrap_or(id);
            let losers: Vec<&str> = doc
                .get("_conflicts")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            state
                .notifier
                .raise(Notice::new(
                    format!("conflicts:{id}"),
                    "conflicts",
                    NotificationSeverity::Warning,
                    format!("Conflicting versions of directory {path}"),
                    format!(
                        "Directory {path} ({id}) has {} conflicting revision(s) ({}), written on two sides while they were apart. The winning version is shown; edit the directory to keep the one you want.",
                        losers.len(),
                        losers.join(", ")
                    ),
                ))
                .await?;
            self.raised_dirs.insert(id.to_string());
        }
        let cleared: Vec<String> = self
            .raised_dirs
            .iter()
            .filter(|id| !now_conflicted.contains(*id))
            .cloned()
            .collect();
        for id in cleared {
            state.notifier.resolve(&format!("conflicts:{id}")).await?;
            self.raised_dirs.remove(&id);
        }
        self.conflicted_dirs = now_conflicted;
        Ok(())
    }
}

/// Runs the checks every `interval` until `cancel`.
pub async fn run(state: AppState, interval: Duration, cancel: CancellationToken) {
    let mut m = Monitor::default();
    loop {
        m.check_once(&state).await;
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}
