//! The replication contract: the `_design/mosaicfs` document whose filter
//! functions decide which documents travel in each flow, and the
//! `_replicator` documents that run the flows.
//!
//! | flow | source → target | filter |
//! |---|---|---|
//! | 1 push | agent local → control plane | `mosaicfs/agent_push?node_id=` |
//! | 2 pull | control plane → agent local | `mosaicfs/agent_pull?node_id=` |
//! | 3 browser | control plane `mosaicfs` → `mosaicfs_browser` | `mosaicfs/browser` |
//!
//! Filters are design-document JavaScript functions with `query_params`, not
//! Mango selectors: both Apache CouchDB 3 and pouchdb-server accept them
//! (a `selector` crashes pouchdb-server 4.2.0).
//!
//! The browser replica (flow 3) holds only the small document types. At the
//! 500,000-file target a replica of the `file` documents is too big for a
//! browser's IndexedDB, so file listings come from the server's index through
//! the API; plugin documents stay out because their settings may hold
//! secret-typed values that a filter cannot redact (the plugin API serves them
//! redacted).

use crate::couch::{CouchClient, CouchError};
use serde_json::{Value, json};

/// `_id` of the design document holding the filters.
pub const DESIGN_DOC_ID: &str = "_design/mosaicfs";
/// Bumped whenever a filter changes; written into the design document.
pub const DESIGN_VERSION: u32 = 2;

/// Flow 1: what an agent pushes: its own node, status, utilization,
/// notification, file and annotation documents, and nothing else.
pub const AGENT_PUSH_FILTER: &str = r#"function (doc, req) {
  var n = req.query.node_id;
  if (!n) { return false; }
  var id = doc._id;
  if (id === 'node::' + n || id === 'status::' + n) { return true; }
  if (id.indexOf('utilization::' + n + '::') === 0) { return true; }
  if (id.indexOf('notification::' + n + '::') === 0) { return true; }
  if (doc._deleted) { return false; }
  if (doc.type === 'file' || doc.type === 'annotation') {
    return !!doc.source && doc.source.node_id === n;
  }
  return false;
}"#;

/// Flow 2: what an agent pulls: everything it needs to evaluate and serve the
/// virtual tree (files of every node, directories, nodes, labels,
/// annotations), its own plugins and notifications; never credentials, other
/// agents' status or utilization, or other nodes' plugins.
pub const AGENT_PULL_FILTER: &str = r#"function (doc, req) {
  var n = req.query.node_id;
  if (!n) { return false; }
  var id = doc._id;
  if (id.indexOf('_design/') === 0) { return false; }
  if (id.indexOf('credential::') === 0 || id.indexOf('status::') === 0 ||
      id.indexOf('utilization::') === 0) { return false; }
  if (id.indexOf('plugin::') === 0) { return id.indexOf('plugin::' + n + '::') === 0; }
  if (id.indexOf('notification::') === 0) { return id.indexOf('notification::' + n + '::') === 0; }
  return true;
}"#;

/// Flow 3: what the browser replica receives: an allow-list of id prefixes
/// (nodes, virtual directories, label assignments and rules, agent status,
/// utilization, notifications), so `file`, `annotation`, `plugin`,
/// `credential` and design documents, and any type added later, stay out
/// unless listed here. Tombstones of allowed prefixes pass (they have no
/// `type`), so deletions reach the browser; a live document whose `type`
/// contradicts its prefix is refused as well.
pub const BROWSER_FILTER: &str = r#"function (doc, req) {
  var id = doc._id;
  var allowed = ['node::', 'dir::', 'label_file::', 'label_rule::', 'status::',
                 'utilization::', 'notification::'];
  var ok = false;
  for (var i = 0; i < allowed.length; i++) {
    if (id.indexOf(allowed[i]) === 0) { ok = true; break; }
  }
  if (!ok) { return false; }
  if (doc._deleted) { return true; }
  var t = doc.type;
  return t !== 'file' && t !== 'annotation' && t !== 'credential' && t !== 'plugin';
}"#;

/// The id prefixes [`BROWSER_FILTER`] lets through, in its order.
pub const BROWSER_PREFIXES: [&str; 7] = [
    crate::ids::NODE_PREFIX,
    crate::ids::DIR_PREFIX,
    crate::ids::LABEL_FILE_PREFIX,
    crate::ids::LABEL_RULE_PREFIX,
    crate::ids::STATUS_PREFIX,
    crate::ids::UTILIZATION_PREFIX,
    crate::ids::NOTIFICATION_PREFIX,
];

/// The browser replica's database name for control-plane database `db`.
pub fn browser_db_name(db: &str) -> String {
    format!("{db}_browser")
}

/// The design document, as stored.
pub fn design_document() -> Value {
    json!({
        "_id": DESIGN_DOC_ID,
        "language": "javascript",
        "mosaicfs_version": DESIGN_VERSION,
        "filters": {
            "agent_push": AGENT_PUSH_FILTER,
            "agent_pull": AGENT_PULL_FILTER,
            "browser": BROWSER_FILTER,
        }
    })
}

/// Installs or updates the design document; returns whether it wrote. A
/// stored design document with a higher `mosaicfs_version` (written by a newer
/// program) is left alone, so an older agent never downgrades the filters.
pub async fn ensure_design_document(db: &CouchClient) -> Result<bool, CouchError> {
    if let Some(stored) = db.get_value(DESIGN_DOC_ID).await? {
        let version = stored
            .get("mosaicfs_version")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        if version > u64::from(DESIGN_VERSION) {
            tracing::info!(
                stored = version,
                ours = DESIGN_VERSION,
                "newer design document in place; not replacing it"
            );
            return Ok(false);
        }
    }
    db.ensure_document(&design_document()).await
}

/// A continuous filtered replication to be run by a server's replicator.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicationSpec {
    /// `_replicator` document id.
    pub id: String,
    /// Source database URL, with credentials.
    pub source: String,
    /// Target database URL, with credentials.
    pub target: String,
    /// `ddoc/filter`.
    pub filter: String,
    /// Filter parameters.
    pub query_params: Value,
}

impl ReplicationSpec {
    /// Flow 1 for `node_id`.
    pub fn agent_push(node_id: &str, local: &CouchClient, control_plane: &CouchClient) -> Self {
        ReplicationSpec {
            id: format!("mosaicfs-push-{node_id}"),
            source: local.db_url_with_credentials(),
            target: control_plane.db_url_with_credentials(),
            filter: "mosaicfs/agent_push".into(),
            query_params: json!({ "node_id": node_id }),
        }
    }

    /// Flow 2 for `node_id`.
    pub fn agent_pull(node_id: &str, local: &CouchClient, control_plane: &CouchClient) -> Self {
        ReplicationSpec {
            id: format!("mosaicfs-pull-{node_id}"),
            source: control_plane.db_url_with_credentials(),
            target: local.db_url_with_credentials(),
            filter: "mosaicfs/agent_pull".into(),
            query_params: json!({ "node_id": node_id }),
        }
    }

    /// Flow 3: the control plane's database into its browser replica, on the
    /// same server. The id names the database, so servers sharing one
    /// CouchDB with different databases (tests, staging) do not take over
    /// each other's replication.
    pub fn browser(control_plane: &CouchClient) -> Self {
        let db = control_plane.db_name();
        let replica = control_plane.database(&browser_db_name(db));
        ReplicationSpec {
            id: format!("mosaicfs-browser-{db}"),
            source: control_plane.db_url_with_credentials(),
            target: replica.db_url_with_credentials(),
            filter: "mosaicfs/browser".into(),
            query_params: json!({}),
        }
    }

    /// The `_replicator` document.
    pub fn document(&self) -> Value {
        json!({
            "_id": self.id,
            "source": self.source,
            "target": self.target,
            "continuous": true,
            "create_target": false,
            "filter": self.filter,
            "query_params": self.query_params,
        })
    }
}

/// Writes the `_replicator` document unless an identical one exists. Fields
/// the replicator adds (`_replication_state`, …) are ignored in the
/// comparison, so an unchanged replication is not restarted; a changed one is
/// updated in place, never deleted.
pub async fn ensure_replication(
    replicator: &CouchClient,
    spec: &ReplicationSpec,
) -> Result<bool, CouchError> {
    let wanted = spec.document();
    for _ in 0..5 {
        let current = replicator.get_value(&spec.id).await?;
        let mut doc = wanted.clone();
        if let Some(cur) = &current {
            let same = ["source", "target", "continuous", "filter", "query_params"]
                .iter()
                .all(|k| cur.get(k) == wanted.get(k));
            // pouchdb-server's replicator gives a replication up ("error")
            // after its target has been away long enough (a control plane
            // rebuilt) and never retries it; rewriting the document starts
            // it again. CouchDB 3's scheduler retries by itself, and a
            // rewrite there only restarts it.
            let gave_up = cur.get("_replication_state").and_then(Value::as_str) == Some("error");
            if same && !gave_up {
                return Ok(false);
            }
            // Update in place: CouchDB restarts the replication. (Deleting a
            // running replication's document crashes pouchdb-server 4.2.0.)
            if let (Some(o), Some(rev)) = (doc.as_object_mut(), cur.get("_rev")) {
                o.insert("_rev".into(), rev.clone());
            }
            match replicator.put(&doc).await {
                Ok(_) => return Ok(true),
                Err(CouchError::Conflict { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        if let Some(o) = doc.as_object_mut() {
            o.remove("_rev");
        }
        match replicator.put(&doc).await {
            Ok(_) => return Ok(true),
            Err(CouchError::Conflict { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(CouchError::Conflict {
        operation: "ensure replication".into(),
        id: spec.id.clone(),
    })
}

/// The state of one replication as the server reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicationState {
    /// `running`, `pending`, `crashing`, `error`, `failed`, `completed`
    /// (CouchDB 3 scheduler) or `triggered`, `error`, `completed`
    /// (replicators that record `_replication_state` in the document).
    pub state: String,
    /// Error text, if any.
    pub error: Option<String>,
}

impl ReplicationState {
    /// Whether the replication is healthy (running or waiting its turn).
    pub fn is_healthy(&self) -> bool {
        matches!(
            self.state.as_str(),
            "running" | "triggered" | "pending" | "completed"
        )
    }
}

/// Reads a replication's state: CouchDB 3's `_scheduler/docs` first, then the
/// `_replication_state` field of the document (older CouchDB and
/// pouchdb-server). `None` if the server reports no state yet.
pub async fn replication_state(
    replicator: &CouchClient,
    doc_id: &str,
) -> Result<Option<ReplicationState>, CouchError> {
    match replicator
        .server_get(&["_scheduler", "docs", replicator.db_name(), doc_id])
        .await
    {
        Ok(Some(v)) if v.get("state").is_some() => {
            let state = v["state"].as_str().unwrap_or("unknown").to_string();
            let error = v
                .get("info")
                .and_then(|i| i.get("error"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            return Ok(Some(ReplicationState { state, error }));
        }
        Ok(_) => {}
        // Servers without a scheduler answer 400 or 404 here.
        Err(e) if e.status().is_some() => {}
        Err(e) => return Err(e),
    }
    let Some(doc) = replicator.get_value(doc_id).await? else {
        return Ok(None);
    };
    Ok(doc
        .get("_replication_state")
        .and_then(Value::as_str)
        .map(|s| ReplicationState {
            state: s.to_string(),
            error: doc
                .get("_replication_state_reason")
                .and_then(Value::as_str)
                .map(str::to_owned),
        }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browser_filter_lists_exactly_the_allowed_prefixes() {
        let list = BROWSER_FILTER
            .split_once('[')
            .and_then(|(_, rest)| rest.split_once(']'))
            .map(|(list, _)| list)
            .expect("the filter has an allow-list");
        let listed: Vec<&str> = list
            .split(',')
            .map(|s| s.trim().trim_matches('\''))
            .collect();
        assert_eq!(listed, BROWSER_PREFIXES);
        for never in [
            crate::ids::FILE_PREFIX,
            crate::ids::ANNOTATION_PREFIX,
            crate::ids::PLUGIN_PREFIX,
            crate::ids::CREDENTIAL_PREFIX,
            "_design/",
        ] {
            assert!(
                !BROWSER_PREFIXES.iter().any(|p| never.starts_with(p)),
                "{never}"
            );
        }
    }

    #[test]
    fn browser_spec_targets_the_derived_database() {
        let cp = CouchClient::new(&crate::couch::CouchConfig {
            url: "http://127.0.0.1:5984".into(),
            database: "mosaicfs".into(),
            username: Some("admin".into()),
            password: Some("pw".into()),
        })
        .unwrap();
        let spec = ReplicationSpec::browser(&cp);
        assert_eq!(spec.id, "mosaicfs-browser-mosaicfs");
        assert_eq!(spec.source, "http://admin:pw@127.0.0.1:5984/mosaicfs");
        assert_eq!(
            spec.target,
            "http://admin:pw@127.0.0.1:5984/mosaicfs_browser"
        );
        assert_eq!(spec.document()["filter"], "mosaicfs/browser");
        assert_eq!(spec.document()["continuous"], true);
    }
}
