//! A test environment: a server on its own database and data directory,
//! running as node `server-node` whose watch path is `{tmp}/files` (so the
//! server serves file content from its own disk), a config home for the CLI,
//! and helpers to run the real `mosaicfs-cli` binary.

#![allow(dead_code)]

use mosaicfs_server::config::ServerConfig;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The bootstrap credential of every test server.
pub const ADMIN_KEY: &str = "MOSAICFS_00000000000000AD";
/// Its secret.
pub const ADMIN_SECRET: &str = "bootstrap-secret-for-tests";
/// The node the server runs on.
pub const NODE: &str = "server-node";

/// The output of one CLI run.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// stdout as JSON (panics with both streams when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }

    /// Asserts the exit code, showing both streams otherwise.
    pub fn expect(self, code: i32) -> Out {
        assert_eq!(self.code, code, "{self:#?}");
        self
    }

    /// Asserts that stderr is one line (the error) mentioning `needle`.
    pub fn expect_error(self, code: i32, needle: &str) -> Out {
        let out = self.expect(code);
        assert!(
            out.stderr.contains(needle),
            "expected {needle:?} in {out:#?}"
        );
        let lines: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| !l.starts_with("WARNING"))
            .collect();
        assert_eq!(lines.len(), 1, "one line of error: {out:#?}");
        assert!(!out.stderr.contains("panicked"), "{out:#?}");
        out
    }
}

/// Stops the server (cancels its shutdown token) when dropped.
struct CancelOnDrop(tokio_util::sync::CancellationToken);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// A running server and a place for the CLI to live.
pub struct Env {
    pub url: String,
    pub fingerprint: String,
    pub db: mosaicfs_common::couch::CouchClient,
    pub tmp: tempfile::TempDir,
    _stop: CancelOnDrop,
}

impl Env {
    pub async fn start() -> Env {
        let tmp = tempfile::tempdir().unwrap();
        let couch = mosaicfs_testsupport::server("a");
        let db = couch.fresh_db("cli").await;
        let config = ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: tmp.path().join("data"),
            couchdb_url: couch.url.clone(),
            couchdb_database: db.db_name().to_string(),
            couchdb_user: Some(couch.username.clone()),
            couchdb_password: Some(couch.password.clone()),
            node_id: Some(NODE.into()),
            max_body_bytes: 1024 * 1024,
            bootstrap_credential: Some(format!("{ADMIN_KEY}:{ADMIN_SECRET}")),
            ..mosaicfs_server::config::ServerConfig::defaults()
        };
        let listener = tokio::net::TcpListener::bind(config.listen).await.unwrap();
        let shutdown = tokio_util::sync::CancellationToken::new();
        let running = mosaicfs_server::start(config, listener, shutdown.clone())
            .await
            .unwrap();
        for d in ["files", "work", "config"] {
            std::fs::create_dir_all(tmp.path().join(d)).unwrap();
        }
        db.put(&json!({
            "_id": format!("node::{NODE}"), "type": "node", "node_id": NODE,
            "friendly_name": "The server", "platform": "linux", "status": "online",
            "last_heartbeat": mosaicfs_common::time::format(&mosaicfs_common::time::now()),
            "watch_paths": [tmp.path().join("files")]
        }))
        .await
        .unwrap();
        Env {
            url: format!("https://127.0.0.1:{}", running.addr.port()),
            fingerprint: running.tls_fingerprint,
            db,
            tmp,
            _stop: CancelOnDrop(shutdown),
        }
    }

    /// The CLI's `XDG_CONFIG_HOME`.
    pub fn config_home(&self) -> PathBuf {
        self.tmp.path().join("config")
    }

    /// The CLI's configuration file.
    pub fn config_file(&self) -> PathBuf {
        self.config_home().join("mosaicfs/cli.toml")
    }

    /// The CLI's working directory.
    pub fn work(&self) -> PathBuf {
        self.tmp.path().join("work")
    }

    /// Runs the CLI with `args` and extra environment variables, in a clean
    /// environment (no MOSAICFS_* variables from the test's own).
    pub async fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Out {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_mosaicfs-cli"));
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.tmp.path())
            .env("XDG_CONFIG_HOME", self.config_home())
            .current_dir(self.work())
            .stdin(std::process::Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
            .await
            .expect("the CLI finished within 60 s")
            .unwrap();
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs the CLI with `args`.
    pub async fn run(&self, args: &[&str]) -> Out {
        self.run_with(args, &[]).await
    }

    /// Logs in with the bootstrap credential, pinning by fingerprint.
    pub async fn login(&self) -> Out {
        self.run(&[
            "login",
            &self.url,
            "--access-key-id",
            ADMIN_KEY,
            "--secret-key",
            ADMIN_SECRET,
            "--tls-fingerprint",
            &self.fingerprint,
        ])
        .await
        .expect(0)
    }

    /// Writes `content` to `{tmp}/files/{name}`, indexes it as a file of
    /// the server's node and waits until search finds it. Returns its id.
    pub async fn add_file(&self, id: &str, name: &str, content: &[u8]) -> PathBuf {
        let path = self.tmp.path().join("files").join(name);
        std::fs::write(&path, content).unwrap();
        self.db.put(&file_doc(id, &path)).await.unwrap();
        for _ in 0..100 {
            let out = self.run(&["--json", "files", "search", name]).await;
            if out.code == 0 && out.stdout.contains(id) {
                return path;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the index never found {id}");
    }

    /// The stored session token.
    pub fn token(&self) -> String {
        let text = std::fs::read_to_string(self.config_file()).unwrap();
        let t: toml::Table = toml::from_str(&text).unwrap();
        t["token"].as_str().unwrap().to_string()
    }

    /// A reqwest client that trusts exactly the server's certificate.
    pub fn http(&self) -> reqwest::Client {
        let pem = std::fs::read(self.tmp.path().join("data/tls-cert.pem")).unwrap();
        reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
            .tls_built_in_root_certs(false)
            .build()
            .unwrap()
    }
}

/// A file document for `path` on the server's node.
pub fn file_doc(id: &str, path: &Path) -> Value {
    let md = std::fs::metadata(path).unwrap();
    let mtime = mosaicfs_common::time::from_system_time(md.modified().unwrap());
    json!({
        "_id": id, "type": "file", "inode": 4242,
        "name": path.file_name().unwrap().to_string_lossy(),
        "source": {"node_id": NODE, "export_path": path.to_string_lossy(),
                   "export_parent": path.parent().unwrap().to_string_lossy()},
        "size": md.len(), "mtime": mosaicfs_common::time::format(&mtime),
        "mime_type": "application/pdf", "status": "active"
    })
}

/// Deterministic test bytes.
pub fn bytes(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 253) as u8).collect()
}
