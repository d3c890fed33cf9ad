//! Writes crawl results to CouchDB in `_bulk_docs` batches and resolves
//! per-document failures: a conflict is re-read and re-applied, any other
//! error is retried with the retry policy and, if it persists, reported.
//! Nothing is dropped silently.

use super::Observed;
use super::index::{FileIndex, IndexEntry};
use mosaicfs_common::couch::{BulkResult, CouchClient, CouchError};
use mosaicfs_common::documents::{FileDoc, FileSource, FileStatus};
use mosaicfs_common::retry::RetryPolicy;
use mosaicfs_common::{ids, time};
use serde_json::{Map, Value, json};
use std::collections::HashMap;

/// One pending change.
#[derive(Debug, Clone)]
pub enum Op {
    /// A file that is new, changed, or back after being deleted.
    Upsert {
        /// What is on disk.
        file: Observed,
        /// The existing document, if any.
        id: Option<String>,
    },
    /// A file that is gone.
    Delete {
        /// Path key.
        key: Vec<u8>,
        /// The document.
        id: String,
    },
}

impl Op {
    pub(crate) fn key(&self) -> &[u8] {
        match self {
            Op::Upsert { file, .. } => &file.key,
            Op::Delete { key, .. } => key,
        }
    }
}

/// What happened to a batch.
#[derive(Debug, Default)]
pub struct FlushResult {
    /// Documents written.
    pub written: usize,
    /// Documents that still failed after every retry.
    pub failed: usize,
    /// Conflicts resolved by re-reading and re-applying.
    pub conflicts: usize,
}

/// Batch writer for one node's file documents.
pub struct Writer<'a> {
    pub(super) db: &'a CouchClient,
    pub(super) node_id: &'a str,
    pub(super) retry: RetryPolicy,
    pub(super) generation: u32,
    pub(super) hook: Option<&'a super::BeforeWriteHook>,
}

impl Writer<'_> {
    /// Writes `ops` and records the new state of each written document in
    /// `index`. Errors only when CouchDB cannot be reached at all.
    pub async fn flush(
        &self,
        ops: Vec<Op>,
        index: &mut FileIndex,
    ) -> Result<FlushResult, CouchError> {
        let mut result = FlushResult::default();
        // Documents we hold for each op; new files get their id here, once,
        // so a retry never creates a second document for the same file.
        let mut pending: Vec<(Op, Option<Value>)> = Vec::with_capacity(ops.len());
        let existing: Vec<String> = ops
            .iter()
            .filter_map(|op| match op {
                Op::Upsert { id: Some(id), .. } | Op::Delete { id, .. } => Some(id.clone()),
                Op::Upsert { id: None, .. } => None,
            })
            .collect();
        let mut stored = self.fetch(&existing).await?;
        for op in ops {
            let cur = match &op {
                Op::Upsert { id: Some(id), .. } | Op::Delete { id, .. } => stored.remove(id),
                Op::Upsert { id: None, .. } => None,
            };
            pending.push((op, cur));
        }

        let mut attempt = 0u32;
        while !pending.is_empty() {
            attempt += 1;
            let docs: Vec<Value> = pending
                .iter_mut()
                .map(|(op, cur)| self.build(op, cur.take()))
                .collect();
            if let Some(hook) = self.hook {
                let ids = docs
                    .iter()
                    .filter_map(|d| d.get("_id").and_then(Value::as_str).map(str::to_owned))
                    .collect();
                hook(ids).await;
            }
            // Match answers to documents by id: CouchDB keeps the request
            // order, but not every CouchDB-protocol server does.
            let mut by_id: HashMap<String, BulkResult> = self
                .db
                .bulk_docs(&docs)
                .await?
                .into_iter()
                .map(|r| (r.id.clone(), r))
                .collect();
            let results: Vec<BulkResult> = docs
                .iter()
                .map(|d| {
                    let id = d.get("_id").and_then(Value::as_str).unwrap_or_default();
                    by_id.remove(id).unwrap_or_else(|| BulkResult {
                        id: id.to_string(),
                        rev: None,
                        error: Some("missing_result".into()),
                        reason: Some("the server did not answer for this document".into()),
                    })
                })
                .collect();
            let mut retry: Vec<(Op, Option<Value>)> = Vec::new();
            let mut conflicted: Vec<String> = Vec::new();
            let mut last_error = String::new();
            for ((op, _), (doc, res)) in pending.drain(..).zip(docs.into_iter().zip(results)) {
                if res.is_ok() {
                    if let Ok(file) = serde_json::from_value::<FileDoc>(doc) {
                        let mut entry: IndexEntry = super::index::entry_of(&file);
                        entry.seen_gen = self.generation;
                        index.insert(op.key().to_vec(), entry);
                    }
                    index.writes += 1;
                    result.written += 1;
                    continue;
                }
                let error = res.error.unwrap_or_default();
                let reason = res.reason.unwrap_or_default();
                let id = doc
                    .get("_id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                if error == "conflict" {
                    // Someone else wrote the document (or an earlier attempt
                    // of ours landed): re-read it and re-apply our fields.
                    conflicted.push(id.clone());
                    result.conflicts += 1;
                    tracing::debug!(node_id = self.node_id, file_id = %id, operation = "crawl_write",
                        "conflict; re-reading and re-applying");
                    retry.push((with_id(op, &id), None));
                } else if self.retry.allows(attempt) {
                    tracing::warn!(node_id = self.node_id, file_id = %id, error = %error,
                        reason = %reason, attempt, operation = "crawl_write",
                        "document write failed, will retry");
                    last_error = format!("{error}: {reason}");
                    retry.push((with_id(op, &id), Some(doc)));
                } else {
                    result.failed += 1;
                    tracing::error!(node_id = self.node_id, file_id = %id,
                        path = %String::from_utf8_lossy(op.key()), error = %error, reason = %reason,
                        operation = "crawl_write", "document write failed permanently");
                }
            }
            if !conflicted.is_empty() {
                let mut fresh = self.fetch(&conflicted).await?;
                for (op, cur) in retry.iter_mut() {
                    if let Some(id) = op_id(op)
                        && let Some(doc) = fresh.remove(id)
                    {
                        *cur = Some(doc);
                    }
                }
            }
            if !last_error.is_empty() {
                tokio::time::sleep(self.retry.delay(attempt - 1)).await;
            }
            if attempt > 50 {
                // A document that conflicts on every attempt: give up on it.
                result.failed += retry.len();
                for (op, _) in &retry {
                    tracing::error!(node_id = self.node_id, path = %String::from_utf8_lossy(op.key()),
                        operation = "crawl_write", "document kept conflicting; not written");
                }
                break;
            }
            pending = retry;
        }
        Ok(result)
    }

    async fn fetch(&self, ids: &[String]) -> Result<HashMap<String, Value>, CouchError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows = self.db.all_docs_keys(ids, true).await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| r.doc.filter(Value::is_object).map(|d| (r.id, d)))
            .collect())
    }

    /// The document to write for `op`, built on the stored one when there is
    /// one so that fields we do not own survive.
    fn build(&self, op: &mut Op, stored: Option<Value>) -> Value {
        let now = time::now();
        match op {
            Op::Upsert { file, id } => match stored {
                Some(mut doc) if doc.is_object() => {
                    if let Some(o) = doc.as_object_mut() {
                        apply_observed(o, file, self.node_id);
                        o.insert("status".into(), json!("active"));
                        o.remove("deleted_at");
                        o.insert("updated_at".into(), json!(time::format(&now)));
                    }
                    doc
                }
                _ => {
                    // New file, or a retry of a failed write of a new file: keep
                    // the id chosen the first time.
                    let new_id = id.get_or_insert_with(ids::new_file_id).clone();
                    let doc = FileDoc {
                        id: new_id,
                        rev: None,
                        doc_type: Default::default(),
                        inode: ids::new_inode(),
                        name: file.name.clone(),
                        source: FileSource {
                            node_id: self.node_id.to_string(),
                            export_path: file.export_path.clone(),
                            export_parent: file.export_parent.clone(),
                            export_path_bytes: file.export_path_bytes.clone(),
                            extra: Map::new(),
                        },
                        size: file.size,
                        mtime: file.mtime,
                        mime_type: file.mime_type.clone(),
                        status: FileStatus::Active,
                        deleted_at: None,
                        created_at: Some(now),
                        updated_at: Some(now),
                        migrated_from: None,
                        extra: Map::new(),
                    };
                    serde_json::to_value(doc).unwrap_or(Value::Null)
                }
            },
            Op::Delete { id, .. } => {
                let mut doc = stored.unwrap_or_else(|| json!({ "_id": id }));
                if let Some(o) = doc.as_object_mut() {
                    o.insert("status".into(), json!("deleted"));
                    o.insert("deleted_at".into(), json!(time::format(&now)));
                    o.insert("updated_at".into(), json!(time::format(&now)));
                }
                doc
            }
        }
    }
}

fn op_id(op: &Op) -> Option<&str> {
    match op {
        Op::Upsert { id, .. } => id.as_deref(),
        Op::Delete { id, .. } => Some(id),
    }
}

fn with_id(op: Op, id: &str) -> Op {
    match op {
        Op::Upsert { file, id: None } if !id.is_empty() => Op::Upsert {
            file,
            id: Some(id.to_string()),
        },
        other => other,
    }
}

fn apply_observed(o: &mut Map<String, Value>, file: &Observed, node_id: &str) {
    o.insert("type".into(), json!("file"));
    o.insert("name".into(), json!(file.name));
    o.insert("size".into(), json!(file.size));
    o.insert("mtime".into(), json!(time::format(&file.mtime)));
    match &file.mime_type {
        Some(m) => o.insert("mime_type".into(), json!(m)),
        None => o.remove("mime_type"),
    };
    if !o.get("inode").is_some_and(Value::is_u64) {
        o.insert("inode".into(), json!(ids::new_inode()));
    }
    let source = o
        .entry("source")
        .or_insert_with(|| Value::Object(Map::new()));
    if !source.is_object() {
        *source = Value::Object(Map::new());
    }
    if let Some(s) = source.as_object_mut() {
        s.insert("node_id".into(), json!(node_id));
        s.insert("export_path".into(), json!(file.export_path));
        s.insert("export_parent".into(), json!(file.export_parent));
        match &file.export_path_bytes {
            Some(b) => s.insert("export_path_bytes".into(), json!(b)),
            None => s.remove("export_path_bytes"),
        };
    }
}
