//! Virtual directory endpoints over real HTTPS: create, get, list, tree,
//! patch (unknown fields survive), delete (system and non-empty directories
//! refused, recursive delete), and the validation errors naming the field.

use crate::common::*;
use mosaicfs_common::ids;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn create(s: &TestServer, token: &str, body: Value) -> reqwest::Response {
    s.authed(Method::POST, "/api/vfs/directories", token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn created(s: &TestServer, token: &str, path: &str) -> Value {
    let r = create(s, token, json!({ "virtual_path": path })).await;
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

async fn get_json(s: &TestServer, token: &str, path: &str) -> (StatusCode, Value) {
    let r = s.authed(Method::GET, path, token).send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap())
}

fn a_mount() -> Value {
    json!({
        "source": {"node_id": "laptop", "export_path": "/home/u/Documents"},
        "strategy": "prefix_replace",
        "steps": [{"op": "glob", "pattern": "**/*.pdf"}, {"op": "size", "max": "10MB"}]
    })
}

#[tokio::test]
async fn nested_directories_are_created_listed_and_shown_as_a_tree() {
    let s = TestServer::start().await;
    let t = s.token().await;
    let docs = created(&s, &t, "/documents").await;
    assert_eq!(docs["_id"], ids::dir_id("/documents"));
    assert_eq!(docs["type"], "virtual_directory");
    assert_eq!(docs["name"], "documents");
    assert_eq!(docs["parent_path"], "/");
    assert!(docs["inode"].as_u64().unwrap() >= 1000);
    assert!(docs["created_at"].is_string());
    assert!(docs["_rev"].is_string());

    let r = create(
        &s,
        &t,
        json!({"virtual_path": "/documents/work", "enforce_steps_on_children": true,
               "mounts": [a_mount()]}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let work: Value = r.json().await.unwrap();
    assert_eq!(work["enforce_steps_on_children"], true);
    let mount_id = work["mounts"][0]["mount_id"].as_str().unwrap();
    assert_eq!(mount_id.len(), 8, "generated mount id");
    assert_eq!(work["mounts"][0]["steps"][1]["max"], "10MB");
    created(&s, &t, "/documents/home").await;
    created(&s, &t, "/music").await;
    created(&s, &t, "/documents/work/2024 Q1 ü").await;

    let (st, got) = get_json(&s, &t, "/api/vfs/directories/documents/work").await;
    assert_eq!(st, StatusCode::OK, "{got}");
    assert_eq!(got["inode"], work["inode"]);
    let (st, got) = get_json(
        &s,
        &t,
        "/api/vfs/directories/documents/work/2024%20Q1%20%C3%BC",
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{got}");
    assert_eq!(got["virtual_path"], "/documents/work/2024 Q1 ü");

    let (st, root) = get_json(&s, &t, "/api/vfs?path=/").await;
    assert_eq!(st, StatusCode::OK, "{root}");
    assert_eq!(root["directory"]["_id"], "dir::root");
    let names: Vec<&str> = root["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["documents", "music"]);
    assert_eq!(root["entries"][0]["kind"], "directory");
    assert_eq!(root["entries"][0]["virtual_path"], "/documents");
    assert_eq!(root["entries"][0]["inode"], docs["inode"]);

    let (st, listing) = get_json(&s, &t, "/api/vfs?path=%2Fdocuments").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(listing["path"], "/documents");
    assert_eq!(listing["entries"].as_array().unwrap().len(), 2);

    let (st, tree) = get_json(&s, &t, "/api/vfs/tree").await;
    assert_eq!(st, StatusCode::OK, "{tree}");
    assert_eq!(tree["path"], "/");
    assert_eq!(tree["inode"], 1);
    assert_eq!(tree["children"][0]["name"], "documents");
    assert_eq!(tree["children"][0]["children"][1]["name"], "work");
    assert_eq!(
        tree["children"][0]["children"][1]["children"][0]["path"],
        "/documents/work/2024 Q1 ü"
    );
    assert_eq!(tree["children"][1]["children"], json!([]));
    let (_, shallow) = get_json(&s, &t, "/api/vfs/tree?path=/documents&depth=1").await;
    assert_eq!(shallow["children"][1]["children"], json!([]));

    let (st, _) = get_json(&s, &t, "/api/vfs?path=/nope").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let r = s
        .request(Method::GET, "/api/vfs/tree")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn patch_replaces_mounts_and_keeps_unknown_fields() {
    let s = TestServer::start().await;
    let t = s.token().await;
    created(&s, &t, "/p").await;
    // A newer version's field, written behind the API's back.
    s.db.update(&ids::dir_id("/p"), |d| {
        let mut d = d?;
        d["future_field"] = json!({"kept": true});
        Some(d)
    })
    .await
    .unwrap();
    let r = s
        .authed(Method::PATCH, "/api/vfs/directories/p", &t)
        .json(&json!({"enforce_steps_on_children": true,
                      "mounts": [a_mount(), {"mount_id": "fixed", "source": {"node_id": "*", "export_path": "/"},
                                 "strategy": "flatten"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let patched: Value = r.json().await.unwrap();
    assert_eq!(patched["enforce_steps_on_children"], true);
    assert_eq!(patched["mounts"][1]["mount_id"], "fixed");
    assert!(patched["updated_at"].is_string());
    let stored = s.db.get_value(&ids::dir_id("/p")).await.unwrap().unwrap();
    assert_eq!(stored["future_field"], json!({"kept": true}));
    assert_eq!(stored["_rev"], patched["_rev"]);

    let r = s
        .authed(Method::PATCH, "/api/vfs/directories/p", &t)
        .json(&json!({"mounts": []}))
        .send()
        .await
        .unwrap();
    let patched: Value = r.json().await.unwrap();
    assert_eq!(patched["mounts"], json!([]));
    assert_eq!(
        patched["enforce_steps_on_children"], true,
        "absent field kept"
    );

    let r = s
        .authed(Method::PATCH, "/api/vfs/directories/p", &t)
        .json(&json!({"mounts": [{"source": {"node_id": "*", "export_path": "/"}, "strategy": "flatten",
                                  "steps": [{"op": "size", "min": "3 parsecs"}]}]}))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::BAD_REQUEST, "mounts[0].steps[0].min").await;
    let r = s
        .authed(Method::PATCH, "/api/vfs/directories/absent", &t)
        .json(&json!({"mounts": []}))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::NOT_FOUND, "/absent").await;
}

#[tokio::test]
async fn each_validation_error_is_a_400_naming_the_field() {
    let s = TestServer::start().await;
    let t = s.token().await;
    created(&s, &t, "/ok").await;
    let path_cases = [
        ("relative", "not absolute"),
        ("/trailing/", "ends with"),
        ("/a//b", "empty segment"),
        ("/ok/./x", "`.` segment"),
        ("/ok/../x", "`..` segment"),
        ("/ctl\u{7}", "control character"),
        ("/federation/peer", "reserved"),
    ];
    for (path, needle) in path_cases {
        let r = create(&s, &t, json!({ "virtual_path": path })).await;
        let body = expect_error(r, StatusCode::BAD_REQUEST, needle).await;
        assert!(
            body["message"].as_str().unwrap().contains("`virtual_path`"),
            "{body}"
        );
    }
    let long = format!("/{}", "x".repeat(1100));
    let r = create(&s, &t, json!({ "virtual_path": long })).await;
    expect_error(r, StatusCode::BAD_REQUEST, "limit is 1024").await;
    let r = create(&s, &t, json!({ "virtual_path": "/missing/child" })).await;
    expect_error(
        r,
        StatusCode::BAD_REQUEST,
        "parent directory /missing does not exist",
    )
    .await;
    let r = create(&s, &t, json!({ "virtual_path": 5 })).await;
    expect_error(r, StatusCode::BAD_REQUEST, "virtual_path").await;

    let mount_with = |step: Value| {
        json!({"virtual_path": "/ok/m", "mounts": [a_mount(), {
            "mount_id": "m2", "source": {"node_id": "*", "export_path": "/x"},
            "strategy": "flatten", "steps": [step]}]})
    };
    let step_cases = [
        (json!({"op": "teleport"}), "mounts[1].steps[0].op"),
        (
            json!({"op": "glob", "pattern": "[z-a"}),
            "mounts[1].steps[0].pattern",
        ),
        (
            json!({"op": "regex", "pattern": "(("}),
            "mounts[1].steps[0].pattern",
        ),
        (
            json!({"op": "age", "max_days": -2}),
            "mounts[1].steps[0].max_days",
        ),
        (
            json!({"op": "size", "min": "10XB"}),
            "mounts[1].steps[0].min",
        ),
        (
            json!({"op": "mime", "types": []}),
            "mounts[1].steps[0].types",
        ),
        (
            json!({"op": "label", "labels": []}),
            "mounts[1].steps[0].labels",
        ),
        (
            json!({"op": "node", "node_ids": []}),
            "mounts[1].steps[0].node_ids",
        ),
        (
            json!({"op": "annotation", "key": "k"}),
            "mounts[1].steps[0].plugin_name",
        ),
    ];
    for (step, field) in step_cases {
        let r = create(&s, &t, mount_with(step)).await;
        expect_error(r, StatusCode::BAD_REQUEST, &format!("`{field}`")).await;
    }
    let r = create(&s, &t, mount_with(json!({"op": "size", "min": "10XB"}))).await;
    expect_error(r, StatusCode::BAD_REQUEST, "\"XB\"").await;

    let bad_mount = |m: Value| json!({"virtual_path": "/ok/m", "mounts": [m]});
    let mount_cases = [
        (
            json!({"mount_id": "", "source": {"node_id": "*", "export_path": "/x"}, "strategy": "flatten"}),
            "mounts[0].mount_id",
        ),
        (
            json!({"source": {"node_id": "Not A Node", "export_path": "/x"}, "strategy": "flatten"}),
            "mounts[0].source.node_id",
        ),
        (
            json!({"source": {"node_id": "n", "export_path": "x"}, "strategy": "flatten"}),
            "mounts[0].source.export_path",
        ),
        (
            json!({"source": {"node_id": "n", "export_path": "/x"}, "strategy": "flatten", "source_prefix": "rel"}),
            "mounts[0].source_prefix",
        ),
        (
            json!({"source": {"node_id": "n", "export_path": "/x"}, "strategy": "shuffle"}),
            "mounts[0].strategy",
        ),
    ];
    for (m, field) in mount_cases {
        let r = create(&s, &t, bad_mount(m)).await;
        expect_error(r, StatusCode::BAD_REQUEST, &format!("`{field}`")).await;
    }
    let dup = json!({"mount_id": "same", "source": {"node_id": "n", "export_path": "/x"}, "strategy": "flatten"});
    let r = create(
        &s,
        &t,
        json!({"virtual_path": "/ok/m", "mounts": [dup.clone(), dup]}),
    )
    .await;
    expect_error(r, StatusCode::BAD_REQUEST, "`mounts[1].mount_id`").await;

    // Nothing of the rejected requests was written.
    assert!(
        s.db.get_value(&ids::dir_id("/ok/m"))
            .await
            .unwrap()
            .is_none()
    );

    let r = s
        .authed(Method::GET, "/api/vfs/directories/a%2F%2Fb", &t)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::BAD_REQUEST, "`path`").await;
}

#[tokio::test]
async fn duplicates_conflict_and_deletes_respect_system_and_children() {
    let s = TestServer::start().await;
    let t = s.token().await;
    created(&s, &t, "/a").await;
    let r = create(&s, &t, json!({"virtual_path": "/a"})).await;
    expect_error(r, StatusCode::CONFLICT, "already exists").await;
    let r = create(&s, &t, json!({"virtual_path": "/"})).await;
    expect_error(r, StatusCode::CONFLICT, "already exists").await;

    let r = s
        .authed(Method::DELETE, "/api/vfs/directories/%2F", &t)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::CONFLICT, "system directory").await;
    assert!(s.db.get_value(ids::ROOT_DIR_ID).await.unwrap().is_some());

    created(&s, &t, "/a/b").await;
    created(&s, &t, "/a/b/c").await;
    created(&s, &t, "/ab").await;
    let r = s
        .authed(Method::DELETE, "/api/vfs/directories/a", &t)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::CONFLICT, "recursive=true").await;

    let r = s
        .authed(Method::DELETE, "/api/vfs/directories/a/b/c", &t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    created(&s, &t, "/a/b/c").await;

    let r = s
        .authed(Method::DELETE, "/api/vfs/directories/a?recursive=true", &t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    for gone in ["/a", "/a/b", "/a/b/c"] {
        assert!(
            s.db.get_value(&ids::dir_id(gone)).await.unwrap().is_none(),
            "{gone}"
        );
    }
    assert!(
        s.db.get_value(&ids::dir_id("/ab")).await.unwrap().is_some(),
        "a sibling sharing the prefix survives"
    );
    let r = s
        .authed(Method::DELETE, "/api/vfs/directories/a", &t)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::NOT_FOUND, "/a").await;
    // A deleted path can be created again.
    created(&s, &t, "/a").await;
}

#[tokio::test]
async fn a_malformed_directory_document_is_skipped_in_listings() {
    let s = TestServer::start().await;
    let t = s.token().await;
    created(&s, &t, "/good").await;
    s.db.put(
        &json!({"_id": ids::dir_id("/bad"), "type": "virtual_directory", "virtual_path": "/bad"}),
    )
    .await
    .unwrap();
    let (st, root) = get_json(&s, &t, "/api/vfs?path=/").await;
    assert_eq!(st, StatusCode::OK, "{root}");
    assert_eq!(root["entries"].as_array().unwrap().len(), 1);
    let (st, _) = get_json(&s, &t, "/api/vfs/tree").await;
    assert_eq!(st, StatusCode::OK);
    let r = s
        .authed(Method::GET, "/api/vfs/directories/bad", &t)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::CONFLICT, "malformed").await;
    let r = s
        .authed(Method::DELETE, "/api/vfs/directories/bad", &t)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::NO_CONTENT,
        "a malformed one can be deleted"
    );
}
