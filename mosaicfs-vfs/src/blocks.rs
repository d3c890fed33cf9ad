//! Block-mode reads of remote files (plan 4.6): what is present is served
//! from the sparse cache file; what is missing is fetched with `Range`
//! requests that stream into the file, and a reader is served as soon as
//! its bytes are written, not when the whole request is done.
//!
//! Per open cache entry an in-memory [`BlockState`] mirrors its block map
//! (ahead of `index.db`, which gets the written ranges every
//! [`PERSIST_EVERY`] bytes and at the end of each request, always after the
//! bytes) and lists the ranges in flight, so that:
//!
//! - a range in flight is never requested again: readers of it wait for its
//!   bytes (one fetch for all readers);
//! - requests cover only missing bytes: the missing parts of a read are
//!   widened to the block size, present and in-flight bytes are cut out
//!   again, and only touching pieces are merged into one request;
//! - sequential readers get read-ahead: after two reads in a row that
//!   continue the previous one, a window beyond the read (4 MiB, doubling
//!   per request up to `max_readahead`) is requested whenever less than half
//!   a window ahead is present or in flight, so a streaming reader finds its
//!   bytes already on the way and requests are few and large.
//!
//! A request that fails after its retries fails the readers waiting for it
//! (`EIO`); its bytes written so far stay valid and recorded.

use crate::block_map::{self, BlockMap};
use crate::cache::{Cache, CacheError, EntryMeta, Mode, read_exact_at};
use crate::error::VfsError;
use crate::fetch::{FetchError, TransferClient};
use crate::lock;
use bytes::Bytes;
use futures_util::FutureExt;
use mosaicfs_common::documents::{FileDoc, NodeDoc};
use std::ops::Range;
use std::sync::{Arc, Mutex};

/// Largest read-ahead window of a sequential reader.
pub const DEFAULT_MAX_READAHEAD: u64 = 64 << 20;
/// A sequential run longer than this many blocks gets read-ahead.
const STREAM_AFTER_BLOCKS: u64 = 4;
/// First read-ahead window.
const FIRST_WINDOW: u64 = 4 << 20;
/// A request's bytes are written to the cache file in batches of this size.
const WRITE_BATCH: usize = 1 << 20;
/// Written ranges reach `index.db` at least this often (and at the end).
pub const PERSIST_EVERY: u64 = 16 << 20;
/// Failed requests remembered for their waiters.
const KEEP_FAILURES: usize = 32;
/// The most recently written bytes of an entry are also kept in memory, up
/// to this much, and reads of them are served from there (a streaming
/// reader reads what just arrived: no `pread`, no blocking-pool hop).
const RECENT_BYTES: usize = 16 << 20;

/// The in-memory state of one open block-mode entry.
pub(crate) struct BlockState {
    st: Mutex<St>,
    notify: tokio::sync::Notify,
    /// The content file: sparse (read-write) or, for a full entry, complete.
    file: Arc<std::fs::File>,
    /// Recently written body frames `(offset, bytes)`, oldest first, at
    /// most [`RECENT_BYTES`] in all; the same bytes as in the file.
    recent: Mutex<Recent>,
    size: u64,
    mtime: String,
}

struct St {
    map: BlockMap,
    full: bool,
    pending: Vec<Pending>,
    next_id: u64,
    failed: Vec<(u64, VfsError)>,
    seq_end: Option<u64>,
    /// Where the current sequential run started.
    seq_start: u64,
    streak: u32,
    window: u64,
}

#[derive(Default)]
struct Recent {
    frames: std::collections::VecDeque<(u64, Bytes)>,
    bytes: usize,
}

impl Recent {
    fn push(&mut self, mut offset: u64, frames: &[Bytes]) {
        for f in frames {
            self.bytes += f.len();
            self.frames.push_back((offset, f.clone()));
            offset += f.len() as u64;
        }
        while self.bytes > RECENT_BYTES {
            match self.frames.pop_front() {
                Some((_, f)) => self.bytes -= f.len(),
                None => break,
            }
        }
    }

    /// `want` out of the frames, if they hold all of it: a slice of the
    /// frame when one frame holds it (no copy), else copied together.
    fn get(&self, want: &Range<u64>) -> Option<Bytes> {
        if let Some((off, f)) = self
            .frames
            .iter()
            .find(|(o, f)| *o <= want.start && want.end <= *o + f.len() as u64)
        {
            return Some(f.slice((want.start - off) as usize..(want.end - off) as usize));
        }
        let mut out = Vec::with_capacity((want.end - want.start) as usize);
        let mut pos = want.start;
        while pos < want.end {
            let (off, f) = self
                .frames
                .iter()
                .find(|(o, f)| *o <= pos && pos < *o + f.len() as u64)?;
            let from = (pos - off) as usize;
            let to = ((want.end - off) as usize).min(f.len());
            out.extend_from_slice(&f[from..to]);
            pos = off + to as u64;
        }
        Some(Bytes::from(out))
    }
}

struct Pending {
    id: u64,
    /// What is still to arrive.
    range: Range<u64>,
}

/// What a block-mode read came to.
pub(crate) enum Outcome {
    /// The bytes.
    Data(Bytes),
    /// The map is too fragmented: fetch the whole file instead.
    Promote,
    /// The cache cannot make room: stream this read without caching.
    NoRoom,
}

enum Step {
    /// Requests are due: first make room for this many bytes. The flag says
    /// whether the read's own bytes are already present.
    Room(u64, bool),
    /// Wait for these requests (the ids) after starting the new ones.
    Wait(Vec<u64>, Vec<(u64, Range<u64>)>),
    /// The read's bytes are present: start the read-ahead and serve.
    Ahead(Vec<(u64, Range<u64>)>),
}

/// Everything one read needs.
pub(crate) struct BlockRead<'a> {
    /// The cache.
    pub cache: &'a Cache,
    /// The transfer client.
    pub client: &'a TransferClient,
    /// The owner's node document.
    pub node: &'a NodeDoc,
    /// The file.
    pub file: &'a FileDoc,
    /// Its cache entry.
    pub meta: &'a EntryMeta,
    /// Alignment of requests.
    pub block_size: u64,
    /// Largest read-ahead window (0: no read-ahead).
    pub max_readahead: u64,
}

/// The sub-ranges of `want` to request: missing in `map`, widened to
/// `block`, without present or in-flight bytes, touching pieces merged.
pub(crate) fn plan(
    map: &BlockMap,
    pending: &[Range<u64>],
    want: Range<u64>,
    block: u64,
    size: u64,
) -> Vec<Range<u64>> {
    let mut pieces = Vec::new();
    for m in map.missing(want) {
        for r in map.missing(block_map::align(m, block, size)) {
            pieces.extend(subtract(r, pending));
        }
    }
    pieces.sort_by_key(|r| r.start);
    // Aligned widenings of neighbouring reads may overlap: merge those too.
    let mut out: Vec<Range<u64>> = Vec::with_capacity(pieces.len());
    for r in pieces {
        match out.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

/// `r` without any of `holes`.
fn subtract(r: Range<u64>, holes: &[Range<u64>]) -> Vec<Range<u64>> {
    let mut out = vec![r];
    for h in holes {
        out = out
            .into_iter()
            .flat_map(|x| {
                if h.end <= x.start || h.start >= x.end {
                    vec![x]
                } else {
                    let mut v = Vec::new();
                    if x.start < h.start {
                        v.push(x.start..h.start);
                    }
                    if h.end < x.end {
                        v.push(h.end..x.end);
                    }
                    v
                }
            })
            .collect();
    }
    out
}

/// The first byte at or after `from` that is neither present nor in flight.
fn frontier(map: &BlockMap, pending: &[Range<u64>], mut from: u64, size: u64) -> u64 {
    loop {
        if from >= size {
            return size;
        }
        if let Some(r) = map
            .ranges()
            .get(map.ranges().partition_point(|r| r.end <= from))
            .filter(|r| r.start <= from)
        {
            from = r.end;
            continue;
        }
        if let Some(p) = pending.iter().find(|p| p.start <= from && from < p.end) {
            from = p.end;
            continue;
        }
        return from;
    }
}

impl St {
    /// The state of a file just opened: `map` is what the cache holds,
    /// nothing is pending and no sequential reader has been seen yet.
    fn new(map: BlockMap, full: bool) -> St {
        St {
            map,
            full,
            pending: Vec::new(),
            next_id: 0,
            failed: Vec::new(),
            seq_end: None,
            seq_start: 0,
            streak: 0,
            window: FIRST_WINDOW,
        }
    }

    fn pending_ranges(&self) -> Vec<Range<u64>> {
        self.pending.iter().map(|p| p.range.clone()).collect()
    }

    /// Updates the sequential-reader detection with a read of `want`.
    fn note_read(&mut self, want: &Range<u64>, block: u64) {
        let near = |e: u64| want.start + block >= e && want.start <= e + block;
        // Readers of what was just read (concurrent readers of one range,
        // the kernel re-reading a page) neither advance nor break a stream.
        if self.seq_end.is_some_and(|e| near(e) && want.end <= e) {
            return;
        }
        let sequential = self.seq_end.is_some_and(near);
        if sequential {
            self.streak = self.streak.saturating_add(1);
            self.seq_end = self.seq_end.map(|e| e.max(want.end));
        } else {
            self.streak = 0;
            self.window = FIRST_WINDOW;
            self.seq_end = Some(want.end);
            self.seq_start = want.start;
        }
    }

    /// A sequential reader: several reads in a row, over at least
    /// [`STREAM_AFTER_BLOCKS`] blocks (one large `pread` split into several
    /// FUSE reads is not a stream).
    fn streaming(&self, block: u64) -> bool {
        self.streak >= 2
            && self.seq_end.is_some_and(|e| {
                e.saturating_sub(self.seq_start) >= STREAM_AFTER_BLOCKS.saturating_mul(block)
            })
    }

    /// Requests for `want`, plus read-ahead for a sequential reader.
    fn requests(&mut self, want: &Range<u64>, r: &BlockRead<'_>, commit: bool) -> Vec<Range<u64>> {
        let size = r.meta.size;
        let pending = self.pending_ranges();
        let mut out = plan(&self.map, &pending, want.clone(), r.block_size, size);
        if r.max_readahead > 0 && self.streaming(r.block_size) {
            let mut covered = pending.clone();
            covered.extend(out.iter().cloned());
            let window = self.window.min(r.max_readahead).max(r.block_size);
            let f = frontier(&self.map, &covered, want.end, size);
            if f < size && f < want.end + window / 2 {
                let ahead = f..(f + window).min(size);
                out.extend(plan(&self.map, &covered, ahead, r.block_size, size));
                if commit {
                    self.window = (self.window * 2).min(r.max_readahead);
                }
            }
        }
        out
    }

    /// Ids of in-flight requests that overlap `want`.
    fn deps(&self, want: &Range<u64>) -> Vec<u64> {
        self.pending
            .iter()
            .filter(|p| p.range.start < want.end && want.start < p.range.end)
            .map(|p| p.id)
            .collect()
    }
}

impl BlockRead<'_> {
    /// The entry's state: the loaded one if it is for this version of the
    /// file, else loaded from the cache (which drops a stale entry).
    async fn state(&self) -> Result<Arc<BlockState>, VfsError> {
        if let Some(s) = self.cache.block_state(&self.meta.key)
            && s.size == self.meta.size
            && s.mtime == self.meta.mtime
        {
            return Ok(s);
        }
        let entry = self.cache.lookup(self.meta).await?;
        let (map, full) = match entry {
            Some(e) if e.mode == Mode::Full => (BlockMap::new(), true),
            Some(e) => (e.block_map, false),
            None => (BlockMap::new(), false),
        };
        let file = self.cache.open_content(self.meta, full).await?;
        let state = Arc::new(BlockState {
            st: Mutex::new(St::new(map, full)),
            notify: tokio::sync::Notify::new(),
            file: Arc::new(file),
            recent: Mutex::default(),
            size: self.meta.size,
            mtime: self.meta.mtime.clone(),
        });
        let (size, mtime) = (self.meta.size, &self.meta.mtime);
        Ok(self.cache.set_block_state(&self.meta.key, state, |s| {
            s.size == size && s.mtime == *mtime
        }))
    }

    /// Reads `want` (non-empty, within the file).
    pub(crate) async fn read(&self, want: Range<u64>) -> Result<Outcome, VfsError> {
        let state = self.state().await?;
        {
            let mut st = lock(&state.st);
            if !st.full && st.map.needs_promotion() {
                return Ok(Outcome::Promote);
            }
            st.note_read(&want, self.block_size);
        }
        let mut room_checked = false;
        loop {
            let notified = state.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let step = {
                let mut st = lock(&state.st);
                if st.full {
                    break;
                }
                // A read of present bytes still starts the read-ahead of a
                // sequential reader: the next window is on its way while the
                // reader consumes this one, instead of being requested only
                // when the reader has run out (and waits for it).
                let present = st.map.contains(want.clone());
                if !present {
                    let deps = st.deps(&want);
                    if let Some((_, e)) = st.failed.iter().find(|(id, _)| deps.contains(id)) {
                        return Err(e.clone());
                    }
                }
                let requests = st.requests(&want, self, room_checked);
                if requests.is_empty() && present {
                    break;
                }
                if !requests.is_empty() && !room_checked {
                    Step::Room(requests.iter().map(|r| r.end - r.start).sum(), present)
                } else {
                    let mut started = Vec::new();
                    for r in requests {
                        let id = st.next_id;
                        st.next_id += 1;
                        st.pending.push(Pending {
                            id,
                            range: r.clone(),
                        });
                        started.push((id, r));
                    }
                    if present {
                        Step::Ahead(started)
                    } else {
                        Step::Wait(st.deps(&want), started)
                    }
                }
            };
            let (deps, to_start) = match step {
                Step::Room(incoming, present) => {
                    if !self.cache.make_room(incoming).await? {
                        // No room for read-ahead: serve what is present.
                        if present {
                            break;
                        }
                        return Ok(Outcome::NoRoom);
                    }
                    room_checked = true;
                    continue;
                }
                Step::Ahead(started) => {
                    for (id, r) in started {
                        self.spawn_fetch(&state, id, r);
                    }
                    break;
                }
                Step::Wait(deps, started) => (deps, started),
            };
            for (id, r) in to_start {
                self.spawn_fetch(&state, id, r);
            }
            notified.await;
            let st = lock(&state.st);
            // A failed request may still have written what this read needs.
            if !st.full
                && !st.map.contains(want.clone())
                && let Some((_, e)) = st.failed.iter().find(|(id, _)| deps.contains(id))
            {
                return Err(e.clone());
            }
        }
        let recent = lock(&state.recent).get(&want);
        let bytes = match recent {
            Some(b) => b,
            None => {
                let file = state.file.clone();
                let len = (want.end - want.start) as usize;
                tokio::task::spawn_blocking(move || read_exact_at(&file, want.start, len))
                    .await
                    .map_err(|e| VfsError::Io(format!("blocking task: {e}")))?
                    .map_err(|e| VfsError::local("read the cache file", e))?
            }
        };
        self.cache.touch(&self.meta.key).await?;
        Ok(Outcome::Data(bytes))
    }

    /// Runs request `id` for `range` as its own task (it completes for the
    /// other readers even if this one goes away).
    fn spawn_fetch(&self, state: &Arc<BlockState>, id: u64, range: Range<u64>) {
        let (state, cache, client, node, file, meta) = (
            state.clone(),
            self.cache.clone(),
            self.client.clone(),
            self.node.clone(),
            self.file.clone(),
            self.meta.clone(),
        );
        tokio::spawn(async move {
            let start = range.start;
            let t = std::time::Instant::now();
            let r = fetch_into(&state, &cache, &client, &node, &file, &meta, id, range).await;
            let mut st = lock(&state.st);
            st.pending.retain(|p| p.id != id);
            match r {
                Ok(end) => {
                    tracing::debug!(operation = "vfs_block_fetch", file_id = %file.id,
                        node_id = %node.node_id, start, end,
                        duration_ms = t.elapsed().as_millis() as u64, "range fetched");
                }
                Err(e) => {
                    tracing::error!(operation = "vfs_block_fetch", file_id = %file.id,
                        node_id = %node.node_id, error = %e,
                        "range transfer failed; its readers get an error");
                    st.failed.push((id, e));
                    if st.failed.len() > KEEP_FAILURES {
                        st.failed.remove(0);
                    }
                }
            }
            drop(st);
            state.notify.notify_waiters();
        });
    }
}

/// Streams `range` into the sparse file, publishing each written batch to
/// the state and recording written bytes in `index.db`; returns the end.
#[allow(clippy::too_many_arguments)]
async fn fetch_into(
    state: &Arc<BlockState>,
    cache: &Cache,
    client: &TransferClient,
    node: &NodeDoc,
    file: &FileDoc,
    meta: &EntryMeta,
    id: u64,
    range: Range<u64>,
) -> Result<u64, VfsError> {
    let (start, range_end) = (range.start, range.end);
    let recorded = Arc::new(Mutex::new(start));
    let mut sink = |offset: u64, frames: Vec<Bytes>| {
        let (state, cache, meta, recorded) =
            (state.clone(), cache.clone(), meta.clone(), recorded.clone());
        async move {
            let f = state.file.clone();
            let len: u64 = frames.iter().map(|b| b.len() as u64).sum();
            let frames = tokio::task::spawn_blocking(move || {
                use std::os::unix::fs::FileExt;
                let mut at = offset;
                for b in &frames {
                    f.write_all_at(b, at)?;
                    at += b.len() as u64;
                }
                Ok::<_, std::io::Error>(frames)
            })
            .await
            .map_err(|e| FetchError::Local(Arc::new(std::io::Error::other(e.to_string()))))?
            .map_err(|e| FetchError::Local(Arc::new(e)))?;
            lock(&state.recent).push(offset, &frames);
            let end = offset + len;
            // The last batch is recorded before its readers are woken, so a
            // reader that got its bytes finds them in index.db too.
            let last = end == range_end;
            let from = *lock(&recorded);
            if last || end - from >= PERSIST_EVERY {
                record(&cache, &meta, start..end).await?;
                *lock(&recorded) = end;
            }
            {
                let mut st = lock(&state.st);
                st.map.insert(offset..end);
                if let Some(p) = st.pending.iter_mut().find(|p| p.id == id) {
                    p.range.start = end.min(p.range.end);
                }
            }
            state.notify.notify_waiters();
            Ok(())
        }
        .boxed()
    };
    let r = client
        .stream_range(node, file, range.clone(), WRITE_BATCH, &mut sink)
        .await;
    // Whatever arrived is recorded, also when the rest failed.
    let written = lock(&state.st)
        .map
        .ranges()
        .iter()
        .find(|r| r.start <= start && start < r.end)
        .map(|r| r.end.min(range.end))
        .unwrap_or(start);
    if written > *lock(&recorded) {
        record(cache, meta, start..written)
            .await
            .map_err(VfsError::Fetch)?;
    }
    r.map_err(VfsError::Fetch)?;
    Ok(range.end)
}

async fn record(cache: &Cache, meta: &EntryMeta, range: Range<u64>) -> Result<(), FetchError> {
    cache
        .record_blocks(meta, range)
        .await
        .map(|_| ())
        .map_err(|e: CacheError| FetchError::Local(Arc::new(std::io::Error::other(e.to_string()))))
}

#[cfg(test)]
#[allow(clippy::single_range_in_vec_init)]
mod tests {
    use super::*;
    use crate::block_map::tests::map;

    #[test]
    fn plans_widen_to_blocks_and_never_include_present_or_pending_bytes() {
        let m = map(&[100..200]);
        // A read inside one block: that block.
        assert_eq!(plan(&BlockMap::new(), &[], 10..20, 100, 1000), [0..100]);
        // Around a present block: two requests, the present block cut out.
        assert_eq!(plan(&m, &[], 50..250, 100, 1000), [0..100, 200..300]);
        // Touching missing blocks merge into one request.
        assert_eq!(plan(&m, &[], 250..450, 100, 1000), [200..500]);
        // In-flight bytes are not requested again.
        assert_eq!(
            plan(&m, &[300..400], 250..450, 100, 1000),
            [200..300, 400..500]
        );
        assert!(plan(&m, &[0..100], 0..150, 100, 1000).is_empty());
        // Clamped to the file.
        assert_eq!(plan(&BlockMap::new(), &[], 950..990, 100, 990), [900..990]);
        // A present interval ending inside a block (a cut transfer) is not
        // fetched again.
        let cut = map(&[0..150]);
        assert_eq!(plan(&cut, &[], 120..180, 100, 1000), [150..200]);
    }

    #[test]
    fn recent_frames_serve_reads_they_cover_and_forget_the_oldest() {
        let mut r = Recent::default();
        r.push(
            100,
            &[Bytes::from_static(b"abc"), Bytes::from_static(b"def")],
        );
        r.push(0, &[Bytes::from_static(b"xy")]);
        assert_eq!(r.get(&(101..105)).as_deref(), Some(&b"bcde"[..]));
        assert_eq!(r.get(&(0..2)).as_deref(), Some(&b"xy"[..]));
        assert!(r.get(&(104..107)).is_none(), "107 was never written");
        assert!(r.get(&(1..3)).is_none());
        r.push(200, &[Bytes::from(vec![7u8; RECENT_BYTES])]);
        assert!(r.get(&(100..101)).is_none(), "the oldest frames went");
        assert_eq!(r.get(&(200..203)).as_deref(), Some(&[7u8, 7, 7][..]));
        assert_eq!(r.bytes, RECENT_BYTES);
    }

    #[test]
    fn the_frontier_skips_present_and_pending_bytes() {
        let m = map(&[0..100, 300..400]);
        assert_eq!(frontier(&m, &[], 50, 1000), 100);
        assert_eq!(frontier(&m, &[100..300], 50, 1000), 400);
        assert_eq!(frontier(&m, &[100..300], 450, 1000), 450);
        assert_eq!(frontier(&m, &[400..1000], 0, 1000), 100);
        assert_eq!(frontier(&m, &[100..300, 400..1000], 0, 1000), 1000);
    }

    #[test]
    fn sequential_readers_are_detected_after_two_reads_in_a_row() {
        let mut st = St::new(BlockMap::new(), false);
        st.note_read(&(0..10), 4);
        assert_eq!(st.streak, 0);
        st.note_read(&(10..20), 4);
        st.note_read(&(20..30), 4);
        assert_eq!(st.streak, 2);
        assert!(!st.streaming(10), "30 bytes are not 4 blocks of 10");
        assert!(st.streaming(4));
        // Re-reading the last read changes nothing; a seek resets.
        st.note_read(&(27..30), 4);
        assert_eq!((st.streak, st.seq_end), (2, Some(30)));
        st.note_read(&(500..510), 4);
        assert_eq!((st.streak, st.seq_end), (0, Some(510)));
    }
}
