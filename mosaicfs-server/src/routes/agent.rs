//! Agent-internal routes (plan 2.8), authenticated by HMAC signature
//! ([`Agent`]).

use crate::auth::Agent;
use crate::error::{ApiError, ApiResult};
use crate::extract::parse_json;
use crate::state::AppState;
use axum::extract::State;
use mosaicfs_common::{ids, time};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The agent routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(heartbeat))
}

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
    let now = time::format(&time::now());
    let mut found = false;
    state
        .db
        .update(&ids::node_doc_id(&body.node_id), |stored| {
            let mut doc = stored.filter(|d| d.is_object())?;
            found = true;
            doc["status"] = json!(status);
            doc["last_heartbeat"] = json!(now);
            Some(doc)
        })
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
