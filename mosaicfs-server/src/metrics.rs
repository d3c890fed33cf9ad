//! Prometheus metrics: request counts and latency histograms per route,
//! rendered in the text exposition format at `GET /metrics`.

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

/// Collected metrics.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    latency: Mutex<BTreeMap<(String, String), Histogram>>,
    /// Whether flow 3 (the browser replica) was healthy at the last poll.
    pub browser_replication_healthy: AtomicBool,
    /// Requests the browser-db proxy forwarded to CouchDB.
    pub browser_db_forwarded: AtomicU64,
    /// Requests the browser-db proxy refused (not on its allow-list).
    pub browser_db_refused: AtomicU64,
}

impl Metrics {
    /// Records one finished request.
    pub fn record(&self, method: &str, route: &str, status: u16, seconds: f64) {
        if let Ok(mut m) = self.requests.lock() {
            *m.entry((method.to_string(), route.to_string(), status))
                .or_default() += 1;
        }
        if let Ok(mut m) = self.latency.lock() {
            let h = m
                .entry((method.to_string(), route.to_string()))
                .or_default();
            for (i, bound) in BUCKETS.iter().enumerate() {
                if seconds <= *bound {
                    h.counts[i] += 1;
                }
            }
            h.sum += seconds;
            h.count += 1;
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP mosaicfs_http_requests_total HTTP requests by method, route and status.\n",
        );
        out.push_str("# TYPE mosaicfs_http_requests_total counter\n");
        if let Ok(m) = self.requests.lock() {
            for ((method, route, status), n) in m.iter() {
                let _ = writeln!(
                    out,
                    "mosaicfs_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {n}",
                    escape(route)
                );
            }
        }
        out.push_str("# HELP mosaicfs_http_request_duration_seconds HTTP request latency by method and route.\n");
        out.push_str("# TYPE mosaicfs_http_request_duration_seconds histogram\n");
        if let Ok(m) = self.latency.lock() {
            for ((method, route), h) in m.iter() {
                let labels = format!("method=\"{method}\",route=\"{}\"", escape(route));
                for (i, bound) in BUCKETS.iter().enumerate() {
                    let _ = writeln!(
                        out,
                        "mosaicfs_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {}",
                        h.counts[i]
                    );
                }
                let _ = writeln!(
                    out,
                    "mosaicfs_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                    h.count
                );
                let _ = writeln!(
                    out,
                    "mosaicfs_http_request_duration_seconds_sum{{{labels}}} {}",
                    h.sum
                );
                let _ = writeln!(
                    out,
                    "mosaicfs_http_request_duration_seconds_count{{{labels}}} {}",
                    h.count
                );
            }
        }
        let gauge = u8::from(self.browser_replication_healthy.load(Ordering::Relaxed));
        let _ = write!(
            out,
            "# HELP mosaicfs_browser_replication_healthy Whether replication flow 3 (the browser replica) is healthy.\n\
             # TYPE mosaicfs_browser_replication_healthy gauge\n\
             mosaicfs_browser_replication_healthy {gauge}\n\
             # HELP mosaicfs_browser_db_requests_total Requests to /api/browser-db by outcome.\n\
             # TYPE mosaicfs_browser_db_requests_total counter\n\
             mosaicfs_browser_db_requests_total{{outcome=\"forwarded\"}} {}\n\
             mosaicfs_browser_db_requests_total{{outcome=\"refused\"}} {}\n",
            self.browser_db_forwarded.load(Ordering::Relaxed),
            self.browser_db_refused.load(Ordering::Relaxed),
        );
        out
    }
}

/// The readdir service's counters in the text exposition format: hits and
/// misses of the readdir cache, and the name collisions its evaluations met
/// (each also logged at WARN with the source paths involved).
pub fn render_readdir(cache: &mosaicfs_index::readdir::ReaddirCache) -> String {
    let (hits, misses) = cache.stats();
    format!(
        "# HELP mosaicfs_readdir_cache_requests_total Listings asked of the readdir cache by outcome.\n\
         # TYPE mosaicfs_readdir_cache_requests_total counter\n\
         mosaicfs_readdir_cache_requests_total{{outcome=\"hit\"}} {hits}\n\
         mosaicfs_readdir_cache_requests_total{{outcome=\"miss\"}} {misses}\n\
         # HELP mosaicfs_readdir_name_collisions_total Names two entries of one evaluated listing would have shared (resolved by the conflict policy, logged with both source paths).\n\
         # TYPE mosaicfs_readdir_name_collisions_total counter\n\
         mosaicfs_readdir_name_collisions_total {}\n",
        cache.collisions()
    )
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Middleware recording every request under its route template (never the
/// raw path, so ids do not explode the label set).
pub async fn track(
    State(state): State<crate::state::AppState>,
    req: Request,
    next: Next,
) -> Response {
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let start = Instant::now();
    let resp = next.run(req).await;
    state.metrics.record(
        &method,
        &route,
        resp.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    resp
}
