//! The HTTPS client of the REST API: certificate pinning (trust on first
//! use, then only the pinned fingerprint), the bearer token, the request log
//! of `--verbose`, and the mapping of every failure to a [`CliError`] class.

use crate::error::{CliError, Result, chain};
use mosaicfs_common::tls::{PinnedVerifier, same_fingerprint};
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The trust decision for the server's certificate.
#[derive(Debug, Clone, PartialEq)]
pub enum Trust {
    /// Only the certificate with this fingerprint.
    Pinned(String),
    /// Any certificate, recording its fingerprint (first contact, before the
    /// user accepted it; no token is ever sent this way).
    FirstContact,
    /// Any certificate (`--insecure`).
    Insecure,
}

/// A client of one server.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    trust: Trust,
    token: Option<String>,
    verbose: bool,
    command: String,
    seen: Arc<Mutex<Option<String>>>,
}

impl Client {
    /// A client of `base` (a normalized URL) for the command named
    /// `command` (used in "not available" messages).
    pub fn new(base: &str, trust: Trust, verbose: bool, command: &str) -> Result<Client> {
        // Pinned: only that certificate; first contact and --insecure: any
        // certificate, recording its fingerprint (handshake signatures are
        // checked either way).
        let verifier = PinnedVerifier::new(match &trust {
            Trust::Pinned(p) => Some(p.as_str()),
            _ => None,
        });
        let seen = verifier.seen();
        let tls = verifier
            .client_config()
            .map_err(|e| CliError::Local(format!("TLS setup failed: {e}")))?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(60))
            .user_agent(concat!("mosaicfs-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CliError::Local(format!("HTTP client setup failed: {}", chain(&e))))?;
        let base =
            Url::parse(base).map_err(|e| CliError::Usage(format!("{base:?} is not a URL: {e}")))?;
        Ok(Client {
            http,
            base,
            trust,
            token: None,
            verbose,
            command: command.to_string(),
            seen,
        })
    }

    /// Sends `token` as the bearer token from now on.
    pub fn with_token(mut self, token: &str) -> Client {
        self.token = Some(token.to_string());
        self
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    /// The fingerprint of the certificate the server presented, once a
    /// connection was made.
    pub fn seen_fingerprint(&self) -> Option<String> {
        self.seen.lock().ok().and_then(|s| s.clone())
    }

    /// The URL of `segments` below the base, each segment percent-encoded
    /// (a `/` inside a segment becomes `%2F`).
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut u = self.base.clone();
        if let Ok(mut p) = u.path_segments_mut() {
            p.pop_if_empty();
            p.extend(segments);
        }
        u
    }

    /// A request with the bearer token, if any.
    pub fn request(&self, method: Method, url: Url) -> RequestBuilder {
        let rb = self.http.request(method, url);
        match &self.token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        }
    }

    /// Sends a request and returns the answer whatever its status; only a
    /// failure to get an answer is an error.
    pub async fn send_raw(&self, rb: RequestBuilder) -> Result<Response> {
        let req = rb
            .build()
            .map_err(|e| CliError::Local(format!("building the request: {}", chain(&e))))?;
        if self.verbose {
            let mut line = format!("> {} {}", req.method(), req.url());
            for h in ["range", "if-range"] {
                if let Some(v) = req.headers().get(h).and_then(|v| v.to_str().ok()) {
                    line.push_str(&format!(" [{h}: {v}]"));
                }
            }
            eprintln!("{line}");
        }
        let started = Instant::now();
        let url = req.url().clone();
        let resp = self
            .http
            .execute(req)
            .await
            .map_err(|e| self.transport_error(&url, &e))?;
        if self.verbose {
            let len = resp
                .content_length()
                .map(|n| format!(", {n} bytes"))
                .unwrap_or_default();
            eprintln!(
                "< {} ({} ms{len})",
                resp.status(),
                started.elapsed().as_millis()
            );
        }
        Ok(resp)
    }

    /// Sends a request; any status other than 2xx becomes the matching
    /// error.
    pub async fn send(&self, rb: RequestBuilder) -> Result<Response> {
        let (client, req) = rb.build_split();
        let req =
            req.map_err(|e| CliError::Local(format!("building the request: {}", chain(&e))))?;
        let method = req.method().clone();
        let path = req.url().path().to_string();
        let resp = self
            .send_raw(RequestBuilder::from_parts(client, req))
            .await?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        Err(self.api_error(&method, &path, resp).await)
    }

    /// The error for a non-2xx answer to `method path`.
    pub async fn api_error(&self, method: &Method, path: &str, resp: Response) -> CliError {
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = resp.text().await.unwrap_or_default();
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_else(|| {
                status
                    .canonical_reason()
                    .unwrap_or("no explanation")
                    .to_string()
            });
        classify(
            status,
            &message,
            retry_after.as_deref(),
            &self.command,
            method,
            path,
        )
    }

    /// `GET` and decode a JSON answer.
    pub async fn get_json(&self, segments: &[&str], query: &[(&str, &str)]) -> Result<Value> {
        let rb = self.request(Method::GET, self.url(segments)).query(query);
        json_of(self.send(rb).await?).await
    }

    /// A request with a JSON body, decoding the JSON answer (`null` for an
    /// empty one, as 204 has).
    pub async fn send_json(
        &self,
        method: Method,
        segments: &[&str],
        body: &Value,
    ) -> Result<Value> {
        let rb = self.request(method, self.url(segments)).json(body);
        json_of(self.send(rb).await?).await
    }

    /// Every item of a paginated list (`{items, next_cursor}`), following
    /// cursors, at most `max` items.
    pub async fn list_all(
        &self,
        segments: &[&str],
        query: &[(&str, &str)],
        max: usize,
    ) -> Result<Vec<Value>> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page_size = (max - items.len()).clamp(1, 1000).to_string();
            let mut q: Vec<(&str, &str)> = query.to_vec();
            q.push(("limit", &page_size));
            if let Some(c) = &cursor {
                q.push(("cursor", c));
            }
            let page = self.get_json(segments, &q).await?;
            if let Some(a) = page.get("items").and_then(Value::as_array) {
                items.extend(a.iter().cloned());
            }
            cursor = page
                .get("next_cursor")
                .and_then(Value::as_str)
                .map(str::to_string);
            if cursor.is_none() || items.len() >= max {
                items.truncate(max);
                return Ok(items);
            }
        }
    }

    fn transport_error(&self, url: &Url, e: &reqwest::Error) -> CliError {
        let base = self.base();
        if let (Trust::Pinned(pin), Some(seen)) = (&self.trust, self.seen_fingerprint())
            && !same_fingerprint(pin, &seen)
        {
            return CliError::Server(format!(
                "the server at {base} presented certificate {seen}, not the pinned {pin}; \
                 if its certificate was replaced on purpose run `mosaicfs-cli login --tls-fingerprint {seen}`, \
                 otherwise someone may be intercepting the connection"
            ));
        }
        let detail = chain(e);
        if e.is_timeout() {
            CliError::Server(format!(
                "{url} did not answer in time ({detail}); check that the server is up"
            ))
        } else if e.is_connect() {
            CliError::Server(format!(
                "cannot connect to {base} ({detail}); check the URL (`--url`, MOSAICFS_URL or `mosaicfs-cli login`) and that the server runs"
            ))
        } else {
            CliError::Server(format!(
                "the request to {url} failed ({detail}); check the network and the server"
            ))
        }
    }
}

/// The error class of a non-2xx answer.
pub fn classify(
    status: StatusCode,
    message: &str,
    retry_after: Option<&str>,
    command: &str,
    method: &Method,
    path: &str,
) -> CliError {
    match status.as_u16() {
        401 => CliError::Auth(format!(
            "the server refused the session ({message}); run `mosaicfs-cli login`"
        )),
        403 => CliError::Auth(format!("forbidden: {message}")),
        404 if message == "no such route" => CliError::NotAvailable {
            command: command.to_string(),
            endpoint: format!("{method} {path}"),
        },
        404 => CliError::NotFound(message.to_string()),
        400 | 409 | 413 | 416 | 422 => CliError::Invalid(message.to_string()),
        429 => CliError::Server(format!(
            "the server is rate-limiting requests ({message}); retry in {} s",
            retry_after.unwrap_or("a few")
        )),
        s if s >= 500 => CliError::Server(format!(
            "the server failed ({status}): {message}; retry later or check the server's log"
        )),
        _ => CliError::Server(format!("unexpected answer {status}: {message}")),
    }
}

/// The JSON body of an answer (`null` when empty).
pub async fn json_of(resp: Response) -> Result<Value> {
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| CliError::Server(format!("reading the answer failed: {}", chain(&e))))?;
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        CliError::Server(format!(
            "the server's answer is not JSON ({e}); is this a MosaicFS server?"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(status: u16, message: &str) -> u8 {
        classify(
            StatusCode::from_u16(status).unwrap(),
            message,
            None,
            "x",
            &Method::GET,
            "/api/x",
        )
        .exit_code()
    }

    #[test]
    fn statuses_map_to_exit_codes() {
        use crate::error::*;
        assert_eq!(class(401, "unknown access key or wrong secret"), EXIT_AUTH);
        assert_eq!(class(403, "outside"), EXIT_AUTH);
        assert_eq!(class(404, "no file file::1"), EXIT_NOT_FOUND);
        assert_eq!(class(404, "no such route"), EXIT_NOT_AVAILABLE);
        for s in [400, 409, 413, 416, 422] {
            assert_eq!(class(s, "bad"), EXIT_INVALID, "{s}");
        }
        for s in [429, 500, 502, 503] {
            assert_eq!(class(s, "down"), EXIT_SERVER, "{s}");
        }
    }

    #[test]
    fn segments_are_percent_encoded() {
        let c = Client::new("https://h:1/base", Trust::Insecure, false, "t").unwrap();
        let u = c.url(&["api", "vfs", "directories", "a b", "c/d"]);
        assert_eq!(
            u.as_str(),
            "https://h:1/base/api/vfs/directories/a%20b/c%2Fd"
        );
    }
}
