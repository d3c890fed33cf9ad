//! `system backup | restore`. A backup streams to `FILE.part` (mode 0600:
//! it holds credential hashes and signing keys), is checked to be complete
//! JSON with a `docs` array, then renamed into place, so `FILE` is never a
//! half-written backup. A restore uploads the file with a progress bar and
//! prints the server's `{restored_count, errors}`.

use crate::Context;
use crate::cli::BackupType;
use crate::error::{CliError, Result, chain};
use crate::output::human_size;
use futures_util::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

fn bar(ctx: &Context, total: Option<u64>) -> Option<indicatif::ProgressBar> {
    if ctx.out.quiet || ctx.out.json || !std::io::stderr().is_terminal() {
        return None;
    }
    let (pb, template) = match total {
        Some(t) => (
            indicatif::ProgressBar::new(t),
            "{wide_bar} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
        ),
        None => (
            indicatif::ProgressBar::new_spinner(),
            "{spinner} {bytes} {binary_bytes_per_sec} {elapsed}",
        ),
    };
    pb.set_style(indicatif::ProgressStyle::with_template(template).ok()?);
    Some(pb)
}

fn part_path(target: &Path) -> PathBuf {
    let mut s = target.as_os_str().to_owned();
    s.push(".part");
    PathBuf::from(s)
}

/// How many documents a backup file holds, or why it is not a complete one.
fn count_docs(path: &Path) -> std::result::Result<usize, String> {
    #[derive(serde::Deserialize)]
    struct Backup {
        docs: Vec<serde::de::IgnoredAny>,
    }
    let f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let b: Backup = serde_json::from_reader(std::io::BufReader::with_capacity(1 << 20, f))
        .map_err(|e| e.to_string())?;
    Ok(b.docs.len())
}

/// `system backup`.
pub async fn backup(ctx: &Context, kind: BackupType, output: PathBuf, force: bool) -> Result<()> {
    if output.exists() && !force {
        return Err(CliError::Usage(format!(
            "{} exists; use --force to replace it",
            output.display()
        )));
    }
    let client = ctx.client()?;
    let kind = match kind {
        BackupType::Minimal => "minimal",
        BackupType::Full => "full",
    };
    let rb = client
        .request(Method::GET, client.url(&["api", "system", "backup"]))
        .query(&[("type", kind)]);
    let resp = client.send(rb).await?;
    let part = part_path(&output);
    let mut opts = tokio::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    opts.mode(0o600);
    let mut file = opts
        .open(&part)
        .await
        .map_err(CliError::io(format!("creating {}", part.display())))?;
    let pb = bar(ctx, resp.content_length());
    let mut written = 0u64;
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            if let Some(pb) = &pb {
                pb.abandon();
            }
            let _ = std::fs::remove_file(&part);
            CliError::Server(format!(
                "the backup stopped after {} ({}); nothing was written to {}",
                human_size(written),
                chain(&e),
                output.display()
            ))
        })?;
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
    let part2 = part.clone();
    let counted = tokio::task::spawn_blocking(move || count_docs(&part2))
        .await
        .map_err(|e| CliError::Local(e.to_string()))?;
    let docs = match counted {
        Ok(n) => n,
        Err(e) => {
            let _ = std::fs::remove_file(&part);
            return Err(CliError::Server(format!(
                "the server sent an incomplete backup ({e}); nothing was written to {}",
                output.display()
            )));
        }
    };
    std::fs::rename(&part, &output).map_err(CliError::io(format!(
        "renaming {} to {}",
        part.display(),
        output.display()
    )))?;
    if let Some(dir) = output.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    if ctx.out.json {
        return ctx.out.json(&json!({
            "type": kind, "path": output, "documents": docs, "bytes": written,
        }));
    }
    if ctx.out.quiet {
        return ctx.out.line(&output.display().to_string());
    }
    ctx.out.line(&format!(
        "{kind} backup: {docs} documents, {} written to {}",
        human_size(written),
        output.display()
    ))
}

/// `system restore`.
pub async fn restore(ctx: &Context, file: PathBuf) -> Result<()> {
    let bytes =
        std::fs::read(&file).map_err(CliError::io(format!("reading {}", file.display())))?;
    let total = bytes.len() as u64;
    let client = ctx.client()?;
    let pb = bar(ctx, Some(total));
    let pb2 = pb.clone();
    const CHUNK: usize = 1 << 20;
    let chunks: Vec<Vec<u8>> = bytes.chunks(CHUNK).map(<[u8]>::to_vec).collect();
    drop(bytes);
    let stream = futures_util::stream::iter(chunks).map(move |c| {
        if let Some(pb) = &pb2 {
            pb.inc(c.len() as u64);
        }
        Ok::<_, std::io::Error>(c)
    });
    let rb = client
        .request(Method::POST, client.url(&["api", "system", "restore"]))
        .header("content-type", "application/json")
        .header("content-length", total)
        .body(reqwest::Body::wrap_stream(stream));
    let result = client.send(rb).await;
    if let Some(pb) = &pb {
        pb.finish_and_clear();
    }
    let answer: Value = crate::client::json_of(result?).await?;
    if ctx.out.json {
        return ctx.out.json(&answer);
    }
    let n = answer
        .get("restored_count")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    if !ctx.out.quiet {
        ctx.out
            .line(&format!("restored {n} documents from {}", file.display()))?;
    }
    for e in answer
        .get("errors")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        ctx.out.note(&format!(
            "{}: {}",
            e.get("id").and_then(Value::as_str).unwrap_or("?"),
            e.get("message").and_then(Value::as_str).unwrap_or("")
        ));
    }
    if !ctx.out.quiet {
        ctx.out.note(
            "Restart every agent so that it reconnects and crawls again (see `mosaicfs-cli nodes list`).",
        );
    }
    Ok(())
}
