//! The transfer endpoint's connections. A single-range GET of a file — what
//! block-mode readers send, one every few milliseconds — is answered here:
//! the head is parsed with `httparse`, the same checks run as for every
//! request ([`super::authorize_and_open`]), and the body goes from the page
//! cache to the socket with `sendfile(2)`, never through our memory (reading
//! into a buffer and writing it out was three quarters of the owner's CPU
//! time during a Tier 4 read).
//!
//! A failed check is answered here with the same error answer the router
//! gives. Anything else — no range or an unsatisfiable one, a query, a
//! percent-encoded id, a request body, a malformed or oversized head — is
//! handed, with the bytes already read, to hyper and the axum router, which
//! answer it exactly as before (and keep the connection from then on).
//! Keep-alive and pipelined requests work on both paths.

use super::{TransferService, authorize_and_open};
use axum::Router;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Uri, header};
use bytes::{Buf, Bytes, BytesMut};
use hyper_util::rt::TokioIo;
use mosaicfs_common::range::{RangeRequest, parse_range};
use std::io::Write;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// Largest request head handled here (larger ones go to hyper, which
/// refuses them).
const MAX_HEAD: usize = 16 << 10;
/// Most header lines handled here.
const MAX_HEADERS: usize = 64;
/// A connection idle this long between requests is closed; a blocked
/// client stalls a send at most this long.
const IDLE: Duration = Duration::from_secs(60);
/// Largest single `sendfile` call.
const SEND_CHUNK: u64 = 64 << 20;
/// The route's prefix: [`super::TRANSFER_PATH`] without its `{file_id}`
/// (a test keeps the two together).
const PREFIX: &str = "/api/agent/transfer/";

/// What the endpoint serves: the service (checks) and its router (every
/// request the fast path does not take).
pub struct TransferApp {
    pub(super) svc: Arc<TransferService>,
    pub(super) router: Router,
}

/// One request head, owned.
struct Head {
    /// Bytes of the head in the buffer.
    len: usize,
    method: String,
    path: String,
    minor_version: u8,
    headers: HeaderMap,
}

enum Parsed {
    Complete(Head),
    Partial,
    /// Malformed or beyond our limits: hyper answers.
    Other,
}

fn parse(buf: &[u8]) -> Parsed {
    let mut lines = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut lines);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => {
            let mut headers = HeaderMap::with_capacity(req.headers.len());
            for h in req.headers.iter() {
                let (Ok(name), Ok(value)) = (
                    HeaderName::from_bytes(h.name.as_bytes()),
                    HeaderValue::from_bytes(h.value),
                ) else {
                    return Parsed::Other;
                };
                headers.append(name, value);
            }
            Parsed::Complete(Head {
                len,
                method: req.method.unwrap_or_default().to_string(),
                path: req.path.unwrap_or_default().to_string(),
                minor_version: req.version.unwrap_or(0),
                headers,
            })
        }
        Ok(httparse::Status::Partial) => Parsed::Partial,
        Err(_) => Parsed::Other,
    }
}

impl Head {
    /// The file id when this request is ours to answer: an HTTP/1.1 GET of
    /// the transfer route with a plain id, a `Range`, and no body.
    fn fast_file_id(&self) -> Option<&str> {
        let id = self.path.strip_prefix(PREFIX)?;
        let plain = !id.is_empty() && !id.contains(['/', '?', '%', '#']);
        let h = &self.headers;
        let no_body = h
            .get(header::CONTENT_LENGTH)
            .is_none_or(|v| v.as_bytes() == b"0")
            && !h.contains_key(header::TRANSFER_ENCODING)
            && !h.contains_key(header::EXPECT);
        (self.method == "GET"
            && self.minor_version == 1
            && plain
            && no_body
            && h.contains_key(header::RANGE))
        .then_some(id)
    }

    /// Whether the client asked to close after this answer.
    fn wants_close(&self) -> bool {
        self.headers.get_all(header::CONNECTION).iter().any(|v| {
            v.to_str()
                .is_ok_and(|s| s.to_ascii_lowercase().contains("close"))
        })
    }
}

/// Serves one accepted connection until it closes, idles out, or
/// `shutdown` (between requests; a send in progress finishes).
pub(super) async fn connection(
    mut stream: TcpStream,
    app: Arc<TransferApp>,
    shutdown: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    let mut buf = BytesMut::with_capacity(4096);
    loop {
        let head = loop {
            match parse(&buf) {
                Parsed::Complete(h) => break Some(h),
                Parsed::Partial if buf.len() < MAX_HEAD => {}
                Parsed::Partial | Parsed::Other => break None,
            }
            let read = tokio::select! {
                _ = shutdown.cancelled() => return,
                r = tokio::time::timeout(IDLE, stream.read_buf(&mut buf)) => r,
            };
            match read {
                Ok(Ok(n)) if n > 0 => {}
                // Closed, failed or idle: nothing to answer.
                _ => return,
            }
        };
        let Some(head) = head else {
            return handoff(stream, buf, &app, shutdown).await;
        };
        match answer(stream, &head, &app.svc).await {
            Fast::Sent(s) => {
                buf.advance(head.len);
                if head.wants_close() {
                    return;
                }
                stream = s;
            }
            Fast::NotHere(s) => return handoff(s, buf, &app, shutdown).await,
            Fast::Cut => return,
        }
    }
}

enum Fast {
    /// Answered; the connection can take the next request.
    Sent(TcpStream),
    /// Not for the fast path: hyper answers this request.
    NotHere(TcpStream),
    /// The connection broke (or the file shrank) mid-answer.
    Cut,
}

async fn answer(stream: TcpStream, head: &Head, svc: &TransferService) -> Fast {
    let Some(file_id) = head.fast_file_id() else {
        return Fast::NotHere(stream);
    };
    let Ok(uri) = head.path.parse::<Uri>() else {
        return Fast::NotHere(stream);
    };
    // A failed check is answered here with the router's own error answer
    // (running it again there would log the refusal twice).
    let (doc, file) = match authorize_and_open(svc, &uri, &head.headers, file_id).await {
        Ok(x) => x,
        Err(refusal) => {
            let mut stream = stream;
            return match write_response(&mut stream, refusal, head.wants_close()).await {
                Ok(()) => Fast::Sent(stream),
                Err(_) => Fast::Cut,
            };
        }
    };
    let size = doc.size;
    let range = head
        .headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok());
    let Some(RangeRequest::Partial { start, end }) = range.map(|r| parse_range(r, size)) else {
        return Fast::NotHere(stream);
    };
    let close = head.wants_close();
    let Ok(sock) = stream.into_std() else {
        return Fast::Cut;
    };
    let sent = tokio::task::spawn_blocking(move || {
        send_range(&sock, &file, start, end, size, close).map(|()| sock)
    })
    .await;
    match sent {
        Ok(Ok(sock)) => {
            svc.sent_with_sendfile.fetch_add(1, Ordering::Relaxed);
            match sock
                .set_nonblocking(true)
                .and_then(|()| TcpStream::from_std(sock))
            {
                Ok(s) => Fast::Sent(s),
                Err(_) => Fast::Cut,
            }
        }
        Ok(Err(e)) => {
            tracing::debug!(operation = "transfer", file_id = %doc.id, error = %e,
                "range answer cut off");
            Fast::Cut
        }
        Err(_) => Fast::Cut,
    }
}

/// Now as an HTTP date. RFC 9110 §6.6.1: an origin server with a clock
/// sends `Date`.
fn http_date() -> impl std::fmt::Display {
    chrono::Utc::now().format("%a, %d %b %Y %H:%M:%S GMT")
}

/// Writes a small answer built by the router's helpers (an error: its JSON
/// body is read whole, at most 64 KiB).
async fn write_response(
    stream: &mut TcpStream,
    resp: axum::response::Response,
    close: bool,
) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    let (parts, body) = resp.into_parts();
    let body = axum::body::to_bytes(body, 64 << 10)
        .await
        .map_err(std::io::Error::other)?;
    let date = http_date();
    let mut head = format!(
        "HTTP/1.1 {} {}\r\ndate: {date}\r\ncontent-length: {}\r\n",
        parts.status.as_u16(),
        parts.status.canonical_reason().unwrap_or(""),
        body.len()
    );
    for (name, value) in &parts.headers {
        if name != header::CONTENT_LENGTH && name != header::DATE {
            head.push_str(&format!(
                "{name}: {}\r\n",
                String::from_utf8_lossy(value.as_bytes())
            ));
        }
    }
    if close {
        head.push_str("connection: close\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(&body).await?;
    stream.flush().await
}

/// Writes a 206 head and bytes `start..=end` of `file` with `sendfile`
/// (blocking thread; the socket is switched to blocking with a send
/// timeout).
fn send_range(
    sock: &std::net::TcpStream,
    file: &std::fs::File,
    start: u64,
    end: u64,
    size: u64,
    close: bool,
) -> std::io::Result<()> {
    sock.set_nonblocking(false)?;
    sock.set_write_timeout(Some(IDLE))?;
    let len = end - start + 1;
    let date = http_date();
    let mut head = format!(
        "HTTP/1.1 206 Partial Content\r\ndate: {date}\r\ncontent-range: bytes {start}-{end}/{size}\r\ncontent-length: {len}\r\ncontent-type: application/octet-stream\r\n"
    );
    if close {
        head.push_str("connection: close\r\n");
    }
    head.push_str("\r\n");
    (&*sock).write_all(head.as_bytes())?;
    let mut offset = start;
    let stop = end + 1;
    while offset < stop {
        let want = (stop - offset).min(SEND_CHUNK) as usize;
        let n = rustix::fs::sendfile(sock, file, Some(&mut offset), want)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "file shrank while sending",
            ));
        }
    }
    Ok(())
}

/// Serves the rest of the connection with hyper and the router, starting
/// with the bytes already read.
async fn handoff(stream: TcpStream, buf: BytesMut, app: &TransferApp, shutdown: CancellationToken) {
    let io = TokioIo::new(Prefixed {
        prefix: buf.freeze(),
        inner: stream,
    });
    let service = hyper_util::service::TowerToHyperService::new(app.router.clone());
    let conn = hyper::server::conn::http1::Builder::new().serve_connection(io, service);
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        _ = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(operation = "transfer", error = %e, "connection ended with an error");
    }
}

/// A stream that first yields bytes already read from it.
struct Prefixed {
    prefix: Bytes,
    inner: TcpStream,
}

impl AsyncRead for Prefixed {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            let chunk = self.prefix.split_to(n);
            buf.put_slice(&chunk);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Prefixed {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(raw: &str) -> Head {
        match parse(raw.as_bytes()) {
            Parsed::Complete(h) => h,
            _ => panic!("not a complete head: {raw:?}"),
        }
    }

    #[test]
    fn the_prefix_is_the_routes() {
        assert_eq!(format!("{PREFIX}{{file_id}}"), super::super::TRANSFER_PATH);
    }

    #[test]
    fn only_plain_range_gets_take_the_fast_path() {
        let ok = "GET /api/agent/transfer/file::ab HTTP/1.1\r\nrange: bytes=0-9\r\n\r\n";
        assert_eq!(head(ok).fast_file_id(), Some("file::ab"));
        for raw in [
            // no range
            "GET /api/agent/transfer/file::ab HTTP/1.1\r\n\r\n",
            // HTTP/1.0, HEAD, a query, percent-encoding, a sub-path
            "GET /api/agent/transfer/file::ab HTTP/1.0\r\nrange: bytes=0-9\r\n\r\n",
            "HEAD /api/agent/transfer/file::ab HTTP/1.1\r\nrange: bytes=0-9\r\n\r\n",
            "GET /api/agent/transfer/file::ab?x=1 HTTP/1.1\r\nrange: bytes=0-9\r\n\r\n",
            "GET /api/agent/transfer/file%3A%3Aab HTTP/1.1\r\nrange: bytes=0-9\r\n\r\n",
            "GET /api/agent/transfer/a/b HTTP/1.1\r\nrange: bytes=0-9\r\n\r\n",
            "GET /api/other HTTP/1.1\r\nrange: bytes=0-9\r\n\r\n",
            // a body
            "GET /api/agent/transfer/file::ab HTTP/1.1\r\nrange: bytes=0-9\r\ncontent-length: 3\r\n\r\n",
            "GET /api/agent/transfer/file::ab HTTP/1.1\r\nrange: bytes=0-9\r\ntransfer-encoding: chunked\r\n\r\n",
        ] {
            assert_eq!(head(raw).fast_file_id(), None, "{raw:?}");
        }
    }

    #[test]
    fn heads_are_parsed_incrementally_and_garbage_goes_to_hyper() {
        let raw = "GET /api/agent/transfer/file::ab HTTP/1.1\r\nConnection: Close\r\nrange: bytes=0-9\r\n\r\nNEXT";
        assert!(matches!(parse(&raw.as_bytes()[..20]), Parsed::Partial));
        let h = head(raw);
        assert_eq!(
            h.len,
            raw.len() - 4,
            "the head ends before the next request"
        );
        assert!(h.wants_close());
        assert!(matches!(parse(b"\x00\x01 garbage\r\n\r\n"), Parsed::Other));
    }
}
