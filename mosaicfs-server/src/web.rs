//! The web UI bundle (`--web-dir`, the built `web/dist`), served at `/` as
//! the router's fallback. Hashed files under `assets/` are cached for a year
//! (`immutable`); `index.html` and the other top-level files are
//! revalidated on every load (`no-cache`), so a deploy is picked up at the
//! next page load. A GET for a path that names no file is a client-side
//! route and answers `index.html`, except under `/api/`, `/health`,
//! `/metrics` (the JSON 404) and `/assets/` (a missing chunk must fail as a
//! 404, not parse `index.html` as JavaScript and cache it for a year).
//! Precompressed `.br`/`.gz` siblings are served when the client accepts
//! them.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::path::{Path, PathBuf};

/// `Cache-Control` of the hashed files under `assets/`.
pub const ASSETS_CACHE: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` of `index.html` and the other top-level files.
pub const PAGE_CACHE: &str = "no-cache";

/// Checks at start that `dir` holds a bundle.
pub fn check_dir(dir: &Path) -> anyhow::Result<()> {
    if !dir.join("index.html").is_file() {
        anyhow::bail!(
            "--web-dir {}: no index.html there (build the UI with scripts/web.sh build and point at web/dist)",
            dir.display()
        );
    }
    Ok(())
}

/// The router's fallback: the JSON 404 for the API, the bundle otherwise.
pub async fn fallback(State(state): State<AppState>, req: Request) -> Response {
    let path = req.uri().path();
    let api = ["/api", "/health", "/metrics"]
        .iter()
        .any(|p| path == *p || path.starts_with(&format!("{p}/")));
    let read = req.method() == Method::GET || req.method() == Method::HEAD;
    if api || !read {
        return ApiError::not_found("no such route").into_response();
    }
    let Some(dir) = &state.config.web_dir else {
        if path == "/" || path == "/index.html" {
            return ApiError::not_found(
                "the web UI is not installed: start mosaicfs-server with --web-dir (MOSAICFS_WEB_DIR) set to the built bundle (web/dist)",
            )
            .into_response();
        }
        return ApiError::not_found("no such route").into_response();
    };
    match resolve(path) {
        Some(rel) => serve(dir, &rel, req.headers()).await,
        None => ApiError::bad_request("the path is not allowed").into_response(),
    }
}

/// What a request path names inside the bundle: the decoded segments joined
/// into a relative path, `None` if any segment is `.`, `..`, empty in the
/// middle, holds a (decoded) slash, backslash or NUL, or is not valid
/// percent-encoded UTF-8. `/` names `index.html`.
pub fn resolve(raw_path: &str) -> Option<PathBuf> {
    let rest = raw_path.strip_prefix('/')?;
    if rest.is_empty() {
        return Some(PathBuf::from("index.html"));
    }
    let mut out = PathBuf::new();
    let segments: Vec<&str> = rest.split('/').collect();
    for (i, raw) in segments.iter().enumerate() {
        let seg = decode(raw)?;
        // A trailing slash (`/files/`) is a client-side route like any other.
        if seg.is_empty() && i + 1 == segments.len() {
            break;
        }
        if seg.is_empty() || seg == "." || seg == ".." || seg.contains(['/', '\\', '\0']) {
            return None;
        }
        out.push(seg);
    }
    Some(out)
}

fn decode(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

async fn serve(dir: &Path, rel: &Path, headers: &HeaderMap) -> Response {
    let in_assets = rel.starts_with("assets");
    let file = dir.join(rel);
    if is_file_inside(dir, &file).await {
        let cache = if in_assets { ASSETS_CACHE } else { PAGE_CACHE };
        return send(&file, cache, headers).await;
    }
    if in_assets {
        return ApiError::not_found("no such asset").into_response();
    }
    send(&dir.join("index.html"), PAGE_CACHE, headers).await
}

/// A regular file whose real path (symlinks resolved) is inside `dir`.
async fn is_file_inside(dir: &Path, file: &Path) -> bool {
    let (Ok(root), Ok(real)) = (
        tokio::fs::canonicalize(dir).await,
        tokio::fs::canonicalize(file).await,
    ) else {
        return false;
    };
    real.starts_with(&root) && tokio::fs::metadata(&real).await.is_ok_and(|m| m.is_file())
}

async fn send(file: &Path, cache: &'static str, headers: &HeaderMap) -> Response {
    let mime = mime_guess::from_path(file).first_or_octet_stream();
    let mut encoding = None;
    let mut body = None;
    for (name, ext) in [("br", "br"), ("gzip", "gz")] {
        if !accepts(headers, name) {
            continue;
        }
        let mut sibling = file.as_os_str().to_owned();
        sibling.push(".");
        sibling.push(ext);
        if let Ok(bytes) = tokio::fs::read(&sibling).await {
            encoding = Some(name);
            body = Some(bytes);
            break;
        }
    }
    let body = match body {
        Some(b) => b,
        None => match tokio::fs::read(file).await {
            Ok(b) => b,
            Err(e) => {
                return ApiError::internal(format!("reading {}: {e}", file.display()))
                    .into_response();
            }
        },
    };
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(mime.essence_str()) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if let Some(enc) = encoding {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(enc));
    }
    resp
}

/// Whether `Accept-Encoding` lists `coding` with a non-zero weight.
fn accepts(headers: &HeaderMap, coding: &str) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            let zero = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            name.eq_ignore_ascii_case(coding) && !zero
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(raw: &str, expected: Option<&str>) {
        assert_eq!(resolve(raw), expected.map(PathBuf::from), "{raw:?}");
    }

    #[test]
    fn paths_resolve_inside_the_bundle() {
        check("/", Some("index.html"));
        check("/index.html", Some("index.html"));
        check("/assets/index-abc.js", Some("assets/index-abc.js"));
        check("/files/some/deep/route", Some("files/some/deep/route"));
        check("/files/", Some("files"));
        check("/files/My%20Docs", Some("files/My Docs"));
    }

    #[test]
    fn traversal_is_refused() {
        check("/..", None);
        check("/../etc/passwd", None);
        check("/assets/../../Cargo.toml", None);
        check("/%2e%2e/secret", None);
        check("/assets/..%2F..%2Fsecret", None);
        check("/assets/%2F", None);
        check("/a%5C..%5Cb", None);
        check("/a//b", None);
        check("/./index.html", None);
        check("/bad%zz", None);
        check("/nul%00", None);
        check("relative", None);
    }

    #[test]
    fn accept_encoding_weights() {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip, deflate, br;q=0"),
        );
        assert!(accepts(&h, "gzip"));
        assert!(!accepts(&h, "br"));
        assert!(!accepts(&HeaderMap::new(), "gzip"));
    }
}
