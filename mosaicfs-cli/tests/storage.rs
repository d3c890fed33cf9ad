//! `storage overview|history` and `system reindex`, human and `--json`.

use crate::common::*;
use serde_json::json;

#[tokio::test]
async fn storage_and_reindex_in_both_modes() {
    let env = Env::start().await;
    env.login().await.expect(0);
    let at = format!("{}T00:00:00Z", chrono::Utc::now().format("%Y-%m-%d"));
    let mut node = env
        .db
        .get_value(&format!("node::{NODE}"))
        .await
        .unwrap()
        .unwrap();
    node["storage"] = json!([{"filesystem_id": "uuid-1", "mount_point": "/srv", "fs_type": "ext4",
        "device": "/dev/sda1", "capacity_bytes": 1000u64 << 30, "used_bytes": 420u64 << 30,
        "watch_paths_on_fs": ["/srv"]}]);
    env.db.put(&node).await.unwrap();
    env.db
        .put(
            &json!({"_id": format!("utilization::{NODE}::{at}"), "type": "utilization_snapshot",
            "node_id": NODE, "captured_at": at,
            "filesystems": [{"filesystem_id": "uuid-1", "mount_point": "/srv",
                "used_bytes": 420u64 << 30, "available_bytes": 580u64 << 30}]}),
        )
        .await
        .unwrap();

    let out = env.run(&["storage", "overview"]).await.expect(0);
    println!("{}", out.stdout);
    assert!(out.stdout.starts_with("NODE"), "{out:?}");
    assert!(
        out.stdout.contains("/srv") && out.stdout.contains("[####------]  42%"),
        "{out:?}"
    );
    assert!(out.stdout.contains("420.0 GiB of 1000.0 GiB"), "{out:?}");
    let v = env
        .run(&["--json", "storage", "overview"])
        .await
        .expect(0)
        .json();
    assert!(
        v["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["node_id"] == NODE)
    );

    let out = env
        .run(&["storage", "history", NODE, "--days", "7"])
        .await
        .expect(0);
    println!("{}", out.stdout);
    assert!(
        out.stdout.contains(&at) && out.stdout.contains("42%"),
        "{out:?}"
    );
    let v = env
        .run(&["--json", "storage", "history", NODE, "--days", "7"])
        .await
        .expect(0)
        .json();
    assert_eq!(v["snapshots"].as_array().unwrap().len(), 1);
    env.run(&["storage", "history", "nobody"])
        .await
        .expect_error(4, "nobody");

    let out = env.run(&["system", "reindex"]).await.expect(0);
    println!("{}", out.stdout);
    assert!(
        out.stdout.contains("reindex requested") && out.stdout.contains(NODE),
        "{out:?}"
    );
    let v = env
        .run(&["--json", "system", "reindex"])
        .await
        .expect(0)
        .json();
    assert!(
        v["nodes_notified"]
            .as_array()
            .unwrap()
            .contains(&json!(NODE))
    );
}
