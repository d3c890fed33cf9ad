//! Authentication. Handlers take [`User`] (a JWT bearer token, for people
//! and the CLI) or [`Agent`] (an HMAC-signed request, for agents) as an
//! extractor; nothing is re-checked inside handlers.

pub mod content_url;
pub mod credentials;
pub mod jwt;
pub mod ratelimit;
pub mod signed;

pub use signed::Agent;

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;

/// A request carrying a valid, not logged-out JWT.
#[derive(Debug, Clone)]
pub struct User {
    /// The access key id the token was issued to.
    pub access_key_id: String,
    /// Token id (for logout).
    pub jti: String,
    /// Expiry, unix seconds.
    pub exp: i64,
}

impl FromRequestParts<AppState> for User {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<User, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("missing Authorization header; log in with POST /api/auth/login and send `Authorization: Bearer <token>`"))?;
        let value = header
            .to_str()
            .map_err(|_| ApiError::unauthorized("the Authorization header is not text"))?;
        let token = value.strip_prefix("Bearer ").ok_or_else(|| {
            ApiError::unauthorized("the Authorization header must be `Bearer <token>`")
        })?;
        let claims = state.jwt.verify(token).map_err(|e| {
            tracing::info!(operation = "auth", error = %e, "token rejected");
            ApiError::unauthorized(format!("invalid token: {e}"))
        })?;
        let revoked = state
            .revoked
            .lock()
            .map(|r| r.contains_key(&claims.jti))
            .unwrap_or(false);
        if revoked {
            return Err(ApiError::unauthorized(
                "this token was logged out; log in again",
            ));
        }
        // A token is only as good as its credential: disabling or deleting the
        // credential ends its sessions at once.
        let cred: Option<mosaicfs_common::documents::CredentialDoc> = state
            .db
            .get(&mosaicfs_common::ids::credential_id(&claims.sub))
            .await
            .map_err(|e| match e {
                mosaicfs_common::couch::CouchError::Decode { .. } => {
                    ApiError::unauthorized("the credential of this token is unreadable")
                }
                other => ApiError::from(other),
            })?;
        match cred {
            None => {
                return Err(ApiError::unauthorized(
                    "the credential of this token was deleted",
                ));
            }
            Some(c) if !c.enabled => {
                return Err(ApiError::unauthorized(
                    "the credential of this token is disabled",
                ));
            }
            Some(_) => {}
        }
        Ok(User {
            access_key_id: claims.sub,
            jti: claims.jti,
            exp: claims.exp,
        })
    }
}
