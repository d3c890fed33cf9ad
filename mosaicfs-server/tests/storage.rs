//! Storage routes (`GET /api/storage`, `GET /api/storage/{node}/history`)
//! and `POST /api/system/reindex`.

use crate::common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn get(s: &TestServer, token: &str, path: &str) -> (StatusCode, Value) {
    let r = s.authed(Method::GET, path, token).send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn hour(days_ago: i64, h: u32) -> String {
    let t = chrono::Utc::now() - chrono::Duration::days(days_ago);
    format!("{}T{h:02}:00:00Z", t.format("%Y-%m-%d"))
}

#[tokio::test]
async fn storage_overview_history_and_reindex() {
    let s = TestServer::start().await;
    let token = s.token().await;
    s.db.put(&json!({
        "_id": "node::nas", "type": "node", "node_id": "nas", "friendly_name": "NAS",
        "status": "online",
        "storage": [{"filesystem_id": "uuid-1", "mount_point": "/srv", "fs_type": "ext4",
            "device": "/dev/sda1", "capacity_bytes": 1000, "used_bytes": 250,
            "watch_paths_on_fs": ["/srv/files"]}],
    }))
    .await
    .unwrap();
    for (days_ago, h, used) in [(40, 3, 100), (10, 5, 200), (1, 7, 240), (0, 0, 250)] {
        let at = hour(days_ago, h);
        s.db.put(&json!({
            "_id": format!("utilization::nas::{at}"), "type": "utilization_snapshot",
            "node_id": "nas", "captured_at": at,
            "filesystems": [{"filesystem_id": "uuid-1", "mount_point": "/srv",
                "used_bytes": used, "available_bytes": 1000 - used}],
        }))
        .await
        .unwrap();
    }

    let (st, v) = get(&s, &token, "/api/storage").await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let nas = v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["node_id"] == "nas")
        .unwrap_or_else(|| panic!("nas in {v}"));
    assert_eq!(nas["storage"][0]["capacity_bytes"], 1000);
    assert_eq!(nas["latest_snapshot"]["filesystems"][0]["used_bytes"], 250);
    assert!(nas["latest_snapshot"].get("_rev").is_none());

    let (st, v) = get(&s, &token, "/api/storage/nas/history?days=30").await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let used: Vec<u64> = v["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["filesystems"][0]["used_bytes"].as_u64().unwrap())
        .collect();
    assert_eq!(
        used,
        [200, 240, 250],
        "the 40-day-old one is out of range, oldest first"
    );
    let (_, v) = get(&s, &token, "/api/storage/nas/history?days=365").await;
    assert_eq!(v["snapshots"].as_array().unwrap().len(), 4);

    for bad in ["0", "366", "-1", "x"] {
        let r = s
            .authed(
                Method::GET,
                &format!("/api/storage/nas/history?days={bad}"),
                &token,
            )
            .send()
            .await
            .unwrap();
        expect_error(r, StatusCode::BAD_REQUEST, "days").await;
    }
    let r = s
        .authed(Method::GET, "/api/storage/nobody/history", &token)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::NOT_FOUND, "nobody").await;
    let r = s.request(Method::GET, "/api/storage").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Reindex marks every node document, keeping its other fields.
    let r = s
        .authed(Method::POST, "/api/system/reindex", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["nodes_notified"]
            .as_array()
            .unwrap()
            .contains(&json!("nas")),
        "{v}"
    );
    let doc = s.db.get_value("node::nas").await.unwrap().unwrap();
    assert_eq!(doc["reindex_requested_at"], v["requested_at"]);
    assert_eq!(doc["storage"][0]["filesystem_id"], "uuid-1");
    let r = s
        .request(Method::POST, "/api/system/reindex")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}
