//! The crawler: walks the watch paths, compares each file with the index of
//! stored documents, and writes what changed.
//!
//! Rules (see `docs/architecture.md`, "Crawler"):
//! - the stat fast path: an unchanged `(export_path, size, mtime)` costs no
//!   write;
//! - symlinks are not followed during the walk; a symlink to a regular file
//!   inside a watch path is indexed at the link's path, anything else is
//!   skipped and counted;
//! - an unreadable directory or file is logged and counted and the walk goes
//!   on; files under it are not marked deleted, because not seeing them is
//!   not evidence that they are gone;
//! - a path that is not valid UTF-8 is indexed with a lossy `export_path`
//!   and its exact bytes in `export_path_bytes`.

mod index;
mod state;
mod writer;

pub use index::{FileIndex, IndexEntry};
pub use writer::Op;

use base64::Engine;
use mosaicfs_common::couch::{CouchClient, CouchError};
use mosaicfs_common::documents::{FileDoc, FileStatus};
use mosaicfs_common::retry::RetryPolicy;
use mosaicfs_common::time::{self, Timestamp};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Documents per `_bulk_docs` request.
pub const BATCH_SIZE: usize = 200;
/// Files per message from the walking thread.
const WALK_CHUNK: usize = 512;

/// A regular file as found on disk.
#[derive(Debug, Clone)]
pub struct Observed {
    /// The exact path bytes (the index key).
    pub key: Vec<u8>,
    /// Path as UTF-8 (lossy when needed).
    pub export_path: String,
    /// Base64 of the raw bytes when the path is not UTF-8.
    pub export_path_bytes: Option<String>,
    /// Parent directory.
    pub export_parent: String,
    /// Last component (lossy).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Modification time.
    pub mtime: Timestamp,
    /// MIME type from the extension.
    pub mime_type: Option<String>,
}

/// Counts of one crawl.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CrawlStats {
    /// Regular files found (including symlinks to files).
    pub seen: u64,
    /// Documents created.
    pub new: u64,
    /// Documents updated because size or mtime changed (or the file came back).
    pub changed: u64,
    /// Files whose document was already current.
    pub unchanged: u64,
    /// Documents marked deleted.
    pub deleted: u64,
    /// Entries not indexed by rule (symlinks out of the watch paths or to
    /// directories, sockets, fifos, devices).
    pub skipped: u64,
    /// Files indexed whose path is not valid UTF-8.
    pub non_utf8: u64,
    /// Unreadable entries and failed writes.
    pub errors: u64,
    /// Write conflicts resolved by re-reading and re-applying.
    pub conflicts: u64,
}

/// Called with the ids of each `_bulk_docs` request just before it is sent.
/// Exists so tests can provoke a write conflict deterministically.
#[doc(hidden)]
pub type BeforeWriteHook = std::sync::Arc<
    dyn Fn(Vec<String>) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
        + Send
        + Sync,
>;

/// The result of a crawl.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrawlSummary {
    /// Counts.
    pub stats: CrawlStats,
    /// Wall time.
    pub duration: Duration,
    /// Whether the crawl was cut short by shutdown.
    pub cancelled: bool,
}

impl std::fmt::Display for CrawlStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self;
        write!(
            f,
            "seen={} new={} changed={} unchanged={} deleted={} skipped={} non_utf8={} errors={} conflicts={}",
            s.seen,
            s.new,
            s.changed,
            s.unchanged,
            s.deleted,
            s.skipped,
            s.non_utf8,
            s.errors,
            s.conflicts,
        )
    }
}

impl std::fmt::Display for CrawlSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} duration_ms={}{}",
            self.stats,
            self.duration.as_millis(),
            if self.cancelled {
                " cancelled=true"
            } else {
                ""
            }
        )
    }
}

/// Crawls one node's watch paths into its local CouchDB.
pub struct Crawler {
    db: CouchClient,
    node_id: String,
    watch_paths: Vec<PathBuf>,
    index: FileIndex,
    generation: u32,
    retry: RetryPolicy,
    hook: Option<BeforeWriteHook>,
    /// Where the index is persisted between runs (see `state.rs`).
    state_path: Option<PathBuf>,
    /// The database sequence the index describes (with a state file).
    seq: Option<serde_json::Value>,
    /// The token tying the state file to the database, once stored there.
    token: Option<String>,
    loaded_from: IndexSource,
    /// The state file does not describe the index (not written yet, or the
    /// last write failed, or the index changed outside a write of ours).
    state_dirty: bool,
}

/// Where the crawler's index came from when it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexSource {
    /// Every file document read from CouchDB.
    CouchDb,
    /// The state file, brought up to date from `_changes`.
    StateFile,
}

enum WalkMsg {
    Files(Vec<Observed>),
}

#[derive(Default)]
struct WalkReport {
    skipped: u64,
    non_utf8: u64,
    errors: u64,
    /// Directories (or watch roots) whose contents were not fully read.
    incomplete: Vec<PathBuf>,
}

impl Crawler {
    /// Loads the index of this node's documents and returns a crawler.
    pub async fn new(
        db: CouchClient,
        node_id: &str,
        watch_paths: Vec<PathBuf>,
    ) -> Result<Crawler, CouchError> {
        let started = Instant::now();
        let index = FileIndex::load(&db, node_id).await?;
        Ok(Crawler::loaded(
            db,
            node_id,
            watch_paths,
            index,
            IndexSource::CouchDb,
            0,
            started,
        ))
    }

    /// Like [`Crawler::new`], with the index persisted in `state_path`
    /// between runs: when the file is there and the database still holds
    /// its token, the index is read from it and brought up to date from
    /// `_changes` instead of reading every document; otherwise it is loaded
    /// from CouchDB. Each crawl writes the file again.
    pub async fn with_state_file(
        db: CouchClient,
        node_id: &str,
        watch_paths: Vec<PathBuf>,
        state_path: PathBuf,
    ) -> Result<Crawler, CouchError> {
        let started = Instant::now();
        let persisted = state::read(&state_path, node_id);
        let db_token = match &persisted {
            Some(_) => state::db_token(&db, node_id).await?,
            None => None,
        };
        let (index, seq, token, source, caught_up) = match persisted {
            Some(p) if db_token.as_deref() == Some(p.token.as_str()) => {
                let mut index = p.index;
                let (seq, n) = index.catch_up(&db, node_id, p.seq).await?;
                (index, seq, Some(p.token), IndexSource::StateFile, n)
            }
            other => {
                if other.is_some() {
                    tracing::info!(node_id, path = %state_path.display(), operation = "load_index",
                        "the crawl index file does not belong to this database; loading from CouchDB");
                }
                // The sequence before the load: whatever changes during it
                // is applied again by the next catch-up (idempotent).
                let seq = db
                    .db_info()
                    .await?
                    .get("update_seq")
                    .cloned()
                    .unwrap_or(serde_json::Value::Null);
                let index = FileIndex::load(&db, node_id).await?;
                (index, seq, None, IndexSource::CouchDb, 0)
            }
        };
        let mut crawler =
            Crawler::loaded(db, node_id, watch_paths, index, source, caught_up, started);
        crawler.state_path = Some(state_path);
        crawler.seq = Some(seq);
        crawler.token = token;
        crawler.state_dirty = caught_up > 0;
        Ok(crawler)
    }

    /// Logs how the index was loaded (`started` is when loading began) and
    /// returns a crawler over it without a state file.
    fn loaded(
        db: CouchClient,
        node_id: &str,
        watch_paths: Vec<PathBuf>,
        index: FileIndex,
        source: IndexSource,
        changes_applied: usize,
        started: Instant,
    ) -> Crawler {
        tracing::info!(
            node_id,
            operation = "load_index",
            source = ?source,
            documents = index.len(),
            changes_applied,
            malformed = index.malformed,
            duration_ms = started.elapsed().as_millis() as u64,
            "loaded file index"
        );
        Crawler {
            db,
            node_id: node_id.to_string(),
            watch_paths,
            index,
            generation: 0,
            retry: RetryPolicy::standard(Some(6)),
            hook: None,
            state_path: None,
            seq: None,
            token: None,
            loaded_from: source,
            state_dirty: true,
        }
    }

    /// Brings the index up to date with the database and writes the state
    /// file. Failures are logged: the next start then loads from CouchDB
    /// (or catches up from the previous file), which is always correct.
    async fn persist(&mut self) {
        let (Some(path), Some(since)) = (self.state_path.clone(), self.seq.clone()) else {
            return;
        };
        let started = Instant::now();
        let node_id = self.node_id.clone();
        let now = match self.db.db_info().await {
            Ok(info) => info.get("update_seq").cloned(),
            Err(e) => {
                tracing::warn!(node_id, error = %e, operation = "save_index",
                    "cannot read the database sequence; crawl index file not updated");
                return;
            }
        };
        // The sequence moved by exactly our own writes: nobody else wrote
        // since the index last matched the database, no need to read them
        // back. Anything else (or opaque sequences) reads `_changes`.
        let ours_only = now.as_ref().is_some_and(|now| {
            match (state::seq_number(&since), state::seq_number(now)) {
                (Some(a), Some(b)) => b.checked_sub(a) == Some(self.index.writes),
                _ => false,
            }
        });
        let unchanged = ours_only && self.index.writes == 0 && now.as_ref() == Some(&since);
        if unchanged && self.token.is_some() && !self.state_dirty {
            // The file already says exactly this.
            return;
        }
        let (seq, applied) = match now {
            Some(now) if ours_only => {
                self.index.writes = 0;
                (now, 0)
            }
            _ => match self.index.catch_up(&self.db, &node_id, since).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(node_id, error = %e, operation = "save_index",
                        "cannot read _changes; crawl index file not updated");
                    return;
                }
            },
        };
        self.seq = Some(seq.clone());
        let token = match &self.token {
            Some(t) => t.clone(),
            None => {
                let t = mosaicfs_common::ids::new_file_id();
                if let Err(e) = state::set_db_token(&self.db, &node_id, &t).await {
                    tracing::warn!(node_id, error = %e, operation = "save_index",
                        "cannot store the crawl index token; crawl index file not written");
                    return;
                }
                self.token = Some(t.clone());
                t
            }
        };
        let bytes = state::encode(&token, &node_id, &seq, &self.index);
        let written = tokio::task::spawn_blocking({
            let path = path.clone();
            move || state::write_atomic(&path, &bytes)
        })
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))
        .and_then(|r| r);
        self.state_dirty = written.is_err();
        match written {
            Ok(()) => tracing::info!(
                node_id,
                operation = "save_index",
                documents = self.index.len(),
                changes_applied = applied,
                duration_ms = started.elapsed().as_millis() as u64,
                "saved crawl index file"
            ),
            Err(e) => tracing::warn!(node_id, path = %path.display(), error = %e,
                operation = "save_index", "cannot write the crawl index file"),
        }
    }

    /// Uses another retry policy for per-document write failures.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Crawler {
        self.retry = retry;
        self
    }

    #[doc(hidden)]
    pub fn set_before_write_hook(&mut self, hook: BeforeWriteHook) {
        self.hook = Some(hook);
    }

    /// The index (for tests and status).
    pub fn index(&self) -> &FileIndex {
        &self.index
    }

    /// Where the index came from at start.
    pub fn loaded_from(&self) -> IndexSource {
        self.loaded_from
    }

    /// One full crawl. Errors only when CouchDB is unreachable; everything
    /// about individual files is counted in the summary.
    pub async fn crawl(&mut self, cancel: &CancellationToken) -> Result<CrawlSummary, CouchError> {
        let started = Instant::now();
        self.generation = self.generation.wrapping_add(1).max(1);
        let generation = self.generation;
        let mut stats = CrawlStats::default();
        let (tx, mut rx) = mpsc::channel::<WalkMsg>(16);
        let roots = self.watch_paths.clone();
        let walk_cancel = cancel.clone();
        let node_id = self.node_id.clone();
        let walker = tokio::task::spawn_blocking(move || walk(&roots, &tx, &walk_cancel, &node_id));

        let writer = writer::Writer {
            db: &self.db,
            node_id: &self.node_id,
            retry: self.retry,
            generation,
            hook: self.hook.as_ref(),
        };
        let mut ops: Vec<Op> = Vec::with_capacity(BATCH_SIZE);
        while let Some(WalkMsg::Files(files)) = rx.recv().await {
            for file in files {
                stats.seen += 1;
                classify(&mut self.index, file, generation, &mut stats, &mut ops);
                if ops.len() >= BATCH_SIZE {
                    flush(&writer, &mut ops, &mut self.index, &mut stats).await?;
                }
            }
        }
        let report = walker.await.unwrap_or_else(|e| {
            tracing::error!(node_id = %self.node_id, error = %e, operation = "crawl", "walker thread failed");
            WalkReport { errors: 1, incomplete: self.watch_paths.clone(), ..Default::default() }
        });
        stats.skipped = report.skipped;
        stats.non_utf8 = report.non_utf8;
        stats.errors += report.errors;
        let cancelled = cancel.is_cancelled();

        // Files we did not see are gone, unless we could not look.
        if !cancelled {
            let gone: Vec<(Vec<u8>, String)> = self
                .index
                .unseen_active(generation)
                .filter(|(key, _)| {
                    let p = Path::new(OsStr::from_bytes(key));
                    self.watch_paths.iter().any(|w| p.starts_with(w))
                        && !report.incomplete.iter().any(|d| p.starts_with(d))
                })
                .map(|(k, e)| (k.clone(), e.id.clone()))
                .collect();
            for (key, id) in gone {
                ops.push(Op::Delete { key, id });
                stats.deleted += 1;
                if ops.len() >= BATCH_SIZE {
                    flush(&writer, &mut ops, &mut self.index, &mut stats).await?;
                }
            }
        }
        if !ops.is_empty() {
            flush(&writer, &mut ops, &mut self.index, &mut stats).await?;
        }
        let summary = CrawlSummary {
            stats,
            duration: started.elapsed(),
            cancelled,
        };
        tracing::info!(node_id = %self.node_id, operation = "crawl",
            duration_ms = summary.duration.as_millis() as u64, cancelled = summary.cancelled,
            "crawl summary: {}", summary.stats);
        self.persist().await;
        Ok(summary)
    }
    /// Applies changes reported by the watcher: the same rules as a crawl
    /// (stat fast path, soft deletes, writes on top of the stored document),
    /// limited to the paths named. A rename moves the index entries at and
    /// under `from` to `to`, so the file keeps its document (same `_id` and
    /// inode) and gets one update with its new path.
    pub async fn apply(&mut self, changes: Vec<Change>) -> Result<CrawlStats, CouchError> {
        let generation = self.generation;
        let mut stats = CrawlStats::default();
        let mut scan: Vec<PathBuf> = Vec::new();
        let mut maybe_gone: Vec<PathBuf> = Vec::new();
        for change in changes {
            match change {
                Change::Changed(p) => scan.push(p),
                Change::Removed(p) => maybe_gone.push(p),
                Change::Renamed { from, to } => {
                    if !self.in_watch_paths(&from) {
                        scan.push(to);
                        continue;
                    }
                    if !self.in_watch_paths(&to) {
                        maybe_gone.push(from);
                        continue;
                    }
                    let from_key = from.as_os_str().as_bytes();
                    let to_key = to.as_os_str().as_bytes();
                    for (old, mut entry) in self.index.under(from_key) {
                        self.index.remove(&old);
                        let mut new_key = to_key.to_vec();
                        new_key.extend_from_slice(&old[from_key.len()..]);
                        entry.stale = true;
                        self.index.insert(new_key, entry);
                    }
                    scan.push(to);
                }
            }
        }
        scan.retain(|p| self.in_watch_paths(p));
        maybe_gone.retain(|p| self.in_watch_paths(p));
        let roots = self.watch_paths.clone();
        let node_id = self.node_id.clone();
        let (observed, gone, report) = tokio::task::spawn_blocking(move || {
            observe_paths(&scan, &maybe_gone, &roots, &node_id)
        })
        .await
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, operation = "watch_apply", "observer thread failed");
            (
                Vec::new(),
                Vec::new(),
                WalkReport {
                    errors: 1,
                    ..Default::default()
                },
            )
        });
        stats.skipped = report.skipped;
        stats.non_utf8 = report.non_utf8;
        stats.errors = report.errors;
        let writer = writer::Writer {
            db: &self.db,
            node_id: &self.node_id,
            retry: self.retry,
            generation,
            hook: self.hook.as_ref(),
        };
        let mut ops: Vec<Op> = Vec::new();
        // A batch may name a directory and files inside it (both are
        // observed): each path must be classified once, or a new file would
        // get two documents.
        let mut unique: std::collections::HashMap<Vec<u8>, Observed> =
            std::collections::HashMap::new();
        for file in observed {
            unique.insert(file.key.clone(), file);
        }
        for file in unique.into_values() {
            stats.seen += 1;
            classify(&mut self.index, file, generation, &mut stats, &mut ops);
        }
        for path in gone {
            for (key, entry) in self.index.under(path.as_os_str().as_bytes()) {
                if entry.status == FileStatus::Active
                    && !ops.iter().any(|op| op.key() == key.as_slice())
                {
                    stats.deleted += 1;
                    ops.push(Op::Delete { key, id: entry.id });
                }
            }
        }
        while !ops.is_empty() {
            let mut batch: Vec<Op> = ops.drain(..ops.len().min(BATCH_SIZE)).collect();
            flush(&writer, &mut batch, &mut self.index, &mut stats).await?;
        }
        tracing::debug!(node_id = %self.node_id, operation = "watch_apply", "applied: {stats}");
        Ok(stats)
    }

    fn in_watch_paths(&self, p: &Path) -> bool {
        self.watch_paths.iter().any(|w| p.starts_with(w))
    }
}

/// A change the watcher saw, after debouncing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Something at this path was created or modified (a file or a whole
    /// directory, which is walked).
    Changed(PathBuf),
    /// The path (a file or a directory) may be gone; checked before anything
    /// is marked deleted.
    Removed(PathBuf),
    /// `from` was renamed to `to`.
    Renamed {
        /// The old path.
        from: PathBuf,
        /// The new path.
        to: PathBuf,
    },
}

/// Compares one file found on disk with the index and queues what to write.
fn classify(
    index: &mut FileIndex,
    file: Observed,
    generation: u32,
    stats: &mut CrawlStats,
    ops: &mut Vec<Op>,
) {
    let mtime = (file.mtime.timestamp(), file.mtime.timestamp_subsec_nanos());
    match index.get_mut(&file.key) {
        Some(e)
            if e.status == FileStatus::Active
                && !e.stale
                && e.size == file.size
                && e.mtime == mtime =>
        {
            e.seen_gen = generation;
            stats.unchanged += 1;
        }
        Some(e) => {
            e.seen_gen = generation;
            stats.changed += 1;
            let id = Some(e.id.clone());
            ops.push(Op::Upsert { file, id });
        }
        None => {
            stats.new += 1;
            ops.push(Op::Upsert { file, id: None });
        }
    }
}

/// Writes the pending operations and adds the outcome to `stats`.
async fn flush(
    writer: &writer::Writer<'_>,
    ops: &mut Vec<Op>,
    index: &mut FileIndex,
    stats: &mut CrawlStats,
) -> Result<(), CouchError> {
    let r = writer.flush(std::mem::take(ops), index).await?;
    stats.errors += r.failed as u64;
    stats.conflicts += r.conflicts as u64;
    Ok(())
}

/// The index key of a stored document: its exact path bytes.
/// (Undecodable stored bytes fall back to the lossy `export_path`.)
pub(crate) fn path_key_of_doc(file: &FileDoc) -> Vec<u8> {
    file.source
        .path_bytes()
        .unwrap_or_else(|_| file.source.export_path.as_bytes().to_vec())
}

/// Describes a path found on disk.
fn observe(path: &Path, meta: &std::fs::Metadata) -> (Observed, bool) {
    let bytes = path.as_os_str().as_bytes();
    let utf8 = std::str::from_utf8(bytes).is_ok();
    let export_path = path.to_string_lossy().into_owned();
    let export_parent = path
        .parent()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|| "/".into());
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mime_type = mime_guess::from_path(Path::new(&name))
        .first_raw()
        .map(str::to_owned);
    let mtime = meta
        .modified()
        .map(time::from_system_time)
        .unwrap_or_else(|_| time::from_system_time(std::time::UNIX_EPOCH));
    (
        Observed {
            key: bytes.to_vec(),
            export_path,
            export_path_bytes: (!utf8)
                .then(|| base64::engine::general_purpose::STANDARD.encode(bytes)),
            export_parent,
            name,
            size: meta.len(),
            mtime,
            mime_type,
        },
        utf8,
    )
}

/// Walks every root on a blocking thread and sends regular files in chunks.
fn walk(
    roots: &[PathBuf],
    tx: &mpsc::Sender<WalkMsg>,
    cancel: &CancellationToken,
    node_id: &str,
) -> WalkReport {
    let mut report = WalkReport::default();
    let canonical_roots = canonical(roots);
    let mut chunk = Vec::with_capacity(WALK_CHUNK);
    for root in roots {
        match std::fs::metadata(root) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                tracing::error!(node_id, path = %root.display(), operation = "crawl",
                    "watch path is not a directory; skipping it");
                report.errors += 1;
                report.incomplete.push(root.clone());
                continue;
            }
            Err(e) => {
                tracing::error!(node_id, path = %root.display(), error = %e, operation = "crawl",
                    "watch path is inaccessible; its files keep their documents");
                report.errors += 1;
                report.incomplete.push(root.clone());
                continue;
            }
        }
        let go_on = walk_tree(
            root,
            &canonical_roots,
            cancel,
            node_id,
            &mut report,
            &mut |observed| {
                chunk.push(observed);
                if chunk.len() >= WALK_CHUNK {
                    let full = std::mem::replace(&mut chunk, Vec::with_capacity(WALK_CHUNK));
                    return tx.blocking_send(WalkMsg::Files(full)).is_ok();
                }
                true
            },
        );
        if !go_on {
            return report;
        }
    }
    if !chunk.is_empty() {
        let _ = tx.blocking_send(WalkMsg::Files(chunk));
    }
    report
}

fn canonical(roots: &[PathBuf]) -> Vec<PathBuf> {
    roots
        .iter()
        .filter_map(|r| std::fs::canonicalize(r).ok())
        .collect()
}

/// Walks one tree and hands each indexable file to `emit`; returns false
/// when cancelled or when `emit` asks to stop.
fn walk_tree(
    root: &Path,
    canonical_roots: &[PathBuf],
    cancel: &CancellationToken,
    node_id: &str,
    report: &mut WalkReport,
    emit: &mut dyn FnMut(Observed) -> bool,
) -> bool {
    for entry in walkdir::WalkDir::new(root).follow_links(false) {
        if cancel.is_cancelled() {
            return false;
        }
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                let path = e
                    .path()
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| root.to_path_buf());
                let gone = e
                    .io_error()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound);
                if !gone {
                    tracing::warn!(node_id, path = %path.display(), error = %e, operation = "crawl",
                        "cannot read; skipping");
                    report.errors += 1;
                    report.incomplete.push(path);
                }
                continue;
            }
        };
        let ft = entry.file_type();
        if ft.is_dir() {
            continue;
        }
        let meta = || {
            entry.metadata().map_err(|e| {
                e.into_io_error()
                    .unwrap_or_else(|| std::io::Error::other("walk error"))
            })
        };
        if let Some(observed) =
            observe_entry(entry.path(), ft, meta, canonical_roots, node_id, report)
            && !emit(observed)
        {
            return false;
        }
    }
    true
}

/// Describes one directory entry that is not a directory, or counts why it
/// is not indexed.
fn observe_entry(
    path: &Path,
    ft: std::fs::FileType,
    meta: impl FnOnce() -> std::io::Result<std::fs::Metadata>,
    canonical_roots: &[PathBuf],
    node_id: &str,
    report: &mut WalkReport,
) -> Option<Observed> {
    let meta = if ft.is_symlink() {
        match symlink_target(path, canonical_roots) {
            Some(m) => m,
            None => {
                tracing::debug!(node_id, path = %path.display(), operation = "crawl",
                    "symlink not indexed (leads outside the watch paths, to a directory, or nowhere)");
                report.skipped += 1;
                return None;
            }
        }
    } else if ft.is_file() {
        match meta() {
            Ok(m) => m,
            Err(e) => {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(node_id, path = %path.display(), error = %e,
                        operation = "crawl", "cannot stat; skipping");
                    report.errors += 1;
                    report.incomplete.push(path.to_path_buf());
                }
                return None;
            }
        }
    } else {
        report.skipped += 1;
        return None;
    };
    let (observed, utf8) = observe(path, &meta);
    if !utf8 {
        report.non_utf8 += 1;
        tracing::warn!(node_id, path = %observed.export_path, operation = "crawl",
            "file name is not valid UTF-8; indexed with a lossy name and its exact bytes");
    }
    Some(observed)
}

/// The watcher's half of a walk: what is now at each of `scan` (files, or
/// whole directories walked), and which of `scan` and `maybe_gone` are
/// really gone. A path that cannot be read is neither observed nor gone.
fn observe_paths(
    scan: &[PathBuf],
    maybe_gone: &[PathBuf],
    roots: &[PathBuf],
    node_id: &str,
) -> (Vec<Observed>, Vec<PathBuf>, WalkReport) {
    let canonical_roots = canonical(roots);
    let mut report = WalkReport::default();
    let mut observed = Vec::new();
    let mut gone = Vec::new();
    let never = CancellationToken::new();
    let mut seen = std::collections::HashSet::new();
    for path in scan.iter().chain(maybe_gone) {
        if !seen.insert(path) {
            continue;
        }
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.is_dir() => {
                walk_tree(
                    path,
                    &canonical_roots,
                    &never,
                    node_id,
                    &mut report,
                    &mut |o| {
                        observed.push(o);
                        true
                    },
                );
            }
            Ok(m) => {
                let ft = m.file_type();
                if let Some(o) =
                    observe_entry(path, ft, || Ok(m), &canonical_roots, node_id, &mut report)
                {
                    observed.push(o);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => gone.push(path.clone()),
            Err(e) => {
                tracing::warn!(node_id, path = %path.display(), error = %e,
                    operation = "watch_apply", "cannot stat; skipping");
                report.errors += 1;
            }
        }
    }
    (observed, gone, report)
}

/// The metadata of a symlink's target if the link may be indexed: it resolves
/// to a regular file inside one of the (canonical) watch paths.
fn symlink_target(path: &Path, canonical_roots: &[PathBuf]) -> Option<std::fs::Metadata> {
    let target = std::fs::canonicalize(path).ok()?;
    if !canonical_roots.iter().any(|r| target.starts_with(r)) {
        return None;
    }
    let meta = std::fs::metadata(&target).ok()?;
    meta.is_file().then_some(meta)
}
