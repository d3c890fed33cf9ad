//! Shared ground for every MosaicFS component.
//!
//! - [`documents`]: the eleven CouchDB document types. Documents are a versioned
//!   interface between programs of different versions: every struct keeps the
//!   fields it does not know in `extra`, so a read-modify-write by an older
//!   program never erases a newer field.
//! - [`ids`]: the `_id` formats, which are load-bearing (replication filters and
//!   range queries depend on their prefixes).
//! - [`couch`]: a small CouchDB HTTP client (reqwest, rustls). Components speak
//!   to CouchDB only through it, so any Apache CouchDB 3.x URL works.
//! - [`retry`]: the one retry policy (1 s, ×2, 60 s cap, ±25 % jitter) used by
//!   every network call.
//! - [`replication`]: the design document with the replication filters.
//! - [`rules`]: the step pipeline (compile and evaluate filter steps); pure,
//!   no I/O.
//! - [`range`]: `Range` header parsing for file content.
//! - [`hmac`]: the request-signing canonical string shared by signers and
//!   verifiers, and the control-plane-issued transfer tokens.
//! - [`tls`]: pinning the control plane's self-signed certificate.
//! - [`fsutil`]: atomic file replacement (temp file, fsync, rename).
//! - [`names`]: names and paths as exact bytes, and their lossless JSON form
//!   (lossy text plus base64 `_bytes`).
//!
//! See `docs/architecture.md` for the contracts these types implement.
#![warn(missing_docs)]

pub mod couch;
pub mod documents;
pub mod fsutil;
pub mod hmac;
pub mod ids;
pub mod logging;
pub mod names;
pub mod notify;
pub mod range;
pub mod replication;
pub mod retry;
pub mod rules;
pub mod time;
pub mod tls;

pub use documents::Document;
