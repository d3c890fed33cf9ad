//! The `node` and `credential` documents.

use super::{Extra, is_false, type_tag};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

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
/// The control plane owns the fields in [`CONTROL_PLANE_FIELDS`]; the agent
/// owns every other field (see [`merge_node_revisions`]).
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
    /// When the control plane last wrote one of its fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_updated_at: Option<Timestamp>,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Stamp the control plane sets on every write of its fields of a node
/// document; the agent copies it unchanged.
pub const CONTROL_UPDATED_AT: &str = "control_updated_at";

/// Fields of a node document that only the control plane writes (the agent
/// writes `friendly_name` only when it creates the document). Every other
/// field belongs to the agent.
pub const CONTROL_PLANE_FIELDS: [&str; 5] = [
    "friendly_name",
    "network_mounts",
    "disabled",
    "reindex_requested_at",
    CONTROL_UPDATED_AT,
];

fn stamp(doc: &Value, field: &str) -> Option<Timestamp> {
    let text = doc.get(field)?.as_str()?;
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// Index of the first revision with the greatest `key` (so ties go to the
/// earliest, i.e. CouchDB's winner when it is passed first).
fn newest<K: Ord>(revisions: &[Value], key: impl Fn(&Value) -> K) -> usize {
    let mut best = 0;
    for i in 1..revisions.len() {
        if key(&revisions[i]) > key(&revisions[best]) {
            best = i;
        }
    }
    best
}

/// Merges conflicting revisions of one node document by field ownership.
/// `revisions` holds CouchDB's winner first, then the other leaves; the
/// answer carries the winner's `_id` and `_rev` (no `_conflicts`), ready to
/// be written over the winner while the other leaves are deleted.
///
/// - The agent's fields (everything not in [`CONTROL_PLANE_FIELDS`], unknown
///   fields included) come from the revision with the newest
///   `last_heartbeat`; on a tie, from the one with the oldest
///   `control_updated_at` (the agent's own, not the control plane's copy of
///   it), then the earliest.
/// - The control plane's fields come from the revision with the newest
///   `control_updated_at` (a field absent there is absent in the merge); if
///   no revision has the stamp, the control plane never wrote and the
///   agent's revision is kept as it is.
/// - `reindex_requested_at` is a request: the newest value of any revision
///   wins, so a request is never lost to an older one.
///
/// Revisions that are not objects are ignored; `None` if none is.
pub fn merge_node_revisions(revisions: &[Value]) -> Option<Value> {
    let revs: Vec<Value> = revisions
        .iter()
        .filter(|r| r.is_object())
        .cloned()
        .collect();
    let winner = revs.first()?;
    let agent = newest(&revs, |r| {
        (
            stamp(r, "last_heartbeat"),
            std::cmp::Reverse(stamp(r, CONTROL_UPDATED_AT)),
        )
    });
    let mut merged: Map<String, Value> = revs[agent].as_object()?.clone();
    let control = newest(&revs, |r| stamp(r, CONTROL_UPDATED_AT));
    if stamp(&revs[control], CONTROL_UPDATED_AT).is_some() {
        let from = revs[control].as_object()?;
        for field in CONTROL_PLANE_FIELDS {
            match from.get(field) {
                Some(v) => merged.insert(field.into(), v.clone()),
                None if field == "friendly_name" => None,
                None => merged.remove(field),
            };
        }
    }
    let request = newest(&revs, |r| stamp(r, "reindex_requested_at"));
    if stamp(&revs[request], "reindex_requested_at").is_some() {
        merged.insert(
            "reindex_requested_at".into(),
            revs[request]["reindex_requested_at"].clone(),
        );
    }
    for key in ["_id", "_rev"] {
        match winner.get(key) {
            Some(v) => merged.insert(key.into(), v.clone()),
            None => merged.remove(key),
        };
    }
    merged.remove("_conflicts");
    Some(Value::Object(merged))
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn agent_rev(rev: &str, heartbeat: &str) -> Value {
        json!({
            "_id": "node::n", "_rev": rev, "type": "node", "node_id": "n",
            "friendly_name": "Box", "status": "online", "last_heartbeat": heartbeat,
            "storage": [{"agent": rev}], "network_mounts": [], "unknown": rev,
        })
    }

    #[test]
    fn a_request_written_on_the_control_plane_survives_a_newer_heartbeat() {
        // The agent's branch won (it is longer), the request is on the loser.
        let winner = agent_rev("5-a", "2026-01-01T00:00:05Z");
        let mut request = agent_rev("4-c", "2026-01-01T00:00:01Z");
        request["reindex_requested_at"] = json!("2026-01-01T00:00:03Z");
        request[CONTROL_UPDATED_AT] = json!("2026-01-01T00:00:03Z");
        let m = merge_node_revisions(&[winner.clone(), request]).unwrap();
        assert_eq!(m["_rev"], "5-a");
        assert_eq!(m["last_heartbeat"], "2026-01-01T00:00:05Z");
        assert_eq!(m["unknown"], "5-a", "unknown fields follow the agent");
        assert_eq!(m["reindex_requested_at"], "2026-01-01T00:00:03Z");
        assert_eq!(m[CONTROL_UPDATED_AT], "2026-01-01T00:00:03Z");
    }

    #[test]
    fn each_side_keeps_its_own_fields() {
        // The control plane's branch won; it disabled the node, renamed it
        // and removed a mount, while the agent heartbeat twice.
        let mut cp = agent_rev("6-b", "2026-01-01T00:00:01Z");
        cp["disabled"] = json!(true);
        cp["friendly_name"] = json!("Renamed");
        cp[CONTROL_UPDATED_AT] = json!("2026-01-01T00:00:04Z");
        let mut agent = agent_rev("6-a", "2026-01-01T00:00:09Z");
        agent["network_mounts"] = json!([{"mount_id": "old"}]);
        agent[CONTROL_UPDATED_AT] = json!("2026-01-01T00:00:00Z");
        agent["reindex_requested_at"] = json!("2025-12-31T00:00:00Z");
        let m = merge_node_revisions(&[cp, agent]).unwrap();
        assert_eq!(m["_rev"], "6-b");
        assert_eq!(m["last_heartbeat"], "2026-01-01T00:00:09Z");
        assert_eq!(m["storage"], json!([{"agent": "6-a"}]));
        assert_eq!(m["disabled"], true);
        assert_eq!(m["friendly_name"], "Renamed");
        assert_eq!(m["network_mounts"], json!([]));
        assert_eq!(
            m["reindex_requested_at"], "2025-12-31T00:00:00Z",
            "a request is kept even when the newest control revision lacks it"
        );
    }

    #[test]
    fn re_enabling_removes_the_flag_and_fractional_stamps_compare_as_times() {
        let mut old = agent_rev("3-a", "2026-01-01T00:00:05Z");
        old["disabled"] = json!(true);
        old[CONTROL_UPDATED_AT] = json!("2026-01-01T00:00:02Z");
        // As strings "…02Z" > "…02.5Z"; as times it is older.
        let mut new = agent_rev("3-b", "2026-01-01T00:00:01Z");
        new[CONTROL_UPDATED_AT] = json!("2026-01-01T00:00:02.5Z");
        let m = merge_node_revisions(&[old, new]).unwrap();
        assert!(m.get("disabled").is_none(), "{m}");
        assert_eq!(m["last_heartbeat"], "2026-01-01T00:00:05Z");
    }

    #[test]
    fn a_heartbeat_tie_goes_to_the_revision_the_control_plane_did_not_write() {
        // The control plane copied the agent's state at heartbeat 5, then the
        // agent rewrote `storage` without a new heartbeat.
        let mut cp = agent_rev("4-b", "2026-01-01T00:00:05Z");
        cp[CONTROL_UPDATED_AT] = json!("2026-01-01T00:00:06Z");
        cp["friendly_name"] = json!("New");
        let agent = agent_rev("4-a", "2026-01-01T00:00:05Z");
        let m = merge_node_revisions(&[cp, agent]).unwrap();
        assert_eq!(m["storage"], json!([{"agent": "4-a"}]));
        assert_eq!(m["friendly_name"], "New");
    }

    #[test]
    fn without_control_plane_writes_the_agent_revision_is_kept_and_junk_is_ignored() {
        let a = agent_rev("2-a", "2026-01-01T00:00:01Z");
        let mut b = agent_rev("2-b", "not a time");
        b["friendly_name"] = json!("Other");
        let m = merge_node_revisions(&[json!("junk"), b, a, json!(null)]).unwrap();
        assert_eq!(m["_rev"], "2-b", "the first object stands for the winner");
        assert_eq!(m["friendly_name"], "Box");
        assert_eq!(m["unknown"], "2-a");
        assert!(merge_node_revisions(&[json!(1)]).is_none());
        assert!(merge_node_revisions(&[]).is_none());
    }
}
