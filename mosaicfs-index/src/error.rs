//! Errors of the index.

use std::path::PathBuf;

/// Why an index operation failed.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// SQLite failed (open, schema, query, write).
    #[error("index database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A directory for the index could not be created.
    #[error("{path}: {source}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// CouchDB could not be read during start-up.
    #[error(transparent)]
    Couch(#[from] mosaicfs_common::couch::CouchError),
    /// A sequence value has no numeric part to compare.
    #[error("sequence {0} has no numeric part")]
    OpaqueSeq(String),
    /// The index did not reach a sequence in time.
    #[error("the index did not reach sequence {target} within {waited:?} (at {reached})")]
    Timeout {
        /// The sequence waited for.
        target: u64,
        /// The last sequence processed.
        reached: u64,
        /// How long we waited.
        waited: std::time::Duration,
    },
    /// The follower task has stopped.
    #[error("the index follower has stopped")]
    Stopped,
    /// A blocking task panicked or was cancelled.
    #[error("index task failed: {0}")]
    Task(String),
}
