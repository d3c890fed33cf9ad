//! Access keys: generation, Argon2id hashing of secrets, verification.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::Rng;

/// A new access key id: `MOSAICFS_` and 16 uppercase hex digits.
pub fn new_access_key_id() -> String {
    let b: [u8; 8] = rand::rng().random();
    format!("MOSAICFS_{}", hex::encode_upper(b))
}

/// A new secret: 40 characters of URL-safe base64 (240 bits).
pub fn new_secret() -> String {
    use base64::Engine;
    let b: [u8; 30] = rand::rng().random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// Argon2id PHC string of `secret`.
pub fn hash_secret(secret: &str) -> Result<String, argon2::password_hash::Error> {
    let salt_bytes: [u8; 16] = rand::rng().random();
    let salt = SaltString::encode_b64(&salt_bytes)?;
    Ok(Argon2::default()
        .hash_password(secret.as_bytes(), &salt)?
        .to_string())
}

/// Whether `secret` matches the stored hash (constant-time inside argon2).
pub fn verify_secret(secret: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(secret.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Whether `id` has the access key id shape.
pub fn is_access_key_id(id: &str) -> bool {
    id.strip_prefix("MOSAICFS_").is_some_and(|h| {
        h.len() == 16
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_hash_and_verify() {
        let s = new_secret();
        let h = hash_secret(&s).unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(!h.contains(&s));
        assert!(verify_secret(&s, &h));
        assert!(!verify_secret("wrong", &h));
        assert!(!verify_secret(&s, "not a hash"));
        assert!(is_access_key_id(&new_access_key_id()));
        assert!(!is_access_key_id("MOSAICFS_abc"));
    }
}
