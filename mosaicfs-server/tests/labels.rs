//! Label routes: assignments (upsert, dedupe, survival across re-indexing),
//! rules, effective labels, the label summary and pagination.

use crate::common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeSet;

fn file_doc(id: &str, node: &str, path: &str, size: u64, mtime: &str) -> Value {
    let (parent, name) = path.rsplit_once('/').unwrap();
    json!({
        "_id": id, "type": "file", "inode": 5000, "name": name,
        "source": {"node_id": node, "export_path": path, "export_parent": parent},
        "size": size, "mtime": mtime, "status": "active"
    })
}

/// Writes a minimal node document.
async fn node(s: &TestServer, node_id: &str) {
    s.db.put(&json!({
        "_id": format!("node::{node_id}"), "type": "node", "node_id": node_id,
        "friendly_name": node_id, "platform": "linux", "status": "online",
        "last_heartbeat": "2025-01-01T00:00:00Z"
    }))
    .await
    .unwrap();
}

async fn ok_json(r: reqwest::Response, status: StatusCode) -> Value {
    let got = r.status();
    let text = r.text().await.unwrap();
    assert_eq!(got, status, "body: {text}");
    serde_json::from_str(&text).unwrap()
}

struct Api<'a> {
    s: &'a TestServer,
    token: String,
}

impl Api<'_> {
    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> reqwest::Response {
        let mut req = self.s.authed(method, path, &self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.unwrap()
    }
    async fn get(&self, path: &str) -> Value {
        ok_json(self.send(Method::GET, path, None).await, StatusCode::OK).await
    }
}

#[tokio::test]
async fn assignments_upsert_dedupe_and_survive_reindexing() {
    let s = TestServer::start().await;
    let api = Api {
        s: &s,
        token: s.token().await,
    };
    node(&s, "n1").await;
    let fid = mosaicfs_common::ids::new_file_id();
    let uuid = fid.strip_prefix("file::").unwrap().to_string();
    s.db.put(&file_doc(
        &fid,
        "n1",
        "/home/u/docs/report.pdf",
        100,
        "2025-01-01T00:00:00Z",
    ))
    .await
    .unwrap();
    let path = format!("/api/labels/assignments/{fid}");

    let a = ok_json(
        api.send(
            Method::PUT,
            &path,
            Some(json!({"labels": ["work", "starred", "work", "Ünïcode label"]})),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(a["_id"], format!("label_file::{uuid}"));
    assert_eq!(a["type"], "label_assignment");
    assert_eq!(a["file_id"], fid.as_str());
    assert_eq!(
        a["labels"],
        json!(["work", "starred", "Ünïcode label"]),
        "deduplicated, order kept"
    );
    assert_eq!(a["updated_by"], ADMIN_KEY);
    assert!(a["updated_at"].is_string());
    assert!(a.get("_rev").is_none());
    let parsed: mosaicfs_common::documents::LabelAssignmentDoc =
        s.db.get(&format!("label_file::{uuid}"))
            .await
            .unwrap()
            .unwrap();
    assert_eq!(parsed.labels.len(), 3);

    // Upsert: a second PUT replaces the labels, keeps unknown fields.
    s.db.update(&format!("label_file::{uuid}"), |d| {
        let mut d = d?;
        d["note"] = json!("kept");
        Some(d)
    })
    .await
    .unwrap();
    let a = ok_json(
        api.send(
            Method::PUT,
            &path,
            Some(json!({"labels": ["work", "2025"]})),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(a["labels"], json!(["work", "2025"]));
    assert_eq!(a["note"], "kept");

    // Validation.
    let long = "x".repeat(101);
    for (p, body, status, needle) in [
        (
            path.clone(),
            json!({"labels": ["ok", ""]}),
            StatusCode::BAD_REQUEST,
            "field `labels[1]`",
        ),
        (
            path.clone(),
            json!({"labels": ["a\u{7}b"]}),
            StatusCode::BAD_REQUEST,
            "field `labels[0]`",
        ),
        (
            path.clone(),
            json!({"labels": ["ok", "fine", long]}),
            StatusCode::BAD_REQUEST,
            "field `labels[2]`",
        ),
        (
            path.clone(),
            json!({"labels": "work"}),
            StatusCode::BAD_REQUEST,
            "labels",
        ),
        (
            path.clone(),
            json!({"labels": [], "file_id": "x"}),
            StatusCode::BAD_REQUEST,
            "file_id",
        ),
        (
            format!("/api/labels/assignments/file::{}", "0".repeat(32)),
            json!({"labels": ["a"]}),
            StatusCode::NOT_FOUND,
            "no file",
        ),
        (
            "/api/labels/assignments/node::n1".to_string(),
            json!({"labels": ["a"]}),
            StatusCode::BAD_REQUEST,
            "field `file_id`",
        ),
    ] {
        expect_error(api.send(Method::PUT, &p, Some(body)).await, status, needle).await;
    }

    // A rule covering the file, then re-indexing as the crawler would: same
    // _id, new size and mtime, the whole document rewritten.
    let rule = ok_json(
        api.send(
            Method::POST,
            "/api/labels/rules",
            Some(json!({"node_id": "n1", "path_prefix": "/home/u/", "labels": ["home"], "name": "Home"})),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let eff_path = format!("/api/labels/effective?file_id={fid}");
    let before = api.get(&eff_path).await;
    let assignment_before = api
        .get(&format!("/api/labels/assignments?file_id={fid}"))
        .await;
    assert_eq!(before["labels"], json!(["2025", "home", "work"]));
    let rev = s.db.get_value(&fid).await.unwrap().unwrap()["_rev"].clone();
    let mut reindexed = file_doc(
        &fid,
        "n1",
        "/home/u/docs/report.pdf",
        2048,
        "2025-06-01T12:00:00.5Z",
    );
    reindexed["_rev"] = rev;
    s.db.put(&reindexed).await.unwrap();
    assert_eq!(api.get(&eff_path).await, before);
    assert_eq!(
        api.get(&format!("/api/labels/assignments?file_id={fid}"))
            .await,
        assignment_before
    );
    assert_eq!(
        assignment_before["items"][0]["labels"],
        json!(["work", "2025"])
    );
    assert!(assignment_before["next_cursor"].is_null());

    // Delete: 204, then 404; the rule still applies.
    let r = api.send(Method::DELETE, &path, None).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    expect_error(
        api.send(Method::DELETE, &path, None).await,
        StatusCode::NOT_FOUND,
        "has no label assignment",
    )
    .await;
    let after = api.get(&eff_path).await;
    assert_eq!(after["labels"], json!(["home"]));
    assert_eq!(after["direct"], json!([]));
    assert_eq!(after["inherited"][0]["rule_id"], rule["_id"]);
    assert_eq!(
        api.get(&format!("/api/labels/assignments?file_id={fid}"))
            .await["items"],
        json!([])
    );
    expect_error(
        api.send(Method::DELETE, "/api/labels/assignments/bogus", None)
            .await,
        StatusCode::BAD_REQUEST,
        "field `file_id`",
    )
    .await;
    expect_error(
        api.send(Method::GET, "/api/labels/assignments?file_id=bogus", None)
            .await,
        StatusCode::BAD_REQUEST,
        "field `file_id`",
    )
    .await;
}

#[tokio::test]
async fn rules_are_validated_and_make_up_the_effective_labels() {
    let s = TestServer::start().await;
    let api = Api {
        s: &s,
        token: s.token().await,
    };
    node(&s, "n1").await;
    node(&s, "n2").await;
    let fid = mosaicfs_common::ids::new_file_id();
    s.db.put(&file_doc(
        &fid,
        "n1",
        "/home/u/docs/a.pdf",
        1,
        "2025-01-01T00:00:00Z",
    ))
    .await
    .unwrap();
    api.send(
        Method::PUT,
        &format!("/api/labels/assignments/{fid}"),
        Some(json!({"labels": ["starred", "work"]})),
    )
    .await;

    let create = |body: Value| api.send(Method::POST, "/api/labels/rules", Some(body));
    let r_all = ok_json(
        create(json!({"node_id": "*", "path_prefix": "/home/", "labels": ["home"], "name": "All homes"})).await,
        StatusCode::CREATED,
    )
    .await;
    let rule_id = r_all["_id"].as_str().unwrap().to_string();
    assert!(rule_id.starts_with("label_rule::"));
    assert_eq!(r_all["enabled"], true, "enabled by default");
    assert!(r_all["created_at"].is_string());
    let parsed: mosaicfs_common::documents::LabelRuleDoc =
        s.db.get(&rule_id).await.unwrap().unwrap();
    assert_eq!(parsed.name, "All homes");
    let r_docs = ok_json(
        create(json!({"node_id": "n1", "path_prefix": "/home/u/docs/", "labels": ["docs", "work", "docs"], "name": "Docs"})).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(r_docs["labels"], json!(["docs", "work"]));
    let r_off = ok_json(
        create(json!({"node_id": "n1", "path_prefix": "/home/", "labels": ["off"], "name": "Off", "enabled": false})).await,
        StatusCode::CREATED,
    )
    .await;
    ok_json(
        create(json!({"node_id": "n2", "path_prefix": "/home/", "labels": ["other-node"], "name": "N2"})).await,
        StatusCode::CREATED,
    )
    .await;
    ok_json(
        create(json!({"node_id": "n1", "path_prefix": "/home/u/doc/", "labels": ["partial"], "name": "Partial"})).await,
        StatusCode::CREATED,
    )
    .await;

    let good = json!({"node_id": "n1", "path_prefix": "/home/", "labels": ["x"], "name": "R"});
    let with = |k: &str, v: Value| {
        let mut b = good.clone();
        b[k] = v;
        b
    };
    for (body, needle) in [
        (with("path_prefix", json!("/home")), "field `path_prefix`"),
        (with("path_prefix", json!("home/")), "field `path_prefix`"),
        (with("node_id", json!("ghost")), "field `node_id`"),
        (with("node_id", json!("Bad")), "field `node_id`"),
        (with("labels", json!([])), "field `labels`"),
        (with("labels", json!(["a", "\n"])), "field `labels[1]`"),
        (with("name", json!(" ")), "field `name`"),
        (with("enabled", json!("yes")), "field `enabled`"),
        (with("extra", json!(1)), "extra"),
    ] {
        expect_error(create(body).await, StatusCode::BAD_REQUEST, needle).await;
    }

    // Effective labels: direct ∪ enabled matching rules.
    let eff = api
        .get(&format!("/api/labels/effective?file_id={fid}"))
        .await;
    assert_eq!(eff["file_id"], fid.as_str());
    assert_eq!(eff["labels"], json!(["docs", "home", "starred", "work"]));
    assert_eq!(eff["direct"], json!(["starred", "work"]));
    let inherited: BTreeSet<(String, String, String)> = eff["inherited"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["label"].as_str().unwrap().to_string(),
                i["rule_id"].as_str().unwrap().to_string(),
                i["rule_name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let docs_id = r_docs["_id"].as_str().unwrap().to_string();
    assert_eq!(
        inherited,
        BTreeSet::from([
            ("docs".into(), docs_id.clone(), "Docs".into()),
            ("work".into(), docs_id.clone(), "Docs".into()),
            ("home".into(), rule_id.clone(), "All homes".into()),
        ])
    );

    // The summary counts assignments and rules per label.
    let labels = api.get("/api/labels").await;
    let count = |l: &str| {
        labels["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["label"] == l)
            .cloned()
            .unwrap_or_else(|| panic!("{l} missing from {labels}"))
    };
    assert_eq!(
        count("work"),
        json!({"label": "work", "assignments": 1, "rules": 1})
    );
    assert_eq!(
        count("starred"),
        json!({"label": "starred", "assignments": 1, "rules": 0})
    );
    assert_eq!(
        count("docs"),
        json!({"label": "docs", "assignments": 0, "rules": 1})
    );
    assert_eq!(
        count("off"),
        json!({"label": "off", "assignments": 0, "rules": 1})
    );
    let names: Vec<&str> = labels["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["label"].as_str().unwrap())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);

    // GET / PATCH / DELETE one rule.
    let off_path = format!("/api/labels/rules/{}", r_off["_id"].as_str().unwrap());
    assert_eq!(api.get(&off_path).await["name"], "Off");
    s.db.update(r_off["_id"].as_str().unwrap(), |d| {
        let mut d = d?;
        d["future"] = json!(1);
        Some(d)
    })
    .await
    .unwrap();
    let patched = ok_json(
        api.send(
            Method::PATCH,
            &off_path,
            Some(json!({"enabled": true, "path_prefix": "/home/u/"})),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(patched["enabled"], true);
    assert_eq!(patched["path_prefix"], "/home/u/");
    assert_eq!(patched["future"], 1);
    assert_eq!(patched["name"], "Off");
    assert!(
        api.get(&format!("/api/labels/effective?file_id={fid}"))
            .await["labels"]
            .as_array()
            .unwrap()
            .contains(&json!("off"))
    );
    for (body, needle) in [
        (json!({"path_prefix": "/no-slash"}), "field `path_prefix`"),
        (json!({"node_id": "ghost"}), "field `node_id`"),
        (json!({"labels": []}), "field `labels`"),
        (json!({"bogus": 1}), "bogus"),
    ] {
        expect_error(
            api.send(Method::PATCH, &off_path, Some(body)).await,
            StatusCode::BAD_REQUEST,
            needle,
        )
        .await;
    }
    let missing = format!("/api/labels/rules/label_rule::{}", "0".repeat(32));
    for method in [Method::GET, Method::PATCH, Method::DELETE] {
        let body = (method == Method::PATCH).then(|| json!({"enabled": false}));
        expect_error(
            api.send(method.clone(), &missing, body.clone()).await,
            StatusCode::NOT_FOUND,
            "no label rule",
        )
        .await;
        expect_error(
            api.send(method, "/api/labels/rules/node::n1", body).await,
            StatusCode::BAD_REQUEST,
            "field `rule_id`",
        )
        .await;
    }
    let r = api.send(Method::DELETE, &off_path, None).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    expect_error(
        api.send(Method::GET, &off_path, None).await,
        StatusCode::NOT_FOUND,
        "no label rule",
    )
    .await;

    // Effective-label errors.
    for (q, status, needle) in [
        ("", StatusCode::BAD_REQUEST, "file_id"),
        ("?file_id=x", StatusCode::BAD_REQUEST, "field `file_id`"),
        (
            &format!("?file_id=file::{}", "f".repeat(32)),
            StatusCode::NOT_FOUND,
            "no file",
        ),
    ] {
        expect_error(
            api.send(Method::GET, &format!("/api/labels/effective{q}"), None)
                .await,
            status,
            needle,
        )
        .await;
    }
}

/// Follows `next_cursor` through `path`; returns the ids in order and the
/// number of pages.
async fn walk(api: &Api<'_>, path: &str) -> (Vec<String>, usize) {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = match &cursor {
            Some(c) => format!("{path}{sep}cursor={c}"),
            None => path.to_string(),
        };
        let page = api.get(&url).await;
        pages += 1;
        ids.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["_id"].as_str().unwrap().to_string()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return (ids, pages),
        }
        assert!(pages < 20, "pagination does not end");
    }
}

#[tokio::test]
async fn assignment_and_rule_lists_page_without_overlap_or_gap() {
    let s = TestServer::start().await;
    let api = Api {
        s: &s,
        token: s.token().await,
    };
    let assignments: Vec<Value> = (0..25)
        .map(|i| {
            json!({
                "_id": format!("label_file::{i:032x}"), "type": "label_assignment",
                "file_id": format!("file::{i:032x}"), "labels": [format!("l{}", i % 3)],
                "updated_at": "2025-01-01T00:00:00Z", "updated_by": "test"
            })
        })
        .collect();
    let rules: Vec<Value> = (0..12)
        .map(|i| {
            json!({
                "_id": format!("label_rule::{i:032x}"), "type": "label_rule", "node_id": "*",
                "path_prefix": "/", "labels": ["r"], "name": format!("r{i}"), "enabled": true,
                "created_at": "2025-01-01T00:00:00Z"
            })
        })
        .collect();
    for r in
        s.db.bulk_docs(&[assignments, rules].concat())
            .await
            .unwrap()
    {
        assert!(r.is_ok(), "{r:?}");
    }

    let (ids, pages) = walk(&api, "/api/labels/assignments?limit=10").await;
    assert_eq!(pages, 3);
    let expected: Vec<String> = (0..25).map(|i| format!("label_file::{i:032x}")).collect();
    assert_eq!(ids, expected);

    let (ids, pages) = walk(&api, "/api/labels/rules?limit=5").await;
    assert_eq!(pages, 3);
    let expected: Vec<String> = (0..12).map(|i| format!("label_rule::{i:032x}")).collect();
    assert_eq!(ids, expected);

    // Exactly a multiple of the page size: no empty trailing page needed.
    let (ids, pages) = walk(&api, "/api/labels/rules?limit=4").await;
    assert_eq!((ids.len(), pages), (12, 3));

    let labels = api.get("/api/labels").await;
    assert_eq!(
        labels["items"],
        json!([
            {"label": "l0", "assignments": 9, "rules": 0},
            {"label": "l1", "assignments": 8, "rules": 0},
            {"label": "l2", "assignments": 8, "rules": 0},
            {"label": "r", "assignments": 0, "rules": 12},
        ])
    );

    for path in [
        "/api/labels/rules?limit=0",
        "/api/labels/assignments?limit=5000",
    ] {
        expect_error(
            api.send(Method::GET, path, None).await,
            StatusCode::BAD_REQUEST,
            "field `limit`",
        )
        .await;
    }
    for path in [
        "/api/labels/rules?cursor=%25%25",
        // A node-list cursor (`node::x`) is refused by the rule list.
        "/api/labels/rules?cursor=bm9kZTo6eA",
    ] {
        expect_error(
            api.send(Method::GET, path, None).await,
            StatusCode::BAD_REQUEST,
            "field `cursor`",
        )
        .await;
    }
}
