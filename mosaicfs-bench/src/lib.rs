//! Benchmark support: a deterministic generator of realistic file documents
//! (nested trees of named files across several nodes) and timing helpers
//! that report percentiles. Benchmarks measure; they never assert.
#![warn(missing_docs)]

use chrono::{Duration, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

/// Top-level directory names of the generated file documents (the readdir
/// benchmark lists them).
pub const DIRS: [&str; 16] = [
    "Documents",
    "Photos",
    "Music",
    "Projects",
    "Downloads",
    "Archive",
    "Taxes",
    "Work",
    "Travel",
    "Recipes",
    "Scans",
    "Videos",
    "Notes",
    "Backups",
    "Books",
    "Code",
];
const EXTS: [(&str, &str); 10] = [
    ("pdf", "application/pdf"),
    ("jpg", "image/jpeg"),
    ("png", "image/png"),
    ("txt", "text/plain"),
    ("md", "text/markdown"),
    (
        "docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    ("mp3", "audio/mpeg"),
    ("mkv", "video/x-matroska"),
    ("rs", "text/x-rust"),
    ("csv", "text/csv"),
];
const WORDS: [&str; 24] = [
    "report",
    "invoice",
    "holiday",
    "draft",
    "final",
    "scan",
    "notes",
    "budget",
    "photo",
    "song",
    "letter",
    "plan",
    "summary",
    "contract",
    "receipt",
    "slides",
    "thesis",
    "recipe",
    "map",
    "ticket",
    "statement",
    "backup",
    "export",
    "readme",
];

/// Generates file documents: `nodes` nodes, each with a tree rooted at
/// `/data/{node}` three to five levels deep. Deterministic for a seed.
pub struct Generator {
    rng: StdRng,
    nodes: Vec<String>,
    n: u64,
}

impl Generator {
    /// A generator for `nodes` nodes named `node-bench-{i}`.
    pub fn new(seed: u64, nodes: usize) -> Generator {
        Generator {
            rng: StdRng::seed_from_u64(seed),
            nodes: (0..nodes.max(1))
                .map(|i| format!("node-bench-{i}"))
                .collect(),
            n: 0,
        }
    }

    /// The node ids.
    pub fn nodes(&self) -> &[String] {
        &self.nodes
    }

    /// The next document (not yet written; no `_rev`).
    pub fn next_doc(&mut self) -> Value {
        self.n += 1;
        let node = self.nodes[(self.n as usize) % self.nodes.len()].clone();
        let depth = self.rng.random_range(1..=4);
        let mut parent = format!("/data/{node}");
        for _ in 0..depth {
            let d = DIRS[self.rng.random_range(0..DIRS.len())];
            let k = self.rng.random_range(0..8);
            parent.push_str(&format!(
                "/{d}{}",
                if k == 0 {
                    String::new()
                } else {
                    format!("-{k}")
                }
            ));
        }
        self.doc_in(&node, &parent)
    }

    /// The next document, in directory `parent` of `node` (a flat directory
    /// of many entries, e.g. for the web UI's large-directory benchmark).
    pub fn next_doc_in(&mut self, node: &str, parent: &str) -> Value {
        self.n += 1;
        self.doc_in(node, parent)
    }

    fn doc_in(&mut self, node: &str, parent: &str) -> Value {
        let (ext, mime) = EXTS[self.rng.random_range(0..EXTS.len())];
        let name = format!(
            "{}-{}-{}.{ext}",
            WORDS[self.rng.random_range(0..WORDS.len())],
            WORDS[self.rng.random_range(0..WORDS.len())],
            self.n
        );
        let mtime = Utc
            .with_ymd_and_hms(2020, 1, 1, 0, 0, 0)
            .single()
            .unwrap_or_default()
            + Duration::seconds(self.rng.random_range(0..6 * 365 * 86_400));
        let size: u64 = match ext {
            "mkv" => self.rng.random_range(100_000_000..4_000_000_000),
            "mp3" | "jpg" | "png" => self.rng.random_range(100_000..10_000_000),
            _ => self.rng.random_range(0..2_000_000),
        };
        json!({
            "_id": format!("file::{:032x}", (self.n as u128) << 64 | self.rng.random::<u64>() as u128),
            "type": "file",
            "inode": self.rng.random_range(1000..mosaicfs_common::ids::MAX_INODE),
            "name": name,
            "source": {"node_id": node, "export_path": format!("{parent}/{name}"), "export_parent": parent},
            "size": size,
            "mtime": mosaicfs_common::time::format(&mtime),
            "mime_type": mime,
            "status": "active",
        })
    }
}

/// p50, p95, p99 and max of durations in milliseconds.
pub fn percentiles(samples: &mut [f64]) -> (f64, f64, f64, f64) {
    if samples.is_empty() {
        return (0.0, 0.0, 0.0, 0.0);
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    (at(0.50), at(0.95), at(0.99), samples[samples.len() - 1])
}
