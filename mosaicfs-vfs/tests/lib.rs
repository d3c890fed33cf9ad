//! Integration tests of the read path against a real transfer endpoint (the
//! agent's, in-process) and a real CouchDB-protocol server. One test binary
//! for the crate.

mod common;

mod binary;
mod corrupt;
mod fuse;
mod local;
mod mounts;
mod names;
mod nonutf8;
mod remote;
mod throughput;
mod tokens;
