//! Integration tests of mosaicfs-server over real HTTPS against a real
//! CouchDB-protocol server. One test binary for the crate.

mod common;

mod agent_api;
mod backup;
mod browser;
mod content;
mod content_url;
mod core;
mod files;
mod labels;
mod milestone8;
mod monitor;
mod nodes;
mod notifications;
mod readdir;
mod storage;
mod vfs;
mod web;
