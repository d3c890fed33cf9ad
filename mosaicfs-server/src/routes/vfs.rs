//! Routes: vfs. Filled by issue #3.

use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;

/// The vfs routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
}
