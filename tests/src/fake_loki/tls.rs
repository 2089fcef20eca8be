//! TLS for the fake Loki, from the fixture certificates in
//! `tests/fixtures/tls`: a test CA (`ca.pem`, its key discarded), a server
//! certificate for `127.0.0.1`/`localhost` and a client certificate, both
//! signed by the CA and valid until 2126 (made with `openssl`, EC P-256).

use std::path::PathBuf;
use std::sync::Arc;

use tokio_rustls::rustls::crypto::ring::default_provider;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{RootCertStore, ServerConfig};
use tokio_rustls::TlsAcceptor;

/// Path of a TLS fixture: `ca.pem`, `server.pem`, `server.key`,
/// `client.pem`, `client.key`.
pub fn tls_fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/tls")
        .join(name)
}

fn certs(name: &str) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(tls_fixture(name))
        .and_then(Iterator::collect)
        .unwrap_or_else(|e| panic!("fake loki: reading fixture {name}: {e}"))
}

/// An acceptor presenting `server.pem`; with `require_client_cert`, clients
/// must present a certificate signed by `ca.pem`.
pub(super) fn acceptor(require_client_cert: bool) -> TlsAcceptor {
    let provider = Arc::new(default_provider());
    let key = PrivateKeyDer::from_pem_file(tls_fixture("server.key"))
        .unwrap_or_else(|e| panic!("fake loki: reading fixture server.key: {e}"));
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .unwrap_or_else(|e| panic!("fake loki: tls versions: {e}"));
    let builder = if require_client_cert {
        let mut roots = RootCertStore::empty();
        for ca in certs("ca.pem") {
            roots
                .add(ca)
                .unwrap_or_else(|e| panic!("fake loki: ca.pem: {e}"));
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .unwrap_or_else(|e| panic!("fake loki: client verifier: {e}"));
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let mut config = builder
        .with_single_cert(certs("server.pem"), key)
        .unwrap_or_else(|e| panic!("fake loki: server certificate: {e}"));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    TlsAcceptor::from(Arc::new(config))
}
