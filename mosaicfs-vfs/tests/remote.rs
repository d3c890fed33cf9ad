//! Tier 4 through the cache: byte equality in full and block mode, only the
//! requested ranges fetched, coalescing, shared fetches, eviction, restart,
//! and a peer that dies mid-transfer.

use crate::common::*;
use mosaicfs_common::documents::FileDoc;
use mosaicfs_vfs::cache::{Cache, Mode};
use mosaicfs_vfs::{Errno, Vfs};
use rand::{Rng, SeedableRng};
use std::time::{Duration, Instant};

#[tokio::test]
async fn full_mode_bytes_equal_the_source_for_sizes_from_zero_to_megabytes() {
    let f = Fixture::new(ProxyOpts::default()).await;
    let vfs = f.vfs(f.config(), f.cache_config()).await;
    for (i, size) in [
        0usize, 1, 4095, 4096, 65_537, 1_000_000, 3_000_000, 7_340_033,
    ]
    .into_iter()
    .enumerate()
    {
        let data = content(size, i as u64);
        let doc = f.add_file(&format!("f{i}.bin"), &data).await;
        let before = f.proxy.count();
        let got = read_all(&vfs, &doc, 1 << 20).await;
        assert!(got == data, "size {size}: bytes differ");
        // A second pass is served from the cache.
        let again = read_all(&vfs, &doc, 128 << 10).await;
        assert!(again == data, "size {size}: cached bytes differ");
        let expected_requests = usize::from(size > 0);
        assert_eq!(f.proxy.count() - before, expected_requests, "size {size}");
    }
    let entries = vfs.cache().entries().await.unwrap();
    assert_eq!(entries.len(), 7, "every non-empty file cached once");
    assert!(entries.iter().all(|e| e.mode == Mode::Full));
    let (_, tmp) = f.cache_files();
    assert!(tmp.is_empty(), "staging is empty after renames: {tmp:?}");
}

#[tokio::test]
async fn block_mode_random_reads_equal_the_source_and_fetch_only_what_is_read() {
    let f = Fixture::new(ProxyOpts::default()).await;
    let mut cfg = f.config();
    cfg.full_file_threshold = 1 << 20;
    cfg.block_size = 64 << 10;
    let vfs = f.vfs(cfg, f.cache_config()).await;
    let data = content(5_000_003, 7);
    let doc = f.add_file("movie.mkv", &data).await;
    let path = format!("/api/agent/transfer/{}", doc.id);

    // One small read: exactly its aligned block is requested.
    let h = vfs.open(&doc).await.unwrap();
    let b = vfs.read_handle(&h, 100_000, 10_000).await.unwrap();
    assert_eq!(b.as_ref(), &data[100_000..110_000]);
    assert_eq!(
        f.proxy.seen(),
        vec![Seen {
            path: path.clone(),
            range: Some("bytes=65536-131071".into())
        }]
    );
    // Present data is not fetched again.
    vfs.read_handle(&h, 70_000, 50_000).await.unwrap();
    assert_eq!(f.proxy.count(), 1);
    // Two missing pieces around a present block: two requests, and the
    // present block is not fetched again.
    let b = vfs.read_handle(&h, 0, 200_000).await.unwrap();
    assert_eq!(b.as_ref(), &data[..200_000]);
    let ranges: Vec<_> = f.proxy.seen()[1..]
        .iter()
        .map(|s| s.range.clone().unwrap())
        .collect();
    assert_eq!(ranges, ["bytes=0-65535", "bytes=131072-262143"]);

    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let mut requested = 0u64;
    for _ in 0..150 {
        let off = rng.random_range(0..data.len() as u64 + 1000);
        let len = rng.random_range(1..300_000usize);
        let b = vfs.read_handle(&h, off, len).await.unwrap();
        let end = (off as usize).saturating_add(len).min(data.len());
        let want = if (off as usize) < data.len() {
            &data[off as usize..end]
        } else {
            &[][..]
        };
        assert!(b.as_ref() == want, "read {off}+{len}");
        requested += 1;
    }
    // Every request was a range inside the file, aligned to 64 KiB.
    for s in f.proxy.seen() {
        let r = s.range.expect("block mode only sends range requests");
        let (a, b) = r.trim_start_matches("bytes=").split_once('-').unwrap();
        let (a, b): (u64, u64) = (a.parse().unwrap(), b.parse().unwrap());
        assert_eq!(a % (64 << 10), 0, "{r}");
        assert!(
            b + 1 == data.len() as u64 || (b + 1) % (64 << 10) == 0,
            "{r}"
        );
    }
    let e = vfs
        .cache()
        .entries()
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.meta.file_id == doc.id)
        .unwrap();
    assert_eq!(e.mode, Mode::Block);
    assert!(e.cached_bytes < data.len() as u64 || e.block_map.interval_count() == 1);
    // The whole file read sequentially through the block cache matches too.
    drop(h);
    assert!(read_all(&vfs, &doc, 1 << 20).await == data);
    println!(
        "block mode: {} range requests for {requested} random reads",
        f.proxy.count()
    );
}

#[tokio::test]
async fn adjacent_missing_blocks_are_one_request_and_present_ones_are_never_refetched() {
    let f = Fixture::new(ProxyOpts::default()).await;
    let mut cfg = f.config();
    cfg.full_file_threshold = 1 << 20;
    cfg.block_size = 64 << 10;
    let vfs = f.vfs(cfg, f.cache_config()).await;
    let data = content(2_000_000, 9);
    let doc = f.add_file("seek.bin", &data).await;
    vfs.read(&doc, 0, 10_000).await.unwrap();
    vfs.read(&doc, 200_000, 10_000).await.unwrap();
    assert_eq!(f.proxy.count(), 2);
    // Missing: 65536..196608 (two touching blocks: one request) and
    // 262144..327680; the present block between them is not re-fetched.
    let b = vfs.read(&doc, 0, 300_000).await.unwrap();
    assert!(b.as_ref() == &data[..300_000]);
    let seen = f.proxy.seen();
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert_eq!(seen[2].range.as_deref(), Some("bytes=65536-196607"));
    assert_eq!(seen[3].range.as_deref(), Some("bytes=262144-327679"));
    // Everything read so far is present: no request at all.
    vfs.read(&doc, 0, 327_680).await.unwrap();
    assert_eq!(f.proxy.count(), 4);
}

#[tokio::test]
async fn a_sequential_reader_gets_few_large_read_ahead_requests_and_no_byte_twice() {
    let (f, vfs, data, doc) = streaming_fixture("stream.bin", 12).await;
    let got = read_all(&vfs, &doc, 32 << 10).await;
    assert!(got == data, "bytes differ");
    // 183 reads of 32 KiB; read-ahead makes the requests much fewer, and
    // together they cover the file exactly once.
    let ranges = requested(&f);
    assert!(ranges.len() <= 16, "{} requests: {ranges:?}", ranges.len());
    assert_requested_once(&f, data.len() as u64);
    // Each request's last bytes reach index.db before its readers wake.
    let e = vfs.cache().entries().await.unwrap().remove(0);
    assert_eq!((e.mode, e.block_map.interval_count()), (Mode::Block, 1));
    assert_eq!(
        e.cached_bytes,
        data.len() as u64,
        "index.db has every range"
    );
}

/// A 6 MB remote file in block mode (64 KiB blocks, read-ahead up to
/// 1 MiB): the fixture, the VFS, the content and the document.
async fn streaming_fixture(name: &str, seed: u64) -> (Fixture, Vfs, Vec<u8>, FileDoc) {
    let f = Fixture::new(ProxyOpts::default()).await;
    let mut cfg = f.config();
    cfg.full_file_threshold = 1 << 20;
    cfg.block_size = 64 << 10;
    cfg.max_readahead = 1 << 20;
    let vfs = f.vfs(cfg, f.cache_config()).await;
    let data = content(6_000_000, seed);
    let doc = f.add_file(name, &data).await;
    (f, vfs, data, doc)
}

/// The range requests cover `0..len` exactly once (no gap, no overlap).
fn assert_requested_once(f: &Fixture, len: u64) {
    let ranges = requested(f);
    let mut next = 0;
    for (a, b) in &ranges {
        assert_eq!(*a, next, "gap or overlap at {a}: {ranges:?}");
        next = *b;
    }
    assert_eq!(next, len);
}

/// The `(start, end)` of every range request the proxy saw, sorted.
fn requested(f: &Fixture) -> Vec<(u64, u64)> {
    let mut v: Vec<(u64, u64)> = f
        .proxy
        .seen()
        .iter()
        .map(|s| {
            let r = s.range.clone().expect("block mode sends range requests");
            let (a, b) = r.trim_start_matches("bytes=").split_once('-').unwrap();
            (a.parse().unwrap(), b.parse::<u64>().unwrap() + 1)
        })
        .collect();
    v.sort();
    v
}

/// A sequential reader of bytes already cached still starts the next
/// read-ahead window once it is within half a window of the end of what is
/// present or requested: the window is on its way before the reader runs
/// out, instead of being requested when it has (and waits a round trip at
/// the end of every window).
#[tokio::test]
async fn read_ahead_starts_while_the_reader_consumes_present_bytes() {
    let (f, vfs, data, doc) = streaming_fixture("ahead.bin", 13).await;
    let h = vfs.open(&doc).await.unwrap();
    let chunk = 32u64 << 10;
    let mut pos = 0u64;
    let mut got = Vec::new();
    let read = |at: u64| {
        let (vfs, h) = (&vfs, &h);
        async move { vfs.read_handle(h, at, chunk as usize).await.unwrap() }
    };
    // A stream long enough for read-ahead.
    while pos < 1 << 20 {
        got.extend_from_slice(&read(pos).await);
        pos += chunk;
    }
    // Every request in flight completes: all requested bytes are present.
    let deadline = Instant::now() + Duration::from_secs(10);
    let end = loop {
        let end = requested(&f).last().unwrap().1;
        let cached = vfs.cache().entries().await.unwrap()[0].cached_bytes;
        if cached == end {
            break end;
        }
        assert!(Instant::now() < deadline, "{cached} of {end} bytes arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        end < data.len() as u64,
        "read-ahead reached the end already"
    );
    // Read present bytes up to one chunk before the end of them.
    while pos + 2 * chunk <= end {
        got.extend_from_slice(&read(pos).await);
        pos += chunk;
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while !requested(&f).iter().any(|r| r.0 == end) {
        assert!(
            Instant::now() < deadline,
            "no request from {end} while the reader is at {pos}: {:?}",
            requested(&f)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    while pos < data.len() as u64 {
        got.extend_from_slice(&read(pos).await);
        pos += chunk;
    }
    assert!(got == data, "bytes differ");
    assert_requested_once(&f, data.len() as u64);
}

#[tokio::test]
async fn concurrent_readers_share_one_fetch() {
    let f = Fixture::new(ProxyOpts {
        delay: Duration::from_millis(300),
        ..Default::default()
    })
    .await;
    let mut cfg = f.config();
    cfg.full_file_threshold = 3 << 20;
    cfg.block_size = 256 << 10;
    let vfs = f.vfs(cfg, f.cache_config()).await;
    let small = content(2_000_000, 1);
    let small_doc = f.add_file("shared.bin", &small).await;
    let big = content(4_000_000, 2);
    let big_doc = f.add_file("shared-big.bin", &big).await;

    let reads = (0..10).map(|i| vfs.read(&small_doc, i * 1000, 5000));
    for (i, r) in futures_util::future::join_all(reads)
        .await
        .into_iter()
        .enumerate()
    {
        let off = i * 1000;
        assert!(r.unwrap().as_ref() == &small[off..off + 5000]);
    }
    assert_eq!(f.proxy.count(), 1, "ten readers, one full fetch");

    let reads = (0..10).map(|_| vfs.read(&big_doc, 1_000_000, 100_000));
    for r in futures_util::future::join_all(reads).await {
        assert!(r.unwrap().as_ref() == &big[1_000_000..1_100_000]);
    }
    assert_eq!(f.proxy.count(), 2, "ten readers, one range fetch");
}

#[tokio::test]
async fn eviction_under_a_small_cap_never_evicts_an_open_file() {
    let f = Fixture::new(ProxyOpts::default()).await;
    let mut cc = f.cache_config();
    cc.max_bytes = 3_500_000;
    let vfs = f.vfs(f.config(), cc).await;
    let mut docs = Vec::new();
    for i in 0..6 {
        let data = content(1_000_000, 100 + i);
        docs.push((f.add_file(&format!("e{i}.bin"), &data).await, data));
    }
    // The first file stays open throughout.
    let open = vfs.open(&docs[0].0).await.unwrap();
    assert!(vfs.read_handle(&open, 0, 1_000_000).await.unwrap().as_ref() == docs[0].1.as_slice());
    let key = open.cache_key().unwrap().to_string();
    for (doc, data) in &docs[1..] {
        assert!(read_all(&vfs, doc, 1 << 20).await == *data);
        let total = vfs.cache().total_bytes().await.unwrap();
        assert!(total <= 3_500_000, "total {total}");
        let keys: Vec<String> = vfs
            .cache()
            .entries()
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.meta.key)
            .collect();
        assert!(keys.contains(&key), "the open file was evicted");
    }
    let before = f.proxy.count();
    assert!(vfs.read_handle(&open, 0, 1_000_000).await.unwrap().as_ref() == docs[0].1.as_slice());
    assert_eq!(
        f.proxy.count(),
        before,
        "the open file is still served from the cache"
    );

    // With the cache full of open files, a new file cannot be cached: it
    // streams.
    let mut small_cap = f.cache_config();
    small_cap.max_bytes = 1_500_000;
    drop(vfs);
    let vfs = f.vfs(f.config(), small_cap).await;
    let pinned = vfs.open(&docs[5].0).await.unwrap();
    vfs.read_handle(&pinned, 0, 10).await.unwrap();
    let b = vfs.read(&docs[1].0, 500, 1000).await.unwrap();
    assert!(
        b.as_ref() == &docs[1].1[500..1500],
        "streamed without caching"
    );
    let keys: Vec<String> = vfs
        .cache()
        .entries()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.meta.key)
        .collect();
    assert_eq!(keys, vec![pinned.cache_key().unwrap().to_string()]);
}

#[tokio::test]
async fn restart_cleans_staging_and_keeps_verified_entries() {
    let f = Fixture::new(ProxyOpts::default()).await;
    let data = content(500_000, 5);
    let doc = f.add_file("keep.bin", &data).await;
    {
        let vfs = f.vfs(f.config(), f.cache_config()).await;
        assert!(read_all(&vfs, &doc, 1 << 20).await == data);
    }
    // A killed process leaves a half-written download in tmp/.
    std::fs::write(f.cache_dir.join("tmp").join("123-0-deadbeef"), b"partial").unwrap();
    let vfs = f.vfs(f.config(), f.cache_config()).await;
    let (files, tmp) = f.cache_files();
    assert!(tmp.is_empty(), "{tmp:?}");
    assert_eq!(files.len(), 1);
    let before = f.proxy.count();
    assert!(read_all(&vfs, &doc, 1 << 20).await == data);
    assert_eq!(
        f.proxy.count(),
        before,
        "served from the cache after restart"
    );

    // The source changes: the new document no longer matches the entry.
    let newer = content(500_000, 6);
    tokio::time::sleep(Duration::from_millis(20)).await;
    std::fs::write(f.watch.join("keep.bin"), &newer).unwrap();
    let mut doc2 = file_doc(&doc.id, &f.owner, &f.watch.join("keep.bin"));
    doc2["_rev"] = serde_json::json!(
        f.db.get::<serde_json::Value>(&doc.id)
            .await
            .unwrap()
            .unwrap()["_rev"]
    );
    f.db.put(&doc2).await.unwrap();
    let doc2: mosaicfs_common::documents::FileDoc = serde_json::from_value(doc2).unwrap();
    assert!(
        read_all(&vfs, &doc2, 1 << 20).await == newer,
        "never the stale bytes"
    );
    let _ = Cache::open(f.cache_config()).await.unwrap();
}

#[tokio::test]
async fn a_peer_that_dies_mid_transfer_gives_eio_within_the_retry_time() {
    let f = Fixture::new(ProxyOpts {
        die_after_bytes: Some(300_000),
        ..Default::default()
    })
    .await;
    let data = content(4_000_000, 11);
    let doc = f.add_file("dies.bin", &data).await;
    let vfs = f.vfs(f.config(), f.cache_config()).await;
    let start = Instant::now();
    let err = vfs.read(&doc, 0, 1 << 20).await.unwrap_err();
    let took = start.elapsed();
    assert_eq!(err.errno(), Errno::Io, "{err}");
    // Fast policy: 4 retries of at most ~0.2 s each after a refused connect.
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert_eq!(f.proxy.count(), 1, "later attempts find the port closed");
    let (files, tmp) = f.cache_files();
    assert!(files.is_empty() && tmp.is_empty(), "{files:?} {tmp:?}");
    assert!(vfs.cache().entries().await.unwrap().is_empty());

    // An offline owner is EIO at once, without a request.
    f.put_node_status(&f.owner, "offline").await;
    let vfs = f.vfs(f.config(), f.cache_config()).await;
    let err = vfs.read(&doc, 0, 10).await.unwrap_err();
    assert_eq!(err.errno(), Errno::Io);
    println!("peer died mid-transfer: EIO after {took:?}");
}

#[tokio::test]
async fn a_peer_that_dies_mid_range_gives_eio_to_block_mode_readers() {
    let f = Fixture::new(ProxyOpts {
        die_after_bytes: Some(300_000),
        ..Default::default()
    })
    .await;
    let mut cfg = f.config();
    cfg.full_file_threshold = 1 << 20;
    let data = content(4_000_000, 13);
    let doc = f.add_file("dies-block.bin", &data).await;
    let vfs = f.vfs(cfg, f.cache_config()).await;
    let start = Instant::now();
    // Two readers of the same block: one request, both get the error.
    let (a, b) = tokio::join!(vfs.read(&doc, 0, 100_000), vfs.read(&doc, 500_000, 1000));
    let took = start.elapsed();
    for r in [a, b] {
        assert_eq!(r.unwrap_err().errno(), Errno::Io);
    }
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert_eq!(f.proxy.count(), 1, "later attempts find the port closed");
    // Nothing arrived in full batches: nothing is recorded as present.
    let present: u64 = vfs
        .cache()
        .entries()
        .await
        .unwrap()
        .iter()
        .map(|e| e.block_map.present_bytes())
        .sum();
    assert_eq!(present, 0);
}
