//! One exit code per error class, one line on stderr, never a panic.

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_error_class_has_its_exit_code() {
    let env = Env::start().await;

    // Nothing configured: authentication class, pointing at login.
    env.run(&["nodes", "list"]).await.expect_error(3, "login");

    // Usage: no secret and no terminal to ask on.
    env.run(&["login", &env.url, "--access-key-id", ADMIN_KEY, "--yes"])
        .await
        .expect_error(2, "MOSAICFS_SECRET_KEY");
    // Usage: no terminal to confirm the certificate on.
    env.run_with(
        &["login", &env.url, "--access-key-id", ADMIN_KEY],
        &[("MOSAICFS_SECRET_KEY", ADMIN_SECRET)],
    )
    .await
    .expect_error(2, "--yes");

    // Wrong URL: nothing listens there.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    env.run_with(
        &["login", &format!("https://127.0.0.1:{closed}"), "--yes"],
        &[("MOSAICFS_SECRET_KEY", ADMIN_SECRET)],
    )
    .await
    .expect_error(5, "cannot connect");
    env.run(&["login", "ftp://x"])
        .await
        .expect_error(2, "not a server URL");

    // Bad secret: authentication, and nothing is written.
    env.run(&[
        "login",
        &env.url,
        "--tls-fingerprint",
        &env.fingerprint,
        "--access-key-id",
        ADMIN_KEY,
        "--secret-key",
        "wrong-secret-123",
    ])
    .await
    .expect_error(3, "login refused");
    assert!(!env.config_file().exists());

    // Trust on first use with --yes; then the pinned certificate is used.
    let out = env
        .run_with(
            &["login", &env.url, "--yes"],
            &[
                ("MOSAICFS_ACCESS_KEY_ID", ADMIN_KEY),
                ("MOSAICFS_SECRET_KEY", ADMIN_SECRET),
            ],
        )
        .await
        .expect(0);
    assert!(
        out.stderr.contains(&env.fingerprint),
        "the fingerprint is shown: {out:#?}"
    );

    // Not found.
    env.run(&["files", "stat", "file::00000000000000000000000000000000"])
        .await
        .expect_error(4, "no file");
    env.run(&["files", "fetch", "file::00000000000000000000000000000000"])
        .await
        .expect_error(4, "no file");
    env.run(&["nodes", "status", "no-such-node"])
        .await
        .expect(4);
    env.run(&["vfs", "show", "/nothing/here"])
        .await
        .expect_error(4, "no virtual directory");

    // Invalid virtual paths: validation class.
    env.run(&["vfs", "mkdir", "/federation/x"])
        .await
        .expect_error(6, "reserved");
    env.run(&["vfs", "show", "/a//b"])
        .await
        .expect_error(6, "empty segment");
    env.run(&["vfs", "mkdir", "/no/parent"])
        .await
        .expect_error(6, "parent");
    env.run(&["files", "search", "[abc"])
        .await
        .expect_error(6, "`[`");

    // A token the server refuses.
    env.run(&["--token", "not-a-jwt", "nodes", "list"])
        .await
        .expect_error(3, "refused the session");

    // A certificate other than the pinned one.
    let other = "00:".repeat(31) + "00";
    env.run(&["--tls-fingerprint", &other, "nodes", "list"])
        .await
        .expect_error(5, "not the pinned");

    // --insecure works and warns every time.
    let out = env.run(&["--insecure", "nodes", "list"]).await.expect(0);
    assert!(out.stderr.contains("WARNING: --insecure"), "{out:#?}");

    // The pin and token belong to the configured server only.
    env.run(&["--url", "https://127.0.0.1:1", "nodes", "list"])
        .await
        .expect_error(3, "not logged in to https://127.0.0.1:1");

    // An expired session: authentication, telling to log in again.
    let text = std::fs::read_to_string(env.config_file()).unwrap();
    let mut t: toml::Table = toml::from_str(&text).unwrap();
    t.insert("token_expires_at".into(), "2020-01-01T00:00:00Z".into());
    std::fs::write(env.config_file(), toml::to_string(&t).unwrap()).unwrap();
    env.run(&["nodes", "list"]).await.expect_error(3, "expired");
    // MOSAICFS_TOKEN still works.
    let token = t["token"].as_str().unwrap().to_string();
    env.run_with(&["nodes", "list"], &[("MOSAICFS_TOKEN", &token)])
        .await
        .expect(0);

    // A broken configuration file is named.
    std::fs::write(env.config_file(), "url = [").unwrap();
    env.run(&["nodes", "list"])
        .await
        .expect_error(2, "cli.toml");
}
