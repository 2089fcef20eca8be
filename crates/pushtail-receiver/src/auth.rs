//! Per-target authentication of pushers (a pushtail extension): HTTP basic
//! auth and bearer tokens, checked from the request head before any of the
//! body is read, compared in constant time.
//!
//! Secrets never leave this module in text: errors name the file, never
//! its content, and a failure says only "missing" or "wrong".

use base64::Engine;
use http::{header, HeaderMap};
use subtle::ConstantTimeEq;

use crate::config::AuthConfig;

/// Why a request was refused; the `reason` label of
/// [`crate::metrics::AUTH_FAILURES_TOTAL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthFailure {
    /// No `Authorization` header.
    Missing,
    /// Credentials sent but not the configured ones (or unparseable).
    Wrong,
    /// The target takes its tenant from the client certificate and the
    /// connection presented none.
    NoClientCert,
}

impl AuthFailure {
    pub(crate) fn reason(self) -> &'static str {
        match self {
            AuthFailure::Missing => "missing",
            AuthFailure::Wrong => "wrong",
            AuthFailure::NoClientCert => "no_client_cert",
        }
    }
}

/// A credential file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error("job {job:?}: cannot read {key} {path}: {reason}")]
    Unreadable {
        job: String,
        key: &'static str,
        path: String,
        reason: String,
    },
    #[error("job {job:?}: {key} {path} is empty")]
    Empty {
        job: String,
        key: &'static str,
        path: String,
    },
}

/// The credentials one target accepts, loaded (files read).
#[derive(Default)]
pub(crate) struct Credentials {
    /// `username:password`, as a basic auth header carries it decoded.
    basic: Option<Vec<u8>>,
    bearer: Option<Vec<u8>>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("basic", &self.basic.as_ref().map(|_| "<secret>"))
            .field("bearer", &self.bearer.as_ref().map(|_| "<secret>"))
            .finish()
    }
}

/// A secret file's content without its trailing newline (as Prometheus'
/// and Promtail's `*_file` keys read it).
fn read_secret(job: &str, key: &'static str, path: &str) -> Result<Vec<u8>, CredentialError> {
    let mut bytes = std::fs::read(path).map_err(|e| CredentialError::Unreadable {
        job: job.to_owned(),
        key,
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        bytes.pop();
    }
    if bytes.is_empty() {
        return Err(CredentialError::Empty {
            job: job.to_owned(),
            key,
            path: path.to_owned(),
        });
    }
    Ok(bytes)
}

impl Credentials {
    /// Reads the files the config names. Shape errors (both password and
    /// password_file, ...) were refused by [`crate::validate`] already.
    pub(crate) fn load(job: &str, cfg: &AuthConfig) -> Result<Credentials, CredentialError> {
        let basic = match &cfg.basic_auth {
            Some(b) => {
                let password = match (&b.password, &b.password_file) {
                    (Some(p), _) => p.expose().as_bytes().to_vec(),
                    (None, Some(path)) => read_secret(job, "basic_auth.password_file", path)?,
                    (None, None) => Vec::new(),
                };
                let mut pair = b.username.as_bytes().to_vec();
                pair.push(b':');
                pair.extend_from_slice(&password);
                Some(pair)
            }
            None => None,
        };
        let bearer = match (&cfg.bearer_token, &cfg.bearer_token_file) {
            (Some(t), _) => Some(t.expose().as_bytes().to_vec()),
            (None, Some(path)) => Some(read_secret(job, "bearer_token_file", path)?),
            (None, None) => None,
        };
        Ok(Credentials { basic, bearer })
    }

    pub(crate) fn required(&self) -> bool {
        self.basic.is_some() || self.bearer.is_some()
    }

    /// The `WWW-Authenticate` challenges for a 401 from this target.
    pub(crate) fn challenges(&self) -> &'static str {
        match (self.basic.is_some(), self.bearer.is_some()) {
            (true, true) => "Basic realm=\"pushtail\", Bearer realm=\"pushtail\"",
            (true, false) => "Basic realm=\"pushtail\"",
            _ => "Bearer realm=\"pushtail\"",
        }
    }

    /// Checks the `Authorization` header: either configured credential
    /// passes. Every comparison runs in constant time for equal lengths.
    pub(crate) fn check(&self, headers: &HeaderMap) -> Result<(), AuthFailure> {
        if !self.required() {
            return Ok(());
        }
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Err(AuthFailure::Missing);
        };
        let value = value.as_bytes();
        let Some(space) = value.iter().position(|b| *b == b' ') else {
            return Err(AuthFailure::Wrong);
        };
        let (scheme, rest) = (&value[..space], trim(&value[space + 1..]));
        if scheme.eq_ignore_ascii_case(b"basic") {
            if let Some(expected) = &self.basic {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(rest)
                    .map_err(|_| AuthFailure::Wrong)?;
                if bool::from(decoded.ct_eq(expected)) {
                    return Ok(());
                }
            }
        } else if scheme.eq_ignore_ascii_case(b"bearer") {
            if let Some(expected) = &self.bearer {
                if bool::from(rest.ct_eq(expected.as_slice())) {
                    return Ok(());
                }
            }
        }
        Err(AuthFailure::Wrong)
    }
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != b' ').unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| *b != b' ')
        .map_or(start, |e| e + 1);
    &bytes[start..end.max(start)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{BasicAuthConfig, Secret};

    fn creds(basic: Option<(&str, &str)>, bearer: Option<&str>) -> Credentials {
        let cfg = AuthConfig {
            basic_auth: basic.map(|(u, p)| BasicAuthConfig {
                username: u.into(),
                password: Some(Secret::new(p)),
                password_file: None,
            }),
            bearer_token: bearer.map(Secret::new),
            bearer_token_file: None,
        };
        Credentials::load("job", &cfg).expect("inline credentials load")
    }

    fn basic(user_pass: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_pass)
        )
    }

    #[test]
    fn credentials_are_checked() {
        let both = creds(Some(("edge", "s3cret")), Some("tok"));
        let only_basic = creds(Some(("edge", "s3cret")), None);
        let none = creds(None, None);
        let table: &[(&Credentials, Option<String>, Result<(), AuthFailure>)] = &[
            (&both, None, Err(AuthFailure::Missing)),
            (&both, Some(basic("edge:s3cret")), Ok(())),
            (&both, Some("Bearer tok".into()), Ok(())),
            (&both, Some("bearer  tok ".into()), Ok(())),
            (&both, Some(basic("edge:wrong")), Err(AuthFailure::Wrong)),
            (&both, Some(basic("other:s3cret")), Err(AuthFailure::Wrong)),
            (&both, Some("Bearer tok2".into()), Err(AuthFailure::Wrong)),
            (&both, Some("Basic !!!".into()), Err(AuthFailure::Wrong)),
            (&both, Some("Digest x".into()), Err(AuthFailure::Wrong)),
            (&both, Some("tok".into()), Err(AuthFailure::Wrong)),
            (
                &only_basic,
                Some("Bearer tok".into()),
                Err(AuthFailure::Wrong),
            ),
            (&none, None, Ok(())),
            (&none, Some("Bearer x".into()), Ok(())),
        ];
        for (creds, header, want) in table {
            let mut headers = HeaderMap::new();
            if let Some(h) = header {
                headers.insert(header::AUTHORIZATION, h.parse().expect("header value"));
            }
            assert_eq!(creds.check(&headers), *want, "{header:?}");
        }
    }

    #[test]
    fn files_are_read_trimmed_and_errors_name_the_file() {
        let dir = std::env::temp_dir().join(format!("pushtail-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let token = dir.join("token");
        let empty = dir.join("empty");
        std::fs::write(&token, "tok\n").expect("write token");
        std::fs::write(&empty, "\n").expect("write empty");
        let cfg = |path: &std::path::Path| AuthConfig {
            bearer_token_file: Some(path.display().to_string()),
            ..AuthConfig::default()
        };
        let loaded = Credentials::load("j", &cfg(&token)).expect("token file loads");
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, "Bearer tok".parse().expect("value"));
        assert_eq!(loaded.check(&headers), Ok(()));
        let err = Credentials::load("j", &cfg(&empty))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("empty") && err.contains("bearer_token_file"),
            "{err}"
        );
        let missing = dir.join("missing");
        let err = Credentials::load("j", &cfg(&missing))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("cannot read") && err.contains("missing"),
            "{err}"
        );
        assert!(!format!("{loaded:?}").contains("tok"), "{loaded:?}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
