//! The `clients:` entry of the config file: serde structs with Promtail's key
//! names and defaults, and validation that needs no I/O.
//!
//! This module never reads files or opens sockets: password, token and TLS
//! files are read when the client is built (see `http.rs`), so `validate`
//! can run on `-check-syntax` without touching the filesystem.

use std::collections::BTreeMap;
use std::path::PathBuf;

use pushtail_proto::labels::is_valid_label_name;
use pushtail_proto::tenant::{TenantError, TenantId};
use pushtail_proto::units::{ByteSize, Duration};
use serde::Deserialize;

/// One Loki (or downstream pushtail) to send every entry to.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// The push endpoint, e.g. `http://loki:3100/loki/api/v1/push`.
    pub url: String,
    /// Tenant for entries that carry none; empty means no `X-Scope-OrgID`.
    #[serde(default)]
    pub tenant_id: String,
    /// Longest time an entry waits in a batch before the batch is sent.
    #[serde(default = "default_batchwait")]
    pub batchwait: Duration,
    /// Largest batch, in bytes of line plus structured metadata.
    #[serde(default = "default_batchsize")]
    pub batchsize: ByteSize,
    /// Timeout of one HTTP request.
    #[serde(default = "default_timeout")]
    pub timeout: Duration,
    #[serde(default)]
    pub backoff_config: BackoffConfig,
    /// Labels added to every stream; a stream's own labels win.
    #[serde(default)]
    pub external_labels: BTreeMap<String, String>,
    /// Extra HTTP headers sent with every request.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub basic_auth: Option<BasicAuth>,
    #[serde(default)]
    pub bearer_token: Option<String>,
    #[serde(default)]
    pub bearer_token_file: Option<PathBuf>,
    #[serde(default)]
    pub tls_config: TlsConfig,
    /// Drop a batch answered with 429 instead of retrying it.
    #[serde(default)]
    pub drop_rate_limited_batches: bool,
    /// pushtail extension: batches (one per received push) that may wait in
    /// this client's queue before the receiver applies backpressure.
    #[serde(default = "default_queue_capacity")]
    pub queue_capacity: usize,
    /// HTTP proxy for every request (Promtail's `proxy_url`).
    #[serde(default)]
    pub proxy_url: Option<String>,
    /// Accepted for Promtail compatibility, ignored.
    #[serde(default)]
    pub stream_lag_labels: Option<Ignored>,
    /// Accepted for Promtail compatibility, ignored.
    #[serde(default)]
    pub follow_redirects: Option<bool>,
    /// Accepted for Promtail compatibility, ignored: HTTP/2 is negotiated
    /// over TLS with ALPN when the server offers it.
    #[serde(default)]
    pub enable_http2: Option<bool>,
    /// The top-level `limits_config`, set by the agent for every client
    /// (not a key of `clients[]`).
    #[serde(skip)]
    pub limits: crate::ClientLimits,
}

/// A value under a Promtail key that pushtail accepts and ignores.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ignored;

impl<'de> Deserialize<'de> for Ignored {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| Ignored)
    }
}

/// Retry schedule: exponential from `min_period` to `max_period`, at most
/// `max_retries` attempts in all.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BackoffConfig {
    #[serde(default = "default_min_period")]
    pub min_period: Duration,
    #[serde(default = "default_max_period")]
    pub max_period: Duration,
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig {
            min_period: default_min_period(),
            max_period: default_max_period(),
            max_retries: default_max_retries(),
        }
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub password_file: Option<PathBuf>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    #[serde(default)]
    pub server_name: Option<String>,
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

fn default_batchwait() -> Duration {
    Duration::from_secs(1)
}
fn default_batchsize() -> ByteSize {
    ByteSize::mib(1)
}
fn default_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_min_period() -> Duration {
    Duration::from_millis(500)
}
fn default_max_period() -> Duration {
    Duration::from_secs(300)
}
fn default_max_retries() -> u32 {
    10
}
fn default_queue_capacity() -> usize {
    16
}

/// Headers pushtail sets itself; `headers` may not override them.
const RESERVED_HEADERS: [&str; 3] = ["content-type", "user-agent", "x-scope-orgid"];

/// Why a client config is invalid. Each variant names the key at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientConfigError {
    #[error("url {url:?} is invalid: {reason}")]
    Url { url: String, reason: String },
    #[error("proxy_url {url:?} is invalid: {reason}")]
    ProxyUrl { url: String, reason: String },
    #[error("tenant_id: {0}")]
    TenantId(TenantError),
    #[error("batchsize must be greater than 0")]
    ZeroBatchSize,
    #[error("queue_capacity must be greater than 0")]
    ZeroQueueCapacity,
    #[error("backoff_config: min_period {min} is greater than max_period {max}")]
    Backoff { min: Duration, max: Duration },
    #[error("at most one of bearer_token and bearer_token_file may be set")]
    BearerTokenTwice,
    #[error("basic_auth and bearer_token cannot both be set")]
    BasicAndBearer,
    #[error("basic_auth: exactly one of password and password_file must be set")]
    BasicAuthPassword,
    #[error("external_labels: invalid label name {0:?}")]
    ExternalLabelName(String),
    #[error("headers: {0:?} is set by pushtail and cannot be overridden")]
    ReservedHeader(String),
    #[error("headers: invalid header name {0:?}")]
    HeaderName(String),
    #[error("headers: invalid value for header {0:?}")]
    HeaderValue(String),
    #[error("tls_config: cert_file and key_file must be set together")]
    TlsPair,
}

impl ClientConfig {
    /// A config with every default and the given URL.
    pub fn new(url: impl Into<String>) -> Self {
        ClientConfig {
            url: url.into(),
            tenant_id: String::new(),
            batchwait: default_batchwait(),
            batchsize: default_batchsize(),
            timeout: default_timeout(),
            backoff_config: BackoffConfig::default(),
            external_labels: BTreeMap::new(),
            headers: BTreeMap::new(),
            basic_auth: None,
            bearer_token: None,
            bearer_token_file: None,
            tls_config: TlsConfig::default(),
            drop_rate_limited_batches: false,
            queue_capacity: default_queue_capacity(),
            proxy_url: None,
            stream_lag_labels: None,
            follow_redirects: None,
            enable_http2: None,
            limits: crate::ClientLimits::default(),
        }
    }

    /// Checks everything that can be checked without I/O.
    pub fn validate(&self) -> Result<(), ClientConfigError> {
        parse_url(&self.url)?;
        if let Some(proxy) = &self.proxy_url {
            reqwest::Url::parse(proxy).map_err(|e| ClientConfigError::ProxyUrl {
                url: proxy.clone(),
                reason: e.to_string(),
            })?;
        }
        if !self.tenant_id.is_empty() {
            TenantId::new(&self.tenant_id).map_err(ClientConfigError::TenantId)?;
        }
        if self.batchsize.get() == 0 {
            return Err(ClientConfigError::ZeroBatchSize);
        }
        if self.queue_capacity == 0 {
            return Err(ClientConfigError::ZeroQueueCapacity);
        }
        let b = &self.backoff_config;
        if b.min_period > b.max_period {
            return Err(ClientConfigError::Backoff {
                min: b.min_period,
                max: b.max_period,
            });
        }
        let bearer = self.bearer_token.is_some() || self.bearer_token_file.is_some();
        if self.bearer_token.is_some() && self.bearer_token_file.is_some() {
            return Err(ClientConfigError::BearerTokenTwice);
        }
        if let Some(auth) = &self.basic_auth {
            if bearer {
                return Err(ClientConfigError::BasicAndBearer);
            }
            if auth.password.is_some() == auth.password_file.is_some() {
                return Err(ClientConfigError::BasicAuthPassword);
            }
        }
        if let Some(name) = self
            .external_labels
            .keys()
            .find(|n| !is_valid_label_name(n))
        {
            return Err(ClientConfigError::ExternalLabelName(name.clone()));
        }
        for (name, value) in &self.headers {
            if RESERVED_HEADERS
                .iter()
                .any(|r| r.eq_ignore_ascii_case(name))
            {
                return Err(ClientConfigError::ReservedHeader(name.clone()));
            }
            http::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| ClientConfigError::HeaderName(name.clone()))?;
            http::HeaderValue::from_str(value)
                .map_err(|_| ClientConfigError::HeaderValue(name.clone()))?;
        }
        let tls = &self.tls_config;
        if tls.cert_file.is_some() != tls.key_file.is_some() {
            return Err(ClientConfigError::TlsPair);
        }
        Ok(())
    }
}

/// Parses the push URL: `http` or `https`, with a host.
pub(crate) fn parse_url(url: &str) -> Result<reqwest::Url, ClientConfigError> {
    let err = |reason: &str| ClientConfigError::Url {
        url: redacted_url(url),
        reason: reason.to_owned(),
    };
    let parsed = reqwest::Url::parse(url).map_err(|e| err(&e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(err("the scheme must be http or https"));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(err("the url has no host"));
    }
    Ok(parsed)
}

/// `url` for messages, with any password in it masked.
pub(crate) fn redacted_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("xxxxx"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

/// The `host` metric label: the URL's host and explicit port, as Promtail
/// reports it (Go's `URL.Host`).
pub(crate) fn host_label(url: &reqwest::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
