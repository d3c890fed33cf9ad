//! The `node` and `credential` documents.

use super::{Extra, is_false, type_tag};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

type_tag!(
    /// `"type": "node"`.
    NodeTag,
    "node"
);
type_tag!(
    /// `"type": "credential"`.
    CredentialTag,
    "credential"
);

/// A machine (or bridge) taking part in MosaicFS. `_id` is `node::{node_id}`.
/// The agent owns `status`, `last_heartbeat` and the descriptive fields; the
/// control plane owns `network_mounts` and `disabled`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeDoc {
    /// `node::{node_id}`.
    #[serde(rename = "_id")]
    pub id: String,
    /// CouchDB revision.
    #[serde(rename = "_rev", default, skip_serializing_if = "Option::is_none")]
    pub rev: Option<String>,
    /// Always `"node"`.
    #[serde(rename = "type")]
    pub doc_type: NodeTag,
    /// The node id (also inside `_id`).
    pub node_id: String,
    /// Display name; defaults to the host name.
    pub friendly_name: String,
    /// `linux`, `macos`, …
    pub platform: String,
    /// `online`, `offline` or `degraded`.
    pub status: NodeStatus,
    /// Last heartbeat (every 30 s while online).
    pub last_heartbeat: Timestamp,
    /// First registration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registered_at: Option<Timestamp>,
    /// Access key id of the credential this node's agent uses; the control
    /// plane signs requests to this node's transfer endpoint with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// Agent version string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_version: Option<String>,
    /// `"bridge"` for bridge nodes; absent for physical nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Whether this node can run a VFS backend.
    #[serde(default)]
    pub vfs_capable: bool,
    /// The active VFS backend (`fuse`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vfs_backend: Option<String>,
    /// Query capabilities advertised by plugins (e.g. `search`).
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// The watch paths from `agent.toml`.
    #[serde(default)]
    pub watch_paths: Vec<String>,
    /// Where peers fetch file content from this node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer: Option<TransferInfo>,
    /// Filesystems holding watch paths (refreshed hourly).
    #[serde(default)]
    pub storage: Vec<StorageEntry>,
    /// Network filesystems mounted on this node (managed via the API).
    #[serde(default)]
    pub network_mounts: Vec<NetworkMount>,
    /// Soft-disabled by an administrator (`DELETE /api/nodes/{id}`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub disabled: bool,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Node liveness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum NodeStatus {
    Online,
    Offline,
    Degraded,
}

/// The agent's transfer endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransferInfo {
    /// Base URL, e.g. `http://10.0.0.5:7847`.
    pub endpoint: String,
    /// `http` in v1.
    pub protocol: String,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A filesystem that holds watch paths.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StorageEntry {
    /// Stable id (filesystem UUID where known, else the device).
    pub filesystem_id: String,
    /// Mount point.
    pub mount_point: String,
    /// `ext4`, `apfs`, …
    pub fs_type: String,
    /// Block device.
    #[serde(default)]
    pub device: String,
    /// Capacity in bytes.
    pub capacity_bytes: u64,
    /// Used bytes at the last refresh.
    pub used_bytes: u64,
    /// Watch paths on this filesystem.
    #[serde(default)]
    pub watch_paths_on_fs: Vec<String>,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A network filesystem through which this node reaches another node's files
/// (Tiers 2 and 3 of file access).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkMount {
    /// Short random id.
    pub mount_id: String,
    /// Whose files this mount exposes.
    pub remote_node_id: String,
    /// The export path on the remote node that the mount's root corresponds to.
    pub remote_base_export_path: String,
    /// Where it is mounted here.
    pub local_mount_path: String,
    /// `cifs`, `nfs`, `icloud_local`, `gdrive_local`.
    pub mount_type: String,
    /// Higher wins when several mounts cover a file.
    #[serde(default)]
    pub priority: i32,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

/// An access key. `_id` is `credential::{access_key_id}`. The secret is only
/// stored as an Argon2id hash. Never replicated to agents or browsers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CredentialDoc {
    /// `credential::{access_key_id}`.
    #[serde(rename = "_id")]
    pub id: String,
    /// CouchDB revision.
    #[serde(rename = "_rev", default, skip_serializing_if = "Option::is_none")]
    pub rev: Option<String>,
    /// Always `"credential"`.
    #[serde(rename = "type")]
    pub doc_type: CredentialTag,
    /// `MOSAICFS_{16 uppercase hex}`; safe to log.
    pub access_key_id: String,
    /// PHC string of the Argon2id hash of the secret (verifies logins).
    pub secret_key_hash: String,
    /// Hex of the request-signing key derived from the secret
    /// ([`crate::hmac::derive_signing_key`]); verifies HMAC-signed requests.
    /// The secret cannot be recovered from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hmac_key: Option<String>,
    /// Display name.
    pub name: String,
    /// Disabled credentials are rejected.
    pub enabled: bool,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last successful authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<Timestamp>,
    /// Scope; `full` in v1.
    #[serde(default)]
    pub permissions: CredentialPermissions,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Credential permissions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CredentialPermissions {
    /// `full` in v1.
    pub scope: String,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Default for CredentialPermissions {
    fn default() -> Self {
        CredentialPermissions {
            scope: "full".into(),
            extra: Extra::new(),
        }
    }
}
