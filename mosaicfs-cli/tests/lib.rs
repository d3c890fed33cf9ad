//! Integration tests of mosaicfs-cli: the real binary against a real server
//! (in-process) on a real CouchDB-protocol server. One test binary.

mod common;

mod backup;
mod commands;
mod errors;
mod fetch;
mod help;
mod labels;
mod milestone;
mod notifications;
mod storage;
