//! The running agent: documents reach the control plane by replication,
//! the filters hold in both directions, the heartbeat advances and shutdown
//! marks the node offline.

use crate::common::*;
use mosaicfs_agent::config::Config;
use serde_json::json;
use std::path::Path;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn the_agent_replicates_its_documents_to_the_control_plane_and_no_more() {
    let tmp = tempfile::tempdir().unwrap();
    let watch = tmp.path().join("watch");
    make_tree(&watch, 120);
    let local = local_server().fresh_db("agent_local").await;
    let cp = cp_server().fresh_db("agent_cp").await;
    let node = test_node_id("repl");
    let toml = agent_toml(&watch, &tmp.path().join("state"), &node, &local, &cp, 1);
    let config = Config::parse(Path::new("agent.toml"), &toml).unwrap();

    // Documents that must not travel: a credential written locally, and a
    // credential and another node's plugin on the control plane.
    local
        .put(&json!({"_id": "credential::MOSAICFS_AAAAAAAAAAAAAAAA", "type": "credential"}))
        .await
        .unwrap();
    cp.put(&json!({"_id": "credential::MOSAICFS_BBBBBBBBBBBBBBBB", "type": "credential"}))
        .await
        .unwrap();
    cp.put(&json!({"_id": "plugin::node-other::ocr", "type": "plugin", "node_id": "node-other"}))
        .await
        .unwrap();
    // Documents that must reach the agent: a directory and its own plugin.
    cp.put(&json!({"_id": "dir::root", "type": "virtual_directory", "virtual_path": "/"}))
        .await
        .unwrap();
    cp.put(&json!({"_id": format!("plugin::{node}::ocr"), "type": "plugin", "node_id": node}))
        .await
        .unwrap();

    let shutdown = CancellationToken::new();
    let agent = tokio::spawn(mosaicfs_agent::run(config, shutdown.clone()));

    wait_until(
        "120 file documents on the control plane",
        Duration::from_secs(60),
        || async { file_docs(&cp).await.len() == 120 },
    )
    .await;
    let local_ids: Vec<_> = file_docs(&local)
        .await
        .iter()
        .map(|d| d["_id"].clone())
        .collect();
    let cp_ids: Vec<_> = file_docs(&cp)
        .await
        .iter()
        .map(|d| d["_id"].clone())
        .collect();
    assert_eq!(local_ids, cp_ids, "the same documents on both sides");

    wait_until(
        "the pulled directory and plugin",
        Duration::from_secs(30),
        || async {
            local.get_value("dir::root").await.unwrap().is_some()
                && local
                    .get_value(&format!("plugin::{node}::ocr"))
                    .await
                    .unwrap()
                    .is_some()
        },
    )
    .await;

    // The node document travels and its heartbeat advances on the control plane.
    let node_id = format!("node::{node}");
    wait_until(
        "node document on the control plane",
        Duration::from_secs(30),
        || async { cp.get_value(&node_id).await.unwrap().is_some() },
    )
    .await;
    let first = cp.get_value(&node_id).await.unwrap().unwrap()["last_heartbeat"].clone();
    wait_until(
        "a later heartbeat on the control plane",
        Duration::from_secs(30),
        || async {
            let doc = cp.get_value(&node_id).await.unwrap().unwrap();
            doc["last_heartbeat"] != first && doc["status"] == "online"
        },
    )
    .await;

    assert!(
        cp.get_value("credential::MOSAICFS_AAAAAAAAAAAAAAAA")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        local
            .get_value("credential::MOSAICFS_BBBBBBBBBBBBBBBB")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        local
            .get_value("plugin::node-other::ocr")
            .await
            .unwrap()
            .is_none()
    );
    assert!(local.get_value("_design/mosaicfs").await.unwrap().is_some());

    shutdown.cancel();
    agent.await.unwrap().unwrap();
    let doc = local.get_value(&node_id).await.unwrap().unwrap();
    assert_eq!(doc["status"], "offline");
    wait_until(
        "offline status on the control plane",
        Duration::from_secs(30),
        || async { cp.get_value(&node_id).await.unwrap().unwrap()["status"] == "offline" },
    )
    .await;
}

#[tokio::test]
async fn the_design_document_is_installed_updated_and_never_downgraded() {
    use mosaicfs_common::replication::{DESIGN_DOC_ID, ensure_design_document};
    let db = local_server().fresh_db("design").await;
    assert!(ensure_design_document(&db).await.unwrap(), "installed");
    assert!(
        !ensure_design_document(&db).await.unwrap(),
        "unchanged: no write"
    );

    // An older version is replaced.
    let mut old = db.get_value(DESIGN_DOC_ID).await.unwrap().unwrap();
    old["mosaicfs_version"] = json!(0);
    old["filters"]["agent_push"] = json!("function (doc) { return true; }");
    db.put(&old).await.unwrap();
    assert!(ensure_design_document(&db).await.unwrap());
    let now = db.get_value(DESIGN_DOC_ID).await.unwrap().unwrap();
    assert_ne!(
        now["filters"]["agent_push"],
        "function (doc) { return true; }"
    );

    // A newer one (written by a newer program) is left alone.
    let mut newer = now.clone();
    newer["mosaicfs_version"] = json!(99);
    newer["filters"]["future"] = json!("function (doc) { return false; }");
    db.put(&newer).await.unwrap();
    assert!(!ensure_design_document(&db).await.unwrap());
    let kept = db.get_value(DESIGN_DOC_ID).await.unwrap().unwrap();
    assert_eq!(kept["mosaicfs_version"], 99);
}
