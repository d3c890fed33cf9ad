//! Names that are not valid UTF-8 (issue #5, open question 18; issue #24):
//! two files whose names differ only in invalid bytes have the same lossy
//! path. Both must be listed under their exact names (names are bytes, so
//! there is no collision), and each must read as its own bytes: through a real mount (Tier 1 opens the exact bytes carried
//! by the index) and through Tier 4 across a real transfer endpoint (one
//! cache entry per file, never shared).

use crate::common::{Fixture, ProxyOpts, content, read_all};
use crate::fuse::{Mount, crawl};
use base64::Engine;
use mosaicfs_common::couch::CouchClient;
use mosaicfs_common::documents::FileDoc;
use mosaicfs_index::IndexFollower;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// `x\xff.bin` and `x\xfe.bin` (both lossy `x\u{FFFD}.bin`), plus a lone
/// `y\xff` whose lossy name is unique. Returns (path, content) per file.
fn write_tree(watch: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let files: [(&[u8], usize); 3] = [
        (b"x\xff.bin", 300_001),
        (b"x\xfe.bin", 300_001),
        (b"y\xff", 4097),
    ];
    files
        .iter()
        .enumerate()
        .map(|(i, (name, len))| {
            let p = watch.join(OsStr::from_bytes(name));
            let c = content(*len, 40 + i as u64);
            std::fs::write(&p, &c).unwrap();
            (p, c)
        })
        .collect()
}

/// The file documents in `db`, by exact path (from `export_path_bytes`).
async fn docs_by_path(db: &CouchClient) -> HashMap<PathBuf, Value> {
    let mut out = HashMap::new();
    db.for_each_prefix_page("file::", 1000, true, |rows| {
        for d in rows.into_iter().filter_map(|r| r.doc) {
            let path = match d["source"]["export_path_bytes"].as_str() {
                Some(b64) => {
                    let b = base64::engine::general_purpose::STANDARD
                        .decode(b64)
                        .unwrap();
                    PathBuf::from(OsStr::from_bytes(&b))
                }
                None => PathBuf::from(d["source"]["export_path"].as_str().unwrap()),
            };
            out.insert(path, d);
        }
    })
    .await
    .unwrap();
    out
}

fn dir_with_suffixes(path: &str, node: &str, watch: &Path) -> Value {
    json!({
        "_id": mosaicfs_common::ids::dir_id(path), "type": "virtual_directory",
        "inode": mosaicfs_common::ids::new_inode(), "virtual_path": path,
        "name": path.trim_start_matches('/'), "parent_path": "/", "system": false,
        "created_at": "2026-01-01T00:00:00Z", "enforce_steps_on_children": false,
        "mounts": [{"mount_id": "m-odd", "source": {"node_id": node,
            "export_path": watch.to_string_lossy()}, "strategy": "prefix_replace",
            "steps": [], "default_result": "include", "conflict_policy": "suffix_node_id"}],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_names_with_one_lossy_form_read_as_themselves_through_the_mount() {
    let tmp = tempfile::tempdir().unwrap();
    let watch = tmp.path().join("watch");
    std::fs::create_dir_all(&watch).unwrap();
    let files = write_tree(&watch);
    let db = mosaicfs_testsupport::server("a").fresh_db("nonutf8").await;
    let node = format!("node-odd-{}", std::process::id());
    db.put(&json!({
        "_id": mosaicfs_common::ids::ROOT_DIR_ID, "type": "virtual_directory", "inode": 1,
        "virtual_path": "/", "name": "", "system": true, "created_at": "2026-01-01T00:00:00Z",
        "enforce_steps_on_children": false, "mounts": [],
    }))
    .await
    .unwrap();
    crawl(&db, &node, &watch).await;
    db.put(&dir_with_suffixes("/odd", &node, &watch))
        .await
        .unwrap();
    let docs = docs_by_path(&db).await;
    assert_eq!(docs.len(), 3, "every non-UTF-8 name is indexed");
    let by_inode: HashMap<u64, &Vec<u8>> = files
        .iter()
        .map(|(p, c)| (docs[p]["inode"].as_u64().unwrap(), c))
        .collect();

    for passthrough in [true, false] {
        let dir = tmp.path().join(format!("m-{passthrough}"));
        let m = Mount::start(&db, &node, vec![watch.clone()], &dir, passthrough).await;
        let odd = m.path("/odd");
        let listed = tokio::task::spawn_blocking(move || {
            let mut out: Vec<(Vec<u8>, u64, Vec<u8>)> = std::fs::read_dir(&odd)
                .unwrap()
                .map(|e| {
                    let e = e.unwrap();
                    let name = e.file_name().into_encoded_bytes();
                    let ino = std::fs::metadata(e.path()).unwrap().ino();
                    (name, ino, std::fs::read(e.path()).unwrap())
                })
                .collect();
            out.sort();
            out
        })
        .await
        .unwrap();
        let names: Vec<&[u8]> = listed.iter().map(|(n, _, _)| n.as_slice()).collect();
        assert_eq!(
            names,
            [&b"x\xfe.bin"[..], b"x\xff.bin", b"y\xff"],
            "each file is listed under its exact name, none suffixed"
        );
        for (name, ino, bytes) in &listed {
            let name = name.escape_ascii();
            let want = by_inode
                .get(ino)
                .unwrap_or_else(|| panic!("{name}: inode {ino} is no file's"));
            assert!(
                bytes == *want,
                "{name} (passthrough {passthrough}): {} bytes read, not the source's {} bytes",
                bytes.len(),
                want.len()
            );
        }
        assert_ne!(listed[0].2, listed[1].2, "two different files");
        m.unmount().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_names_with_one_lossy_form_are_two_cache_entries_through_tier_4() {
    let f = Fixture::new(ProxyOpts::default()).await;
    let files = write_tree(&f.watch);
    crawl(&f.db, &f.owner, &f.watch).await;
    let cancel = CancellationToken::new();
    let follower =
        IndexFollower::start(f.db.clone(), &f.tmp.path().join("index.db"), cancel.clone())
            .await
            .unwrap();
    let index = follower.index();
    let info = f.db.db_info().await.unwrap();
    index
        .wait_for_seq(&info["update_seq"], Duration::from_secs(30))
        .await
        .unwrap();
    let docs = docs_by_path(&f.db).await;
    let vfs = f.vfs(f.config(), f.cache_config()).await;
    let mut keys = Vec::new();
    for round in 0..2 {
        for (path, want) in &files {
            let id = docs[path]["_id"].as_str().unwrap();
            // The document as the FUSE backend gets it: rebuilt from the index.
            let doc: FileDoc = index.file_doc(id).await.unwrap().unwrap();
            let h = vfs.open(&doc).await.unwrap();
            assert_eq!(h.tier(), &mosaicfs_vfs::tier::Tier::Remote);
            if round == 0 {
                keys.push(h.cache_key().unwrap().to_string());
            }
            drop(h);
            let got = read_all(&vfs, &doc, 64 << 10).await;
            assert!(
                got == *want,
                "round {round}, {}: {} bytes, not the source's {}",
                path.display(),
                got.len(),
                want.len()
            );
        }
    }
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 3, "one cache entry per file");
    assert_eq!(vfs.cache().entries().await.unwrap().len(), 3);
    cancel.cancel();
    follower.join().await;
}
