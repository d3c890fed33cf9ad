//! The read path the OS backend calls: `open` picks the tier and pins the
//! cache entry, `read` serves bytes from the local file, a mount, or the
//! cache (fetching what is missing), and dropping the handle releases it.
//!
//! Everything is async; file and SQLite work runs on the blocking pool and
//! network work on the runtime, so a slow peer delays only its own readers.
//! Concurrent readers of the same missing data share one in-flight fetch
//! (a `Shared` future per full file or per coalesced range), which runs as
//! its own task so it completes for the others even if one reader goes.

use crate::blocks::{BlockRead, DEFAULT_MAX_READAHEAD, Outcome};
use crate::cache::{Cache, EntryMeta, Mode, cache_key, read_exact_at};
use crate::error::VfsError;
use crate::fetch::{FetchError, NodeSource, Signer, TransferClient, TransferConfig, endpoint_of};
use crate::lock;
use crate::tier::{CloudPlaceholderCheck, EvictionCheck, Tier, select_tier};
use bytes::Bytes;
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use mosaicfs_common::documents::{FileDoc, FileStatus, NodeDoc};
use std::collections::HashMap;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Files below this size are fetched whole; larger ones in blocks.
pub const DEFAULT_FULL_FILE_THRESHOLD: u64 = 50_000_000;
/// Block-mode fetches are widened to multiples of this.
pub const DEFAULT_BLOCK_SIZE: u64 = 1 << 20;
/// How long a node document is reused before it is read again.
pub const DEFAULT_NODE_CACHE_TTL: Duration = Duration::from_secs(10);

/// Settings of the read path.
#[derive(Debug, Clone)]
pub struct VfsConfig {
    /// This node's id.
    pub node_id: String,
    /// This node's watch paths (Tier 1 containment).
    pub watch_paths: Vec<PathBuf>,
    /// Full-file mode below this size, block mode at and above it.
    pub full_file_threshold: u64,
    /// Alignment of block-mode fetches.
    pub block_size: u64,
    /// Largest read-ahead window of a sequential block-mode reader (0:
    /// none); see `crate::blocks`.
    pub max_readahead: u64,
    /// Reuse of node documents.
    pub node_cache_ttl: Duration,
    /// Timeouts and retries of transfers.
    pub transfer: TransferConfig,
}

impl VfsConfig {
    /// Defaults for `node_id` with `watch_paths`.
    pub fn new(node_id: &str, watch_paths: Vec<PathBuf>) -> VfsConfig {
        VfsConfig {
            node_id: node_id.to_string(),
            watch_paths,
            full_file_threshold: DEFAULT_FULL_FILE_THRESHOLD,
            block_size: DEFAULT_BLOCK_SIZE,
            max_readahead: DEFAULT_MAX_READAHEAD,
            node_cache_ttl: DEFAULT_NODE_CACHE_TTL,
            transfer: TransferConfig::default(),
        }
    }
}

type SharedFetch = Shared<BoxFuture<'static, Result<(), VfsError>>>;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum FetchKey {
    Full(String),
}

/// The read path. Cheap to clone.
#[derive(Clone)]
pub struct Vfs {
    inner: Arc<Inner>,
}

struct Inner {
    cfg: VfsConfig,
    cache: Cache,
    nodes: Arc<dyn NodeSource>,
    client: TransferClient,
    eviction: Arc<dyn EvictionCheck>,
    inflight: Mutex<HashMap<FetchKey, SharedFetch>>,
    node_cache: Mutex<HashMap<String, (Instant, Option<NodeDoc>)>>,
}

/// The handle of `file` served from a local path (Tiers 1–3), opened on the
/// calling thread (blocking); `None` for Tier 4.
fn local_handle(file: &FileDoc, tier: Tier) -> Result<Option<FileHandle>, VfsError> {
    let local = match &tier {
        Tier::Local(path) | Tier::Mount { path, .. } => std::fs::File::open(path)
            .map_err(|e| VfsError::local(format!("open {}", path.display()), e))?,
        Tier::Remote => return Ok(None),
    };
    Ok(Some(FileHandle {
        file: file.clone(),
        tier,
        local: Some(Arc::new(local)),
        remote: None,
    }))
}

/// An open file. Dropping it releases the cache pin.
pub struct FileHandle {
    file: FileDoc,
    tier: Tier,
    local: Option<Arc<std::fs::File>>,
    remote: Option<Remote>,
}

struct Remote {
    node: NodeDoc,
    meta: EntryMeta,
    _pin: Pin,
}

struct Pin {
    cache: Cache,
    key: String,
}

impl Drop for Pin {
    fn drop(&mut self) {
        self.cache.unpin(&self.key);
    }
}

impl std::fmt::Debug for FileHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileHandle")
            .field("file_id", &self.file.id)
            .field("tier", &self.tier)
            .field("cache_key", &self.cache_key())
            .finish()
    }
}

impl FileHandle {
    /// The tier serving this handle.
    pub fn tier(&self) -> &Tier {
        &self.tier
    }

    /// The file document it was opened with.
    pub fn file(&self) -> &FileDoc {
        &self.file
    }

    /// The open local file, for Tiers 1–3 (the FUSE backend hands it to
    /// the kernel for passthrough).
    pub fn local_file(&self) -> Option<&std::fs::File> {
        self.local.as_deref()
    }

    /// The cache key, for remote files.
    pub fn cache_key(&self) -> Option<&str> {
        self.remote.as_ref().map(|r| r.meta.key.as_str())
    }
}

impl Vfs {
    /// A read path for this node, caching in `cache`, reading node documents
    /// from `nodes` and signing transfers with `signer`.
    pub fn new(
        cfg: VfsConfig,
        cache: Cache,
        nodes: Arc<dyn NodeSource>,
        signer: Arc<dyn Signer>,
    ) -> Vfs {
        Vfs::with_eviction_check(cfg, cache, nodes, signer, Arc::new(CloudPlaceholderCheck))
    }

    /// As [`Vfs::new`] with an iCloud eviction check for Tier 3.
    pub fn with_eviction_check(
        cfg: VfsConfig,
        cache: Cache,
        nodes: Arc<dyn NodeSource>,
        signer: Arc<dyn Signer>,
        eviction: Arc<dyn EvictionCheck>,
    ) -> Vfs {
        let client = TransferClient::new(signer, cfg.transfer.clone());
        Vfs {
            inner: Arc::new(Inner {
                cfg,
                cache,
                nodes,
                client,
                eviction,
                inflight: Mutex::default(),
                node_cache: Mutex::default(),
            }),
        }
    }

    /// The cache.
    pub fn cache(&self) -> &Cache {
        &self.inner.cache
    }

    async fn node(&self, node_id: &str) -> Result<Option<NodeDoc>, VfsError> {
        if let Some((at, doc)) = lock(&self.inner.node_cache).get(node_id)
            && at.elapsed() < self.inner.cfg.node_cache_ttl
        {
            return Ok(doc.clone());
        }
        let doc = self.inner.nodes.node(node_id).await?;
        lock(&self.inner.node_cache).insert(node_id.to_string(), (Instant::now(), doc.clone()));
        Ok(doc)
    }

    /// Opens `file` if it lives on this node (Tier 1), on the calling
    /// thread, which must be allowed to block; `None` for files of other
    /// nodes (use [`Vfs::open`]). One blocking step for tier selection and
    /// the open together is what keeps `open` of small files cheap.
    pub fn open_local_blocking(&self, file: &FileDoc) -> Option<Result<FileHandle, VfsError>> {
        (file.source.node_id == self.inner.cfg.node_id).then(|| self.open_own(file))
    }

    /// Opens a file of this node (blocking).
    fn open_own(&self, file: &FileDoc) -> Result<FileHandle, VfsError> {
        if file.status != FileStatus::Active {
            return Err(VfsError::NotFound(format!("{} is deleted", file.id)));
        }
        let cfg = &self.inner.cfg;
        let tier = select_tier(
            file,
            &cfg.node_id,
            &cfg.watch_paths,
            &[],
            &*self.inner.eviction,
        )?;
        // A file of this node is never served remotely.
        local_handle(file, tier)?.ok_or_else(|| {
            VfsError::NotFound(format!("{} is not readable on its own node", file.id))
        })
    }

    /// Opens `file`: picks its tier, opens local files, and for remote files
    /// checks that the owner can serve and pins the cache entry.
    pub async fn open(&self, file: &FileDoc) -> Result<FileHandle, VfsError> {
        if file.status != FileStatus::Active {
            return Err(VfsError::NotFound(format!("{} is deleted", file.id)));
        }
        let cfg = &self.inner.cfg;
        if file.source.node_id == cfg.node_id {
            let (vfs, f) = (self.clone(), file.clone());
            return spawn_blocking(move || vfs.open_own(&f)).await;
        }
        // Both node documents at once: this node's (network mounts, for
        // tier selection) and the owner's (its endpoint, for Tier 4); and
        // meanwhile the cache: unless it holds the whole file, the transfer
        // token is asked for now, so that the first read does not wait for
        // it after the open (it is wasted only if a network mount serves
        // the file).
        let owner = &file.source.node_id;
        let key = cache_key(&file.id);
        let meta = EntryMeta {
            key: key.clone(),
            file_id: file.id.clone(),
            node_id: owner.clone(),
            export_path: file.source.export_path.clone(),
            size: file.size,
            mtime: mosaicfs_common::time::format(&file.mtime),
        };
        let cached = async {
            let entry = self.inner.cache.lookup(&meta).await?;
            let complete = entry.is_some_and(|e| e.has(0..file.size));
            if !complete {
                self.inner.client.prepare(owner, &file.id);
            }
            Ok::<_, crate::cache::CacheError>(complete)
        };
        let (own, owner_doc, complete) =
            tokio::join!(self.node(&cfg.node_id), self.node(owner), cached);
        let mounts = own?.map(|n| n.network_mounts).unwrap_or_default();
        let (f, node_id, watch, eviction) = (
            file.clone(),
            cfg.node_id.clone(),
            cfg.watch_paths.clone(),
            self.inner.eviction.clone(),
        );
        // Tier selection and, for Tiers 2/3, the open in one blocking step.
        let (tier, local) = spawn_blocking(move || {
            let tier = select_tier(&f, &node_id, &watch, &mounts, &*eviction)?;
            let local = local_handle(&f, tier.clone())?;
            Ok((tier, local))
        })
        .await?;
        match local {
            Some(handle) => Ok(handle),
            None => {
                let node = owner_doc?.ok_or_else(|| {
                    VfsError::Fetch(FetchError::NodeUnavailable {
                        node_id: owner.clone(),
                        why: "no node document".into(),
                    })
                })?;
                endpoint_of(&node)?;
                self.inner.cache.pin(&key);
                let pin = Pin {
                    cache: self.inner.cache.clone(),
                    key: key.clone(),
                };
                // A complete, current copy in the cache is opened like a
                // local file, so the FUSE backend can pass reads through to
                // it (the pin keeps it from eviction while open); a copy
                // completed since the lookup is read through the block path.
                let local = match complete? {
                    true => self.open_cached(&meta).await?,
                    false => None,
                };
                Ok(FileHandle {
                    file: file.clone(),
                    tier,
                    local,
                    remote: Some(Remote {
                        node,
                        meta,
                        _pin: pin,
                    }),
                })
            }
        }
    }

    /// The cache file of `meta`, which the cache's lookup found complete
    /// for the current version, opened for reading. Records the access,
    /// since reads of the returned file do not pass through
    /// [`Vfs::read_handle`]'s cache path.
    async fn open_cached(&self, meta: &EntryMeta) -> Result<Option<Arc<std::fs::File>>, VfsError> {
        let cache = &self.inner.cache;
        let path = cache.file_path(&meta.key);
        let opened = spawn_blocking(move || {
            std::fs::File::open(&path)
                .map_err(|e| VfsError::local(format!("open {}", path.display()), e))
        })
        .await;
        match opened {
            Ok(f) => {
                cache.touch(&meta.key).await?;
                Ok(Some(Arc::new(f)))
            }
            // Evicted or removed between the lookup and the open: read
            // through the cache path, which fetches again.
            Err(e) => {
                tracing::debug!(operation = "vfs_open", file_id = %meta.file_id, error = %e,
                    "cached copy vanished; reading remotely");
                Ok(None)
            }
        }
    }

    /// Releases a handle (same as dropping it).
    pub fn release(&self, handle: FileHandle) {
        drop(handle);
    }

    /// Opens, reads `len` bytes at `offset`, and releases.
    pub async fn read(&self, file: &FileDoc, offset: u64, len: usize) -> Result<Bytes, VfsError> {
        let h = self.open(file).await?;
        self.read_handle(&h, offset, len).await
    }

    /// Reads up to `len` bytes at `offset` (short only at end of file).
    pub async fn read_handle(
        &self,
        h: &FileHandle,
        offset: u64,
        len: usize,
    ) -> Result<Bytes, VfsError> {
        if let Some(local) = &h.local {
            let f = local.clone();
            return spawn_blocking(move || {
                read_exact_at(&f, offset, len).map_err(|e| VfsError::local("read local file", e))
            })
            .await;
        }
        let Some(remote) = &h.remote else {
            return Err(VfsError::Io("handle without a source".into()));
        };
        let size = h.file.size;
        let end = offset.saturating_add(len as u64).min(size);
        if offset >= end {
            return Ok(Bytes::new());
        }
        let range = offset..end;
        let r = if size < self.inner.cfg.full_file_threshold {
            self.read_full_mode(&h.file, remote, range).await
        } else {
            self.read_block_mode(&h.file, remote, range).await
        };
        if let Err(e) = &r {
            tracing::debug!(operation = "vfs_read", file_id = %h.file.id, error = %e, "read failed");
        }
        r
    }

    async fn read_full_mode(
        &self,
        file: &FileDoc,
        remote: &Remote,
        range: Range<u64>,
    ) -> Result<Bytes, VfsError> {
        let cache = &self.inner.cache;
        let key = &remote.meta.key;
        if let Some(e) = cache.lookup(&remote.meta).await?
            && e.has(range.clone())
        {
            return self.serve(key, range).await;
        }
        if !cache.make_room(file.size).await? {
            return self.uncached(file, remote, range).await;
        }
        self.fetch_full_shared(file, remote).await?;
        self.serve(key, range).await
    }

    /// Block mode: see `crate::blocks` (present bytes from the sparse
    /// cache file, missing ones streamed in with `Range` requests shared by
    /// all readers, read-ahead for sequential readers).
    async fn read_block_mode(
        &self,
        file: &FileDoc,
        remote: &Remote,
        range: Range<u64>,
    ) -> Result<Bytes, VfsError> {
        let cfg = &self.inner.cfg;
        let read = BlockRead {
            cache: &self.inner.cache,
            client: &self.inner.client,
            node: &remote.node,
            file,
            meta: &remote.meta,
            block_size: cfg.block_size,
            max_readahead: cfg.max_readahead,
        };
        match read.read(range.clone()).await? {
            Outcome::Data(bytes) => Ok(bytes),
            Outcome::NoRoom => self.uncached(file, remote, range).await,
            Outcome::Promote => {
                if !self.inner.cache.make_room(file.size).await? {
                    return self.uncached(file, remote, range).await;
                }
                self.fetch_full_shared(file, remote).await?;
                self.serve(&remote.meta.key, range).await
            }
        }
    }

    /// Serves `range` from the cache file and records the access.
    async fn serve(&self, key: &str, range: Range<u64>) -> Result<Bytes, VfsError> {
        let cache = &self.inner.cache;
        let bytes = cache
            .read_at(key, range.start, (range.end - range.start) as usize)
            .await?;
        cache.touch(key).await?;
        Ok(bytes)
    }

    /// The cache is full of open files: stream the range without caching.
    async fn uncached(
        &self,
        file: &FileDoc,
        remote: &Remote,
        range: Range<u64>,
    ) -> Result<Bytes, VfsError> {
        tracing::info!(operation = "vfs_read", file_id = %file.id, "cache full, streaming without caching");
        self.inner
            .client
            .fetch_range(&remote.node, file, range)
            .await
            .map_err(|e| log_fetch_error(file, e))
    }

    async fn shared(
        &self,
        key: FetchKey,
        work: BoxFuture<'static, Result<(), VfsError>>,
    ) -> Result<(), VfsError> {
        let fut = {
            let mut inflight = lock(&self.inner.inflight);
            match inflight.get(&key) {
                Some(f) => f.clone(),
                None => {
                    let inner = self.inner.clone();
                    let k = key.clone();
                    let task = tokio::spawn(async move {
                        let r = work.await;
                        lock(&inner.inflight).remove(&k);
                        r
                    });
                    let f: SharedFetch = async move {
                        task.await
                            .unwrap_or_else(|e| Err(VfsError::Io(format!("fetch task: {e}"))))
                    }
                    .boxed()
                    .shared();
                    inflight.insert(key, f.clone());
                    f
                }
            }
        };
        fut.await
    }

    /// Fetches the whole file into the cache (one fetch for all readers).
    async fn fetch_full_shared(&self, file: &FileDoc, remote: &Remote) -> Result<(), VfsError> {
        let (vfs, file, node, meta) = (
            self.clone(),
            file.clone(),
            remote.node.clone(),
            remote.meta.clone(),
        );
        let work = async move {
            let cache = &vfs.inner.cache;
            // Another reader may have completed it just before we registered.
            if let Some(e) = cache.lookup(&meta).await?
                && e.mode == Mode::Full
            {
                return Ok(());
            }
            let (staged, f) = cache.stage().await?;
            drop(f);
            match vfs.inner.client.fetch_full(&node, &file, &staged).await {
                Ok(_) => {
                    cache.commit_full(&meta, staged).await?;
                    Ok(())
                }
                Err(e) => {
                    cache.discard(&staged).await;
                    Err(log_fetch_error(&file, e))
                }
            }
        }
        .boxed();
        self.shared(FetchKey::Full(remote.meta.key.clone()), work)
            .await
    }
}

fn log_fetch_error(file: &FileDoc, e: FetchError) -> VfsError {
    tracing::error!(operation = "vfs_fetch", file_id = %file.id, node_id = %file.source.node_id,
        error = %e, "transfer failed; the read gets an error and nothing is cached");
    VfsError::Fetch(e)
}

async fn spawn_blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, VfsError> + Send + 'static,
) -> Result<T, VfsError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| VfsError::Io(format!("blocking task: {e}")))?
}
