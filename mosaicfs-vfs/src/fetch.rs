//! The Tier 4 client of the transfer protocol (plan 4.7; *Transfer
//! protocol* in docs/architecture.md): node discovery, request signing (an
//! own credential, or control-plane-issued transfer tokens for other nodes'
//! files: [`TokenSigner`]), the full-file fetch with `Digest` trailer
//! verification, and `Range` fetches.
//!
//! hyper's HTTP/1 client is used directly because reqwest cannot read
//! trailers. One connection per request keeps the failure model simple: a
//! peer that dies takes exactly one request with it. Every wait has a
//! timeout and transient failures go through the retry policy, so a peer
//! that goes away gives `EIO` after the retries, never a hang.

use crate::error::{Errno, VfsError};
use crate::lock;
use base64::Engine;
use bytes::{Bytes, BytesMut};
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use http_body_util::{BodyExt, Empty};
use hyper::{Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use mosaicfs_common::couch::CouchClient;
use mosaicfs_common::documents::{FileDoc, NodeDoc, NodeStatus};
use mosaicfs_common::hmac::{self, TIMESTAMP_HEADER};
use mosaicfs_common::ids;
use mosaicfs_common::retry::RetryPolicy;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// The transfer route under a node's `transfer.endpoint`.
pub const TRANSFER_ROUTE: &str = "/api/agent/transfer/";
/// Default connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default wait for the response head or for the next piece of the body.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest socket read of a transfer response.
const RECV_BUFFER: usize = 2 << 20;
/// Attempts for an agent-to-agent transfer (docs/architecture.md, *Retry*).
pub const TRANSFER_ATTEMPTS: u32 = 5;

/// A failed transfer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    /// The owner is offline, disabled, unregistered or runs no endpoint.
    #[error("node {node_id} cannot serve transfers: {why}")]
    NodeUnavailable {
        /// The owner.
        node_id: String,
        /// Why.
        why: String,
    },
    /// `transfer.endpoint` is not an `http://host[:port]` URL.
    #[error("bad transfer endpoint {0:?}")]
    BadEndpoint(String),
    /// The request could not be signed.
    #[error("cannot sign: {0}")]
    Signing(String),
    /// TCP connect failed.
    #[error("connect to {endpoint}: {source}")]
    Connect {
        /// host:port.
        endpoint: String,
        /// The OS error.
        source: Arc<std::io::Error>,
    },
    /// A wait ran out.
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    /// The HTTP exchange failed (including a connection cut mid-body).
    #[error("HTTP: {0}")]
    Http(Arc<hyper::Error>),
    /// The owner answered with an unexpected status.
    #[error("owner answered {status}: {message}")]
    Status {
        /// HTTP status.
        status: u16,
        /// The error body, shortened.
        message: String,
    },
    /// The body's SHA-256 differs from the `Digest` trailer.
    #[error("digest mismatch: trailer says {expected}, received bytes hash to {actual}")]
    DigestMismatch {
        /// From the trailer.
        expected: String,
        /// Of the received bytes.
        actual: String,
    },
    /// A full transfer ended without a usable `Digest: sha-256=` trailer.
    #[error("no sha-256 Digest trailer at the end of the transfer")]
    MissingTrailer,
    /// The byte count differs from the document's size or the range asked for.
    #[error("expected {expected} bytes, received {received}")]
    Length {
        /// What the document or the range says.
        expected: u64,
        /// What arrived.
        received: u64,
    },
    /// The answer to a range request is not the range asked for.
    #[error("asked for bytes {asked}, got {got:?}")]
    WrongRange {
        /// `a-b`.
        asked: String,
        /// The `Content-Range` received.
        got: Option<String>,
    },
    /// Writing the received bytes locally failed.
    #[error("local write: {0}")]
    Local(Arc<std::io::Error>),
}

impl FetchError {
    /// Worth another attempt: connection problems, timeouts, 5xx and 429.
    pub fn is_transient(&self) -> bool {
        match self {
            FetchError::Connect { .. } | FetchError::Timeout(_) | FetchError::Http(_) => true,
            FetchError::Status { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }

    /// The errno for a reader: a stale file on its owner is `ENOENT`, a path
    /// the owner refuses is `EACCES`, everything else `EIO`.
    pub fn errno(&self) -> Errno {
        match self {
            FetchError::Status { status: 404, .. } => Errno::NoEnt,
            FetchError::Status { status: 403, .. } => Errno::Acces,
            _ => Errno::Io,
        }
    }
}

/// Signs transfer requests.
pub trait Signer: Send + Sync {
    /// Headers (name, value) that authenticate `method path?query` with
    /// `body` to `node`'s transfer endpoint. May ask the control plane
    /// (see [`TokenSigner`]), hence async.
    fn sign<'a>(
        &'a self,
        node: &'a NodeDoc,
        method: &'a str,
        path: &'a str,
        query: &'a str,
        body: &'a [u8],
    ) -> BoxFuture<'a, Result<Vec<(String, String)>, FetchError>>;

    /// A hint that a request for `file_id` on node `owner` is coming:
    /// a signer that must ask for something first (a [`TokenSigner`]) may
    /// start now, so that the ask overlaps the caller's other work. Never
    /// fails; the request's own `sign` reports any error.
    fn prepare(&self, _owner: &str, _file_id: &str) {}
}

/// Signs every request with one credential (access key id and the key
/// derived from its secret). This works only when that credential is the
/// owning node's own (the control plane signs so, and tests do); other
/// agents' files need a [`TokenSigner`].
pub struct CredentialSigner {
    access_key_id: String,
    key: [u8; 32],
}

impl CredentialSigner {
    /// A signer for `access_key_id` with its derived signing key.
    pub fn new(access_key_id: &str, key: [u8; 32]) -> CredentialSigner {
        CredentialSigner {
            access_key_id: access_key_id.to_string(),
            key,
        }
    }

    /// A signer for `access_key_id` and its secret.
    pub fn from_secret(access_key_id: &str, secret: &str) -> CredentialSigner {
        CredentialSigner::new(access_key_id, hmac::derive_signing_key(secret))
    }

    fn headers(&self, method: &str, path: &str, query: &str, body: &[u8]) -> Vec<(String, String)> {
        let (ts, auth) = hmac::signed_headers(
            &self.access_key_id,
            &self.key,
            method,
            path,
            query,
            body,
            &chrono::Utc::now(),
        );
        vec![
            (TIMESTAMP_HEADER.to_string(), ts),
            ("authorization".to_string(), auth),
        ]
    }
}

impl Signer for CredentialSigner {
    fn sign<'a>(
        &'a self,
        _node: &'a NodeDoc,
        method: &'a str,
        path: &'a str,
        query: &'a str,
        body: &'a [u8],
    ) -> BoxFuture<'a, Result<Vec<(String, String)>, FetchError>> {
        Box::pin(async move { Ok(self.headers(method, path, query, body)) })
    }
}

/// The control plane's route issuing transfer tokens.
pub const TRANSFER_TOKEN_ROUTE: &str = "/api/agent/transfer-token";
/// A cached token is used until this many seconds before its expiry.
pub const TOKEN_REFRESH_MARGIN_SECS: i64 = 30;
/// Timeout of one token request to the control plane.
const TOKEN_REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// Signs requests to other nodes' transfer endpoints with
/// control-plane-issued transfer tokens (`POST /api/agent/transfer-token`,
/// itself HMAC-signed with this agent's own credential), cached per file
/// until [`TOKEN_REFRESH_MARGIN_SECS`] before they expire. Requests to this
/// node's own endpoint are signed with the own credential directly.
///
/// One token request per file at a time: callers wanting a token that is
/// already being asked for (a [`Signer::prepare`] at open, two readers of
/// one file) wait for that request. Its TLS connection to the control plane
/// is kept for [`CONTROL_PLANE_IDLE`] (with TCP keepalive), and
/// [`TokenSigner::warm`] opens it ahead of the first token, so a token costs
/// one request, not a handshake too.
///
/// Token request failures: a connection failure or a 5xx from the control
/// plane is reported as a transient `Status` 503/5xx (retried by the
/// transfer policy); any other refusal is a `Signing` error (`EIO`).
pub struct TokenSigner {
    inner: Arc<TokenInner>,
}

struct TokenInner {
    http: reqwest::Client,
    base: String,
    url: String,
    path: String,
    node_id: String,
    own: CredentialSigner,
    tokens: Mutex<HashMap<String, (String, i64)>>,
    inflight: Mutex<HashMap<String, TokenFuture>>,
    requests: AtomicU64,
}

/// A token request in flight: the token and its expiry (unix seconds).
type TokenFuture = Shared<BoxFuture<'static, Result<(String, i64), FetchError>>>;

/// How long an idle connection to the control plane is kept for the next
/// token request.
pub const CONTROL_PLANE_IDLE: Duration = Duration::from_secs(600);

#[derive(serde::Deserialize)]
struct IssuedToken {
    token: String,
    expires_at: String,
}

impl TokenSigner {
    /// A signer for node `node_id` with credential
    /// `access_key_id`/`secret`, asking the control plane at
    /// `control_plane_url`; its certificate must have `fingerprint` when one
    /// is given (the control plane's is self-signed), else it must chain to
    /// a public root.
    pub fn new(
        control_plane_url: &str,
        fingerprint: Option<&str>,
        node_id: &str,
        access_key_id: &str,
        secret: &str,
    ) -> Result<TokenSigner, FetchError> {
        let base = control_plane_url.trim_end_matches('/');
        let url = format!("{base}{TRANSFER_TOKEN_ROUTE}");
        let parsed = reqwest::Url::parse(&url)
            .map_err(|e| FetchError::Signing(format!("control plane URL {url:?}: {e}")))?;
        let mut builder = reqwest::Client::builder()
            .timeout(TOKEN_REQUEST_TIMEOUT)
            .connect_timeout(DEFAULT_CONNECT_TIMEOUT)
            .pool_idle_timeout(CONTROL_PLANE_IDLE)
            .tcp_keepalive(Duration::from_secs(60));
        if let Some(fp) = fingerprint {
            let tls = mosaicfs_common::tls::PinnedVerifier::new(Some(fp))
                .client_config()
                .map_err(|e| FetchError::Signing(format!("TLS setup: {e}")))?;
            builder = builder.use_preconfigured_tls(tls);
        }
        let http = builder
            .build()
            .map_err(|e| FetchError::Signing(format!("HTTP client setup: {e}")))?;
        Ok(TokenSigner {
            inner: Arc::new(TokenInner {
                http,
                base: base.to_string(),
                path: parsed.path().to_string(),
                url,
                node_id: node_id.to_string(),
                own: CredentialSigner::from_secret(access_key_id, secret),
                tokens: Mutex::default(),
                inflight: Mutex::default(),
                requests: Default::default(),
            }),
        })
    }

    /// A token for `file_id`: the cached one while it has more than the
    /// margin left, else the one being asked for, else a fresh one from the
    /// control plane.
    pub async fn token(&self, file_id: &str) -> Result<String, FetchError> {
        match self.inner.cached(file_id) {
            Some(token) => Ok(token),
            None => self.inner.start(file_id).await.map(|(token, _)| token),
        }
    }

    /// Token requests sent to the control plane so far.
    pub fn requests(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }

    /// Opens the connection to the control plane (`GET /health`), which
    /// the next token request then reuses; whether the control plane
    /// answered. Failures are only logged: a token request reports its own.
    pub async fn warm(&self) -> bool {
        let url = format!("{}/health", self.inner.base);
        match self.inner.http.get(&url).send().await {
            Ok(r) if r.status().is_success() => true,
            Ok(r) => {
                tracing::debug!(
                    operation = "control_plane_warm",
                    status = r.status().as_u16(),
                    "the control plane answered /health with an error"
                );
                false
            }
            Err(e) => {
                let detail = chain(&e);
                if untrusted_certificate(&detail) {
                    tracing::error!(operation = "control_plane_warm", error = %detail,
                        "{}", untrusted_message(&self.inner.base, &detail));
                } else {
                    tracing::debug!(operation = "control_plane_warm", error = %detail,
                        "the control plane is not reachable yet");
                }
                false
            }
        }
    }
}

impl TokenInner {
    fn cached(&self, file_id: &str) -> Option<String> {
        let now = chrono::Utc::now().timestamp();
        let (token, exp) = lock(&self.tokens).get(file_id).cloned()?;
        (now < exp - TOKEN_REFRESH_MARGIN_SECS).then_some(token)
    }

    /// The request for `file_id` in flight, started if there is none.
    fn start(self: &Arc<Self>, file_id: &str) -> TokenFuture {
        let mut inflight = lock(&self.inflight);
        if let Some(f) = inflight.get(file_id) {
            return f.clone();
        }
        let (me, id) = (self.clone(), file_id.to_string());
        let fut = async move {
            let r = me.request(&id).await;
            if let Ok((token, exp)) = &r {
                let now = chrono::Utc::now().timestamp();
                let mut tokens = lock(&me.tokens);
                tokens.retain(|_, (_, e)| now < *e - TOKEN_REFRESH_MARGIN_SECS);
                tokens.insert(id.clone(), (token.clone(), *exp));
            }
            lock(&me.inflight).remove(&id);
            r
        }
        .boxed()
        .shared();
        inflight.insert(file_id.to_string(), fut.clone());
        self.requests.fetch_add(1, Ordering::Relaxed);
        fut
    }

    async fn request(&self, file_id: &str) -> Result<(String, i64), FetchError> {
        let body = serde_json::to_vec(&serde_json::json!({
            "node_id": self.node_id,
            "file_id": file_id,
        }))
        .map_err(|e| FetchError::Signing(e.to_string()))?;
        let mut req = self
            .http
            .post(&self.url)
            .header("content-type", "application/json");
        for (k, v) in self.own.headers("POST", &self.path, "", &body) {
            req = req.header(k, v);
        }
        let resp = req.body(body).send().await.map_err(|e| {
            let detail = chain(&e);
            // A certificate the client cannot verify stays so: no retry, and
            // the message says how to fix it (issue 25: it used to be retried
            // for 15–30 s and then show up only as EIO).
            if untrusted_certificate(&detail) {
                FetchError::Signing(untrusted_message(&self.base, &detail))
            } else {
                FetchError::Status {
                    status: 503,
                    message: format!("control plane unreachable for a transfer token: {detail}"),
                }
            }
        })?;
        let status = resp.status();
        if !status.is_success() {
            let text: String = resp
                .text()
                .await
                .unwrap_or_default()
                .chars()
                .take(300)
                .collect();
            let message = format!(
                "the control plane refused a transfer token for {file_id}: {status} {text}"
            );
            return Err(if status.is_server_error() || status.as_u16() == 429 {
                FetchError::Status {
                    status: status.as_u16(),
                    message,
                }
            } else {
                FetchError::Signing(message)
            });
        }
        let issued: IssuedToken = resp.json().await.map_err(|e| {
            FetchError::Signing(format!("the control plane's transfer token answer: {e}"))
        })?;
        let exp = chrono::DateTime::parse_from_rfc3339(&issued.expires_at)
            .map_err(|e| {
                FetchError::Signing(format!(
                    "transfer token expires_at {:?}: {e}",
                    issued.expires_at
                ))
            })?
            .timestamp();
        Ok((issued.token, exp))
    }
}

/// Whether a request error (its source chain on one line) is a certificate
/// the client could not verify, as opposed to a network problem.
fn untrusted_certificate(detail: &str) -> bool {
    detail.contains("invalid peer certificate") || detail.contains("certificate verify failed")
}

/// What to tell the user when the control plane's certificate is not trusted.
fn untrusted_message(base: &str, detail: &str) -> String {
    format!(
        "cannot verify the control plane's certificate at {base} ({detail}): files on other nodes \
         cannot be read until agent.toml has control_plane_fingerprint = \"AA:BB:…\" (the SHA-256 \
         fingerprint `mosaicfs-agent init` confirms, or tls_fingerprint in {base}/health)"
    )
}

/// The error and its sources on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}

impl Signer for TokenSigner {
    fn sign<'a>(
        &'a self,
        node: &'a NodeDoc,
        method: &'a str,
        path: &'a str,
        query: &'a str,
        body: &'a [u8],
    ) -> BoxFuture<'a, Result<Vec<(String, String)>, FetchError>> {
        Box::pin(async move {
            if node.node_id == self.inner.node_id {
                return Ok(self.inner.own.headers(method, path, query, body));
            }
            let file_id = path
                .rsplit_once(TRANSFER_ROUTE)
                .map(|(_, id)| id)
                .filter(|id| id.starts_with(ids::FILE_PREFIX))
                .ok_or_else(|| {
                    FetchError::Signing(format!("{path} is not a transfer path of a file"))
                })?;
            let token = self.token(file_id).await?;
            Ok(vec![(
                "authorization".to_string(),
                hmac::token_authorization(&token),
            )])
        })
    }

    fn prepare(&self, owner: &str, file_id: &str) {
        if owner == self.inner.node_id || self.inner.cached(file_id).is_some() {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let fut = self.inner.start(file_id);
        // Driven to its end even if nobody comes to read it.
        rt.spawn(async move {
            let _ = fut.await;
        });
    }
}

/// Where node documents come from (the local replica in production).
pub trait NodeSource: Send + Sync {
    /// The `node` document of `node_id`, if known.
    fn node<'a>(&'a self, node_id: &'a str) -> BoxFuture<'a, Result<Option<NodeDoc>, VfsError>>;
}

impl NodeSource for CouchClient {
    fn node<'a>(&'a self, node_id: &'a str) -> BoxFuture<'a, Result<Option<NodeDoc>, VfsError>> {
        Box::pin(async move {
            self.get::<NodeDoc>(&ids::node_doc_id(node_id))
                .await
                .map_err(|e| VfsError::Io(format!("read node document {node_id}: {e}")))
        })
    }
}

/// Timeouts and retries of the client.
#[derive(Debug, Clone)]
pub struct TransferConfig {
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// Longest wait for the response head or the next body frame.
    pub read_timeout: Duration,
    /// Retries of transient failures.
    pub retry: RetryPolicy,
}

impl Default for TransferConfig {
    fn default() -> Self {
        TransferConfig {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            read_timeout: DEFAULT_READ_TIMEOUT,
            retry: RetryPolicy::standard(Some(TRANSFER_ATTEMPTS)),
        }
    }
}

/// Receives the bytes of a streamed range: `(offset, frames)`, the frames
/// being consecutive bytes starting at `offset` (see
/// [`TransferClient::stream_range`]).
pub type RangeSink<'a> =
    dyn FnMut(u64, Vec<Bytes>) -> BoxFuture<'static, Result<(), FetchError>> + Send + 'a;

/// The transfer client. Cheap to clone.
#[derive(Clone)]
pub struct TransferClient {
    signer: Arc<dyn Signer>,
    cfg: TransferConfig,
}

/// Checks that `node` can serve transfers and returns its endpoint.
pub fn endpoint_of(node: &NodeDoc) -> Result<&str, FetchError> {
    let unavailable = |why: &str| FetchError::NodeUnavailable {
        node_id: node.node_id.clone(),
        why: why.to_string(),
    };
    if node.disabled {
        return Err(unavailable("disabled"));
    }
    if node.status == NodeStatus::Offline {
        return Err(unavailable("offline"));
    }
    node.transfer
        .as_ref()
        .map(|t| t.endpoint.as_str())
        .ok_or_else(|| unavailable("no transfer endpoint in its node document"))
}

struct Target {
    authority: String,
    path: String,
}

fn target(endpoint: &str, file_id: &str) -> Result<Target, FetchError> {
    let bad = || FetchError::BadEndpoint(endpoint.to_string());
    let uri: Uri = endpoint.parse().map_err(|_| bad())?;
    if uri.scheme_str() != Some("http") {
        return Err(bad());
    }
    let auth = uri.authority().ok_or_else(bad)?;
    let authority = format!("{}:{}", auth.host(), auth.port_u16().unwrap_or(80));
    let base = uri.path().trim_end_matches('/');
    Ok(Target {
        authority,
        path: format!("{base}{TRANSFER_ROUTE}{file_id}"),
    })
}

impl TransferClient {
    /// A client signing with `signer`.
    pub fn new(signer: Arc<dyn Signer>, cfg: TransferConfig) -> TransferClient {
        TransferClient { signer, cfg }
    }

    /// A request for `file_id` on node `owner` is coming: see
    /// [`Signer::prepare`].
    pub fn prepare(&self, owner: &str, file_id: &str) {
        self.signer.prepare(owner, file_id);
    }

    /// One request; returns the response with its body still streaming.
    async fn send(
        &self,
        node: &NodeDoc,
        file_id: &str,
        range: Option<&Range<u64>>,
    ) -> Result<hyper::Response<hyper::body::Incoming>, FetchError> {
        let t = target(endpoint_of(node)?, file_id)?;
        let auth = self.signer.sign(node, "GET", &t.path, "", b"").await?;
        let stream = tokio::time::timeout(
            self.cfg.connect_timeout,
            tokio::net::TcpStream::connect(&t.authority),
        )
        .await
        .map_err(|_| FetchError::Timeout("connect"))?
        .map_err(|e| FetchError::Connect {
            endpoint: t.authority.clone(),
            source: Arc::new(e),
        })?;
        let _ = stream.set_nodelay(true);
        // Large socket reads: fewer `recv` calls and larger body frames
        // (hyper's adaptive buffer stops at about 400 KiB).
        let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
            .max_buf_size(RECV_BUFFER)
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|e| FetchError::Http(Arc::new(e)))?;
        // The connection task ends with the response body (or the error).
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut req = Request::get(t.path.as_str())
            .header("host", t.authority.as_str())
            .header("te", "trailers");
        if let Some(r) = range {
            req = req.header("range", format!("bytes={}-{}", r.start, r.end - 1));
        }
        for (k, v) in auth {
            req = req.header(k, v);
        }
        let req = req
            .body(Empty::<Bytes>::new())
            .map_err(|e| FetchError::Signing(e.to_string()))?;
        let resp = tokio::time::timeout(self.cfg.read_timeout, sender.send_request(req))
            .await
            .map_err(|_| FetchError::Timeout("the response head"))?
            .map_err(|e| FetchError::Http(Arc::new(e)))?;
        let expected = if range.is_some() {
            StatusCode::PARTIAL_CONTENT
        } else {
            StatusCode::OK
        };
        if resp.status() != expected {
            let status = resp.status().as_u16();
            let body = tokio::time::timeout(self.cfg.read_timeout, resp.into_body().collect())
                .await
                .ok()
                .and_then(|r| r.ok())
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            let message: String = String::from_utf8_lossy(&body).chars().take(300).collect();
            return Err(FetchError::Status { status, message });
        }
        Ok(resp)
    }

    /// One `Range` request; returns the body once the answer is a 206 for
    /// exactly `range`.
    async fn send_range(
        &self,
        node: &NodeDoc,
        file: &FileDoc,
        range: &Range<u64>,
    ) -> Result<hyper::body::Incoming, FetchError> {
        let resp = self.send(node, &file.id, Some(range)).await?;
        let asked = format!("{}-{}", range.start, range.end - 1);
        let got = resp
            .headers()
            .get("content-range")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if got.as_deref() != Some(format!("bytes {asked}/{}", file.size).as_str()) {
            return Err(FetchError::WrongRange { asked, got });
        }
        Ok(resp.into_body())
    }

    /// The next frame of `body` (`None` at its end), waiting at most the
    /// read timeout for it.
    async fn next_frame(
        &self,
        body: &mut hyper::body::Incoming,
    ) -> Result<Option<hyper::body::Frame<Bytes>>, FetchError> {
        tokio::time::timeout(self.cfg.read_timeout, body.frame())
            .await
            .map_err(|_| FetchError::Timeout("the next part of the body"))?
            .transpose()
            .map_err(|e| FetchError::Http(Arc::new(e)))
    }

    /// Fetches the whole file into `staged` (truncated first), hashing while
    /// writing. Succeeds only if the `Digest: sha-256=` trailer matches and
    /// exactly `file.size` bytes arrived. Transient failures are retried
    /// with a fresh staging file content.
    pub async fn fetch_full(
        &self,
        node: &NodeDoc,
        file: &FileDoc,
        staged: &Path,
    ) -> Result<u64, FetchError> {
        self.cfg
            .retry
            .run("transfer_full", FetchError::is_transient, || {
                self.fetch_full_once(node, file, staged)
            })
            .await
    }

    async fn fetch_full_once(
        &self,
        node: &NodeDoc,
        file: &FileDoc,
        staged: &Path,
    ) -> Result<u64, FetchError> {
        let local = |e| FetchError::Local(Arc::new(e));
        let mut out = tokio::fs::File::create(staged).await.map_err(local)?;
        let mut body = self.send(node, &file.id, None).await?.into_body();
        let mut hash = Sha256::new();
        let mut received = 0u64;
        let mut trailer = None;
        while let Some(frame) = self.next_frame(&mut body).await? {
            match frame.into_data() {
                Ok(data) => {
                    received += data.len() as u64;
                    if received > file.size {
                        return Err(FetchError::Length {
                            expected: file.size,
                            received,
                        });
                    }
                    hash.update(&data);
                    out.write_all(&data).await.map_err(local)?;
                }
                Err(frame) => {
                    if let Ok(t) = frame.into_trailers() {
                        trailer = t
                            .get("digest")
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string);
                    }
                }
            }
        }
        out.flush().await.map_err(local)?;
        drop(out);
        if received != file.size {
            return Err(FetchError::Length {
                expected: file.size,
                received,
            });
        }
        let expected = trailer
            .as_deref()
            .and_then(sha256_from_digest)
            .ok_or(FetchError::MissingTrailer)?;
        let actual = base64::engine::general_purpose::STANDARD.encode(hash.finalize());
        if expected != actual {
            return Err(FetchError::DigestMismatch { expected, actual });
        }
        Ok(received)
    }

    /// Fetches `range` (non-empty, within the file) with a `Range` request,
    /// retrying transient failures. The answer must be a 206 for exactly
    /// that range.
    pub async fn fetch_range(
        &self,
        node: &NodeDoc,
        file: &FileDoc,
        range: Range<u64>,
    ) -> Result<Bytes, FetchError> {
        self.cfg
            .retry
            .run("transfer_range", FetchError::is_transient, || {
                self.fetch_range_once(node, file, range.clone())
            })
            .await
    }

    async fn fetch_range_once(
        &self,
        node: &NodeDoc,
        file: &FileDoc,
        range: Range<u64>,
    ) -> Result<Bytes, FetchError> {
        let mut body = self.send_range(node, file, &range).await?;
        let want = range.end - range.start;
        let mut buf = BytesMut::with_capacity(want as usize);
        while let Some(frame) = self.next_frame(&mut body).await? {
            if let Ok(data) = frame.into_data() {
                buf.extend_from_slice(&data);
                if buf.len() as u64 > want {
                    break;
                }
            }
        }
        if buf.len() as u64 != want {
            return Err(FetchError::Length {
                expected: want,
                received: buf.len() as u64,
            });
        }
        Ok(buf.freeze())
    }
}

impl TransferClient {
    /// Streams `range` (non-empty, within the file) with one `Range`
    /// request, handing the body to `sink` in batches of at least `batch`
    /// bytes (the last may be shorter) as it arrives, so a reader can be
    /// served from the first batch while the rest is still on the wire. The
    /// answer must be a 206 for exactly the range asked. A transient failure
    /// resumes from the first byte not yet handed over (a fresh attempt
    /// budget once some bytes arrived), so bytes are never fetched twice.
    pub async fn stream_range(
        &self,
        node: &NodeDoc,
        file: &FileDoc,
        range: Range<u64>,
        batch: usize,
        sink: &mut RangeSink<'_>,
    ) -> Result<(), FetchError> {
        let mut pos = range.start;
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let before = pos;
            match self
                .stream_once(node, file, pos..range.end, batch, sink, &mut pos)
                .await
            {
                Ok(()) => return Ok(()),
                Err(e) if e.is_transient() && self.cfg.retry.allows(attempts) => {
                    if pos > before {
                        attempts = 1;
                    }
                    let delay = self.cfg.retry.delay(attempts - 1);
                    tracing::warn!(operation = "transfer_stream", file_id = %file.id,
                        node_id = %node.node_id, attempt = attempts, resume_at = pos,
                        retry_in_ms = delay.as_millis() as u64, error = %e,
                        "transient failure, retrying the rest of the range");
                    tokio::time::sleep(delay).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn stream_once(
        &self,
        node: &NodeDoc,
        file: &FileDoc,
        range: Range<u64>,
        batch: usize,
        sink: &mut RangeSink<'_>,
        pos: &mut u64,
    ) -> Result<(), FetchError> {
        let mut body = self.send_range(node, file, &range).await?;
        let mut frames: Vec<Bytes> = Vec::new();
        let mut held = 0usize;
        while let Some(frame) = self.next_frame(&mut body).await? {
            let Ok(data) = frame.into_data() else {
                continue;
            };
            if *pos + (held + data.len()) as u64 > range.end {
                return Err(FetchError::Length {
                    expected: range.end - range.start,
                    received: *pos + (held + data.len()) as u64 - range.start,
                });
            }
            held += data.len();
            frames.push(data);
            if held >= batch {
                sink(*pos, std::mem::take(&mut frames)).await?;
                *pos += held as u64;
                held = 0;
            }
        }
        if held > 0 {
            sink(*pos, frames).await?;
            *pos += held as u64;
        }
        if *pos != range.end {
            return Err(FetchError::Length {
                expected: range.end - range.start,
                received: *pos - range.start,
            });
        }
        Ok(())
    }
}

/// The base64 SHA-256 of a `Digest` value such as `sha-256=abc=, md5=…`
/// (RFC 3230: comma-separated, algorithm names case-insensitive).
fn sha256_from_digest(value: &str) -> Option<String> {
    value.split(',').find_map(|part| {
        let (alg, v) = part.trim().split_once('=')?;
        alg.eq_ignore_ascii_case("sha-256")
            .then(|| v.trim().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_values() {
        assert_eq!(sha256_from_digest("sha-256=abc="), Some("abc=".into()));
        assert_eq!(
            sha256_from_digest("md5=x, SHA-256=abc="),
            Some("abc=".into())
        );
        assert_eq!(sha256_from_digest("md5=x"), None);
    }

    #[test]
    fn targets() {
        let t = target("http://127.0.0.1:7847", "file::x").unwrap();
        assert_eq!(
            (t.authority.as_str(), t.path.as_str()),
            ("127.0.0.1:7847", "/api/agent/transfer/file::x")
        );
        let t = target("http://nas/base/", "file::x").unwrap();
        assert_eq!(
            (t.authority.as_str(), t.path.as_str()),
            ("nas:80", "/base/api/agent/transfer/file::x")
        );
        assert!(target("https://nas", "file::x").is_err());
        assert!(target("nas:80", "file::x").is_err());
    }

    #[test]
    fn transient_errors() {
        assert!(FetchError::Timeout("x").is_transient());
        assert!(
            FetchError::Status {
                status: 503,
                message: String::new()
            }
            .is_transient()
        );
        assert!(
            !FetchError::Status {
                status: 404,
                message: String::new()
            }
            .is_transient()
        );
        assert!(!FetchError::MissingTrailer.is_transient());
        assert_eq!(
            FetchError::Status {
                status: 404,
                message: String::new()
            }
            .errno(),
            Errno::NoEnt
        );
        assert_eq!(
            FetchError::DigestMismatch {
                expected: String::new(),
                actual: String::new()
            }
            .errno(),
            Errno::Io
        );
    }
}
