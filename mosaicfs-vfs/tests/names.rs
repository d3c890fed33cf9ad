//! Names are bytes (issue #24), end to end with real components: a generated
//! tree of awkward names (not UTF-8, two that differ only in an invalid
//! byte, two directories likewise, newline, tab, backslash, a leading dash,
//! 255-byte names and a path of 4,095 bytes, Linux's `PATH_MAX` with its
//! NUL) is crawled by the agent's crawler into a real CouchDB-protocol
//! server, mounted with FUSE and listed by a real control plane. The mount
//! must reproduce the tree exactly (`find -print0 | sort -z`, the SHA-256 of
//! every file, `cp -a` out of it compared with `diff -r` and by name bytes),
//! and the API's exact-name fields must resolve back to the same documents.

use crate::fuse::{Mount, crawl};
use mosaicfs_common::names;
use mosaicfs_server::config::ServerConfig;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Command;
use tokio_util::sync::CancellationToken;

const ADMIN_KEY: &str = "MOSAICFS_00000000000000AE";
const ADMIN_SECRET: &str = "bootstrap-secret-for-name-tests";
/// The longest path a system call takes (`PATH_MAX` is 4,096 with the NUL).
const LONGEST_PATH: usize = 4095;

/// Writes the tree below `root`; `longest_root` is the longest of the roots
/// the tree will appear under (source, mount, copy), so the deepest file's
/// path is exactly [`LONGEST_PATH`] bytes there. Returns the number of files.
fn write_tree(root: &Path, longest_root: usize) -> usize {
    let files: Vec<(Vec<u8>, Vec<u8>)> = vec![
        // The issue's case: Latin-1 names that differ only in one byte.
        (b"\xfa.dat".to_vec(), b"one".to_vec()),
        (b"\xfb.dat".to_vec(), b"two".to_vec()),
        // Two directories whose names differ only in an invalid byte.
        (b"\xfa/in".to_vec(), b"in fa".to_vec()),
        (b"\xfb/in".to_vec(), b"in fb".to_vec()),
        (
            b"\xe9t\xe9/r\xe9sum\xe9.txt".to_vec(),
            b"latin-1 dir".to_vec(),
        ),
        ("café/thé.txt".as_bytes().to_vec(), b"utf-8".to_vec()),
        (b"new\nline".to_vec(), b"newline".to_vec()),
        (b"tab\there".to_vec(), b"tab".to_vec()),
        (b"back\\slash".to_vec(), b"backslash".to_vec()),
        (b"-leading-dash".to_vec(), b"dash".to_vec()),
        (vec![b'n'; 255], b"255 bytes".to_vec()),
        (
            [&b"\xff"[..], &[b'x'; 254]].concat(),
            b"255 odd bytes".to_vec(),
        ),
    ];
    let count = files.len() + 1;
    for (rel, content) in &files {
        let p = root.join(OsStr::from_bytes(rel));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, content).unwrap();
    }
    // The deepest file: components of up to 255 bytes (one not UTF-8)
    // until the path under the longest root is LONGEST_PATH bytes.
    let budget = LONGEST_PATH - longest_root - 1;
    let mut rel: Vec<u8> = Vec::new();
    let mut i = 0u8;
    while budget - rel.len() > 256 {
        let len = (budget - rel.len() - 1).min(200);
        let mut c = vec![b'a' + i % 26; len];
        c[0] = if i == 3 { 0xfe } else { b'd' };
        rel.extend_from_slice(&c);
        rel.push(b'/');
        i += 1;
    }
    rel.extend(std::iter::repeat_n(b'f', budget - rel.len()));
    assert_eq!(longest_root + 1 + rel.len(), LONGEST_PATH);
    let p = root.join(OsStr::from_bytes(&rel));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, b"deepest").unwrap();
    count
}

/// `find . -print0 | sort -z` in `dir`, as bytes.
fn find_sorted(dir: &Path) -> Vec<u8> {
    let out = Command::new("sh")
        .arg("-c")
        .arg("find . -print0 | LC_ALL=C sort -z")
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "find in {}: {:?}", dir.display(), out);
    out.stdout
}

/// Relative path bytes → SHA-256 of every regular file below `dir`.
fn digests(dir: &Path) -> BTreeMap<Vec<u8>, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<Vec<u8>, String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p
                    .strip_prefix(root)
                    .unwrap()
                    .as_os_str()
                    .as_bytes()
                    .to_vec();
                out.insert(rel, hex::encode(Sha256::digest(std::fs::read(&p).unwrap())));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn run(cmd: &str, args: &[&OsStr]) -> std::process::Output {
    let out = Command::new(cmd).args(args).output().unwrap();
    assert!(out.status.success(), "{cmd} {args:?}: {out:?}");
    out
}

/// A control plane in-process on `db`'s database, and an HTTPS client.
struct Api {
    url: String,
    http: reqwest::Client,
    token: String,
    shutdown: CancellationToken,
}

impl Drop for Api {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Api {
    async fn start(db_name: &str, data_dir: &Path) -> Api {
        let couch = mosaicfs_testsupport::server("a");
        let config = ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: data_dir.to_path_buf(),
            couchdb_url: couch.url.clone(),
            couchdb_database: db_name.to_string(),
            couchdb_user: Some(couch.username.clone()),
            couchdb_password: Some(couch.password.clone()),
            node_id: None,
            max_body_bytes: 1024 * 1024,
            bootstrap_credential: Some(format!("{ADMIN_KEY}:{ADMIN_SECRET}")),
            ..mosaicfs_server::config::ServerConfig::defaults()
        };
        let listener = tokio::net::TcpListener::bind(config.listen).await.unwrap();
        let shutdown = CancellationToken::new();
        let running = mosaicfs_server::start(config, listener, shutdown.clone())
            .await
            .unwrap();
        let pem = std::fs::read(&running.cert_path).unwrap();
        let http = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
            .tls_built_in_root_certs(false)
            .build()
            .unwrap();
        let url = format!("https://127.0.0.1:{}", running.addr.port());
        let login: Value = http
            .post(format!("{url}/api/auth/login"))
            .json(&json!({"access_key_id": ADMIN_KEY, "secret_key": ADMIN_SECRET}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Api {
            url,
            http,
            token: login["token"].as_str().unwrap().to_string(),
            shutdown,
        }
    }

    async fn get(&self, path_and_query: &[(&str, &str)], route: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{route}", self.url))
            .query(path_and_query)
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn create_dir(&self, body: Value) {
        let r = self
            .http
            .post(format!("{}/api/vfs/directories", self.url))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        assert!(status.is_success(), "{status}: {}", r.text().await.unwrap());
    }
}

/// The entry of a JSON listing whose exact name is `name`.
fn entry_named<'a>(listing: &'a Value, name: &[u8]) -> &'a Value {
    listing["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| {
            let exact = match e["name_bytes"].as_str() {
                Some(b) => names::decode(b).unwrap(),
                None => e["name"].as_str().unwrap().as_bytes().to_vec(),
            };
            exact == name
        })
        .unwrap_or_else(|| panic!("no entry {} in {listing}", names::escaped(name)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tree_of_awkward_names_round_trips_through_crawl_index_mount_and_api() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path();
    // Three roots of one length, so the deepest path is LONGEST_PATH bytes
    // under each: the source, the mount's view of it, and the copy.
    let src = base.join("tree");
    let mount_dir = base.join("m");
    let copy = base.join("cp").join("t");
    let in_mount_len = mount_dir.join("mnt/t").as_os_str().len();
    let longest = [src.as_os_str().len(), in_mount_len, copy.as_os_str().len()]
        .into_iter()
        .max()
        .unwrap();
    let files = write_tree(&src, longest);

    let db = mosaicfs_testsupport::server("a").fresh_db("names").await;
    let api = Api::start(db.db_name(), &base.join("server")).await;
    let node = format!("node-names-{}", std::process::id());
    crawl(&db, &node, &src).await;
    let source = json!({"node_id": node, "export_path": src.to_str().unwrap()});
    // The default policy (`last_write_wins`) hides a file on a collision:
    // nothing may collide here.
    api.create_dir(json!({"virtual_path": "/t",
        "mounts": [{"source": source, "strategy": "prefix_replace"}]}))
        .await;
    // Flattened, the two `in` files do collide: counted and logged.
    api.create_dir(json!({"virtual_path": "/f",
        "mounts": [{"source": source, "strategy": "flatten"}]}))
        .await;

    let m = Mount::start(&db, &node, vec![src.clone()], &mount_dir, true).await;
    let seen = m.path("/t");
    assert_eq!(seen.as_os_str().len(), in_mount_len);
    let (src2, seen2, copy2) = (src.clone(), seen.clone(), copy.clone());
    let flat = m.path("/f");
    let (listing_src, listing_mnt, flat_names) = tokio::task::spawn_blocking(move || {
        let (src, seen, copy) = (src2, seen2, copy2);
        // 1. The same names, byte for byte.
        let want = find_sorted(&src);
        let got = find_sorted(&seen);
        assert!(
            got == want,
            "find -print0 | sort -z differs:\n source: {}\n mount:  {}",
            want.escape_ascii(),
            got.escape_ascii()
        );
        // 2. The same bytes in every file.
        let (dw, dg) = (digests(&src), digests(&seen));
        assert_eq!(dw.len(), files);
        assert_eq!(dg, dw, "sha256 of every file");
        // 3. `cp -a` out of the mount reproduces the tree.
        std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
        run(
            "cp",
            &[OsStr::new("-a"), seen.as_os_str(), copy.as_os_str()],
        );
        run(
            "diff",
            &[OsStr::new("-r"), src.as_os_str(), copy.as_os_str()],
        );
        assert!(find_sorted(&copy) == want, "names of the copy");
        assert_eq!(digests(&copy), dw, "sha256 of the copy");
        // The issue's two files, as `ls | od -c` and `cat` see them.
        let ls = |d: &Path| {
            let out = Command::new("sh")
                .arg("-c")
                .arg("LC_ALL=C ls -d ?.dat | od -c")
                .current_dir(d)
                .output()
                .unwrap();
            String::from_utf8(out.stdout).unwrap()
        };
        for (name, content) in [(&b"\xfa.dat"[..], &b"one"[..]), (b"\xfb.dat", b"two")] {
            let p = seen.join(OsStr::from_bytes(name));
            assert_eq!(std::fs::read(&p).unwrap(), content, "{}", p.display());
        }
        let flat: Vec<Vec<u8>> = std::fs::read_dir(flat)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_encoded_bytes())
            .collect();
        (ls(&src), ls(&seen), flat)
    })
    .await
    .unwrap();
    println!("source: ls -d ?.dat | od -c\n{listing_src}");
    println!("mount:  ls -d ?.dat | od -c\n{listing_mnt}");
    assert_eq!(listing_mnt, listing_src);
    // Flattened, `\xfa/in` and `\xfb/in` collide under `last_write_wins`:
    // one is shown, and the collision is counted (the readdir service also
    // logs it at WARN with both source paths; this binary installs no
    // subscriber, so the line is not in its output).
    assert!(
        flat_names.contains(&b"\xfa.dat".to_vec()) && flat_names.contains(&b"\xfb.dat".to_vec())
    );
    assert_eq!(
        flat_names.iter().filter(|n| n.as_slice() == b"in").count(),
        1
    );
    assert!(
        m.core.name_collisions() >= 1,
        "the flatten collision is counted: {}",
        m.core.name_collisions()
    );

    // 4. The API: lossy `name` plus exact `name_bytes`, which resolve back.
    let (status, top) = api.get(&[("path", "/t")], "/api/vfs").await;
    assert_eq!(status, 200, "{top}");
    for (name, which) in [(&b"\xfa.dat"[..], "one"), (b"\xfb.dat", "two")] {
        let e = entry_named(&top, name);
        assert_eq!(e["name"], names::lossy(name).as_ref());
        let exact_path = names::encode(&[src.as_os_str().as_bytes(), b"/", name].concat());
        let (status, doc) = api
            .get(
                &[("node_id", &node), ("path_bytes", &exact_path)],
                "/api/files/by-path",
            )
            .await;
        assert_eq!(status, 200, "{doc}");
        assert_eq!(
            doc["_id"], e["file_id"],
            "{which}: by-path finds the listed file"
        );
        assert_eq!(
            doc["source"]["export_path_bytes"].as_str(),
            Some(exact_path.as_str())
        );
    }
    // The lossy text is not a wildcard: it names neither file.
    let lossy_path = format!("{}/\u{FFFD}.dat", src.display());
    let (status, _) = api
        .get(
            &[("node_id", &node), ("path", &lossy_path)],
            "/api/files/by-path",
        )
        .await;
    assert_eq!(status, 404);
    // A synthesized directory with an exact name lists through `path_bytes`.
    for (dir, content) in [(&b"\xfa"[..], "in fa"), (b"\xfb", "in fb")] {
        let d = entry_named(&top, dir);
        let vpath = d["virtual_path_bytes"].as_str().unwrap();
        assert_eq!(names::decode(vpath).unwrap(), [&b"/t/"[..], dir].concat());
        let (status, sub) = api.get(&[("path_bytes", vpath)], "/api/vfs").await;
        assert_eq!(status, 200, "{sub}");
        let inner = entry_named(&sub, b"in");
        let file_id = inner["file_id"].as_str().unwrap();
        let doc: Value = db.get_value(file_id).await.unwrap().unwrap();
        let on_disk = names::decode(doc["source"]["export_path_bytes"].as_str().unwrap()).unwrap();
        assert_eq!(
            std::fs::read(OsStr::from_bytes(&on_disk)).unwrap(),
            content.as_bytes()
        );
    }
    println!(
        "round trip: {files} files, find -print0 | sort -z, sha256, cp -a + diff -r equal; \
         API exact names resolve; flatten collisions counted: {}",
        m.core.name_collisions()
    );
    m.unmount().await;
    // `cp -a` kept the mount's read-only modes.
    run(
        "chmod",
        &[OsStr::new("-R"), OsStr::new("u+w"), copy.as_os_str()],
    );
}
