//! The MosaicFS agent.
//!
//! [`run`] is the whole agent: it resolves the node id, registers the node,
//! starts the heartbeat, the replication setup and monitor, the storage
//! report and the `agent_status` writer, crawls the watch paths, then
//! watches them (`watcher`) and crawls again every `crawl_interval`, after a
//! replication reconnect, after an event storm and when the control plane
//! asks for a reindex, until the shutdown token is cancelled; then it marks
//! the node offline.
//!
//! Entry points: [`config::Config::load`], [`run`], [`crawler::Crawler`].
#![warn(missing_docs)]

pub mod alerts;
pub mod config;
pub mod crawler;
pub mod init;
pub mod node;
pub mod replication;
pub mod status;
pub mod storage;
pub mod transfer;
pub mod watcher;

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

/// How often the agent looks at its node document for a reindex request.
const REINDEX_POLL: Duration = Duration::from_secs(5);

/// Runs the agent until `shutdown` is cancelled.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), AgentError> {
    run_with(config, watcher::WatcherOptions::default(), shutdown).await
}

/// [`run`] with other watcher settings (tests).
pub async fn run_with(
    config: Config,
    watch_options: watcher::WatcherOptions,
    shutdown: CancellationToken,
) -> Result<(), AgentError> {
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
        tokio::spawn(transfer::serve(listener, service.app(), tasks.clone()))
    });
    let heartbeat = tokio::spawn(heartbeat_loop(
        local.clone(),
        info.clone(),
        config.heartbeat_interval,
        tasks.clone(),
    ));
    let board = status::StatusBoard::default();
    let status_writer = tokio::spawn(status::writer_loop(
        local.clone(),
        node_id.clone(),
        board.clone(),
        tasks.clone(),
    ));
    let storage = tokio::spawn(storage::storage_loop(
        local.clone(),
        node_id.clone(),
        config.watch_paths.clone(),
        storage::STORAGE_INTERVAL,
        tasks.clone(),
    ));
    let (reconnect_tx, reconnect_rx) = tokio::sync::mpsc::channel(1);
    let replication = {
        let (node_id, local, cancel) = (node_id.clone(), local.clone(), tasks.clone());
        let hooks = replication::MonitorHooks {
            control_plane: control_plane.clone(),
            reconnected: reconnect_tx,
            status: board.clone(),
        };
        tokio::spawn(async move {
            if let Err(e) = replication::setup(&node_id, &local, &control_plane, &cancel).await {
                tracing::error!(node_id = %node_id, operation = "replication_setup", error = %e,
                    "replication could not be configured");
            }
            replication::monitor_with(node_id, local, Some(hooks), cancel).await;
        })
    };
    let notifier = mosaicfs_common::notify::Notifier::new(
        local.clone(),
        &node_id,
        mosaicfs_common::notify::DEFAULT_MIN_INTERVAL,
    );
    let alerts = tokio::spawn(alerts::run(
        notifier.clone(),
        alerts::Checks {
            node_id: node_id.clone(),
            watch_paths: config.watch_paths.clone(),
            storage_warn_percent: config.storage_warn_percent,
            board: board.clone(),
        },
        config.notification_check_interval,
        tasks.clone(),
    ));
    let (reindex_tx, reindex_rx) = tokio::sync::mpsc::channel(1);
    let reindex = tokio::spawn(reindex_watch(
        local.clone(),
        node_id.clone(),
        reindex_tx,
        tasks.clone(),
    ));

    let triggers = Triggers {
        reconnect: reconnect_rx,
        reindex: reindex_rx,
        watch_options,
        board: board.clone(),
        notifier,
    };
    let crawl_loop = crawl_loop(&config, &node_id, &local, triggers, &shutdown);
    tokio::select! {
        r = crawl_loop => r?,
        _ = shutdown.cancelled() => {}
    }

    tracing::info!(node_id = %node_id, "shutting down");
    tasks.cancel();
    let _ = heartbeat.await;
    let _ = replication.await;
    let _ = reindex.await;
    let _ = alerts.await;
    let _ = storage.await;
    let _ = status_writer.await;
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

/// What, besides the clock, makes the crawl loop crawl.
struct Triggers {
    reconnect: tokio::sync::mpsc::Receiver<()>,
    reindex: tokio::sync::mpsc::Receiver<String>,
    watch_options: watcher::WatcherOptions,
    board: status::StatusBoard,
    notifier: mosaicfs_common::notify::Notifier,
}

/// Counts of the crawl loop, reported in the `crawler` subsystem.
#[derive(Default)]
struct CrawlCounters {
    full_crawls: u64,
    reconcile_crawls: u64,
    storm_crawls: u64,
    reindex_crawls: u64,
    watch_batches: u64,
    watch_changes: u64,
}

/// Crawls now, then applies the watcher's changes and crawls again every
/// `crawl_interval`, after a reconnect, after an event storm and on a
/// reindex request; returns only when `shutdown` fires (or with an error if
/// the index can never be loaded).
async fn crawl_loop(
    config: &Config,
    node_id: &str,
    local: &CouchClient,
    mut triggers: Triggers,
    shutdown: &CancellationToken,
) -> Result<(), AgentError> {
    let mut crawler = crawler::Crawler::with_state_file(
        local.clone(),
        node_id,
        config.watch_paths.clone(),
        crawl_state_path(config),
    )
    .await?;
    let backoff = RetryPolicy::standard(None);
    let board = triggers.board.clone();
    let mut counters = CrawlCounters::default();
    let mut failures = 0;
    let (watch_tx, mut watch_rx) = tokio::sync::mpsc::channel::<watcher::WatchMsg>(64);
    let mut watch_tx = Some(watch_tx);
    let mut reason = "start";
    loop {
        board.set(
            "crawler",
            "ok",
            Some(format!("crawling ({reason})")),
            serde_json::json!({}),
        );
        let wait = match crawler.crawl(shutdown).await {
            Ok(summary) => {
                failures = 0;
                counters.full_crawls += 1;
                match reason {
                    "reconnect" => counters.reconcile_crawls += 1,
                    "event storm" => counters.storm_crawls += 1,
                    "reindex" => counters.reindex_crawls += 1,
                    _ => {}
                }
                report_crawl(&board, &counters, reason, Some(&summary), None);
                if counters.full_crawls == 1 && !summary.cancelled {
                    let notice = alerts::first_crawl_notice(
                        summary.stats.seen,
                        summary.duration.as_millis() as u64,
                    );
                    if let Err(e) = triggers.notifier.once(notice).await {
                        tracing::warn!(node_id, operation = "notify", error = %e,
                            "cannot write the first-crawl notification");
                    }
                }
                config.crawl_interval
            }
            Err(e) => {
                let d = backoff.delay(failures);
                failures += 1;
                tracing::error!(node_id, operation = "crawl", error = %e,
                    retry_in_ms = d.as_millis() as u64, "crawl failed");
                board.error("crawler", "error", format!("crawl failed: {e}"));
                report_crawl(&board, &counters, reason, None, Some(e.to_string()));
                d
            }
        };
        // The watcher starts after the first crawl (plan 4.10).
        if let Some(tx) = watch_tx.take() {
            let (node, roots, opts, b, cancel) = (
                node_id.to_string(),
                config.watch_paths.clone(),
                triggers.watch_options.clone(),
                board.clone(),
                shutdown.clone(),
            );
            tokio::spawn(async move {
                if let Err(e) = watcher::run(node.clone(), roots, opts, tx, b.clone(), cancel).await
                {
                    tracing::error!(node_id = %node, operation = "watch", error = %e,
                        "watcher not running; changes are seen at the next crawl");
                    b.set(
                        "watcher",
                        "error",
                        Some(e.to_string()),
                        serde_json::json!({}),
                    );
                }
            });
        }
        let next = tokio::time::Instant::now() + wait;
        reason = loop {
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = tokio::time::sleep_until(next) => break "interval",
                Some(()) = triggers.reconnect.recv() => break "reconnect",
                Some(at) = triggers.reindex.recv() => {
                    tracing::info!(node_id, operation = "crawl", requested_at = %at,
                        "reindex requested by the control plane");
                    break "reindex";
                }
                Some(msg) = watch_rx.recv() => match msg {
                    watcher::WatchMsg::FullCrawl(why) => break why,
                    watcher::WatchMsg::Changes(changes) => {
                        counters.watch_batches += 1;
                        counters.watch_changes += changes.len() as u64;
                        match crawler.apply(changes).await {
                            Ok(stats) => tracing::debug!(node_id, operation = "watch_apply", "{stats}"),
                            Err(e) => {
                                // The next full crawl catches up.
                                tracing::warn!(node_id, operation = "watch_apply", error = %e,
                                    "cannot apply watched changes");
                                board.error("watcher", "warn", format!("cannot apply changes: {e}"));
                            }
                        }
                    }
                },
            }
        };
    }
}

fn report_crawl(
    board: &status::StatusBoard,
    c: &CrawlCounters,
    reason: &str,
    summary: Option<&crawler::CrawlSummary>,
    error: Option<String>,
) {
    let (state, detail) = match (summary, error) {
        (Some(s), _) if s.stats.errors > 0 => ("degraded", format!("last crawl ({reason}): {s}")),
        (Some(s), _) => ("ok", format!("last crawl ({reason}): {s}")),
        (None, Some(e)) => ("error", format!("last crawl ({reason}) failed: {e}")),
        (None, None) => ("idle", String::new()),
    };
    board.set(
        "crawler",
        state,
        Some(detail),
        serde_json::json!({
            "last_crawl_at": mosaicfs_common::time::format(&mosaicfs_common::time::now()),
            "last_crawl_reason": reason,
            "full_crawls": c.full_crawls,
            "reconcile_crawls": c.reconcile_crawls,
            "storm_crawls": c.storm_crawls,
            "reindex_crawls": c.reindex_crawls,
            "watch_batches": c.watch_batches,
            "watch_changes": c.watch_changes,
            "files_seen": summary.map(|s| s.stats.seen),
            "errors": summary.map(|s| s.stats.errors),
        }),
    );
}

/// Watches `reindex_requested_at` in this node's document (set by
/// `POST /api/system/reindex` and pulled by replication) and sends each new
/// value. The value present at start is not a request: the start crawl
/// covers it.
async fn reindex_watch(
    db: CouchClient,
    node_id: String,
    tx: tokio::sync::mpsc::Sender<String>,
    cancel: CancellationToken,
) {
    let db = db.with_retry(RetryPolicy::standard(Some(1)));
    let read = |db: CouchClient, node_id: String| async move {
        node::read_node(&db, &node_id)
            .await
            .ok()
            .flatten()
            .and_then(|d| {
                d.get("reindex_requested_at")
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
            })
    };
    let mut seen = read(db.clone(), node_id.clone()).await;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(REINDEX_POLL) => {}
        }
        let now = read(db.clone(), node_id.clone()).await;
        if now.is_some() && now != seen {
            seen = now.clone();
            let _ = tx.try_send(now.unwrap_or_default());
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
    let mut crawler = crawler::Crawler::with_state_file(
        local,
        &node_id,
        config.watch_paths.clone(),
        crawl_state_path(config),
    )
    .await?;
    Ok(crawler.crawl(cancel).await?)
}

/// Where the crawler persists its index between runs.
fn crawl_state_path(config: &Config) -> std::path::PathBuf {
    config.state_dir.join("crawl-index.bin")
}
