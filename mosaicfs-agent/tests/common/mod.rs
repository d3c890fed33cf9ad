//! Shared helpers: generated trees, per-test databases, document queries.

use mosaicfs_common::couch::CouchClient;
use mosaicfs_common::ids;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use mosaicfs_testsupport::{CouchServer, server};

/// The agent-local server of a test.
pub fn local_server() -> &'static CouchServer {
    server("a")
}

/// The control-plane server of a test.
pub fn cp_server() -> &'static CouchServer {
    server("b")
}

/// Writes a tree of `n` files of varied sizes and names under `root`:
/// nested directories, an empty file, spaces and non-ASCII in names.
pub fn make_tree(root: &Path, n: usize) -> Vec<PathBuf> {
    let mut files = Vec::with_capacity(n);
    for i in 0..n {
        let dir = root
            .join(format!("d{}", i % 7))
            .join(format!("sub {}", i % 3));
        std::fs::create_dir_all(&dir).unwrap();
        let name = match i % 5 {
            0 => format!("report {i}.pdf"),
            1 => format!("photo-{i}.jpg"),
            2 => format!("naïve résumé {i}.txt"),
            3 => format!("日本語{i}.md"),
            _ => format!("data_{i}"),
        };
        let path = dir.join(name);
        std::fs::write(&path, vec![b'x'; (i * 37) % 5000]).unwrap();
        files.push(path);
    }
    files
}

/// All file documents in `db` (any node), keyed by export path.
pub async fn file_docs(db: &CouchClient) -> Vec<Value> {
    let mut docs = Vec::new();
    db.for_each_prefix_page(ids::FILE_PREFIX, 1000, true, |rows| {
        docs.extend(rows.into_iter().filter_map(|r| r.doc));
    })
    .await
    .unwrap();
    docs
}

/// The file document for `path`.
pub async fn doc_for(db: &CouchClient, path: &Path) -> Value {
    let p = path.to_string_lossy();
    file_docs(db)
        .await
        .into_iter()
        .find(|d| d["source"]["export_path"] == *p)
        .unwrap_or_else(|| panic!("no document for {p}"))
}

/// Polls `check` until it returns true or `timeout` passes.
pub async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < timeout {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("timed out after {timeout:?} waiting for {what}");
}

/// The `update_seq` of a database, as text (opaque).
pub async fn update_seq(db: &CouchClient) -> String {
    db.db_info().await.unwrap()["update_seq"].to_string()
}

/// An agent.toml for a test.
pub fn agent_toml(
    watch: &Path,
    state: &Path,
    node_id: &str,
    local: &CouchClient,
    cp: &CouchClient,
    heartbeat_secs: u64,
) -> String {
    let l = local_server();
    let c = cp_server();
    format!(
        r#"control_plane_url = "https://localhost:8443"
access_key_id = "MOSAICFS_0123456789ABCDEF"
secret_key = "test-secret"
watch_paths = [{watch:?}]
state_dir = {state:?}
node_id = "{node_id}"
heartbeat_interval_secs = {heartbeat_secs}

[couchdb]
url = "{lurl}"
database = "{ldb}"
username = "{luser}"
password = "{lpass}"

[replication]
url = "{curl}"
database = "{cdb}"
username = "{cuser}"
password = "{cpass}"
"#,
        lurl = l.url,
        ldb = local.db_name(),
        luser = l.username,
        lpass = l.password,
        curl = c.url,
        cdb = cp.db_name(),
        cuser = c.username,
        cpass = c.password,
    )
}

/// A unique node id for a test.
pub fn test_node_id(name: &str) -> String {
    format!("node-{name}-{}", std::process::id())
}
