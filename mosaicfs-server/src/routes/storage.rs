//! Storage routes (plan 5.11, 10.2): every node's filesystems with its
//! latest utilization snapshot, and one node's snapshots over a range of
//! days. The figures are written by the agents (`node.storage` and
//! `utilization::{node_id}::{hour}`, see `mosaicfs-agent/src/storage.rs`).

use crate::auth::User;
use crate::error::{ApiError, ApiResult};
use crate::extract::Query;
use crate::routes::nodes::check_node_id;
use crate::routes::paging::public;
use crate::state::AppState;
use axum::extract::{Path, State};
use mosaicfs_common::ids;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The storage routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(overview))
        .routes(routes!(history))
}

/// Longest history a client may ask for.
const MAX_DAYS: u32 = 365;

/// One node's storage.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NodeStorage {
    /// The node id.
    pub node_id: String,
    /// Display name.
    pub friendly_name: Option<String>,
    /// `online`, `offline` or `degraded`.
    pub status: Option<String>,
    /// `node.storage`: `{filesystem_id, mount_point, fs_type, device,
    /// capacity_bytes, used_bytes, watch_paths_on_fs}`.
    #[schema(value_type = Vec<Object>)]
    pub storage: Vec<Value>,
    /// The newest `utilization_snapshot` of the node, if any (without `_rev`).
    #[schema(value_type = Option<Object>)]
    pub latest_snapshot: Option<Value>,
}

/// `GET /api/storage`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StorageOverview {
    /// Every node, in id order.
    pub nodes: Vec<NodeStorage>,
}

/// `GET /api/storage/{node_id}/history`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StorageHistory {
    /// The node.
    pub node_id: String,
    /// Days covered.
    pub days: u32,
    /// `utilization_snapshot` documents, oldest first (without `_rev`).
    #[schema(value_type = Vec<Object>)]
    pub snapshots: Vec<Value>,
}

/// Query of the history route.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// Days back from now, 1–365 (default 30).
    pub days: Option<u32>,
}

/// The last snapshot of `node_id`: the greatest id of its prefix.
async fn latest_snapshot(state: &AppState, node_id: &str) -> ApiResult<Option<Value>> {
    let prefix = format!("{}{node_id}{}", ids::UTILIZATION_PREFIX, ids::SEP);
    // Descending would be one row, but the client has no descending call;
    // a day of hourly snapshots is at most 24 rows per page.
    let mut last = None;
    state
        .db
        .for_each_prefix_page(&prefix, 500, true, |rows| {
            if let Some(doc) = rows.into_iter().rev().find_map(|r| r.doc) {
                last = Some(doc);
            }
        })
        .await?;
    Ok(last.map(public))
}

/// Every node's filesystems with its latest utilization snapshot.
#[utoipa::path(get, path = "/api/storage", tag = "storage", security(("bearer" = [])),
    responses((status = 200, body = StorageOverview), (status = 401, body = crate::error::ErrorBody)))]
async fn overview(
    _: User,
    State(state): State<AppState>,
) -> ApiResult<axum::Json<StorageOverview>> {
    let mut nodes = Vec::new();
    state
        .db
        .for_each_prefix_page(ids::NODE_PREFIX, 500, true, |rows| {
            nodes.extend(
                rows.into_iter()
                    .filter_map(|r| r.doc)
                    .filter(Value::is_object),
            );
        })
        .await?;
    let mut out = Vec::with_capacity(nodes.len());
    for n in nodes {
        let Some(node_id) = n.get("node_id").and_then(Value::as_str).map(str::to_owned) else {
            continue;
        };
        let latest_snapshot = latest_snapshot(&state, &node_id).await?;
        out.push(NodeStorage {
            friendly_name: n
                .get("friendly_name")
                .and_then(Value::as_str)
                .map(str::to_owned),
            status: n.get("status").and_then(Value::as_str).map(str::to_owned),
            storage: n
                .get("storage")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            latest_snapshot,
            node_id,
        });
    }
    Ok(axum::Json(StorageOverview { nodes: out }))
}

/// A node's utilization snapshots over the last `days` days.
#[utoipa::path(get, path = "/api/storage/{node_id}/history", tag = "storage",
    params(("node_id" = String, Path), HistoryParams), security(("bearer" = [])),
    responses((status = 200, body = StorageHistory),
              (status = 400, body = crate::error::ErrorBody, description = "`days` out of 1–365 or a bad node id"),
              (status = 401, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody, description = "no such node")))]
async fn history(
    _: User,
    State(state): State<AppState>,
    Path(node_id): Path<String>,
    Query(params): Query<HistoryParams>,
) -> ApiResult<axum::Json<StorageHistory>> {
    check_node_id("node_id", &node_id)?;
    let days = params.days.unwrap_or(30);
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(ApiError::field(
            "days",
            format!("must be between 1 and {MAX_DAYS}"),
        ));
    }
    state
        .db
        .get_value(&ids::node_doc_id(&node_id))
        .await?
        .filter(Value::is_object)
        .ok_or_else(|| ApiError::not_found(format!("no node {node_id}")))?;
    let now = mosaicfs_common::time::now();
    let from = now - chrono::Duration::days(i64::from(days));
    let start = ids::utilization_id(&node_id, &from);
    let end = ids::utilization_id(&node_id, &now);
    let mut snapshots = Vec::new();
    let mut skip = 0;
    let mut start_key = start;
    loop {
        let rows = state
            .db
            .all_docs_range(&start_key, &end, 1000, skip, true)
            .await?;
        let n = rows.len();
        let last = rows.last().map(|r| r.id.clone());
        snapshots.extend(rows.into_iter().filter_map(|r| r.doc).map(public));
        match last {
            Some(id) if n == 1000 => {
                start_key = id;
                skip = 1;
            }
            _ => break,
        }
    }
    Ok(axum::Json(StorageHistory {
        node_id,
        days,
        snapshots,
    }))
}
