//! The `file` document: one per file on a node, written only by the agent
//! that owns the file.

use super::{Extra, type_tag};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

type_tag!(
    /// `"type": "file"`.
    FileTag,
    "file"
);

/// One file on one node. `_id` is `file::{uuid-v7}`, assigned at creation and
/// stable for the file's life: renames and content changes update this
/// document in place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileDoc {
    /// `file::{uuid}`.
    #[serde(rename = "_id")]
    pub id: String,
    /// CouchDB revision; absent before the first write.
    #[serde(rename = "_rev", default, skip_serializing_if = "Option::is_none")]
    pub rev: Option<String>,
    /// Always `"file"`.
    #[serde(rename = "type")]
    pub doc_type: FileTag,
    /// Random 64-bit inode (≥ 1000), stable for the life of the document.
    pub inode: u64,
    /// File name, the last component of `source.export_path`.
    pub name: String,
    /// Where the file physically lives.
    pub source: FileSource,
    /// Size in bytes.
    pub size: u64,
    /// Last modification time, with nanoseconds.
    pub mtime: Timestamp,
    /// MIME type guessed from the extension, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// `active` or `deleted` (soft delete).
    pub status: FileStatus,
    /// When the crawler first noticed the file was gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<Timestamp>,
    /// When this document was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Timestamp>,
    /// When the crawler last wrote this document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Timestamp>,
    /// Present if the file moved here from another node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migrated_from: Option<MigratedFrom>,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Where a file lives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileSource {
    /// The owning node.
    pub node_id: String,
    /// Absolute path on the owning node. If the OS path is not valid UTF-8,
    /// each invalid byte sequence is replaced by U+FFFD here and the exact
    /// bytes are in `export_path_bytes`.
    pub export_path: String,
    /// The parent directory of `export_path` (no trailing `/`, except `/`).
    pub export_parent: String,
    /// Base64 (standard alphabet, padded) of the raw path bytes; present only
    /// when the path is not valid UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export_path_bytes: Option<String>,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

impl FileSource {
    /// The exact path bytes: `export_path_bytes` decoded when present
    /// (non-UTF-8 names), else `export_path`. `Err` when the stored bytes
    /// are not base64.
    pub fn path_bytes(&self) -> Result<Vec<u8>, base64::DecodeError> {
        self.path_bytes_ref().map(std::borrow::Cow::into_owned)
    }

    /// [`FileSource::path_bytes`] without a copy for a UTF-8 path (the
    /// common case; listings call it for every candidate).
    pub fn path_bytes_ref(&self) -> Result<std::borrow::Cow<'_, [u8]>, base64::DecodeError> {
        use base64::Engine;
        match &self.export_path_bytes {
            Some(b64) => base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map(std::borrow::Cow::Owned),
            None => Ok(std::borrow::Cow::Borrowed(self.export_path.as_bytes())),
        }
    }

    /// [`FileSource::path_bytes`] as an OS path.
    pub fn os_path(&self) -> Result<std::path::PathBuf, base64::DecodeError> {
        use std::os::unix::ffi::OsStrExt;
        Ok(std::ffi::OsStr::from_bytes(&self.path_bytes()?).into())
    }
}

/// Whether a file still exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileStatus {
    /// The file exists.
    Active,
    /// The file was removed from its node; the document is kept.
    Deleted,
}

/// Previous owner of a migrated file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MigratedFrom {
    /// Previous node.
    pub node_id: String,
    /// Previous path.
    pub export_path: String,
    /// When the migration happened.
    pub migrated_at: Timestamp,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(path: &str, bytes: Option<&str>) -> FileSource {
        FileSource {
            node_id: "n".into(),
            export_path: path.into(),
            export_parent: "/".into(),
            export_path_bytes: bytes.map(str::to_string),
            extra: Extra::default(),
        }
    }

    #[test]
    fn path_bytes_prefer_the_exact_bytes_and_refuse_bad_base64() {
        use std::os::unix::ffi::OsStrExt;
        assert_eq!(source("/a b", None).path_bytes().unwrap(), b"/a b");
        // "/x\xff" in base64; the lossy path differs.
        let s = source("/x\u{fffd}", Some("L3j/"));
        assert_eq!(s.path_bytes().unwrap(), b"/x\xff");
        assert_eq!(s.os_path().unwrap().as_os_str().as_bytes(), b"/x\xff");
        assert!(source("/x", Some("not base64!")).path_bytes().is_err());
    }
}
