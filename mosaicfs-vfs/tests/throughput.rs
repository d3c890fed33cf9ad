//! Read throughput through the read path against a direct read of the same
//! file. Measured and printed, never asserted (run with `--nocapture`, in
//! release for meaningful figures).

use crate::common::*;
use std::time::Instant;

const SIZE: usize = 48 << 20;
const CHUNK: usize = 1 << 20;

fn mb_s(bytes: usize, secs: f64) -> f64 {
    bytes as f64 / secs / 1e6
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throughput_is_measured_against_direct_reads() {
    let f = Fixture::new(ProxyOpts::default()).await;
    let data = content(SIZE, 77);
    let doc = f.add_file("bench.bin", &data).await;
    // Straight to the transfer endpoint: the counting proxy is not measured.
    f.put_node(&f.owner, Some(&format!("http://{}", f.upstream)))
        .await;
    let path = f.watch.join("bench.bin");

    let t = Instant::now();
    let direct = std::fs::read(&path).unwrap();
    let direct_s = t.elapsed().as_secs_f64();
    assert_eq!(direct.len(), SIZE);

    // Full mode, cold (fetch + verify + rename) and warm (from the cache).
    let vfs = f.vfs(f.config(), f.cache_config()).await;
    let t = Instant::now();
    let got = read_all(&vfs, &doc, CHUNK).await;
    let full_cold = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let got2 = read_all(&vfs, &doc, CHUNK).await;
    let full_warm = t.elapsed().as_secs_f64();
    assert!(got == data && got2 == data);

    // Block mode, cold (range requests) and warm.
    let mut cfg = f.config();
    cfg.full_file_threshold = 1 << 20;
    let dir2 = f.tmp.path().join("cache-block");
    let mut cc = f.cache_config();
    cc.dir = dir2;
    let vfs = f.vfs(cfg, cc).await;
    let t = Instant::now();
    let got = read_all(&vfs, &doc, CHUNK).await;
    let block_cold = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let got2 = read_all(&vfs, &doc, CHUNK).await;
    let block_warm = t.elapsed().as_secs_f64();
    assert!(got == data && got2 == data);

    let d = mb_s(SIZE, direct_s);
    println!("throughput over {} MiB in 1 MiB reads:", SIZE >> 20);
    println!("  direct read            {d:>8.0} MB/s");
    for (what, s) in [
        ("full mode, cold", full_cold),
        ("full mode, warm", full_warm),
        ("block mode, cold", block_cold),
        ("block mode, warm", block_warm),
    ] {
        let v = mb_s(SIZE, s);
        println!("  {what:<22} {v:>8.0} MB/s  ratio to direct {:.3}", v / d);
    }
}
