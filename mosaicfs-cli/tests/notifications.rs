//! `notifications list | ack | ack-all` against a real server.

use crate::common::*;
use mosaicfs_common::documents::NotificationSeverity;
use mosaicfs_common::notify::{Notice, Notifier};
use std::time::Duration;

#[tokio::test]
async fn list_acknowledge_and_acknowledge_all() {
    let env = Env::start().await;
    env.login().await.expect(0);
    env.run(&["notifications", "list"]).await.expect(0);
    let n = Notifier::new(env.db.clone(), NODE, Duration::ZERO);
    n.raise(Notice::new(
        "storage_near_capacity:fs1",
        "storage",
        NotificationSeverity::Warning,
        "Storage nearly full",
        "/srv is 97 % full",
    ))
    .await
    .unwrap();
    n.raise(Notice::new(
        "watch_path_inaccessible:/srv",
        "crawler",
        NotificationSeverity::Error,
        "Watch path inaccessible",
        "/srv cannot be read",
    ))
    .await
    .unwrap();
    let out = env.run(&["notifications", "list"]).await.expect(0);
    println!("{}", out.stdout);
    assert!(out.stdout.starts_with("SEVERITY"), "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines[1].starts_with("error") && lines[2].starts_with("warning"),
        "{out:?}"
    );
    let id = format!("notification::{NODE}::storage_near_capacity:fs1");
    let v = env
        .run(&["--json", "notifications", "ack", &id])
        .await
        .expect(0)
        .json();
    assert_eq!(v["status"], "acknowledged");
    let v = env
        .run(&["--json", "notifications", "list"])
        .await
        .expect(0)
        .json();
    assert_eq!(v.as_array().unwrap().len(), 1);
    env.run(&["notifications", "ack", "nope::x"])
        .await
        .expect_error(4, "notification::nope::x");
    let out = env.run(&["notifications", "ack-all"]).await.expect(0);
    assert!(
        out.stdout.contains("acknowledged 1 notification"),
        "{out:?}"
    );
    let v = env
        .run(&["--json", "notifications", "list", "--history"])
        .await
        .expect(0)
        .json();
    assert_eq!(v.as_array().unwrap().len(), 2);
    env.run(&["notifications", "list", "--status", "bogus"])
        .await
        .expect_error(6, "status");
}
