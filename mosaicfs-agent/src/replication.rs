//! Sets up flows 1 (push) and 2 (pull) with the control plane and watches
//! their state. See `mosaicfs_common::replication` for the filters.

use mosaicfs_common::couch::{CouchClient, CouchError};
use mosaicfs_common::replication::{
    ReplicationSpec, ReplicationState, ensure_design_document, ensure_replication,
    replication_state,
};
use mosaicfs_common::retry::RetryPolicy;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the monitor polls replication state.
pub const MONITOR_INTERVAL: Duration = Duration::from_secs(10);

/// Installs the design document on both sides and the two `_replicator`
/// documents on the local server. The control plane may be unreachable at
/// startup: this retries with the standard backoff until it succeeds or
/// shutdown.
pub async fn setup(
    node_id: &str,
    local: &CouchClient,
    control_plane: &CouchClient,
    cancel: &CancellationToken,
) -> Result<(), CouchError> {
    ensure_design_document(local).await?;
    let replicator = local.database("_replicator");
    replicator.ensure_db().await?;
    let push = ReplicationSpec::agent_push(node_id, local, control_plane);
    let pull = ReplicationSpec::agent_pull(node_id, local, control_plane);
    // The pull filter runs on the control plane, so its design document must
    // exist there before the pull replication starts.
    let cp = control_plane
        .clone()
        .with_retry(RetryPolicy::standard(Some(1)));
    let policy = RetryPolicy::standard(None);
    let mut attempt = 0;
    loop {
        let r = async {
            cp.ensure_db().await?;
            ensure_design_document(&cp).await
        }
        .await;
        match r {
            Ok(_) => break,
            Err(e) => {
                let delay = policy.delay(attempt);
                attempt += 1;
                tracing::warn!(node_id, operation = "replication_setup", error = %e,
                    retry_in_ms = delay.as_millis() as u64,
                    "control plane CouchDB not ready; crawling goes on and replication will start when it is");
                tokio::select! {
                    _ = cancel.cancelled() => return Ok(()),
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
    for spec in [&push, &pull] {
        let wrote = ensure_replication(&replicator, spec).await?;
        tracing::info!(node_id, operation = "replication_setup", replication = %spec.id,
            changed = wrote, "replication configured");
    }
    Ok(())
}

/// Polls the state of both replications and logs every change; runs until
/// cancelled.
pub async fn monitor(node_id: String, local: CouchClient, cancel: CancellationToken) {
    let replicator = local
        .database("_replicator")
        .with_retry(RetryPolicy::standard(Some(1)));
    let ids = [
        format!("mosaicfs-push-{node_id}"),
        format!("mosaicfs-pull-{node_id}"),
    ];
    let mut last: [Option<ReplicationState>; 2] = [None, None];
    loop {
        for (i, id) in ids.iter().enumerate() {
            match replication_state(&replicator, id).await {
                Ok(state) if state != last[i] => {
                    match &state {
                        Some(s) if s.is_healthy() => {
                            tracing::info!(node_id, operation = "replication",
                            replication = %id, state = %s.state, "replication state changed")
                        }
                        Some(s) => tracing::error!(node_id, operation = "replication",
                            replication = %id, state = %s.state,
                            error = s.error.as_deref().unwrap_or("unknown"), "replication is failing"),
                        None => tracing::info!(node_id, operation = "replication",
                            replication = %id, "replication not started yet"),
                    }
                    last[i] = state;
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(node_id, operation = "replication", replication = %id,
                    error = %e, "cannot read replication state"),
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(MONITOR_INTERVAL) => {}
        }
    }
}
