//! The `label_assignment` and `label_rule` documents. The crawler never reads
//! or writes them, so labels survive re-indexing.

use super::{Extra, type_tag};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

type_tag!(
    /// `"type": "label_assignment"`.
    LabelAssignmentTag,
    "label_assignment"
);
type_tag!(
    /// `"type": "label_rule"`.
    LabelRuleTag,
    "label_rule"
);

/// Labels attached directly to one file. `_id` is `label_file::{file_uuid}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelAssignmentDoc {
    /// `label_file::{file_uuid}`.
    #[serde(rename = "_id")]
    pub id: String,
    /// CouchDB revision.
    #[serde(rename = "_rev", default, skip_serializing_if = "Option::is_none")]
    pub rev: Option<String>,
    /// Always `"label_assignment"`.
    #[serde(rename = "type")]
    pub doc_type: LabelAssignmentTag,
    /// The full file `_id`.
    pub file_id: String,
    /// Labels, in the order the user gave them, without duplicates.
    pub labels: Vec<String>,
    /// Last change.
    pub updated_at: Timestamp,
    /// Access key id (or `user`) of the last writer.
    #[serde(default)]
    pub updated_by: String,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Labels applied to every file under a path prefix on a node (or all nodes).
/// `_id` is `label_rule::{uuid}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelRuleDoc {
    /// `label_rule::{uuid}`.
    #[serde(rename = "_id")]
    pub id: String,
    /// CouchDB revision.
    #[serde(rename = "_rev", default, skip_serializing_if = "Option::is_none")]
    pub rev: Option<String>,
    /// Always `"label_rule"`.
    #[serde(rename = "type")]
    pub doc_type: LabelRuleTag,
    /// A node id or `*`.
    pub node_id: String,
    /// Matched against `source.export_path`; ends with `/`.
    pub path_prefix: String,
    /// Labels applied.
    pub labels: Vec<String>,
    /// Display name.
    pub name: String,
    /// Disabled rules are ignored.
    pub enabled: bool,
    /// Creation time.
    pub created_at: Timestamp,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Extra,
}
