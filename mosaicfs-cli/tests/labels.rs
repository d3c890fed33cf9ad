//! `labels`, `nodes mounts` and files named by their virtual path, in human
//! and `--json` output, against a real server.

use crate::common::*;
use serde_json::{Value, json};

const REPORT: &str = "file::0190c0de5b6f7a3e8c1d2e3f4a5b6c31";

/// A server with `/docs` mounting `{tmp}/files`, holding report.pdf.
async fn env_with_docs() -> Env {
    let env = Env::start().await;
    env.login().await;
    let path = env.add_file(REPORT, "report.pdf", b"%PDF-1.4 report").await;
    let r = env
        .http()
        .post(format!("{}/api/vfs/directories", env.url))
        .bearer_auth(env.token())
        .json(&json!({"virtual_path": "/docs", "mounts": [{
            "source": {"node_id": NODE, "export_path": path.parent().unwrap()},
            "strategy": "prefix_replace"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_are_named_by_their_virtual_path() {
    let env = env_with_docs().await;
    let out = env
        .run(&["--json", "files", "stat", "/docs/report.pdf"])
        .await
        .expect(0);
    assert_eq!(out.json()["_id"], REPORT);
    env.run(&["-q", "files", "fetch", "/docs/report.pdf", "-o", "got.pdf"])
        .await
        .expect(0);
    assert_eq!(
        std::fs::read(env.work().join("got.pdf")).unwrap(),
        b"%PDF-1.4 report"
    );
    // What cannot be a file says so, and names what to run instead.
    env.run(&["files", "fetch", "/docs/missing.pdf"])
        .await
        .expect_error(
            4,
            "no entry \"missing.pdf\" in /docs (see `mosaicfs-cli vfs ls /docs`)",
        );
    env.run(&["files", "fetch", "/docs"])
        .await
        .expect_error(2, "is a directory, not a file");
    env.run(&["files", "fetch", "docs/report.pdf"])
        .await
        .expect_error(2, "neither a file id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_are_added_shown_listed_and_removed() {
    let env = env_with_docs().await;
    let out = env
        .run(&["labels", "add", "/docs/report.pdf", "taxes", "2024"])
        .await
        .expect(0);
    assert!(
        out.stdout.contains("direct") && out.stdout.contains("2024, taxes"),
        "{out:#?}"
    );
    // Adding one already there keeps the list as it is.
    let out = env
        .run(&["--json", "labels", "add", REPORT, "taxes"])
        .await
        .expect(0);
    assert_eq!(out.json()["direct"], json!(["2024", "taxes"]));

    let out = env.run(&["--json", "labels", "list"]).await.expect(0);
    let items = out.json();
    let taxes = items
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["label"] == "taxes")
        .cloned()
        .expect("taxes is listed");
    assert_eq!(taxes["assignments"], 1);
    let out = env.run(&["labels", "list"]).await.expect(0);
    assert!(
        out.stdout.contains("LABEL") && out.stdout.contains("taxes"),
        "{out:#?}"
    );

    // A rule's label shows as inherited, and cannot be removed as if direct.
    let r = env
        .http()
        .post(format!("{}/api/labels/rules", env.url))
        .bearer_auth(env.token())
        .json(&json!({"name": "all of files", "node_id": NODE,
            "path_prefix": format!("{}/", env.tmp.path().join("files").display()),
            "labels": ["archive"], "enabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let out = env
        .run(&["labels", "show", "/docs/report.pdf"])
        .await
        .expect(0);
    assert!(
        out.stdout.contains("archive (rule all of files)"),
        "{out:#?}"
    );
    env.run(&["labels", "rm", "/docs/report.pdf", "archive"])
        .await
        .expect_error(6, "is inherited from rule \"all of files\"");
    env.run(&["labels", "rm", "/docs/report.pdf", "nope"])
        .await
        .expect_error(6, "\"nope\" is not on this file");

    let out = env
        .run(&[
            "--json",
            "labels",
            "rm",
            "/docs/report.pdf",
            "2024",
            "taxes",
        ])
        .await
        .expect(0);
    let eff: Value = out.json();
    assert_eq!(eff["direct"], json!([]));
    assert_eq!(eff["labels"], json!(["archive"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_mounts_are_added_listed_and_removed() {
    let env = Env::start().await;
    env.login().await;
    let r = env
        .http()
        .post(format!("{}/api/nodes", env.url))
        .bearer_auth(env.token())
        .json(
            &json!({"node_id": "nas", "friendly_name": "NAS", "platform": "linux",
            "access_key_id": ADMIN_KEY}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());

    env.run(&["nodes", "mounts", "list", NODE]).await.expect(0);
    let out = env
        .run(&[
            "--json",
            "nodes",
            "mounts",
            "add",
            NODE,
            "--remote-node",
            "nas",
            "--remote-path",
            "/srv/share",
            "--local-path",
            "/mnt/nas",
            "--type",
            "nfs",
            "--priority",
            "5",
        ])
        .await
        .expect(0);
    let mount = out.json();
    let id = mount["mount_id"].as_str().unwrap().to_string();
    assert_eq!(mount["local_mount_path"], "/mnt/nas");
    assert_eq!(mount["priority"], 5);

    let out = env.run(&["nodes", "mounts", "list", NODE]).await.expect(0);
    assert!(
        out.stdout.contains("REMOTE NODE") && out.stdout.contains("/mnt/nas"),
        "{out:#?}"
    );
    assert!(out.stdout.contains(&id), "{out:#?}");

    // A relative path is refused by the server, naming the field.
    env.run(&[
        "nodes",
        "mounts",
        "add",
        NODE,
        "--remote-node",
        "nas",
        "--remote-path",
        "/srv/share",
        "--local-path",
        "mnt/nas",
    ])
    .await
    .expect_error(6, "local_mount_path");

    env.run(&["nodes", "mounts", "rm", NODE, &id])
        .await
        .expect(0);
    let out = env
        .run(&["--json", "nodes", "mounts", "list", NODE])
        .await
        .expect(0);
    assert_eq!(out.json(), json!([]));
    env.run(&["nodes", "mounts", "rm", NODE, &id])
        .await
        .expect_error(4, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lossy_name_does_not_pick_one_of_the_files_it_stands_for() {
    use std::os::unix::ffi::OsStrExt;
    let env = Env::start().await;
    env.login().await;
    // Two files whose names differ only in a byte that is not UTF-8: both
    // are listed as "\u{FFFD}.dat" (with their exact `name_bytes`).
    let dir = env.tmp.path().join("files");
    for (i, name) in [&b"\xfa.dat"[..], b"\xfb.dat"].into_iter().enumerate() {
        let path = dir.join(std::ffi::OsStr::from_bytes(name));
        std::fs::write(&path, b"x").unwrap();
        let mut doc = file_doc(&format!("file::0190c0de5b6f7a3e8c1d2e3f4a5b6c4{i}"), &path);
        doc["inode"] = json!(5000 + i);
        doc["source"]["export_path_bytes"] = json!(mosaicfs_common::names::exact_field(
            path.as_os_str().as_bytes()
        ));
        env.db.put(&doc).await.unwrap();
    }
    // Written after them: once it is indexed, so are they.
    let path = env.add_file(REPORT, "report.pdf", b"%PDF-1.4 report").await;
    let r = env
        .http()
        .post(format!("{}/api/vfs/directories", env.url))
        .bearer_auth(env.token())
        .json(&json!({"virtual_path": "/docs", "mounts": [{
            "source": {"node_id": NODE, "export_path": path.parent().unwrap()},
            "strategy": "prefix_replace"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    env.run(&["files", "stat", "/docs/\u{FFFD}.dat"])
        .await
        .expect_error(
            4,
            "is only the display form of 2 name(s) that are not UTF-8",
        );
    env.run(&["files", "stat", "/docs/report.pdf"])
        .await
        .expect(0);
}
