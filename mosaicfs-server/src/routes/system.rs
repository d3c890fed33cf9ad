//! Health, metrics and reindex.
//!
//! `POST /api/system/reindex` asks every agent for a full crawl by setting
//! `reindex_requested_at` on every node document (the agent sees it through
//! the pull replication). The field is the control plane's; if it crosses a
//! heartbeat in replication, the conflict merge keeps the newest request. Rebuilding the server's own SQLite index in place
//! would need a reset entry point in `mosaicfs-index`, which it does not
//! have yet; the follower already rebuilds from the changes feed when its
//! file is deleted at start.

use crate::state::AppState;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The system routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(metrics))
        .routes(routes!(reindex))
}

/// The answer of `POST /api/system/reindex`.
#[derive(Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Reindex {
    /// The timestamp written into each node document.
    pub requested_at: String,
    /// Nodes asked to run a full crawl, in id order.
    pub nodes_notified: Vec<String>,
}

/// Asks every node's agent for a full crawl.
#[utoipa::path(post, path = "/api/system/reindex", tag = "system", security(("bearer" = [])),
    responses((status = 202, body = Reindex), (status = 401, body = crate::error::ErrorBody)))]
async fn reindex(
    _: crate::auth::User,
    State(state): State<AppState>,
) -> crate::error::ApiResult<(StatusCode, axum::Json<Reindex>)> {
    use mosaicfs_common::ids;
    use serde_json::json;
    let requested_at = mosaicfs_common::time::format(&mosaicfs_common::time::now());
    let mut node_ids = Vec::new();
    state
        .db
        .for_each_prefix_page(ids::NODE_PREFIX, 500, false, |rows| {
            node_ids.extend(rows.into_iter().map(|r| r.id));
        })
        .await?;
    let mut notified = Vec::new();
    for id in node_ids {
        let node_id = id.strip_prefix(ids::NODE_PREFIX).unwrap_or(&id);
        // Merges conflicting revisions of the node document and deletes
        // them, like every control-plane write of a node document.
        let wrote = crate::routes::nodes::modify_node_doc(&state.db, node_id, |o| {
            o.insert("reindex_requested_at".into(), json!(requested_at));
            Ok(())
        })
        .await?;
        if matches!(wrote, Some(Ok(_))) {
            notified.push(node_id.to_string());
        }
    }
    tracing::info!(
        operation = "reindex",
        nodes = notified.len(),
        "reindex requested"
    );
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(Reindex {
            requested_at,
            nodes_notified: notified,
        }),
    ))
}

/// Health of the server and its database.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok` or `degraded`.
    pub status: String,
    /// Whether CouchDB answered.
    pub couchdb: bool,
    /// Server version.
    pub version: String,
    /// SHA-256 fingerprint of the TLS certificate (for trust on first use).
    pub tls_fingerprint: String,
}

/// Liveness and database reachability. Unauthenticated.
#[utoipa::path(get, path = "/health", tag = "system",
    responses((status = 200, body = Health), (status = 503, body = Health)))]
async fn health(State(state): State<AppState>) -> impl IntoResponse {
    let db = state
        .db
        .clone()
        .with_retry(mosaicfs_common::retry::RetryPolicy::standard(Some(1)));
    let couchdb = db.server_info().await.is_ok();
    let body = Health {
        status: if couchdb { "ok" } else { "degraded" }.into(),
        couchdb,
        version: env!("CARGO_PKG_VERSION").into(),
        tls_fingerprint: state.tls_fingerprint.clone(),
    };
    let status = if couchdb {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body))
}

/// Prometheus metrics in the text exposition format. Unauthenticated.
#[utoipa::path(get, path = "/metrics", tag = "system",
    responses((status = 200, content_type = "text/plain", body = String)))]
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut body = state.metrics.render();
    body.push_str(&crate::metrics::render_readdir(&state.readdir_cache));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}
