//! Health and metrics.

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
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}
