//! Route modules, one per area of the API. Each returns an
//! `OpenApiRouter` so that its handlers and their OpenAPI descriptions are
//! registered together; [`api`] merges them.

pub mod agent;
pub mod auth;
pub mod backup;
pub mod credentials;
pub mod files;
pub mod labels;
pub mod nodes;
pub mod notifications;
mod paging;
pub mod storage;
pub mod system;
pub mod vfs;

use crate::state::AppState;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

/// The OpenAPI document's fixed parts.
#[derive(OpenApi)]
#[openapi(
    info(title = "MosaicFS control plane", description = "REST API of mosaicfs-server. See docs/architecture.md."),
    components(schemas(crate::error::ErrorBody)),
    modifiers(&SecuritySchemes)
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme,
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "hmac",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("Authorization"))),
        );
    }
}

/// Every route of the API.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(system::router())
        .merge(auth::router())
        .merge(credentials::router())
        .merge(nodes::router())
        .merge(files::router())
        .merge(vfs::router())
        .merge(labels::router())
        .merge(agent::router())
        .merge(storage::router())
        .merge(backup::router())
        .merge(notifications::router())
}
