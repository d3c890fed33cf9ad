//! Agent-internal routes (plan 2.8), authenticated by HMAC signature
//! ([`Agent`]): heartbeat, bulk upsert of file documents with a result per
//! document, `agent_status`, hourly utilization snapshots, the calling
//! credential's own metadata, and transfer tokens for agent-to-agent
//! fetches.

use crate::auth::Agent;
use crate::error::{ApiError, ApiResult};
use crate::extract::parse_json;
use crate::routes::nodes::{check_absolute, check_node_id};
use crate::routes::paging;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use mosaicfs_common::couch::{CouchClient, CouchError};
use mosaicfs_common::documents::{
    CloudUtilization, CredentialDoc, FileDoc, FileStatus, FilesystemUtilization, NodeDoc,
    RecentError, SubsystemStatus, merge_node_revisions,
};
use mosaicfs_common::{hmac, ids, time};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The agent routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(heartbeat))
        .routes(routes!(files_bulk))
        .routes(routes!(post_status))
        .routes(routes!(post_utilization))
        .routes(routes!(agent_credential))
        .routes(routes!(transfer_token))
}

/// The most documents one bulk request may carry.
pub const MAX_BULK_DOCS: usize = 1000;
/// Write rounds of a bulk upsert: a document still conflicting after this
/// many re-reads is reported as a conflict.
const BULK_ROUNDS: usize = 5;
/// How many `recent_errors` an `agent_status` keeps (the newest).
const MAX_RECENT_ERRORS: usize = 50;

/// Body of `POST /api/agent/heartbeat`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Heartbeat {
    /// The sending node.
    pub node_id: String,
    /// `online` (default) or `degraded`.
    #[serde(default)]
    pub status: Option<String>,
}

/// Heartbeat acknowledgement.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct HeartbeatAck {
    /// The node.
    pub node_id: String,
    /// Server time (RFC 3339), for clock-skew checks.
    pub server_time: String,
}

/// Records a heartbeat: `last_heartbeat` and `status` of the node document.
#[utoipa::path(post, path = "/api/agent/heartbeat", tag = "agent", request_body = Heartbeat,
    security(("hmac" = [])),
    responses((status = 200, body = HeartbeatAck), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
async fn heartbeat(
    State(state): State<AppState>,
    agent: Agent,
) -> ApiResult<axum::Json<HeartbeatAck>> {
    let body: Heartbeat = parse_json(&agent.body)?;
    if !ids::is_valid_node_id(&body.node_id) {
        return Err(ApiError::field("node_id", "is not a valid node id"));
    }
    let status = body.status.unwrap_or_else(|| "online".into());
    if !matches!(status.as_str(), "online" | "degraded") {
        return Err(ApiError::field("status", "must be online or degraded"));
    }
    require_node(&state, &body.node_id, &agent.access_key_id).await?;
    let now = time::format(&time::now());
    let mut found = false;
    // Merging, as every writer of the node document does: a conflict left
    // by replication is resolved by field ownership, not overwritten.
    state
        .db
        .update_merging(
            &ids::node_doc_id(&body.node_id),
            merge_node_revisions,
            |stored| {
                let mut doc = stored.filter(|d| d.is_object())?;
                found = true;
                doc["status"] = json!(status);
                doc["last_heartbeat"] = json!(now);
                Some(doc)
            },
        )
        .await?;
    if !found {
        return Err(ApiError::not_found(format!(
            "node {} is not registered; run `mosaicfs-agent init`",
            body.node_id
        )));
    }
    Ok(axum::Json(HeartbeatAck {
        node_id: body.node_id,
        server_time: now,
    }))
}

/// Body of `POST /api/agent/files/bulk`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkFiles {
    /// 1–1000 `file` documents. Each is checked on its own; a `_rev` is
    /// ignored (the server writes over the current revision).
    #[schema(value_type = Vec<Object>)]
    pub docs: Vec<Value>,
}

/// The outcome of one document of a bulk request.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BulkDocResult {
    /// The document's `_id`, when it has a string one.
    pub id: Option<String>,
    /// Whether it was written.
    pub ok: bool,
    /// The new revision when written.
    pub rev: Option<String>,
    /// `invalid_document`, `duplicate_id`, `conflict`, … when not written.
    pub error: Option<String>,
    /// A sentence naming the field at fault when not written.
    pub message: Option<String>,
}

impl BulkDocResult {
    fn failed(id: Option<String>, error: &str, message: impl Into<String>) -> BulkDocResult {
        BulkDocResult {
            id,
            ok: false,
            rev: None,
            error: Some(error.to_string()),
            message: Some(message.into()),
        }
    }
}

/// Answer to a bulk request: one result per document, in request order.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BulkResults {
    /// Results, in the order of the request's `docs`.
    pub results: Vec<BulkDocResult>,
}

/// Checks one document of a bulk request; returns its `_id`, or why it is
/// refused (with the field at fault).
fn check_file_doc(doc: &Value) -> Result<String, String> {
    if !doc.is_object() {
        return Err("the document is not a JSON object".into());
    }
    let file: FileDoc = serde_path_to_error::deserialize(doc).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            format!("not a file document: {}", e.inner())
        } else {
            format!("field `{path}`: {}", e.inner())
        }
    })?;
    let uuid_ok = ids::file_uuid(&file.id).is_some_and(|u| {
        u.len() == 32
            && u.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    });
    if !uuid_ok {
        return Err(format!(
            "field `_id`: {:?} is not `file::` followed by a UUID (32 lowercase hex digits)",
            file.id
        ));
    }
    if file.name.is_empty() || file.name.contains('/') {
        return Err("field `name`: must be non-empty and contain no `/`".into());
    }
    check_absolute("source.export_path", &file.source.export_path).map_err(|e| e.message)?;
    check_node_id("source.node_id", &file.source.node_id).map_err(|e| e.message)?;
    Ok(file.id)
}

/// Current revisions of the live documents among `doc_ids`. `_all_docs`
/// rows of absent ids carry no `id` and may fail to decode; then, when
/// `exact` is false, no revisions are returned (the write finds out by
/// conflict), and when it is true they are read one by one.
async fn current_revs(
    db: &CouchClient,
    doc_ids: &[String],
    exact: bool,
) -> ApiResult<HashMap<String, String>> {
    match db.all_docs_keys(doc_ids, false).await {
        Ok(rows) => Ok(rows
            .into_iter()
            .filter_map(|r| {
                let v = r.value?;
                (!v.deleted).then_some((r.id, v.rev))
            })
            .collect()),
        Err(CouchError::Decode { .. }) if !exact => Ok(HashMap::new()),
        Err(CouchError::Decode { .. }) => {
            let mut revs = HashMap::new();
            for id in doc_ids {
                if let Some(rev) = db
                    .get_value(id)
                    .await?
                    .and_then(|d| d.get("_rev").and_then(Value::as_str).map(str::to_owned))
                {
                    revs.insert(id.clone(), rev);
                }
            }
            Ok(revs)
        }
        Err(e) => Err(e.into()),
    }
}

/// Creates or overwrites `file` documents. Each document is validated on its
/// own; refused documents get an error result and are not written, the others
/// are written in one `_bulk_docs` (over the current revision; conflicts are
/// re-read and retried). One bad document never fails the batch.
#[utoipa::path(post, path = "/api/agent/files/bulk", tag = "agent", request_body = BulkFiles,
    security(("hmac" = [])),
    responses((status = 200, body = BulkResults), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 413, body = crate::error::ErrorBody)))]
async fn files_bulk(
    State(state): State<AppState>,
    agent: Agent,
) -> ApiResult<axum::Json<BulkResults>> {
    let body: BulkFiles = parse_json(&agent.body)?;
    if body.docs.is_empty() || body.docs.len() > MAX_BULK_DOCS {
        return Err(ApiError::field(
            "docs",
            format!("must hold 1 to {MAX_BULK_DOCS} documents"),
        ));
    }
    let mut results: Vec<Option<BulkDocResult>> = vec![None; body.docs.len()];
    let mut pending: Vec<(usize, String, Value)> = Vec::new();
    let mut seen = HashSet::new();
    for (i, mut doc) in body.docs.into_iter().enumerate() {
        let sent_id = doc.get("_id").and_then(Value::as_str).map(str::to_owned);
        match check_file_doc(&doc) {
            Err(message) => {
                results[i] = Some(BulkDocResult::failed(sent_id, "invalid_document", message));
            }
            Ok(id) if !seen.insert(id.clone()) => {
                results[i] = Some(BulkDocResult::failed(
                    Some(id),
                    "duplicate_id",
                    "an earlier document of this request has the same `_id`",
                ));
            }
            Ok(id) => {
                if let Some(o) = doc.as_object_mut() {
                    o.remove("_rev");
                }
                pending.push((i, id, doc));
            }
        }
    }
    // Each document must belong to a node registered to the calling key.
    let mut owned: HashMap<String, Result<(), String>> = HashMap::new();
    for (_, _, doc) in &pending {
        let node = doc["source"]["node_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if owned.contains_key(&node) {
            continue;
        }
        let verdict = match state.db.get_value(&ids::node_doc_id(&node)).await? {
            None => Err(format!("node {node} is not registered")),
            Some(n) => check_owner(&n, &node, &agent.access_key_id).map_err(|e| e.message),
        };
        owned.insert(node, verdict);
    }
    pending.retain(|(i, id, doc)| {
        let node = doc["source"]["node_id"].as_str().unwrap_or_default();
        match owned.get(node) {
            Some(Err(message)) => {
                results[*i] = Some(BulkDocResult::failed(
                    Some(id.clone()),
                    "forbidden",
                    message.clone(),
                ));
                false
            }
            _ => true,
        }
    });
    let refused = results.iter().filter(|r| r.is_some()).count();

    for round in 0..BULK_ROUNDS {
        if pending.is_empty() {
            break;
        }
        let doc_ids: Vec<String> = pending.iter().map(|(_, id, _)| id.clone()).collect();
        let revs = current_revs(&state.db, &doc_ids, round > 0).await?;
        let batch: Vec<Value> = pending
            .iter()
            .map(|(_, id, doc)| {
                let mut doc = doc.clone();
                if let (Some(o), Some(rev)) = (doc.as_object_mut(), revs.get(id)) {
                    o.insert("_rev".into(), json!(rev));
                }
                doc
            })
            .collect();
        // Results are matched by id: not every server keeps request order.
        let mut by_id: HashMap<String, mosaicfs_common::couch::BulkResult> = state
            .db
            .bulk_docs(&batch)
            .await?
            .into_iter()
            .map(|r| (r.id.clone(), r))
            .collect();
        let mut retry = Vec::new();
        for (i, id, doc) in pending {
            match by_id.remove(&id) {
                Some(r) if r.is_ok() => {
                    results[i] = Some(BulkDocResult {
                        id: Some(id),
                        ok: true,
                        rev: r.rev,
                        error: None,
                        message: None,
                    });
                }
                Some(r) if r.error.as_deref() == Some("conflict") => retry.push((i, id, doc)),
                Some(r) => {
                    let error = r.error.unwrap_or_else(|| "write_failed".into());
                    let message = r
                        .reason
                        .unwrap_or_else(|| "the database refused the document".into());
                    results[i] = Some(BulkDocResult::failed(Some(id), &error, message));
                }
                None => {
                    results[i] = Some(BulkDocResult::failed(
                        Some(id),
                        "write_failed",
                        "the database answered no result for this document",
                    ));
                }
            }
        }
        pending = retry;
    }
    for (i, id, _) in pending {
        results[i] = Some(BulkDocResult::failed(
            Some(id),
            "conflict",
            format!("the document kept changing concurrently ({BULK_ROUNDS} attempts); retry"),
        ));
    }
    let results: Vec<BulkDocResult> = results
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| BulkDocResult::failed(None, "internal", "no result was recorded"))
        })
        .collect();
    let written = results.iter().filter(|r| r.ok).count();
    tracing::info!(
        access_key_id = %agent.access_key_id,
        operation = "files_bulk",
        written,
        refused,
        failed = results.len() - written - refused,
        "bulk file upsert"
    );
    Ok(axum::Json(BulkResults { results }))
}

/// Body of `POST /api/agent/status`: the fields of an `agent_status`
/// document that the agent owns.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostStatus {
    /// The reporting node.
    pub node_id: String,
    /// `healthy`, `degraded` or `unhealthy`.
    pub overall: String,
    /// Per subsystem: `{status (ok|degraded|error|idle), detail?, …figures}`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub subsystems: BTreeMap<String, SubsystemStatus>,
    /// Newest last; only the last 50 are kept.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub recent_errors: Vec<RecentError>,
}

/// A stored document as the API shows it (every field but `_rev`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = Object)]
pub struct AgentDocument(pub Value);

fn to_json<T: Serialize>(v: &T) -> ApiResult<Value> {
    serde_json::to_value(v).map_err(ApiError::internal)
}

/// The node must exist and be registered to the credential that signed the
/// request: an agent speaks only for its own node.
async fn require_node(state: &AppState, node_id: &str, caller: &str) -> ApiResult<()> {
    check_node_id("node_id", node_id)?;
    let node = state.db.get_value(&ids::node_doc_id(node_id)).await?;
    let Some(node) = node else {
        return Err(ApiError::not_found(format!(
            "node {node_id} is not registered; run `mosaicfs-agent init`"
        )));
    };
    check_owner(&node, node_id, caller)
}

fn check_owner(node: &Value, node_id: &str, caller: &str) -> ApiResult<()> {
    match node.get("access_key_id").and_then(Value::as_str) {
        Some(k) if k == caller => Ok(()),
        Some(_) => Err(ApiError::forbidden(format!(
            "node {node_id} belongs to another access key; an agent may only write for its own node"
        ))),
        None => Err(ApiError::forbidden(format!(
            "node {node_id} has no registered access key; register it with `mosaicfs-agent init`"
        ))),
    }
}

/// Creates or rewrites the node's `status::{node_id}` document; the server
/// sets `updated_at`. Unknown stored fields are kept.
#[utoipa::path(post, path = "/api/agent/status", tag = "agent", request_body = PostStatus,
    security(("hmac" = [])),
    responses((status = 200, body = AgentDocument), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
async fn post_status(
    State(state): State<AppState>,
    agent: Agent,
) -> ApiResult<axum::Json<AgentDocument>> {
    let mut body: PostStatus = parse_json(&agent.body)?;
    if !matches!(body.overall.as_str(), "healthy" | "degraded" | "unhealthy") {
        return Err(ApiError::field(
            "overall",
            "must be healthy, degraded or unhealthy",
        ));
    }
    for (name, sub) in &body.subsystems {
        if !matches!(sub.status.as_str(), "ok" | "degraded" | "error" | "idle") {
            return Err(ApiError::field(
                &format!("subsystems.{name}.status"),
                "must be ok, degraded, error or idle",
            ));
        }
    }
    for (i, e) in body.recent_errors.iter().enumerate() {
        if !matches!(e.level.as_str(), "warn" | "error") {
            return Err(ApiError::field(
                &format!("recent_errors[{i}].level"),
                "must be warn or error",
            ));
        }
    }
    require_node(&state, &body.node_id, &agent.access_key_id).await?;
    let excess = body.recent_errors.len().saturating_sub(MAX_RECENT_ERRORS);
    body.recent_errors.drain(..excess);
    let subsystems = to_json(&body.subsystems)?;
    let recent_errors = to_json(&body.recent_errors)?;
    let now = time::format(&time::now());
    let mut written = Value::Null;
    let doc_id = ids::status_id(&body.node_id);
    state
        .db
        .update(&doc_id, |stored| {
            let mut doc = stored.filter(Value::is_object).unwrap_or_else(|| json!({}));
            let o = doc.as_object_mut()?;
            o.insert("_id".into(), json!(doc_id));
            o.insert("type".into(), json!("agent_status"));
            o.insert("node_id".into(), json!(body.node_id));
            o.insert("updated_at".into(), json!(now));
            o.insert("overall".into(), json!(body.overall));
            o.insert("subsystems".into(), subsystems.clone());
            o.insert("recent_errors".into(), recent_errors.clone());
            written = doc.clone();
            Some(doc)
        })
        .await?;
    Ok(axum::Json(AgentDocument(paging::public(written))))
}

/// Body of `POST /api/agent/utilization`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostUtilization {
    /// The measured node.
    pub node_id: String,
    /// `{filesystem_id, mount_point, used_bytes, available_bytes}` per filesystem.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub filesystems: Vec<FilesystemUtilization>,
    /// Bridges: `{used_bytes, quota_bytes?}`.
    #[schema(value_type = Option<Object>)]
    pub cloud: Option<CloudUtilization>,
}

/// Records the node's utilization for the current hour in
/// `utilization::{node_id}::{hour}` (`captured_at` is the server's time); a
/// second snapshot in the same hour replaces the figures of the first.
#[utoipa::path(post, path = "/api/agent/utilization", tag = "agent", request_body = PostUtilization,
    security(("hmac" = [])),
    responses((status = 201, body = AgentDocument), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
async fn post_utilization(
    State(state): State<AppState>,
    agent: Agent,
) -> ApiResult<(StatusCode, axum::Json<AgentDocument>)> {
    let body: PostUtilization = parse_json(&agent.body)?;
    for (i, fs) in body.filesystems.iter().enumerate() {
        check_absolute(&format!("filesystems[{i}].mount_point"), &fs.mount_point)?;
        if fs.filesystem_id.is_empty() {
            return Err(ApiError::field(
                &format!("filesystems[{i}].filesystem_id"),
                "must not be empty",
            ));
        }
    }
    require_node(&state, &body.node_id, &agent.access_key_id).await?;
    let now = time::now();
    let filesystems = to_json(&body.filesystems)?;
    let cloud = body.cloud.as_ref().map(to_json).transpose()?;
    let captured_at = time::format(&now);
    let mut written = Value::Null;
    let doc_id = ids::utilization_id(&body.node_id, &now);
    state
        .db
        .update(&doc_id, |stored| {
            let mut doc = stored.filter(Value::is_object).unwrap_or_else(|| json!({}));
            let o = doc.as_object_mut()?;
            o.insert("_id".into(), json!(doc_id));
            o.insert("type".into(), json!("utilization_snapshot"));
            o.insert("node_id".into(), json!(body.node_id));
            o.insert("captured_at".into(), json!(captured_at));
            o.insert("filesystems".into(), filesystems.clone());
            match &cloud {
                Some(c) => o.insert("cloud".into(), c.clone()),
                None => o.remove("cloud"),
            };
            written = doc.clone();
            Some(doc)
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(AgentDocument(paging::public(written))),
    ))
}

/// The calling credential's own metadata; never its secret or hash.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AgentCredential {
    /// Access key id.
    pub access_key_id: String,
    /// Display name.
    pub name: String,
    /// Always `true` here: a disabled key cannot sign a request.
    pub enabled: bool,
    /// Creation time (RFC 3339).
    pub created_at: String,
}

/// The credential that signed this request, so `mosaicfs-agent init` can
/// verify a key before writing it to `agent.toml`.
#[utoipa::path(get, path = "/api/agent/credentials", tag = "agent",
    security(("hmac" = [])),
    responses((status = 200, body = AgentCredential), (status = 401, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
async fn agent_credential(
    State(state): State<AppState>,
    agent: Agent,
) -> ApiResult<axum::Json<AgentCredential>> {
    let c: CredentialDoc = state
        .db
        .get(&ids::credential_id(&agent.access_key_id))
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "credential {} was deleted meanwhile",
                agent.access_key_id
            ))
        })?;
    Ok(axum::Json(AgentCredential {
        access_key_id: c.access_key_id,
        name: c.name,
        enabled: c.enabled,
        created_at: time::format(&c.created_at),
    }))
}

/// Body of `POST /api/agent/transfer-token`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferTokenRequest {
    /// The requesting node (registered to the signing key).
    pub node_id: String,
    /// The file to fetch from its owner (`file::…`).
    pub file_id: String,
}

/// A transfer token for one file on its owner's transfer endpoint.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TransferToken {
    /// Send as `Authorization: MOSAICFS-TRANSFER-TOKEN <token>`.
    pub token: String,
    /// Expiry (RFC 3339), five minutes after issue.
    pub expires_at: String,
    /// The owner's transfer endpoint (`transfer.endpoint`).
    pub endpoint: String,
}

/// Issues a short-lived token with which the calling node may fetch one file
/// from the node that owns it: the claims `{file_id, owner, requester, exp}`
/// signed with the owner's key, which the owner's transfer endpoint checks
/// with the key derived from its own secret.
#[utoipa::path(post, path = "/api/agent/transfer-token", tag = "agent", request_body = TransferTokenRequest,
    security(("hmac" = [])),
    responses((status = 200, body = TransferToken), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn transfer_token(
    State(state): State<AppState>,
    agent: Agent,
) -> ApiResult<axum::Json<TransferToken>> {
    let body: TransferTokenRequest = parse_json(&agent.body)?;
    if !body.file_id.starts_with(ids::FILE_PREFIX) || body.file_id.len() > 200 {
        return Err(ApiError::field("file_id", "is not a file id (`file::…`)"));
    }
    // The requester's node and the file, both at once (a token is on the
    // path of every first read of a remote file).
    let (requester, file) = tokio::join!(
        require_node(&state, &body.node_id, &agent.access_key_id),
        state.db.get::<FileDoc>(&body.file_id)
    );
    requester?;
    let file: FileDoc = match file {
        Ok(Some(f)) => f,
        Ok(None) | Err(CouchError::Decode { .. }) => {
            return Err(ApiError::not_found(format!(
                "file {} is unknown",
                body.file_id
            )));
        }
        Err(e) => return Err(e.into()),
    };
    if file.status != FileStatus::Active {
        return Err(ApiError::not_found(format!(
            "file {} is deleted",
            body.file_id
        )));
    }
    let owner = &file.source.node_id;
    let node: NodeDoc = match state.db.get(&ids::node_doc_id(owner)).await {
        Ok(Some(n)) => n,
        Ok(None) => {
            return Err(ApiError::not_found(format!(
                "node {owner}, which holds file {}, is not registered",
                body.file_id
            )));
        }
        Err(CouchError::Decode { .. }) => {
            return Err(ApiError::conflict(format!(
                "the node document of {owner} does not parse; it cannot serve transfers"
            )));
        }
        Err(e) => return Err(e.into()),
    };
    if node.disabled {
        return Err(ApiError::conflict(format!(
            "node {owner}, which holds this file, is disabled"
        )));
    }
    let endpoint = node
        .transfer
        .as_ref()
        .map(|t| t.endpoint.trim_end_matches('/').to_string())
        .ok_or_else(|| {
            ApiError::conflict(format!(
                "node {owner} has no transfer endpoint; enable [transfer] in its agent.toml"
            ))
        })?;
    let key_id = node.access_key_id.clone().ok_or_else(|| {
        ApiError::conflict(format!(
            "node {owner} does not publish its access key id; no token can be signed for it"
        ))
    })?;
    let cred: Option<CredentialDoc> = state.db.get(&ids::credential_id(&key_id)).await?;
    let key = cred
        .filter(|c| c.enabled)
        .and_then(|c| c.hmac_key)
        .and_then(|k| hex::decode(k).ok())
        .ok_or_else(|| {
            ApiError::conflict(format!(
                "the credential {key_id} of node {owner} is unknown, disabled or cannot sign"
            ))
        })?;
    let exp = time::now().timestamp() + hmac::TRANSFER_TOKEN_TTL_SECS;
    let expires = chrono::DateTime::from_timestamp(exp, 0).unwrap_or_else(time::now);
    let claims = hmac::TransferClaims {
        file_id: body.file_id.clone(),
        owner: owner.clone(),
        requester: body.node_id.clone(),
        exp,
    };
    tracing::info!(
        access_key_id = %agent.access_key_id,
        operation = "transfer_token",
        file_id = %body.file_id,
        owner = %owner,
        requester = %body.node_id,
        "transfer token issued"
    );
    Ok(axum::Json(TransferToken {
        token: hmac::transfer_token(&key, &claims),
        expires_at: time::format(&expires),
        endpoint,
    }))
}
