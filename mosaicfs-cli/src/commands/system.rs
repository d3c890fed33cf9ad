//! `system health | reindex` and `storage overview | history`. The server
//! has no storage or reindex endpoints yet; those commands call the
//! endpoints they need and, on a server without them, say so and exit 7.

use crate::Context;
use crate::cli::{StorageCommand, SystemCommand};
use crate::client::json_of;
use crate::error::{CliError, Result};
use crate::output::text;
use reqwest::Method;
use serde_json::Value;

/// Runs a `system` command.
pub async fn run(ctx: &Context, c: SystemCommand) -> Result<()> {
    match c {
        SystemCommand::Health => health(ctx).await,
        SystemCommand::Reindex => {
            let client = ctx.client()?;
            let answer = client
                .send_json(Method::POST, &["api", "system", "reindex"], &Value::Null)
                .await?;
            show_raw(ctx, &answer)
        }
    }
}

/// Runs a `storage` command.
pub async fn storage(ctx: &Context, c: StorageCommand) -> Result<()> {
    let client = ctx.client()?;
    let answer = match c {
        StorageCommand::Overview => client.get_json(&["api", "storage"], &[]).await?,
        StorageCommand::History { node_id, days } => {
            client
                .get_json(
                    &["api", "storage", &node_id, "history"],
                    &[("days", &days.to_string())],
                )
                .await?
        }
    };
    show_raw(ctx, &answer)
}

/// Prints an answer whose shape this version does not know yet.
fn show_raw(ctx: &Context, v: &Value) -> Result<()> {
    ctx.out.json(v)
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
