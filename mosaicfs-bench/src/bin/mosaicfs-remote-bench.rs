//! `mosaicfs-remote-bench`: the client side of scripts/bench.sh's `remote`
//! section (issue #7 rows 7 and 8). Reads through the mount like a program
//! would and prints `key=value` lines for the script to parse.
//!
//! * `seq --path P [--chunk B]`: opens P and reads it to the end in B-byte
//!   `read`s (128 KiB, like `cat`); prints the time to first byte (open + first
//!   read returning), the total time and the throughput.
//! * `random --path P --reads N --size B [--seed S]`: N `pread`s of B bytes
//!   at uniformly random offsets (the last B bytes excluded); p50/p95/max.
//! * `view --path P [--scale F]`: the "realistic viewing pattern" of a video
//!   player (see [`view`]); prints the time to first frame and the seek
//!   latencies.
//! * `intervals --index-db DB --file-id F`: the block-map interval count and
//!   present bytes of F's cache entry, read from the VFS cache's `index.db`
//!   (read-only; decoded with the VFS's own `BlockMap`).
//!
//! Measures and prints; never asserts a time.

use anyhow::Context;
use clap::{Parser, Subcommand};
use rand::{Rng, SeedableRng};
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Sequential read of a whole file.
    Seq {
        /// The file.
        #[arg(long)]
        path: PathBuf,
        /// Bytes per read.
        #[arg(long, default_value_t = 128 << 10)]
        chunk: usize,
    },
    /// Random reads.
    Random {
        /// The file.
        #[arg(long)]
        path: PathBuf,
        /// Number of reads.
        #[arg(long, default_value_t = 200)]
        reads: usize,
        /// Bytes per read.
        #[arg(long, default_value_t = 1 << 20)]
        size: usize,
        /// Random seed.
        #[arg(long, default_value_t = 8)]
        seed: u64,
    },
    /// A video player's access pattern.
    View {
        /// The file.
        #[arg(long)]
        path: PathBuf,
        /// Multiplies every play length (1.0 for a 4 GiB file).
        #[arg(long, default_value_t = 1.0)]
        scale: f64,
    },
    /// Interval count of a cache entry.
    Intervals {
        /// The VFS cache's index.db.
        #[arg(long)]
        index_db: PathBuf,
        /// The file id (`file::…`).
        #[arg(long)]
        file_id: String,
    },
}

fn main() -> anyhow::Result<()> {
    match Args::parse().command {
        Command::Seq { path, chunk } => seq(&path, chunk),
        Command::Random {
            path,
            reads,
            size,
            seed,
        } => random(&path, reads, size, seed),
        Command::View { path, scale } => view(&path, scale),
        Command::Intervals { index_db, file_id } => intervals(&index_db, &file_id),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The `q` quantile (nearest rank) of `v`, sorted in place.
fn quantile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let i = ((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1;
    v[i]
}

fn seq(path: &Path, chunk: usize) -> anyhow::Result<()> {
    let mut buf = vec![0u8; chunk.max(1)];
    let t = Instant::now();
    let mut f = std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
    let mut total = 0u64;
    let mut ttfb = None;
    loop {
        let n = f.read(&mut buf).context("read")?;
        if ttfb.is_none() {
            ttfb = Some(t.elapsed());
        }
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "seq bytes={total} ttfb_ms={:.2} secs={secs:.3} mb_s={:.0}",
        ms(ttfb.unwrap_or_default()),
        total as f64 / secs / 1e6
    );
    Ok(())
}

fn random(path: &Path, reads: usize, size: usize, seed: u64) -> anyhow::Result<()> {
    let f = std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
    let len = f.metadata()?.len();
    anyhow::ensure!(
        len > size as u64,
        "{} is smaller than one read",
        path.display()
    );
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut buf = vec![0u8; size];
    let mut lat = Vec::with_capacity(reads);
    for _ in 0..reads {
        let off = rng.random_range(0..len - size as u64);
        let t = Instant::now();
        f.read_exact_at(&mut buf, off)
            .with_context(|| format!("read {size} bytes at {off}"))?;
        lat.push(ms(t.elapsed()));
    }
    let mean = lat.iter().sum::<f64>() / lat.len().max(1) as f64;
    let p50 = quantile(&mut lat, 0.5);
    let p95 = quantile(&mut lat, 0.95);
    let max = quantile(&mut lat, 1.0);
    println!(
        "random reads={reads} size={size} p50_ms={p50:.2} p95_ms={p95:.2} max_ms={max:.2} mean_ms={mean:.2}"
    );
    Ok(())
}

/// A video player on a 4 GiB file (a two-hour film at ~4.5 Mbit/s is about
/// that size), modelled on what players do:
///
/// 1. probe: read the first 1 MiB (container header), then the last 1 MiB
///    (MP4 `moov` / Matroska cues often sit at the end);
/// 2. play from the start: sequential 128 KiB reads for 256 MiB;
/// 3. four forward seeks (skipping ahead), each followed by 64 MiB of play;
/// 4. one seek back into already-watched data (replay), 32 MiB of play;
/// 5. one seek back into unwatched data, 64 MiB of play.
///
/// Positions are fractions of the file, play lengths are multiplied by
/// `scale`. The time to first frame is open + the probe + the first 2 MiB of
/// play; a seek's latency is the time of its first 1 MiB.
fn view(path: &Path, scale: f64) -> anyhow::Result<()> {
    const MIB: u64 = 1 << 20;
    const READ: usize = 128 << 10;
    let t0 = Instant::now();
    let f = std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
    let len = f.metadata()?.len();
    let mut buf = vec![0u8; READ];
    // Reads [off, off + bytes) sequentially; returns the time of its first MiB.
    let play = |off: u64, bytes: u64, buf: &mut [u8]| -> anyhow::Result<Duration> {
        let t = Instant::now();
        let mut first = None;
        let end = (off + bytes).min(len);
        let mut pos = off;
        while pos < end {
            let n = (end - pos).min(READ as u64) as usize;
            f.read_exact_at(&mut buf[..n], pos)
                .with_context(|| format!("read at {pos}"))?;
            pos += n as u64;
            if first.is_none() && pos - off >= MIB.min(end - off) {
                first = Some(t.elapsed());
            }
        }
        Ok(first.unwrap_or_else(|| t.elapsed()))
    };
    let at = |frac: f64| ((len as f64 * frac) as u64).min(len.saturating_sub(MIB));
    let sc = |mib: u64| ((mib as f64 * scale) as u64).max(1) * MIB;
    play(0, MIB, &mut buf)?;
    play(len.saturating_sub(MIB), MIB, &mut buf)?;
    play(0, 2 * MIB, &mut buf)?;
    let ttff = t0.elapsed();
    play(2 * MIB, sc(256).saturating_sub(2 * MIB), &mut buf)?;
    let mut seeks = Vec::new();
    let mut played = sc(256) + 2 * MIB;
    for (frac, mib) in [
        (0.20, 64),
        (0.35, 64),
        (0.50, 64),
        (0.70, 64),
        (0.02, 32),
        (0.85, 64),
    ] {
        seeks.push(ms(play(at(frac), sc(mib), &mut buf)?));
        played += sc(mib);
    }
    let n = seeks.len();
    let max = quantile(&mut seeks, 1.0);
    let p50 = quantile(&mut seeks, 0.5);
    println!(
        "view ttff_ms={:.2} seeks={n} seek_p50_ms={p50:.2} seek_max_ms={max:.2} played_mib={} secs={:.2}",
        ms(ttff),
        played / MIB,
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

fn intervals(db: &Path, file_id: &str) -> anyhow::Result<()> {
    let conn = rusqlite::Connection::open_with_flags(
        db,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("open {}", db.display()))?;
    let row: Option<(String, Option<Vec<u8>>, i64)> = conn
        .query_row(
            "SELECT mode, block_map, cached_bytes FROM entries WHERE file_id = ?1",
            [file_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })?;
    match row {
        None => println!("intervals mode=none count=0 present_bytes=0"),
        Some((mode, blob, cached)) => {
            let count = match (mode.as_str(), blob) {
                ("block", Some(b)) => mosaicfs_vfs::block_map::BlockMap::from_bytes(&b)
                    .map_err(|e| anyhow::anyhow!("block map of {file_id}: {e}"))?
                    .interval_count(),
                _ => 1,
            };
            println!("intervals mode={mode} count={count} present_bytes={cached}");
        }
    }
    Ok(())
}
