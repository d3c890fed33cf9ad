//! `vfs ls | tree | mkdir | rmdir | show | edit`: the virtual namespace.
//! Paths are absolute virtual paths; a missing leading `/` is added. The
//! server validates them (400 names the problem).

use super::{confirm, interactive};
use crate::Context;
use crate::cli::VfsCommand;
use crate::client::Client;
use crate::error::{CliError, Result};
use crate::output::{size, text, when};
use reqwest::Method;
use serde_json::{Map, Value, json};

/// The fields `PATCH /api/vfs/directories/{path}` accepts.
const EDITABLE: [&str; 2] = ["mounts", "enforce_steps_on_children"];
/// Fields that change on every save and are ignored when comparing.
const VOLATILE: [&str; 2] = ["_rev", "updated_at"];

/// Runs a `vfs` command.
pub async fn run(ctx: &Context, c: VfsCommand) -> Result<()> {
    let client = ctx.client()?;
    match c {
        VfsCommand::Ls { path } => ls(ctx, &client, &absolute(&path)).await,
        VfsCommand::Tree { path, depth } => tree(ctx, &client, &absolute(&path), depth).await,
        VfsCommand::Mkdir { path, parents } => mkdir(ctx, &client, &absolute(&path), parents).await,
        VfsCommand::Rmdir { path, recursive } => {
            rmdir(ctx, &client, &absolute(&path), recursive).await
        }
        VfsCommand::Show { path } => {
            let doc = get_directory(&client, &absolute(&path)).await?;
            ctx.out.json(&doc)
        }
        VfsCommand::Edit { path } => edit(ctx, &client, &absolute(&path)).await,
    }
}

/// `p` with a leading `/` (the server refuses every other malformation
/// itself, with a message naming it).
fn absolute(p: &str) -> String {
    if p.starts_with('/') {
        p.to_string()
    } else {
        format!("/{p}")
    }
}

/// The URL segments of a directory document: `/a/b` → `api/vfs/directories/a/b`.
fn directory_segments(path: &str) -> Vec<&str> {
    let mut s = vec!["api", "vfs", "directories"];
    s.extend(path.trim_start_matches('/').split('/'));
    s
}

/// The stored document of the directory at `path`.
async fn get_directory(client: &Client, path: &str) -> Result<Value> {
    if path == "/" {
        // The root has no path segment to route on; its listing carries it.
        let listing = client.get_json(&["api", "vfs"], &[("path", "/")]).await?;
        return Ok(listing.get("directory").cloned().unwrap_or(Value::Null));
    }
    client.get_json(&directory_segments(path), &[]).await
}

async fn ls(ctx: &Context, client: &Client, path: &str) -> Result<()> {
    let listing = client.get_json(&["api", "vfs"], &[("path", path)]).await?;
    let entries = listing
        .get("entries")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if ctx.out.json {
        return ctx.out.json(&Value::Array(entries));
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            let dir = e.get("kind").and_then(Value::as_str) == Some("directory");
            let name = text(e.get("name"));
            vec![
                if dir { format!("{name}/") } else { name },
                if dir { "-".into() } else { size(e.get("size")) },
                if dir {
                    "-".into()
                } else {
                    when(e.get("mtime"))
                },
                if dir {
                    "-".into()
                } else {
                    text(e.get("node_id"))
                },
                if dir {
                    "-".into()
                } else {
                    text(e.get("file_id"))
                },
            ]
        })
        .collect();
    if rows.is_empty() {
        ctx.out.note(&format!("{path} is empty."));
        return Ok(());
    }
    ctx.out
        .table(&["NAME", "SIZE", "MODIFIED", "NODE", "FILE ID"], &rows)
}

async fn tree(ctx: &Context, client: &Client, path: &str, depth: Option<u32>) -> Result<()> {
    let depth_text = depth.map(|d| d.to_string());
    let mut q = vec![("path", path)];
    if let Some(d) = &depth_text {
        q.push(("depth", d));
    }
    let t = client.get_json(&["api", "vfs", "tree"], &q).await?;
    if ctx.out.json {
        return ctx.out.json(&t);
    }
    let mut lines = vec![text(t.get("path"))];
    fn walk(node: &Value, prefix: &str, lines: &mut Vec<String>) {
        let kids = node
            .get("children")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for (i, k) in kids.iter().enumerate() {
            let last = i + 1 == kids.len();
            lines.push(format!(
                "{prefix}{}{}",
                if last { "└── " } else { "├── " },
                text(k.get("name"))
            ));
            walk(
                k,
                &format!("{prefix}{}", if last { "    " } else { "│   " }),
                lines,
            );
        }
    }
    walk(&t, "", &mut lines);
    for l in lines {
        ctx.out.line(&l)?;
    }
    Ok(())
}

async fn mkdir(ctx: &Context, client: &Client, path: &str, parents: bool) -> Result<()> {
    let mut todo = vec![path.to_string()];
    if parents {
        // Every missing ancestor, outermost first; existing ones are fine.
        todo.clear();
        let mut prefix = String::new();
        for seg in path.trim_start_matches('/').split('/') {
            prefix = format!("{prefix}/{seg}");
            todo.push(prefix.clone());
        }
    }
    let mut last = Value::Null;
    for p in todo {
        if parents {
            match get_directory(client, &p).await {
                Ok(doc) => {
                    last = doc;
                    continue;
                }
                Err(CliError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        last = client
            .send_json(
                Method::POST,
                &["api", "vfs", "directories"],
                &json!({"virtual_path": p}),
            )
            .await?;
        ctx.out.note(&format!("Created {p}."));
    }
    if ctx.out.json {
        return ctx.out.json(&last);
    }
    Ok(())
}

async fn rmdir(ctx: &Context, client: &Client, path: &str, recursive: bool) -> Result<()> {
    if path == "/" {
        return Err(CliError::Invalid(
            "/ is the root directory and cannot be deleted".into(),
        ));
    }
    let mut url = client.url(&directory_segments(path));
    if recursive {
        url.query_pairs_mut().append_pair("recursive", "true");
    }
    client.send(client.request(Method::DELETE, url)).await?;
    if ctx.out.json {
        return ctx
            .out
            .json(&json!({"deleted": path, "recursive": recursive}));
    }
    ctx.out.note(&format!("Deleted {path}."));
    Ok(())
}

/// Why an edited document cannot be saved as it is, if it cannot: a field
/// other than the editable ones changed.
fn read_only_change(original: &Map<String, Value>, edited: &Map<String, Value>) -> Option<String> {
    let keys = original.keys().chain(edited.keys());
    for k in keys {
        if EDITABLE.contains(&k.as_str()) || VOLATILE.contains(&k.as_str()) {
            continue;
        }
        if original.get(k) != edited.get(k) {
            return Some(format!(
                "field `{k}` cannot be changed here; only `mounts` and `enforce_steps_on_children` can"
            ));
        }
    }
    None
}

/// Runs `$EDITOR` (default `vi`) on `file`; the variable may hold
/// arguments (`code -w`), so the shell splits it.
fn run_editor(file: &std::path::Path) -> Result<()> {
    let editor = std::env::var("EDITOR")
        .ok()
        .filter(|e| !e.trim().is_empty())
        .unwrap_or_else(|| "vi".into());
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(file)
        .status()
        .map_err(CliError::io(format!("running the editor {editor:?}")))?;
    if !status.success() {
        return Err(CliError::Local(format!(
            "the editor {editor:?} exited with {status}; nothing was saved"
        )));
    }
    Ok(())
}

async fn edit(ctx: &Context, client: &Client, path: &str) -> Result<()> {
    if path == "/" {
        // The root can be read but not addressed by the directory route.
        return Err(CliError::Invalid(
            "the root directory cannot be edited through this command yet; create a directory below it".into(),
        ));
    }
    let mut original = get_directory(client, path).await?;
    let Some(orig) = original.as_object_mut() else {
        return Err(CliError::Server(format!(
            "the document of {path} is not an object"
        )));
    };
    orig.remove("_rev");
    let orig = orig.clone();
    let baseline = format!(
        "{}\n",
        serde_json::to_string_pretty(&orig).map_err(std::io::Error::from)?
    );
    let tmp = tempfile::Builder::new()
        .prefix("mosaicfs-directory-")
        .suffix(".json")
        .tempfile()
        .map_err(CliError::io("creating a temporary file"))?;
    let mut current = baseline.clone();
    loop {
        std::fs::write(tmp.path(), &current)
            .map_err(CliError::io(format!("writing {}", tmp.path().display())))?;
        run_editor(tmp.path())?;
        let edited_text = std::fs::read_to_string(tmp.path())
            .map_err(CliError::io(format!("reading {}", tmp.path().display())))?;
        if edited_text == baseline {
            return no_change(ctx, path);
        }
        let problem = match serde_json::from_str::<Value>(&edited_text) {
            Err(e) => Some(format!("the file is not valid JSON: {e}")),
            Ok(Value::Object(edited)) => match read_only_change(&orig, &edited) {
                Some(p) => Some(p),
                None => {
                    let body: Map<String, Value> = EDITABLE
                        .iter()
                        .filter_map(|k| edited.get(*k).map(|v| (k.to_string(), v.clone())))
                        .collect();
                    if EDITABLE.iter().all(|k| orig.get(*k) == edited.get(*k)) {
                        return no_change(ctx, path);
                    }
                    match client
                        .send_json(
                            Method::PATCH,
                            &directory_segments(path),
                            &Value::Object(body),
                        )
                        .await
                    {
                        Ok(saved) => {
                            if ctx.out.json {
                                return ctx.out.json(&saved);
                            }
                            ctx.out.note(&format!("Saved {path}."));
                            return Ok(());
                        }
                        Err(CliError::Invalid(msg)) => {
                            Some(format!("the server refused it: {msg}"))
                        }
                        Err(e) => return Err(e),
                    }
                }
            },
            Ok(_) => Some("the file must hold one JSON object".into()),
        };
        let problem = problem.unwrap_or_default();
        eprintln!("{path}: {problem}");
        if !interactive() || !confirm("Edit again?", true)? {
            return Err(CliError::Invalid(format!(
                "{path} was not saved: {problem}"
            )));
        }
        current = edited_text;
    }
}

fn no_change(ctx: &Context, path: &str) -> Result<()> {
    if ctx.out.json {
        return ctx.out.json(&json!({"path": path, "changed": false}));
    }
    ctx.out.note(&format!("No changes; {path} was not saved."));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_segments() {
        assert_eq!(absolute("docs"), "/docs");
        assert_eq!(absolute("/docs"), "/docs");
        assert_eq!(
            directory_segments("/a b/c"),
            ["api", "vfs", "directories", "a b", "c"]
        );
    }

    #[test]
    fn only_mounts_and_the_flag_may_change() {
        let orig = json!({"_id": "dir::x", "virtual_path": "/x", "mounts": [], "_rev": "1"});
        let orig = orig.as_object().unwrap();
        let ok = json!({"_id": "dir::x", "virtual_path": "/x", "mounts": [{"a": 1}], "enforce_steps_on_children": true});
        assert_eq!(read_only_change(orig, ok.as_object().unwrap()), None);
        let bad = json!({"_id": "dir::x", "virtual_path": "/y", "mounts": []});
        assert!(
            read_only_change(orig, bad.as_object().unwrap())
                .unwrap()
                .contains("virtual_path")
        );
    }
}
