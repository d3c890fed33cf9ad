//! `nodes list | status | mounts list|add|rm`.

use crate::Context;
use crate::cli::{MountsCommand, NodesCommand};
use crate::client::Client;
use crate::error::{CliError, Result};
use crate::output::{human_size, text, when};
use reqwest::Method;
use serde_json::{Value, json};

/// Runs a `nodes` command.
pub async fn run(ctx: &Context, c: NodesCommand) -> Result<()> {
    let client = ctx.client()?;
    match c {
        NodesCommand::List => {
            let nodes = client.list_all(&["api", "nodes"], &[], usize::MAX).await?;
            if ctx.out.json {
                return ctx.out.json(&Value::Array(nodes));
            }
            let rows: Vec<Vec<String>> = nodes
                .iter()
                .map(|n| {
                    let status = if n.get("disabled").and_then(Value::as_bool) == Some(true) {
                        "disabled".to_string()
                    } else {
                        text(n.get("status"))
                    };
                    vec![
                        text(n.get("node_id")),
                        text(n.get("friendly_name")),
                        text(n.get("platform")),
                        status,
                        when(n.get("last_heartbeat")),
                        n.get("watch_paths")
                            .and_then(Value::as_array)
                            .map(|a| a.len().to_string())
                            .unwrap_or_else(|| "0".into()),
                    ]
                })
                .collect();
            if rows.is_empty() {
                ctx.out
                    .note("No nodes yet: run `mosaicfs-agent init` on a machine to register it.");
            }
            ctx.out.table(
                &[
                    "NODE",
                    "NAME",
                    "PLATFORM",
                    "STATUS",
                    "HEARTBEAT",
                    "WATCH PATHS",
                ],
                &rows,
            )
        }
        NodesCommand::Status { node_id } => {
            let node = client.get_json(&["api", "nodes", &node_id], &[]).await?;
            let status = match client
                .get_json(&["api", "nodes", &node_id, "status"], &[])
                .await
            {
                Ok(s) => s,
                Err(CliError::NotFound(_)) => Value::Null,
                Err(e) => return Err(e),
            };
            if ctx.out.json {
                return ctx.out.json(&json!({"node": node, "status": status}));
            }
            print_status(ctx, &node, &status)
        }
        NodesCommand::Mounts(m) => mounts(ctx, &client, m).await,
    }
}

async fn mounts(ctx: &Context, client: &Client, c: MountsCommand) -> Result<()> {
    match c {
        MountsCommand::List { node_id } => {
            let list = client
                .get_json(&["api", "nodes", &node_id, "mounts"], &[])
                .await?;
            let items = list
                .get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if ctx.out.json {
                return ctx.out.json(&Value::Array(items));
            }
            if items.is_empty() {
                ctx.out.note(&format!(
                    "{node_id} has no network mounts; add one with `mosaicfs-cli nodes mounts add {node_id} --remote-node NODE --remote-path PATH --local-path PATH`."
                ));
            }
            let rows: Vec<Vec<String>> = items
                .iter()
                .map(|m| {
                    vec![
                        text(m.get("mount_id")),
                        text(m.get("remote_node_id")),
                        text(m.get("remote_base_export_path")),
                        text(m.get("local_mount_path")),
                        text(m.get("mount_type")),
                        text(m.get("priority")),
                    ]
                })
                .collect();
            ctx.out.table(
                &[
                    "MOUNT",
                    "REMOTE NODE",
                    "REMOTE PATH",
                    "LOCAL PATH",
                    "TYPE",
                    "PRIORITY",
                ],
                &rows,
            )
        }
        MountsCommand::Add {
            node_id,
            remote_node,
            remote_path,
            local_path,
            mount_type,
            priority,
        } => {
            let created = client
                .send_json(
                    Method::POST,
                    &["api", "nodes", &node_id, "mounts"],
                    &json!({
                        "remote_node_id": remote_node,
                        "remote_base_export_path": remote_path,
                        "local_mount_path": local_path,
                        "mount_type": mount_type,
                        "priority": priority,
                    }),
                )
                .await?;
            if ctx.out.json {
                return ctx.out.json(&created);
            }
            ctx.out.line(&text(created.get("mount_id")))?;
            ctx.out.note(&format!(
                "Added: {node_id} reads {} files under {} through {}.",
                text(created.get("remote_node_id")),
                text(created.get("remote_base_export_path")),
                text(created.get("local_mount_path"))
            ));
            Ok(())
        }
        MountsCommand::Rm { node_id, mount_id } => {
            let url = client.url(&["api", "nodes", &node_id, "mounts", &mount_id]);
            client.send(client.request(Method::DELETE, url)).await?;
            if ctx.out.json {
                return ctx.out.json(&json!({"deleted": mount_id}));
            }
            ctx.out
                .note(&format!("Removed mount {mount_id} from {node_id}."));
            Ok(())
        }
    }
}

fn print_status(ctx: &Context, node: &Value, status: &Value) -> Result<()> {
    let mut pairs = vec![
        ("node", text(node.get("node_id"))),
        ("name", text(node.get("friendly_name"))),
        ("platform", text(node.get("platform"))),
        ("status", text(node.get("status"))),
        (
            "disabled",
            text(node.get("disabled").or(Some(&Value::Bool(false)))),
        ),
        ("last heartbeat", when(node.get("last_heartbeat"))),
        ("agent version", text(node.get("agent_version"))),
        ("access key", text(node.get("access_key_id"))),
        (
            "transfer",
            text(node.get("transfer").and_then(|t| t.get("endpoint"))),
        ),
    ];
    let watch = node
        .get("watch_paths")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    pairs.push((
        "watch paths",
        if watch.is_empty() { "-".into() } else { watch },
    ));
    if let Some(storage) = node.get("storage").and_then(Value::as_array) {
        for fs in storage {
            let used = fs.get("used_bytes").and_then(Value::as_u64).unwrap_or(0);
            let cap = fs
                .get("capacity_bytes")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            pairs.push((
                "filesystem",
                format!(
                    "{} ({}) {} of {} used",
                    text(fs.get("mount_point")),
                    text(fs.get("fs_type")),
                    human_size(used),
                    human_size(cap)
                ),
            ));
        }
    }
    if status.is_null() {
        pairs.push(("agent status", "not reported yet".into()));
    } else {
        pairs.push((
            "agent status",
            format!(
                "{} ({})",
                text(status.get("overall")),
                when(status.get("updated_at"))
            ),
        ));
        if let Some(subs) = status.get("subsystems").and_then(Value::as_object) {
            for (name, s) in subs {
                let detail = s.get("detail").and_then(Value::as_str).unwrap_or("");
                pairs.push((
                    "  subsystem",
                    format!("{name}: {} {detail}", text(s.get("status")))
                        .trim_end()
                        .to_string(),
                ));
            }
        }
        let errors = status
            .get("recent_errors")
            .and_then(Value::as_array)
            .map(Vec::len)
            .unwrap_or(0);
        pairs.push(("recent errors", errors.to_string()));
    }
    ctx.out.fields(&pairs)
}
