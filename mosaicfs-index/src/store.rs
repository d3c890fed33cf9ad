//! The SQLite side of the index: the schema, applying one `_changes` page in
//! one transaction, and the queries. Everything here is synchronous and does
//! blocking I/O; async callers go through [`crate::Index`], which runs it on
//! the blocking pool.

use crate::error::IndexError;
use mosaicfs_common::documents::{
    FileDoc, FileSource, FileStatus, LabelAssignmentDoc, LabelRuleDoc, VirtualDirectoryDoc,
};
use mosaicfs_common::ids;
use mosaicfs_common::rules::labels::FileLocation;
use rusqlite::{Connection, OptionalExtension, Transaction, params, params_from_iter};
use serde::Deserialize;
use serde_json::Value;
use std::path::Path;

/// Schema version; a different stored version rebuilds the index (it is a
/// cache of the database, so dropping it loses nothing: the follower reads
/// the changes feed again from the start). Version 4 added
/// `export_path_bytes`.
const SCHEMA_VERSION: i64 = 4;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS files (
    id            TEXT PRIMARY KEY,
    node_id       TEXT NOT NULL,
    name          TEXT NOT NULL,
    name_lc       TEXT NOT NULL,
    export_path   TEXT NOT NULL,
    export_parent TEXT NOT NULL,
    size          INTEGER NOT NULL,
    mtime         TEXT NOT NULL,
    mtime_ns      INTEGER,
    mime_type     TEXT,
    status        TEXT NOT NULL,
    inode         INTEGER NOT NULL,
    -- base64 of the exact path bytes, as in the document; NULL when the
    -- path is valid UTF-8 (then export_path is exact).
    export_path_bytes TEXT
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS files_node_parent ON files (node_id, export_parent);
-- Covering indexes for the readdir range scans (by node, or any node): a
-- scan never visits the table (measured: the per-row table lookups were most
-- of an uncached readdir over 500K files). They also serve path lookups.
CREATE INDEX IF NOT EXISTS files_node_path ON files (node_id, export_path, status,
    id, name, export_parent, size, mtime, mtime_ns, mime_type, inode, export_path_bytes);
CREATE INDEX IF NOT EXISTS files_path ON files (export_path, status, node_id,
    id, name, export_parent, size, mtime, mtime_ns, mime_type, inode, export_path_bytes);
CREATE INDEX IF NOT EXISTS files_name ON files (name_lc);
CREATE INDEX IF NOT EXISTS files_inode ON files (inode);
CREATE TABLE IF NOT EXISTS label_assignments (
    doc_id  TEXT PRIMARY KEY,
    file_id TEXT NOT NULL,
    doc     TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS file_labels (
    label   TEXT NOT NULL,
    file_id TEXT NOT NULL,
    PRIMARY KEY (label, file_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS label_rules (id TEXT PRIMARY KEY, doc TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS virtual_directories (id TEXT PRIMARY KEY, doc TEXT NOT NULL) WITHOUT ROWID;
";

/// One indexed file: the fields the hot queries need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRow {
    /// `file::{uuid}`.
    pub id: String,
    /// Owning node.
    pub node_id: String,
    /// File name.
    pub name: String,
    /// Absolute path on the owning node (lossy UTF-8).
    pub export_path: String,
    /// Parent directory of `export_path`.
    pub export_parent: String,
    /// Bytes.
    pub size: u64,
    /// Modification time, RFC 3339 as stored in the document.
    pub mtime: String,
    /// MIME type, if known.
    pub mime_type: Option<String>,
    /// `active` or `deleted`.
    pub status: String,
    /// The file's inode.
    pub inode: u64,
    /// Base64 of the exact path bytes when the path is not UTF-8 (as
    /// `source.export_path_bytes` in the document).
    pub export_path_bytes: Option<String>,
}

/// How a search matches names. Both are case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameMatch {
    /// The name contains this text.
    Substring(String),
    /// The whole name matches this glob: `*`, `?`, `[abc]`, `[a-z]`, `[^a]`.
    Glob(String),
}

/// Restricts a search to files that may carry a label: files assigned the
/// label directly, or covered by one of `rules` (`(node_id or "*", path
/// prefix)`). A cheap superset; callers compute effective labels exactly.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelScope {
    /// The label.
    pub label: String,
    /// `(node_id, path_prefix)` of enabled rules that carry the label.
    pub rules: Vec<(String, String)>,
}

/// A search or listing.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Name filter; `None` matches every name.
    pub name: Option<NameMatch>,
    /// Only this node's files.
    pub node_id: Option<String>,
    /// Only files that may carry this label.
    pub label: Option<LabelScope>,
    /// Only ids greater than this (the cursor).
    pub after: Option<String>,
    /// At most this many rows.
    pub limit: usize,
    /// Include soft-deleted files.
    pub include_deleted: bool,
}

/// What applying one page changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplyStats {
    /// File rows written or removed.
    pub files: usize,
    /// Label documents written or removed.
    pub labels: usize,
    /// Virtual directory documents written or removed.
    pub directories: usize,
    /// Documents skipped because they did not parse.
    pub malformed: usize,
}

/// Opens (creating if needed) the index at `path`. A file with another
/// schema version or for another database (`source`) is emptied.
pub fn open(path: &Path, source: &str) -> Result<Connection, IndexError> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(|e| IndexError::Io {
            path: dir.to_owned(),
            source: e,
        })?;
    }
    let conn = Connection::open(path)?;
    configure(&conn)?;
    // The writer inserts into several indexes in random key order while the
    // follower catches up: it keeps 16 MiB of pages (the readers 4 MiB).
    conn.pragma_update(None, "cache_size", -16384)?;
    // The version is checked before the schema is applied: an older file's
    // tables lack columns the new indexes name.
    let version: Option<String> = meta(&conn, "schema_version")?;
    let stored_source: Option<String> = meta(&conn, "source")?;
    if version.as_deref() != Some(&SCHEMA_VERSION.to_string())
        || stored_source.as_deref() != Some(source)
    {
        if version.is_some() || stored_source.is_some() {
            tracing::info!(path = %path.display(), "index belongs to another schema or database; rebuilding");
        }
        conn.execute_batch(
            "DROP TABLE IF EXISTS files; DROP TABLE IF EXISTS label_assignments;
             DROP TABLE IF EXISTS file_labels; DROP TABLE IF EXISTS label_rules;
             DROP TABLE IF EXISTS virtual_directories; DROP TABLE IF EXISTS meta;",
        )?;
        conn.execute_batch(SCHEMA)?;
        set_meta(&conn, "schema_version", &SCHEMA_VERSION.to_string())?;
        set_meta(&conn, "source", source)?;
    }
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}

/// Opens another connection to an index already opened with [`open`], for
/// reading.
pub fn open_reader(path: &Path) -> Result<Connection, IndexError> {
    let conn = Connection::open(path)?;
    configure(&conn)?;
    Ok(conn)
}

fn configure(conn: &Connection) -> Result<(), IndexError> {
    // WAL lets readers run while the follower writes a page.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // Pages are read with pread, not mapped: every mapped page the follower
    // or a readdir scan touches counted in the process's resident memory
    // (VmHWM 1.1 GiB with 500,000 documents, issue 7 row 9b). The kernel's
    // page cache keeps the file hot either way; SQLite's own cache is 4 MiB
    // per connection (five of them), enough for the b-tree's inner pages.
    conn.pragma_update(None, "cache_size", -4096)?;
    conn.pragma_update(None, "mmap_size", 0)?;
    Ok(())
}

fn meta(conn: &Connection, key: &str) -> Result<Option<String>, IndexError> {
    // The table may not exist yet in a brand-new file.
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;",
    )?;
    Ok(conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()?)
}

fn set_meta(conn: &Connection, key: &str, value: &str) -> Result<(), IndexError> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

/// The stored `last_seq` (JSON text of CouchDB's opaque value), if any.
pub fn last_seq(conn: &Connection) -> Result<Option<Value>, IndexError> {
    Ok(meta(conn, "last_seq")?.and_then(|s| serde_json::from_str(&s).ok()))
}

/// One change, reduced to what the index needs.
#[derive(Debug, Clone)]
pub struct ChangeIn<'a> {
    /// Document id.
    pub id: &'a str,
    /// Whether the document was deleted.
    pub deleted: bool,
    /// The document (absent for deletions on some servers).
    pub doc: Option<&'a Value>,
}

/// Applies a page of changes and records `last_seq`, all in one transaction.
pub fn apply_page(
    conn: &mut Connection,
    changes: &[ChangeIn<'_>],
    last_seq: &Value,
) -> Result<ApplyStats, IndexError> {
    apply_page_events(conn, changes, last_seq).map(|(stats, _)| stats)
}

/// One change as the in-memory state derived from the index (the label
/// cache, the directory set) needs it, in feed order.
#[derive(Debug, Clone)]
pub enum Applied {
    /// A file row was written or removed; `loc` is `None` unless the file
    /// is active.
    File {
        /// File id.
        id: String,
        /// Its location when active.
        loc: Option<FileLocation>,
    },
    /// A label assignment was written (`doc`) or removed (`None`).
    Assignment {
        /// The labelled file.
        file_id: String,
        /// The assignment.
        doc: Option<LabelAssignmentDoc>,
        /// The file's location when it is indexed and active.
        loc: Option<FileLocation>,
    },
    /// A label rule was written or removed; `affected` holds every active
    /// file the old or the new (enabled) scope covers.
    Rule {
        /// Rule id.
        id: String,
        /// The rule.
        doc: Option<LabelRuleDoc>,
        /// Files to recompute.
        affected: Vec<FileLocation>,
    },
    /// A virtual directory was written or removed (or became unreadable).
    Directory {
        /// Document id.
        id: String,
        /// The directory.
        doc: Option<VirtualDirectoryDoc>,
    },
}

/// [`apply_page`], also returning what changed for derived state.
pub fn apply_page_events(
    conn: &mut Connection,
    changes: &[ChangeIn<'_>],
    last_seq: &Value,
) -> Result<(ApplyStats, Vec<Applied>), IndexError> {
    let tx = conn.transaction()?;
    let mut stats = ApplyStats::default();
    let mut events = Vec::new();
    for c in changes {
        let deleted = c.deleted
            || c.doc
                .and_then(|d| d.get("_deleted"))
                .and_then(Value::as_bool)
                .unwrap_or(false);
        let doc = if deleted { None } else { c.doc };
        if c.id.starts_with(ids::FILE_PREFIX) {
            stats.files += 1;
            let loc = apply_file(&tx, c.id, doc, &mut stats)?;
            events.push(Applied::File {
                id: c.id.to_string(),
                loc,
            });
        } else if c.id.starts_with(ids::LABEL_FILE_PREFIX) {
            stats.labels += 1;
            apply_assignment(&tx, c.id, doc, &mut stats, &mut events)?;
        } else if c.id.starts_with(ids::LABEL_RULE_PREFIX) {
            stats.labels += 1;
            apply_rule(&tx, c.id, doc, &mut stats, &mut events)?;
        } else if c.id.starts_with(ids::DIR_PREFIX) {
            stats.directories += 1;
            let doc = apply_directory(&tx, c.id, doc, &mut stats)?;
            events.push(Applied::Directory {
                id: c.id.to_string(),
                doc,
            });
        }
    }
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('last_seq', ?1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [last_seq.to_string()],
    )?;
    tx.commit()?;
    Ok((stats, events))
}

fn malformed(id: &str, what: &str, e: impl std::fmt::Display, stats: &mut ApplyStats) {
    stats.malformed += 1;
    tracing::warn!(doc_id = %id, operation = "index", error = %e,
        "skipping a {what} document that does not parse");
}

fn apply_file(
    tx: &Transaction<'_>,
    id: &str,
    doc: Option<&Value>,
    stats: &mut ApplyStats,
) -> Result<Option<FileLocation>, IndexError> {
    // Whatever happens below, the old row goes: a document that became
    // unreadable must not leave a stale row behind.
    tx.execute("DELETE FROM files WHERE id = ?1", [id])?;
    let Some(doc) = doc else { return Ok(None) };
    let f = match FileDoc::deserialize(doc) {
        Ok(f) if f.id == id => f,
        Ok(f) => {
            malformed(id, "file", format!("_id {:?} differs", f.id), stats);
            return Ok(None);
        }
        Err(e) => {
            malformed(id, "file", e, stats);
            return Ok(None);
        }
    };
    // Listings and reads trust the exact bytes, and candidates are found by
    // ranges of the lossy path: both must describe the same path.
    match f.source.path_bytes() {
        Ok(b) if String::from_utf8_lossy(&b) == f.source.export_path => {}
        Ok(_) => {
            let e = "`source.export_path_bytes` is not the path of `source.export_path`";
            malformed(id, "file", e, stats);
            return Ok(None);
        }
        Err(e) => {
            malformed(
                id,
                "file",
                format!("`source.export_path_bytes`: {e}"),
                stats,
            );
            return Ok(None);
        }
    }
    let status = match f.status {
        FileStatus::Active => "active",
        FileStatus::Deleted => "deleted",
    };
    tx.execute(
        "INSERT INTO files (id, node_id, name, name_lc, export_path, export_parent,
                            size, mtime, mime_type, status, inode, mtime_ns,
                            export_path_bytes)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        params![
            f.id,
            f.source.node_id,
            f.name,
            f.name.to_lowercase(),
            f.source.export_path,
            f.source.export_parent,
            f.size as i64,
            mosaicfs_common::time::format(&f.mtime),
            f.mime_type,
            status,
            // SQLite integers are signed; keep the bit pattern.
            f.inode as i64,
            // Out of range (before 1677 or after 2262): NULL, parse the text.
            f.mtime.timestamp_nanos_opt(),
            f.source.export_path_bytes,
        ],
    )?;
    Ok(FileLocation::of(&f))
}

fn apply_assignment(
    tx: &Transaction<'_>,
    id: &str,
    doc: Option<&Value>,
    stats: &mut ApplyStats,
    events: &mut Vec<Applied>,
) -> Result<(), IndexError> {
    let old: Option<String> = tx
        .query_row(
            "SELECT file_id FROM label_assignments WHERE doc_id = ?1",
            [id],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(file_id) = &old {
        tx.execute("DELETE FROM file_labels WHERE file_id = ?1", [file_id])?;
        tx.execute("DELETE FROM label_assignments WHERE doc_id = ?1", [id])?;
    }
    let parsed = match doc.map(LabelAssignmentDoc::deserialize) {
        None => None,
        Some(Ok(a)) => Some(a),
        Some(Err(e)) => {
            malformed(id, "label_assignment", e, stats);
            None
        }
    };
    // The old file loses its direct labels unless the same file is
    // assigned again just below.
    if let Some(file_id) = old
        && parsed.as_ref().is_none_or(|a| a.file_id != file_id)
    {
        let loc = location(tx, &file_id)?;
        events.push(Applied::Assignment {
            file_id,
            doc: None,
            loc,
        });
    }
    let (Some(doc), Some(a)) = (doc, parsed) else {
        return Ok(());
    };
    tx.execute(
        "INSERT INTO label_assignments (doc_id, file_id, doc) VALUES (?1, ?2, ?3)",
        params![id, a.file_id, doc.to_string()],
    )?;
    for label in &a.labels {
        tx.execute(
            "INSERT OR IGNORE INTO file_labels (label, file_id) VALUES (?1, ?2)",
            params![label, a.file_id],
        )?;
    }
    let loc = location(tx, &a.file_id)?;
    events.push(Applied::Assignment {
        file_id: a.file_id.clone(),
        doc: Some(a),
        loc,
    });
    Ok(())
}

fn apply_rule(
    tx: &Transaction<'_>,
    id: &str,
    doc: Option<&Value>,
    stats: &mut ApplyStats,
    events: &mut Vec<Applied>,
) -> Result<(), IndexError> {
    let old: Option<LabelRuleDoc> = tx
        .query_row("SELECT doc FROM label_rules WHERE id = ?1", [id], |r| {
            r.get::<_, String>(0)
        })
        .optional()?
        .and_then(|d| serde_json::from_str(&d).ok());
    tx.execute("DELETE FROM label_rules WHERE id = ?1", [id])?;
    let parsed = match doc.map(LabelRuleDoc::deserialize) {
        None => None,
        Some(Ok(r)) => Some(r),
        Some(Err(e)) => {
            malformed(id, "label_rule", e, stats);
            None
        }
    };
    if let (Some(doc), Some(_)) = (doc, &parsed) {
        tx.execute(
            "INSERT INTO label_rules (id, doc) VALUES (?1, ?2)",
            params![id, doc.to_string()],
        )?;
    }
    let mut affected: Vec<FileLocation> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for r in old.iter().chain(parsed.iter()).filter(|r| r.enabled) {
        let node = (r.node_id != "*").then_some(r.node_id.as_str());
        for loc in locations_under(tx, node, &r.path_prefix)? {
            if seen.insert(loc.file_id.clone()) {
                affected.push(loc);
            }
        }
    }
    events.push(Applied::Rule {
        id: id.to_string(),
        doc: parsed,
        affected,
    });
    Ok(())
}

fn apply_directory(
    tx: &Transaction<'_>,
    id: &str,
    doc: Option<&Value>,
    stats: &mut ApplyStats,
) -> Result<Option<VirtualDirectoryDoc>, IndexError> {
    tx.execute("DELETE FROM virtual_directories WHERE id = ?1", [id])?;
    let Some(doc) = doc else { return Ok(None) };
    let d = match VirtualDirectoryDoc::deserialize(doc) {
        Ok(d) if d.id == id && ids::dir_id(&d.virtual_path) == id => d,
        Ok(d) => {
            let e = format!("_id does not match virtual_path {:?}", d.virtual_path);
            malformed(id, "virtual_directory", e, stats);
            return Ok(None);
        }
        Err(e) => {
            malformed(id, "virtual_directory", e, stats);
            return Ok(None);
        }
    };
    tx.execute(
        "INSERT INTO virtual_directories (id, doc) VALUES (?1, ?2)",
        params![id, doc.to_string()],
    )?;
    Ok(Some(d))
}

/// The location of an indexed, active file.
fn location(conn: &Connection, file_id: &str) -> Result<Option<FileLocation>, IndexError> {
    let mut stmt = conn.prepare_cached(
        "SELECT node_id, export_path FROM files WHERE id = ?1 AND status = 'active'",
    )?;
    Ok(stmt
        .query_row([file_id], |r| {
            Ok(FileLocation {
                file_id: file_id.to_string(),
                node_id: r.get(0)?,
                export_path: r.get(1)?,
            })
        })
        .optional()?)
}

/// The exclusive upper bound of the range of strings starting with `prefix`.
fn range_end(prefix: &str) -> String {
    // Paths compare bytewise; `0` is the byte after `/`.
    match prefix.strip_suffix('/') {
        Some(p) => format!("{p}0"),
        None => format!("{prefix}\u{10FFFF}"),
    }
}

/// SQL and arguments of the active files at `prefix` (any depth) on `node`
/// (`None`: every node), as an index range scan.
fn under_sql(node: Option<&str>, columns: &str) -> String {
    match node {
        Some(_) => format!(
            "SELECT {columns} FROM files INDEXED BY files_node_path WHERE node_id = ?3
             AND export_path >= ?1 AND export_path < ?2 AND status = 'active'"
        ),
        None => format!(
            "SELECT {columns} FROM files INDEXED BY files_path
             WHERE export_path >= ?1 AND export_path < ?2 AND status = 'active'"
        ),
    }
}

/// Locations of the active files below `prefix` on `node` (`None`: all).
pub fn locations_under(
    conn: &Connection,
    node: Option<&str>,
    prefix: &str,
) -> Result<Vec<FileLocation>, IndexError> {
    let mut stmt = conn.prepare_cached(&under_sql(node, "id, node_id, export_path"))?;
    let end = range_end(prefix);
    let map = |r: &rusqlite::Row<'_>| {
        Ok(FileLocation {
            file_id: r.get(0)?,
            node_id: r.get(1)?,
            export_path: r.get(2)?,
        })
    };
    let rows = match node {
        Some(n) => stmt.query_map(params![prefix, end, n], map)?,
        None => stmt.query_map(params![prefix, end], map)?,
    };
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Columns [`doc_row`] reads, in order.
const DOC_COLUMNS: &str = "id, node_id, name, export_path, export_parent, size, mtime, mime_type, inode, mtime_ns, status, export_path_bytes";

/// A file row rebuilt as a document: every field the rule engine, the
/// listing and the read path use is set (including `export_path_bytes`, so
/// a non-UTF-8 name opens its exact path); `_rev`, timestamps other than
/// `mtime` and unknown fields are not.
fn doc_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<FileDoc> {
    let mtime = match r.get::<_, Option<i64>>(9)? {
        Some(ns) => chrono::DateTime::from_timestamp_nanos(ns),
        None => {
            let text: String = r.get(6)?;
            chrono::DateTime::parse_from_rfc3339(&text)
                .map(|t| t.to_utc())
                .unwrap_or_default()
        }
    };
    let status = if r.get::<_, String>(10)? == "active" {
        FileStatus::Active
    } else {
        FileStatus::Deleted
    };
    Ok(FileDoc {
        id: r.get(0)?,
        rev: None,
        doc_type: Default::default(),
        inode: r.get::<_, i64>(8)? as u64,
        name: r.get(2)?,
        source: FileSource {
            node_id: r.get(1)?,
            export_path: r.get(3)?,
            export_parent: r.get(4)?,
            export_path_bytes: r.get(11)?,
            extra: Default::default(),
        },
        size: r.get::<_, i64>(5)? as u64,
        mtime,
        mime_type: r.get(7)?,
        status,
        deleted_at: None,
        created_at: None,
        updated_at: None,
        migrated_from: None,
        extra: Default::default(),
    })
}

/// The active files directly in `prefix` plus, for each subdirectory, one
/// active file somewhere below it (the first in path order), on `node`
/// (`None`: every node): what a `prefix_replace` mount without steps needs
/// to list one level (its files and its synthesized subdirectories) without
/// reading the whole subtree. A skip scan over the covering index: direct
/// files come in path order from one cursor; at the first row of a
/// subdirectory the scan seeks past that subdirectory (`{sub}0` is the first
/// string after every `{sub}/…`), so it costs one seek per subdirectory, not
/// one row per file below (measured: listing the top of a 100,000-file tree
/// read every row before this).
pub fn files_shallow(
    conn: &Connection,
    node: Option<&str>,
    prefix: &str,
) -> Result<Vec<FileDoc>, IndexError> {
    let sql = format!("{} ORDER BY export_path", under_sql(node, DOC_COLUMNS));
    let mut stmt = conn.prepare_cached(&sql)?;
    let end = range_end(prefix);
    let mut out = Vec::new();
    let mut from = prefix.to_string();
    'seek: loop {
        let mut rows = match node {
            Some(n) => stmt.query(params![from, end, n])?,
            None => stmt.query(params![from, end])?,
        };
        while let Some(r) = rows.next()? {
            let doc = doc_row(r)?;
            let below = doc
                .source
                .export_path
                .get(prefix.len()..)
                .unwrap_or_default();
            match below.split_once('/') {
                // A lossy subdirectory name stands for every exact name
                // with that lossy form (`\xfa` and `\xfb` are both U+FFFD):
                // no seek past it, its rows are read one by one so each
                // exact subdirectory is seen.
                Some((sub, _)) if !sub.contains(char::REPLACEMENT_CHARACTER) => {
                    from = format!("{prefix}{sub}0");
                    out.push(doc);
                    continue 'seek;
                }
                Some(_) | None => out.push(doc),
            }
        }
        return Ok(out);
    }
}

/// The active files below `prefix` (at any depth) on `node` (`None`: every
/// node), rebuilt as documents (see [`doc_row`]).
pub fn files_under(
    conn: &Connection,
    node: Option<&str>,
    prefix: &str,
) -> Result<Vec<FileDoc>, IndexError> {
    let mut stmt = conn.prepare_cached(&under_sql(node, DOC_COLUMNS))?;
    let end = range_end(prefix);
    let rows = match node {
        Some(n) => stmt.query_map(params![prefix, end, n], doc_row)?,
        None => stmt.query_map(params![prefix, end], doc_row)?,
    };
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// One file by id, rebuilt as a document (any status).
pub fn file_doc(conn: &Connection, id: &str) -> Result<Option<FileDoc>, IndexError> {
    let mut stmt =
        conn.prepare_cached(&format!("SELECT {DOC_COLUMNS} FROM files WHERE id = ?1"))?;
    Ok(stmt.query_row([id], doc_row).optional()?)
}

/// The file with inode `inode`, rebuilt as a document: an active one if
/// there is one (inodes are random 53-bit numbers, so two documents share
/// one only by a copied document; then the smallest id wins, stably).
pub fn file_by_inode(conn: &Connection, inode: u64) -> Result<Option<FileDoc>, IndexError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {DOC_COLUMNS} FROM files WHERE inode = ?1
         ORDER BY status = 'active' DESC, id LIMIT 1"
    ))?;
    Ok(stmt.query_row([inode as i64], doc_row).optional()?)
}

/// Every stored virtual directory document, parsed.
pub fn directories(conn: &Connection) -> Result<Vec<VirtualDirectoryDoc>, IndexError> {
    let mut stmt = conn.prepare_cached("SELECT doc FROM virtual_directories ORDER BY id")?;
    let docs = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(docs
        .iter()
        .filter_map(|d| serde_json::from_str(d).ok())
        .collect())
}

/// Every stored label assignment with its file's location (if indexed and
/// active).
pub fn all_assignments(
    conn: &Connection,
) -> Result<Vec<(LabelAssignmentDoc, Option<FileLocation>)>, IndexError> {
    let mut stmt = conn.prepare_cached("SELECT doc FROM label_assignments")?;
    let docs = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = Vec::with_capacity(docs.len());
    for d in docs {
        if let Ok(a) = serde_json::from_str::<LabelAssignmentDoc>(&d) {
            let loc = location(conn, &a.file_id)?;
            out.push((a, loc));
        }
    }
    Ok(out)
}

const COLUMNS: &str = "id, node_id, name, export_path, export_parent, size, mtime, mime_type, status, inode, export_path_bytes";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<FileRow> {
    Ok(FileRow {
        id: r.get(0)?,
        node_id: r.get(1)?,
        name: r.get(2)?,
        export_path: r.get(3)?,
        export_parent: r.get(4)?,
        size: r.get::<_, i64>(5)? as u64,
        mtime: r.get(6)?,
        mime_type: r.get(7)?,
        status: r.get(8)?,
        inode: r.get::<_, i64>(9)? as u64,
        export_path_bytes: r.get(10)?,
    })
}

/// Runs a listing or search, in id order.
pub fn query(conn: &Connection, q: &Query) -> Result<Vec<FileRow>, IndexError> {
    query_in(conn, q, None)
}

/// [`query`] restricted to the rows with these ids (candidates from the
/// name table, [`crate::names`]).
pub fn query_ids(conn: &Connection, q: &Query, ids: &[String]) -> Result<Vec<FileRow>, IndexError> {
    query_in(conn, q, Some(ids))
}

fn query_in(
    conn: &Connection,
    q: &Query,
    ids: Option<&[String]>,
) -> Result<Vec<FileRow>, IndexError> {
    let mut sql = format!("SELECT {COLUMNS} FROM files WHERE 1");
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    let arg = |v: rusqlite::types::Value, args: &mut Vec<_>| {
        args.push(v);
        args.len()
    };
    use rusqlite::types::Value as V;
    if let Some(ids) = ids {
        let first = args.len() + 1;
        args.extend(ids.iter().map(|id| V::Text(id.clone())));
        let marks: Vec<String> = (first..first + ids.len())
            .map(|n| format!("?{n}"))
            .collect();
        sql.push_str(&format!(" AND id IN ({})", marks.join(",")));
    }
    if let Some(after) = &q.after {
        let n = arg(V::Text(after.clone()), &mut args);
        sql.push_str(&format!(" AND id > ?{n}"));
    }
    if !q.include_deleted {
        sql.push_str(" AND status = 'active'");
    }
    if let Some(node) = &q.node_id {
        let n = arg(V::Text(node.clone()), &mut args);
        sql.push_str(&format!(" AND node_id = ?{n}"));
    }
    match &q.name {
        None => {}
        Some(NameMatch::Substring(s)) => {
            // instr, not LIKE: no escaping of % and _ needed.
            let n = arg(V::Text(s.to_lowercase()), &mut args);
            sql.push_str(&format!(" AND instr(name_lc, ?{n}) > 0"));
        }
        Some(NameMatch::Glob(g)) => {
            let n = arg(V::Text(g.to_lowercase()), &mut args);
            sql.push_str(&format!(" AND name_lc GLOB ?{n}"));
        }
    }
    if let Some(scope) = &q.label {
        let n = arg(V::Text(scope.label.clone()), &mut args);
        let mut alts = vec![format!(
            "id IN (SELECT file_id FROM file_labels WHERE label = ?{n})"
        )];
        for (node, prefix) in &scope.rules {
            let lo = arg(V::Text(prefix.clone()), &mut args);
            let hi = arg(V::Text(format!("{prefix}\u{10FFFF}")), &mut args);
            let mut cond = format!("(export_path >= ?{lo} AND export_path < ?{hi}");
            if node != "*" {
                let nn = arg(V::Text(node.clone()), &mut args);
                cond.push_str(&format!(" AND node_id = ?{nn}"));
            }
            cond.push(')');
            alts.push(cond);
        }
        sql.push_str(&format!(" AND ({})", alts.join(" OR ")));
    }
    let n = arg(V::Integer(q.limit.min(i64::MAX as usize) as i64), &mut args);
    sql.push_str(&format!(" ORDER BY id LIMIT ?{n}"));
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(params_from_iter(args), row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// One file by id.
pub fn get(conn: &Connection, id: &str) -> Result<Option<FileRow>, IndexError> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM files WHERE id = ?1"))?;
    Ok(stmt.query_row([id], row).optional()?)
}

/// The file at the exact path `path` on `node_id`. An active file wins over
/// deleted ones at the same path (a path can be re-created after a delete).
/// Rows are found by the lossy path, then compared by their exact bytes, so
/// two paths with one lossy form never answer for each other.
pub fn by_path(
    conn: &Connection,
    node_id: &str,
    path: &[u8],
) -> Result<Option<FileRow>, IndexError> {
    let exact = mosaicfs_common::names::exact_field(path);
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM files WHERE node_id = ?1 AND export_path = ?2
         AND export_path_bytes IS ?3
         ORDER BY status = 'active' DESC, id DESC LIMIT 1"
    ))?;
    let lossy = String::from_utf8_lossy(path);
    Ok(stmt
        .query_row(params![node_id, lossy, exact], row)
        .optional()?)
}

/// Every label rule document.
pub fn label_rules(conn: &Connection) -> Result<Vec<Value>, IndexError> {
    let mut stmt = conn.prepare_cached("SELECT doc FROM label_rules ORDER BY id")?;
    let docs = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(docs
        .into_iter()
        .filter_map(|d| serde_json::from_str(&d).ok())
        .collect())
}

/// The label assignment documents of `file_ids` (at most one per file).
pub fn assignments(conn: &Connection, file_ids: &[String]) -> Result<Vec<Value>, IndexError> {
    let mut stmt = conn.prepare_cached("SELECT doc FROM label_assignments WHERE file_id = ?1")?;
    let mut out = Vec::new();
    for id in file_ids {
        let docs = stmt
            .query_map([id], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        out.extend(docs.iter().filter_map(|d| serde_json::from_str(d).ok()));
    }
    Ok(out)
}

/// Number of file rows (any status).
pub fn count(conn: &Connection) -> Result<u64, IndexError> {
    Ok(conn.query_row("SELECT count(*) FROM files", [], |r| r.get::<_, i64>(0))? as u64)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeSet;

    fn file(id: &str, node: &str, path: &str, status: &str) -> Value {
        let (parent, name) = path.rsplit_once('/').unwrap();
        json!({
            "_id": id, "type": "file", "inode": 1000 + id.len() as u64, "name": name,
            "source": {"node_id": node, "export_path": path,
                       "export_parent": if parent.is_empty() { "/" } else { parent }},
            "size": 5, "mtime": "2025-01-01T00:00:00.123456789Z", "status": status
        })
    }

    /// Applies `docs` (`None`: deleted) as one `_changes` page at `seq`.
    pub(crate) fn apply<S: AsRef<str>>(
        conn: &mut Connection,
        docs: &[(S, Option<Value>)],
        seq: u64,
    ) -> ApplyStats {
        let changes: Vec<ChangeIn<'_>> = docs
            .iter()
            .map(|(id, d)| ChangeIn {
                id: id.as_ref(),
                deleted: d.is_none(),
                doc: d.as_ref(),
            })
            .collect();
        apply_page(conn, &changes, &json!(seq)).unwrap()
    }

    fn names(rows: &[FileRow]) -> Vec<&str> {
        rows.iter().map(|r| r.name.as_str()).collect()
    }

    fn setup() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open(&dir.path().join("index.db"), "test").unwrap();
        let docs = [
            ("file::01", "n1", "/a/Report 2024.PDF"),
            ("file::02", "n1", "/a/photo_1.jpg"),
            ("file::03", "n2", "/b/photo_2.JPG"),
            ("file::04", "n2", "/b/c/notes.txt"),
            ("file::05", "n1", "/a/100%_done.txt"),
            ("file::06", "n1", "/a/Übersicht.md"),
        ];
        let v: Vec<(&str, Option<Value>)> = docs
            .iter()
            .map(|(id, n, p)| (*id, Some(file(id, n, p, "active"))))
            .collect();
        apply(&mut conn, &v, 6);
        (dir, conn)
    }

    fn search(conn: &Connection, m: NameMatch) -> Vec<String> {
        let q = Query {
            name: Some(m),
            limit: 100,
            ..Default::default()
        };
        names(&query(conn, &q).unwrap())
            .into_iter()
            .map(String::from)
            .collect()
    }

    #[test]
    fn substring_and_glob_are_case_insensitive() {
        let (_d, conn) = setup();
        let s = |t: &str| search(&conn, NameMatch::Substring(t.into()));
        let g = |t: &str| search(&conn, NameMatch::Glob(t.into()));
        assert_eq!(s("PHOTO"), ["photo_1.jpg", "photo_2.JPG"]);
        assert_eq!(s("%"), ["100%_done.txt"], "no LIKE wildcards");
        assert_eq!(s("_"), ["photo_1.jpg", "photo_2.JPG", "100%_done.txt"]);
        assert_eq!(s("übers"), ["Übersicht.md"], "Unicode lowercase");
        assert_eq!(g("*.jpg"), ["photo_1.jpg", "photo_2.JPG"]);
        assert_eq!(g("photo_?.jpg"), ["photo_1.jpg", "photo_2.JPG"]);
        assert_eq!(g("photo_[2-9].*"), ["photo_2.JPG"]);
        assert_eq!(g("photo_[^2].*"), ["photo_1.jpg"]);
        assert_eq!(g("report*"), ["Report 2024.PDF"]);
        assert!(g("report").is_empty(), "a glob matches the whole name");
    }

    #[test]
    fn pagination_by_cursor_has_no_gaps_or_duplicates() {
        let (_d, conn) = setup();
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = query(
                &conn,
                &Query {
                    after: after.clone(),
                    limit: 4,
                    ..Default::default()
                },
            )
            .unwrap();
            if page.is_empty() {
                break;
            }
            after = page.last().map(|r| r.id.clone());
            seen.extend(page.into_iter().map(|r| r.id));
        }
        assert_eq!(
            seen,
            [
                "file::01", "file::02", "file::03", "file::04", "file::05", "file::06"
            ]
        );
        let n2 = query(
            &conn,
            &Query {
                node_id: Some("n2".into()),
                limit: 10,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(names(&n2), ["photo_2.JPG", "notes.txt"]);
    }

    #[test]
    fn updates_deletions_soft_deletes_and_malformed_documents() {
        let (dir, mut conn) = setup();
        let stats = apply(
            &mut conn,
            &[
                ("file::01", None),
                (
                    "file::02",
                    Some(file("file::02", "n1", "/a/photo_1.jpg", "deleted")),
                ),
                (
                    "file::03",
                    Some(json!({"_id": "file::03", "type": "file", "size": "big"})),
                ),
                (
                    "file::07",
                    Some(json!({"_id": "file::07", "type": "file", "size": "big"})),
                ),
                ("file::08", Some(json!([1, 2]))),
                ("node::n1", Some(json!({"_id": "node::n1", "type": "node"}))),
            ],
            9,
        );
        assert_eq!(stats.malformed, 3);
        let all = |deleted| {
            query(
                &conn,
                &Query {
                    limit: 100,
                    include_deleted: deleted,
                    ..Default::default()
                },
            )
            .unwrap()
        };
        assert_eq!(
            names(&all(false)),
            ["notes.txt", "100%_done.txt", "Übersicht.md"]
        );
        assert_eq!(all(true).len(), 4, "the soft-deleted file is still there");
        assert_eq!(get(&conn, "file::02").unwrap().unwrap().status, "deleted");
        assert!(
            get(&conn, "file::03").unwrap().is_none(),
            "stale row removed"
        );
        assert_eq!(
            by_path(&conn, "n2", b"/b/c/notes.txt").unwrap().unwrap().id,
            "file::04"
        );
        assert!(by_path(&conn, "n1", b"/b/c/notes.txt").unwrap().is_none());
        let f = get(&conn, "file::04").unwrap().unwrap();
        assert_eq!(f.mtime, "2025-01-01T00:00:00.123456789Z");
        assert_eq!(last_seq(&conn).unwrap(), Some(json!(9)));
        drop(conn);
        // Reopening keeps rows and the sequence; another source rebuilds.
        let conn = open(&dir.path().join("index.db"), "test").unwrap();
        assert_eq!(last_seq(&conn).unwrap(), Some(json!(9)));
        assert_eq!(count(&conn).unwrap(), 4);
        drop(conn);
        let conn = open(&dir.path().join("index.db"), "other").unwrap();
        assert_eq!(last_seq(&conn).unwrap(), None);
        assert_eq!(count(&conn).unwrap(), 0);
    }

    /// What one level of `prefix` shows: direct file ids and subdirectory
    /// names.
    fn level(docs: &[FileDoc], prefix: &str) -> (BTreeSet<String>, BTreeSet<String>) {
        let (mut files, mut dirs) = (BTreeSet::new(), BTreeSet::new());
        for d in docs {
            match d.source.export_path[prefix.len()..].split_once('/') {
                Some((sub, _)) => dirs.insert(sub.to_string()),
                None => files.insert(d.id.clone()),
            };
        }
        (files, dirs)
    }

    #[test]
    fn a_shallow_scan_lists_the_same_level_with_one_row_per_subdirectory() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open(&dir.path().join("index.db"), "test").unwrap();
        // Names that sort around '/' ('-' and '.' before it, '0' after it),
        // deep subtrees, a subdirectory whose only file is deleted, another
        // node's files under the same prefix, a sibling prefix.
        let mut paths = vec![
            "/t/a.txt",
            "/t/b-c/x",
            "/t/b.txt",
            "/t/b/1",
            "/t/b0",
            "/t/b0/y",
            "/t/z",
            "/t/gone/old",
            "/tx/other",
            "/t/deep/1/2/3/f",
        ];
        let many: Vec<String> = (0..500)
            .map(|i| format!("/t/big/sub{}/f{i}", i % 7))
            .collect();
        paths.extend(many.iter().map(String::as_str));
        let mut docs: Vec<(String, Value)> = paths
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let id = format!("file::{i:04}");
                let status = if p.starts_with("/t/gone/") {
                    "deleted"
                } else {
                    "active"
                };
                let doc = file(&id, "n1", p, status);
                (id, doc)
            })
            .collect();
        docs.push((
            "file::n2".into(),
            file("file::n2", "n2", "/t/n2only/f", "active"),
        ));
        let v: Vec<(&str, Option<Value>)> = docs
            .iter()
            .map(|(id, d)| (id.as_str(), Some(d.clone())))
            .collect();
        apply(&mut conn, &v, 1);

        for (node, prefix) in [
            (Some("n1"), "/t/"),
            (None, "/t/"),
            (Some("n1"), "/t/b/"),
            (Some("n1"), "/t/big/"),
            (Some("n1"), "/t/deep/1/"),
            (Some("n1"), "/nothing/"),
        ] {
            let full = files_under(&conn, node, prefix).unwrap();
            let shallow = files_shallow(&conn, node, prefix).unwrap();
            let (files, dirs) = level(&full, prefix);
            assert_eq!(
                level(&shallow, prefix),
                (files.clone(), dirs.clone()),
                "{node:?} {prefix}"
            );
            assert_eq!(
                shallow.len(),
                files.len() + dirs.len(),
                "{node:?} {prefix}: one row per subdirectory"
            );
        }
        let (files, dirs) = level(&files_shallow(&conn, Some("n1"), "/t/").unwrap(), "/t/");
        assert_eq!(files.len(), 4, "a.txt, b.txt, b0, z");
        assert_eq!(
            dirs.into_iter().collect::<Vec<_>>(),
            ["b", "b-c", "b0", "big", "deep"],
            "the deleted file's directory is not listed, other nodes are not"
        );
        let (_, any_node) = level(&files_shallow(&conn, None, "/t/").unwrap(), "/t/");
        assert!(any_node.contains("n2only"));
    }

    #[test]
    fn exact_path_bytes_survive_the_index() {
        let (_d, mut conn) = setup();
        // Two names that differ only in invalid bytes: the same lossy path,
        // different exact bytes (base64 of "/a/x\xff" and "/a/x\xfe").
        let mut a = file("file::0a", "n1", "/a/x\u{FFFD}", "active");
        a["source"]["export_path_bytes"] = json!("L2EveP8=");
        let mut b = file("file::0b", "n1", "/a/x\u{FFFD}", "active");
        b["source"]["export_path_bytes"] = json!("L2EveP4=");
        b["inode"] = json!(77);
        apply(
            &mut conn,
            &[("file::0a", Some(a)), ("file::0b", Some(b))],
            7,
        );
        let bytes = |d: Option<FileDoc>| d.unwrap().source.export_path_bytes;
        assert_eq!(
            bytes(file_doc(&conn, "file::0a").unwrap()).as_deref(),
            Some("L2EveP8=")
        );
        assert_eq!(
            bytes(file_by_inode(&conn, 77).unwrap()).as_deref(),
            Some("L2EveP4=")
        );
        // By exact path: each finds its own; the lossy text finds neither.
        let id_at = |p: &[u8]| by_path(&conn, "n1", p).unwrap().map(|r| r.id);
        assert_eq!(id_at(b"/a/x\xff").as_deref(), Some("file::0a"));
        assert_eq!(id_at(b"/a/x\xfe").as_deref(), Some("file::0b"));
        assert_eq!(id_at("/a/x\u{FFFD}".as_bytes()), None);
        let under = files_under(&conn, Some("n1"), "/a/").unwrap();
        let mut got: Vec<_> = under
            .iter()
            .filter(|d| d.source.export_path == "/a/x\u{FFFD}")
            .map(|d| (d.id.as_str(), d.source.export_path_bytes.as_deref()))
            .collect();
        got.sort();
        assert_eq!(
            got,
            [
                ("file::0a", Some("L2EveP8=")),
                ("file::0b", Some("L2EveP4="))
            ]
        );
        // UTF-8 paths carry no bytes.
        assert_eq!(bytes(file_doc(&conn, "file::01").unwrap()), None);
    }

    /// A file at exact path `bytes`, as the crawler writes it.
    fn file_bytes(id: &str, bytes: &[u8]) -> Value {
        let mut d = file(id, "n1", &String::from_utf8_lossy(bytes), "active");
        d["source"]["export_path_bytes"] = json!(mosaicfs_common::names::exact_field(bytes));
        d
    }

    #[test]
    fn a_shallow_scan_sees_every_subdirectory_that_shares_a_lossy_name() {
        let (_d, mut conn) = setup();
        let docs = [
            ("file::1a", file_bytes("file::1a", b"/o/\xfa/1")),
            ("file::1b", file_bytes("file::1b", b"/o/\xfa/2")),
            ("file::1c", file_bytes("file::1c", b"/o/\xfb/1")),
            ("file::1d", file_bytes("file::1d", b"/o/plain/1")),
            ("file::1e", file_bytes("file::1e", b"/o/plain/2")),
        ];
        let docs: Vec<_> = docs.into_iter().map(|(i, d)| (i, Some(d))).collect();
        apply(&mut conn, &docs, 9);
        let got: BTreeSet<Vec<u8>> = files_shallow(&conn, Some("n1"), "/o/")
            .unwrap()
            .iter()
            .map(|d| {
                let b = d.source.path_bytes().unwrap();
                b[3..].split(|c| *c == b'/').next().unwrap().to_vec()
            })
            .collect();
        assert_eq!(
            got,
            BTreeSet::from([b"\xfa".to_vec(), b"\xfb".to_vec(), b"plain".to_vec()])
        );
    }

    #[test]
    fn exact_bytes_that_do_not_decode_or_disagree_are_refused() {
        let (_d, mut conn) = setup();
        let mut bad = file("file::2a", "n1", "/a/x\u{FFFD}", "active");
        bad["source"]["export_path_bytes"] = json!("not base64!");
        // Decodes, but to "/a/y\xff": not the path of "/a/x\u{FFFD}".
        let mut other = file("file::2b", "n1", "/a/x\u{FFFD}", "active");
        other["source"]["export_path_bytes"] = json!("L2Evef8=");
        let stats = apply(
            &mut conn,
            &[("file::2a", Some(bad)), ("file::2b", Some(other))],
            3,
        );
        assert_eq!(stats.malformed, 2);
        assert!(file_doc(&conn, "file::2a").unwrap().is_none());
        assert!(file_doc(&conn, "file::2b").unwrap().is_none());
    }

    #[test]
    fn an_index_of_an_older_schema_is_rebuilt_not_misread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.db");
        // A version-3 file: no export_path_bytes column, rows and a sequence.
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(
                "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
                 INSERT INTO meta VALUES ('schema_version', '3'), ('source', 'test'),
                                         ('last_seq', '42');
                 CREATE TABLE files (id TEXT PRIMARY KEY, node_id TEXT NOT NULL,
                   name TEXT NOT NULL, name_lc TEXT NOT NULL, export_path TEXT NOT NULL,
                   export_parent TEXT NOT NULL, size INTEGER NOT NULL, mtime TEXT NOT NULL,
                   mtime_ns INTEGER, mime_type TEXT, status TEXT NOT NULL,
                   inode INTEGER NOT NULL) WITHOUT ROWID;
                 INSERT INTO files VALUES ('file::old', 'n1', 'x', 'x', '/a/x', '/a', 1,
                   '2025-01-01T00:00:00Z', 0, NULL, 'active', 1000);",
            )
            .unwrap();
        }
        let mut conn = open(&path, "test").unwrap();
        // Emptied, so the follower reads the feed from the start again.
        assert_eq!(last_seq(&conn).unwrap(), None);
        assert_eq!(count(&conn).unwrap(), 0);
        let mut d = file("file::0a", "n1", "/a/x\u{FFFD}", "active");
        d["source"]["export_path_bytes"] = json!("L2EveP8=");
        apply(&mut conn, &[("file::0a", Some(d))], 1);
        let doc = file_doc(&conn, "file::0a").unwrap().unwrap();
        assert_eq!(doc.source.export_path_bytes.as_deref(), Some("L2EveP8="));
        drop(conn);
        let reader = open_reader(&path).unwrap();
        assert_eq!(count(&reader).unwrap(), 1);
    }

    #[test]
    fn label_scope_finds_direct_and_rule_covered_files() {
        let (_d, mut conn) = setup();
        apply(
            &mut conn,
            &[
                (
                    "label_file::05",
                    Some(json!({"_id": "label_file::05", "type": "label_assignment",
                        "file_id": "file::05", "labels": ["red", "blue"],
                        "updated_at": "2025-01-01T00:00:00Z"})),
                ),
                (
                    "label_rule::r1",
                    Some(
                        json!({"_id": "label_rule::r1", "type": "label_rule", "node_id": "n2",
                        "path_prefix": "/b/c/", "labels": ["red"], "name": "r1", "enabled": true,
                        "created_at": "2025-01-01T00:00:00Z"}),
                    ),
                ),
            ],
            10,
        );
        let q = |conn: &Connection, scope: LabelScope| {
            names(
                &query(
                    conn,
                    &Query {
                        label: Some(scope),
                        limit: 10,
                        ..Default::default()
                    },
                )
                .unwrap(),
            )
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>()
        };
        let red = LabelScope {
            label: "red".into(),
            rules: vec![("n2".into(), "/b/c/".into())],
        };
        assert_eq!(q(&conn, red), ["notes.txt", "100%_done.txt"]);
        let star = LabelScope {
            label: "none".into(),
            rules: vec![("*".into(), "/a/".into())],
        };
        assert_eq!(q(&conn, star).len(), 4);
        assert_eq!(label_rules(&conn).unwrap().len(), 1);
        assert_eq!(assignments(&conn, &["file::05".into()]).unwrap().len(), 1);
        // Removing the assignment removes its labels.
        apply(&mut conn, &[("label_file::05", None)], 11);
        assert!(assignments(&conn, &["file::05".into()]).unwrap().is_empty());
        let blue = LabelScope {
            label: "blue".into(),
            rules: vec![],
        };
        assert!(q(&conn, blue).is_empty());
    }
}
