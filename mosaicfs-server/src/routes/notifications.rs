//! Notification routes (plan 7.5): the current notifications with status
//! and severity filters, acknowledging one or all, and the history.
//!
//! Notifications are few (one document per condition, see
//! `mosaicfs_common::notify`), so lists are not paginated: they answer
//! `{items, next_cursor: null}` sorted by severity (errors first), then
//! newest `last_seen` first. Reads go through the Mango index on `(type,
//! status, severity)` that [`ensure_index`] creates at start.
//! Acknowledging writes the control-plane copy; an agent's notification
//! reaches its agent by flow 2, and a conflict with the agent's own write
//! is merged by `merge_notification_revisions` (newest `updated_at` wins).

use crate::auth::User;
use crate::error::{ApiError, ApiResult};
use crate::extract::Query;
use crate::routes::paging::public;
use crate::state::AppState;
use axum::extract::{Path, State};
use mosaicfs_common::couch::CouchClient;
use mosaicfs_common::ids;
use mosaicfs_common::notify::merge_notification_revisions;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The notification routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(history))
        .routes(routes!(acknowledge_all))
        .routes(routes!(acknowledge))
}

/// Creates the `(type, status, severity)` Mango index (idempotent).
pub async fn ensure_index(db: &CouchClient) -> Result<(), mosaicfs_common::couch::CouchError> {
    db.create_index(&json!({
        "index": {"fields": ["type", "status", "severity"]},
        "ddoc": "mosaicfs-notifications",
        "name": "type-status-severity",
        "type": "json",
    }))
    .await
}

/// A status filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatusFilter {
    /// Needs attention.
    Active,
    /// Seen by the user; the condition may persist.
    Acknowledged,
    /// The condition cleared.
    Resolved,
    /// Active and acknowledged.
    Current,
    /// Everything.
    All,
}

/// A severity filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum SeverityFilter {
    Info,
    Warning,
    Error,
}

impl SeverityFilter {
    fn as_str(self) -> &'static str {
        match self {
            SeverityFilter::Info => "info",
            SeverityFilter::Warning => "warning",
            SeverityFilter::Error => "error",
        }
    }
}

/// Query of `GET /api/notifications`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// `active` (default), `acknowledged`, `resolved`, `current` (active
    /// and acknowledged) or `all`.
    #[param(inline)]
    pub status: Option<StatusFilter>,
    /// `info`, `warning` or `error`.
    #[param(inline)]
    pub severity: Option<SeverityFilter>,
}

/// Query of `POST /api/notifications/acknowledge-all`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AckAllParams {
    /// Only this severity.
    #[param(inline)]
    pub severity: Option<SeverityFilter>,
}

/// A list of notifications.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NotificationList {
    /// Notification documents (without `_rev`).
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<Value>,
    /// Always null: not paginated.
    #[schema(value_type = Option<String>)]
    pub next_cursor: Option<String>,
}

/// The answer of `acknowledge-all`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AckAll {
    /// Notifications acknowledged.
    pub acknowledged: usize,
}

fn severity_rank(doc: &Value) -> u8 {
    match doc.get("severity").and_then(Value::as_str) {
        Some("error") => 0,
        Some("warning") => 1,
        _ => 2,
    }
}

/// Notification documents with one of `statuses`, through the index.
async fn find(
    db: &CouchClient,
    statuses: &[&str],
    severity: Option<SeverityFilter>,
) -> ApiResult<Vec<Value>> {
    let mut out = Vec::new();
    for status in statuses {
        let mut selector = json!({"type": "notification", "status": status});
        if let Some(s) = severity {
            selector["severity"] = json!(s.as_str());
        }
        let mut bookmark: Option<String> = None;
        loop {
            let mut q = json!({"selector": selector, "limit": 1000});
            if let Some(b) = &bookmark {
                q["bookmark"] = json!(b);
            }
            let page = db.find(&q).await?;
            let n = page.docs.len();
            out.extend(page.docs);
            match page.bookmark {
                Some(b) if n == 1000 && bookmark.as_deref() != Some(&b) => bookmark = Some(b),
                _ => break,
            }
        }
    }
    Ok(out)
}

fn sorted(mut docs: Vec<Value>) -> Vec<Value> {
    let last_seen = |d: &Value| {
        d.get("last_seen")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    docs.sort_by(|a, b| {
        severity_rank(a)
            .cmp(&severity_rank(b))
            .then_with(|| last_seen(b).cmp(&last_seen(a)))
            .then_with(|| a["_id"].as_str().cmp(&b["_id"].as_str()))
    });
    docs.into_iter().map(public).collect()
}

/// Current notifications, filtered by status and severity.
#[utoipa::path(get, path = "/api/notifications", tag = "notifications", security(("bearer" = [])),
    params(ListParams),
    responses((status = 200, body = NotificationList), (status = 400, body = crate::error::ErrorBody),
        (status = 401, body = crate::error::ErrorBody)))]
async fn list(
    _: User,
    State(state): State<AppState>,
    Query(p): Query<ListParams>,
) -> ApiResult<axum::Json<NotificationList>> {
    let statuses: &[&str] = match p.status.unwrap_or(StatusFilter::Active) {
        StatusFilter::Active => &["active"],
        StatusFilter::Acknowledged => &["acknowledged"],
        StatusFilter::Resolved => &["resolved"],
        StatusFilter::Current => &["active", "acknowledged"],
        StatusFilter::All => &["active", "acknowledged", "resolved"],
    };
    let docs = find(&state.db, statuses, p.severity).await?;
    Ok(axum::Json(NotificationList {
        items: sorted(docs),
        next_cursor: None,
    }))
}

/// Resolved and acknowledged notifications, newest first.
#[utoipa::path(get, path = "/api/notifications/history", tag = "notifications", security(("bearer" = [])),
    params(AckAllParams),
    responses((status = 200, body = NotificationList), (status = 400, body = crate::error::ErrorBody),
        (status = 401, body = crate::error::ErrorBody)))]
async fn history(
    _: User,
    State(state): State<AppState>,
    Query(p): Query<AckAllParams>,
) -> ApiResult<axum::Json<NotificationList>> {
    let mut docs = find(&state.db, &["resolved", "acknowledged"], p.severity).await?;
    let when = |d: &Value| {
        ["resolved_at", "acknowledged_at", "last_seen"]
            .iter()
            .find_map(|k| d.get(*k).and_then(Value::as_str))
            .unwrap_or_default()
            .to_string()
    };
    docs.sort_by_key(|d| std::cmp::Reverse(when(d)));
    Ok(axum::Json(NotificationList {
        items: docs.into_iter().map(public).collect(),
        next_cursor: None,
    }))
}

/// Sets `acknowledged` on `id` if it is active; the stored document after.
async fn ack(db: &CouchClient, id: &str) -> ApiResult<Option<Value>> {
    let now = mosaicfs_common::time::format(&mosaicfs_common::time::now());
    let mut found: Option<Value> = None;
    db.update_merging(id, merge_notification_revisions, |stored| {
        let mut doc = stored.filter(Value::is_object)?;
        found = Some(doc.clone());
        if doc.get("status").and_then(Value::as_str) != Some("active") {
            return None;
        }
        let o = doc.as_object_mut()?;
        o.insert("status".into(), json!("acknowledged"));
        o.insert("acknowledged_at".into(), json!(now));
        o.insert("updated_at".into(), json!(now));
        found = Some(doc.clone());
        Some(doc)
    })
    .await?;
    Ok(found)
}

/// Acknowledges one notification (idempotent; a resolved one stays resolved).
#[utoipa::path(post, path = "/api/notifications/{id}/acknowledge", tag = "notifications",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "the notification's `_id` (`notification::{source}::{condition_key}`), or the part after `notification::`")),
    responses((status = 200, body = Object), (status = 401, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
async fn acknowledge(
    _: User,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let full = if id.starts_with(ids::NOTIFICATION_PREFIX) {
        id
    } else {
        format!("{}{id}", ids::NOTIFICATION_PREFIX)
    };
    match ack(&state.db, &full).await? {
        Some(doc) if doc.get("type").and_then(Value::as_str) == Some("notification") => {
            tracing::info!(operation = "acknowledge", doc_id = %full, "notification acknowledged");
            Ok(axum::Json(public(doc)))
        }
        _ => Err(ApiError::not_found(format!("no notification {full:?}"))),
    }
}

/// Acknowledges every active notification (of one severity).
#[utoipa::path(post, path = "/api/notifications/acknowledge-all", tag = "notifications",
    security(("bearer" = [])), params(AckAllParams),
    responses((status = 200, body = AckAll), (status = 400, body = crate::error::ErrorBody),
        (status = 401, body = crate::error::ErrorBody)))]
async fn acknowledge_all(
    _: User,
    State(state): State<AppState>,
    Query(p): Query<AckAllParams>,
) -> ApiResult<axum::Json<AckAll>> {
    let docs = find(&state.db, &["active"], p.severity).await?;
    let mut n = 0;
    for d in docs {
        if let Some(id) = d.get("_id").and_then(Value::as_str)
            && ack(&state.db, id)
                .await?
                .is_some_and(|d| d.get("status").and_then(Value::as_str) == Some("acknowledged"))
        {
            n += 1;
        }
    }
    tracing::info!(
        operation = "acknowledge",
        acknowledged = n,
        "notifications acknowledged"
    );
    Ok(axum::Json(AckAll { acknowledged: n }))
}
