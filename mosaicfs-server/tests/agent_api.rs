//! Agent-internal routes over HMAC: bulk file upsert with per-document
//! results, status, utilization, the calling credential, heartbeat.

use crate::common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Creates a credential and registers node `node_id` with it; returns the
/// key id and secret.
async fn agent(s: &TestServer, node_id: &str) -> (String, String) {
    let token = s.token().await;
    let v: Value = s
        .authed(Method::POST, "/api/credentials", &token)
        .json(&json!({"name": format!("agent {node_id}")}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = v["access_key_id"].as_str().unwrap().to_string();
    let secret = v["secret_key"].as_str().unwrap().to_string();
    let r = s
        .authed(Method::POST, "/api/nodes", &token)
        .json(&json!({"node_id": node_id, "friendly_name": node_id, "platform": "linux", "access_key_id": key}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    (key, secret)
}

fn file_doc(id: &str, node: &str, path: &str, size: u64) -> Value {
    let (parent, name) = path.rsplit_once('/').unwrap();
    json!({
        "_id": id, "type": "file", "inode": 4242, "name": name,
        "source": {"node_id": node, "export_path": path, "export_parent": if parent.is_empty() { "/" } else { parent }},
        "size": size, "mtime": "2025-03-01T10:00:00.123456789Z", "status": "active"
    })
}

async fn post(
    s: &TestServer,
    path: &str,
    body: &Value,
    key: &(String, String),
) -> reqwest::Response {
    let bytes = serde_json::to_vec(body).unwrap();
    s.signed(Method::POST, path, &bytes, &key.0, &key.1)
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
async fn bulk_upsert_answers_every_document_and_one_bad_one_never_fails_the_batch() {
    let s = TestServer::start().await;
    let key = agent(&s, "n1").await;
    let new_id = || mosaicfs_common::ids::new_file_id();
    let (f1, f2, f3) = (new_id(), new_id(), new_id());

    // f3 exists already: the agent sends it with a stale `_rev`.
    s.db.put(&file_doc(&f3, "n1", "/data/old.txt", 1))
        .await
        .unwrap();
    s.db.update(&f3, |d| {
        let mut d = d?;
        d["size"] = json!(2);
        Some(d)
    })
    .await
    .unwrap();

    let mut with_future = file_doc(&f2, "n1", "/data/b.txt", 20);
    with_future["x_future"] = json!({"from": "a newer agent"});
    let mut bad_name = file_doc(&new_id(), "n1", "/data/c.txt", 1);
    bad_name["name"] = json!("a/b");
    let mut no_size = file_doc(&new_id(), "n1", "/data/d.txt", 1);
    no_size.as_object_mut().unwrap().remove("size");
    let mut stale = file_doc(&f3, "n1", "/data/old.txt", 3);
    stale["_rev"] = json!("1-00000000000000000000000000000000");
    let mut bad_node = file_doc(&new_id(), "n1", "/data/e.txt", 1);
    bad_node["source"]["node_id"] = json!("Not Valid");
    let mut relative = file_doc(&new_id(), "n1", "/data/f.txt", 1);
    relative["source"]["export_path"] = json!("data/f.txt");
    let mut wrong_type = file_doc(&new_id(), "n1", "/data/g.txt", 1);
    wrong_type["type"] = json!("node");
    let docs = vec![
        file_doc(&f1, "n1", "/data/a.txt", 10),               // 0 ok
        with_future,                                          // 1 ok
        bad_name,                                             // 2 name
        json!(42),                                            // 3 not an object
        no_size,                                              // 4 size
        stale,                                                // 5 ok over a stale rev
        file_doc(&f1, "n1", "/data/a2.txt", 11),              // 6 duplicate id
        file_doc("file::NOT-A-UUID", "n1", "/data/h.txt", 1), // 7 _id
        file_doc("dir::abc", "n1", "/data/i.txt", 1),         // 8 _id
        bad_node,                                             // 9 source.node_id
        relative,                                             // 10 source.export_path
        wrong_type,                                           // 11 type
    ];
    let answer = ok_json(
        post(&s, "/api/agent/files/bulk", &json!({"docs": docs}), &key).await,
        StatusCode::OK,
    )
    .await;
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results.len(), docs.len(), "one result per document");
    let expect_ok = [0, 1, 5];
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r["ok"], expect_ok.contains(&i), "doc {i}: {r}");
        for k in ["id", "ok", "rev", "error", "message"] {
            assert!(r.get(k).is_some(), "doc {i} lacks {k}: {r}");
        }
        if expect_ok.contains(&i) {
            assert!(r["rev"].is_string() && r["error"].is_null(), "{r}");
        } else {
            assert!(r["rev"].is_null() && r["error"].is_string(), "{r}");
        }
    }
    assert_eq!(results[0]["id"], f1.as_str());
    assert_eq!(results[1]["id"], f2.as_str());
    assert_eq!(results[5]["id"], f3.as_str());
    assert!(results[5]["rev"].as_str().unwrap().starts_with("3-"));
    let msg = |i: usize| results[i]["message"].as_str().unwrap().to_string();
    assert!(msg(2).contains("field `name`"), "{}", msg(2));
    assert!(results[3]["id"].is_null());
    assert!(msg(3).contains("not a JSON object"), "{}", msg(3));
    assert!(msg(4).contains("size"), "{}", msg(4));
    assert_eq!(results[6]["error"], "duplicate_id");
    assert!(msg(7).contains("field `_id`"), "{}", msg(7));
    assert_eq!(results[7]["id"], "file::NOT-A-UUID");
    assert!(msg(8).contains("field `_id`"), "{}", msg(8));
    assert!(msg(9).contains("field `source.node_id`"), "{}", msg(9));
    assert!(
        msg(10).contains("field `source.export_path`"),
        "{}",
        msg(10)
    );
    assert!(msg(11).contains("type"), "{}", msg(11));

    // Written documents are as sent, unknown fields included; refused ones
    // are absent.
    let stored2 = s.db.get_value(&f2).await.unwrap().unwrap();
    assert_eq!(stored2["x_future"], json!({"from": "a newer agent"}));
    assert_eq!(stored2["_rev"], results[1]["rev"]);
    let stored3 = s.db.get_value(&f3).await.unwrap().unwrap();
    assert_eq!(stored3["size"], 3);
    let stored1 = s.db.get_value(&f1).await.unwrap().unwrap();
    assert_eq!(stored1["source"]["export_path"], "/data/a.txt");
    for i in [2, 4, 9, 10, 11] {
        let id = docs[i]["_id"].as_str().unwrap();
        assert!(s.db.get_value(id).await.unwrap().is_none(), "doc {i}");
    }

    // Sending the same documents again updates them (200, new revisions).
    let again = ok_json(
        post(
            &s,
            "/api/agent/files/bulk",
            &json!({"docs": [file_doc(&f1, "n1", "/data/a.txt", 99)]}),
            &key,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(again["results"][0]["ok"], true);
    assert!(
        again["results"][0]["rev"]
            .as_str()
            .unwrap()
            .starts_with("2-")
    );

    // Batch-level errors.
    for (body, needle) in [
        (json!({"docs": []}), "field `docs`"),
        (json!({"docs": vec![json!({}); 1001]}), "field `docs`"),
        (json!({"docs": {}}), "docs"),
        (json!({}), "docs"),
        (json!({"docs": [], "x": 1}), "x"),
    ] {
        expect_error(
            post(&s, "/api/agent/files/bulk", &body, &key).await,
            StatusCode::BAD_REQUEST,
            needle,
        )
        .await;
    }
    // Unsigned or signed with a wrong secret.
    let r = s
        .request(Method::POST, "/api/agent/files/bulk")
        .json(&json!({"docs": [file_doc(&new_id(), "n1", "/x", 1)]}))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNAUTHORIZED, "Authorization").await;
    let wrong = (key.0.clone(), "wrong-secret-wrong-secret".to_string());
    expect_error(
        post(&s, "/api/agent/files/bulk", &json!({"docs": [1]}), &wrong).await,
        StatusCode::UNAUTHORIZED,
        "signature",
    )
    .await;
}

#[tokio::test]
async fn status_utilization_credentials_and_heartbeat() {
    let s = TestServer::start().await;
    let key = agent(&s, "n1").await;
    let token = s.token().await;

    // Status: upserted, updated_at set by the server, unknown fields kept.
    let status = json!({
        "node_id": "n1",
        "overall": "degraded",
        "subsystems": {"crawler": {"status": "ok", "detail": "12 files", "files": 12}},
        "recent_errors": [{"time": "2025-03-01T10:00:00Z", "subsystem": "crawler", "level": "warn", "message": "EACCES /x"}],
    });
    let doc = ok_json(
        post(&s, "/api/agent/status", &status, &key).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(doc["_id"], "status::n1");
    assert_eq!(doc["type"], "agent_status");
    assert_eq!(doc["overall"], "degraded");
    assert_eq!(doc["subsystems"]["crawler"]["files"], 12);
    assert!(doc["updated_at"].is_string());
    assert!(doc.get("_rev").is_none());
    let parsed: mosaicfs_common::documents::AgentStatusDoc =
        s.db.get("status::n1").await.unwrap().unwrap();
    assert_eq!(parsed.recent_errors.len(), 1);
    s.db.update("status::n1", |d| {
        let mut d = d?;
        d["added_later"] = json!(true);
        Some(d)
    })
    .await
    .unwrap();
    let many: Vec<Value> = (0..60)
        .map(|i| json!({"time": "2025-03-01T10:00:00Z", "subsystem": "watcher", "level": "error", "message": format!("e{i}")}))
        .collect();
    let doc = ok_json(
        post(
            &s,
            "/api/agent/status",
            &json!({"node_id": "n1", "overall": "healthy", "recent_errors": many}),
            &key,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(doc["added_later"], true);
    assert_eq!(doc["overall"], "healthy");
    let errs = doc["recent_errors"].as_array().unwrap();
    assert_eq!(errs.len(), 50, "the newest 50 are kept");
    assert_eq!(errs[0]["message"], "e10");
    assert_eq!(errs[49]["message"], "e59");
    assert_eq!(doc["subsystems"], json!({}));
    // Visible through the node route.
    let via_nodes: Value = s
        .authed(Method::GET, "/api/nodes/n1/status", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(via_nodes["overall"], "healthy");

    for (body, status_code, needle) in [
        (
            json!({"node_id": "n1", "overall": "fine"}),
            StatusCode::BAD_REQUEST,
            "field `overall`",
        ),
        (
            json!({"node_id": "n1", "overall": "healthy", "subsystems": {"cache": {"status": "meh"}}}),
            StatusCode::BAD_REQUEST,
            "field `subsystems.cache.status`",
        ),
        (
            json!({"node_id": "n1", "overall": "healthy", "recent_errors": [{"time": "yesterday", "subsystem": "x", "level": "warn", "message": "m"}]}),
            StatusCode::BAD_REQUEST,
            "recent_errors[0].time",
        ),
        (
            json!({"node_id": "n1", "overall": "healthy", "recent_errors": [{"time": "2025-03-01T10:00:00Z", "subsystem": "x", "level": "fatal", "message": "m"}]}),
            StatusCode::BAD_REQUEST,
            "field `recent_errors[0].level`",
        ),
        (
            json!({"node_id": "N 1", "overall": "healthy"}),
            StatusCode::BAD_REQUEST,
            "field `node_id`",
        ),
        (
            json!({"node_id": "ghost", "overall": "healthy"}),
            StatusCode::NOT_FOUND,
            "ghost",
        ),
        (
            json!({"overall": "healthy"}),
            StatusCode::BAD_REQUEST,
            "node_id",
        ),
    ] {
        expect_error(
            post(&s, "/api/agent/status", &body, &key).await,
            status_code,
            needle,
        )
        .await;
    }

    // Utilization: one document per node and hour; a second post in the
    // same hour updates it.
    let util = json!({
        "node_id": "n1",
        "filesystems": [{"filesystem_id": "uuid-1", "mount_point": "/", "used_bytes": 10, "available_bytes": 90}],
    });
    let u = ok_json(
        post(&s, "/api/agent/utilization", &util, &key).await,
        StatusCode::CREATED,
    )
    .await;
    let id = u["_id"].as_str().unwrap().to_string();
    assert!(id.starts_with("utilization::n1::"), "{id}");
    assert!(id.ends_with(":00:00Z"), "{id}");
    assert_eq!(u["type"], "utilization_snapshot");
    assert!(u.get("cloud").is_none());
    let u2 = ok_json(
        post(
            &s,
            "/api/agent/utilization",
            &json!({"node_id": "n1", "filesystems": [], "cloud": {"used_bytes": 5, "quota_bytes": 100}}),
            &key,
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    // The hour may have turned between the two posts; then there are two.
    if u2["_id"] == u["_id"] {
        let stored: mosaicfs_common::documents::UtilizationSnapshotDoc =
            s.db.get(&id).await.unwrap().unwrap();
        assert!(stored.filesystems.is_empty());
        assert_eq!(stored.cloud.unwrap().quota_bytes, Some(100));
    }
    for (body, status_code, needle) in [
        (
            json!({"node_id": "n1", "filesystems": [{"filesystem_id": "a", "mount_point": "rel", "used_bytes": 1, "available_bytes": 1}]}),
            StatusCode::BAD_REQUEST,
            "field `filesystems[0].mount_point`",
        ),
        (
            json!({"node_id": "n1", "filesystems": [{"filesystem_id": "a", "mount_point": "/", "used_bytes": -1, "available_bytes": 1}]}),
            StatusCode::BAD_REQUEST,
            "filesystems[0].used_bytes",
        ),
        (
            json!({"node_id": "ghost", "filesystems": []}),
            StatusCode::NOT_FOUND,
            "ghost",
        ),
    ] {
        expect_error(
            post(&s, "/api/agent/utilization", &body, &key).await,
            status_code,
            needle,
        )
        .await;
    }

    // The calling credential, never its secret or hash.
    let r = s
        .signed(Method::GET, "/api/agent/credentials", b"", &key.0, &key.1)
        .send()
        .await
        .unwrap();
    let c = ok_json(r, StatusCode::OK).await;
    assert_eq!(c["access_key_id"], key.0.as_str());
    assert_eq!(c["name"], "agent n1");
    assert_eq!(c["enabled"], true);
    assert!(c["created_at"].is_string());
    let keys: Vec<&String> = c.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 4, "{c}");
    let text = c.to_string();
    assert!(!text.contains(&key.1) && !text.contains("argon2"));
    let r = s
        .request(Method::GET, "/api/agent/credentials")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNAUTHORIZED, "MOSAICFS-HMAC-SHA256").await;

    // The heartbeat still works.
    let hb = ok_json(
        post(&s, "/api/agent/heartbeat", &json!({"node_id": "n1"}), &key).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(hb["node_id"], "n1");
    let node = s.db.get_value("node::n1").await.unwrap().unwrap();
    assert_eq!(node["status"], "online");
}

#[tokio::test]
async fn an_agent_writes_only_for_its_own_node() {
    let s = TestServer::start().await;
    let mine = agent(&s, "node-mine").await;
    let theirs = agent(&s, "node-theirs").await;
    let docs = json!({"docs": [
        file_doc("file::0190c0de5b6f7a3e8c1d2e3f4a5b0001", "node-mine", "/a/mine.txt", 1),
        file_doc("file::0190c0de5b6f7a3e8c1d2e3f4a5b0002", "node-theirs", "/a/theirs.txt", 1),
        file_doc("file::0190c0de5b6f7a3e8c1d2e3f4a5b0003", "node-nobody", "/a/nobody.txt", 1),
    ]});
    let v = ok_json(
        post(&s, "/api/agent/files/bulk", &docs, &mine).await,
        StatusCode::OK,
    )
    .await;
    let r = v["results"].as_array().unwrap();
    assert_eq!(r[0]["ok"], true, "{v}");
    assert_eq!(
        (r[1]["ok"].clone(), r[1]["error"].clone()),
        (json!(false), json!("forbidden")),
        "{v}"
    );
    assert!(
        r[1]["message"]
            .as_str()
            .unwrap()
            .contains("another access key"),
        "{v}"
    );
    assert_eq!(r[2]["error"], "forbidden", "{v}");
    assert!(
        s.db.get_value("file::0190c0de5b6f7a3e8c1d2e3f4a5b0002")
            .await
            .unwrap()
            .is_none()
    );

    for path in [
        "/api/agent/heartbeat",
        "/api/agent/status",
        "/api/agent/utilization",
    ] {
        let body = match path {
            "/api/agent/status" => json!({"node_id": "node-theirs", "overall": "healthy"}),
            "/api/agent/utilization" => json!({"node_id": "node-theirs", "filesystems": []}),
            _ => json!({"node_id": "node-theirs"}),
        };
        let resp = post(&s, path, &body, &mine).await;
        expect_error(resp, StatusCode::FORBIDDEN, "another access key").await;
        let resp = post(&s, path, &body, &theirs).await;
        assert!(
            resp.status().is_success(),
            "{path}: {}",
            resp.text().await.unwrap()
        );
    }
}

#[tokio::test]
async fn transfer_tokens_are_signed_with_the_owners_key() {
    let s = TestServer::start().await;
    let a = agent(&s, "node-a").await;
    let b = agent(&s, "node-b").await;
    let file_b = "file::0190c0de5b6f7a3e8c1d2e3f4a5b00b1";
    ok_json(
        post(
            &s,
            "/api/agent/files/bulk",
            &json!({"docs": [file_doc(file_b, "node-b", "/b/data.bin", 3)]}),
            &b,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let ask = json!({"node_id": "node-a", "file_id": file_b});
    // Node b runs no transfer endpoint yet.
    let resp = post(&s, "/api/agent/transfer-token", &ask, &a).await;
    expect_error(resp, StatusCode::CONFLICT, "no transfer endpoint").await;

    // Node b's agent publishes its endpoint (the field is the agent's: the
    // API cannot set it).
    s.db.update("node::node-b", |d| {
        let mut d = d?;
        d["transfer"] = json!({"endpoint": "http://127.0.0.1:7847", "protocol": "http"});
        Some(d)
    })
    .await
    .unwrap();

    let before = chrono::Utc::now().timestamp();
    let v = ok_json(
        post(&s, "/api/agent/transfer-token", &ask, &a).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(v["endpoint"], "http://127.0.0.1:7847", "{v}");
    let key_b = mosaicfs_common::hmac::derive_signing_key(&b.1);
    let claims =
        mosaicfs_common::hmac::verify_transfer_token(&key_b, v["token"].as_str().unwrap(), before)
            .unwrap();
    assert_eq!(
        (
            claims.file_id.as_str(),
            claims.owner.as_str(),
            claims.requester.as_str()
        ),
        (file_b, "node-b", "node-a")
    );
    assert!(
        (before + 299..=before + 302).contains(&claims.exp),
        "{claims:?}"
    );
    let expires: chrono::DateTime<chrono::Utc> = v["expires_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(expires.timestamp(), claims.exp);
    // Not valid for the requester's own key.
    let key_a = mosaicfs_common::hmac::derive_signing_key(&a.1);
    assert!(
        mosaicfs_common::hmac::verify_transfer_token(&key_a, v["token"].as_str().unwrap(), before)
            .is_err()
    );

    // Speaking for another node, an unknown file, a bad id, no signature.
    let resp = post(
        &s,
        "/api/agent/transfer-token",
        &json!({"node_id": "node-b", "file_id": file_b}),
        &a,
    )
    .await;
    expect_error(resp, StatusCode::FORBIDDEN, "another access key").await;
    let resp = post(
        &s,
        "/api/agent/transfer-token",
        &json!({"node_id": "node-a", "file_id": "file::0190c0de5b6f7a3e8c1d2e3f4a5bffff"}),
        &a,
    )
    .await;
    expect_error(resp, StatusCode::NOT_FOUND, "unknown").await;
    let resp = post(
        &s,
        "/api/agent/transfer-token",
        &json!({"node_id": "node-a", "file_id": "node::x"}),
        &a,
    )
    .await;
    expect_error(resp, StatusCode::BAD_REQUEST, "file_id").await;
    let resp = s
        .request(Method::POST, "/api/agent/transfer-token")
        .json(&ask)
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::UNAUTHORIZED, "Authorization").await;

    // The owner disabled: no token.
    let token = s.token().await;
    let r = s
        .authed(Method::DELETE, "/api/nodes/node-b", &token)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let resp = post(&s, "/api/agent/transfer-token", &ask, &a).await;
    expect_error(resp, StatusCode::CONFLICT, "disabled").await;

    // The file deleted: refused, saying so.
    s.db.update(file_b, |d| {
        let mut d = d?;
        d["status"] = json!("deleted");
        Some(d)
    })
    .await
    .unwrap();
    let resp = post(&s, "/api/agent/transfer-token", &ask, &a).await;
    expect_error(resp, StatusCode::NOT_FOUND, "is deleted").await;
}

/// `POST /api/agent/heartbeat` merges a conflicting node document by field
/// ownership: a rename that lost CouchDB's pick survives the heartbeat, and
/// the conflict is gone.
#[tokio::test]
async fn the_heartbeat_merges_a_conflicting_node_document() {
    let s = TestServer::start().await;
    let key = agent(&s, "n-merge").await;
    let id = "node::n-merge";
    let base = s.db.get_value(id).await.unwrap().unwrap();
    let rev = base["_rev"].as_str().unwrap().to_string();
    let (generation, hash) = rev.split_once('-').unwrap();
    let next: u64 = generation.parse::<u64>().unwrap() + 1;
    let child = |h: &str, fields: Value| {
        let mut d = base.clone();
        let o = d.as_object_mut().unwrap();
        o.insert("_rev".into(), json!(format!("{next}-{}", h.repeat(32))));
        o.insert(
            "_revisions".into(),
            json!({"start": next, "ids": [h.repeat(32), hash]}),
        );
        o.extend(fields.as_object().unwrap().clone());
        d
    };
    // "b…" (an agent write) wins CouchDB's pick over "a…" (a rename).
    let agent_rev = child("b", json!({"last_heartbeat": "2026-01-01T00:01:00Z"}));
    let rename = child(
        "a",
        json!({"friendly_name": "renamed", "control_updated_at": "2099-01-01T00:00:00Z"}),
    );
    couch_server("a")
        .write_as_replicated(&s.db, json!([agent_rev, rename]))
        .await;
    let (winner, conflicts) = s.db.get_with_conflicts(id).await.unwrap().unwrap();
    assert_ne!(
        winner["friendly_name"], "renamed",
        "the rename lost the pick"
    );
    assert_eq!(conflicts.len(), 1);

    let r = post(
        &s,
        "/api/agent/heartbeat",
        &json!({"node_id": "n-merge"}),
        &key,
    )
    .await;
    ok_json(r, StatusCode::OK).await;
    let (doc, conflicts) = s.db.get_with_conflicts(id).await.unwrap().unwrap();
    assert!(conflicts.is_empty(), "{conflicts:?}");
    assert_eq!(doc["friendly_name"], "renamed", "{doc}");
    assert_eq!(doc["status"], "online", "{doc}");
    assert_ne!(
        doc["last_heartbeat"], "2026-01-01T00:01:00Z",
        "the heartbeat wrote"
    );
}
