//! The control plane's periodic notifications (plan 7.4) raised by their
//! real causes: a data directory on a small tmpfs filled up, a credential
//! unused for 100 days, conflicting revisions of a virtual directory
//! (reported) and of a node document (merged).

use crate::common::*;
use mosaicfs_common::couch::CouchClient;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

async fn wait_status(db: &CouchClient, key: &str, status: &str) -> Value {
    let id = format!("notification::control_plane::{key}");
    let start = Instant::now();
    loop {
        if let Some(d) = db.get_value(&id).await.unwrap()
            && d["status"] == status
        {
            return d;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{id} never became {status}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

struct Tmpfs(std::path::PathBuf);
impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[tokio::test]
async fn disk_credentials_and_conflicts_raise_and_resolve() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    assert!(
        std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
            .arg(&data)
            .status()
            .unwrap()
            .success()
    );
    let _mounted = Tmpfs(data.clone());
    let db = couch_server("a").fresh_db("monitor").await;
    let s = TestServer::start_with(db, &data, |c| c.monitor_interval_secs = 1).await;
    let token = s.token().await;

    // Disk: fill the data directory's filesystem past 90 %, then free it.
    std::fs::write(data.join("filler"), vec![0u8; 3900 * 1024]).unwrap();
    let d = wait_status(&s.db, "control_plane_disk_low", "active").await;
    assert_eq!(d["severity"], "warning");
    std::fs::remove_file(data.join("filler")).unwrap();
    wait_status(&s.db, "control_plane_disk_low", "resolved").await;

    // A credential unused for 100 days; disabling it resolves the warning.
    let r = s
        .authed(Method::POST, "/api/credentials", &token)
        .json(&json!({"name": "old"}))
        .send()
        .await
        .unwrap();
    let key = r.json::<Value>().await.unwrap()["access_key_id"]
        .as_str()
        .unwrap()
        .to_string();
    let id = format!("credential::{key}");
    let mut cred = s.db.get_value(&id).await.unwrap().unwrap();
    let old = mosaicfs_common::time::format(&(chrono::Utc::now() - chrono::Duration::days(100)));
    cred["created_at"] = json!(old);
    s.db.put(&cred).await.unwrap();
    let cond = format!("credential_inactive:{key}");
    let d = wait_status(&s.db, &cond, "active").await;
    assert!(d["message"].as_str().unwrap().contains("100 days"), "{d}");
    let r = s
        .authed(Method::PATCH, &format!("/api/credentials/{key}"), &token)
        .json(&json!({"enabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    wait_status(&s.db, &cond, "resolved").await;

    // A virtual directory with two leaves (written apart): reported.
    let r = s
        .authed(Method::POST, "/api/vfs/directories", &token)
        .json(&json!({"virtual_path": "/split"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let dir_id = mosaicfs_common::ids::dir_id("/split");
    let mut other = s.db.get_value(&dir_id).await.unwrap().unwrap();
    other["_rev"] = json!("1-00000000000000000000000000000001");
    other["enforce_steps_on_children"] = json!(true);
    couch_server("a")
        .write_as_replicated(&s.db, json!([other]))
        .await;
    let cond = format!("conflicts:{dir_id}");
    let d = wait_status(&s.db, &cond, "active").await;
    assert!(d["message"].as_str().unwrap().contains("/split"), "{d}");
    let (_, losers) = s.db.get_with_conflicts(&dir_id).await.unwrap().unwrap();
    for rev in losers {
        s.db.delete(&dir_id, &rev).await.unwrap();
    }
    wait_status(&s.db, &cond, "resolved").await;

    // A node document with two leaves: merged by the watcher.
    let r = s.authed(Method::POST, "/api/nodes", &token)
        .json(&json!({"node_id": "desk", "friendly_name": "Desk", "platform": "linux", "access_key_id": "MOSAICFS_00000000000000AD"}))
        .send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let mut leaf = s.db.get_value("node::desk").await.unwrap().unwrap();
    leaf["_rev"] = json!("1-00000000000000000000000000000002");
    couch_server("a")
        .write_as_replicated(&s.db, json!([leaf]))
        .await;
    assert!(
        !s.db
            .get_with_conflicts("node::desk")
            .await
            .unwrap()
            .unwrap()
            .1
            .is_empty()
    );
    let start = Instant::now();
    while !s
        .db
        .get_with_conflicts("node::desk")
        .await
        .unwrap()
        .unwrap()
        .1
        .is_empty()
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the node conflict was not merged"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
