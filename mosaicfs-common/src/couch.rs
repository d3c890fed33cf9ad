//! A small CouchDB HTTP client.
//!
//! Only CouchDB's documented HTTP API is used (no pouchdb-server extensions),
//! so the same code runs against Apache CouchDB 3.x and the pouchdb-server
//! stand-in used by tests. Transient failures (connection errors, 5xx, 429)
//! are retried with the [`RetryPolicy`]; 4xx answers are returned at once as
//! typed errors.

use crate::retry::RetryPolicy;
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::time::Duration;

/// Where a database lives and how to log in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CouchConfig {
    /// Server base URL, e.g. `http://127.0.0.1:5984`.
    pub url: String,
    /// Database name.
    pub database: String,
    /// Basic-auth user.
    #[serde(default)]
    pub username: Option<String>,
    /// Basic-auth password.
    #[serde(default)]
    pub password: Option<String>,
}

/// Errors from CouchDB calls.
#[derive(Debug, thiserror::Error)]
pub enum CouchError {
    /// The configured URL does not parse or cannot be a base.
    #[error("invalid CouchDB URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// Why.
        reason: String,
    },
    /// No answer (connection refused, reset, timeout).
    #[error("{operation}: cannot reach CouchDB at {url}: {source}")]
    Transport {
        /// What we were doing.
        operation: String,
        /// The server URL (without credentials).
        url: String,
        /// The underlying error.
        source: reqwest::Error,
    },
    /// A document update conflict (409).
    #[error("{operation}: document update conflict on {id:?}")]
    Conflict {
        /// What we were doing.
        operation: String,
        /// The document id.
        id: String,
    },
    /// Any other non-success answer.
    #[error("{operation}: CouchDB answered {status}: {error}: {reason}")]
    Status {
        /// What we were doing.
        operation: String,
        /// HTTP status.
        status: StatusCode,
        /// CouchDB's `error` field.
        error: String,
        /// CouchDB's `reason` field.
        reason: String,
    },
    /// The body did not have the expected shape.
    #[error("{operation}: unexpected response from CouchDB: {source}")]
    Decode {
        /// What we were doing.
        operation: String,
        /// The parse error.
        source: serde_json::Error,
    },
}

impl CouchError {
    /// Worth another attempt: no answer, a 5xx, or 429.
    pub fn is_transient(&self) -> bool {
        match self {
            CouchError::Transport { .. } => true,
            CouchError::Status { status, .. } => {
                status.is_server_error() || *status == StatusCode::TOO_MANY_REQUESTS
            }
            _ => false,
        }
    }

    /// No answer within the request's timeout.
    pub fn is_timeout(&self) -> bool {
        matches!(self, CouchError::Transport { source, .. } if source.is_timeout())
    }

    /// The HTTP status, when CouchDB answered.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            CouchError::Status { status, .. } => Some(*status),
            CouchError::Conflict { .. } => Some(StatusCode::CONFLICT),
            _ => None,
        }
    }
}

/// `{id, rev}` of a written document.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DocRev {
    /// Document id.
    pub id: String,
    /// New revision.
    pub rev: String,
}

/// One entry of a `_bulk_docs` answer: either a new `rev` or an `error`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BulkResult {
    /// Document id (CouchDB echoes it; for documents sent without one it
    /// is the generated id).
    #[serde(default)]
    pub id: String,
    /// New revision on success.
    #[serde(default)]
    pub rev: Option<String>,
    /// `conflict`, `forbidden`, … on failure.
    #[serde(default)]
    pub error: Option<String>,
    /// Human-readable reason on failure.
    #[serde(default)]
    pub reason: Option<String>,
}

impl BulkResult {
    /// Whether the write succeeded.
    pub fn is_ok(&self) -> bool {
        self.error.is_none() && self.rev.is_some()
    }
}

/// One row of `_all_docs`. A row for a requested key that does not exist has
/// only `key` and `error` (`not_found`), no `id`.
#[derive(Debug, Clone, Deserialize)]
pub struct AllDocsRow {
    /// Document id (empty on an error row).
    #[serde(default)]
    pub id: String,
    /// The requested key.
    #[serde(default)]
    pub key: Option<String>,
    /// `not_found` for a requested key that does not exist.
    #[serde(default)]
    pub error: Option<String>,
    /// `{rev}`; absent for rows with an error.
    #[serde(default)]
    pub value: Option<AllDocsValue>,
    /// The document, when `include_docs=true`.
    #[serde(default)]
    pub doc: Option<Value>,
}

/// `value` of an `_all_docs` row.
#[derive(Debug, Clone, Deserialize)]
pub struct AllDocsValue {
    /// Current revision.
    pub rev: String,
    /// Set for deleted documents looked up with `keys`.
    #[serde(default)]
    pub deleted: bool,
}

#[derive(Deserialize)]
struct AllDocsResponse {
    rows: Vec<AllDocsRow>,
}

/// One change from `_changes`.
#[derive(Debug, Clone, Deserialize)]
pub struct Change {
    /// Sequence (a string on CouchDB 3, a number on some servers): opaque.
    pub seq: Value,
    /// Document id.
    pub id: String,
    /// Whether the change is a deletion.
    #[serde(default)]
    pub deleted: bool,
    /// The document, with `include_docs=true`.
    #[serde(default)]
    pub doc: Option<Value>,
}

/// A page of `_changes`.
#[derive(Debug, Clone, Deserialize)]
pub struct ChangesPage {
    /// The changes.
    pub results: Vec<Change>,
    /// Where to continue from (opaque).
    pub last_seq: Value,
}

/// Parameters of a `_changes` request.
#[derive(Debug, Clone, Default)]
pub struct ChangesQuery {
    /// Start after this sequence (`None`: from the beginning).
    pub since: Option<Value>,
    /// At most this many changes.
    pub limit: Option<u64>,
    /// Include documents.
    pub include_docs: bool,
    /// Wait up to this long for a change (`feed=longpoll`).
    pub longpoll: Option<Duration>,
    /// Design-document filter, e.g. `mosaicfs/agent_push`.
    pub filter: Option<String>,
    /// Extra query parameters for the filter.
    pub params: Vec<(String, String)>,
}

/// Result of `_find`.
#[derive(Debug, Clone, Deserialize)]
pub struct FindResponse {
    /// Matching documents.
    pub docs: Vec<Value>,
    /// Continue with this bookmark.
    #[serde(default)]
    pub bookmark: Option<String>,
    /// Index warnings.
    #[serde(default)]
    pub warning: Option<String>,
}

/// A client for one database on one CouchDB server. Cheap to clone.
#[derive(Debug, Clone)]
pub struct CouchClient {
    http: reqwest::Client,
    server: Url,
    db: String,
    auth: Option<(String, Option<String>)>,
    retry: RetryPolicy,
}

const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// A longpoll `_changes` request is given up this long after its wait
/// (at most as long as the wait itself): see [`CouchClient::changes`].
const LONGPOLL_GRACE: Duration = Duration::from_secs(5);

impl CouchClient {
    /// A client for `config.database` on `config.url`. Credentials may also
    /// be given in the URL's user-info part.
    pub fn new(config: &CouchConfig) -> Result<CouchClient, CouchError> {
        let invalid = |reason: &str| CouchError::InvalidUrl {
            url: config.url.clone(),
            reason: reason.to_string(),
        };
        let mut server = Url::parse(&config.url).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(server.scheme(), "http" | "https") {
            return Err(invalid("scheme must be http or https"));
        }
        if server.cannot_be_a_base() || server.host_str().is_none() {
            return Err(invalid("not a server URL"));
        }
        let mut auth = config
            .username
            .clone()
            .map(|u| (u, config.password.clone()));
        if auth.is_none() && !server.username().is_empty() {
            auth = Some((
                percent_decode(server.username()),
                server.password().map(percent_decode),
            ));
        }
        let _ = server.set_username("");
        let _ = server.set_password(None);
        if !server.path().ends_with('/') {
            let p = format!("{}/", server.path());
            server.set_path(&p);
        }
        validate_db_name(&config.database).map_err(|r| invalid(&r))?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(16)
            .build()
            .map_err(|e| invalid(&e.to_string()))?;
        Ok(CouchClient {
            http,
            server,
            db: config.database.clone(),
            auth,
            retry: RetryPolicy::standard(Some(6)),
        })
    }

    /// The same database with another retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> CouchClient {
        self.retry = retry;
        self
    }

    /// A client for another database on the same server with the same login.
    pub fn database(&self, name: &str) -> CouchClient {
        CouchClient {
            db: name.to_string(),
            ..self.clone()
        }
    }

    /// The database name.
    pub fn db_name(&self) -> &str {
        &self.db
    }

    /// The server URL without credentials (safe to log).
    pub fn server_url(&self) -> &Url {
        &self.server
    }

    /// The database URL with credentials in the user-info part, as the
    /// replicator needs it. Never log this.
    pub fn db_url_with_credentials(&self) -> String {
        let mut url = self.server.clone();
        if let Some((user, pass)) = &self.auth {
            let _ = url.set_username(user);
            let _ = url.set_password(pass.as_deref());
        }
        if let Ok(mut segs) = url.path_segments_mut() {
            segs.pop_if_empty().push(&self.db);
        }
        url.to_string()
    }

    fn url(&self, db_path: &[&str]) -> Url {
        let mut url = self.server.clone();
        if let Ok(mut segs) = url.path_segments_mut() {
            segs.pop_if_empty();
            for s in db_path {
                segs.push(s);
            }
        }
        url
    }

    fn doc_path<'a>(&'a self, id: &'a str) -> Vec<&'a str> {
        // `_design/x` and `_local/x` keep their slash as a path separator;
        // any other `/` in an id is part of the id and gets percent-encoded.
        match id.split_once('/') {
            Some((p @ ("_design" | "_local"), rest)) => vec![&self.db, p, rest],
            _ => vec![&self.db, id],
        }
    }

    async fn request(
        &self,
        operation: &str,
        method: Method,
        url: Url,
        body: Option<&Value>,
        timeout: Duration,
    ) -> Result<(StatusCode, bytes::Bytes), CouchError> {
        self.request_retrying(
            operation,
            method,
            url,
            body,
            timeout,
            CouchError::is_transient,
        )
        .await
    }

    /// [`CouchClient::request`], retrying the errors `transient` accepts.
    async fn request_retrying(
        &self,
        operation: &str,
        method: Method,
        url: Url,
        body: Option<&Value>,
        timeout: Duration,
        transient: fn(&CouchError) -> bool,
    ) -> Result<(StatusCode, bytes::Bytes), CouchError> {
        self.retry
            .run(operation, transient, || {
                let mut req = self
                    .http
                    .request(method.clone(), url.clone())
                    .timeout(timeout)
                    .header("accept", "application/json");
                if let Some((user, pass)) = &self.auth {
                    req = req.basic_auth(user, pass.as_ref());
                }
                if let Some(b) = body {
                    req = req.json(b);
                }
                async move {
                    let transport = |source| CouchError::Transport {
                        operation: operation.to_string(),
                        url: self.server.to_string(),
                        source,
                    };
                    let resp = req.send().await.map_err(transport)?;
                    let status = resp.status();
                    let bytes = resp.bytes().await.map_err(transport)?;
                    if status.is_success() {
                        return Ok((status, bytes));
                    }
                    Err(status_error(operation, status, &bytes))
                }
            })
            .await
    }

    async fn call<T: DeserializeOwned>(
        &self,
        operation: &str,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<T, CouchError> {
        let (_, bytes) = self
            .request(operation, method, url, body, REQUEST_TIMEOUT)
            .await?;
        decode(operation, &bytes)
    }

    /// Server welcome (`GET /`): `{"couchdb": "Welcome", "version": …}`.
    pub async fn server_info(&self) -> Result<Value, CouchError> {
        self.call("server info", Method::GET, self.server.clone(), None)
            .await
    }

    /// Creates the database if it does not exist.
    pub async fn ensure_db(&self) -> Result<(), CouchError> {
        let url = self.url(&[&self.db]);
        match self
            .request("create database", Method::PUT, url, None, REQUEST_TIMEOUT)
            .await
        {
            Ok(_) => Ok(()),
            Err(CouchError::Status { status, .. }) if status == StatusCode::PRECONDITION_FAILED => {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Deletes the database (tests and developer mode only).
    pub async fn delete_db(&self) -> Result<(), CouchError> {
        let url = self.url(&[&self.db]);
        match self
            .request(
                "delete database",
                Method::DELETE,
                url,
                None,
                REQUEST_TIMEOUT,
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.status() == Some(StatusCode::NOT_FOUND) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `GET` of a server-level path such as `_scheduler/docs/_replicator/x`
    /// (segments are encoded one by one); `None` on 404.
    pub async fn server_get(&self, segments: &[&str]) -> Result<Option<Value>, CouchError> {
        match self
            .request(
                "server request",
                Method::GET,
                self.url(segments),
                None,
                REQUEST_TIMEOUT,
            )
            .await
        {
            Ok((_, bytes)) => decode("server request", &bytes).map(Some),
            Err(e) if e.status() == Some(StatusCode::NOT_FOUND) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Database info (`doc_count`, `update_seq`, …).
    pub async fn db_info(&self) -> Result<Value, CouchError> {
        self.call("database info", Method::GET, self.url(&[&self.db]), None)
            .await
    }

    /// A document as raw JSON, or `None` if it does not exist (or is deleted).
    pub async fn get_value(&self, id: &str) -> Result<Option<Value>, CouchError> {
        self.get_doc("get document", id, None).await
    }

    /// `GET /{db}/{id}` with one optional query parameter, or `None` on 404.
    async fn get_doc(
        &self,
        operation: &str,
        id: &str,
        query: Option<(&str, &str)>,
    ) -> Result<Option<Value>, CouchError> {
        let mut url = self.url(&self.doc_path(id));
        if let Some((k, v)) = query {
            url.query_pairs_mut().append_pair(k, v);
        }
        match self
            .request(operation, Method::GET, url, None, REQUEST_TIMEOUT)
            .await
        {
            Ok((_, bytes)) => decode(operation, &bytes).map(Some),
            Err(e) if e.status() == Some(StatusCode::NOT_FOUND) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A document parsed as `T`, or `None` if absent.
    pub async fn get<T: DeserializeOwned>(&self, id: &str) -> Result<Option<T>, CouchError> {
        match self.get_value(id).await? {
            None => Ok(None),
            Some(v) => serde_json::from_value(v)
                .map(Some)
                .map_err(|source| CouchError::Decode {
                    operation: format!("parse document {id:?}"),
                    source,
                }),
        }
    }

    /// Writes a document. It must carry `_id` (and `_rev` to update); a
    /// stale `_rev` gives [`CouchError::Conflict`].
    pub async fn put<T: Serialize>(&self, doc: &T) -> Result<DocRev, CouchError> {
        let value = serde_json::to_value(doc).map_err(|source| CouchError::Decode {
            operation: "serialize document".into(),
            source,
        })?;
        let Some(id) = value.get("_id").and_then(Value::as_str).map(str::to_owned) else {
            return Err(CouchError::Status {
                operation: "put document".into(),
                status: StatusCode::BAD_REQUEST,
                error: "bad_request".into(),
                reason: "document has no _id".into(),
            });
        };
        let url = self.url(&self.doc_path(&id));
        match self
            .request(
                "put document",
                Method::PUT,
                url,
                Some(&value),
                REQUEST_TIMEOUT,
            )
            .await
        {
            Ok((_, bytes)) => {
                let r: DocRev = decode("put document", &bytes)?;
                Ok(r)
            }
            Err(e) if e.status() == Some(StatusCode::CONFLICT) => Err(CouchError::Conflict {
                operation: "put document".into(),
                id,
            }),
            Err(e) => Err(e),
        }
    }

    /// Deletes a document revision.
    pub async fn delete(&self, id: &str, rev: &str) -> Result<DocRev, CouchError> {
        let mut url = self.url(&self.doc_path(id));
        url.query_pairs_mut().append_pair("rev", rev);
        match self
            .request(
                "delete document",
                Method::DELETE,
                url,
                None,
                REQUEST_TIMEOUT,
            )
            .await
        {
            Ok((_, bytes)) => decode("delete document", &bytes),
            Err(e) if e.status() == Some(StatusCode::CONFLICT) => Err(CouchError::Conflict {
                operation: "delete document".into(),
                id: id.into(),
            }),
            Err(e) => Err(e),
        }
    }

    /// Writes many documents in one request. The answer has one entry per
    /// document; match them by `id` (CouchDB keeps the request order, some
    /// CouchDB-protocol servers do not). A per-document error (conflict,
    /// forbidden) does not fail the call and must be handled by the caller.
    pub async fn bulk_docs(&self, docs: &[Value]) -> Result<Vec<BulkResult>, CouchError> {
        if docs.is_empty() {
            return Ok(Vec::new());
        }
        let body = json!({ "docs": docs });
        let results: Vec<BulkResult> = self
            .call(
                "bulk write",
                Method::POST,
                self.url(&[&self.db, "_bulk_docs"]),
                Some(&body),
            )
            .await?;
        if results.len() != docs.len() {
            return Err(CouchError::Status {
                operation: "bulk write".into(),
                status: StatusCode::BAD_GATEWAY,
                error: "short_response".into(),
                reason: format!(
                    "sent {} documents, got {} results",
                    docs.len(),
                    results.len()
                ),
            });
        }
        Ok(results)
    }

    /// Writes documents exactly as given, revisions included
    /// (`new_edits: false`, what CouchDB's replicator does): each `_rev` is
    /// added to the document's revision tree as is, so the written documents
    /// keep the revisions they had where they came from. A revision already
    /// in the tree is left alone. CouchDB answers only the documents that
    /// failed; those are returned (an empty answer means every write
    /// succeeded).
    pub async fn bulk_docs_replicated(
        &self,
        docs: &[Value],
    ) -> Result<Vec<BulkResult>, CouchError> {
        if docs.is_empty() {
            return Ok(Vec::new());
        }
        let body = json!({ "docs": docs, "new_edits": false });
        let results: Vec<BulkResult> = self
            .call(
                "bulk write (new_edits=false)",
                Method::POST,
                self.url(&[&self.db, "_bulk_docs"]),
                Some(&body),
            )
            .await?;
        // Some servers answer one entry per document, successes included.
        Ok(results.into_iter().filter(|r| r.error.is_some()).collect())
    }

    /// `_revs_diff`: of the given `(id, rev)` pairs, the ones whose revision
    /// is not in the document's revision tree.
    pub async fn revs_missing(
        &self,
        revs: &[(String, String)],
    ) -> Result<std::collections::HashSet<(String, String)>, CouchError> {
        let mut body = serde_json::Map::new();
        for (id, rev) in revs {
            let e = body.entry(id.clone()).or_insert_with(|| json!([]));
            if let Some(a) = e.as_array_mut() {
                a.push(json!(rev));
            }
        }
        #[derive(Deserialize)]
        struct Missing {
            #[serde(default)]
            missing: Vec<String>,
        }
        let r: std::collections::HashMap<String, Missing> = self
            .call(
                "revision diff",
                Method::POST,
                self.url(&[&self.db, "_revs_diff"]),
                Some(&Value::Object(body)),
            )
            .await?;
        Ok(r.into_iter()
            .flat_map(|(id, m)| m.missing.into_iter().map(move |rev| (id.clone(), rev)))
            .collect())
    }

    /// One page of `_all_docs` over the whole database in id order: at most
    /// `limit` rows starting after `after` (from the first id when `None`).
    pub async fn all_docs_after(
        &self,
        after: Option<&str>,
        limit: usize,
        include_docs: bool,
    ) -> Result<Vec<AllDocsRow>, CouchError> {
        let mut url = self.url(&[&self.db, "_all_docs"]);
        {
            let mut q = url.query_pairs_mut();
            if let Some(a) = after {
                q.append_pair("startkey", &json_string(a))
                    .append_pair("skip", "1");
            }
            q.append_pair("limit", &limit.to_string())
                .append_pair("include_docs", if include_docs { "true" } else { "false" });
        }
        let r: AllDocsResponse = self.call("list documents", Method::GET, url, None).await?;
        Ok(r.rows)
    }

    /// `_all_docs` over the key range `[start, end]`, at most `limit` rows,
    /// skipping the first `skip`.
    pub async fn all_docs_range(
        &self,
        start: &str,
        end: &str,
        limit: usize,
        skip: usize,
        include_docs: bool,
    ) -> Result<Vec<AllDocsRow>, CouchError> {
        let mut url = self.url(&[&self.db, "_all_docs"]);
        url.query_pairs_mut()
            .append_pair("startkey", &json_string(start))
            .append_pair("endkey", &json_string(end))
            .append_pair("limit", &limit.to_string())
            .append_pair("skip", &skip.to_string())
            .append_pair("include_docs", if include_docs { "true" } else { "false" });
        let r: AllDocsResponse = self.call("list documents", Method::GET, url, None).await?;
        Ok(r.rows)
    }

    /// The documents under `prefix` that have conflicting revisions, each
    /// with its `_conflicts` (`_all_docs?include_docs=true&conflicts=true`,
    /// pages of 1000).
    pub async fn conflicted_under(&self, prefix: &str) -> Result<Vec<Value>, CouchError> {
        let end = crate::ids::prefix_end(prefix);
        let mut out = Vec::new();
        let mut start = prefix.to_string();
        let mut skip = 0;
        loop {
            let mut url = self.url(&[&self.db, "_all_docs"]);
            url.query_pairs_mut()
                .append_pair("startkey", &json_string(&start))
                .append_pair("endkey", &json_string(&end))
                .append_pair("limit", "1000")
                .append_pair("skip", &skip.to_string())
                .append_pair("include_docs", "true")
                .append_pair("conflicts", "true");
            let r: AllDocsResponse = self.call("list conflicts", Method::GET, url, None).await?;
            let n = r.rows.len();
            let last = r.rows.last().map(|row| row.id.clone());
            out.extend(r.rows.into_iter().filter_map(|row| row.doc).filter(|d| {
                d.get("_conflicts")
                    .and_then(Value::as_array)
                    .is_some_and(|a| !a.is_empty())
            }));
            match last {
                Some(id) if n == 1000 => {
                    start = id;
                    skip = 1;
                }
                _ => return Ok(out),
            }
        }
    }

    /// Every document whose id starts with `prefix`, in id order, fetched in
    /// pages of `page_size`; `each_page` sees each page as it arrives so
    /// callers never hold the raw JSON of the whole range at once.
    pub async fn for_each_prefix_page(
        &self,
        prefix: &str,
        page_size: usize,
        include_docs: bool,
        mut each_page: impl FnMut(Vec<AllDocsRow>),
    ) -> Result<usize, CouchError> {
        let end = crate::ids::prefix_end(prefix);
        let mut start = prefix.to_string();
        let mut skip = 0;
        let mut total = 0;
        loop {
            let rows = self
                .all_docs_range(&start, &end, page_size, skip, include_docs)
                .await?;
            let n = rows.len();
            total += n;
            let last = rows.last().map(|r| r.id.clone());
            each_page(rows);
            match last {
                Some(id) if n == page_size => {
                    // Continue after the last id: start at it and skip it.
                    start = id;
                    skip = 1;
                }
                _ => return Ok(total),
            }
        }
    }

    /// Looks up several documents by id in one request.
    pub async fn all_docs_keys(
        &self,
        ids: &[String],
        include_docs: bool,
    ) -> Result<Vec<AllDocsRow>, CouchError> {
        let mut url = self.url(&[&self.db, "_all_docs"]);
        url.query_pairs_mut()
            .append_pair("include_docs", if include_docs { "true" } else { "false" });
        let body = json!({ "keys": ids });
        let r: AllDocsResponse = self
            .call("look up documents", Method::POST, url, Some(&body))
            .await?;
        Ok(r.rows)
    }

    /// One page of the changes feed.
    pub async fn changes(&self, q: &ChangesQuery) -> Result<ChangesPage, CouchError> {
        let mut url = self.url(&[&self.db, "_changes"]);
        let mut timeout = REQUEST_TIMEOUT;
        {
            let mut qp = url.query_pairs_mut();
            if let Some(since) = &q.since {
                let s = match since {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                qp.append_pair("since", &s);
            }
            if let Some(limit) = q.limit {
                qp.append_pair("limit", &limit.to_string());
            }
            if q.include_docs {
                qp.append_pair("include_docs", "true");
            }
            if let Some(wait) = q.longpoll {
                qp.append_pair("feed", "longpoll");
                qp.append_pair("timeout", &wait.as_millis().to_string());
                timeout = wait + wait.min(LONGPOLL_GRACE);
            }
            if let Some(f) = &q.filter {
                qp.append_pair("filter", f);
            }
            for (k, v) in &q.params {
                qp.append_pair(k, v);
            }
        }
        // A longpoll that times out is not retried: see below.
        let transient: fn(&CouchError) -> bool = if q.longpoll.is_some() {
            |e| e.is_transient() && !e.is_timeout()
        } else {
            CouchError::is_transient
        };
        match self
            .request_retrying("read changes", Method::GET, url, None, timeout, transient)
            .await
        {
            Ok((_, bytes)) => decode("read changes", &bytes),
            // A longpoll still open past its wait (and the grace) had no
            // change to report: CouchDB ends it at `timeout`, pouchdb-server
            // keeps it open with heartbeat newlines. Not a failure.
            Err(e) if q.longpoll.is_some() && e.is_timeout() => Ok(ChangesPage {
                results: Vec::new(),
                last_seq: q.since.clone().unwrap_or_else(|| Value::from(0)),
            }),
            Err(e) => Err(e),
        }
    }

    /// A Mango query. Prefer local indexes for hot paths: `_find` with
    /// `$regex`, `$or` or `$in` scans every document.
    pub async fn find(&self, query: &Value) -> Result<FindResponse, CouchError> {
        self.call(
            "find documents",
            Method::POST,
            self.url(&[&self.db, "_find"]),
            Some(query),
        )
        .await
    }

    /// Creates a Mango index (idempotent).
    pub async fn create_index(&self, index: &Value) -> Result<(), CouchError> {
        let _: Value = self
            .call(
                "create index",
                Method::POST,
                self.url(&[&self.db, "_index"]),
                Some(index),
            )
            .await?;
        Ok(())
    }

    /// Read-modify-write of one document with conflict retry. `update` gets
    /// the stored JSON (so fields this version does not know are carried
    /// over) and returns the document to write, or `None` to write nothing.
    /// Returns the new revision, or `None` if nothing was written.
    pub async fn update(
        &self,
        id: &str,
        mut update: impl FnMut(Option<Value>) -> Option<Value>,
    ) -> Result<Option<DocRev>, CouchError> {
        const CONFLICT_ATTEMPTS: u32 = 8;
        for _ in 0..CONFLICT_ATTEMPTS {
            let stored = self.get_value(id).await?;
            let rev = stored.as_ref().and_then(|d| d.get("_rev")).cloned();
            let Some(mut doc) = update(stored) else {
                return Ok(None);
            };
            if let Some(o) = doc.as_object_mut() {
                o.insert("_id".into(), Value::String(id.to_string()));
                match rev {
                    Some(r) => o.insert("_rev".into(), r),
                    None => o.remove("_rev"),
                };
            }
            match self.put(&doc).await {
                Ok(r) => return Ok(Some(r)),
                Err(CouchError::Conflict { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(CouchError::Conflict {
            operation: "read-modify-write".into(),
            id: id.into(),
        })
    }

    /// A document with the revisions it conflicts with
    /// (`GET /{db}/{id}?conflicts=true`): CouchDB's winner (without
    /// `_conflicts`) and the `_rev`s of the other leaves, or `None` if absent.
    pub async fn get_with_conflicts(
        &self,
        id: &str,
    ) -> Result<Option<(Value, Vec<String>)>, CouchError> {
        let Some(mut doc) = self
            .get_doc("get document", id, Some(("conflicts", "true")))
            .await?
        else {
            return Ok(None);
        };
        let conflicts = doc
            .as_object_mut()
            .and_then(|o| o.remove("_conflicts"))
            .and_then(|c| serde_json::from_value::<Vec<String>>(c).ok())
            .unwrap_or_default();
        Ok(Some((doc, conflicts)))
    }

    /// One revision of a document (`GET /{db}/{id}?rev=…`), or `None` if that
    /// revision is unknown or its body was compacted away.
    pub async fn get_revision(&self, id: &str, rev: &str) -> Result<Option<Value>, CouchError> {
        self.get_doc("get revision", id, Some(("rev", rev))).await
    }

    /// The winner and the bodies of its conflicting revisions (winner
    /// first), and the conflicting `_rev`s; `None` if the document is absent.
    async fn revisions(&self, id: &str) -> Result<Option<(Vec<Value>, Vec<String>)>, CouchError> {
        let Some((winner, conflicts)) = self.get_with_conflicts(id).await? else {
            return Ok(None);
        };
        let mut revisions = vec![winner];
        for rev in &conflicts {
            if let Some(body) = self.get_revision(id, rev).await? {
                revisions.push(body);
            }
        }
        Ok(Some((revisions, conflicts)))
    }

    /// A document as `merge` combines its conflicting revisions (winner
    /// first; `merge` is not called when there is no conflict). Reads only:
    /// the conflict stays until a writer resolves it.
    pub async fn get_merged(
        &self,
        id: &str,
        merge: impl Fn(&[Value]) -> Option<Value>,
    ) -> Result<Option<Value>, CouchError> {
        Ok(self
            .revisions(id)
            .await?
            .map(|(revisions, conflicts)| merged(revisions, &conflicts, &merge)))
    }

    /// [`update`](Self::update) that resolves conflicts on the way: `update`
    /// gets the document as `merge` combines its conflicting revisions
    /// (winner first), and its result is written over the winner; then the
    /// other leaves are deleted (one `_bulk_docs`, matched by `_rev`, not by
    /// answer order, which pouchdb-server does not keep). If the winner changed
    /// meanwhile, everything is read again. Deleting a leaf can fail
    /// (replication or another writer deleted it first): it is logged and
    /// left to the next write, which sees it again if it is still there.
    /// `None` from `update` writes nothing (and resolves nothing).
    pub async fn update_merging(
        &self,
        id: &str,
        merge: impl Fn(&[Value]) -> Option<Value>,
        mut update: impl FnMut(Option<Value>) -> Option<Value>,
    ) -> Result<Option<DocRev>, CouchError> {
        const CONFLICT_ATTEMPTS: u32 = 8;
        for _ in 0..CONFLICT_ATTEMPTS {
            let (stored, rev, conflicts) = match self.revisions(id).await? {
                None => (None, None, Vec::new()),
                Some((revisions, conflicts)) => {
                    let rev = revisions[0].get("_rev").cloned();
                    let doc = merged(revisions, &conflicts, &merge);
                    (Some(doc), rev, conflicts)
                }
            };
            let Some(mut doc) = update(stored) else {
                return Ok(None);
            };
            if let Some(o) = doc.as_object_mut() {
                o.insert("_id".into(), Value::String(id.to_string()));
                o.remove("_conflicts");
                match rev {
                    Some(r) => o.insert("_rev".into(), r),
                    None => o.remove("_rev"),
                };
            }
            let written = match self.put(&doc).await {
                Ok(r) => r,
                Err(CouchError::Conflict { .. }) => continue,
                Err(e) => return Err(e),
            };
            if conflicts.is_empty() {
                return Ok(Some(written));
            }
            // The merge is written over the winner first; the losing
            // revisions are deleted after it, matched by their own `_rev`
            // (pouchdb-server does not answer `_bulk_docs` in request order,
            // and every entry here has the same id). One left behind is
            // resolved by the next merging write.
            let batch: Vec<Value> = conflicts
                .iter()
                .map(|rev| json!({"_id": id, "_rev": rev, "_deleted": true}))
                .collect();
            let failed = self
                .bulk_docs(&batch)
                .await?
                .iter()
                .filter(|r| !r.is_ok())
                .count();
            if failed > 0 {
                tracing::debug!(doc_id = %id, failed,
                    "conflicting revisions not deleted; left to the next write");
            }
            tracing::info!(doc_id = %id, conflicts = conflicts.len(),
                operation = "resolve_conflicts", "conflicting revisions merged");
            return Ok(Some(written));
        }
        Err(CouchError::Conflict {
            operation: "read-modify-write".into(),
            id: id.into(),
        })
    }

    /// Writes `doc` (which has an `_id`) unless the stored version already has
    /// the same content; returns whether it wrote. Used for design documents
    /// and other documents owned by the code, whose content is compared
    /// without `_rev`.
    pub async fn ensure_document(&self, doc: &Value) -> Result<bool, CouchError> {
        let id = doc
            .get("_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        for _ in 0..5 {
            let current = self.get_value(&id).await?;
            let mut wanted = doc.clone();
            if let Some(cur) = &current {
                let mut cur_cmp = cur.clone();
                if let Some(o) = cur_cmp.as_object_mut() {
                    o.remove("_rev");
                }
                if cur_cmp == *doc {
                    return Ok(false);
                }
                if let (Some(o), Some(rev)) = (wanted.as_object_mut(), cur.get("_rev")) {
                    o.insert("_rev".into(), rev.clone());
                }
            }
            match self.put(&wanted).await {
                Ok(_) => return Ok(true),
                Err(CouchError::Conflict { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(CouchError::Conflict {
            operation: "ensure document".into(),
            id,
        })
    }
}

/// The document a reader sees: the winner (`revisions[0]`) when there is no
/// conflict, else what `merge` makes of all revisions (the winner if it
/// declines).
fn merged(
    mut revisions: Vec<Value>,
    conflicts: &[String],
    merge: impl Fn(&[Value]) -> Option<Value>,
) -> Value {
    if conflicts.is_empty() {
        revisions.swap_remove(0)
    } else {
        merge(&revisions).unwrap_or_else(|| revisions.swap_remove(0))
    }
}

fn decode<T: DeserializeOwned>(operation: &str, bytes: &[u8]) -> Result<T, CouchError> {
    serde_json::from_slice(bytes).map_err(|source| CouchError::Decode {
        operation: operation.to_string(),
        source,
    })
}

fn status_error(operation: &str, status: StatusCode, body: &[u8]) -> CouchError {
    #[derive(Deserialize, Default)]
    struct ErrBody {
        #[serde(default)]
        error: String,
        #[serde(default)]
        reason: String,
    }
    let b: ErrBody = serde_json::from_slice(body).unwrap_or_default();
    let reason = if b.reason.is_empty() && b.error.is_empty() {
        String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned()
    } else {
        b.reason
    };
    CouchError::Status {
        operation: operation.to_string(),
        status,
        error: b.error,
        reason,
    }
}

fn json_string(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// CouchDB database names: a lowercase letter first, then `[a-z0-9_$()+/-]`.
pub fn validate_db_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    let rest_ok = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_$()+-/".contains(c));
    if (first_ok && rest_ok && name.len() <= 238) || name == "_replicator" || name == "_users" {
        Ok(())
    } else {
        Err(format!(
            "database name {name:?} must start with a lowercase letter and contain only a-z, 0-9 and _$()+-/"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(url: &str) -> CouchConfig {
        CouchConfig {
            url: url.into(),
            database: "mosaicfs".into(),
            username: None,
            password: None,
        }
    }

    #[test]
    fn credentials_in_the_url_are_moved_out_of_it() {
        let c = CouchClient::new(&cfg("http://ad%40min:p%3Aw@127.0.0.1:5984")).unwrap();
        assert_eq!(c.server_url().as_str(), "http://127.0.0.1:5984/");
        assert_eq!(
            c.auth,
            Some(("ad@min".to_string(), Some("p:w".to_string())))
        );
        assert_eq!(
            c.db_url_with_credentials(),
            "http://ad%40min:p%3Aw@127.0.0.1:5984/mosaicfs"
        );
    }

    #[test]
    fn document_ids_are_encoded_as_one_segment() {
        let c = CouchClient::new(&cfg("http://127.0.0.1:5984/prefix")).unwrap();
        assert_eq!(
            c.url(&c.doc_path("file::a/b c")).as_str(),
            "http://127.0.0.1:5984/prefix/mosaicfs/file::a%2Fb%20c"
        );
        assert_eq!(
            c.url(&c.doc_path("_design/mosaicfs")).as_str(),
            "http://127.0.0.1:5984/prefix/mosaicfs/_design/mosaicfs"
        );
    }

    #[test]
    fn bad_urls_and_names_are_rejected_with_a_reason() {
        for (url, db, needle) in [
            ("ftp://x", "mosaicfs", "scheme"),
            ("not a url", "mosaicfs", "invalid CouchDB URL"),
            ("http://x", "Bad", "lowercase"),
        ] {
            let mut c = cfg(url);
            c.database = db.into();
            let err = CouchClient::new(&c).unwrap_err().to_string();
            assert!(err.contains(needle), "{url}: {err}");
        }
    }
}
