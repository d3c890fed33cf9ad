//! Backup and restore (plan 8.1–8.3) over HTTPS: minimal and full round
//! trips into a fresh database, every bad-input path (nothing written), a
//! non-empty database refused, a database that fails mid-write (and the
//! second run that finishes the restore), and the developer-mode wipe.

use crate::common::*;
use axum::extract::{Request, State};
use axum::response::IntoResponse;
use http_body_util::BodyExt;
use mosaicfs_common::couch::CouchClient;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Every document of `db` but design documents, by id.
async fn all_docs(db: &CouchClient) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let mut after: Option<String> = None;
    loop {
        let rows = db
            .all_docs_after(after.as_deref(), 1000, true)
            .await
            .unwrap();
        let n = rows.len();
        after = rows.last().map(|r| r.id.clone());
        for r in rows {
            if !r.id.starts_with("_design/") {
                out.insert(r.id.clone(), r.doc.unwrap());
            }
        }
        if n < 1000 {
            return out;
        }
    }
}

fn file_doc(i: usize, node: &str) -> Value {
    json!({
        "_id": format!("file::{:032x}", i + 1), "type": "file", "inode": 100_000 + i,
        "name": format!("f{i}.txt"),
        "source": {"node_id": node, "export_path": format!("/data/f{i}.txt"), "export_parent": "/data"},
        "size": i, "mtime": "2026-01-01T00:00:00.5Z", "status": "active"
    })
}

fn plugin_doc(node: &str) -> Value {
    json!({
        "_id": format!("plugin::{node}::ai"), "type": "plugin", "node_id": node, "plugin_name": "ai",
        "plugin_type": "executable", "enabled": true, "name": "AI",
        "subscribed_events": ["file.added"], "mime_globs": [], "config": {},
        "settings_schema": {"properties": {"api_key": {"type": "secret"}, "model": {"type": "string"}}},
        "settings": {"api_key": "sk-very-secret", "model": "small"},
        "created_at": "2026-01-01T00:00:00Z"
    })
}

/// A populated control plane: two registered nodes with a network mount,
/// directories, a label rule and assignment, a plugin with a secret, files,
/// a status document and a notification.
async fn populate(s: &TestServer, token: &str) {
    let r = s
        .authed(Method::POST, "/api/credentials", token)
        .json(&json!({"name": "agent"}))
        .send()
        .await
        .unwrap();
    let key = r.json::<Value>().await.unwrap()["access_key_id"]
        .as_str()
        .unwrap()
        .to_string();
    for n in ["desk", "nas"] {
        let r = s
            .authed(Method::POST, "/api/nodes", token)
            .json(&json!({"node_id": n, "friendly_name": format!("{n} box"), "platform": "linux", "access_key_id": key}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let r = s
        .authed(Method::POST, "/api/nodes/desk/mounts", token)
        .json(
            &json!({"remote_node_id": "nas", "remote_base_export_path": "/volume1",
            "local_mount_path": "/mnt/nas", "mount_type": "nfs", "priority": 3}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    for path in ["/documents", "/documents/work", "/photos"] {
        let r = s
            .authed(Method::POST, "/api/vfs/directories", token)
            .json(&json!({"virtual_path": path, "mounts": [{"source": {"node_id": "desk", "export_path": "/data"},
                "strategy": "flatten", "steps": [{"op": "glob", "pattern": "*.txt"}]}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::CREATED,
            "{}",
            r.text().await.unwrap()
        );
    }
    let r = s
        .authed(Method::POST, "/api/labels/rules", token)
        .json(&json!({"node_id": "desk", "path_prefix": "/data/", "labels": ["work"], "name": "work"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    // Documents without an API yet (plugins) or written by agents.
    let mut docs: Vec<Value> = (0..20).map(|i| file_doc(i, "desk")).collect();
    docs.push(plugin_doc("desk"));
    docs.push(json!({"_id": "status::desk", "type": "agent_status", "node_id": "desk",
        "updated_at": "2026-01-01T00:00:00Z", "overall": "healthy", "subsystems": {}, "recent_errors": []}));
    docs.push(json!({"_id": "notification::desk::first_crawl_complete", "type": "notification",
        "source": {"node_id": "desk", "component": "crawler"}, "severity": "info", "status": "active",
        "title": "t", "message": "m", "condition_key": "first_crawl_complete",
        "first_seen": "2026-01-01T00:00:00Z", "last_seen": "2026-01-01T00:00:00Z"}));
    for r in s.db.bulk_docs(&docs).await.unwrap() {
        assert!(r.is_ok(), "{r:?}");
    }
    let r = s
        .authed(
            Method::PUT,
            &format!("/api/labels/assignments/file::{:032x}", 1),
            token,
        )
        .json(&json!({"labels": ["keep"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
}

async fn download(s: &TestServer, token: &str, kind: &str) -> Vec<u8> {
    let r = s
        .authed(
            Method::GET,
            &format!("/api/system/backup?type={kind}"),
            token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cd = r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        cd.starts_with(&format!("attachment; filename=\"mosaicfs-backup-{kind}-")),
        "{cd}"
    );
    r.bytes().await.unwrap().to_vec()
}

async fn upload(s: &TestServer, token: &str, body: Vec<u8>) -> reqwest::Response {
    s.authed(Method::POST, "/api/system/restore", token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
}

/// A second control plane on a fresh, empty database.
async fn fresh(
    tweak: impl FnOnce(&mut mosaicfs_server::config::ServerConfig),
) -> (TestServer, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let db = couch_server("a").fresh_db("restored").await;
    let s = TestServer::start_with(db, tmp.path(), tweak).await;
    (s, tmp)
}

#[tokio::test]
async fn minimal_backup_restores_directories_plugins_labels_and_mounts_into_a_fresh_control_plane()
{
    let a = TestServer::start().await;
    let token = a.token().await;
    populate(&a, &token).await;
    let file = download(&a, &token, "minimal").await;
    let parsed: Value = serde_json::from_slice(&file).unwrap();
    let docs = parsed["docs"].as_array().unwrap();
    let types: std::collections::BTreeSet<&str> =
        docs.iter().map(|d| d["type"].as_str().unwrap()).collect();
    assert_eq!(
        types.into_iter().collect::<Vec<_>>(),
        [
            "credential",
            "label_assignment",
            "label_rule",
            "node",
            "plugin",
            "virtual_directory"
        ]
    );
    let plugin = docs.iter().find(|d| d["type"] == "plugin").unwrap();
    assert_eq!(plugin["settings"]["api_key"], "__REDACTED__");
    assert_eq!(plugin["settings"]["model"], "small");
    assert!(!String::from_utf8_lossy(&file).contains("sk-very-secret"));

    let (b, _tmp) = fresh(|_| {}).await;
    let tb = b.token().await;
    let ready: Value = b
        .authed(Method::GET, "/api/system/restore", &tb)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready, json!({"empty": true, "first_document": null}));
    let ready: Value = a
        .authed(Method::GET, "/api/system/restore", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["empty"], false);
    let r = upload(&b, &tb, file.clone()).await;
    let text = r.text().await.unwrap();
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(answer["restored_count"], docs.len(), "{text}");
    assert_eq!(answer["errors"].as_array().unwrap().len(), 1, "{text}");
    assert_eq!(answer["errors"][0]["error"], "redacted");
    assert_eq!(answer["errors"][0]["id"], "plugin::desk::ai");

    // Through the API of the new control plane.
    for path in ["documents", "documents/work", "photos"] {
        let r = b
            .authed(Method::GET, &format!("/api/vfs/directories/{path}"), &tb)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
    }
    let rules: Value = b
        .authed(Method::GET, "/api/labels/rules", &tb)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rules["items"][0]["labels"], json!(["work"]));
    let mounts: Value = b
        .authed(Method::GET, "/api/nodes/desk/mounts", &tb)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(mounts["items"][0]["local_mount_path"], "/mnt/nas");
    assert_eq!(mounts["items"][0]["priority"], 3);
    let node: Value = b
        .authed(Method::GET, "/api/nodes/nas", &tb)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(node["friendly_name"], "nas box");
    assert_eq!(node["status"], "offline");
    // The plugin document keeps its revision (so agents' copies, which hold
    // the real secret under that revision, do not conflict).
    let pa = a.db.get_value("plugin::desk::ai").await.unwrap().unwrap();
    let pb = b.db.get_value("plugin::desk::ai").await.unwrap().unwrap();
    assert_eq!(pa["_rev"], pb["_rev"]);
    assert_eq!(pb["settings"]["api_key"], "__REDACTED__");
    // Agent-owned documents are not in a minimal backup.
    assert!(
        b.db.get_value(&format!("file::{:032x}", 1))
            .await
            .unwrap()
            .is_none()
    );
    assert!(b.db.get_value("status::desk").await.unwrap().is_none());
    // Directories and labels compare equal, revisions included.
    let (da, db_) = (all_docs(&a.db).await, all_docs(&b.db).await);
    for (id, doc) in &da {
        if id.starts_with("dir::") || id.starts_with("label_") || id.starts_with("credential::") {
            assert_eq!(Some(doc), db_.get(id), "{id}");
        }
    }
}

#[tokio::test]
async fn full_backup_restores_a_database_equal_document_by_document() {
    let a = TestServer::start().await;
    let token = a.token().await;
    populate(&a, &token).await;
    let file = download(&a, &token, "full").await;
    assert!(String::from_utf8_lossy(&file).contains("sk-very-secret"));
    let (b, _tmp) = fresh(|_| {}).await;
    let tb = b.token().await;
    let r = upload(&b, &tb, file).await;
    assert_eq!(r.status(), StatusCode::OK);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["errors"], json!([]));
    let (da, db_) = (all_docs(&a.db).await, all_docs(&b.db).await);
    assert_eq!(answer["restored_count"], da.len());
    assert_eq!(
        da.keys().collect::<Vec<_>>(),
        db_.keys().collect::<Vec<_>>()
    );
    for (id, doc) in &da {
        // Revisions too: the restore writes them as they were.
        assert_eq!(doc, &db_[id], "{id}");
    }
}

#[tokio::test]
async fn bad_backups_are_refused_naming_the_first_bad_document_and_nothing_is_written() {
    let a = TestServer::start().await;
    let token = a.token().await;
    populate(&a, &token).await;
    let good = download(&a, &token, "full").await;
    let (b, _tmp) = fresh(|c| {
        c.max_restore_bytes = 256 * 1024;
        c.max_restore_documents = 1000;
    })
    .await;
    let tb = b.token().await;
    let before = all_docs(&b.db).await;
    let mut docs: Vec<Value> = serde_json::from_slice::<Value>(&good).unwrap()["docs"]
        .as_array()
        .unwrap()
        .clone();
    let body = |docs: &[Value]| serde_json::to_vec(&json!({ "docs": docs })).unwrap();
    let mut unknown = docs.clone();
    unknown[5]["type"] = json!("spaceship");
    let mut mismatched = docs.clone();
    let m = mismatched
        .iter()
        .position(|d| d["type"] == "virtual_directory" && d["_id"] != "dir::root")
        .unwrap();
    let id = mismatched[m]["_id"].as_str().unwrap().to_string();
    mismatched[m]["_id"] = json!(format!("{id}0"));
    // Cut inside the last document (the file ends with "\n]}\n").
    let cut = good.len() - 60;
    let last_index = docs.len() - 1;
    let last_id = docs[last_index]["_id"].as_str().unwrap().to_string();
    let mut too_many = docs.clone();
    while too_many.len() <= 1000 {
        too_many.push(json!({}));
    }
    let huge = {
        docs.push(json!({"_id": "file::ffff", "type": "file", "pad": "x".repeat(300 * 1024)}));
        body(&docs)
    };
    let cases: Vec<(&str, Vec<u8>, StatusCode, String)> = vec![
        (
            "truncated",
            good[..cut].to_vec(),
            StatusCode::BAD_REQUEST,
            format!("truncated: it ends inside docs[{last_index}] (_id {last_id:?})"),
        ),
        (
            "not JSON",
            b"this is not a backup".to_vec(),
            StatusCode::BAD_REQUEST,
            "not a `_bulk_docs` JSON file".into(),
        ),
        (
            "unknown type",
            body(&unknown[..]),
            StatusCode::BAD_REQUEST,
            format!(
                "docs[5] (_id {:?}): document",
                unknown[5]["_id"].as_str().unwrap()
            ),
        ),
        (
            "id does not match type",
            body(&mismatched[..]),
            StatusCode::BAD_REQUEST,
            format!(
                "docs[{m}] (_id \"{id}0\"): a virtual_directory document with these fields must have `_id` \"{id}\""
            ),
        ),
        (
            "too many documents",
            body(&too_many[..]),
            StatusCode::BAD_REQUEST,
            "more than 1000 documents".into(),
        ),
        (
            "too large",
            huge,
            StatusCode::PAYLOAD_TOO_LARGE,
            "larger than 262144 bytes".into(),
        ),
    ];
    for (what, bytes, status, needle) in cases {
        let r = upload(&b, &tb, bytes).await;
        let body = expect_error(r, status, &needle).await;
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("nothing was restored"),
            "{what}: {body}"
        );
        assert_eq!(
            all_docs(&b.db).await,
            before,
            "{what}: something was written"
        );
    }
    let r = b
        .authed(Method::POST, "/api/system/restore", &tb)
        .body(good.clone())
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNSUPPORTED_MEDIA_TYPE, "application/json").await;
    let r = b
        .request(Method::POST, "/api/system/restore")
        .header("content-type", "application/json")
        .body(good)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_database_that_is_not_empty_is_refused() {
    let a = TestServer::start().await;
    let token = a.token().await;
    populate(&a, &token).await;
    let file = download(&a, &token, "full").await;
    let (b, _tmp) = fresh(|_| {}).await;
    let tb = b.token().await;
    b.db.put(&json!({"_id": "dir::0123", "type": "virtual_directory"}))
        .await
        .unwrap();
    let before = all_docs(&b.db).await;
    let r = upload(&b, &tb, file).await;
    expect_error(r, StatusCode::CONFLICT, "the database is not empty: it holds 1 document(s) that are not in this backup (the first: \"dir::0123\")").await;
    assert_eq!(all_docs(&b.db).await, before);
}

/// A CouchDB proxy that answers 500 to every `_bulk_docs` after the first
/// `allow` while `failing` is set.
struct Proxy {
    target: String,
    db: String,
    client: reqwest::Client,
    bulk: AtomicUsize,
    allow: usize,
    failing: AtomicBool,
}

async fn forward(State(p): State<Arc<Proxy>>, req: Request) -> axum::response::Response {
    let (parts, body) = req.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map(|x| x.as_str())
        .unwrap_or("/")
        .to_string();
    if parts.method == Method::POST && path.starts_with(&format!("/{}/_bulk_docs", p.db)) {
        let n = p.bulk.fetch_add(1, Ordering::SeqCst);
        if p.failing.load(Ordering::SeqCst) && n >= p.allow {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                [("content-type", "application/json")],
                r#"{"error":"unavailable","reason":"cut by the test proxy"}"#,
            )
                .into_response();
        }
    }
    let bytes = body.collect().await.unwrap().to_bytes();
    let mut rb = p
        .client
        .request(parts.method, format!("{}{path}", p.target))
        .body(bytes);
    for (k, v) in &parts.headers {
        if matches!(k.as_str(), "content-type" | "authorization" | "accept") {
            rb = rb.header(k, v);
        }
    }
    match rb.send().await {
        Ok(r) => {
            let status = r.status();
            let ct = r.headers().get("content-type").cloned();
            let body = r.bytes().await.unwrap_or_default();
            let mut resp = (status, body).into_response();
            if let Some(ct) = ct {
                resp.headers_mut().insert("content-type", ct);
            }
            resp
        }
        Err(_) => StatusCode::BAD_GATEWAY.into_response(),
    }
}

#[tokio::test]
async fn a_database_failing_mid_write_leaves_a_partial_restore_that_a_second_run_completes() {
    let a = TestServer::start().await;
    // Enough documents for several batches of 1000.
    let docs: Vec<Value> = (0..3500).map(|i| file_doc(i, "desk")).collect();
    for r in a.db.bulk_docs(&docs).await.unwrap() {
        assert!(r.is_ok());
    }
    let token = a.token().await;
    let file = download(&a, &token, "full").await;

    let couch = couch_server("a");
    let db = couch.fresh_db("midwrite").await;
    let proxy = Arc::new(Proxy {
        target: couch.url.trim_end_matches('/').to_string(),
        db: db.db_name().to_string(),
        client: reqwest::Client::new(),
        bulk: AtomicUsize::new(0),
        // The deletion of the seeds, their replacements, one batch.
        allow: 3,
        failing: AtomicBool::new(false),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .fallback(forward)
        .with_state(proxy.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let tmp = tempfile::tempdir().unwrap();
    let b = TestServer::start_with(db, tmp.path(), |c| c.couchdb_url = proxy_url.clone()).await;
    let tb = b.token().await;
    // From now on three more bulk writes pass, then the database "fails".
    proxy.bulk.store(0, Ordering::SeqCst);
    proxy.failing.store(true, Ordering::SeqCst);
    let r = upload(&b, &tb, file.clone()).await;
    let body = expect_error(
        r,
        StatusCode::SERVICE_UNAVAILABLE,
        "the database failed after",
    )
    .await;
    let msg = body["message"].as_str().unwrap();
    assert!(msg.contains("run the same restore again"), "{msg}");
    let partial = all_docs(&b.db).await.len();
    let total = all_docs(&a.db).await.len();
    assert!(partial > 1000 && partial < total, "{partial} of {total}");

    // The database is back: the same file finishes the restore.
    proxy.failing.store(false, Ordering::SeqCst);
    let r = upload(&b, &tb, file).await;
    assert_eq!(r.status(), StatusCode::OK);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["restored_count"], total);
    assert_eq!(all_docs(&a.db).await, all_docs(&b.db).await);
}

#[tokio::test]
async fn delete_data_needs_developer_mode_and_a_wiped_database_takes_a_restore() {
    let a = TestServer::start().await;
    let token = a.token().await;
    let r = a
        .authed(Method::DELETE, "/api/system/data", &token)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::FORBIDDEN, "--developer-mode").await;

    let tmp = tempfile::tempdir().unwrap();
    let db = couch_server("a").fresh_db("devmode").await;
    let d = TestServer::start_with(db, tmp.path(), |c| c.developer_mode = true).await;
    let td = d.token().await;
    populate(&d, &td).await;
    let file = download(&d, &td, "full").await;
    let before = all_docs(&d.db).await;
    let r = d
        .authed(Method::DELETE, "/api/system/data", &td)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let left = all_docs(&d.db).await;
    assert!(
        left.keys()
            .all(|k| k == "dir::root" || k.starts_with("credential::")),
        "{:?}",
        left.keys()
    );
    // The same documents come back over their deletions.
    let r = upload(&d, &td, file).await;
    assert_eq!(r.status(), StatusCode::OK);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["errors"], json!([]));
    assert_eq!(answer["restored_count"], before.len());
    let after = all_docs(&d.db).await;
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>()
    );
    for (id, doc) in &before {
        let mut x = doc.clone();
        let mut y = after[id].clone();
        x.as_object_mut().unwrap().remove("_rev");
        y.as_object_mut().unwrap().remove("_rev");
        assert_eq!(x, y, "{id}");
    }
}

#[tokio::test]
async fn a_minimal_backup_of_a_conflicted_node_keeps_the_control_planes_mount() {
    let s = TestServer::start().await;
    let token = s.token().await;
    populate(&s, &token).await;
    // The agent's heartbeat crossed the mount's write: a second leaf that
    // wins (higher revision) without the mount.
    let mut leaf = s.db.get_value("node::desk").await.unwrap().unwrap();
    assert_eq!(leaf["network_mounts"].as_array().unwrap().len(), 1);
    leaf["_rev"] = json!("9-00000000000000000000000000000009");
    leaf["network_mounts"] = json!([]);
    leaf["last_heartbeat"] = json!(mosaicfs_common::time::format(&mosaicfs_common::time::now()));
    leaf.as_object_mut().unwrap().remove("control_updated_at");
    couch_server("a")
        .write_as_replicated(&s.db, json!([leaf]))
        .await;
    let winner = s.db.get_value("node::desk").await.unwrap().unwrap();
    assert_eq!(
        winner["network_mounts"],
        json!([]),
        "the mount-less leaf wins"
    );
    let file = download(&s, &token, "minimal").await;
    let v: Value = serde_json::from_slice(&file).unwrap();
    let node = v["docs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["_id"] == "node::desk")
        .unwrap()
        .clone();
    assert_eq!(
        node["network_mounts"][0]["local_mount_path"], "/mnt/nas",
        "{node}"
    );
    assert!(node.get("_conflicts").is_none());
}
