//! Tiers 2 and 3 through the read path (plan 4.8): the reader's node
//! document lists a network mount and an iCloud directory holding the
//! owner's files. A current copy is read locally with no transfer; a copy
//! that lags behind the document (another size or mtime) or an evicted
//! iCloud file falls through to Tier 4 and reads the owner's bytes across
//! the real transfer endpoint.

use crate::common::{Fixture, ProxyOpts, content, file_doc, read_all};
use mosaicfs_common::documents::FileDoc;
use mosaicfs_vfs::tier::Tier;
use serde_json::json;
use std::path::Path;

/// Copies `from` to `to` with its mtime, as a network mount shows it.
fn mirror(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(from, to).unwrap();
    let t = std::fs::metadata(from).unwrap().modified().unwrap();
    std::fs::File::options()
        .write(true)
        .open(to)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stale_or_evicted_copies_on_mounts_fall_through_to_the_owner() {
    let f = Fixture::new(ProxyOpts::default()).await;
    let (nfs, icloud) = (f.tmp.path().join("nfs"), f.tmp.path().join("icloud"));
    std::fs::create_dir_all(&nfs).unwrap();
    std::fs::create_dir_all(&icloud).unwrap();
    let mut reader: serde_json::Value =
        f.db.get(&format!("node::{}", f.reader))
            .await
            .unwrap()
            .unwrap();
    let watch = f.watch.to_string_lossy().to_string();
    reader["network_mounts"] = json!([
        {"mount_id": "m-nfs", "remote_node_id": f.owner, "remote_base_export_path": watch,
         "local_mount_path": nfs.to_string_lossy(), "mount_type": "nfs", "priority": 1},
        {"mount_id": "m-icloud", "remote_node_id": f.owner, "remote_base_export_path": watch,
         "local_mount_path": icloud.to_string_lossy(), "mount_type": "icloud_local",
         "priority": 5},
    ]);
    f.db.put(&reader).await.unwrap();

    let v1 = content(200_000, 1);
    let doc = f.add_file("doc.bin", &v1).await;
    let video = f.add_file("video.mov", &content(300_000, 2)).await;
    mirror(&f.watch.join("doc.bin"), &nfs.join("doc.bin"));
    mirror(&f.watch.join("video.mov"), &icloud.join("video.mov"));
    let vfs = f.vfs(f.config(), f.cache_config()).await;

    // Current copies: served by the mounts, no transfer.
    let h = vfs.open(&doc).await.unwrap();
    assert!(matches!(h.tier(), Tier::Mount { tier: 2, .. }), "{h:?}");
    let h = vfs.open(&video).await.unwrap();
    assert!(matches!(h.tier(), Tier::Mount { tier: 3, .. }), "{h:?}");
    assert_eq!(read_all(&vfs, &doc, 64 << 10).await, v1);
    assert_eq!(f.proxy.count(), 0, "no transfer for mounted files");

    // The owner's file changes (same size, new content and mtime) and the
    // crawler records it; the NFS copy lags behind.
    let v2 = content(200_000, 3);
    std::fs::write(f.watch.join("doc.bin"), &v2).unwrap();
    let t = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
    std::fs::File::options()
        .write(true)
        .open(f.watch.join("doc.bin"))
        .unwrap()
        .set_modified(t)
        .unwrap();
    let mut new_doc = file_doc(&doc.id, &f.owner, &f.watch.join("doc.bin"));
    let stored: serde_json::Value = f.db.get(&doc.id).await.unwrap().unwrap();
    new_doc["_rev"] = stored["_rev"].clone();
    f.db.put(&new_doc).await.unwrap();
    let doc2: FileDoc = serde_json::from_value(new_doc).unwrap();
    let h = vfs.open(&doc2).await.unwrap();
    assert_eq!(h.tier(), &Tier::Remote, "the stale copy is not served");
    drop(h);
    assert_eq!(read_all(&vfs, &doc2, 64 << 10).await, v2);
    assert!(f.proxy.count() >= 1);

    // The iCloud copy is evicted: a dataless file of the same size and
    // mtime. Falls through to Tier 4 (the NFS mount has no copy).
    let before = f.proxy.count();
    let md = std::fs::metadata(icloud.join("video.mov")).unwrap();
    std::fs::remove_file(icloud.join("video.mov")).unwrap();
    let placeholder = std::fs::File::create(icloud.join("video.mov")).unwrap();
    placeholder.set_len(md.len()).unwrap();
    placeholder.set_modified(md.modified().unwrap()).unwrap();
    drop(placeholder);
    let h = vfs.open(&video).await.unwrap();
    assert_eq!(h.tier(), &Tier::Remote, "an evicted iCloud file");
    drop(h);
    assert_eq!(read_all(&vfs, &video, 64 << 10).await, content(300_000, 2));
    assert!(f.proxy.count() > before);
}
