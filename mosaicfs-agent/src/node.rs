//! This node's identity and its `node` document: the id file, the startup
//! registration, the heartbeat and the offline mark on shutdown.

use mosaicfs_common::couch::{CouchClient, CouchError};
use mosaicfs_common::ids;
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
/// else a new id written there atomically (temp file + rename).
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
    let tmp = state_dir.join(format!(".node_id.{}.tmp", std::process::id()));
    std::fs::write(&tmp, format!("{id}\n")).map_err(|e| io(&tmp, e))?;
    std::fs::rename(&tmp, &file).map_err(|e| io(&file, e))?;
    tracing::info!(node_id = %id, path = %file.display(), "generated a new node id");
    Ok(id)
}

/// What the agent states about itself in the node document. Fields owned by
/// the control plane (`network_mounts`, `disabled`) and unknown fields are
/// never touched.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    /// Node id.
    pub node_id: String,
    /// Display name.
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
/// into `node::{id}`, creating it if needed.
pub async fn write_node_status(
    db: &CouchClient,
    info: &NodeInfo,
    status: &str,
) -> Result<(), CouchError> {
    let id = ids::node_doc_id(&info.node_id);
    let now = mosaicfs_common::time::format(&mosaicfs_common::time::now());
    db.update(&id, |stored| {
        let mut doc = stored.unwrap_or_else(|| {
            json!({
                "_id": id,
                "type": "node",
                "registered_at": now,
                "vfs_capable": cfg!(any(target_os = "linux", target_os = "macos")),
                "capabilities": [],
                "storage": [],
                "network_mounts": [],
            })
        });
        if !doc.is_object() {
            doc = json!({ "_id": id, "type": "node" });
        }
        let o = doc.as_object_mut()?;
        o.insert("type".into(), json!("node"));
        o.insert("node_id".into(), json!(info.node_id));
        o.insert("friendly_name".into(), json!(info.friendly_name));
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

/// Reads the node document (for tests and status output).
pub async fn read_node(db: &CouchClient, node_id: &str) -> Result<Option<Value>, CouchError> {
    db.get_value(&ids::node_doc_id(node_id)).await
}
