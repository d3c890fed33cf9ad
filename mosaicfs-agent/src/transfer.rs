//! The agent's transfer endpoint: `GET /api/agent/transfer/{file_id}` over
//! plain HTTP (v1), how the control plane and other agents fetch the bytes of
//! files this node owns (see *Transfer protocol* in docs/architecture.md).
//!
//! Every request is HMAC-signed with this agent's own credential
//! (`Credential=` must be our `access_key_id`; the key is
//! `derive_signing_key(secret_key)`), so only holders of that credential (the
//! control plane, which stores the derived key) can read — or carries
//! `Authorization: MOSAICFS-TRANSFER-TOKEN <token>`, a control-plane-issued
//! token signed with the same key whose `file_id` is the requested file and
//! whose `owner` is this node (how other agents fetch). A request passes,
//! in order: signature checks (401 naming the check), the file document in
//! the local CouchDB (404 unless it is ours and active), the canonical path
//! under a watch path (403), size and mtime as recorded (404: stale). A full
//! answer is chunked with a `Digest: sha-256=…` trailer computed while
//! streaming (sent when the client asked with `TE: trailers`); a range
//! answer is a 206 without trailer. Nothing is buffered whole.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use bytes::Bytes;
use hyper::body::Frame;
use mosaicfs_common::couch::{CouchClient, CouchError};
use mosaicfs_common::documents::{FileDoc, FileStatus};
use mosaicfs_common::hmac::{self, MAX_SKEW_SECS, TIMESTAMP_HEADER};
use mosaicfs_common::ids;
use mosaicfs_common::range::{RangeRequest, parse_range};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

mod fast;
pub use fast::TransferApp;

/// Read size while streaming: one blocking-pool hop and one body frame per
/// MiB.
const CHUNK: usize = 1 << 20;
/// The route.
pub const TRANSFER_PATH: &str = "/api/agent/transfer/{file_id}";

/// How long, by default, a checked file (its document and canonical path) is reused
/// without asking CouchDB again. A block-mode reader sends a range request
/// every few milliseconds; each used to cost a CouchDB lookup. The file's
/// size and mtime on disk are still checked on every request, and a
/// mismatch with a reused document asks CouchDB again, so a re-crawled file
/// is served at once; a file deleted from the index stays servable for at
/// most this long.
pub const CHECKED_TTL: Duration = Duration::from_secs(2);
/// Most checked files kept (past it, expired ones are dropped, then all).
const CHECKED_MAX: usize = 1024;

/// A file that passed the document and path checks.
#[derive(Clone)]
struct Checked {
    at: Instant,
    doc: FileDoc,
    path: PathBuf,
}

/// What the endpoint needs to decide and serve.
pub struct TransferService {
    db: CouchClient,
    node_id: String,
    access_key_id: String,
    key: [u8; 32],
    watch_paths: Vec<PathBuf>,
    checked: Mutex<HashMap<String, Checked>>,
    checked_ttl: Duration,
    sent_with_sendfile: Arc<AtomicU64>,
}

impl TransferService {
    /// A service for `node_id`, reading file documents from the local `db`,
    /// accepting requests signed with `access_key_id`/`secret_key`, and
    /// serving only files under `watch_paths`.
    pub fn new(
        db: CouchClient,
        node_id: &str,
        access_key_id: &str,
        secret_key: &str,
        watch_paths: Vec<PathBuf>,
    ) -> TransferService {
        TransferService {
            db,
            node_id: node_id.to_string(),
            access_key_id: access_key_id.to_string(),
            key: hmac::derive_signing_key(secret_key),
            watch_paths,
            checked: Mutex::default(),
            checked_ttl: CHECKED_TTL,
            sent_with_sendfile: Arc::default(),
        }
    }

    /// A live count of the range answers sent with `sendfile` (the rest go
    /// through hyper); for tests and diagnostics.
    pub fn sendfile_counter(&self) -> Arc<AtomicU64> {
        self.sent_with_sendfile.clone()
    }

    /// Reuses checks for `ttl` instead of [`CHECKED_TTL`] (zero: never).
    pub fn with_checked_ttl(mut self, ttl: Duration) -> TransferService {
        self.checked_ttl = ttl;
        self
    }

    /// What [`serve`] serves (no I/O until a request arrives).
    pub fn app(self) -> TransferApp {
        let svc = Arc::new(self);
        let router = Router::new()
            .route(TRANSFER_PATH, axum::routing::get(transfer))
            .fallback(|| async {
                error(StatusCode::NOT_FOUND, "not_found", "no such route".into())
            })
            .with_state(svc.clone());
        TransferApp { svc, router }
    }
}

/// The URL to publish: the configured one, else `http://{ip}:{port}` of the
/// bound address, or the host name when bound to every address.
pub fn advertise_url(configured: Option<&str>, bound: SocketAddr) -> String {
    if let Some(u) = configured {
        return u.trim_end_matches('/').to_string();
    }
    let ip = bound.ip();
    let host = if ip.is_unspecified() {
        gethostname::gethostname().to_string_lossy().into_owned()
    } else if ip.is_ipv6() {
        format!("[{ip}]")
    } else {
        ip.to_string()
    };
    format!("http://{host}:{}", bound.port())
}

/// Serves `app` on `listener` until `shutdown`: single-range GETs with
/// `sendfile` (see `fast`), everything else with hyper and the router.
/// After `shutdown` no connection is accepted, idle ones close, and open
/// transfers get [`SHUTDOWN_GRACE`] to finish before they are cut (a client
/// sees a cut-off transfer without trailer and discards it).
pub async fn serve(listener: TcpListener, app: TransferApp, shutdown: CancellationToken) {
    let addr = listener.local_addr().ok();
    tracing::info!(addr = ?addr, "transfer endpoint listening (HTTP)");
    let app = Arc::new(app);
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    conns.spawn(fast::connection(stream, app.clone(), shutdown.clone()));
                }
                Err(e) => {
                    // Out of file descriptors, usually: back off briefly.
                    tracing::warn!(operation = "transfer", error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::info!(
            operation = "transfer",
            open = conns.len(),
            "transfers still open at shutdown were cut"
        );
        conns.abort_all();
    }
}

/// How long open transfers may finish after shutdown.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

fn error(status: StatusCode, code: &str, message: String) -> Response {
    (
        status,
        axum::Json(json!({"error": code, "message": message})),
    )
        .into_response()
}

fn rejected(check: &'static str, message: String) -> (&'static str, String) {
    (check, message)
}

fn unauthorized(check: &str, message: String) -> Response {
    tracing::warn!(operation = "transfer_auth", check, error = %message, "transfer request rejected");
    error(StatusCode::UNAUTHORIZED, "unauthorized", message)
}

/// Checks a transfer token for `file_id`: signed with our key, not
/// expired, for this file and this node.
fn verify_token(
    svc: &TransferService,
    token: &str,
    file_id: &str,
) -> Result<(), (&'static str, String)> {
    let now = chrono::Utc::now().timestamp();
    let claims = hmac::verify_transfer_token(&svc.key, token, now)
        .map_err(|e| (e.check(), e.to_string()))?;
    if claims.file_id != file_id {
        return Err(rejected(
            "file",
            format!(
                "the transfer token is for file {}, not {file_id}",
                claims.file_id
            ),
        ));
    }
    if claims.owner != svc.node_id {
        return Err(rejected(
            "owner",
            format!(
                "the transfer token is for node {}, not this node ({})",
                claims.owner, svc.node_id
            ),
        ));
    }
    tracing::debug!(operation = "transfer_auth", file_id, requester = %claims.requester,
        "transfer token accepted");
    Ok(())
}

/// Checks the signature (or transfer token) of a GET of `file_id`; `Err` is
/// `(check, message)` for the 401.
fn verify(
    svc: &TransferService,
    uri: &Uri,
    headers: &HeaderMap,
    file_id: &str,
) -> Result<(), (&'static str, String)> {
    let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let auth = h("authorization").ok_or_else(|| {
        rejected(
            "header",
            "missing Authorization header; transfer requests must be signed (MOSAICFS-HMAC-SHA256) or carry a transfer token (MOSAICFS-TRANSFER-TOKEN)"
                .into(),
        )
    })?;
    if let Some(token) = hmac::parse_token_authorization(auth) {
        return verify_token(svc, token, file_id);
    }
    let (key_id, signature) = hmac::parse_authorization(auth).ok_or_else(|| {
        rejected("header", "malformed Authorization header; expected `MOSAICFS-HMAC-SHA256 Credential=<key>, Signature=<hex>` or `MOSAICFS-TRANSFER-TOKEN <token>`".into())
    })?;
    if key_id != svc.access_key_id {
        return Err(rejected(
            "credential",
            format!(
                "credential {key_id} is not this node's access key; sign with the key in its node document"
            ),
        ));
    }
    let ts = h(TIMESTAMP_HEADER)
        .ok_or_else(|| rejected("timestamp", format!("missing {TIMESTAMP_HEADER} header")))?;
    let parsed = chrono::DateTime::parse_from_rfc3339(ts).map_err(|e| {
        rejected(
            "timestamp",
            format!("{TIMESTAMP_HEADER} {ts:?} is not RFC 3339: {e}"),
        )
    })?;
    let skew = (chrono::Utc::now().timestamp() - parsed.timestamp()).abs();
    if skew > MAX_SKEW_SECS {
        return Err(rejected(
            "timestamp",
            format!(
                "timestamp {ts} is {skew} s away from this node's clock (allowed ±{MAX_SKEW_SECS} s)"
            ),
        ));
    }
    if !hmac::verify(
        &svc.key,
        signature,
        "GET",
        uri.path(),
        uri.query().unwrap_or_default(),
        ts,
        b"",
    ) {
        return Err(rejected(
            "signature",
            "signature mismatch: method, path, query or timestamp differ from what was signed, or the key is wrong".into(),
        ));
    }
    Ok(())
}

/// Every check of a GET of `file_id` (signature, document, path, version
/// on disk); `Ok` is the document and the opened file, `Err` the answer.
async fn authorize_and_open(
    svc: &TransferService,
    uri: &Uri,
    headers: &HeaderMap,
    file_id: &str,
) -> Result<(FileDoc, std::fs::File), Response> {
    if let Err((check, message)) = verify(svc, uri, headers, file_id) {
        return Err(unauthorized(check, message));
    }
    if !file_id.starts_with(ids::FILE_PREFIX) {
        return Err(not_found(file_id, "not a file id".into()));
    }
    // A reused check is confirmed by the file on disk; if that disagrees,
    // the document may have moved on: ask CouchDB once more.
    let mut reused = svc.reusable(file_id);
    loop {
        let fresh = reused.is_none();
        let checked = match reused.take() {
            Some(c) => c,
            None => check(svc, file_id).await?,
        };
        match open_current(&checked).await {
            Ok(f) => {
                if fresh {
                    svc.remember(file_id, checked.clone());
                }
                return Ok((checked.doc, f));
            }
            Err(_) if !fresh => svc.forget(file_id),
            Err(why) => return Err(not_found(file_id, why.into())),
        }
    }
}

async fn transfer(
    State(svc): State<Arc<TransferService>>,
    Path(file_id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let (doc, f) = match authorize_and_open(&svc, &uri, &headers, &file_id).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let size = doc.size;
    let range_header = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    match range_header.map_or(RangeRequest::Full, |v| parse_range(v, size)) {
        RangeRequest::Unsatisfiable => (
            StatusCode::RANGE_NOT_SATISFIABLE,
            [(header::CONTENT_RANGE, format!("bytes */{size}"))],
        )
            .into_response(),
        RangeRequest::Partial { start, end } => {
            let len = end - start + 1;
            let body = Body::new(http_body_util::StreamBody::new(frames(
                f, start, len, false,
            )));
            let mut resp = (StatusCode::PARTIAL_CONTENT, body).into_response();
            let h = resp.headers_mut();
            h.insert(
                header::CONTENT_RANGE,
                hv(&format!("bytes {start}-{end}/{size}")),
            );
            h.insert(header::CONTENT_LENGTH, hv(&len.to_string()));
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            resp
        }
        RangeRequest::Full => {
            // No Content-Length: the body is chunked, which is what carries
            // the trailer.
            let body = Body::new(http_body_util::StreamBody::new(frames(f, 0, size, true)));
            let mut resp = (StatusCode::OK, body).into_response();
            let h = resp.headers_mut();
            h.insert(header::TRAILER, HeaderValue::from_static("digest"));
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            resp
        }
    }
}

fn not_found(file_id: &str, why: String) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("file {file_id}: {why}"),
    )
}

impl TransferService {
    /// The check of `file_id` made less than [`CHECKED_TTL`] ago.
    fn reusable(&self, file_id: &str) -> Option<Checked> {
        let checked = self.checked.lock().unwrap_or_else(|e| e.into_inner());
        checked
            .get(file_id)
            .filter(|c| c.at.elapsed() < self.checked_ttl)
            .cloned()
    }

    fn remember(&self, file_id: &str, c: Checked) {
        let mut checked = self.checked.lock().unwrap_or_else(|e| e.into_inner());
        if checked.len() >= CHECKED_MAX {
            let ttl = self.checked_ttl;
            checked.retain(|_, c| c.at.elapsed() < ttl);
            if checked.len() >= CHECKED_MAX {
                checked.clear();
            }
        }
        checked.insert(file_id.to_string(), c);
    }

    fn forget(&self, file_id: &str) {
        let mut checked = self.checked.lock().unwrap_or_else(|e| e.into_inner());
        checked.remove(file_id);
    }
}

/// The document checks of a request for `file_id`: known here, ours,
/// active, and its canonical path under a watch path. `Err` is the answer.
async fn check(svc: &TransferService, file_id: &str) -> Result<Checked, Response> {
    let doc: FileDoc = match svc.db.get(file_id).await {
        Ok(Some(d)) => d,
        Ok(None) => return Err(not_found(file_id, "unknown on this node".into())),
        Err(CouchError::Decode { .. }) => {
            return Err(not_found(file_id, "its document does not parse".into()));
        }
        Err(e) => {
            tracing::error!(operation = "transfer", file_id = %file_id, error = %e, "local CouchDB");
            return Err(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the local database is unreachable; retry shortly".into(),
            ));
        }
    };
    if doc.source.node_id != svc.node_id {
        return Err(not_found(
            file_id,
            format!("owned by node {}, not this one", doc.source.node_id),
        ));
    }
    if doc.status != FileStatus::Active {
        return Err(not_found(file_id, "deleted".into()));
    }
    let Ok(path) = doc.source.os_path() else {
        return Err(not_found(file_id, "export_path_bytes is not base64".into()));
    };
    let Ok(canonical) = tokio::fs::canonicalize(&path).await else {
        return Err(not_found(file_id, "gone from disk (stale)".into()));
    };
    let mut inside = false;
    for root in &svc.watch_paths {
        if let Ok(r) = tokio::fs::canonicalize(root).await
            && canonical.starts_with(&r)
        {
            inside = true;
            break;
        }
    }
    if !inside {
        tracing::warn!(operation = "transfer", file_id = %file_id, path = %canonical.display(),
            "refused: outside every watch path");
        return Err(error(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("file {file_id} is outside this node's watch paths"),
        ));
    }
    Ok(Checked {
        at: Instant::now(),
        doc,
        path: canonical,
    })
}

/// Opens the checked file if it is still the version its document
/// describes (regular file, same size and mtime); `Err` says why not.
async fn open_current(c: &Checked) -> Result<std::fs::File, &'static str> {
    // Open and stat in one blocking step (this runs for every range
    // request of a streaming reader).
    let (path, size, want) = (c.path.clone(), c.doc.size, c.doc.mtime);
    tokio::task::spawn_blocking(move || {
        let f = std::fs::File::open(&path).map_err(|_| "cannot be opened (stale)")?;
        let md = f.metadata().map_err(|_| "cannot be read (stale)")?;
        let mtime = md
            .modified()
            .ok()
            .map(mosaicfs_common::time::from_system_time);
        if !md.is_file() || md.len() != size || mtime != Some(want) {
            return Err("changed on disk since it was indexed (stale)");
        }
        Ok(f)
    })
    .await
    .unwrap_or(Err("cannot be opened (stale)"))
}

fn hv(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

/// `len` bytes of `f` from `start` as body frames, then (with `trailer`) a
/// `digest` trailer frame with the SHA-256 of exactly those bytes. A file
/// that shrinks mid-stream ends the body with an error, so no trailer is
/// sent and the receiver discards the transfer.
///
/// Each frame is one read on the blocking pool straight into the frame's
/// buffer, which is not zeroed first (tokio's `File` would read into its own
/// buffer and copy).
fn frames(
    f: std::fs::File,
    start: u64,
    len: u64,
    trailer: bool,
) -> impl futures_util::Stream<Item = Result<Frame<Bytes>, std::io::Error>> + Send + 'static {
    struct S {
        f: Option<std::fs::File>,
        pos: u64,
        left: u64,
        hash: Option<Sha256>,
        done: bool,
    }
    let init = S {
        f: Some(f),
        pos: start,
        left: len,
        hash: trailer.then(Sha256::new),
        done: false,
    };
    futures_util::stream::unfold(init, |mut s| async move {
        if s.done {
            return None;
        }
        if s.left == 0 {
            s.done = true;
            let hash = s.hash.take()?;
            let b64 = base64::engine::general_purpose::STANDARD.encode(hash.finalize());
            let mut trailers = HeaderMap::new();
            trailers.insert("digest", hv(&format!("sha-256={b64}")));
            return Some((Ok(Frame::trailers(trailers)), s));
        }
        let (f, pos, want) = (s.f.take()?, s.pos, CHUNK.min(s.left as usize));
        let read = tokio::task::spawn_blocking(move || {
            use std::io::{Read, Seek};
            let mut f = f;
            f.seek(std::io::SeekFrom::Start(pos))?;
            let mut buf = Vec::with_capacity(want);
            (&mut f).take(want as u64).read_to_end(&mut buf)?;
            Ok((f, buf))
        })
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())))
        .map(|(f, buf)| {
            s.f = Some(f);
            buf
        });
        match read.map(|b| (b.len(), b)) {
            Ok((0, _)) => {
                s.done = true;
                Some((
                    Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "file shrank while streaming",
                    )),
                    s,
                ))
            }
            Ok((n, buf)) => {
                if let Some(h) = s.hash.as_mut() {
                    h.update(&buf);
                }
                s.left -= n as u64;
                s.pos += n as u64;
                Some((Ok(Frame::data(Bytes::from(buf))), s))
            }
            Err(e) => {
                s.done = true;
                Some((Err(e), s))
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shared_range_parser_answers_the_transfer_cases() {
        // The parser itself is tested in mosaicfs_common::range; these are the
        // cases the transfer endpoint relies on.
        use RangeRequest::*;
        assert_eq!(parse_range("bytes=0-0", 10), Partial { start: 0, end: 0 });
        assert_eq!(parse_range("bytes=-30", 10), Partial { start: 0, end: 9 });
        assert_eq!(parse_range("bytes=10-", 10), Unsatisfiable);
        assert_eq!(parse_range("bytes=0-1,3-4", 10), Full);
    }

    #[test]
    fn advertised_url_defaults_to_the_bound_address() {
        assert_eq!(
            advertise_url(None, "127.0.0.1:7847".parse().unwrap()),
            "http://127.0.0.1:7847"
        );
        assert_eq!(
            advertise_url(Some("http://nas:1/"), "0.0.0.0:7847".parse().unwrap()),
            "http://nas:1"
        );
        let any = advertise_url(None, "0.0.0.0:7847".parse().unwrap());
        assert!(any.starts_with("http://") && any.ends_with(":7847") && !any.contains("0.0.0.0"));
    }
}
