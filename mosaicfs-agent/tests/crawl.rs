//! The crawler against a real CouchDB: documents written, the stat fast path,
//! modifications, deletions, conflicts, per-document errors, symlinks,
//! non-UTF-8 names and inaccessible paths.

use crate::common::*;
use mosaicfs_agent::crawler::{BeforeWriteHook, Crawler};
use mosaicfs_common::documents::{FileDoc, FileStatus};
use mosaicfs_common::retry::RetryPolicy;
use serde_json::json;
use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio_util::sync::CancellationToken;

async fn crawler(
    db: &mosaicfs_common::couch::CouchClient,
    node: &str,
    roots: Vec<PathBuf>,
) -> Crawler {
    Crawler::new(db.clone(), node, roots)
        .await
        .unwrap()
        .with_retry(RetryPolicy::fast(Some(3)))
}

#[tokio::test]
async fn crawl_writes_one_document_per_file_and_recrawl_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let files = make_tree(tmp.path(), 450);
    let db = local_server().fresh_db("crawl_once").await;
    let node = test_node_id("crawl");
    let mut c = crawler(&db, &node, vec![tmp.path().to_path_buf()]).await;
    let s = c.crawl(&CancellationToken::new()).await.unwrap();
    assert_eq!(
        (s.stats.seen, s.stats.new, s.stats.errors),
        (450, 450, 0),
        "{s}"
    );

    let docs = file_docs(&db).await;
    assert_eq!(docs.len(), 450);
    let by_path: HashMap<String, FileDoc> = docs
        .into_iter()
        .map(|d| serde_json::from_value::<FileDoc>(d).unwrap())
        .map(|d| (d.source.export_path.clone(), d))
        .collect();
    for f in &files {
        let doc = &by_path[&f.to_string_lossy().into_owned()];
        let meta = std::fs::metadata(f).unwrap();
        assert_eq!(doc.size, meta.len());
        assert_eq!(
            doc.mtime,
            chrono::DateTime::<chrono::Utc>::from(meta.modified().unwrap())
        );
        assert_eq!(doc.name, f.file_name().unwrap().to_string_lossy());
        assert_eq!(
            doc.source.export_parent,
            f.parent().unwrap().to_string_lossy()
        );
        assert_eq!(doc.source.node_id, node);
        assert_eq!(doc.status, FileStatus::Active);
        assert!(doc.inode >= 1000);
    }
    let pdf = by_path.values().find(|d| d.name.ends_with(".pdf")).unwrap();
    assert_eq!(pdf.mime_type.as_deref(), Some("application/pdf"));

    // Second crawl, same process: nothing written at all.
    let seq = update_seq(&db).await;
    let s2 = c.crawl(&CancellationToken::new()).await.unwrap();
    assert_eq!(
        (
            s2.stats.unchanged,
            s2.stats.new,
            s2.stats.changed,
            s2.stats.deleted
        ),
        (450, 0, 0, 0),
        "{s2}"
    );
    assert_eq!(
        update_seq(&db).await,
        seq,
        "an unchanged tree must cost no write"
    );

    // A new agent process: the index is loaded from CouchDB, still no writes.
    let mut fresh = crawler(&db, &node, vec![tmp.path().to_path_buf()]).await;
    assert_eq!(fresh.index().len(), 450);
    let s3 = fresh.crawl(&CancellationToken::new()).await.unwrap();
    assert_eq!(s3.stats.unchanged, 450, "{s3}");
    assert_eq!(update_seq(&db).await, seq);
}

#[tokio::test]
async fn modified_deleted_and_returning_files_update_their_documents() {
    let tmp = tempfile::tempdir().unwrap();
    let files = make_tree(tmp.path(), 30);
    let db = local_server().fresh_db("crawl_modify").await;
    let node = test_node_id("modify");
    let mut c = crawler(&db, &node, vec![tmp.path().to_path_buf()]).await;
    c.crawl(&CancellationToken::new()).await.unwrap();
    let before = doc_for(&db, &files[3]).await;

    // A newer program added a field to the document; it must survive.
    let mut extended = before.clone();
    extended["future_field"] = json!({"kept": true});
    db.put(&extended).await.unwrap();

    std::fs::write(&files[3], b"different content, different size").unwrap();
    std::fs::remove_file(&files[4]).unwrap();
    let s = c.crawl(&CancellationToken::new()).await.unwrap();
    assert_eq!(
        (s.stats.changed, s.stats.deleted, s.stats.unchanged),
        (1, 1, 28),
        "{s}"
    );

    let after = doc_for(&db, &files[3]).await;
    assert_eq!(after["_id"], before["_id"], "same document");
    assert_eq!(after["inode"], before["inode"], "inode is stable");
    assert_eq!(after["size"], 33);
    assert_eq!(after["future_field"], json!({"kept": true}));

    let gone = doc_for(&db, &files[4]).await;
    assert_eq!(gone["status"], "deleted");
    assert!(gone["deleted_at"].is_string());

    // The file comes back: the same document is reactivated.
    std::fs::write(&files[4], b"back").unwrap();
    let s = c.crawl(&CancellationToken::new()).await.unwrap();
    assert_eq!((s.stats.changed, s.stats.new), (1, 0), "{s}");
    let back = doc_for(&db, &files[4]).await;
    assert_eq!(back["_id"], gone["_id"]);
    assert_eq!(back["status"], "active");
    assert!(back.get("deleted_at").is_none());
    assert_eq!(file_docs(&db).await.len(), 30);
}

#[tokio::test]
async fn a_write_conflict_is_resolved_by_rereading_and_reapplying() {
    let tmp = tempfile::tempdir().unwrap();
    let files = make_tree(tmp.path(), 5);
    let db = local_server().fresh_db("crawl_conflict").await;
    let node = test_node_id("conflict");
    let mut c = crawler(&db, &node, vec![tmp.path().to_path_buf()]).await;
    c.crawl(&CancellationToken::new()).await.unwrap();
    let target = doc_for(&db, &files[0]).await;
    let target_id = target["_id"].as_str().unwrap().to_string();

    // Just before the crawler's bulk write, someone else updates the same
    // document, so the crawler's revision is stale when it arrives.
    let fired = Arc::new(AtomicBool::new(false));
    let (db2, fired2, id2) = (db.clone(), fired.clone(), target_id.clone());
    let hook: BeforeWriteHook = Arc::new(move |ids: Vec<String>| {
        let (db, fired, id) = (db2.clone(), fired2.clone(), id2.clone());
        Box::pin(async move {
            if ids.contains(&id) && !fired.swap(true, Ordering::SeqCst) {
                let mut doc = db.get_value(&id).await.unwrap().unwrap();
                doc["written_elsewhere"] = json!(1);
                db.put(&doc).await.unwrap();
            }
        })
    });
    c.set_before_write_hook(hook);
    std::fs::write(&files[0], b"changed").unwrap();
    let s = c.crawl(&CancellationToken::new()).await.unwrap();
    assert!(fired.load(Ordering::SeqCst), "hook ran");
    assert_eq!(
        (s.stats.changed, s.stats.conflicts, s.stats.errors),
        (1, 1, 0),
        "{s}"
    );
    let doc = db.get_value(&target_id).await.unwrap().unwrap();
    assert_eq!(doc["size"], 7, "our change applied");
    assert_eq!(doc["written_elsewhere"], 1, "their change kept");
}

#[tokio::test]
async fn a_rejected_document_is_reported_and_the_rest_of_the_batch_lands() {
    let tmp = tempfile::tempdir().unwrap();
    make_tree(tmp.path(), 20);
    std::fs::write(tmp.path().join("forbidden.txt"), b"x").unwrap();
    let db = local_server().fresh_db("crawl_reject").await;
    // A validation function that refuses one document, as a CouchDB
    // administrator's policy might.
    db.put(&json!({
        "_id": "_design/policy",
        "validate_doc_update": "function(n, o, u) { if (n.name === 'forbidden.txt') { throw({forbidden: 'name not allowed'}); } }"
    }))
    .await
    .unwrap();
    let node = test_node_id("reject");
    let mut c = crawler(&db, &node, vec![tmp.path().to_path_buf()]).await;
    let s = c.crawl(&CancellationToken::new()).await.unwrap();
    assert_eq!((s.stats.seen, s.stats.errors), (21, 1), "{s}");
    let docs = file_docs(&db).await;
    assert_eq!(docs.len(), 20, "every other file was written");
    assert!(docs.iter().all(|d| d["name"] != "forbidden.txt"));
    // The failed file is retried at the next crawl (it is not in the index).
    let s = c.crawl(&CancellationToken::new()).await.unwrap();
    assert_eq!(
        (s.stats.new, s.stats.errors, s.stats.unchanged),
        (1, 1, 20),
        "{s}"
    );
}

#[tokio::test]
async fn symlinks_stay_inside_the_watch_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let watch = tmp.path().join("watch");
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(watch.join("dir")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(watch.join("dir/real.txt"), b"12345").unwrap();
    std::fs::write(outside.join("secret.txt"), b"secret").unwrap();
    let link = |target: &std::path::Path, name: &str| {
        std::os::unix::fs::symlink(target, watch.join(name)).unwrap()
    };
    link(&watch.join("dir/real.txt"), "inside-link.txt");
    link(&outside.join("secret.txt"), "outside-link.txt");
    link(&outside, "outside-dir");
    link(&watch.join("dir"), "dir-link");
    link(&watch, "loop");
    link(&tmp.path().join("nowhere"), "dangling");

    let db = local_server().fresh_db("crawl_symlink").await;
    let mut c = crawler(&db, &test_node_id("symlink"), vec![watch.clone()]).await;
    let s = c.crawl(&CancellationToken::new()).await.unwrap();
    assert_eq!(
        (s.stats.seen, s.stats.skipped, s.stats.errors),
        (2, 5, 0),
        "{s}"
    );
    let mut paths: Vec<String> = file_docs(&db)
        .await
        .iter()
        .map(|d| d["source"]["export_path"].as_str().unwrap().to_string())
        .collect();
    paths.sort();
    let w = watch.to_string_lossy();
    assert_eq!(
        paths,
        [format!("{w}/dir/real.txt"), format!("{w}/inside-link.txt")]
    );
    let linked = doc_for(&db, &watch.join("inside-link.txt")).await;
    assert_eq!(
        linked["size"], 5,
        "a link is indexed with its target's metadata"
    );
}

#[tokio::test]
async fn a_name_that_is_not_utf8_is_indexed_with_its_exact_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let raw = std::ffi::OsStr::from_bytes(b"caf\xe9 menu.txt");
    let path = tmp.path().join(raw);
    std::fs::write(&path, b"latin-1 name").unwrap();
    let db = local_server().fresh_db("crawl_nonutf8").await;
    let mut c = crawler(
        &db,
        &test_node_id("nonutf8"),
        vec![tmp.path().to_path_buf()],
    )
    .await;
    let s = c.crawl(&CancellationToken::new()).await.unwrap();
    assert_eq!(
        (s.stats.new, s.stats.non_utf8, s.stats.errors),
        (1, 1, 0),
        "{s}"
    );
    let doc = &file_docs(&db).await[0];
    assert_eq!(doc["name"], "caf\u{fffd} menu.txt");
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(doc["source"]["export_path_bytes"].as_str().unwrap())
        .unwrap();
    assert_eq!(bytes, path.as_os_str().as_bytes());
    // The fast path matches on the exact bytes: nothing rewritten.
    let s = c.crawl(&CancellationToken::new()).await.unwrap();
    assert_eq!((s.stats.unchanged, s.stats.new), (1, 0), "{s}");
}

#[tokio::test]
async fn a_missing_watch_path_does_not_delete_its_documents() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("disk-a");
    let b = tmp.path().join("disk-b");
    make_tree(&a, 10);
    make_tree(&b, 10);
    let db = local_server().fresh_db("crawl_missing").await;
    let mut c = crawler(&db, &test_node_id("missing"), vec![a.clone(), b.clone()]).await;
    c.crawl(&CancellationToken::new()).await.unwrap();
    // disk-a is "unmounted"; one file on disk-b is really deleted.
    std::fs::rename(&a, tmp.path().join("elsewhere")).unwrap();
    let victim = walk_first_file(&b);
    std::fs::remove_file(&victim).unwrap();
    let s = c.crawl(&CancellationToken::new()).await.unwrap();
    assert_eq!(
        (s.stats.errors, s.stats.deleted, s.stats.unchanged),
        (1, 1, 9),
        "{s}"
    );
    let active = file_docs(&db)
        .await
        .iter()
        .filter(|d| d["status"] == "active")
        .count();
    assert_eq!(active, 19);
}

fn walk_first_file(root: &std::path::Path) -> PathBuf {
    walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(Result::ok)
        .find(|e| e.file_type().is_file())
        .unwrap()
        .into_path()
}

#[tokio::test]
async fn documents_of_other_nodes_are_never_touched() {
    let tmp = tempfile::tempdir().unwrap();
    make_tree(tmp.path(), 5);
    let db = local_server().fresh_db("crawl_other").await;
    let mut c = crawler(&db, &test_node_id("one"), vec![tmp.path().to_path_buf()]).await;
    c.crawl(&CancellationToken::new()).await.unwrap();
    // A replicated document from another node, at a path under our watch path.
    let mut other = file_docs(&db).await[0].clone();
    other.as_object_mut().unwrap().remove("_rev");
    other["_id"] = json!(mosaicfs_common::ids::new_file_id());
    other["source"]["node_id"] = json!("node-elsewhere");
    other["source"]["export_path"] = json!(format!("{}/not-here.txt", tmp.path().display()));
    db.put(&other).await.unwrap();
    let mut c = crawler(&db, &test_node_id("one"), vec![tmp.path().to_path_buf()]).await;
    let s = c.crawl(&CancellationToken::new()).await.unwrap();
    assert_eq!((s.stats.deleted, s.stats.unchanged), (0, 5), "{s}");
    let stored = db
        .get_value(other["_id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored["status"], "active");
}

#[tokio::test]
async fn a_watch_batch_naming_a_directory_and_its_file_writes_one_document() {
    // Regression: under load the watcher batches the creation of a directory
    // and of a file inside it; both are observed, and the file once got two
    // documents.
    let tmp = tempfile::tempdir().unwrap();
    let db = local_server().fresh_db("apply_dedupe").await;
    let mut c = crawler(&db, &test_node_id("dedupe"), vec![tmp.path().to_path_buf()]).await;
    c.crawl(&CancellationToken::new()).await.unwrap();
    let dir = tmp.path().join("new-dir");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("f.txt"), b"x").unwrap();
    use mosaicfs_agent::crawler::Change;
    let s = c
        .apply(vec![
            Change::Changed(dir.clone()),
            Change::Changed(dir.join("f.txt")),
        ])
        .await
        .unwrap();
    assert_eq!((s.new, s.seen), (1, 1), "{s}");
    assert_eq!(file_docs(&db).await.len(), 1);
}

#[tokio::test]
async fn the_state_file_spares_the_load_and_still_sees_other_writers() {
    use mosaicfs_agent::crawler::IndexSource;
    let tmp = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let state_file = state.path().join("crawl-index.bin");
    let files = make_tree(tmp.path(), 40);
    let db = local_server().fresh_db("crawl_state").await;
    let node = test_node_id("state");
    let open = || {
        Crawler::with_state_file(
            db.clone(),
            &node,
            vec![tmp.path().to_path_buf()],
            state_file.clone(),
        )
    };
    let mut c = open().await.unwrap();
    assert_eq!(c.loaded_from(), IndexSource::CouchDb);
    let s = c.crawl(&CancellationToken::new()).await.unwrap();
    assert_eq!(s.stats.new, 40, "{s}");
    assert!(state_file.exists());

    // A new process: the index comes from the file, a re-crawl writes nothing.
    let seq = update_seq(&db).await;
    let mut c = open().await.unwrap();
    assert_eq!(c.loaded_from(), IndexSource::StateFile);
    assert_eq!(c.index().len(), 40);
    let s = c.crawl(&CancellationToken::new()).await.unwrap();
    assert_eq!((s.stats.unchanged, s.stats.new), (40, 0), "{s}");
    assert_eq!(
        update_seq(&db).await,
        seq,
        "an unchanged tree must cost no write"
    );

    // Another writer changes one document and deletes another between runs:
    // the catch-up from _changes sees both, and the crawl repairs them.
    let mut touched = doc_for(&db, &files[0]).await;
    touched["size"] = json!(999_999);
    db.put(&touched).await.unwrap();
    let removed = doc_for(&db, &files[1]).await;
    db.delete(
        removed["_id"].as_str().unwrap(),
        removed["_rev"].as_str().unwrap(),
    )
    .await
    .unwrap();
    let mut c = open().await.unwrap();
    assert_eq!(c.loaded_from(), IndexSource::StateFile);
    assert_eq!(c.index().len(), 39, "the deleted document left the index");
    let s = c.crawl(&CancellationToken::new()).await.unwrap();
    assert_eq!(
        (s.stats.changed, s.stats.new, s.stats.unchanged),
        (1, 1, 38),
        "{s}"
    );
    let repaired = doc_for(&db, &files[0]).await;
    assert_eq!(
        repaired["size"],
        std::fs::metadata(&files[0]).unwrap().len()
    );

    // A damaged file is not used.
    std::fs::write(&state_file, b"MFSCRWL1 garbage").unwrap();
    let c = open().await.unwrap();
    assert_eq!(c.loaded_from(), IndexSource::CouchDb);
    assert_eq!(c.index().len(), 40);
    drop(c);

    // A recreated database does not hold the file's token: full load, and the
    // crawl writes every document again instead of trusting the file.
    let mut c = open().await.unwrap();
    c.crawl(&CancellationToken::new()).await.unwrap();
    db.delete_db().await.unwrap();
    db.ensure_db().await.unwrap();
    let mut c = open().await.unwrap();
    assert_eq!(c.loaded_from(), IndexSource::CouchDb);
    let s = c.crawl(&CancellationToken::new()).await.unwrap();
    assert_eq!(s.stats.new, 40, "{s}");
    assert_eq!(file_docs(&db).await.len(), 40);
}

#[tokio::test]
async fn a_foreign_write_during_a_crawl_reaches_the_state_file() {
    use mosaicfs_agent::crawler::IndexSource;
    let tmp = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let state_file = state.path().join("crawl-index.bin");
    let files = make_tree(tmp.path(), 10);
    let db = local_server().fresh_db("crawl_state_foreign").await;
    let node = test_node_id("foreign");
    let roots = vec![tmp.path().to_path_buf()];
    let mut c = Crawler::with_state_file(db.clone(), &node, roots.clone(), state_file.clone())
        .await
        .unwrap();
    c.crawl(&CancellationToken::new()).await.unwrap();
    let other = doc_for(&db, &files[1]).await;
    let other_id = other["_id"].as_str().unwrap().to_string();

    // While the crawler writes its change to files[0], someone else changes
    // the document of files[1]: the sequence then moved by more than the
    // crawler's own writes, so the saved index must include their change.
    let (db2, id2) = (db.clone(), other_id.clone());
    let hook: BeforeWriteHook = Arc::new(move |_ids: Vec<String>| {
        let (db, id) = (db2.clone(), id2.clone());
        Box::pin(async move {
            let mut doc = db.get_value(&id).await.unwrap().unwrap();
            doc["size"] = json!(424_242);
            db.put(&doc).await.unwrap();
        })
    });
    c.set_before_write_hook(hook);
    std::fs::write(&files[0], b"changed").unwrap();
    let s = c.crawl(&CancellationToken::new()).await.unwrap();
    assert_eq!(s.stats.changed, 1, "{s}");
    drop(c);

    let mut c = Crawler::with_state_file(db.clone(), &node, roots, state_file)
        .await
        .unwrap();
    assert_eq!(c.loaded_from(), IndexSource::StateFile);
    let s = c.crawl(&CancellationToken::new()).await.unwrap();
    assert_eq!((s.stats.changed, s.stats.unchanged), (1, 9), "{s}");
    let repaired = db.get_value(&other_id).await.unwrap().unwrap();
    assert_eq!(
        repaired["size"],
        std::fs::metadata(&files[1]).unwrap().len()
    );
}
