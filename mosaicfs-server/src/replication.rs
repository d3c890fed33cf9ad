//! Replication flow 3: the browser replica `{db}_browser` on the control
//! plane's own CouchDB, filled by CouchDB's replicator through
//! `mosaicfs/browser` (see `mosaicfs_common::replication`), and a monitor
//! that logs its state and reports it in `/metrics`.

use crate::state::AppState;
use mosaicfs_common::couch::{CouchClient, CouchError};
use mosaicfs_common::replication::{
    ReplicationSpec, ReplicationState, browser_db_name, ensure_replication, replication_state,
};
use mosaicfs_common::retry::RetryPolicy;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the monitor polls the replication state.
pub const MONITOR_INTERVAL: Duration = Duration::from_secs(10);

/// Creates the browser database and writes (or updates in place) the
/// `_replicator` document; returns the `_replicator` document id. The design
/// document must already be on `db` (the filter runs on the source).
pub async fn setup_browser(db: &CouchClient) -> Result<String, CouchError> {
    db.database(&browser_db_name(db.db_name()))
        .ensure_db()
        .await?;
    let replicator = db.database("_replicator");
    replicator.ensure_db().await?;
    let spec = ReplicationSpec::browser(db);
    // Never deleted, only updated: deleting a running replication's document
    // crashes pouchdb-server 4.2.0.
    let wrote = ensure_replication(&replicator, &spec).await?;
    tracing::info!(operation = "replication_setup", replication = %spec.id,
        changed = wrote, "browser replication configured");
    Ok(spec.id)
}

/// Polls in a row after which an unhealthy flow 3 is `replication_stalled`.
const STALLED_POLLS: u32 = 3;

/// Polls the state of the browser replication every [`MONITOR_INTERVAL`],
/// logs each change and keeps `mosaicfs_browser_replication_healthy`
/// current; runs until `cancel`. Safe to cancel at any point: it only reads.
pub async fn monitor_browser(state: AppState, doc_id: String, cancel: CancellationToken) {
    let replicator = state
        .db
        .database("_replicator")
        .with_retry(RetryPolicy::standard(Some(1)));
    let mut last: Option<Option<ReplicationState>> = None;
    let mut unhealthy_polls = 0u32;
    loop {
        let healthy = match replication_state(&replicator, &doc_id).await {
            Ok(current) => {
                let healthy = current.as_ref().is_some_and(ReplicationState::is_healthy);
                if last.as_ref() != Some(&current) {
                    match &current {
                        Some(s) if s.is_healthy() => tracing::info!(operation = "replication",
                            replication = %doc_id, state = %s.state, "replication state changed"),
                        Some(s) => tracing::error!(operation = "replication",
                            replication = %doc_id, state = %s.state,
                            error = s.error.as_deref().unwrap_or("unknown"),
                            "browser replication is failing"),
                        None => tracing::info!(operation = "replication",
                            replication = %doc_id, "replication not started yet"),
                    }
                    last = Some(current);
                }
                healthy
            }
            Err(e) => {
                tracing::warn!(operation = "replication", replication = %doc_id,
                    error = %e, "cannot read replication state");
                false
            }
        };
        state
            .metrics
            .browser_replication_healthy
            .store(healthy, Ordering::Relaxed);
        // Unhealthy for STALLED_POLLS polls in a row (a replication that is
        // merely starting is not stalled).
        unhealthy_polls = if healthy { 0 } else { unhealthy_polls + 1 };
        let key = "replication_stalled:browser";
        let r = if unhealthy_polls >= STALLED_POLLS {
            state
                .notifier
                .raise(mosaicfs_common::notify::Notice::new(
                    key,
                    "replication",
                    mosaicfs_common::documents::NotificationSeverity::Warning,
                    "Browser replication stalled",
                    format!(
                        "The replication {doc_id} that feeds the web UI's live copy has not been healthy for {} s; pages may show stale data. See the server log.",
                        u64::from(unhealthy_polls) * MONITOR_INTERVAL.as_secs()
                    ),
                ))
                .await
        } else if healthy {
            state.notifier.resolve(key).await
        } else {
            Ok(())
        };
        if let Err(e) = r {
            tracing::warn!(operation = "notify", error = %e, "cannot write the replication notification");
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(MONITOR_INTERVAL) => {}
        }
    }
}
