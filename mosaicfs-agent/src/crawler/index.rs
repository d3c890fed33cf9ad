//! The crawler's in-memory index of this node's file documents, keyed by the
//! exact path bytes. Loaded once from CouchDB at start and kept current by the
//! writer, so a re-crawl of an unchanged tree costs a walk and a stat per file
//! and no database reads or writes.

use mosaicfs_common::couch::{CouchClient, CouchError};
use mosaicfs_common::documents::{FileDoc, FileStatus};
use mosaicfs_common::ids;
use std::collections::HashMap;

/// What the crawler needs to know about a stored file document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// Document id.
    pub id: String,
    /// Size at the last write.
    pub size: u64,
    /// mtime at the last write, as (seconds, nanoseconds) since the epoch.
    pub mtime: (i64, u32),
    /// Whether the document is active or deleted.
    pub status: FileStatus,
    /// The crawl generation that last saw the file on disk.
    pub seen_gen: u32,
}

/// Path bytes → entry.
#[derive(Debug, Default)]
pub struct FileIndex {
    entries: HashMap<Vec<u8>, IndexEntry>,
    /// Documents that could not be parsed while loading (logged, skipped).
    pub malformed: usize,
}

/// Page size for the initial load.
const LOAD_PAGE: usize = 5_000;

impl FileIndex {
    /// Loads every `file` document owned by `node_id` from `db`.
    pub async fn load(db: &CouchClient, node_id: &str) -> Result<FileIndex, CouchError> {
        let mut index = FileIndex::default();
        db.for_each_prefix_page(ids::FILE_PREFIX, LOAD_PAGE, true, |rows| {
            for row in rows {
                let Some(doc) = row.doc else { continue };
                let owned = doc
                    .get("source")
                    .and_then(|s| s.get("node_id"))
                    .and_then(|n| n.as_str())
                    == Some(node_id);
                if !owned {
                    continue;
                }
                match serde_json::from_value::<FileDoc>(doc) {
                    Ok(file) => {
                        let key = super::path_key_of_doc(&file);
                        index.entries.insert(key, entry_of(&file));
                    }
                    Err(e) => {
                        index.malformed += 1;
                        tracing::warn!(node_id, file_id = %row.id, error = %e,
                            operation = "load_index", "skipping malformed file document");
                    }
                }
            }
        })
        .await?;
        Ok(index)
    }

    /// The entry for a path.
    pub fn get(&self, key: &[u8]) -> Option<&IndexEntry> {
        self.entries.get(key)
    }

    /// Mutable entry for a path.
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut IndexEntry> {
        self.entries.get_mut(key)
    }

    /// Records the state of a document just written.
    pub fn insert(&mut self, key: Vec<u8>, entry: IndexEntry) {
        self.entries.insert(key, entry);
    }

    /// Number of documents known.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no documents are known.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Active entries not seen in generation `gen`.
    pub fn unseen_active(&self, generation: u32) -> impl Iterator<Item = (&Vec<u8>, &IndexEntry)> {
        self.entries
            .iter()
            .filter(move |(_, e)| e.status == FileStatus::Active && e.seen_gen != generation)
    }
}

/// The index entry for a document.
pub fn entry_of(file: &FileDoc) -> IndexEntry {
    IndexEntry {
        id: file.id.clone(),
        size: file.size,
        mtime: (file.mtime.timestamp(), file.mtime.timestamp_subsec_nanos()),
        status: file.status,
        seen_gen: 0,
    }
}
