//! HTTP semantics of file content downloads, as pure functions: `Range`
//! parsing (RFC 9110 §14), conditional requests (`If-None-Match`,
//! `If-Range`), validators (`ETag`, `Last-Modified`), `Content-Type` and
//! `Content-Disposition` (RFC 6266 with the RFC 5987 `filename*`). The route
//! in `routes/files.rs` turns a [`Plan`] into a response; nothing here does
//! I/O.
//!
//! Choices where the RFC leaves room: a multi-range request is answered with
//! the whole file (200), never `multipart/byteranges`; a malformed `Range`
//! (wrong unit, bad numbers, a reversed `a-b`) is ignored, as RFC 9110 says.
//!
//! Content is served from the web UI's own origin, where a page keeps its
//! session token in memory: every answer says `X-Content-Type-Options:
//! nosniff`, and all but PDFs (whose viewers run outside the page's origin
//! and refuse to start in a sandbox) carry `Content-Security-Policy: sandbox`,
//! so an HTML or SVG file opened inline runs no script in that origin.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use mosaicfs_common::time::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use mosaicfs_common::range::{RangeRequest, parse_range};

/// What a download is about: taken from the file document.
#[derive(Debug, Clone)]
pub struct ContentMeta {
    /// `file::{uuid}`.
    pub file_id: String,
    /// File name, for `Content-Disposition`.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Modification time.
    pub mtime: Timestamp,
    /// MIME type, if known.
    pub mime_type: Option<String>,
}

/// Strong entity tag from id, size and mtime (nanoseconds included): it
/// changes whenever the crawler records a change.
pub fn etag(meta: &ContentMeta) -> String {
    let mut h = Sha256::new();
    h.update(meta.file_id.as_bytes());
    h.update(b"\0");
    h.update(meta.size.to_string().as_bytes());
    h.update(b"\0");
    h.update(mosaicfs_common::time::format(&meta.mtime).as_bytes());
    format!("\"{}\"", &hex::encode(h.finalize())[..32])
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), seconds truncated.
pub fn http_date(t: &Timestamp) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

fn parse_http_date(s: &str) -> Option<Timestamp> {
    chrono::NaiveDateTime::parse_from_str(s.trim(), "%a, %d %b %Y %H:%M:%S GMT")
        .ok()
        .map(|n| n.and_utc())
}

/// How a browser is to treat the bytes (RFC 6266 disposition type).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Disposition {
    /// Shown in the page (`<video>`, `<img>`, `<iframe>`).
    #[default]
    Inline,
    /// Saved as a download.
    Attachment,
}

impl Disposition {
    /// The disposition type as written in the header.
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Inline => "inline",
            Disposition::Attachment => "attachment",
        }
    }
}

/// `attachment; filename="…"; filename*=UTF-8''…` (or `inline; …`): an ASCII
/// fallback for old clients (non-ASCII, quotes, backslashes and controls
/// become `_`) and the exact name percent-encoded per RFC 5987.
pub fn content_disposition(disposition: Disposition, name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() && c != '"' && c != '\\' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::with_capacity(name.len() * 3);
    for b in name.bytes() {
        let keep = b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b);
        if keep {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!(
        "{}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}",
        disposition.as_str()
    )
}

/// Whether an `If-None-Match` value matches `etag` (weak comparison).
fn none_match(value: &str, etag: &str) -> bool {
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_string();
    value.trim() == "*" || value.split(',').any(|t| bare(t) == bare(etag))
}

/// Whether `If-Range` still holds: a strong entity tag equal to ours, or an
/// HTTP-date equal to our `Last-Modified`.
fn if_range_holds(value: &str, etag: &str, mtime: &Timestamp) -> bool {
    let v = value.trim();
    if v.starts_with('"') {
        v == etag
    } else if v.starts_with("W/") {
        false
    } else {
        parse_http_date(v).is_some_and(|d| d.timestamp() == mtime.timestamp())
    }
}

/// How to answer a content request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// 200, 206, 304 or 416.
    pub status: StatusCode,
    /// The bytes to send (`start..=end`); `None` for no body.
    pub range: Option<(u64, u64)>,
    /// Response headers.
    pub headers: HeaderMap,
}

fn hv(s: &str) -> HeaderValue {
    // Every value built here is visible ASCII; a name that is not would
    // already have been percent-encoded.
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

/// Whether a MIME type may be rendered without a CSP sandbox (see the module
/// comment).
fn needs_no_sandbox(mime: &str) -> bool {
    let essence = mime.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/pdf")
}

/// Decides status, byte range and headers for a GET or HEAD of `meta` given
/// the request headers; `disposition` sets the `Content-Disposition` type.
pub fn plan(request: &HeaderMap, meta: &ContentMeta, disposition: Disposition) -> Plan {
    let tag = etag(meta);
    let get = |name: header::HeaderName| request.get(name).and_then(|v| v.to_str().ok());
    let mut headers = HeaderMap::new();
    headers.insert(header::ETAG, hv(&tag));
    headers.insert(header::LAST_MODIFIED, hv(&http_date(&meta.mtime)));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );

    if let Some(inm) = get(header::IF_NONE_MATCH)
        && none_match(inm, &tag)
    {
        return Plan {
            status: StatusCode::NOT_MODIFIED,
            range: None,
            headers,
        };
    }

    let content_type = meta
        .mime_type
        .as_deref()
        .map(str::trim)
        .filter(|m| m.contains('/') && HeaderValue::from_str(m).is_ok())
        .unwrap_or("application/octet-stream");
    headers.insert(header::CONTENT_TYPE, hv(content_type));
    if !needs_no_sandbox(content_type) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("sandbox"),
        );
    }
    headers.insert(
        header::CONTENT_DISPOSITION,
        hv(&content_disposition(disposition, &meta.name)),
    );

    let range_applies = get(header::IF_RANGE).is_none_or(|v| if_range_holds(v, &tag, &meta.mtime));
    let wanted = match get(header::RANGE) {
        Some(r) if range_applies => parse_range(r, meta.size),
        _ => RangeRequest::Full,
    };
    match wanted {
        RangeRequest::Full => {
            headers.insert(header::CONTENT_LENGTH, hv(&meta.size.to_string()));
            Plan {
                status: StatusCode::OK,
                range: (meta.size > 0).then(|| (0, meta.size - 1)),
                headers,
            }
        }
        RangeRequest::Partial { start, end } => {
            headers.insert(header::CONTENT_LENGTH, hv(&(end - start + 1).to_string()));
            headers.insert(
                header::CONTENT_RANGE,
                hv(&format!("bytes {start}-{end}/{}", meta.size)),
            );
            Plan {
                status: StatusCode::PARTIAL_CONTENT,
                range: Some((start, end)),
                headers,
            }
        }
        RangeRequest::Unsatisfiable => {
            headers.remove(header::CONTENT_TYPE);
            headers.remove(header::CONTENT_DISPOSITION);
            headers.insert(header::CONTENT_RANGE, hv(&format!("bytes */{}", meta.size)));
            Plan {
                status: StatusCode::RANGE_NOT_SATISFIABLE,
                range: None,
                headers,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(size: u64) -> ContentMeta {
        ContentMeta {
            file_id: "file::0190c0de5b6f7a3e8c1d2e3f4a5b6c7d".into(),
            name: "Résumé \"final\".pdf".into(),
            size,
            mtime: "2025-03-04T05:06:07.123456789Z".parse().unwrap(),
            mime_type: Some("application/pdf".into()),
        }
    }

    fn req(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn plans_for_full_partial_unsatisfiable_and_not_modified() {
        let m = meta(10);
        let p = plan(&HeaderMap::new(), &m, Disposition::Attachment);
        assert_eq!(p.status, StatusCode::OK);
        assert_eq!(p.range, Some((0, 9)));
        assert_eq!(p.headers[header::CONTENT_LENGTH], "10");
        assert_eq!(p.headers[header::CONTENT_TYPE], "application/pdf");
        assert_eq!(p.headers[header::ACCEPT_RANGES], "bytes");
        assert_eq!(p.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert!(
            !p.headers.contains_key(header::CONTENT_SECURITY_POLICY),
            "PDF viewers refuse a sandbox"
        );
        assert_eq!(
            p.headers[header::LAST_MODIFIED],
            "Tue, 04 Mar 2025 05:06:07 GMT"
        );
        let tag = p.headers[header::ETAG].to_str().unwrap().to_string();
        assert!(tag.starts_with('"') && tag.ends_with('"') && tag.len() == 34);

        let p = plan(&req(&[("range", "bytes=-4")]), &m, Disposition::Attachment);
        assert_eq!(p.status, StatusCode::PARTIAL_CONTENT);
        assert_eq!(p.range, Some((6, 9)));
        assert_eq!(p.headers[header::CONTENT_RANGE], "bytes 6-9/10");
        assert_eq!(p.headers[header::CONTENT_LENGTH], "4");

        let p = plan(&req(&[("range", "bytes=10-")]), &m, Disposition::Attachment);
        assert_eq!(p.status, StatusCode::RANGE_NOT_SATISFIABLE);
        assert_eq!(p.headers[header::CONTENT_RANGE], "bytes */10");
        assert_eq!(p.range, None);

        for inm in [
            tag.as_str(),
            "*",
            &format!("W/{tag}"),
            &format!("\"x\", {tag}"),
        ] {
            let p = plan(
                &req(&[("if-none-match", inm), ("range", "bytes=0-1")]),
                &m,
                Disposition::Inline,
            );
            assert_eq!(p.status, StatusCode::NOT_MODIFIED, "{inm}");
            assert_eq!(p.range, None);
        }
        let p = plan(
            &req(&[("if-none-match", "\"other\"")]),
            &m,
            Disposition::Inline,
        );
        assert_eq!(p.status, StatusCode::OK);

        // A changed mtime changes the tag.
        let mut m2 = m.clone();
        m2.mtime = "2025-03-04T05:06:07.123456780Z".parse().unwrap();
        assert_ne!(etag(&m), etag(&m2));
    }

    #[test]
    fn empty_file_is_a_full_answer_without_a_body_range() {
        let p = plan(&HeaderMap::new(), &meta(0), Disposition::Inline);
        assert_eq!(p.status, StatusCode::OK);
        assert_eq!(p.range, None);
        assert_eq!(p.headers[header::CONTENT_LENGTH], "0");
        let p = plan(
            &req(&[("range", "bytes=0-")]),
            &meta(0),
            Disposition::Inline,
        );
        assert_eq!(p.status, StatusCode::RANGE_NOT_SATISFIABLE);
        assert_eq!(p.headers[header::CONTENT_RANGE], "bytes */0");
    }

    #[test]
    fn if_range_with_tag_or_date() {
        let m = meta(10);
        let tag = etag(&m);
        let ranged = |if_range: &str| {
            plan(
                &req(&[("range", "bytes=0-1"), ("if-range", if_range)]),
                &m,
                Disposition::Inline,
            )
            .status
        };
        assert_eq!(ranged(&tag), StatusCode::PARTIAL_CONTENT);
        assert_eq!(ranged("\"stale\""), StatusCode::OK);
        assert_eq!(
            ranged(&format!("W/{tag}")),
            StatusCode::OK,
            "weak tags never match"
        );
        assert_eq!(
            ranged("Tue, 04 Mar 2025 05:06:07 GMT"),
            StatusCode::PARTIAL_CONTENT
        );
        assert_eq!(ranged("Tue, 04 Mar 2025 05:06:08 GMT"), StatusCode::OK);
        assert_eq!(ranged("not a date"), StatusCode::OK);
    }

    #[test]
    fn content_type_from_the_document_and_sandboxed_unless_pdf() {
        let mut m = meta(1);
        let ct = |m: &ContentMeta| {
            let p = plan(&HeaderMap::new(), m, Disposition::Inline);
            (
                p.headers[header::CONTENT_TYPE]
                    .to_str()
                    .unwrap()
                    .to_string(),
                p.headers
                    .get(header::CONTENT_SECURITY_POLICY)
                    .map(|v| v.to_str().unwrap().to_string()),
                p.headers[header::CONTENT_DISPOSITION]
                    .to_str()
                    .unwrap()
                    .to_string(),
            )
        };
        m.mime_type = Some("text/html; charset=utf-8".into());
        let (t, csp, cd) = ct(&m);
        assert_eq!(t, "text/html; charset=utf-8");
        assert_eq!(csp.as_deref(), Some("sandbox"));
        assert!(cd.starts_with("inline; filename="), "{cd}");
        for odd in [None, Some(""), Some("nonsense"), Some("bad\nvalue/x")] {
            m.mime_type = odd.map(str::to_owned);
            let (t, csp, _) = ct(&m);
            assert_eq!(t, "application/octet-stream", "{odd:?}");
            assert_eq!(csp.as_deref(), Some("sandbox"));
        }
        m.mime_type = Some("Application/PDF".into());
        assert_eq!(ct(&m).1, None);
    }

    #[test]
    fn content_disposition_has_ascii_fallback_and_rfc5987_name() {
        assert_eq!(
            content_disposition(Disposition::Attachment, "Résumé \"final\".pdf"),
            "attachment; filename=\"R_sum_ _final_.pdf\"; filename*=UTF-8''R%C3%A9sum%C3%A9%20%22final%22.pdf"
        );
        assert_eq!(
            content_disposition(Disposition::Inline, "a b;c.txt"),
            "inline; filename=\"a b;c.txt\"; filename*=UTF-8''a%20b%3Bc.txt"
        );
        assert_eq!(
            content_disposition(Disposition::Attachment, "日本\n.md"),
            "attachment; filename=\"___.md\"; filename*=UTF-8''%E6%97%A5%E6%9C%AC%0A.md"
        );
        assert!(
            HeaderValue::from_str(&content_disposition(Disposition::Inline, "x\u{7f}\r\n")).is_ok()
        );
    }
}
