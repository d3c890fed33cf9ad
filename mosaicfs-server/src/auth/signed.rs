//! The HMAC-signed request extractor for `/api/agent/*` routes (canonical
//! string in `mosaicfs_common::hmac` and `docs/architecture.md`). Each
//! rejection is a 401 whose message names the check that failed, and is
//! logged.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{FromRequest, Request};
use bytes::Bytes;
use mosaicfs_common::documents::CredentialDoc;
use mosaicfs_common::hmac::{self, MAX_SKEW_SECS, TIMESTAMP_HEADER};
use mosaicfs_common::ids;
use sha2::{Digest, Sha256};

/// Optional header with the hex SHA-256 of the body, so a tampered body is
/// reported as such rather than as a bad signature.
pub const BODY_HASH_HEADER: &str = "x-mosaicfs-content-sha256";

/// A verified agent request and its body.
#[derive(Debug, Clone)]
pub struct Agent {
    /// The credential that signed the request.
    pub access_key_id: String,
    /// The raw body (already covered by the signature).
    pub body: Bytes,
}

fn reject(check: &str, message: String) -> ApiError {
    tracing::warn!(operation = "hmac_auth", check, error = %message, "signed request rejected");
    ApiError::unauthorized(message)
}

fn timestamp_condition(key_id: &str) -> String {
    format!("auth_timestamp_rejected:{key_id}")
}

/// Raises `auth_timestamp_rejected:{key}` (in the background, so the 401
/// is not delayed) when the key is a real credential: an unauthenticated
/// caller inventing key ids must not create documents. The next accepted
/// request of that key resolves it.
fn clock_notice(state: &AppState, key_id: &str, skew: i64) {
    let (db, notifier, key) = (state.db.clone(), state.notifier.clone(), key_id.to_string());
    tokio::spawn(async move {
        match db.get_value(&ids::credential_id(&key)).await {
            Ok(Some(_)) => {}
            _ => return,
        }
        let notice = mosaicfs_common::notify::Notice::new(
            timestamp_condition(&key),
            "auth",
            mosaicfs_common::documents::NotificationSeverity::Error,
            format!("Signed requests of {key} are refused: clock skew"),
            format!(
                "A request signed with {key} carried a timestamp {skew} s away from the server's clock (allowed ±{MAX_SKEW_SECS} s). Set the clock of the machine using this key (NTP)."
            ),
        );
        if let Err(e) = notifier.raise(notice).await {
            tracing::warn!(operation = "notify", error = %e, "cannot write the clock-skew notification");
        }
    });
}

impl FromRequest<AppState> for Agent {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Agent, ApiError> {
        let (parts, body) = req.into_parts();
        // Read the (bounded) body before any check: answering while the
        // client is still sending makes HTTP/2 clients see a reset stream
        // instead of our 401.
        let limit = state.config.max_body_bytes;
        let body = axum::body::to_bytes(body, limit).await.map_err(|e| {
            let msg = e.to_string();
            if msg.contains("length limit") {
                ApiError::too_large(format!("the body is larger than {limit} bytes"))
            } else {
                ApiError::bad_request(format!("cannot read the body: {msg}"))
            }
        })?;
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let auth = header("authorization").ok_or_else(|| {
            reject("header", "missing Authorization header; agent requests must be signed (MOSAICFS-HMAC-SHA256)".into())
        })?;
        let (key_id, signature) = hmac::parse_authorization(&auth).ok_or_else(|| {
            reject(
                "header",
                "malformed Authorization header; expected `MOSAICFS-HMAC-SHA256 Credential=<key>, Signature=<hex>`".into(),
            )
        })?;
        let (key_id, signature) = (key_id.to_string(), signature.to_string());
        let ts_text = header(TIMESTAMP_HEADER)
            .ok_or_else(|| reject("timestamp", format!("missing {TIMESTAMP_HEADER} header")))?;
        let ts = chrono::DateTime::parse_from_rfc3339(&ts_text).map_err(|e| {
            reject(
                "timestamp",
                format!("{TIMESTAMP_HEADER} {ts_text:?} is not RFC 3339: {e}"),
            )
        })?;
        let skew = (chrono::Utc::now().timestamp() - ts.timestamp()).abs();
        if skew > MAX_SKEW_SECS {
            clock_notice(state, &key_id, skew);
            return Err(reject(
                "timestamp",
                format!(
                    "timestamp {ts_text} is {skew} s away from the server clock (allowed ±{MAX_SKEW_SECS} s); check the agent's clock"
                ),
            ));
        }
        let cred: Option<CredentialDoc> = state
            .db
            .get(&ids::credential_id(&key_id))
            .await
            .map_err(|e| {
                if matches!(e, mosaicfs_common::couch::CouchError::Decode { .. }) {
                    reject("credential", format!("credential {key_id} is unreadable"))
                } else {
                    ApiError::from(e)
                }
            })?;
        let cred =
            cred.ok_or_else(|| reject("credential", format!("unknown access key {key_id}")))?;
        if !cred.enabled {
            return Err(reject(
                "credential",
                format!("access key {key_id} is disabled"),
            ));
        }
        let key = cred
            .hmac_key
            .as_deref()
            .and_then(|k| hex::decode(k).ok())
            .ok_or_else(|| {
                reject(
                    "credential",
                    format!("access key {key_id} has no signing key; recreate it"),
                )
            })?;

        if let Some(claimed) = header(BODY_HASH_HEADER) {
            let actual = hex::encode(Sha256::digest(&body));
            if !claimed.eq_ignore_ascii_case(&actual) {
                return Err(reject(
                    "body",
                    "body hash mismatch: the body differs from what was signed".into(),
                ));
            }
        }
        let path = parts.uri.path();
        let query = parts.uri.query().unwrap_or_default();
        if !hmac::verify(
            &key,
            &signature,
            parts.method.as_str(),
            path,
            query,
            &ts_text,
            &body,
        ) {
            return Err(reject(
                "signature",
                "signature mismatch: method, path, query, timestamp or body differ from what was signed, or the secret is wrong".into(),
            ));
        }
        let (notifier, cond) = (state.notifier.clone(), timestamp_condition(&key_id));
        tokio::spawn(async move {
            if let Err(e) = notifier.resolve(&cond).await {
                tracing::warn!(operation = "notify", error = %e, "cannot resolve a notification");
            }
        });
        Ok(Agent {
            access_key_id: key_id,
            body,
        })
    }
}
