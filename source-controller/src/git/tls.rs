//! HTTPS server certificates checked against a Secret's `ca.crt` instead of
//! the system roots (self-hosted Git servers with a private CA).

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

/// Verifies the server's leaf certificate (`der`) for `host` against the PEM
/// CA bundle `ca_pem`, or says why it is not trusted.
pub fn verify(ca_pem: &[u8], der: &[u8], host: &str) -> Result<(), String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        let cert = cert.map_err(|e| format!("invalid 'ca.crt': {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("invalid 'ca.crt': {e}"))?;
    }
    if roots.is_empty() {
        return Err("'ca.crt' holds no certificate".into());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| format!("invalid 'ca.crt': {e}"))?;
    let name = ServerName::try_from(host.to_string())
        .map_err(|e| format!("invalid server name '{host}': {e}"))?;
    verifier
        .verify_server_cert(
            &CertificateDer::from(der.to_vec()),
            &[],
            &name,
            &[],
            UnixTime::now(),
        )
        .map(drop)
        .map_err(|e| {
            format!("x509: certificate of '{host}' is not trusted by the secret's 'ca.crt': {e}")
        })
}
