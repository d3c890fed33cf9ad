//! Plan Phase 8's milestone, for real: a control plane with a running
//! agent, virtual directories, a plugin configuration and a network mount;
//! a minimal backup; the control plane destroyed (server stopped, its
//! database deleted) and recreated empty; the backup restored; the agent
//! restarted: it reconnects, crawls again, and its files, its node document
//! (with the restored network mount) and the restored directories are all
//! there, listing its files.

use crate::common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

async fn wait_for<F, Fut>(what: &str, secs: u64, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("timed out after {secs} s waiting for {what}");
}

fn agent_config(
    s: &TestServer,
    cp: &Cp,
    watch: &std::path::Path,
    state: &std::path::Path,
    node: &str,
    local: &str,
) -> mosaicfs_agent::config::Config {
    let l = couch_server("b");
    let toml = format!(
        r#"control_plane_url = "{url}"
access_key_id = "MOSAICFS_0123456789ABCDEF"
secret_key = "test-secret"
watch_paths = [{watch:?}]
state_dir = {state:?}
node_id = "{node}"
heartbeat_interval_secs = 1

[couchdb]
url = "{lurl}"
database = "{local}"
username = "{luser}"
password = "{lpass}"

[replication]
url = "{curl}"
database = "{cdb}"
username = "{cuser}"
password = "{cpass}"
"#,
        url = s.url,
        lurl = l.url,
        luser = l.username,
        lpass = l.password,
        curl = cp.url,
        cdb = s.db.db_name(),
        cuser = CP_USER,
        cpass = CP_PASSWORD,
    );
    mosaicfs_agent::config::Config::parse(std::path::Path::new("agent.toml"), &toml).unwrap()
}

const CP_USER: &str = "admin";
const CP_PASSWORD: &str = "m8-password";

/// The control plane's own CouchDB-protocol server (pouchdb-server through
/// scripts/couchdb.sh), so the test can destroy it and start a new, empty one
/// at the same address, as recreating the Compose stack does.
struct Cp {
    url: String,
    dir: std::path::PathBuf,
}

impl Cp {
    fn start(port: u16, dir: &std::path::Path) -> Cp {
        let out = std::process::Command::new(
            mosaicfs_testsupport::repo_root().join("scripts/couchdb.sh"),
        )
        .args(["start", "--port", &port.to_string(), "--dir"])
        .arg(dir)
        .args(["--user", CP_USER, "--password", CP_PASSWORD])
        .output()
        .unwrap();
        assert!(
            out.status.success(),
            "couchdb.sh start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Cp {
            url: String::from_utf8_lossy(&out.stdout).trim().to_string(),
            dir: dir.to_path_buf(),
        }
    }

    fn stop(&self) {
        let _ = std::process::Command::new(
            mosaicfs_testsupport::repo_root().join("scripts/couchdb.sh"),
        )
        .args(["stop", "--dir"])
        .arg(&self.dir)
        .status();
    }

    fn client(&self, db: &str) -> mosaicfs_common::couch::CouchClient {
        mosaicfs_common::couch::CouchClient::new(&mosaicfs_common::couch::CouchConfig {
            url: self.url.clone(),
            database: db.into(),
            username: Some(CP_USER.into()),
            password: Some(CP_PASSWORD.into()),
        })
        .unwrap()
    }

    async fn server(&self, data_dir: &std::path::Path) -> TestServer {
        let db = self.client("mosaicfs");
        db.ensure_db().await.unwrap();
        let url = self.url.clone();
        TestServer::start_with(db, data_dir, move |c| {
            // The conflict watcher merges node documents every 2 s.
            c.monitor_interval_secs = 2;
            c.couchdb_url = url;
            c.couchdb_user = Some(CP_USER.into());
            c.couchdb_password = Some(CP_PASSWORD.into());
        })
        .await
    }
}

impl Drop for Cp {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn files_of(s: &TestServer, node: &str) -> usize {
    let mut n = 0;
    s.db.for_each_prefix_page("file::", 500, true, |rows| {
        n += rows
            .iter()
            .filter(|r| {
                r.doc
                    .as_ref()
                    .is_some_and(|d| d["source"]["node_id"] == node)
            })
            .count();
    })
    .await
    .unwrap();
    n
}

#[tokio::test]
async fn minimal_backup_fresh_control_plane_restore_agents_reconnect_and_recrawl() {
    let tmp = tempfile::tempdir().unwrap();
    let watch = tmp.path().join("watch");
    std::fs::create_dir_all(watch.join("docs")).unwrap();
    for i in 0..25 {
        std::fs::write(
            watch.join("docs").join(format!("r{i}.pdf")),
            format!("pdf {i}"),
        )
        .unwrap();
    }
    let node = format!("m8-{}", std::process::id());
    let local = couch_server("b").fresh_db("m8_local").await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cp = Cp::start(port, &tmp.path().join("couch1"));

    // 1. The first control plane, with a running agent.
    let s = cp.server(&tmp.path().join("server1")).await;
    let token = s.token().await;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let agent = tokio::spawn(mosaicfs_agent::run(
        agent_config(
            &s,
            &cp,
            &watch,
            &tmp.path().join("state"),
            &node,
            local.db_name(),
        ),
        shutdown.clone(),
    ));
    wait_for("the agent's 25 files on the control plane", 90, || async {
        files_of(&s, &node).await == 25
    })
    .await;
    let r = s
        .authed(Method::POST, "/api/nodes", &token)
        .json(&json!({"node_id": "nas", "friendly_name": "NAS", "platform": "linux", "access_key_id": ADMIN_KEY}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = s
        .authed(Method::POST, &format!("/api/nodes/{node}/mounts"), &token)
        .json(
            &json!({"remote_node_id": "nas", "remote_base_export_path": "/volume1",
            "local_mount_path": "/mnt/nas", "mount_type": "nfs"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap()
    );
    let r = s
        .authed(Method::POST, "/api/vfs/directories", &token)
        .json(&json!({"virtual_path": "/papers", "mounts": [{"source": {"node_id": node, "export_path": watch.join("docs")},
            "strategy": "flatten", "steps": [{"op": "glob", "pattern": "*.pdf"}]}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap()
    );
    s.db.put(&json!({"_id": format!("plugin::{node}::ocr"), "type": "plugin", "node_id": node,
        "plugin_name": "ocr", "plugin_type": "executable", "enabled": true, "name": "OCR",
        "subscribed_events": ["file.added"], "mime_globs": ["application/pdf"], "config": {"lang": "en"},
        "created_at": "2026-01-01T00:00:00Z"}))
        .await
        .unwrap();
    let backup = s
        .authed(Method::GET, "/api/system/backup?type=minimal", &token)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec();
    let docs: Value = serde_json::from_slice(&backup).unwrap();
    assert!(
        docs["docs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["type"] != "file"),
        "a minimal backup holds no files: the agent brings them back"
    );

    // 2. Destroy the control plane: the agent and the server stop, the
    // CouchDB server is stopped with its data, and a new empty one starts at
    // the same address (the agent's CouchDB keeps trying to replicate to it
    // meanwhile, as it would in production).
    shutdown.cancel();
    agent.await.unwrap().unwrap();
    s.stop().await;
    cp.stop();
    drop(cp);
    let cp = Cp::start(port, &tmp.path().join("couch2"));
    let s2 = cp.server(&tmp.path().join("server2")).await;
    let token = s2.token().await;
    let ready: Value = s2
        .authed(Method::GET, "/api/system/restore", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["empty"], true, "{ready}");

    // 3. Restore.
    let r = s2
        .authed(Method::POST, "/api/system/restore", &token)
        .header("content-type", "application/json")
        .body(backup)
        .send()
        .await
        .unwrap();
    let text = r.text().await.unwrap();
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert!(answer["restored_count"].as_u64().unwrap() >= 5, "{text}");
    let papers = s2
        .authed(Method::GET, "/api/vfs/directories/papers", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(papers.status(), StatusCode::OK);
    assert!(
        s2.db
            .get_value(&format!("plugin::{node}::ocr"))
            .await
            .unwrap()
            .is_some()
    );

    // 4. The agent comes back: it reconnects, crawls, and its files return.
    let shutdown = tokio_util::sync::CancellationToken::new();
    let agent = tokio::spawn(mosaicfs_agent::run(
        agent_config(
            &s2,
            &cp,
            &watch,
            &tmp.path().join("state"),
            &node,
            local.db_name(),
        ),
        shutdown.clone(),
    ));
    std::fs::write(watch.join("docs").join("new.pdf"), b"after the restore").unwrap();
    wait_for(
        "the agent's 26 files on the new control plane",
        120,
        || async {
            let n = files_of(&s2, &node).await;
            n == 26
        },
    )
    .await;
    wait_for("the directory to list the files again", 60, || async {
        let r = s2
            .authed(Method::GET, "/api/vfs?path=/papers", &token)
            .send()
            .await
            .unwrap();
        r.status() == StatusCode::OK
            && r.json::<Value>().await.unwrap()["entries"]
                .as_array()
                .map(Vec::len)
                == Some(26)
    })
    .await;
    // The node document: online again, with the restored mount.
    let end = Instant::now() + Duration::from_secs(120);
    loop {
        let n = s2
            .db
            .get_with_conflicts(&format!("node::{node}"))
            .await
            .unwrap();
        if let Some((d, _)) = &n
            && d["status"] == "online"
            && d["network_mounts"][0]["local_mount_path"] == "/mnt/nas"
        {
            break;
        }
        assert!(
            Instant::now() < end,
            "the node is not online with its restored mount: {n:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    shutdown.cancel();
    agent.await.unwrap().unwrap();
}
