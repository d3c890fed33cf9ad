//! The agent's notifications raised by their real causes and resolved by
//! clearing them (plan 7.2): the `mosaicfs-agent run` binary as the
//! unprivileged user `nobody` (so that permissions apply), watching a
//! directory on a 1 MiB tmpfs and a directory we make unreadable, with the
//! control plane's CouchDB behind a proxy we cut.

use crate::common::*;
use crate::reconcile::{Switch, socket_of};
use mosaicfs_common::couch::CouchClient;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_mosaicfs-agent");

/// Unmounts on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(at).unwrap();
        let st = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(at)
            .status()
            .expect("mount runs");
        assert!(
            st.success(),
            "mount -t tmpfs failed (the tests run as root)"
        );
        Tmpfs(at.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Kills the agent on drop.
struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn notification(db: &CouchClient, node: &str, key: &str) -> Option<Value> {
    db.get_value(&format!("notification::{node}::{key}"))
        .await
        .unwrap()
}

async fn wait_status(db: &CouchClient, node: &str, key: &str, status: &str, log: &Path) {
    let what = format!("{key} to be {status}");
    let timeout = Duration::from_secs(60);
    let start = std::time::Instant::now();
    while start.elapsed() < timeout {
        if let Some(d) = notification(db, node, key).await
            && d["status"] == status
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!(
        "timed out waiting for {what}; agent log:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

#[tokio::test]
async fn each_condition_raises_its_notification_and_clearing_it_resolves_it() {
    let base = tempfile::Builder::new()
        .prefix("mosaicfs-notify")
        .tempdir_in("/tmp")
        .unwrap();
    let root = base.path();
    std::fs::set_permissions(root, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let small = Tmpfs::mount(&root.join("small"), "1m");
    let on_small = small.0.join("w");
    std::fs::create_dir_all(&on_small).unwrap();
    std::fs::write(on_small.join("a.txt"), b"a").unwrap();
    let locked = root.join("locked");
    make_tree(&locked, 3);
    for e in walkdir::WalkDir::new(&locked)
        .into_iter()
        .filter_map(Result::ok)
    {
        let mode = if e.file_type().is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(e.path(), std::os::unix::fs::PermissionsExt::from_mode(mode))
            .unwrap();
    }
    let state = root.join("state");
    std::fs::create_dir_all(&state).unwrap();
    std::os::unix::fs::chown(&state, Some(65534), Some(65534)).unwrap();

    let local = local_server().fresh_db("notify_local").await;
    let cp = cp_server().fresh_db("notify_cp").await;
    let node = test_node_id("notify");
    let switch = Switch::start(socket_of(&cp_server().url)).await;
    let toml = agent_toml(&on_small, &state, &node, &local, &cp, 30)
        .replace(
            &format!("watch_paths = [{on_small:?}]"),
            &format!("watch_paths = [{on_small:?}, {locked:?}]\nnotification_check_secs = 1"),
        )
        .replace(
            &format!("url = \"{}\"", cp_server().url),
            &format!("url = \"http://{}\"", switch.addr),
        );
    assert!(toml.contains("notification_check_secs"));
    let cfg = root.join("agent.toml");
    std::fs::write(&cfg, toml).unwrap();
    std::fs::set_permissions(&cfg, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let log = root.join("agent.log");
    let _agent = Agent(
        Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                BIN,
                "--config",
            ])
            .arg(&cfg)
            .arg("run")
            .env("MOSAICFS_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("setpriv (util-linux) runs the agent as nobody"),
    );

    // First crawl complete (info, once).
    wait_status(&local, &node, "first_crawl_complete", "active", &log).await;
    let first = notification(&local, &node, "first_crawl_complete")
        .await
        .unwrap();
    assert_eq!(first["severity"], "info");
    assert_eq!(first["source"]["node_id"], node.as_str());

    // Storage near capacity: fill the 1 MiB filesystem, then empty it.
    std::fs::write(on_small.join("big.bin"), vec![7u8; 960 * 1024]).unwrap();
    let prefix = format!("notification::{node}::storage_near_capacity:");
    let mut key = String::new();
    let start = std::time::Instant::now();
    while key.is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no storage_near_capacity notification; agent log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        let rows = local
            .all_docs_range(&prefix, &format!("{prefix}\u{fff0}"), 10, 0, true)
            .await
            .unwrap();
        if let Some(d) = rows
            .into_iter()
            .filter_map(|r| r.doc)
            .find(|d| d["status"] == "active")
        {
            key = d["condition_key"].as_str().unwrap().to_string();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let doc = notification(&local, &node, &key).await.unwrap();
    assert_eq!(doc["severity"], "warning");
    assert!(doc["title"].as_str().unwrap().contains("% full"), "{doc}");
    std::fs::remove_file(on_small.join("big.bin")).unwrap();
    wait_status(&local, &node, &key, "resolved", &log).await;

    // Watch path inaccessible: chmod it away from nobody, then back.
    let lkey = format!("watch_path_inaccessible:{}", locked.display());
    std::fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    wait_status(&local, &node, &lkey, "active", &log).await;
    assert_eq!(
        notification(&local, &node, &lkey).await.unwrap()["severity"],
        "error"
    );
    std::fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    wait_status(&local, &node, &lkey, "resolved", &log).await;

    // The agent's notifications reach the control plane by flow 1.
    wait_until(
        "notifications on the control plane",
        Duration::from_secs(60),
        || {
            let cp = cp.clone();
            let id = format!("notification::{node}::{lkey}");
            async move {
                cp.get_value(&id)
                    .await
                    .unwrap()
                    .is_some_and(|d| d["status"] == "resolved")
            }
        },
    )
    .await;

    // Replication error: the control plane's CouchDB goes away, comes back.
    switch.cut();
    wait_status(&local, &node, "replication_error", "active", &log).await;
    switch.restore();
    wait_status(&local, &node, "replication_error", "resolved", &log).await;
}
