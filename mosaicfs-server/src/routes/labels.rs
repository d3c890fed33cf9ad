//! Label routes (plan 2.11): the labels in use, direct assignments (one
//! `label_file::{file_uuid}` document per file, upserted), rules (labels for
//! every file under a path prefix), and a file's effective labels.
//!
//! Labels hang off the file's UUID, never off the file document, so the
//! crawler rewriting a file document (re-indexing) leaves them alone.

use crate::auth::User;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Query};
use crate::labels::effective_labels;
use crate::routes::nodes::{check_absolute, check_node_id, node_exists};
use crate::routes::paging;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use mosaicfs_common::couch::CouchError;
use mosaicfs_common::documents::{FileDoc, LabelAssignmentDoc, LabelRuleDoc};
use mosaicfs_common::{ids, time};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The label routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_labels))
        .routes(routes!(list_assignments))
        .routes(routes!(put_assignment, delete_assignment))
        .routes(routes!(list_rules, create_rule))
        .routes(routes!(get_rule, patch_rule, delete_rule))
        .routes(routes!(effective))
}

/// The most labels one assignment or rule may carry.
const MAX_LABELS: usize = 1000;
/// Page size when reading every rule or assignment.
const SCAN_PAGE: usize = 1000;

/// A stored document as the API shows it: every stored field except `_rev`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = Object)]
pub struct LabelDocument(pub Value);

/// One label in use.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LabelCount {
    /// The label.
    pub label: String,
    /// How many files carry it directly.
    pub assignments: usize,
    /// How many rules apply it.
    pub rules: usize,
}

/// Every distinct label, sorted.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LabelList {
    /// The labels.
    pub items: Vec<LabelCount>,
}

/// A page of `label_assignment` or `label_rule` documents.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LabelDocList {
    /// Documents in id order.
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<Value>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// Query of `GET /api/labels/assignments`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AssignmentParams {
    /// Only this file's assignment (zero or one item).
    pub file_id: Option<String>,
    /// Page size, 1–1000 (default 100).
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Query of `GET /api/labels/rules`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RuleParams {
    /// Page size, 1–1000 (default 100).
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Query of `GET /api/labels/effective`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EffectiveParams {
    /// The file (`file::…`).
    pub file_id: String,
}

/// Body of `PUT /api/labels/assignments/{file_id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetLabels {
    /// The file's labels, in the user's order; duplicates are dropped.
    pub labels: Vec<String>,
}

/// Body of `POST /api/labels/rules`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRule {
    /// A registered node id, or `*` for every node.
    pub node_id: String,
    /// Absolute path ending with `/`, matched against `source.export_path`.
    pub path_prefix: String,
    /// At least one label.
    pub labels: Vec<String>,
    /// Display name, 1–100 characters.
    pub name: String,
    /// Default `true`.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
}

fn enabled_by_default() -> bool {
    true
}

/// Body of `PATCH /api/labels/rules/{rule_id}`; absent fields are left alone.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchRule {
    /// See [`CreateRule`].
    pub node_id: Option<String>,
    /// See [`CreateRule`].
    pub path_prefix: Option<String>,
    /// See [`CreateRule`].
    pub labels: Option<Vec<String>>,
    /// See [`CreateRule`].
    pub name: Option<String>,
    /// See [`CreateRule`].
    pub enabled: Option<bool>,
}

/// A label a file inherits from a rule.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InheritedLabel {
    /// The label.
    pub label: String,
    /// The rule's `_id`.
    pub rule_id: String,
    /// The rule's name.
    pub rule_name: String,
}

/// A file's effective labels.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EffectiveView {
    /// The file.
    pub file_id: String,
    /// Sorted union of direct and inherited labels.
    pub labels: Vec<String>,
    /// Labels assigned directly, sorted.
    pub direct: Vec<String>,
    /// Labels from enabled rules covering the file.
    pub inherited: Vec<InheritedLabel>,
}

/// The UUID part of a file id, or 400 naming `field`.
fn file_uuid<'a>(field: &str, file_id: &'a str) -> ApiResult<&'a str> {
    ids::file_uuid(file_id)
        .filter(|u| {
            u.len() <= 64
                && u.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .ok_or_else(|| ApiError::field(field, format!("{file_id:?} is not a file id (file::…)")))
}

/// The labels without duplicates (first occurrence kept), or 400 naming the
/// offending `labels[i]`.
fn check_labels(labels: &[String]) -> ApiResult<Vec<String>> {
    if labels.len() > MAX_LABELS {
        return Err(ApiError::field(
            "labels",
            format!("must hold at most {MAX_LABELS} labels"),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(labels.len());
    for (i, l) in labels.iter().enumerate() {
        let n = l.chars().count();
        if n == 0 || n > 100 || l.chars().any(char::is_control) {
            return Err(ApiError::field(
                &format!("labels[{i}]"),
                "must be 1 to 100 characters without control characters",
            ));
        }
        if !out.contains(l) {
            out.push(l.clone());
        }
    }
    Ok(out)
}

fn check_rule_labels(labels: &[String]) -> ApiResult<Vec<String>> {
    let labels = check_labels(labels)?;
    if labels.is_empty() {
        return Err(ApiError::field("labels", "must hold at least one label"));
    }
    Ok(labels)
}

fn check_rule_name(name: &str) -> ApiResult<()> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > 100 || n.chars().any(char::is_control) {
        return Err(ApiError::field(
            "name",
            "must be 1 to 100 characters without control characters",
        ));
    }
    Ok(())
}

fn check_prefix(prefix: &str) -> ApiResult<()> {
    check_absolute("path_prefix", prefix)?;
    if !prefix.ends_with('/') {
        return Err(ApiError::field(
            "path_prefix",
            format!("{prefix:?} must end with `/` (so that /data does not match /database)"),
        ));
    }
    Ok(())
}

/// `*` or a registered node.
async fn check_rule_node(state: &AppState, node_id: &str) -> ApiResult<()> {
    if node_id == "*" {
        return Ok(());
    }
    check_node_id("node_id", node_id)?;
    if !node_exists(state, node_id).await? {
        return Err(ApiError::field(
            "node_id",
            format!("no node {node_id} is registered (use `*` for every node)"),
        ));
    }
    Ok(())
}

fn check_rule_id(rule_id: &str) -> ApiResult<()> {
    let ok = rule_id
        .strip_prefix(ids::LABEL_RULE_PREFIX)
        .is_some_and(|u| {
            !u.is_empty()
                && u.len() <= 64
                && u.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if ok {
        Ok(())
    } else {
        Err(ApiError::field(
            "rule_id",
            format!("{rule_id:?} is not a rule id (label_rule::…)"),
        ))
    }
}

fn rule_not_found(rule_id: &str) -> ApiError {
    ApiError::not_found(format!("no label rule {rule_id}"))
}

/// Deletes a document, re-reading its revision on a conflict. `false` if
/// it does not exist.
async fn delete_doc(state: &AppState, id: &str) -> ApiResult<bool> {
    for _ in 0..5 {
        let Some(rev) = state
            .db
            .get_value(id)
            .await?
            .and_then(|d| d.get("_rev").and_then(Value::as_str).map(str::to_owned))
        else {
            return Ok(false);
        };
        match state.db.delete(id, &rev).await {
            Ok(_) => return Ok(true),
            Err(CouchError::Conflict { .. }) => continue,
            Err(e) if e.status() == Some(StatusCode::NOT_FOUND) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::conflict(format!(
        "document {id} kept changing concurrently; retry"
    )))
}

/// Every parseable label rule; unparseable ones are logged and skipped.
async fn all_rules(state: &AppState) -> ApiResult<Vec<LabelRuleDoc>> {
    let mut rules = Vec::new();
    state
        .db
        .for_each_prefix_page(ids::LABEL_RULE_PREFIX, SCAN_PAGE, true, |rows| {
            for row in rows {
                let Some(doc) = row.doc else { continue };
                match serde_json::from_value::<LabelRuleDoc>(doc) {
                    Ok(r) => rules.push(r),
                    Err(e) => {
                        tracing::warn!(id = %row.id, error = %e, "skipping a malformed label rule")
                    }
                }
            }
        })
        .await?;
    Ok(rules)
}

/// Every distinct label in use, with how many assignments and rules carry it.
#[utoipa::path(get, path = "/api/labels", tag = "labels", security(("bearer" = [])),
    responses((status = 200, body = LabelList), (status = 401, body = crate::error::ErrorBody)))]
async fn list_labels(_: User, State(state): State<AppState>) -> ApiResult<axum::Json<LabelList>> {
    let mut counts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (prefix, is_rule) in [
        (ids::LABEL_FILE_PREFIX, false),
        (ids::LABEL_RULE_PREFIX, true),
    ] {
        state
            .db
            .for_each_prefix_page(prefix, SCAN_PAGE, true, |rows| {
                for doc in rows.into_iter().filter_map(|r| r.doc) {
                    let labels: BTreeSet<&str> = doc
                        .get("labels")
                        .and_then(Value::as_array)
                        .map(|a| a.iter().filter_map(Value::as_str).collect())
                        .unwrap_or_default();
                    for l in labels {
                        let c = counts.entry(l.to_string()).or_default();
                        if is_rule {
                            c.1 += 1;
                        } else {
                            c.0 += 1;
                        }
                    }
                }
            })
            .await?;
    }
    let items = counts
        .into_iter()
        .map(|(label, (assignments, rules))| LabelCount {
            label,
            assignments,
            rules,
        })
        .collect();
    Ok(axum::Json(LabelList { items }))
}

/// Lists label assignments in id order, or the one of `file_id`.
#[utoipa::path(get, path = "/api/labels/assignments", tag = "labels", params(AssignmentParams),
    security(("bearer" = [])),
    responses((status = 200, body = LabelDocList), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody)))]
async fn list_assignments(
    _: User,
    State(state): State<AppState>,
    Query(p): Query<AssignmentParams>,
) -> ApiResult<axum::Json<LabelDocList>> {
    let limit = paging::limit(p.limit)?;
    if let Some(file_id) = &p.file_id {
        let uuid = file_uuid("file_id", file_id)?;
        let items = state
            .db
            .get_value(&ids::label_assignment_id(uuid))
            .await?
            .filter(Value::is_object)
            .map(paging::public)
            .into_iter()
            .collect();
        return Ok(axum::Json(LabelDocList {
            items,
            next_cursor: None,
        }));
    }
    let page = paging::page(
        &state.db,
        ids::LABEL_FILE_PREFIX,
        limit,
        p.cursor.as_deref(),
    )
    .await?;
    Ok(axum::Json(LabelDocList {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}

/// Sets a file's labels (creates or replaces its assignment). The file must
/// exist; duplicates are dropped, keeping the first.
#[utoipa::path(put, path = "/api/labels/assignments/{file_id}", tag = "labels",
    params(("file_id" = String, Path)), request_body = SetLabels, security(("bearer" = [])),
    responses((status = 200, body = LabelDocument), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
async fn put_assignment(
    user: User,
    State(state): State<AppState>,
    Path(file_id): Path<String>,
    Json(body): Json<SetLabels>,
) -> ApiResult<axum::Json<LabelDocument>> {
    let uuid = file_uuid("file_id", &file_id)?;
    let labels = check_labels(&body.labels)?;
    if state.db.get_value(&file_id).await?.is_none() {
        return Err(ApiError::not_found(format!("no file {file_id}")));
    }
    let now = time::format(&time::now());
    let mut written = Value::Null;
    let doc_id = ids::label_assignment_id(uuid);
    state
        .db
        .update(&doc_id, |stored| {
            let mut doc = stored.filter(Value::is_object).unwrap_or_else(|| json!({}));
            let o = doc.as_object_mut()?;
            o.insert("_id".into(), json!(doc_id));
            o.insert("type".into(), json!("label_assignment"));
            o.insert("file_id".into(), json!(file_id));
            o.insert("labels".into(), json!(labels));
            o.insert("updated_at".into(), json!(now));
            o.insert("updated_by".into(), json!(user.access_key_id));
            written = doc.clone();
            Some(doc)
        })
        .await?;
    Ok(axum::Json(LabelDocument(paging::public(written))))
}

/// Removes a file's direct labels.
#[utoipa::path(delete, path = "/api/labels/assignments/{file_id}", tag = "labels",
    params(("file_id" = String, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
async fn delete_assignment(
    _: User,
    State(state): State<AppState>,
    Path(file_id): Path<String>,
) -> ApiResult<StatusCode> {
    let uuid = file_uuid("file_id", &file_id)?;
    if delete_doc(&state, &ids::label_assignment_id(uuid)).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!(
            "file {file_id} has no label assignment"
        )))
    }
}

/// Lists label rules in id order.
#[utoipa::path(get, path = "/api/labels/rules", tag = "labels", params(RuleParams),
    security(("bearer" = [])),
    responses((status = 200, body = LabelDocList), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody)))]
async fn list_rules(
    _: User,
    State(state): State<AppState>,
    Query(p): Query<RuleParams>,
) -> ApiResult<axum::Json<LabelDocList>> {
    let limit = paging::limit(p.limit)?;
    let page = paging::page(
        &state.db,
        ids::LABEL_RULE_PREFIX,
        limit,
        p.cursor.as_deref(),
    )
    .await?;
    Ok(axum::Json(LabelDocList {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}

/// Creates a label rule.
#[utoipa::path(post, path = "/api/labels/rules", tag = "labels", request_body = CreateRule,
    security(("bearer" = [])),
    responses((status = 201, body = LabelDocument), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody)))]
async fn create_rule(
    _: User,
    State(state): State<AppState>,
    Json(body): Json<CreateRule>,
) -> ApiResult<(StatusCode, axum::Json<LabelDocument>)> {
    check_prefix(&body.path_prefix)?;
    let labels = check_rule_labels(&body.labels)?;
    check_rule_name(&body.name)?;
    check_rule_node(&state, &body.node_id).await?;
    let doc = json!({
        "_id": ids::new_label_rule_id(),
        "type": "label_rule",
        "node_id": body.node_id,
        "path_prefix": body.path_prefix,
        "labels": labels,
        "name": body.name.trim(),
        "enabled": body.enabled,
        "created_at": time::format(&time::now()),
    });
    state.db.put(&doc).await?;
    Ok((StatusCode::CREATED, axum::Json(LabelDocument(doc))))
}

/// One label rule.
#[utoipa::path(get, path = "/api/labels/rules/{rule_id}", tag = "labels",
    params(("rule_id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = LabelDocument), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
async fn get_rule(
    _: User,
    State(state): State<AppState>,
    Path(rule_id): Path<String>,
) -> ApiResult<axum::Json<LabelDocument>> {
    check_rule_id(&rule_id)?;
    let doc = state
        .db
        .get_value(&rule_id)
        .await?
        .filter(Value::is_object)
        .ok_or_else(|| rule_not_found(&rule_id))?;
    Ok(axum::Json(LabelDocument(paging::public(doc))))
}

/// Changes a label rule; fields not given are kept.
#[utoipa::path(patch, path = "/api/labels/rules/{rule_id}", tag = "labels",
    params(("rule_id" = String, Path)), request_body = PatchRule, security(("bearer" = [])),
    responses((status = 200, body = LabelDocument), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
async fn patch_rule(
    _: User,
    State(state): State<AppState>,
    Path(rule_id): Path<String>,
    Json(body): Json<PatchRule>,
) -> ApiResult<axum::Json<LabelDocument>> {
    check_rule_id(&rule_id)?;
    if let Some(p) = &body.path_prefix {
        check_prefix(p)?;
    }
    let labels = body.labels.as_deref().map(check_rule_labels).transpose()?;
    if let Some(n) = &body.name {
        check_rule_name(n)?;
    }
    if let Some(n) = &body.node_id {
        check_rule_node(&state, n).await?;
    }
    let mut written = None;
    state
        .db
        .update(&rule_id, |stored| {
            written = None;
            let mut doc = stored.filter(Value::is_object)?;
            let o = doc.as_object_mut()?;
            if let Some(v) = &body.node_id {
                o.insert("node_id".into(), json!(v));
            }
            if let Some(v) = &body.path_prefix {
                o.insert("path_prefix".into(), json!(v));
            }
            if let Some(v) = &labels {
                o.insert("labels".into(), json!(v));
            }
            if let Some(v) = &body.name {
                o.insert("name".into(), json!(v.trim()));
            }
            if let Some(v) = body.enabled {
                o.insert("enabled".into(), json!(v));
            }
            written = Some(doc.clone());
            Some(doc)
        })
        .await?;
    let doc = written.ok_or_else(|| rule_not_found(&rule_id))?;
    Ok(axum::Json(LabelDocument(paging::public(doc))))
}

/// Deletes a label rule.
#[utoipa::path(delete, path = "/api/labels/rules/{rule_id}", tag = "labels",
    params(("rule_id" = String, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
async fn delete_rule(
    _: User,
    State(state): State<AppState>,
    Path(rule_id): Path<String>,
) -> ApiResult<StatusCode> {
    check_rule_id(&rule_id)?;
    if delete_doc(&state, &rule_id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(rule_not_found(&rule_id))
    }
}

/// A file's effective labels: its direct labels ∪ the labels of every
/// enabled rule whose node and path prefix cover it.
#[utoipa::path(get, path = "/api/labels/effective", tag = "labels", params(EffectiveParams),
    security(("bearer" = [])),
    responses((status = 200, body = EffectiveView), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
async fn effective(
    _: User,
    State(state): State<AppState>,
    Query(p): Query<EffectiveParams>,
) -> ApiResult<axum::Json<EffectiveView>> {
    let uuid = file_uuid("file_id", &p.file_id)?;
    let stored = state
        .db
        .get_value(&p.file_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no file {}", p.file_id)))?;
    let file: FileDoc = serde_json::from_value(stored)
        .map_err(|e| ApiError::internal(format!("file {} does not parse: {e}", p.file_id)))?;
    let assignment_id = ids::label_assignment_id(uuid);
    let assignment = match state.db.get::<LabelAssignmentDoc>(&assignment_id).await {
        Ok(a) => a,
        Err(CouchError::Decode { source, .. }) => {
            tracing::warn!(id = %assignment_id, error = %source, "skipping a malformed label assignment");
            None
        }
        Err(e) => return Err(e.into()),
    };
    let rules = all_rules(&state).await?;
    let e = effective_labels(&file, assignment.as_ref(), &rules);
    Ok(axum::Json(EffectiveView {
        file_id: p.file_id.clone(),
        labels: e.all().into_iter().collect(),
        direct: e.direct.iter().cloned().collect(),
        inherited: e
            .inherited
            .into_iter()
            .map(|(label, rule_id, rule_name)| InheritedLabel {
                label,
                rule_id,
                rule_name,
            })
            .collect(),
    }))
}
