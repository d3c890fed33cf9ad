//! `mosaicfs-readdir-bench`: measures `GET /api/vfs` of directories with 10
//! mount sources over HTTPS against a running server whose database holds
//! documents from `mosaicfs-seed`. Reports how long the server's index took
//! to become ready (from this program's start), then readdir p50/p95/p99 of
//! uncached listings (each directory once per round, rounds separated by
//! more than the cache TTL) and of cached ones (one directory repeatedly),
//! both as the client sees them and as the server's `Server-Timing` header
//! reports them. Measures; never asserts.

use clap::Parser;
use mosaicfs_bench::{DIRS, percentiles};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Benchmarks readdir.
#[derive(Parser)]
struct Args {
    /// Server base URL, e.g. https://127.0.0.1:8443.
    #[arg(long)]
    url: String,
    /// The server's certificate (PEM), trusted as the only root.
    #[arg(long)]
    ca_cert: std::path::PathBuf,
    /// Access key id.
    #[arg(long)]
    key: String,
    /// Secret.
    #[arg(long)]
    secret: String,
    /// Nodes the seed used.
    #[arg(long, default_value_t = 5)]
    nodes: usize,
    /// Directories to create (each measured uncached once per round).
    #[arg(long, default_value_t = 64)]
    dirs: usize,
    /// Uncached rounds (the first is reported separately as cold).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Cached requests.
    #[arg(long, default_value_t = 1000)]
    cached: usize,
    /// Longest wait for the server's index.
    #[arg(long, default_value_t = 1800)]
    ready_timeout_secs: u64,
}

/// The 10 mounts of bench directory `i`: two top-level directories on each
/// node (of the first five), alternating `flatten` with a `*.pdf` glob and
/// `prefix_replace` without steps.
fn mounts(i: usize, nodes: usize) -> Vec<Value> {
    (0..10)
        .map(|m| {
            let node = format!("node-bench-{}", m % nodes.max(1));
            let dir = DIRS[(i + m) % DIRS.len()];
            let variant = (i / DIRS.len()) % 8;
            let dir = if variant == 0 {
                dir.to_string()
            } else {
                format!("{dir}-{variant}")
            };
            let export_path = format!("/data/{node}/{dir}");
            if m % 2 == 0 {
                json!({"source": {"node_id": node, "export_path": export_path},
                       "strategy": "flatten", "steps": [{"op": "glob", "pattern": "*.pdf"}]})
            } else {
                json!({"source": {"node_id": node, "export_path": export_path},
                       "strategy": "prefix_replace", "conflict_policy": "suffix_node_id"})
            }
        })
        .collect()
}

struct Sample {
    client_ms: f64,
    server_ms: f64,
    entries: usize,
    bytes: usize,
}

async fn list(c: &reqwest::Client, a: &Args, token: &str, path: &str) -> anyhow::Result<Sample> {
    let start = Instant::now();
    let r = c
        .get(format!("{}/api/vfs", a.url))
        .query(&[("path", path)])
        .bearer_auth(token)
        .send()
        .await?;
    let status = r.status();
    let server_ms = r
        .headers()
        .get("server-timing")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split("dur=").nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN);
    let body = r.bytes().await?;
    let client_ms = start.elapsed().as_secs_f64() * 1000.0;
    anyhow::ensure!(status == StatusCode::OK, "{path}: {status}");
    let v: Value = serde_json::from_slice(&body)?;
    Ok(Sample {
        client_ms,
        server_ms,
        entries: v["total"].as_u64().unwrap_or(0) as usize,
        bytes: body.len(),
    })
}

fn report(what: &str, samples: &[Sample]) {
    let mut c: Vec<f64> = samples.iter().map(|s| s.client_ms).collect();
    let mut s: Vec<f64> = samples.iter().map(|s| s.server_ms).collect();
    let (c50, c95, c99, cmax) = percentiles(&mut c);
    let (s50, s95, s99, smax) = percentiles(&mut s);
    let entries = samples.iter().map(|s| s.entries).sum::<usize>() / samples.len().max(1);
    let bytes = samples.iter().map(|s| s.bytes).sum::<usize>() / samples.len().max(1);
    println!(
        "readdir {what}: n={} avg_entries={entries} avg_bytes={bytes} \
         client p50={c50:.2}ms p95={c95:.2}ms p99={c99:.2}ms max={cmax:.2}ms | \
         server p50={s50:.3}ms p95={s95:.3}ms p99={s99:.3}ms max={smax:.3}ms",
        samples.len()
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let begun = Instant::now();
    let pem = std::fs::read(&a.ca_cert)?;
    let c = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem)?)
        .tls_built_in_root_certs(false)
        .build()?;
    let login: Value = c
        .post(format!("{}/api/auth/login", a.url))
        .json(&json!({"access_key_id": a.key, "secret_key": a.secret}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let token = login["token"].as_str().unwrap_or_default().to_string();
    // Ready when `/` lists (503 while the index catches up).
    loop {
        let r = c
            .get(format!("{}/api/vfs", a.url))
            .query(&[("path", "/")])
            .bearer_auth(&token)
            .send()
            .await?;
        if r.status() == StatusCode::OK {
            break;
        }
        anyhow::ensure!(
            r.status() == StatusCode::SERVICE_UNAVAILABLE,
            "listing / answered {}",
            r.status()
        );
        anyhow::ensure!(
            begun.elapsed() < Duration::from_secs(a.ready_timeout_secs),
            "the index was not ready in time"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "index ready {:.1} s after the benchmark started",
        begun.elapsed().as_secs_f64()
    );
    let create = |body: Value| {
        c.post(format!("{}/api/vfs/directories", a.url))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let r = create(json!({"virtual_path": "/bench"})).await?;
    anyhow::ensure!(
        r.status().is_success() || r.status() == StatusCode::CONFLICT,
        "create /bench: {}",
        r.status()
    );
    let paths: Vec<String> = (0..a.dirs).map(|i| format!("/bench/d{i}")).collect();
    for (i, p) in paths.iter().enumerate() {
        let r = create(json!({"virtual_path": p, "mounts": mounts(i, a.nodes)})).await?;
        anyhow::ensure!(
            r.status().is_success() || r.status() == StatusCode::CONFLICT,
            "create {p}: {}",
            r.status()
        );
    }
    let mut warm = Vec::new();
    for round in 0..a.rounds {
        // Past the TTL: every listing of this round is a miss.
        tokio::time::sleep(Duration::from_millis(5_200)).await;
        let mut samples = Vec::new();
        for p in &paths {
            samples.push(list(&c, &a, &token, p).await?);
        }
        if round == 0 {
            report("uncached (cold, first round)", &samples);
        } else {
            warm.extend(samples);
        }
    }
    if !warm.is_empty() {
        report("uncached", &warm);
    }
    let p = &paths[0];
    let mut cached = Vec::new();
    let mut primed = Instant::now();
    list(&c, &a, &token, p).await?;
    for _ in 0..a.cached {
        // Stay inside the TTL: re-prime (unmeasured) before it runs out.
        if primed.elapsed() > Duration::from_millis(4_500) {
            primed = Instant::now();
            list(&c, &a, &token, p).await?;
        }
        cached.push(list(&c, &a, &token, p).await?);
    }
    report("cached", &cached);
    Ok(())
}
