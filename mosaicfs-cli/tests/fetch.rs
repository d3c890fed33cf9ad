//! Downloads: resume with Range/If-Range, restart when the file changed.

use crate::common::*;

const FILE_ID: &str = "file::0190c0de5b6f7a3e8c1d2e3f4a5b6c20";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_fetch_resumes_with_a_range_request() {
    let env = Env::start().await;
    env.login().await;
    let content = bytes(700_001);
    env.add_file(FILE_ID, "big.bin", &content).await;
    let etag = env
        .http()
        .head(format!("{}/api/files/{FILE_ID}/content", env.url))
        .bearer_auth(env.token())
        .send()
        .await
        .unwrap()
        .headers()["etag"]
        .to_str()
        .unwrap()
        .to_string();

    // A partial download with the right ETag: only the rest is asked for.
    let out_path = env.work().join("big.bin");
    std::fs::write(env.work().join("big.bin.part"), &content[..300_000]).unwrap();
    std::fs::write(env.work().join("big.bin.part.etag"), &etag).unwrap();
    let out = env
        .run(&["--verbose", "files", "fetch", FILE_ID])
        .await
        .expect(0);
    assert!(out.stderr.contains("[range: bytes=300000-]"), "{out:#?}");
    assert!(out.stderr.contains("206 Partial Content"), "{out:#?}");
    assert!(
        out.stderr.contains("400001 bytes"),
        "only the rest came: {out:#?}"
    );
    assert!(out.stdout.contains("resumed at"), "{out:#?}");
    assert!(std::fs::read(&out_path).unwrap() == content);
    assert!(!env.work().join("big.bin.part").exists());
    assert!(!env.work().join("big.bin.part.etag").exists());

    // A partial download of another version (ETag differs): If-Range makes
    // the server send everything, and the download starts over.
    std::fs::write(env.work().join("again.bin.part"), b"stale bytes").unwrap();
    std::fs::write(
        env.work().join("again.bin.part.etag"),
        "\"another-version\"",
    )
    .unwrap();
    let out = env
        .run(&[
            "--verbose",
            "--json",
            "files",
            "fetch",
            FILE_ID,
            "-o",
            "again.bin",
        ])
        .await
        .expect(0);
    assert!(out.stderr.contains("200 OK"), "{out:#?}");
    assert_eq!(out.json()["resumed_from"], 0);
    assert!(std::fs::read(env.work().join("again.bin")).unwrap() == content);

    // A partial file without an ETag is not trusted: full download.
    std::fs::write(env.work().join("third.bin.part"), &content[..10]).unwrap();
    let out = env
        .run(&["--verbose", "files", "fetch", FILE_ID, "-o", "third.bin"])
        .await
        .expect(0);
    assert!(!out.stderr.contains("range:"), "{out:#?}");
    assert!(std::fs::read(env.work().join("third.bin")).unwrap() == content);

    // Into a directory, under the file's own name.
    std::fs::create_dir(env.work().join("dl")).unwrap();
    env.run(&["-q", "files", "fetch", FILE_ID, "--output", "dl"])
        .await
        .expect(0);
    assert!(std::fs::read(env.work().join("dl/big.bin")).unwrap() == content);
}
