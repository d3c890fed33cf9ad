//! A transfer whose bytes do not match its `Digest` trailer (or has none) is
//! rejected: `EIO`, an error logged, and nothing left in `files/` or `tmp/`.

use crate::common::*;
use base64::Engine;
use bytes::Bytes;
use http_body_util::StreamBody;
use hyper::body::Frame;
use hyper::{HeaderMap, Response};
use hyper_util::rt::TokioIo;
use mosaicfs_vfs::Errno;
use sha2::{Digest, Sha256};
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A tiny HTTP/1 server answering every request with `body` and, if given,
/// a `digest` trailer. Returns its address and a request counter.
async fn lying_server(
    body: Vec<u8>,
    digest: Option<String>,
) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                break;
            };
            let (body, digest, c) = (body.clone(), digest.clone(), c.clone());
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |_req| {
                    c.fetch_add(1, Ordering::SeqCst);
                    let mut frames: Vec<Result<Frame<Bytes>, Infallible>> = body
                        .chunks(100_000)
                        .map(|ch| Ok(Frame::data(Bytes::copy_from_slice(ch))))
                        .collect();
                    if let Some(d) = &digest {
                        let mut t = HeaderMap::new();
                        t.insert("digest", d.parse().unwrap());
                        frames.push(Ok(Frame::trailers(t)));
                    }
                    let resp = Response::builder()
                        .header("trailer", "digest")
                        .body(StreamBody::new(futures_util::stream::iter(frames)))
                        .unwrap();
                    async move { Ok::<_, Infallible>(resp) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, count)
}

fn digest_of(b: &[u8]) -> String {
    format!(
        "sha-256={}",
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(b))
    )
}

#[tokio::test]
async fn corrupted_or_unverifiable_transfers_are_rejected_and_leave_nothing() {
    let f = Fixture::new(ProxyOpts::default()).await;
    let good = content(1_234_567, 3);
    let doc = f.add_file("precious.pdf", &good).await;
    let mut flipped = good.clone();
    flipped[777_777] ^= 0x40;

    let cases = [
        (
            "right bytes, wrong trailer",
            good.clone(),
            Some(digest_of(&flipped)),
        ),
        (
            "wrong bytes, trailer of the right ones",
            flipped.clone(),
            Some(digest_of(&good)),
        ),
        ("right bytes, no trailer", good.clone(), None),
        (
            "short body, matching trailer",
            good[..1000].to_vec(),
            Some(digest_of(&good[..1000])),
        ),
    ];
    for (what, body, digest) in cases {
        let (addr, count) = lying_server(body, digest).await;
        f.put_node(&f.owner, Some(&format!("http://{addr}"))).await;
        let vfs = f.vfs(f.config(), f.cache_config()).await;
        let err = vfs.read(&doc, 0, 4096).await.unwrap_err();
        assert_eq!(err.errno(), Errno::Io, "{what}: {err}");
        assert_eq!(count.load(Ordering::SeqCst), 1, "{what}: not retried");
        let (files, tmp) = f.cache_files();
        assert!(
            files.is_empty() && tmp.is_empty(),
            "{what}: {files:?} {tmp:?}"
        );
        assert!(vfs.cache().entries().await.unwrap().is_empty(), "{what}");
    }
}
