//! Node routes (plan 2.5): list, get, register (the contract of
//! `mosaicfs-agent init`), patch, soft disable, the node's `agent_status`,
//! and CRUD of the `network_mounts` the control plane owns.
//!
//! Every write is a read-modify-write of the stored JSON that sets only the
//! fields the request names, so fields the agent owns and fields this version
//! does not know survive. The control plane owns `friendly_name`,
//! `network_mounts`, `disabled` and `reindex_requested_at`
//! (`documents::CONTROL_PLANE_FIELDS`) and stamps `control_updated_at` on each write;
//! reads and writes merge conflicting revisions by that ownership
//! (`documents::merge_node_revisions`), and writes delete the losers.

use crate::auth::User;
use crate::auth::credentials::is_access_key_id;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Query};
use crate::routes::paging;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use mosaicfs_common::documents::{CONTROL_UPDATED_AT, CredentialDoc, merge_node_revisions};
use mosaicfs_common::{ids, time};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The node routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_nodes, register_node))
        .routes(routes!(get_node, patch_node, delete_node))
        .routes(routes!(node_status))
        .routes(routes!(list_mounts, add_mount))
        .routes(routes!(patch_mount, delete_mount))
}

/// Platforms an agent may register with.
const PLATFORMS: [&str; 2] = ["linux", "macos"];
/// Kinds of network mount.
const MOUNT_TYPES: [&str; 4] = ["cifs", "nfs", "icloud_local", "gdrive_local"];

/// A stored document as the API shows it: every stored field (unknown ones
/// included) except `_rev`. For a node see the `node` table of
/// `docs/architecture.md`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = Object)]
pub struct NodeDocument(pub Value);

/// One network mount: `{mount_id, remote_node_id, remote_base_export_path,
/// local_mount_path, mount_type, priority}` plus any unknown fields.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = Object)]
pub struct NetworkMountView(pub Value);

/// A page of node documents.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NodeList {
    /// Node documents in id order.
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<Value>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// A node's network mounts (all of them: the list lives in one document).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MountList {
    /// The mounts, in stored order.
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<Value>,
    /// Always `null`: the list is never split.
    pub next_cursor: Option<String>,
}

/// Pagination of a list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Page size, 1–1000 (default 100).
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Body of `POST /api/nodes`, sent by `mosaicfs-agent init`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterNode {
    /// The node id; generated (`node-` + 16 hex) when absent.
    pub node_id: Option<String>,
    /// Display name, 1–100 characters.
    pub friendly_name: String,
    /// `linux` or `macos`.
    pub platform: String,
    /// The agent's access key; must be an existing, enabled credential.
    pub access_key_id: String,
    /// Absolute paths the agent indexes.
    pub watch_paths: Option<Vec<String>>,
    /// Base URL (`http` or `https`) of the agent's transfer endpoint.
    pub transfer_endpoint: Option<String>,
}

/// Body of `PATCH /api/nodes/{node_id}`; absent fields are left alone.
/// Only control-plane-owned fields can be changed: `transfer_endpoint` and
/// `watch_paths` come from the agent's `agent.toml` and are refused (400).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchNode {
    /// Display name, 1–100 characters.
    pub friendly_name: Option<String>,
    /// Refused: owned by the agent (`[transfer]` in `agent.toml`).
    pub transfer_endpoint: Option<Value>,
    /// Refused: owned by the agent (`watch_paths` in `agent.toml`).
    pub watch_paths: Option<Value>,
}

/// Body of `POST /api/nodes/{node_id}/mounts`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMount {
    /// The node whose files the mount exposes; registered, not this node.
    pub remote_node_id: String,
    /// Absolute export path on the remote node at the mount's root.
    pub remote_base_export_path: String,
    /// Absolute path where it is mounted on this node.
    pub local_mount_path: String,
    /// `cifs`, `nfs`, `icloud_local` or `gdrive_local`.
    pub mount_type: String,
    /// Higher wins when several mounts cover a file (default 0).
    #[serde(default)]
    pub priority: i32,
}

/// Body of `PATCH /api/nodes/{node_id}/mounts/{mount_id}`; absent fields are
/// left alone.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchMount {
    /// See [`AddMount`].
    pub remote_node_id: Option<String>,
    /// See [`AddMount`].
    pub remote_base_export_path: Option<String>,
    /// See [`AddMount`].
    pub local_mount_path: Option<String>,
    /// See [`AddMount`].
    pub mount_type: Option<String>,
    /// See [`AddMount`].
    pub priority: Option<i32>,
}

/// 400 unless `id` is a valid node id.
pub(crate) fn check_node_id(field: &str, id: &str) -> ApiResult<()> {
    if ids::is_valid_node_id(id) {
        Ok(())
    } else {
        Err(ApiError::field(
            field,
            format!(
                "{id:?} is not a valid node id (1 to 64 characters of a-z, 0-9, `-` and `_`, starting with a letter or digit)"
            ),
        ))
    }
}

/// 400 unless `path` is absolute.
pub(crate) fn check_absolute(field: &str, path: &str) -> ApiResult<()> {
    if !path.starts_with('/') {
        return Err(ApiError::field(
            field,
            format!("{path:?} is not an absolute path"),
        ));
    }
    if path.contains('\0') || path.len() > 4096 {
        return Err(ApiError::field(
            field,
            "must be at most 4096 bytes without NUL characters",
        ));
    }
    Ok(())
}

fn check_friendly_name(name: &str) -> ApiResult<()> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > 100 || n.chars().any(char::is_control) {
        return Err(ApiError::field(
            "friendly_name",
            "must be 1 to 100 characters without control characters",
        ));
    }
    Ok(())
}

fn check_watch_paths(paths: &[String]) -> ApiResult<()> {
    for (i, p) in paths.iter().enumerate() {
        check_absolute(&format!("watch_paths[{i}]"), p)?;
    }
    Ok(())
}

/// The endpoint without a trailing `/`, or 400 if it is not an http(s) URL
/// with a host.
fn check_endpoint(endpoint: &str) -> ApiResult<String> {
    let url = reqwest::Url::parse(endpoint).map_err(|e| {
        ApiError::field(
            "transfer_endpoint",
            format!("{endpoint:?} is not a URL: {e}"),
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(ApiError::field(
            "transfer_endpoint",
            "must be an http:// or https:// URL with a host",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(ApiError::field(
            "transfer_endpoint",
            "must not carry a query, a fragment or credentials",
        ));
    }
    Ok(endpoint.trim_end_matches('/').to_string())
}

fn check_mount_type(t: &str) -> ApiResult<()> {
    if MOUNT_TYPES.contains(&t) {
        Ok(())
    } else {
        Err(ApiError::field(
            "mount_type",
            format!("must be one of {}", MOUNT_TYPES.join(", ")),
        ))
    }
}

/// Sets `transfer` to `{endpoint, protocol: "http"}`, keeping unknown fields
/// of an existing `transfer` object.
fn set_transfer(doc: &mut Map<String, Value>, endpoint: &str) {
    let transfer = doc.entry("transfer").or_insert_with(|| json!({}));
    if !transfer.is_object() {
        *transfer = json!({});
    }
    if let Some(t) = transfer.as_object_mut() {
        t.insert("endpoint".into(), json!(endpoint));
        t.insert("protocol".into(), json!("http"));
    }
}

fn node_not_found(node_id: &str) -> ApiError {
    ApiError::not_found(format!("no node {node_id} is registered"))
}

/// Whether `node::{node_id}` exists.
pub(crate) async fn node_exists(state: &AppState, node_id: &str) -> ApiResult<bool> {
    Ok(state
        .db
        .get_value(&ids::node_doc_id(node_id))
        .await?
        .is_some_and(|d| d.is_object()))
}

/// The stored node document (conflicting revisions merged), or 400 (bad
/// id) / 404 (absent).
async fn load_node(state: &AppState, node_id: &str) -> ApiResult<Value> {
    check_node_id("node_id", node_id)?;
    state
        .db
        .get_merged(&ids::node_doc_id(node_id), merge_node_revisions)
        .await?
        .filter(Value::is_object)
        .ok_or_else(|| node_not_found(node_id))
}

/// Read-modify-write of an existing node document by the control plane.
/// `change` edits the stored JSON (conflicting revisions merged) in place (it
/// may run again after a conflict, on a fresh copy); an error from it writes
/// nothing. The write stamps `control_updated_at` and deletes the merged
/// revisions. Returns the written document.
pub(crate) async fn modify_node(
    state: &AppState,
    node_id: &str,
    change: impl FnMut(&mut Map<String, Value>) -> ApiResult<()>,
) -> ApiResult<Value> {
    check_node_id("node_id", node_id)?;
    match modify_node_doc(&state.db, node_id, change).await? {
        Some(outcome) => outcome.map(paging::public),
        None => Err(node_not_found(node_id)),
    }
}

/// [`modify_node`] on a database; `None` if the node document is absent.
pub(crate) async fn modify_node_doc(
    db: &mosaicfs_common::couch::CouchClient,
    node_id: &str,
    mut change: impl FnMut(&mut Map<String, Value>) -> ApiResult<()>,
) -> Result<Option<ApiResult<Value>>, mosaicfs_common::couch::CouchError> {
    let mut outcome: Option<ApiResult<Value>> = None;
    db.update_merging(&ids::node_doc_id(node_id), merge_node_revisions, |stored| {
        outcome = None;
        let mut doc = stored.filter(Value::is_object)?;
        let o = doc.as_object_mut()?;
        if let Err(e) = change(o) {
            outcome = Some(Err(e));
            return None;
        }
        o.insert(CONTROL_UPDATED_AT.into(), json!(time::format(&time::now())));
        outcome = Some(Ok(doc.clone()));
        Some(doc)
    })
    .await?;
    Ok(outcome)
}

/// Runs `f` on the `network_mounts` array of a node document (an empty one
/// if it is absent or, against the schema, not an array) and puts it back.
fn with_mounts<T>(
    doc: &mut Map<String, Value>,
    f: impl FnOnce(&mut Vec<Value>) -> ApiResult<T>,
) -> ApiResult<T> {
    let mut mounts = match doc.remove("network_mounts") {
        Some(Value::Array(a)) => a,
        _ => Vec::new(),
    };
    let result = f(&mut mounts);
    doc.insert("network_mounts".into(), Value::Array(mounts));
    result
}

fn mount_id_of(m: &Value) -> Option<&str> {
    m.get("mount_id").and_then(Value::as_str)
}

fn new_mount_id() -> String {
    let b: [u8; 4] = rand::rng().random();
    hex::encode(b)
}

fn mount_not_found(node_id: &str, mount_id: &str) -> ApiError {
    ApiError::not_found(format!("node {node_id} has no network mount {mount_id}"))
}

/// Lists node documents in id order.
#[utoipa::path(get, path = "/api/nodes", tag = "nodes", params(ListParams),
    security(("bearer" = [])),
    responses((status = 200, body = NodeList), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody)))]
async fn list_nodes(
    _: User,
    State(state): State<AppState>,
    Query(p): Query<ListParams>,
) -> ApiResult<axum::Json<NodeList>> {
    let limit = paging::limit(p.limit)?;
    let page = paging::page(&state.db, ids::NODE_PREFIX, limit, p.cursor.as_deref()).await?;
    Ok(axum::Json(NodeList {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}

enum Registration {
    Created,
    Updated,
    Taken(String),
}

/// Registers a node (called by `mosaicfs-agent init`). A new node answers
/// 201; registering an existing node again with the same access key updates
/// the given fields, keeps the others and answers 200; another access key
/// answers 409.
#[utoipa::path(post, path = "/api/nodes", tag = "nodes", request_body = RegisterNode,
    security(("bearer" = [])),
    responses((status = 201, body = NodeDocument, description = "registered"),
              (status = 200, body = NodeDocument, description = "already registered with this key; updated"),
              (status = 400, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody)))]
async fn register_node(
    _: User,
    State(state): State<AppState>,
    Json(body): Json<RegisterNode>,
) -> ApiResult<(StatusCode, axum::Json<NodeDocument>)> {
    let node_id = body.node_id.clone().unwrap_or_else(ids::new_node_id);
    check_node_id("node_id", &node_id)?;
    check_friendly_name(&body.friendly_name)?;
    if !PLATFORMS.contains(&body.platform.as_str()) {
        return Err(ApiError::field(
            "platform",
            format!("must be one of {}", PLATFORMS.join(", ")),
        ));
    }
    if let Some(paths) = &body.watch_paths {
        check_watch_paths(paths)?;
    }
    let endpoint = body
        .transfer_endpoint
        .as_deref()
        .map(check_endpoint)
        .transpose()?;
    let key = &body.access_key_id;
    if !is_access_key_id(key) {
        return Err(ApiError::field(
            "access_key_id",
            format!("{key:?} is not an access key id (MOSAICFS_ + 16 uppercase hex)"),
        ));
    }
    let credential: Option<CredentialDoc> =
        state
            .db
            .get(&ids::credential_id(key))
            .await
            .map_err(|e| match e {
                mosaicfs_common::couch::CouchError::Decode { .. } => {
                    ApiError::field("access_key_id", format!("credential {key} is unreadable"))
                }
                other => ApiError::from(other),
            })?;
    match credential {
        None => {
            return Err(ApiError::field(
                "access_key_id",
                format!("no credential {key} exists; create one with POST /api/credentials"),
            ));
        }
        Some(c) if !c.enabled => {
            return Err(ApiError::field(
                "access_key_id",
                format!("credential {key} is disabled"),
            ));
        }
        Some(_) => {}
    }

    let now = time::format(&time::now());
    let name = body.friendly_name.trim().to_string();
    let mut outcome = Registration::Created;
    let mut written = Value::Null;
    let doc_id = ids::node_doc_id(&node_id);
    state
        .db
        .update_merging(&doc_id, merge_node_revisions, |stored| {
            let mut doc = match stored.filter(Value::is_object) {
                None => {
                    outcome = Registration::Created;
                    json!({
                        "type": "node",
                        "node_id": node_id,
                        "status": "offline",
                        "last_heartbeat": now,
                        "registered_at": now,
                        "vfs_capable": true,
                        "capabilities": [],
                        "watch_paths": [],
                        "storage": [],
                        "network_mounts": [],
                    })
                }
                Some(doc) => {
                    // A node document without a key was written by an agent
                    // before it was registered; the first registration claims it.
                    match doc.get("access_key_id").and_then(Value::as_str) {
                        Some(owner) if owner != key => {
                            outcome = Registration::Taken(owner.to_string());
                            return None;
                        }
                        _ => outcome = Registration::Updated,
                    }
                    doc
                }
            };
            let o = doc.as_object_mut()?;
            // `update` sets `_id` itself; set it here too so that the answer
            // (a copy of what is written) carries it.
            o.insert("_id".into(), json!(doc_id));
            o.insert("type".into(), json!("node"));
            o.insert("node_id".into(), json!(node_id));
            o.insert("friendly_name".into(), json!(name));
            o.insert(CONTROL_UPDATED_AT.into(), json!(now));
            o.insert("platform".into(), json!(body.platform));
            o.insert("access_key_id".into(), json!(key));
            // Fields a pre-registration agent may not have written yet.
            o.entry("status").or_insert_with(|| json!("offline"));
            o.entry("last_heartbeat").or_insert_with(|| json!(now));
            o.entry("registered_at").or_insert_with(|| json!(now));
            o.entry("vfs_capable").or_insert_with(|| json!(true));
            for list in ["capabilities", "watch_paths", "storage", "network_mounts"] {
                o.entry(list).or_insert_with(|| json!([]));
            }
            if let Some(paths) = &body.watch_paths {
                o.insert("watch_paths".into(), json!(paths));
            }
            if let Some(e) = &endpoint {
                set_transfer(o, e);
            }
            written = doc.clone();
            Some(doc)
        })
        .await?;
    let status = match outcome {
        Registration::Created => StatusCode::CREATED,
        Registration::Updated => StatusCode::OK,
        Registration::Taken(owner) => {
            return Err(ApiError::conflict(format!(
                "node {node_id} is registered with another access key ({owner}); choose another node_id"
            )));
        }
    };
    tracing::info!(node_id = %node_id, access_key_id = %key, operation = "node_register", created = status == StatusCode::CREATED, "node registered");
    if status == StatusCode::CREATED {
        let notice = mosaicfs_common::notify::Notice::new(
            format!("new_node_registered:{node_id}"),
            "nodes",
            mosaicfs_common::documents::NotificationSeverity::Info,
            format!("New node {node_id} registered"),
            format!("Node {node_id} ({name}) was registered with access key {key}."),
        );
        // A notification is not worth failing the registration for.
        if let Err(e) = state.notifier.once(notice).await {
            tracing::warn!(node_id = %node_id, operation = "notify", error = %e, "cannot write the new-node notification");
        }
    }
    Ok((status, axum::Json(NodeDocument(paging::public(written)))))
}

/// One node document.
#[utoipa::path(get, path = "/api/nodes/{node_id}", tag = "nodes",
    params(("node_id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = NodeDocument), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
async fn get_node(
    _: User,
    State(state): State<AppState>,
    Path(node_id): Path<String>,
) -> ApiResult<axum::Json<NodeDocument>> {
    let doc = load_node(&state, &node_id).await?;
    Ok(axum::Json(NodeDocument(paging::public(doc))))
}

/// Changes a node's display name (the fields the agent owns are refused).
#[utoipa::path(patch, path = "/api/nodes/{node_id}", tag = "nodes",
    params(("node_id" = String, Path)), request_body = PatchNode, security(("bearer" = [])),
    responses((status = 200, body = NodeDocument), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
async fn patch_node(
    _: User,
    State(state): State<AppState>,
    Path(node_id): Path<String>,
    Json(body): Json<PatchNode>,
) -> ApiResult<axum::Json<NodeDocument>> {
    if body.watch_paths.is_some() {
        return Err(ApiError::field(
            "watch_paths",
            "is owned by the node's agent: set `watch_paths` in its agent.toml",
        ));
    }
    if body.transfer_endpoint.is_some() {
        return Err(ApiError::field(
            "transfer_endpoint",
            "is owned by the node's agent: set `[transfer]` in its agent.toml",
        ));
    }
    if let Some(n) = &body.friendly_name {
        check_friendly_name(n)?;
    }
    let doc = modify_node(&state, &node_id, |o| {
        if let Some(n) = &body.friendly_name {
            o.insert("friendly_name".into(), json!(n.trim()));
        }
        Ok(())
    })
    .await?;
    Ok(axum::Json(NodeDocument(doc)))
}

/// Soft-disables a node: `disabled: true`, `status: offline`. The document
/// is kept; the node's agent sees `disabled` and keeps reporting `offline`.
#[utoipa::path(delete, path = "/api/nodes/{node_id}", tag = "nodes",
    params(("node_id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = NodeDocument), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
async fn delete_node(
    _: User,
    State(state): State<AppState>,
    Path(node_id): Path<String>,
) -> ApiResult<axum::Json<NodeDocument>> {
    let doc = modify_node(&state, &node_id, |o| {
        o.insert("disabled".into(), json!(true));
        o.insert("status".into(), json!("offline"));
        Ok(())
    })
    .await?;
    tracing::info!(node_id = %node_id, operation = "node_disable", "node disabled");
    Ok(axum::Json(NodeDocument(doc)))
}

/// The node's `agent_status` document.
#[utoipa::path(get, path = "/api/nodes/{node_id}/status", tag = "nodes",
    params(("node_id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = NodeDocument, description = "the `status::{node_id}` document"),
              (status = 400, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody, description = "no such node, or no status yet")))]
async fn node_status(
    _: User,
    State(state): State<AppState>,
    Path(node_id): Path<String>,
) -> ApiResult<axum::Json<NodeDocument>> {
    load_node(&state, &node_id).await?;
    let status = state
        .db
        .get_value(&ids::status_id(&node_id))
        .await?
        .filter(Value::is_object)
        .ok_or_else(|| {
            ApiError::not_found(format!("node {node_id} has not reported a status yet"))
        })?;
    Ok(axum::Json(NodeDocument(paging::public(status))))
}

/// The node's network mounts.
#[utoipa::path(get, path = "/api/nodes/{node_id}/mounts", tag = "nodes",
    params(("node_id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = MountList), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
async fn list_mounts(
    _: User,
    State(state): State<AppState>,
    Path(node_id): Path<String>,
) -> ApiResult<axum::Json<MountList>> {
    let doc = load_node(&state, &node_id).await?;
    let items = doc
        .get("network_mounts")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    Ok(axum::Json(MountList {
        items,
        next_cursor: None,
    }))
}

/// Checks a mount's remote node: valid, not the node itself, registered.
async fn check_remote(state: &AppState, node_id: &str, remote: &str) -> ApiResult<()> {
    check_node_id("remote_node_id", remote)?;
    if remote == node_id {
        return Err(ApiError::field(
            "remote_node_id",
            "must differ from the node the mount is on",
        ));
    }
    if !node_exists(state, remote).await? {
        return Err(ApiError::field(
            "remote_node_id",
            format!("no node {remote} is registered"),
        ));
    }
    Ok(())
}

/// Adds a network mount; answers the entry with its new `mount_id`.
#[utoipa::path(post, path = "/api/nodes/{node_id}/mounts", tag = "nodes",
    params(("node_id" = String, Path)), request_body = AddMount, security(("bearer" = [])),
    responses((status = 201, body = NetworkMountView), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
async fn add_mount(
    _: User,
    State(state): State<AppState>,
    Path(node_id): Path<String>,
    Json(body): Json<AddMount>,
) -> ApiResult<(StatusCode, axum::Json<NetworkMountView>)> {
    check_node_id("node_id", &node_id)?;
    check_absolute("remote_base_export_path", &body.remote_base_export_path)?;
    check_absolute("local_mount_path", &body.local_mount_path)?;
    check_mount_type(&body.mount_type)?;
    check_remote(&state, &node_id, &body.remote_node_id).await?;
    let mut entry = Value::Null;
    modify_node(&state, &node_id, |o| {
        with_mounts(o, |mounts| {
            let mut mount_id = new_mount_id();
            while mounts
                .iter()
                .any(|m| mount_id_of(m) == Some(mount_id.as_str()))
            {
                mount_id = new_mount_id();
            }
            entry = json!({
            "mount_id": mount_id,
            "remote_node_id": body.remote_node_id,
            "remote_base_export_path": body.remote_base_export_path,
            "local_mount_path": body.local_mount_path,
            "mount_type": body.mount_type,
            "priority": body.priority,
            });
            mounts.push(entry.clone());
            Ok(())
        })
    })
    .await?;
    Ok((StatusCode::CREATED, axum::Json(NetworkMountView(entry))))
}

/// Updates a network mount; fields not given are kept.
#[utoipa::path(patch, path = "/api/nodes/{node_id}/mounts/{mount_id}", tag = "nodes",
    params(("node_id" = String, Path), ("mount_id" = String, Path)), request_body = PatchMount,
    security(("bearer" = [])),
    responses((status = 200, body = NetworkMountView), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
async fn patch_mount(
    _: User,
    State(state): State<AppState>,
    Path((node_id, mount_id)): Path<(String, String)>,
    Json(body): Json<PatchMount>,
) -> ApiResult<axum::Json<NetworkMountView>> {
    check_node_id("node_id", &node_id)?;
    if let Some(p) = &body.remote_base_export_path {
        check_absolute("remote_base_export_path", p)?;
    }
    if let Some(p) = &body.local_mount_path {
        check_absolute("local_mount_path", p)?;
    }
    if let Some(t) = &body.mount_type {
        check_mount_type(t)?;
    }
    if let Some(r) = &body.remote_node_id {
        check_remote(&state, &node_id, r).await?;
    }
    let mut entry = Value::Null;
    modify_node(&state, &node_id, |o| {
        with_mounts(o, |mounts| {
            let m = mounts
                .iter_mut()
                .find(|m| mount_id_of(m) == Some(mount_id.as_str()))
                .and_then(Value::as_object_mut)
                .ok_or_else(|| mount_not_found(&node_id, &mount_id))?;
            if let Some(v) = &body.remote_node_id {
                m.insert("remote_node_id".into(), json!(v));
            }
            if let Some(v) = &body.remote_base_export_path {
                m.insert("remote_base_export_path".into(), json!(v));
            }
            if let Some(v) = &body.local_mount_path {
                m.insert("local_mount_path".into(), json!(v));
            }
            if let Some(v) = &body.mount_type {
                m.insert("mount_type".into(), json!(v));
            }
            if let Some(v) = body.priority {
                m.insert("priority".into(), json!(v));
            }
            entry = Value::Object(m.clone());
            Ok(())
        })
    })
    .await?;
    Ok(axum::Json(NetworkMountView(entry)))
}

/// Removes a network mount.
#[utoipa::path(delete, path = "/api/nodes/{node_id}/mounts/{mount_id}", tag = "nodes",
    params(("node_id" = String, Path), ("mount_id" = String, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
async fn delete_mount(
    _: User,
    State(state): State<AppState>,
    Path((node_id, mount_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    modify_node(&state, &node_id, |o| {
        with_mounts(o, |mounts| {
            let before = mounts.len();
            mounts.retain(|m| mount_id_of(m) != Some(mount_id.as_str()));
            if mounts.len() == before {
                return Err(mount_not_found(&node_id, &mount_id));
            }
            Ok(())
        })
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
