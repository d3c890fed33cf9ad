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
pub(crate) struct Switch {
    pub(crate) addr: SocketAddr,
    up: Arc<AtomicBool>,
    generation: Arc<Mutex<CancellationToken>>,
    stop: CancellationToken,
}

impl Switch {
    pub(crate) async fn start(upstream: SocketAddr) -> Switch {
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

    pub(crate) fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        let mut g = self.generation.lock().unwrap();
        g.cancel();
        *g = CancellationToken::new();
    }

    pub(crate) fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for Switch {
    fn drop(&mut self) {
        self.stop.cancel();
        self.generation.lock().unwrap().cancel();
    }
}

pub(crate) fn socket_of(url: &str) -> SocketAddr {
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

/// `last_heartbeat` of a node document (empty if absent).
async fn heartbeat_of(db: &CouchClient, doc_id: &str) -> String {
    db.get_value(doc_id)
        .await
        .unwrap()
        .and_then(|d| d["last_heartbeat"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The race of open question 20, provoked: the control plane writes a
/// reindex request into a revision of the node document that the agent has
/// meanwhile rewritten twice (what a request crossing heartbeats in
/// replication leaves behind). Replication carries the fork to the agent;
/// the agent's longer branch wins CouchDB's pick, so only the ownership
/// merge brings the request back. The agent must crawl for it, and the
/// conflict must be gone on both sides.
///
/// (A cut of the connection in front of the control plane would make the
/// same fork, but after such a cut pouchdb-server's pull flow stalls under
/// load; the fork is written directly instead.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reindex_request_that_crossed_a_heartbeat_is_merged_and_honoured() {
    let tmp = tempfile::tempdir().unwrap();
    let watch = tmp.path().join("watch");
    make_tree(&watch, 5);
    let local = local_server().fresh_db("conflict_local").await;
    let cp = cp_server().fresh_db("conflict_cp").await;
    let node = test_node_id("conflict");
    let toml = agent_toml(&watch, &tmp.path().join("state"), &node, &local, &cp, 1);
    let config = Config::parse(Path::new("agent.toml"), &toml).unwrap();
    let shutdown = CancellationToken::new();
    let agent = tokio::spawn(mosaicfs_agent::run_with(
        config,
        no_watcher(),
        shutdown.clone(),
    ));
    let node_doc = format!("node::{node}");
    let generation = |doc: &Value| {
        doc["_rev"]
            .as_str()
            .unwrap()
            .split('-')
            .next()
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    wait_until(
        "5 documents and the node document (3rd revision) on the control plane",
        Duration::from_secs(90),
        || async {
            file_docs(&cp).await.len() == 5
                && cp
                    .get_value(&node_doc)
                    .await
                    .unwrap()
                    .is_some_and(|d| generation(&d) >= 3)
        },
    )
    .await;

    // The request, forked off two revisions back (as the control plane
    // would have written it before those two heartbeats reached it).
    let ancestry: Value = reqwest::Client::new()
        .get(format!(
            "{}/{}/{}?revs=true",
            cp_server().url,
            cp.db_name(),
            node_doc
        ))
        .basic_auth(&cp_server().username, Some(&cp_server().password))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut request = ancestry.clone();
    let start = ancestry["_revisions"]["start"].as_u64().unwrap();
    let ids: Vec<Value> = ancestry["_revisions"]["ids"].as_array().unwrap().clone();
    let fork = "f0".repeat(16);
    let at = mosaicfs_common::time::format(&mosaicfs_common::time::now());
    let request_rev = format!("{}-{fork}", start - 1);
    let o = request.as_object_mut().unwrap();
    o.remove("_revisions");
    o.insert("_rev".into(), json!(request_rev));
    o.insert(
        "_revisions".into(),
        json!({"start": start - 1, "ids": std::iter::once(json!(fork)).chain(ids[2..].iter().cloned()).collect::<Vec<_>>()}),
    );
    o.insert("reindex_requested_at".into(), json!(at));
    o.insert("control_updated_at".into(), json!(at));
    cp_server().write_as_replicated(&cp, json!([request])).await;
    let (winner, conflicts) = cp.get_with_conflicts(&node_doc).await.unwrap().unwrap();
    assert!(
        conflicts.contains(&request_rev) && winner.get("reindex_requested_at").is_none(),
        "the request lost CouchDB's pick: {winner} {conflicts:?}"
    );

    wait_until(
        "a reindex crawl on the agent",
        Duration::from_secs(90),
        || async { subsystem(&local, &node, "crawler").await["reindex_crawls"] == 1 },
    )
    .await;
    for (side, db) in [("local", &local), ("control plane", &cp)] {
        wait_until(
            &format!("no conflict and the request on the {side} node document"),
            Duration::from_secs(60),
            || async {
                let (doc, conflicts) = db.get_with_conflicts(&node_doc).await.unwrap().unwrap();
                conflicts.is_empty() && doc["reindex_requested_at"] == json!(at)
            },
        )
        .await;
    }
    // The losing branch was deleted, and the heartbeat goes on over the merge.
    let (doc, _) = cp.get_with_conflicts(&node_doc).await.unwrap().unwrap();
    assert_ne!(doc["_rev"], json!(request_rev));
    assert_eq!(doc["status"], "online");
    let beat = heartbeat_of(&local, &node_doc).await;
    wait_until(
        "heartbeats after the merge",
        Duration::from_secs(20),
        || {
            let (local, node_doc, beat) = (&local, &node_doc, &beat);
            async move { heartbeat_of(local, node_doc).await != *beat }
        },
    )
    .await;
    let crawler = subsystem(&local, &node, "crawler").await;
    assert_eq!(crawler["reindex_crawls"], 1, "{crawler}");

    shutdown.cancel();
    agent.await.unwrap().unwrap();
}

/// `CouchClient::get_with_conflicts`, `get_revision`, `get_merged` and
/// `update_merging` on a conflict made with `new_edits: false` (as
/// replication writes it).
#[tokio::test]
async fn conflicting_revisions_are_read_merged_and_resolved_in_one_write() {
    let db = local_server().fresh_db("conflict_client").await;
    let id = "node::merge";
    assert!(db.get_with_conflicts(id).await.unwrap().is_none());
    let base = json!({"_id": id, "type": "node", "v": 0});
    let r1 = db.put(&base).await.unwrap();
    assert_eq!(
        db.get_with_conflicts(id).await.unwrap().unwrap().1,
        Vec::<String>::new()
    );
    // Two children of r1, as two replicas would write them.
    let s = local_server();
    let http = reqwest::Client::new();
    let gen1 = r1.rev.split('-').nth(1).unwrap().to_string();
    for (hash, v) in [("a", 1), ("b", 2)] {
        let rev = format!("2-{}", hash.repeat(32));
        let resp = http
            .post(format!("{}/{}/_bulk_docs", s.url, db.db_name()))
            .basic_auth(&s.username, Some(&s.password))
            .json(&json!({"new_edits": false, "docs": [{
                "_id": id, "_rev": rev, "type": "node", "v": v,
                "_revisions": {"start": 2, "ids": [hash.repeat(32), gen1]},
            }]}))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
    }
    let (winner, conflicts) = db.get_with_conflicts(id).await.unwrap().unwrap();
    assert_eq!(conflicts.len(), 1, "{winner} {conflicts:?}");
    assert!(winner.get("_conflicts").is_none());
    let loser = db.get_revision(id, &conflicts[0]).await.unwrap().unwrap();
    assert_eq!(loser["_rev"], json!(conflicts[0]));
    assert_ne!(loser["v"], winner["v"]);
    assert!(db.get_revision(id, "9-ffff").await.unwrap().is_none());

    let sum = |revs: &[Value]| {
        let mut m = revs[0].clone();
        m["v"] = json!(revs.iter().map(|r| r["v"].as_i64().unwrap()).sum::<i64>());
        Some(m)
    };
    // Reading merges without writing.
    assert_eq!(db.get_merged(id, sum).await.unwrap().unwrap()["v"], 3);
    assert_eq!(db.get_with_conflicts(id).await.unwrap().unwrap().1.len(), 1);
    // Writing merges, applies the change and deletes the loser.
    let written = db
        .update_merging(id, sum, |d| {
            let mut d = d?;
            d["seen"] = json!(true);
            Some(d)
        })
        .await
        .unwrap()
        .unwrap();
    assert!(written.rev.starts_with("3-"), "{written:?}");
    let (doc, conflicts) = db.get_with_conflicts(id).await.unwrap().unwrap();
    assert!(conflicts.is_empty(), "{conflicts:?}");
    assert_eq!(
        (doc["v"].clone(), doc["seen"].clone()),
        (json!(3), json!(true))
    );
    // Without a conflict `merge` is not consulted.
    db.update_merging(id, |_| panic!("no conflict to merge"), |d| d)
        .await
        .unwrap();
}

/// The hourly storage write merges a conflicting node document by field
/// ownership, like the heartbeat: a rename and a disable written by the
/// control plane into the revision that lost CouchDB's pick survive, and
/// the conflict is gone.
#[tokio::test]
async fn the_storage_write_merges_a_conflicting_node_document() {
    let db = local_server().fresh_db("storage_merge").await;
    let node = test_node_id("storage-merge");
    let id = format!("node::{node}");
    let r1 = db
        .put(
            &json!({"_id": id, "type": "node", "node_id": node, "friendly_name": node,
                     "status": "online", "last_heartbeat": "2026-01-01T00:00:00Z"}),
        )
        .await
        .unwrap();
    let gen1 = r1.rev.split('-').nth(1).unwrap().to_string();
    let child = |hash: &str, fields: Value| {
        let mut d = json!({"_id": id, "type": "node", "node_id": node, "status": "online",
            "_rev": format!("2-{}", hash.repeat(32)),
            "_revisions": {"start": 2, "ids": [hash.repeat(32), gen1]}});
        d.as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());
        d
    };
    // The agent's heartbeat ("b…" wins CouchDB's pick) and the control
    // plane's rename and disable ("a…" loses).
    let agent = child(
        "b",
        json!({"friendly_name": node, "last_heartbeat": "2026-01-01T00:01:00Z"}),
    );
    let control = child(
        "a",
        json!({"friendly_name": "renamed", "disabled": true,
        "last_heartbeat": "2026-01-01T00:00:00Z", "control_updated_at": "2026-01-01T00:00:30Z"}),
    );
    local_server()
        .write_as_replicated(&db, json!([agent, control]))
        .await;
    let (winner, conflicts) = db.get_with_conflicts(&id).await.unwrap().unwrap();
    assert_eq!(
        winner["friendly_name"],
        json!(node),
        "the rename lost the pick"
    );
    assert_eq!(conflicts.len(), 1);

    mosaicfs_agent::storage::write_storage(&db, &node, &[])
        .await
        .unwrap();
    let (doc, conflicts) = db.get_with_conflicts(&id).await.unwrap().unwrap();
    assert!(conflicts.is_empty(), "{conflicts:?}");
    assert_eq!(doc["friendly_name"], "renamed", "{doc}");
    assert_eq!(doc["disabled"], true, "{doc}");
    assert_eq!(doc["last_heartbeat"], "2026-01-01T00:01:00Z", "{doc}");
    assert_eq!(doc["storage"], json!([]), "{doc}");
}
