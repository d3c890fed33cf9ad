//! The `virtual_directory` document: a directory of the virtual namespace and
//! the mount sources that decide what appears in it.

use super::{Extra, is_false, type_tag};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

type_tag!(
    /// `"type": "virtual_directory"`.
    VirtualDirectoryTag,
    "virtual_directory"
);

/// A virtual directory. `_id` is `dir::root` for `/`, else
/// `dir::{sha256_hex(virtual_path)}`, so creation is idempotent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VirtualDirectoryDoc {
    /// `dir::root` or `dir::{sha256}`.
    #[serde(rename = "_id")]
    pub id: String,
    /// CouchDB revision.
    #[serde(rename = "_rev", default, skip_serializing_if = "Option::is_none")]
    pub rev: Option<String>,
    /// Always `"virtual_directory"`.
    #[serde(rename = "type")]
    pub doc_type: VirtualDirectoryTag,
    /// 1 for the root, else random ≥ 1000.
    pub inode: u64,
    /// Absolute virtual path, e.g. `/documents/work`; `/` for the root.
    pub virtual_path: String,
    /// Last path component (`""` for the root).
    pub name: String,
    /// Parent virtual path; absent for the root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_path: Option<String>,
    /// System directories (the root) cannot be deleted.
    #[serde(default, skip_serializing_if = "is_false")]
    pub system: bool,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change through the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Timestamp>,
    /// When true, this directory's mount steps are prepended to every mount
    /// evaluation in all descendants.
    #[serde(default)]
    pub enforce_steps_on_children: bool,
    /// Ordered mount sources.
    #[serde(default)]
    pub mounts: Vec<MountEntry>,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

/// One source of files for a directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MountEntry {
    /// Short random id, unique within the directory.
    pub mount_id: String,
    /// Which node and path to take files from.
    pub source: MountSource,
    /// How source paths map to names in this directory.
    pub strategy: Strategy,
    /// Prefix stripped from `export_path` by `prefix_replace`; defaults to
    /// `source.export_path`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_prefix: Option<String>,
    /// Filter steps, evaluated after inherited ancestor steps.
    #[serde(default)]
    pub steps: Vec<Step>,
    /// Result when no step short-circuits.
    #[serde(default = "StepResult::include")]
    pub default_result: StepResult,
    /// What to do when two files map to one name.
    #[serde(default)]
    pub conflict_policy: ConflictPolicy,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A mount's source: a node (or `*` for all nodes) and a directory on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MountSource {
    /// A node id, or `*` for every node.
    pub node_id: String,
    /// Absolute directory on that node; files at any depth below it are
    /// candidates.
    pub export_path: String,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Mapping strategy of a mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Strip `source_prefix` and keep the remaining hierarchy.
    PrefixReplace,
    /// Put every matching file directly in this directory.
    Flatten,
}

/// Name-collision policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictPolicy {
    /// The most recently modified file wins the name.
    #[default]
    LastWriteWins,
    /// Both files appear; colliding names get `~{node_id}` before the
    /// extension. This is the conservative policy and wins across mounts.
    SuffixNodeId,
}

/// Outcome of a step or of a whole pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepResult {
    /// The file is listed.
    Include,
    /// The file is not listed.
    Exclude,
}

impl StepResult {
    fn include() -> Self {
        StepResult::Include
    }
}

/// One filter step as stored. This is the raw form: parameters are kept as
/// written and validated (compiled) by the rule engine, which rejects a step
/// whose op is unknown or whose parameters do not fit its op.
///
/// | op | parameters |
/// |---|---|
/// | `glob` | `pattern` (matched against the path relative to the mount) |
/// | `regex` | `pattern` (matched against the file name) |
/// | `age` | `max_days` and/or `min_days` (on `mtime`) |
/// | `size` | `min` and/or `max`, e.g. `"10MB"` |
/// | `mime` | `types`, e.g. `["image/*"]` |
/// | `node` | `node_ids` |
/// | `label` | `labels` (any of) |
/// | `annotation` | `plugin_name`, `key`, optional `value` |
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// The operation name.
    pub op: StepOp,
    /// Invert the match.
    #[serde(default, skip_serializing_if = "is_false")]
    pub invert: bool,
    /// When the (possibly inverted) step matches, stop and return this.
    /// Without it, a non-matching step excludes and a matching one continues.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_match: Option<StepResult>,
    /// `glob` and `regex`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// `age`: at most this many days old.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_days: Option<f64>,
    /// `age`: at least this many days old.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_days: Option<f64>,
    /// `size`: lower bound with unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<Value>,
    /// `size`: upper bound with unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<Value>,
    /// `mime`: MIME globs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub types: Option<Vec<String>>,
    /// `node`: node ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_ids: Option<Vec<String>>,
    /// `label`: labels, any of which matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
    /// `annotation`: the plugin namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_name: Option<String>,
    /// `annotation`: the key in the annotation's `data`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// `annotation`: the expected value (absent: the key exists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Step operations. An op this version does not know parses as
/// [`StepOp::Unknown`] so the document survives a read-modify-write; the
/// rule engine refuses to evaluate it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum StepOp {
    Glob,
    Regex,
    Age,
    Size,
    Mime,
    Node,
    Label,
    Annotation,
    /// Any other op name, kept verbatim.
    #[serde(untagged)]
    Unknown(String),
}

impl Step {
    /// A step with only its op set.
    pub fn new(op: StepOp) -> Step {
        Step {
            op,
            invert: false,
            on_match: None,
            pattern: None,
            max_days: None,
            min_days: None,
            min: None,
            max: None,
            types: None,
            node_ids: None,
            labels: None,
            plugin_name: None,
            key: None,
            value: None,
            extra: Extra::new(),
        }
    }
}
