//! `mosaicfs-seed`: writes N generated file documents into a CouchDB
//! database with `_bulk_docs` (by default batches of 500, 2 requests in
//! flight), and prints the ingest rate. `--flat-dir` adds documents in one
//! directory (large-directory benchmarks). All documents are built before the
//! clock starts, so the rate is the server's raw `_bulk_docs` ingest rate.

use clap::Parser;
use futures_util::StreamExt;
use mosaicfs_common::couch::{CouchClient, CouchConfig};
use std::time::Instant;

/// Seeds file documents for benchmarks.
#[derive(Parser)]
struct Args {
    /// CouchDB URL.
    #[arg(long)]
    url: String,
    /// Database (created if missing).
    #[arg(long, default_value = "mosaicfs")]
    database: String,
    /// User.
    #[arg(long)]
    username: Option<String>,
    /// Password.
    #[arg(long)]
    password: Option<String>,
    /// Number of documents.
    #[arg(long, default_value_t = 500_000)]
    files: u64,
    /// Number of nodes the files are spread over.
    #[arg(long, default_value_t = 5)]
    nodes: usize,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Documents per `_bulk_docs` request.
    #[arg(long, default_value_t = 500)]
    batch_size: u64,
    /// `_bulk_docs` requests in flight.
    #[arg(long, default_value_t = 2)]
    concurrency: usize,
    /// Also write `--flat-files` documents of the first node, all in this one
    /// directory (an absolute export path), after the `--files` tree.
    #[arg(long, requires = "flat_files")]
    flat_dir: Option<String>,
    /// Number of documents in `--flat-dir`.
    #[arg(long, default_value_t = 0)]
    flat_files: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let db = CouchClient::new(&CouchConfig {
        url: a.url,
        database: a.database,
        username: a.username,
        password: a.password,
    })?;
    db.ensure_db().await?;
    let mut generator = mosaicfs_bench::Generator::new(a.seed, a.nodes);
    let bs = a.batch_size.max(1);
    let flat = match &a.flat_dir {
        Some(dir) if !dir.starts_with('/') => {
            anyhow::bail!("--flat-dir must be an absolute path, not {dir:?}")
        }
        Some(_) => a.flat_files,
        None => 0,
    };
    let node = generator.nodes()[0].clone();
    let mut docs: Vec<serde_json::Value> = (0..a.files).map(|_| generator.next_doc()).collect();
    if let Some(dir) = &a.flat_dir {
        docs.extend((0..flat).map(|_| generator.next_doc_in(&node, dir.trim_end_matches('/'))));
    }
    let batches: Vec<&[serde_json::Value]> = docs.chunks(bs as usize).collect();
    let start = Instant::now();
    let mut failed = 0usize;
    let mut results = futures_util::stream::iter(batches.iter().map(|b| db.bulk_docs(b)))
        .buffer_unordered(a.concurrency.max(1));
    while let Some(r) = results.next().await {
        failed += r?.iter().filter(|x| !x.is_ok()).count();
    }
    let secs = start.elapsed().as_secs_f64();
    let total = a.files + flat;
    println!(
        "seeded {total} documents over {} nodes in {secs:.1} s ({:.0} docs/s), {failed} failed \
         (batches of {bs}, {} in flight{})",
        a.nodes,
        total as f64 / secs,
        a.concurrency.max(1),
        match &a.flat_dir {
            Some(d) => format!("; {flat} of them in {node}:{d}"),
            None => String::new(),
        }
    );
    if failed > 0 {
        anyhow::bail!("{failed} documents were not written");
    }
    Ok(())
}
