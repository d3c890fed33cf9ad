//! The web UI bundle served at `/` (`--web-dir`): cache headers, the
//! client-side-route fallback, precompressed siblings, and the API's JSON
//! 404 staying where it was.

use crate::common::*;
use reqwest::{Method, StatusCode};
use std::path::Path;

const INDEX: &str = "<!doctype html><title>MosaicFS</title><script type=module src=/assets/index-abc123.js></script>";
const SCRIPT: &str = "console.log('mosaicfs');";

/// A bundle shaped like `web/dist`, inside `root/dist`, with a secret
/// beside it that no request may read.
fn bundle(root: &Path) -> std::path::PathBuf {
    let dist = root.join("dist");
    std::fs::create_dir_all(dist.join("assets")).unwrap();
    std::fs::write(dist.join("index.html"), INDEX).unwrap();
    std::fs::write(dist.join("favicon.svg"), "<svg/>").unwrap();
    std::fs::write(dist.join("assets/index-abc123.js"), SCRIPT).unwrap();
    std::fs::write(dist.join("assets/index-abc123.css"), "body{}").unwrap();
    std::fs::write(dist.join("assets/index-abc123.js.gz"), b"\x1f\x8bGZ").unwrap();
    std::fs::write(root.join("secret.txt"), "top secret").unwrap();
    std::os::unix::fs::symlink(root.join("secret.txt"), dist.join("assets/link.txt")).unwrap();
    std::os::unix::fs::symlink(root.join("secret.txt"), dist.join("link.txt")).unwrap();
    dist
}

async fn start_with_bundle(tmp: &Path) -> TestServer {
    let dist = bundle(tmp);
    let db = couch_server("a").fresh_db("web").await;
    std::fs::create_dir_all(tmp.join("data")).unwrap();
    TestServer::start_with(db, &tmp.join("data"), |c| c.web_dir = Some(dist)).await
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> &'a str {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap())
        .unwrap_or("")
}

#[tokio::test]
async fn the_bundle_is_served_with_cache_headers_and_a_client_route_fallback() {
    let tmp = tempfile::tempdir().unwrap();
    let s = start_with_bundle(tmp.path()).await;

    let r = s
        .request(Method::GET, "/assets/index-abc123.js")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        header(&r, "cache-control"),
        "public, max-age=31536000, immutable"
    );
    assert!(
        header(&r, "content-type").contains("javascript"),
        "{:?}",
        r.headers()
    );
    assert_eq!(header(&r, "content-encoding"), "");
    assert_eq!(r.text().await.unwrap(), SCRIPT);
    let r = s
        .request(Method::GET, "/assets/index-abc123.css")
        .send()
        .await
        .unwrap();
    assert_eq!(header(&r, "content-type"), "text/css");

    for path in [
        "/",
        "/index.html",
        "/files/some/deep/route",
        "/nodes/n1/",
        "/files/My%20Docs",
    ] {
        let r = s.request(Method::GET, path).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert_eq!(header(&r, "cache-control"), "no-cache", "{path}");
        assert_eq!(header(&r, "content-type"), "text/html", "{path}");
        assert_eq!(r.text().await.unwrap(), INDEX, "{path}");
    }
    let r = s.request(Method::HEAD, "/files/x").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "cache-control"), "no-cache");

    let r = s.request(Method::GET, "/favicon.svg").send().await.unwrap();
    assert_eq!(header(&r, "content-type"), "image/svg+xml");
    assert_eq!(header(&r, "cache-control"), "no-cache");

    // A missing hashed chunk is a 404, not index.html cached for a year.
    let r = s
        .request(Method::GET, "/assets/index-old999.js")
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::NOT_FOUND, "no such asset").await;

    // The API keeps its JSON 404s, and writes never get index.html.
    for path in [
        "/api/nope",
        "/api",
        "/api/browser-dbx",
        "/health/x",
        "/metrics/x",
    ] {
        let r = s.request(Method::GET, path).send().await.unwrap();
        expect_error(r, StatusCode::NOT_FOUND, "no such route").await;
    }
    let r = s.request(Method::POST, "/files/x").send().await.unwrap();
    expect_error(r, StatusCode::NOT_FOUND, "no such route").await;
    let r = s.request(Method::GET, "/health").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(header(&r, "content-type").starts_with("application/json"));
}

#[tokio::test]
async fn precompressed_siblings_are_served_when_accepted() {
    let tmp = tempfile::tempdir().unwrap();
    let s = start_with_bundle(tmp.path()).await;
    let r = s
        .request(Method::GET, "/assets/index-abc123.js")
        .header("accept-encoding", "br, gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "content-encoding"), "gzip");
    assert!(header(&r, "content-type").contains("javascript"));
    assert_eq!(
        header(&r, "cache-control"),
        "public, max-age=31536000, immutable"
    );
    assert_eq!(&r.bytes().await.unwrap()[..], b"\x1f\x8bGZ");
    let r = s
        .request(Method::GET, "/assets/index-abc123.js")
        .header("accept-encoding", "gzip;q=0")
        .send()
        .await
        .unwrap();
    assert_eq!(header(&r, "content-encoding"), "");
    assert_eq!(r.text().await.unwrap(), SCRIPT);
}

#[tokio::test]
async fn no_path_leaves_the_bundle() {
    let tmp = tempfile::tempdir().unwrap();
    let s = start_with_bundle(tmp.path()).await;
    // reqwest normalizes literal and %2e dot segments before sending (the
    // unit tests of `web::resolve` cover those); encoded slashes and
    // backslashes reach the server as they are.
    for path in [
        "/..%2Fsecret.txt",
        "/assets/..%2F..%2Fsecret.txt",
        "/assets%2F..%2F..%2Fsecret.txt",
        "/..%5Csecret.txt",
        "/files/%2e%2e%2f%2e%2e%2fsecret.txt",
    ] {
        let r = s.request(Method::GET, path).send().await.unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {text}");
        assert!(!text.contains("top secret"), "{path}");
    }
    // Symlinks out of the bundle are not followed.
    let r = s
        .request(Method::GET, "/assets/link.txt")
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::NOT_FOUND, "no such asset").await;
    let r = s.request(Method::GET, "/link.txt").send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), INDEX);
}

#[tokio::test]
async fn without_a_web_dir_the_root_says_how_to_install_the_ui() {
    let s = TestServer::start().await;
    let r = s.request(Method::GET, "/").send().await.unwrap();
    expect_error(r, StatusCode::NOT_FOUND, "--web-dir").await;
    let r = s.request(Method::GET, "/files/x").send().await.unwrap();
    expect_error(r, StatusCode::NOT_FOUND, "no such route").await;
}

#[tokio::test]
async fn a_web_dir_without_index_html_fails_the_start() {
    let tmp = tempfile::tempdir().unwrap();
    let db = couch_server("a").fresh_db("web-bad").await;
    let couch = couch_server("a");
    let config = mosaicfs_server::config::ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: tmp.path().join("data"),
        couchdb_url: couch.url.clone(),
        couchdb_database: db.db_name().to_string(),
        couchdb_user: Some(couch.username.clone()),
        couchdb_password: Some(couch.password.clone()),
        node_id: None,
        max_body_bytes: 1024,
        bootstrap_credential: None,
        web_dir: Some(tmp.path().join("empty")),
        max_restore_bytes: 1024,
        max_restore_documents: 10,
        ..mosaicfs_server::config::ServerConfig::defaults()
    };
    let listener = tokio::net::TcpListener::bind(config.listen).await.unwrap();
    let err = mosaicfs_server::start(config, listener, tokio_util::sync::CancellationToken::new())
        .await
        .err()
        .expect("start fails");
    assert!(err.to_string().contains("index.html"), "{err}");
}
