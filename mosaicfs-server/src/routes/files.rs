//! Files, search and file content (plan 2.6, 2.10).
//!
//! Listings and searches are answered from the local SQLite index
//! (`mosaicfs-index`), never from `_find` with `$regex`; single documents
//! come from CouchDB, the source of truth. Content is read from disk when the
//! file belongs to this server's node, else fetched from the owning agent's
//! transfer endpoint (tier 4) with a request signed by that node's
//! credential, and streamed through without buffering. The HTTP semantics of
//! downloads (ranges, validators) are pure functions in [`crate::content`].
//! Browsers, which cannot add an `Authorization` header to a `<video>` or
//! `<img>`, read content through short-lived single-file tickets
//! ([`crate::auth::content_url`]) issued by `POST …/content-url`.

use super::paging::{self, encode_cursor};
use crate::auth::User;
use crate::auth::content_url::{self, ContentAuth};
use crate::content::{self, ContentMeta, Disposition};
use crate::error::{ApiError, ApiResult};
use crate::extract::{self, Query};
use crate::labels::effective_labels;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use mosaicfs_common::documents::{
    CredentialDoc, FileDoc, FileSource, FileStatus, NodeDoc, NodeStatus,
};
use mosaicfs_common::{hmac, ids, names};
use mosaicfs_index::{FileRow, IndexError, LabelScope, NameMatch};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeSet;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Longest accepted search text, in characters.
pub const MAX_QUERY_CHARS: usize = 256;
/// Most labels in one search.
const MAX_LABELS: usize = 16;
/// Read size when streaming a local file.
const CHUNK: usize = 256 * 1024;

/// The file routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_files))
        .routes(routes!(file_by_path))
        .routes(routes!(get_file))
        .routes(routes!(file_content))
        .routes(routes!(content_url))
        .routes(routes!(search))
}

/// One file as listed (the indexed fields of its document).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FileItem {
    /// `file::{uuid}`.
    pub id: String,
    /// Owning node.
    pub node_id: String,
    /// File name (lossy UTF-8 when the name on disk is not UTF-8).
    pub name: String,
    /// The exact name in base64 (standard alphabet, padded); present only
    /// when the name is not valid UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_bytes: Option<String>,
    /// Path on the owning node (lossy UTF-8 when the path is not UTF-8).
    pub export_path: String,
    /// The exact path in base64, as `source.export_path_bytes` in the
    /// document; present only when the path is not valid UTF-8. Pass it
    /// back as `GET /api/files/by-path?path_bytes=`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export_path_bytes: Option<String>,
    /// Parent directory of `export_path`.
    pub export_parent: String,
    /// Bytes.
    pub size: u64,
    /// Modification time (RFC 3339).
    pub mtime: String,
    /// MIME type, if known.
    pub mime_type: Option<String>,
    /// `active` or `deleted`.
    pub status: String,
    /// Inode.
    pub inode: u64,
}

impl From<FileRow> for FileItem {
    fn from(r: FileRow) -> FileItem {
        // The index refuses documents whose bytes do not decode.
        let name_bytes = r
            .export_path_bytes
            .as_deref()
            .and_then(|b| names::decode(b).ok())
            .and_then(|b| names::exact_field(names::last_component(&b)));
        FileItem {
            id: r.id,
            node_id: r.node_id,
            name: r.name,
            name_bytes,
            export_path: r.export_path,
            export_path_bytes: r.export_path_bytes,
            export_parent: r.export_parent,
            size: r.size,
            mtime: r.mtime,
            mime_type: r.mime_type,
            status: r.status,
            inode: r.inode,
        }
    }
}

/// A page of files.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FilePage {
    /// The files, in id order.
    pub items: Vec<FileItem>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Parameters of `GET /api/files`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Page size, 1–1000 (default 100).
    pub limit: Option<usize>,
    /// Opaque cursor from the previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Only this node's files.
    pub node_id: Option<String>,
    /// `active` (default) or `all` (include soft-deleted files).
    pub status: Option<String>,
}

/// Parameters of `GET /api/files/by-path`: `path` or `path_bytes` (not
/// both).
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ByPathParams {
    /// The owning node.
    pub node_id: Option<String>,
    /// The absolute path on that node, as UTF-8 text (exact: the U+FFFD of
    /// a lossy path is not a wildcard).
    pub path: Option<String>,
    /// The exact absolute path in base64 (standard alphabet, padded), as
    /// `source.export_path_bytes` or a listing's `export_path_bytes` gives
    /// it: for a path that is not valid UTF-8.
    pub path_bytes: Option<String>,
}

/// Parameters of `GET /api/search` (`label` may repeat; labels are ANDed).
#[derive(Debug, Deserialize, IntoParams)]
pub struct SearchParams {
    /// Name substring, or a glob when it contains `*`, `?` or `[`;
    /// case-insensitive. Required unless `label` is given.
    pub q: Option<String>,
    /// A label the file must carry (directly or by rule). Repeatable.
    pub label: Option<String>,
    /// Page size, 1–1000 (default 100).
    pub limit: Option<usize>,
    /// Opaque cursor from the previous page.
    pub cursor: Option<String>,
}

/// The file id inside an optional `cursor` (see [`paging::decode_cursor`]).
fn decode_cursor(c: Option<&str>) -> ApiResult<Option<String>> {
    c.map(|c| paging::decode_cursor(c, ids::FILE_PREFIX))
        .transpose()
}

fn index_error(e: IndexError) -> ApiError {
    ApiError::internal(format!("local index: {e}"))
}

/// Lists files in id order, a page at a time.
#[utoipa::path(get, path = "/api/files", tag = "files", params(ListParams),
    security(("bearer" = [])),
    responses((status = 200, body = FilePage), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody)))]
async fn list_files(
    _: User,
    State(state): State<AppState>,
    Query(p): Query<ListParams>,
) -> ApiResult<axum::Json<FilePage>> {
    let limit = paging::limit(p.limit)?;
    let include_deleted = match p.status.as_deref() {
        None | Some("active") => false,
        Some("all") => true,
        Some(_) => return Err(ApiError::field("status", "must be `active` or `all`")),
    };
    // One extra row tells whether another page exists.
    let mut rows = state
        .index
        .query(mosaicfs_index::Query {
            node_id: p.node_id,
            after: decode_cursor(p.cursor.as_deref())?,
            limit: limit + 1,
            include_deleted,
            ..Default::default()
        })
        .await
        .map_err(index_error)?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next_cursor = more
        .then(|| rows.last().map(|r| encode_cursor(&r.id)))
        .flatten();
    Ok(axum::Json(FilePage {
        items: rows.into_iter().map(FileItem::from).collect(),
        next_cursor,
    }))
}

/// The stored document without CouchDB's `_rev`.
async fn stored_document(state: &AppState, id: &str) -> ApiResult<Value> {
    let not_found = || ApiError::not_found(format!("no file {id}"));
    if !id.starts_with(ids::FILE_PREFIX) {
        return Err(not_found());
    }
    let doc = state.db.get_value(id).await?.ok_or_else(not_found)?;
    if doc.get("type").and_then(Value::as_str) != Some("file") {
        return Err(not_found());
    }
    Ok(paging::public(doc))
}

/// One file document.
#[utoipa::path(get, path = "/api/files/{file_id}", tag = "files",
    params(("file_id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 404, body = crate::error::ErrorBody)))]
async fn get_file(
    _: User,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    Ok(axum::Json(stored_document(&state, &id).await?))
}

/// The file document at a path on a node (an active file if there is one).
#[utoipa::path(get, path = "/api/files/by-path", tag = "files", params(ByPathParams),
    security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 400, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
async fn file_by_path(
    _: User,
    State(state): State<AppState>,
    Query(p): Query<ByPathParams>,
) -> ApiResult<axum::Json<Value>> {
    let node_id = p
        .node_id
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::field("node_id", "is required"))?;
    let (field, path) = match (p.path, p.path_bytes) {
        (Some(_), Some(_)) => {
            return Err(ApiError::field(
                "path_bytes",
                "give `path` or `path_bytes`, not both",
            ));
        }
        (Some(p), None) => ("path", p.into_bytes()),
        (None, Some(b)) => (
            "path_bytes",
            names::decode(&b)
                .map_err(|e| ApiError::field("path_bytes", format!("is not base64: {e}")))?,
        ),
        (None, None) => ("path", Vec::new()),
    };
    if !path.starts_with(b"/") {
        return Err(ApiError::field(field, "is required and must be absolute"));
    }
    let row = state
        .index
        .by_path(&node_id, &path)
        .await
        .map_err(index_error)?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no file at {} on node {node_id}",
                names::escaped(&path)
            ))
        })?;
    Ok(axum::Json(stored_document(&state, &row.id).await?))
}

/// The parameters of a search, with `label` repeated.
struct SearchRequest {
    q: Option<String>,
    labels: Vec<String>,
    limit: usize,
    cursor: Option<String>,
}

/// Reads `q` and the repeated `label` parameters (serde_urlencoded cannot
/// collect repeated keys).
fn search_params(raw: &str) -> ApiResult<SearchRequest> {
    let (mut q, mut labels, mut lim, mut cursor) = (None, Vec::new(), None, None);
    for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
        match k.as_ref() {
            "q" => q = Some(v.into_owned()),
            "label" => labels.push(v.into_owned()),
            "limit" => {
                lim =
                    Some(v.parse::<usize>().map_err(|_| {
                        ApiError::field("limit", "must be a number between 1 and 1000")
                    })?)
            }
            "cursor" => cursor = Some(v.into_owned()),
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown query parameter `{other}`"
                )));
            }
        }
    }
    Ok(SearchRequest {
        q,
        labels,
        limit: paging::limit(lim)?,
        cursor,
    })
}

fn name_match(q: &str) -> ApiResult<NameMatch> {
    let trimmed = q.trim();
    if trimmed.is_empty() {
        return Err(ApiError::field("q", "must not be empty"));
    }
    if trimmed.chars().count() > MAX_QUERY_CHARS {
        return Err(ApiError::field(
            "q",
            format!("is longer than {MAX_QUERY_CHARS} characters"),
        ));
    }
    if trimmed.contains(['*', '?', '[']) {
        // An unclosed class would silently match nothing.
        let mut open = false;
        for c in trimmed.chars() {
            match c {
                '[' if !open => open = true,
                ']' if open => open = false,
                _ => {}
            }
        }
        if open {
            return Err(ApiError::field("q", "has a `[` without a closing `]`"));
        }
        Ok(NameMatch::Glob(trimmed.to_string()))
    } else {
        Ok(NameMatch::Substring(trimmed.to_string()))
    }
}

/// A minimal `FileDoc` from an index row, for label evaluation.
fn doc_of(row: &FileRow) -> FileDoc {
    FileDoc {
        id: row.id.clone(),
        rev: None,
        doc_type: Default::default(),
        inode: row.inode,
        name: row.name.clone(),
        source: FileSource {
            node_id: row.node_id.clone(),
            export_path: row.export_path.clone(),
            export_parent: row.export_parent.clone(),
            export_path_bytes: None,
            extra: Default::default(),
        },
        size: row.size,
        mtime: row.mtime.parse().unwrap_or_default(),
        mime_type: row.mime_type.clone(),
        status: FileStatus::Active,
        deleted_at: None,
        created_at: None,
        updated_at: None,
        migrated_from: None,
        extra: Default::default(),
    }
}

/// Searches active files by name (substring or glob) and/or labels.
#[utoipa::path(get, path = "/api/search", tag = "files", params(SearchParams),
    security(("bearer" = [])),
    responses((status = 200, body = FilePage), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody)))]
async fn search(
    _: User,
    State(state): State<AppState>,
    uri: axum::http::Uri,
) -> ApiResult<axum::Json<FilePage>> {
    let SearchRequest {
        q,
        labels,
        limit,
        cursor,
    } = search_params(uri.query().unwrap_or_default())?;
    let name = q.as_deref().map(name_match).transpose()?;
    if name.is_none() && labels.is_empty() {
        return Err(ApiError::field("q", "is required unless `label` is given"));
    }
    if labels.len() > MAX_LABELS || labels.iter().any(|l| l.trim().is_empty()) {
        return Err(ApiError::field(
            "label",
            format!("give 1 to {MAX_LABELS} non-empty labels"),
        ));
    }
    let mut after = decode_cursor(cursor.as_deref())?;
    let wanted: BTreeSet<String> = labels.iter().cloned().collect();
    if wanted.is_empty() {
        let mut rows = state
            .index
            .query(mosaicfs_index::Query {
                name,
                after,
                limit: limit + 1,
                ..Default::default()
            })
            .await
            .map_err(index_error)?;
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_cursor = more
            .then(|| rows.last().map(|r| encode_cursor(&r.id)))
            .flatten();
        return Ok(axum::Json(FilePage {
            items: rows.into_iter().map(FileItem::from).collect(),
            next_cursor,
        }));
    }

    // Label search: the index narrows to files that may carry the first
    // label (assigned directly, or under a rule that carries it); the exact
    // effective label set then decides, in batches, until the page is full.
    let rules = state.index.label_rules().await.map_err(index_error)?;
    let first = labels[0].clone();
    let scope = LabelScope {
        rules: rules
            .iter()
            .filter(|r| r.enabled && r.labels.contains(&first))
            .map(|r| (r.node_id.clone(), r.path_prefix.clone()))
            .collect(),
        label: first,
    };
    let batch = (limit * 2).max(200);
    let mut items = Vec::new();
    let mut next_cursor = None;
    'scan: loop {
        let rows = state
            .index
            .query(mosaicfs_index::Query {
                name: name.clone(),
                label: Some(scope.clone()),
                after: after.clone(),
                limit: batch,
                ..Default::default()
            })
            .await
            .map_err(index_error)?;
        let exhausted = rows.len() < batch;
        let assignments = state
            .index
            .assignments(rows.iter().map(|r| r.id.clone()).collect())
            .await
            .map_err(index_error)?;
        for row in rows {
            after = Some(row.id.clone());
            let a = assignments.iter().find(|a| a.file_id == row.id);
            let have = effective_labels(&doc_of(&row), a, &rules).all();
            if wanted.is_subset(&have) {
                if items.len() == limit {
                    // Another match exists beyond this page.
                    next_cursor = items.last().map(|i: &FileItem| encode_cursor(&i.id));
                    break 'scan;
                }
                items.push(FileItem::from(row));
            }
        }
        if exhausted {
            break;
        }
    }
    Ok(axum::Json(FilePage { items, next_cursor }))
}

/// The active file document `id`: 404 naming the file when it is unknown
/// or deleted.
async fn active_file(state: &AppState, id: &str) -> ApiResult<FileDoc> {
    let not_found = || ApiError::not_found(format!("no file {id}"));
    if !id.starts_with(ids::FILE_PREFIX) {
        return Err(not_found());
    }
    let file: FileDoc = state
        .db
        .get(id)
        .await
        .map_err(|e| match e {
            mosaicfs_common::couch::CouchError::Decode { .. } => {
                ApiError::internal(format!("file {id} does not parse: {e}"))
            }
            e => ApiError::from(e),
        })?
        .ok_or_else(not_found)?;
    if file.status != FileStatus::Active {
        return Err(ApiError::not_found(format!(
            "file {id} was deleted from its node"
        )));
    }
    Ok(file)
}

/// Body of `POST /api/files/{file_id}/content-url` (optional).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContentUrlRequest {
    /// `inline` (default: shown in the page) or `attachment` (saved).
    #[serde(default)]
    pub disposition: Disposition,
}

/// A short-lived URL for one file's content.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ContentUrl {
    /// `/api/files/{file_id}/content?ticket=…`, relative to the server; GET
    /// or HEAD it without an `Authorization` header.
    pub url: String,
    /// When the ticket stops working (RFC 3339).
    pub expires_at: String,
}

/// Percent-encodes one path segment (everything but RFC 3986 unreserved
/// characters and `:`, `@`).
fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A URL that reads this file's content for 15 minutes without a bearer
/// token, for browser elements that cannot send one (`<video>`, `<img>`,
/// `<iframe>`, download links). The body is optional.
#[utoipa::path(post, path = "/api/files/{file_id}/content-url", tag = "files",
    params(("file_id" = String, Path)), security(("bearer" = [])),
    request_body(content = Option<ContentUrlRequest>, content_type = "application/json",
        description = "optional; `disposition` defaults to `inline`"),
    responses((status = 200, body = ContentUrl), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
              (status = 413, body = crate::error::ErrorBody), (status = 415, body = crate::error::ErrorBody)))]
async fn content_url(
    user: User,
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult<axum::Json<ContentUrl>> {
    let body = body.map_err(extract::body_error)?;
    let req: ContentUrlRequest = if body.iter().all(u8::is_ascii_whitespace) {
        ContentUrlRequest::default()
    } else {
        let is_json = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json") || v.contains("+json"));
        if !is_json {
            return Err(ApiError {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                code: "unsupported_media_type",
                message: "the body must be JSON with Content-Type: application/json".into(),
                retry_after: None,
            });
        }
        // `null` is the absent body too (the OpenAPI body is optional).
        extract::parse_json::<Option<ContentUrlRequest>>(&body)?.unwrap_or_default()
    };
    let file = active_file(&state, &id).await?;
    let now = chrono::Utc::now().timestamp();
    let ticket = content_url::ticket_for(&user, &file.id, req.disposition, now);
    let expires_at = chrono::DateTime::from_timestamp(ticket.exp, 0)
        .ok_or_else(|| ApiError::internal(format!("ticket expiry {} is out of range", ticket.exp)))?
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    tracing::info!(operation = "content_url", file_id = %file.id,
        access_key_id = %user.access_key_id, disposition = req.disposition.as_str(),
        %expires_at, "issued a content ticket");
    Ok(axum::Json(ContentUrl {
        url: format!(
            "/api/files/{}/content?{}={}",
            encode_segment(&file.id),
            content_url::TICKET_PARAM,
            state.content_tickets.issue(&ticket)
        ),
        expires_at,
    }))
}

/// The file's bytes. `Range` (one range; several are answered whole),
/// `If-None-Match`, `If-Range`; `HEAD` gives the headers only. Authorised by
/// a bearer JWT (`Content-Disposition: attachment`) or by `ticket` from
/// `POST /api/files/{file_id}/content-url` (that ticket's disposition).
#[utoipa::path(get, path = "/api/files/{file_id}/content", tag = "files",
    params(("file_id" = String, Path),
           ("ticket" = Option<String>, Query,
            description = "a ticket from `POST /api/files/{file_id}/content-url`, instead of the bearer token")),
    security(("bearer" = []), ()),
    responses((status = 200, description = "the whole file"), (status = 206, description = "one range"),
              (status = 304), (status = 401, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody), (status = 416),
              (status = 502, body = crate::error::ErrorBody), (status = 503, body = crate::error::ErrorBody)))]
async fn file_content(
    auth: ContentAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    method: Method,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let file = active_file(&state, &id).await?;
    if let ContentAuth::Ticket(t) = &auth {
        tracing::debug!(operation = "content", file_id = %file.id,
            access_key_id = %t.access_key_id, "content by ticket");
    }
    let meta = ContentMeta {
        file_id: file.id.clone(),
        name: file.name.clone(),
        size: file.size,
        mtime: file.mtime,
        mime_type: file.mime_type.clone(),
    };
    let plan = content::plan(&headers, &meta, auth.disposition());
    let local = state.config.node_id.as_deref() == Some(file.source.node_id.as_str());
    let body = if local {
        local_body(&state, &file, plan.range).await?
    } else {
        remote_body(&state, &file, &plan, &method).await?
    };
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        body
    };
    let mut resp = (plan.status, body).into_response();
    resp.headers_mut().extend(plan.headers);
    Ok(resp)
}

/// The OS path of a file: the exact bytes when the document has them.
fn os_path(source: &FileSource) -> ApiResult<std::path::PathBuf> {
    source
        .os_path()
        .map_err(|e| ApiError::internal(format!("export_path_bytes is not base64: {e}")))
}

/// Refuses a path that does not lie, once canonicalized, under one of the
/// watch paths this node published: a document must never make the server
/// read arbitrary local files.
async fn check_inside_watch_paths(
    state: &AppState,
    file: &FileDoc,
    path: &std::path::Path,
) -> ApiResult<()> {
    // Read the field from the raw document: a node document that does not
    // parse as a whole still has (or lacks) its watch paths.
    let node = state
        .db
        .get_value(&ids::node_doc_id(&file.source.node_id))
        .await?;
    let watch: Vec<String> = node
        .as_ref()
        .and_then(|n| n.get("watch_paths"))
        .and_then(|w| w.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|p| p.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let canonical = tokio::fs::canonicalize(path).await.map_err(|_| {
        ApiError::not_found(format!(
            "file {} is stale: it is no longer on disk; the index catches up at the next crawl",
            file.id
        ))
    })?;
    for w in watch {
        if let Ok(root) = tokio::fs::canonicalize(&w).await
            && canonical.starts_with(&root)
        {
            return Ok(());
        }
    }
    tracing::warn!(file_id = %file.id, path = %canonical.display(), operation = "content",
        "refused: path is outside the node's watch paths");
    Err(ApiError::forbidden(format!(
        "file {} lies outside the watch paths of node {}",
        file.id, file.source.node_id
    )))
}

/// Opens the file on this node, checks it still is what the document says,
/// and streams `range` from it.
async fn local_body(
    state: &AppState,
    file: &FileDoc,
    range: Option<(u64, u64)>,
) -> ApiResult<Body> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let path = os_path(&file.source)?;
    check_inside_watch_paths(state, file, &path).await?;
    let mut f = tokio::fs::File::open(&path).await.map_err(|e| {
        tracing::info!(file_id = %file.id, path = %path.display(), error = %e, "content: cannot open");
        ApiError::not_found(format!(
            "file {} is stale: it is no longer readable on disk; the index catches up at the next crawl",
            file.id
        ))
    })?;
    let md = f.metadata().await.map_err(ApiError::internal)?;
    let mtime = md
        .modified()
        .map(mosaicfs_common::time::from_system_time)
        .ok();
    if !md.is_file() || md.len() != file.size || mtime != Some(file.mtime) {
        return Err(ApiError::conflict(format!(
            "file {} is stale: it changed on disk since it was indexed; retry after the next crawl",
            file.id
        )));
    }
    let Some((start, end)) = range else {
        return Ok(Body::empty());
    };
    f.seek(std::io::SeekFrom::Start(start))
        .await
        .map_err(ApiError::internal)?;
    let remaining = end - start + 1;
    let stream = futures_util::stream::unfold((f, remaining), |(mut f, left)| async move {
        if left == 0 {
            return None;
        }
        let mut buf = vec![0u8; CHUNK.min(left as usize)];
        match f.read(&mut buf).await {
            Ok(0) => Some((
                Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "file shrank while streaming",
                )),
                (f, 0),
            )),
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), (f, left - n as u64)))
            }
            Err(e) => Some((Err(e), (f, 0))),
        }
    });
    Ok(Body::from_stream(stream))
}

/// Fetches from the owning node's transfer endpoint and streams the answer
/// through. Ranges are resolved here against the document, so the agent is
/// asked for exactly the bytes in `plan`.
async fn remote_body(
    state: &AppState,
    file: &FileDoc,
    plan: &content::Plan,
    method: &Method,
) -> ApiResult<Body> {
    let node_id = &file.source.node_id;
    let node: NodeDoc = state
        .db
        .get(&ids::node_doc_id(node_id))
        .await
        .map_err(|e| ApiError::internal(format!("node {node_id}: {e}")))?
        .ok_or_else(|| {
            ApiError::unavailable(format!(
                "node {node_id}, which holds this file, is not registered"
            ))
        })?;
    if node.disabled || node.status == NodeStatus::Offline {
        return Err(ApiError::unavailable(format!(
            "node {node_id}, which holds this file, is offline"
        )));
    }
    let endpoint = node
        .transfer
        .as_ref()
        .map(|t| t.endpoint.trim_end_matches('/').to_string())
        .ok_or_else(|| {
            ApiError::unavailable(format!(
                "node {node_id} has no transfer endpoint; enable [transfer] in its agent.toml"
            ))
        })?;
    let key_id = node.access_key_id.clone().ok_or_else(|| {
        ApiError::bad_gateway(format!(
            "node {node_id} does not publish its access key id; cannot sign a transfer request"
        ))
    })?;
    let cred: CredentialDoc = state
        .db
        .get(&ids::credential_id(&key_id))
        .await?
        .ok_or_else(|| {
            ApiError::bad_gateway(format!(
                "the credential {key_id} of node {node_id} is unknown here"
            ))
        })?;
    let key = cred
        .hmac_key
        .as_deref()
        .and_then(|k| hex::decode(k).ok())
        .ok_or_else(|| ApiError::bad_gateway(format!("credential {key_id} has no signing key")))?;
    let Some((start, end)) = plan.range else {
        // 304, 416, an empty file: nothing to fetch.
        return Ok(Body::empty());
    };
    if *method == Method::HEAD {
        return Ok(Body::empty());
    }
    let path = format!("/api/agent/transfer/{}", file.id);
    let (ts, auth) = hmac::signed_headers(
        &key_id,
        &key,
        "GET",
        &path,
        "",
        b"",
        &mosaicfs_common::time::now(),
    );
    let mut req = state
        .http
        .get(format!("{endpoint}{path}"))
        .header(hmac::TIMESTAMP_HEADER, ts)
        .header(header::AUTHORIZATION, auth);
    let partial = plan.status == StatusCode::PARTIAL_CONTENT;
    if partial {
        req = req.header(header::RANGE, format!("bytes={start}-{end}"));
    }
    let resp = req.send().await.map_err(|e| {
        tracing::warn!(node_id = %node_id, file_id = %file.id, error = %e, "transfer endpoint unreachable");
        ApiError::bad_gateway(format!(
            "node {node_id}, which holds this file, is unreachable at {endpoint}"
        ))
    })?;
    let expected = if partial {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let status = resp.status();
    if status != expected {
        let body = resp.text().await.unwrap_or_default();
        tracing::warn!(node_id = %node_id, file_id = %file.id, %status, body = %body,
            "transfer endpoint refused");
        return Err(if status == StatusCode::NOT_FOUND {
            ApiError::not_found(format!(
                "file {} is stale on node {node_id}: it is gone or changed there",
                file.id
            ))
        } else {
            ApiError::bad_gateway(format!(
                "node {node_id} answered {status} to the transfer request"
            ))
        });
    }
    Ok(Body::from_stream(stream_through(resp.bytes_stream())))
}

fn stream_through(
    s: impl Stream<Item = reqwest::Result<Bytes>> + Send + 'static,
) -> impl Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    s.map(|r| r.map_err(std::io::Error::other))
}
