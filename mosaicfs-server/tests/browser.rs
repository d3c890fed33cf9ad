//! Replication flow 3 and the read-only proxy in front of it: what reaches
//! `{db}_browser`, and what PouchDB may and may not do through
//! `/api/browser-db`.

use crate::common::*;
use mosaicfs_common::couch::CouchClient;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn browser_db(s: &TestServer) -> CouchClient {
    s.db.database(&mosaicfs_common::replication::browser_db_name(
        s.db.db_name(),
    ))
}

/// Polls `check` until it gives a value, failing with `what` after 60 s
/// (replications start a few seconds after the document is written).
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn wait_for_doc(db: &CouchClient, id: &str) -> Value {
    eventually(&format!("{id} in {}", db.db_name()), || async {
        db.get_value(id).await.unwrap()
    })
    .await
}

fn node_doc(node: &str) -> Value {
    json!({"_id": format!("node::{node}"), "type": "node", "node_id": node,
           "friendly_name": node, "status": "online"})
}

/// A GET straight to CouchDB as its admin (what the browser database holds,
/// bypassing the proxy under test).
async fn couch_get(
    s: &TestServer,
    db: &mosaicfs_common::couch::CouchClient,
    path: &str,
) -> reqwest::Response {
    let couch = couch_server("a");
    s.client
        .get(format!("{}/{}/{path}", couch.url, db.db_name()))
        .basic_auth(&couch.username, Some(&couch.password))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_browser_replica_gets_the_small_documents_and_never_files_credentials_or_plugins() {
    let s = TestServer::start().await;
    let browser = browser_db(&s);
    // The refused documents go first: once the later, allowed ones have
    // arrived, the replication has passed these sequence numbers too.
    let refused = [
        json!({"_id": "credential::MOSAICFS_0000000000000BAD", "type": "credential",
               "access_key_id": "MOSAICFS_0000000000000BAD", "secret_key_hash": "x",
               "name": "leak", "enabled": true}),
        json!({"_id": "file::0190a0b0c0d0e0f00000000000000001", "type": "file",
               "name": "a.txt", "source": {"node_id": "n1", "export_path": "/a.txt"}}),
        json!({"_id": "plugin::n1::thumbs", "type": "plugin", "node_id": "n1",
               "plugin_name": "thumbs", "settings": {"api_key": "secret"}}),
        json!({"_id": "annotation::0190a0b0c0d0e0f00000000000000001::thumbs", "type": "annotation",
               "source": {"node_id": "n1"}}),
        // An allowed prefix with a refused type.
        json!({"_id": "status::sneaky", "type": "file", "name": "b.txt"}),
    ];
    for doc in &refused {
        s.db.put(doc).await.unwrap();
    }
    s.db.put(&node_doc("n1")).await.unwrap();
    s.db.put(
        &json!({"_id": "label_rule::r1", "type": "label_rule", "name": "r1",
                     "node_id": "*", "path_prefix": "/", "labels": ["x"], "enabled": true}),
    )
    .await
    .unwrap();
    wait_for_doc(&browser, "node::n1").await;
    let rule = wait_for_doc(&browser, "label_rule::r1").await;
    wait_for_doc(&browser, "dir::root").await;
    for doc in &refused {
        let id = doc["_id"].as_str().unwrap();
        assert_eq!(
            browser.get_value(id).await.unwrap(),
            None,
            "{id} reached the browser"
        );
    }
    let all: Value = couch_get(&s, &browser, "_all_docs")
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = all["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert!(
        !ids.iter()
            .any(|id| id.starts_with("credential::") || id.starts_with("_design/")),
        "{ids:?}"
    );

    // A deletion travels too: the tombstone has no type.
    s.db.delete("label_rule::r1", rule["_rev"].as_str().unwrap())
        .await
        .unwrap();
    eventually("the rule's tombstone in the browser replica", || async {
        browser
            .get_value("label_rule::r1")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;

    // The monitor reports the replication healthy (it polls every 10 s).
    eventually("mosaicfs_browser_replication_healthy 1", || async {
        let text = s
            .request(Method::GET, "/metrics")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .any(|l| l == "mosaicfs_browser_replication_healthy 1")
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn the_proxy_serves_db_info_and_changes_with_a_token_and_401_without() {
    let s = TestServer::start().await;
    let token = s.token().await;
    let r = s
        .authed(Method::GET, "/api/browser-db/", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let info: Value = r.json().await.unwrap();
    assert_eq!(info["db_name"], browser_db(&s).db_name());
    let r = s
        .authed(Method::HEAD, "/api/browser-db", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    wait_for_doc(&browser_db(&s), "dir::root").await;
    let r = s
        .authed(
            Method::GET,
            "/api/browser-db/_changes?style=all_docs",
            &token,
        )
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let content_type = r.headers()["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("application/json"),
        "{:?}",
        r.headers()
    );
    let changes: Value = r.json().await.unwrap();
    let ids: Vec<&str> = changes["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"dir::root"), "{changes}");
    let r = s
        .authed(Method::POST, "/api/browser-db/_changes", &token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    for path in [
        "/api/browser-db/_changes",
        "/api/browser-db/",
        "/api/browser-db",
    ] {
        let r = s.request(Method::GET, path).send().await.unwrap();
        expect_error(r, StatusCode::UNAUTHORIZED, "Authorization").await;
    }
    let r = s
        .authed(Method::GET, "/api/browser-db/_changes", "not-a-token")
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNAUTHORIZED, "invalid token").await;
    // Without a token nothing is refused or forwarded: the 401 comes first.
    let r = s
        .request(Method::PUT, "/api/browser-db/evil")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_continuous_changes_feed_streams_through_the_proxy() {
    let s = TestServer::start().await;
    let token = s.token().await;
    // Headers and the first heartbeat arrive while the feed stays open; a
    // buffering proxy would hold both until CouchDB closed the feed.
    let mut r = tokio::time::timeout(
        Duration::from_secs(10),
        s.authed(
            Method::GET,
            "/api/browser-db/_changes?feed=continuous&since=now&heartbeat=300",
            &token,
        )
        .send(),
    )
    .await
    .expect("response headers while the feed is open")
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    s.db.put(&node_doc("live")).await.unwrap();
    let mut seen = String::new();
    let end = Instant::now() + Duration::from_secs(60);
    while !seen.contains("node::live") {
        let left = end.saturating_duration_since(Instant::now());
        let chunk = tokio::time::timeout(left, r.chunk())
            .await
            .unwrap_or_else(|_| panic!("no change through the open feed; got {seen:?}"))
            .unwrap()
            .expect("the feed stays open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test]
async fn writes_through_the_proxy_are_refused_and_never_reach_couchdb() {
    let s = TestServer::start().await;
    let token = s.token().await;
    let browser = browser_db(&s);
    s.db.put(&node_doc("n1")).await.unwrap();
    let node = wait_for_doc(&browser, "node::n1").await;
    let rev = node["_rev"].as_str().unwrap().to_string();
    let before = browser.db_info().await.unwrap();
    let main_before = s.db.db_info().await.unwrap();
    let attempts: Vec<(Method, String, Option<Value>)> = vec![
        (
            Method::PUT,
            "/api/browser-db/evil".into(),
            Some(json!({"x": 1})),
        ),
        (
            Method::PUT,
            "/api/browser-db/node::n1".into(),
            Some(json!({"_rev": rev, "x": 1})),
        ),
        (
            Method::POST,
            "/api/browser-db".into(),
            Some(json!({"_id": "evil2"})),
        ),
        (
            Method::POST,
            "/api/browser-db/".into(),
            Some(json!({"_id": "evil2"})),
        ),
        (
            Method::POST,
            "/api/browser-db/_bulk_docs".into(),
            Some(json!({"docs": [{"_id": "evil3"}]})),
        ),
        (
            Method::PUT,
            "/api/browser-db/_local/x".into(),
            Some(json!({"x": 1})),
        ),
        (
            Method::DELETE,
            format!("/api/browser-db/node::n1?rev={rev}"),
            None,
        ),
        (Method::DELETE, "/api/browser-db".into(), None),
        (
            Method::PUT,
            "/api/browser-db/_design/evil".into(),
            Some(json!({"views": {}})),
        ),
        (Method::GET, "/api/browser-db/_design/mosaicfs".into(), None),
        (Method::GET, "/api/browser-db/_security".into(), None),
        (
            Method::PUT,
            "/api/browser-db/_security".into(),
            Some(json!({})),
        ),
        (Method::GET, "/api/browser-db/_all_dbs".into(), None),
        // Escapes towards the main database, which has the credentials.
        (
            Method::GET,
            format!("/api/browser-db/..%2F{}%2F_all_docs", s.db.db_name()),
            None,
        ),
        // (reqwest resolves `..` and `%2e%2e` segments itself; the unit
        // tests of `browser_db::allowed` cover them.)
        (
            Method::GET,
            "/api/browser-db/..%5C..%5C_all_dbs".into(),
            None,
        ),
        (
            Method::POST,
            "/api/browser-db/_bulk_get/..%2F..%2F_replicate".into(),
            Some(json!({})),
        ),
    ];
    let n = attempts.len();
    for (method, path, body) in attempts {
        let mut req = s.authed(method.clone(), &path, &token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {text}");
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["error"], "forbidden", "{method} {path}");
        assert_eq!(body["reason"], "the browser replica is read-only");
    }
    let after = browser.db_info().await.unwrap();
    assert_eq!(after["doc_count"], before["doc_count"]);
    assert_eq!(after["update_seq"], before["update_seq"]);
    assert_eq!(
        s.db.db_info().await.unwrap()["doc_count"],
        main_before["doc_count"]
    );
    for id in ["evil", "evil2", "evil3"] {
        assert_eq!(browser.get_value(id).await.unwrap(), None, "{id}");
    }
    let local = couch_get(&s, &browser, "_local/x").await;
    assert_eq!(local.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        browser.get_value("node::n1").await.unwrap().unwrap()["_rev"],
        node["_rev"]
    );
    let metrics = s
        .request(Method::GET, "/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(&format!(
            "mosaicfs_browser_db_requests_total{{outcome=\"refused\"}} {n}\n"
        )),
        "{metrics}"
    );
}

#[tokio::test]
async fn pouchdb_style_reads_work_through_the_proxy() {
    let s = TestServer::start().await;
    let token = s.token().await;
    s.db.put(&node_doc("n1")).await.unwrap();
    let node = wait_for_doc(&browser_db(&s), "node::n1").await;
    let rev = node["_rev"].as_str().unwrap();

    let r = s
        .authed(Method::POST, "/api/browser-db/_revs_diff", &token)
        .json(&json!({"node::n1": [rev, "9-ffff"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let diff: Value = r.json().await.unwrap();
    assert_eq!(diff["node::n1"]["missing"], json!(["9-ffff"]), "{diff}");

    let r = s
        .authed(Method::POST, "/api/browser-db/_bulk_get?revs=true", &token)
        .json(&json!({"docs": [{"id": "node::n1", "rev": rev}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let got: Value = r.json().await.unwrap();
    let doc = &got["results"][0]["docs"][0]["ok"];
    assert_eq!(doc["_id"], "node::n1", "{got}");
    assert!(doc["_revisions"]["ids"].is_array(), "{got}");

    let r = s
        .authed(
            Method::GET,
            &format!("/api/browser-db/node%3A%3An1?revs=true&open_revs=[\"{rev}\"]&latest=true"),
            &token,
        )
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let open: Value = r.json().await.unwrap();
    assert_eq!(open[0]["ok"]["_id"], "node::n1", "{open}");

    let r = s
        .authed(Method::GET, "/api/browser-db/node::n1?revs=true", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["_revisions"]["start"], 1, "{doc}");

    let r = s
        .authed(
            Method::GET,
            "/api/browser-db/_all_docs?include_docs=true",
            &token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // A missing checkpoint and a missing document answer CouchDB's 404.
    for path in ["/api/browser-db/_local/nope", "/api/browser-db/node::nope"] {
        let r = s.authed(Method::GET, path, &token).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "not_found", "{path}: {body}");
    }
}
