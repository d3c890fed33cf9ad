//! HMAC-SHA256 request signing (agents → control plane, control plane and
//! agents → an agent's transfer endpoint).
//!
//! The canonical string is these lines joined by `\n`:
//!
//! ```text
//! MOSAICFS-HMAC-SHA256
//! {METHOD}
//! {path, percent-encoded as sent}
//! {query: k=v pairs sorted by k then v, joined with &}
//! {timestamp, RFC 3339 UTC, as in X-MosaicFS-Timestamp}
//! {lowercase hex SHA-256 of the body}
//! ```
//!
//! The key is not the secret itself but [`derive_signing_key`] of it, so the
//! control plane can verify signatures while storing only an Argon2id hash of
//! the secret and the derived key.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Scheme name in the canonical string and the `Authorization` header.
pub const SCHEME: &str = "MOSAICFS-HMAC-SHA256";
/// Header carrying the signing time.
pub const TIMESTAMP_HEADER: &str = "x-mosaicfs-timestamp";
/// Largest accepted difference between the signing time and the server's clock.
pub const MAX_SKEW_SECS: i64 = 300;

type HmacSha256 = Hmac<Sha256>;

/// The signing key for a credential secret:
/// `HMAC-SHA256(key = secret, "mosaicfs-request-signing-v1")`.
pub fn derive_signing_key(secret: &str) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(b"mosaicfs-request-signing-v1");
    mac.finalize().into_bytes().into()
}

/// The query string in canonical order. Input is the raw query (without `?`)
/// as sent; pairs keep their encoding and are sorted by key, then value.
pub fn canonical_query(raw: &str) -> String {
    let mut pairs: Vec<(&str, &str)> = raw
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The string that is signed.
pub fn canonical_string(
    method: &str,
    path: &str,
    query: &str,
    timestamp: &str,
    body: &[u8],
) -> String {
    format!(
        "{SCHEME}\n{}\n{path}\n{}\n{timestamp}\n{}",
        method.to_ascii_uppercase(),
        canonical_query(query),
        hex::encode(Sha256::digest(body))
    )
}

/// Lowercase hex HMAC of the canonical string.
pub fn sign(
    key: &[u8],
    method: &str,
    path: &str,
    query: &str,
    timestamp: &str,
    body: &[u8],
) -> String {
    hex::encode(
        mac(key, method, path, query, timestamp, body)
            .finalize()
            .into_bytes(),
    )
}

fn mac(
    key: &[u8],
    method: &str,
    path: &str,
    query: &str,
    timestamp: &str,
    body: &[u8],
) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(canonical_string(method, path, query, timestamp, body).as_bytes());
    mac
}

/// Constant-time check of a hex signature.
pub fn verify(
    key: &[u8],
    signature_hex: &str,
    method: &str,
    path: &str,
    query: &str,
    timestamp: &str,
    body: &[u8],
) -> bool {
    let Ok(given) = hex::decode(signature_hex) else {
        return false;
    };
    mac(key, method, path, query, timestamp, body)
        .verify_slice(&given)
        .is_ok()
}

/// The `Authorization` header value.
pub fn authorization(access_key_id: &str, signature_hex: &str) -> String {
    format!("{SCHEME} Credential={access_key_id}, Signature={signature_hex}")
}

/// Parses an `Authorization` header into (access key id, signature).
pub fn parse_authorization(value: &str) -> Option<(&str, &str)> {
    let rest = value.strip_prefix(SCHEME)?.trim_start();
    let mut key = None;
    let mut sig = None;
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "Credential" => key = Some(v),
            "Signature" => sig = Some(v),
            _ => return None,
        }
    }
    Some((key?, sig?))
}

/// Headers to add to a request: (timestamp header value, authorization value).
pub fn signed_headers(
    access_key_id: &str,
    key: &[u8],
    method: &str,
    path: &str,
    query: &str,
    body: &[u8],
    now: &crate::time::Timestamp,
) -> (String, String) {
    let ts = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let sig = sign(key, method, path, query, &ts, body);
    (ts, authorization(access_key_id, &sig))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_is_sorted_and_keeps_encoding() {
        assert_eq!(canonical_query("b=2&a=3&a=1&c"), "a=1&a=3&b=2&c=");
        assert_eq!(canonical_query(""), "");
        assert_eq!(canonical_query("q=a%20b"), "q=a%20b");
    }

    #[test]
    fn canonical_string_has_six_lines() {
        let s = canonical_string(
            "get",
            "/api/agent/heartbeat",
            "",
            "2026-01-01T00:00:00Z",
            b"",
        );
        assert_eq!(
            s,
            "MOSAICFS-HMAC-SHA256\nGET\n/api/agent/heartbeat\n\n2026-01-01T00:00:00Z\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn sign_and_verify() {
        let key = derive_signing_key("secret");
        let sig = sign(&key, "POST", "/p", "x=1", "t", b"body");
        assert!(verify(&key, &sig, "POST", "/p", "x=1", "t", b"body"));
        assert!(
            !verify(&key, &sig, "POST", "/p", "x=1", "t", b"bodY"),
            "tampered body"
        );
        assert!(
            !verify(&key, &sig, "POST", "/p", "x=2", "t", b"body"),
            "tampered query"
        );
        assert!(
            !verify(&key, &sig, "GET", "/p", "x=1", "t", b"body"),
            "other method"
        );
        assert!(!verify(
            &derive_signing_key("other"),
            &sig,
            "POST",
            "/p",
            "x=1",
            "t",
            b"body"
        ));
        assert!(
            !verify(&key, "zz", "POST", "/p", "x=1", "t", b"body"),
            "not hex"
        );
    }

    #[test]
    fn authorization_header_round_trips() {
        let h = authorization("MOSAICFS_0123456789ABCDEF", "abcd");
        assert_eq!(
            parse_authorization(&h),
            Some(("MOSAICFS_0123456789ABCDEF", "abcd"))
        );
        assert_eq!(parse_authorization("Bearer x"), None);
        assert_eq!(
            parse_authorization("MOSAICFS-HMAC-SHA256 Credential=a"),
            None
        );
    }
}
