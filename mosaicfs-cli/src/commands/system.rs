//! `system health | reindex` and `storage overview | history`. On a server
//! without the storage or reindex endpoints these commands say so and exit 7.

use crate::Context;
use crate::cli::{StorageCommand, SystemCommand};
use crate::client::json_of;
use crate::error::{CliError, Result};
use crate::output::{human_size, text};
use reqwest::Method;
use serde_json::Value;

/// Runs a `system` command.
pub async fn run(ctx: &Context, c: SystemCommand) -> Result<()> {
    match c {
        SystemCommand::Health => health(ctx).await,
        SystemCommand::Backup {
            kind,
            output,
            force,
        } => super::backup::backup(ctx, kind, output, force).await,
        SystemCommand::Restore { file } => super::backup::restore(ctx, file).await,
        SystemCommand::Reindex => {
            let client = ctx.client()?;
            let answer = client
                .send_json(Method::POST, &["api", "system", "reindex"], &Value::Null)
                .await?;
            if ctx.out.json {
                return ctx.out.json(&answer);
            }
            let nodes: Vec<&str> = answer
                .get("nodes_notified")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if ctx.out.quiet {
                for n in &nodes {
                    ctx.out.line(n)?;
                }
                return Ok(());
            }
            ctx.out.line(&format!(
                "reindex requested: {} node{} will run a full crawl",
                nodes.len(),
                if nodes.len() == 1 { "" } else { "s" }
            ))?;
            for n in nodes {
                ctx.out.line(&format!("  {n}"))?;
            }
            Ok(())
        }
    }
}

/// Runs a `storage` command.
pub async fn storage(ctx: &Context, c: StorageCommand) -> Result<()> {
    let client = ctx.client()?;
    match c {
        StorageCommand::Overview => {
            let answer = client.get_json(&["api", "storage"], &[]).await?;
            if ctx.out.json {
                return ctx.out.json(&answer);
            }
            let mut rows = Vec::new();
            for node in answer
                .get("nodes")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let id = text(node.get("node_id"));
                let fss = node
                    .get("storage")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                if fss.is_empty() {
                    rows.push(vec![
                        id.clone(),
                        "-".into(),
                        "-".into(),
                        "not reported yet".into(),
                    ]);
                }
                for fs in fss {
                    let used = fs.get("used_bytes").and_then(Value::as_u64).unwrap_or(0);
                    let cap = fs
                        .get("capacity_bytes")
                        .and_then(Value::as_u64)
                        .unwrap_or(0);
                    rows.push(vec![
                        id.clone(),
                        text(fs.get("mount_point")),
                        text(fs.get("fs_type")),
                        format!(
                            "{} {} of {}",
                            bar(used, cap),
                            human_size(used),
                            human_size(cap)
                        ),
                    ]);
                }
            }
            if rows.is_empty() {
                ctx.out.note("no nodes registered");
            }
            ctx.out.table(&["NODE", "MOUNT", "FS", "USED"], &rows)
        }
        StorageCommand::History { node_id, days } => {
            let answer = client
                .get_json(
                    &["api", "storage", &node_id, "history"],
                    &[("days", &days.to_string())],
                )
                .await?;
            if ctx.out.json {
                return ctx.out.json(&answer);
            }
            let snaps = answer
                .get("snapshots")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if snaps.is_empty() {
                ctx.out.note(&format!(
                    "no utilization snapshots of {node_id} in the last {days} days"
                ));
                return Ok(());
            }
            let totals: Vec<(String, u64, u64)> = snaps
                .iter()
                .map(|s| {
                    let (mut used, mut avail) = (0u64, 0u64);
                    for fs in s
                        .get("filesystems")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        used += fs.get("used_bytes").and_then(Value::as_u64).unwrap_or(0);
                        avail += fs
                            .get("available_bytes")
                            .and_then(Value::as_u64)
                            .unwrap_or(0);
                    }
                    (text(s.get("captured_at")), used, avail)
                })
                .collect();
            if !ctx.out.quiet {
                let used: Vec<u64> = totals.iter().map(|t| t.1).collect();
                ctx.out.line(&format!(
                    "{node_id}, last {days} days: {}",
                    sparkline(&used)
                ))?;
            }
            let rows: Vec<Vec<String>> = totals
                .into_iter()
                .map(|(at, used, avail)| {
                    vec![
                        at,
                        format!(
                            "{} {} used, {} free",
                            bar(used, used + avail),
                            human_size(used),
                            human_size(avail)
                        ),
                    ]
                })
                .collect();
            ctx.out.table(&["CAPTURED", "USED"], &rows)
        }
    }
}

/// `[#####-----]  42%`: use as a bar of ten cells and a percentage.
fn bar(used: u64, capacity: u64) -> String {
    if capacity == 0 {
        return format!("[{}]    -", "-".repeat(10));
    }
    let pct = (used as f64 / capacity as f64 * 100.0).clamp(0.0, 100.0);
    let full = ((pct / 10.0).round() as usize).min(10);
    format!(
        "[{}{}] {:>3.0}%",
        "#".repeat(full),
        "-".repeat(10 - full),
        pct
    )
}

/// One block character per value, scaled between the smallest and largest.
fn sparkline(values: &[u64]) -> String {
    const BLOCKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let (Some(&min), Some(&max)) = (values.iter().min(), values.iter().max()) else {
        return String::new();
    };
    values
        .iter()
        .map(|&v| {
            if max == min {
                BLOCKS[3]
            } else {
                BLOCKS[((v - min) as f64 / (max - min) as f64 * 7.0).round() as usize]
            }
        })
        .collect()
}

/// `system health`: unauthenticated, but through the pinned certificate.
async fn health(ctx: &Context) -> Result<()> {
    let client = ctx.anonymous_client()?;
    let resp = client
        .send_raw(client.request(Method::GET, client.url(&["health"])))
        .await?;
    let status = resp.status();
    let body = json_of(resp).await?;
    if body.get("status").is_none() {
        return Err(CliError::Server(format!(
            "/health answered {status} without a MosaicFS health report"
        )));
    }
    if ctx.out.json {
        ctx.out.json(&body)?;
    } else {
        ctx.out.fields(&[
            ("server", client.base().to_string()),
            ("status", text(body.get("status"))),
            (
                "couchdb",
                if body.get("couchdb").and_then(Value::as_bool) == Some(true) {
                    "reachable".into()
                } else {
                    "NOT reachable".into()
                },
            ),
            ("version", text(body.get("version"))),
            ("certificate", text(body.get("tls_fingerprint"))),
        ])?;
    }
    if status.is_success() {
        Ok(())
    } else {
        Err(CliError::Server(format!(
            "the server is degraded ({status}): its database does not answer; check CouchDB"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_and_sparklines() {
        assert_eq!(bar(0, 100), "[----------]   0%");
        assert_eq!(bar(42, 100), "[####------]  42%");
        assert_eq!(bar(100, 100), "[##########] 100%");
        assert_eq!(bar(5, 0), "[----------]    -");
        assert_eq!(sparkline(&[1, 2, 3, 8]), "▁▂▃█");
        assert_eq!(sparkline(&[5, 5]), "▄▄");
        assert_eq!(sparkline(&[]), "");
    }
}
