//! The crawler's index persisted between runs (`{state_dir}/crawl-index.bin`),
//! so that a new agent process does not read every file document back from
//! CouchDB before it can tell an unchanged file from a changed one.
//!
//! CouchDB stays the source of truth: the file records the database
//! sequence it describes, and is used only when the database still holds
//! the same random token in `_local/mosaicfs-crawl-index-{node_id}` (a
//! recreated or different database does not, and gets a full load). What
//! changed in the database after that sequence is then read from
//! `_changes` and applied before the crawl compares anything. `_local`
//! documents do not replicate and do not move `update_seq`.
//!
//! Format (little-endian): magic `MFSCRWL1`, then length-prefixed token,
//! node id and sequence (JSON), the entry count, and per entry the path
//! bytes, the id, size, mtime seconds and nanoseconds and a flags byte
//! (bit 0 deleted, bit 1 stale). Anything that does not decode is reported
//! and the index is loaded from CouchDB instead.

use super::index::{FileIndex, IndexEntry};
use mosaicfs_common::couch::{CouchClient, CouchError};
use mosaicfs_common::documents::FileStatus;
use serde_json::{Value, json};
use std::fmt::Display;
use std::path::Path;

const MAGIC: &[u8; 8] = b"MFSCRWL1";

/// The number a database sequence counts updates with: the number itself
/// (pouchdb-server, CouchDB 1.x) or the integer before the first `-`
/// (CouchDB 2+ on one node).
pub fn seq_number(seq: &Value) -> Option<u64> {
    match seq {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.split('-').next().and_then(|p| p.parse().ok()),
        _ => None,
    }
}

/// A decoded state file.
#[derive(Debug)]
pub struct Persisted {
    /// The token that must match the database's `_local` document.
    pub token: String,
    /// The database sequence the entries describe.
    pub seq: Value,
    /// The entries.
    pub index: FileIndex,
}

/// The `_local` document that ties a state file to a database.
pub fn local_doc_id(node_id: &str) -> String {
    format!("_local/mosaicfs-crawl-index-{node_id}")
}

/// Reads the token stored in the database, if any.
pub async fn db_token(db: &CouchClient, node_id: &str) -> Result<Option<String>, CouchError> {
    Ok(db
        .get_value(&local_doc_id(node_id))
        .await?
        .and_then(|d| d.get("token").and_then(Value::as_str).map(str::to_owned)))
}

/// Stores `token` in the database's `_local` document.
pub async fn set_db_token(db: &CouchClient, node_id: &str, token: &str) -> Result<(), CouchError> {
    db.update(&local_doc_id(node_id), |_| Some(json!({ "token": token })))
        .await
        .map(|_| ())
}

/// Encodes the index with its token and sequence.
pub fn encode(token: &str, node_id: &str, seq: &Value, index: &FileIndex) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + index.len() * 96);
    out.extend_from_slice(MAGIC);
    put_bytes(&mut out, token.as_bytes());
    put_bytes(&mut out, node_id.as_bytes());
    put_bytes(&mut out, seq.to_string().as_bytes());
    out.extend_from_slice(&(index.len() as u64).to_le_bytes());
    for (key, e) in index.iter() {
        put_bytes(&mut out, key);
        put_bytes(&mut out, e.id.as_bytes());
        out.extend_from_slice(&e.size.to_le_bytes());
        out.extend_from_slice(&e.mtime.0.to_le_bytes());
        out.extend_from_slice(&e.mtime.1.to_le_bytes());
        let flags = u8::from(e.status == FileStatus::Deleted) | (u8::from(e.stale) << 1);
        out.push(flags);
    }
    out
}

/// Decodes a state file written for `node_id`.
pub fn decode(bytes: &[u8], node_id: &str) -> Result<Persisted, String> {
    let mut r = Reader { bytes, at: 0 };
    if r.take(MAGIC.len())? != MAGIC {
        return Err("not a crawl index file (bad magic)".into());
    }
    let token = r.string("token")?;
    let node = r.string("node id")?;
    if node != node_id {
        return Err(format!("written for node {node:?}, not {node_id:?}"));
    }
    let seq: Value = serde_json::from_str(&r.string("sequence")?)
        .map_err(|e| format!("sequence is not JSON: {e}"))?;
    let count = r.u64("entry count")?;
    let mut index = FileIndex::default();
    for i in 0..count {
        let key = r.bytes(format_args!("entry {i} path"))?.to_vec();
        let id = r.string(format_args!("entry {i} id"))?;
        let size = r.u64(format_args!("entry {i} size"))?;
        let secs = r.u64(format_args!("entry {i} mtime"))? as i64;
        let nanos = u32::from_le_bytes(r.array(format_args!("entry {i} mtime"))?);
        let flags = r.take(1)?[0];
        if flags > 3 {
            return Err(format!("entry {i} has unknown flags {flags}"));
        }
        index.insert(
            key,
            IndexEntry {
                id,
                size,
                mtime: (secs, nanos),
                status: if flags & 1 == 1 {
                    FileStatus::Deleted
                } else {
                    FileStatus::Active
                },
                seen_gen: 0,
                stale: flags & 2 == 2,
            },
        );
    }
    if r.at != bytes.len() {
        return Err(format!("{} trailing bytes", bytes.len() - r.at));
    }
    Ok(Persisted { token, seq, index })
}

/// Reads and decodes the state file; `None` (with the reason logged) when
/// it is absent or unusable.
pub fn read(path: &Path, node_id: &str) -> Option<Persisted> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!(node_id, path = %path.display(), error = %e, operation = "load_index",
                "cannot read the crawl index file; loading from CouchDB");
            return None;
        }
    };
    match decode(&bytes, node_id) {
        Ok(p) => Some(p),
        Err(e) => {
            tracing::warn!(node_id, path = %path.display(), error = %e, operation = "load_index",
                "unusable crawl index file; loading from CouchDB");
            None
        }
    }
}

/// Writes the encoded index to `path` atomically, creating its directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    mosaicfs_common::fsutil::write_atomic(path, bytes, None)
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

/// A cursor over a state file. `what` names the field in an error; it is
/// only formatted when there is one (decoding runs once per entry).
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| format!("truncated at byte {}", self.at))?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: impl Display) -> Result<[u8; N], String> {
        self.take(N)?
            .try_into()
            .map_err(|_| format!("{what}: truncated"))
    }

    fn u64(&mut self, what: impl Display) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    fn bytes(&mut self, what: impl Display + Copy) -> Result<&'a [u8], String> {
        let n = u32::from_le_bytes(self.array(what)?) as usize;
        self.take(n).map_err(|e| format!("{what}: {e}"))
    }

    fn string(&mut self, what: impl Display + Copy) -> Result<String, String> {
        let b = self.bytes(what)?;
        String::from_utf8(b.to_vec()).map_err(|_| format!("{what} is not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> FileIndex {
        let mut index = FileIndex::default();
        index.insert(
            b"/w/a".to_vec(),
            IndexEntry {
                id: "file::1".into(),
                size: 7,
                mtime: (-3, 999_999_999),
                status: FileStatus::Active,
                seen_gen: 5,
                stale: true,
            },
        );
        index.insert(
            b"/w/\xff".to_vec(),
            IndexEntry {
                id: "file::2".into(),
                size: u64::MAX,
                mtime: (1_700_000_000, 0),
                status: FileStatus::Deleted,
                seen_gen: 0,
                stale: false,
            },
        );
        index
    }

    #[test]
    fn encode_then_decode_gives_the_same_entries() {
        let index = sample();
        let bytes = encode("tok", "node-1", &json!("12-abc"), &index);
        let p = decode(&bytes, "node-1").unwrap();
        assert_eq!(p.token, "tok");
        assert_eq!(p.seq, json!("12-abc"));
        let got: Vec<_> = p
            .index
            .iter()
            .map(|(k, e)| (k.clone(), e.clone()))
            .collect();
        let mut want: Vec<_> = index.iter().map(|(k, e)| (k.clone(), e.clone())).collect();
        // The generation a file was seen in is not persisted.
        for (_, e) in &mut want {
            e.seen_gen = 0;
        }
        assert_eq!(got, want);
    }

    #[test]
    fn damaged_or_foreign_files_are_rejected_with_a_reason() {
        let bytes = encode("tok", "node-1", &json!(3), &sample());
        assert!(decode(&bytes, "node-2").unwrap_err().contains("node-1"));
        for cut in [0, 5, 20, bytes.len() - 1] {
            let e = decode(&bytes[..cut], "node-1").unwrap_err();
            assert!(!e.is_empty());
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(decode(&long, "node-1").unwrap_err().contains("trailing"));
        let mut bad = bytes.clone();
        let last = bad.len() - 1;
        bad[last] = 9;
        assert!(decode(&bad, "node-1").unwrap_err().contains("flags"));
    }
}
