//! `mosaicfs-bench-util`: helpers for scripts/bench.sh.
//!
//! * `tree --dir D --files N [--max-bytes B]`: writes N small files with
//!   generated names into a nested tree under D (deterministic for a seed).
//! * `vdir --url U --database DB --path /bench --node N --export DIR`: writes
//!   the root directory document (if missing) and a virtual directory that
//!   mounts DIR of node N with `prefix_replace`, straight into CouchDB.
//! * `search --names N --out FILE`: indexes N generated names with
//!   mosaicfs-index (as its `search_latency` example does) and its name
//!   table (as the server runs it), writes the same names one per line to
//!   FILE (for the `grep -F` anchor) and prints p50/p95 per query shape,
//!   then one line `search p95_max=… ms`.
//!
//! Measures and prints; never asserts a time.

use clap::{Parser, Subcommand};
use mosaicfs_common::couch::{CouchClient, CouchConfig};
use mosaicfs_index::store::{self, ChangeIn, NameMatch, Query};
use serde_json::{Value, json};
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a tree of small files.
    Tree {
        /// Root of the tree (created).
        #[arg(long)]
        dir: PathBuf,
        /// Number of files.
        #[arg(long)]
        files: u64,
        /// Largest file size in bytes (sizes are uniform in 0..=max).
        #[arg(long, default_value_t = 8192)]
        max_bytes: usize,
        /// Random seed.
        #[arg(long, default_value_t = 7)]
        seed: u64,
    },
    /// Write a virtual directory document.
    Vdir {
        /// CouchDB URL.
        #[arg(long)]
        url: String,
        /// Database.
        #[arg(long)]
        database: String,
        /// User.
        #[arg(long)]
        username: Option<String>,
        /// Password.
        #[arg(long)]
        password: Option<String>,
        /// Virtual path (one level under `/`).
        #[arg(long)]
        path: String,
        /// Node id of the source.
        #[arg(long)]
        node: String,
        /// Export path on that node.
        #[arg(long)]
        export: String,
    },
    /// Filename search latency with mosaicfs-index.
    Search {
        /// Number of names.
        #[arg(long)]
        names: usize,
        /// Flat file of the same names, one per line.
        #[arg(long)]
        out: PathBuf,
        /// Queries per shape.
        #[arg(long, default_value_t = 40)]
        rounds: usize,
        /// Also create an empty file for every name in a tree under this
        /// directory (for a `plocate` database over the same names).
        #[arg(long)]
        tree: Option<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    match Args::parse().command {
        Command::Tree {
            dir,
            files,
            max_bytes,
            seed,
        } => tree(&dir, files, max_bytes, seed),
        Command::Vdir {
            url,
            database,
            username,
            password,
            path,
            node,
            export,
        } => tokio::runtime::Runtime::new()?.block_on(vdir(
            CouchConfig {
                url,
                database,
                username,
                password,
            },
            &path,
            &node,
            &export,
        )),
        Command::Search {
            names,
            out,
            rounds,
            tree,
        } => search(names, &out, rounds, tree.as_deref()),
    }
}

fn tree(dir: &std::path::Path, files: u64, max_bytes: usize, seed: u64) -> anyhow::Result<()> {
    let mut g = mosaicfs_bench::Generator::new(seed, 1);
    let buf: Vec<u8> = (0..max_bytes.max(1))
        .map(|i| (i * 31 % 251) as u8)
        .collect();
    let t = Instant::now();
    let mut bytes = 0u64;
    for i in 0..files {
        let d = g.next_doc();
        let src = &d["source"];
        let parent = src["export_parent"].as_str().unwrap_or_default();
        // `/data/node-bench-0/Documents/...` → `DIR/Documents/...`
        let rel = parent.splitn(4, '/').nth(3).unwrap_or_default();
        let p = dir.join(rel);
        std::fs::create_dir_all(&p)?;
        let len = (i as usize * 7919) % (max_bytes + 1);
        std::fs::write(p.join(d["name"].as_str().unwrap_or("f")), &buf[..len])?;
        bytes += len as u64;
    }
    println!(
        "wrote {files} files ({:.1} MiB) under {} in {:.1} s",
        bytes as f64 / 1048576.0,
        dir.display(),
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn vdir(cfg: CouchConfig, path: &str, node: &str, export: &str) -> anyhow::Result<()> {
    let db = CouchClient::new(&cfg)?;
    db.ensure_db().await?;
    let root = json!({
        "_id": mosaicfs_common::ids::ROOT_DIR_ID, "type": "virtual_directory", "inode": 1,
        "virtual_path": "/", "name": "", "system": true, "created_at": "2026-01-01T00:00:00Z",
        "enforce_steps_on_children": false, "mounts": [],
    });
    let name = path.trim_start_matches('/');
    let dir = json!({
        "_id": mosaicfs_common::ids::dir_id(path), "type": "virtual_directory",
        "inode": mosaicfs_common::ids::new_inode(), "virtual_path": path, "name": name,
        "parent_path": "/", "system": false, "created_at": "2026-01-01T00:00:00Z",
        "enforce_steps_on_children": false,
        "mounts": [{"mount_id": "m-bench", "source": {"node_id": node, "export_path": export},
                    "strategy": "prefix_replace", "steps": [], "default_result": "include"}],
    });
    let r = db.bulk_docs(&[root, dir]).await?;
    println!(
        "virtual directory {path} → {node}:{export} ({} of 2 written; existing ones kept)",
        r.iter().filter(|x| x.is_ok()).count()
    );
    Ok(())
}

fn search(
    n: usize,
    out: &std::path::Path,
    rounds: usize,
    tree: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("mosaicfs-bench-search-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = search_in(&dir, n, out, rounds, tree);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn search_in(
    dir: &std::path::Path,
    n: usize,
    out: &std::path::Path,
    rounds: usize,
    tree: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let mut conn = store::open(&dir.join("bench.db"), "bench")?;
    // As the control plane does (IndexOptions::name_table): the name table,
    // refreshed after every applied page.
    let mut names = mosaicfs_index::names::NameTable::build(&conn)?;
    let mut g = mosaicfs_bench::Generator::new(3, 5);
    let mut flat = std::io::BufWriter::new(std::fs::File::create(out)?);
    let t = Instant::now();
    let mut left = n;
    let mut page = 0u64;
    while left > 0 {
        let k = left.min(1000);
        left -= k;
        page += 1;
        let docs: Vec<Value> = (0..k).map(|_| g.next_doc()).collect();
        for d in &docs {
            let name = d["name"].as_str().unwrap_or_default();
            writeln!(flat, "{name}")?;
            if let Some(root) = tree {
                // `/data/node-bench-1/Documents/...` → `ROOT/node-bench-1/Documents/...`
                let parent = d["source"]["export_parent"].as_str().unwrap_or_default();
                let p = root.join(parent.trim_start_matches("/data/"));
                std::fs::create_dir_all(&p)?;
                std::fs::File::create(p.join(name))?;
            }
        }
        let ids: Vec<String> = docs
            .iter()
            .map(|d| d["_id"].as_str().unwrap_or_default().to_string())
            .collect();
        let changes: Vec<ChangeIn<'_>> = docs
            .iter()
            .zip(&ids)
            .map(|(d, id)| ChangeIn {
                id,
                deleted: false,
                doc: Some(d),
            })
            .collect();
        store::apply_page(&mut conn, &changes, &json!(page))?;
        names.refresh(&conn, ids.iter().map(String::as_str))?;
    }
    flat.flush()?;
    eprintln!(
        "indexed {n} names in {:.1} s (name table {} entries, {:.1} MiB)",
        t.elapsed().as_secs_f64(),
        names.len(),
        names.heap_bytes() as f64 / 1048576.0
    );
    // Names look like `invoice-report-12345.pdf`.
    let shapes: [(&str, NameMatch); 6] = [
        ("substring common", NameMatch::Substring("invoice".into())),
        ("substring rare", NameMatch::Substring("-12345.".into())),
        ("substring absent", NameMatch::Substring("zzzz".into())),
        ("glob suffix", NameMatch::Glob("*.pdf".into())),
        ("glob prefix", NameMatch::Glob("invoice-report-1*".into())),
        ("glob class rare", NameMatch::Glob("*[x-z]zz*".into())),
    ];
    let mut worst = 0f64;
    let mut all = Vec::new();
    for (label, m) in shapes {
        let mut times = Vec::new();
        let mut hits = 0;
        for _ in 0..rounds.max(1) {
            let q = Query {
                name: Some(m.clone()),
                limit: 100,
                ..Default::default()
            };
            let t = Instant::now();
            hits = mosaicfs_index::names::query(&conn, &names, &q)?.len();
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        all.extend_from_slice(&times);
        let (p50, p95, _, max) = mosaicfs_bench::percentiles(&mut times);
        worst = worst.max(p95);
        eprintln!(
            "  {label:<18} limit 100 -> {hits:>3} hits  p50 {p50:>8.2} ms  p95 {p95:>8.2} ms  max {max:>8.2} ms"
        );
    }
    let (_, p95_all, _, _) = mosaicfs_bench::percentiles(&mut all);
    println!("search p95_max={worst:.2} p95_all={p95_all:.2}");
    Ok(())
}
