//! The `mosaicfs-vfs mount` binary itself (open question 16): started with
//! a real `agent.toml` against a real pouchdb-server, it mounts, serves a
//! listing and bytes equal to the source, and on SIGTERM unmounts (nothing
//! left in `/proc/mounts`) and exits 0; a bad mount point or config is a
//! non-zero exit with a message that says what to do.

use crate::common::tree;
use crate::fuse::{bytes, crawl};
use mosaicfs_common::couch::CouchClient;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_mosaicfs-vfs");

fn agent_toml(watch: &Path, state: &Path, node_id: &str, db: &CouchClient) -> String {
    let s = mosaicfs_testsupport::server("a");
    format!(
        r#"control_plane_url = "https://localhost:8443"
access_key_id = "MOSAICFS_0123456789ABCDEF"
secret_key = "test-secret"
watch_paths = [{watch:?}]
state_dir = {state:?}
node_id = "{node_id}"

[couchdb]
url = "{url}"
database = "{db}"
username = "{user}"
password = "{pass}"

[replication]
url = "{url}"
database = "{db}_cp"
username = "{user}"
password = "{pass}"
"#,
        url = s.url,
        db = db.db_name(),
        user = s.username,
        pass = s.password,
    )
}

/// Whether `/proc/mounts` lists `mnt` as a mount point.
fn is_mounted(mnt: &Path) -> bool {
    let want = mnt.to_string_lossy().replace(' ', "\\040");
    std::fs::read_to_string("/proc/mounts")
        .unwrap()
        .lines()
        .any(|l| l.split(' ').nth(1) == Some(want.as_str()))
}

/// Kills the daemon and lazily unmounts if a test fails half-way, so that
/// no stale mount outlives the test.
struct Daemon {
    child: Child,
    mnt: PathBuf,
    log: PathBuf,
}

impl Daemon {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits up to `timeout` for the exit status.
    fn wait(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Some(st) = self.child.try_wait().unwrap() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if is_mounted(&self.mnt) {
            let _ = Command::new("fusermount3")
                .arg("-u")
                .arg("-z")
                .arg(&self.mnt)
                .status();
        }
    }
}

fn spawn(cfg: &Path, mnt: &Path, cache: &Path, log: &Path) -> Daemon {
    let child = Command::new(BIN)
        .args(["mount", "--config"])
        .arg(cfg)
        .arg("--mountpoint")
        .arg(mnt)
        .arg("--cache-dir")
        .arg(cache)
        .env("MOSAICFS_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    Daemon {
        child,
        mnt: mnt.to_path_buf(),
        log: log.to_path_buf(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mount_binary_serves_the_tree_and_unmounts_on_sigterm() {
    assert!(
        Path::new("/dev/fuse").exists(),
        "/dev/fuse is missing: this test needs real FUSE mounts (root with /dev/fuse)"
    );
    let tmp = tempfile::tempdir().unwrap();
    let watch = tmp.path().join("watch");
    for (i, (name, len)) in [
        ("empty", 0usize),
        ("a.txt", 11),
        ("sub/b.bin", 70_000),
        ("sub/deeper/c.bin", 2_500_001),
    ]
    .iter()
    .enumerate()
    {
        let p = watch.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, bytes(*len, 90 + i as u64)).unwrap();
    }
    let db = mosaicfs_testsupport::server("a").fresh_db("vfsbin").await;
    let node = format!("node-vfsbin-{}", std::process::id());
    db.put(&json!({
        "_id": mosaicfs_common::ids::ROOT_DIR_ID, "type": "virtual_directory", "inode": 1,
        "virtual_path": "/", "name": "", "system": true, "created_at": "2026-01-01T00:00:00Z",
        "enforce_steps_on_children": false, "mounts": [],
    }))
    .await
    .unwrap();
    db.put(&json!({
        "_id": mosaicfs_common::ids::dir_id("/all"), "type": "virtual_directory",
        "inode": mosaicfs_common::ids::new_inode(), "virtual_path": "/all", "name": "all",
        "parent_path": "/", "system": false, "created_at": "2026-01-01T00:00:00Z",
        "enforce_steps_on_children": false,
        "mounts": [{"mount_id": "m", "source": {"node_id": node,
            "export_path": watch.to_string_lossy()}, "strategy": "prefix_replace",
            "steps": [], "default_result": "include"}],
    }))
    .await
    .unwrap();
    crawl(&db, &node, &watch).await;
    let cfg = tmp.path().join("agent.toml");
    std::fs::write(
        &cfg,
        agent_toml(&watch, &tmp.path().join("state"), &node, &db),
    )
    .unwrap();
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();

    let (w, m) = (watch.clone(), mnt.clone());
    let log = tmp.path().join("daemon.log");
    let cache = tmp.path().join("cache");
    tokio::task::spawn_blocking(move || {
        let mut d = spawn(&cfg, &m, &cache, &log);
        let start = Instant::now();
        while !is_mounted(&m) {
            if let Some(st) = d.child.try_wait().unwrap() {
                panic!("the daemon exited with {st} before mounting:\n{}", d.log());
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "not mounted after 60 s:\n{}",
                d.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        // The index is complete before the mount appears, so the first
        // listing is the whole tree.
        let mut root: Vec<String> = std::fs::read_dir(&m)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        root.sort();
        assert_eq!(root, ["all"]);
        let (src, got) = (tree(&w), tree(&m.join("all")));
        let names = |t: &[(PathBuf, Vec<u8>)]| t.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>();
        assert_eq!(names(&got), names(&src), "listing through the mount");
        for ((p, a), (_, b)) in src.iter().zip(&got) {
            assert!(a == b, "{} differs through the mount", p.display());
        }

        let pid = d.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let st = d
            .wait(Duration::from_secs(30))
            .unwrap_or_else(|| panic!("still running 30 s after SIGTERM:\n{}", d.log()));
        assert_eq!(
            st.code(),
            Some(0),
            "exit status after SIGTERM:\n{}",
            d.log()
        );
        assert!(!is_mounted(&m), "a stale mount is left in /proc/mounts");
        assert_eq!(
            std::fs::read_dir(&m).unwrap().count(),
            0,
            "the mount point is an empty directory again"
        );
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_mountpoint_or_config_is_a_clear_error_and_a_non_zero_exit() {
    let tmp = tempfile::tempdir().unwrap();
    let db = mosaicfs_testsupport::server("a")
        .fresh_db("vfsbin_bad")
        .await;
    let cfg = tmp.path().join("agent.toml");
    std::fs::write(
        &cfg,
        agent_toml(
            &tmp.path().join("w"),
            &tmp.path().join("state"),
            "node-bad",
            &db,
        ),
    )
    .unwrap();
    let run = |cfg: &Path, mnt: &Path| {
        let out = Command::new(BIN)
            .args(["mount", "--config"])
            .arg(cfg)
            .arg("--mountpoint")
            .arg(mnt)
            .output()
            .unwrap();
        (
            out.status,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    // A mount point that does not exist, or is a file.
    let missing = tmp.path().join("no-such-dir");
    let (st, err) = run(&cfg, &missing);
    assert!(!st.success(), "{err}");
    assert!(
        err.contains(&missing.display().to_string()) && err.contains("mkdir -p"),
        "names the mount point and says to create it: {err}"
    );
    let file = tmp.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let (st, err) = run(&cfg, &file);
    assert!(!st.success() && err.contains("not a directory"), "{err}");

    // A config without a required field, and no config at all.
    let bad = tmp.path().join("bad.toml");
    std::fs::write(
        &bad,
        "control_plane_url = \"https://cp:8443\"\nwatch_paths = [\"/x\"]\n",
    )
    .unwrap();
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let (st, err) = run(&bad, &mnt);
    assert!(!st.success(), "{err}");
    assert!(
        err.contains(&bad.display().to_string()) && err.contains("access_key_id"),
        "names the file and the missing field: {err}"
    );
    let (st, err) = run(&tmp.path().join("none.toml"), &mnt);
    assert!(
        !st.success() && err.contains("cannot read the config file"),
        "{err}"
    );
    // A readahead out of range names the option and the range.
    let out = Command::new(BIN)
        .args(["mount", "--config"])
        .arg(&cfg)
        .arg("--mountpoint")
        .arg(&mnt)
        .args(["--readahead-kib", "0"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("--readahead-kib") && err.contains("4..=65536"),
        "{err}"
    );
    assert!(!is_mounted(&mnt));
}
