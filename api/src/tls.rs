//! The API's TLS identity for clients on the network: a PEM file (a Compose
//! secret) holding the certificate chain and its private key, read once at
//! start into a rustls configuration (ring, TLS 1.2 and 1.3, HTTP/1.1 by
//! ALPN). Every problem with the file is named with the file.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The server configuration from the PEM file at `path`.
pub fn server_config(path: &Path) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let pem = std::fs::read(path)
        .with_context(|| format!("cannot read the TLS file {}", path.display()))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .with_context(|| format!("{}: a certificate is not valid PEM", path.display()))?;
    if certs.is_empty() {
        bail!(
            "{} holds no certificate (`-----BEGIN CERTIFICATE-----`); it must hold the certificate and its private key",
            path.display()
        );
    }
    let key = PrivateKeyDer::from_pem_slice(&pem).map_err(|err| match err {
        rustls::pki_types::pem::Error::NoItemsFound => anyhow::anyhow!(
            "{} holds no private key (`-----BEGIN PRIVATE KEY-----`); it must hold the certificate and its private key",
            path.display()
        ),
        other => anyhow::anyhow!("{}: the private key is not valid PEM: {other}", path.display()),
    })?;
    let fingerprint = servicekit::tls::fingerprint(&certs[0]);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("the TLS provider offers no protocol version")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .with_context(|| {
            format!(
                "{}: the private key does not go with the certificate, or is of a kind rustls cannot use",
                path.display()
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    tracing::info!(%fingerprint, "TLS for clients on the network, certificate SHA-256");
    Ok(Arc::new(config))
}
