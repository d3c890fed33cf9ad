//! Shared fixtures: a real transfer endpoint (the agent's, in-process) over
//! a real CouchDB database, a counting and killable TCP proxy in front of it,
//! and a [`Vfs`] of another node reading through it.

use mosaicfs_agent::transfer::{TransferService, serve};
use mosaicfs_common::couch::CouchClient;
use mosaicfs_common::documents::FileDoc;
use mosaicfs_common::retry::RetryPolicy;
use mosaicfs_vfs::cache::{Cache, CacheConfig};
use mosaicfs_vfs::fetch::CredentialSigner;
use mosaicfs_vfs::{Vfs, VfsConfig};
use serde_json::json;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

pub const KEY_ID: &str = "MOSAICFS_0123456789ABCDEF";
pub const SECRET: &str = "vfs-test-secret";

/// A request seen by the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub path: String,
    /// The `Range` header value, if any.
    pub range: Option<String>,
}

/// How the proxy misbehaves.
#[derive(Debug, Clone, Default)]
pub struct ProxyOpts {
    /// Wait this long before forwarding each request.
    pub delay: Duration,
    /// After forwarding this many response bytes, the proxy dies: every
    /// connection is cut and the port stops accepting (a peer that goes
    /// away mid-transfer).
    pub die_after_bytes: Option<u64>,
}

/// A TCP proxy that records each request line and `Range` header.
pub struct Proxy {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    pub kill: CancellationToken,
}

impl Proxy {
    pub async fn start(upstream: SocketAddr, opts: ProxyOpts) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let kill = CancellationToken::new();
        let (s, k) = (seen.clone(), kill.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = k.cancelled() => break,
                    accepted = listener.accept() => {
                        let Ok((client, _)) = accepted else { break };
                        tokio::spawn(relay(client, upstream, s.clone(), opts.clone(), k.clone()));
                    }
                }
            }
        });
        Proxy { addr, seen, kill }
    }

    /// Requests seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

async fn relay(
    mut client: TcpStream,
    upstream: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    opts: ProxyOpts,
    kill: CancellationToken,
) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match client.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let path = text
        .lines()
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .unwrap_or_default()
        .to_string();
    let range = text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("range")
            .then(|| v.trim().to_string())
    });
    seen.lock().unwrap().push(Seen { path, range });
    tokio::time::sleep(opts.delay).await;
    let Ok(mut up) = TcpStream::connect(upstream).await else {
        return;
    };
    if up.write_all(&head).await.is_err() {
        return;
    }
    let (mut cr, mut cw) = client.into_split();
    let (mut ur, mut uw) = up.into_split();
    let k = kill.clone();
    let to_upstream = async move {
        let _ = tokio::io::copy(&mut cr, &mut uw).await;
    };
    let to_client = async move {
        let mut sent = 0u64;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match ur.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if cw.write_all(&buf[..n]).await.is_err() {
                break;
            }
            sent += n as u64;
            if opts.die_after_bytes.is_some_and(|limit| sent >= limit) {
                k.cancel();
                break;
            }
        }
    };
    tokio::select! {
        _ = kill.cancelled() => {}
        _ = async { tokio::join!(to_upstream, to_client) } => {}
    }
}

/// An owner node with a transfer endpoint behind a proxy, and a reader node.
pub struct Fixture {
    pub db: CouchClient,
    pub owner: String,
    pub reader: String,
    pub watch: PathBuf,
    pub cache_dir: PathBuf,
    pub proxy: Proxy,
    /// The transfer endpoint itself, without the proxy.
    pub upstream: SocketAddr,
    pub shutdown: CancellationToken,
    pub tmp: tempfile::TempDir,
}

static N: AtomicU32 = AtomicU32::new(0);

impl Fixture {
    pub async fn new(opts: ProxyOpts) -> Fixture {
        let n = N.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let owner = format!("node-owner-{pid}-{n}");
        let reader = format!("node-reader-{pid}-{n}");
        let tmp = tempfile::tempdir().unwrap();
        let watch = tmp.path().join("watch");
        let cache_dir = tmp.path().join("cache");
        std::fs::create_dir_all(&watch).unwrap();
        let db = mosaicfs_testsupport::server("a").fresh_db("vfs").await;
        let svc = TransferService::new(db.clone(), &owner, KEY_ID, SECRET, vec![watch.clone()]);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        tokio::spawn(serve(listener, svc.app(), shutdown.clone()));
        let proxy = Proxy::start(upstream, opts).await;
        let f = Fixture {
            db,
            owner,
            reader,
            watch,
            cache_dir,
            proxy,
            upstream,
            shutdown,
            tmp,
        };
        f.put_node(&f.owner.clone(), Some(&format!("http://{}", f.proxy.addr)))
            .await;
        f.put_node(&f.reader.clone(), None).await;
        f
    }

    pub async fn put_node(&self, node_id: &str, endpoint: Option<&str>) {
        let mut doc = json!({
            "_id": format!("node::{node_id}"), "type": "node", "node_id": node_id,
            "friendly_name": node_id, "platform": "linux", "status": "online",
            "last_heartbeat": "2026-01-01T00:00:00Z", "access_key_id": KEY_ID,
        });
        if let Some(e) = endpoint {
            doc["transfer"] = json!({"endpoint": e, "protocol": "http"});
        }
        let existing: Option<serde_json::Value> =
            self.db.get(&format!("node::{node_id}")).await.unwrap();
        if let Some(old) = existing {
            doc["_rev"] = old["_rev"].clone();
        }
        self.db.put(&doc).await.unwrap();
    }

    pub async fn put_node_status(&self, node_id: &str, status: &str) {
        let mut doc: serde_json::Value = self
            .db
            .get(&format!("node::{node_id}"))
            .await
            .unwrap()
            .unwrap();
        doc["status"] = json!(status);
        self.db.put(&doc).await.unwrap();
    }

    /// Writes `content` to `name` in the owner's watch path and records its
    /// file document as the crawler would.
    pub async fn add_file(&self, name: &str, content: &[u8]) -> FileDoc {
        let path = self.watch.join(name);
        std::fs::write(&path, content).unwrap();
        let id = format!(
            "file::{:032x}",
            (u128::from(std::process::id()) << 64) | u128::from(N.fetch_add(1, Ordering::SeqCst))
        );
        let doc = file_doc(&id, &self.owner, &path);
        self.db.put(&doc).await.unwrap();
        serde_json::from_value(doc).unwrap()
    }

    pub fn config(&self) -> VfsConfig {
        let mut cfg = VfsConfig::new(&self.reader, Vec::new());
        cfg.transfer.retry = RetryPolicy::fast(Some(5));
        cfg.transfer.connect_timeout = Duration::from_secs(2);
        cfg.transfer.read_timeout = Duration::from_secs(2);
        cfg
    }

    pub fn cache_config(&self) -> CacheConfig {
        let mut c = CacheConfig::new(&self.cache_dir);
        c.min_free_bytes = 0;
        c
    }

    pub async fn vfs(&self, cfg: VfsConfig, cache: CacheConfig) -> Vfs {
        let cache = Cache::open(cache).await.unwrap();
        Vfs::new(
            cfg,
            cache,
            Arc::new(self.db.clone()),
            Arc::new(CredentialSigner::from_secret(KEY_ID, SECRET)),
        )
    }

    /// Names of the files under `files/` and `tmp/` of the cache.
    pub fn cache_files(&self) -> (Vec<PathBuf>, Vec<PathBuf>) {
        (
            walk(&self.cache_dir.join("files")),
            walk(&self.cache_dir.join("tmp")),
        )
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.shutdown.cancel();
        self.proxy.kill.cancel();
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

/// A file document for `path` as the crawler would write it.
pub fn file_doc(id: &str, node_id: &str, path: &Path) -> serde_json::Value {
    let md = std::fs::metadata(path).unwrap();
    let mtime = mosaicfs_common::time::from_system_time(md.modified().unwrap());
    json!({
        "_id": id, "type": "file", "inode": 4242,
        "name": path.file_name().unwrap().to_string_lossy(),
        "source": {"node_id": node_id, "export_path": path.to_string_lossy(),
                   "export_parent": path.parent().unwrap().to_string_lossy()},
        "size": md.len(), "mtime": mosaicfs_common::time::format(&mtime), "status": "active"
    })
}

/// Deterministic pseudo-random content.
pub fn content(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
        | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Reads the whole file through `vfs` in `chunk`-sized reads.
pub async fn read_all(vfs: &Vfs, file: &FileDoc, chunk: usize) -> Vec<u8> {
    let h = vfs.open(file).await.unwrap();
    let mut out = Vec::new();
    loop {
        let b = vfs.read_handle(&h, out.len() as u64, chunk).await.unwrap();
        if b.is_empty() {
            break;
        }
        out.extend_from_slice(&b);
    }
    out
}

/// Relative paths and contents of every regular file below `root`, sorted
/// (every directory is listed and every file read on the way).
pub fn tree(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                let rel = e.path().strip_prefix(root).unwrap().to_path_buf();
                out.push((rel, std::fs::read(e.path()).unwrap()));
            }
        }
    }
    out.sort();
    out
}
