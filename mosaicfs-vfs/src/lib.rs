//! The MosaicFS virtual filesystem, without the OS backend: tiered file
//! access and the file cache (issue #5, plan 4.4–4.9). The FUSE backend sits
//! on top of [`Vfs`]: it opens a [`FileHandle`] per `open`, calls
//! [`Vfs::read_handle`] per `read`, drops the handle on `release`, and turns
//! a [`VfsError`] into its [`Errno`].
//!
//! - [`tier`]: which tier serves a file (local, network mount, remote);
//! - [`block_map`]: the present ranges of a block-mode cache entry;
//! - [`cache`]: `index.db`, `files/`, `tmp/`, staleness and eviction;
//! - [`fetch`]: the transfer-protocol client (signing, `Digest` trailer,
//!   `Range`, retries);
//! - [`vfs`]: the read path tying them together, with shared in-flight
//!   fetches;
//! - [`fuse`]: the FUSE backend (fuser) over the index's readdir service
//!   and [`Vfs`]; the `mosaicfs-vfs mount` binary runs it.
//!
//! Invariants: the VFS never writes file documents; nothing in `files/` is
//! visible without its `index.db` row, and a row is written only after its
//! bytes; a cache entry whose size or mtime differs from the document is
//! never served.
#![warn(missing_docs)]

pub mod block_map;
pub mod blocks;
pub mod cache;
pub mod daemon;
pub mod error;
pub mod fetch;
pub mod fuse;
pub mod tier;
pub mod vfs;

pub use error::{Errno, VfsError};
pub use vfs::{FileHandle, Vfs, VfsConfig};

/// Locks `m`, also after a panic in another holder: every lock in this
/// crate guards state that stays consistent between statements.
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
