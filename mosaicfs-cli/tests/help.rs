//! Help texts and shell completions (no server needed).

async fn run(args: &[&str]) -> crate::common::Out {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_mosaicfs-cli"))
        .args(args)
        .env_remove("MOSAICFS_URL")
        .output()
        .await
        .unwrap();
    crate::common::Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[tokio::test]
async fn completions_generate_for_bash_zsh_and_fish() {
    for shell in ["bash", "zsh", "fish"] {
        let out = run(&["completions", shell]).await.expect(0);
        assert!(out.stdout.contains("mosaicfs-cli"), "{shell}");
        for word in ["vfs", "credentials", "fetch", "json"] {
            assert!(out.stdout.contains(word), "{shell} lacks {word}");
        }
    }
    run(&["completions", "tcsh"]).await.expect(2);
}

#[tokio::test]
async fn help_documents_exit_codes_json_and_examples() {
    let out = run(&["--help"]).await.expect(0);
    for needle in [
        "Exit codes:",
        "7  not available",
        "--json output",
        "XDG_CONFIG_HOME",
        "MOSAICFS_TOKEN",
    ] {
        assert!(out.stdout.contains(needle), "--help lacks {needle:?}");
    }
    for cmd in [
        &["files", "fetch", "--help"][..],
        &["vfs", "edit", "--help"],
        &["login", "--help"],
        &["credentials", "revoke", "--help"],
    ] {
        let out = run(cmd).await.expect(0);
        assert!(out.stdout.contains("Example"), "{cmd:?}");
    }
    run(&["files", "frobnicate"]).await.expect(2);
    run(&[]).await.expect(2);
}
