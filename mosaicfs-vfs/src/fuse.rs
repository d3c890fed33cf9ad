//! The FUSE backend (fuser 0.18): a read-only mount of the virtual
//! directories. Callbacks only translate: each hands its work to a
//! [`Core`] helper returning `Result<T, Errno>` and replies with the result.
//!
//! The kernel's request loop never waits: every callback that may touch
//! SQLite, CouchDB or the network runs on the tokio runtime or its blocking
//! pool, which replies when done (`Reply*` values are `Send`). So a stalled
//! remote file delays only its own readers; `ls` elsewhere answers at once.
//! Index work runs as one blocking task (`*_blocking` helpers: one thread
//! hand-off, not three); answers that need only cached listings are given
//! in the callback itself.
//!
//! Directories are never opened: OPENDIR answers `ENOSYS`, so the kernel
//! opens every directory without asking (no OPENDIR, no RELEASEDIR) and
//! keeps each listing it read in the directory's page cache. READDIR and
//! READDIRPLUS come with handle 0 and are served by inode from the current
//! listing (offset i is entry i: 0 `.`, 1 `..`). The kernel re-reads a
//! listing when the directory's mtime changed, which [`listing_mtime`]
//! makes happen whenever an entry comes, goes or is renamed.
//!
//! Opens of local files (Tiers 1–3) are cached per inode (the registered
//! passthrough backing file, or the open handle) while the index's files
//! generation, or else the document's size and mtime, is unchanged: a
//! repeated open is answered in the callback without a query or syscall.
//!
//! After an answer given in the callback, the request thread polls
//! `/dev/fuse` for a few microseconds before it sleeps in `read(2)`
//! ([`FuseConfig::linger`], `fuse/linger.rs`): a tree walk's next request
//! usually arrives meanwhile, and is read without a wake-up.
//!
//! Inodes (plan 4.3): 1 is the root; directory documents and files use
//! their document's `inode`; synthesized directories
//! `ids::synthesized_dir_inode(path)`. All come from documents or paths, so
//! they survive unmount, restart and re-crawl. The inode → target map is the
//! index ([`Index::resolve_inode`]) plus an in-memory map of what listings
//! showed (the only way to find a synthesized directory by inode).
//!
//! Reads: local files (Tiers 1–3) use FUSE passthrough when the kernel and
//! our privileges allow it (kernel ≥ 6.9, `CAP_SYS_ADMIN`): the kernel then
//! reads the backing file itself. Otherwise, and for remote files, reads go
//! through [`Vfs::read_handle`]; an open keeps the page cache (`KEEP_CACHE`)
//! when the document's size and mtime are those of the previous open.
//! `KEEP_CACHE` is never combined with passthrough (the kernel answers the
//! open with EIO).

use crate::lock;
use crate::{FileHandle as VfsHandle, Vfs};
use fuser::{
    BackingId, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo,
    InitFlags, KernelConfig, LockOwner, MountOption, OpenAccMode, OpenFlags, ReplyAttr, ReplyData,
    ReplyDirectory, ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, Request,
};
use mosaicfs_common::documents::{FileDoc, FileStatus, ROOT_INODE};
use mosaicfs_common::names;
use mosaicfs_common::rules::readdir::Entry;
use mosaicfs_common::time::Timestamp;
use mosaicfs_index::readdir::{self, Listing, ReaddirCache, ReaddirError};
use mosaicfs_index::{Index, InodeTarget};
use std::collections::HashMap;
use std::collections::hash_map::Entry as Slot;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::runtime::Handle;

mod linger;
use linger::Linger;

/// How long the kernel keeps a name → inode answer: as long as the readdir
/// cache keeps the listing it came from (the mount is read-only; a change
/// shows at the latest when both run out).
pub const ENTRY_TTL: Duration = readdir::CACHE_TTL;
/// How long the kernel keeps attributes (same reasoning as [`ENTRY_TTL`]).
pub const ATTR_TTL: Duration = readdir::CACHE_TTL;
/// Permissions of files: read-only for everyone.
pub const FILE_MODE: u16 = 0o444;
/// Permissions of directories: read and search for everyone.
pub const DIR_MODE: u16 = 0o555;
/// Block size reported in attributes and `statfs`.
pub const BLOCK_SIZE: u32 = 4096;
/// Longest name.
pub const NAME_MAX: u32 = 255;
/// Default readahead of the mount ([`FuseConfig::readahead`]): asked of the
/// kernel in INIT and set on the mount's backing device after it (see
/// [`raise_readahead`]). Also the largest READ the kernel sends
/// (`max_pages`, 256 pages by default).
pub const MAX_READAHEAD: u32 = 1 << 20;
/// How long the request thread polls `/dev/fuse` for the next request after
/// an answer given in the callback (see [`FuseConfig::linger`]).
pub const LINGER: Duration = Duration::from_micros(20);

/// Settings of the mount.
#[derive(Debug, Clone)]
pub struct FuseConfig {
    /// Serve local files through FUSE passthrough when possible.
    pub passthrough: bool,
    /// Let other users than the mounting one in (`allow_other`).
    pub allow_other: bool,
    /// Experiment, off by default: answer OPEN with `ENOSYS`, so the kernel
    /// opens files without asking (no OPEN, no RELEASE, page cache kept)
    /// and sends READs by inode. Disables passthrough for every file.
    pub kernel_opens: bool,
    /// How long the request thread polls `/dev/fuse` for the next request
    /// after an answer given in the callback, instead of going to sleep in
    /// `read(2)` at once: a tree walk's next OPEN or RELEASE usually comes
    /// within microseconds, and waking a sleeping request thread costs more
    /// than the answer. Zero turns it off. See `fuse/linger.rs`.
    pub linger: Duration,
    /// Readahead of the mount in bytes, set after mounting
    /// ([`raise_readahead`]; root only). The trade-off, measured on a
    /// 1 GiB / 2 GiB Tier 4 file over loopback: 128 KiB (the kernel's
    /// default) 1.2-1.6 GB/s first sequential read, 200 random 1 MiB reads
    /// fetch 381 MiB; 512 KiB 2.3 GB/s, 493 MiB; 1 MiB 2.6 GB/s, 617 MiB
    /// (the kernel reads ahead of random reads too).
    pub readahead: u32,
    /// Most cached opens of local files (see [`OPEN_CACHE_CAPACITY`]; open
    /// handles are held to at most [`PLAIN_OPEN_CACHE_CAPACITY`]).
    pub open_cache_capacity: usize,
    /// Owner shown on every entry.
    pub uid: u32,
    /// Group shown on every entry.
    pub gid: u32,
}

impl FuseConfig {
    /// Passthrough on, owner the current process's user.
    pub fn new() -> FuseConfig {
        let (uid, gid) = current_user();
        FuseConfig {
            passthrough: true,
            allow_other: false,
            kernel_opens: false,
            linger: LINGER,
            readahead: MAX_READAHEAD,
            open_cache_capacity: OPEN_CACHE_CAPACITY,
            uid,
            gid,
        }
    }
}

impl Default for FuseConfig {
    fn default() -> FuseConfig {
        FuseConfig::new()
    }
}

/// The uid and gid of this process (the owner of `/proc/self`), without
/// unsafe code.
fn current_user() -> (u32, u32) {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| (m.uid(), m.gid()))
        .unwrap_or((0, 0))
}

/// What an inode names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    /// A directory by its virtual path (exact bytes).
    Dir(Vec<u8>),
    /// A file by its document id.
    File(String),
}

/// An inode the kernel may ask about, and how many lookups of it the
/// kernel holds: one per LOOKUP reply and per READDIRPLUS entry naming it,
/// less what FORGET gave back (the kernel's `nlookup`).
struct Known {
    node: Node,
    lookups: u64,
}

impl Known {
    /// Records that `ino` names `node`, with `lookups` more lookups.
    fn note(nodes: &mut HashMap<u64, Known>, ino: u64, node: Node, lookups: u64) {
        match nodes.entry(ino) {
            Slot::Occupied(mut o) => {
                let k = o.get_mut();
                k.node = node;
                k.lookups += lookups;
            }
            Slot::Vacant(v) => {
                v.insert(Known { node, lookups });
            }
        }
    }
}

struct OpenFile {
    /// What reads are served from: `None` for passthrough opens of local
    /// files (the kernel reads the backing file itself) and for opens
    /// answered from a [`CachedOpen::Closed`] entry (no backing file either)
    /// until their first read opens the file; a passthrough open of a
    /// complete cached remote copy keeps it for the cache pin.
    handle: Option<Arc<VfsHandle>>,
    /// Keeps the kernel's backing file registered until release (an open
    /// reply naming it is processed after we sent it).
    _backing: Option<Arc<BackingId>>,
}

/// A directory as READDIR serves it: offsets index into the current listing
/// (0 is `.`, 1 is `..`, then the listing's entries).
pub(crate) struct DirView {
    ino: u64,
    parent: u64,
    listing: Arc<Listing>,
}

impl DirView {
    /// Number of entries, `.` and `..` included.
    fn len(&self) -> usize {
        self.listing.entries.len() + 2
    }

    /// The directory's mtime (see [`listing_mtime`]).
    fn mtime(&self) -> SystemTime {
        listing_mtime(&self.listing)
    }

    /// The listing entries among READDIR offsets `from..to` (`.` and `..`
    /// excluded).
    fn entries(&self, from: usize, to: usize) -> &[Entry] {
        let n = self.listing.entries.len();
        let (a, b) = (from.saturating_sub(2).min(n), to.saturating_sub(2).min(n));
        &self.listing.entries[a..b.max(a)]
    }
}

/// Most cached opens when they are passthrough registrations (no file
/// descriptor of ours; the kernel holds one file reference each).
pub const OPEN_CACHE_CAPACITY: usize = 32_768;
/// Most cached opens when they are open handles (one descriptor each; also
/// held to a quarter of the open-files limit). Only `kernel_opens` caches
/// those: a plain open of a local file is cached without its descriptor
/// ([`CachedOpen::Closed`]), so a warm walk of any number of files is
/// answered in the callback without passthrough too.
pub const PLAIN_OPEN_CACHE_CAPACITY: usize = 4_096;

/// What an open of a local file (Tiers 1–3) needs, reused by later opens.
#[derive(Clone)]
enum CachedOpen {
    /// The registered backing file (FUSE passthrough).
    Passthrough(Arc<BackingId>),
    /// The open handle reads are served from (`kernel_opens`: reads come
    /// by inode).
    Plain(Arc<VfsHandle>),
    /// Opened before at this version, without passthrough; no descriptor is
    /// held. The open is answered with `KEEP_CACHE`, and the file is opened
    /// again only if the kernel reads it (its pages were evicted): a warm
    /// walk then costs no descriptor and no open per file. (Holding one per
    /// file bound the cache by the open-files limit: a warm `tar` of 10,000
    /// files missed on every open past 4,096 and took 0.35 s against
    /// 0.16 s with passthrough.)
    Closed,
}

struct OpenCacheEntry {
    /// The document's size and mtime when opened.
    size: u64,
    mtime: Timestamp,
    /// The index's files generation at which the document was last seen
    /// with that size and mtime.
    generation: u64,
    /// Insertion order (eviction drops the older half).
    tick: u64,
    open: CachedOpen,
}

/// Per-inode cache of opens of local files, bounded.
struct OpenCache {
    entries: HashMap<u64, OpenCacheEntry>,
    tick: u64,
}

impl OpenCache {
    fn new() -> OpenCache {
        OpenCache {
            entries: HashMap::new(),
            tick: 0,
        }
    }

    /// Caches `open` of `ino` as the version `doc` describes, seen at
    /// `generation`; past `capacity` the older half goes.
    fn insert(
        &mut self,
        ino: u64,
        doc: &FileDoc,
        generation: u64,
        open: CachedOpen,
        capacity: usize,
    ) {
        if self.entries.len() >= capacity.max(2) && !self.entries.contains_key(&ino) {
            // Drop the older half (rare: a sort of the insertion ticks).
            let mut ticks: Vec<u64> = self.entries.values().map(|e| e.tick).collect();
            ticks.sort_unstable();
            let cut = ticks[ticks.len() / 2];
            self.entries.retain(|_, e| e.tick > cut);
        }
        self.tick += 1;
        let e = OpenCacheEntry {
            size: doc.size,
            mtime: doc.mtime,
            generation,
            tick: self.tick,
            open,
        };
        self.entries.insert(ino, e);
    }

    /// The cached open of `ino` if it is of the version `doc` describes
    /// (then valid at `generation` too); a cached open of another version
    /// is dropped.
    fn revalidate(&mut self, ino: u64, doc: &FileDoc, generation: u64) -> Option<CachedOpen> {
        match self.entries.get_mut(&ino) {
            Some(e) if e.size == doc.size && e.mtime == doc.mtime => {
                e.generation = e.generation.max(generation);
                Some(e.open.clone())
            }
            Some(_) => {
                self.entries.remove(&ino);
                None
            }
            None => None,
        }
    }
}

/// How many requests of each kind the daemon answered (tests use them to
/// check what the kernel caches).
#[derive(Debug, Default)]
pub struct OpCounts {
    lookups: AtomicU64,
    getattrs: AtomicU64,
    opens: AtomicU64,
    open_hits: AtomicU64,
    readdirs: AtomicU64,
    reads: AtomicU64,
    lingers: AtomicU64,
    linger_hits: AtomicU64,
    forgets: AtomicU64,
}

impl OpCounts {
    /// `LOOKUP` requests answered.
    pub fn lookups(&self) -> u64 {
        self.lookups.load(Ordering::Relaxed)
    }
    /// `GETATTR` requests answered.
    pub fn getattrs(&self) -> u64 {
        self.getattrs.load(Ordering::Relaxed)
    }
    /// `OPEN` requests answered.
    pub fn opens(&self) -> u64 {
        self.opens.load(Ordering::Relaxed)
    }
    /// `OPEN` requests answered from the open cache, in the callback.
    pub fn open_hits(&self) -> u64 {
        self.open_hits.load(Ordering::Relaxed)
    }
    /// `READDIR` and `READDIRPLUS` requests answered.
    pub fn readdirs(&self) -> u64 {
        self.readdirs.load(Ordering::Relaxed)
    }
    /// `READ` requests answered (passthrough reads never come here).
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }
    /// Times the request thread polled for the next request after an
    /// answer given in the callback ([`FuseConfig::linger`]).
    pub fn lingers(&self) -> u64 {
        self.lingers.load(Ordering::Relaxed)
    }
    /// Lingers that saw the next request arrive (the request thread did not
    /// sleep before reading it).
    pub fn linger_hits(&self) -> u64 {
        self.linger_hits.load(Ordering::Relaxed)
    }
    /// Inodes the kernel forgot (FORGET and BATCH_FORGET entries).
    pub fn forgets(&self) -> u64 {
        self.forgets.load(Ordering::Relaxed)
    }
}

/// The filesystem's state and the helpers the callbacks call.
pub struct Core {
    index: Index,
    listings: ReaddirCache,
    vfs: Vfs,
    cfg: FuseConfig,
    passthrough: AtomicBool,
    /// Inodes the kernel may ask about (see [`Core::forget`]).
    nodes: Mutex<HashMap<u64, Known>>,
    files: Mutex<HashMap<u64, OpenFile>>,
    open_cache: Mutex<OpenCache>,
    /// Most cached opens holding a descriptor.
    plain_capacity: usize,
    /// `(size, mtime)` of each file at its last open (for `KEEP_CACHE`).
    seen: Mutex<HashMap<u64, (u64, Timestamp)>>,
    next_fh: AtomicU64,
    counts: OpCounts,
}

fn errno_of(e: &crate::VfsError) -> Errno {
    Errno::from_i32(e.errno().raw())
}

/// The inode of a listing entry and what it names.
fn node_of(e: &Entry) -> (u64, Node) {
    match e {
        Entry::File { inode, file_id, .. } => (*inode, Node::File(file_id.clone())),
        Entry::Directory {
            inode,
            virtual_path,
            ..
        } => (*inode, Node::Dir(virtual_path.clone())),
    }
}

fn readdir_errno(path: &[u8], e: ReaddirError) -> Errno {
    match e {
        ReaddirError::NotFound(_) => Errno::ENOENT,
        ReaddirError::NotReady => Errno::EAGAIN,
        e => {
            tracing::warn!(operation = "fuse_readdir", path = %names::escaped(path), error = %e,
                "listing failed");
            Errno::EIO
        }
    }
}

fn index_errno(e: mosaicfs_index::IndexError) -> Errno {
    tracing::warn!(operation = "fuse_index", error = %e, "index query failed");
    Errno::EIO
}

fn system_time(t: &Timestamp) -> SystemTime {
    SystemTime::from(*t)
}

fn parent_path(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|b| *b == b'/') {
        Some(0) | None => b"/",
        Some(i) => &path[..i],
    }
}

/// The inode of directory `path` as its parent's listing `l` gives it
/// (document or synthesized); the root stands in if it is not there.
fn dir_inode_in(l: &Listing, path: &[u8]) -> u64 {
    l.entries
        .iter()
        .find_map(|e| match e {
            Entry::Directory {
                inode,
                virtual_path,
                ..
            } if virtual_path == path => Some(*inode),
            _ => None,
        })
        .unwrap_or(ROOT_INODE)
}

/// How an open is answered.
pub enum Opened {
    /// Reads come to us; `keep_cache` when the file is unchanged.
    Plain {
        /// The handle.
        fh: u64,
        /// Keep the page cache.
        keep_cache: bool,
    },
    /// The kernel reads the backing file itself.
    Passthrough {
        /// The handle.
        fh: u64,
        /// The registered backing file.
        backing: Arc<BackingId>,
    },
}

impl Core {
    /// State over `index`, reading through `vfs`.
    pub fn new(index: Index, vfs: Vfs, cfg: FuseConfig) -> Core {
        Core {
            index,
            listings: ReaddirCache::default(),
            vfs,
            passthrough: AtomicBool::new(cfg.passthrough && !cfg.kernel_opens),
            plain_capacity: cfg
                .open_cache_capacity
                .min(PLAIN_OPEN_CACHE_CAPACITY)
                .min(nofile_limit() / 4),
            cfg,
            nodes: Mutex::default(),
            files: Mutex::default(),
            open_cache: Mutex::new(OpenCache::new()),
            seen: Mutex::default(),
            next_fh: AtomicU64::new(1),
            counts: OpCounts::default(),
        }
    }

    /// Requests answered so far, by kind.
    pub fn counts(&self) -> &OpCounts {
        &self.counts
    }

    /// The readdir cache's `(hits, misses)`.
    pub fn listing_stats(&self) -> (u64, u64) {
        self.listings.stats()
    }

    /// Name collisions met by the listings evaluated so far (each logged at
    /// WARN with its source paths; see [`ReaddirCache::collisions`]).
    pub fn name_collisions(&self) -> u64 {
        self.listings.collisions()
    }

    /// Remembers what `ino` names, adding `lookups` to the kernel's count.
    fn remember(&self, ino: u64, node: Node, lookups: u64) {
        Known::note(&mut lock(&self.nodes), ino, node, lookups);
    }

    /// FORGET: the kernel dropped `n` lookups of `ino`. At zero it holds
    /// none, and a file is dropped from memory (its inode and its last-open
    /// version): the kernel asks about it again only after a new LOOKUP or
    /// READDIRPLUS, and would a count be off, the index still resolves a
    /// file's inode. Directories stay: a synthesized one can be found by
    /// inode only here, and they are few.
    pub fn forget(&self, ino: u64, n: u64) {
        self.counts.forgets.fetch_add(1, Ordering::Relaxed);
        let mut nodes = lock(&self.nodes);
        let Some(k) = nodes.get_mut(&ino) else {
            return;
        };
        k.lookups = k.lookups.saturating_sub(n);
        if k.lookups == 0 && matches!(k.node, Node::File(_)) {
            nodes.remove(&ino);
            drop(nodes);
            lock(&self.seen).remove(&ino);
        }
    }

    /// Inodes held in memory (for tests and the unmount summary).
    pub fn known_inodes(&self) -> usize {
        lock(&self.nodes).len()
    }

    async fn node(&self, ino: u64) -> Result<Node, Errno> {
        if ino == ROOT_INODE {
            return Ok(Node::Dir(b"/".to_vec()));
        }
        if let Some(k) = lock(&self.nodes).get(&ino) {
            return Ok(k.node.clone());
        }
        let node = match self.index.resolve_inode(ino).await.map_err(index_errno)? {
            Some(InodeTarget::Directory(p)) => Node::Dir(p.into_bytes()),
            Some(InodeTarget::File(f)) => Node::File(f.id),
            None => return Err(Errno::ENOENT),
        };
        self.remember(ino, node.clone(), 0);
        Ok(node)
    }

    /// [`Core::node`] on a blocking thread: from memory, else through `rt`.
    fn node_blocking(&self, rt: &Handle, ino: u64) -> Result<Node, Errno> {
        if ino == ROOT_INODE {
            return Ok(Node::Dir(b"/".to_vec()));
        }
        let known = lock(&self.nodes).get(&ino).map(|k| k.node.clone());
        match known {
            Some(n) => Ok(n),
            None => rt.block_on(self.node(ino)),
        }
    }

    fn dir_path_blocking(&self, rt: &Handle, ino: u64) -> Result<Vec<u8>, Errno> {
        match self.node_blocking(rt, ino)? {
            Node::Dir(p) => Ok(p),
            Node::File(_) => Err(Errno::ENOTDIR),
        }
    }

    /// The listing of `path` on a blocking thread (the index query runs on
    /// it); while the index is still catching up, waits through `rt`.
    fn listing_blocking(&self, rt: &Handle, path: &[u8]) -> Result<Arc<Listing>, Errno> {
        match readdir::readdir_blocking(&self.index, &self.listings, path) {
            Err(ReaddirError::NotReady) => rt
                .block_on(readdir::readdir(&self.index, &self.listings, path))
                .map_err(|e| readdir_errno(path, e)),
            r => r.map_err(|e| readdir_errno(path, e)),
        }
    }

    /// The inode of the directory at `path` (blocking thread).
    fn dir_inode_blocking(&self, rt: &Handle, path: &[u8]) -> u64 {
        if path == b"/" {
            return ROOT_INODE;
        }
        // The entry in its parent's listing carries it (document or
        // synthesized); the root stands in if the parent cannot be listed.
        match self.listing_blocking(rt, parent_path(path)) {
            Ok(l) => dir_inode_in(&l, path),
            Err(_) => ROOT_INODE,
        }
    }

    fn dir_attr(&self, ino: u64, mtime: SystemTime) -> FileAttr {
        FileAttr {
            ino: INodeNo(ino),
            size: 0,
            blocks: 0,
            atime: mtime,
            mtime,
            ctime: mtime,
            crtime: mtime,
            kind: FileType::Directory,
            perm: DIR_MODE,
            nlink: 2,
            uid: self.cfg.uid,
            gid: self.cfg.gid,
            rdev: 0,
            flags: 0,
            blksize: BLOCK_SIZE,
        }
    }

    fn file_attr(&self, ino: u64, size: u64, mtime: &Timestamp) -> FileAttr {
        let t = system_time(mtime);
        FileAttr {
            ino: INodeNo(ino),
            size,
            blocks: size.div_ceil(512),
            atime: t,
            mtime: t,
            ctime: t,
            crtime: t,
            kind: FileType::RegularFile,
            perm: FILE_MODE,
            nlink: 1,
            uid: self.cfg.uid,
            gid: self.cfg.gid,
            rdev: 0,
            flags: 0,
            blksize: BLOCK_SIZE,
        }
    }

    /// The attributes of listing entry `e` and how long the kernel may keep
    /// them. A subdirectory carries its own listing's mtime, known only when
    /// that listing is cached; otherwise `fallback` stands in with a TTL of
    /// 0, so the kernel asks (LOOKUP or GETATTR) before it relies on it.
    fn entry_attr_cached(&self, e: &Entry, fallback: SystemTime) -> (FileAttr, Duration) {
        self.entry_attr_with(e, fallback, |p| {
            readdir::cached(&self.index, &self.listings, p)
        })
    }

    /// The attributes of listing entry `e` and their TTL. A subdirectory
    /// carries its own listing's mtime, as `listing` finds it; when that is
    /// unknown, `fallback` with TTL 0 (the kernel asks again).
    fn entry_attr_with(
        &self,
        e: &Entry,
        fallback: SystemTime,
        listing: impl FnOnce(&[u8]) -> Option<Arc<Listing>>,
    ) -> (FileAttr, Duration) {
        match e {
            Entry::File {
                inode, size, mtime, ..
            } => (self.file_attr(*inode, *size, mtime), ENTRY_TTL),
            Entry::Directory {
                inode,
                virtual_path,
                ..
            } => match listing(virtual_path) {
                Some(l) => (self.dir_attr(*inode, listing_mtime(&l)), ENTRY_TTL),
                None => (self.dir_attr(*inode, fallback), Duration::ZERO),
            },
        }
    }

    /// The active document `file_id` (blocking thread).
    fn active_file_blocking(&self, file_id: &str) -> Result<FileDoc, Errno> {
        match self.index.file_doc_blocking(file_id).map_err(index_errno)? {
            Some(f) if f.status == FileStatus::Active => Ok(f),
            _ => Err(Errno::ENOENT),
        }
    }

    /// `lookup` answered from memory when the parent's listing (and, for a
    /// subdirectory, its own) is cached (`None`: ask
    /// [`Core::lookup_blocking`]). Answers an attribute and its TTL.
    pub fn lookup_cached(
        &self,
        parent: u64,
        name: &OsStr,
    ) -> Option<Result<(FileAttr, Duration), Errno>> {
        let path = match self.known_dir_path(parent)? {
            Ok(p) => p,
            Err(e) => return Some(Err(e)),
        };
        let l = readdir::cached(&self.index, &self.listings, &path)?;
        let e = match find_entry(&l, name) {
            Ok(e) => e,
            Err(err) => {
                self.counts.lookups.fetch_add(1, Ordering::Relaxed);
                return Some(Err(err));
            }
        };
        let (attr, ttl) = self.entry_attr_cached(e, listing_mtime(&l));
        if ttl.is_zero() {
            // A subdirectory whose own listing is not cached: evaluate it.
            return None;
        }
        self.counts.lookups.fetch_add(1, Ordering::Relaxed);
        let (ino, node) = node_of(e);
        self.remember(ino, node, 1);
        Some(Ok((attr, ttl)))
    }

    /// `lookup`: the entry `name` of directory `parent`. Like every
    /// `*_blocking` helper it runs on a blocking thread and uses `rt` only
    /// for what needs the runtime.
    pub fn lookup_blocking(
        &self,
        rt: &Handle,
        parent: u64,
        name: &OsStr,
    ) -> Result<(FileAttr, Duration), Errno> {
        self.counts.lookups.fetch_add(1, Ordering::Relaxed);
        let path = self.dir_path_blocking(rt, parent)?;
        let l = self.listing_blocking(rt, &path)?;
        let e = find_entry(&l, name)?;
        let (ino, node) = node_of(e);
        self.remember(ino, node, 1);
        Ok(self.entry_attr_with(e, listing_mtime(&l), |p| self.listing_blocking(rt, p).ok()))
    }

    /// `getattr` (blocking thread).
    pub fn getattr_blocking(&self, rt: &Handle, ino: u64) -> Result<FileAttr, Errno> {
        self.counts.getattrs.fetch_add(1, Ordering::Relaxed);
        match self.node_blocking(rt, ino)? {
            Node::Dir(path) => {
                let l = self.listing_blocking(rt, &path)?;
                Ok(self.dir_attr(ino, listing_mtime(&l)))
            }
            Node::File(id) => {
                let f = self.active_file_blocking(&id)?;
                Ok(self.file_attr(ino, f.size, &f.mtime))
            }
        }
    }

    /// The path of directory `ino` if known without a query.
    fn known_dir_path(&self, ino: u64) -> Option<Result<Vec<u8>, Errno>> {
        if ino == ROOT_INODE {
            return Some(Ok(b"/".to_vec()));
        }
        match &lock(&self.nodes).get(&ino)?.node {
            Node::Dir(p) => Some(Ok(p.clone())),
            Node::File(_) => Some(Err(Errno::ENOTDIR)),
        }
    }

    /// [`Core::dir_inode_blocking`] from cached listings only.
    fn dir_inode_cached(&self, path: &[u8]) -> Option<u64> {
        if path == b"/" {
            return Some(ROOT_INODE);
        }
        let l = readdir::cached(&self.index, &self.listings, parent_path(path))?;
        Some(dir_inode_in(&l, path))
    }

    /// `getattr` of a directory answered from memory when its listing is
    /// cached (`None`: ask [`Core::getattr_blocking`]).
    pub fn getattr_cached(&self, ino: u64) -> Option<Result<FileAttr, Errno>> {
        let path = self.known_dir_path(ino)?.ok()?;
        let l = readdir::cached(&self.index, &self.listings, &path)?;
        self.counts.getattrs.fetch_add(1, Ordering::Relaxed);
        Some(Ok(self.dir_attr(ino, listing_mtime(&l))))
    }

    /// Directory `ino` as READDIR serves it, from memory when its listing
    /// and its parent's are cached (`None`: ask [`Core::dir_view_blocking`]).
    pub(crate) fn dir_view_cached(&self, ino: u64) -> Option<Result<DirView, Errno>> {
        let path = match self.known_dir_path(ino)? {
            Ok(p) => p,
            Err(e) => return Some(Err(e)),
        };
        let l = readdir::cached(&self.index, &self.listings, &path)?;
        let parent = self.dir_inode_cached(parent_path(&path))?;
        Some(Ok(self.dir_view(ino, parent, l)))
    }

    /// [`Core::dir_view_cached`] on a blocking thread, evaluating what is
    /// not cached.
    pub(crate) fn dir_view_blocking(&self, rt: &Handle, ino: u64) -> Result<DirView, Errno> {
        let path = self.dir_path_blocking(rt, ino)?;
        let l = self.listing_blocking(rt, &path)?;
        let parent = self.dir_inode_blocking(rt, parent_path(&path));
        Ok(self.dir_view(ino, parent, l))
    }

    fn dir_view(&self, ino: u64, parent: u64, l: Arc<Listing>) -> DirView {
        self.counts.readdirs.fetch_add(1, Ordering::Relaxed);
        DirView {
            ino,
            parent,
            listing: l,
        }
    }

    /// Entry `i` of a directory: inode, type, name and (for `readdirplus`)
    /// attributes with their TTL. The kernel makes no dentry of `.` and `..`.
    fn dir_entry<'a>(
        &self,
        d: &'a DirView,
        i: usize,
        plus: bool,
    ) -> (u64, FileType, &'a OsStr, Option<(FileAttr, Duration)>) {
        match i {
            0 => (d.ino, FileType::Directory, OsStr::new("."), None),
            1 => (d.parent, FileType::Directory, OsStr::new(".."), None),
            _ => {
                let e = &d.listing.entries[i - 2];
                let (ino, kind) = match e {
                    Entry::File { inode, .. } => (*inode, FileType::RegularFile),
                    Entry::Directory { inode, .. } => (*inode, FileType::Directory),
                };
                let attr = plus.then(|| self.entry_attr_cached(e, d.mtime()));
                // The exact bytes of the name, never a lossy form.
                (ino, kind, OsStr::from_bytes(e.name()), attr)
            }
        }
    }

    /// Remembers what the entries at READDIR offsets `from..to` name: the
    /// kernel may now ask for those inodes. (Only the entries a reply
    /// carried: a large directory comes in many requests.) Each READDIRPLUS
    /// entry is a lookup the kernel counts (`.` and `..` are not entries).
    fn remember_sent(&self, d: &DirView, from: usize, to: usize, plus: bool) {
        let mut nodes = lock(&self.nodes);
        for e in d.entries(from, to) {
            let (ino, node) = node_of(e);
            Known::note(&mut nodes, ino, node, u64::from(plus));
        }
    }

    /// Fills a READDIR reply from `offset`.
    fn fill_readdir(&self, d: &DirView, offset: u64, mut reply: ReplyDirectory) {
        let mut end = offset as usize;
        for i in (offset as usize)..d.len() {
            let (ino, kind, name, _) = self.dir_entry(d, i, false);
            if reply.add(INodeNo(ino), (i + 1) as u64, kind, name) {
                break;
            }
            end = i + 1;
        }
        self.remember_sent(d, offset as usize, end, false);
        reply.ok();
    }

    /// Fills a READDIRPLUS reply from `offset`.
    fn fill_readdirplus(&self, d: &DirView, offset: u64, mut reply: ReplyDirectoryPlus) {
        let mtime = d.mtime();
        let mut end = offset as usize;
        for i in (offset as usize)..d.len() {
            let (ino, _, name, attr) = self.dir_entry(d, i, true);
            let (attr, ttl) = attr.unwrap_or_else(|| (self.dir_attr(ino, mtime), ENTRY_TTL));
            if reply.add(
                INodeNo(ino),
                (i + 1) as u64,
                name,
                &ttl,
                &attr,
                Generation(0),
            ) {
                break;
            }
            end = i + 1;
        }
        self.remember_sent(d, offset as usize, end, true);
        reply.ok();
    }

    fn check_open_flags(flags: OpenFlags) -> Result<(), Errno> {
        if flags.acc_mode() != OpenAccMode::O_RDONLY
            || flags.0 & (libc_flags::O_TRUNC | libc_flags::O_APPEND) != 0
        {
            return Err(Errno::EROFS);
        }
        Ok(())
    }

    /// A new handle over a cached open.
    fn reuse_open(&self, open: &CachedOpen) -> Opened {
        let fh = self.next_fh.fetch_add(1, Ordering::Relaxed);
        let (file, opened) = match open {
            CachedOpen::Passthrough(b) => (
                OpenFile {
                    handle: None,
                    _backing: Some(b.clone()),
                },
                Opened::Passthrough {
                    fh,
                    backing: b.clone(),
                },
            ),
            // Cached only while the document is the one last opened.
            CachedOpen::Plain(h) => (
                OpenFile {
                    handle: Some(h.clone()),
                    _backing: None,
                },
                Opened::Plain {
                    fh,
                    keep_cache: true,
                },
            ),
            CachedOpen::Closed => (
                OpenFile {
                    handle: None,
                    _backing: None,
                },
                Opened::Plain {
                    fh,
                    keep_cache: true,
                },
            ),
        };
        lock(&self.files).insert(fh, file);
        opened
    }

    /// `open` answered from the open cache, in the callback: the file was
    /// opened before and no file document changed since (`None`: ask
    /// [`Core::open_blocking`]).
    pub fn open_cached(&self, ino: u64, flags: OpenFlags) -> Option<Result<Opened, Errno>> {
        if let Err(e) = Self::check_open_flags(flags) {
            self.counts.opens.fetch_add(1, Ordering::Relaxed);
            return Some(Err(e));
        }
        let generation = self.index.files_generation();
        let open = {
            let cache = lock(&self.open_cache);
            let e = cache.entries.get(&ino)?;
            if e.generation != generation {
                return None;
            }
            e.open.clone()
        };
        self.counts.opens.fetch_add(1, Ordering::Relaxed);
        self.counts.open_hits.fetch_add(1, Ordering::Relaxed);
        Some(Ok(self.reuse_open(&open)))
    }

    /// Cached opens (for tests).
    pub fn open_cache_len(&self) -> usize {
        lock(&self.open_cache).entries.len()
    }

    /// `open`: read-only opens only. `backing` registers a local file for
    /// passthrough (the reply's `open_backing`). Runs on a blocking thread
    /// (`rt` serves what needs the runtime): a file of this node is opened
    /// in this one step, index query included. Opens of local files are
    /// cached for [`Core::open_cached`]; a cached open whose document has
    /// the same size and mtime is reused (no open, no registration).
    pub fn open_blocking(
        &self,
        rt: &Handle,
        ino: u64,
        flags: OpenFlags,
        backing: impl FnOnce(&std::fs::File) -> std::io::Result<BackingId>,
    ) -> Result<Opened, Errno> {
        self.counts.opens.fetch_add(1, Ordering::Relaxed);
        Self::check_open_flags(flags)?;
        let (doc, generation) = self.file_blocking(rt, ino)?;
        let reused = lock(&self.open_cache).revalidate(ino, &doc, generation);
        if let Some(open) = reused {
            return Ok(self.reuse_open(&open));
        }
        let handle = self.open_doc_blocking(rt, &doc)?;
        // Tiers 1–3 (no cache entry pinned): cacheable.
        let local = handle.cache_key().is_none();
        // Local files (Tiers 1–3) and complete cached copies of remote files
        // come with an open file: the kernel reads those directly.
        if self.passthrough.load(Ordering::Relaxed)
            && let Some(file) = handle.local_file()
        {
            match backing(file) {
                Ok(id) => {
                    let id = Arc::new(id);
                    let fh = self.next_fh.fetch_add(1, Ordering::Relaxed);
                    // The kernel holds the backing file from here on; our
                    // descriptor closes unless a remote file's pin needs it.
                    let keep = (!local).then(|| Arc::new(handle));
                    lock(&self.files).insert(
                        fh,
                        OpenFile {
                            handle: keep,
                            _backing: Some(id.clone()),
                        },
                    );
                    if local {
                        self.cache_open(ino, &doc, generation, CachedOpen::Passthrough(id.clone()));
                    }
                    return Ok(Opened::Passthrough { fh, backing: id });
                }
                Err(e) => {
                    // Not privileged, or an old kernel: plain reads from now on.
                    tracing::info!(operation = "fuse_open", error = %e,
                        "passthrough unavailable; local files are read through the daemon");
                    self.passthrough.store(false, Ordering::Relaxed);
                }
            }
        }
        let now = (doc.size, doc.mtime);
        let keep_cache = lock(&self.seen).insert(ino, now) == Some(now);
        if local {
            self.cache_open(ino, &doc, generation, CachedOpen::Closed);
        }
        let fh = self.next_fh.fetch_add(1, Ordering::Relaxed);
        lock(&self.files).insert(
            fh,
            OpenFile {
                handle: Some(Arc::new(handle)),
                _backing: None,
            },
        );
        Ok(Opened::Plain { fh, keep_cache })
    }

    /// The handle reads of file `ino` opened by the kernel itself (handle 0,
    /// see [`FuseConfig::kernel_opens`]) are served from, if cached and
    /// still valid.
    pub fn inode_handle_cached(&self, ino: u64) -> Option<Arc<VfsHandle>> {
        let generation = self.index.files_generation();
        let cache = lock(&self.open_cache);
        match cache.entries.get(&ino)? {
            OpenCacheEntry {
                generation: g,
                open: CachedOpen::Plain(h),
                ..
            } if *g == generation => Some(h.clone()),
            _ => None,
        }
    }

    /// Caches `open` of `ino` ([`OpenCache::insert`]) within the bound for
    /// its kind: open handles hold descriptors, registered backing files and
    /// closed entries do not.
    fn cache_open(&self, ino: u64, doc: &FileDoc, generation: u64, open: CachedOpen) {
        let capacity = match open {
            CachedOpen::Passthrough(_) | CachedOpen::Closed => self.cfg.open_cache_capacity,
            CachedOpen::Plain(_) => self.plain_capacity,
        };
        lock(&self.open_cache).insert(ino, doc, generation, open, capacity);
    }

    /// [`Core::inode_handle_cached`] on a blocking thread: opens the file
    /// and caches the handle (any tier; a remote file's cache pin is held
    /// while cached).
    pub fn inode_handle_blocking(&self, rt: &Handle, ino: u64) -> Result<Arc<VfsHandle>, Errno> {
        let (doc, generation) = self.file_blocking(rt, ino)?;
        // (No passthrough entries in this mode: passthrough is off.)
        let reused = lock(&self.open_cache).revalidate(ino, &doc, generation);
        if let Some(CachedOpen::Plain(h)) = reused {
            return Ok(h);
        }
        let h = Arc::new(self.open_doc_blocking(rt, &doc)?);
        self.cache_open(ino, &doc, generation, CachedOpen::Plain(h.clone()));
        Ok(h)
    }

    /// The active document of file `ino` and the index's files generation
    /// read just before it (a change after that read bumps the generation
    /// and so invalidates what is cached with it). Blocking thread.
    fn file_blocking(&self, rt: &Handle, ino: u64) -> Result<(FileDoc, u64), Errno> {
        let id = match self.node_blocking(rt, ino)? {
            Node::File(id) => id,
            Node::Dir(_) => return Err(Errno::EISDIR),
        };
        let generation = self.index.files_generation();
        Ok((self.active_file_blocking(&id)?, generation))
    }

    /// Opens `doc`: in this step for a file of this node, else on the
    /// runtime `rt` (blocking thread).
    fn open_doc_blocking(&self, rt: &Handle, doc: &FileDoc) -> Result<VfsHandle, Errno> {
        match self.vfs.open_local_blocking(doc) {
            Some(h) => h,
            None => rt.block_on(self.vfs.open(doc)),
        }
        .map_err(|e| errno_of(&e))
    }

    /// Reads from handle `h`.
    pub async fn read_from(
        &self,
        h: &VfsHandle,
        offset: u64,
        size: u32,
    ) -> Result<bytes::Bytes, Errno> {
        self.counts.reads.fetch_add(1, Ordering::Relaxed);
        self.vfs
            .read_handle(h, offset, size as usize)
            .await
            .map_err(|e| errno_of(&e))
    }

    /// What a `read` of handle `fh` is served from: its open handle, or
    /// `None` when the handle came from a [`CachedOpen::Closed`] entry and
    /// no read opened the file yet ([`Core::reopen_blocking`]).
    pub fn read_handle(&self, fh: u64) -> Result<Option<Arc<VfsHandle>>, Errno> {
        match lock(&self.files).get(&fh) {
            Some(OpenFile {
                handle: Some(h), ..
            }) => Ok(Some(h.clone())),
            // A passthrough open is read by the kernel; it never asks us.
            Some(OpenFile {
                _backing: Some(_), ..
            }) => Err(Errno::EIO),
            // Neither: answered from a closed entry.
            Some(_) => Ok(None),
            None => Err(Errno::EBADF),
        }
    }

    /// Opens file `ino` for the first read of handle `fh`, answered from a
    /// [`CachedOpen::Closed`] entry, and keeps the handle with `fh` for its
    /// later reads (blocking thread).
    /// A file gone since the open gives `ESTALE` (the handle outlived it),
    /// not `ENOENT`, which a `read` never means.
    pub fn reopen_blocking(&self, rt: &Handle, ino: u64, fh: u64) -> Result<Arc<VfsHandle>, Errno> {
        let stale = |e: Errno| if e == Errno::ENOENT { Errno::ESTALE } else { e };
        let (doc, _) = self.file_blocking(rt, ino).map_err(stale)?;
        let h = Arc::new(self.open_doc_blocking(rt, &doc).map_err(stale)?);
        match lock(&self.files).get_mut(&fh) {
            Some(f) => f.handle = Some(h.clone()),
            None => return Err(Errno::EBADF),
        }
        Ok(h)
    }

    /// `release`: drops the handle (and the cache pin, and the backing file
    /// unless the open cache keeps them).
    pub fn release(&self, fh: u64) {
        lock(&self.files).remove(&fh);
    }

    /// Open file handles (for tests and shutdown logging).
    pub fn open_files(&self) -> usize {
        lock(&self.files).len()
    }
}

/// The soft limit of open files (`usize::MAX` when unlimited).
fn nofile_limit() -> usize {
    let l = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    l.current
        .map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX))
}

/// Raises the soft limit of open files to the hard limit (the open cache
/// may hold [`PLAIN_OPEN_CACHE_CAPACITY`] descriptors). Call before
/// [`Core::new`].
pub fn raise_nofile_limit() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let l = getrlimit(Resource::Nofile);
    if l.current != l.maximum {
        let raised = Rlimit {
            current: l.maximum,
            maximum: l.maximum,
        };
        if let Err(e) = setrlimit(Resource::Nofile, raised) {
            tracing::info!(operation = "fuse_init", error = %e, "cannot raise the open-file limit");
        }
    }
}

/// The entry `name` of listing `l`, by the exact bytes the kernel sent.
fn find_entry<'a>(l: &'a Listing, name: &OsStr) -> Result<&'a Entry, Errno> {
    let name = name.as_bytes();
    // Listings come sorted by name (bytewise).
    let i = l
        .entries
        .binary_search_by(|e| e.name().cmp(name))
        .ok()
        .or_else(|| l.entries.iter().position(|e| e.name() == name))
        .ok_or(Errno::ENOENT)?;
    Ok(&l.entries[i])
}

/// The mtime of a listed directory: the whole seconds of its document's
/// `updated_at` (else `created_at`), and as nanoseconds the listing's
/// fingerprint. So it changes whenever an entry comes, goes or is renamed,
/// which is what makes the kernel drop a listing it cached.
pub fn listing_mtime(l: &Listing) -> SystemTime {
    let d = &l.directory;
    let t = system_time(d.updated_at.as_ref().unwrap_or(&d.created_at));
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    SystemTime::UNIX_EPOCH + Duration::new(secs, (l.fingerprint % 1_000_000_000) as u32)
}

/// The open-flag bits we refuse (Linux values).
mod libc_flags {
    pub const O_TRUNC: i32 = 0o1000;
    pub const O_APPEND: i32 = 0o2000;
}

fn reply_open(reply: ReplyOpen, opened: Result<Opened, Errno>) {
    match opened {
        Ok(Opened::Passthrough { fh, backing }) => {
            reply.opened_passthrough(FileHandle(fh), FopenFlags::empty(), &backing)
        }
        Ok(Opened::Plain { fh, keep_cache }) => {
            let flags = if keep_cache {
                FopenFlags::FOPEN_KEEP_CACHE
            } else {
                FopenFlags::empty()
            };
            reply.opened(FileHandle(fh), flags);
        }
        Err(e) => reply.error(e),
    }
}

/// The two listing replies (READDIR's names, READDIRPLUS's names with
/// attributes), so one path serves both requests.
trait DirReply: Send + 'static {
    /// Fills the reply from `d`, starting at entry `offset`, and sends it.
    fn fill(self, core: &Core, d: &DirView, offset: u64);
    /// Answers with `e`.
    fn fail(self, e: Errno);
}

impl DirReply for ReplyDirectory {
    fn fill(self, core: &Core, d: &DirView, offset: u64) {
        core.fill_readdir(d, offset, self)
    }
    fn fail(self, e: Errno) {
        self.error(e)
    }
}

impl DirReply for ReplyDirectoryPlus {
    fn fill(self, core: &Core, d: &DirView, offset: u64) {
        core.fill_readdirplus(d, offset, self)
    }
    fn fail(self, e: Errno) {
        self.error(e)
    }
}

/// The `fuser::Filesystem`: a [`Core`] and the runtime its work runs on.
pub struct MosaicFs {
    core: Arc<Core>,
    rt: Handle,
    linger: Arc<Linger>,
}

impl MosaicFs {
    /// A filesystem over `core`, running its work on `rt`.
    pub fn new(core: Arc<Core>, rt: Handle) -> MosaicFs {
        let linger = Arc::new(Linger::new(core.cfg.linger));
        MosaicFs { core, rt, linger }
    }

    /// After an answer given in the callback: wait briefly for the next
    /// request rather than sleep at once (see [`FuseConfig::linger`]).
    fn answered(&self) {
        self.linger.wait_for_next(&self.core.counts);
    }

    /// READDIR and READDIRPLUS: from the cached listing in the callback,
    /// else on one blocking task.
    fn list_dir<R: DirReply>(&self, ino: u64, offset: u64, reply: R) {
        if let Some(r) = self.core.dir_view_cached(ino) {
            match r {
                Ok(d) => reply.fill(&self.core, &d, offset),
                Err(e) => reply.fail(e),
            }
            self.answered();
            return;
        }
        self.blocking(move |c, rt| match c.dir_view_blocking(rt, ino) {
            Ok(d) => reply.fill(c, &d, offset),
            Err(e) => reply.fail(e),
        });
    }

    /// Runs `work` on the runtime, off the kernel's request loop.
    fn spawn<F>(&self, work: impl FnOnce(Arc<Core>) -> F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.rt.spawn(work(self.core.clone()));
    }

    /// Runs `work` on the runtime's blocking pool, off the kernel's request
    /// loop: one thread hand-off for work that queries the index.
    fn blocking(&self, work: impl FnOnce(&Core, &Handle) + Send + 'static) {
        let (core, rt) = (self.core.clone(), self.rt.clone());
        self.rt.spawn_blocking(move || work(&core, &rt));
    }
}

impl Filesystem for MosaicFs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        let _ = config.set_max_readahead(MAX_READAHEAD);
        // Listings carry every entry's attributes: hand them over with the
        // names so `ls -l` and `tar` need no LOOKUP per entry.
        if config
            .add_capabilities(InitFlags::FUSE_DO_READDIRPLUS)
            .is_err()
        {
            tracing::info!("the kernel does not offer readdirplus");
        }
        // The kernel checks a directory's mtime (GETATTR once its attributes
        // expired) before it serves a listing it cached, and a file's before
        // it serves cached pages: changes show within the attribute TTL.
        if config
            .add_capabilities(InitFlags::FUSE_AUTO_INVAL_DATA)
            .is_err()
        {
            tracing::info!("the kernel does not offer auto_inval_data");
        }
        if self.core.passthrough.load(Ordering::Relaxed) {
            let ok = config.add_capabilities(InitFlags::FUSE_PASSTHROUGH).is_ok()
                && config.set_max_stack_depth(1).is_ok();
            if !ok {
                tracing::info!(
                    "the kernel does not offer passthrough; reads go through the daemon"
                );
                self.core.passthrough.store(false, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        // A cached listing answers at once, without a trip to the runtime.
        if let Some(r) = self.core.lookup_cached(parent.0, name) {
            match r {
                Ok((attr, ttl)) => reply.entry(&ttl, &attr, Generation(0)),
                Err(e) => reply.error(e),
            }
            self.answered();
            return;
        }
        let name = name.to_owned();
        self.blocking(move |c, rt| match c.lookup_blocking(rt, parent.0, &name) {
            Ok((attr, ttl)) => reply.entry(&ttl, &attr, Generation(0)),
            Err(e) => reply.error(e),
        });
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.core.forget(ino.0, nlookup);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        if let Some(r) = self.core.getattr_cached(ino.0) {
            match r {
                Ok(attr) => reply.attr(&ATTR_TTL, &attr),
                Err(e) => reply.error(e),
            }
            self.answered();
            return;
        }
        self.blocking(move |c, rt| match c.getattr_blocking(rt, ino.0) {
            Ok(attr) => reply.attr(&ATTR_TTL, &attr),
            Err(e) => reply.error(e),
        });
    }

    fn opendir(&self, _req: &Request, _ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        // The kernel then opens every directory itself (no OPENDIR or
        // RELEASEDIR from now on) and caches the listings it reads.
        reply.error(Errno::ENOSYS);
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        reply: ReplyDirectory,
    ) {
        self.list_dir(ino.0, offset, reply);
    }

    fn readdirplus(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        reply: ReplyDirectoryPlus,
    ) {
        self.list_dir(ino.0, offset, reply);
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        if self.core.cfg.kernel_opens {
            // The kernel opens files itself from now on.
            self.core.counts.opens.fetch_add(1, Ordering::Relaxed);
            reply.error(Errno::ENOSYS);
            return;
        }
        // A repeated open of an unchanged local file is answered here.
        if let Some(r) = self.core.open_cached(ino.0, flags) {
            reply_open(reply, r);
            self.answered();
            return;
        }
        self.blocking(move |c, rt| {
            let opened = c.open_blocking(rt, ino.0, flags, |f| reply.open_backing(f));
            reply_open(reply, opened);
        });
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        if fh.0 == 0 && self.core.cfg.kernel_opens {
            // Opened by the kernel itself: served by inode.
            if let Some(h) = self.core.inode_handle_cached(ino.0) {
                self.spawn(|c| async move {
                    match c.read_from(&h, offset, size).await {
                        Ok(data) => reply.data(&data),
                        Err(e) => reply.error(e),
                    }
                });
                return;
            }
            self.blocking(move |c, rt| {
                let data = c
                    .inode_handle_blocking(rt, ino.0)
                    .and_then(|h| rt.block_on(c.read_from(&h, offset, size)));
                match data {
                    Ok(data) => reply.data(&data),
                    Err(e) => reply.error(e),
                }
            });
            return;
        }
        match self.core.read_handle(fh.0) {
            Ok(Some(h)) => self.spawn(|c| async move {
                match c.read_from(&h, offset, size).await {
                    Ok(data) => reply.data(&data),
                    Err(e) => reply.error(e),
                }
            }),
            Ok(None) => self.blocking(move |c, rt| {
                let data = c
                    .reopen_blocking(rt, ino.0, fh.0)
                    .and_then(|h| rt.block_on(c.read_from(&h, offset, size)));
                match data {
                    Ok(data) => reply.data(&data),
                    Err(e) => reply.error(e),
                }
            }),
            Err(e) => reply.error(e),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        // Nothing to write back on a read-only mount. ENOSYS tells the
        // kernel never to send FLUSH again (fuser's default logged a
        // warning for it on every mount).
        reply.error(Errno::ENOSYS);
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.core.release(fh.0);
        reply.ok();
        self.answered();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        // A virtual, read-only filesystem: no blocks or inodes to give.
        reply.statfs(0, 0, 0, 0, 0, BLOCK_SIZE, NAME_MAX, BLOCK_SIZE);
    }
}

/// A live mount. Dropping it unmounts.
pub struct Mounted {
    session: Option<fuser::BackgroundSession>,
}

impl Mounted {
    /// Whether the session has ended (for example `fusermount3 -u`).
    pub fn is_finished(&self) -> bool {
        self.session.as_ref().is_none_or(|s| s.guard.is_finished())
    }

    /// Unmounts (if still mounted) and waits for the session thread.
    pub fn unmount(mut self) -> std::io::Result<()> {
        match self.session.take() {
            Some(s) if s.guard.is_finished() => s.join(),
            Some(s) => s.umount_and_join(),
            None => Ok(()),
        }
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if let Some(s) = self.session.take()
            && let Err(e) = s.umount_and_join()
        {
            tracing::warn!(error = %e, "unmount failed");
        }
    }
}

/// Mounts `core` read-only at `mountpoint`; work runs on `rt`.
pub fn mount(core: Arc<Core>, mountpoint: &Path, rt: Handle) -> std::io::Result<Mounted> {
    let mut cfg = fuser::Config::default();
    cfg.mount_options = vec![
        MountOption::RO,
        MountOption::FSName("mosaicfs".into()),
        MountOption::Subtype("mosaicfs".into()),
        MountOption::NoDev,
        MountOption::NoSuid,
    ];
    if core.cfg.allow_other {
        cfg.acl = fuser::SessionACL::All;
    }
    let readahead = core.cfg.readahead;
    // The directory mounted over, resolved before the mount hides it.
    let canonical = std::fs::canonicalize(mountpoint)?;
    let fs = MosaicFs::new(core, rt);
    let linger = fs.linger.clone();
    let session = fuser::Session::new(fs, mountpoint, &cfg)?;
    // INIT was answered inside `Session::new` (it sets the readahead too).
    match raise_readahead(&canonical, readahead) {
        Ok(path) => tracing::debug!(path = %path.display(), "readahead set"),
        Err(e) => tracing::info!(error = %e,
            "cannot set the mount's readahead (needs root); sequential reads of remote files go 128 KiB per request"),
    }
    linger.attach(&session)?;
    let session = session.spawn()?;
    Ok(Mounted {
        session: Some(session),
    })
}

/// Sets the readahead of the mount at `mountpoint` (a canonical path) to
/// `bytes`; returns the sysfs file written.
///
/// The kernel starts a FUSE mount's readahead at 128 KiB whatever INIT asks
/// (it only lowers it), and the readahead window bounds how much one READ
/// asks for: a sequential reader of a file served by the daemon (not passed
/// through) waits for a round trip per 128 KiB. The mount's backing device
/// is `/sys/class/bdi/MAJOR:MINOR`, writable by root. The device number
/// comes from `/proc/self/mountinfo`, not from a `stat` of the mount: that
/// would be a request to the mount itself (served only once its session
/// runs, and a reference that makes an early unmount fail with `EBUSY`).
fn raise_readahead(mountpoint: &Path, bytes: u32) -> std::io::Result<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo")?;
    let dev = mount_device(&info, mountpoint).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{} is not in /proc/self/mountinfo", mountpoint.display()),
        )
    })?;
    let path = PathBuf::from(format!("/sys/class/bdi/{dev}/read_ahead_kb"));
    std::fs::write(&path, format!("{}\n", bytes / 1024))?;
    Ok(path)
}

/// The `MAJOR:MINOR` of the newest mount at `mountpoint` in `mountinfo`
/// (`/proc/self/mountinfo`: field 3 is the device, field 5 the mount point
/// with space, tab, newline and backslash written as octal escapes).
fn mount_device(mountinfo: &str, mountpoint: &Path) -> Option<String> {
    use std::os::unix::ffi::OsStrExt;
    let want = mountpoint.as_os_str().as_bytes();
    mountinfo.lines().rev().find_map(|line| {
        let mut fields = line.split(' ');
        let dev = fields.nth(2)?;
        let point = fields.nth(1)?;
        (unescape_mountinfo(point) == want).then(|| dev.to_string())
    })
}

/// A mountinfo field with its `\NNN` octal escapes decoded.
fn unescape_mountinfo(field: &str) -> Vec<u8> {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| b[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                let v = d.iter().fold(0u32, |v, c| v * 8 + u32::from(c - b'0'));
                out.push(v as u8);
                i += 4;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mount_device_is_the_newest_mount_at_the_path_with_escapes_decoded() {
        let info = "\
22 1 0:21 / /proc rw,nosuid - proc proc rw
40 22 0:45 / /tmp/my\\040mnt rw,nosuid - fuse.mosaicfs mosaicfs ro
41 22 0:46 / /tmp/my\\040mnt rw,nosuid - fuse.mosaicfs mosaicfs ro
42 22 0:47 / /tmp/my\\134tab\\011x rw shared:5 - fuse.mosaicfs mosaicfs ro
";
        assert_eq!(
            mount_device(info, Path::new("/tmp/my mnt")).as_deref(),
            Some("0:46"),
            "the later of two mounts at one path"
        );
        assert_eq!(
            mount_device(info, Path::new("/tmp/my\\tab\tx")).as_deref(),
            Some("0:47")
        );
        assert_eq!(mount_device(info, Path::new("/tmp/my\\040mnt")), None);
        assert_eq!(mount_device(info, Path::new("/tmp")), None);
        // Short or odd lines answer nothing, they do not panic.
        assert_eq!(mount_device("1 2\n\\\n", Path::new("/")), None);
        assert_eq!(unescape_mountinfo("a\\04"), b"a\\04");
    }
}
