//! Login, whoami and logout (plan 2.3).

use crate::auth::User;
use crate::auth::credentials::verify_secret;
use crate::error::{ApiError, ApiResult};
use crate::extract::Json;
use crate::state::AppState;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use mosaicfs_common::documents::CredentialDoc;
use mosaicfs_common::{ids, time};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The auth routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(whoami))
        .routes(routes!(logout))
}

/// Body of `POST /api/auth/login`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Access key id.
    pub access_key_id: String,
    /// Its secret.
    pub secret_key: String,
}

/// A session token.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LoginResponse {
    /// The bearer token.
    pub token: String,
    /// Expiry (RFC 3339).
    pub expires_at: String,
    /// The access key id logged in.
    pub access_key_id: String,
}

/// Who the token belongs to.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WhoAmI {
    /// Access key id.
    pub access_key_id: String,
    /// Credential name.
    pub name: String,
    /// Token expiry (RFC 3339).
    pub expires_at: String,
}

/// Exchanges an access key and secret for a 24-hour token. At most 5
/// attempts per minute per client IP.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 429, body = crate::error::ErrorBody)))]
async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(body): Json<LoginRequest>,
) -> ApiResult<axum::Json<LoginResponse>> {
    if let Err(wait) = state.login_limiter.check(peer.ip()) {
        tracing::warn!(operation = "login", ip = %peer.ip(), "login rate limit hit");
        return Err(ApiError::too_many(
            wait,
            format!(
                "too many login attempts from {}; retry in {wait} s",
                peer.ip()
            ),
        ));
    }
    let fail = || {
        state.login_limiter.record_failure(peer.ip());
        tracing::warn!(operation = "login", ip = %peer.ip(), access_key_id = %body.access_key_id, "login failed");
        ApiError::unauthorized("unknown access key or wrong secret")
    };
    if !crate::auth::credentials::is_access_key_id(&body.access_key_id) {
        state.login_limiter.record_failure(peer.ip());
        return Err(ApiError::field(
            "access_key_id",
            "must be MOSAICFS_ followed by 16 uppercase hex digits",
        ));
    }
    let cred: Option<CredentialDoc> = state
        .db
        .get(&ids::credential_id(&body.access_key_id))
        .await?;
    let Some(mut cred) = cred else {
        return Err(fail());
    };
    let hash = cred.secret_key_hash.clone();
    let secret = body.secret_key.clone();
    let ok = tokio::task::spawn_blocking(move || verify_secret(&secret, &hash))
        .await
        .unwrap_or(false);
    if !ok {
        return Err(fail());
    }
    if !cred.enabled {
        return Err(ApiError::unauthorized("this access key is disabled"));
    }
    let (token, claims) = state
        .jwt
        .issue(&cred.access_key_id)
        .map_err(ApiError::internal)?;
    cred.last_seen = Some(time::now());
    if let Err(e) = state.db.put(&cred).await {
        tracing::debug!(error = %e, "could not record last_seen");
    }
    tracing::info!(operation = "login", access_key_id = %cred.access_key_id, "logged in");
    Ok(axum::Json(LoginResponse {
        token,
        expires_at: chrono::DateTime::from_timestamp(claims.exp, 0)
            .map(|t| time::format(&t))
            .unwrap_or_default(),
        access_key_id: cred.access_key_id,
    }))
}

/// The identity behind the token.
#[utoipa::path(get, path = "/api/auth/whoami", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = WhoAmI), (status = 401, body = crate::error::ErrorBody)))]
async fn whoami(user: User, State(state): State<AppState>) -> ApiResult<axum::Json<WhoAmI>> {
    let cred: Option<CredentialDoc> = state
        .db
        .get(&ids::credential_id(&user.access_key_id))
        .await?;
    let cred = cred
        .ok_or_else(|| ApiError::unauthorized("the credential of this token no longer exists"))?;
    if !cred.enabled {
        return Err(ApiError::unauthorized(
            "the credential of this token is disabled",
        ));
    }
    Ok(axum::Json(WhoAmI {
        access_key_id: user.access_key_id,
        name: cred.name,
        expires_at: chrono::DateTime::from_timestamp(user.exp, 0)
            .map(|t| time::format(&t))
            .unwrap_or_default(),
    }))
}

/// Invalidates the token used for this request.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = crate::error::ErrorBody), (status = 500, body = crate::error::ErrorBody)))]
async fn logout(user: User, State(state): State<AppState>) -> ApiResult<StatusCode> {
    let snapshot = {
        let mut r = state
            .revoked
            .lock()
            .map_err(|_| ApiError::internal("revoked-token lock poisoned"))?;
        let now = chrono::Utc::now().timestamp();
        r.retain(|_, exp| *exp > now);
        r.insert(user.jti, user.exp);
        r.clone()
    };
    // Persisted so that a logged-out token stays dead across restarts.
    let dir = state.config.data_dir.clone();
    tokio::task::spawn_blocking(move || crate::secrets::save_revoked(&dir, &snapshot))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    Ok(StatusCode::NO_CONTENT)
}
