//! Virtual directory routes (plan 2.7; evaluation of mounts arrives with the
//! rule engine, issue #4).

use crate::state::AppState;
use mosaicfs_common::documents::{ROOT_INODE, VirtualDirectoryDoc};
use mosaicfs_common::{ids, time};
use utoipa_axum::router::OpenApiRouter;

/// The vfs routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
}

/// Creates the root directory document (`dir::root`, inode 1, system) if it
/// does not exist (plan 3.1).
pub async fn ensure_root(state: &AppState) -> Result<(), mosaicfs_common::couch::CouchError> {
    if state.db.get_value(ids::ROOT_DIR_ID).await?.is_some() {
        return Ok(());
    }
    let root = VirtualDirectoryDoc {
        id: ids::ROOT_DIR_ID.into(),
        rev: None,
        doc_type: Default::default(),
        inode: ROOT_INODE,
        virtual_path: "/".into(),
        name: String::new(),
        parent_path: None,
        system: true,
        created_at: time::now(),
        updated_at: None,
        enforce_steps_on_children: false,
        mounts: Vec::new(),
        extra: Default::default(),
    };
    match state.db.put(&root).await {
        Ok(_) | Err(mosaicfs_common::couch::CouchError::Conflict { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}
