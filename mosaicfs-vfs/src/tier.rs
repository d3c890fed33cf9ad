//! Which access tier serves a file (plan 4.4, 4.8): local (1), a network
//! mount (2) or a cloud sync directory (3), else a remote fetch (4).
//!
//! The decision reads only the documents and the local filesystem (stat and
//! canonicalize); it never touches the network, so it runs on the blocking
//! pool and is tested with plain directories.

use crate::error::VfsError;
use base64::Engine;
use mosaicfs_common::documents::{FileDoc, NetworkMount};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Where a read goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tier {
    /// Tier 1: this node's own file, at its canonical path.
    Local(PathBuf),
    /// Tier 2 (`cifs`, `nfs`) or 3 (`icloud_local`, `gdrive_local`): the
    /// owner's file through a mount on this node.
    Mount {
        /// 2 or 3.
        tier: u8,
        /// The translated local path.
        path: PathBuf,
        /// Which mount.
        mount_id: String,
    },
    /// Tier 4: fetch from the owner's transfer endpoint.
    Remote,
}

/// Tells whether a file in a cloud sync directory is only a placeholder
/// (evicted to the cloud), so reading it locally would trigger a download or
/// fail. Only consulted for `icloud_local` mounts.
pub trait EvictionCheck: Send + Sync {
    /// Whether `path` is evicted.
    fn is_evicted(&self, path: &Path) -> bool;
}

/// The default check: nothing is evicted. The real iCloud check (the
/// `com.apple.ubiquity` extended attributes / `.icloud` placeholders) only
/// exists on macOS and is not built yet.
#[derive(Debug, Clone, Copy, Default)]
pub struct NeverEvicted;

impl EvictionCheck for NeverEvicted {
    fn is_evicted(&self, _path: &Path) -> bool {
        false
    }
}

/// The exact path bytes of a file document: `export_path_bytes` decoded when
/// present (non-UTF-8 names), else `export_path`.
pub fn export_path_bytes(file: &FileDoc) -> Result<Vec<u8>, VfsError> {
    match &file.source.export_path_bytes {
        Some(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| {
                VfsError::Io(format!("file {}: export_path_bytes is not base64", file.id))
            }),
        None => Ok(file.source.export_path.as_bytes().to_vec()),
    }
}

/// The export path as an OS path.
pub fn export_path(file: &FileDoc) -> Result<PathBuf, VfsError> {
    Ok(OsStr::from_bytes(&export_path_bytes(file)?).into())
}

/// Picks the tier for `file` on node `this_node`, whose configured watch
/// paths are `watch_paths` and whose node document lists `mounts`.
///
/// Tier 1: the file must exist (`ENOENT` otherwise: the document is stale)
/// and its canonical path must lie under a canonicalized watch path
/// (`EACCES` otherwise, e.g. a symlink out of the tree). Tiers 2 and 3: the
/// mounts of the owner that cover the export path, highest `priority` first;
/// a translated path that is missing (or evicted, for `icloud_local`) falls
/// through to the next mount and finally to Tier 4.
pub fn select_tier(
    file: &FileDoc,
    this_node: &str,
    watch_paths: &[PathBuf],
    mounts: &[NetworkMount],
    eviction: &dyn EvictionCheck,
) -> Result<Tier, VfsError> {
    let path = export_path(file)?;
    if file.source.node_id == this_node {
        let canonical = std::fs::canonicalize(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                VfsError::NotFound(format!("{} is gone (stale document)", path.display()))
            } else {
                VfsError::local(format!("canonicalize {}", path.display()), e)
            }
        })?;
        let inside = watch_paths
            .iter()
            .any(|w| std::fs::canonicalize(w).is_ok_and(|w| canonical.starts_with(&w)));
        if !inside {
            tracing::warn!(operation = "vfs_open", file_id = %file.id, path = %canonical.display(),
                "refused: outside every watch path");
            return Err(VfsError::AccessDenied(format!(
                "{} is outside this node's watch paths",
                canonical.display()
            )));
        }
        return Ok(Tier::Local(canonical));
    }
    let mut candidates: Vec<&NetworkMount> = mounts
        .iter()
        .filter(|m| m.remote_node_id == file.source.node_id)
        .collect();
    // Stable sort: equal priorities keep the document's order.
    candidates.sort_by_key(|m| std::cmp::Reverse(m.priority));
    for m in candidates {
        let tier = match m.mount_type.as_str() {
            "cifs" | "nfs" => 2,
            "icloud_local" | "gdrive_local" => 3,
            _ => continue,
        };
        let Ok(rest) = path.strip_prefix(&m.remote_base_export_path) else {
            continue;
        };
        let local = Path::new(&m.local_mount_path).join(rest);
        if !std::fs::metadata(&local).is_ok_and(|md| md.is_file()) {
            tracing::debug!(operation = "vfs_open", file_id = %file.id, mount_id = %m.mount_id,
                path = %local.display(), "not on the mount, falling through");
            continue;
        }
        if m.mount_type == "icloud_local" && eviction.is_evicted(&local) {
            continue;
        }
        return Ok(Tier::Mount {
            tier,
            path: local,
            mount_id: m.mount_id.clone(),
        });
    }
    Ok(Tier::Remote)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(node: &str, path: &Path) -> FileDoc {
        serde_json::from_value(json!({
            "_id": "file::t", "type": "file", "inode": 1000, "name": "x",
            "source": {"node_id": node, "export_path": path.to_string_lossy(),
                       "export_parent": "/"},
            "size": 1, "mtime": "2026-01-01T00:00:00Z", "status": "active"
        }))
        .unwrap()
    }

    fn mount(
        id: &str,
        node: &str,
        remote: &str,
        local: &Path,
        kind: &str,
        priority: i32,
    ) -> NetworkMount {
        serde_json::from_value(json!({
            "mount_id": id, "remote_node_id": node, "remote_base_export_path": remote,
            "local_mount_path": local.to_string_lossy(), "mount_type": kind, "priority": priority
        }))
        .unwrap()
    }

    struct AllEvicted;
    impl EvictionCheck for AllEvicted {
        fn is_evicted(&self, _: &Path) -> bool {
            true
        }
    }

    #[test]
    fn local_files_must_exist_and_stay_inside_the_watch_paths() {
        let tmp = tempfile::tempdir().unwrap();
        let watch = tmp.path().join("watch");
        let outside = tmp.path().join("outside");
        std::fs::create_dir_all(&watch).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(watch.join("a"), b"a").unwrap();
        std::fs::write(outside.join("s"), b"s").unwrap();
        std::os::unix::fs::symlink(outside.join("s"), watch.join("link")).unwrap();
        let w = [watch.clone()];
        let t = select_tier(&doc("me", &watch.join("a")), "me", &w, &[], &NeverEvicted).unwrap();
        assert_eq!(t, Tier::Local(watch.canonicalize().unwrap().join("a")));
        let e = select_tier(
            &doc("me", &watch.join("gone")),
            "me",
            &w,
            &[],
            &NeverEvicted,
        )
        .unwrap_err();
        assert_eq!(e.errno(), crate::Errno::NoEnt);
        for escaping in [
            watch.join("link"),
            watch.join("..").join("outside").join("s"),
        ] {
            let e = select_tier(&doc("me", &escaping), "me", &w, &[], &NeverEvicted).unwrap_err();
            assert_eq!(e.errno(), crate::Errno::Acces, "{}", escaping.display());
        }
    }

    #[test]
    fn mounts_translate_paths_by_priority_and_fall_through() {
        let tmp = tempfile::tempdir().unwrap();
        let nfs = tmp.path().join("nfs");
        let icloud = tmp.path().join("icloud");
        std::fs::create_dir_all(nfs.join("docs")).unwrap();
        std::fs::create_dir_all(icloud.join("docs")).unwrap();
        std::fs::write(nfs.join("docs/r.pdf"), b"n").unwrap();
        std::fs::write(icloud.join("docs/r.pdf"), b"i").unwrap();
        let file = doc("peer", Path::new("/export/docs/r.pdf"));
        let mounts = [
            mount("m-nfs", "peer", "/export", &nfs, "nfs", 1),
            mount("m-icloud", "peer", "/export", &icloud, "icloud_local", 5),
            mount("m-other", "someone-else", "/export", &nfs, "cifs", 9),
        ];
        let t = select_tier(&file, "me", &[], &mounts, &NeverEvicted).unwrap();
        assert_eq!(
            t,
            Tier::Mount {
                tier: 3,
                path: icloud.join("docs/r.pdf"),
                mount_id: "m-icloud".into()
            }
        );
        // An evicted iCloud file falls through to the NFS mount.
        let t = select_tier(&file, "me", &[], &mounts, &AllEvicted).unwrap();
        assert_eq!(
            t,
            Tier::Mount {
                tier: 2,
                path: nfs.join("docs/r.pdf"),
                mount_id: "m-nfs".into()
            }
        );
        // Missing everywhere: Tier 4.
        let missing = doc("peer", Path::new("/export/docs/none.pdf"));
        assert_eq!(
            select_tier(&missing, "me", &[], &mounts, &NeverEvicted).unwrap(),
            Tier::Remote
        );
        // Not under the mount's base (component-wise: /exported is not /export).
        let elsewhere = doc("peer", Path::new("/exported/docs/r.pdf"));
        assert_eq!(
            select_tier(&elsewhere, "me", &[], &mounts, &NeverEvicted).unwrap(),
            Tier::Remote
        );
        assert_eq!(
            select_tier(&file, "me", &[], &[], &NeverEvicted).unwrap(),
            Tier::Remote
        );
    }
}
