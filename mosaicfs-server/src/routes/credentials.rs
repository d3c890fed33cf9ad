//! Credential management (plan 2.2): create (the secret is shown once),
//! list, get, enable/disable, delete. Only an Argon2id hash of the secret and
//! the derived request-signing key are stored.

use crate::auth::User;
use crate::auth::credentials::{hash_secret, is_access_key_id, new_access_key_id, new_secret};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Query};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use mosaicfs_common::documents::{CredentialDoc, CredentialPermissions};
use mosaicfs_common::{hmac, ids, time};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The credential routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_credentials, create_credential))
        .routes(routes!(get_credential, patch_credential, delete_credential))
}

/// A credential as shown by the API (never the secret or its hash).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CredentialView {
    /// Access key id.
    pub access_key_id: String,
    /// Display name.
    pub name: String,
    /// Whether it may authenticate.
    pub enabled: bool,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last successful authentication.
    pub last_seen: Option<String>,
}

impl From<&CredentialDoc> for CredentialView {
    fn from(c: &CredentialDoc) -> Self {
        CredentialView {
            access_key_id: c.access_key_id.clone(),
            name: c.name.clone(),
            enabled: c.enabled,
            created_at: time::format(&c.created_at),
            last_seen: c.last_seen.as_ref().map(time::format),
        }
    }
}

/// Body of `POST /api/credentials`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCredential {
    /// Display name, 1–100 characters.
    pub name: String,
}

/// Answer to a creation: the only time the secret is shown.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedCredential {
    /// The new credential.
    #[serde(flatten)]
    pub credential: CredentialView,
    /// The secret. Store it now; it cannot be shown again.
    pub secret_key: String,
}

/// Body of `PATCH /api/credentials/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchCredential {
    /// New display name.
    pub name: Option<String>,
    /// Enable or disable.
    pub enabled: Option<bool>,
}

/// Pagination of the credential list.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ListParams {
    /// Page size, 1–1000 (default 100).
    pub limit: Option<usize>,
    /// Opaque cursor from the previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// A page of credentials.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CredentialList {
    /// The credentials.
    pub items: Vec<CredentialView>,
    /// Cursor of the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

fn check_name(name: &str) -> ApiResult<()> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > 100 {
        return Err(ApiError::field("name", "must be 1 to 100 characters"));
    }
    Ok(())
}

/// Creates and stores a credential; returns its doc and secret.
pub async fn create(
    state: &AppState,
    name: &str,
    id_and_secret: Option<(String, String)>,
) -> ApiResult<(CredentialDoc, String)> {
    let (access_key_id, secret) =
        id_and_secret.unwrap_or_else(|| (new_access_key_id(), new_secret()));
    let hash = hash_secret(&secret).map_err(ApiError::internal)?;
    let doc = CredentialDoc {
        id: ids::credential_id(&access_key_id),
        rev: None,
        doc_type: Default::default(),
        access_key_id: access_key_id.clone(),
        secret_key_hash: hash,
        hmac_key: Some(hex::encode(hmac::derive_signing_key(&secret))),
        name: name.trim().to_string(),
        enabled: true,
        created_at: time::now(),
        last_seen: None,
        permissions: CredentialPermissions::default(),
        extra: Default::default(),
    };
    state.db.put(&doc).await?;
    tracing::info!(access_key_id = %access_key_id, operation = "credential_create", "credential created");
    Ok((doc, secret))
}

/// Creates the bootstrap credential from `--bootstrap-credential` when it
/// does not exist yet.
pub async fn bootstrap(state: &AppState) -> anyhow::Result<()> {
    let Some(spec) = state.config.bootstrap_credential.clone() else {
        return Ok(());
    };
    let Some((id, secret)) = spec.split_once(':') else {
        anyhow::bail!("--bootstrap-credential must be ACCESS_KEY_ID:SECRET");
    };
    if !is_access_key_id(id) {
        anyhow::bail!(
            "--bootstrap-credential: {id:?} is not an access key id (MOSAICFS_ + 16 uppercase hex)"
        );
    }
    if secret.len() < 16 {
        anyhow::bail!("--bootstrap-credential: the secret must be at least 16 characters");
    }
    if state.db.get_value(&ids::credential_id(id)).await?.is_some() {
        return Ok(());
    }
    create(
        state,
        "bootstrap",
        Some((id.to_string(), secret.to_string())),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}

async fn load(state: &AppState, id: &str) -> ApiResult<CredentialDoc> {
    if !is_access_key_id(id) {
        return Err(ApiError::field(
            "access_key_id",
            format!("{id:?} is not an access key id"),
        ));
    }
    state
        .db
        .get::<CredentialDoc>(&ids::credential_id(id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no credential {id}")))
}

/// Lists credentials.
#[utoipa::path(get, path = "/api/credentials", tag = "credentials", params(ListParams),
    security(("bearer" = [])),
    responses((status = 200, body = CredentialList), (status = 401, body = crate::error::ErrorBody)))]
async fn list_credentials(
    _: User,
    State(state): State<AppState>,
    Query(p): Query<ListParams>,
) -> ApiResult<axum::Json<CredentialList>> {
    let limit = super::paging::limit(p.limit)?;
    let page = super::paging::page(
        &state.db,
        ids::CREDENTIAL_PREFIX,
        limit,
        p.cursor.as_deref(),
    )
    .await?;
    let items = page
        .items
        .into_iter()
        .filter_map(|d| serde_json::from_value::<CredentialDoc>(d).ok())
        .map(|c| CredentialView::from(&c))
        .collect();
    Ok(axum::Json(CredentialList {
        items,
        next_cursor: page.next_cursor,
    }))
}

/// Creates a credential. The secret is in this answer and nowhere else.
#[utoipa::path(post, path = "/api/credentials", tag = "credentials", request_body = CreateCredential,
    security(("bearer" = [])),
    responses((status = 201, body = CreatedCredential), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody)))]
async fn create_credential(
    _: User,
    State(state): State<AppState>,
    Json(body): Json<CreateCredential>,
) -> ApiResult<(StatusCode, axum::Json<CreatedCredential>)> {
    check_name(&body.name)?;
    let (doc, secret) = create(&state, &body.name, None).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(CreatedCredential {
            credential: CredentialView::from(&doc),
            secret_key: secret,
        }),
    ))
}

/// One credential.
#[utoipa::path(get, path = "/api/credentials/{access_key_id}", tag = "credentials",
    params(("access_key_id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = CredentialView), (status = 404, body = crate::error::ErrorBody)))]
async fn get_credential(
    _: User,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<CredentialView>> {
    Ok(axum::Json(CredentialView::from(&load(&state, &id).await?)))
}

/// Renames, enables or disables a credential.
#[utoipa::path(patch, path = "/api/credentials/{access_key_id}", tag = "credentials",
    params(("access_key_id" = String, Path)), request_body = PatchCredential, security(("bearer" = [])),
    responses((status = 200, body = CredentialView), (status = 400, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn patch_credential(
    user: User,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<PatchCredential>,
) -> ApiResult<axum::Json<CredentialView>> {
    if let Some(n) = &body.name {
        check_name(n)?;
    }
    if body.enabled == Some(false) && user.access_key_id == id {
        return Err(ApiError::conflict(
            "you cannot disable the credential you are logged in with",
        ));
    }
    let mut doc = load(&state, &id).await?;
    if let Some(n) = body.name {
        doc.name = n.trim().to_string();
    }
    if let Some(e) = body.enabled {
        doc.enabled = e;
    }
    state.db.put(&doc).await?;
    Ok(axum::Json(CredentialView::from(&doc)))
}

/// Deletes a credential.
#[utoipa::path(delete, path = "/api/credentials/{access_key_id}", tag = "credentials",
    params(("access_key_id" = String, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn delete_credential(
    user: User,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if user.access_key_id == id {
        return Err(ApiError::conflict(
            "you cannot delete the credential you are logged in with",
        ));
    }
    let doc = load(&state, &id).await?;
    state
        .db
        .delete(&doc.id, doc.rev.as_deref().unwrap_or_default())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
