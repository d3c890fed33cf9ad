//! TLS: a configured certificate and key, or a self-signed pair generated on
//! first start into the data directory and reused afterwards.

use crate::secrets::write_private;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The TLS settings in use.
pub struct Tls {
    /// rustls server configuration.
    pub config: Arc<rustls::ServerConfig>,
    /// SHA-256 fingerprint of the leaf certificate, `AA:BB:…`.
    pub fingerprint: String,
    /// Where the certificate came from.
    pub cert_path: PathBuf,
}

/// Loads `cert`/`key` if given, else the self-signed pair in `data_dir`
/// (generating it on first start).
pub fn load(data_dir: &Path, cert: Option<&Path>, key: Option<&Path>) -> anyhow::Result<Tls> {
    let (cert_path, key_path) = match (cert, key) {
        (Some(c), Some(k)) => (c.to_path_buf(), k.to_path_buf()),
        _ => {
            let c = data_dir.join("tls-cert.pem");
            let k = data_dir.join("tls-key.pem");
            if !c.exists() || !k.exists() {
                generate_self_signed(&c, &k)?;
            }
            (c, k)
        }
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_path)
        .map_err(|e| anyhow::anyhow!("{}: {e}", cert_path.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow::anyhow!("{}: {e}", cert_path.display()))?;
    let Some(leaf) = certs.first() else {
        anyhow::bail!("{}: no certificate in the file", cert_path.display());
    };
    let fingerprint = fingerprint(leaf);
    let key = PrivateKeyDer::from_pem_file(&key_path)
        .map_err(|e| anyhow::anyhow!("{}: {e}", key_path.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| anyhow::anyhow!("{} / {}: {e}", cert_path.display(), key_path.display()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Tls {
        config: Arc::new(config),
        fingerprint,
        cert_path,
    })
}

/// `AA:BB:…` SHA-256 of a DER certificate.
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn generate_self_signed(cert: &Path, key: &Path) -> anyhow::Result<()> {
    let host = gethostname_lossy();
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    if !host.is_empty() && host != "localhost" {
        names.push(host);
    }
    let certified = rcgen::generate_simple_self_signed(names)?;
    write_private(key, certified.key_pair.serialize_pem().as_bytes())?;
    write_private(cert, certified.cert.pem().as_bytes())?;
    tracing::info!(cert = %cert.display(), "generated a self-signed TLS certificate");
    Ok(())
}

fn gethostname_lossy() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}
