//! The watcher (plan 4.10) on a running agent: new, modified, deleted and
//! renamed files reach the local CouchDB within about a second; a rename is
//! one update of the same document; an event storm ends in one full crawl.

use crate::common::*;
use mosaicfs_agent::config::Config;
use mosaicfs_common::couch::CouchClient;
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Starts an agent on `watch` and waits until its watcher runs.
async fn start_agent(
    name: &str,
    watch: &Path,
    state: &Path,
) -> (
    CouchClient,
    String,
    CancellationToken,
    tokio::task::JoinHandle<()>,
) {
    let local = local_server().fresh_db(&format!("watch_{name}")).await;
    let cp = cp_server().fresh_db(&format!("watch_{name}_cp")).await;
    let node = test_node_id(name);
    let toml = agent_toml(watch, state, &node, &local, &cp, 30);
    let config = Config::parse(Path::new("agent.toml"), &toml).unwrap();
    let shutdown = CancellationToken::new();
    let agent = tokio::spawn({
        let s = shutdown.clone();
        async move { mosaicfs_agent::run(config, s).await.unwrap() }
    });
    wait_until("the watcher running", Duration::from_secs(60), || async {
        status(&local, &node).await["subsystems"]["watcher"]["status"] == "ok"
    })
    .await;
    (local, node, shutdown, agent)
}

pub async fn status(db: &CouchClient, node: &str) -> Value {
    db.get_value(&format!("status::{node}"))
        .await
        .unwrap()
        .unwrap_or(Value::Null)
}

async fn find(db: &CouchClient, path: &Path) -> Option<Value> {
    let p = path.to_string_lossy();
    file_docs(db)
        .await
        .into_iter()
        .find(|d| d["source"]["export_path"] == *p)
}

/// Waits for `check` on the document of `path`; returns the time it took.
async fn wait_doc(
    db: &CouchClient,
    path: &Path,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Duration {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if let Some(d) = find(db, path).await
            && check(&d)
        {
            return start.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what} of {}", path.display());
}

fn rev_number(d: &Value) -> u64 {
    d["_rev"]
        .as_str()
        .unwrap()
        .split('-')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn watched_changes_reach_couchdb_within_a_second_or_two_and_renames_keep_the_document() {
    let tmp = tempfile::tempdir().unwrap();
    let watch = tmp.path().join("watch");
    make_tree(&watch, 30);
    let (local, _node, shutdown, agent) =
        start_agent("basic", &watch, &tmp.path().join("state")).await;

    // A new file.
    let f = watch.join("fresh.txt");
    std::fs::write(&f, b"hello").unwrap();
    let t = wait_doc(&local, &f, "creation", |d| {
        d["status"] == "active" && d["size"] == 5
    })
    .await;
    println!(
        "watcher latency, new file -> local CouchDB: {} ms",
        t.as_millis()
    );
    assert!(t < Duration::from_secs(3), "latency {t:?}");

    // A modification.
    std::fs::write(&f, b"hello, world").unwrap();
    let t = wait_doc(&local, &f, "modification", |d| d["size"] == 12).await;
    println!("watcher latency, modification: {} ms", t.as_millis());
    let before = find(&local, &f).await.unwrap();

    // A rename: same _id and inode, new path, exactly one more revision.
    let g = watch.join("d1").join("renamed.txt");
    std::fs::rename(&f, &g).unwrap();
    let t = wait_doc(&local, &g, "rename", |d| d["status"] == "active").await;
    println!("watcher latency, rename: {} ms", t.as_millis());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = find(&local, &g).await.unwrap();
    assert_eq!(after["_id"], before["_id"]);
    assert_eq!(after["inode"], before["inode"]);
    assert_eq!(after["name"], "renamed.txt");
    assert_eq!(
        after["source"]["export_parent"],
        watch.join("d1").to_string_lossy().as_ref()
    );
    assert_eq!(
        rev_number(&after),
        rev_number(&before) + 1,
        "one update for the rename"
    );
    assert!(
        find(&local, &f).await.is_none(),
        "no document left at the old path"
    );

    // A directory rename moves every file under it, keeping their ids.
    let old_dir = watch.join("d2");
    let before: Vec<Value> = file_docs(&local)
        .await
        .into_iter()
        .filter(|d| {
            d["source"]["export_path"]
                .as_str()
                .unwrap()
                .starts_with(old_dir.to_str().unwrap())
        })
        .collect();
    assert!(!before.is_empty());
    let new_dir = watch.join("moved d2");
    std::fs::rename(&old_dir, &new_dir).unwrap();
    let started = Instant::now();
    wait_until(
        "every file of the directory moved",
        Duration::from_secs(10),
        || async {
            let docs = file_docs(&local).await;
            before.iter().all(|b| {
                docs.iter().any(|d| {
                    d["_id"] == b["_id"]
                        && d["source"]["export_path"]
                            .as_str()
                            .unwrap()
                            .starts_with(&format!("{}/", new_dir.display()))
                        && d["status"] == "active"
                        && rev_number(d) == rev_number(b) + 1
                })
            })
        },
    )
    .await;
    println!(
        "directory rename of {} files: {} ms",
        before.len(),
        started.elapsed().as_millis()
    );

    // A file created inside a new directory.
    let nested = watch.join("new dir").join("deeper");
    std::fs::create_dir_all(&nested).unwrap();
    let h = nested.join("inside.bin");
    std::fs::write(&h, vec![1u8; 100]).unwrap();
    wait_doc(&local, &h, "a file in a new directory", |d| {
        d["size"] == 100
    })
    .await;

    // A deletion soft-deletes.
    std::fs::remove_file(&g).unwrap();
    let t = wait_doc(&local, &g, "deletion", |d| d["status"] == "deleted").await;
    println!("watcher latency, deletion: {} ms", t.as_millis());

    shutdown.cancel();
    agent.await.unwrap();
}

#[tokio::test]
async fn an_event_storm_ends_in_one_full_crawl_with_correct_results() {
    const STORM_FILES: u32 = 4_000;
    let tmp = tempfile::tempdir().unwrap();
    let watch = tmp.path().join("watch");
    std::fs::create_dir_all(&watch).unwrap();
    let (local, node, shutdown, agent) =
        start_agent("storm", &watch, &tmp.path().join("state")).await;

    // 4,000 files over about 6 s: each file is several inotify events, so
    // well over 1,000 events/s for 5 s, yet small enough for a loaded CI
    // machine to count the documents afterwards.
    let started = Instant::now();
    let w = watch.clone();
    tokio::task::spawn_blocking(move || {
        for i in 0..STORM_FILES {
            let dir = w.join(format!("s{}", i % 20));
            if i < 20 {
                std::fs::create_dir_all(&dir).unwrap();
            }
            std::fs::write(dir.join(format!("f{i}")), i.to_le_bytes()).unwrap();
            if i % 100 == 99 {
                let target = Duration::from_micros(1_500 * u64::from(i + 1));
                if let Some(d) = target.checked_sub(started.elapsed()) {
                    std::thread::sleep(d);
                }
            }
        }
    })
    .await
    .unwrap();
    println!(
        "created {STORM_FILES} files in {} ms",
        started.elapsed().as_millis()
    );

    wait_until(
        "the storm's full crawl",
        Duration::from_secs(120),
        || async { status(&local, &node).await["subsystems"]["crawler"]["storm_crawls"] == 1 },
    )
    .await;
    wait_until(
        "every file active in CouchDB",
        Duration::from_secs(120),
        || async {
            let docs = file_docs(&local).await;
            let active = docs.iter().filter(|d| d["status"] == "active").count();
            if active != STORM_FILES as usize {
                eprintln!(
                    "{active} of {STORM_FILES} active ({} documents)",
                    docs.len()
                );
            }
            active == STORM_FILES as usize
        },
    )
    .await;
    let st = status(&local, &node).await;
    println!("crawler after the storm: {}", st["subsystems"]["crawler"]);
    println!("watcher after the storm: {}", st["subsystems"]["watcher"]);
    assert_eq!(
        st["subsystems"]["crawler"]["storm_crawls"], 1,
        "one full crawl"
    );
    assert_eq!(st["subsystems"]["watcher"]["storms"], 1);
    let docs = file_docs(&local).await;
    assert_eq!(docs.len(), STORM_FILES as usize, "no duplicate documents");

    // Watch mode resumes after the storm.
    let f = watch.join("after.txt");
    std::fs::write(&f, b"x").unwrap();
    wait_doc(&local, &f, "creation after the storm", |d| {
        d["status"] == "active"
    })
    .await;

    shutdown.cancel();
    agent.await.unwrap();
}
