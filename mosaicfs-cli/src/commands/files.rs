//! `files search | stat | fetch`. Downloads stream to `PATH.part`, resume
//! with a `Range` request guarded by `If-Range`, and are renamed into place
//! once their size matches the file document.

use crate::Context;
use crate::cli::FilesCommand;
use crate::client::Client;
use crate::error::{CliError, Result, chain};
use crate::output::{human_size, size, text, when};
use futures_util::StreamExt;
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

/// Runs a `files` command.
pub async fn run(ctx: &Context, c: FilesCommand) -> Result<()> {
    let client = ctx.client()?;
    match c {
        FilesCommand::Search {
            query,
            labels,
            limit,
        } => search(ctx, &client, query, labels, limit).await,
        FilesCommand::Stat { file_id } => {
            let id = resolve_file(&client, &file_id).await?;
            stat(ctx, &client, &id).await
        }
        FilesCommand::Fetch {
            file_id,
            output,
            force,
        } => {
            let id = resolve_file(&client, &file_id).await?;
            fetch(ctx, &client, &id, output, force).await
        }
    }
}

/// The file id a command argument names: a `file::…` id as it is, or the
/// file at a virtual path (`/documents/report.pdf`), looked up in its
/// directory's listing.
pub async fn resolve_file(client: &Client, arg: &str) -> Result<String> {
    if arg.starts_with("file::") {
        return Ok(arg.to_string());
    }
    if !arg.starts_with('/') {
        return Err(CliError::Usage(format!(
            "{arg:?} is neither a file id (file::…) nor an absolute virtual path (/documents/report.pdf)"
        )));
    }
    let path = arg.trim_end_matches('/');
    let (parent, name) = match path.rsplit_once('/') {
        Some((p, n)) if !n.is_empty() => (if p.is_empty() { "/" } else { p }, n),
        _ => {
            return Err(CliError::Usage(format!(
                "{arg:?} names a directory, not a file (list it with `mosaicfs-cli vfs ls {arg}`)"
            )));
        }
    };
    let listing = client
        .get_json(&["api", "vfs"], &[("path", parent)])
        .await?;
    let named: Vec<&Value> = listing
        .get("entries")
        .and_then(Value::as_array)
        .map(|es| {
            es.iter()
                .filter(|e| e.get("name").and_then(Value::as_str) == Some(name))
                .collect()
        })
        .unwrap_or_default();
    // Only an entry without `name_bytes` is named exactly by this text; one
    // with it is a name that is not UTF-8 on disk, shown lossily (several
    // such names can show as the same text).
    let entry = named.iter().find(|e| e.get("name_bytes").is_none());
    match entry {
        None if !named.is_empty() => Err(CliError::NotFound(format!(
            "{name:?} in {parent} is only the display form of {} name(s) that are not UTF-8 \
             on disk; name the file by its id (see `mosaicfs-cli vfs ls {parent}`)",
            named.len()
        ))),
        None => Err(CliError::NotFound(format!(
            "no entry {name:?} in {parent} (see `mosaicfs-cli vfs ls {parent}`)"
        ))),
        Some(e) => match e.get("file_id").and_then(Value::as_str) {
            Some(id) => Ok(id.to_string()),
            None => Err(CliError::Usage(format!(
                "{path} is a directory, not a file (list it with `mosaicfs-cli vfs ls {path}`)"
            ))),
        },
    }
}

async fn search(
    ctx: &Context,
    client: &Client,
    query: Option<String>,
    labels: Vec<String>,
    limit: usize,
) -> Result<()> {
    if query.is_none() && labels.is_empty() {
        return Err(CliError::Usage(
            "give a search text, a --label, or both (e.g. `mosaicfs-cli files search report`)"
                .into(),
        ));
    }
    let mut q: Vec<(&str, &str)> = Vec::new();
    if let Some(text) = &query {
        q.push(("q", text));
    }
    for l in &labels {
        q.push(("label", l));
    }
    let items = client
        .list_all(&["api", "search"], &q, limit.max(1))
        .await?;
    if ctx.out.json {
        return ctx.out.json(&Value::Array(items));
    }
    if items.is_empty() {
        ctx.out.note("No files match.");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|f| {
            vec![
                text(f.get("id")),
                size(f.get("size")),
                when(f.get("mtime")),
                text(f.get("node_id")),
                text(f.get("export_path")),
            ]
        })
        .collect();
    ctx.out
        .table(&["ID", "SIZE", "MODIFIED", "NODE", "PATH"], &rows)?;
    if items.len() == limit {
        ctx.out
            .note(&format!("(first {limit} results; raise --limit for more)"));
    }
    Ok(())
}

async fn stat(ctx: &Context, client: &Client, file_id: &str) -> Result<()> {
    let doc = client.get_json(&["api", "files", file_id], &[]).await?;
    if ctx.out.json {
        return ctx.out.json(&doc);
    }
    // Labels are a nicety for people: a failure leaves them out.
    let labels = client
        .get_json(&["api", "labels", "effective"], &[("file_id", file_id)])
        .await
        .ok()
        .and_then(|l| l.get("labels").and_then(Value::as_array).cloned())
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "-".into());
    let src = doc.get("source");
    let bytes = doc.get("size").and_then(Value::as_u64).unwrap_or(0);
    ctx.out.fields(&[
        ("id", text(doc.get("_id"))),
        ("name", text(doc.get("name"))),
        ("node", text(src.and_then(|s| s.get("node_id")))),
        ("path", text(src.and_then(|s| s.get("export_path")))),
        ("size", format!("{} ({bytes} bytes)", human_size(bytes))),
        (
            "modified",
            format!("{} ({})", when(doc.get("mtime")), text(doc.get("mtime"))),
        ),
        ("type", text(doc.get("mime_type"))),
        ("status", text(doc.get("status"))),
        ("inode", text(doc.get("inode"))),
        ("labels", labels),
        ("indexed", when(doc.get("created_at"))),
        ("updated", when(doc.get("updated_at"))),
    ])
}

/// A file name safe to create in the current directory: the document's
/// name, or the id when the name is empty or could leave the directory.
fn local_name(doc: &Value, file_id: &str) -> String {
    let name = doc.get("name").and_then(Value::as_str).unwrap_or("");
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        file_id.replace("::", "-")
    } else {
        name.to_string()
    }
}

/// Where the download goes: `--output` as a file, or inside it when it is
/// a directory (or ends in `/`), else the file's name here.
fn target_path(output: Option<PathBuf>, name: &str) -> PathBuf {
    match output {
        None => PathBuf::from(name),
        Some(p) if p.is_dir() || p.as_os_str().to_string_lossy().ends_with('/') => p.join(name),
        Some(p) => p,
    }
}

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn progress_bar(ctx: &Context, total: u64, start: u64) -> Option<indicatif::ProgressBar> {
    if ctx.out.quiet || ctx.out.json || !std::io::stderr().is_terminal() {
        return None;
    }
    let pb = indicatif::ProgressBar::new(total);
    let style = indicatif::ProgressStyle::with_template(
        "{wide_bar} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
    )
    .ok()?;
    pb.set_style(style);
    pb.set_position(start);
    Some(pb)
}

async fn fetch(
    ctx: &Context,
    client: &Client,
    file_id: &str,
    output: Option<PathBuf>,
    force: bool,
) -> Result<()> {
    let doc = client.get_json(&["api", "files", file_id], &[]).await?;
    let expected = doc
        .get("size")
        .and_then(Value::as_u64)
        .ok_or_else(|| CliError::Server(format!("the document of {file_id} has no size")))?;
    let target = target_path(output, &local_name(&doc, file_id));
    if target.exists() && !force {
        return Err(CliError::Invalid(format!(
            "{} already exists; pass --force to overwrite it or --output to choose another path",
            target.display()
        )));
    }
    let part = with_suffix(&target, ".part");
    let etag_path = with_suffix(&target, ".part.etag");

    // Resume only what can be resumed: a shorter partial file whose ETag is
    // known. If-Range makes the server send the whole file instead when the
    // file changed since.
    let have = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
    let stored_etag = std::fs::read_to_string(&etag_path)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    let resume = match &stored_etag {
        Some(tag) if have > 0 && have < expected => Some((have, tag.clone())),
        _ => None,
    };
    let url = client.url(&["api", "files", file_id, "content"]);
    let mut rb = client.request(Method::GET, url);
    if let Some((offset, tag)) = &resume {
        rb = rb
            .header(header::RANGE, format!("bytes={offset}-"))
            .header(header::IF_RANGE, tag);
    }
    let resp = client.send(rb).await?;
    let offset = match (resp.status(), &resume) {
        (StatusCode::PARTIAL_CONTENT, Some((offset, _))) => {
            let starts_at = resp
                .headers()
                .get(header::CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("bytes "))
                .and_then(|v| v.split('-').next())
                .and_then(|v| v.parse::<u64>().ok());
            if starts_at != Some(*offset) {
                return Err(CliError::Server(format!(
                    "the server answered a different range than asked for (Content-Range {starts_at:?}, asked from {offset}); delete {} and retry",
                    part.display()
                )));
            }
            ctx.out.note(&format!(
                "Resuming {} at {} of {}.",
                target.display(),
                human_size(*offset),
                human_size(expected)
            ));
            *offset
        }
        (StatusCode::OK, Some(_)) => {
            ctx.out
                .note("The file changed on the server since the partial download; starting over.");
            0
        }
        (StatusCode::OK, None) => 0,
        (s, _) => {
            return Err(CliError::Server(format!(
                "unexpected answer {s} to the download request"
            )));
        }
    };
    if let Some(tag) = resp
        .headers()
        .get(header::ETAG)
        .and_then(|v| v.to_str().ok())
    {
        crate::config::write_atomic(&etag_path, tag.as_bytes(), 0o600)?;
    }
    let mut file = if offset > 0 {
        tokio::fs::OpenOptions::new().append(true).open(&part).await
    } else {
        tokio::fs::File::create(&part).await
    }
    .map_err(CliError::io(format!("opening {}", part.display())))?;

    let pb = progress_bar(ctx, expected, offset);
    let mut written = offset;
    let mut stream = resp.bytes_stream();
    let interrupted = |written: u64, detail: String| {
        CliError::Server(format!(
            "the download stopped after {} of {} ({detail}); run the same command again to resume",
            human_size(written),
            human_size(expected)
        ))
    };
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                let _ = file.flush().await;
                if let Some(pb) = &pb {
                    pb.abandon();
                }
                return Err(interrupted(written, chain(&e)));
            }
        };
        file.write_all(&chunk)
            .await
            .map_err(CliError::io(format!("writing {}", part.display())))?;
        written += chunk.len() as u64;
        if let Some(pb) = &pb {
            pb.set_position(written);
        }
    }
    file.flush()
        .await
        .map_err(CliError::io(format!("writing {}", part.display())))?;
    file.sync_all()
        .await
        .map_err(CliError::io(format!("writing {}", part.display())))?;
    drop(file);
    if let Some(pb) = &pb {
        pb.finish_and_clear();
    }

    let got = std::fs::metadata(&part)
        .map(|m| m.len())
        .map_err(CliError::io(format!("reading {}", part.display())))?;
    if got != expected {
        if got > expected {
            let _ = std::fs::remove_file(&part);
            let _ = std::fs::remove_file(&etag_path);
        }
        return Err(interrupted(
            got.min(expected),
            format!("received {got} bytes, the file document says {expected}"),
        ));
    }
    std::fs::rename(&part, &target).map_err(CliError::io(format!(
        "renaming {} to {}",
        part.display(),
        target.display()
    )))?;
    let _ = std::fs::remove_file(&etag_path);

    if ctx.out.json {
        return ctx.out.json(&json!({
            "file_id": file_id,
            "path": target,
            "size": got,
            "resumed_from": offset,
            "verified": "size",
        }));
    }
    if ctx.out.quiet {
        return Ok(());
    }
    ctx.out.line(&format!(
        "Saved {} ({}{}).",
        target.display(),
        human_size(got),
        if offset > 0 {
            format!(", resumed at {}", human_size(offset))
        } else {
            String::new()
        }
    ))?;
    ctx.out.note(
        "Size verified against the file document; the server keeps no content hash yet, so the bytes themselves are not verified.",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_names_never_leave_the_directory() {
        let id = "file::0190c0de5b6f7a3e8c1d2e3f4a5b6c7d";
        let check = |name: &str, want: &str| {
            assert_eq!(local_name(&json!({"name": name}), id), want, "{name:?}")
        };
        check("report.pdf", "report.pdf");
        check("", "file-0190c0de5b6f7a3e8c1d2e3f4a5b6c7d");
        check("..", "file-0190c0de5b6f7a3e8c1d2e3f4a5b6c7d");
        check("a/b", "file-0190c0de5b6f7a3e8c1d2e3f4a5b6c7d");
    }

    #[test]
    fn targets() {
        assert_eq!(target_path(None, "a.txt"), PathBuf::from("a.txt"));
        assert_eq!(
            target_path(Some("out/".into()), "a.txt"),
            PathBuf::from("out/a.txt")
        );
        assert_eq!(
            target_path(Some("b.txt".into()), "a.txt"),
            PathBuf::from("b.txt")
        );
        assert_eq!(
            with_suffix(Path::new("x/a.txt"), ".part"),
            PathBuf::from("x/a.txt.part")
        );
    }
}
