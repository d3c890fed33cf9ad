//! `labels list | show | add | rm`: a file's direct labels are one
//! assignment document (`PUT /api/labels/assignments/{file_id}` sets the whole
//! list); inherited labels come from rules and are only shown.

use crate::Context;
use crate::cli::LabelsCommand;
use crate::client::Client;
use crate::commands::files::resolve_file;
use crate::error::{CliError, Result};
use crate::output::text;
use reqwest::Method;
use serde_json::{Value, json};

/// Runs a `labels` command.
pub async fn run(ctx: &Context, c: LabelsCommand) -> Result<()> {
    let client = ctx.client()?;
    match c {
        LabelsCommand::List => {
            let list = client.get_json(&["api", "labels"], &[]).await?;
            let items = list
                .get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if ctx.out.json {
                return ctx.out.json(&Value::Array(items));
            }
            if items.is_empty() {
                ctx.out.note(
                    "No labels yet: add one with `mosaicfs-cli labels add FILE LABEL`, or from the web UI.",
                );
            }
            let rows: Vec<Vec<String>> = items
                .iter()
                .map(|l| {
                    vec![
                        text(l.get("label")),
                        text(l.get("assignments")),
                        text(l.get("rules")),
                    ]
                })
                .collect();
            ctx.out.table(&["LABEL", "FILES (DIRECT)", "RULES"], &rows)
        }
        LabelsCommand::Show { file } => {
            let id = resolve_file(&client, &file).await?;
            let eff = effective(&client, &id).await?;
            if ctx.out.json {
                return ctx.out.json(&eff);
            }
            print_effective(ctx, &eff)
        }
        LabelsCommand::Add { file, labels } => {
            let id = resolve_file(&client, &file).await?;
            let mut direct = direct_labels(&client, &id).await?;
            for l in labels {
                if !direct.contains(&l) {
                    direct.push(l);
                }
            }
            set_direct(ctx, &client, &id, direct).await
        }
        LabelsCommand::Rm { file, labels } => {
            let id = resolve_file(&client, &file).await?;
            let direct = direct_labels(&client, &id).await?;
            let missing: Vec<&String> = labels.iter().filter(|l| !direct.contains(l)).collect();
            if !missing.is_empty() {
                let eff = effective(&client, &id).await?;
                let inherited = |l: &str| {
                    eff.get("inherited")
                        .and_then(Value::as_array)
                        .and_then(|a| {
                            a.iter()
                                .find(|i| i.get("label").and_then(Value::as_str) == Some(l))
                        })
                        .map(|i| text(i.get("rule_name")))
                };
                let why: Vec<String> = missing
                    .iter()
                    .map(|l| match inherited(l) {
                        Some(rule) => format!(
                            "{l:?} is inherited from rule {rule:?} (turn the rule off or narrow it on the Labels page)"
                        ),
                        None => format!("{l:?} is not on this file"),
                    })
                    .collect();
                return Err(CliError::Invalid(format!(
                    "nothing removed: {}",
                    why.join("; ")
                )));
            }
            let keep: Vec<String> = direct.into_iter().filter(|l| !labels.contains(l)).collect();
            set_direct(ctx, &client, &id, keep).await
        }
    }
}

async fn effective(client: &Client, id: &str) -> Result<Value> {
    client
        .get_json(&["api", "labels", "effective"], &[("file_id", id)])
        .await
}

async fn direct_labels(client: &Client, id: &str) -> Result<Vec<String>> {
    let eff = effective(client, id).await?;
    Ok(eff
        .get("direct")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default())
}

/// Stores `labels` as the file's direct labels (deleting the assignment when
/// none are left), then prints the result.
async fn set_direct(ctx: &Context, client: &Client, id: &str, labels: Vec<String>) -> Result<()> {
    if labels.is_empty() {
        let url = client.url(&["api", "labels", "assignments", id]);
        match client.send(client.request(Method::DELETE, url)).await {
            Ok(_) | Err(CliError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    } else {
        client
            .send_json(
                Method::PUT,
                &["api", "labels", "assignments", id],
                &json!({ "labels": labels }),
            )
            .await?;
    }
    let eff = effective(client, id).await?;
    if ctx.out.json {
        return ctx.out.json(&eff);
    }
    print_effective(ctx, &eff)
}

fn print_effective(ctx: &Context, eff: &Value) -> Result<()> {
    let list = |v: Option<&Value>| {
        let s: Vec<&str> = v
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if s.is_empty() {
            "-".to_string()
        } else {
            s.join(", ")
        }
    };
    let inherited: Vec<String> = eff
        .get("inherited")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|i| {
                    format!(
                        "{} (rule {})",
                        text(i.get("label")),
                        text(i.get("rule_name"))
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    ctx.out.fields(&[
        ("file", text(eff.get("file_id"))),
        ("direct", list(eff.get("direct"))),
        (
            "inherited",
            if inherited.is_empty() {
                "-".into()
            } else {
                inherited.join(", ")
            },
        ),
    ])
}
