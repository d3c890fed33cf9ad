//! Crawls the running agent makes on request of the outside world, with
//! the watcher off (no watch slots), so that only such a crawl can notice a
//! change on disk:
//! - reconciliation after reconnect (plan 4.11): the control plane's
//!   CouchDB goes away (a proxy in front of it refuses and cuts every
//!   connection), files change meanwhile, it comes back, the agent crawls
//!   and both databases converge;
//! - a reindex request (`reindex_requested_at` on the node document, as
//!   `POST /api/system/reindex` writes it on the control plane) reaches the
//!   agent by replication and makes it crawl.

use crate::common::*;
use mosaicfs_agent::config::Config;
use mosaicfs_agent::watcher::WatcherOptions;
use mosaicfs_common::couch::CouchClient;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// A TCP proxy that can be switched off: while off it closes every new
/// connection at once and has cut the open ones (replication's long-poll
/// feeds included).
struct Switch {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    generation: Arc<Mutex<CancellationToken>>,
    stop: CancellationToken,
}

impl Switch {
    async fn start(upstream: SocketAddr) -> Switch {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let generation = Arc::new(Mutex::new(CancellationToken::new()));
        let stop = CancellationToken::new();
        let (u, g, s) = (up.clone(), generation.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                let (mut client, _) = tokio::select! {
                    _ = s.cancelled() => return,
                    a = listener.accept() => match a { Ok(c) => c, Err(_) => continue },
                };
                if !u.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let cut = g.lock().unwrap().clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = cut.cancelled() => {}
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                    }
                });
            }
        });
        Switch {
            addr,
            up,
            generation,
            stop,
        }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        let mut g = self.generation.lock().unwrap();
        g.cancel();
        *g = CancellationToken::new();
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for Switch {
    fn drop(&mut self) {
        self.stop.cancel();
        self.generation.lock().unwrap().cancel();
    }
}

fn socket_of(url: &str) -> SocketAddr {
    use std::net::ToSocketAddrs;
    let hostport = url.trim_start_matches("http://").split('/').next().unwrap();
    hostport.to_socket_addrs().unwrap().next().unwrap()
}

/// The agent's `status::` subsystem `name`, from the local database.
async fn subsystem(local: &CouchClient, node: &str, name: &str) -> Value {
    local
        .get_value(&mosaicfs_common::ids::status_id(node))
        .await
        .unwrap()
        .map(|d| d["subsystems"][name].clone())
        .unwrap_or(Value::Null)
}

/// This node's file documents as `(id, export_path, size, status)`, sorted.
async fn files_of(db: &CouchClient) -> Vec<(String, String, u64, String)> {
    let mut v: Vec<_> = file_docs(db)
        .await
        .into_iter()
        .map(|d| {
            (
                d["_id"].as_str().unwrap().to_string(),
                d["source"]["export_path"].as_str().unwrap().to_string(),
                d["size"].as_u64().unwrap(),
                d["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

fn no_watcher() -> WatcherOptions {
    WatcherOptions {
        max_watches: Some(0),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_losing_the_control_plane_the_agent_reconciles_and_the_documents_converge() {
    let tmp = tempfile::tempdir().unwrap();
    let watch = tmp.path().join("watch");
    let files = make_tree(&watch, 30);
    let local = local_server().fresh_db("reconcile_local").await;
    let cp = cp_server().fresh_db("reconcile_cp").await;
    let node = test_node_id("reconcile");
    let switch = Switch::start(socket_of(&cp_server().url)).await;
    let toml = agent_toml(&watch, &tmp.path().join("state"), &node, &local, &cp, 2);
    // The control plane's CouchDB is reached through the switch.
    let (head, repl) = toml.split_once("[replication]").unwrap();
    let repl = repl.replacen(
        &format!("url = \"{}\"", cp_server().url),
        &format!("url = \"http://{}\"", switch.addr),
        1,
    );
    assert!(repl.contains(&switch.addr.to_string()));
    let config = Config::parse(
        Path::new("agent.toml"),
        &format!("{head}[replication]{repl}"),
    )
    .unwrap();
    let shutdown = CancellationToken::new();
    let agent = tokio::spawn(mosaicfs_agent::run_with(
        config,
        no_watcher(),
        shutdown.clone(),
    ));

    wait_until(
        "30 documents on the control plane and replication reported ok",
        Duration::from_secs(90),
        || async {
            file_docs(&cp).await.len() == 30
                && subsystem(&local, &node, "replication").await["status"] == "ok"
        },
    )
    .await;

    switch.cut();
    wait_until(
        "the agent notices the control plane is gone",
        Duration::from_secs(60),
        || async { subsystem(&local, &node, "replication").await["status"] == "error" },
    )
    .await;
    // Changes while disconnected: one new file, one grown, one deleted.
    std::fs::write(watch.join("new while offline.txt"), b"new").unwrap();
    std::fs::write(&files[1], vec![b'y'; 12_345]).unwrap();
    std::fs::remove_file(&files[2]).unwrap();
    let before = subsystem(&local, &node, "crawler").await["reconcile_crawls"]
        .as_u64()
        .unwrap_or(0);
    assert_eq!(before, 0);
    // Nothing notices them yet: no watcher, no interval crawl for an hour.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(file_docs(&local).await.len(), 30);

    switch.restore();
    let grown = files[1].to_string_lossy().to_string();
    let gone = files[2].to_string_lossy().to_string();
    let new = watch
        .join("new while offline.txt")
        .to_string_lossy()
        .to_string();
    let expected = |docs: &[(String, String, u64, String)]| {
        docs.len() == 31
            && docs
                .iter()
                .any(|(_, p, s, st)| *p == grown && *s == 12_345 && st == "active")
            && docs
                .iter()
                .any(|(_, p, _, st)| *p == gone && st == "deleted")
            && docs
                .iter()
                .any(|(_, p, s, st)| *p == new && *s == 3 && st == "active")
    };
    wait_until(
        "the reconciliation crawl's documents on the control plane",
        Duration::from_secs(120),
        || async { expected(&files_of(&cp).await) },
    )
    .await;
    assert!(expected(&files_of(&local).await));
    assert_eq!(files_of(&local).await, files_of(&cp).await, "converged");
    wait_until(
        "the crawl in agent_status",
        Duration::from_secs(10),
        || async { subsystem(&local, &node, "crawler").await["last_crawl_reason"] == "reconnect" },
    )
    .await;
    // One reconnect crawl per reconnect (the monitor may see a flap under
    // load), and no crawl for any other reason.
    let crawler = subsystem(&local, &node, "crawler").await;
    let reconciles = crawler["reconcile_crawls"].as_u64().unwrap();
    assert!(reconciles >= 1, "{crawler}");
    assert_eq!(
        crawler["full_crawls"],
        1 + reconciles,
        "start + reconnects: {crawler}"
    );
    assert_eq!(
        subsystem(&local, &node, "replication").await["reconnects"],
        reconciles
    );

    shutdown.cancel();
    agent.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reindex_request_on_the_control_plane_makes_the_agent_crawl() {
    let tmp = tempfile::tempdir().unwrap();
    let watch = tmp.path().join("watch");
    make_tree(&watch, 12);
    let local = local_server().fresh_db("reindex_local").await;
    let cp = cp_server().fresh_db("reindex_cp").await;
    let node = test_node_id("reindex");
    // Heartbeats every 30 s, so that the control plane's write does not
    // race an agent write of the same node document.
    let toml = agent_toml(&watch, &tmp.path().join("state"), &node, &local, &cp, 30);
    let config = Config::parse(Path::new("agent.toml"), &toml).unwrap();
    let shutdown = CancellationToken::new();
    let agent = tokio::spawn(mosaicfs_agent::run_with(
        config,
        no_watcher(),
        shutdown.clone(),
    ));
    let node_doc = format!("node::{node}");
    wait_until(
        "12 documents and the node document on the control plane",
        Duration::from_secs(90),
        || async {
            file_docs(&cp).await.len() == 12 && cp.get_value(&node_doc).await.unwrap().is_some()
        },
    )
    .await;
    std::fs::write(watch.join("added later.md"), b"later").unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        file_docs(&local).await.len(),
        12,
        "nothing crawls by itself"
    );

    // What POST /api/system/reindex writes.
    let at = "2026-11-21T12:00:00Z";
    cp.update(&node_doc, |d| {
        let mut d = d?;
        d["reindex_requested_at"] = json!(at);
        Some(d)
    })
    .await
    .unwrap();
    wait_until(
        "the new file on the control plane",
        Duration::from_secs(90),
        || async { file_docs(&cp).await.len() == 13 },
    )
    .await;
    // The status document follows the crawl's writes (coalesced).
    wait_until(
        "the crawl in agent_status",
        Duration::from_secs(10),
        || async { subsystem(&local, &node, "crawler").await["last_crawl_reason"] == "reindex" },
    )
    .await;
    let crawler = subsystem(&local, &node, "crawler").await;
    assert_eq!(crawler["reindex_crawls"], 1, "{crawler}");
    assert_eq!(crawler["full_crawls"], 2, "start and reindex: {crawler}");
    assert_eq!(
        local.get_value(&node_doc).await.unwrap().unwrap()["reindex_requested_at"],
        at,
        "the request reached the agent's database and survives its writes"
    );

    shutdown.cancel();
    agent.await.unwrap().unwrap();
}
