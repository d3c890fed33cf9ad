//! The `notification` document.

use super::{Extra, type_tag};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

type_tag!(
    /// `"type": "notification"`.
    NotificationTag,
    "notification"
);

/// A condition that needs the user's attention. `_id` is
/// `notification::{source_id}::{condition_key}`, so a recurring condition
/// updates one document instead of piling up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationDoc {
    /// `notification::{source_id}::{condition_key}`.
    #[serde(rename = "_id")]
    pub id: String,
    /// CouchDB revision.
    #[serde(rename = "_rev", default, skip_serializing_if = "Option::is_none")]
    pub rev: Option<String>,
    /// Always `"notification"`.
    #[serde(rename = "type")]
    pub doc_type: NotificationTag,
    /// Who raised it.
    pub source: NotificationSource,
    /// `info`, `warning` or `error`.
    pub severity: NotificationSeverity,
    /// `active`, `resolved` or `acknowledged`.
    pub status: NotificationStatus,
    /// Short title.
    pub title: String,
    /// Full sentence(s).
    pub message: String,
    /// Buttons offered to the user.
    #[serde(default)]
    pub actions: Vec<NotificationAction>,
    /// Stable condition id (also in `_id`).
    pub condition_key: String,
    /// First occurrence.
    pub first_seen: Timestamp,
    /// Latest occurrence.
    pub last_seen: Timestamp,
    /// Occurrences since `first_seen`.
    #[serde(default = "one")]
    pub occurrence_count: u64,
    /// When acknowledged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_at: Option<Timestamp>,
    /// When resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<Timestamp>,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

fn one() -> u64 {
    1
}

/// Origin of a notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationSource {
    /// A node id or `control_plane`.
    pub node_id: String,
    /// `crawler`, `replication`, `plugin:{name}`, …
    pub component: String,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum NotificationSeverity {
    Info,
    Warning,
    Error,
}

/// Lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum NotificationStatus {
    Active,
    Resolved,
    Acknowledged,
}

/// A button: a label and the API call it makes (`"POST /api/..."`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationAction {
    /// Button text.
    pub label: String,
    /// Method and path.
    pub api: String,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Extra,
}
