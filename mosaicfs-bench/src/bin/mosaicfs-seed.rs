//! `mosaicfs-seed`: writes N generated file documents into a CouchDB
//! database with `_bulk_docs` (by default batches of 500, 2 requests in
//! flight), and prints the ingest rate. All documents are built before the
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
    let batches: Vec<Vec<serde_json::Value>> = (0..a.files.div_ceil(bs))
        .map(|b| {
            let n = (a.files - b * bs).min(bs);
            (0..n).map(|_| generator.next_doc()).collect()
        })
        .collect();
    let start = Instant::now();
    let mut failed = 0usize;
    let mut results = futures_util::stream::iter(batches.iter().map(|b| db.bulk_docs(b)))
        .buffer_unordered(a.concurrency.max(1));
    while let Some(r) = results.next().await {
        failed += r?.iter().filter(|x| !x.is_ok()).count();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "seeded {} documents over {} nodes in {secs:.1} s ({:.0} docs/s), {failed} failed \
         (batches of {bs}, {} in flight)",
        a.files,
        a.nodes,
        a.files as f64 / secs,
        a.concurrency.max(1)
    );
    if failed > 0 {
        anyhow::bail!("{failed} documents were not written");
    }
    Ok(())
}
