//! Agent-to-agent Tier 4 with control-plane-issued transfer tokens: node A's
//! [`Vfs`] reads a file owned by node B through B's transfer endpoint, with a
//! real control plane (`mosaicfs_server::start`, in-process, self-signed
//! certificate pinned by fingerprint) and separate credentials for A and B.

use crate::common::{content, file_doc, read_all};
use mosaicfs_agent::transfer::{TransferService, serve};
use mosaicfs_common::documents::FileDoc;
use mosaicfs_common::retry::RetryPolicy;
use mosaicfs_server::config::ServerConfig;
use mosaicfs_vfs::Errno;
use mosaicfs_vfs::cache::{Cache, CacheConfig};
use mosaicfs_vfs::fetch::{CredentialSigner, Signer, TokenSigner};
use mosaicfs_vfs::{Vfs, VfsConfig};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const ADMIN_KEY: &str = "MOSAICFS_00000000000000AD";
const ADMIN_SECRET: &str = "bootstrap-secret-for-vfs-tests";

struct ControlPlane {
    url: String,
    fingerprint: String,
    http: reqwest::Client,
    db: mosaicfs_common::couch::CouchClient,
    shutdown: CancellationToken,
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn control_plane(data_dir: &std::path::Path) -> ControlPlane {
    let couch = mosaicfs_testsupport::server("a");
    let db = couch.fresh_db("vfs-tokens").await;
    let config = ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: data_dir.to_path_buf(),
        couchdb_url: couch.url.clone(),
        couchdb_database: db.db_name().to_string(),
        couchdb_user: Some(couch.username.clone()),
        couchdb_password: Some(couch.password.clone()),
        node_id: None,
        max_body_bytes: 1024 * 1024,
        bootstrap_credential: Some(format!("{ADMIN_KEY}:{ADMIN_SECRET}")),
        ..mosaicfs_server::config::ServerConfig::defaults()
    };
    let listener = tokio::net::TcpListener::bind(config.listen).await.unwrap();
    let shutdown = CancellationToken::new();
    let running = mosaicfs_server::start(config, listener, shutdown.clone())
        .await
        .unwrap();
    let pem = std::fs::read(&running.cert_path).unwrap();
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .tls_built_in_root_certs(false)
        .build()
        .unwrap();
    ControlPlane {
        url: format!("https://127.0.0.1:{}", running.addr.port()),
        fingerprint: running.tls_fingerprint,
        http,
        db,
        shutdown,
    }
}

impl ControlPlane {
    async fn admin_token(&self) -> String {
        let v: Value = self
            .http
            .post(format!("{}/api/auth/login", self.url))
            .json(&json!({"access_key_id": ADMIN_KEY, "secret_key": ADMIN_SECRET}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["token"].as_str().unwrap().to_string()
    }

    /// A new credential and node `node_id` registered to it.
    async fn register(&self, node_id: &str, endpoint: Option<&str>) -> (String, String) {
        let token = self.admin_token().await;
        let v: Value = self
            .http
            .post(format!("{}/api/credentials", self.url))
            .bearer_auth(&token)
            .json(&json!({"name": format!("agent {node_id}")}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let key = v["access_key_id"].as_str().unwrap().to_string();
        let secret = v["secret_key"].as_str().unwrap().to_string();
        let mut node = json!({"node_id": node_id, "friendly_name": node_id,
            "platform": "linux", "access_key_id": key});
        if let Some(e) = endpoint {
            node["transfer_endpoint"] = json!(e);
        }
        let r = self
            .http
            .post(format!("{}/api/nodes", self.url))
            .bearer_auth(&token)
            .json(&node)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::CREATED,
            "{}",
            r.text().await.unwrap()
        );
        self.signed(
            Method::POST,
            "/api/agent/heartbeat",
            &json!({"node_id": node_id}),
            &key,
            &secret,
        )
        .await;
        (key, secret)
    }

    async fn signed(&self, method: Method, path: &str, body: &Value, key_id: &str, secret: &str) {
        let body = serde_json::to_vec(body).unwrap();
        let key = mosaicfs_common::hmac::derive_signing_key(secret);
        let (ts, auth) = mosaicfs_common::hmac::signed_headers(
            key_id,
            &key,
            method.as_str(),
            path,
            "",
            &body,
            &chrono::Utc::now(),
        );
        let r = self
            .http
            .request(method, format!("{}{path}", self.url))
            .header("x-mosaicfs-timestamp", ts)
            .header("authorization", auth)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    }
}

fn vfs_config(node_id: &str) -> VfsConfig {
    let mut cfg = VfsConfig::new(node_id, Vec::new());
    cfg.transfer.retry = RetryPolicy::fast(Some(2));
    cfg.transfer.connect_timeout = Duration::from_secs(2);
    cfg.transfer.read_timeout = Duration::from_secs(5);
    cfg
}

async fn vfs(
    cp: &ControlPlane,
    node_id: &str,
    cache_dir: &std::path::Path,
    signer: Arc<dyn Signer>,
) -> Vfs {
    let mut c = CacheConfig::new(cache_dir);
    c.min_free_bytes = 0;
    // Node documents from the control plane's database (the local replica in
    // production).
    Vfs::new(
        vfs_config(node_id),
        Cache::open(c).await.unwrap(),
        Arc::new(cp.db.clone()),
        signer,
    )
}

/// A control plane, node B serving `b.bin` (1.5 MB) from its transfer
/// endpoint (file documents from the control plane's database, its local
/// replica in production), and node A's credential.
struct TwoNodes {
    cp: ControlPlane,
    node_a: String,
    key_a: String,
    secret_a: String,
    id: String,
    file: FileDoc,
    data: Vec<u8>,
    stop: CancellationToken,
}

impl Drop for TwoNodes {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn two_nodes(tmp: &std::path::Path) -> TwoNodes {
    let cp = control_plane(&tmp.join("server")).await;
    let pid = std::process::id();
    let (node_a, node_b) = (format!("node-a-{pid}"), format!("node-b-{pid}"));
    let watch = tmp.join("watch-b");
    std::fs::create_dir_all(&watch).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let (key_a, secret_a) = cp.register(&node_a, None).await;
    let (key_b, secret_b) = cp.register(&node_b, Some(&endpoint)).await;
    assert_ne!(key_a, key_b);
    let svc = TransferService::new(
        cp.db.clone(),
        &node_b,
        &key_b,
        &secret_b,
        vec![watch.clone()],
    );
    let stop = CancellationToken::new();
    tokio::spawn(serve(listener, svc.app(), stop.clone()));

    let data = content(1_500_000, 7);
    std::fs::write(watch.join("b.bin"), &data).unwrap();
    let id = format!("file::{:032x}", (u128::from(pid) << 64) | 0xb0b);
    let doc = file_doc(&id, &node_b, &watch.join("b.bin"));
    cp.db.put(&doc).await.unwrap();
    let file: FileDoc = serde_json::from_value(doc).unwrap();
    TwoNodes {
        cp,
        node_a,
        key_a,
        secret_a,
        id,
        file,
        data,
        stop,
    }
}

impl TwoNodes {
    fn signer(&self) -> Arc<TokenSigner> {
        Arc::new(
            TokenSigner::new(
                &self.cp.url,
                Some(&self.cp.fingerprint),
                &self.node_a,
                &self.key_a,
                &self.secret_a,
            )
            .unwrap(),
        )
    }
}

#[tokio::test]
async fn node_a_reads_node_bs_file_with_a_transfer_token() {
    let tmp = tempfile::tempdir().unwrap();
    let n = two_nodes(tmp.path()).await;
    let (cp, id, file) = (&n.cp, &n.id, &n.file);

    // A's own credential is not accepted by B's endpoint.
    let plain = vfs(
        cp,
        &n.node_a,
        &tmp.path().join("cache-plain"),
        Arc::new(CredentialSigner::from_secret(&n.key_a, &n.secret_a)),
    )
    .await;
    let h = plain.open(file).await;
    let err = match h {
        Ok(h) => plain.read_handle(&h, 0, 4096).await.unwrap_err(),
        Err(e) => e,
    };
    assert_eq!(err.errno(), Errno::Io, "{err}");

    // With a TokenSigner (A's credential, pinned control plane) it reads.
    let signer = n.signer();
    let a = vfs(cp, &n.node_a, &tmp.path().join("cache-a"), signer.clone()).await;
    let got = read_all(&a, file, 1 << 20).await;
    assert!(got == n.data, "bytes differ");
    // The token is cached: the same one comes back.
    assert_eq!(
        signer.token(id).await.unwrap(),
        signer.token(id).await.unwrap()
    );

    // A wrong pin fails the token request, so the read fails.
    let wrong = Arc::new(
        TokenSigner::new(
            &cp.url,
            Some(&mosaicfs_common::tls::fingerprint(b"not the certificate")),
            &n.node_a,
            &n.key_a,
            &n.secret_a,
        )
        .unwrap(),
    );
    assert!(wrong.token(id).await.is_err());

    // No pin at all (a config without control_plane_fingerprint, the
    // control plane's certificate self-signed): refused at once, not retried,
    // and the error says what to add to agent.toml.
    let unpinned =
        Arc::new(TokenSigner::new(&cp.url, None, &n.node_a, &n.key_a, &n.secret_a).unwrap());
    let t0 = std::time::Instant::now();
    let err = unpinned.token(id).await.unwrap_err();
    assert!(!err.is_transient(), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("control_plane_fingerprint"), "{msg}");
    assert!(msg.contains("UnknownIssuer"), "{msg}");
    let unread = vfs(cp, &n.node_a, &tmp.path().join("cache-unpinned"), unpinned).await;
    let err = match unread.open(file).await {
        Ok(h) => unread.read_handle(&h, 0, 4096).await.unwrap_err(),
        Err(e) => e,
    };
    assert_eq!(err.errno(), Errno::Io, "{err}");
    assert!(
        t0.elapsed() < std::time::Duration::from_secs(5),
        "failed fast, not after retries: {:?}",
        t0.elapsed()
    );
}

/// Tokens the control plane issued, from its `/metrics`.
async fn tokens_issued(cp: &ControlPlane) -> u64 {
    let text = cp
        .http
        .get(format!("{}/metrics", cp.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| {
            l.starts_with("mosaicfs_http_requests_total{")
                && l.contains("route=\"/api/agent/transfer-token\"")
                && l.contains("status=\"200\"")
        })
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum()
}

/// The token of a remote file is asked for when the file is opened (beside
/// the node lookups), not by its first read; asks for one file share one
/// request; a file the cache holds whole needs none.
#[tokio::test]
async fn the_token_is_asked_for_at_open_once_per_file_and_not_for_cached_files() {
    let tmp = tempfile::tempdir().unwrap();
    let n = two_nodes(tmp.path()).await;
    let (cp, file) = (&n.cp, &n.file);
    let cache_dir = tmp.path().join("cache-a");
    let signer = n.signer();
    let a = vfs(cp, &n.node_a, &cache_dir, signer.clone()).await;

    let h = a.open(file).await.unwrap();
    assert_eq!(signer.requests(), 1, "the open asked for the token");
    let mut got = Vec::new();
    while got.len() < n.data.len() {
        let b = a.read_handle(&h, got.len() as u64, 1 << 20).await.unwrap();
        assert!(!b.is_empty());
        got.extend_from_slice(&b);
    }
    assert!(got == n.data, "bytes differ");
    drop(h);
    assert_eq!(signer.requests(), 1, "the reads used the open's token");
    assert_eq!(tokens_issued(cp).await, 1);

    // Three asks at once for a token nobody has yet: one request.
    let other = format!("file::{:032x}", 0xfeed_u128);
    let (x, y, z) = tokio::join!(
        signer.token(&other),
        signer.token(&other),
        signer.token(&other)
    );
    assert_eq!(signer.requests(), 2);
    // (The control plane refuses: no such file. All three get the answer.)
    for r in [x, y, z] {
        let e = r.unwrap_err().to_string();
        assert!(e.contains("404"), "{e}");
    }

    // A new signer over the same cache, which now holds the whole file:
    // opening and reading it ask for nothing.
    let fresh = n.signer();
    let b = vfs(cp, &n.node_a, &cache_dir, fresh.clone()).await;
    assert!(read_all(&b, file, 1 << 20).await == n.data);
    assert_eq!(fresh.requests(), 0);
    assert_eq!(tokens_issued(cp).await, 1);

    // The connection is opened ahead when asked; a dead control plane
    // only answers false.
    assert!(fresh.warm().await);
    let port = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = TokenSigner::new(
        &format!("https://127.0.0.1:{port}"),
        Some(&cp.fingerprint),
        &n.node_a,
        &n.key_a,
        &n.secret_a,
    )
    .unwrap();
    assert!(!dead.warm().await);
}
