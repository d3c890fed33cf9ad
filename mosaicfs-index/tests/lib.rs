//! Integration tests of the index follower against a real CouchDB-protocol
//! server (pouchdb-server through mosaicfs-testsupport). One test binary.

use mosaicfs_common::couch::CouchClient;
use mosaicfs_index::{IndexFollower, NameMatch, Query};
use serde_json::{Value, json};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn file(i: usize, node: &str) -> Value {
    json!({
        "_id": format!("file::{i:032x}"), "type": "file", "inode": 1000 + i as u64,
        "name": format!("doc-{i}.txt"),
        "source": {"node_id": node, "export_path": format!("/data/doc-{i}.txt"), "export_parent": "/data"},
        "size": i, "mtime": "2025-01-01T00:00:00Z", "status": "active"
    })
}

async fn update_seq(db: &CouchClient) -> Value {
    db.db_info().await.unwrap()["update_seq"].clone()
}

async fn all(index: &mosaicfs_index::Index) -> Vec<String> {
    index
        .query(Query {
            limit: 10_000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect()
}

#[tokio::test]
async fn follows_changes_skips_malformed_documents_and_resumes_after_restart() {
    let db = mosaicfs_testsupport::server("a").fresh_db("index").await;
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("index.db");
    // More than one page before the follower starts.
    let docs: Vec<Value> = (0..1500).map(|i| file(i, "n1")).collect();
    for chunk in docs.chunks(500) {
        assert!(db.bulk_docs(chunk).await.unwrap().iter().all(|r| r.is_ok()));
    }
    db.put(&json!({"_id": "file::bad", "type": "file", "size": "huge"}))
        .await
        .unwrap();
    db.put(&json!({"_id": "node::n1", "type": "node"}))
        .await
        .unwrap();

    let cancel = CancellationToken::new();
    let f = IndexFollower::start(db.clone(), &path, cancel.clone())
        .await
        .unwrap();
    let index = f.index();
    index
        .wait_for_seq(&update_seq(&db).await, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(index.count().await.unwrap(), 1500);
    assert_eq!(index.malformed(), 1);
    let hits = index
        .query(Query {
            name: Some(NameMatch::Glob("DOC-14?.TXT".into())),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(hits.len(), 10);
    let f7 = index
        .by_path("n1", b"/data/doc-7.txt")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(f7.size, 7);

    // Live changes: an update, a deletion.
    let mut d7 = db.get_value(&f7.id).await.unwrap().unwrap();
    d7["status"] = json!("deleted");
    db.put(&d7).await.unwrap();
    let d8 = db
        .get_value(&format!("file::{:032x}", 8))
        .await
        .unwrap()
        .unwrap();
    db.delete(d8["_id"].as_str().unwrap(), d8["_rev"].as_str().unwrap())
        .await
        .unwrap();
    index
        .wait_for_seq(&update_seq(&db).await, Duration::from_secs(60))
        .await
        .unwrap();
    let names = all(&index).await;
    assert_eq!(names.len(), 1498);
    assert!(!names.contains(&"doc-7.txt".to_string()));
    assert_eq!(index.get(&f7.id).await.unwrap().unwrap().status, "deleted");

    // Stop, write while stopped, restart: it resumes from the stored seq.
    cancel.cancel();
    f.join().await;
    db.put(&file(5000, "n2")).await.unwrap();
    let cancel = CancellationToken::new();
    let f = IndexFollower::start(db.clone(), &path, cancel.clone())
        .await
        .unwrap();
    let index = f.index();
    assert!(
        index.reached() > 0,
        "the stored sequence is the starting point"
    );
    assert_eq!(index.count().await.unwrap(), 1499, "rows survive a restart");
    index
        .wait_for_seq(&update_seq(&db).await, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(index.count().await.unwrap(), 1500);
    assert_eq!(index.malformed(), 0, "old pages are not re-read");
    cancel.cancel();
    f.join().await;
}

async fn names_of(index: &mosaicfs_index::Index, m: NameMatch) -> Vec<String> {
    let mut names: Vec<String> = index
        .query(Query {
            name: Some(m),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn the_name_table_follows_renames_soft_deletes_and_deletions_from_changes() {
    let db = mosaicfs_testsupport::server("a")
        .fresh_db("index_names")
        .await;
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("index.db");
    let docs: Vec<Value> = (0..300).map(|i| file(i, "n1")).collect();
    assert!(db.bulk_docs(&docs).await.unwrap().iter().all(|r| r.is_ok()));

    // Started on an index that already has rows: the table is built from
    // them; then it follows the feed.
    let cancel = CancellationToken::new();
    let f = IndexFollower::start(db.clone(), &path, cancel.clone())
        .await
        .unwrap();
    f.index()
        .wait_for_seq(&update_seq(&db).await, Duration::from_secs(60))
        .await
        .unwrap();
    cancel.cancel();
    f.join().await;
    let cancel = CancellationToken::new();
    let options = mosaicfs_index::IndexOptions { name_table: true };
    let f = IndexFollower::start_with(db.clone(), &path, cancel.clone(), options)
        .await
        .unwrap();
    let index = f.index();
    let rare = || NameMatch::Glob("*[x-z]zz*".into());
    assert!(names_of(&index, rare()).await.is_empty());
    assert_eq!(
        names_of(&index, NameMatch::Substring("C-29".into())).await,
        [
            "doc-29.txt",
            "doc-290.txt",
            "doc-291.txt",
            "doc-292.txt",
            "doc-293.txt",
            "doc-294.txt",
            "doc-295.txt",
            "doc-296.txt",
            "doc-297.txt",
            "doc-298.txt",
            "doc-299.txt"
        ]
    );

    // A rename, a soft delete, a deletion and a new file arrive by _changes.
    let id = |i: usize| format!("file::{i:032x}");
    let mut d1 = db.get_value(&id(1)).await.unwrap().unwrap();
    d1["name"] = json!("Fuzzyzzle.txt");
    db.put(&d1).await.unwrap();
    let mut d290 = db.get_value(&id(290)).await.unwrap().unwrap();
    d290["status"] = json!("deleted");
    db.put(&d290).await.unwrap();
    let d291 = db.get_value(&id(291)).await.unwrap().unwrap();
    db.delete(&id(291), d291["_rev"].as_str().unwrap())
        .await
        .unwrap();
    let mut new = file(5000, "n2");
    new["name"] = json!("jazz-yzz.md");
    db.put(&new).await.unwrap();
    index
        .wait_for_seq(&update_seq(&db).await, Duration::from_secs(60))
        .await
        .unwrap();

    assert_eq!(
        names_of(&index, rare()).await,
        ["Fuzzyzzle.txt", "jazz-yzz.md"]
    );
    let c29 = names_of(&index, NameMatch::Substring("c-29".into())).await;
    assert_eq!(c29.len(), 9, "{c29:?}");
    assert!(!c29.contains(&"doc-290.txt".to_string()) && !c29.contains(&"doc-291.txt".to_string()));
    assert!(
        names_of(&index, NameMatch::Glob("doc-1.txt".into()))
            .await
            .is_empty(),
        "old name gone"
    );
    let with_deleted = index
        .query(Query {
            name: Some(NameMatch::Glob("doc-29?.txt".into())),
            include_deleted: true,
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        with_deleted.len(),
        9,
        "the soft-deleted row is found, the deleted one is not"
    );
    cancel.cancel();
    f.join().await;
}

/// A database with `files` file documents of node n1 under `/data`, the
/// directories `/` and `/data` (all of n1's `/data`), and an index started
/// after they were written that caught up with them.
struct DataTree {
    db: CouchClient,
    _tmp: tempfile::TempDir,
    follower: IndexFollower,
    index: mosaicfs_index::Index,
    cancel: CancellationToken,
}

async fn data_tree(name: &str, files: usize) -> DataTree {
    let db = mosaicfs_testsupport::server("a").fresh_db(name).await;
    let tmp = tempfile::tempdir().unwrap();
    let docs: Vec<Value> = (0..files).map(|i| file(i, "n1")).collect();
    assert!(db.bulk_docs(&docs).await.unwrap().iter().all(|r| r.is_ok()));
    for d in [
        json!({"_id": mosaicfs_common::ids::ROOT_DIR_ID, "type": "virtual_directory", "inode": 1,
               "virtual_path": "/", "name": "", "system": true, "mounts": [],
               "enforce_steps_on_children": false, "created_at": "2025-01-01T00:00:00Z"}),
        json!({"_id": mosaicfs_common::ids::dir_id("/data"), "type": "virtual_directory",
               "inode": 5000, "system": false, "enforce_steps_on_children": false,
               "virtual_path": "/data", "name": "data", "parent_path": "/",
               "mounts": [{"mount_id": "m1", "source": {"node_id": "n1", "export_path": "/data"},
                           "strategy": "prefix_replace", "conflict_policy": "last_write_wins",
                           "default_result": "include", "steps": []}],
               "created_at": "2025-01-01T00:00:00Z"}),
    ] {
        db.put(&d).await.unwrap();
    }
    let cancel = CancellationToken::new();
    let follower = IndexFollower::start(db.clone(), &tmp.path().join("index.db"), cancel.clone())
        .await
        .unwrap();
    let index = follower.index();
    index
        .wait_for_seq(&update_seq(&db).await, Duration::from_secs(60))
        .await
        .unwrap();
    DataTree {
        db,
        _tmp: tmp,
        follower,
        index,
        cancel,
    }
}

impl DataTree {
    async fn stop(self) {
        self.cancel.cancel();
        self.follower.join().await;
    }
}

/// A cached listing outlives the 5 s window while no file document changes
/// (a long walk of a quiet tree lists each directory once), and any file
/// change ends that at once: the new file shows on the next listing.
#[tokio::test]
async fn a_quiet_tree_keeps_its_listings_and_a_file_change_ends_that() {
    use mosaicfs_index::readdir::{CACHE_TTL, ReaddirCache, readdir};
    let t = data_tree("index_quiet", 20).await;
    let (db, index) = (&t.db, &t.index);
    let cache = ReaddirCache::default();
    assert_eq!(
        readdir(index, &cache, b"/data")
            .await
            .unwrap()
            .entries
            .len(),
        20
    );
    tokio::time::sleep(CACHE_TTL + Duration::from_millis(500)).await;
    assert_eq!(
        readdir(index, &cache, b"/data")
            .await
            .unwrap()
            .entries
            .len(),
        20
    );
    assert_eq!(
        cache.stats(),
        (1, 1),
        "past the 5 s window, a quiet tree's listing is a hit"
    );

    db.put(&file(20, "n1")).await.unwrap();
    index
        .wait_for_seq(&update_seq(db).await, Duration::from_secs(60))
        .await
        .unwrap();
    let l = readdir(index, &cache, b"/data").await.unwrap();
    assert_eq!(l.entries.len(), 21, "the new file shows at once");
    assert_eq!(cache.stats(), (1, 2));
    t.stop().await;
}

/// Generations restart with each load of an index: a cache shared by two
/// indexes at the same generations still never answers one's path with the
/// other's listing (the epoch tells them apart).
#[tokio::test]
async fn a_listing_cached_from_one_index_is_not_served_for_another() {
    use mosaicfs_index::readdir::{ReaddirCache, cached, readdir};
    let a = data_tree("index_epoch_a", 20).await;
    let b = data_tree("index_epoch_b", 5).await;
    let generations = |t: &DataTree| {
        t.index
            .with_derived(|d| (d.generation(), d.files_generation()))
    };
    assert_eq!(
        generations(&a),
        generations(&b),
        "both indexes are at the same generations (else this test shows nothing)"
    );
    let cache = ReaddirCache::default();
    let listed = readdir(&a.index, &cache, b"/data").await.unwrap();
    assert_eq!(listed.entries.len(), 20);
    assert!(
        cached(&b.index, &cache, b"/data").is_none(),
        "b's path from a's listing"
    );
    let listed = readdir(&b.index, &cache, b"/data").await.unwrap();
    assert_eq!(listed.entries.len(), 5, "b's own listing");
    assert_eq!(cache.stats(), (0, 2));
    a.stop().await;
    b.stop().await;
}

/// A longpoll with nothing to report is an empty page soon after its wait,
/// not an error: CouchDB ends it at `timeout`, pouchdb-server keeps it open
/// with heartbeat newlines until the client gives up. (Counted as a
/// failure, it used to back the follower off for up to a minute per idle
/// minute, delaying the next change by as much.) A change during the wait
/// still ends it at once.
#[tokio::test]
async fn an_idle_longpoll_is_an_empty_page_not_an_error() {
    use mosaicfs_common::couch::ChangesQuery;
    let db = mosaicfs_testsupport::server("a")
        .fresh_db("index_idle_longpoll")
        .await;
    db.put(&file(1, "n")).await.unwrap();
    let since = update_seq(&db).await;
    let longpoll = |secs| ChangesQuery {
        since: Some(since.clone()),
        longpoll: Some(Duration::from_secs(secs)),
        ..Default::default()
    };

    let t = std::time::Instant::now();
    let page = db.changes(&longpoll(1)).await.unwrap();
    assert!(page.results.is_empty(), "{:?}", page.results);
    assert_eq!(
        mosaicfs_index::seq_number(&page.last_seq),
        mosaicfs_index::seq_number(&since)
    );
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());

    let writer = {
        let db = db.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            db.put(&file(2, "n")).await.unwrap();
        })
    };
    let t = std::time::Instant::now();
    let page = db.changes(&longpoll(20)).await.unwrap();
    writer.await.unwrap();
    let ids: Vec<&str> = page.results.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, [file(2, "n")["_id"].as_str().unwrap()]);
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
}
