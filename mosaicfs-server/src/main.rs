//! `mosaicfs-server`, the control plane. Only a skeleton so far: the REST API
//! over TLS is issue #3. Until then the control plane is its CouchDB, which
//! agents replicate to directly (see docs/architecture.md).

fn main() {
    eprintln!(
        "mosaicfs-server {}: the REST API is not built yet (issue #3); \
         run the control-plane CouchDB with scripts/couchdb.sh or docker-compose.",
        env!("CARGO_PKG_VERSION")
    );
    std::process::exit(2);
}
