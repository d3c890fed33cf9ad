//! Virtual directory routes: directory CRUD, the evaluated listing of a
//! directory (`GET /api/vfs`, through [`crate::vfs`]: mounts, steps, labels,
//! synthesized subdirectories, the readdir cache), the preview of an unsaved
//! draft, the tree of directory documents, and the validation of virtual
//! paths, mounts and steps (steps compile with the rule engine's own
//! compiler, so the server and the VFS share one check).
//!
//! Writes wait (briefly) for the local index to apply them, so a listing
//! right after a create, patch or delete reflects it.

use crate::auth::User;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Query};
use crate::state::AppState;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use mosaicfs_common::documents::{MountEntry, ROOT_INODE, VirtualDirectoryDoc};
use mosaicfs_common::{ids, names, time};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Longest virtual path of a directory document, in bytes.
pub const MAX_VIRTUAL_PATH_BYTES: usize = 1024;
/// Longest path `GET /api/vfs` lists, in bytes (Linux `PATH_MAX`): a
/// synthesized subdirectory mirrors a directory on disk.
pub const MAX_LISTED_PATH_BYTES: usize = 4096;
/// Most mounts in one directory.
pub const MAX_MOUNTS: usize = 256;
/// Most steps in one mount.
pub const MAX_STEPS: usize = 256;
/// Namespace reserved for federation (never a user directory).
const FEDERATION: &str = "/federation";
/// Page size when loading every directory document.
const PAGE: usize = 1000;
/// How long a write waits for the local index to apply it.
const INDEX_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The axum route of the directory document endpoints. The OpenAPI
/// description names the parameter `{path}`: the virtual path without its
/// leading slash, each segment URL-encoded (an encoded `/` is accepted too).
const DIRECTORY_ROUTE: &str = "/api/vfs/directories/{*path}";

/// The vfs routes.
pub fn router() -> OpenApiRouter<AppState> {
    // axum needs a wildcard (`{*path}`) to capture a path with slashes, while
    // OpenAPI has no wildcard syntax: describe `{path}`, route `{*path}`.
    let (schemas, paths, method_router) = routes!(get_directory, patch_directory, delete_directory);
    // The preview is `POST {path}/preview`; axum cannot route a suffix after
    // a wildcard, so it is the POST method of the same wildcard route (no
    // other POST exists there) and checks the suffix itself.
    let (preview_schemas, preview_paths, preview_router) = routes!(preview_directory);
    let mut components = utoipa::openapi::Components::new();
    components.schemas.extend(schemas);
    components.schemas.extend(preview_schemas);
    let mut paths = paths;
    paths.merge(preview_paths);
    let openapi = utoipa::openapi::OpenApiBuilder::new()
        .paths(paths)
        .components(Some(components))
        .build();
    OpenApiRouter::with_openapi(openapi)
        .route(DIRECTORY_ROUTE, method_router.merge(preview_router))
        .routes(routes!(list_vfs))
        .routes(routes!(tree))
        .routes(routes!(create_directory))
}

/// Creates the root directory document (`dir::root`, inode 1, system) if it
/// does not exist (plan 3.1).
pub async fn ensure_root(state: &AppState) -> Result<(), mosaicfs_common::couch::CouchError> {
    if state.db.get_value(ids::ROOT_DIR_ID).await?.is_some() {
        return Ok(());
    }
    let root = VirtualDirectoryDoc {
        id: ids::ROOT_DIR_ID.into(),
        rev: None,
        doc_type: Default::default(),
        inode: ROOT_INODE,
        virtual_path: "/".into(),
        name: String::new(),
        parent_path: None,
        system: true,
        created_at: time::now(),
        updated_at: None,
        enforce_steps_on_children: false,
        mounts: Vec::new(),
        extra: Default::default(),
    };
    match state.db.put(&root).await {
        Ok(_) | Err(mosaicfs_common::couch::CouchError::Conflict { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

// ---------------------------------------------------------------------------
// Schemas (OpenAPI only: handlers answer the stored document itself).

/// A `virtual_directory` document as stored (see docs/architecture.md).
/// Fields this server version does not know are returned as well.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DirectoryDoc {
    /// `dir::root` or `dir::{sha256(virtual_path)}`.
    #[serde(rename = "_id")]
    pub id: String,
    /// CouchDB revision.
    #[serde(rename = "_rev")]
    pub rev: Option<String>,
    /// Always `virtual_directory`.
    #[serde(rename = "type")]
    pub doc_type: String,
    /// 1 for the root, else random ≥ 1000.
    pub inode: u64,
    /// Absolute virtual path.
    pub virtual_path: String,
    /// Last path component (`""` for the root).
    pub name: String,
    /// Parent virtual path; absent for the root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_path: Option<String>,
    /// System directories (the root) cannot be deleted; absent when false.
    #[serde(default)]
    pub system: Option<bool>,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last change through the API (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// This directory's mount steps apply to all descendants.
    pub enforce_steps_on_children: bool,
    /// Ordered mount sources.
    pub mounts: Vec<MountSchema>,
}

/// A mount entry (see `MountEntry` in docs/architecture.md). In a request,
/// `mount_id` may be omitted: the server generates 8 hex digits.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MountSchema {
    /// Short id, unique within the directory.
    pub mount_id: Option<String>,
    /// Which node and directory the files come from.
    pub source: MountSourceSchema,
    /// `prefix_replace` or `flatten`.
    pub strategy: StrategySchema,
    /// Absolute prefix stripped by `prefix_replace`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_prefix: Option<String>,
    /// Filter steps (`{op, invert?, on_match?, …parameters}`).
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub steps: Vec<Value>,
    /// `include` (default) or `exclude`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_result: Option<String>,
    /// `last_write_wins` (default) or `suffix_node_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflict_policy: Option<String>,
}

/// A mount's source.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MountSourceSchema {
    /// A node id, or `*` for every node.
    pub node_id: String,
    /// Absolute directory on that node.
    pub export_path: String,
}

/// Mapping strategy.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StrategySchema {
    /// Keep the hierarchy below `source_prefix`.
    PrefixReplace,
    /// List every match directly in the directory.
    Flatten,
}

/// Body of `POST /api/vfs/directories`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDirectory {
    /// Absolute virtual path, e.g. `/documents/work`; the parent must exist.
    #[schema(pattern = r"^/[^/\x00-\x1f]+(/[^/\x00-\x1f]+)*$", max_length = 1024)]
    pub virtual_path: String,
    /// Apply this directory's steps to all descendants (default false).
    pub enforce_steps_on_children: Option<bool>,
    /// Mount sources (default none).
    #[schema(value_type = Option<Vec<MountSchema>>)]
    pub mounts: Option<Vec<Value>>,
}

/// Body of `PATCH /api/vfs/directories/{path}`. Absent fields are kept;
/// `mounts` replaces the whole array.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchDirectory {
    /// Apply this directory's steps to all descendants.
    pub enforce_steps_on_children: Option<bool>,
    /// The new mount list.
    #[schema(value_type = Option<Vec<MountSchema>>)]
    pub mounts: Option<Vec<Value>>,
}

/// Query of `DELETE /api/vfs/directories/{path}`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct DeleteParams {
    /// Also delete every descendant directory. Without it, a directory with
    /// children is refused with 409.
    pub recursive: Option<bool>,
    /// Same as `recursive` (the name used by docs/architecture.md).
    pub force: Option<bool>,
}

/// Query of `GET /api/vfs`: `path` or `path_bytes` (not both).
#[derive(Debug, Deserialize, IntoParams)]
pub struct ListParams {
    /// Absolute virtual path of the directory (default `/`). A synthesized
    /// subdirectory mirrors a directory on disk, so any byte but NUL may
    /// appear in a component (up to 4,096 bytes in all).
    #[param(pattern = r"^/([^/\x00]+(/[^/\x00]+)*)?$")]
    pub path: Option<String>,
    /// The exact virtual path in base64 (standard alphabet, padded), as a
    /// listing's `virtual_path_bytes` gives it: for a path that is not
    /// valid UTF-8.
    pub path_bytes: Option<String>,
}

/// Query of `GET /api/vfs/tree`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct TreeParams {
    /// Absolute virtual path of the subtree's root (default `/`).
    #[param(pattern = r"^/([^/\x00-\x1f]+(/[^/\x00-\x1f]+)*)?$")]
    pub path: Option<String>,
    /// Levels of children to include below it (default unlimited; 0 = none).
    pub depth: Option<u32>,
}

/// One entry of a directory listing: a file or a directory.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Entry {
    /// Name within the directory (possibly suffixed by a conflict policy),
    /// lossy UTF-8: each invalid byte sequence of the name on disk is
    /// U+FFFD here.
    pub name: String,
    /// The exact name in base64 (standard alphabet, padded); present only
    /// when the name is not valid UTF-8 (`name` is then not exact).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_bytes: Option<String>,
    /// `file` or `directory`.
    pub kind: String,
    /// Inode number (a file has the same one in every directory).
    pub inode: u64,
    /// Files: the file document id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_id: Option<String>,
    /// Files: size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Files: modification time (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtime: Option<String>,
    /// Files: the owning node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    /// Directories: the absolute virtual path (lossy UTF-8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_path: Option<String>,
    /// Directories: the exact virtual path in base64, present only when it
    /// is not valid UTF-8; list it with `GET /api/vfs?path_bytes=`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_path_bytes: Option<String>,
    /// Directories: made by a `prefix_replace` mount, no document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synthesized: Option<bool>,
}

/// Answer of `GET /api/vfs` and of a preview.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Listing {
    /// The listed path (lossy UTF-8).
    pub path: String,
    /// The exact listed path in base64, present only when it is not valid
    /// UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_bytes: Option<String>,
    /// The directory document backing it (for a synthesized subdirectory,
    /// the directory whose mounts make it; for a preview, the draft).
    pub directory: DirectoryDoc,
    /// Whether `path` is a synthesized subdirectory.
    pub synthesized: bool,
    /// Number of entries.
    pub total: usize,
    /// Entries sorted by name.
    pub entries: Vec<Entry>,
}

/// Body of `POST /api/vfs/directories/{path}/preview`: a draft evaluated
/// without saving. The directory need not exist; its parent must.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewDirectory {
    /// The draft's mounts.
    #[schema(value_type = Vec<MountSchema>)]
    pub mounts: Vec<Value>,
    /// The draft's flag (it affects descendants only, not this listing).
    pub enforce_steps_on_children: Option<bool>,
}

/// A node of `GET /api/vfs/tree`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TreeNode {
    /// Absolute virtual path.
    pub path: String,
    /// Last component (`""` for the root).
    pub name: String,
    /// Inode number.
    pub inode: u64,
    /// Child directories, by name.
    #[schema(no_recursion)]
    pub children: Vec<TreeNode>,
}

// ---------------------------------------------------------------------------
// Validation: pure functions.

/// A validation failure naming the field at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field, e.g. `mounts[0].steps[1].min`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl FieldError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> ApiError {
        ApiError::field(&e.field, e.message)
    }
}

/// Checks the form of a virtual path: absolute, no trailing slash (except
/// `/`), no empty, `.` or `..` segments, no control characters, at most
/// [`MAX_VIRTUAL_PATH_BYTES`], and not under the reserved `/federation/`.
pub fn validate_virtual_path(path: &str) -> Result<(), String> {
    if path.len() > MAX_VIRTUAL_PATH_BYTES {
        return Err(format!(
            "is {} bytes long; the limit is {MAX_VIRTUAL_PATH_BYTES}",
            path.len()
        ));
    }
    if !path.starts_with('/') {
        return Err(format!("{path:?} is not absolute (it must start with `/`)"));
    }
    if path.chars().any(char::is_control) {
        return Err(format!("{path:?} contains a control character"));
    }
    if path == "/" {
        return Ok(());
    }
    if path.ends_with('/') {
        return Err(format!("{path:?} ends with `/`"));
    }
    for segment in path[1..].split('/') {
        match segment {
            "" => return Err(format!("{path:?} has an empty segment (`//`)")),
            "." | ".." => return Err(format!("{path:?} has a `{segment}` segment")),
            _ => {}
        }
    }
    if path == FEDERATION || path.starts_with("/federation/") {
        return Err(format!(
            "{path:?} is under `/federation/`, which is reserved"
        ));
    }
    Ok(())
}

/// The parent of a valid, non-root virtual path, and its last segment.
fn split_path(path: &str) -> (&str, &str) {
    match path.rsplit_once('/') {
        Some(("", name)) => ("/", name),
        Some((parent, name)) => (parent, name),
        None => ("/", path),
    }
}

/// Parses a request's `mounts` array: each element must be a mount object;
/// a missing `mount_id` is generated (8 hex digits, unique in the array).
/// Errors name the field, e.g. `mounts[1].source.export_path`. The result
/// still has to pass [`validate_mounts`].
pub fn parse_mounts(values: Vec<Value>) -> Result<Vec<MountEntry>, FieldError> {
    if values.len() > MAX_MOUNTS {
        return Err(FieldError::new(
            "mounts",
            format!("has {} entries; the limit is {MAX_MOUNTS}", values.len()),
        ));
    }
    let mut taken: HashSet<String> = values
        .iter()
        .filter_map(|v| v.get("mount_id").and_then(Value::as_str).map(str::to_owned))
        .collect();
    let mut mounts = Vec::with_capacity(values.len());
    for (i, mut v) in values.into_iter().enumerate() {
        let Some(obj) = v.as_object_mut() else {
            return Err(FieldError::new(format!("mounts[{i}]"), "must be an object"));
        };
        if obj.get("mount_id").is_none_or(Value::is_null) {
            let id = loop {
                let id = hex::encode(rand::random::<[u8; 4]>());
                if taken.insert(id.clone()) {
                    break id;
                }
            };
            obj.insert("mount_id".into(), Value::String(id));
        }
        let mount: MountEntry = serde_path_to_error::deserialize(v).map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." {
                format!("mounts[{i}]")
            } else {
                format!("mounts[{i}].{path}")
            };
            FieldError::new(field, e.into_inner().to_string())
        })?;
        mounts.push(mount);
    }
    Ok(mounts)
}

/// Checks mounts and their steps: unique non-empty `mount_id`s, a valid
/// node id (or `*`), absolute paths, known step ops with parameters that fit
/// them (globs and regexes compile, sizes parse, lists are not empty).
pub fn validate_mounts(mounts: &[MountEntry]) -> Result<(), FieldError> {
    if mounts.len() > MAX_MOUNTS {
        return Err(FieldError::new(
            "mounts",
            format!("has {} entries; the limit is {MAX_MOUNTS}", mounts.len()),
        ));
    }
    let mut seen = HashSet::new();
    for (i, m) in mounts.iter().enumerate() {
        let f = |name: &str| format!("mounts[{i}].{name}");
        let id = &m.mount_id;
        if id.is_empty() || id.len() > 64 || id.chars().any(char::is_control) {
            return Err(FieldError::new(
                f("mount_id"),
                "must be 1 to 64 characters without control characters",
            ));
        }
        if !seen.insert(id.as_str()) {
            return Err(FieldError::new(
                f("mount_id"),
                format!("{id:?} is used by another mount of this directory"),
            ));
        }
        let node = &m.source.node_id;
        if node != "*" && !ids::is_valid_node_id(node) {
            return Err(FieldError::new(
                f("source.node_id"),
                format!("{node:?} is neither a node id nor `*`"),
            ));
        }
        check_abs(&m.source.export_path)
            .map_err(|e| FieldError::new(f("source.export_path"), e))?;
        if let Some(p) = &m.source_prefix {
            check_abs(p).map_err(|e| FieldError::new(f("source_prefix"), e))?;
        }
        if m.steps.len() > MAX_STEPS {
            return Err(FieldError::new(
                f("steps"),
                format!("has {} steps; the limit is {MAX_STEPS}", m.steps.len()),
            ));
        }
        mosaicfs_common::rules::compile_steps(&m.steps, &format!("mounts[{i}].steps"))
            .map_err(|e| FieldError::new(e.field, e.message))?;
    }
    Ok(())
}

fn check_abs(p: &str) -> Result<(), String> {
    if !p.starts_with('/') {
        return Err(format!("{p:?} is not an absolute path"));
    }
    if p.chars().any(|c| c == '\0') {
        return Err(format!("{p:?} contains a NUL character"));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Loading.

/// Every well-formed directory document. A malformed one is skipped with a
/// warning: one bad document must not take the namespace down.
async fn load_all(state: &AppState) -> ApiResult<Vec<VirtualDirectoryDoc>> {
    let mut dirs = Vec::new();
    state
        .db
        .for_each_prefix_page(ids::DIR_PREFIX, PAGE, true, |rows| {
            for row in rows {
                let Some(doc) = row.doc else { continue };
                match serde_json::from_value::<VirtualDirectoryDoc>(doc) {
                    Ok(d) => dirs.push(d),
                    Err(e) => tracing::warn!(id = %row.id, error = %e,
                        "skipping a malformed virtual_directory document"),
                }
            }
        })
        .await?;
    Ok(dirs)
}

/// The stored JSON of the directory at `path` and its parsed form.
async fn load_one(state: &AppState, path: &str) -> ApiResult<(Value, VirtualDirectoryDoc)> {
    let raw = state
        .db
        .get_value(&ids::dir_id(path))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no virtual directory {path}")))?;
    let doc = parse_stored(path, &raw)?;
    Ok((raw, doc))
}

fn parse_stored(path: &str, raw: &Value) -> ApiResult<VirtualDirectoryDoc> {
    serde_json::from_value(raw.clone()).map_err(|e| {
        tracing::warn!(path, error = %e, "malformed virtual_directory document");
        ApiError::conflict(format!(
            "the stored document of {path} is malformed ({e}); delete it and create it again"
        ))
    })
}

/// The virtual path named by a `{*path}` parameter (no leading slash).
fn path_param(p: Result<Path<String>, PathRejection>) -> ApiResult<String> {
    let Path(p) = p.map_err(|e| ApiError::field("path", e.body_text()))?;
    let path = if p.starts_with('/') {
        p
    } else {
        format!("/{p}")
    };
    validate_virtual_path(&path).map_err(|e| ApiError::field("path", e))?;
    Ok(path)
}

/// The path `GET /api/vfs` lists, exact bytes: `path` as given, or
/// `path_bytes` decoded (default `/`).
fn listing_path(path: Option<String>, path_bytes: Option<String>) -> ApiResult<Vec<u8>> {
    let (field, bytes) = match (path, path_bytes) {
        (Some(_), Some(_)) => {
            return Err(ApiError::field(
                "path_bytes",
                "give `path` or `path_bytes`, not both",
            ));
        }
        (None, Some(b)) => (
            "path_bytes",
            names::decode(&b)
                .map_err(|e| ApiError::field("path_bytes", format!("is not base64: {e}")))?,
        ),
        (Some(p), None) => ("path", p.into_bytes()),
        (None, None) => ("path", b"/".to_vec()),
    };
    validate_listed_path(&bytes).map_err(|e| ApiError::field(field, e))?;
    Ok(bytes)
}

/// Checks the form of a path to list: absolute, no trailing slash (except
/// the root), no empty, `.` or `..` segment, no NUL, not under
/// `/federation/`, at most [`MAX_LISTED_PATH_BYTES`]. Looser than
/// [`validate_virtual_path`] (which directory documents must pass): below a
/// directory, a synthesized subdirectory is named by a directory on disk.
pub fn validate_listed_path(path: &[u8]) -> Result<(), String> {
    let shown = names::escaped(path);
    if path.len() > MAX_LISTED_PATH_BYTES {
        return Err(format!(
            "is {} bytes long; at most {MAX_LISTED_PATH_BYTES} are allowed",
            path.len()
        ));
    }
    if !path.starts_with(b"/") {
        return Err(format!(
            "\"{shown}\" is not absolute (it must start with `/`)"
        ));
    }
    if path.contains(&0) {
        return Err(format!("\"{shown}\" contains a NUL byte"));
    }
    if path == b"/" {
        return Ok(());
    }
    if path.ends_with(b"/") {
        return Err(format!("\"{shown}\" ends with `/`"));
    }
    for segment in path[1..].split(|b| *b == b'/') {
        match segment {
            b"" => return Err(format!("\"{shown}\" has an empty segment (`//`)")),
            b"." | b".." => return Err(format!("\"{shown}\" has a `.` or `..` segment")),
            _ => {}
        }
    }
    if path == FEDERATION.as_bytes() || path.starts_with(b"/federation/") {
        return Err(format!(
            "\"{shown}\" is under `/federation/`, which is reserved"
        ));
    }
    Ok(())
}

fn query_path(p: Option<String>) -> ApiResult<String> {
    let path = p.unwrap_or_else(|| "/".into());
    validate_virtual_path(&path).map_err(|e| ApiError::field("path", e))?;
    Ok(path)
}

fn to_json(doc: &VirtualDirectoryDoc) -> ApiResult<Value> {
    serde_json::to_value(doc).map_err(ApiError::internal)
}

// ---------------------------------------------------------------------------
// Handlers.

/// Waits until the local index has applied everything the database holds
/// now (after a write, so the next listing reflects it). A slow index is
/// logged, not an error: the write itself succeeded.
async fn sync_index(state: &AppState) {
    let seq = match state.db.db_info().await {
        Ok(info) => info.get("update_seq").cloned().unwrap_or(Value::Null),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the database sequence");
            return;
        }
    };
    if let Err(e) = state.index.wait_for_seq(&seq, INDEX_WAIT).await {
        tracing::warn!(error = %e, "the local index lags behind a write");
    }
}

fn json_bytes(body: bytes::Bytes) -> axum::response::Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// A listing with a `Server-Timing` header (`readdir;dur=<ms>`), so a
/// benchmark can tell evaluation time from transfer time.
fn timed(body: bytes::Bytes, started: std::time::Instant) -> axum::response::Response {
    let mut r = json_bytes(body);
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if let Ok(v) = axum::http::HeaderValue::from_str(&format!("readdir;dur={ms:.3}")) {
        r.headers_mut().insert("server-timing", v);
    }
    r
}

/// Lists a virtual directory as its mounts and steps evaluate: child
/// directories, synthesized subdirectories of `prefix_replace` mounts, and
/// files. Answered from the local index and the readdir cache.
#[utoipa::path(get, path = "/api/vfs", tag = "vfs", params(ListParams),
    security(("bearer" = [])),
    description = "Lists a virtual directory or a synthesized subdirectory of one. A directory \
        whose document does not compile (for example a bad regex that arrived by replication) \
        answers 422 naming the field; a broken `parent_path` chain answers 400. Listings are \
        cached for 5 s and invalidated by any directory or label change.",
    responses((status = 200, body = Listing), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody),
              (status = 503, body = crate::error::ErrorBody)))]
async fn list_vfs(
    _: User,
    State(state): State<AppState>,
    Query(p): Query<ListParams>,
) -> ApiResult<axum::response::Response> {
    let started = std::time::Instant::now();
    let path = listing_path(p.path, p.path_bytes)?;
    match crate::vfs::readdir(&state.index, &state.readdir_cache, &path).await {
        Ok(body) => Ok(timed(body, started)),
        Err(crate::vfs::ReaddirError::NotFound(_)) => {
            // The directory may have been written a moment ago and not be
            // indexed yet: catch up once before answering 404.
            sync_index(&state).await;
            let body = crate::vfs::readdir(&state.index, &state.readdir_cache, &path).await?;
            Ok(timed(body, started))
        }
        Err(e) => Err(e.into()),
    }
}

/// Evaluates a draft of the directory at `path` without saving it.
#[utoipa::path(post, path = "/api/vfs/directories/{path}/preview", tag = "vfs",
    params(("path" = String, Path, description = "the virtual path without its leading slash, each segment URL-encoded; the directory need not exist, its parent must")),
    request_body = PreviewDirectory, security(("bearer" = [])),
    responses((status = 200, body = Listing), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)))]
async fn preview_directory(
    _: User,
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    Json(body): Json<PreviewDirectory>,
) -> ApiResult<axum::response::Response> {
    let Path(raw) = path.map_err(|e| ApiError::field("path", e.body_text()))?;
    let raw = raw.trim_start_matches('/');
    let path = match raw.strip_suffix("/preview") {
        Some(p) => format!("/{p}"),
        None if raw == "preview" => "/".to_string(),
        None => return Err(ApiError::not_found("no such route")),
    };
    validate_virtual_path(&path).map_err(|e| ApiError::field("path", e))?;
    let mounts = parse_mounts(body.mounts)?;
    validate_mounts(&mounts)?;
    if !state.index.is_ready() {
        state
            .index
            .wait_ready(INDEX_WAIT)
            .await
            .map_err(|_| ApiError::from(crate::vfs::ReaddirError::NotReady))?;
    }
    let resolved = state.index.with_derived(|d| {
        if let Some(dir) = d.directory(&path) {
            let ancestors = crate::vfs::ancestors(d, dir)?;
            return Ok(((**dir).clone(), ancestors, d.children(&path)));
        }
        let (parent, name) = split_path(&path);
        let Some(pdir) = d.directory(parent) else {
            return Err(crate::vfs::ReaddirError::NotFound(parent.to_string()));
        };
        let mut ancestors = crate::vfs::ancestors(d, pdir)?;
        ancestors.push(pdir.clone());
        let draft = VirtualDirectoryDoc {
            id: ids::dir_id(&path),
            rev: None,
            doc_type: Default::default(),
            inode: 0,
            virtual_path: path.clone(),
            name: name.to_string(),
            parent_path: Some(parent.to_string()),
            system: false,
            created_at: time::now(),
            updated_at: None,
            enforce_steps_on_children: false,
            mounts: Vec::new(),
            extra: Default::default(),
        };
        Ok((draft, ancestors, Vec::new()))
    });
    let (mut draft, ancestors, children) = match resolved {
        Err(crate::vfs::ReaddirError::NotFound(p)) => {
            return Err(ApiError::not_found(format!(
                "no virtual directory {p} (the parent of a preview must exist)"
            )));
        }
        other => other?,
    };
    draft.mounts = mounts;
    if let Some(flag) = body.enforce_steps_on_children {
        draft.enforce_steps_on_children = flag;
    }
    let listed = crate::vfs::evaluate(
        &state.index,
        &draft,
        &ancestors,
        &[],
        &children,
        path.as_bytes(),
    )
    .await?;
    Ok(json_bytes(crate::vfs::render(
        path.as_bytes(),
        &draft,
        false,
        &listed.entries,
    )))
}

/// The directory tree below `path` (default `/`), nested by name.
#[utoipa::path(get, path = "/api/vfs/tree", tag = "vfs", params(TreeParams),
    security(("bearer" = [])),
    description = "The tree of virtual directory documents below `path` (synthesized \
        subdirectories and files are in `GET /api/vfs`).",
    responses((status = 200, body = TreeNode), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
async fn tree(
    _: User,
    State(state): State<AppState>,
    Query(p): Query<TreeParams>,
) -> ApiResult<axum::Json<TreeNode>> {
    let path = query_path(p.path)?;
    let dirs = load_all(&state).await?;
    Ok(axum::Json(build_tree(dirs, &path, p.depth).ok_or_else(
        || ApiError::not_found(format!("no virtual directory {path}")),
    )?))
}

/// Nests `dirs` below `root`, to at most `depth` levels.
fn build_tree(dirs: Vec<VirtualDirectoryDoc>, root: &str, depth: Option<u32>) -> Option<TreeNode> {
    let mut by_parent: BTreeMap<String, Vec<VirtualDirectoryDoc>> = BTreeMap::new();
    let mut top = None;
    for d in dirs {
        if d.virtual_path == root {
            top = Some(d);
        } else if let Some(parent) = d.parent_path.clone() {
            by_parent.entry(parent).or_default().push(d);
        }
    }
    fn node(
        d: VirtualDirectoryDoc,
        by_parent: &mut BTreeMap<String, Vec<VirtualDirectoryDoc>>,
        depth: Option<u32>,
    ) -> TreeNode {
        let mut kids = if depth == Some(0) {
            Vec::new()
        } else {
            by_parent.remove(&d.virtual_path).unwrap_or_default()
        };
        kids.sort_by(|a, b| a.name.cmp(&b.name));
        let children = kids
            .into_iter()
            .map(|k| node(k, by_parent, depth.map(|n| n - 1)))
            .collect();
        TreeNode {
            path: d.virtual_path,
            name: d.name,
            inode: d.inode,
            children,
        }
    }
    top.map(|t| node(t, &mut by_parent, depth))
}

/// Creates a virtual directory. Its parent must exist.
#[utoipa::path(post, path = "/api/vfs/directories", tag = "vfs", request_body = CreateDirectory,
    security(("bearer" = [])),
    responses((status = 201, body = DirectoryDoc), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn create_directory(
    _: User,
    State(state): State<AppState>,
    Json(body): Json<CreateDirectory>,
) -> ApiResult<(StatusCode, axum::Json<Value>)> {
    let path = body.virtual_path;
    validate_virtual_path(&path).map_err(|e| ApiError::field("virtual_path", e))?;
    let mounts = parse_mounts(body.mounts.unwrap_or_default())?;
    validate_mounts(&mounts)?;
    if path == "/" {
        return Err(ApiError::conflict("the root directory / already exists"));
    }
    let (parent, name) = split_path(&path);
    if state.db.get_value(&ids::dir_id(parent)).await?.is_none() {
        return Err(ApiError::field(
            "virtual_path",
            format!("the parent directory {parent} does not exist; create it first"),
        ));
    }
    let doc = VirtualDirectoryDoc {
        id: ids::dir_id(&path),
        rev: None,
        doc_type: Default::default(),
        inode: ids::new_inode(),
        virtual_path: path.clone(),
        name: name.to_string(),
        parent_path: Some(parent.to_string()),
        system: false,
        created_at: time::now(),
        updated_at: None,
        enforce_steps_on_children: body.enforce_steps_on_children.unwrap_or(false),
        mounts,
        extra: Default::default(),
    };
    let rev = match state.db.put(&doc).await {
        Ok(r) => r,
        Err(mosaicfs_common::couch::CouchError::Conflict { .. }) => {
            return Err(ApiError::conflict(format!(
                "the virtual directory {path} already exists"
            )));
        }
        Err(e) => return Err(e.into()),
    };
    let doc = VirtualDirectoryDoc {
        rev: Some(rev.rev),
        ..doc
    };
    tracing::info!(path = %path, operation = "vdir_create", "virtual directory created");
    sync_index(&state).await;
    Ok((StatusCode::CREATED, axum::Json(to_json(&doc)?)))
}

/// One virtual directory's document.
#[utoipa::path(get, path = "/api/vfs/directories/{path}", tag = "vfs",
    params(("path" = String, Path, description = "the virtual path without its leading slash, each segment URL-encoded (`documents/work` for `/documents/work`)")),
    security(("bearer" = [])),
    responses((status = 200, body = DirectoryDoc), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody)))]
async fn get_directory(
    _: User,
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<axum::Json<Value>> {
    let path = path_param(path)?;
    let (raw, _) = load_one(&state, &path).await?;
    Ok(axum::Json(raw))
}

/// Updates `enforce_steps_on_children` and/or replaces `mounts`. Fields the
/// server does not know are kept.
#[utoipa::path(patch, path = "/api/vfs/directories/{path}", tag = "vfs",
    params(("path" = String, Path, description = "the virtual path without its leading slash, each segment URL-encoded")),
    request_body = PatchDirectory, security(("bearer" = [])),
    responses((status = 200, body = DirectoryDoc), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody)))]
async fn patch_directory(
    _: User,
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    Json(body): Json<PatchDirectory>,
) -> ApiResult<axum::Json<Value>> {
    let path = path_param(path)?;
    let mounts = body.mounts.map(parse_mounts).transpose()?;
    if let Some(m) = &mounts {
        validate_mounts(m)?;
    }
    let mounts = mounts
        .map(|m| serde_json::to_value(m).map_err(ApiError::internal))
        .transpose()?;
    let now = serde_json::to_value(time::now()).map_err(ApiError::internal)?;
    let mut failure: Option<ApiError> = None;
    let mut written: Option<Value> = None;
    let rev = state
        .db
        .update(&ids::dir_id(&path), |stored| {
            let Some(mut doc) = stored else {
                failure = Some(ApiError::not_found(format!("no virtual directory {path}")));
                return None;
            };
            if let Err(e) = parse_stored(&path, &doc) {
                failure = Some(e);
                return None;
            }
            let o = doc.as_object_mut()?;
            if let Some(flag) = body.enforce_steps_on_children {
                o.insert("enforce_steps_on_children".into(), Value::Bool(flag));
            }
            if let Some(m) = &mounts {
                o.insert("mounts".into(), m.clone());
            }
            o.insert("updated_at".into(), now.clone());
            failure = None;
            written = Some(doc.clone());
            Some(doc)
        })
        .await?;
    if let Some(e) = failure {
        return Err(e);
    }
    let (Some(rev), Some(mut doc)) = (rev, written) else {
        return Err(ApiError::internal("update wrote nothing"));
    };
    if let Some(o) = doc.as_object_mut() {
        o.insert("_rev".into(), Value::String(rev.rev));
    }
    tracing::info!(path = %path, operation = "vdir_update", "virtual directory updated");
    sync_index(&state).await;
    Ok(axum::Json(doc))
}

/// Deletes a virtual directory. System directories (the root) are refused;
/// a directory with child directories is refused unless `recursive=true`,
/// which deletes the whole subtree.
#[utoipa::path(delete, path = "/api/vfs/directories/{path}", tag = "vfs",
    params(("path" = String, Path, description = "the virtual path without its leading slash, each segment URL-encoded"),
           DeleteParams),
    security(("bearer" = [])),
    responses((status = 204), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody)))]
async fn delete_directory(
    _: User,
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    Query(q): Query<DeleteParams>,
) -> ApiResult<StatusCode> {
    let path = path_param(path)?;
    let recursive = q.recursive.unwrap_or(false) || q.force.unwrap_or(false);
    let raw = state
        .db
        .get_value(&ids::dir_id(&path))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no virtual directory {path}")))?;
    // A malformed document may still be deleted; only `system` matters here.
    if path == "/" || raw.get("system").and_then(Value::as_bool) == Some(true) {
        return Err(ApiError::conflict(format!(
            "{path} is a system directory and cannot be deleted"
        )));
    }
    let below = format!("{path}/");
    let mut descendants: Vec<VirtualDirectoryDoc> = load_all(&state)
        .await?
        .into_iter()
        .filter(|d| d.virtual_path.starts_with(&below))
        .collect();
    if !descendants.is_empty() && !recursive {
        return Err(ApiError::conflict(format!(
            "{path} has {} descendant directories; delete them first or pass ?recursive=true",
            descendants.len()
        )));
    }
    if let Some(sys) = descendants.iter().find(|d| d.system) {
        return Err(ApiError::conflict(format!(
            "{} below {path} is a system directory and cannot be deleted",
            sys.virtual_path
        )));
    }
    // Deepest first, so an interrupted delete never leaves an orphan.
    descendants.sort_by_key(|d| std::cmp::Reverse(d.virtual_path.matches('/').count()));
    let tombstones: Vec<Value> = descendants
        .iter()
        .map(|d| serde_json::json!({"_id": d.id, "_rev": d.rev, "_deleted": true}))
        .collect();
    for chunk in tombstones.chunks(PAGE) {
        for r in state.db.bulk_docs(chunk).await? {
            if let Some(err) = r.error {
                return Err(ApiError::conflict(format!(
                    "could not delete {} ({err}); it changed concurrently, retry",
                    r.id
                )));
            }
        }
    }
    let rev = raw.get("_rev").and_then(Value::as_str).unwrap_or_default();
    state.db.delete(&ids::dir_id(&path), rev).await?;
    tracing::info!(path = %path, descendants = descendants.len(), operation = "vdir_delete",
        "virtual directory deleted");
    sync_index(&state).await;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check_path(path: &str, expected: Result<(), &str>) {
        match (validate_virtual_path(path), expected) {
            (Ok(()), Ok(())) => {}
            (Err(e), Err(needle)) => {
                assert!(e.contains(needle), "{path:?}: {e:?} lacks {needle:?}")
            }
            (got, want) => panic!("{path:?}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn virtual_paths() {
        check_path("/", Ok(()));
        check_path("/a", Ok(()));
        check_path("/documents/work stuff/ü", Ok(()));
        check_path("/fed", Ok(()));
        check_path("/federationx", Ok(()));
        check_path("a", Err("not absolute"));
        check_path("", Err("not absolute"));
        check_path("/a/", Err("ends with"));
        check_path("/a//b", Err("empty segment"));
        check_path("/a/./b", Err("`.` segment"));
        check_path("/a/..", Err("`..` segment"));
        check_path("/a\nb", Err("control"));
        check_path("/federation", Err("reserved"));
        check_path("/federation/x", Err("reserved"));
        check_path(&format!("/{}", "x".repeat(1024)), Err("limit is 1024"));
        check_path(&format!("/{}", "x".repeat(1023)), Ok(()));
    }

    #[test]
    fn directory_inodes_fit_in_a_double() {
        for _ in 0..1000 {
            let i = ids::new_inode();
            assert!((1000..1 << 53).contains(&i), "{i}");
        }
    }

    #[test]
    fn split() {
        assert_eq!(split_path("/a"), ("/", "a"));
        assert_eq!(split_path("/a/b/c"), ("/a/b", "c"));
    }

    fn mount(steps: Value) -> Value {
        json!({"mount_id": "m1", "source": {"node_id": "*", "export_path": "/data"},
               "strategy": "flatten", "steps": steps})
    }

    /// Parses and validates `mounts`; `Ok` or the field at fault and a
    /// fragment of its message.
    fn check_mounts(mounts: Value, expected: Result<(), (&str, &str)>) {
        let got = parse_mounts(serde_json::from_value(mounts.clone()).unwrap())
            .and_then(|m| validate_mounts(&m));
        match (got, expected) {
            (Ok(()), Ok(())) => {}
            (Err(e), Err((field, needle))) => {
                assert_eq!(e.field, field, "{mounts}: {e:?}");
                assert!(
                    e.message.contains(needle),
                    "{mounts}: {e:?} lacks {needle:?}"
                );
            }
            (got, want) => panic!("{mounts}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn valid_mounts_pass() {
        let steps = json!([
            {"op": "glob", "pattern": "**/*.pdf"},
            {"op": "regex", "pattern": "^report", "invert": true},
            {"op": "age", "max_days": 30},
            {"op": "size", "min": "1KiB", "max": 10_000_000},
            {"op": "mime", "types": ["image/*"]},
            {"op": "node", "node_ids": ["laptop"]},
            {"op": "label", "labels": ["work"], "on_match": "include"},
            {"op": "annotation", "plugin_name": "ai", "key": "topic"},
        ]);
        check_mounts(json!([mount(steps)]), Ok(()));
        check_mounts(json!([]), Ok(()));
    }

    #[test]
    fn mount_ids_are_generated_and_unique() {
        let m =
            json!({"source": {"node_id": "n1", "export_path": "/x"}, "strategy": "prefix_replace"});
        let parsed = parse_mounts(vec![m.clone(), m]).unwrap();
        assert_eq!(parsed[0].mount_id.len(), 8);
        assert!(parsed[0].mount_id.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(parsed[0].mount_id, parsed[1].mount_id);
        validate_mounts(&parsed).unwrap();
    }

    #[test]
    fn mount_errors_name_the_field() {
        let m = |id: &str, node: &str, path: &str| json!({"mount_id": id, "source": {"node_id": node, "export_path": path}, "strategy": "flatten"});
        check_mounts(
            json!([m("", "*", "/a")]),
            Err(("mounts[0].mount_id", "1 to 64")),
        );
        check_mounts(
            json!([m("a", "*", "/a"), m("a", "*", "/b")]),
            Err(("mounts[1].mount_id", "used by another")),
        );
        check_mounts(
            json!([m("a", "Bad Node", "/a")]),
            Err(("mounts[0].source.node_id", "neither")),
        );
        check_mounts(
            json!([m("a", "*", "rel")]),
            Err(("mounts[0].source.export_path", "absolute")),
        );
        let mut p = m("a", "*", "/a");
        p["source_prefix"] = json!("x");
        check_mounts(json!([p]), Err(("mounts[0].source_prefix", "absolute")));
        let mut s = m("a", "*", "/a");
        s["strategy"] = json!("sideways");
        check_mounts(json!([s]), Err(("mounts[0].strategy", "unknown variant")));
        check_mounts(json!([5]), Err(("mounts[0]", "object")));
        check_mounts(
            json!([{"mount_id": "a", "strategy": "flatten"}]),
            Err(("mounts[0]", "source")),
        );
    }

    fn dir(path: &str) -> VirtualDirectoryDoc {
        let (parent, name) = if path == "/" {
            (None, "")
        } else {
            let (p, n) = split_path(path);
            (Some(p.to_string()), n)
        };
        VirtualDirectoryDoc {
            id: ids::dir_id(path),
            rev: None,
            doc_type: Default::default(),
            inode: 1000 + path.len() as u64,
            virtual_path: path.to_string(),
            name: name.to_string(),
            parent_path: parent,
            system: path == "/",
            created_at: mosaicfs_common::time::now(),
            updated_at: None,
            enforce_steps_on_children: false,
            mounts: Vec::new(),
            extra: Default::default(),
        }
    }

    /// `name(child,child…)`, recursively.
    fn names(n: &TreeNode) -> String {
        if n.children.is_empty() {
            return n.name.clone();
        }
        let kids: Vec<String> = n.children.iter().map(names).collect();
        format!("{}({})", n.name, kids.join(","))
    }

    #[test]
    fn trees_nest_and_respect_depth() {
        let dirs = || {
            ["/", "/b", "/a", "/a/y", "/a/x", "/a/x/deep"]
                .map(dir)
                .to_vec()
        };
        assert_eq!(
            names(&build_tree(dirs(), "/", None).unwrap()),
            "(a(x(deep),y),b)"
        );
        assert_eq!(names(&build_tree(dirs(), "/", Some(1)).unwrap()), "(a,b)");
        assert_eq!(
            names(&build_tree(dirs(), "/a", None).unwrap()),
            "a(x(deep),y)"
        );
        assert!(build_tree(dirs(), "/zz", None).is_none());
    }
}
