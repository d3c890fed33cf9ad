//! Backup and restore as pure functions (plan 8.1, 8.2): which documents a
//! minimal backup keeps and how it redacts them, and the restore's checks
//! of an uploaded file. No I/O here; `routes::backup` does the database
//! work.
//!
//! A backup file is a `_bulk_docs` body, `{"docs": [ … ]}`, with every
//! document as stored, `_rev` included, so that a restore writes the same
//! revisions (`new_edits: false`) and the agents' replicas, which still hold
//! those revisions, do not turn every document into a conflict.

use mosaicfs_common::documents::{Document, NetworkMount};
use mosaicfs_common::ids;
use serde_json::{Map, Value};
use std::ops::Range;

/// What a backup holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BackupKind {
    /// What only the control plane holds: virtual directories, labels,
    /// plugin documents (secret settings redacted), credentials, and the
    /// control plane's part of each node document. Agents bring back the
    /// rest (files, status, utilization, annotations) by replication.
    Minimal,
    /// Every document of the database except design documents.
    Full,
}

impl BackupKind {
    /// `minimal` or `full`.
    pub fn as_str(self) -> &'static str {
        match self {
            BackupKind::Minimal => "minimal",
            BackupKind::Full => "full",
        }
    }
}

/// The value that replaces a secret setting in a minimal backup.
pub const REDACTED: &str = "__REDACTED__";

/// Marks a node document of a minimal backup that holds only the control
/// plane's fields; a restore merges it into the node document instead of
/// writing it as is.
pub const PARTIAL_MARKER: &str = "mosaicfs_partial";

/// Fields of a partial node document (besides `_id`, `type` and the marker).
const PARTIAL_NODE_FIELDS: [&str; 7] = [
    "node_id",
    "friendly_name",
    "platform",
    "access_key_id",
    "registered_at",
    "network_mounts",
    "disabled",
];

/// Whether a stored document belongs in a backup of `kind`, and in what
/// form; `None` leaves it out. Design documents are never backed up: the
/// server installs its own at start, and an old one restored could
/// downgrade the replication filters.
pub fn for_backup(kind: BackupKind, doc: Value) -> Option<Value> {
    let id = doc.get("_id").and_then(Value::as_str)?;
    if id.starts_with('_') {
        return None;
    }
    if kind == BackupKind::Full {
        return Some(doc);
    }
    match doc.get("type").and_then(Value::as_str)? {
        "virtual_directory" | "label_assignment" | "label_rule" | "credential" => Some(doc),
        "plugin" => Some(redact_plugin(doc)),
        "node" => Some(partial_node(&doc)),
        _ => None,
    }
}

/// Replaces the value of every setting whose schema says `"type":
/// "secret"` with [`REDACTED`]. The schema is the plugin's
/// `settings_schema` (`{"properties": {name: {"type": …}}}`).
pub fn redact_plugin(mut doc: Value) -> Value {
    let secret: Vec<String> = doc
        .pointer("/settings_schema/properties")
        .and_then(Value::as_object)
        .map(|props| {
            props
                .iter()
                .filter(|(_, p)| p.get("type").and_then(Value::as_str) == Some("secret"))
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default();
    if let Some(settings) = doc.get_mut("settings").and_then(Value::as_object_mut) {
        for k in secret {
            if let Some(v) = settings.get_mut(&k)
                && !v.is_null()
            {
                *v = Value::String(REDACTED.into());
            }
        }
    }
    doc
}

/// The control plane's part of a node document (plus what a restore needs
/// to recreate it before its agent reports again), marked partial, without
/// `_rev`: the restore merges it by field ownership.
fn partial_node(doc: &Value) -> Value {
    let mut out = Map::new();
    for k in ["_id", "type"] {
        if let Some(v) = doc.get(k) {
            out.insert(k.into(), v.clone());
        }
    }
    for k in PARTIAL_NODE_FIELDS {
        if let Some(v) = doc.get(k) {
            out.insert(k.into(), v.clone());
        }
    }
    out.insert(PARTIAL_MARKER.into(), Value::Bool(true));
    Value::Object(out)
}

/// Why an uploaded backup cannot be restored. Every message names the
/// first bad document (its position in `docs` and its `_id` when known).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RestoreError {
    /// The body is not JSON, or not the `_bulk_docs` shape.
    #[error("the backup is not a `_bulk_docs` JSON file: {0}; nothing was restored")]
    NotJson(String),
    /// The body ends before the JSON does.
    #[error("the backup is truncated: it ends inside {0}; nothing was restored")]
    Truncated(String),
    /// More documents than the server accepts.
    #[error(
        "the backup holds more than {limit} documents (docs[{limit}] is the first beyond the limit; the server's --max-restore-documents); nothing was restored"
    )]
    TooMany {
        /// The limit.
        limit: usize,
    },
    /// One document is invalid.
    #[error("docs[{index}]{id}: {reason}; nothing was restored")]
    BadDocument {
        /// Position in `docs`.
        index: usize,
        /// ` (_id "…")` when the document has one.
        id: String,
        /// What is wrong.
        reason: String,
    },
}

/// Where document `index` is, for messages.
fn describe(index: usize, id: Option<&str>) -> String {
    match id {
        Some(id) => format!("docs[{index}] (_id {id:?})"),
        None => format!("docs[{index}]"),
    }
}

/// A small scanner over the top level of a `_bulk_docs` body. It finds the
/// byte range of each element of `docs` without building a JSON tree of
/// the whole file (a full backup of 500,000 documents is hundreds of MB);
/// each element is then parsed on its own by serde_json.
struct Scanner<'a> {
    b: &'a [u8],
    pos: usize,
}

/// The scanner ran out of input.
struct Eof;

impl Scanner<'_> {
    fn ws(&mut self) {
        while self.pos < self.b.len() && matches!(self.b[self.pos], b' ' | b'\t' | b'\r' | b'\n') {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Result<u8, Eof> {
        self.b.get(self.pos).copied().ok_or(Eof)
    }

    /// Skips a string starting at `pos` (on its `"`); returns its raw
    /// contents' range.
    fn string(&mut self) -> Result<Range<usize>, Eof> {
        self.pos += 1;
        let start = self.pos;
        loop {
            match self.b.get(self.pos).copied().ok_or(Eof)? {
                b'\\' => self.pos += 2,
                b'"' => {
                    self.pos += 1;
                    return Ok(start..self.pos - 1);
                }
                _ => self.pos += 1,
            }
        }
    }

    /// Skips one value; brackets are only counted (serde_json checks each
    /// document's syntax afterwards, and values outside `docs` are ignored).
    fn value(&mut self) -> Result<(), Eof> {
        match self.peek()? {
            b'"' => self.string().map(|_| ()),
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match self.peek()? {
                        b'"' => {
                            self.string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.pos += 1;
                                return Ok(());
                            }
                        }
                        _ => {}
                    }
                    self.pos += 1;
                }
            }
            _ => {
                while self.pos < self.b.len()
                    && !matches!(
                        self.b[self.pos],
                        b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n'
                    )
                {
                    self.pos += 1;
                }
                if self.pos == self.b.len() {
                    return Err(Eof);
                }
                Ok(())
            }
        }
    }
}

/// The `_id` a truncated element seems to have, for the message.
fn sniff_id(partial: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(&partial[..partial.len().min(4096)]);
    let at = text.find("\"_id\"")?;
    let rest = text[at + 5..].trim_start().strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_string())
}

/// The byte ranges of the elements of the top-level `docs` array of `body`,
/// at most `max_docs` of them.
pub fn split_docs(body: &[u8], max_docs: usize) -> Result<Vec<Range<usize>>, RestoreError> {
    let mut s = Scanner { b: body, pos: 0 };
    let not_json = |what: &str, pos: usize| RestoreError::NotJson(format!("{what} at byte {pos}"));
    let eof_outside = || RestoreError::Truncated("the top-level object".into());
    s.ws();
    if s.pos == body.len() {
        return Err(RestoreError::NotJson("the body is empty".into()));
    }
    if s.peek().map_err(|_| eof_outside())? != b'{' {
        return Err(not_json("expected an object `{\"docs\": [...]}`", s.pos));
    }
    s.pos += 1;
    let mut docs: Option<Vec<Range<usize>>> = None;
    loop {
        s.ws();
        match s.peek().map_err(|_| eof_outside())? {
            b'}' => {
                s.pos += 1;
                break;
            }
            b'"' => {}
            _ => return Err(not_json("expected a key", s.pos)),
        }
        let key = s.string().map_err(|_| eof_outside())?;
        let is_docs = &body[key] == b"docs";
        s.ws();
        if s.peek().map_err(|_| eof_outside())? != b':' {
            return Err(not_json("expected `:`", s.pos));
        }
        s.pos += 1;
        s.ws();
        if is_docs {
            if s.peek().map_err(|_| eof_outside())? != b'[' {
                return Err(not_json("`docs` must be an array", s.pos));
            }
            s.pos += 1;
            let mut list = Vec::new();
            loop {
                s.ws();
                let index = list.len();
                let truncated = |start: usize| {
                    RestoreError::Truncated(describe(index, sniff_id(&body[start..]).as_deref()))
                };
                match s.peek().map_err(|_| truncated(s.pos))? {
                    b']' if index == 0 => {
                        s.pos += 1;
                        break;
                    }
                    _ => {}
                }
                if index == max_docs {
                    return Err(RestoreError::TooMany { limit: max_docs });
                }
                let start = s.pos;
                s.value().map_err(|_| truncated(start))?;
                list.push(start..s.pos);
                s.ws();
                match s.peek().map_err(|_| truncated(start))? {
                    b',' => s.pos += 1,
                    b']' => {
                        s.pos += 1;
                        break;
                    }
                    _ => return Err(not_json(&format!("after {}", describe(index, None)), s.pos)),
                }
            }
            docs = Some(list);
        } else {
            s.value().map_err(|_| eof_outside())?;
        }
        s.ws();
        match s.peek().map_err(|_| eof_outside())? {
            b',' => s.pos += 1,
            b'}' => {
                s.pos += 1;
                break;
            }
            _ => return Err(not_json("expected `,` or `}`", s.pos)),
        }
    }
    s.ws();
    if s.pos != body.len() {
        return Err(not_json("unexpected data after the object", s.pos));
    }
    docs.ok_or_else(|| RestoreError::NotJson("the object has no `docs` array".into()))
}

/// How a checked document is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// As is, with its revision (`new_edits: false`).
    Replicated,
    /// As a new revision (the file gave no `_rev`).
    New,
    /// A partial node document: merged into the node document.
    PartialNode,
}

/// One document of the backup that passed the checks.
#[derive(Debug, Clone)]
pub struct Checked {
    /// `_id`.
    pub id: String,
    /// `_rev`, if the file gave one.
    pub rev: Option<String>,
    /// How to write it.
    pub write: Write,
    /// Where it is in the body.
    pub range: Range<usize>,
    /// Secret settings found redacted (plugins of a minimal backup).
    pub redacted: Vec<String>,
}

/// The `_id` a document of this type must have, or `Err` with the reason.
fn expected_id(doc: &Document) -> Result<Option<String>, String> {
    Ok(Some(match doc {
        Document::File(_) => return Ok(None),
        Document::LabelRule(_) => return Ok(None),
        Document::VirtualDirectory(d) => ids::dir_id(&d.virtual_path),
        Document::Node(d) => ids::node_doc_id(&d.node_id),
        Document::Credential(d) => ids::credential_id(&d.access_key_id),
        Document::AgentStatus(d) => ids::status_id(&d.node_id),
        Document::UtilizationSnapshot(d) => ids::utilization_id(&d.node_id, &d.captured_at),
        Document::LabelAssignment(d) => ids::label_assignment_id(
            ids::file_uuid(&d.file_id).ok_or("field `file_id` is not a file id")?,
        ),
        Document::Plugin(d) => ids::plugin_id(&d.node_id, &d.plugin_name),
        Document::Annotation(d) => ids::annotation_id(
            ids::file_uuid(&d.file_id).ok_or("field `file_id` is not a file id")?,
            &d.plugin_name,
        ),
        Document::Notification(d) => ids::notification_id(&d.source.node_id, &d.condition_key),
    }))
}

/// The id prefix of each type (for the types whose id has a free part).
fn prefix_of(doc: &Document) -> Option<&'static str> {
    match doc {
        Document::File(_) => Some(ids::FILE_PREFIX),
        Document::LabelRule(_) => Some(ids::LABEL_RULE_PREFIX),
        _ => None,
    }
}

fn doc_type_name(doc: &Document) -> &'static str {
    match doc {
        Document::File(_) => "file",
        Document::VirtualDirectory(_) => "virtual_directory",
        Document::Node(_) => "node",
        Document::Credential(_) => "credential",
        Document::AgentStatus(_) => "agent_status",
        Document::UtilizationSnapshot(_) => "utilization_snapshot",
        Document::LabelAssignment(_) => "label_assignment",
        Document::LabelRule(_) => "label_rule",
        Document::Plugin(_) => "plugin",
        Document::Annotation(_) => "annotation",
        Document::Notification(_) => "notification",
    }
}

/// For a document of a known type that does not parse: which field is
/// wrong, as `field `a.b[0]`: problem`.
fn malformed_field(value: &Value) -> Option<String> {
    use mosaicfs_common::documents::*;
    fn path<T: serde::de::DeserializeOwned>(v: &Value) -> Option<String> {
        match serde_path_to_error::deserialize::<_, T>(v) {
            Ok(_) => None,
            Err(e) => Some(format!("field `{}`: {}", e.path(), e.inner())),
        }
    }
    match value.get("type")?.as_str()? {
        "file" => path::<FileDoc>(value),
        "virtual_directory" => path::<VirtualDirectoryDoc>(value),
        "node" => path::<NodeDoc>(value),
        "credential" => path::<CredentialDoc>(value),
        "agent_status" => path::<AgentStatusDoc>(value),
        "utilization_snapshot" => path::<UtilizationSnapshotDoc>(value),
        "label_assignment" => path::<LabelAssignmentDoc>(value),
        "label_rule" => path::<LabelRuleDoc>(value),
        "plugin" => path::<PluginDoc>(value),
        "annotation" => path::<AnnotationDoc>(value),
        "notification" => path::<NotificationDoc>(value),
        _ => None,
    }
}

/// Whether `rev` looks like a CouchDB revision: `N-hex`.
fn valid_rev(rev: &str) -> bool {
    rev.split_once('-').is_some_and(|(n, h)| {
        !n.is_empty()
            && n.bytes().all(|b| b.is_ascii_digit())
            && !h.is_empty()
            && h.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

/// Checks document `index` of the backup (the bytes in `range`).
pub fn check(index: usize, body: &[u8], range: Range<usize>) -> Result<Checked, RestoreError> {
    let bad = |id: Option<&str>, reason: String| RestoreError::BadDocument {
        index,
        id: id.map(|i| format!(" (_id {i:?})")).unwrap_or_default(),
        reason,
    };
    let value: Value = serde_json::from_slice(&body[range.clone()]).map_err(|e| {
        bad(
            sniff_id(&body[range.clone()]).as_deref(),
            format!("not valid JSON: {e}"),
        )
    })?;
    let Some(obj) = value.as_object() else {
        return Err(bad(None, "not a JSON object".into()));
    };
    let id = match obj.get("_id") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(_) => return Err(bad(None, "field `_id` must be a non-empty string".into())),
        None => return Err(bad(None, "field `_id` is missing".into())),
    };
    let bad = |reason: String| bad(Some(&id), reason);
    if id.starts_with('_') {
        return Err(bad(
            "design and local documents are not restored (the server installs its own)".into(),
        ));
    }
    for k in obj.keys() {
        if k.starts_with('_') && !matches!(k.as_str(), "_id" | "_rev") {
            return Err(bad(format!(
                "field `{k}` is not allowed in a backup (deleted documents, attachments and conflicts are not backed up)"
            )));
        }
    }
    let rev = match obj.get("_rev") {
        None => None,
        Some(Value::String(r)) if valid_rev(r) => Some(r.clone()),
        Some(_) => {
            return Err(bad(
                "field `_rev` is not a CouchDB revision (`N-hex`)".into()
            ));
        }
    };
    let redacted = obj
        .get("settings")
        .and_then(Value::as_object)
        .map(|s| {
            s.iter()
                .filter(|(_, v)| v.as_str() == Some(REDACTED))
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default();
    if obj.get(PARTIAL_MARKER) == Some(&Value::Bool(true)) {
        if obj.get("type").and_then(Value::as_str) != Some("node") {
            return Err(bad(format!(
                "field `{PARTIAL_MARKER}` is only allowed on node documents"
            )));
        }
        let node_id = obj
            .get("node_id")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("field `node_id` is missing".into()))?;
        if !ids::is_valid_node_id(node_id) || id != ids::node_doc_id(node_id) {
            return Err(bad(format!(
                "a node document's `_id` must be {:?}",
                ids::node_doc_id(node_id)
            )));
        }
        if let Some(m) = obj.get("network_mounts") {
            serde_json::from_value::<Vec<NetworkMount>>(m.clone())
                .map_err(|e| bad(format!("field `network_mounts`: {e}")))?;
        }
        for k in obj.keys() {
            if !matches!(k.as_str(), "_id" | "type" | PARTIAL_MARKER)
                && !PARTIAL_NODE_FIELDS.contains(&k.as_str())
            {
                return Err(bad(format!(
                    "field `{k}` is not part of a partial node document"
                )));
            }
        }
        return Ok(Checked {
            id,
            rev: None,
            write: Write::PartialNode,
            range,
            redacted,
        });
    }
    let doc = Document::from_value(value.clone()).map_err(|e| match malformed_field(&value) {
        Some(reason) => bad(reason),
        None => bad(e.to_string()),
    })?;
    if let Document::Node(n) = &doc
        && !ids::is_valid_node_id(&n.node_id)
    {
        return Err(bad("field `node_id` is not a valid node id".into()));
    }
    let type_name = doc_type_name(&doc);
    match expected_id(&doc).map_err(bad)? {
        Some(want) if want != id => {
            return Err(bad(format!(
                "a {type_name} document with these fields must have `_id` {want:?}"
            )));
        }
        Some(_) => {}
        None => {
            let prefix = prefix_of(&doc).unwrap_or_default();
            if !id.starts_with(prefix) || id.len() == prefix.len() {
                return Err(bad(format!(
                    "a {type_name} document's `_id` must start with {prefix:?}"
                )));
            }
        }
    }
    Ok(Checked {
        write: if rev.is_some() {
            Write::Replicated
        } else {
            Write::New
        },
        id,
        rev,
        range,
        redacted,
    })
}

/// Splits and checks a whole backup; the first problem stops it. Also
/// refuses an `_id` that appears twice.
pub fn check_all(body: &[u8], max_docs: usize) -> Result<Vec<Checked>, RestoreError> {
    let ranges = split_docs(body, max_docs)?;
    let mut seen = std::collections::HashMap::with_capacity(ranges.len());
    let mut out = Vec::with_capacity(ranges.len());
    for (index, range) in ranges.into_iter().enumerate() {
        let c = check(index, body, range)?;
        if let Some(first) = seen.insert(c.id.clone(), index) {
            return Err(RestoreError::BadDocument {
                index,
                id: format!(" (_id {:?})", c.id),
                reason: format!("the same `_id` as docs[{first}]"),
            });
        }
        out.push(c);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dir(path: &str) -> Value {
        json!({"_id": ids::dir_id(path), "_rev": "1-abc", "type": "virtual_directory",
            "inode": 1234, "virtual_path": path, "name": "x", "parent_path": "/",
            "created_at": "2026-01-01T00:00:00Z", "enforce_steps_on_children": false, "mounts": []})
    }

    fn body(docs: &[Value]) -> Vec<u8> {
        serde_json::to_vec(&json!({ "docs": docs })).unwrap()
    }

    /// `check_all` on `body` fails with a message containing `needle`.
    fn refused(body: &[u8], needle: &str) {
        match check_all(body, 100) {
            Ok(_) => panic!("accepted: {}", String::from_utf8_lossy(body)),
            Err(e) => assert!(e.to_string().contains(needle), "{needle:?} not in {e}"),
        }
    }

    #[test]
    fn a_good_backup_passes() {
        let b = body(&[dir("/a"), dir("/b")]);
        let c = check_all(&b, 100).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].write, Write::Replicated);
        let empty = check_all(br#" { "docs" : [ ] , "new_edits": true } "#, 100).unwrap();
        assert!(empty.is_empty());
    }

    #[test]
    fn bad_inputs_name_the_first_bad_document() {
        let good = body(&[dir("/a"), dir("/b")]);
        // Truncated in the second document: named with its id.
        refused(&good[..good.len() - 30], "ends inside docs[1] (_id \"dir::");
        refused(&good[..good.len() - 1], "truncated");
        refused(b"", "empty");
        refused(b"not json", "expected an object");
        refused(b"[1,2]", "expected an object");
        refused(br#"{"docs": {}}"#, "must be an array");
        refused(br#"{"rows": []}"#, "no `docs` array");
        refused(br#"{"docs": []} trailing"#, "after the object");
        refused(br#"{"docs": [{"_id": "x", "type": "file",}]}"#, "docs[0]");
        refused(br#"{"docs": [42]}"#, "docs[0]: not a JSON object");
        refused(
            br#"{"docs": [{"type": "file"}]}"#,
            "docs[0]: field `_id` is missing",
        );
        let mut unknown = dir("/a");
        unknown["type"] = json!("spaceship");
        refused(&body(&[dir("/b"), unknown]), "docs[1] (_id \"dir::");
        refused(
            &body(&[dir("/b"), json!({"_id": "dir::x", "type": "spaceship"})]),
            "unknown type",
        );
        let mut wrong_id = dir("/a");
        wrong_id["_id"] = json!("dir::0000");
        refused(&body(&[wrong_id]), "must have `_id`");
        let mut wrong_prefix = dir("/a");
        wrong_prefix["_id"] = json!("file::0000");
        refused(&body(&[wrong_prefix]), "must have `_id`");
        refused(&body(&[dir("/a"), dir("/a")]), "docs[1] (_id \"dir::");
        refused(&body(&[dir("/a"), dir("/a")]), "same `_id` as docs[0]");
        let mut deleted = dir("/a");
        deleted["_deleted"] = json!(true);
        refused(&body(&[deleted]), "field `_deleted` is not allowed");
        let mut rev = dir("/a");
        rev["_rev"] = json!("banana");
        refused(&body(&[rev]), "`_rev`");
        refused(&body(&[json!({"_id": "_design/mosaicfs"})]), "design");
        let mut malformed = dir("/a");
        malformed["mounts"] = json!("nope");
        refused(&body(&[malformed]), "mounts");
    }

    #[test]
    fn too_many_documents_is_refused_before_parsing_them() {
        let many = format!("{{\"docs\":[{}{{}}]}}", "{},".repeat(100));
        refused(many.as_bytes(), "more than 100 documents");
    }

    #[test]
    fn minimal_keeps_control_plane_documents_and_redacts_secrets() {
        let plugin = json!({"_id": "plugin::n1::ai", "_rev": "2-a", "type": "plugin",
            "settings_schema": {"properties": {"api_key": {"type": "secret"}, "model": {"type": "string"}}},
            "settings": {"api_key": "sk-123", "model": "m"}});
        let out = for_backup(BackupKind::Minimal, plugin.clone()).unwrap();
        assert_eq!(out["settings"]["api_key"], json!(REDACTED));
        assert_eq!(out["settings"]["model"], json!("m"));
        assert_eq!(out["_rev"], json!("2-a"));
        // Full keeps the secret.
        let full = for_backup(BackupKind::Full, plugin).unwrap();
        assert_eq!(full["settings"]["api_key"], json!("sk-123"));

        let node = json!({"_id": "node::n1", "_rev": "9-x", "type": "node", "node_id": "n1",
            "friendly_name": "laptop", "platform": "linux", "status": "online",
            "last_heartbeat": "2026-01-01T00:00:00Z", "storage": [{"x": 1}],
            "network_mounts": [], "control_updated_at": "2026-01-01T00:00:00Z"});
        let partial = for_backup(BackupKind::Minimal, node).unwrap();
        assert_eq!(partial[PARTIAL_MARKER], json!(true));
        assert!(partial.get("_rev").is_none() && partial.get("storage").is_none());
        assert_eq!(partial["friendly_name"], json!("laptop"));

        for t in [
            "file",
            "agent_status",
            "utilization_snapshot",
            "annotation",
            "notification",
        ] {
            assert!(for_backup(BackupKind::Minimal, json!({"_id": "x::y", "type": t})).is_none());
        }
        assert!(for_backup(BackupKind::Full, json!({"_id": "_design/mosaicfs"})).is_none());
        // A partial node document passes the restore's checks.
        let b = body(&[partial]);
        assert_eq!(check_all(&b, 10).unwrap()[0].write, Write::PartialNode);
    }
}
