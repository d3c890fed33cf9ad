//! Measures name-search latency over 500,000 indexed names (substring and
//! glob): `cargo run --release -p mosaicfs-index --example search_latency`.
//! Prints p50/p95 per query shape; nothing is asserted.

use mosaicfs_index::store::{self, ChangeIn, NameMatch, Query};
use rand::Rng;
use serde_json::json;
use std::time::Instant;

const N: usize = 500_000;

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut conn = store::open(&dir.path().join("bench.db"), "bench").expect("open");
    let words = [
        "report", "photo", "invoice", "notes", "backup", "song", "video", "draft",
    ];
    let exts = ["pdf", "jpg", "txt", "md", "mp3", "mkv", "docx", "png"];
    let mut rng = rand::rng();
    let t = Instant::now();
    for chunk in 0..N / 1000 {
        let docs: Vec<_> = (0..1000)
            .map(|j| {
                let i = chunk * 1000 + j;
                let name = format!(
                    "{} {} {:05}.{}",
                    words[rng.random_range(0..words.len())],
                    rng.random_range(1990..2030),
                    i % 100_000,
                    exts[rng.random_range(0..exts.len())]
                );
                json!({"_id": format!("file::{i:032x}"), "type": "file", "inode": 1000 + i,
                    "name": name, "source": {"node_id": format!("n{}", i % 3),
                    "export_path": format!("/d{}/{name}", i % 100), "export_parent": format!("/d{}", i % 100)},
                    "size": i, "mtime": "2025-01-01T00:00:00Z", "status": "active"})
            })
            .collect();
        let ids: Vec<String> = docs
            .iter()
            .map(|d| d["_id"].as_str().unwrap().to_string())
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
        store::apply_page(&mut conn, &changes, &json!(chunk)).expect("apply");
    }
    println!("indexed {N} names in {:.1} s", t.elapsed().as_secs_f64());
    let shapes: [(&str, NameMatch); 6] = [
        (
            "substring, common ('photo')",
            NameMatch::Substring("photo".into()),
        ),
        (
            "substring, rare ('12345.')",
            NameMatch::Substring("12345.".into()),
        ),
        (
            "substring, absent ('zzzz')",
            NameMatch::Substring("zzzz".into()),
        ),
        ("glob, suffix ('*.pdf')", NameMatch::Glob("*.pdf".into())),
        (
            "glob, prefix ('invoice 20?? 1*')",
            NameMatch::Glob("invoice 20?? 1*".into()),
        ),
        (
            "glob, class, rare ('*[x-z]zz*')",
            NameMatch::Glob("*[x-z]zz*".into()),
        ),
    ];
    for (label, m) in shapes {
        let mut times = Vec::new();
        let mut hits = 0;
        for _ in 0..40 {
            let q = Query {
                name: Some(m.clone()),
                limit: 100,
                ..Default::default()
            };
            let t = Instant::now();
            hits = store::query(&conn, &q).expect("query").len();
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        println!(
            "{label:<36} limit 100 -> {hits:>3} hits  p50 {:>7.2} ms  p95 {:>7.2} ms",
            times[times.len() / 2],
            times[times.len() * 95 / 100]
        );
    }
}
