//! `/api/browser-db`: the browser's PouchDB reads `{db}_browser` through
//! here, read-only. A request needs a JWT ([`User`]); it is forwarded with
//! the server's CouchDB credentials only if [`allowed`] lists it (the reads a
//! pull replication makes), and anything else answers 403 in CouchDB's shape
//! without reaching CouchDB. Responses stream: a live `_changes` stays open
//! for minutes with newline heartbeats. Not in the OpenAPI document: it is
//! CouchDB's protocol, not ours.

use crate::auth::User;
use crate::error::ApiError;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;
use std::sync::atomic::Ordering;

/// Where the proxy is mounted.
pub const PREFIX: &str = "/api/browser-db";

/// Request headers passed on to CouchDB; everything else (the browser's
/// `Authorization`, cookies) stays here.
const FORWARDED_REQUEST: [HeaderName; 4] = [
    header::ACCEPT,
    header::CONTENT_TYPE,
    header::IF_NONE_MATCH,
    header::ACCEPT_ENCODING,
];

/// Response headers never passed back: hop-by-hop ones, and CouchDB's
/// authentication (a `WWW-Authenticate` would make the browser prompt).
const DROPPED_RESPONSE: [&str; 11] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "www-authenticate",
    "set-cookie",
];

/// The handler for every method on [`PREFIX`] and below.
pub async fn proxy(_: User, State(state): State<AppState>, req: Request) -> Response {
    let rest = req
        .uri()
        .path()
        .strip_prefix(PREFIX)
        .unwrap_or("/")
        .to_string();
    if !allowed(req.method(), &rest) {
        state
            .metrics
            .browser_db_refused
            .fetch_add(1, Ordering::Relaxed);
        tracing::info!(operation = "browser_db", method = %req.method(), path = %rest,
            "refused a request outside the read-only allow-list");
        return forbidden();
    }
    match forward(&state, req, &rest).await {
        Ok(resp) => {
            state
                .metrics
                .browser_db_forwarded
                .fetch_add(1, Ordering::Relaxed);
            resp
        }
        Err(e) => e.into_response(),
    }
}

/// 403 in CouchDB's error shape (`reason`), so PouchDB treats it as
/// forbidden; `message` keeps the API's shape too.
fn forbidden() -> Response {
    const REASON: &str = "the browser replica is read-only";
    (
        StatusCode::FORBIDDEN,
        axum::Json(serde_json::json!({
            "error": "forbidden",
            "reason": REASON,
            "message": REASON,
        })),
    )
        .into_response()
}

/// Whether `method` on `rest` (the raw, still percent-encoded path after
/// [`PREFIX`]) is a read a pull replication makes. Every segment is
/// decoded and checked, so `..`, `%2e%2e` and encoded slashes cannot name
/// another database or a design document.
pub fn allowed(method: &Method, rest: &str) -> bool {
    let read = method == Method::GET || method == Method::HEAD;
    let post = method == Method::POST;
    let segments: Option<Vec<String>> = match rest {
        "" | "/" => Some(Vec::new()),
        r => r
            .strip_prefix('/')
            .map(|r| r.split('/').map(decode_segment).collect())
            .and_then(|s: Vec<Option<String>>| s.into_iter().collect()),
    };
    let Some(segments) = segments else {
        return false;
    };
    let s: Vec<&str> = segments.iter().map(String::as_str).collect();
    if s.iter()
        .any(|seg| seg.is_empty() || *seg == "." || *seg == ".." || seg.contains(['/', '\\', '\0']))
    {
        return false;
    }
    match s.as_slice() {
        [] => read,
        ["_changes"] | ["_all_docs"] => read || post,
        ["_bulk_get"] | ["_revs_diff"] => post,
        ["_local", _] => read,
        [doc] if !doc.starts_with('_') => read,
        _ => false,
    }
}

/// Percent-decodes one path segment; `None` if it is not valid UTF-8 or has
/// a broken escape.
fn decode_segment(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

async fn forward(state: &AppState, req: Request, rest: &str) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    let mut url = state.db.server_url().clone();
    let db = mosaicfs_common::replication::browser_db_name(state.db.db_name());
    // `rest` was checked segment by segment; it is appended as it came, so
    // document ids keep their encoding.
    url.set_path(&format!("{}{db}{rest}", url.path()));
    url.set_query(parts.uri.query());
    let mut upstream = state.http.request(parts.method.clone(), url);
    if let Some((user, password)) = couch_login(state) {
        upstream = upstream.basic_auth(user, password);
    }
    for name in FORWARDED_REQUEST {
        for value in parts.headers.get_all(&name) {
            upstream = upstream.header(&name, value);
        }
    }
    if parts.method == Method::POST {
        let bytes = axum::body::to_bytes(body, state.config.max_body_bytes)
            .await
            .map_err(|_| {
                ApiError::too_large(format!(
                    "request bodies are limited to {} bytes",
                    state.config.max_body_bytes
                ))
            })?;
        upstream = upstream.body(bytes);
    }
    let resp = upstream.send().await.map_err(|e| {
        tracing::error!(operation = "browser_db", error = %e, "CouchDB unreachable");
        ApiError::bad_gateway("the database is unreachable; retry shortly")
    })?;
    if resp.status() == StatusCode::UNAUTHORIZED {
        tracing::error!(
            operation = "browser_db",
            "CouchDB refused the server's credentials"
        );
        return Err(ApiError::bad_gateway(
            "the database refused the server's credentials",
        ));
    }
    let mut out = Response::builder().status(resp.status());
    if let Some(headers) = out.headers_mut() {
        copy_response_headers(resp.headers(), headers);
    }
    let stream = resp.bytes_stream().map_err(std::io::Error::other);
    out.body(Body::from_stream(stream))
        .map_err(ApiError::internal)
}

fn copy_response_headers(from: &HeaderMap, to: &mut HeaderMap) {
    for (name, value) in from {
        if !DROPPED_RESPONSE.contains(&name.as_str()) {
            to.append(name.clone(), value.clone());
        }
    }
}

/// The server's CouchDB login: the flags, else the URL's user-info part
/// (as `CouchClient::new` reads it).
fn couch_login(state: &AppState) -> Option<(String, Option<String>)> {
    let c = &state.config;
    if let Some(user) = &c.couchdb_user {
        return Some((user.clone(), c.couchdb_password.clone()));
    }
    let url = reqwest::Url::parse(&c.couchdb_url).ok()?;
    if url.username().is_empty() {
        return None;
    }
    Some((
        decode_segment(url.username())?,
        url.password().and_then(decode_segment),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(method: Method, rest: &str, expected: bool) {
        assert_eq!(allowed(&method, rest), expected, "{method} {rest:?}");
    }

    #[test]
    fn reads_a_pull_replication_makes_are_allowed() {
        check(Method::GET, "", true);
        check(Method::GET, "/", true);
        check(Method::HEAD, "/", true);
        check(Method::GET, "/_changes", true);
        check(Method::POST, "/_changes", true);
        check(Method::GET, "/_all_docs", true);
        check(Method::POST, "/_all_docs", true);
        check(Method::POST, "/_bulk_get", true);
        check(Method::POST, "/_revs_diff", true);
        check(Method::GET, "/_local/abc", true);
        check(Method::GET, "/node::n1", true);
        check(Method::GET, "/node%3A%3An1", true);
    }

    #[test]
    fn writes_and_other_paths_are_refused() {
        check(Method::POST, "/", false);
        check(Method::PUT, "/", false);
        check(Method::DELETE, "/", false);
        check(Method::PUT, "/node::n1", false);
        check(Method::DELETE, "/node::n1", false);
        check(Method::POST, "/_bulk_docs", false);
        check(Method::GET, "/_bulk_get", false);
        check(Method::PUT, "/_local/x", false);
        check(Method::DELETE, "/_local/x", false);
        check(Method::GET, "/_design/mosaicfs", false);
        check(Method::GET, "/_design%2Fmosaicfs", false);
        check(Method::GET, "/_security", false);
        check(Method::GET, "/_all_dbs", false);
        check(Method::GET, "/_find", false);
        check(Method::POST, "/_find", false);
        check(Method::GET, "/node::n1/attachment", false);
        check(Method::GET, "/_local", false);
        check(Method::GET, "/_local/a/b", false);
    }

    #[test]
    fn escapes_from_the_database_are_refused() {
        check(Method::GET, "/..", false);
        check(Method::GET, "/../_all_dbs", false);
        check(Method::GET, "/%2e%2e", false);
        check(Method::GET, "/%2E%2E/mosaicfs", false);
        check(Method::GET, "/..%2Fmosaicfs", false);
        check(Method::GET, "/x%2F..%2F..%2Fmosaicfs", false);
        check(Method::GET, "/x%5C..", false);
        check(Method::GET, "/.", false);
        check(Method::GET, "//", false);
        check(Method::GET, "/a//b", false);
        check(Method::GET, "/bad%zz", false);
        check(Method::GET, "/bad%ff", false);
        check(Method::GET, "/nul%00", false);
        // Not under the prefix at all (`/api/browser-dbx`).
        check(Method::GET, "x", false);
    }
}
