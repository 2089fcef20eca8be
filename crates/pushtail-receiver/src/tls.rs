//! TLS for a listener (`http_tls_config`): loading and checking the
//! certificate, key and client CAs, rustls' server config (ALPN h2 and
//! http/1.1, the minimum version, Go's client auth types), rotation, and
//! what a handshake tells the request (the client certificate's CN).
//!
//! Rotation: every [`ROTATION_CHECK`] the files' identity (inode, size,
//! mtime) is compared with what was loaded; when it changed, the files are
//! loaded and checked again and, only if they make a working config, new
//! connections get it. A bad new pair keeps the old config and is logged
//! once per change. Connections already open keep what they negotiated.
//!
//! Nothing here runs per request; a handshake costs one `ArcSwap` load.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use tokio_rustls::rustls;
use tokio_rustls::rustls::client::danger::HandshakeSignatureValid;
use tokio_rustls::rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use tokio_rustls::rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore};
use tokio_rustls::TlsAcceptor;

use crate::config::{ClientAuthType, TlsServerConfig, TlsVersion};

/// How often certificate, key and client CA files are checked for change.
pub(crate) const ROTATION_CHECK: Duration = Duration::from_secs(1);

/// A TLS setting that cannot be used: names the file (or inline key) and
/// what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    #[error("{origin}: cannot read: {reason}")]
    Unreadable { origin: String, reason: String },
    #[error("{origin}: not PEM: {reason}")]
    NotPem { origin: String, reason: String },
    #[error("{origin}: no PEM {wanted} found")]
    Empty {
        origin: String,
        wanted: &'static str,
    },
    #[error("{key}: key does not match the certificate in {cert}")]
    KeyMismatch { cert: String, key: String },
    #[error("{origin}: {reason}")]
    Invalid { origin: String, reason: String },
}

/// Where a piece of PEM comes from: a file, or the config itself.
#[derive(Debug, Clone, Copy)]
enum Pem<'a> {
    File(&'a str, &'static str),
    Inline(&'a str, &'static str),
}

impl Pem<'_> {
    fn origin(&self) -> String {
        match self {
            Pem::File(path, key) => format!("http_tls_config.{key} {path}"),
            Pem::Inline(_, key) => format!("http_tls_config.{key} (inline)"),
        }
    }

    fn bytes(&self) -> Result<Vec<u8>, TlsError> {
        match self {
            Pem::File(path, _) => std::fs::read(path).map_err(|e| TlsError::Unreadable {
                origin: self.origin(),
                reason: e.to_string(),
            }),
            Pem::Inline(text, _) => Ok(text.as_bytes().to_vec()),
        }
    }
}

fn pick<'a>(
    file: &'a str,
    file_key: &'static str,
    inline: &'a str,
    inline_key: &'static str,
) -> Option<Pem<'a>> {
    if !file.is_empty() {
        Some(Pem::File(file, file_key))
    } else if !inline.is_empty() {
        Some(Pem::Inline(inline, inline_key))
    } else {
        None
    }
}

fn certs(pem: Pem<'_>) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = pem.bytes()?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(pem, "certificate", e))?;
    if certs.is_empty() {
        return Err(TlsError::Empty {
            origin: pem.origin(),
            wanted: "certificate",
        });
    }
    Ok(certs)
}

fn key(pem: Pem<'_>) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = pem.bytes()?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| pem_error(pem, "private key", e))
}

fn pem_error(pem: Pem<'_>, wanted: &'static str, e: rustls::pki_types::pem::Error) -> TlsError {
    match e {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::Empty {
            origin: pem.origin(),
            wanted,
        },
        other => TlsError::NotPem {
            origin: pem.origin(),
            reason: other.to_string(),
        },
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Loads every file the config names and builds the rustls config: what
/// start-up and each rotation run.
pub(crate) fn load(cfg: &TlsServerConfig) -> Result<rustls::ServerConfig, TlsError> {
    let cert_pem =
        pick(&cfg.cert_file, "cert_file", &cfg.cert, "cert").ok_or_else(|| TlsError::Invalid {
            origin: "http_tls_config".into(),
            reason: "needs cert_file or cert".into(),
        })?;
    let inline_key = cfg.key.as_ref().map_or("", |k| k.expose());
    let key_pem =
        pick(&cfg.key_file, "key_file", inline_key, "key").ok_or_else(|| TlsError::Invalid {
            origin: "http_tls_config".into(),
            reason: "needs key_file or key".into(),
        })?;
    let chain = certs(cert_pem)?;
    let key = key(key_pem)?;
    let provider = provider();
    let versions: &[&'static rustls::SupportedProtocolVersion] = match cfg.min_version {
        TlsVersion::TLS12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsVersion::TLS13 => &[&rustls::version::TLS13],
    };
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(versions)
        .map_err(|e| TlsError::Invalid {
            origin: "http_tls_config.min_version".into(),
            reason: e.to_string(),
        })?;
    let verifier = client_verifier(cfg, &provider)?;
    let builder = match verifier {
        Some(v) => builder.with_client_cert_verifier(v),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(chain, key).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => TlsError::KeyMismatch {
            cert: cert_pem.origin(),
            key: key_pem.origin(),
        },
        other => TlsError::Invalid {
            origin: key_pem.origin(),
            reason: other.to_string(),
        },
    })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

fn client_verifier(
    cfg: &TlsServerConfig,
    provider: &Arc<CryptoProvider>,
) -> Result<Option<Arc<dyn ClientCertVerifier>>, TlsError> {
    let any = |mandatory| -> Arc<dyn ClientCertVerifier> {
        Arc::new(AnyClientCert {
            mandatory,
            schemes: provider.signature_verification_algorithms,
        })
    };
    Ok(match cfg.client_auth_type {
        ClientAuthType::NoClientCert => None,
        ClientAuthType::RequestClientCert => Some(any(false)),
        ClientAuthType::RequireAnyClientCert => Some(any(true)),
        ClientAuthType::VerifyClientCertIfGiven | ClientAuthType::RequireAndVerifyClientCert => {
            let pem = pick(
                &cfg.client_ca_file,
                "client_ca_file",
                &cfg.client_ca,
                "client_ca",
            )
            .ok_or_else(|| TlsError::Invalid {
                origin: "http_tls_config.client_auth_type".into(),
                reason: "needs client_ca_file or client_ca".into(),
            })?;
            let mut roots = RootCertStore::empty();
            for cert in certs(pem)? {
                roots.add(cert).map_err(|e| TlsError::Invalid {
                    origin: pem.origin(),
                    reason: format!("unusable CA certificate: {e}"),
                })?;
            }
            let builder =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(provider));
            let builder = if cfg.client_auth_type == ClientAuthType::VerifyClientCertIfGiven {
                builder.allow_unauthenticated()
            } else {
                builder
            };
            Some(builder.build().map_err(|e| TlsError::Invalid {
                origin: pem.origin(),
                reason: e.to_string(),
            })?)
        }
    })
}

/// Go's `RequestClientCert` and `RequireAnyClientCert`: any certificate is
/// taken without checking its chain (the client still proves it holds the
/// key).
#[derive(Debug)]
struct AnyClientCert {
    mandatory: bool,
    schemes: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AnyClientCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.schemes)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.schemes)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.schemes.supported_schemes()
    }
}

/// Identity of the files a config was loaded from; a change means reload.
type Fingerprint = Vec<Option<(u64, u64, SystemTime)>>;

fn fingerprint(cfg: &TlsServerConfig) -> Fingerprint {
    [&cfg.cert_file, &cfg.key_file, &cfg.client_ca_file]
        .into_iter()
        .filter(|p| !p.is_empty())
        .map(|p| {
            let meta = std::fs::metadata(Path::new(p)).ok()?;
            Some((inode(&meta), meta.len(), meta.modified().ok()?))
        })
        .collect()
}

#[cfg(unix)]
fn inode(meta: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(meta)
}

#[cfg(not(unix))]
fn inode(_: &std::fs::Metadata) -> u64 {
    0
}

/// A listener's TLS: the config in force and what it was loaded from.
pub(crate) struct Tls {
    cfg: TlsServerConfig,
    current: ArcSwap<rustls::ServerConfig>,
    seen: Mutex<Fingerprint>,
    /// Client certificates are checked against a CA (so their CN can be
    /// trusted for the tenant).
    pub verified: bool,
}

impl Tls {
    /// Loads the files now; start-up fails on any problem.
    pub(crate) fn new(cfg: &TlsServerConfig) -> Result<Tls, TlsError> {
        let seen = fingerprint(cfg);
        let config = load(cfg)?;
        Ok(Tls {
            cfg: cfg.clone(),
            current: ArcSwap::from_pointee(config),
            seen: Mutex::new(seen),
            verified: cfg.client_auth_type.verifies(),
        })
    }

    /// The acceptor for the next connection.
    pub(crate) fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.current.load_full())
    }

    /// Reloads when the files changed since the last look; a config that
    /// does not load keeps the old one (logged).
    pub(crate) fn check_rotation(&self) {
        let now = fingerprint(&self.cfg);
        {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            if *seen == now {
                return;
            }
            *seen = now;
        }
        match load(&self.cfg) {
            Ok(config) => {
                self.current.store(Arc::new(config));
                tracing::info!(
                    cert_file = %self.cfg.cert_file,
                    "TLS certificate files changed; new connections use them"
                );
            }
            Err(e) => tracing::warn!(
                error = %e,
                "TLS certificate files changed but do not load; keeping the previous certificate"
            ),
        }
    }

    /// Whether any file can change (inline material cannot).
    pub(crate) fn has_files(&self) -> bool {
        !(self.cfg.cert_file.is_empty()
            && self.cfg.key_file.is_empty()
            && self.cfg.client_ca_file.is_empty())
    }
}

/// The subject CN of the client certificate a connection presented.
pub(crate) fn client_cn(conn: &rustls::ServerConnection) -> Option<String> {
    let der = conn.peer_certificates()?.first()?;
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_owned)
}

/// A first byte that starts an HTTP/1 request line (a method), not a TLS
/// record: the client is speaking plain HTTP to a TLS port.
pub(crate) fn looks_like_plain_http(first: u8) -> bool {
    first.is_ascii_uppercase()
}

/// What a plain HTTP client gets on a TLS port before the connection closes.
pub(crate) const PLAIN_HTTP_RESPONSE: &[u8] = b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\nthis port serves TLS: use https\n";
