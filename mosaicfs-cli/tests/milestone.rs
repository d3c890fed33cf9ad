//! Plan Phase 7's milestone without the web UI: a real agent (the
//! `target/debug/mosaicfs-agent` binary, as `nobody`) watches a directory on
//! a 1 MiB tmpfs and replicates to the control plane; the volume is filled,
//! the warning appears in `mosaicfs-cli notifications list` within seconds,
//! is acknowledged, and clears.

use crate::common::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Cleanup(std::path::PathBuf, Option<std::process::Child>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(c) = &mut self.1 {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[tokio::test]
async fn a_filled_volume_is_a_warning_in_notifications_list_then_acknowledged() {
    let agent_bin = mosaicfs_testsupport::repo_root().join("target/debug/mosaicfs-agent");
    assert!(
        agent_bin.exists(),
        "{} is missing: cargo build -p mosaicfs-agent first",
        agent_bin.display()
    );
    let env = Env::start().await;
    env.login().await.expect(0);
    let base = tempfile::Builder::new()
        .prefix("mosaicfs-milestone")
        .tempdir_in("/tmp")
        .unwrap();
    let root = base.path();
    std::fs::set_permissions(root, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let vol = root.join("vol");
    std::fs::create_dir_all(&vol).unwrap();
    assert!(
        Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m,mode=0755", "tmpfs"])
            .arg(&vol)
            .status()
            .unwrap()
            .success()
    );
    let mut cleanup = Cleanup(vol.clone(), None);
    let watch = vol.join("photos");
    std::fs::create_dir_all(&watch).unwrap();
    std::fs::write(watch.join("a.jpg"), b"jpeg").unwrap();
    let state = root.join("state");
    std::fs::create_dir_all(&state).unwrap();
    std::os::unix::fs::chown(&state, Some(65534), Some(65534)).unwrap();
    let cp = mosaicfs_testsupport::server("a");
    let local_couch = mosaicfs_testsupport::server("b");
    let local = local_couch.fresh_db("milestone_local").await;
    let node = format!("milestone-{}", std::process::id());
    let cfg = root.join("agent.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"control_plane_url = "{url}"
access_key_id = "MOSAICFS_0123456789ABCDEF"
secret_key = "test-secret"
watch_paths = [{watch:?}]
state_dir = {state:?}
node_id = "{node}"
notification_check_secs = 1

[couchdb]
url = "{lurl}"
database = "{ldb}"
username = "{luser}"
password = "{lpass}"

[replication]
url = "{curl}"
database = "{cdb}"
username = "{cuser}"
password = "{cpass}"
"#,
            url = env.url,
            lurl = local_couch.url,
            ldb = local.db_name(),
            luser = local_couch.username,
            lpass = local_couch.password,
            curl = cp.url,
            cdb = env.db.db_name(),
            cuser = cp.username,
            cpass = cp.password,
        ),
    )
    .unwrap();
    std::fs::set_permissions(&cfg, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let log = root.join("agent.log");
    cleanup.1 = Some(
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&agent_bin)
            .arg("--config")
            .arg(&cfg)
            .arg("run")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let agent_log = || std::fs::read_to_string(&log).unwrap_or_default();
    // The agent is up and replicating when its first-crawl info arrives.
    let start = Instant::now();
    loop {
        let out = env
            .run(&["notifications", "list", "--severity", "info"])
            .await
            .expect(0);
        if out.stdout.contains("First crawl complete") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "agent never replicated:\n{}",
            agent_log()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Fill the volume.
    std::fs::write(watch.join("big.raw"), vec![1u8; 970 * 1024]).unwrap();
    let filled = Instant::now();
    let row = loop {
        let out = env
            .run(&["notifications", "list", "--severity", "warning"])
            .await
            .expect(0);
        if let Some(line) = out.stdout.lines().find(|l| l.contains("% full")) {
            println!("{}", out.stdout);
            break line.to_string();
        }
        assert!(
            filled.elapsed() < Duration::from_secs(60),
            "no warning:\n{}",
            agent_log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let seconds = filled.elapsed().as_secs_f64();
    println!(
        "the warning reached `mosaicfs-cli notifications list` {seconds:.1} s after the volume was filled"
    );
    assert!(
        row.starts_with("warning") && row.contains("active") && row.contains(&node),
        "{row}"
    );
    let id = row.split_whitespace().last().unwrap().to_string();
    assert!(
        id.starts_with(&format!("notification::{node}::storage_near_capacity:")),
        "{id}"
    );

    // Acknowledge it: it leaves the active list.
    env.run(&["notifications", "ack", &id]).await.expect(0);
    let out = env.run(&["notifications", "list"]).await.expect(0);
    assert!(!out.stdout.contains(&id), "{out:?}");
    let out = env
        .run(&["notifications", "list", "--status", "acknowledged"])
        .await
        .expect(0);
    assert!(out.stdout.contains(&id), "{out:?}");
}
