//! `credentials create | list | revoke`.

use crate::Context;
use crate::cli::CredentialsCommand;
use crate::error::Result;
use crate::output::{text, when};
use reqwest::Method;
use serde_json::{Value, json};

/// Runs a `credentials` command.
pub async fn run(ctx: &Context, c: CredentialsCommand) -> Result<()> {
    let client = ctx.client()?;
    match c {
        CredentialsCommand::Create { name } => {
            let created = client
                .send_json(
                    Method::POST,
                    &["api", "credentials"],
                    &json!({"name": name}),
                )
                .await?;
            if ctx.out.json {
                return ctx.out.json(&created);
            }
            ctx.out.fields(&[
                ("access key id", text(created.get("access_key_id"))),
                ("secret key", text(created.get("secret_key"))),
                ("name", text(created.get("name"))),
            ])?;
            ctx.out.note(
                "Store the secret key now: it is shown only this once and cannot be recovered.",
            );
            Ok(())
        }
        CredentialsCommand::List => {
            let items = client
                .list_all(&["api", "credentials"], &[], usize::MAX)
                .await?;
            if ctx.out.json {
                return ctx.out.json(&Value::Array(items));
            }
            let mine = ctx.settings.file.access_key_id.as_deref();
            let rows: Vec<Vec<String>> = items
                .iter()
                .map(|c| {
                    let id = text(c.get("access_key_id"));
                    let name = text(c.get("name"));
                    vec![
                        id.clone(),
                        if Some(id.as_str()) == mine {
                            format!("{name} (you)")
                        } else {
                            name
                        },
                        if c.get("enabled").and_then(Value::as_bool) == Some(true) {
                            "enabled".into()
                        } else {
                            "disabled".into()
                        },
                        when(c.get("created_at")),
                        when(c.get("last_seen")),
                    ]
                })
                .collect();
            ctx.out.table(
                &["ACCESS KEY ID", "NAME", "STATE", "CREATED", "LAST LOGIN"],
                &rows,
            )
        }
        CredentialsCommand::Revoke {
            access_key_id,
            delete,
        } => {
            let segments = ["api", "credentials", access_key_id.as_str()];
            if delete {
                client
                    .send(client.request(Method::DELETE, client.url(&segments)))
                    .await?;
                if ctx.out.json {
                    return ctx.out.json(&json!({"deleted": access_key_id}));
                }
                ctx.out.note(&format!("Deleted {access_key_id}."));
                return Ok(());
            }
            let view = client
                .send_json(Method::PATCH, &segments, &json!({"enabled": false}))
                .await?;
            if ctx.out.json {
                return ctx.out.json(&view);
            }
            ctx.out.note(&format!(
                "Disabled {access_key_id}: it can no longer log in or sign requests. \
                 Sessions it already opened stay valid until they expire (at most 24 h)."
            ));
            Ok(())
        }
    }
}
