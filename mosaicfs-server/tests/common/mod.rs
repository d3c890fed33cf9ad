//! A real server per test: its own database on a real CouchDB-protocol
//! server, its own data directory, TLS on a free port, and a client that
//! trusts exactly the server's certificate.

#![allow(dead_code)]

use mosaicfs_common::couch::CouchClient;
use mosaicfs_server::config::ServerConfig;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::Value;
use std::path::{Path, PathBuf};
use tokio_util::sync::CancellationToken;

pub use mosaicfs_testsupport::server as couch_server;

/// The bootstrap credential every test server starts with.
pub const ADMIN_KEY: &str = "MOSAICFS_00000000000000AD";
/// Its secret.
pub const ADMIN_SECRET: &str = "bootstrap-secret-for-tests";

pub struct TestServer {
    pub url: String,
    pub client: reqwest::Client,
    pub db: CouchClient,
    pub data_dir: PathBuf,
    pub fingerprint: String,
    shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
    _tmp: Option<tempfile::TempDir>,
}

impl TestServer {
    /// A fresh server with a fresh database.
    pub async fn start() -> TestServer {
        let tmp = tempfile::tempdir().unwrap();
        let db = couch_server("a").fresh_db("server").await;
        let dir = tmp.path().to_path_buf();
        let mut s = TestServer::start_with(db, &dir, |_| {}).await;
        s._tmp = Some(tmp);
        s
    }

    /// A server on `db` with `data_dir`, after `tweak` adjusts the config.
    pub async fn start_with(
        db: CouchClient,
        data_dir: &Path,
        tweak: impl FnOnce(&mut ServerConfig),
    ) -> TestServer {
        let couch = couch_server("a");
        let mut config = ServerConfig {
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
        tweak(&mut config);
        let listener = tokio::net::TcpListener::bind(config.listen).await.unwrap();
        let shutdown = CancellationToken::new();
        let running = mosaicfs_server::start(config, listener, shutdown.clone())
            .await
            .unwrap();
        let pem = std::fs::read(&running.cert_path).unwrap();
        let client = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
            .tls_built_in_root_certs(false)
            .build()
            .unwrap();
        TestServer {
            url: format!("https://127.0.0.1:{}", running.addr.port()),
            client,
            db,
            data_dir: data_dir.to_path_buf(),
            fingerprint: running.tls_fingerprint,
            shutdown,
            task: Some(running.task),
            _tmp: None,
        }
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, format!("{}{path}", self.url))
    }

    /// A bearer token for the bootstrap credential.
    pub async fn token(&self) -> String {
        self.token_for(ADMIN_KEY, ADMIN_SECRET).await
    }

    /// A bearer token for `key` and `secret` (panics unless login answers 200).
    pub async fn token_for(&self, key: &str, secret: &str) -> String {
        let r = self
            .request(Method::POST, "/api/auth/login")
            .json(&serde_json::json!({"access_key_id": key, "secret_key": secret}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::OK,
            "login failed: {}",
            r.text().await.unwrap()
        );
        r.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// An authenticated request.
    pub fn authed(&self, method: Method, path: &str, token: &str) -> RequestBuilder {
        self.request(method, path).bearer_auth(token)
    }

    /// Sends a request (with `token` as bearer and `body` as JSON when
    /// given); the status and the JSON answer (`Null` when empty or not JSON).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut r = self.request(method, path);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        if let Some(b) = body {
            r = r.json(b);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status();
        let bytes = resp.bytes().await.unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// An HMAC-signed request with `key_id`/`secret`.
    pub fn signed(
        &self,
        method: Method,
        path_and_query: &str,
        body: &[u8],
        key_id: &str,
        secret: &str,
    ) -> RequestBuilder {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let key = mosaicfs_common::hmac::derive_signing_key(secret);
        let (ts, auth) = mosaicfs_common::hmac::signed_headers(
            key_id,
            &key,
            method.as_str(),
            path,
            query,
            body,
            &chrono::Utc::now(),
        );
        self.request(method, path_and_query)
            .header("x-mosaicfs-timestamp", ts)
            .header("authorization", auth)
            .header("content-type", "application/json")
            .body(body.to_vec())
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Asserts an error answer: status, JSON `{error, message}`, and that the
/// message contains `needle`. Returns the body.
pub async fn expect_error(resp: reqwest::Response, status: StatusCode, needle: &str) -> Value {
    let got = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(got, status, "body: {text}");
    let body: Value =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("error body is not JSON: {text}"));
    assert!(body["error"].is_string(), "{body}");
    let msg = body["message"].as_str().unwrap_or_default();
    assert!(msg.contains(needle), "expected {needle:?} in {msg:?}");
    body
}
