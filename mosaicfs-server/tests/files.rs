//! Files and search over real HTTPS, answered from the server's local index:
//! pagination without gaps or duplicates, lookups by id and path, name
//! search by substring and glob, label filters.

use crate::common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

pub fn file(i: usize, node: &str, dir: &str, name: &str) -> Value {
    json!({
        "_id": format!("file::{i:032x}"), "type": "file", "inode": 1000 + i as u64, "name": name,
        "source": {"node_id": node, "export_path": format!("{dir}/{name}"), "export_parent": dir},
        "size": i, "mtime": "2025-01-01T00:00:00.5Z", "status": "active"
    })
}

async fn get_json(s: &TestServer, token: &str, path: &str) -> Value {
    let r = s.authed(Method::GET, path, token).send().await.unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{path}: {text}");
    serde_json::from_str(&text).unwrap()
}

/// Polls `path` until `check` accepts the answer (the index follows the
/// database asynchronously).
async fn eventually(
    s: &TestServer,
    token: &str,
    path: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let start = Instant::now();
    loop {
        let v = get_json(s, token, path).await;
        if check(&v) {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{path}: index never caught up: {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

fn names(page: &Value) -> Vec<String> {
    let mut n: Vec<String> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect();
    n.sort();
    n
}

#[tokio::test]
async fn listing_pages_through_every_file_once_and_lookups_work() {
    let s = TestServer::start().await;
    let token = s.token().await;
    let docs: Vec<Value> = (0..250)
        .map(|i| {
            file(
                i,
                if i % 5 == 0 { "n2" } else { "n1" },
                "/data",
                &format!("f{i}.txt"),
            )
        })
        .collect();
    s.db.bulk_docs(&docs).await.unwrap();
    let mut deleted = file(999, "n1", "/data", "gone.txt");
    deleted["status"] = json!("deleted");
    s.db.put(&deleted).await.unwrap();
    eventually(&s, &token, "/api/files?limit=1000&status=all", |v| {
        v["items"].as_array().unwrap().len() == 251
    })
    .await;

    let mut seen = Vec::new();
    let mut path = "/api/files?limit=100".to_string();
    let mut pages = 0;
    loop {
        let page = get_json(&s, &token, &path).await;
        pages += 1;
        seen.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/api/files?limit=100&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let mut expected: Vec<String> = docs
        .iter()
        .map(|d| d["_id"].as_str().unwrap().to_string())
        .collect();
    expected.sort();
    assert_eq!(seen, expected, "every active file once, in id order");

    let n2 = get_json(&s, &token, "/api/files?node_id=n2&limit=1000").await;
    assert_eq!(ids(&n2).len(), 50);
    let item = &n2["items"][0];
    assert_eq!(item["node_id"], "n2");
    assert_eq!(item["export_parent"], "/data");
    assert_eq!(item["mtime"], "2025-01-01T00:00:00.500Z");

    for (q, field) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("cursor=%%%", "cursor"),
        ("cursor=YWJj", "cursor"),
    ] {
        let r = s
            .authed(Method::GET, &format!("/api/files?{q}"), &token)
            .send()
            .await
            .unwrap();
        expect_error(r, StatusCode::BAD_REQUEST, field).await;
    }
    let r = s.request(Method::GET, "/api/files").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // One document, without CouchDB's _rev.
    let id = format!("file::{:032x}", 7);
    let doc = get_json(&s, &token, &format!("/api/files/{id}")).await;
    assert_eq!(doc["name"], "f7.txt");
    assert!(doc.get("_rev").is_none());
    for missing in ["/api/files/file::nope", "/api/files/node::n1"] {
        let r = s.authed(Method::GET, missing, &token).send().await.unwrap();
        expect_error(r, StatusCode::NOT_FOUND, "no file").await;
    }

    let doc = get_json(
        &s,
        &token,
        "/api/files/by-path?node_id=n1&path=/data/f7.txt",
    )
    .await;
    assert_eq!(doc["_id"], id);
    let r = s
        .authed(
            Method::GET,
            "/api/files/by-path?node_id=n2&path=/data/f7.txt",
            &token,
        )
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::NOT_FOUND, "no file at /data/f7.txt").await;
    let r = s
        .authed(Method::GET, "/api/files/by-path?path=/data/f7.txt", &token)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::BAD_REQUEST, "node_id").await;
}

#[tokio::test]
async fn search_by_substring_glob_and_labels() {
    let s = TestServer::start().await;
    let token = s.token().await;
    let docs = vec![
        file(1, "n1", "/home/u/docs", "Annual Report 2024.pdf"),
        file(2, "n1", "/home/u/docs", "report-draft.docx"),
        file(3, "n1", "/home/u/pics", "IMG_0001.JPG"),
        file(4, "n1", "/home/u/pics", "img_0002.jpg"),
        file(5, "n2", "/srv/music", "song [live].mp3"),
        file(6, "n2", "/srv/docs", "reports.txt"),
    ];
    s.db.bulk_docs(&docs).await.unwrap();
    // Labels: a direct assignment and a rule covering /home/u/pics/ on n1.
    let uuid = format!("{:032x}", 2);
    s.db.put(
        &json!({"_id": format!("label_file::{uuid}"), "type": "label_assignment",
        "file_id": format!("file::{uuid}"), "labels": ["work", "draft"],
        "updated_at": "2025-01-01T00:00:00Z"}),
    )
    .await
    .unwrap();
    s.db.put(
        &json!({"_id": "label_rule::r1", "type": "label_rule", "node_id": "n1",
        "path_prefix": "/home/u/pics/", "labels": ["photos", "work"], "name": "pics",
        "enabled": true, "created_at": "2025-01-01T00:00:00Z"}),
    )
    .await
    .unwrap();
    s.db.put(
        &json!({"_id": "label_rule::r2", "type": "label_rule", "node_id": "*",
        "path_prefix": "/srv/", "labels": ["work"], "name": "off", "enabled": false,
        "created_at": "2025-01-01T00:00:00Z"}),
    )
    .await
    .unwrap();
    let v = eventually(&s, &token, "/api/search?label=work", |v| {
        v["items"].as_array().unwrap().len() == 3
    })
    .await;
    assert_eq!(
        names(&v),
        ["IMG_0001.JPG", "img_0002.jpg", "report-draft.docx"]
    );

    let search = |q: &'static str| {
        let s = &s;
        let token = token.clone();
        async move { names(&get_json(s, &token, &format!("/api/search?{q}")).await) }
    };
    assert_eq!(
        search("q=REPORT").await,
        ["Annual Report 2024.pdf", "report-draft.docx", "reports.txt"]
    );
    assert_eq!(search("q=*.jpg").await, ["IMG_0001.JPG", "img_0002.jpg"]);
    assert_eq!(
        search("q=img_000%3F.*").await,
        ["IMG_0001.JPG", "img_0002.jpg"]
    );
    assert_eq!(
        search("q=*%5B0-1%5D.jpg").await,
        ["IMG_0001.JPG"],
        "[xz] is a character class"
    );
    assert_eq!(
        search("q=song%20%5B%5B%5Dlive%5D*").await,
        ["song [live].mp3"]
    );
    assert_eq!(
        search("q=report*").await,
        ["report-draft.docx", "reports.txt"],
        "a glob matches whole names"
    );
    assert_eq!(search("q=nothing-like-this").await, Vec::<String>::new());
    assert_eq!(
        search("q=img&label=photos").await,
        ["IMG_0001.JPG", "img_0002.jpg"]
    );
    assert_eq!(
        search("label=work&label=draft").await,
        ["report-draft.docx"],
        "labels are ANDed"
    );
    assert_eq!(
        search("label=photos&label=draft").await,
        Vec::<String>::new()
    );

    // Pages of search results.
    let p1 = get_json(&s, &token, "/api/search?q=r&limit=2").await;
    assert_eq!(p1["items"].as_array().unwrap().len(), 2);
    let c = p1["next_cursor"].as_str().unwrap();
    let p2 = get_json(&s, &token, &format!("/api/search?q=r&limit=2&cursor={c}")).await;
    let mut all = ids(&p1);
    all.extend(ids(&p2));
    let whole = get_json(&s, &token, "/api/search?q=r&limit=100").await;
    assert_eq!(all, ids(&whole)[..all.len()]);
    let lp1 = get_json(&s, &token, "/api/search?label=work&limit=2").await;
    let c = lp1["next_cursor"].as_str().unwrap();
    let lp2 = get_json(
        &s,
        &token,
        &format!("/api/search?label=work&limit=2&cursor={c}"),
    )
    .await;
    assert_eq!(ids(&lp1).len() + ids(&lp2).len(), 3);
    assert!(lp2["next_cursor"].is_null());

    let long = "x".repeat(300);
    for (q, needle) in [
        ("", "`q`: is required"),
        ("q=", "`q`: must not be empty"),
        ("q=%20%20", "`q`: must not be empty"),
        (&format!("q={long}") as &str, "`q`: is longer"),
        ("q=a%5Bb", "`q`: has a `[`"),
        ("q=a&limit=0", "limit"),
    ] {
        let r = s
            .authed(Method::GET, &format!("/api/search?{q}"), &token)
            .send()
            .await
            .unwrap();
        expect_error(r, StatusCode::BAD_REQUEST, needle).await;
    }
}

/// A file at the exact path `bytes`, as the crawler writes it: lossy text,
/// base64 bytes when they are not UTF-8.
fn file_at(i: usize, node: &str, bytes: &[u8]) -> Value {
    use base64::Engine;
    let lossy = String::from_utf8_lossy(bytes).into_owned();
    let (dir, name) = lossy.rsplit_once('/').unwrap();
    let mut d = file(i, node, dir, name);
    if std::str::from_utf8(bytes).is_err() {
        d["source"]["export_path_bytes"] =
            json!(base64::engine::general_purpose::STANDARD.encode(bytes));
    }
    d
}

#[tokio::test]
async fn exact_name_bytes_are_shown_accepted_back_and_collisions_counted() {
    use base64::Engine;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let s = TestServer::start().await;
    let token = s.token().await;
    s.db.bulk_docs(&[
        file_at(81, "n1", b"/odd/\xfa.dat"),
        file_at(82, "n1", b"/odd/\xfb.dat"),
        file_at(83, "n1", b"/odd/a/same"),
        file_at(84, "n1", b"/odd/b/same"),
    ])
    .await
    .unwrap();
    let page = eventually(&s, &token, "/api/files?node_id=n1", |v| {
        v["items"].as_array().is_some_and(|a| a.len() == 4)
    })
    .await;
    let fa = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == format!("file::{:032x}", 81))
        .unwrap();
    assert_eq!(fa["name"], "\u{FFFD}.dat");
    assert_eq!(fa["name_bytes"], b64(b"\xfa.dat"));
    assert_eq!(fa["export_path_bytes"], b64(b"/odd/\xfa.dat"));

    // by-path: each exact path finds its own file; the lossy text neither.
    for (i, p) in [(81, &b"/odd/\xfa.dat"[..]), (82, b"/odd/\xfb.dat")] {
        let q = format!(
            "/api/files/by-path?node_id=n1&path_bytes={}",
            urlencode(&b64(p))
        );
        let doc = get_json(&s, &token, &q).await;
        assert_eq!(doc["_id"], format!("file::{i:032x}"));
    }
    let lossy = "/api/files/by-path?node_id=n1&path=/odd/%EF%BF%BD.dat";
    let r = s.authed(Method::GET, lossy, &token).send().await.unwrap();
    expect_error(r, StatusCode::NOT_FOUND, "no file at").await;
    for (q, needle) in [
        ("path_bytes=not%20base64", "base64"),
        ("path=/x&path_bytes=L3g=", "not both"),
        ("path_bytes=eA==", "absolute"),
    ] {
        let url = format!("/api/files/by-path?node_id=n1&{q}");
        let r = s.authed(Method::GET, &url, &token).send().await.unwrap();
        expect_error(r, StatusCode::BAD_REQUEST, needle).await;
    }

    // A listing shows both names, exactly; flattened, `same` collides.
    for (path, strategy) in [("/odd", "prefix_replace"), ("/flat", "flatten")] {
        let r = s
            .authed(Method::POST, "/api/vfs/directories", &token)
            .json(
                &json!({"virtual_path": path, "mounts": [{"source": {"node_id": "n1",
                "export_path": "/odd"}, "strategy": strategy}]}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let l = get_json(&s, &token, "/api/vfs?path=/odd").await;
    let exact: Vec<Value> = l["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name_bytes"].clone())
        .collect();
    assert_eq!(
        exact,
        [
            Value::Null,
            Value::Null,
            json!(b64(b"\xfa.dat")),
            json!(b64(b"\xfb.dat"))
        ],
        "{l}"
    );
    let q = format!("/api/vfs?path_bytes={}", urlencode(&b64(b"/odd/a")));
    let sub = get_json(&s, &token, &q).await;
    assert_eq!(sub["entries"][0]["name"], "same");
    let r = s
        .authed(Method::GET, "/api/vfs?path_bytes=!!", &token)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::BAD_REQUEST, "base64").await;
    let flat = get_json(&s, &token, "/api/vfs?path=/flat").await;
    assert_eq!(
        flat["total"], 3,
        "one `same` is hidden by last_write_wins: {flat}"
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
        metrics.contains("mosaicfs_readdir_name_collisions_total 1\n"),
        "{metrics}"
    );
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
