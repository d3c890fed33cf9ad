//! `mosaicfs-agent init` against a real control plane: the
//! `mosaicfs-server` binary (built by `cargo build -p mosaicfs-server`, which
//! scripts/test.sh runs before the tests) on its own database and port.

use crate::common::*;
use mosaicfs_agent::config::Config;
use mosaicfs_common::couch::CouchClient;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const AGENT: &str = env!("CARGO_BIN_EXE_mosaicfs-agent");
const KEY: &str = "MOSAICFS_00000000000000AB";
const SECRET: &str = "init-test-secret-0123";

/// A `mosaicfs-server` process with its own database and data directory.
struct ControlPlane {
    url: String,
    fingerprint: String,
    db: CouchClient,
    child: std::process::Child,
    _data: tempfile::TempDir,
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn server_binary() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let bin = target.join("debug/mosaicfs-server");
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo build -p mosaicfs-server` (scripts/test.sh does this before the tests)",
        bin.display()
    );
    bin
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl ControlPlane {
    async fn start(name: &str) -> ControlPlane {
        let couch = cp_server();
        let db = couch.fresh_db(name).await;
        let data = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = Command::new(server_binary())
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(data.path())
            .args(["--couchdb-url", &couch.url])
            .args(["--couchdb-database", db.db_name()])
            .args(["--couchdb-user", &couch.username])
            .args(["--couchdb-password", &couch.password])
            .args(["--bootstrap-credential", &format!("{KEY}:{SECRET}")])
            .env("MOSAICFS_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosaicfs-server");
        let url = format!("https://127.0.0.1:{port}");
        let mut cp = ControlPlane {
            url,
            fingerprint: String::new(),
            db,
            child,
            _data: data,
        };
        let start = Instant::now();
        loop {
            if let Ok((fp, health)) = mosaicfs_agent::init::probe(&cp.url, None).await {
                assert_eq!(health["tls_fingerprint"], fp.as_str());
                cp.fingerprint = fp;
                return cp;
            }
            if let Ok(Some(status)) = cp.child.try_wait() {
                panic!("mosaicfs-server exited early with {status}");
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "mosaicfs-server did not answer /health within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The flags of an unattended init into `dir`.
fn init_args(cp: &ControlPlane, dir: &Path, secret: &str) -> Vec<String> {
    let local = local_server();
    let remote = cp_server();
    let watch = dir.join("watch");
    std::fs::create_dir_all(&watch).unwrap();
    let s = |p: PathBuf| p.display().to_string();
    vec![
        "--config".into(),
        s(dir.join("etc/agent.toml")),
        "init".into(),
        "--control-plane-url".into(),
        cp.url.clone(),
        "--access-key-id".into(),
        KEY.into(),
        "--secret-key".into(),
        secret.into(),
        "--watch-path".into(),
        s(watch),
        "--couchdb-url".into(),
        local.url.clone(),
        "--couchdb-user".into(),
        local.username.clone(),
        "--couchdb-password".into(),
        local.password.clone(),
        "--replication-url".into(),
        remote.url.clone(),
        "--replication-database".into(),
        cp.db.db_name().into(),
        "--replication-user".into(),
        remote.username.clone(),
        "--replication-password".into(),
        remote.password.clone(),
        "--state-dir".into(),
        s(dir.join("state")),
        "--friendly-name".into(),
        "init test node".into(),
        "--tls-fingerprint".into(),
        cp.fingerprint.clone(),
        "--service-dir".into(),
        s(dir.join("services")),
    ]
}

fn run_init(args: &[String]) -> Output {
    Command::new(AGENT)
        .args(args)
        .env_remove("MOSAICFS_SECRET_KEY")
        .env_remove("MOSAICFS_AGENT_CONFIG")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Asserts a failed run with one line on stderr containing `needle`.
fn check_one_line_failure(out: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "init succeeded: {err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stderr: {err:?}");
    assert!(lines[0].contains(needle), "expected {needle:?} in {err:?}");
}

/// Asserts that init wrote nothing under `dir` (only `watch` exists).
fn check_nothing_written(dir: &Path) {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["watch"], "nothing but the watch directory");
}

#[tokio::test]
async fn unattended_init_registers_the_node_and_writes_a_config_that_parses() {
    let cp = ControlPlane::start("init_ok").await;
    let tmp = tempfile::tempdir().unwrap();
    let args = init_args(&cp, tmp.path(), SECRET);
    let out = run_init(&args);
    assert!(
        out.status.success(),
        "init failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let cfg_path = tmp.path().join("etc/agent.toml");
    let cfg = Config::load(&cfg_path).unwrap();
    assert_eq!(cfg.control_plane_url, cp.url);
    assert_eq!(cfg.secret_key, SECRET);
    assert_eq!(cfg.friendly_name, "init test node");
    assert_eq!(cfg.replication.database, cp.db.db_name());
    // A new node serves its files to peers without editing agent.toml.
    let transfer = cfg
        .transfer
        .as_ref()
        .expect("init writes a [transfer] table");
    assert_eq!(
        transfer.listen.port(),
        mosaicfs_agent::config::DEFAULT_TRANSFER_PORT
    );
    let text = std::fs::read_to_string(&cfg_path).unwrap();
    assert!(
        text.contains(&format!(
            "control_plane_fingerprint = \"{}\"",
            cp.fingerprint
        )),
        "{text}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&cfg_path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    let node_id = std::fs::read_to_string(tmp.path().join("state/node_id"))
        .unwrap()
        .trim()
        .to_string();
    assert!(
        mosaicfs_common::ids::is_valid_node_id(&node_id),
        "{node_id}"
    );
    let node = cp
        .db
        .get_value(&mosaicfs_common::ids::node_doc_id(&node_id))
        .await
        .unwrap()
        .expect("the node document is in the control plane's database");
    assert_eq!(node["node_id"], node_id.as_str());
    assert_eq!(node["friendly_name"], "init test node");

    let unit = if cfg!(target_os = "macos") {
        "org.mosaicfs.agent.plist"
    } else {
        "mosaicfs-agent.service"
    };
    let unit = std::fs::read_to_string(tmp.path().join("services").join(unit)).unwrap();
    assert!(unit.contains(&cfg_path.display().to_string()), "{unit}");

    // Again, with --yes over the existing config: the same node id.
    let mut again = args.clone();
    again.push("--yes".into());
    let out = run_init(&again);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let second = std::fs::read_to_string(tmp.path().join("state/node_id")).unwrap();
    assert_eq!(second.trim(), node_id, "the node id is reused");
    // Without --yes and without a terminal, an existing config is kept.
    let out = run_init(&args);
    check_one_line_failure(&out, "pass --yes to overwrite");
}

#[tokio::test]
async fn mountpoint_installs_a_mount_service_and_uninstall_removes_both() {
    let cp = ControlPlane::start("init_mount").await;
    let tmp = tempfile::tempdir().unwrap();
    let mut args = init_args(&cp, tmp.path(), SECRET);
    let mnt = tmp.path().join("mnt/mosaicfs");
    args.push("--mountpoint".into());
    args.push(mnt.display().to_string());
    let out = run_init(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let services = tmp.path().join("services");
    let [agent, vfs] = mosaicfs_agent::init::service_files(Some(&services));
    assert!(agent.exists(), "the agent's service file");
    let unit = std::fs::read_to_string(&vfs).unwrap();
    let cfg = tmp.path().join("etc/agent.toml");
    assert!(
        unit.contains(&format!(
            "mount --config {} --mountpoint {}",
            cfg.display(),
            mnt.display()
        )),
        "{unit}"
    );
    if !cfg!(target_os = "macos") {
        assert!(
            unit.contains("After=network-online.target mosaicfs-agent.service"),
            "{unit}"
        );
        assert!(
            unit.contains(&format!("ExecStartPre=/bin/mkdir -p {}", mnt.display())),
            "{unit}"
        );
    }
    // The binary it names is the mosaicfs-vfs built beside this agent.
    let vfs_bin = std::path::Path::new(AGENT).with_file_name("mosaicfs-vfs");
    assert!(unit.contains(&vfs_bin.display().to_string()), "{unit}");

    let services_arg = services.display().to_string();
    let out = Command::new(AGENT)
        .args(["uninstall", "--service-dir", &services_arg])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !agent.exists() && !vfs.exists(),
        "both service files removed"
    );
    assert!(cfg.exists(), "agent.toml stays");
    // Again: nothing to remove is not an error, and says so.
    let out = Command::new(AGENT)
        .args(["uninstall", "--service-dir", &services_arg])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing to remove"));
}

#[tokio::test]
async fn a_wrong_url_or_secret_gives_one_line_and_writes_nothing() {
    let cp = ControlPlane::start("init_bad").await;

    let tmp = tempfile::tempdir().unwrap();
    let mut args = init_args(&cp, tmp.path(), SECRET);
    let closed = format!("https://127.0.0.1:{}", free_port());
    let i = args.iter().position(|a| a == &cp.url).unwrap();
    args[i] = closed.clone();
    let out = run_init(&args);
    check_one_line_failure(&out, &format!("cannot reach the control plane at {closed}"));
    check_nothing_written(tmp.path());

    let tmp = tempfile::tempdir().unwrap();
    let out = run_init(&init_args(&cp, tmp.path(), "not-the-secret-at-all"));
    check_one_line_failure(&out, "the control plane rejected the access key or secret");
    check_nothing_written(tmp.path());

    let tmp = tempfile::tempdir().unwrap();
    let mut args = init_args(&cp, tmp.path(), SECRET);
    let i = args.iter().position(|a| a == "--replication-url").unwrap();
    args.drain(i..i + 2);
    let out = run_init(&args);
    check_one_line_failure(&out, "missing --replication-url");
    assert_eq!(out.status.code(), Some(2));
    check_nothing_written(tmp.path());
}

#[tokio::test]
async fn a_fingerprint_mismatch_is_refused() {
    let cp = ControlPlane::start("init_fp").await;
    let tmp = tempfile::tempdir().unwrap();
    let mut args = init_args(&cp, tmp.path(), SECRET);
    let i = args.iter().position(|a| a == &cp.fingerprint).unwrap();
    args[i] = mosaicfs_agent::init::fingerprint(b"another certificate");
    let out = run_init(&args);
    check_one_line_failure(&out, "does not match --tls-fingerprint");
    check_nothing_written(tmp.path());

    // Without a terminal, the fingerprint must be given.
    args.drain(i - 1..=i);
    let out = run_init(&args);
    check_one_line_failure(&out, &format!("pass --tls-fingerprint {}", cp.fingerprint));
    check_nothing_written(tmp.path());
}
