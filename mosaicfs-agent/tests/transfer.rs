//! The transfer endpoint over real HTTP with a real file: a full fetch whose
//! `Digest` trailer matches the bytes, ranges, signature checks, and paths
//! outside the watch paths. A raw hyper client is used because reqwest does
//! not expose trailers.

use crate::common::*;
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::{HeaderMap, Request, StatusCode};
use hyper_util::rt::TokioIo;
use mosaicfs_agent::transfer::{TransferService, serve};
use mosaicfs_common::couch::CouchClient;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use tokio_util::sync::CancellationToken;

const KEY_ID: &str = "MOSAICFS_0123456789ABCDEF";
const SECRET: &str = "transfer-test-secret";

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    trailers: Option<HeaderMap>,
}

type Sender = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

/// A new HTTP/1.1 client connection to `addr`.
async fn connect(addr: SocketAddr) -> Sender {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    sender
}

/// A GET of `path` on a new connection.
async fn get(addr: SocketAddr, path: &str, extra: &[(&str, &str)]) -> Answer {
    send(&mut connect(addr).await, addr, path, extra).await
}

/// A GET of `path` on the connection of `sender`.
async fn send(sender: &mut Sender, addr: SocketAddr, path: &str, extra: &[(&str, &str)]) -> Answer {
    let mut req = Request::get(path).header("host", addr.to_string());
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let resp = sender
        .send_request(req.body(Empty::<Bytes>::new()).unwrap())
        .await
        .unwrap();
    let (parts, body) = resp.into_parts();
    let collected = body.collect().await.unwrap();
    Answer {
        status: parts.status,
        headers: parts.headers,
        trailers: collected.trailers().cloned(),
        body: collected.to_bytes(),
    }
}

/// `(timestamp, authorization)` for a GET of `path`, signed with `secret`.
fn sign(path: &str, key_id: &str, secret: &str) -> (String, String) {
    let key = mosaicfs_common::hmac::derive_signing_key(secret);
    mosaicfs_common::hmac::signed_headers(key_id, &key, "GET", path, "", b"", &chrono::Utc::now())
}

/// A file document for `path` as the crawler would write it.
pub fn file_doc(id: &str, node_id: &str, path: &Path) -> Value {
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

struct Fixture {
    addr: SocketAddr,
    db: CouchClient,
    watch: PathBuf,
    outside: PathBuf,
    content: Vec<u8>,
    /// Range answers sent with sendfile.
    sendfiles: std::sync::Arc<std::sync::atomic::AtomicU64>,
    shutdown: CancellationToken,
    _tmp: tempfile::TempDir,
}

async fn fixture(node_id: &str) -> Fixture {
    fixture_with(node_id, mosaicfs_agent::transfer::CHECKED_TTL).await
}

async fn fixture_with(node_id: &str, checked_ttl: std::time::Duration) -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let watch = tmp.path().join("watch");
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(&watch).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    // Several read chunks, not a multiple of the chunk size.
    let content: Vec<u8> = (0..1_300_007u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(watch.join("big.bin"), &content).unwrap();
    let db = local_server().fresh_db("transfer").await;
    let svc = TransferService::new(db.clone(), node_id, KEY_ID, SECRET, vec![watch.clone()])
        .with_checked_ttl(checked_ttl);
    let sendfiles = svc.sendfile_counter();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    tokio::spawn(serve(listener, svc.app(), shutdown.clone()));
    Fixture {
        addr,
        db,
        watch,
        outside,
        content,
        sendfiles,
        shutdown,
        _tmp: tmp,
    }
}

/// Indexes the fixture's `big.bin` as file `id` of `node`.
async fn index_big(f: &Fixture, node: &str, id: &str) {
    f.db.put(&file_doc(id, node, &f.watch.join("big.bin")))
        .await
        .unwrap();
}

async fn signed_get(f: &Fixture, id: &str, extra: &[(&str, &str)]) -> Answer {
    let path = format!("/api/agent/transfer/{id}");
    let (ts, auth) = sign(&path, KEY_ID, SECRET);
    let mut h: Vec<(&str, &str)> = vec![("x-mosaicfs-timestamp", &ts), ("authorization", &auth)];
    h.extend_from_slice(extra);
    get(f.addr, &path, &h).await
}

fn message(a: &Answer) -> String {
    let v: Value = serde_json::from_slice(&a.body).unwrap();
    v["message"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn full_fetch_carries_a_matching_digest_trailer_and_ranges_are_exact() {
    let node = test_node_id("xfer");
    let f = fixture(&node).await;
    let id = "file::0190c0de5b6f7a3e8c1d2e3f4a5b6c01";
    index_big(&f, &node, id).await;

    let a = signed_get(&f, id, &[("te", "trailers")]).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.headers["trailer"], "digest");
    assert_eq!(a.headers["transfer-encoding"], "chunked");
    assert_eq!(a.body.as_ref(), f.content.as_slice());
    let digest = a.trailers.expect("a Digest trailer")["digest"]
        .to_str()
        .unwrap()
        .to_string();
    let expected = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&f.content));
    assert_eq!(digest, format!("sha-256={expected}"));

    // Without TE: trailers the bytes still arrive, without the trailer.
    let a = signed_get(&f, id, &[]).await;
    assert_eq!(a.body.as_ref(), f.content.as_slice());
    assert!(a.trailers.is_none());

    let n = f.content.len();
    let a = signed_get(
        &f,
        id,
        &[("range", "bytes=1000-300000"), ("te", "trailers")],
    )
    .await;
    assert_eq!(a.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(a.headers["content-range"], format!("bytes 1000-300000/{n}"));
    assert_eq!(a.body.as_ref(), &f.content[1000..=300000]);
    assert!(a.trailers.is_none(), "a range has no trailer");
    let a = signed_get(&f, id, &[("range", "bytes=-5")]).await;
    assert_eq!(a.body.as_ref(), &f.content[n - 5..]);
    let a = signed_get(&f, id, &[("range", &format!("bytes={n}-"))]).await;
    assert_eq!(a.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(a.headers["content-range"], format!("bytes */{n}"));

    // A changed file is stale: 404.
    std::fs::write(f.watch.join("big.bin"), b"new content").unwrap();
    let a = signed_get(&f, id, &[]).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert!(message(&a).contains("stale"), "{}", message(&a));
    f.shutdown.cancel();
}

#[tokio::test]
async fn signature_checks_each_answer_401_naming_the_check() {
    let node = test_node_id("xfer-auth");
    let f = fixture(&node).await;
    let id = "file::0190c0de5b6f7a3e8c1d2e3f4a5b6c02";
    index_big(&f, &node, id).await;
    let path = format!("/api/agent/transfer/{id}");

    let a = get(f.addr, &path, &[]).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(message(&a).contains("missing Authorization"));

    let (ts, auth) = sign(&path, KEY_ID, SECRET);
    let tampered = format!("{}0", &auth[..auth.len() - 1]);
    let tampered = if tampered == auth {
        format!("{}1", &auth[..auth.len() - 1])
    } else {
        tampered
    };
    let a = get(
        f.addr,
        &path,
        &[("x-mosaicfs-timestamp", &ts), ("authorization", &tampered)],
    )
    .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(
        message(&a).contains("signature mismatch"),
        "{}",
        message(&a)
    );

    let (ts2, auth2) = sign(&path, KEY_ID, "another secret");
    let a = get(
        f.addr,
        &path,
        &[("x-mosaicfs-timestamp", &ts2), ("authorization", &auth2)],
    )
    .await;
    assert!(message(&a).contains("signature mismatch"));

    let (ts3, auth3) = sign(&path, "MOSAICFS_FFFFFFFFFFFFFFFF", SECRET);
    let a = get(
        f.addr,
        &path,
        &[("x-mosaicfs-timestamp", &ts3), ("authorization", &auth3)],
    )
    .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(message(&a).contains("not this node's access key"));

    // Signed for another path (replay against another file).
    let (ts4, auth4) = sign("/api/agent/transfer/file::other", KEY_ID, SECRET);
    let a = get(
        f.addr,
        &path,
        &[("x-mosaicfs-timestamp", &ts4), ("authorization", &auth4)],
    )
    .await;
    assert!(message(&a).contains("signature mismatch"));

    let old = chrono::Utc::now() - chrono::Duration::minutes(6);
    let key = mosaicfs_common::hmac::derive_signing_key(SECRET);
    let (ts5, auth5) =
        mosaicfs_common::hmac::signed_headers(KEY_ID, &key, "GET", &path, "", b"", &old);
    let a = get(
        f.addr,
        &path,
        &[("x-mosaicfs-timestamp", &ts5), ("authorization", &auth5)],
    )
    .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(message(&a).contains("away from this node's clock"));
    f.shutdown.cancel();
}

#[tokio::test]
async fn paths_outside_the_watch_paths_are_403_and_foreign_files_404() {
    let node = test_node_id("xfer-403");
    let f = fixture(&node).await;
    std::fs::write(f.outside.join("secret.txt"), b"do not serve").unwrap();
    // A document pointing straight outside.
    let id = "file::0190c0de5b6f7a3e8c1d2e3f4a5b6c03";
    f.db.put(&file_doc(id, &node, &f.outside.join("secret.txt")))
        .await
        .unwrap();
    let a = signed_get(&f, id, &[]).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(message(&a).contains("outside this node's watch paths"));

    // A path inside that escapes through `..` or a symlink.
    let sneaky = f.watch.join("..").join("outside").join("secret.txt");
    let id2 = "file::0190c0de5b6f7a3e8c1d2e3f4a5b6c04";
    f.db.put(&file_doc(id2, &node, &sneaky)).await.unwrap();
    assert_eq!(signed_get(&f, id2, &[]).await.status, StatusCode::FORBIDDEN);
    std::os::unix::fs::symlink(f.outside.join("secret.txt"), f.watch.join("link.txt")).unwrap();
    let id3 = "file::0190c0de5b6f7a3e8c1d2e3f4a5b6c05";
    f.db.put(&file_doc(id3, &node, &f.watch.join("link.txt")))
        .await
        .unwrap();
    assert_eq!(signed_get(&f, id3, &[]).await.status, StatusCode::FORBIDDEN);

    // Another node's file, an unknown id, a deleted file: 404.
    let id4 = "file::0190c0de5b6f7a3e8c1d2e3f4a5b6c06";
    f.db.put(&file_doc(id4, "some-other-node", &f.watch.join("big.bin")))
        .await
        .unwrap();
    let a = signed_get(&f, id4, &[]).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert!(message(&a).contains("owned by node some-other-node"));
    assert_eq!(
        signed_get(&f, "file::0190c0de5b6f7a3e8c1d2e3f4a5b6cff", &[])
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let id5 = "file::0190c0de5b6f7a3e8c1d2e3f4a5b6c07";
    let mut d = file_doc(id5, &node, &f.watch.join("big.bin"));
    d["status"] = json!("deleted");
    f.db.put(&d).await.unwrap();
    assert_eq!(signed_get(&f, id5, &[]).await.status, StatusCode::NOT_FOUND);
    f.shutdown.cancel();
}

/// A transfer token as the control plane issues it, signed with `secret`.
fn token(secret: &str, file_id: &str, owner: &str, exp: i64) -> String {
    let claims = mosaicfs_common::hmac::TransferClaims {
        file_id: file_id.into(),
        owner: owner.into(),
        requester: "node-requester".into(),
        exp,
    };
    mosaicfs_common::hmac::transfer_token(
        &mosaicfs_common::hmac::derive_signing_key(secret),
        &claims,
    )
}

#[tokio::test]
async fn transfer_tokens_fetch_one_file_of_this_node_until_they_expire() {
    let node = test_node_id("xfer-token");
    let f = fixture(&node).await;
    let id = "file::0190c0de5b6f7a3e8c1d2e3f4a5b6c11";
    let other = "file::0190c0de5b6f7a3e8c1d2e3f4a5b6c12";
    for i in [id, other] {
        f.db.put(&file_doc(i, &node, &f.watch.join("big.bin")))
            .await
            .unwrap();
    }
    let path = format!("/api/agent/transfer/{id}");
    let exp = chrono::Utc::now().timestamp() + 300;
    let with = |t: &str| format!("MOSAICFS-TRANSFER-TOKEN {t}");

    let good = token(SECRET, id, &node, exp);
    let a = get(
        f.addr,
        &path,
        &[("authorization", &with(&good)), ("te", "trailers")],
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body.as_ref(), f.content.as_slice());
    assert!(a.trailers.is_some());
    let a = get(
        f.addr,
        &path,
        &[("authorization", &with(&good)), ("range", "bytes=0-9")],
    )
    .await;
    assert_eq!(a.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(a.body.as_ref(), &f.content[..10]);

    let rejected = |a: &Answer, needle: &str| {
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{needle}");
        assert!(message(a).contains(needle), "{needle} in {}", message(a));
    };
    // Valid for another file of this node.
    let a = get(
        f.addr,
        &format!("/api/agent/transfer/{other}"),
        &[("authorization", &with(&good))],
    )
    .await;
    rejected(&a, &format!("is for file {id}"));
    // Expired.
    let old = token(SECRET, id, &node, exp - 600);
    rejected(
        &get(f.addr, &path, &[("authorization", &with(&old))]).await,
        "expired",
    );
    // Tampered: the payload of another file under the original signature.
    let forged_payload = token(SECRET, other, &node, exp)
        .split_once('.')
        .unwrap()
        .0
        .to_string();
    let forged = format!("{forged_payload}.{}", good.split_once('.').unwrap().1);
    rejected(
        &get(f.addr, &path, &[("authorization", &with(&forged))]).await,
        "signature mismatch",
    );
    // Signed with another node's key (for this node and this file).
    let foreign = token("another node's secret", id, &node, exp);
    rejected(
        &get(f.addr, &path, &[("authorization", &with(&foreign))]).await,
        "signature mismatch",
    );
    // Signed with our key but naming another owner.
    let not_ours = token(SECRET, id, "some-other-node", exp);
    rejected(
        &get(f.addr, &path, &[("authorization", &with(&not_ours))]).await,
        "not this node",
    );
    rejected(
        &get(
            f.addr,
            &path,
            &[("authorization", "MOSAICFS-TRANSFER-TOKEN junk")],
        )
        .await,
        "malformed",
    );
    // The HMAC path still works beside it.
    assert_eq!(signed_get(&f, id, &[]).await.status, StatusCode::OK);
    f.shutdown.cancel();
}

/// The document checks of a file are reused for a while (a block-mode
/// reader sends a range request every few milliseconds), but every request
/// still checks the file on disk: a re-crawled file is served at once, and
/// a file deleted from the index is refused once the TTL has run out.
#[tokio::test]
async fn checks_are_reused_briefly_and_a_recrawled_file_is_served_at_once() {
    const TTL: std::time::Duration = std::time::Duration::from_secs(5);
    let node = test_node_id("xfer-reuse");
    let f = fixture_with(&node, TTL).await;
    let id = "file::0190c0de5b6f7a3e8c1d2e3f4a5b6c11";
    let path = f.watch.join("big.bin");
    f.db.put(&file_doc(id, &node, &path)).await.unwrap();
    let a = signed_get(&f, id, &[("range", "bytes=0-99")]).await;
    assert_eq!(a.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(a.body.as_ref(), &f.content[..100]);

    // Changed on disk and re-crawled: the reused check disagrees with the
    // disk, so the document is read again and the new bytes are served.
    let new: Vec<u8> = (0..5000u32).map(|i| (i % 13) as u8).collect();
    std::fs::write(&path, &new).unwrap();
    let mut doc = file_doc(id, &node, &path);
    let old: Value = f.db.get(id).await.unwrap().unwrap();
    doc["_rev"] = old["_rev"].clone();
    f.db.put(&doc).await.unwrap();
    let a = signed_get(&f, id, &[("range", "bytes=0-99")]).await;
    assert_eq!(a.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(a.body.as_ref(), &new[..100]);
    assert_eq!(a.headers["content-range"], "bytes 0-99/5000");

    // Deleted from the index while the file stays: served from the reused
    // check until it expires, then refused.
    let cur: Value = f.db.get(id).await.unwrap().unwrap();
    let mut gone = doc.clone();
    gone["_rev"] = cur["_rev"].clone();
    gone["status"] = json!("deleted");
    f.db.put(&gone).await.unwrap();
    let a = signed_get(&f, id, &[("range", "bytes=0-9")]).await;
    assert_eq!(a.status, StatusCode::PARTIAL_CONTENT, "within the TTL");
    tokio::time::sleep(TTL + std::time::Duration::from_millis(100)).await;
    let a = signed_get(&f, id, &[("range", "bytes=0-9")]).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "after the TTL");
    assert!(message(&a).contains("deleted"), "{}", message(&a));
    f.shutdown.cancel();
}

/// Range answers (sent with sendfile) and every other answer (hyper) share
/// keep-alive connections in any order, pipelined requests included, and a
/// malformed head still gets hyper's 400.
#[tokio::test]
async fn range_and_other_answers_share_keep_alive_connections() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let node = test_node_id("xfer-keepalive");
    let f = fixture(&node).await;
    let id = "file::0190c0de5b6f7a3e8c1d2e3f4a5b6c21";
    index_big(&f, &node, id).await;
    let path = format!("/api/agent/transfer/{id}");
    let n = f.content.len();

    // One hyper client connection: range, full (with trailer), range,
    // unsatisfiable range, unsigned range (401), range.
    let mut sender = connect(f.addr).await;
    let mut ask = async |extra: &[(&str, &str)], signed: bool| {
        let (ts, auth) = sign(&path, KEY_ID, SECRET);
        let mut h = extra.to_vec();
        if signed {
            h.extend([
                ("x-mosaicfs-timestamp", ts.as_str()),
                ("authorization", auth.as_str()),
            ]);
        }
        let a = send(&mut sender, f.addr, &path, &h).await;
        (a.status, a.headers, a.trailers, a.body)
    };
    let (st, h, _, body) = ask(&[("range", "bytes=5-1048580")], true).await;
    assert_eq!(st, StatusCode::PARTIAL_CONTENT);
    assert_eq!(h["content-range"], format!("bytes 5-1048580/{n}"));
    let date = h["date"].to_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc2822(&date.replace("GMT", "+0000")).is_ok(),
        "an HTTP date: {date}"
    );
    assert_eq!(body.as_ref(), &f.content[5..=1048580]);
    let (st, _, trailers, body) = ask(&[("te", "trailers")], true).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(body.as_ref(), f.content.as_slice());
    assert!(trailers.expect("a Digest trailer").contains_key("digest"));
    let (st, _, _, body) = ask(&[("range", "bytes=-7")], true).await;
    assert_eq!(st, StatusCode::PARTIAL_CONTENT);
    assert_eq!(body.as_ref(), &f.content[n - 7..]);
    let (st, h, _, _) = ask(&[("range", &format!("bytes={n}-"))], true).await;
    assert_eq!(st, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(h["content-range"], format!("bytes */{n}"));
    let (st, _, _, _) = ask(&[("range", "bytes=0-9")], false).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let (st, _, _, body) = ask(&[("range", "bytes=100-199")], true).await;
    assert_eq!(st, StatusCode::PARTIAL_CONTENT);
    assert_eq!(body.as_ref(), &f.content[100..200]);

    // Three pipelined range requests, the second unsigned (refused with the
    // router's 401), the third asking to close: answered in order, then the
    // connection ends.
    let (ts, auth) = sign(&path, KEY_ID, SECRET);
    let one = |range: &str, close: bool| {
        format!(
            "GET {path} HTTP/1.1\r\nhost: x\r\nx-mosaicfs-timestamp: {ts}\r\nauthorization: {auth}\r\nrange: bytes={range}\r\n{}\r\n",
            if close { "connection: close\r\n" } else { "" }
        )
    };
    let unsigned = format!("GET {path} HTTP/1.1\r\nhost: x\r\nrange: bytes=5-6\r\n\r\n");
    let mut raw = tokio::net::TcpStream::connect(f.addr).await.unwrap();
    raw.write_all(format!("{}{unsigned}{}", one("0-3", false), one("10-12", true)).as_bytes())
        .await
        .unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(30),
        raw.read_to_end(&mut got),
    )
    .await
    .expect("the server closes after `connection: close`")
    .unwrap();
    let text = String::from_utf8_lossy(&got).to_string();
    assert_eq!(text.matches("HTTP/1.1 206").count(), 2, "{text}");
    let first = text.find("content-range: bytes 0-3/").expect(&text);
    let refused = text.find("HTTP/1.1 401 Unauthorized").expect(&text);
    let third = text.find("content-range: bytes 10-12/").expect(&text);
    assert!(first < refused && refused < third, "{text}");
    assert!(text.contains("missing Authorization header"), "{text}");
    assert!(got.ends_with(&f.content[10..=12]));

    // A malformed head: hyper's 400, no panic, the endpoint keeps serving.
    let mut raw = tokio::net::TcpStream::connect(f.addr).await.unwrap();
    raw.write_all(b"\x00\x01garbage\r\n\r\n").await.unwrap();
    let mut got = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        raw.read_to_end(&mut got),
    )
    .await;
    assert!(
        String::from_utf8_lossy(&got).starts_with("HTTP/1.1 400"),
        "{got:?}"
    );
    let a = signed_get(&f, id, &[("range", "bytes=0-0")]).await;
    assert_eq!(a.body.as_ref(), &f.content[..1]);
    // Satisfiable, authorized ranges went the sendfile way until a request
    // was handed to hyper, which keeps its connection: the first range of
    // the first connection, both pipelined ones and the last one.
    use std::sync::atomic::Ordering;
    assert_eq!(f.sendfiles.load(Ordering::Relaxed), 4);
    f.shutdown.cancel();
}
