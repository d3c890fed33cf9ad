//! Tier 1 through the read path: this node's own files are read in place,
//! inside the watch paths only; stale documents are ENOENT.

use crate::common::*;
use mosaicfs_vfs::Errno;
use mosaicfs_vfs::tier::Tier;

#[tokio::test]
async fn local_files_are_read_in_place_and_confined_to_watch_paths() {
    let f = Fixture::new(ProxyOpts::default()).await;
    let data = content(300_000, 21);
    let doc = f.add_file("mine.bin", &data).await;
    // The reader is the owner now.
    let mut cfg = f.config();
    cfg.node_id = f.owner.clone();
    cfg.watch_paths = vec![f.watch.clone()];
    let vfs = f.vfs(cfg.clone(), f.cache_config()).await;
    let h = vfs.open(&doc).await.unwrap();
    assert!(matches!(h.tier(), Tier::Local(_)));
    assert!(vfs.read_handle(&h, 1000, 5000).await.unwrap().as_ref() == &data[1000..6000]);
    assert!(read_all(&vfs, &doc, 64 << 10).await == data);
    assert_eq!(f.proxy.count(), 0, "no transfer for a local file");

    // Outside the watch paths: EACCES.
    cfg.watch_paths = vec![f.tmp.path().join("elsewhere")];
    std::fs::create_dir_all(&cfg.watch_paths[0]).unwrap();
    let vfs = f.vfs(cfg.clone(), f.cache_config()).await;
    assert_eq!(vfs.open(&doc).await.unwrap_err().errno(), Errno::Acces);
    // Gone from disk: ENOENT.
    cfg.watch_paths = vec![f.watch.clone()];
    let vfs = f.vfs(cfg, f.cache_config()).await;
    std::fs::remove_file(f.watch.join("mine.bin")).unwrap();
    assert_eq!(vfs.open(&doc).await.unwrap_err().errno(), Errno::NoEnt);
}
