//! The HTTP push receiver (Promtail's HTTPTarget).
//!
//! One hyper server per listener; every target on a listener is reached by
//! its base URL through a map lookup. Requests are decoded through
//! `pushtail-proto`, labelled, relabelled and staged through
//! `pushtail-pipeline`, and handed to the clients as per-tenant batches over
//! bounded channels. This crate never talks to Loki and never depends on the
//! client crate: the binary wires the two together with [`Output`].

pub mod config;
pub mod metrics;
pub mod status;

mod accept;
mod auth;
mod body;
mod cache;
mod conn;
mod decode;
mod error;
mod grpc;
mod handoff;
mod layers;
mod lines;
mod rejections;
mod route;
mod server;
mod service;
mod target;
#[cfg(test)]
mod tests;
mod tls;

use std::collections::HashMap;
use std::sync::Arc;

use pushtail_pipeline::relabel::RelabelRules;
use pushtail_pipeline::Pipeline;
use pushtail_proto::labels::is_valid_label_name;
use pushtail_proto::model::Delivery;
use pushtail_proto::tenant::TenantId;

use crate::config::{AuthConfig, CertTenant, ServerConfig};

pub use auth::CredentialError;
pub use server::{Receiver, ReceiverError, ReloadError, ReloadFailure, ReloadHook, Reloader};
pub use tls::TlsError;

/// One push target, ready to serve: the `http` (or `loki_push_api`) block of
/// a scrape config with its relabel rules and stages built.
#[derive(Debug, Clone)]
pub struct TargetSpec {
    pub job_name: String,
    /// As configured; normalised to start and end with `/` by the receiver.
    pub base_url: String,
    /// Set on every stream after parsing; an empty value deletes the label.
    pub labels: Vec<(String, String)>,
    pub use_incoming_timestamp: bool,
    /// Bounds both the compressed and the decompressed body.
    pub max_message_size: usize,
    /// Overrides `X-Scope-OrgID` when set.
    pub tenant_id: Option<TenantId>,
    pub relabel: Arc<RelabelRules>,
    pub pipeline: Arc<Pipeline>,
    /// Credentials pushers must present (none: open).
    pub auth: AuthConfig,
    /// Take the tenant from the verified client certificate.
    pub tenant_from_client_cert: Option<CertTenant>,
}

/// One listener and the targets it serves.
#[derive(Debug, Clone)]
pub struct ListenerSpec {
    pub server: ServerConfig,
    pub targets: Vec<TargetSpec>,
    /// This is the shared server: it also serves `/metrics` and `/ready`.
    pub serve_metrics: bool,
}

/// Where accepted pushes go: each one to every queue as one delivery, all
/// or nothing, waiting at most `push_timeout` for room; or, when `log` is
/// set, into the write-ahead log as one record (the clients tail the log
/// and `queues` is empty).
#[derive(Debug, Clone)]
pub struct Output {
    pub queues: Vec<tokio::sync::mpsc::Sender<Arc<Delivery>>>,
    pub push_timeout: std::time::Duration,
    pub log: Option<Arc<pushtail_wal::Writer>>,
}

/// A listener configuration that cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiverConfigError {
    #[error("jobs {first_job:?} and {second_job:?} both use base_url {base_url:?} on port {port}")]
    BaseUrlCollision {
        base_url: String,
        first_job: String,
        second_job: String,
        port: u16,
    },
    #[error("job {job:?}: invalid label name {label:?} in labels")]
    InvalidLabelName { job: String, label: String },
    #[error("{listener}: http_tls_config: {problem}")]
    Tls {
        listener: String,
        problem: &'static str,
    },
    #[error("job {job:?}: {problem}")]
    Auth { job: String, problem: &'static str },
    #[error("port {port} is used by two listeners ({first} and {second})")]
    PortUsedTwice {
        port: u16,
        first: String,
        second: String,
    },
}

/// What starting the listeners reads besides the config, without binding
/// anything: each listener's TLS files (readable, PEM, key matching the
/// certificate, client CA) and each target's credential files. For
/// `-check-syntax`, so that it fails where a start would.
pub fn check_files(listeners: &[ListenerSpec]) -> Result<(), ReceiverError> {
    for listener in listeners {
        if let Some(cfg) = &listener.server.http_tls_config {
            tls::load(cfg).map_err(|source| ReceiverError::Tls {
                address: format!(
                    "{}:{}",
                    listener.server.http_listen_address, listener.server.http_listen_port
                ),
                source,
            })?;
        }
        for target in &listener.targets {
            auth::Credentials::load(&target.job_name, &target.auth)?;
        }
    }
    Ok(())
}

/// Checks what the receiver needs of its config, without I/O: base URLs
/// unique per listener, valid target label names, no port used twice
/// (port 0, "any free port", may repeat).
pub fn validate(listeners: &[ListenerSpec]) -> Result<(), ReceiverConfigError> {
    let mut ports: HashMap<u16, String> = HashMap::new();
    for listener in listeners {
        let port = listener.server.http_listen_port;
        let name = listener_name(listener);
        if port != 0 {
            if let Some(first) = ports.insert(port, name.clone()) {
                return Err(ReceiverConfigError::PortUsedTwice {
                    port,
                    first,
                    second: name,
                });
            }
        }
        if let Some(tls) = &listener.server.http_tls_config {
            validate_tls(tls).map_err(|problem| ReceiverConfigError::Tls {
                listener: name.clone(),
                problem,
            })?;
        }
        let verified = listener
            .server
            .http_tls_config
            .as_ref()
            .is_some_and(|t| t.client_auth_type.verifies());
        let mut bases: HashMap<String, &str> = HashMap::new();
        for target in &listener.targets {
            let auth_error = |problem| ReceiverConfigError::Auth {
                job: target.job_name.clone(),
                problem,
            };
            validate_auth(&target.auth).map_err(auth_error)?;
            if target.tenant_from_client_cert.is_some() && !verified {
                return Err(auth_error("tenant_from_client_cert needs http_tls_config with client_auth_type VerifyClientCertIfGiven or RequireAndVerifyClientCert on its listener"));
            }
            if let Some((label, _)) = target
                .labels
                .iter()
                .find(|(name, _)| !is_valid_label_name(name))
            {
                return Err(ReceiverConfigError::InvalidLabelName {
                    job: target.job_name.clone(),
                    label: label.clone(),
                });
            }
            let base = normalize_base_url(&target.base_url);
            if let Some(first) = bases.get(&base) {
                return Err(ReceiverConfigError::BaseUrlCollision {
                    base_url: base,
                    first_job: (*first).to_owned(),
                    second_job: target.job_name.clone(),
                    port,
                });
            }
            bases.insert(base, &target.job_name);
        }
    }
    Ok(())
}

/// The shape of a TLS block: one source each for certificate and key, and a
/// client CA when client certificates are verified. Files are read later.
fn validate_tls(tls: &config::TlsServerConfig) -> Result<(), &'static str> {
    match (tls.cert_file.is_empty(), tls.cert.is_empty()) {
        (true, true) => return Err("needs cert_file or cert"),
        (false, false) => return Err("cert_file and cert are both set; use one"),
        _ => {}
    }
    match (tls.key_file.is_empty(), tls.key.is_none()) {
        (true, true) => return Err("needs key_file or key"),
        (false, false) => return Err("key_file and key are both set; use one"),
        _ => {}
    }
    if !tls.client_ca_file.is_empty() && !tls.client_ca.is_empty() {
        return Err("client_ca_file and client_ca are both set; use one");
    }
    if tls.client_auth_type.verifies() && tls.client_ca_file.is_empty() && tls.client_ca.is_empty()
    {
        return Err(
            "client_auth_type verifies client certificates and needs client_ca_file or client_ca",
        );
    }
    Ok(())
}

/// The shape of a target's credentials (files are read when it starts).
fn validate_auth(auth: &AuthConfig) -> Result<(), &'static str> {
    if let Some(basic) = &auth.basic_auth {
        if basic.username.is_empty() {
            return Err("basic_auth needs a username");
        }
        match (&basic.password, &basic.password_file) {
            (None, None) => return Err("basic_auth needs password or password_file"),
            (Some(_), Some(_)) => {
                return Err("basic_auth: password and password_file are both set; use one")
            }
            _ => {}
        }
    }
    if auth.bearer_token.is_some() && auth.bearer_token_file.is_some() {
        return Err("bearer_token and bearer_token_file are both set; use one");
    }
    Ok(())
}

/// How a listener is named in errors: its jobs, or "the shared server".
fn listener_name(listener: &ListenerSpec) -> String {
    if listener.serve_metrics {
        return "the shared server".to_owned();
    }
    let jobs: Vec<&str> = listener
        .targets
        .iter()
        .map(|t| t.job_name.as_str())
        .collect();
    format!("job {}", jobs.join(", "))
}

/// `app` → `/app/`, `` → `/`, `/a/b` → `/a/b/`.
pub fn normalize_base_url(raw: &str) -> String {
    let trimmed = raw.trim();
    let mut out = String::with_capacity(trimmed.len() + 2);
    if !trimmed.starts_with('/') {
        out.push('/');
    }
    out.push_str(trimmed);
    if !out.ends_with('/') {
        out.push('/');
    }
    out
}

/// Entry points for the cargo-fuzz targets in `fuzz/`: the line-oriented
/// parsers, which are otherwise private. Not an API; errors are erased so
/// the facade does not pin their types.
#[doc(hidden)]
pub mod fuzzing {
    use bytes::Bytes;

    pub fn split_lines(body: &Bytes) -> Vec<Bytes> {
        crate::lines::split_lines(body).collect()
    }

    pub fn parse_plain_path(rest: &str) -> Option<Vec<(String, String)>> {
        crate::lines::parse_plain_path(rest).ok()
    }

    pub fn parse_timestamp_query(query: Option<&str>) -> Option<Option<i64>> {
        crate::lines::parse_timestamp_query(query).ok()
    }
}
