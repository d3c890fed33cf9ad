//! Which access tier serves a file (plan 4.4, 4.8): local (1), a network
//! mount (2) or a cloud sync directory (3), else a remote fetch (4).
//!
//! The decision reads only the documents and the local filesystem (stat and
//! canonicalize); it never touches the network, so it runs on the blocking
//! pool and is tested with plain directories.

use crate::error::VfsError;
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

/// A check that says nothing is evicted (tests of other tiers).
#[derive(Debug, Clone, Copy, Default)]
pub struct NeverEvicted;

impl EvictionCheck for NeverEvicted {
    fn is_evicted(&self, _path: &Path) -> bool {
        false
    }
}

/// Files up to this size are not judged by their allocated blocks:
/// filesystems keep such small files inline in the inode (ext4
/// `inline_data`, btrfs inline extents) and report zero blocks for them.
const INLINE_DATA_MAX: u64 = 4096;

/// The iCloud eviction check of plan 4.8, the default of [`crate::Vfs`].
///
/// Recognised on every Unix (and tested on Linux):
/// - the **stub** of an evicted file, `.{name}.icloud` beside it (iCloud
///   Drive before macOS 14 replaces an evicted file by this stub, which
///   carries the `com.apple.icloud.itemName` extended attribute naming the
///   file; the stub's presence is what is checked, since Linux cannot read
///   `com.apple.*` attributes). When both exist, the file is being
///   downloaded or evicted, so it is not trusted either;
/// - a **dataless** file: a non-zero size (above [`INLINE_DATA_MAX`]) with
///   no allocated blocks. macOS 14+ evicts by keeping the file with its size
///   and attributes but no data extents; cloud placeholders elsewhere look
///   the same. A fully sparse local file is judged the same way, which only
///   costs a Tier 4 fetch, never wrong content.
///
/// On macOS only (`cfg(target_os = "macos")`, not built or tested here):
/// the `SF_DATALESS` flag in `st_flags`, which APFS sets on exactly those
/// files.
#[derive(Debug, Clone, Copy, Default)]
pub struct CloudPlaceholderCheck;

impl CloudPlaceholderCheck {
    /// Why `path` counts as evicted, if it does.
    pub fn reason(path: &Path) -> Option<&'static str> {
        if let (Some(dir), Some(name)) = (path.parent(), path.file_name()) {
            let mut stub = std::ffi::OsString::from(".");
            stub.push(name);
            stub.push(".icloud");
            if std::fs::symlink_metadata(dir.join(stub)).is_ok() {
                return Some("an iCloud stub (.NAME.icloud) stands beside it");
            }
        }
        let md = std::fs::metadata(path).ok()?;
        #[cfg(target_os = "macos")]
        {
            use std::os::macos::fs::MetadataExt as _;
            /// `SF_DATALESS` of `<sys/stat.h>`.
            const SF_DATALESS: u32 = 0x4000_0000;
            if md.st_flags() & SF_DATALESS != 0 {
                return Some("the file is dataless (SF_DATALESS)");
            }
        }
        use std::os::unix::fs::MetadataExt as _;
        if md.len() > INLINE_DATA_MAX && md.blocks() == 0 {
            return Some("the file has a size but no data blocks (dataless placeholder)");
        }
        None
    }
}

impl EvictionCheck for CloudPlaceholderCheck {
    fn is_evicted(&self, path: &Path) -> bool {
        match Self::reason(path) {
            Some(why) => {
                tracing::info!(operation = "vfs_open", path = %path.display(), reason = why,
                    "evicted to the cloud; falling through");
                true
            }
            None => false,
        }
    }
}

/// Whether a file seen through a mount is the version its document
/// describes: the same size, and the same mtime at the resolution the mount
/// reports (a network filesystem may keep whole seconds or 100 ns units; the
/// resolution is read from the trailing zeros of the local nanoseconds).
/// `Err` says what differs.
fn same_version(file: &FileDoc, md: &std::fs::Metadata) -> Result<(), String> {
    if md.len() != file.size {
        return Err(format!(
            "size {} on the mount, {} in the document",
            md.len(),
            file.size
        ));
    }
    let local = md
        .modified()
        .map(mosaicfs_common::time::from_system_time)
        .map_err(|e| format!("no mtime on the mount: {e}"))?;
    let (ls, ln) = (local.timestamp(), local.timestamp_subsec_nanos());
    let unit = [1_000_000_000, 1_000_000, 1_000, 100]
        .into_iter()
        .find(|u| ln % u == 0)
        .unwrap_or(1);
    let (ds, dn) = (file.mtime.timestamp(), file.mtime.timestamp_subsec_nanos());
    if (ls, ln) == (ds, dn - dn % unit) {
        Ok(())
    } else {
        Err(format!(
            "mtime {} on the mount, {} in the document",
            mosaicfs_common::time::format(&local),
            mosaicfs_common::time::format(&file.mtime)
        ))
    }
}

/// The exact path bytes of a file document ([`FileSource::path_bytes`]).
///
/// [`FileSource::path_bytes`]: mosaicfs_common::documents::FileSource::path_bytes
pub fn export_path_bytes(file: &FileDoc) -> Result<Vec<u8>, VfsError> {
    file.source
        .path_bytes()
        .map_err(|_| VfsError::Io(format!("file {}: export_path_bytes is not base64", file.id)))
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
/// a translated path that is missing, evicted (`icloud_local`), or whose
/// size or mtime differs from the document falls through to the next mount
/// and finally to Tier 4.
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
        let md = match std::fs::metadata(&local) {
            Ok(md) if md.is_file() => md,
            _ => {
                tracing::debug!(operation = "vfs_open", file_id = %file.id, mount_id = %m.mount_id,
                    path = %local.display(), "not on the mount, falling through");
                continue;
            }
        };
        if m.mount_type == "icloud_local" && eviction.is_evicted(&local) {
            continue;
        }
        // Never serve a version other than the document's: the mount may
        // lag behind the owner (or run ahead of the replicated document).
        if let Err(why) = same_version(file, &md) {
            tracing::warn!(operation = "vfs_open", file_id = %file.id, mount_id = %m.mount_id,
                path = %local.display(), error = %why,
                "the file on the mount differs from its document; falling through");
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
    use base64::Engine;
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

    /// The mtime [`doc`] writes.
    const DOC_MTIME: &str = "2026-01-01T00:00:00Z";

    fn set_mtime(path: &Path, rfc3339: &str) {
        let t = chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap();
        let t = std::time::UNIX_EPOCH
            + std::time::Duration::new(t.timestamp() as u64, t.timestamp_subsec_nanos());
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(t)
            .unwrap();
    }

    /// A document of `size` bytes modified at `mtime`.
    fn versioned(node: &str, path: &Path, size: u64, mtime: &str) -> FileDoc {
        let mut d = doc(node, path);
        d.size = size;
        d.mtime = chrono::DateTime::parse_from_rfc3339(mtime)
            .unwrap()
            .to_utc();
        d
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
        set_mtime(&nfs.join("docs/r.pdf"), DOC_MTIME);
        set_mtime(&icloud.join("docs/r.pdf"), DOC_MTIME);
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

    #[test]
    fn a_mount_whose_file_differs_from_the_document_is_not_served() {
        let tmp = tempfile::tempdir().unwrap();
        let (fast, slow) = (tmp.path().join("fast"), tmp.path().join("slow"));
        for m in [&fast, &slow] {
            std::fs::create_dir_all(m).unwrap();
            std::fs::write(m.join("f"), b"12345").unwrap();
        }
        let mounts = [
            mount("m-fast", "peer", "/export", &fast, "nfs", 9),
            mount("m-slow", "peer", "/export", &slow, "cifs", 1),
        ];
        let at = |m: &str, p: &Path| Tier::Mount {
            tier: 2,
            path: p.join("f"),
            mount_id: m.into(),
        };
        let pick = |d: &FileDoc| select_tier(d, "me", &[], &mounts, &NeverEvicted).unwrap();
        let ns = "2026-03-04T05:06:07.123456789Z";
        set_mtime(&fast.join("f"), ns);
        set_mtime(&slow.join("f"), ns);
        let current = versioned("peer", Path::new("/export/f"), 5, ns);
        assert_eq!(pick(&current), at("m-fast", &fast));
        // A size the document does not have: the next mount.
        std::fs::write(fast.join("f"), b"123456").unwrap();
        set_mtime(&fast.join("f"), ns);
        assert_eq!(pick(&current), at("m-slow", &slow));
        // Same size, another mtime: Tier 4.
        set_mtime(&slow.join("f"), "2026-03-04T05:06:08.123456789Z");
        assert_eq!(pick(&current), Tier::Remote);
        // A mount with whole seconds (or 100 ns units) matches at its own
        // resolution, and only there.
        set_mtime(&slow.join("f"), "2026-03-04T05:06:07Z");
        assert_eq!(pick(&current), at("m-slow", &slow));
        set_mtime(&slow.join("f"), "2026-03-04T05:06:07.1234567Z");
        assert_eq!(pick(&current), at("m-slow", &slow));
        set_mtime(&slow.join("f"), "2026-03-04T05:06:06Z");
        assert_eq!(pick(&current), Tier::Remote);
    }

    #[test]
    fn icloud_stubs_and_dataless_files_count_as_evicted() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let check = CloudPlaceholderCheck;
        // A real file with its data: not evicted.
        std::fs::write(dir.join("kept.pdf"), vec![7u8; 100_000]).unwrap();
        assert_eq!(CloudPlaceholderCheck::reason(&dir.join("kept.pdf")), None);
        // Small files may have no blocks (inline data): not judged.
        std::fs::write(dir.join("tiny"), b"x").unwrap();
        assert!(!check.is_evicted(&dir.join("tiny")));
        // A stub beside the file (pre-Sonoma eviction, or mid-download).
        std::fs::write(dir.join("old.pdf"), vec![7u8; 100_000]).unwrap();
        std::fs::write(dir.join(".old.pdf.icloud"), b"bplist00").unwrap();
        assert!(check.is_evicted(&dir.join("old.pdf")));
        // Dataless: a size and no data blocks.
        let f = std::fs::File::create(dir.join("dataless.mov")).unwrap();
        f.set_len(5 << 20).unwrap();
        drop(f);
        assert!(check.is_evicted(&dir.join("dataless.mov")));

        // Through tier selection: an evicted iCloud file falls through to
        // the NFS mount of the same tree, a present one is served.
        let (icloud, nfs) = (dir.join("icloud"), dir.join("nfs"));
        std::fs::create_dir_all(&icloud).unwrap();
        std::fs::create_dir_all(&nfs).unwrap();
        for root in [&icloud, &nfs] {
            std::fs::write(root.join("v.mov"), vec![1u8; 8192]).unwrap();
            set_mtime(&root.join("v.mov"), DOC_MTIME);
        }
        let mounts = [
            mount("m-icloud", "peer", "/export", &icloud, "icloud_local", 5),
            mount("m-nfs", "peer", "/export", &nfs, "nfs", 1),
        ];
        let file = versioned("peer", Path::new("/export/v.mov"), 8192, DOC_MTIME);
        let pick = || select_tier(&file, "me", &[], &mounts, &check).unwrap();
        assert!(matches!(pick(), Tier::Mount { tier: 3, .. }));
        let f = std::fs::File::create(icloud.join("v.mov")).unwrap();
        f.set_len(8192).unwrap();
        drop(f);
        set_mtime(&icloud.join("v.mov"), DOC_MTIME);
        assert_eq!(
            pick(),
            Tier::Mount {
                tier: 2,
                path: nfs.join("v.mov"),
                mount_id: "m-nfs".into()
            }
        );
    }

    #[test]
    fn exact_path_bytes_are_opened_locally_and_translated_on_mounts() {
        use std::os::unix::ffi::OsStrExt;
        let tmp = tempfile::tempdir().unwrap();
        let watch = tmp.path().join("watch");
        let nfs = tmp.path().join("nfs");
        std::fs::create_dir_all(&watch).unwrap();
        std::fs::create_dir_all(&nfs).unwrap();
        let (a, b) = (OsStr::from_bytes(b"x\xff"), OsStr::from_bytes(b"x\xfe"));
        for (dir, name) in [(&watch, a), (&watch, b), (&nfs, a)] {
            std::fs::write(dir.join(name), b"1").unwrap();
            set_mtime(&dir.join(name), DOC_MTIME);
        }
        let with_bytes = |node: &str, path: &Path| {
            let mut d = doc(node, path);
            d.source.export_path_bytes =
                Some(base64::engine::general_purpose::STANDARD.encode(path.as_os_str().as_bytes()));
            d
        };
        let w = [watch.clone()];
        let canon = watch.canonicalize().unwrap();
        for name in [a, b] {
            let t = select_tier(
                &with_bytes("me", &watch.join(name)),
                "me",
                &w,
                &[],
                &NeverEvicted,
            );
            assert_eq!(t.unwrap(), Tier::Local(canon.join(name)));
        }
        let mounts = [mount("m", "peer", "/export", &nfs, "nfs", 1)];
        let remote = |name: &OsStr| {
            select_tier(
                &with_bytes("peer", &Path::new("/export").join(name)),
                "me",
                &[],
                &mounts,
                &NeverEvicted,
            )
            .unwrap()
        };
        assert_eq!(
            remote(a),
            Tier::Mount {
                tier: 2,
                path: nfs.join(a),
                mount_id: "m".into()
            }
        );
        // Only x\xff is on the mount: x\xfe, of the same lossy name, is not
        // served from it.
        assert_eq!(remote(b), Tier::Remote);
    }
}
