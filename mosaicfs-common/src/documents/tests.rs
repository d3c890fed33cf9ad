//! Round-trip tests for every document type, including fields from a newer
//! version that must survive a read-modify-write.

use super::*;
use serde_json::{Value, json};

/// One representative document of each type, as a newer program might have
/// written it: each carries a top-level field and (where the type has nested
/// objects) a nested field that this version does not know.
fn samples() -> Vec<(&'static str, Value)> {
    vec![
        (
            "file",
            json!({
                "_id": "file::0190c0de5b6f7a3e8c1d2e3f4a5b6c7d", "_rev": "3-abc", "type": "file",
                "inode": 123456789012u64, "name": "report.pdf",
                "source": {"node_id": "node-laptop", "export_path": "/home/u/docs/report.pdf",
                           "export_parent": "/home/u/docs", "future_nested": {"x": 1}},
                "size": 204800, "mtime": "2025-11-14T09:00:00.123456789Z",
                "mime_type": "application/pdf", "status": "active",
                "created_at": "2025-11-14T09:00:01Z", "updated_at": "2025-11-14T09:00:01Z",
                "content_hash": "sha256:feed"
            }),
        ),
        (
            "virtual_directory",
            json!({
                "_id": "dir::root", "type": "virtual_directory", "inode": 1, "virtual_path": "/",
                "name": "", "system": true, "created_at": "2025-11-14T09:00:00Z",
                "enforce_steps_on_children": true,
                "mounts": [{
                    "mount_id": "a3f9",
                    "source": {"node_id": "*", "export_path": "/home/u/docs", "federated_import_id": "f1"},
                    "strategy": "prefix_replace", "source_prefix": "/home/u/docs",
                    "steps": [
                        {"op": "glob", "pattern": "**/*.pdf"},
                        {"op": "regex", "pattern": "URGENT", "on_match": "include"},
                        {"op": "age", "max_days": 90.0, "invert": true},
                        {"op": "size", "min": "10MB"},
                        {"op": "mime", "types": ["image/*"]},
                        {"op": "node", "node_ids": ["node-a"]},
                        {"op": "label", "labels": ["work"]},
                        {"op": "annotation", "plugin_name": "ai", "key": "lang", "value": "en"},
                        {"op": "access_age", "max_days": 3.0, "future_param": true}
                    ],
                    "default_result": "exclude", "conflict_policy": "suffix_node_id",
                    "future_mount_field": 7
                }],
                "sort_order": "name"
            }),
        ),
        (
            "node",
            json!({
                "_id": "node::node-laptop", "_rev": "9-x", "type": "node", "node_id": "node-laptop",
                "friendly_name": "Laptop", "platform": "linux", "status": "online",
                "last_heartbeat": "2025-11-14T09:00:30Z", "registered_at": "2025-11-01T00:00:00Z",
                "agent_version": "0.1.0", "vfs_capable": true, "vfs_backend": "fuse",
                "capabilities": ["search"], "watch_paths": ["/home/u/docs"],
                "transfer": {"endpoint": "http://10.0.0.2:7847", "protocol": "http", "tls": false},
                "storage": [{"filesystem_id": "uuid-1", "mount_point": "/", "fs_type": "ext4",
                             "device": "/dev/sda1", "capacity_bytes": 1000, "used_bytes": 10,
                             "watch_paths_on_fs": ["/home/u/docs"], "volume": {"type": "lvm"}}],
                "network_mounts": [{"mount_id": "m1", "remote_node_id": "node-nas",
                                    "remote_base_export_path": "/srv", "local_mount_path": "/mnt/nas",
                                    "mount_type": "nfs", "priority": 2, "options": "ro"}],
                "disabled": true, "pubkey": "future"
            }),
        ),
        (
            "credential",
            json!({
                "_id": "credential::MOSAICFS_0123456789ABCDEF", "type": "credential",
                "access_key_id": "MOSAICFS_0123456789ABCDEF",
                "secret_key_hash": "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
                "name": "laptop agent", "enabled": true, "created_at": "2025-11-14T09:00:00Z",
                "last_seen": "2025-11-15T09:00:00Z", "permissions": {"scope": "full", "paths": []},
                "expires_at": null
            }),
        ),
        (
            "agent_status",
            json!({
                "_id": "status::node-laptop", "type": "agent_status", "node_id": "node-laptop",
                "updated_at": "2025-11-14T09:00:00Z", "overall": "healthy",
                "subsystems": {"crawler": {"status": "ok", "detail": "seen=10", "files": 10}},
                "recent_errors": [{"time": "2025-11-14T08:00:00Z", "subsystem": "crawler",
                                   "level": "warn", "message": "permission denied", "path": "/x"}],
                "uptime_s": 5
            }),
        ),
        (
            "utilization_snapshot",
            json!({
                "_id": "utilization::node-laptop::2025-11-14T09:00:00Z",
                "type": "utilization_snapshot", "node_id": "node-laptop",
                "captured_at": "2025-11-14T09:00:03Z",
                "filesystems": [{"filesystem_id": "uuid-1", "mount_point": "/", "used_bytes": 10,
                                 "available_bytes": 990, "inodes_used": 5}],
                "cloud": {"used_bytes": 5, "quota_bytes": 100, "billing": "quota"},
                "load": 0.5
            }),
        ),
        (
            "label_assignment",
            json!({
                "_id": "label_file::0190c0de5b6f7a3e8c1d2e3f4a5b6c7d", "type": "label_assignment",
                "file_id": "file::0190c0de5b6f7a3e8c1d2e3f4a5b6c7d", "labels": ["work", "q3"],
                "updated_at": "2025-11-14T09:00:00Z", "updated_by": "MOSAICFS_0123456789ABCDEF",
                "color": "red"
            }),
        ),
        (
            "label_rule",
            json!({
                "_id": "label_rule::5f0c", "type": "label_rule", "node_id": "*",
                "path_prefix": "/home/u/docs/", "labels": ["docs"], "name": "All docs",
                "enabled": false, "created_at": "2025-11-14T09:00:00Z", "priority": 1
            }),
        ),
        (
            "plugin",
            json!({
                "_id": "plugin::node-laptop::ai-summarizer", "type": "plugin",
                "node_id": "node-laptop", "plugin_name": "ai-summarizer",
                "plugin_type": "executable", "enabled": true, "name": "AI summariser",
                "subscribed_events": ["file.added"], "mime_globs": ["application/pdf"],
                "config": {"model": "x"}, "workers": 2, "timeout_s": 60, "max_attempts": 3,
                "query_endpoints": [{"name": "search", "capability": "search",
                                     "description": "d", "weight": 1}],
                "settings_schema": {"properties": {}}, "settings": {"k": "v"},
                "provides_filesystem": true, "file_path_prefix": "/gmail",
                "created_at": "2025-11-14T09:00:00Z", "sandbox": "none"
            }),
        ),
        (
            "annotation",
            json!({
                "_id": "annotation::0190c0de::ai-summarizer", "type": "annotation",
                "file_id": "file::0190c0de", "source": {"node_id": "node-laptop", "pid": 3},
                "plugin_name": "ai-summarizer", "data": {"summary": "s", "n": [1, 2]},
                "status": "failed", "error": "exit 1",
                "annotated_at": "2025-11-14T09:00:00Z", "updated_at": "2025-11-14T09:00:00Z",
                "attempts": 3
            }),
        ),
        (
            "notification",
            json!({
                "_id": "notification::node-laptop::cache_near_capacity", "type": "notification",
                "source": {"node_id": "node-laptop", "component": "cache", "host": "h"},
                "severity": "warning", "status": "acknowledged", "title": "Cache nearly full",
                "message": "The cache is at 95 % of its 10 GB cap.",
                "actions": [{"label": "Open settings", "api": "GET /api/system/health", "icon": "x"}],
                "condition_key": "cache_near_capacity", "first_seen": "2025-11-14T09:00:00Z",
                "last_seen": "2025-11-14T10:00:00Z", "occurrence_count": 4,
                "acknowledged_at": "2025-11-14T10:05:00Z", "group": "cache"
            }),
        ),
    ]
}

#[test]
fn every_type_round_trips_with_unknown_fields() {
    let samples = samples();
    assert_eq!(samples.len(), 11, "one sample per document type");
    for (doc_type, value) in samples {
        let doc = Document::from_value(value.clone()).unwrap_or_else(|e| panic!("{doc_type}: {e}"));
        let back = doc.to_value();
        assert_eq!(back, value, "{doc_type} did not round-trip");
        assert_eq!(back["type"], doc_type);
    }
}

#[test]
fn read_modify_write_keeps_newer_fields() {
    let (_, value) = samples().remove(0);
    let mut file: FileDoc = serde_json::from_value(value).unwrap();
    file.size = 1;
    file.status = FileStatus::Deleted;
    let written = serde_json::to_value(&file).unwrap();
    assert_eq!(written["content_hash"], "sha256:feed");
    assert_eq!(written["source"]["future_nested"], json!({"x": 1}));
    assert_eq!(written["size"], 1);
    assert_eq!(written["status"], "deleted");

    let (_, dir) = samples().remove(1);
    let mut dir: VirtualDirectoryDoc = serde_json::from_value(dir).unwrap();
    assert_eq!(
        dir.mounts[0].steps[8].op,
        StepOp::Unknown("access_age".into())
    );
    dir.name = "renamed".into();
    let written = serde_json::to_value(&dir).unwrap();
    assert_eq!(written["sort_order"], "name");
    assert_eq!(written["mounts"][0]["future_mount_field"], 7);
    assert_eq!(written["mounts"][0]["steps"][8]["op"], "access_age");
    assert_eq!(written["mounts"][0]["steps"][8]["future_param"], true);
    assert_eq!(written["mounts"][0]["source"]["federated_import_id"], "f1");
}

#[test]
fn mtime_keeps_nanoseconds() {
    let (_, value) = samples().remove(0);
    let file: FileDoc = serde_json::from_value(value).unwrap();
    assert_eq!(file.mtime.timestamp_subsec_nanos(), 123_456_789);
    assert_eq!(
        crate::time::format(&file.mtime),
        "2025-11-14T09:00:00.123456789Z"
    );
}

#[test]
fn a_document_of_another_type_does_not_parse() {
    let (_, node) = samples().remove(2);
    assert!(serde_json::from_value::<FileDoc>(node.clone()).is_err());
    // Only the tag differs: the tag alone must refuse it.
    let (_, file) = samples().remove(0);
    let mut relabelled = file.clone();
    relabelled["type"] = json!("node");
    let err = serde_json::from_value::<FileDoc>(relabelled).unwrap_err();
    assert!(err.to_string().contains("expected type \"file\""), "{err}");
    assert!(matches!(Document::from_value(node), Ok(Document::Node(_))));
}

#[test]
fn bad_documents_get_errors_that_name_the_problem() {
    let err = Document::from_value(json!({"_id": "_design/x", "views": {}})).unwrap_err();
    assert!(matches!(err, DocumentError::NoType { .. }), "{err}");

    let err = Document::from_value(json!({"_id": "x::1", "type": "hologram"})).unwrap_err();
    assert!(
        err.to_string().contains("unknown type \"hologram\""),
        "{err}"
    );

    let (_, mut file) = samples().remove(0);
    file["size"] = json!("big");
    let err = Document::from_value(file).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("malformed") && text.contains("file::0190"),
        "{text}"
    );

    let (_, mut file) = samples().remove(0);
    file.as_object_mut().unwrap().remove("inode");
    let err = Document::from_value(file).unwrap_err();
    assert!(err.to_string().contains("missing field `inode`"), "{err}");
}

#[test]
fn defaults_fill_optional_fields() {
    let dir: VirtualDirectoryDoc = serde_json::from_value(json!({
        "_id": "dir::x", "type": "virtual_directory", "inode": 5000,
        "virtual_path": "/x", "name": "x", "parent_path": "/",
        "created_at": "2025-11-14T09:00:00Z",
        "mounts": [{"mount_id": "m", "source": {"node_id": "n", "export_path": "/a"},
                    "strategy": "flatten"}]
    }))
    .unwrap();
    assert!(!dir.system && !dir.enforce_steps_on_children);
    assert_eq!(dir.mounts[0].default_result, StepResult::Include);
    assert_eq!(dir.mounts[0].conflict_policy, ConflictPolicy::LastWriteWins);
    assert!(dir.mounts[0].steps.is_empty());
}
