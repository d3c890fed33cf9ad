//! Notifications (plan 7.1, 7.4, 7.5): deterministic ids, a flapping
//! condition rate-limited into one document with a count, the list with
//! its filters, acknowledging one and all, the history, and the control
//! plane's new-node notification.

use crate::common::*;
use mosaicfs_common::documents::NotificationSeverity;
use mosaicfs_common::notify::{Notice, Notifier};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

async fn get(s: &TestServer, token: &str, path: &str) -> Value {
    let r = s.authed(Method::GET, path, token).send().await.unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{path}: {text}");
    serde_json::from_str(&text).unwrap()
}

fn ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["_id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn list_filter_acknowledge_and_history() {
    let s = TestServer::start().await;
    let token = s.token().await;
    let n = Notifier::new(s.db.clone(), "desk", Duration::ZERO);
    n.raise(Notice::new(
        "watch_path_inaccessible:/data",
        "crawler",
        NotificationSeverity::Error,
        "Watch path inaccessible",
        "/data cannot be read",
    ))
    .await
    .unwrap();
    n.raise(Notice::new(
        "storage_near_capacity:fs1",
        "storage",
        NotificationSeverity::Warning,
        "Storage nearly full",
        "95 % used",
    ))
    .await
    .unwrap();
    n.raise(Notice::new(
        "inotify_limit:watches",
        "watcher",
        NotificationSeverity::Warning,
        "inotify",
        "90 %",
    ))
    .await
    .unwrap();
    n.raise(Notice::new(
        "cache:x",
        "cache",
        NotificationSeverity::Warning,
        "t",
        "m",
    ))
    .await
    .unwrap();
    n.resolve("cache:x").await.unwrap();

    let active = get(&s, &token, "/api/notifications").await;
    // Errors first, then newest first.
    assert_eq!(
        ids(&active)[0],
        "notification::desk::watch_path_inaccessible:/data"
    );
    assert_eq!(ids(&active).len(), 3);
    assert_eq!(active["items"][0]["severity"], "error");
    assert!(active["items"][0].get("_rev").is_none());
    let warnings = get(&s, &token, "/api/notifications?severity=warning").await;
    assert_eq!(ids(&warnings).len(), 2);
    let resolved = get(&s, &token, "/api/notifications?status=resolved").await;
    assert_eq!(ids(&resolved), ["notification::desk::cache:x"]);
    assert!(resolved["items"][0]["resolved_at"].is_string());
    let r = s
        .authed(Method::GET, "/api/notifications?status=bogus", &token)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::BAD_REQUEST, "query parameter `status`").await;

    // Acknowledge one: the document changes.
    let r = s
        .authed(
            Method::POST,
            "/api/notifications/notification::desk::storage_near_capacity:fs1/acknowledge",
            &token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let stored =
        s.db.get_value("notification::desk::storage_near_capacity:fs1")
            .await
            .unwrap()
            .unwrap();
    assert_eq!(stored["status"], "acknowledged");
    assert!(stored["acknowledged_at"].is_string());
    // The condition persists: the agent's next check leaves it acknowledged.
    n.raise(Notice::new(
        "storage_near_capacity:fs1",
        "storage",
        NotificationSeverity::Warning,
        "Storage nearly full",
        "96 % used",
    ))
    .await
    .unwrap();
    let stored =
        s.db.get_value("notification::desk::storage_near_capacity:fs1")
            .await
            .unwrap()
            .unwrap();
    assert_eq!(stored["status"], "acknowledged");
    assert_eq!(ids(&get(&s, &token, "/api/notifications").await).len(), 2);
    let r = s
        .authed(
            Method::POST,
            "/api/notifications/desk::nope/acknowledge",
            &token,
        )
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::NOT_FOUND, "notification::desk::nope").await;

    // Acknowledge all warnings, then all.
    let v: Value = s
        .authed(
            Method::POST,
            "/api/notifications/acknowledge-all?severity=warning",
            &token,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["acknowledged"], 1);
    assert_eq!(
        ids(&get(&s, &token, "/api/notifications").await),
        ["notification::desk::watch_path_inaccessible:/data"]
    );
    let v: Value = s
        .authed(Method::POST, "/api/notifications/acknowledge-all", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["acknowledged"], 1);
    assert!(ids(&get(&s, &token, "/api/notifications").await).is_empty());
    assert_eq!(
        ids(&get(&s, &token, "/api/notifications?status=current").await).len(),
        3
    );
    let h = get(&s, &token, "/api/notifications/history").await;
    assert_eq!(ids(&h).len(), 4);
    // The condition clears: resolved, whatever the acknowledgement.
    n.resolve("storage_near_capacity:fs1").await.unwrap();
    let stored =
        s.db.get_value("notification::desk::storage_near_capacity:fs1")
            .await
            .unwrap()
            .unwrap();
    assert_eq!(stored["status"], "resolved");
}

#[tokio::test]
async fn a_flapping_condition_is_one_document_with_a_count() {
    let s = TestServer::start().await;
    let n = Notifier::new(s.db.clone(), "desk", Duration::from_millis(300));
    let notice = Notice::new(
        "replication_error",
        "replication",
        NotificationSeverity::Error,
        "Replication failed",
        "the control plane is unreachable",
    );
    for _ in 0..1000 {
        n.raise(notice.clone()).await.unwrap();
        n.resolve("replication_error").await.unwrap();
    }
    n.raise(notice.clone()).await.unwrap();
    // The last coalesced write lands within one interval.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let doc =
        s.db.get_value("notification::desk::replication_error")
            .await
            .unwrap()
            .unwrap();
    assert_eq!(doc["occurrence_count"], 1001, "{doc}");
    assert_eq!(doc["status"], "active");
    let revs: u64 = doc["_rev"]
        .as_str()
        .unwrap()
        .split('-')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(revs <= 5, "{revs} writes for 2001 state changes");
    let all: Vec<_> =
        s.db.all_docs_range("notification::", "notification::\u{fff0}", 100, 0, false)
            .await
            .unwrap();
    assert_eq!(all.len(), 1);
}

#[tokio::test]
async fn registering_a_node_raises_an_info_notification_once() {
    let s = TestServer::start().await;
    let token = s.token().await;
    let r = s
        .authed(Method::POST, "/api/credentials", &token)
        .json(&json!({"name": "a"}))
        .send()
        .await
        .unwrap();
    let key = r.json::<Value>().await.unwrap()["access_key_id"]
        .as_str()
        .unwrap()
        .to_string();
    for expected in [StatusCode::CREATED, StatusCode::OK] {
        let r = s.authed(Method::POST, "/api/nodes", &token)
            .json(&json!({"node_id": "desk", "friendly_name": "Desk", "platform": "linux", "access_key_id": key}))
            .send().await.unwrap();
        assert_eq!(r.status(), expected);
    }
    let list = get(&s, &token, "/api/notifications?severity=info").await;
    assert_eq!(
        ids(&list),
        ["notification::control_plane::new_node_registered:desk"]
    );
    assert_eq!(list["items"][0]["source"]["node_id"], "control_plane");
    assert_eq!(list["items"][0]["occurrence_count"], 1);
}

#[tokio::test]
async fn a_request_signed_with_a_skewed_clock_raises_a_notification_until_one_is_accepted() {
    let s = TestServer::start().await;
    let token = s.token().await;
    let r = s
        .authed(Method::POST, "/api/credentials", &token)
        .json(&json!({"name": "skewed agent"}))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    let (key, secret) = (
        v["access_key_id"].as_str().unwrap().to_string(),
        v["secret_key"].as_str().unwrap().to_string(),
    );
    let signing = mosaicfs_common::hmac::derive_signing_key(&secret);
    let late = chrono::Utc::now() - chrono::Duration::minutes(10);
    let (ts, auth) = mosaicfs_common::hmac::signed_headers(
        &key,
        &signing,
        "GET",
        "/api/agent/credentials",
        "",
        b"",
        &late,
    );
    let r = s
        .request(Method::GET, "/api/agent/credentials")
        .header("x-mosaicfs-timestamp", ts)
        .header("authorization", auth)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNAUTHORIZED, "away from the server clock").await;
    // An invented key id creates nothing.
    let (ts, auth) = mosaicfs_common::hmac::signed_headers(
        "MOSAICFS_FFFFFFFFFFFFFFFF",
        &signing,
        "GET",
        "/api/agent/credentials",
        "",
        b"",
        &late,
    );
    let r = s
        .request(Method::GET, "/api/agent/credentials")
        .header("x-mosaicfs-timestamp", ts)
        .header("authorization", auth)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let id = format!("notification::control_plane::auth_timestamp_rejected:{key}");
    let start = std::time::Instant::now();
    loop {
        if s.db
            .get_value(&id)
            .await
            .unwrap()
            .is_some_and(|d| d["status"] == "active")
        {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "no notification");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        s.db.get_value(
            "notification::control_plane::auth_timestamp_rejected:MOSAICFS_FFFFFFFFFFFFFFFF"
        )
        .await
        .unwrap()
        .is_none()
    );
    let r = s
        .signed(Method::GET, "/api/agent/credentials", b"", &key, &secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let start = std::time::Instant::now();
    loop {
        if s.db
            .get_value(&id)
            .await
            .unwrap()
            .is_some_and(|d| d["status"] == "resolved")
        {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "not resolved");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
