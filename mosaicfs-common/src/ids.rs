//! Document `_id` formats. They are part of the replication contract: filters
//! and range queries select documents by these prefixes, so never change one
//! without a migration (see `docs/architecture.md`, "Document ids").

use rand::Rng;
use sha2::{Digest, Sha256};

/// Separator between the parts of an `_id`.
pub const SEP: &str = "::";

/// Prefix of every `file` document id.
pub const FILE_PREFIX: &str = "file::";
/// Prefix of every `virtual_directory` document id.
pub const DIR_PREFIX: &str = "dir::";
/// Id of the root virtual directory.
pub const ROOT_DIR_ID: &str = "dir::root";
/// Prefix of every `node` document id.
pub const NODE_PREFIX: &str = "node::";
/// Prefix of every `credential` document id.
pub const CREDENTIAL_PREFIX: &str = "credential::";
/// Prefix of every `agent_status` document id.
pub const STATUS_PREFIX: &str = "status::";
/// Prefix of every `utilization_snapshot` document id.
pub const UTILIZATION_PREFIX: &str = "utilization::";
/// Prefix of every `label_assignment` document id.
pub const LABEL_FILE_PREFIX: &str = "label_file::";
/// Prefix of every `label_rule` document id.
pub const LABEL_RULE_PREFIX: &str = "label_rule::";
/// Prefix of every `plugin` document id.
pub const PLUGIN_PREFIX: &str = "plugin::";
/// Prefix of every `annotation` document id.
pub const ANNOTATION_PREFIX: &str = "annotation::";
/// Prefix of every `notification` document id.
pub const NOTIFICATION_PREFIX: &str = "notification::";

/// The end key of a CouchDB range over all ids that start with `prefix`.
pub fn prefix_end(prefix: &str) -> String {
    format!("{prefix}\u{fff0}")
}

/// A new file id: `file::{uuid-v7}`. Version-7 UUIDs sort by creation time,
/// which CouchDB's B-tree loads several times faster than random ids.
pub fn new_file_id() -> String {
    format!("{FILE_PREFIX}{}", uuid::Uuid::now_v7().as_simple())
}

/// The UUID part of a file id (`file::abc` → `abc`), used by
/// `label_file::`, `annotation::` ids.
pub fn file_uuid(file_id: &str) -> Option<&str> {
    file_id.strip_prefix(FILE_PREFIX).filter(|u| !u.is_empty())
}

/// `dir::root` for `/`, else `dir::{sha256_hex(virtual_path)}`.
pub fn dir_id(virtual_path: &str) -> String {
    if virtual_path == "/" {
        ROOT_DIR_ID.to_string()
    } else {
        format!("{DIR_PREFIX}{}", sha256_hex(virtual_path.as_bytes()))
    }
}

/// `node::{node_id}`.
pub fn node_doc_id(node_id: &str) -> String {
    format!("{NODE_PREFIX}{node_id}")
}

/// `credential::{access_key_id}`.
pub fn credential_id(access_key_id: &str) -> String {
    format!("{CREDENTIAL_PREFIX}{access_key_id}")
}

/// `status::{node_id}`.
pub fn status_id(node_id: &str) -> String {
    format!("{STATUS_PREFIX}{node_id}")
}

/// `utilization::{node_id}::{hour}` where hour is `YYYY-MM-DDTHH:00:00Z`.
pub fn utilization_id(node_id: &str, captured_at: &crate::time::Timestamp) -> String {
    format!(
        "{UTILIZATION_PREFIX}{node_id}{SEP}{}",
        captured_at.format("%Y-%m-%dT%H:00:00Z")
    )
}

/// `label_file::{file_uuid}`.
pub fn label_assignment_id(file_uuid: &str) -> String {
    format!("{LABEL_FILE_PREFIX}{file_uuid}")
}

/// A new `label_rule::{uuid}`.
pub fn new_label_rule_id() -> String {
    format!("{LABEL_RULE_PREFIX}{}", uuid::Uuid::new_v4().as_simple())
}

/// `plugin::{node_id}::{plugin_name}`.
pub fn plugin_id(node_id: &str, plugin_name: &str) -> String {
    format!("{PLUGIN_PREFIX}{node_id}{SEP}{plugin_name}")
}

/// `annotation::{file_uuid}::{plugin_name}`.
pub fn annotation_id(file_uuid: &str, plugin_name: &str) -> String {
    format!("{ANNOTATION_PREFIX}{file_uuid}{SEP}{plugin_name}")
}

/// `notification::{source_id}::{condition_key}`.
pub fn notification_id(source_id: &str, condition_key: &str) -> String {
    format!("{NOTIFICATION_PREFIX}{source_id}{SEP}{condition_key}")
}

/// A new node id: `node-` and 16 lowercase hex digits.
pub fn new_node_id() -> String {
    let bytes: [u8; 8] = rand::rng().random();
    format!("node-{}", hex::encode(bytes))
}

/// Whether `id` is a valid node id: 1–64 characters of `[a-z0-9-_]`, starting
/// with a letter or digit. Node ids appear inside other ids and in replication
/// filter parameters, so they must not contain `::`, `/` or whitespace.
pub fn is_valid_node_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && id.as_bytes()[0].is_ascii_alphanumeric()
}

/// Largest inode handed out: 2^53 − 1. Documents travel through JavaScript
/// (pouchdb-server, the browser's PouchDB), whose numbers are doubles; larger
/// integers would come back rounded (measured: 1634484549000732232 was read
/// back as 1634484549000732200).
pub const MAX_INODE: u64 = (1 << 53) - 1;

/// A new inode number for a file or directory: uniform in `[1000, 2^53)`
/// (0 is invalid, 1 is the root, 2–999 are reserved).
pub fn new_inode() -> u64 {
    rand::rng().random_range(crate::documents::FIRST_ASSIGNED_INODE..=MAX_INODE)
}

/// The inode of a directory that has no document (a subdirectory synthesized
/// by a `prefix_replace` mount): derived from its virtual path, so it is the
/// same on every node and after every restart. Always ≥ 1000. The path is
/// bytes: a subdirectory named by a non-UTF-8 directory on disk keeps its
/// exact name (for a UTF-8 path this is the hash of its UTF-8 bytes, as
/// before).
pub fn synthesized_dir_inode(virtual_path: impl AsRef<[u8]>) -> u64 {
    let d = Sha256::digest(virtual_path.as_ref());
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    let span = MAX_INODE - crate::documents::FIRST_ASSIGNED_INODE;
    crate::documents::FIRST_ASSIGNED_INODE + u64::from_be_bytes(b) % span
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_ids_sort_by_creation_and_expose_uuid() {
        let a = new_file_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = new_file_id();
        assert!(a < b, "{a} should sort before {b}");
        assert_eq!(file_uuid(&a).unwrap().len(), 32);
        assert_eq!(file_uuid("dir::x"), None);
        assert_eq!(file_uuid("file::"), None);
    }

    #[test]
    fn dir_ids_are_deterministic() {
        assert_eq!(dir_id("/"), "dir::root");
        assert_eq!(dir_id("/documents/work"), dir_id("/documents/work"));
        assert_ne!(dir_id("/documents/work"), dir_id("/documents/Work"));
        assert_eq!(dir_id("/a").len(), "dir::".len() + 64);
    }

    #[test]
    fn node_ids_are_validated() {
        let id = new_node_id();
        assert!(is_valid_node_id(&id), "{id}");
        for bad in ["", "Node", "a::b", "a/b", "-x", "a b", &"x".repeat(65)] {
            assert!(!is_valid_node_id(bad), "{bad:?} accepted");
        }
        assert!(is_valid_node_id("node-laptop"));
    }

    #[test]
    fn utilization_ids_truncate_to_the_hour() {
        let t = chrono::DateTime::parse_from_rfc3339("2025-11-14T09:41:07.5Z")
            .unwrap()
            .to_utc();
        assert_eq!(
            utilization_id("n1", &t),
            "utilization::n1::2025-11-14T09:00:00Z"
        );
    }

    #[test]
    fn inodes_avoid_the_reserved_range_and_survive_javascript() {
        for _ in 0..10_000 {
            let i = new_inode();
            assert!((1000..=MAX_INODE).contains(&i));
            assert_eq!(i as f64 as u64, i, "exact as a double");
        }
        let s = synthesized_dir_inode("/a/b");
        assert!((1000..=MAX_INODE).contains(&s));
    }
}
