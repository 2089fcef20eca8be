//! Building the HTTP client: default headers (content type, user agent,
//! configured headers, auth) and TLS, read once at spawn.
//!
//! This is the only place the client reads files (password, token, TLS);
//! every error names the file. It never sends a request.

use std::path::{Path, PathBuf};

use base64::Engine;
use http::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};

use crate::config::{redacted_url, ClientConfig, ClientConfigError};
use crate::ClientError;

/// `User-Agent` of every request.
pub(crate) const USER_AGENT_VALUE: &str = concat!("pushtail/", env!("CARGO_PKG_VERSION"));

/// The reqwest client for `cfg`, with every fixed header set once.
pub(crate) fn build_client(cfg: &ClientConfig) -> Result<reqwest::Client, ClientError> {
    let url = &redacted_url(&cfg.url);
    let mut builder = reqwest::Client::builder()
        .default_headers(default_headers(cfg)?)
        .timeout(cfg.timeout.get())
        .use_rustls_tls();
    builder = match &cfg.proxy_url {
        Some(proxy) => {
            let proxy = reqwest::Proxy::all(proxy).map_err(|source| ClientError::Build {
                url: url.clone(),
                source,
            })?;
            builder.proxy(proxy)
        }
        // Like Promtail: no proxy unless one is configured, whatever the
        // environment says.
        None => builder.no_proxy(),
    };
    if cfg.follow_redirects == Some(false) {
        builder = builder.redirect(reqwest::redirect::Policy::none());
    }
    let tls = &cfg.tls_config;
    if let Some(ca) = &tls.ca_file {
        let pem = read(url, ca)?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| bad_file(url, ca, e.to_string()))?;
        if certs.is_empty() {
            return Err(bad_file(url, ca, "no PEM certificate found".to_owned()));
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    if let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) {
        let mut pem = read(url, key)?;
        pem.push(b'\n');
        pem.extend_from_slice(&read(url, cert)?);
        let identity = reqwest::Identity::from_pem(&pem)
            .map_err(|e| bad_file(url, cert, format!("with key_file {}: {e}", key.display())))?;
        builder = builder.identity(identity);
    }
    if tls.insecure_skip_verify {
        builder = builder.danger_accept_invalid_certs(true);
    }
    if let Some(name) = &tls.server_name {
        // reqwest cannot verify against a name other than the URL's host.
        tracing::warn!(
            url = %url,
            server_name = %name,
            "tls_config.server_name is not supported; the certificate is checked against the url's host"
        );
    }
    builder.build().map_err(|source| ClientError::Build {
        url: url.clone(),
        source,
    })
}

fn default_headers(cfg: &ClientConfig) -> Result<HeaderMap, ClientError> {
    let url = &redacted_url(&cfg.url);
    let config_err = |source| ClientError::Config {
        url: url.clone(),
        source,
    };
    let mut headers = HeaderMap::new();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-protobuf"),
    );
    headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
    for (name, value) in &cfg.headers {
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| config_err(ClientConfigError::HeaderName(name.clone())))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| config_err(ClientConfigError::HeaderValue(name.clone())))?;
        headers.append(header, value);
    }
    if let Some(auth) = authorization(cfg)? {
        headers.insert(AUTHORIZATION, auth);
    }
    Ok(headers)
}

/// The `Authorization` value from basic auth or a bearer token, if any.
fn authorization(cfg: &ClientConfig) -> Result<Option<HeaderValue>, ClientError> {
    let url = &redacted_url(&cfg.url);
    let raw = if let Some(auth) = &cfg.basic_auth {
        let password = match (&auth.password, &auth.password_file) {
            (Some(p), _) => p.clone(),
            (None, Some(path)) => read_trimmed(url, path)?,
            (None, None) => String::new(),
        };
        let creds = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{password}", auth.username));
        format!("Basic {creds}")
    } else if let Some(token) = &cfg.bearer_token {
        format!("Bearer {token}")
    } else if let Some(path) = &cfg.bearer_token_file {
        format!("Bearer {}", read_trimmed(url, path)?)
    } else {
        return Ok(None);
    };
    let mut value = HeaderValue::from_str(&raw).map_err(|_| {
        let what = match (&cfg.basic_auth, &cfg.bearer_token_file) {
            (Some(_), _) => "basic_auth",
            (None, Some(_)) => "bearer_token_file",
            (None, None) => "bearer_token",
        };
        ClientError::BadFile {
            url: url.clone(),
            path: PathBuf::from(what),
            reason: "contains characters not allowed in an http header".to_owned(),
        }
    })?;
    value.set_sensitive(true);
    Ok(Some(value))
}

fn read(url: &str, path: &Path) -> Result<Vec<u8>, ClientError> {
    std::fs::read(path).map_err(|source| ClientError::ReadFile {
        url: url.to_owned(),
        path: path.to_owned(),
        source,
    })
}

/// A secret file's content without surrounding whitespace, as Prometheus
/// reads password and token files.
fn read_trimmed(url: &str, path: &Path) -> Result<String, ClientError> {
    let bytes = read(url, path)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| bad_file(url, path, "is not valid UTF-8".to_owned()))?;
    Ok(text.trim().to_owned())
}

fn bad_file(url: &str, path: &Path, reason: String) -> ClientError {
    ClientError::BadFile {
        url: url.to_owned(),
        path: path.to_owned(),
        reason,
    }
}
