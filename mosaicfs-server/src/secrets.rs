//! Files in the data directory that must stay private: the TLS key pair and
//! the JWT signing key. Written once (temp file + rename, mode 0600) and
//! reused at every start.

use rand::Rng;
use std::path::Path;

/// Writes `bytes` to `path` atomically with mode 0600, creating its
/// directory.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))?;
    mosaicfs_common::fsutil::write_atomic(path, bytes, Some(0o600))
}

/// The persistent JWT signing key (`{data_dir}/jwt.key`, 32 random bytes,
/// hex), created on first start.
pub fn jwt_key(data_dir: &Path) -> std::io::Result<Vec<u8>> {
    let path = data_dir.join("jwt.key");
    match std::fs::read_to_string(&path) {
        Ok(text) => hex::decode(text.trim()).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: not a hex key ({e}); delete it to generate a new one (all tokens become invalid)", path.display()),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key: [u8; 32] = rand::rng().random();
            write_private(&path, hex::encode(key).as_bytes())?;
            tracing::info!(path = %path.display(), "generated the JWT signing key");
            Ok(key.to_vec())
        }
        Err(e) => Err(e),
    }
}

/// File holding logged-out token ids until they expire.
const REVOKED_FILE: &str = "revoked-tokens.json";

/// Logged-out token ids (`jti` → expiry, unix seconds) saved by
/// [`save_revoked`], minus those already expired. A missing or unreadable
/// file gives an empty set (logged, never fatal: tokens expire anyway).
pub fn load_revoked(data_dir: &Path) -> std::collections::HashMap<String, i64> {
    let path = data_dir.join(REVOKED_FILE);
    let now = chrono::Utc::now().timestamp();
    match std::fs::read(&path) {
        Ok(bytes) => match serde_json::from_slice::<std::collections::HashMap<String, i64>>(&bytes)
        {
            Ok(mut m) => {
                m.retain(|_, exp| *exp > now);
                m
            }
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "revoked-token list is unreadable; ignoring it");
                Default::default()
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Default::default(),
        Err(e) => {
            tracing::error!(path = %path.display(), error = %e, "cannot read the revoked-token list");
            Default::default()
        }
    }
}

/// Persists the logged-out token ids (atomically, mode 0600), so a logout
/// survives a server restart.
pub fn save_revoked(
    data_dir: &Path,
    revoked: &std::collections::HashMap<String, i64>,
) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(revoked).map_err(std::io::Error::other)?;
    write_private(&data_dir.join(REVOKED_FILE), &bytes)
}
