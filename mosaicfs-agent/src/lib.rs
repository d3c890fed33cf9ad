//! The MosaicFS agent.
//!
//! [`run`] is the whole agent: it resolves the node id, registers the node,
//! starts the heartbeat and the replication setup and monitor, and crawls the
//! watch paths now and every `crawl_interval`, until the shutdown token is
//! cancelled; then it marks the node offline.
//!
//! Entry points: [`config::Config::load`], [`run`], [`crawler::Crawler`].
#![warn(missing_docs)]

pub mod config;
pub mod crawler;
pub mod init;
pub mod node;
pub mod replication;
pub mod transfer;

use config::Config;
use mosaicfs_common::couch::{CouchClient, CouchError};
use mosaicfs_common::retry::RetryPolicy;
use node::NodeInfo;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Why the agent stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The node id could not be read or created.
    #[error(transparent)]
    NodeId(#[from] node::NodeIdError),
    /// The local CouchDB could not be used.
    #[error("local CouchDB: {0}")]
    Couch(#[from] CouchError),
    /// The transfer endpoint could not bind its address.
    #[error("transfer endpoint: cannot listen on {addr}: {source}")]
    TransferBind {
        /// The configured address.
        addr: std::net::SocketAddr,
        /// The bind error.
        source: std::io::Error,
    },
}

/// Longest wait for open transfers at shutdown.
const TRANSFER_DRAIN: Duration = Duration::from_secs(5);

/// Longest time spent marking the node offline at shutdown.
const OFFLINE_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs the agent until `shutdown` is cancelled.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), AgentError> {
    let node_id = node::resolve_node_id(config.node_id.as_deref(), &config.state_dir)?;
    let local = CouchClient::new(&config.couchdb)?;
    let control_plane = CouchClient::new(&config.replication)?;
    tracing::info!(node_id = %node_id, config = %config.path.display(),
        local = %local.server_url(), control_plane = %control_plane.server_url(),
        watch_paths = ?config.watch_paths, "agent starting");
    local.ensure_db().await?;

    // Bind before writing the node document, so the published endpoint is
    // the one actually listening (port 0 in tests).
    let transfer_listener = match &config.transfer {
        Some(t) => Some(
            tokio::net::TcpListener::bind(t.listen)
                .await
                .map_err(|source| AgentError::TransferBind {
                    addr: t.listen,
                    source,
                })?,
        ),
        None => None,
    };
    let transfer_endpoint = match (&config.transfer, &transfer_listener) {
        (Some(t), Some(l)) => Some(transfer::advertise_url(
            t.advertise_url.as_deref(),
            l.local_addr().unwrap_or(t.listen),
        )),
        _ => None,
    };

    let info = NodeInfo {
        node_id: node_id.clone(),
        friendly_name: config.friendly_name.clone(),
        watch_paths: config
            .watch_paths
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
        access_key_id: config.access_key_id.clone(),
        transfer_endpoint,
    };
    node::write_node_status(&local, &info, "online").await?;

    let tasks = CancellationToken::new();
    let transfer_task = transfer_listener.map(|listener| {
        let service = transfer::TransferService::new(
            local.clone(),
            &node_id,
            &config.access_key_id,
            &config.secret_key,
            config.watch_paths.clone(),
        );
        tokio::spawn(transfer::serve(listener, service.router(), tasks.clone()))
    });
    let heartbeat = tokio::spawn(heartbeat_loop(
        local.clone(),
        info.clone(),
        config.heartbeat_interval,
        tasks.clone(),
    ));
    let replication = {
        let (node_id, local, cancel) = (node_id.clone(), local.clone(), tasks.clone());
        tokio::spawn(async move {
            if let Err(e) = replication::setup(&node_id, &local, &control_plane, &cancel).await {
                tracing::error!(node_id = %node_id, operation = "replication_setup", error = %e,
                    "replication could not be configured");
            }
            replication::monitor(node_id, local, cancel).await;
        })
    };

    let crawl_loop = crawl_loop(&config, &node_id, &local, &shutdown);
    tokio::select! {
        r = crawl_loop => r?,
        _ = shutdown.cancelled() => {}
    }

    tracing::info!(node_id = %node_id, "shutting down");
    tasks.cancel();
    let _ = heartbeat.await;
    let _ = replication.await;
    if let Some(t) = transfer_task {
        // Graceful shutdown waits for open downloads; do not wait forever.
        if tokio::time::timeout(TRANSFER_DRAIN, t).await.is_err() {
            tracing::warn!(node_id = %node_id, "transfers still open at shutdown; dropping them");
        }
    }
    let offline = local.clone().with_retry(RetryPolicy::standard(Some(2)));
    match tokio::time::timeout(
        OFFLINE_TIMEOUT,
        node::write_node_status(&offline, &info, "offline"),
    )
    .await
    {
        Ok(Ok(())) => tracing::info!(node_id = %node_id, "node marked offline"),
        Ok(Err(e)) => {
            tracing::error!(node_id = %node_id, error = %e, "could not mark the node offline")
        }
        Err(_) => tracing::error!(node_id = %node_id, "timed out marking the node offline"),
    }
    Ok(())
}

/// Crawls now and every `crawl_interval`; returns only when `shutdown` fires
/// (or with an error if the index can never be loaded).
async fn crawl_loop(
    config: &Config,
    node_id: &str,
    local: &CouchClient,
    shutdown: &CancellationToken,
) -> Result<(), AgentError> {
    let mut crawler =
        crawler::Crawler::new(local.clone(), node_id, config.watch_paths.clone()).await?;
    let backoff = RetryPolicy::standard(None);
    let mut failures = 0;
    loop {
        let wait = match crawler.crawl(shutdown).await {
            Ok(_) => {
                failures = 0;
                config.crawl_interval
            }
            Err(e) => {
                let d = backoff.delay(failures);
                failures += 1;
                tracing::error!(node_id, operation = "crawl", error = %e,
                    retry_in_ms = d.as_millis() as u64, "crawl failed");
                d
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

async fn heartbeat_loop(
    db: CouchClient,
    info: NodeInfo,
    every: Duration,
    cancel: CancellationToken,
) {
    // A failed heartbeat is not retried in place: the next tick is the retry.
    let db = db.with_retry(RetryPolicy::standard(Some(1)));
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        match node::write_node_status(&db, &info, "online").await {
            Ok(()) => {
                tracing::debug!(node_id = %info.node_id, operation = "heartbeat", "heartbeat")
            }
            Err(e) => tracing::warn!(node_id = %info.node_id, operation = "heartbeat", error = %e,
                "heartbeat failed; will retry at the next tick"),
        }
    }
}

/// One crawl of the configured watch paths into the local CouchDB, without
/// replication or heartbeat (`mosaicfs-agent crawl`).
pub async fn crawl_once(
    config: &Config,
    cancel: &CancellationToken,
) -> Result<crawler::CrawlSummary, AgentError> {
    let node_id = node::resolve_node_id(config.node_id.as_deref(), &config.state_dir)?;
    let local = CouchClient::new(&config.couchdb)?;
    local.ensure_db().await?;
    let mut crawler = crawler::Crawler::new(local, &node_id, config.watch_paths.clone()).await?;
    Ok(crawler.crawl(cancel).await?)
}
