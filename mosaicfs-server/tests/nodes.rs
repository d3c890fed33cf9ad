//! Node routes: registration (the `mosaicfs-agent init` contract), get,
//! patch, soft disable, status, network mounts and pagination.

use crate::common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// Creates a credential; returns its access key id and secret.
async fn credential(s: &TestServer, token: &str, name: &str) -> (String, String) {
    let r = s
        .authed(Method::POST, "/api/credentials", token)
        .json(&json!({ "name": name }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: Value = r.json().await.unwrap();
    (
        v["access_key_id"].as_str().unwrap().to_string(),
        v["secret_key"].as_str().unwrap().to_string(),
    )
}

async fn register(s: &TestServer, token: &str, body: Value) -> reqwest::Response {
    s.authed(Method::POST, "/api/nodes", token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn ok_json(r: reqwest::Response, status: StatusCode) -> Value {
    let got = r.status();
    let text = r.text().await.unwrap();
    assert_eq!(got, status, "body: {text}");
    serde_json::from_str(&text).unwrap()
}

#[tokio::test]
async fn registration_is_idempotent_for_the_same_key_and_conflicts_for_another() {
    let s = TestServer::start().await;
    let token = s.token().await;
    let (k1, _) = credential(&s, &token, "laptop agent").await;
    let (k2, _) = credential(&s, &token, "other agent").await;

    let body = json!({
        "node_id": "laptop",
        "friendly_name": "Laptop",
        "platform": "linux",
        "access_key_id": k1,
        "watch_paths": ["/home/u/docs"],
        "transfer_endpoint": "http://10.0.0.5:7847/",
    });
    let doc = ok_json(
        register(&s, &token, body.clone()).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(doc["_id"], "node::laptop");
    assert_eq!(doc["type"], "node");
    assert_eq!(doc["node_id"], "laptop");
    assert_eq!(doc["friendly_name"], "Laptop");
    assert_eq!(doc["platform"], "linux");
    assert_eq!(doc["status"], "offline");
    assert_eq!(doc["access_key_id"], k1.as_str());
    assert_eq!(doc["vfs_capable"], true);
    assert!(doc["registered_at"].is_string());
    assert_eq!(doc["capabilities"], json!([]));
    assert_eq!(doc["storage"], json!([]));
    assert_eq!(doc["network_mounts"], json!([]));
    assert_eq!(doc["watch_paths"], json!(["/home/u/docs"]));
    assert_eq!(
        doc["transfer"],
        json!({"endpoint": "http://10.0.0.5:7847", "protocol": "http"})
    );
    assert!(doc.get("_rev").is_none(), "no _rev in answers");
    assert!(doc.get("disabled").is_none());
    // The stored document parses as a NodeDoc.
    let stored: mosaicfs_common::documents::NodeDoc =
        s.db.get("node::laptop").await.unwrap().unwrap();
    assert_eq!(stored.access_key_id.as_deref(), Some(k1.as_str()));

    // The agent adds fields this version does not know; a second registration
    // with the same key updates what it names and keeps the rest.
    s.db.update("node::laptop", |d| {
        let mut d = d?;
        d["future_field"] = json!({"kept": true});
        d["status"] = json!("online");
        Some(d)
    })
    .await
    .unwrap();
    let again = json!({
        "node_id": "laptop",
        "friendly_name": "  Laptop 2 ",
        "platform": "macos",
        "access_key_id": k1,
    });
    let doc2 = ok_json(register(&s, &token, again).await, StatusCode::OK).await;
    assert_eq!(doc2["friendly_name"], "Laptop 2");
    assert_eq!(doc2["platform"], "macos");
    assert_eq!(doc2["future_field"], json!({"kept": true}));
    assert_eq!(doc2["status"], "online", "agent-owned status kept");
    assert_eq!(doc2["registered_at"], doc["registered_at"]);
    assert_eq!(
        doc2["watch_paths"],
        json!(["/home/u/docs"]),
        "absent → kept"
    );
    assert_eq!(doc2["transfer"], doc["transfer"]);

    // Another key may not take the node over.
    let mut other = body.clone();
    other["access_key_id"] = json!(k2);
    expect_error(
        register(&s, &token, other).await,
        StatusCode::CONFLICT,
        "another access key",
    )
    .await;

    // Without node_id, one is generated.
    let doc3 = ok_json(
        register(
            &s,
            &token,
            json!({"friendly_name": "Gen", "platform": "linux", "access_key_id": k2}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let gen_id = doc3["node_id"].as_str().unwrap();
    assert!(
        gen_id.starts_with("node-") && gen_id.len() == 21,
        "{gen_id}"
    );
    assert!(doc3.get("transfer").is_none());
    assert_eq!(doc3["watch_paths"], json!([]));

    // Each invalid field is named.
    let base =
        json!({"node_id": "n2", "friendly_name": "N", "platform": "linux", "access_key_id": k1});
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    let mut missing = base.clone();
    missing.as_object_mut().unwrap().remove("friendly_name");
    let (disabled_key, _) = credential(&s, &token, "disabled").await;
    let r = s
        .authed(
            Method::PATCH,
            &format!("/api/credentials/{disabled_key}"),
            &token,
        )
        .json(&json!({"enabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cases = [
        (missing, "friendly_name"),
        (with("friendly_name", json!("  ")), "field `friendly_name`"),
        (
            with("friendly_name", json!("x".repeat(101))),
            "field `friendly_name`",
        ),
        (with("platform", json!("windows")), "field `platform`"),
        (with("node_id", json!("Bad Id")), "field `node_id`"),
        (with("node_id", json!("a::b")), "field `node_id`"),
        (
            with("access_key_id", json!("nope")),
            "field `access_key_id`",
        ),
        (
            with("access_key_id", json!("MOSAICFS_0123456789ABCDEF")),
            "field `access_key_id`",
        ),
        (with("access_key_id", json!(disabled_key)), "disabled"),
        (
            with("watch_paths", json!(["/ok", "relative/path"])),
            "field `watch_paths[1]`",
        ),
        (with("watch_paths", json!("/not-a-list")), "watch_paths"),
        (
            with("transfer_endpoint", json!("ftp://host/")),
            "field `transfer_endpoint`",
        ),
        (
            with("transfer_endpoint", json!("not a url")),
            "field `transfer_endpoint`",
        ),
        (with("bogus", json!(1)), "bogus"),
    ];
    for (body, needle) in cases {
        expect_error(
            register(&s, &token, body).await,
            StatusCode::BAD_REQUEST,
            needle,
        )
        .await;
    }
    assert!(s.db.get_value("node::n2").await.unwrap().is_none());

    let r = s
        .request(Method::POST, "/api/nodes")
        .json(&base)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNAUTHORIZED, "Authorization").await;
}

#[tokio::test]
async fn nodes_are_read_patched_soft_disabled_and_show_their_status() {
    let s = TestServer::start().await;
    let token = s.token().await;
    let (k, _) = credential(&s, &token, "agent").await;
    register(
        &s,
        &token,
        json!({"node_id": "box", "friendly_name": "Box", "platform": "linux", "access_key_id": k}),
    )
    .await;
    s.db.update("node::box", |d| {
        let mut d = d?;
        d["agent_version"] = json!("9.9.9");
        d["unknown_thing"] = json!([1, 2]);
        Some(d)
    })
    .await
    .unwrap();

    let get = |path: String| s.authed(Method::GET, &path, &token).send();
    let doc = ok_json(get("/api/nodes/box".into()).await.unwrap(), StatusCode::OK).await;
    assert_eq!(doc["friendly_name"], "Box");
    assert!(doc.get("_rev").is_none());
    expect_error(
        get("/api/nodes/ghost".into()).await.unwrap(),
        StatusCode::NOT_FOUND,
        "no node ghost",
    )
    .await;
    expect_error(
        get("/api/nodes/BAD".into()).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "field `node_id`",
    )
    .await;

    // PATCH changes only what it names, and only the control plane's fields.
    let patch = |path: &str, body: Value| s.authed(Method::PATCH, path, &token).json(&body).send();
    let stamp_before =
        s.db.get_value("node::box").await.unwrap().unwrap()["control_updated_at"].clone();
    let doc = ok_json(
        patch("/api/nodes/box", json!({"friendly_name": " Big box "}))
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(doc["friendly_name"], "Big box");
    assert_eq!(doc["agent_version"], "9.9.9");
    assert_eq!(doc["unknown_thing"], json!([1, 2]));
    assert_eq!(doc["access_key_id"], k.as_str());
    assert!(doc["control_updated_at"].is_string());
    assert_ne!(doc["control_updated_at"], stamp_before);
    for (body, needle) in [
        (json!({"watch_paths": ["/srv"]}), "field `watch_paths`"),
        (
            json!({"friendly_name": "x", "transfer_endpoint": "https://box.lan:7847"}),
            "field `transfer_endpoint`",
        ),
    ] {
        let e = expect_error(
            patch("/api/nodes/box", body).await.unwrap(),
            StatusCode::BAD_REQUEST,
            needle,
        )
        .await;
        assert!(e.to_string().contains("agent.toml"), "{e}");
    }
    let stored = s.db.get_value("node::box").await.unwrap().unwrap();
    assert_eq!(
        stored["friendly_name"], "Big box",
        "a refused PATCH writes nothing"
    );
    assert_eq!(stored["watch_paths"], json!([]));
    expect_error(
        patch("/api/nodes/box", json!({"friendly_name": ""}))
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "field `friendly_name`",
    )
    .await;
    expect_error(
        patch("/api/nodes/box", json!({"disabled": false}))
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "disabled",
    )
    .await;
    expect_error(
        patch("/api/nodes/ghost", json!({"friendly_name": "x"}))
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
        "ghost",
    )
    .await;

    // Status: 404 naming why, then the document.
    expect_error(
        get("/api/nodes/box/status".into()).await.unwrap(),
        StatusCode::NOT_FOUND,
        "has not reported a status yet",
    )
    .await;
    expect_error(
        get("/api/nodes/ghost/status".into()).await.unwrap(),
        StatusCode::NOT_FOUND,
        "no node ghost",
    )
    .await;
    s.db.put(&json!({
        "_id": "status::box", "type": "agent_status", "node_id": "box",
        "updated_at": "2025-01-01T00:00:00Z", "overall": "healthy",
        "subsystems": {}, "recent_errors": []
    }))
    .await
    .unwrap();
    let st = ok_json(
        get("/api/nodes/box/status".into()).await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(st["overall"], "healthy");
    assert!(st.get("_rev").is_none());

    // DELETE only disables.
    let r = s
        .authed(Method::DELETE, "/api/nodes/box", &token)
        .send()
        .await
        .unwrap();
    let doc = ok_json(r, StatusCode::OK).await;
    assert_eq!(doc["disabled"], true);
    assert_eq!(doc["status"], "offline");
    let stored = s.db.get_value("node::box").await.unwrap().unwrap();
    assert_eq!(stored["disabled"], true);
    assert_eq!(stored["unknown_thing"], json!([1, 2]));
    let r = s
        .authed(Method::DELETE, "/api/nodes/ghost", &token)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::NOT_FOUND, "ghost").await;
}

#[tokio::test]
async fn network_mounts_are_added_listed_patched_and_removed() {
    let s = TestServer::start().await;
    let token = s.token().await;
    let (k, _) = credential(&s, &token, "agent").await;
    for n in ["desk", "nas"] {
        let r = register(
            &s,
            &token,
            json!({"node_id": n, "friendly_name": n, "platform": "linux", "access_key_id": k}),
        )
        .await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let mount = json!({
        "remote_node_id": "nas",
        "remote_base_export_path": "/volume1/photos",
        "local_mount_path": "/mnt/nas/photos",
        "mount_type": "nfs",
    });
    let post = |node: &str, body: Value| {
        s.authed(Method::POST, &format!("/api/nodes/{node}/mounts"), &token)
            .json(&body)
            .send()
    };
    let m = ok_json(
        post("desk", mount.clone()).await.unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let mount_id = m["mount_id"].as_str().unwrap().to_string();
    assert_eq!(mount_id.len(), 8);
    assert!(mount_id.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(m["priority"], 0);
    assert_eq!(m["mount_type"], "nfs");
    let mut second = mount.clone();
    second["mount_type"] = json!("cifs");
    second["priority"] = json!(5);
    let m2 = ok_json(post("desk", second).await.unwrap(), StatusCode::CREATED).await;
    assert_ne!(m2["mount_id"], m["mount_id"]);

    let list = ok_json(
        s.authed(Method::GET, "/api/nodes/desk/mounts", &token)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    assert_eq!(list["items"][0], m);
    assert!(list["next_cursor"].is_null());

    // Unknown fields of an entry survive a patch.
    s.db.update("node::desk", |d| {
        let mut d = d?;
        d["network_mounts"][0]["future"] = json!("x");
        Some(d)
    })
    .await
    .unwrap();
    let path = format!("/api/nodes/desk/mounts/{mount_id}");
    let p = ok_json(
        s.authed(Method::PATCH, &path, &token)
            .json(&json!({"priority": 10, "local_mount_path": "/mnt/p"}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(p["priority"], 10);
    assert_eq!(p["local_mount_path"], "/mnt/p");
    assert_eq!(p["remote_base_export_path"], "/volume1/photos");
    assert_eq!(p["future"], "x");

    // Errors name the field.
    let with = |k: &str, v: Value| {
        let mut b = mount.clone();
        b[k] = v;
        b
    };
    let cases = [
        (
            with("remote_node_id", json!("desk")),
            "field `remote_node_id`",
        ),
        (with("remote_node_id", json!("ghost")), "no node ghost"),
        (
            with("remote_node_id", json!("BAD")),
            "field `remote_node_id`",
        ),
        (
            with("remote_base_export_path", json!("volume1")),
            "field `remote_base_export_path`",
        ),
        (
            with("local_mount_path", json!("mnt")),
            "field `local_mount_path`",
        ),
        (with("mount_type", json!("smb")), "field `mount_type`"),
        (with("priority", json!("high")), "field `priority`"),
    ];
    for (body, needle) in cases {
        expect_error(
            post("desk", body).await.unwrap(),
            StatusCode::BAD_REQUEST,
            needle,
        )
        .await;
    }
    expect_error(
        post("ghost", mount.clone()).await.unwrap(),
        StatusCode::NOT_FOUND,
        "ghost",
    )
    .await;
    expect_error(
        s.authed(Method::PATCH, &path, &token)
            .json(&json!({"mount_type": "floppy"}))
            .send()
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "field `mount_type`",
    )
    .await;
    expect_error(
        s.authed(Method::PATCH, "/api/nodes/desk/mounts/00000000", &token)
            .json(&json!({"priority": 1}))
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
        "no network mount 00000000",
    )
    .await;

    let r = s
        .authed(Method::DELETE, &path, &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = s
        .authed(Method::DELETE, &path, &token)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::NOT_FOUND, "no network mount").await;
    let stored = s.db.get_value("node::desk").await.unwrap().unwrap();
    assert_eq!(stored["network_mounts"].as_array().unwrap().len(), 1);
    assert_eq!(stored["network_mounts"][0], m2);
    assert_eq!(stored["friendly_name"], "desk");
}

#[tokio::test]
async fn the_node_list_pages_without_overlap_or_gap() {
    let s = TestServer::start().await;
    let token = s.token().await;
    let docs: Vec<Value> = (0..25)
        .map(|i| {
            json!({
                "_id": format!("node::n{i:02}"), "type": "node", "node_id": format!("n{i:02}"),
                "friendly_name": format!("N{i}"), "platform": "linux", "status": "offline",
                "last_heartbeat": "2025-01-01T00:00:00Z"
            })
        })
        .collect();
    let written = s.db.bulk_docs(&docs).await.unwrap();
    assert!(written.iter().all(|r| r.is_ok()));
    // Neighbours outside the prefix must not leak in.
    s.db.put(&json!({"_id": "nodf", "x": 1})).await.unwrap();
    s.db.put(&json!({"_id": "node:", "x": 1})).await.unwrap();

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut path = "/api/nodes?limit=10".to_string();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = ok_json(
            s.authed(Method::GET, &path, &token).send().await.unwrap(),
            StatusCode::OK,
        )
        .await;
        pages += 1;
        let items = page["items"].as_array().unwrap();
        assert!(items.iter().all(|d| d.get("_rev").is_none()));
        seen.extend(items.iter().map(|d| d["_id"].as_str().unwrap().to_string()));
        match page["next_cursor"].as_str() {
            Some(c) => {
                assert_eq!(items.len(), 10);
                cursor = Some(c.to_string());
            }
            None => {
                assert_eq!(items.len(), 5);
                break;
            }
        }
        assert!(pages < 10, "pagination does not end");
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = (0..25).map(|i| format!("node::n{i:02}")).collect();
    assert_eq!(seen, expected, "every node once, in id order");
    assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), 25);

    // A cursor stays valid when its own document disappears meanwhile.
    let first = ok_json(
        s.authed(Method::GET, "/api/nodes?limit=10", &token)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let c = first["next_cursor"].as_str().unwrap().to_string();
    let rev = s.db.get_value("node::n09").await.unwrap().unwrap()["_rev"]
        .as_str()
        .unwrap()
        .to_string();
    s.db.delete("node::n09", &rev).await.unwrap();
    let next = ok_json(
        s.authed(
            Method::GET,
            &format!("/api/nodes?limit=10&cursor={c}"),
            &token,
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(next["items"][0]["_id"], "node::n10");

    for (q, needle) in [
        ("limit=0", "field `limit`"),
        ("limit=1001", "field `limit`"),
        ("limit=ten", "limit"),
        ("cursor=!!!", "field `cursor`"),
        // A cursor of another list.
        ("cursor=bGFiZWxfcnVsZTo6eA", "field `cursor`"),
    ] {
        expect_error(
            s.authed(Method::GET, &format!("/api/nodes?{q}"), &token)
                .send()
                .await
                .unwrap(),
            StatusCode::BAD_REQUEST,
            needle,
        )
        .await;
    }
}

#[tokio::test]
async fn openapi_describes_the_node_agent_and_label_routes() {
    let s = TestServer::start().await;
    let doc: Value = s
        .request(Method::GET, "/api/openapi.json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for (path, methods, scheme) in [
        ("/api/nodes", &["get", "post"][..], "bearer"),
        (
            "/api/nodes/{node_id}",
            &["get", "patch", "delete"],
            "bearer",
        ),
        ("/api/nodes/{node_id}/status", &["get"], "bearer"),
        ("/api/nodes/{node_id}/mounts", &["get", "post"], "bearer"),
        (
            "/api/nodes/{node_id}/mounts/{mount_id}",
            &["patch", "delete"],
            "bearer",
        ),
        ("/api/agent/heartbeat", &["post"], "hmac"),
        ("/api/agent/files/bulk", &["post"], "hmac"),
        ("/api/agent/status", &["post"], "hmac"),
        ("/api/agent/utilization", &["post"], "hmac"),
        ("/api/agent/credentials", &["get"], "hmac"),
        ("/api/labels", &["get"], "bearer"),
        ("/api/labels/assignments", &["get"], "bearer"),
        (
            "/api/labels/assignments/{file_id}",
            &["put", "delete"],
            "bearer",
        ),
        ("/api/labels/rules", &["get", "post"], "bearer"),
        (
            "/api/labels/rules/{rule_id}",
            &["get", "patch", "delete"],
            "bearer",
        ),
        ("/api/labels/effective", &["get"], "bearer"),
    ] {
        let item = paths
            .get(path)
            .unwrap_or_else(|| panic!("{path} missing from OpenAPI"));
        for m in methods {
            let op = &item[*m];
            assert!(op.is_object(), "{m} {path} missing");
            assert!(
                op["security"][0].get(scheme).is_some(),
                "{m} {path}: security {}",
                op["security"]
            );
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|k| k.starts_with('4')),
                "{m} {path} documents no error response"
            );
        }
    }
}

/// A field of a node document as a time (the epoch if absent).
fn time_of(doc: &Value, field: &str) -> chrono::DateTime<chrono::Utc> {
    doc[field]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.to_utc())
        .unwrap_or_default()
}

/// Polls `check` every 200 ms until it holds or `secs` pass.
async fn wait_for<F, Fut>(what: &str, secs: u64, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let end = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < end {
        if check().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("timed out after {secs} s waiting for {what}");
}

/// A real agent (heartbeat every second, its own database on another
/// server, replicating with the server's database) and the API: a renamed
/// node keeps its name and a disabled node stays disabled (and reports
/// `offline`) across the agent's heartbeats, with no conflict left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_plane_edits_and_the_disabled_flag_survive_the_agents_heartbeats() {
    let s = TestServer::start().await;
    let token = s.token().await;
    let tmp = tempfile::tempdir().unwrap();
    let watch = tmp.path().join("watch");
    std::fs::create_dir_all(&watch).unwrap();
    std::fs::write(watch.join("a.txt"), b"a").unwrap();
    let local = couch_server("b").fresh_db("hb_local").await;
    let node = format!("hb-{}", std::process::id());
    let (l, c) = (couch_server("b"), couch_server("a"));
    let toml = format!(
        r#"control_plane_url = "{url}"
access_key_id = "MOSAICFS_0123456789ABCDEF"
secret_key = "test-secret"
friendly_name = "From agent.toml"
watch_paths = [{watch:?}]
state_dir = {state:?}
node_id = "{node}"
heartbeat_interval_secs = 1

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
        url = s.url,
        state = tmp.path().join("state"),
        lurl = l.url,
        ldb = local.db_name(),
        luser = l.username,
        lpass = l.password,
        curl = c.url,
        cdb = s.db.db_name(),
        cuser = c.username,
        cpass = c.password,
    );
    let config =
        mosaicfs_agent::config::Config::parse(std::path::Path::new("agent.toml"), &toml).unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let agent = tokio::spawn(mosaicfs_agent::run(config, shutdown.clone()));
    let doc_id = format!("node::{node}");
    let path = format!("/api/nodes/{node}");

    wait_for("the agent's node document on the server", 90, || async {
        s.db.get_value(&doc_id).await.unwrap().is_some()
    })
    .await;
    // A heartbeat of the agent that has seen `write` (the document it wrote
    // after `write`'s stamp) reached the server; then no conflict is left.
    let beaten = |written: Value| {
        let (s, local, doc_id, path) = (&s, &local, &doc_id, &path);
        async move {
            let stamp = time_of(&written, "control_updated_at");
            wait_for(
                "two agent heartbeats after the edit, on the server",
                60,
                || async {
                    let Some(l) = local.get_value(doc_id).await.unwrap() else {
                        return false;
                    };
                    let cp = s.db.get_value(doc_id).await.unwrap().unwrap();
                    time_of(&l, "last_heartbeat") > stamp + chrono::Duration::seconds(1)
                        && time_of(&cp, "last_heartbeat") >= time_of(&l, "last_heartbeat")
                },
            )
            .await;
            wait_for("no conflict on either side", 30, || async {
                s.db.get_with_conflicts(doc_id)
                    .await
                    .unwrap()
                    .unwrap()
                    .1
                    .is_empty()
                    && local
                        .get_with_conflicts(doc_id)
                        .await
                        .unwrap()
                        .unwrap()
                        .1
                        .is_empty()
            })
            .await;
            let r = s
                .authed(Method::GET, path, &s.token().await)
                .send()
                .await
                .unwrap();
            ok_json(r, StatusCode::OK).await
        }
    };

    let patched = ok_json(
        s.authed(Method::PATCH, &path, &token)
            .json(&json!({"friendly_name": "Renamed by admin"}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let doc = beaten(patched).await;
    assert_eq!(doc["friendly_name"], "Renamed by admin", "{doc}");
    assert_eq!(doc["status"], "online");
    let local_doc = local.get_value(&doc_id).await.unwrap().unwrap();
    assert_eq!(local_doc["friendly_name"], "Renamed by admin");

    let disabled = ok_json(
        s.authed(Method::DELETE, &path, &token)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(disabled["status"], "offline");
    let doc = beaten(disabled).await;
    assert_eq!(doc["disabled"], true, "{doc}");
    assert_eq!(
        doc["status"], "offline",
        "the agent knows it is disabled: {doc}"
    );
    assert_eq!(doc["friendly_name"], "Renamed by admin");
    let local_doc = local.get_value(&doc_id).await.unwrap().unwrap();
    assert_eq!(
        (local_doc["disabled"].clone(), local_doc["status"].clone()),
        (json!(true), json!("offline"))
    );

    shutdown.cancel();
    agent.await.unwrap().unwrap();
}
