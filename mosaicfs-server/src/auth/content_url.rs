//! Content tickets: short-lived, single-file grants that let a browser element
//! (`<video>`, `<img>`, `<iframe>`, a download link) fetch
//! `GET|HEAD /api/files/{id}/content?ticket=…` without an `Authorization`
//! header, like an S3 presigned URL.
//!
//! A ticket is stateless: URL-safe base64 (no padding) of
//! `"{expiry}\n{disposition}\n{access_key_id}\n{jti}\n"` followed by the
//! 32-byte HMAC-SHA256, keyed with [`TicketKey`], of the same fields with the
//! file id in front. It grants reading that one file's content until the
//! expiry and nothing else; the JWT itself never goes into a URL, where
//! history, logs and `Referer` would keep it with its full power for a day.
//! [`ContentAuth`] accepts either; a ticket is refused, like the JWT it was
//! issued under, once that session is logged out or its credential is
//! disabled or deleted.

use super::User;
use crate::content::Disposition;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How long a ticket is valid, in seconds (never beyond its session).
pub const TICKET_LIFETIME_SECS: i64 = 15 * 60;

/// The query parameter carrying a ticket.
pub const TICKET_PARAM: &str = "ticket";

/// Domain-separation label: the ticket key is derived from the JWT signing
/// key, so it never signs anything a JWT verifier would accept, nor the
/// reverse.
const KEY_LABEL: &[u8] = b"mosaicfs-content-ticket-v1";

/// Length of the MAC at the end of a decoded ticket.
const MAC_LEN: usize = 32;

type HmacSha256 = Hmac<Sha256>;

/// The key tickets are signed with.
#[derive(Clone)]
pub struct TicketKey([u8; 32]);

impl std::fmt::Debug for TicketKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TicketKey(..)")
    }
}

/// What a valid ticket grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    /// The one file whose content it opens.
    pub file_id: String,
    /// Expiry, unix seconds.
    pub exp: i64,
    /// `Content-Disposition` type of the answer.
    pub disposition: Disposition,
    /// The credential of the session that asked for it.
    pub access_key_id: String,
    /// The `jti` of that session's token (a logout ends the ticket too).
    pub jti: String,
}

/// Why a ticket was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    /// Not base64, too short, or fields of the wrong shape.
    #[error("invalid ticket: it is malformed")]
    Malformed,
    /// The MAC does not match: altered, signed with another key, or issued
    /// for another file.
    #[error("invalid ticket: it was altered or is for another file")]
    BadMac,
    /// Genuine, but past its expiry.
    #[error("the ticket expired at {0}; ask POST /api/files/{{file_id}}/content-url for a new one")]
    Expired(String),
}

impl TicketKey {
    /// The ticket key derived from the JWT signing secret:
    /// `HMAC-SHA256(key = jwt secret, "mosaicfs-content-ticket-v1")`.
    pub fn derive(jwt_secret: &[u8]) -> TicketKey {
        let mut mac = HmacSha256::new_from_slice(jwt_secret).expect("HMAC takes any key length");
        mac.update(KEY_LABEL);
        TicketKey(mac.finalize().into_bytes().into())
    }

    fn mac(&self, file_id: &str, fields: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(file_id.as_bytes());
        mac.update(b"\n");
        mac.update(fields);
        mac
    }

    /// The ticket string for `t` (`t.exp` as given: tests make expired
    /// ones).
    pub fn issue(&self, t: &Ticket) -> String {
        let mut bytes = format!(
            "{}\n{}\n{}\n{}\n",
            t.exp,
            t.disposition.as_str(),
            t.access_key_id,
            t.jti
        )
        .into_bytes();
        let tag = self.mac(&t.file_id, &bytes).finalize().into_bytes();
        bytes.extend_from_slice(&tag);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Checks `ticket` for `file_id` at `now` (unix seconds): MAC first, so
    /// only a genuine ticket is ever reported as expired.
    pub fn verify(&self, ticket: &str, file_id: &str, now: i64) -> Result<Ticket, TicketError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(ticket)
            .map_err(|_| TicketError::Malformed)?;
        if bytes.len() <= MAC_LEN {
            return Err(TicketError::Malformed);
        }
        let (fields, tag) = bytes.split_at(bytes.len() - MAC_LEN);
        self.mac(file_id, fields)
            .verify_slice(tag)
            .map_err(|_| TicketError::BadMac)?;
        let text = std::str::from_utf8(fields).map_err(|_| TicketError::Malformed)?;
        let parts: Vec<&str> = text
            .strip_suffix('\n')
            .ok_or(TicketError::Malformed)?
            .split('\n')
            .collect();
        let [exp, disposition, access_key_id, jti] = parts[..] else {
            return Err(TicketError::Malformed);
        };
        let exp: i64 = exp.parse().map_err(|_| TicketError::Malformed)?;
        let disposition = match disposition {
            "inline" => Disposition::Inline,
            "attachment" => Disposition::Attachment,
            _ => return Err(TicketError::Malformed),
        };
        if now >= exp {
            let at = chrono::DateTime::from_timestamp(exp, 0)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_else(|| exp.to_string());
            return Err(TicketError::Expired(at));
        }
        Ok(Ticket {
            file_id: file_id.to_string(),
            exp,
            disposition,
            access_key_id: access_key_id.to_string(),
            jti: jti.to_string(),
        })
    }
}

/// A new ticket for `file_id` on behalf of `user`: valid
/// [`TICKET_LIFETIME_SECS`] from `now`, but never past the session's own
/// expiry.
pub fn ticket_for(user: &User, file_id: &str, disposition: Disposition, now: i64) -> Ticket {
    Ticket {
        file_id: file_id.to_string(),
        exp: (now + TICKET_LIFETIME_SECS).min(user.exp),
        disposition,
        access_key_id: user.access_key_id.clone(),
        jti: user.jti.clone(),
    }
}

/// Who may read a file's content: a bearer JWT or, when the query has
/// `ticket`, that ticket (then the `Authorization` header is not looked at).
#[derive(Debug, Clone)]
pub enum ContentAuth {
    /// `Authorization: Bearer`.
    Bearer(User),
    /// `?ticket=` for exactly the file in the path.
    Ticket(Ticket),
}

impl ContentAuth {
    /// The disposition the answer should carry: a ticket's own, else
    /// `attachment` (what the CLI and scripts have always had).
    pub fn disposition(&self) -> Disposition {
        match self {
            ContentAuth::Bearer(_) => Disposition::Attachment,
            ContentAuth::Ticket(t) => t.disposition,
        }
    }
}

fn ticket_param(query: Option<&str>) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == TICKET_PARAM)
        .map(|(_, v)| v.into_owned())
}

impl FromRequestParts<AppState> for ContentAuth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<ContentAuth, ApiError> {
        let Some(ticket) = ticket_param(parts.uri.query()) else {
            return User::from_request_parts(parts, state)
                .await
                .map(ContentAuth::Bearer);
        };
        let Path(file_id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request(format!("path: {e}")))?;
        let now = chrono::Utc::now().timestamp();
        let t = state
            .content_tickets
            .verify(&ticket, &file_id, now)
            .map_err(|e| {
                let check = match e {
                    TicketError::Malformed => "malformed",
                    TicketError::BadMac => "mac",
                    TicketError::Expired(_) => "expired",
                };
                tracing::info!(operation = "content_ticket", file_id = %file_id, check,
                    "content ticket rejected");
                ApiError::unauthorized(e.to_string())
            })?;
        // The same session checks as the JWT extractor: a logout, or a
        // disabled or deleted credential, ends the tickets issued under it.
        let refuse = |why: &str| {
            tracing::info!(operation = "content_ticket", file_id = %file_id,
                access_key_id = %t.access_key_id, check = why, "content ticket rejected");
            ApiError::unauthorized(format!("invalid ticket: {why}"))
        };
        let revoked = state
            .revoked
            .lock()
            .map(|r| r.contains_key(&t.jti))
            .unwrap_or(false);
        if revoked {
            return Err(refuse("the session it was issued under was logged out"));
        }
        let cred: Option<mosaicfs_common::documents::CredentialDoc> = state
            .db
            .get(&mosaicfs_common::ids::credential_id(&t.access_key_id))
            .await
            .map_err(|e| match e {
                mosaicfs_common::couch::CouchError::Decode { .. } => {
                    refuse("the credential it was issued to is unreadable")
                }
                other => ApiError::from(other),
            })?;
        match cred {
            None => Err(refuse("the credential it was issued to was deleted")),
            Some(c) if !c.enabled => Err(refuse("the credential it was issued to is disabled")),
            Some(_) => Ok(ContentAuth::Ticket(t)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "file::0190c0de5b6f7a3e8c1d2e3f4a5b6c7d";

    fn ticket(exp: i64) -> Ticket {
        Ticket {
            file_id: FILE.into(),
            exp,
            disposition: Disposition::Attachment,
            access_key_id: "MOSAICFS_00000000000000AD".into(),
            jti: "0123456789abcdef0123456789abcdef".into(),
        }
    }

    #[test]
    fn a_ticket_opens_its_file_until_it_expires() {
        let key = TicketKey::derive(b"jwt secret");
        let t = ticket(1_000);
        let s = key.issue(&t);
        assert!(
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{s}"
        );
        assert_eq!(key.verify(&s, FILE, 999), Ok(t));
        assert_eq!(
            key.verify(&s, FILE, 1_000),
            Err(TicketError::Expired("1970-01-01T00:16:40Z".into()))
        );
        assert_eq!(
            key.verify(&s, "file::0190c0de5b6f7a3e8c1d2e3f4a5b6c7e", 999),
            Err(TicketError::BadMac)
        );
        assert_eq!(
            TicketKey::derive(b"other secret").verify(&s, FILE, 999),
            Err(TicketError::BadMac)
        );
    }

    #[test]
    fn altered_or_garbled_tickets_are_refused() {
        let key = TicketKey::derive(b"jwt secret");
        let s = key.issue(&ticket(1_000));
        // Flip every byte of the decoded ticket in turn: the fields and the MAC.
        let raw = URL_SAFE_NO_PAD.decode(&s).unwrap();
        for i in 0..raw.len() {
            let mut r = raw.clone();
            r[i] ^= 1;
            assert_eq!(
                key.verify(&URL_SAFE_NO_PAD.encode(&r), FILE, 0),
                Err(TicketError::BadMac),
                "byte {i}"
            );
        }
        for bad in ["", "!!!", "AAAA", &s[..s.len() - 1]] {
            assert!(key.verify(bad, FILE, 0).is_err(), "{bad:?}");
        }
        // A MAC-valid ticket with a bad field shape is malformed.
        let mut fields = b"soon\ninline\nK\nJ\n".to_vec();
        let tag = key.mac(FILE, &fields).finalize().into_bytes();
        fields.extend_from_slice(&tag);
        assert_eq!(
            key.verify(&URL_SAFE_NO_PAD.encode(&fields), FILE, 0),
            Err(TicketError::Malformed)
        );
    }

    #[test]
    fn the_ticket_key_is_not_the_jwt_key() {
        assert_ne!(TicketKey::derive(b"k").0.to_vec(), b"k".to_vec());
        assert_ne!(TicketKey::derive(b"k").0, TicketKey::derive(b"l").0);
    }
}
