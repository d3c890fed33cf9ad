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
//!
//! Transfer tokens ([`transfer_token`], [`verify_transfer_token`]) let one
//! agent fetch from another: the control plane, which holds every node's
//! derived key, signs `{file_id, owner, requester, exp}` with the **owner's**
//! key, and the owner verifies it with its own. The token is
//! `base64url(payload JSON, no padding).hex(HMAC-SHA256(owner key, payload))`.

use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
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

/// Scheme of the `Authorization` header that carries a transfer token:
/// `MOSAICFS-TRANSFER-TOKEN <token>`.
pub const TOKEN_SCHEME: &str = "MOSAICFS-TRANSFER-TOKEN";
/// How long a transfer token is valid after it is issued.
pub const TRANSFER_TOKEN_TTL_SECS: i64 = 300;

/// What a transfer token allows: `requester` may read `file_id` from
/// `owner`'s transfer endpoint until `exp` (unix seconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferClaims {
    /// The file (`file::…`).
    pub file_id: String,
    /// The node that owns the file and whose key signs the token.
    pub owner: String,
    /// The node the token was issued to.
    pub requester: String,
    /// Expiry, unix seconds; the token is refused from this second on.
    pub exp: i64,
}

/// Why a transfer token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not `base64url(JSON).hex(signature)`, or the JSON is not the claims.
    #[error("malformed transfer token: {0}")]
    Malformed(String),
    /// The signature does not match: another node's key, or altered.
    #[error(
        "transfer token signature mismatch: it was issued for another node's key or was altered"
    )]
    BadSignature,
    /// `exp` has passed.
    #[error("transfer token expired at {exp} (now {now}); ask the control plane for a new one")]
    Expired {
        /// The token's expiry (unix seconds).
        exp: i64,
        /// The verifier's clock (unix seconds).
        now: i64,
    },
}

impl TokenError {
    /// The check that failed, for logs: `malformed`, `signature`, `expired`.
    pub fn check(&self) -> &'static str {
        match self {
            TokenError::Malformed(_) => "malformed",
            TokenError::BadSignature => "signature",
            TokenError::Expired { .. } => "expired",
        }
    }
}

/// A transfer token for `claims`, signed with the owner's derived `key`.
pub fn transfer_token(key: &[u8], claims: &TransferClaims) -> String {
    let payload = serde_json::to_vec(claims).expect("claims always serialize");
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(&payload);
    format!(
        "{}.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&payload),
        hex::encode(mac.finalize().into_bytes())
    )
}

/// Verifies a transfer token with this node's derived `key` at `now` (unix
/// seconds): shape, then signature (constant time), then expiry. The caller
/// still checks `file_id` and `owner` against the request.
pub fn verify_transfer_token(
    key: &[u8],
    token: &str,
    now: i64,
) -> Result<TransferClaims, TokenError> {
    let (payload_b64, sig_hex) = token
        .trim()
        .split_once('.')
        .ok_or_else(|| TokenError::Malformed("expected `<payload>.<signature>`".into()))?;
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload_b64)
        .map_err(|_| TokenError::Malformed("the payload is not base64url".into()))?;
    let sig = hex::decode(sig_hex)
        .ok()
        .filter(|s| s.len() == 32)
        .ok_or_else(|| TokenError::Malformed("the signature is not 64 hex digits".into()))?;
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(&payload);
    mac.verify_slice(&sig)
        .map_err(|_| TokenError::BadSignature)?;
    let claims: TransferClaims = serde_json::from_slice(&payload)
        .map_err(|e| TokenError::Malformed(format!("the payload is not transfer claims: {e}")))?;
    if now >= claims.exp {
        return Err(TokenError::Expired {
            exp: claims.exp,
            now,
        });
    }
    Ok(claims)
}

/// The `Authorization` value carrying `token`.
pub fn token_authorization(token: &str) -> String {
    format!("{TOKEN_SCHEME} {token}")
}

/// The token of a `MOSAICFS-TRANSFER-TOKEN <token>` header, if it is one.
pub fn parse_token_authorization(value: &str) -> Option<&str> {
    let rest = value.strip_prefix(TOKEN_SCHEME)?;
    rest.starts_with(' ').then(|| rest.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> TransferClaims {
        TransferClaims {
            file_id: "file::0190c0de5b6f7a3e8c1d2e3f4a5b6c7d".into(),
            owner: "node-b".into(),
            requester: "node-a".into(),
            exp,
        }
    }

    #[test]
    fn transfer_token_round_trips() {
        let key = derive_signing_key("owner secret");
        let token = transfer_token(&key, &claims(1000));
        assert_eq!(verify_transfer_token(&key, &token, 999), Ok(claims(1000)));
        let (payload, sig) = token.split_once('.').unwrap();
        assert!(!payload.contains('=') && sig.len() == 64);
        let header = token_authorization(&token);
        assert_eq!(parse_token_authorization(&header), Some(token.as_str()));
        assert_eq!(parse_token_authorization("MOSAICFS-TRANSFER-TOKENx"), None);
        assert_eq!(parse_token_authorization("Bearer x"), None);
    }

    #[test]
    fn transfer_token_rejections() {
        let key = derive_signing_key("owner secret");
        let token = transfer_token(&key, &claims(1000));
        assert_eq!(
            verify_transfer_token(&key, &token, 1000),
            Err(TokenError::Expired {
                exp: 1000,
                now: 1000
            })
        );
        assert_eq!(
            verify_transfer_token(&derive_signing_key("other"), &token, 0),
            Err(TokenError::BadSignature)
        );
        // A payload for another file with the original signature.
        let forged_payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
            serde_json::to_vec(&TransferClaims {
                file_id: "file::ffffffffffffffffffffffffffffffff".into(),
                ..claims(1000)
            })
            .unwrap(),
        );
        let sig = token.split_once('.').unwrap().1;
        let forged = format!("{forged_payload}.{sig}");
        assert_eq!(
            verify_transfer_token(&key, &forged, 0),
            Err(TokenError::BadSignature)
        );
        for bad in ["", "nodot", "!!!.00", "e30.zz", "e30.abcd"] {
            let e = verify_transfer_token(&key, bad, 0).unwrap_err();
            assert_eq!(e.check(), "malformed", "{bad}: {e}");
        }
        // Signed, but not claims.
        let mut mac = HmacSha256::new_from_slice(&key).unwrap();
        mac.update(b"{}");
        let not_claims = format!("e30.{}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(
            verify_transfer_token(&key, &not_claims, 0)
                .unwrap_err()
                .check(),
            "malformed"
        );
    }

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
