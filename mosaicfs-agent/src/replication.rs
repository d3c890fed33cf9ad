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
    monitor_with(node_id, local, None, cancel).await
}

/// What the monitor reports to the rest of the agent.
pub struct MonitorHooks {
    /// Probed with one request per poll: replication states alone do not
    /// say that the peer is back on every server (pouchdb-server keeps
    /// `triggered` while it retries).
    pub control_plane: CouchClient,
    /// Gets one message each time replication comes back after failing
    /// (plan 4.11): the agent runs an expedited full crawl.
    pub reconnected: tokio::sync::mpsc::Sender<()>,
    /// The `replication` subsystem of `agent_status`.
    pub status: crate::status::StatusBoard,
}

/// [`monitor`], also reporting reconnections and status when `hooks` is
/// given. Connected means both replications healthy and the control plane
/// answering; a reconnection is connected again after having been connected
/// and then not.
pub async fn monitor_with(
    node_id: String,
    local: CouchClient,
    hooks: Option<MonitorHooks>,
    cancel: CancellationToken,
) {
    let replicator = local
        .database("_replicator")
        .with_retry(RetryPolicy::standard(Some(1)));
    let probe = hooks.as_ref().map(|h| {
        h.control_plane
            .clone()
            .with_retry(RetryPolicy::standard(Some(1)))
    });
    let ids = [
        format!("mosaicfs-push-{node_id}"),
        format!("mosaicfs-pull-{node_id}"),
    ];
    let mut last: [Option<ReplicationState>; 2] = [None, None];
    let mut was_connected = false;
    let mut lost_since_connected = false;
    let mut reconnects: u64 = 0;
    let mut last_connected: Option<bool> = None;
    loop {
        let mut healthy = true;
        for (i, id) in ids.iter().enumerate() {
            match replication_state(&replicator, id).await {
                Ok(state) => {
                    healthy &= state.as_ref().is_some_and(|s| s.is_healthy());
                    if state != last[i] {
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
                }
                Err(e) => {
                    healthy = false;
                    tracing::warn!(node_id, operation = "replication", replication = %id,
                        error = %e, "cannot read replication state")
                }
            }
        }
        if let (Some(h), Some(probe)) = (&hooks, &probe) {
            let reachable = probe.server_info().await.is_ok();
            let connected = healthy && reachable;
            if connected {
                if was_connected && lost_since_connected {
                    reconnects += 1;
                    tracing::info!(
                        node_id,
                        operation = "replication",
                        reconnects,
                        "control plane reachable again; reconciling with a full crawl"
                    );
                    let _ = h.reconnected.try_send(());
                }
                was_connected = true;
                lost_since_connected = false;
            } else if was_connected {
                if !lost_since_connected {
                    tracing::warn!(
                        node_id,
                        operation = "replication",
                        reachable,
                        "lost the control plane; working locally until it is back"
                    );
                    h.status
                        .error("replication", "warn", "control plane unreachable");
                }
                lost_since_connected = true;
            }
            if last_connected != Some(connected) {
                last_connected = Some(connected);
                let (state, detail) = match (connected, was_connected) {
                    (true, _) => ("ok", None),
                    (false, true) => ("error", Some("control plane unreachable".to_string())),
                    (false, false) => ("idle", Some("not connected yet".to_string())),
                };
                h.status.set(
                    "replication",
                    state,
                    detail,
                    serde_json::json!({
                        "push": last[0].as_ref().map(|s| s.state.clone()),
                        "pull": last[1].as_ref().map(|s| s.state.clone()),
                        "reconnects": reconnects,
                    }),
                );
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(MONITOR_INTERVAL) => {}
        }
    }
}
