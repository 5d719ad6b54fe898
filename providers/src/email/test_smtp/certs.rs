//! A throwaway certificate authority and a server certificate for `localhost`, `127.0.0.1` and
//! `::1`, made with rcgen for each test server; clients trust the CA's PEM.

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// The server side of TLS and the CA certificate clients must trust.
pub struct TestTls {
    /// Accepts TLS with the server certificate.
    pub acceptor: TlsAcceptor,
    /// The CA certificate, PEM.
    pub ca_pem: String,
}

/// Makes a fresh CA and a server certificate signed by it.
pub fn generate() -> Result<TestTls, String> {
    let fail = |step: &str, error: &dyn std::fmt::Display| format!("test SMTP TLS: {step}: {error}");
    let ca_key = KeyPair::generate().map_err(|e| fail("CA key", &e))?;
    let mut ca_params = CertificateParams::new(Vec::new()).map_err(|e| fail("CA params", &e))?;
    ca_params.distinguished_name.push(DnType::CommonName, "Open Cowork test SMTP CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca_params.self_signed(&ca_key).map_err(|e| fail("CA certificate", &e))?;
    let issuer = Issuer::new(ca_params, ca_key);

    let server_key = KeyPair::generate().map_err(|e| fail("server key", &e))?;
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
    let mut server_params = CertificateParams::new(names).map_err(|e| fail("server params", &e))?;
    server_params.distinguished_name.push(DnType::CommonName, "localhost");
    let server_cert = server_params.signed_by(&server_key, &issuer).map_err(|e| fail("server certificate", &e))?;

    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
    let chain = vec![server_cert.der().clone(), ca_cert.der().clone()];
    let config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| fail("protocol versions", &e))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| fail("server config", &e))?;
    Ok(TestTls { acceptor: TlsAcceptor::from(Arc::new(config)), ca_pem: ca_cert.pem() })
}
