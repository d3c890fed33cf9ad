//! The on-disk file cache (plan 4.5, 4.6, 4.9): `index.db`, `files/` and
//! `tmp/` under one directory.
//!
//! ```text
//! {dir}/index.db                one row per cached file
//! {dir}/files/{key[0..2]}/{key} content (complete, or sparse in block mode)
//! {dir}/tmp/                    staging, emptied at open
//! ```
//!
//! Invariants: a file in `files/` is visible only through its row, and a row
//! is written only after its bytes are on disk (full entries are renamed in
//! from `tmp/`; block entries get `pwrite` first, then the map update in one
//! transaction). An entry whose `(size, mtime)` differs from the current file
//! document is dropped on lookup, never served. An entry with an open handle
//! ([`Cache::pin`]) is never evicted.
//!
//! All methods are async and run SQLite and file I/O on the blocking pool, so
//! callers on the runtime (the FUSE backend) never block.

use crate::block_map::{BlockMap, BlockMapError};
use crate::blocks::BlockState;
use crate::lock;
use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Default cap on cached bytes: 10 GB.
pub const DEFAULT_MAX_BYTES: u64 = 10_000_000_000;
/// Default minimum free space on the cache filesystem: 1 GB.
pub const DEFAULT_MIN_FREE_BYTES: u64 = 1_000_000_000;
/// Default interval between `last_access` writes.
pub const DEFAULT_ACCESS_DEBOUNCE: Duration = Duration::from_secs(30);

/// How the cache is set up.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// The cache directory (default `/var/lib/mosaicfs/cache`).
    pub dir: PathBuf,
    /// Evict while more than this many bytes are cached.
    pub max_bytes: u64,
    /// Evict while the cache filesystem has less free space than this.
    pub min_free_bytes: u64,
    /// `last_access` reaches `index.db` at most this often (reads only touch
    /// memory in between); eviction flushes pending touches first.
    pub access_debounce: Duration,
}

impl CacheConfig {
    /// Defaults for a cache in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> CacheConfig {
        CacheConfig {
            dir: dir.into(),
            max_bytes: DEFAULT_MAX_BYTES,
            min_free_bytes: DEFAULT_MIN_FREE_BYTES,
            access_debounce: DEFAULT_ACCESS_DEBOUNCE,
        }
    }
}

/// A cache failure (always `EIO` to a reader).
#[derive(Debug, Clone, thiserror::Error)]
pub enum CacheError {
    /// SQLite failed.
    #[error("index.db: {0}")]
    Sqlite(Arc<rusqlite::Error>),
    /// A file operation in the cache directory failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, with the path.
        context: String,
        /// The OS error.
        source: Arc<std::io::Error>,
    },
    /// A stored block map does not parse.
    #[error("block map of {key}: {source}")]
    BlockMap {
        /// Cache key.
        key: String,
        /// Why.
        source: BlockMapError,
    },
    /// A blocking task panicked or was cancelled.
    #[error("cache task failed: {0}")]
    Task(String),
}

impl From<rusqlite::Error> for CacheError {
    fn from(e: rusqlite::Error) -> Self {
        CacheError::Sqlite(Arc::new(e))
    }
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> CacheError {
    let context = context.into();
    move |e| CacheError::Io {
        context,
        source: Arc::new(e),
    }
}

/// How an entry holds its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The complete, verified file.
    Full,
    /// A sparse file plus a block map of present ranges.
    Block,
}

impl Mode {
    /// The `mode` column value.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Full => "full",
            Mode::Block => "block",
        }
    }
}

/// What identifies a cache entry and decides its freshness, taken from the
/// file document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryMeta {
    /// [`cache_key`] of `file_id`.
    pub key: String,
    /// `file::…`.
    pub file_id: String,
    /// Owning node.
    pub node_id: String,
    /// `source.export_path` (lossy form; the key uses the exact bytes).
    pub export_path: String,
    /// Size in the file document.
    pub size: u64,
    /// `mtime` of the file document, RFC 3339 as stored.
    pub mtime: String,
}

/// A row of `index.db`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Identity and freshness.
    pub meta: EntryMeta,
    /// Full or block.
    pub mode: Mode,
    /// Present ranges (empty for full entries).
    pub block_map: BlockMap,
    /// Bytes held on disk for this entry.
    pub cached_bytes: u64,
    /// Unix milliseconds of the last recorded access.
    pub last_access: i64,
    /// How it was obtained (`transfer`).
    pub source: String,
}

impl Entry {
    /// Whether `range` can be served from this entry.
    pub fn has(&self, range: Range<u64>) -> bool {
        match self.mode {
            Mode::Full => true,
            Mode::Block => self.block_map.contains(range),
        }
    }
}

/// `sha256_hex(file_id)`: one entry per file document. File ids are unique
/// across nodes, so two files never share an entry, whatever their paths
/// (two non-UTF-8 names with the same lossy path, or a path whose bytes the
/// reader does not know); a file that changes keeps its id and is caught by
/// the size/mtime check of [`Cache::lookup`].
pub fn cache_key(file_id: &str) -> String {
    hex::encode(Sha256::digest(file_id.as_bytes()))
}

/// The on-disk cache. Cheap to clone.
#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

struct Inner {
    cfg: CacheConfig,
    conn: Mutex<Connection>,
    /// Open handles per key; pinned keys are never evicted.
    open: Mutex<HashMap<String, u32>>,
    touches: Mutex<Touches>,
    staging_seq: AtomicU64,
    /// In-memory state of block-mode entries being read (see
    /// `crate::blocks`): dropped when the entry is removed, replaced by a
    /// full entry, or its last handle closes.
    blocks: Mutex<HashMap<String, Arc<BlockState>>>,
}

struct Touches {
    pending: HashMap<String, i64>,
    last_flush: Instant,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS entries (
    cache_key    TEXT PRIMARY KEY,
    file_id      TEXT NOT NULL,
    node_id      TEXT NOT NULL,
    export_path  TEXT NOT NULL,
    size         INTEGER NOT NULL,
    mtime        TEXT NOT NULL,
    mode         TEXT NOT NULL CHECK (mode IN ('full', 'block')),
    block_map    BLOB,
    cached_bytes INTEGER NOT NULL,
    last_access  INTEGER NOT NULL,
    source       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_by_access ON entries (last_access);
";

impl Cache {
    /// Opens (or creates) the cache in `cfg.dir`: empties `tmp/`, so nothing
    /// half-written by a killed process survives, and removes files in
    /// `files/` that have no row (a crash between rename and insert).
    pub async fn open(cfg: CacheConfig) -> Result<Cache, CacheError> {
        blocking(move || {
            let tmp = cfg.dir.join("tmp");
            let files = cfg.dir.join("files");
            if tmp.exists() {
                std::fs::remove_dir_all(&tmp)
                    .map_err(io_err(format!("empty {}", tmp.display())))?;
            }
            for d in [&tmp, &files] {
                std::fs::create_dir_all(d).map_err(io_err(format!("create {}", d.display())))?;
            }
            let conn = Connection::open(cfg.dir.join("index.db"))?;
            conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")?;
            conn.execute_batch(SCHEMA)?;
            let cache = Cache {
                inner: Arc::new(Inner {
                    cfg,
                    conn: Mutex::new(conn),
                    open: Mutex::default(),
                    touches: Mutex::new(Touches {
                        pending: HashMap::new(),
                        last_flush: Instant::now(),
                    }),
                    staging_seq: AtomicU64::new(0),
                    blocks: Mutex::default(),
                }),
            };
            cache.sweep_orphans_sync()?;
            Ok(cache)
        })
        .await
    }

    /// The configuration.
    pub fn config(&self) -> &CacheConfig {
        &self.inner.cfg
    }

    /// Where the content of `key` lives.
    pub fn file_path(&self, key: &str) -> PathBuf {
        self.inner
            .cfg
            .dir
            .join("files")
            .join(&key[..2.min(key.len())])
            .join(key)
    }

    /// The staging directory.
    pub fn tmp_dir(&self) -> PathBuf {
        self.inner.cfg.dir.join("tmp")
    }

    fn sweep_orphans_sync(&self) -> Result<(), CacheError> {
        let files = self.inner.cfg.dir.join("files");
        let known: std::collections::HashSet<String> = {
            let conn = lock(&self.inner.conn);
            let mut st = conn.prepare("SELECT cache_key FROM entries")?;
            st.query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<_, _>>()?
        };
        let Ok(shards) = std::fs::read_dir(&files) else {
            return Ok(());
        };
        for shard in shards.flatten() {
            let Ok(inner) = std::fs::read_dir(shard.path()) else {
                continue;
            };
            for f in inner.flatten() {
                let name = f.file_name().to_string_lossy().into_owned();
                if !known.contains(&name) {
                    tracing::info!(operation = "cache_open", path = %f.path().display(),
                        "removing a cache file without an index row");
                    let _ = std::fs::remove_file(f.path());
                }
            }
        }
        Ok(())
    }

    /// Marks `key` open: it is not evicted until as many [`Cache::unpin`]s.
    pub fn pin(&self, key: &str) {
        *lock(&self.inner.open).entry(key.to_string()).or_default() += 1;
    }

    /// Undoes one [`Cache::pin`].
    pub fn unpin(&self, key: &str) {
        let mut open = lock(&self.inner.open);
        if let Some(n) = open.get_mut(key) {
            *n -= 1;
            if *n == 0 {
                open.remove(key);
                lock(&self.inner.blocks).remove(key);
            }
        }
    }

    /// Number of open handles on `key`.
    pub fn open_count(&self, key: &str) -> u32 {
        lock(&self.inner.open).get(key).copied().unwrap_or(0)
    }

    /// The fresh entry for `meta`, if any. An entry whose size or mtime
    /// differs from `meta` (the current document) is deleted and `None` is
    /// returned: stale content is never served.
    pub async fn lookup(&self, meta: &EntryMeta) -> Result<Option<Entry>, CacheError> {
        let this = self.clone();
        let meta = meta.clone();
        blocking(move || {
            let Some(entry) = this.get_sync(&meta.key)? else {
                return Ok(None);
            };
            if entry.meta.size != meta.size || entry.meta.mtime != meta.mtime {
                tracing::info!(operation = "cache_lookup", file_id = %meta.file_id,
                    node_id = %meta.node_id, "dropping a stale cache entry (size or mtime changed)");
                this.remove_sync(&meta.key)?;
                return Ok(None);
            }
            Ok(Some(entry))
        })
        .await
    }

    /// Every entry (for tests and status pages).
    pub async fn entries(&self) -> Result<Vec<Entry>, CacheError> {
        let this = self.clone();
        blocking(move || {
            let conn = lock(&this.inner.conn);
            let mut st = conn.prepare(&format!("SELECT {COLUMNS} FROM entries"))?;
            let rows = st
                .query_map([], row_to_raw)?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter().map(RawRow::into_entry).collect()
        })
        .await
    }

    /// Sum of `cached_bytes`.
    pub async fn total_bytes(&self) -> Result<u64, CacheError> {
        let this = self.clone();
        blocking(move || Ok(this.total_sync()?)).await
    }

    fn total_sync(&self) -> Result<u64, rusqlite::Error> {
        let conn = lock(&self.inner.conn);
        conn.query_row(
            "SELECT COALESCE(SUM(cached_bytes), 0) FROM entries",
            [],
            |r| r.get::<_, i64>(0),
        )
        .map(|n| n as u64)
    }

    fn get_sync(&self, key: &str) -> Result<Option<Entry>, CacheError> {
        let raw = {
            let conn = lock(&self.inner.conn);
            conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM entries WHERE cache_key = ?1"
            ))?
            .query_row([key], row_to_raw)
            .optional()?
        };
        raw.map(RawRow::into_entry).transpose()
    }

    fn remove_sync(&self, key: &str) -> Result<(), CacheError> {
        lock(&self.inner.conn).execute("DELETE FROM entries WHERE cache_key = ?1", [key])?;
        lock(&self.inner.touches).pending.remove(key);
        lock(&self.inner.blocks).remove(key);
        match std::fs::remove_file(self.file_path(key)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(format!("remove cache file {key}"))(e)),
        }
    }

    /// Removes an entry and its file.
    pub async fn remove(&self, key: &str) -> Result<(), CacheError> {
        let this = self.clone();
        let key = key.to_string();
        blocking(move || this.remove_sync(&key)).await
    }

    /// A new empty staging file in `tmp/`.
    pub async fn stage(&self) -> Result<(PathBuf, tokio::fs::File), CacheError> {
        let n = self.inner.staging_seq.fetch_add(1, Ordering::Relaxed);
        let path = self.tmp_dir().join(format!(
            "{}-{n}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        let f = tokio::fs::File::create(&path)
            .await
            .map_err(io_err(format!("create {}", path.display())))?;
        Ok((path, f))
    }

    /// Deletes a staging file (after a failed or rejected transfer).
    pub async fn discard(&self, staged: &Path) {
        if let Err(e) = tokio::fs::remove_file(staged).await
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(operation = "cache_discard", path = %staged.display(), error = %e,
                "cannot remove a staging file");
        }
    }

    /// Moves a verified, complete staging file into `files/` by atomic rename
    /// and records it as a full entry (replacing any block entry), then
    /// evicts. Returns whether the cache is within its limits afterwards.
    pub async fn commit_full(&self, meta: &EntryMeta, staged: PathBuf) -> Result<bool, CacheError> {
        let this = self.clone();
        let meta = meta.clone();
        blocking(move || {
            let dest = this.file_path(&meta.key);
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(io_err(format!("create {}", parent.display())))?;
            }
            std::fs::rename(&staged, &dest).map_err(io_err(format!(
                "rename {} to {}",
                staged.display(),
                dest.display()
            )))?;
            lock(&this.inner.conn).execute(
                &format!("INSERT OR REPLACE INTO entries ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'full', NULL, ?7, ?8, 'transfer')"),
                params![meta.key, meta.file_id, meta.node_id, meta.export_path, meta.size as i64,
                    meta.mtime, meta.size as i64, now_ms()],
            )?;
            // Block-mode state of the replaced sparse file is reloaded.
            lock(&this.inner.blocks).remove(&meta.key);
            this.evict_sync(0)
        })
        .await
    }

    /// Writes `data` at `offset` of the sparse file of a block entry, then
    /// adds the range to its block map in one transaction (creating the row
    /// if needed), then evicts. Returns the updated map and whether the
    /// cache is within its limits. Writing into a full entry is a no-op.
    pub async fn write_block(
        &self,
        meta: &EntryMeta,
        offset: u64,
        data: Bytes,
    ) -> Result<(BlockMap, bool), CacheError> {
        let this = self.clone();
        let meta = meta.clone();
        blocking(move || {
            // A full entry is complete and verified: never write into it.
            let mode: Option<String> = lock(&this.inner.conn)
                .query_row(
                    "SELECT mode FROM entries WHERE cache_key = ?1",
                    [&meta.key],
                    |r| r.get(0),
                )
                .optional()?;
            if mode.as_deref() == Some("full") {
                return Ok((BlockMap::new(), this.evict_sync(0)?));
            }
            let path = this.file_path(&meta.key);
            let f = open_sized(&path, meta.size)?;
            f.write_all_at(&data, offset)
                .map_err(io_err(format!("write {}", path.display())))?;
            drop(f);

            let range = offset..offset + data.len() as u64;
            let mut conn = lock(&this.inner.conn);
            let tx = conn.transaction()?;
            let existing: Option<(String, Option<Vec<u8>>)> = tx
                .query_row(
                    "SELECT mode, block_map FROM entries WHERE cache_key = ?1",
                    [&meta.key],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let mut map = match existing {
                // Promoted meanwhile: the full file already holds these bytes.
                Some((mode, _)) if mode == "full" => {
                    drop(tx);
                    drop(conn);
                    return Ok((BlockMap::new(), this.evict_sync(0)?));
                }
                Some((_, Some(blob))) => BlockMap::from_bytes(&blob).map_err(|source| {
                    CacheError::BlockMap {
                        key: meta.key.clone(),
                        source,
                    }
                })?,
                _ => BlockMap::new(),
            };
            map.insert(range);
            tx.execute(
                &format!("INSERT OR REPLACE INTO entries ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'block', ?7, ?8, ?9, 'transfer')"),
                params![meta.key, meta.file_id, meta.node_id, meta.export_path, meta.size as i64,
                    meta.mtime, map.to_bytes(), map.present_bytes() as i64, now_ms()],
            )?;
            tx.commit()?;
            drop(conn);
            Ok((map, this.evict_sync(0)?))
        })
        .await
    }

    /// The in-memory block-mode state of `key`, if loaded.
    pub(crate) fn block_state(&self, key: &str) -> Option<Arc<BlockState>> {
        lock(&self.inner.blocks).get(key).cloned()
    }

    /// Registers the block-mode state of `key` and returns the registered
    /// one: `state`, or one registered meanwhile by another reader for the
    /// same version of the file (`same`), so concurrent first readers share
    /// one state. Not registered when `key` is not open: states live only
    /// while a handle is.
    pub(crate) fn set_block_state(
        &self,
        key: &str,
        state: Arc<BlockState>,
        same: impl Fn(&BlockState) -> bool,
    ) -> Arc<BlockState> {
        if self.open_count(key) == 0 {
            return state;
        }
        let mut blocks = lock(&self.inner.blocks);
        match blocks.get(key) {
            Some(existing) if same(existing) => existing.clone(),
            _ => {
                blocks.insert(key.to_string(), state.clone());
                state
            }
        }
    }

    /// Opens the content file of `meta` for block-mode reads and writes:
    /// read-only for a full entry, else read-write, created sparse with the
    /// file's size if needed.
    pub(crate) async fn open_content(
        &self,
        meta: &EntryMeta,
        full: bool,
    ) -> Result<std::fs::File, CacheError> {
        let path = self.file_path(&meta.key);
        let size = meta.size;
        blocking(move || {
            if full {
                return std::fs::File::open(&path)
                    .map_err(io_err(format!("open {}", path.display())));
            }
            open_sized(&path, size)
        })
        .await
    }

    /// Adds `range`, already written to the entry's sparse file, to its
    /// block map in one transaction (creating the row if needed), then
    /// evicts; returns whether the cache is within its limits. Nothing is
    /// recorded into a full entry or into a row for another version of the
    /// file (size or mtime differ: the bytes are of a stale fetch).
    pub(crate) async fn record_blocks(
        &self,
        meta: &EntryMeta,
        range: Range<u64>,
    ) -> Result<bool, CacheError> {
        let this = self.clone();
        let meta = meta.clone();
        blocking(move || {
            {
                let mut conn = lock(&this.inner.conn);
                let tx = conn.transaction()?;
                let existing: Option<(String, i64, String, Option<Vec<u8>>)> = tx
                    .prepare_cached(
                        "SELECT mode, size, mtime, block_map FROM entries WHERE cache_key = ?1",
                    )?
                    .query_row([&meta.key], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                    })
                    .optional()?;
                let mut map = match existing {
                    Some((mode, _, _, _)) if mode == "full" => return Ok(true),
                    Some((_, size, mtime, _)) if size as u64 != meta.size || mtime != meta.mtime => {
                        return Ok(true);
                    }
                    Some((_, _, _, Some(blob))) => {
                        BlockMap::from_bytes(&blob).map_err(|source| CacheError::BlockMap {
                            key: meta.key.clone(),
                            source,
                        })?
                    }
                    _ => BlockMap::new(),
                };
                map.insert(range);
                tx.prepare_cached(&format!("INSERT OR REPLACE INTO entries ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'block', ?7, ?8, ?9, 'transfer')"))?
                    .execute(params![meta.key, meta.file_id, meta.node_id, meta.export_path,
                        meta.size as i64, meta.mtime, map.to_bytes(), map.present_bytes() as i64, now_ms()])?;
                tx.commit()?;
            }
            this.evict_sync(0)
        })
        .await
    }

    /// Reads `len` bytes at `offset` of the content of `key` (short at EOF).
    pub async fn read_at(&self, key: &str, offset: u64, len: usize) -> Result<Bytes, CacheError> {
        let path = self.file_path(key);
        blocking(move || {
            let f =
                std::fs::File::open(&path).map_err(io_err(format!("open {}", path.display())))?;
            read_exact_at(&f, offset, len).map_err(io_err(format!("read {}", path.display())))
        })
        .await
    }

    /// Records an access to `key`. Touches stay in memory and reach
    /// `index.db` in one transaction at most once per `access_debounce`.
    pub async fn touch(&self, key: &str) -> Result<(), CacheError> {
        let flush = {
            let mut t = lock(&self.inner.touches);
            t.pending.insert(key.to_string(), now_ms());
            t.last_flush.elapsed() >= self.inner.cfg.access_debounce
        };
        if flush {
            let this = self.clone();
            blocking(move || this.flush_touches_sync()).await?;
        }
        Ok(())
    }

    fn flush_touches_sync(&self) -> Result<(), CacheError> {
        let pending = {
            let mut t = lock(&self.inner.touches);
            t.last_flush = Instant::now();
            std::mem::take(&mut t.pending)
        };
        if pending.is_empty() {
            return Ok(());
        }
        let mut conn = lock(&self.inner.conn);
        let tx = conn.transaction()?;
        {
            let mut st = tx.prepare(
                "UPDATE entries SET last_access = MAX(last_access, ?2) WHERE cache_key = ?1",
            )?;
            for (k, at) in &pending {
                st.execute(params![k, at])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Free bytes for unprivileged users on the cache filesystem.
    pub fn free_bytes(&self) -> Result<u64, CacheError> {
        let s = rustix::fs::statvfs(&self.inner.cfg.dir).map_err(|e| CacheError::Io {
            context: format!("statvfs {}", self.inner.cfg.dir.display()),
            source: Arc::new(e.into()),
        })?;
        Ok(s.f_bavail.saturating_mul(s.f_frsize))
    }

    /// Evicts until `incoming` more bytes fit under the cap and above the
    /// free-space minimum. `false` means they do not fit even after evicting
    /// everything that is not open: the caller should stream without caching.
    pub async fn make_room(&self, incoming: u64) -> Result<bool, CacheError> {
        let this = self.clone();
        blocking(move || this.evict_sync(incoming)).await
    }

    /// Evicts in ascending `last_access`, skipping open entries, until the
    /// limits hold with `incoming` more bytes; returns whether they do.
    fn evict_sync(&self, incoming: u64) -> Result<bool, CacheError> {
        let cfg = &self.inner.cfg;
        let fits = |total: u64, free: u64| {
            total.saturating_add(incoming) <= cfg.max_bytes
                && free >= cfg.min_free_bytes.saturating_add(incoming)
        };
        let mut total = self.total_sync()?;
        let mut free = self.free_bytes()?;
        if fits(total, free) {
            return Ok(true);
        }
        self.flush_touches_sync()?;
        let candidates: Vec<(String, u64)> = {
            let conn = lock(&self.inner.conn);
            let mut st = conn
                .prepare("SELECT cache_key, cached_bytes FROM entries ORDER BY last_access ASC")?;
            st.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?
                .collect::<Result<_, _>>()?
        };
        for (key, bytes) in candidates {
            if fits(total, free) {
                break;
            }
            if self.open_count(&key) > 0 {
                continue;
            }
            tracing::debug!(operation = "cache_evict", cache_key = %key, bytes, "evicting");
            self.remove_sync(&key)?;
            total = total.saturating_sub(bytes);
            free = self.free_bytes()?;
        }
        let ok = fits(total, free);
        if !ok {
            tracing::warn!(
                operation = "cache_evict",
                total,
                free,
                incoming,
                "cache over its limits and nothing more can be evicted (open files)"
            );
        }
        Ok(ok)
    }
}

const COLUMNS: &str = "cache_key, file_id, node_id, export_path, size, mtime, mode, block_map, cached_bytes, last_access, source";

struct RawRow {
    meta: EntryMeta,
    mode: String,
    blob: Option<Vec<u8>>,
    cached_bytes: i64,
    last_access: i64,
    source: String,
}

fn row_to_raw(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawRow> {
    Ok(RawRow {
        meta: EntryMeta {
            key: r.get(0)?,
            file_id: r.get(1)?,
            node_id: r.get(2)?,
            export_path: r.get(3)?,
            size: r.get::<_, i64>(4)? as u64,
            mtime: r.get(5)?,
        },
        mode: r.get(6)?,
        blob: r.get(7)?,
        cached_bytes: r.get(8)?,
        last_access: r.get(9)?,
        source: r.get(10)?,
    })
}

impl RawRow {
    fn into_entry(self) -> Result<Entry, CacheError> {
        let mode = if self.mode == "full" {
            Mode::Full
        } else {
            Mode::Block
        };
        let block_map = match (&mode, &self.blob) {
            (Mode::Block, Some(b)) => {
                BlockMap::from_bytes(b).map_err(|source| CacheError::BlockMap {
                    key: self.meta.key.clone(),
                    source,
                })?
            }
            _ => BlockMap::new(),
        };
        Ok(Entry {
            meta: self.meta,
            mode,
            block_map,
            cached_bytes: self.cached_bytes as u64,
            last_access: self.last_access,
            source: self.source,
        })
    }
}

/// Opens a partial entry's content file for reading and writing, creating
/// it (and its directory) if needed and setting its length to `size`, so
/// blocks can be written at their offsets.
fn open_sized(path: &Path, size: u64) -> Result<std::fs::File, CacheError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io_err(format!("create {}", parent.display())))?;
    }
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .map_err(io_err(format!("open {}", path.display())))?;
    let ctx = || format!("size {}", path.display());
    if f.metadata().map_err(io_err(ctx()))?.len() != size {
        f.set_len(size).map_err(io_err(ctx()))?;
    }
    Ok(f)
}

/// Reads up to `len` bytes at `offset`, stopping early only at end of file.
pub(crate) fn read_exact_at(f: &std::fs::File, offset: u64, len: usize) -> std::io::Result<Bytes> {
    let mut buf = vec![0u8; len];
    let mut done = 0;
    while done < len {
        match f.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(done);
    Ok(Bytes::from(buf))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, CacheError> + Send + 'static,
) -> Result<T, CacheError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| CacheError::Task(e.to_string()))?
}

#[cfg(test)]
// Lists of one interval are interval lists here, not ranges to collect.
#[allow(clippy::single_range_in_vec_init)]
mod tests {
    use super::*;

    fn meta(name: &str, size: u64) -> EntryMeta {
        EntryMeta {
            key: cache_key(&format!("file::{name}")),
            file_id: format!("file::{name}"),
            node_id: "node-a".into(),
            export_path: format!("/data/{name}"),
            size,
            mtime: "2026-01-01T00:00:00.5Z".into(),
        }
    }

    async fn cache(dir: &Path, max_bytes: u64) -> Cache {
        let mut cfg = CacheConfig::new(dir);
        cfg.max_bytes = max_bytes;
        cfg.min_free_bytes = 0;
        Cache::open(cfg).await.unwrap()
    }

    async fn put_full(c: &Cache, m: &EntryMeta, content: &[u8]) -> bool {
        let (path, _) = c.stage().await.unwrap();
        std::fs::write(&path, content).unwrap();
        c.commit_full(m, path).await.unwrap()
    }

    #[test]
    fn keys_hash_the_file_id() {
        assert_eq!(
            cache_key("file::0190a1b2"),
            hex::encode(Sha256::digest(b"file::0190a1b2")),
            "sha256 of the file id"
        );
        assert_ne!(cache_key("file::a"), cache_key("file::b"));
    }

    #[tokio::test]
    async fn full_entries_are_served_while_fresh_and_dropped_when_stale() {
        let tmp = tempfile::tempdir().unwrap();
        let c = cache(tmp.path(), 1 << 30).await;
        let m = meta("a", 5);
        assert!(c.lookup(&m).await.unwrap().is_none());
        assert!(put_full(&c, &m, b"hello").await);
        let e = c.lookup(&m).await.unwrap().unwrap();
        assert_eq!(
            (e.mode, e.cached_bytes, e.source.as_str()),
            (Mode::Full, 5, "transfer")
        );
        assert_eq!(c.read_at(&m.key, 1, 10).await.unwrap().as_ref(), b"ello");

        let mut newer = m.clone();
        newer.mtime = "2026-01-02T00:00:00Z".into();
        assert!(c.lookup(&newer).await.unwrap().is_none(), "mtime changed");
        assert!(!c.file_path(&m.key).exists(), "stale content is deleted");
        assert!(put_full(&c, &m, b"hello").await);
        let mut bigger = m.clone();
        bigger.size = 6;
        assert!(c.lookup(&bigger).await.unwrap().is_none(), "size changed");
    }

    #[tokio::test]
    async fn block_writes_build_a_sparse_file_and_a_map() {
        let tmp = tempfile::tempdir().unwrap();
        let c = cache(tmp.path(), 1 << 30).await;
        let m = meta("big", 1000);
        let (map, ok) = c
            .write_block(&m, 100, Bytes::from_static(b"abc"))
            .await
            .unwrap();
        assert!(ok);
        assert_eq!(map.ranges(), &[100..103]);
        c.write_block(&m, 103, Bytes::from_static(b"def"))
            .await
            .unwrap();
        let e = c.lookup(&m).await.unwrap().unwrap();
        assert_eq!(e.mode, Mode::Block);
        assert_eq!(e.block_map.ranges(), &[100..106]);
        assert_eq!(e.cached_bytes, 6);
        assert!(e.has(101..106) && !e.has(99..101));
        assert_eq!(c.read_at(&m.key, 100, 6).await.unwrap().as_ref(), b"abcdef");
        assert_eq!(std::fs::metadata(c.file_path(&m.key)).unwrap().len(), 1000);
        // Promotion to a full entry replaces the map.
        assert!(put_full(&c, &m, &[7u8; 1000]).await);
        let e = c.lookup(&m).await.unwrap().unwrap();
        assert_eq!((e.mode, e.cached_bytes), (Mode::Full, 1000));
    }

    #[tokio::test]
    async fn eviction_goes_by_last_access_and_skips_open_entries() {
        let tmp = tempfile::tempdir().unwrap();
        let c = cache(tmp.path(), 250).await;
        let (a, b, d) = (meta("a", 100), meta("b", 100), meta("d", 100));
        assert!(put_full(&c, &a, &[1; 100]).await);
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert!(put_full(&c, &b, &[2; 100]).await);
        tokio::time::sleep(Duration::from_millis(5)).await;
        // `a` is open, so `b` (the next oldest) goes when `d` arrives.
        c.pin(&a.key);
        assert!(put_full(&c, &d, &[3; 100]).await);
        let keys: Vec<String> = c
            .entries()
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.meta.key)
            .collect();
        assert!(keys.contains(&a.key) && keys.contains(&d.key) && !keys.contains(&b.key));
        assert!(!c.file_path(&b.key).exists());

        // Nothing can make room for 300 bytes while both are open.
        c.pin(&d.key);
        assert!(!c.make_room(300).await.unwrap());
        assert_eq!(c.total_bytes().await.unwrap(), 200);
        c.unpin(&a.key);
        assert!(c.make_room(100).await.unwrap(), "a is closed now");
        assert_eq!(c.total_bytes().await.unwrap(), 100);
        assert_eq!(c.open_count(&d.key), 1);
    }

    #[tokio::test]
    async fn touches_are_debounced_and_flushed_before_eviction() {
        let tmp = tempfile::tempdir().unwrap();
        let c = cache(tmp.path(), 250).await;
        let (a, b, d) = (meta("a", 100), meta("b", 100), meta("d", 100));
        assert!(put_full(&c, &a, &[1; 100]).await);
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert!(put_full(&c, &b, &[2; 100]).await);
        tokio::time::sleep(Duration::from_millis(5)).await;
        let before = c.lookup(&a).await.unwrap().unwrap().last_access;
        c.touch(&a.key).await.unwrap();
        assert_eq!(
            c.lookup(&a).await.unwrap().unwrap().last_access,
            before,
            "a read does not write index.db"
        );
        // Eviction sees the pending touch: `b` is now the oldest.
        assert!(put_full(&c, &d, &[3; 100]).await);
        let keys: Vec<String> = c
            .entries()
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.meta.key)
            .collect();
        assert!(keys.contains(&a.key) && !keys.contains(&b.key), "{keys:?}");
    }

    #[tokio::test]
    async fn reopening_empties_tmp_and_removes_files_without_rows() {
        let tmp = tempfile::tempdir().unwrap();
        let c = cache(tmp.path(), 1 << 30).await;
        let m = meta("kept", 3);
        assert!(put_full(&c, &m, b"abc").await);
        let (half_written, _) = c.stage().await.unwrap();
        std::fs::write(&half_written, b"partial").unwrap();
        let orphan = c.file_path(&cache_key("file::orphan"));
        std::fs::create_dir_all(orphan.parent().unwrap()).unwrap();
        std::fs::write(&orphan, b"no row").unwrap();
        drop(c);

        let c = cache(tmp.path(), 1 << 30).await;
        assert_eq!(std::fs::read_dir(c.tmp_dir()).unwrap().count(), 0);
        assert!(!orphan.exists());
        assert_eq!(c.read_at(&m.key, 0, 3).await.unwrap().as_ref(), b"abc");
    }
}
