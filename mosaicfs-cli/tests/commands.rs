//! Every command against a real server, in human and `--json` mode.

use crate::common::*;
use serde_json::Value;

const FILE_ID: &str = "file::0190c0de5b6f7a3e8c1d2e3f4a5b6c10";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_then_every_command_in_human_and_json_mode() {
    let env = Env::start().await;

    // login: pins the certificate, stores the token but never the secret.
    let out = env.login().await;
    assert!(out.stderr.contains("Logged in to"), "{out:#?}");
    let config = std::fs::read_to_string(env.config_file()).unwrap();
    assert!(config.contains(&env.fingerprint) && config.contains("token = "));
    assert!(!config.contains(ADMIN_SECRET), "the secret is never stored");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(env.config_file())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // system health
    let out = env.run(&["system", "health"]).await.expect(0);
    assert!(out.stdout.contains("reachable") && out.stdout.contains(&env.fingerprint));
    let h = env
        .run(&["--json", "system", "health"])
        .await
        .expect(0)
        .json();
    assert_eq!(h["status"], "ok");

    // nodes
    let out = env.run(&["nodes", "list"]).await.expect(0);
    assert!(
        out.stdout.starts_with("NODE") && out.stdout.contains(NODE),
        "{out:#?}"
    );
    let nodes = env.run(&["--json", "nodes", "list"]).await.expect(0).json();
    assert_eq!(nodes[0]["node_id"], NODE);
    let out = env.run(&["-q", "nodes", "list"]).await.expect(0);
    assert_eq!(out.stdout, format!("{NODE}\n"));
    let out = env.run(&["nodes", "status", NODE]).await.expect(0);
    assert!(out.stdout.contains("not reported yet"), "{out:#?}");
    let s = env
        .run(&["--json", "nodes", "status", NODE])
        .await
        .expect(0)
        .json();
    assert_eq!(s["node"]["node_id"], NODE);
    assert!(s["status"].is_null());

    // files
    let content = bytes(100_000);
    env.add_file(FILE_ID, "Quarterly report.pdf", &content)
        .await;
    let out = env.run(&["files", "search", "report"]).await.expect(0);
    assert!(
        out.stdout.contains(FILE_ID) && out.stdout.contains("97.7 KiB"),
        "{out:#?}"
    );
    let found = env
        .run(&["--json", "files", "search", "*.PDF"])
        .await
        .expect(0)
        .json();
    assert_eq!(found.as_array().unwrap().len(), 1);
    assert_eq!(found[0]["id"], FILE_ID);
    let none = env
        .run(&["--json", "files", "search", "report", "--label", "nope"])
        .await
        .expect(0)
        .json();
    assert_eq!(none, Value::Array(vec![]));
    let out = env.run(&["files", "stat", FILE_ID]).await.expect(0);
    assert!(out.stdout.contains("Quarterly report.pdf") && out.stdout.contains("100000 bytes"));
    let doc = env
        .run(&["--json", "files", "stat", FILE_ID])
        .await
        .expect(0)
        .json();
    assert_eq!(doc["_id"], FILE_ID);
    assert!(doc.get("_rev").is_none());
    let out = env.run(&["files", "fetch", FILE_ID]).await.expect(0);
    assert!(
        out.stdout.contains("Saved Quarterly report.pdf"),
        "{out:#?}"
    );
    assert!(out.stderr.contains("no content hash"), "{out:#?}");
    assert!(std::fs::read(env.work().join("Quarterly report.pdf")).unwrap() == content);
    env.run(&["files", "fetch", FILE_ID])
        .await
        .expect_error(6, "already exists");
    let f = env
        .run(&["--json", "files", "fetch", FILE_ID, "-o", "copy.pdf"])
        .await
        .expect(0)
        .json();
    assert_eq!(f["size"], 100_000);
    assert_eq!(f["verified"], "size");
    assert!(std::fs::read(env.work().join("copy.pdf")).unwrap() == content);

    // vfs
    let out = env.run(&["vfs", "mkdir", "/documents"]).await.expect(0);
    assert!(out.stderr.contains("Created /documents"));
    let d = env
        .run(&["--json", "vfs", "mkdir", "-p", "documents/work/2024"])
        .await
        .expect(0)
        .json();
    assert_eq!(d["virtual_path"], "/documents/work/2024");
    let out = env.run(&["vfs", "ls"]).await.expect(0);
    assert!(out.stdout.contains("documents/"), "{out:#?}");
    let entries = env
        .run(&["--json", "vfs", "ls", "/documents"])
        .await
        .expect(0)
        .json();
    assert_eq!(entries[0]["name"], "work");
    let out = env.run(&["vfs", "tree"]).await.expect(0);
    assert_eq!(
        out.stdout,
        "/\n└── documents\n    └── work\n        └── 2024\n"
    );
    let t = env
        .run(&["--json", "vfs", "tree", "/documents", "--depth", "0"])
        .await
        .expect(0)
        .json();
    assert_eq!(t["children"], Value::Array(vec![]));
    let shown = env
        .run(&["vfs", "show", "/documents"])
        .await
        .expect(0)
        .json();
    assert_eq!(shown["enforce_steps_on_children"], false);
    env.run(&["--json", "vfs", "show", "/"]).await.expect(0);

    // vfs edit: unchanged, changed, refused by the server.
    let out = env
        .run_with(&["vfs", "edit", "/documents"], &[("EDITOR", "true")])
        .await
        .expect(0);
    assert!(out.stderr.contains("No changes"), "{out:#?}");
    let flip =
        r#"sed -i 's/"enforce_steps_on_children": false/"enforce_steps_on_children": true/'"#;
    let saved = env
        .run_with(
            &["--json", "vfs", "edit", "/documents"],
            &[("EDITOR", flip)],
        )
        .await
        .expect(0)
        .json();
    assert_eq!(saved["enforce_steps_on_children"], true);
    let shown = env
        .run(&["--json", "vfs", "show", "/documents"])
        .await
        .expect(0)
        .json();
    assert_eq!(shown["enforce_steps_on_children"], true);
    let bad_mount = r#"sed -i 's|"mounts": \[\]|"mounts": [{"source": {"node_id": "server-node", "export_path": "relative"}, "strategy": "flatten"}]|'"#;
    let out = env
        .run_with(&["vfs", "edit", "/documents"], &[("EDITOR", bad_mount)])
        .await
        .expect(6);
    assert!(
        out.stderr.contains("not saved") && out.stderr.contains("mounts[0]"),
        "{out:#?}"
    );
    let rename = r#"sed -i 's|"virtual_path": "/documents"|"virtual_path": "/docs"|'"#;
    let out = env
        .run_with(&["vfs", "edit", "/documents"], &[("EDITOR", rename)])
        .await
        .expect(6);
    assert!(out.stderr.contains("virtual_path"), "{out:#?}");

    // vfs rmdir
    env.run(&["vfs", "rmdir", "/documents"])
        .await
        .expect_error(6, "recursive");
    env.run(&["vfs", "rmdir", "/documents/work/2024"])
        .await
        .expect(0);
    let r = env
        .run(&["--json", "vfs", "rmdir", "/documents", "--recursive"])
        .await
        .expect(0)
        .json();
    assert_eq!(r["deleted"], "/documents");
    let entries = env.run(&["--json", "vfs", "ls"]).await.expect(0).json();
    assert_eq!(entries, Value::Array(vec![]));

    // credentials
    let c = env
        .run(&["--json", "credentials", "create", "--name", "backup script"])
        .await
        .expect(0)
        .json();
    let key = c["access_key_id"].as_str().unwrap().to_string();
    assert_eq!(c["secret_key"].as_str().unwrap().len(), 40);
    let out = env
        .run(&["credentials", "create", "--name", "other"])
        .await
        .expect(0);
    assert!(out.stdout.contains("secret key:") && out.stderr.contains("shown only this once"));
    let out = env.run(&["credentials", "list"]).await.expect(0);
    assert!(
        out.stdout.contains(&key) && out.stdout.contains("bootstrap (you)"),
        "{out:#?}"
    );
    let v = env
        .run(&["--json", "credentials", "revoke", &key])
        .await
        .expect(0)
        .json();
    assert_eq!(v["enabled"], false);
    let list = env
        .run(&["--json", "credentials", "list"])
        .await
        .expect(0)
        .json();
    let revoked = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["access_key_id"] == key.as_str());
    assert_eq!(revoked.unwrap()["enabled"], false);
    env.run(&["credentials", "revoke", &key, "--delete"])
        .await
        .expect(0);
    let list = env
        .run(&["--json", "credentials", "list"])
        .await
        .expect(0)
        .json();
    assert!(!list.to_string().contains(&key));
    env.run(&["credentials", "revoke", ADMIN_KEY])
        .await
        .expect_error(6, "logged in with");

    // logout forgets the token.
    env.run(&["logout"]).await.expect(0);
    env.run(&["nodes", "list"])
        .await
        .expect_error(3, "not logged in");
}
