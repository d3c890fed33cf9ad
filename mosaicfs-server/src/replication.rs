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

/// Polls the state of the browser replication every [`MONITOR_INTERVAL`],
/// logs each change and keeps `mosaicfs_browser_replication_healthy`
/// current; runs until `cancel`. Safe to cancel at any point: it only reads.
pub async fn monitor_browser(state: AppState, doc_id: String, cancel: CancellationToken) {
    let replicator = state
        .db
        .database("_replicator")
        .with_retry(RetryPolicy::standard(Some(1)));
    let mut last: Option<Option<ReplicationState>> = None;
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
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(MONITOR_INTERVAL) => {}
        }
    }
}
