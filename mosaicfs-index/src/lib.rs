//! The local SQLite index of MosaicFS documents.
//!
//! CouchDB stays the source of truth; this index exists because `_find` is
//! very slow past about 20K documents and Mango `$regex` scans everything.
//! [`IndexFollower::start`] opens (or creates) the index file and spawns a
//! task that follows the database's `_changes` feed (longpoll, with
//! documents). Each page is applied in one SQLite transaction together with
//! its `last_seq`, so a restart resumes where it stopped. [`Index`] answers
//! the hot queries: listing in id order after a cursor, lookup by id or by
//! `(node_id, export_path)`, and name search by substring or glob, both
//! case-insensitive.
//!
//! What is indexed: `file` documents (one row each), `label_assignment`,
//! `label_rule` and `virtual_directory` documents (kept whole). Kept in
//! memory beside it, updated with each committed page ([`Derived`]): the
//! label cache and the directory set, so readdir needs no query for either.
//! [`Index::files_under`] answers the readdir candidate query, a range scan
//! by `(node, export_path prefix)`; [`readdir`] is the readdir service on
//! top of it (resolve, evaluate, cache), shared by the control plane and the
//! FUSE backend. A document that
//! does not parse is skipped with a warning and counted
//! ([`Index::malformed`]); the feed continues. Deleting the index file is
//! always safe: it is rebuilt from the feed.
//!
//! ```no_run
//! # async fn demo(db: mosaicfs_common::couch::CouchClient) -> Result<(), mosaicfs_index::IndexError> {
//! use mosaicfs_index::{IndexFollower, NameMatch, Query};
//! let cancel = tokio_util::sync::CancellationToken::new();
//! let follower = IndexFollower::start(db, "/tmp/index.db".as_ref(), cancel.clone()).await?;
//! let index = follower.index();
//! let hits = index
//!     .query(Query { name: Some(NameMatch::Glob("*.pdf".into())), limit: 100, ..Default::default() })
//!     .await?;
//! # let _ = hits; Ok(()) }
//! ```
#![warn(missing_docs)]

mod derived;
mod error;
pub mod names;
pub mod readdir;
pub mod store;

pub use derived::Derived;
pub use error::IndexError;
pub use store::{FileRow, LabelScope, NameMatch, Query};

/// One readdir candidate query: the active files at `prefix` on `node`
/// (`None`: every node), at any depth ([`store::files_under`]) or, for a
/// mount that includes everything, one level ([`store::files_shallow`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CandidateQuery {
    /// Node filter; `None` is every node.
    pub node: Option<String>,
    /// Export path prefix ending in `/`.
    pub prefix: String,
    /// Files directly at `prefix` plus one file per subdirectory.
    pub shallow: bool,
}

impl CandidateQuery {
    fn run(&self, c: &rusqlite::Connection) -> Result<Vec<FileDoc>, IndexError> {
        if self.shallow {
            store::files_shallow(c, self.node.as_deref(), &self.prefix)
        } else {
            store::files_under(c, self.node.as_deref(), &self.prefix)
        }
    }
}

/// What an inode names (see [`Index::resolve_inode`]).
#[derive(Debug, Clone)]
pub enum InodeTarget {
    /// A directory document, by virtual path.
    Directory(String),
    /// A file document.
    File(Box<FileDoc>),
}

use mosaicfs_common::couch::{ChangesQuery, CouchClient};
use mosaicfs_common::documents::{FileDoc, LabelAssignmentDoc, LabelRuleDoc};
use mosaicfs_common::retry::RetryPolicy;
use rusqlite::Connection;
use serde_json::Value;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Changes per `_changes` request (and per SQLite transaction).
pub const PAGE_SIZE: u64 = 1000;
/// How long one longpoll request waits for a change.
const LONGPOLL: Duration = Duration::from_secs(30);
/// Reader connections; queries beyond this many wait for one.
const READERS: usize = 4;

/// The numeric part of a CouchDB sequence: the number itself (pouchdb-server,
/// CouchDB 1.x) or the integer before the first `-` (CouchDB 2+, where it
/// grows with every update on a single node).
pub fn seq_number(seq: &Value) -> Option<u64> {
    match seq {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.split('-').next().and_then(|p| p.parse().ok()),
        _ => None,
    }
}

/// A handle on the index for queries. Cheap to clone. Queries run on the
/// blocking thread pool over a few read connections (WAL mode, so they do
/// not wait for the follower's writes).
#[derive(Clone)]
pub struct Index {
    readers: Arc<Vec<Mutex<Connection>>>,
    next: Arc<AtomicUsize>,
    progress: watch::Receiver<u64>,
    malformed: Arc<AtomicU64>,
    derived: Arc<RwLock<Derived>>,
    /// The database's sequence when the follower started: the index is
    /// ready once it has applied it.
    ready_at: u64,
    /// Names for scans, when enabled ([`IndexOptions::name_table`]).
    names: Option<Arc<RwLock<names::NameTable>>>,
}

/// Options of [`IndexFollower::start_with`].
#[derive(Debug, Clone, Copy, Default)]
pub struct IndexOptions {
    /// Keep an in-memory table of file names ([`names`]) so that name
    /// searches SQLite would answer with a full scan take a few ms. Costs
    /// about 80 bytes per file; for the control plane, which serves search.
    pub name_table: bool,
}

impl Index {
    async fn with_conn<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, IndexError> + Send + 'static,
    ) -> Result<T, IndexError> {
        let readers = self.readers.clone();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        tokio::task::spawn_blocking(move || {
            // Take an idle connection if there is one, else wait for ours.
            for i in 0..readers.len() {
                if let Ok(c) = readers[(start + i) % readers.len()].try_lock() {
                    return f(&c);
                }
            }
            let c = readers[start % readers.len()]
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            f(&c)
        })
        .await
        .map_err(|e| IndexError::Task(e.to_string()))?
    }

    /// Runs `f` on a read connection on the calling thread. For callers
    /// already on a blocking thread (never call it on a runtime worker):
    /// it saves the hop to the blocking pool that [`Index::with_conn`] makes.
    fn with_conn_blocking<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, IndexError>,
    ) -> Result<T, IndexError> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        for i in 0..self.readers.len() {
            if let Ok(c) = self.readers[(start + i) % self.readers.len()].try_lock() {
                return f(&c);
            }
        }
        let c = self.readers[start % self.readers.len()]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        f(&c)
    }

    /// Files in id order matching `q` (see [`Query`]).
    pub async fn query(&self, q: Query) -> Result<Vec<FileRow>, IndexError> {
        match (&self.names, &q.name) {
            (Some(names), Some(_)) => {
                let names = names.clone();
                self.with_conn(move |c| {
                    let t = names.read().unwrap_or_else(|e| e.into_inner());
                    names::query(c, &t, &q)
                })
                .await
            }
            _ => self.with_conn(move |c| store::query(c, &q)).await,
        }
    }

    /// One file by id (any status).
    pub async fn get(&self, id: &str) -> Result<Option<FileRow>, IndexError> {
        let id = id.to_string();
        self.with_conn(move |c| store::get(c, &id)).await
    }

    /// The file at the exact path `path` on `node_id`; an active one if there
    /// is one.
    pub async fn by_path(&self, node_id: &str, path: &[u8]) -> Result<Option<FileRow>, IndexError> {
        let (n, p) = (node_id.to_string(), path.to_vec());
        self.with_conn(move |c| store::by_path(c, &n, &p)).await
    }

    /// Every label rule.
    pub async fn label_rules(&self) -> Result<Vec<LabelRuleDoc>, IndexError> {
        let docs = self.with_conn(store::label_rules).await?;
        Ok(docs
            .into_iter()
            .filter_map(|d| serde_json::from_value(d).ok())
            .collect())
    }

    /// The label assignments of `file_ids`.
    pub async fn assignments(
        &self,
        file_ids: Vec<String>,
    ) -> Result<Vec<LabelAssignmentDoc>, IndexError> {
        let docs = self
            .with_conn(move |c| store::assignments(c, &file_ids))
            .await?;
        Ok(docs
            .into_iter()
            .filter_map(|d| serde_json::from_value(d).ok())
            .collect())
    }

    /// For each `(node (None: every node), export path prefix)`, the
    /// active files below the prefix at any depth (an index range scan),
    /// rebuilt as documents for the rule engine (see [`store::files_under`]).
    /// All queries run on one connection, one after another.
    pub async fn files_under(
        &self,
        queries: Vec<CandidateQuery>,
    ) -> Result<Vec<Vec<FileDoc>>, IndexError> {
        self.with_conn(move |c| queries.iter().map(|q| q.run(c)).collect())
            .await
    }

    /// [`Index::files_under`] on the calling thread, which must be allowed
    /// to block (a `spawn_blocking` task, not a runtime worker).
    pub fn files_under_blocking(
        &self,
        queries: Vec<CandidateQuery>,
    ) -> Result<Vec<Vec<FileDoc>>, IndexError> {
        self.with_conn_blocking(|c| queries.iter().map(|q| q.run(c)).collect())
    }

    /// One file by id, rebuilt as a document (any status; see
    /// [`store::files_under`] for the fields set).
    pub async fn file_doc(&self, id: &str) -> Result<Option<FileDoc>, IndexError> {
        let id = id.to_string();
        self.with_conn(move |c| store::file_doc(c, &id)).await
    }

    /// [`Index::file_doc`] on the calling thread, which must be allowed to
    /// block (a `spawn_blocking` task, not a runtime worker).
    pub fn file_doc_blocking(&self, id: &str) -> Result<Option<FileDoc>, IndexError> {
        self.with_conn_blocking(|c| store::file_doc(c, id))
    }

    /// What inode `inode` names: a file (by its document's `inode`, through
    /// the `files_inode` index) or a directory document (root is
    /// [`mosaicfs_common::documents::ROOT_INODE`]'s path `/`). Synthesized
    /// directories have no document; callers keep those they have listed.
    pub async fn resolve_inode(&self, inode: u64) -> Result<Option<InodeTarget>, IndexError> {
        if let Some(path) = self.with_derived(|d| d.directory_by_inode(inode)) {
            return Ok(Some(InodeTarget::Directory(path)));
        }
        let file = self
            .with_conn(move |c| store::file_by_inode(c, inode))
            .await?;
        Ok(file.map(|f| InodeTarget::File(Box::new(f))))
    }

    /// Runs `f` on the derived state (label cache, directories) under a
    /// read lock. Keep `f` short and free of I/O: the follower waits for it.
    pub fn with_derived<R>(&self, f: impl FnOnce(&Derived) -> R) -> R {
        let d = self.derived.read().unwrap_or_else(|e| e.into_inner());
        f(&d)
    }

    /// The derived files generation: changes whenever a file document is
    /// written or removed (a cheap "has any file changed" check).
    pub fn files_generation(&self) -> u64 {
        self.with_derived(|d| d.files_generation())
    }

    /// Whether the index has caught up with the database as it was when the
    /// follower started (so listings are not answered from a half-built
    /// index).
    pub fn is_ready(&self) -> bool {
        self.reached() >= self.ready_at
    }

    /// Waits until [`Index::is_ready`], at most `timeout`.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<(), IndexError> {
        self.wait_for_seq(&Value::from(self.ready_at), timeout)
            .await
    }

    /// Number of file rows (any status).
    pub async fn count(&self) -> Result<u64, IndexError> {
        self.with_conn(store::count).await
    }

    /// The numeric part of the last sequence applied.
    pub fn reached(&self) -> u64 {
        *self.progress.borrow()
    }

    /// Documents skipped because they did not parse, since start.
    pub fn malformed(&self) -> u64 {
        self.malformed.load(Ordering::Relaxed)
    }

    /// Waits until the index has applied the database up to `seq` (for
    /// example the `update_seq` of `db_info` taken after a write).
    pub async fn wait_for_seq(&self, seq: &Value, timeout: Duration) -> Result<(), IndexError> {
        let target = seq_number(seq).ok_or_else(|| IndexError::OpaqueSeq(seq.to_string()))?;
        let mut rx = self.progress.clone();
        let reached = tokio::time::timeout(timeout, rx.wait_for(|&r| r >= target)).await;
        match reached {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(IndexError::Stopped),
            Err(_) => Err(IndexError::Timeout {
                target,
                reached: self.reached(),
                waited: timeout,
            }),
        }
    }
}

/// The background task that keeps the index current, and its [`Index`].
pub struct IndexFollower {
    index: Index,
    task: tokio::task::JoinHandle<()>,
}

impl IndexFollower {
    /// Opens or creates the index at `path` for `db` and starts following
    /// `db`'s changes until `cancel` fires. Setup errors (the file cannot be
    /// opened) are returned; CouchDB errors later are logged and retried.
    /// Cancelling is safe at any point: a page is committed whole or not at
    /// all.
    pub async fn start(
        db: CouchClient,
        path: &Path,
        cancel: CancellationToken,
    ) -> Result<IndexFollower, IndexError> {
        Self::start_with(db, path, cancel, IndexOptions::default()).await
    }

    /// [`IndexFollower::start`] with options.
    pub async fn start_with(
        db: CouchClient,
        path: &Path,
        cancel: CancellationToken,
        options: IndexOptions,
    ) -> Result<IndexFollower, IndexError> {
        let source = format!("{}{}", db.server_url(), db.db_name());
        let p = path.to_path_buf();
        let (writer, readers, since, derived, names) = tokio::task::spawn_blocking(move || {
            let writer = store::open(&p, &source)?;
            let since = store::last_seq(&writer)?;
            let readers = (0..READERS)
                .map(|_| store::open_reader(&p).map(Mutex::new))
                .collect::<Result<Vec<_>, _>>()?;
            let derived = Derived::load(&writer)?;
            let names = if options.name_table {
                let started = std::time::Instant::now();
                let t = names::NameTable::build(&writer)?;
                tracing::info!(
                    operation = "name_table",
                    entries = t.len(),
                    heap_bytes = t.heap_bytes(),
                    duration_ms = started.elapsed().as_millis() as u64,
                    "name table built"
                );
                Some(Arc::new(RwLock::new(t)))
            } else {
                None
            };
            Ok::<_, IndexError>((writer, readers, since, derived, names))
        })
        .await
        .map_err(|e| IndexError::Task(e.to_string()))??;
        // Where "caught up" is. A database that cannot be asked now counts
        // as empty: the follower's retries take over from here.
        let ready_at = match db.db_info().await {
            Ok(info) => info.get("update_seq").and_then(seq_number).unwrap_or(0),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the database sequence at start");
                0
            }
        };
        let derived = Arc::new(RwLock::new(derived));
        let (tx, rx) = watch::channel(since.as_ref().and_then(seq_number).unwrap_or(0));
        let malformed = Arc::new(AtomicU64::new(0));
        tracing::info!(path = %path.display(), since = ?since, "index follower starting");
        let task = tokio::spawn(follow(
            db,
            writer,
            since,
            tx,
            malformed.clone(),
            (derived.clone(), names.clone()),
            cancel,
        ));
        Ok(IndexFollower {
            index: Index {
                readers: Arc::new(readers),
                next: Arc::new(AtomicUsize::new(0)),
                progress: rx,
                malformed,
                derived,
                ready_at,
                names,
            },
            task,
        })
    }

    /// A query handle.
    pub fn index(&self) -> Index {
        self.index.clone()
    }

    /// Waits for the task to finish (after cancellation).
    pub async fn join(self) {
        let _ = self.task.await;
    }
}

async fn follow(
    db: CouchClient,
    writer: Connection,
    mut since: Option<Value>,
    progress: watch::Sender<u64>,
    malformed: Arc<AtomicU64>,
    (derived, names): (Arc<RwLock<Derived>>, Option<Arc<RwLock<names::NameTable>>>),
    cancel: CancellationToken,
) {
    // A failing CouchDB is retried here, forever, with the standard backoff;
    // the client itself should not also retry each longpoll.
    let db = db.with_retry(RetryPolicy::standard(Some(1)));
    let backoff = RetryPolicy::standard(None);
    let writer = Arc::new(Mutex::new(writer));
    let mut failures = 0;
    loop {
        let q = ChangesQuery {
            since: since.clone(),
            limit: Some(PAGE_SIZE),
            include_docs: true,
            longpoll: Some(LONGPOLL),
            ..Default::default()
        };
        let page = tokio::select! {
            _ = cancel.cancelled() => return,
            r = db.changes(&q) => r,
        };
        let page = match page {
            Ok(p) => p,
            Err(e) => {
                let wait = backoff.delay(failures);
                failures += 1;
                tracing::warn!(operation = "index_follow", error = %e,
                    retry_in_ms = wait.as_millis() as u64, "cannot read the changes feed");
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(wait) => continue,
                }
            }
        };
        failures = 0;
        let last_seq = page.last_seq.clone();
        if !page.results.is_empty() {
            let w = writer.clone();
            let derived = derived.clone();
            let names = names.clone();
            let applied = tokio::task::spawn_blocking(move || {
                let changes: Vec<store::ChangeIn<'_>> = page
                    .results
                    .iter()
                    .map(|c| store::ChangeIn {
                        id: &c.id,
                        deleted: c.deleted,
                        doc: c.doc.as_ref(),
                    })
                    .collect();
                let mut conn = w.lock().unwrap_or_else(|e| e.into_inner());
                let (stats, events) =
                    store::apply_page_events(&mut conn, &changes, &page.last_seq)?;
                // Derived state follows the commit before the sequence is
                // published below.
                derived
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .apply(&events);
                if let Some(names) = &names {
                    let ids = changes
                        .iter()
                        .map(|c| c.id)
                        .filter(|id| id.starts_with(mosaicfs_common::ids::FILE_PREFIX));
                    names
                        .write()
                        .unwrap_or_else(|e| e.into_inner())
                        .refresh(&conn, ids)?;
                }
                Ok::<_, IndexError>(stats)
            })
            .await;
            match applied {
                Ok(Ok(stats)) => {
                    malformed.fetch_add(stats.malformed as u64, Ordering::Relaxed);
                    tracing::debug!(files = stats.files, labels = stats.labels,
                        malformed = stats.malformed, last_seq = %last_seq, "index page applied");
                }
                Ok(Err(e)) => {
                    // SQLite refused the page (disk full, corruption): keep
                    // the old position and retry the same page later.
                    let wait = backoff.delay(failures);
                    failures += 1;
                    tracing::error!(operation = "index_apply", error = %e,
                        retry_in_ms = wait.as_millis() as u64, "cannot apply a changes page");
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        _ = tokio::time::sleep(wait) => continue,
                    }
                }
                Err(e) => {
                    tracing::error!(operation = "index_apply", error = %e, "index task failed");
                    return;
                }
            }
        }
        if let Some(n) = seq_number(&last_seq) {
            progress.send_if_modified(|cur| {
                let changed = n > *cur;
                *cur = (*cur).max(n);
                changed
            });
        }
        since = Some(last_seq);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sequence_numbers_of_both_servers() {
        assert_eq!(seq_number(&json!(42)), Some(42));
        assert_eq!(seq_number(&json!("17-g1AAAABteJzLYWBg")), Some(17));
        assert_eq!(seq_number(&json!("now")), None);
        assert_eq!(seq_number(&json!(null)), None);
    }
}
