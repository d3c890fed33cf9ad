//! Backup, restore and the developer-mode wipe (plan 8.1–8.3).
//!
//! - `GET /api/system/backup?type=minimal|full` streams `{"docs": [...]}`
//!   page by page from `_all_docs` (a producer task fetches the next page
//!   while the previous one is sent), so memory stays flat however large
//!   the database is. Each document is read whole, so a backup taken while
//!   agents write is consistent per document (not across documents).
//! - `POST /api/system/restore` reads the whole body (up to
//!   `--max-restore-bytes`), checks every document (`crate::backup`) before
//!   the first write, refuses a database that holds anything but design
//!   documents, the seeded root directory and credentials, then writes in
//!   batches with the documents' own revisions (`new_edits: false`).
//! - `DELETE /api/system/data` (only with `--developer-mode`) deletes every
//!   document except design documents and credentials.

use crate::auth::User;
use crate::backup::{self, BackupKind, Checked, Write};
use crate::error::{ApiError, ApiResult};
use crate::extract::Query;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use mosaicfs_common::couch::CouchClient;
use mosaicfs_common::documents::{CONTROL_UPDATED_AT, merge_node_revisions};
use mosaicfs_common::ids;
use mosaicfs_common::retry::RetryPolicy;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Instant;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The backup routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(backup))
        .routes(routes!(restore, readiness))
        .routes(routes!(wipe))
}

/// Documents per `_all_docs` page of a backup.
const BACKUP_PAGE: usize = 1000;
/// Documents per `_bulk_docs` request of a restore.
const RESTORE_BATCH: usize = 1000;
/// `_bulk_docs` requests of a restore in flight at once.
const RESTORE_IN_FLIGHT: usize = 2;

/// Query of `GET /api/system/backup`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct BackupParams {
    /// `minimal` (what only the control plane holds, secrets redacted) or
    /// `full` (every document).
    #[serde(rename = "type")]
    #[param(inline)]
    pub kind: BackupKind,
}

/// Streams a backup as a `_bulk_docs` JSON attachment.
#[utoipa::path(get, path = "/api/system/backup", tag = "system", security(("bearer" = [])),
    params(BackupParams),
    responses((status = 200, content_type = "application/json", body = Object,
        description = "`{\"docs\": [...]}`, as an attachment"),
        (status = 400, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody)))]
async fn backup(
    _: User,
    State(state): State<AppState>,
    Query(p): Query<BackupParams>,
) -> ApiResult<Response> {
    // Fail before the 200 if the database is not there.
    let first = state.db.all_docs_after(None, BACKUP_PAGE, true).await?;
    let kind = p.kind;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(2);
    let db = state.db.clone();
    tokio::spawn(async move {
        let started = Instant::now();
        let mut rows = first;
        let mut written = 0usize;
        let mut buf = b"{\"docs\":[".to_vec();
        loop {
            let last = rows.last().map(|r| r.id.clone());
            let full_page = rows.len() == BACKUP_PAGE;
            // Fetch the next page while this one is being sent.
            let next = match (&last, full_page) {
                (Some(id), true) => {
                    let db = db.clone();
                    let id = id.clone();
                    Some(tokio::spawn(async move {
                        db.all_docs_after(Some(&id), BACKUP_PAGE, true).await
                    }))
                }
                _ => None,
            };
            for mut doc in rows.into_iter().filter_map(|r| r.doc) {
                // A node document written by both sides at once may be in
                // conflict, and the winner may lack the control plane's
                // latest fields (a network mount just added): back up the
                // ownership merge, as every reader of node documents does.
                // (Minimal only: its node documents are partial and carry
                // no revision; a full backup keeps each winner as stored.)
                if kind == BackupKind::Minimal
                    && let Some(id) = doc.get("_id").and_then(Value::as_str)
                    && id.starts_with(ids::NODE_PREFIX)
                {
                    match db.get_merged(id, merge_node_revisions).await {
                        Ok(Some(m)) => doc = m,
                        Ok(None) => continue,
                        Err(e) => {
                            tracing::error!(operation = "backup", error = %e, "backup failed; the download ends truncated");
                            let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                            return;
                        }
                    }
                    if let Some(o) = doc.as_object_mut() {
                        o.remove("_conflicts");
                    }
                }
                if let Some(doc) = backup::for_backup(kind, doc) {
                    if written > 0 {
                        buf.push(b',');
                    }
                    buf.push(b'\n');
                    // A Value always serializes.
                    let _ = serde_json::to_writer(&mut buf, &doc);
                    written += 1;
                }
            }
            let Some(next) = next else { break };
            if tx.send(Ok(std::mem::take(&mut buf).into())).await.is_err() {
                tracing::warn!(
                    operation = "backup",
                    "the client went away; backup abandoned"
                );
                return;
            }
            rows = match next.await {
                Ok(Ok(rows)) => rows,
                Ok(Err(e)) => {
                    // Ending the body early makes the file truncated, which
                    // every reader (the CLI, a restore) detects.
                    tracing::error!(operation = "backup", error = %e, documents = written,
                        "backup failed; the download ends truncated");
                    let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                    return;
                }
                Err(e) => {
                    let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                    return;
                }
            };
        }
        buf.extend_from_slice(b"\n]}\n");
        let _ = tx.send(Ok(buf.into())).await;
        tracing::info!(
            operation = "backup",
            kind = kind.as_str(),
            documents = written,
            duration_ms = started.elapsed().as_millis() as u64,
            "backup sent"
        );
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let disposition = format!(
        "attachment; filename=\"mosaicfs-backup-{}-{stamp}.json\"",
        kind.as_str()
    );
    let mut resp = Body::from_stream(stream).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

/// A problem with one document that did not stop the restore.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RestoreIssue {
    /// The document.
    pub id: String,
    /// `redacted` (a secret setting must be entered again) or the
    /// database's error for a write that failed (`conflict`, …).
    pub error: String,
    /// A sentence.
    pub message: String,
}

/// The answer of `POST /api/system/restore`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RestoreResult {
    /// Documents written (or already present from an interrupted run of
    /// the same restore).
    pub restored_count: usize,
    /// Documents that need attention.
    pub errors: Vec<RestoreIssue>,
}

/// Whether a document may be in the database when a restore starts: the
/// server's own seeds (design documents, the root directory) and
/// credentials (the one the caller logged in with).
fn is_seed(id: &str) -> bool {
    id.starts_with("_design/") || id == ids::ROOT_DIR_ID || id.starts_with(ids::CREDENTIAL_PREFIX)
}

/// Whether a document belongs to what agents (or the server's own checks)
/// write and replicate by themselves: files, status, utilization,
/// annotations, node documents and notifications. An agent's CouchDB keeps
/// replicating to the control plane whether or not the agent runs, so these
/// can arrive in a fresh database before the restore; they do not make it
/// "not empty", and the agent's copy, being current, wins over the
/// backup's.
fn is_agent_owned(id: &str) -> bool {
    [
        ids::FILE_PREFIX,
        ids::STATUS_PREFIX,
        ids::UTILIZATION_PREFIX,
        ids::ANNOTATION_PREFIX,
        ids::NODE_PREFIX,
        ids::NOTIFICATION_PREFIX,
    ]
    .iter()
    .any(|p| id.starts_with(p))
}

/// Restores a backup into an empty database.
#[utoipa::path(post, path = "/api/system/restore", tag = "system", security(("bearer" = [])),
    request_body(content = Object, content_type = "application/json",
        description = "a backup file: `{\"docs\": [...]}`"),
    responses((status = 200, body = RestoreResult),
        (status = 400, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody), (status = 413, body = crate::error::ErrorBody),
        (status = 415, body = crate::error::ErrorBody), (status = 503, body = crate::error::ErrorBody)))]
async fn restore(
    user: User,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<axum::Json<RestoreResult>> {
    let started = Instant::now();
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return Err(ApiError {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code: "unsupported_media_type",
            message: "the body must be a backup file with Content-Type: application/json".into(),
            retry_after: None,
        });
    }
    let limit = state.config.max_restore_bytes;
    let bytes = http_body_util::Limited::new(body, limit)
        .collect()
        .await
        .map_err(|e| {
            if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
                ApiError::too_large(format!(
                    "the backup is larger than {limit} bytes (the server's --max-restore-bytes); nothing was restored"
                ))
            } else {
                ApiError::bad_request(format!("cannot read the body: {e}"))
            }
        })?
        .to_bytes();
    let max_docs = state.config.max_restore_documents;
    // Checking is CPU work on up to hundreds of MB: off the async threads.
    let (bytes, checked) = tokio::task::spawn_blocking(move || {
        let r = backup::check_all(&bytes, max_docs);
        (bytes, r)
    })
    .await
    .map_err(ApiError::internal)?;
    let checked = checked.map_err(|e| {
        tracing::warn!(operation = "restore", error = %e, "restore refused");
        ApiError::bad_request(e.to_string())
    })?;
    let db = state.db.clone().with_retry(RetryPolicy::standard(Some(3)));
    let plan = plan_writes(&db, &checked).await?;
    let mut errors = Vec::new();
    for c in &checked {
        for k in &c.redacted {
            errors.push(RestoreIssue {
                id: c.id.clone(),
                error: "redacted".into(),
                message: format!("setting `{k}` was redacted in the backup; enter it again"),
            });
        }
    }
    let mut restored = plan.already + plan.kept;
    let total = checked.len();
    // Seeds that the backup replaces: delete them first, so the backup's
    // revision wins (a deleted leaf never wins over a live one).
    if !plan.replace.is_empty() {
        let deletions: Vec<Value> = plan
            .replace
            .iter()
            .map(|(id, rev)| json!({"_id": id, "_rev": rev, "_deleted": true}))
            .collect();
        for r in db.bulk_docs(&deletions).await? {
            if !r.is_ok() {
                return Err(ApiError::conflict(format!(
                    "document {:?} changed while the restore started; try again",
                    r.id
                )));
            }
        }
    }
    let parse = |c: &Checked| -> Value {
        // Checked before: this parse cannot fail.
        let mut doc: Value = serde_json::from_slice(&bytes[c.range.clone()]).unwrap_or(Value::Null);
        if (plan.over_tombstone.contains_key(&c.id) || c.write == Write::New)
            && let Some(o) = doc.as_object_mut()
        {
            o.remove("_rev");
        }
        doc
    };
    let replaced: HashMap<&str, ()> = plan
        .replace
        .iter()
        .map(|(id, _)| (id.as_str(), ()))
        .collect();
    {
        // The replaced seeds right after their deletion, so that the window
        // without them (the caller's own credential among them) is one
        // request long. Were it to fail, the bootstrap credential comes back
        // at the next server start.
        let (mut new, mut replicated) = (Vec::new(), Vec::new());
        for c in checked
            .iter()
            .filter(|c| replaced.contains_key(c.id.as_str()))
        {
            let doc = parse(c);
            if doc.get("_rev").is_some() {
                replicated.push(doc);
            } else {
                new.push(doc);
            }
        }
        for (docs, is_new) in [(replicated, false), (new, true)] {
            let n = docs.len();
            let failed = if is_new {
                db.bulk_docs(&docs)
                    .await?
                    .into_iter()
                    .filter(|r| !r.is_ok())
                    .collect()
            } else {
                db.bulk_docs_replicated(&docs).await?
            };
            restored += n - failed.len();
            errors.extend(failed.into_iter().map(issue));
        }
    }
    let mut batch_replicated = Vec::with_capacity(RESTORE_BATCH);
    let mut batch_new = Vec::new();
    let mut partial = Vec::new();
    let flush = |docs: Vec<Value>, new: bool| {
        let db = db.clone();
        tokio::spawn(async move {
            if new {
                db.bulk_docs(&docs)
                    .await
                    .map(|r| r.into_iter().filter(|r| !r.is_ok()).collect::<Vec<_>>())
            } else {
                db.bulk_docs_replicated(&docs).await
            }
            .map(|failed| (docs.len(), failed))
        })
    };
    let mid_write = |e: mosaicfs_common::couch::CouchError, restored: usize| {
        tracing::error!(operation = "restore", error = %e, restored, total,
            "the database failed during the restore");
        ApiError::unavailable(format!(
            "the database failed after {restored} of {total} documents were restored ({e}); \
             run the same restore again once the database is back: the documents already \
             written are recognised by id and revision and the restore continues from there"
        ))
    };
    // Batches are written RESTORE_IN_FLIGHT at a time: the next one is
    // prepared and sent while CouchDB writes the previous one.
    type Flight = tokio::task::JoinHandle<
        Result<
            (usize, Vec<mosaicfs_common::couch::BulkResult>),
            mosaicfs_common::couch::CouchError,
        >,
    >;
    let mut in_flight: std::collections::VecDeque<Flight> = std::collections::VecDeque::new();
    let mut failure: Option<mosaicfs_common::couch::CouchError> = None;
    async fn land(
        f: Flight,
        restored: &mut usize,
        errors: &mut Vec<RestoreIssue>,
        failure: &mut Option<mosaicfs_common::couch::CouchError>,
    ) {
        match f.await {
            Ok(Ok((n, failed))) => {
                *restored += n - failed.len();
                errors.extend(failed.into_iter().map(issue));
            }
            Ok(Err(e)) => {
                failure.get_or_insert(e);
            }
            Err(e) => {
                failure.get_or_insert(mosaicfs_common::couch::CouchError::Status {
                    operation: "bulk write".into(),
                    status: reqwest::StatusCode::INTERNAL_SERVER_ERROR,
                    error: "task".into(),
                    reason: e.to_string(),
                });
            }
        }
    }
    for c in checked
        .iter()
        .filter(|c| !plan.skip.contains_key(&c.id) && !replaced.contains_key(c.id.as_str()))
    {
        let doc = parse(c);
        match c.write {
            Write::PartialNode => partial.push(doc),
            _ if doc.get("_rev").is_none() => batch_new.push(doc),
            _ => batch_replicated.push(doc),
        }
        for new in [false, true] {
            let batch = if new {
                &mut batch_new
            } else {
                &mut batch_replicated
            };
            if batch.len() == RESTORE_BATCH {
                if in_flight.len() == RESTORE_IN_FLIGHT
                    && let Some(f) = in_flight.pop_front()
                {
                    land(f, &mut restored, &mut errors, &mut failure).await;
                }
                if let Some(e) = failure.take() {
                    while let Some(f) = in_flight.pop_front() {
                        land(f, &mut restored, &mut errors, &mut None).await;
                    }
                    return Err(mid_write(e, restored));
                }
                in_flight.push_back(flush(std::mem::take(batch), new));
            }
        }
    }
    for (docs, new) in [(batch_replicated, false), (batch_new, true)] {
        if !docs.is_empty() {
            in_flight.push_back(flush(docs, new));
        }
    }
    while let Some(f) = in_flight.pop_front() {
        land(f, &mut restored, &mut errors, &mut failure).await;
    }
    if let Some(e) = failure {
        return Err(mid_write(e, restored));
    }
    for doc in partial {
        merge_partial_node(&db, &doc)
            .await
            .map_err(|e| mid_write(e, restored))?;
        restored += 1;
    }
    tracing::info!(operation = "restore", access_key_id = %user.access_key_id, restored,
        total, errors = errors.len(), duration_ms = started.elapsed().as_millis() as u64,
        "restore finished");
    Ok(axum::Json(RestoreResult {
        restored_count: restored,
        errors,
    }))
}

fn issue(r: mosaicfs_common::couch::BulkResult) -> RestoreIssue {
    RestoreIssue {
        id: r.id,
        error: r.error.unwrap_or_default(),
        message: r.reason.unwrap_or_default(),
    }
}

/// What the database already holds, compared with the backup.
struct Plan {
    /// Backup documents already present with the same revision (an earlier,
    /// interrupted run of this restore): not written again.
    skip: HashMap<String, ()>,
    /// How many of them (counted as restored).
    already: usize,
    /// Backup documents not written because the agent's replicated copy is
    /// already there (counted as restored).
    kept: usize,
    /// Seeds (`dir::root`, credentials) the backup replaces: id → current rev.
    replace: Vec<(String, String)>,
    /// Backup documents whose revision is already in the document's tree
    /// under a deletion (a wiped database, a replaced seed): written as a
    /// new revision on top of the deletion, since writing a revision that is
    /// already in the tree would change nothing.
    over_tombstone: HashMap<String, ()>,
}

/// Refuses a database that is not empty (see [`is_seed`]), unless what it
/// holds is an interrupted restore of this same backup.
async fn plan_writes(db: &CouchClient, checked: &[Checked]) -> ApiResult<Plan> {
    let by_id: HashMap<&str, &Checked> = checked.iter().map(|c| (c.id.as_str(), c)).collect();
    let mut plan = Plan {
        skip: HashMap::new(),
        already: 0,
        kept: 0,
        replace: Vec::new(),
        over_tombstone: HashMap::new(),
    };
    let mut foreign: Option<String> = None;
    let mut foreign_count = 0usize;
    let mut after: Option<String> = None;
    loop {
        let rows = db.all_docs_after(after.as_deref(), 5000, false).await?;
        let n = rows.len();
        for row in &rows {
            let rev = row
                .value
                .as_ref()
                .map(|v| v.rev.clone())
                .unwrap_or_default();
            match by_id.get(row.id.as_str()) {
                Some(c) if c.write == Write::PartialNode => {
                    // Merged again: the merge is idempotent.
                }
                Some(c) if c.rev.as_deref() == Some(rev.as_str()) => {
                    plan.skip.insert(row.id.clone(), ());
                    plan.already += 1;
                }
                Some(_) if is_seed(&row.id) && !row.id.starts_with("_design/") => {
                    plan.replace.push((row.id.clone(), rev));
                }
                Some(_) if is_agent_owned(&row.id) => {
                    // The replicated copy is current: keep it.
                    plan.skip.insert(row.id.clone(), ());
                    plan.kept += 1;
                }
                _ if is_seed(&row.id) || is_agent_owned(&row.id) => {}
                _ => {
                    foreign_count += 1;
                    foreign.get_or_insert_with(|| row.id.clone());
                }
            }
        }
        after = rows.last().map(|r| r.id.clone());
        if n < 5000 {
            break;
        }
    }
    if let Some(first) = foreign {
        return Err(ApiError::conflict(format!(
            "the database is not empty: it holds {foreign_count} document(s) that are not in this backup \
             (the first: {first:?}); a restore only goes into an empty database: a fresh control plane \
             (documents that agents replicate by themselves, such as files and nodes, may be there), \
             or one wiped with DELETE /api/system/data under --developer-mode"
        )));
    }
    // A revision already in a document's tree (under a deletion) cannot be
    // written again with `new_edits: false`: it would change nothing. Such
    // documents (deleted here, or seeds replaced below) are written as a new
    // revision instead.
    // The deleted documents: the `_changes` feed lists each document's
    // latest change, deletions included (a fresh database has a handful of
    // entries; pouchdb-server does not report `doc_del_count`).
    let deleted = deleted_ids(db).await?;
    let mut candidates: Vec<(String, String)> = Vec::new();
    let replaced: HashMap<&str, ()> = plan
        .replace
        .iter()
        .map(|(id, _)| (id.as_str(), ()))
        .collect();
    candidates.extend(
        checked
            .iter()
            .filter(|c| c.write == Write::Replicated && deleted.contains(&c.id))
            .filter_map(|c| Some((c.id.clone(), c.rev.clone()?))),
    );
    for c in checked {
        if replaced.contains_key(c.id.as_str())
            && let Some(rev) = &c.rev
        {
            candidates.push((c.id.clone(), rev.clone()));
        }
    }
    // pouchdb-server reports a revision asked for twice as missing.
    candidates.sort();
    candidates.dedup();
    for chunk in candidates.chunks(1000) {
        let missing = db.revs_missing(chunk).await?;
        for pair in chunk {
            if !missing.contains(pair) {
                plan.over_tombstone.insert(pair.0.clone(), ());
            }
        }
    }
    Ok(plan)
}

/// Ids of the deleted documents of `db`, from its changes feed.
async fn deleted_ids(
    db: &CouchClient,
) -> Result<std::collections::HashSet<String>, mosaicfs_common::couch::CouchError> {
    let mut out = std::collections::HashSet::new();
    let mut since: Option<Value> = None;
    loop {
        let page = db
            .changes(&mosaicfs_common::couch::ChangesQuery {
                since: since.clone(),
                limit: Some(10_000),
                ..Default::default()
            })
            .await?;
        if page.results.is_empty() {
            return Ok(out);
        }
        out.extend(page.results.into_iter().filter(|c| c.deleted).map(|c| c.id));
        since = Some(page.last_seq);
    }
}

/// Merges a partial node document of a minimal backup into the node
/// document (creating it as registration does, `offline` until its agent
/// reports), as a control-plane write: its `control_updated_at` is now, so
/// the restored `network_mounts` and `friendly_name` win the field-ownership
/// merge against the agent's older copy when it replicates back.
async fn merge_partial_node(
    db: &CouchClient,
    partial: &Value,
) -> Result<(), mosaicfs_common::couch::CouchError> {
    let id = partial
        .get("_id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let now = mosaicfs_common::time::format(&mosaicfs_common::time::now());
    db.update_merging(&id, merge_node_revisions, |stored| {
        let mut doc = stored.filter(Value::is_object).unwrap_or_else(|| {
            json!({
                "type": "node",
                "status": "offline",
                "last_heartbeat": now,
                "vfs_capable": true,
                "capabilities": [],
                "watch_paths": [],
                "storage": [],
                "network_mounts": [],
            })
        });
        let o = doc.as_object_mut()?;
        if let Some(p) = partial.as_object() {
            for (k, v) in p {
                if k == "_id" || k == backup::PARTIAL_MARKER {
                    continue;
                }
                // The agent's own fields only fill a document that lacks them.
                let control = matches!(
                    k.as_str(),
                    "friendly_name" | "network_mounts" | "disabled" | "type"
                );
                if control || !o.contains_key(k) {
                    o.insert(k.clone(), v.clone());
                }
            }
        }
        o.entry("platform").or_insert_with(|| json!("linux"));
        o.entry("registered_at").or_insert_with(|| json!(now));
        o.insert(CONTROL_UPDATED_AT.into(), json!(now));
        Some(doc)
    })
    .await
    .map(|_| ())
}

/// The answer of `GET /api/system/restore`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RestoreReadiness {
    /// Whether a restore would be accepted: the database holds only design
    /// documents, the root directory and credentials.
    pub empty: bool,
    /// The first document in the way, when not empty.
    pub first_document: Option<String>,
}

/// Whether the database is empty enough for a restore (for the web UI,
/// which shows the restore controls only then). Stops at the first
/// document in the way.
#[utoipa::path(get, path = "/api/system/restore", tag = "system", security(("bearer" = [])),
    responses((status = 200, body = RestoreReadiness), (status = 401, body = crate::error::ErrorBody)))]
async fn readiness(
    _: User,
    State(state): State<AppState>,
) -> ApiResult<axum::Json<RestoreReadiness>> {
    let mut after: Option<String> = None;
    loop {
        let rows = state
            .db
            .all_docs_after(after.as_deref(), 1000, false)
            .await?;
        let n = rows.len();
        if let Some(r) = rows
            .iter()
            .find(|r| !is_seed(&r.id) && !is_agent_owned(&r.id))
        {
            return Ok(axum::Json(RestoreReadiness {
                empty: false,
                first_document: Some(r.id.clone()),
            }));
        }
        after = rows.last().map(|r| r.id.clone());
        if n < 1000 {
            return Ok(axum::Json(RestoreReadiness {
                empty: true,
                first_document: None,
            }));
        }
    }
}

/// The answer of `DELETE /api/system/data`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Wiped {
    /// Documents deleted.
    pub deleted_count: usize,
}

/// Deletes every document but design documents and credentials, then seeds
/// the root directory again. Only with `--developer-mode`.
#[utoipa::path(delete, path = "/api/system/data", tag = "system", security(("bearer" = [])),
    responses((status = 200, body = Wiped), (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody)))]
async fn wipe(user: User, State(state): State<AppState>) -> ApiResult<axum::Json<Wiped>> {
    if !state.config.developer_mode {
        return Err(ApiError::forbidden(
            "DELETE /api/system/data wipes the database and is only enabled when the server runs with --developer-mode",
        ));
    }
    let started = Instant::now();
    let mut deleted = 0;
    let mut after: Option<String> = None;
    loop {
        let rows = state
            .db
            .all_docs_after(after.as_deref(), 1000, false)
            .await?;
        let n = rows.len();
        after = rows.last().map(|r| r.id.clone());
        let docs: Vec<Value> = rows
            .into_iter()
            .filter(|r| !r.id.starts_with("_design/") && !r.id.starts_with(ids::CREDENTIAL_PREFIX))
            .filter_map(|r| {
                let rev = r.value?.rev;
                Some(json!({"_id": r.id, "_rev": rev, "_deleted": true}))
            })
            .collect();
        deleted += state
            .db
            .bulk_docs(&docs)
            .await?
            .iter()
            .filter(|r| r.is_ok())
            .count();
        if n < 1000 {
            break;
        }
    }
    crate::routes::vfs::ensure_root(&state).await?;
    tracing::warn!(operation = "wipe", access_key_id = %user.access_key_id, deleted,
        duration_ms = started.elapsed().as_millis() as u64, "database wiped (developer mode)");
    Ok(axum::Json(Wiped {
        deleted_count: deleted,
    }))
}
