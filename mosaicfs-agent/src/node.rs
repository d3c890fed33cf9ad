//! This node's identity and its `node` document: the id file, the startup
//! registration, the heartbeat and the offline mark on shutdown.

use mosaicfs_common::couch::{CouchClient, CouchError};
use mosaicfs_common::{documents, ids};
use serde_json::{Value, json};
use std::path::Path;

/// Errors resolving the node id.
#[derive(Debug, thiserror::Error)]
pub enum NodeIdError {
    /// The state directory or id file cannot be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The id file holds something that is not a node id.
    #[error("{path}: {content:?} is not a valid node id; fix or delete the file")]
    Invalid {
        /// The file.
        path: String,
        /// What it holds.
        content: String,
    },
}

/// The node id: from the config if given, else from `{state_dir}/node_id`,
/// else a new id written there atomically.
pub fn resolve_node_id(configured: Option<&str>, state_dir: &Path) -> Result<String, NodeIdError> {
    let file = state_dir.join("node_id");
    let io = |path: &Path, source| NodeIdError::Io {
        path: path.display().to_string(),
        source,
    };
    if let Some(id) = configured {
        return Ok(id.to_string());
    }
    match std::fs::read_to_string(&file) {
        Ok(text) => {
            let id = text.trim();
            if ids::is_valid_node_id(id) {
                return Ok(id.to_string());
            }
            return Err(NodeIdError::Invalid {
                path: file.display().to_string(),
                content: id.to_string(),
            });
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(&file, e)),
    }
    std::fs::create_dir_all(state_dir).map_err(|e| io(state_dir, e))?;
    let id = ids::new_node_id();
    mosaicfs_common::fsutil::write_atomic(&file, format!("{id}\n").as_bytes(), None)
        .map_err(|e| io(&file, e))?;
    tracing::info!(node_id = %id, path = %file.display(), "generated a new node id");
    Ok(id)
}

/// What the agent states about itself in the node document. It never
/// writes the control plane's fields
/// ([`CONTROL_PLANE_FIELDS`](mosaicfs_common::documents::CONTROL_PLANE_FIELDS))
/// except `friendly_name` when it creates the document; unknown fields are
/// kept.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    /// Node id.
    pub node_id: String,
    /// Display name, written only when the agent creates the document
    /// (afterwards registration and `PATCH /api/nodes/{id}` own it).
    pub friendly_name: String,
    /// Watch paths.
    pub watch_paths: Vec<String>,
    /// This agent's access key id; peers sign transfer requests with it.
    pub access_key_id: String,
    /// Base URL of the transfer endpoint, when it runs.
    pub transfer_endpoint: Option<String>,
}

fn platform() -> &'static str {
    match std::env::consts::OS {
        "macos" => "macos",
        other => other,
    }
}

/// Writes `status` and a fresh `last_heartbeat` (plus the descriptive fields)
/// into `node::{id}`, creating it if needed. Conflicting revisions (a
/// control plane write that crossed this one in replication) are merged by
/// field ownership and the losers deleted in the same write. While the
/// control plane has the node `disabled`, the agent reports `offline`
/// whatever `status` says (and logs a warning when it starts to).
pub async fn write_node_status(
    db: &CouchClient,
    info: &NodeInfo,
    status: &str,
) -> Result<(), CouchError> {
    let id = ids::node_doc_id(&info.node_id);
    let now = mosaicfs_common::time::format(&mosaicfs_common::time::now());
    db.update_merging(&id, documents::merge_node_revisions, |stored| {
        let mut doc = stored.unwrap_or_else(|| {
            json!({
                "_id": id,
                "type": "node",
                "friendly_name": info.friendly_name,
                "registered_at": now,
                "vfs_capable": cfg!(any(target_os = "linux", target_os = "macos")),
                "capabilities": [],
                "storage": [],
                "network_mounts": [],
            })
        });
        if !doc.is_object() {
            doc = json!({ "_id": id, "type": "node", "friendly_name": info.friendly_name });
        }
        let o = doc.as_object_mut()?;
        let disabled = o.get("disabled").and_then(Value::as_bool) == Some(true);
        let status = if disabled { "offline" } else { status };
        if disabled && o.get("status").and_then(Value::as_str) != Some("offline") {
            tracing::warn!(node_id = %info.node_id, operation = "heartbeat",
                "this node is disabled by the control plane; reporting it offline");
        }
        o.insert("type".into(), json!("node"));
        o.insert("node_id".into(), json!(info.node_id));
        o.entry("friendly_name")
            .or_insert_with(|| json!(info.friendly_name));
        o.insert("platform".into(), json!(platform()));
        o.insert("status".into(), json!(status));
        o.insert("last_heartbeat".into(), json!(now));
        o.insert("agent_version".into(), json!(env!("CARGO_PKG_VERSION")));
        o.insert("watch_paths".into(), json!(info.watch_paths));
        o.insert("access_key_id".into(), json!(info.access_key_id));
        match &info.transfer_endpoint {
            Some(endpoint) => {
                // Keep unknown fields a newer version may have added.
                let mut t = o
                    .get("transfer")
                    .filter(|t| t.is_object())
                    .cloned()
                    .unwrap_or_else(|| json!({}));
                t["endpoint"] = json!(endpoint);
                t["protocol"] = json!("http");
                o.insert("transfer".into(), t);
            }
            None => {
                o.remove("transfer");
            }
        }
        Some(doc)
    })
    .await
    .map(|_| ())
}

/// Reads the node document, its conflicting revisions merged by field
/// ownership (read only; the next heartbeat writes the merge).
pub async fn read_node(db: &CouchClient, node_id: &str) -> Result<Option<Value>, CouchError> {
    db.get_merged(&ids::node_doc_id(node_id), documents::merge_node_revisions)
        .await
}
