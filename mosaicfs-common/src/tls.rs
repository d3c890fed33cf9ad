//! Pinning the control plane's self-signed certificate by its SHA-256
//! fingerprint (`AA:BB:…`, as `GET /health` reports it): the helpers and the
//! rustls verifier shared by `mosaicfs-agent init` and the VFS's token
//! requests.

use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};

/// `AA:BB:…` SHA-256 of a DER certificate, as `GET /health` reports it.
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Whether two fingerprints are equal, ignoring case and separators.
pub fn same_fingerprint(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        s.chars()
            .filter(char::is_ascii_hexdigit)
            .map(|c| c.to_ascii_uppercase())
            .collect::<String>()
    };
    let (a, b) = (norm(a), norm(b));
    a.len() == 64 && a == b
}

/// Whether `s` is exactly 32 colon-separated pairs of hex digits
/// (`AA:BB:…`; either case).
pub fn is_valid_fingerprint(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    parts.len() == 32
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Accepts the server's certificate when its leaf's fingerprint equals the
/// pinned one (or, unpinned, any certificate: only for a first contact), and
/// records what it saw. Handshake signatures are still verified against that
/// certificate, so the peer must hold its private key.
#[derive(Debug)]
pub struct PinnedVerifier {
    expected: Option<String>,
    seen: Arc<Mutex<Option<String>>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PinnedVerifier {
    /// A verifier pinned to `expected` (`None`: trust on first use).
    pub fn new(expected: Option<&str>) -> PinnedVerifier {
        PinnedVerifier {
            expected: expected.map(str::to_string),
            seen: Arc::new(Mutex::new(None)),
            algorithms: rustls::crypto::ring::default_provider().signature_verification_algorithms,
        }
    }

    /// The fingerprint of the last certificate presented, shared with the
    /// verifier (read it after a connection attempt).
    pub fn seen(&self) -> Arc<Mutex<Option<String>>> {
        self.seen.clone()
    }

    /// A rustls client configuration (ring) that verifies with `self`.
    pub fn client_config(self) -> Result<rustls::ClientConfig, rustls::Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Ok(rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(self))
            .with_no_client_auth())
    }
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let fp = fingerprint(end_entity.as_ref());
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some(fp.clone());
        }
        match &self.expected {
            Some(want) if !same_fingerprint(want, &fp) => Err(rustls::Error::General(format!(
                "certificate fingerprint {fp} is not the pinned {want}"
            ))),
            _ => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints() {
        let fp = fingerprint(b"cert");
        assert!(is_valid_fingerprint(&fp), "{fp}");
        assert!(is_valid_fingerprint(&fp.to_lowercase()));
        assert!(same_fingerprint(&fp, &fp.replace(':', "").to_lowercase()));
        assert!(!same_fingerprint(&fp, &fingerprint(b"other")));
        assert!(!same_fingerprint("AB", "AB"));
        assert!(!is_valid_fingerprint(&fp.replace(':', "")));
        assert!(!is_valid_fingerprint(&fp[3..]));
        assert!(!is_valid_fingerprint(&format!("{fp}:00")));
        assert!(!is_valid_fingerprint(&format!("GG{}", &fp[2..])));
    }
}
