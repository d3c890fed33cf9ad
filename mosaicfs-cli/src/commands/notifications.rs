//! `notifications list | ack | ack-all`.

use crate::Context;
use crate::cli::NotificationsCommand;
use crate::error::Result;
use crate::output::{text, when};
use reqwest::Method;
use serde_json::Value;

/// Runs a `notifications` command.
pub async fn run(ctx: &Context, c: NotificationsCommand) -> Result<()> {
    let client = ctx.client()?;
    match c {
        NotificationsCommand::List {
            status,
            severity,
            history,
        } => {
            let mut query: Vec<(&str, &str)> = Vec::new();
            let path: &[&str] = if history {
                &["api", "notifications", "history"]
            } else {
                query.push(("status", &status));
                &["api", "notifications"]
            };
            if let Some(s) = &severity {
                query.push(("severity", s));
            }
            let answer = client.get_json(path, &query).await?;
            let items = answer
                .get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if ctx.out.json {
                return ctx.out.json(&Value::Array(items));
            }
            if ctx.out.quiet {
                for n in &items {
                    ctx.out.line(&text(n.get("_id")))?;
                }
                return Ok(());
            }
            if items.is_empty() {
                ctx.out.note("no notifications");
                return Ok(());
            }
            let rows: Vec<Vec<String>> = items
                .iter()
                .map(|n| {
                    let count = n
                        .get("occurrence_count")
                        .and_then(Value::as_u64)
                        .unwrap_or(1);
                    vec![
                        text(n.get("severity")),
                        text(n.get("status")),
                        text(n.pointer("/source/node_id")),
                        format!(
                            "{}{}",
                            text(n.get("title")),
                            if count > 1 {
                                format!(" (×{count})")
                            } else {
                                String::new()
                            }
                        ),
                        when(n.get("last_seen")),
                        text(n.get("_id")),
                    ]
                })
                .collect();
            ctx.out.table(
                &["SEVERITY", "STATUS", "SOURCE", "TITLE", "LAST SEEN", "ID"],
                &rows,
            )
        }
        NotificationsCommand::Ack { id } => {
            let doc = client
                .send_json(
                    Method::POST,
                    &["api", "notifications", &id, "acknowledge"],
                    &Value::Null,
                )
                .await?;
            if ctx.out.json {
                return ctx.out.json(&doc);
            }
            ctx.out.line(&format!(
                "{}: {}",
                text(doc.get("_id")),
                text(doc.get("status"))
            ))
        }
        NotificationsCommand::AckAll { severity } => {
            let mut url = client.url(&["api", "notifications", "acknowledge-all"]);
            if let Some(s) = &severity {
                url.query_pairs_mut().append_pair("severity", s);
            }
            let resp = client.send(client.request(Method::POST, url)).await?;
            let answer = crate::client::json_of(resp).await?;
            if ctx.out.json {
                return ctx.out.json(&answer);
            }
            let n = answer
                .get("acknowledged")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            ctx.out.line(&format!(
                "acknowledged {n} notification{}",
                if n == 1 { "" } else { "s" }
            ))?;
            Ok(())
        }
    }
}
