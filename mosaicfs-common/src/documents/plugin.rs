//! The `plugin` and `annotation` documents.

use super::{Extra, is_false, type_tag};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

type_tag!(
    /// `"type": "plugin"`.
    PluginTag,
    "plugin"
);
type_tag!(
    /// `"type": "annotation"`.
    AnnotationTag,
    "annotation"
);

/// One plugin configured on one node. `_id` is
/// `plugin::{node_id}::{plugin_name}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginDoc {
    /// `plugin::{node_id}::{plugin_name}`.
    #[serde(rename = "_id")]
    pub id: String,
    /// CouchDB revision.
    #[serde(rename = "_rev", default, skip_serializing_if = "Option::is_none")]
    pub rev: Option<String>,
    /// Always `"plugin"`.
    #[serde(rename = "type")]
    pub doc_type: PluginTag,
    /// The node that runs it.
    pub node_id: String,
    /// Executable name in the platform plugin directory.
    pub plugin_name: String,
    /// `executable` or `socket`.
    pub plugin_type: PluginType,
    /// Disabled plugins get no events.
    pub enabled: bool,
    /// Display name.
    pub name: String,
    /// Events delivered (`file.added`, `file.modified`, …).
    #[serde(default)]
    pub subscribed_events: Vec<String>,
    /// Only files whose MIME type matches one of these globs.
    #[serde(default)]
    pub mime_globs: Vec<String>,
    /// Passed verbatim in every event's `config`.
    #[serde(default)]
    pub config: Value,
    /// Concurrent workers (default 2).
    #[serde(default = "default_workers")]
    pub workers: u32,
    /// Seconds before an invocation is abandoned (default 60).
    #[serde(default = "default_timeout")]
    pub timeout_s: u32,
    /// Attempts before a job fails permanently (default 3).
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// Query endpoints this plugin serves.
    #[serde(default)]
    pub query_endpoints: Vec<QueryEndpoint>,
    /// JSON-Schema subset describing user settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings_schema: Option<Value>,
    /// User settings; merged over `config` at invocation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<Value>,
    /// The plugin is this (bridge) node's filesystem.
    #[serde(default, skip_serializing_if = "is_false")]
    pub provides_filesystem: bool,
    /// Export path prefix owned by a filesystem plugin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_path_prefix: Option<String>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

fn default_workers() -> u32 {
    2
}
fn default_timeout() -> u32 {
    60
}
fn default_attempts() -> u32 {
    3
}

/// Plugin invocation model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum PluginType {
    Executable,
    Socket,
}

/// A query endpoint a plugin serves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryEndpoint {
    /// Internal name, e.g. `search`.
    pub name: String,
    /// Capability satisfied, e.g. `search`.
    pub capability: String,
    /// Shown in the UI.
    #[serde(default)]
    pub description: String,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

/// What a plugin said about a file. `_id` is
/// `annotation::{file_uuid}::{plugin_name}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnnotationDoc {
    /// `annotation::{file_uuid}::{plugin_name}`.
    #[serde(rename = "_id")]
    pub id: String,
    /// CouchDB revision.
    #[serde(rename = "_rev", default, skip_serializing_if = "Option::is_none")]
    pub rev: Option<String>,
    /// Always `"annotation"`.
    #[serde(rename = "type")]
    pub doc_type: AnnotationTag,
    /// The full file `_id`.
    pub file_id: String,
    /// The node whose plugin wrote it.
    pub source: AnnotationSource,
    /// The plugin (namespace of `data`).
    pub plugin_name: String,
    /// The plugin's output object, verbatim.
    #[serde(default)]
    pub data: Value,
    /// `ok` or `failed`.
    pub status: String,
    /// Last error when failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When the plugin produced it.
    pub annotated_at: Timestamp,
    /// Last write.
    pub updated_at: Timestamp,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Writer of an annotation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnnotationSource {
    /// The writing node.
    pub node_id: String,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Extra,
}
