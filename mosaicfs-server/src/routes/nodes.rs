//! Routes: nodes. Filled by issue #3.

use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;

/// The nodes routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
}
