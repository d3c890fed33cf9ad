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
        .by_path("n1", "/data/doc-7.txt")
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
