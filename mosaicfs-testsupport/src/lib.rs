//! Test support: real CouchDB-protocol servers and per-test databases.
//!
//! [`server`] returns a running server by name (`"a"`, `"b"`, …). If
//! `MOSAICFS_TEST_COUCHDB_{NAME}` is set (as `scripts/test.sh` does), that
//! URL is used; otherwise a pouchdb-server is started through
//! `scripts/couchdb.sh` on a free port, and a watchdog stops it when the test
//! process exits. A server that cannot be started fails the test with the
//! script's message; tests never skip silently.
#![warn(missing_docs)]

use mosaicfs_common::couch::{CouchClient, CouchConfig};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

/// Admin user of test servers.
pub const USER: &str = "admin";
/// Admin password of test servers started here.
pub const PASSWORD: &str = "test-password";

/// A running CouchDB-protocol server.
#[derive(Debug)]
pub struct CouchServer {
    /// Base URL without credentials.
    pub url: String,
    /// Admin user.
    pub username: String,
    /// Admin password.
    pub password: String,
}

impl CouchServer {
    /// Connection settings for database `db` on this server.
    pub fn config(&self, db: &str) -> CouchConfig {
        CouchConfig {
            url: self.url.clone(),
            database: db.to_string(),
            username: Some(self.username.clone()),
            password: Some(self.password.clone()),
        }
    }

    /// A client for `db` (not created).
    pub fn client(&self, db: &str) -> CouchClient {
        CouchClient::new(&self.config(db)).expect("test server config is valid")
    }

    /// Writes `docs` into `db` as they are, revisions included
    /// (`_bulk_docs` with `new_edits: false`, as replication writes them):
    /// how tests make conflicts.
    pub async fn write_as_replicated(&self, db: &CouchClient, docs: serde_json::Value) {
        let resp = reqwest::Client::new()
            .post(format!("{}/{}/_bulk_docs", self.url, db.db_name()))
            .basic_auth(&self.username, Some(&self.password))
            .json(&serde_json::json!({"new_edits": false, "docs": docs}))
            .send()
            .await
            .expect("the test server answers");
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        assert!(
            status.is_success(),
            "_bulk_docs (new_edits: false): {status} {text}"
        );
    }

    /// A new empty database with a unique name starting with `prefix`.
    pub async fn fresh_db(&self, prefix: &str) -> CouchClient {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "t_{}_{}_{}",
            prefix
                .to_lowercase()
                .replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let db = self.client(&name);
        db.ensure_db()
            .await
            .unwrap_or_else(|e| panic!("cannot create test database {name} on {}: {e}", self.url));
        db
    }
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("crate lives in the workspace")
        .to_path_buf()
}

/// The server called `name`, started on first use.
pub fn server(name: &'static str) -> &'static CouchServer {
    static SERVERS: OnceLock<Mutex<HashMap<&'static str, &'static CouchServer>>> = OnceLock::new();
    let servers = SERVERS.get_or_init(Default::default);
    let mut map = servers.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(s) = map.get(name) {
        return s;
    }
    let env_key = format!("MOSAICFS_TEST_COUCHDB_{}", name.to_uppercase());
    let server = match std::env::var(&env_key) {
        Ok(url) if !url.is_empty() => CouchServer {
            url,
            username: std::env::var("MOSAICFS_TEST_COUCHDB_USER").unwrap_or_else(|_| USER.into()),
            password: std::env::var("MOSAICFS_TEST_COUCHDB_PASSWORD")
                .unwrap_or_else(|_| PASSWORD.into()),
        },
        _ => start_server(name),
    };
    let leaked: &'static CouchServer = Box::leak(Box::new(server));
    map.insert(name, leaked);
    leaked
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("cannot find a free port on 127.0.0.1")
}

fn start_server(name: &str) -> CouchServer {
    let script = repo_root().join("scripts/couchdb.sh");
    let dir =
        std::env::temp_dir().join(format!("mosaicfs-test-couch-{}-{name}", std::process::id()));
    let mut last_error = String::new();
    for _ in 0..3 {
        let _ = std::fs::remove_dir_all(&dir);
        let port = free_port();
        let out = Command::new(&script)
            .args(["start", "--port", &port.to_string(), "--dir"])
            .arg(&dir)
            .args(["--user", USER, "--password", PASSWORD])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        if out.status.success() {
            let url = String::from_utf8_lossy(&out.stdout).trim().to_string();
            spawn_watchdog(&script, &dir);
            return CouchServer {
                url,
                username: USER.into(),
                password: PASSWORD.into(),
            };
        }
        last_error = String::from_utf8_lossy(&out.stderr).into_owned();
    }
    panic!(
        "could not start a test CouchDB with {}:\n{last_error}",
        script.display()
    );
}

/// Stops the server when this process exits, however it exits.
fn spawn_watchdog(script: &Path, dir: &Path) {
    let cmd = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; exec '{script}' stop --dir '{dir}'",
        pid = std::process::id(),
        script = script.display(),
        dir = dir.display()
    );
    let _ = Command::new("bash")
        .args(["-c", &cmd])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
}
