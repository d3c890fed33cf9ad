//! The `mosaicfs-agent` binary: exit codes, config errors, SIGTERM, and a
//! crawl by an unprivileged user that meets an unreadable directory.

use crate::common::*;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_mosaicfs-agent");

#[test]
fn a_bad_config_exits_2_with_one_line_naming_file_and_field() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("agent.toml");
    std::fs::write(
        &cfg,
        "control_plane_url = \"https://cp:8443\"\nwatch_paths = [\"/x\"]\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["--config"])
        .arg(&cfg)
        .arg("run")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].contains(&cfg.display().to_string()) && lines[0].contains("field `access_key_id`"),
        "{err}"
    );

    let out = Command::new(BIN)
        .args(["--config", "/nonexistent/agent.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read the config file"));
}

#[tokio::test]
async fn sigterm_marks_the_node_offline_and_exits_0() {
    let tmp = tempfile::tempdir().unwrap();
    make_tree(&tmp.path().join("w"), 10);
    let local = local_server().fresh_db("sigterm_local").await;
    let cp = cp_server().fresh_db("sigterm_cp").await;
    let node = test_node_id("sigterm");
    let cfg = tmp.path().join("agent.toml");
    std::fs::write(
        &cfg,
        agent_toml(
            &tmp.path().join("w"),
            &tmp.path().join("state"),
            &node,
            &local,
            &cp,
            30,
        ),
    )
    .unwrap();
    let mut child = tokio::process::Command::new(BIN)
        .arg("--config")
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let node_doc = format!("node::{node}");
    wait_until(
        "node online and files crawled",
        Duration::from_secs(30),
        || async {
            local
                .get_value(&node_doc)
                .await
                .unwrap()
                .is_some_and(|d| d["status"] == "online")
                && file_docs(&local).await.len() == 10
        },
    )
    .await;
    let pid = child.id().unwrap();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(
        local.get_value(&node_doc).await.unwrap().unwrap()["status"],
        "offline"
    );
}

/// Runs `mosaicfs-agent crawl` as the unprivileged user `nobody`, so that
/// directory permissions apply (the tests run as root).
fn crawl_as_nobody(cfg: &Path) -> std::process::Output {
    Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            BIN,
            "--config",
        ])
        .arg(cfg)
        .arg("crawl")
        .output()
        .expect("setpriv (util-linux) runs the agent as nobody")
}

#[tokio::test]
async fn an_unreadable_directory_is_counted_and_its_files_are_kept() {
    let base = tempfile::Builder::new()
        .prefix("mosaicfs-perm")
        .tempdir_in("/tmp")
        .unwrap();
    let root = base.path();
    let watch = root.join("w");
    make_tree(&watch, 14);
    let locked = watch.join("d0");
    chmod_r(root, 0o755, 0o644);
    let local = local_server().fresh_db("perm_local").await;
    let cp = cp_server().fresh_db("perm_cp").await;
    let node = test_node_id("perm");
    let cfg = root.join("agent.toml");
    std::fs::write(
        &cfg,
        agent_toml(&watch, &root.join("state"), &node, &local, &cp, 30),
    )
    .unwrap();
    std::fs::set_permissions(&cfg, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();

    let out = crawl_as_nobody(&cfg);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("seen=14 new=14") && stdout.contains("errors=0"),
        "{stdout}"
    );

    std::fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    let out = crawl_as_nobody(&cfg);
    std::fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("errors=1") && stdout.contains("deleted=0"),
        "{stdout}"
    );
    assert!(
        stderr.contains("cannot read") && stderr.contains("d0"),
        "{stderr}"
    );
    let active = file_docs(&local)
        .await
        .iter()
        .filter(|d| d["status"] == "active")
        .count();
    assert_eq!(
        active, 14,
        "files under the unreadable directory keep their documents"
    );
}

fn chmod_r(root: &Path, dir_mode: u32, file_mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    for e in walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(Result::ok)
    {
        let mode = if e.file_type().is_dir() {
            dir_mode
        } else {
            file_mode
        };
        std::fs::set_permissions(e.path(), std::fs::Permissions::from_mode(mode)).unwrap();
    }
}
