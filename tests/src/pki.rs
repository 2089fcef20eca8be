//! Certificates made at test time with rcgen: a CA, server certificates for
//! `127.0.0.1`/`localhost` and client certificates with a chosen CN, all
//! written as PEM files into a directory of their own (removed on drop).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A test CA and the directory its files go to.
pub struct Pki {
    dir: PathBuf,
    issuer: Issuer<'static, KeyPair>,
    ca_pem: String,
}

/// A certificate and its key, as PEM.
pub struct Pair {
    pub cert: String,
    pub key: String,
}

impl Pair {
    /// Certificate and key in one PEM buffer (what `reqwest::Identity`
    /// takes).
    pub fn identity_pem(&self) -> String {
        format!("{}{}", self.cert, self.key)
    }
}

fn params(cn: &str, names: Vec<String>) -> CertificateParams {
    let mut params =
        CertificateParams::new(names).unwrap_or_else(|e| panic!("certificate params: {e}"));
    params.distinguished_name.push(DnType::CommonName, cn);
    params
}

fn generated_key() -> KeyPair {
    KeyPair::generate().unwrap_or_else(|e| panic!("generating a key: {e}"))
}

impl Pki {
    /// A fresh CA; `ca.pem` is written into a new temp directory.
    pub fn new(name: &str) -> Pki {
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("pushtail-pki-{name}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {dir:?}: {e}"));
        let key = generated_key();
        let mut ca = params(&format!("pushtail test CA {name}"), Vec::new());
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = ca
            .self_signed(&key)
            .unwrap_or_else(|e| panic!("self-signing the CA: {e}"));
        let ca_pem = cert.pem();
        let pki = Pki {
            dir,
            issuer: Issuer::new(ca, key),
            ca_pem,
        };
        pki.write("ca.pem", &pki.ca_pem);
        pki
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A file in the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Writes `content` to `name` atomically (temp file + rename), as
    /// cert-manager and kubelet replace files.
    pub fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.path(name);
        let tmp = self.path(&format!(".{name}.tmp"));
        std::fs::write(&tmp, content).unwrap_or_else(|e| panic!("writing {tmp:?}: {e}"));
        std::fs::rename(&tmp, &path).unwrap_or_else(|e| panic!("renaming to {path:?}: {e}"));
        path
    }

    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// A server certificate for `127.0.0.1` and `localhost`.
    pub fn server(&self, cn: &str) -> Pair {
        let mut p = params(cn, vec!["localhost".into(), "127.0.0.1".into()]);
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(p)
    }

    /// A client certificate whose subject CN is `cn`.
    pub fn client(&self, cn: &str) -> Pair {
        let mut p = params(cn, Vec::new());
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(p)
    }

    fn sign(&self, params: CertificateParams) -> Pair {
        let key = generated_key();
        let cert = params
            .signed_by(&key, &self.issuer)
            .unwrap_or_else(|e| panic!("signing a certificate: {e}"));
        Pair {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }

    /// Writes a server pair as `server.crt` and `server.key`.
    pub fn write_server(&self, pair: &Pair) {
        self.write("server.crt", &pair.cert);
        self.write("server.key", &pair.key);
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
