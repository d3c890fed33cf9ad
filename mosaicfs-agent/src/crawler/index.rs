//! The crawler's in-memory index of this node's file documents, keyed by the
//! exact path bytes. Loaded once from CouchDB at start and kept current by the
//! writer, so a re-crawl of an unchanged tree costs a walk and a stat per file
//! and no database reads or writes. Ordered by path bytes so that everything
//! under a directory is one range (the watcher moves and deletes whole
//! directories).

use mosaicfs_common::couch::{ChangesQuery, CouchClient, CouchError};
use mosaicfs_common::documents::{FileDoc, FileStatus};
use mosaicfs_common::ids;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

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
    /// The document does not describe this path yet (the watcher moved the
    /// entry here and its write is pending or failed): the next look at the
    /// path writes it even if size and mtime match.
    pub stale: bool,
}

/// Path bytes → entry.
#[derive(Debug, Default)]
pub struct FileIndex {
    entries: BTreeMap<Vec<u8>, IndexEntry>,
    /// Documents that could not be parsed while loading (logged, skipped).
    pub malformed: usize,
    /// Successful writes of ours since the last catch-up (see `state.rs`).
    pub(crate) writes: u64,
}

/// Page size for the initial load.
const LOAD_PAGE: usize = 5_000;
/// Changes per `_changes` request when catching up.
const CATCH_UP_PAGE: u64 = 2_000;

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

    /// Forgets a path; returns what was recorded for it.
    pub fn remove(&mut self, key: &[u8]) -> Option<IndexEntry> {
        self.entries.remove(key)
    }

    /// The entries at `path` itself and below it (`path/…`), in key order.
    pub fn under(&self, path: &[u8]) -> Vec<(Vec<u8>, IndexEntry)> {
        let mut out = Vec::new();
        if let Some(e) = self.entries.get(path) {
            out.push((path.to_vec(), e.clone()));
        }
        let mut dir = path.to_vec();
        if !dir.ends_with(b"/") {
            dir.push(b'/');
        }
        for (k, e) in self.entries.range(dir.clone()..) {
            if !k.starts_with(&dir) {
                break;
            }
            out.push((k.clone(), e.clone()));
        }
        out
    }

    /// Every entry, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&Vec<u8>, &IndexEntry)> {
        self.entries.iter()
    }

    /// Applies the `_changes` feed of `db` after `since` (documents
    /// included) to the index, so that it describes the database as of the
    /// returned sequence: a file document of `node_id` replaces what is
    /// known for its id, anything else with that id (deleted, not ours, not
    /// parseable) removes it. Returns the sequence reached.
    pub async fn catch_up(
        &mut self,
        db: &CouchClient,
        node_id: &str,
        since: Value,
    ) -> Result<(Value, usize), CouchError> {
        let mut since = since;
        let mut applied = 0;
        // id → key, built on the first change (most catch-ups see none).
        let mut keys: Option<HashMap<String, Vec<u8>>> = None;
        loop {
            let page = db
                .changes(&ChangesQuery {
                    since: Some(since.clone()),
                    limit: Some(CATCH_UP_PAGE),
                    include_docs: true,
                    ..Default::default()
                })
                .await?;
            let n = page.results.len();
            for change in page.results {
                if !change.id.starts_with(ids::FILE_PREFIX) {
                    continue;
                }
                let keys = keys.get_or_insert_with(|| {
                    self.entries
                        .iter()
                        .map(|(k, e)| (e.id.clone(), k.clone()))
                        .collect()
                });
                self.apply_change(keys, change.id, change.deleted, change.doc, node_id);
                applied += 1;
            }
            since = page.last_seq;
            if (n as u64) < CATCH_UP_PAGE {
                self.writes = 0;
                return Ok((since, applied));
            }
        }
    }

    fn apply_change(
        &mut self,
        keys: &mut HashMap<String, Vec<u8>>,
        id: String,
        deleted: bool,
        doc: Option<Value>,
        node_id: &str,
    ) {
        let old_key = keys.remove(&id);
        let old = old_key.as_ref().and_then(|k| {
            (self.entries.get(k).map(|e| e.id == id) == Some(true))
                .then(|| self.entries.remove(k))
                .flatten()
        });
        let file = doc
            .filter(|d| {
                !deleted
                    && d.get("source")
                        .and_then(|s| s.get("node_id"))
                        .and_then(Value::as_str)
                        == Some(node_id)
            })
            .map(serde_json::from_value::<FileDoc>);
        let file = match file {
            Some(Ok(f)) => f,
            Some(Err(e)) => {
                self.malformed += 1;
                tracing::warn!(node_id, file_id = %id, error = %e,
                    operation = "load_index", "skipping malformed file document");
                return;
            }
            None => return,
        };
        let key = super::path_key_of_doc(&file);
        let mut entry = entry_of(&file);
        if let Some(old) = old.filter(|_| old_key.as_deref() == Some(key.as_slice())) {
            entry.seen_gen = old.seen_gen;
            entry.stale = old.stale;
        }
        // Two documents for one path (a deleted one and its successor): the
        // active one describes the path.
        if let Some(other) = self.entries.get(&key)
            && other.status == FileStatus::Active
            && entry.status != FileStatus::Active
        {
            return;
        }
        if let Some(other) = self.entries.get(&key) {
            keys.remove(&other.id);
        }
        keys.insert(id, key.clone());
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
        stale: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str) -> IndexEntry {
        IndexEntry {
            id: id.into(),
            size: 1,
            mtime: (0, 0),
            status: FileStatus::Active,
            seen_gen: 0,
            stale: false,
        }
    }

    #[test]
    fn under_takes_the_path_and_its_descendants_only() {
        let mut index = FileIndex::default();
        for (k, id) in [
            ("/w/a", "1"),
            ("/w/a/x", "2"),
            ("/w/a/y/z", "3"),
            ("/w/a-b", "4"),
            ("/w/ab", "5"),
            ("/w/b", "6"),
        ] {
            index.insert(k.as_bytes().to_vec(), entry(id));
        }
        let ids: Vec<String> = index
            .under(b"/w/a")
            .into_iter()
            .map(|(_, e)| e.id)
            .collect();
        assert_eq!(ids, ["1", "2", "3"]);
        assert_eq!(index.under(b"/w/c").len(), 0);
    }
}
