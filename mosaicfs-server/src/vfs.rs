//! HTTP side of the readdir service behind `GET /api/vfs` and the preview
//! endpoint: error mapping and JSON rendering. The service itself (resolve,
//! ancestors, evaluation with the label cache, the 5 s readdir cache) lives
//! in [`mosaicfs_index::readdir`], shared with the FUSE backend.

use crate::error::ApiError;
use axum::http::StatusCode;
use bytes::Bytes;
use mosaicfs_common::documents::VirtualDirectoryDoc;
use mosaicfs_common::names;
use mosaicfs_common::rules::readdir::Entry;
use mosaicfs_index::Index;
use serde::Serialize;
use std::borrow::Cow;

pub use mosaicfs_index::readdir::{
    CACHE_TTL, Listing, ReaddirCache, ReaddirError, Resolved, ancestors, evaluate, resolve,
};

impl From<ReaddirError> for ApiError {
    fn from(e: ReaddirError) -> ApiError {
        match &e {
            ReaddirError::NotFound(_) => ApiError::not_found(e.to_string()),
            ReaddirError::BadChain { .. } => ApiError::bad_request(e.to_string()),
            ReaddirError::Invalid { .. } => ApiError {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                code: "invalid_directory",
                message: e.to_string(),
                retry_after: None,
            },
            ReaddirError::NotReady => ApiError {
                retry_after: Some(1),
                ..ApiError::unavailable(e.to_string())
            },
            ReaddirError::Index(_) => ApiError::internal(&e),
        }
    }
}

/// A listing entry as answered. Names and paths are bytes: `name` and
/// `virtual_path` are their lossy UTF-8 form, and `name_bytes` /
/// `virtual_path_bytes` the exact bytes in base64, present only when the
/// text is not exact (see [`mosaicfs_common::names`]).
#[derive(Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EntryOut<'a> {
    /// A file.
    File {
        /// Name in this directory (lossy UTF-8).
        name: Cow<'a, str>,
        /// The exact name, base64; only when `name` is not exact.
        #[serde(skip_serializing_if = "Option::is_none")]
        name_bytes: Option<String>,
        /// File document id.
        file_id: &'a str,
        /// Inode.
        inode: u64,
        /// Bytes.
        size: u64,
        /// Modification time (RFC 3339).
        mtime: String,
        /// Owning node.
        node_id: &'a str,
    },
    /// A directory.
    Directory {
        /// Name in this directory (lossy UTF-8).
        name: Cow<'a, str>,
        /// The exact name, base64; only when `name` is not exact.
        #[serde(skip_serializing_if = "Option::is_none")]
        name_bytes: Option<String>,
        /// Inode.
        inode: u64,
        /// Full virtual path (lossy UTF-8).
        virtual_path: Cow<'a, str>,
        /// The exact virtual path, base64; only when `virtual_path` is not
        /// exact. Pass it back as `GET /api/vfs?path_bytes=`.
        #[serde(skip_serializing_if = "Option::is_none")]
        virtual_path_bytes: Option<String>,
        /// Made by a `prefix_replace` mount (no document).
        synthesized: bool,
    },
}

impl<'a> From<&'a Entry> for EntryOut<'a> {
    fn from(e: &'a Entry) -> EntryOut<'a> {
        match e {
            Entry::File {
                name,
                file_id,
                inode,
                size,
                mtime,
                node_id,
            } => EntryOut::File {
                name: names::lossy(name),
                name_bytes: names::exact_field(name),
                file_id,
                inode: *inode,
                size: *size,
                mtime: mosaicfs_common::time::format(mtime),
                node_id,
            },
            Entry::Directory {
                name,
                inode,
                virtual_path,
                synthesized,
            } => EntryOut::Directory {
                name: names::lossy(name),
                name_bytes: names::exact_field(name),
                inode: *inode,
                virtual_path: names::lossy(virtual_path),
                virtual_path_bytes: names::exact_field(virtual_path),
                synthesized: *synthesized,
            },
        }
    }
}

/// The answer of a listing or a preview.
#[derive(Debug, Serialize)]
pub struct ListingOut<'a> {
    /// The listed path (lossy UTF-8).
    pub path: Cow<'a, str>,
    /// The exact listed path, base64; only when `path` is not exact.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_bytes: Option<String>,
    /// The directory document backing it (for a synthesized subdirectory,
    /// the directory whose mounts make it).
    pub directory: &'a VirtualDirectoryDoc,
    /// Whether `path` is a synthesized subdirectory.
    pub synthesized: bool,
    /// Number of entries.
    pub total: usize,
    /// Entries by name.
    pub entries: Vec<EntryOut<'a>>,
}

/// Serializes a listing.
pub fn render(
    path: &[u8],
    directory: &VirtualDirectoryDoc,
    synthesized: bool,
    entries: &[Entry],
) -> Bytes {
    let out = ListingOut {
        path: names::lossy(path),
        path_bytes: names::exact_field(path),
        directory,
        synthesized,
        total: entries.len(),
        entries: entries.iter().map(EntryOut::from).collect(),
    };
    // Serializing plain structs and strings cannot fail.
    Bytes::from(serde_json::to_vec(&out).unwrap_or_default())
}

/// The listing of `path` (exact bytes) as JSON bytes, from the readdir
/// cache when valid.
pub async fn readdir(
    index: &Index,
    cache: &ReaddirCache,
    path: &[u8],
) -> Result<Bytes, ReaddirError> {
    let l = mosaicfs_index::readdir::readdir(index, cache, path).await?;
    Ok(render(&l.path, &l.directory, l.synthesized, &l.entries))
}
