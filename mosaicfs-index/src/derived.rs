//! In-memory state derived from the index and updated in the same step as
//! each committed page: the label cache (every file's effective labels) and
//! the set of virtual directories. Because the follower updates both before
//! it publishes the page's sequence, a reader that waited for a sequence sees
//! rows, labels and directories of the same moment.

use crate::error::IndexError;
use crate::store::{self, Applied};
use mosaicfs_common::documents::{LabelRuleDoc, ROOT_INODE, VirtualDirectoryDoc};
use mosaicfs_common::rules::labels::LabelCache;
use rusqlite::Connection;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The last epoch given to a loaded [`Derived`].
static EPOCHS: AtomicU64 = AtomicU64::new(0);

/// The label cache and the directory set.
#[derive(Debug, Default)]
pub struct Derived {
    labels: LabelCache,
    /// virtual path → document.
    dirs: HashMap<String, Arc<VirtualDirectoryDoc>>,
    /// document id → virtual path.
    dir_paths: HashMap<String, String>,
    /// Bumped whenever a directory or a label document changes.
    generation: u64,
    /// Bumped whenever a page with a file change is applied.
    files_generation: u64,
    /// Unique per load in this process: both generations restart at 0 with
    /// each load, so a generation means something only with its epoch.
    epoch: u64,
}

impl Derived {
    /// The label cache.
    pub fn labels(&self) -> &LabelCache {
        &self.labels
    }

    /// The directory document at `virtual_path`.
    pub fn directory(&self, virtual_path: &str) -> Option<&Arc<VirtualDirectoryDoc>> {
        self.dirs.get(virtual_path)
    }

    /// Every directory document, in no particular order.
    pub fn directories(&self) -> impl Iterator<Item = &Arc<VirtualDirectoryDoc>> {
        self.dirs.values()
    }

    /// The virtual path of the directory document whose `inode` is
    /// `inode`; the root directory answers to inode 1 whatever its document
    /// says (the FUSE root).
    pub fn directory_by_inode(&self, inode: u64) -> Option<String> {
        if inode == ROOT_INODE {
            return Some("/".to_string());
        }
        // A scan, like `children`: the directory set is small.
        self.dirs
            .values()
            .find(|d| d.inode == inode && d.virtual_path != "/")
            .map(|d| d.virtual_path.clone())
    }

    /// The directories whose `parent_path` is `virtual_path`.
    pub fn children(&self, virtual_path: &str) -> Vec<Arc<VirtualDirectoryDoc>> {
        // The directory set is small (hundreds): a scan is cheaper than
        // keeping a second map consistent.
        self.dirs
            .values()
            .filter(|d| d.parent_path.as_deref() == Some(virtual_path))
            .cloned()
            .collect()
    }

    /// Changes whenever a directory, label assignment or label rule changes
    /// (never for file documents); caches of evaluated listings key on it.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Changes whenever a file document is written or removed: a listing
    /// evaluated at the same value is still exact.
    pub fn files_generation(&self) -> u64 {
        self.files_generation
    }

    /// Tells this state from any other loaded in this process (see
    /// [`Derived::generation`]: generations restart with each load).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Builds the state from a stored index (at start, before following).
    pub(crate) fn load(conn: &Connection) -> Result<Derived, IndexError> {
        let mut d = Derived {
            epoch: EPOCHS.fetch_add(1, Ordering::Relaxed) + 1,
            ..Derived::default()
        };
        for dir in store::directories(conn)? {
            d.put_dir(dir);
        }
        let rules: Vec<LabelRuleDoc> = store::label_rules(conn)?
            .into_iter()
            .filter_map(|v| serde_json::from_value(v).ok())
            .collect();
        for r in &rules {
            d.labels.rule_changed(&r.id, Some(r), []);
        }
        for (a, loc) in store::all_assignments(conn)? {
            d.labels.assignment_changed(&a, loc.as_ref());
        }
        for r in rules.iter().filter(|r| r.enabled) {
            let node = (r.node_id != "*").then_some(r.node_id.as_str());
            for loc in store::locations_under(conn, node, &r.path_prefix)? {
                d.labels.refresh_file(&loc);
            }
        }
        Ok(d)
    }

    fn put_dir(&mut self, dir: VirtualDirectoryDoc) {
        if let Some(old) = self
            .dir_paths
            .insert(dir.id.clone(), dir.virtual_path.clone())
        {
            self.dirs.remove(&old);
        }
        self.dirs.insert(dir.virtual_path.clone(), Arc::new(dir));
    }

    /// Applies one committed page's changes, in order.
    pub(crate) fn apply(&mut self, events: &[Applied]) {
        let mut touched = false;
        let mut files_touched = false;
        for e in events {
            match e {
                Applied::File { id, loc } => {
                    files_touched = true;
                    self.labels.file_changed(id, loc.as_ref())
                }
                Applied::Assignment { file_id, doc, loc } => {
                    touched = true;
                    match doc {
                        Some(a) => self.labels.assignment_changed(a, loc.as_ref()),
                        None => self.labels.assignment_removed(file_id, loc.as_ref()),
                    }
                }
                Applied::Rule { id, doc, affected } => {
                    touched = true;
                    self.labels.rule_changed(id, doc.as_ref(), affected);
                }
                Applied::Directory { id, doc } => {
                    touched = true;
                    match doc {
                        Some(d) => self.put_dir(d.clone()),
                        None => {
                            if let Some(path) = self.dir_paths.remove(id) {
                                self.dirs.remove(&path);
                            }
                        }
                    }
                }
            }
        }
        if touched {
            self.generation += 1;
        }
        if files_touched {
            self.files_generation += 1;
        }
    }
}
