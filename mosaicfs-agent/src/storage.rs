//! Storage reporting: the filesystems holding the watch paths
//! (`node.storage[]`, from `/proc/self/mountinfo` and `statvfs`) and the
//! hourly `utilization::{node_id}::{hour}` snapshot. Both are written at
//! start and every [`STORAGE_INTERVAL`]; a second snapshot within the same
//! hour replaces the figures of the first.

use mosaicfs_common::couch::{CouchClient, CouchError};
use mosaicfs_common::{documents, ids, time};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often storage is measured.
pub const STORAGE_INTERVAL: Duration = Duration::from_secs(3600);

/// One line of `/proc/self/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// `major:minor` of the device.
    pub dev: String,
    /// Where it is mounted.
    pub mount_point: PathBuf,
    /// `ext4`, `tmpfs`, `overlay`, …
    pub fs_type: String,
    /// The mount source (`/dev/sda1`, `tmpfs`, …).
    pub source: String,
}

/// One filesystem that holds watch paths, with its figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Filesystem {
    /// The mount.
    pub mount: Mount,
    /// Filesystem UUID where `/dev/disk/by-uuid` names it, else `dev:{major}:{minor}`.
    pub filesystem_id: String,
    /// Total bytes.
    pub capacity_bytes: u64,
    /// Used bytes.
    pub used_bytes: u64,
    /// Bytes available to unprivileged users.
    pub available_bytes: u64,
    /// The watch paths on it.
    pub watch_paths: Vec<String>,
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses the text of `/proc/self/mountinfo`; malformed lines are skipped.
pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let l: Vec<&str> = left.split(' ').collect();
            let r: Vec<&str> = right.split(' ').collect();
            Some(Mount {
                dev: l.get(2)?.to_string(),
                mount_point: PathBuf::from(unescape(l.get(4)?)),
                fs_type: r.first()?.to_string(),
                source: unescape(r.get(1).unwrap_or(&"")),
            })
        })
        .collect()
}

/// The mount holding `path`: the last-mounted of the longest matching mount
/// points (later lines shadow earlier ones at the same point).
pub fn mount_of<'a>(mounts: &'a [Mount], path: &Path) -> Option<&'a Mount> {
    let mut best: Option<&Mount> = None;
    for m in mounts {
        if path.starts_with(&m.mount_point)
            && best
                .is_none_or(|b| m.mount_point.as_os_str().len() >= b.mount_point.as_os_str().len())
        {
            best = Some(m);
        }
    }
    best
}

/// The UUID `/dev/disk/by-uuid` gives the device `source`, if readable.
fn uuid_of(source: &str) -> Option<String> {
    let dev = std::fs::canonicalize(source).ok()?;
    for entry in std::fs::read_dir("/dev/disk/by-uuid").ok()?.flatten() {
        if std::fs::canonicalize(entry.path()).ok().as_deref() == Some(dev.as_path()) {
            return Some(entry.file_name().to_string_lossy().into_owned());
        }
    }
    None
}

/// Measures the filesystems holding `watch_paths` (missing paths are
/// skipped).
pub fn measure(watch_paths: &[PathBuf]) -> Vec<Filesystem> {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo")
        .map(|t| parse_mountinfo(&t))
        .unwrap_or_default();
    let mut out: Vec<Filesystem> = Vec::new();
    for wp in watch_paths {
        let Ok(canonical) = std::fs::canonicalize(wp) else {
            continue;
        };
        let mount = mount_of(&mounts, &canonical)
            .cloned()
            .unwrap_or_else(|| Mount {
                dev: String::new(),
                mount_point: PathBuf::from("/"),
                fs_type: "unknown".into(),
                source: String::new(),
            });
        if let Some(fs) = out.iter_mut().find(|f| f.mount == mount) {
            fs.watch_paths.push(wp.display().to_string());
            continue;
        }
        let Ok(v) = rustix::fs::statvfs(&canonical) else {
            continue;
        };
        let frsize = if v.f_frsize > 0 {
            v.f_frsize
        } else {
            v.f_bsize
        };
        let filesystem_id = uuid_of(&mount.source).unwrap_or_else(|| format!("dev:{}", mount.dev));
        out.push(Filesystem {
            filesystem_id,
            capacity_bytes: v.f_blocks.saturating_mul(frsize),
            used_bytes: v.f_blocks.saturating_sub(v.f_bfree).saturating_mul(frsize),
            available_bytes: v.f_bavail.saturating_mul(frsize),
            watch_paths: vec![wp.display().to_string()],
            mount,
        });
    }
    out
}

/// Writes `node.storage` (read-modify-write; other fields survive, and a
/// conflict is merged by field ownership).
pub async fn write_storage(
    db: &CouchClient,
    node_id: &str,
    filesystems: &[Filesystem],
) -> Result<(), CouchError> {
    let entries: Vec<Value> = filesystems
        .iter()
        .map(|f| {
            json!({
                "filesystem_id": f.filesystem_id,
                "mount_point": f.mount.mount_point.display().to_string(),
                "fs_type": f.mount.fs_type,
                "device": f.mount.source,
                "capacity_bytes": f.capacity_bytes,
                "used_bytes": f.used_bytes,
                "watch_paths_on_fs": f.watch_paths,
            })
        })
        .collect();
    // Merging like the heartbeat: a conflict left by replication is resolved
    // by field ownership instead of overwriting the control plane's fields.
    db.update_merging(
        &ids::node_doc_id(node_id),
        documents::merge_node_revisions,
        |stored| {
            // The node document is created by the registration at start.
            let mut doc = stored.filter(Value::is_object)?;
            doc["storage"] = json!(entries);
            Some(doc)
        },
    )
    .await
    .map(|_| ())
}

/// Writes this hour's utilization snapshot, replacing an earlier one of the
/// same hour.
pub async fn write_snapshot(
    db: &CouchClient,
    node_id: &str,
    filesystems: &[Filesystem],
) -> Result<String, CouchError> {
    let now = time::now();
    let id = ids::utilization_id(node_id, &now);
    let figures: Vec<Value> = filesystems
        .iter()
        .map(|f| {
            json!({
                "filesystem_id": f.filesystem_id,
                "mount_point": f.mount.mount_point.display().to_string(),
                "used_bytes": f.used_bytes,
                "available_bytes": f.available_bytes,
            })
        })
        .collect();
    db.update(&id, |stored| {
        let mut doc = stored.filter(Value::is_object).unwrap_or_else(|| json!({}));
        let o = doc.as_object_mut()?;
        o.insert("type".into(), json!("utilization_snapshot"));
        o.insert("node_id".into(), json!(node_id));
        o.insert("captured_at".into(), json!(time::format(&now)));
        o.insert("filesystems".into(), json!(figures));
        Some(doc)
    })
    .await?;
    Ok(id)
}

/// Measures and writes both documents now and every `every`, until cancelled.
pub async fn storage_loop(
    db: CouchClient,
    node_id: String,
    watch_paths: Vec<PathBuf>,
    every: Duration,
    cancel: CancellationToken,
) {
    let db = db.with_retry(mosaicfs_common::retry::RetryPolicy::standard(Some(2)));
    loop {
        let paths = watch_paths.clone();
        let fs = tokio::task::spawn_blocking(move || measure(&paths))
            .await
            .unwrap_or_default();
        let r = async {
            write_storage(&db, &node_id, &fs).await?;
            write_snapshot(&db, &node_id, &fs).await
        }
        .await;
        match r {
            Ok(id) => tracing::info!(node_id, operation = "storage", filesystems = fs.len(),
                snapshot = %id, "storage measured"),
            Err(e) => tracing::warn!(node_id, operation = "storage", error = %e,
                "cannot write storage figures; will retry at the next interval"),
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
40 27 8:17 / /mnt/my\\040disk rw,relatime shared:5 master:1 - xfs /dev/sdb1 rw
41 40 0:50 / /mnt/my\\040disk/tmp rw - tmpfs tmpfs rw
";

    #[test]
    fn mountinfo_lines_parse_with_optional_fields_and_escapes() {
        let m = parse_mountinfo(SAMPLE);
        assert_eq!(m.len(), 4);
        assert_eq!(
            m[2],
            Mount {
                dev: "8:17".into(),
                mount_point: "/mnt/my disk".into(),
                fs_type: "xfs".into(),
                source: "/dev/sdb1".into(),
            }
        );
    }

    #[test]
    fn a_path_belongs_to_the_deepest_mount_above_it() {
        let m = parse_mountinfo(SAMPLE);
        let check = |p: &str, want: &str| {
            assert_eq!(
                mount_of(&m, Path::new(p)).unwrap().mount_point,
                Path::new(want),
                "{p}"
            )
        };
        check("/home/me", "/");
        check("/mnt/my disk/photos", "/mnt/my disk");
        check("/mnt/my disk/tmp/x", "/mnt/my disk/tmp");
        check("/mnt/my diskette", "/");
    }

    #[test]
    fn measuring_a_real_directory_gives_figures() {
        let tmp = tempfile::tempdir().unwrap();
        let fs = measure(&[tmp.path().to_path_buf(), PathBuf::from("/nonexistent/x")]);
        assert_eq!(fs.len(), 1);
        assert!(fs[0].capacity_bytes > 0 && fs[0].used_bytes <= fs[0].capacity_bytes);
        assert!(!fs[0].filesystem_id.is_empty());
    }
}
