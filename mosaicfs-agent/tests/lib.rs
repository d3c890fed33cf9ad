//! Integration tests of the agent against real CouchDB-protocol servers
//! (pouchdb-server started through scripts/couchdb.sh, or the servers
//! `scripts/test.sh` exports). One test binary for the crate.

mod common;

mod binary;
mod crawl;
mod init;
mod notify;
mod reconcile;
mod replication;
mod transfer;
mod watch;
