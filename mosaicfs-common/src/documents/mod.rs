//! The eleven CouchDB document types of MosaicFS v1.
//!
//! Every struct:
//! - carries `_id`, `_rev` (absent before the first write) and a `type` tag
//!   that must match, so a document of one type never parses as another;
//! - keeps unknown fields in `extra` (`#[serde(flatten)]`) and writes them
//!   back, so a read-modify-write by an older program preserves fields that a
//!   newer one added. Nested objects that may grow do the same.
//!
//! Field meanings and `_id` formats are specified in `docs/architecture.md`;
//! the tests at the bottom of this module round-trip each type.

mod file;
mod labels;
mod node;
mod notification;
mod plugin;
mod status;
mod vdir;

pub use file::{FileDoc, FileSource, FileStatus, MigratedFrom};
pub use labels::{LabelAssignmentDoc, LabelRuleDoc};
pub use node::{
    CONTROL_PLANE_FIELDS, CONTROL_UPDATED_AT, CredentialDoc, CredentialPermissions, NetworkMount,
    NodeDoc, NodeStatus, StorageEntry, TransferInfo, merge_node_revisions,
};
pub use notification::{
    NotificationAction, NotificationDoc, NotificationSeverity, NotificationSource,
    NotificationStatus,
};
pub use plugin::{AnnotationDoc, AnnotationSource, PluginDoc, PluginType, QueryEndpoint};
pub use status::{
    AgentStatusDoc, CloudUtilization, FilesystemUtilization, RecentError, SubsystemStatus,
    UtilizationSnapshotDoc,
};
pub use vdir::{
    ConflictPolicy, MountEntry, MountSource, Step, StepOp, StepResult, Strategy,
    VirtualDirectoryDoc,
};

use serde_json::{Map, Value};

/// Inode of the root virtual directory.
pub const ROOT_INODE: u64 = 1;
/// The first inode handed out to files and directories; 2–999 are reserved.
pub const FIRST_ASSIGNED_INODE: u64 = 1000;

/// Unknown fields of a document or nested object, preserved verbatim.
pub type Extra = Map<String, Value>;

macro_rules! type_tag {
    ($(#[$meta:meta])* $name:ident, $value:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct $name;

        impl $name {
            /// The value of the `type` field.
            pub const VALUE: &'static str = $value;
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str($value)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
                if s == $value {
                    Ok($name)
                } else {
                    Err(serde::de::Error::custom(format_args!(
                        "expected type {:?}, found {:?}",
                        $value, s
                    )))
                }
            }
        }
    };
}
pub(crate) use type_tag;

/// Any MosaicFS document, dispatched on its `type` field.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub enum Document {
    File(FileDoc),
    VirtualDirectory(VirtualDirectoryDoc),
    Node(NodeDoc),
    Credential(CredentialDoc),
    AgentStatus(AgentStatusDoc),
    UtilizationSnapshot(UtilizationSnapshotDoc),
    LabelAssignment(LabelAssignmentDoc),
    LabelRule(LabelRuleDoc),
    Plugin(PluginDoc),
    Annotation(AnnotationDoc),
    Notification(NotificationDoc),
}

/// Why a JSON value is not a usable MosaicFS document.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    /// The value has no string `type` field (design documents, foreign data).
    #[error("document {id:?} has no string `type` field")]
    NoType {
        /// The `_id`, if any.
        id: Option<String>,
    },
    /// The `type` is not one this version knows.
    #[error("document {id:?} has unknown type {doc_type:?}")]
    UnknownType {
        /// The `_id`, if any.
        id: Option<String>,
        /// The unknown type.
        doc_type: String,
    },
    /// A known type whose fields do not parse.
    #[error("document {id:?} of type {doc_type:?} is malformed: {source}")]
    Malformed {
        /// The `_id`, if any.
        id: Option<String>,
        /// The document type.
        doc_type: String,
        /// The serde error, which names the field.
        source: serde_json::Error,
    },
}

impl Document {
    /// Parses a document received from CouchDB, dispatching on `type`.
    pub fn from_value(value: Value) -> Result<Document, DocumentError> {
        let id = value.get("_id").and_then(Value::as_str).map(str::to_owned);
        let Some(doc_type) = value.get("type").and_then(Value::as_str).map(str::to_owned) else {
            return Err(DocumentError::NoType { id });
        };
        fn parse<T: serde::de::DeserializeOwned>(
            v: Value,
            id: Option<String>,
            doc_type: &str,
        ) -> Result<T, DocumentError> {
            serde_json::from_value(v).map_err(|source| DocumentError::Malformed {
                id,
                doc_type: doc_type.to_owned(),
                source,
            })
        }
        let t = doc_type.as_str();
        Ok(match t {
            "file" => Document::File(parse(value, id, t)?),
            "virtual_directory" => Document::VirtualDirectory(parse(value, id, t)?),
            "node" => Document::Node(parse(value, id, t)?),
            "credential" => Document::Credential(parse(value, id, t)?),
            "agent_status" => Document::AgentStatus(parse(value, id, t)?),
            "utilization_snapshot" => Document::UtilizationSnapshot(parse(value, id, t)?),
            "label_assignment" => Document::LabelAssignment(parse(value, id, t)?),
            "label_rule" => Document::LabelRule(parse(value, id, t)?),
            "plugin" => Document::Plugin(parse(value, id, t)?),
            "annotation" => Document::Annotation(parse(value, id, t)?),
            "notification" => Document::Notification(parse(value, id, t)?),
            _ => return Err(DocumentError::UnknownType { id, doc_type }),
        })
    }

    /// Serializes back to the JSON stored in CouchDB.
    pub fn to_value(&self) -> Value {
        let r = match self {
            Document::File(d) => serde_json::to_value(d),
            Document::VirtualDirectory(d) => serde_json::to_value(d),
            Document::Node(d) => serde_json::to_value(d),
            Document::Credential(d) => serde_json::to_value(d),
            Document::AgentStatus(d) => serde_json::to_value(d),
            Document::UtilizationSnapshot(d) => serde_json::to_value(d),
            Document::LabelAssignment(d) => serde_json::to_value(d),
            Document::LabelRule(d) => serde_json::to_value(d),
            Document::Plugin(d) => serde_json::to_value(d),
            Document::Annotation(d) => serde_json::to_value(d),
            Document::Notification(d) => serde_json::to_value(d),
        };
        // Our types hold only strings, numbers, maps and vectors with string
        // keys, for which serialization cannot fail.
        r.unwrap_or(Value::Null)
    }
}

pub(crate) fn is_false(b: &bool) -> bool {
    !*b
}

#[cfg(test)]
mod tests;
