//! 24-hour HS256 tokens signed with the server's persistent key.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// Token lifetime.
pub const TOKEN_LIFETIME_SECS: i64 = 24 * 3600;

/// Claims in a token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// Access key id.
    pub sub: String,
    /// Token id.
    pub jti: String,
    /// Issued at (unix seconds).
    pub iat: i64,
    /// Expiry (unix seconds).
    pub exp: i64,
}

/// Signing and verification keys.
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl JwtKeys {
    /// Keys from the secret bytes.
    pub fn new(secret: &[u8]) -> JwtKeys {
        JwtKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }

    /// A new token for `access_key_id`.
    pub fn issue(
        &self,
        access_key_id: &str,
    ) -> Result<(String, Claims), jsonwebtoken::errors::Error> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: access_key_id.to_string(),
            jti: uuid::Uuid::new_v4().simple().to_string(),
            iat: now,
            exp: now + TOKEN_LIFETIME_SECS,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok((token, claims))
    }

    /// Verifies signature and expiry.
    pub fn verify(&self, token: &str) -> Result<Claims, jsonwebtoken::errors::Error> {
        let mut v = Validation::new(Algorithm::HS256);
        v.leeway = 0;
        v.set_required_spec_claims(&["exp", "sub"]);
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &v).map(|d| d.claims)
    }
}
