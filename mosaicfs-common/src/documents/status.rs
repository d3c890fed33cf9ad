//! The `agent_status` and `utilization_snapshot` documents.

use super::{Extra, type_tag};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

type_tag!(
    /// `"type": "agent_status"`.
    AgentStatusTag,
    "agent_status"
);
type_tag!(
    /// `"type": "utilization_snapshot"`.
    UtilizationTag,
    "utilization_snapshot"
);

/// An agent's operational picture. `_id` is `status::{node_id}`; rewritten
/// in place by its agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentStatusDoc {
    /// `status::{node_id}`.
    #[serde(rename = "_id")]
    pub id: String,
    /// CouchDB revision.
    #[serde(rename = "_rev", default, skip_serializing_if = "Option::is_none")]
    pub rev: Option<String>,
    /// Always `"agent_status"`.
    #[serde(rename = "type")]
    pub doc_type: AgentStatusTag,
    /// The node described.
    pub node_id: String,
    /// Last update.
    pub updated_at: Timestamp,
    /// `healthy`, `degraded` or `unhealthy`.
    pub overall: String,
    /// Per subsystem (`crawler`, `watcher`, `replication`, `cache`, `transfer`).
    #[serde(default)]
    pub subsystems: BTreeMap<String, SubsystemStatus>,
    /// The last 50 errors, newest last.
    #[serde(default)]
    pub recent_errors: Vec<RecentError>,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

/// One subsystem's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubsystemStatus {
    /// `ok`, `degraded`, `error` or `idle`.
    pub status: String,
    /// Free-form detail, e.g. the last crawl summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Subsystem-specific figures (counts, timestamps).
    #[serde(flatten)]
    pub extra: Extra,
}

/// An error kept for display.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecentError {
    /// When.
    pub time: Timestamp,
    /// Which subsystem.
    pub subsystem: String,
    /// `warn` or `error`.
    pub level: String,
    /// What happened.
    pub message: String,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Hourly storage figures, never updated in place. `_id` is
/// `utilization::{node_id}::{YYYY-MM-DDTHH:00:00Z}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UtilizationSnapshotDoc {
    /// `utilization::{node_id}::{hour}`.
    #[serde(rename = "_id")]
    pub id: String,
    /// CouchDB revision.
    #[serde(rename = "_rev", default, skip_serializing_if = "Option::is_none")]
    pub rev: Option<String>,
    /// Always `"utilization_snapshot"`.
    #[serde(rename = "type")]
    pub doc_type: UtilizationTag,
    /// The node measured.
    pub node_id: String,
    /// When measured.
    pub captured_at: Timestamp,
    /// One entry per filesystem (physical nodes).
    #[serde(default)]
    pub filesystems: Vec<FilesystemUtilization>,
    /// Cloud usage (bridge nodes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud: Option<CloudUtilization>,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Usage of one filesystem.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FilesystemUtilization {
    /// Joins to `node.storage[].filesystem_id`.
    pub filesystem_id: String,
    /// Mount point at capture time.
    pub mount_point: String,
    /// Used bytes.
    pub used_bytes: u64,
    /// Available bytes.
    pub available_bytes: u64,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Usage of a cloud service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CloudUtilization {
    /// Bytes used.
    pub used_bytes: u64,
    /// Quota, if the service has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota_bytes: Option<u64>,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Extra,
}
