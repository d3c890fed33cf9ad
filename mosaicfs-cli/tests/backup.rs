//! `system backup` and `system restore`: a minimal and a full backup
//! written atomically with mode 0600, restored into a second, empty server;
//! a non-empty server refuses with exit code 6.

use crate::common::*;
use serde_json::json;
use std::os::unix::fs::PermissionsExt;

#[tokio::test]
async fn backup_to_a_file_and_restore_it_into_an_empty_server() {
    let a = Env::start().await;
    a.login().await.expect(0);
    a.run(&["vfs", "mkdir", "/projects"]).await.expect(0);
    let full = a.work().join("full.json");
    let out = a
        .run(&[
            "system",
            "backup",
            "--type",
            "full",
            "--output",
            full.to_str().unwrap(),
        ])
        .await
        .expect(0);
    assert!(out.stdout.contains("full backup: "), "{out:?}");
    let mode = std::fs::metadata(&full).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(!a.work().join("full.json.part").exists());
    // An existing file is kept unless --force.
    a.run(&["system", "backup", "--output", full.to_str().unwrap()])
        .await
        .expect_error(2, "--force");
    let minimal = a.work().join("minimal.json");
    let v = a
        .run(&[
            "--json",
            "system",
            "backup",
            "--output",
            minimal.to_str().unwrap(),
        ])
        .await
        .expect(0)
        .json();
    assert_eq!(v["type"], "minimal");
    assert!(v["documents"].as_u64().unwrap() >= 3, "{v}");

    let b = Env::start().await;
    b.login().await.expect(0);
    // A directory of its own: not empty (its node document, which agents
    // replicate by themselves, would not count).
    b.run(&["vfs", "mkdir", "/other"]).await.expect(0);
    b.run(&["system", "restore", full.to_str().unwrap()])
        .await
        .expect_error(6, "the database is not empty");
    b.run(&["vfs", "rmdir", "/other"]).await.expect(0);
    let v = b
        .run(&["--json", "system", "restore", full.to_str().unwrap()])
        .await
        .expect(0)
        .json();
    assert_eq!(v["errors"], json!([]));
    assert!(v["restored_count"].as_u64().unwrap() >= 4, "{v}");
    let out = b.run(&["vfs", "ls", "/"]).await.expect(0);
    assert!(out.stdout.contains("projects"), "{out:?}");
}
