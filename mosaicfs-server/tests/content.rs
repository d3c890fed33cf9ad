//! File content over real HTTPS: from this server's disk (byte-for-byte,
//! ranges, validators, HEAD, staleness) and from another node's transfer
//! endpoint (tier 4) run in-process, signed with that node's credential.

use crate::common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::path::Path;
use tokio_util::sync::CancellationToken;

const SERVER_NODE: &str = "server-node";

fn file_doc(id: &str, node_id: &str, path: &Path) -> Value {
    let md = std::fs::metadata(path).unwrap();
    let mtime = mosaicfs_common::time::from_system_time(md.modified().unwrap());
    json!({
        "_id": id, "type": "file", "inode": 4242,
        "name": path.file_name().unwrap().to_string_lossy(),
        "source": {"node_id": node_id, "export_path": path.to_string_lossy(),
                   "export_parent": path.parent().unwrap().to_string_lossy()},
        "size": md.len(), "mtime": mosaicfs_common::time::format(&mtime),
        "mime_type": "application/pdf", "status": "active"
    })
}

fn bytes(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 253) as u8).collect()
}

/// A server running on node `server-node`, whose only watch path is
/// `{tmp}/files`.
async fn server_with_node(tmp: &Path) -> TestServer {
    let db = couch_server("a").fresh_db("content").await;
    let s = TestServer::start_with(db, &tmp.join("data"), |c| {
        c.node_id = Some(SERVER_NODE.into())
    })
    .await;
    std::fs::create_dir_all(tmp.join("files")).unwrap();
    s.db.put(
        &json!({"_id": format!("node::{SERVER_NODE}"), "type": "node", "node_id": SERVER_NODE,
        "watch_paths": [tmp.join("files")]}),
    )
    .await
    .unwrap();
    s
}

#[tokio::test]
async fn a_local_file_outside_the_watch_paths_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let s = server_with_node(tmp.path()).await;
    let token = s.token().await;
    let outside = tmp.path().join("secret.txt");
    std::fs::write(&outside, b"not for you").unwrap();
    let id = "file::0190c0de5b6f7a3e8c1d2e3f4a5b6c99";
    s.db.put(&file_doc(id, SERVER_NODE, &outside))
        .await
        .unwrap();
    let got = fetch(&s, &token, Method::GET, id, &[]).await;
    assert_eq!(
        got.status,
        StatusCode::FORBIDDEN,
        "{}",
        String::from_utf8_lossy(&got.body)
    );
    // A symlink inside the watch path that leads out is refused too.
    let link = tmp.path().join("files/link.txt");
    std::os::unix::fs::symlink(&outside, &link).unwrap();
    let id = "file::0190c0de5b6f7a3e8c1d2e3f4a5b6c98";
    s.db.put(&file_doc(id, SERVER_NODE, &link)).await.unwrap();
    let got = fetch(&s, &token, Method::GET, id, &[]).await;
    assert_eq!(got.status, StatusCode::FORBIDDEN);
}

struct Got {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

async fn fetch(
    s: &TestServer,
    token: &str,
    method: Method,
    id: &str,
    headers: &[(&str, &str)],
) -> Got {
    let mut r = s.authed(method, &format!("/api/files/{id}/content"), token);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let resp = r.send().await.unwrap();
    Got {
        status: resp.status(),
        headers: resp.headers().clone(),
        body: resp.bytes().await.unwrap().to_vec(),
    }
}

#[tokio::test]
async fn local_content_ranges_validators_and_staleness() {
    let tmp = tempfile::tempdir().unwrap();
    let s = server_with_node(tmp.path()).await;
    let token = s.token().await;
    let dir = tmp.path().join("files");
    std::fs::create_dir_all(&dir).unwrap();
    let content = bytes(700_001);
    let path = dir.join("Résumé 2024.pdf");
    std::fs::write(&path, &content).unwrap();
    let id = "file::0190c0de5b6f7a3e8c1d2e3f4a5b6c10";
    s.db.put(&file_doc(id, SERVER_NODE, &path)).await.unwrap();
    let n = content.len();

    let g = fetch(&s, &token, Method::GET, id, &[]).await;
    assert_eq!(g.status, StatusCode::OK);
    assert!(g.body == content, "byte-for-byte");
    assert_eq!(g.headers["content-length"], n.to_string());
    assert_eq!(g.headers["accept-ranges"], "bytes");
    assert_eq!(g.headers["content-type"], "application/pdf");
    assert_eq!(
        g.headers["content-disposition"],
        "attachment; filename=\"R_sum_ 2024.pdf\"; filename*=UTF-8''R%C3%A9sum%C3%A9%202024.pdf"
    );
    let etag = g.headers["etag"].to_str().unwrap().to_string();
    let last_modified = g.headers["last-modified"].to_str().unwrap().to_string();
    assert!(last_modified.ends_with(" GMT"));

    let cases: [(&str, usize, usize); 5] = [
        ("bytes=0-0", 0, 0),
        (&format!("bytes={}-{}", n - 1, n - 1), n - 1, n - 1),
        ("bytes=-100", n - 100, n - 1),
        ("bytes=500000-", 500_000, n - 1),
        ("bytes=10-99999999", 10, n - 1),
    ]
    .map(|(h, a, b)| (Box::leak(h.to_string().into_boxed_str()) as &str, a, b));
    for (range, a, b) in cases {
        let g = fetch(&s, &token, Method::GET, id, &[("range", range)]).await;
        assert_eq!(g.status, StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(
            g.headers["content-range"],
            format!("bytes {a}-{b}/{n}"),
            "{range}"
        );
        assert_eq!(g.headers["content-length"], (b - a + 1).to_string());
        assert!(g.body == content[a..=b], "{range}");
    }
    let g = fetch(
        &s,
        &token,
        Method::GET,
        id,
        &[("range", &format!("bytes={n}-"))],
    )
    .await;
    assert_eq!(g.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(g.headers["content-range"], format!("bytes */{n}"));
    for ignored in ["bytes=9-3", "lines=1-2", "bytes=0-1,5-6"] {
        let g = fetch(&s, &token, Method::GET, id, &[("range", ignored)]).await;
        assert_eq!(g.status, StatusCode::OK, "{ignored} is ignored");
        assert_eq!(g.body.len(), n);
    }

    let g = fetch(&s, &token, Method::HEAD, id, &[]).await;
    assert_eq!(g.status, StatusCode::OK);
    assert_eq!(g.headers["content-length"], n.to_string());
    assert_eq!(g.headers["etag"], etag.as_str());
    assert!(g.body.is_empty());

    let g = fetch(&s, &token, Method::GET, id, &[("if-none-match", &etag)]).await;
    assert_eq!(g.status, StatusCode::NOT_MODIFIED);
    assert!(g.body.is_empty());
    let g = fetch(
        &s,
        &token,
        Method::GET,
        id,
        &[("range", "bytes=0-9"), ("if-range", &etag)],
    )
    .await;
    assert_eq!(g.status, StatusCode::PARTIAL_CONTENT);
    let g = fetch(
        &s,
        &token,
        Method::GET,
        id,
        &[("range", "bytes=0-9"), ("if-range", "\"old\"")],
    )
    .await;
    assert_eq!(
        g.status,
        StatusCode::OK,
        "a stale If-Range gets the whole file"
    );
    let g = fetch(
        &s,
        &token,
        Method::GET,
        id,
        &[("range", "bytes=0-9"), ("if-range", &last_modified)],
    )
    .await;
    assert_eq!(g.status, StatusCode::PARTIAL_CONTENT);

    // An empty file.
    let empty = dir.join("empty.txt");
    std::fs::write(&empty, b"").unwrap();
    let eid = "file::0190c0de5b6f7a3e8c1d2e3f4a5b6c11";
    s.db.put(&file_doc(eid, SERVER_NODE, &empty)).await.unwrap();
    let g = fetch(&s, &token, Method::GET, eid, &[]).await;
    assert_eq!(g.status, StatusCode::OK);
    assert!(g.body.is_empty());
    let g = fetch(&s, &token, Method::GET, eid, &[("range", "bytes=0-")]).await;
    assert_eq!(g.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(g.headers["content-range"], "bytes */0");

    // Stale: changed on disk (409), gone from disk (404); unknown id (404).
    std::fs::write(&path, b"changed").unwrap();
    let r = s
        .authed(Method::GET, &format!("/api/files/{id}/content"), &token)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::CONFLICT, "stale").await;
    std::fs::remove_file(&path).unwrap();
    let r = s
        .authed(Method::GET, &format!("/api/files/{id}/content"), &token)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::NOT_FOUND, "stale").await;
    let r = s
        .authed(
            Method::GET,
            "/api/files/file::0190c0de5b6f7a3e8c1d2e3f4a5b6cff/content",
            &token,
        )
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::NOT_FOUND, "no file").await;
    let r = s
        .request(Method::GET, &format!("/api/files/{eid}/content"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn remote_content_comes_from_the_owning_agents_transfer_endpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let s = server_with_node(tmp.path()).await;
    let token = s.token().await;
    // The remote node's credential, created through the API: the server
    // keeps its derived signing key, the agent keeps the secret.
    let created: Value = s
        .authed(Method::POST, "/api/credentials", &token)
        .json(&json!({"name": "remote agent"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key_id = created["access_key_id"].as_str().unwrap().to_string();
    let secret = created["secret_key"].as_str().unwrap().to_string();

    let remote = format!("remote-{}", std::process::id());
    let watch = tmp.path().join("remote-watch");
    std::fs::create_dir_all(&watch).unwrap();
    let content = bytes(1_500_003);
    let path = watch.join("movie.mkv");
    std::fs::write(&path, &content).unwrap();
    let id = "file::0190c0de5b6f7a3e8c1d2e3f4a5b6c20";
    let doc = file_doc(id, &remote, &path);
    // The agent reads its own local database; the server the control plane's.
    let agent_db = couch_server("b").fresh_db("agent").await;
    agent_db.put(&doc).await.unwrap();
    s.db.put(&doc).await.unwrap();

    let service = mosaicfs_agent::transfer::TransferService::new(
        agent_db,
        &remote,
        &key_id,
        &secret,
        vec![watch.clone()],
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    tokio::spawn(mosaicfs_agent::transfer::serve(
        listener,
        service.app(),
        stop.clone(),
    ));
    let node = json!({"_id": format!("node::{remote}"), "type": "node", "node_id": remote,
        "friendly_name": "remote", "platform": "linux", "status": "online",
        "last_heartbeat": "2025-01-01T00:00:00Z", "access_key_id": key_id,
        "transfer": {"endpoint": format!("http://{addr}"), "protocol": "http"}});
    s.db.put(&node).await.unwrap();
    let n = content.len();

    let g = fetch(&s, &token, Method::GET, id, &[]).await;
    assert_eq!(g.status, StatusCode::OK);
    assert_eq!(g.headers["content-length"], n.to_string());
    assert!(g.body == content, "full remote download byte-for-byte");
    let g = fetch(
        &s,
        &token,
        Method::GET,
        id,
        &[("range", "bytes=1000000-1200000")],
    )
    .await;
    assert_eq!(g.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        g.headers["content-range"],
        format!("bytes 1000000-1200000/{n}")
    );
    assert!(g.body == content[1_000_000..=1_200_000]);
    let g = fetch(&s, &token, Method::GET, id, &[("range", "bytes=-10")]).await;
    assert!(g.body == content[n - 10..]);
    let g = fetch(
        &s,
        &token,
        Method::GET,
        id,
        &[("range", &format!("bytes={n}-"))],
    )
    .await;
    assert_eq!(g.status, StatusCode::RANGE_NOT_SATISFIABLE);

    // Changed on the remote node: the agent says stale.
    std::fs::write(&path, b"different").unwrap();
    let r = s
        .authed(Method::GET, &format!("/api/files/{id}/content"), &token)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::NOT_FOUND, "stale").await;

    // The agent stops answering: 502; the node is marked offline: 503.
    stop.cancel();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let r = s
        .authed(Method::GET, &format!("/api/files/{id}/content"), &token)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::BAD_GATEWAY, "unreachable").await;
    let mut node =
        s.db.get_value(&format!("node::{remote}"))
            .await
            .unwrap()
            .unwrap();
    node["status"] = json!("offline");
    s.db.put(&node).await.unwrap();
    let r = s
        .authed(Method::GET, &format!("/api/files/{id}/content"), &token)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::SERVICE_UNAVAILABLE, "offline").await;
}
