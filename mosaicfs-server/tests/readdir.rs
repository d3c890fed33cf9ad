//! Evaluated listings (`GET /api/vfs`) and previews over real HTTPS against
//! a real CouchDB: crawl-like file documents written to the database, then
//! every strategy, multi-source merges, both conflict policies, inherited
//! steps, the label step with incremental label-cache updates, inodes shared
//! between directories, deleted files, cache invalidation, bad documents that
//! arrive by replication, previews of drafts, and the Phase 3 milestone on a
//! tree crawled by the real agent crawler.

use crate::common::*;
use mosaicfs_common::ids;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// A crawl-like file document; `n` makes the id and the inode.
fn file(n: u64, node: &str, path: &str, mtime: &str, status: &str) -> Value {
    let (parent, name) = path.rsplit_once('/').unwrap();
    json!({
        "_id": format!("file::{n:032x}"), "type": "file", "inode": 5000 + n, "name": name,
        "source": {"node_id": node, "export_path": path,
                   "export_parent": if parent.is_empty() { "/" } else { parent }},
        "size": n * 10, "mtime": mtime, "status": status
    })
}

fn fid(n: u64) -> String {
    format!("file::{n:032x}")
}

async fn put_all(s: &TestServer, docs: &[Value]) {
    for r in s.db.bulk_docs(docs).await.unwrap() {
        assert!(r.is_ok(), "{r:?}");
    }
}

async fn list(s: &TestServer, t: &str, path: &str) -> (StatusCode, Value) {
    let r = s
        .authed(Method::GET, "/api/vfs", t)
        .query(&[("path", path)])
        .send()
        .await
        .unwrap();
    let st = r.status();
    let text = r.text().await.unwrap();
    (
        st,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn list_ok(s: &TestServer, t: &str, path: &str) -> Value {
    let (st, v) = list(s, t, path).await;
    assert_eq!(st, StatusCode::OK, "{path}: {v}");
    v
}

fn names(v: &Value) -> Vec<String> {
    v["entries"]
        .as_array()
        .unwrap_or_else(|| panic!("no entries: {v}"))
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect()
}

fn entry<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in {v}"))
}

/// Polls the listing of `path` until `check` accepts it (the index and the
/// label cache follow the database asynchronously).
async fn eventually(
    s: &TestServer,
    t: &str,
    path: &str,
    check: impl Fn(StatusCode, &Value) -> bool,
) -> Value {
    let start = Instant::now();
    loop {
        let (st, v) = list(s, t, path).await;
        if check(st, &v) {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{path}: never reached the expected state: {st} {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn mkdir(s: &TestServer, t: &str, path: &str, mounts: Value) {
    mkdir_with(s, t, json!({"virtual_path": path, "mounts": mounts})).await;
}

async fn mkdir_with(s: &TestServer, t: &str, body: Value) {
    let r = s
        .authed(Method::POST, "/api/vfs/directories", t)
        .json(&body)
        .send()
        .await
        .unwrap();
    let st = r.status();
    assert_eq!(st, StatusCode::CREATED, "{}", r.text().await.unwrap());
}

fn mount(node: &str, path: &str, strategy: &str, steps: Value) -> Value {
    json!({"source": {"node_id": node, "export_path": path}, "strategy": strategy, "steps": steps})
}

const OLD: &str = "2024-01-01T00:00:00Z";
const NEW: &str = "2025-01-01T00:00:00Z";

/// Files written before any directory exists; creating a directory waits
/// for the index, so the first listing sees them.
async fn seed(s: &TestServer) {
    put_all(
        s,
        &[
            file(1, "laptop", "/data/a/x.pdf", OLD, "active"),
            file(2, "laptop", "/data/a/y.txt", OLD, "active"),
            file(3, "laptop", "/data/a/sub/z.pdf", OLD, "active"),
            file(4, "laptop", "/data/a/sub/deep/w.pdf", OLD, "active"),
            file(5, "laptop", "/data/a/gone.pdf", OLD, "deleted"),
            file(6, "desk", "/data/a/x.pdf", NEW, "active"),
            file(7, "desk", "/other/q.pdf", OLD, "active"),
            file(8, "laptop", "/data/ab/not-below.pdf", OLD, "active"),
        ],
    )
    .await;
}

#[tokio::test]
async fn strategies_merges_conflicts_inodes_and_deleted_files() {
    let s = TestServer::start().await;
    let t = s.token().await;
    seed(&s).await;
    let pdf = json!([{"op": "glob", "pattern": "*.pdf"}]);

    mkdir(
        &s,
        &t,
        "/flat",
        json!([mount("laptop", "/data/a", "flatten", pdf.clone())]),
    )
    .await;
    let flat = list_ok(&s, &t, "/flat").await;
    assert_eq!(names(&flat), ["w.pdf", "x.pdf", "z.pdf"], "{flat}");
    assert_eq!(flat["total"], 3);
    assert_eq!(flat["synthesized"], false);
    let x = entry(&flat, "x.pdf");
    assert_eq!(x["kind"], "file");
    assert_eq!(x["file_id"], fid(1));
    assert_eq!(x["inode"], 5001);
    assert_eq!(x["size"], 10);
    assert_eq!(x["node_id"], "laptop");
    assert_eq!(x["mtime"], "2024-01-01T00:00:00Z");

    // prefix_replace keeps the hierarchy; deeper files make synthesized
    // subdirectories, listable themselves.
    mkdir(
        &s,
        &t,
        "/tree",
        json!([mount("laptop", "/data/a", "prefix_replace", json!([]))]),
    )
    .await;
    let tree = list_ok(&s, &t, "/tree").await;
    assert_eq!(names(&tree), ["sub", "x.pdf", "y.txt"]);
    let sub = entry(&tree, "sub");
    assert_eq!(sub["kind"], "directory");
    assert_eq!(sub["synthesized"], true);
    assert_eq!(sub["virtual_path"], "/tree/sub");
    assert_eq!(sub["inode"], ids::synthesized_dir_inode("/tree/sub"));
    let sub_listing = list_ok(&s, &t, "/tree/sub").await;
    assert_eq!(names(&sub_listing), ["deep", "z.pdf"]);
    assert_eq!(sub_listing["synthesized"], true);
    assert_eq!(sub_listing["directory"]["virtual_path"], "/tree");
    assert_eq!(names(&list_ok(&s, &t, "/tree/sub/deep").await), ["w.pdf"]);
    // The same file in two directories has the same inode.
    assert_eq!(entry(&tree, "x.pdf")["inode"], x["inode"]);
    // Neither a directory nor a synthesized one: 404 (a file is not one).
    for p in ["/tree/nope", "/tree/y.txt", "/flat/sub", "/nothing/here"] {
        let (st, v) = list(&s, &t, p).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{p}: {v}");
    }

    // Two sources, last_write_wins on both: one x.pdf, the newer (desk).
    mkdir(
        &s,
        &t,
        "/merged",
        json!([
            mount("laptop", "/data/a", "flatten", pdf.clone()),
            mount("desk", "/data/a", "flatten", json!([])),
            mount("*", "/other", "flatten", json!([])),
        ]),
    )
    .await;
    let merged = list_ok(&s, &t, "/merged").await;
    assert_eq!(names(&merged), ["q.pdf", "w.pdf", "x.pdf", "z.pdf"]);
    assert_eq!(entry(&merged, "x.pdf")["file_id"], fid(6));

    // One mount with suffix_node_id: the conservative policy wins.
    let mut conservative = mount("desk", "/data/a", "flatten", json!([]));
    conservative["conflict_policy"] = json!("suffix_node_id");
    mkdir(
        &s,
        &t,
        "/both",
        json!([
            mount("laptop", "/data/a", "flatten", pdf.clone()),
            conservative
        ]),
    )
    .await;
    let both = list_ok(&s, &t, "/both").await;
    assert_eq!(
        names(&both),
        ["w.pdf", "x~desk.pdf", "x~laptop.pdf", "z.pdf"]
    );
    assert_eq!(entry(&both, "x~desk.pdf")["file_id"], fid(6));

    // Deleting a file (soft) removes it once the listing is rebuilt; the
    // cache keeps file changes for at most its TTL.
    let mut gone = file(3, "laptop", "/data/a/sub/z.pdf", OLD, "deleted");
    gone["_rev"] = s.db.get_value(&fid(3)).await.unwrap().unwrap()["_rev"].clone();
    put_all(&s, &[gone]).await;
    eventually(&s, &t, "/flat", |_, v| names(v) == ["w.pdf", "x.pdf"]).await;
    assert!(!names(&list_ok(&s, &t, "/both").await).contains(&"gone.pdf".to_string()));
}

#[tokio::test]
async fn inherited_steps_run_first_and_an_ancestor_exclude_beats_an_include() {
    let s = TestServer::start().await;
    let t = s.token().await;
    put_all(
        &s,
        &[
            file(1, "laptop", "/w/a.txt", OLD, "active"),
            file(2, "laptop", "/w/b.tmp", OLD, "active"),
            file(3, "laptop", "/w/c.pdf", OLD, "active"),
        ],
    )
    .await;
    let exclude_tmp = json!([{"op": "glob", "pattern": "*.tmp", "on_match": "exclude"}]);
    mkdir_with(
        &s,
        &t,
        json!({"virtual_path": "/p", "enforce_steps_on_children": true,
               "mounts": [mount("laptop", "/nowhere", "flatten", exclude_tmp)]}),
    )
    .await;
    let include_all = json!([{"op": "glob", "pattern": "*", "on_match": "include"}]);
    mkdir(
        &s,
        &t,
        "/p/c",
        json!([mount("laptop", "/w", "flatten", include_all.clone())]),
    )
    .await;
    assert_eq!(names(&list_ok(&s, &t, "/p/c").await), ["a.txt", "c.pdf"]);
    // The same mount outside the policy-setting ancestor shows everything.
    mkdir(
        &s,
        &t,
        "/free",
        json!([mount("laptop", "/w", "flatten", include_all)]),
    )
    .await;
    assert_eq!(
        names(&list_ok(&s, &t, "/free").await),
        ["a.txt", "b.tmp", "c.pdf"]
    );
    // The parent lists its child directory.
    let p = list_ok(&s, &t, "/p").await;
    assert_eq!(names(&p), ["c"]);
    assert_eq!(entry(&p, "c")["synthesized"], false);
}

#[tokio::test]
async fn the_label_step_follows_assignments_and_rules_incrementally() {
    let s = TestServer::start().await;
    let t = s.token().await;
    put_all(
        &s,
        &[
            file(1, "laptop", "/lab/a.pdf", OLD, "active"),
            file(2, "laptop", "/lab/b.pdf", OLD, "active"),
            file(3, "laptop", "/lab/in/c.pdf", OLD, "active"),
        ],
    )
    .await;
    let red = json!([{"op": "label", "labels": ["red"]}]);
    mkdir(
        &s,
        &t,
        "/red",
        json!([mount("laptop", "/lab", "flatten", red)]),
    )
    .await;
    assert!(names(&list_ok(&s, &t, "/red").await).is_empty());

    // A direct assignment.
    let uuid = ids::file_uuid(&fid(1)).unwrap().to_string();
    put_all(
        &s,
        &[
            json!({"_id": ids::label_assignment_id(&uuid), "type": "label_assignment",
                 "file_id": fid(1), "labels": ["red"], "updated_at": NEW}),
        ],
    )
    .await;
    eventually(&s, &t, "/red", |_, v| names(v) == ["a.pdf"]).await;

    // A rule covering a subtree.
    let rule_id = "label_rule::r1";
    let mut rule = json!({"_id": rule_id, "type": "label_rule", "node_id": "laptop",
        "path_prefix": "/lab/in/", "labels": ["red"], "name": "in", "enabled": true,
        "created_at": NEW});
    put_all(&s, &[rule.clone()]).await;
    eventually(&s, &t, "/red", |_, v| names(v) == ["a.pdf", "c.pdf"]).await;

    // Widening the rule, then disabling it.
    rule["_rev"] = s.db.get_value(rule_id).await.unwrap().unwrap()["_rev"].clone();
    rule["path_prefix"] = json!("/lab/");
    put_all(&s, &[rule.clone()]).await;
    eventually(&s, &t, "/red", |_, v| {
        names(v) == ["a.pdf", "b.pdf", "c.pdf"]
    })
    .await;
    rule["_rev"] = s.db.get_value(rule_id).await.unwrap().unwrap()["_rev"].clone();
    rule["enabled"] = json!(false);
    put_all(&s, &[rule]).await;
    eventually(&s, &t, "/red", |_, v| names(v) == ["a.pdf"]).await;

    // A file created later under a rule's prefix is labelled too.
    put_all(
        &s,
        &[
            json!({"_id": "label_rule::r2", "type": "label_rule", "node_id": "*",
                 "path_prefix": "/lab/new/", "labels": ["red"], "name": "new", "enabled": true,
                 "created_at": NEW}),
        ],
    )
    .await;
    put_all(&s, &[file(4, "laptop", "/lab/new/d.pdf", OLD, "active")]).await;
    eventually(&s, &t, "/red", |_, v| names(v) == ["a.pdf", "d.pdf"]).await;
}

#[tokio::test]
async fn a_patch_invalidates_the_cache_at_once() {
    let s = TestServer::start().await;
    let t = s.token().await;
    seed(&s).await;
    let glob = |p: &str| json!([{"op": "glob", "pattern": p}]);
    mkdir(
        &s,
        &t,
        "/c",
        json!([mount("laptop", "/data/a", "flatten", glob("*.pdf"))]),
    )
    .await;
    assert_eq!(
        names(&list_ok(&s, &t, "/c").await),
        ["w.pdf", "x.pdf", "z.pdf"]
    );
    // Served again (from the cache) unchanged.
    assert_eq!(
        names(&list_ok(&s, &t, "/c").await),
        ["w.pdf", "x.pdf", "z.pdf"]
    );
    let r = s
        .authed(Method::PATCH, "/api/vfs/directories/c", &t)
        .json(&json!({"mounts": [mount("laptop", "/data/a", "flatten", glob("*.txt"))]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Well within the 5 s TTL, and without polling.
    assert_eq!(names(&list_ok(&s, &t, "/c").await), ["y.txt"]);
}

#[tokio::test]
async fn bad_documents_from_replication_fail_only_their_directory() {
    let s = TestServer::start().await;
    let t = s.token().await;
    seed(&s).await;
    mkdir(
        &s,
        &t,
        "/ok",
        json!([mount("laptop", "/data/a", "flatten", json!([]))]),
    )
    .await;
    // A bad regex, written straight into CouchDB as replication would.
    let bad = |path: &str, parent: &str, steps: Value| {
        json!({"_id": ids::dir_id(path), "type": "virtual_directory", "inode": 4242,
               "virtual_path": path, "name": path.rsplit('/').next().unwrap(),
               "parent_path": parent, "created_at": NEW, "enforce_steps_on_children": false,
               "mounts": [{"mount_id": "m1", "source": {"node_id": "laptop", "export_path": "/data/a"},
                           "strategy": "flatten", "steps": steps}]})
    };
    put_all(
        &s,
        &[bad(
            "/bad",
            "/",
            json!([{"op": "regex", "pattern": "(unclosed"}]),
        )],
    )
    .await;
    let v = eventually(&s, &t, "/bad", |st, _| {
        st == StatusCode::UNPROCESSABLE_ENTITY
    })
    .await;
    let msg = v["message"].as_str().unwrap();
    assert!(msg.contains("mounts[0].steps[0].pattern"), "{msg}");
    assert_eq!(names(&list_ok(&s, &t, "/ok").await).len(), 4);
    assert_eq!(names(&list_ok(&s, &t, "/").await), ["bad", "ok"]);

    // A loop in the parent_path chain: 400 for that directory only.
    put_all(
        &s,
        &[bad("/l", "/l/m", json!([])), bad("/l/m", "/l", json!([]))],
    )
    .await;
    // (Until both documents arrive, the ancestor is missing: also a 400.)
    eventually(&s, &t, "/l", |st, v| {
        st == StatusCode::BAD_REQUEST && v["message"].as_str().is_some_and(|m| m.contains("loops"))
    })
    .await;
    assert_eq!(names(&list_ok(&s, &t, "/ok").await).len(), 4);

    // `..` never resolves.
    let (st, v) = list(&s, &t, "/ok/../bad").await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["message"].as_str().unwrap().contains("path"), "{v}");
}

#[tokio::test]
async fn a_preview_evaluates_a_draft_without_saving_it() {
    let s = TestServer::start().await;
    let t = s.token().await;
    seed(&s).await;
    // Creating a directory waits for the index, so the files are in it.
    mkdir(&s, &t, "/sync", json!([])).await;
    let preview = |path: &str, body: Value| {
        s.authed(
            Method::POST,
            &format!("/api/vfs/directories/{path}/preview"),
            &t,
        )
        .json(&body)
        .send()
    };
    let r = preview(
        "draft",
        json!({"mounts": [mount("laptop", "/data/a", "prefix_replace",
                                json!([{"op": "glob", "pattern": "**/*.pdf"}]))]}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(names(&v), ["sub", "x.pdf"]);
    assert_eq!(v["total"], 2);
    assert_eq!(v["path"], "/draft");
    let (st, _) = list(&s, &t, "/draft").await;
    assert_eq!(st, StatusCode::NOT_FOUND, "a preview saves nothing");

    let r = preview(
        "draft",
        json!({"mounts": [mount("laptop", "/data/a", "flatten",
                                json!([{"op": "size", "min": "3 parsecs"}]))]}),
    )
    .await
    .unwrap();
    expect_error(r, StatusCode::BAD_REQUEST, "mounts[0].steps[0].min").await;
    let r = preview("no/parent", json!({"mounts": []})).await.unwrap();
    expect_error(r, StatusCode::NOT_FOUND, "/no").await;
}

/// Writes `n` files into a tree of nested directories below `root`, a
/// third of them PDFs; returns the PDFs' names (unique).
fn make_tree(root: &std::path::Path) -> BTreeSet<String> {
    let mut pdfs = BTreeSet::new();
    let dirs = ["", "a", "a/b", "a/b/c", "d", "d/e/f/g"];
    for (i, d) in dirs.iter().cycle().take(60).enumerate() {
        let dir = root.join(d);
        std::fs::create_dir_all(&dir).unwrap();
        let ext = ["pdf", "txt", "PDF.bak"][i % 3];
        let name = format!("f{i}.{ext}");
        std::fs::write(dir.join(&name), format!("content {i}")).unwrap();
        if ext == "pdf" {
            pdfs.insert(name);
        }
    }
    pdfs
}

/// The Phase 3 milestone: a tree crawled by the real agent crawler, then
/// `/documents/work` with a flatten mount and a `*.pdf` glob lists exactly
/// the PDFs a walk of the tree finds.
#[tokio::test]
async fn documents_work_lists_exactly_the_crawled_pdfs() {
    let s = TestServer::start().await;
    let t = s.token().await;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("watched");
    let expected = make_tree(&root);
    let mut crawler =
        mosaicfs_agent::crawler::Crawler::new(s.db.clone(), "laptop", vec![root.clone()])
            .await
            .unwrap();
    let summary = crawler
        .crawl(&tokio_util::sync::CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(summary.stats.errors, 0, "{summary}");

    // What the walk sees, independently of the crawler.
    let mut walked = BTreeSet::new();
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else if e.path().extension().is_some_and(|x| x == "pdf") {
                walked.insert(e.file_name().to_string_lossy().into_owned());
            }
        }
    }
    assert_eq!(walked, expected);

    mkdir(&s, &t, "/documents", json!([])).await;
    mkdir(
        &s,
        &t,
        "/documents/work",
        json!([mount(
            "laptop",
            root.to_str().unwrap(),
            "flatten",
            json!([{"op": "glob", "pattern": "*.pdf"}])
        )]),
    )
    .await;
    let v = list_ok(&s, &t, "/documents/work").await;
    let got: BTreeSet<String> = names(&v).into_iter().collect();
    assert_eq!(got, walked);
    assert_eq!(v["total"], walked.len());
    assert!(
        v["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["kind"] == "file")
    );
}
