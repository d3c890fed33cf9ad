//! The readdir service shared by the control plane (`GET /api/vfs`) and the
//! FUSE backend: it resolves a virtual path against the directory set kept
//! by the index, collects the ancestor chain, compiles the directory,
//! queries each mount's candidates from the index (a range scan, never a
//! scan of all files) and runs the pure evaluator
//! (`mosaicfs_common::rules::readdir`) with the label cache as its facts. In
//! front sits the readdir cache (plan 3.7).
//!
//! Cache: 5 s TTL, keyed by virtual path; an entry is valid only while the
//! revisions of the directory and its ancestors are those it was built from
//! and the index's derived generation (bumped by every directory and label
//! change from the changes feed) has not moved. File changes are seen at
//! the latest when the TTL runs out. Past the TTL an entry stays valid (up to
//! [`QUIET_TTL`]) while no file document at all has changed since it was
//! evaluated (the derived files generation): it is then exact, and a walk of
//! a quiet tree that outlasts the TTL lists each directory once. It stores
//! the evaluated [`Listing`] behind an `Arc`, so a hit costs a hash lookup
//! and a reference count; rendering (JSON for the API, directory entries
//! for FUSE) is the caller's. A lookup first compares the entry's derived
//! epoch and generation with the current ones: equal, the path resolves to
//! the same documents and the entry is used without resolving the path
//! again (the FUSE backend asks several times per request).

use crate::{CandidateQuery, Derived, Index, IndexError};
use mosaicfs_common::documents::{FileDoc, VirtualDirectoryDoc};
use mosaicfs_common::names;
use mosaicfs_common::rules::labels::LabelCache;
use mosaicfs_common::rules::readdir::{self, Collision, Entry, Facts, Listed};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a cached listing is served whatever changed meanwhile (plan
/// 3.7: file changes show within this window).
pub const CACHE_TTL: Duration = Duration::from_secs(5);
/// How long a cached listing is served while no file document changed at
/// all since it was evaluated (then it is exact, not just recent): lets a
/// walk of a quiet tree that takes longer than [`CACHE_TTL`] (a `tar` or
/// `cp -r` of thousands of directories) list each directory once.
pub const QUIET_TTL: Duration = Duration::from_secs(600);
/// Most cached listings; beyond it, the older half is dropped.
const CACHE_CAPACITY: usize = 50_000;
/// How long a listing waits for a fresh index before answering
/// [`ReaddirError::NotReady`].
const READY_WAIT: Duration = Duration::from_secs(2);

/// Why a listing cannot be produced.
#[derive(Debug, thiserror::Error)]
pub enum ReaddirError {
    /// Neither a directory nor a synthesized subdirectory.
    #[error("no virtual directory {0}")]
    NotFound(String),
    /// The stored `parent_path` chain is broken (a loop or a missing
    /// ancestor), typically from replicated documents.
    #[error("field `parent_path` of {dir}: {problem}")]
    BadChain {
        /// The directory whose chain is broken.
        dir: String,
        /// What is wrong.
        problem: String,
    },
    /// The directory (or an ancestor whose steps it inherits) does not
    /// compile.
    #[error("the directory {dir} cannot be evaluated: field `{field}`: {message}")]
    Invalid {
        /// The directory.
        dir: String,
        /// The field at fault (`mounts[0].steps[1].pattern`, or prefixed by
        /// the ancestor's path for an inherited step).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The index is still catching up with the database after start.
    #[error("the local index is still catching up with the database; retry shortly")]
    NotReady,
    /// The index failed.
    #[error("local index: {0}")]
    Index(#[from] IndexError),
}

/// An evaluated listing.
#[derive(Debug)]
pub struct Listing {
    /// The listed virtual path (exact bytes).
    pub path: Vec<u8>,
    /// The directory document backing it (for a synthesized subdirectory,
    /// the directory whose mounts make it).
    pub directory: Arc<VirtualDirectoryDoc>,
    /// Whether `path` is a synthesized subdirectory.
    pub synthesized: bool,
    /// Entries by name.
    pub entries: Vec<Entry>,
    /// A hash of the entries' names, inodes and kinds: changes whenever an
    /// entry comes, goes or is renamed (the FUSE mount folds it into the
    /// directory's mtime, which is what the kernel checks before serving a
    /// listing it cached).
    pub fingerprint: u64,
}

/// The [`Listing::fingerprint`] of `entries`: the first 8 bytes of a
/// SHA-256 over each entry's kind, name and inode. (A fixed algorithm: the
/// value is a user-visible directory mtime and must not change with the
/// toolchain.)
fn fingerprint(entries: &[Entry]) -> u64 {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for e in entries {
        let (kind, name, inode) = match e {
            Entry::File { name, inode, .. } => (0u8, name, inode),
            Entry::Directory { name, inode, .. } => (1u8, name, inode),
        };
        h.update([kind]);
        h.update((name.len() as u64).to_le_bytes());
        h.update(name);
        h.update(inode.to_le_bytes());
    }
    let d = h.finalize();
    u64::from_le_bytes(d[..8].try_into().unwrap_or_default())
}

/// The label cache as the evaluator's facts. Annotations are not indexed
/// yet (no plugin writes them), so the `annotation` step never matches.
struct CacheFacts<'a>(&'a LabelCache);

impl Facts for CacheFacts<'_> {
    fn labels(&self, file: &FileDoc) -> Option<&BTreeSet<String>> {
        self.0.get(&file.id)
    }
    fn annotation(&self, _: &FileDoc, _: &str) -> Option<&Value> {
        None
    }
}

/// A path resolved against the directory set.
pub struct Resolved {
    /// The deepest directory document that is a prefix of the path.
    pub dir: Arc<VirtualDirectoryDoc>,
    /// Its ancestors, root first.
    pub ancestors: Vec<Arc<VirtualDirectoryDoc>>,
    /// Components below `dir` (empty unless synthesized), exact bytes.
    pub sub_path: Vec<Vec<u8>>,
    /// Child directory documents of `dir`.
    pub children: Vec<Arc<VirtualDirectoryDoc>>,
    /// The derived generation seen.
    pub generation: u64,
    /// The derived files generation seen.
    pub files_generation: u64,
    /// The epoch of the derived state seen ([`Derived::epoch`]).
    pub epoch: u64,
}

impl Resolved {
    /// Revisions of the directory and its ancestors (cache key), borrowed:
    /// a cache hit compares them without allocating.
    fn revisions(&self) -> impl Iterator<Item = &Option<String>> {
        self.ancestors
            .iter()
            .chain(std::iter::once(&self.dir))
            .map(|d| &d.rev)
    }
}

/// The ancestors of `dir`, root first, following `parent_path`. A loop or a
/// missing ancestor is an error naming the directory.
pub fn ancestors(
    d: &Derived,
    dir: &VirtualDirectoryDoc,
) -> Result<Vec<Arc<VirtualDirectoryDoc>>, ReaddirError> {
    let mut chain = Vec::new();
    let mut seen: HashSet<&str> = HashSet::from([dir.virtual_path.as_str()]);
    let mut parent = dir.parent_path.as_deref();
    while let Some(p) = parent {
        let bad = |problem: String| {
            tracing::error!(dir = %dir.virtual_path, problem = %problem,
                "broken ancestor chain of a virtual directory");
            ReaddirError::BadChain {
                dir: dir.virtual_path.clone(),
                problem,
            }
        };
        if !seen.insert(p) {
            return Err(bad(format!("the ancestor chain loops at {p}")));
        }
        let Some(a) = d.directory(p) else {
            return Err(bad(format!("the ancestor {p} does not exist")));
        };
        chain.push(a.clone());
        parent = a.parent_path.as_deref();
    }
    chain.reverse();
    Ok(chain)
}

/// Resolves `path` (already validated: absolute, no `..`) to the deepest
/// directory document that is a prefix of it, plus the components below.
/// Whether the components name a synthesized subdirectory is decided by
/// evaluating them, see [`readdir`]. The path is bytes: directory documents
/// have UTF-8 paths, but a synthesized subdirectory below one is named by a
/// directory on disk, whose name may not be UTF-8.
pub fn resolve(d: &Derived, path: &[u8]) -> Result<Resolved, ReaddirError> {
    let components: Vec<&[u8]> = path
        .split(|b| *b == b'/')
        .filter(|c| !c.is_empty())
        .collect();
    for depth in (0..=components.len()).rev() {
        let mut prefix = vec![b'/'];
        prefix.extend(components[..depth].join(&b'/'));
        // Only a UTF-8 prefix can name a directory document.
        let Ok(prefix) = std::str::from_utf8(&prefix) else {
            continue;
        };
        if let Some(dir) = d.directory(prefix) {
            let ancestors = ancestors(d, dir)?;
            return Ok(Resolved {
                dir: dir.clone(),
                ancestors,
                sub_path: components[depth..].iter().map(|c| c.to_vec()).collect(),
                children: d.children(&dir.virtual_path),
                generation: d.generation(),
                files_generation: d.files_generation(),
                epoch: d.epoch(),
            });
        }
    }
    Err(ReaddirError::NotFound(names::escaped(path)))
}

/// The candidate queries of `dir` at `sub_path`, compiled: step one of
/// [`evaluate`], then the queries run, then [`Plan::list`].
struct Plan {
    compiled: readdir::CompiledDirectory,
    queries: Vec<CandidateQuery>,
    /// `slots[i]`: mount i's query, if it contributes here.
    slots: Vec<Option<usize>>,
}

impl Plan {
    fn new(
        dir: &VirtualDirectoryDoc,
        ancestors: &[Arc<VirtualDirectoryDoc>],
        sub_path: &[Vec<u8>],
    ) -> Result<Plan, ReaddirError> {
        let anc: Vec<&VirtualDirectoryDoc> = ancestors.iter().map(|a| a.as_ref()).collect();
        let compiled = readdir::compile_directory(dir, &anc).map_err(|e| {
            tracing::error!(dir = %dir.virtual_path, field = %e.field, error = %e.message,
                "a virtual directory does not compile; it answers 422 until fixed");
            ReaddirError::Invalid {
                dir: dir.virtual_path.clone(),
                field: e.field,
                message: e.message,
            }
        })?;
        let sub: Vec<&[u8]> = sub_path.iter().map(Vec::as_slice).collect();
        let mut queries = Vec::new();
        let mut slots = Vec::with_capacity(dir.mounts.len());
        for (i, m) in dir.mounts.iter().enumerate() {
            slots.push(readdir::mount_query(m, &sub).map(|(node, prefix)| {
                queries.push(CandidateQuery {
                    node,
                    prefix,
                    shallow: compiled.lists_one_level(i),
                });
                queries.len() - 1
            }));
        }
        Ok(Plan {
            compiled,
            queries,
            slots,
        })
    }

    fn list(
        self,
        index: &Index,
        mut results: Vec<Vec<FileDoc>>,
        sub_path: &[Vec<u8>],
        children: &[Arc<VirtualDirectoryDoc>],
        virtual_path: &[u8],
    ) -> Listed {
        let sub: Vec<&[u8]> = sub_path.iter().map(Vec::as_slice).collect();
        let mut candidates: Vec<Vec<FileDoc>> = Vec::with_capacity(self.slots.len());
        for slot in self.slots {
            candidates.push(
                slot.map(|i| std::mem::take(&mut results[i]))
                    .unwrap_or_default(),
            );
        }
        let refs: Vec<Vec<&FileDoc>> = candidates.iter().map(|c| c.iter().collect()).collect();
        let kids: Vec<&VirtualDirectoryDoc> = children.iter().map(|c| c.as_ref()).collect();
        let now = mosaicfs_common::time::now();
        index.with_derived(|d| {
            readdir::list(
                &self.compiled,
                virtual_path,
                &sub,
                &refs,
                &kids,
                &CacheFacts(d.labels()),
                now,
            )
        })
    }
}

/// Evaluates `dir` at `sub_path`: compile, query each mount's candidates,
/// list. `children` are used only at the directory itself. Neither cached
/// nor counted (the preview of a draft uses it).
pub async fn evaluate(
    index: &Index,
    dir: &VirtualDirectoryDoc,
    ancestors: &[Arc<VirtualDirectoryDoc>],
    sub_path: &[Vec<u8>],
    children: &[Arc<VirtualDirectoryDoc>],
    virtual_path: &[u8],
) -> Result<Listed, ReaddirError> {
    let mut plan = Plan::new(dir, ancestors, sub_path)?;
    let results = index.files_under(std::mem::take(&mut plan.queries)).await?;
    Ok(plan.list(index, results, sub_path, children, virtual_path))
}

struct Cached {
    revisions: Vec<Option<String>>,
    generation: u64,
    files_generation: u64,
    epoch: u64,
    at: Instant,
    listing: Arc<Listing>,
}

impl Cached {
    /// Young enough: within the TTL, or within the quiet TTL while no file
    /// changed at all.
    fn fresh(&self, files_generation: u64) -> bool {
        let age = self.at.elapsed();
        age < CACHE_TTL || (self.files_generation == files_generation && age < QUIET_TTL)
    }
}

/// The readdir cache with hit and miss counters.
#[derive(Default)]
pub struct ReaddirCache {
    entries: Mutex<HashMap<Vec<u8>, Cached>>,
    hits: AtomicU64,
    misses: AtomicU64,
    collisions: AtomicU64,
}

impl ReaddirCache {
    /// `(hits, misses)` since start.
    pub fn stats(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    /// Name collisions met by the listings evaluated since start (each
    /// evaluation of a directory counts its collisions again; a cache hit
    /// counts nothing). Every one was logged at WARN with its source paths.
    pub fn collisions(&self) -> u64 {
        self.collisions.load(Ordering::Relaxed)
    }

    /// Logs and counts the collisions of one evaluated listing.
    fn report(&self, path: &[u8], collisions: &[Collision]) {
        for c in collisions {
            self.collisions.fetch_add(1, Ordering::Relaxed);
            let sources: Vec<String> = c
                .files
                .iter()
                .map(|f| {
                    let shown = match &f.shown_as {
                        Some(n) => format!("shown as {}", names::escaped(n)),
                        None => "hidden".to_string(),
                    };
                    format!(
                        "{}:{} ({}, {shown})",
                        f.node_id,
                        names::escaped(&f.export_path),
                        f.file_id
                    )
                })
                .collect();
            tracing::warn!(operation = "readdir", virtual_path = %names::escaped(path),
                name = %names::escaped(&c.name), resolution = ?c.resolution,
                sources = ?sources, "name collision in a virtual directory");
        }
    }

    /// The cached listing of `path` if still valid for `r`, counted as a hit.
    fn hit(&self, path: &[u8], r: &Resolved) -> Option<Arc<Listing>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let c = entries.get(path)?;
        let valid = c.fresh(r.files_generation)
            && c.epoch == r.epoch
            && c.generation == r.generation
            && c.revisions.iter().eq(r.revisions());
        valid.then(|| {
            self.hits.fetch_add(1, Ordering::Relaxed);
            c.listing.clone()
        })
    }

    /// The cached listing of `path` when nothing it depends on can have
    /// changed: the same derived state (epoch) at the same generation (no
    /// directory or label document changed since, so `path` resolves to
    /// the same documents) and still fresh. Needs no [`resolve`], which
    /// builds path strings and scans the directory set.
    fn hit_unchanged(&self, path: &[u8], d: &Derived) -> Option<Arc<Listing>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let c = entries.get(path)?;
        let valid =
            c.epoch == d.epoch() && c.generation == d.generation() && c.fresh(d.files_generation());
        valid.then(|| {
            self.hits.fetch_add(1, Ordering::Relaxed);
            c.listing.clone()
        })
    }

    /// A valid cached listing of `path` ([`Lookup::Hit`]), or what
    /// evaluating it needs ([`Lookup::Miss`]; the caller that evaluates
    /// counts the miss).
    fn lookup(&self, index: &Index, path: &[u8]) -> Result<Lookup, ReaddirError> {
        index.with_derived(|d| {
            if let Some(l) = self.hit_unchanged(path, d) {
                return Ok(Lookup::Hit(l));
            }
            let r = resolve(d, path)?;
            Ok(match self.hit(path, &r) {
                Some(l) => Lookup::Hit(l),
                None => Lookup::Miss(r),
            })
        })
    }

    fn put(&self, path: &[u8], r: &Resolved, listing: Arc<Listing>) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CACHE_CAPACITY {
            // Drop the older half (rare: a sort of the insertion times).
            let mut ages: Vec<Instant> = entries.values().map(|c| c.at).collect();
            ages.sort_unstable();
            let cut = ages[ages.len() / 2];
            entries.retain(|_, c| c.at > cut);
        }
        entries.insert(
            path.to_vec(),
            Cached {
                revisions: r.revisions().cloned().collect(),
                generation: r.generation,
                files_generation: r.files_generation,
                epoch: r.epoch,
                at: Instant::now(),
                listing,
            },
        );
    }
}

/// The listing of `path` if the cache holds a valid one, without waiting or
/// querying: for callers that answer from memory when they can (the FUSE
/// backend's `lookup`) and fall back to [`readdir`] otherwise.
pub fn cached(index: &Index, cache: &ReaddirCache, path: &[u8]) -> Option<Arc<Listing>> {
    if !index.is_ready() {
        return None;
    }
    match cache.lookup(index, path) {
        Ok(Lookup::Hit(listing)) => Some(listing),
        Ok(Lookup::Miss(_)) | Err(_) => None,
    }
}

/// What [`ReaddirCache::lookup`] found.
enum Lookup {
    Hit(Arc<Listing>),
    Miss(Resolved),
}

/// The listing of `path`, from the cache when valid. A component path below
/// a directory that its mounts do not make is [`ReaddirError::NotFound`].
pub async fn readdir(
    index: &Index,
    cache: &ReaddirCache,
    path: &[u8],
) -> Result<Arc<Listing>, ReaddirError> {
    if !index.is_ready() {
        // A fresh index is being built; wait briefly rather than answer from
        // half of it.
        index
            .wait_ready(READY_WAIT)
            .await
            .map_err(|_| ReaddirError::NotReady)?;
    }
    let r = match cache.lookup(index, path)? {
        Lookup::Hit(listing) => return Ok(listing),
        Lookup::Miss(r) => r,
    };
    cache.misses.fetch_add(1, Ordering::Relaxed);
    let mut plan = Plan::new(&r.dir, &r.ancestors, &r.sub_path)?;
    let results = index.files_under(std::mem::take(&mut plan.queries)).await?;
    finish(index, cache, path, r, plan, results)
}

/// [`readdir`] on the calling thread, which must be allowed to block (a
/// `spawn_blocking` task): the index query runs here instead of on another
/// thread of the blocking pool. An index still catching up answers
/// [`ReaddirError::NotReady`] at once (the async version waits briefly).
pub fn readdir_blocking(
    index: &Index,
    cache: &ReaddirCache,
    path: &[u8],
) -> Result<Arc<Listing>, ReaddirError> {
    if !index.is_ready() {
        return Err(ReaddirError::NotReady);
    }
    let r = match cache.lookup(index, path)? {
        Lookup::Hit(listing) => return Ok(listing),
        Lookup::Miss(r) => r,
    };
    cache.misses.fetch_add(1, Ordering::Relaxed);
    let mut plan = Plan::new(&r.dir, &r.ancestors, &r.sub_path)?;
    let results = index.files_under_blocking(std::mem::take(&mut plan.queries))?;
    finish(index, cache, path, r, plan, results)
}

/// What [`readdir`] and [`readdir_blocking`] share after the index query:
/// evaluates its `results` into entries, then wraps and caches them.
fn finish(
    index: &Index,
    cache: &ReaddirCache,
    path: &[u8],
    r: Resolved,
    plan: Plan,
    results: Vec<Vec<FileDoc>>,
) -> Result<Arc<Listing>, ReaddirError> {
    let Listed {
        entries,
        collisions,
    } = plan.list(index, results, &r.sub_path, &r.children, path);
    cache.report(path, &collisions);
    // A synthesized subdirectory exists exactly when some file below it
    // passes the steps, that is when its own listing is not empty.
    if !r.sub_path.is_empty() && entries.is_empty() {
        return Err(ReaddirError::NotFound(names::escaped(path)));
    }
    let listing = Arc::new(Listing {
        path: path.to_vec(),
        directory: r.dir.clone(),
        synthesized: !r.sub_path.is_empty(),
        fingerprint: fingerprint(&entries),
        entries,
    });
    cache.put(path, &r, listing.clone());
    Ok(listing)
}
