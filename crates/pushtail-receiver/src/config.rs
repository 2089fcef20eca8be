//! Serde config structs owned by the receiver: the `server` block, the
//! `http` target block and Promtail's `loki_push_api` block.
//!
//! Raw data only: defaults are named functions, unknown keys are rejected,
//! and nothing here does I/O. Cross-target checks live in
//! [`crate::validate`].

use std::collections::BTreeMap;

use pushtail_proto::units::{ByteSize, Duration};
use serde::{Deserialize, Serialize};

/// The HTTP listener (`server:` at the top level, or `loki_push_api.server`).
///
/// Keys Promtail's (weaveworks) server block knows but pushtail does not use
/// are accepted and ignored, so Promtail configs load unchanged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    #[serde(default = "default_listen_address")]
    pub http_listen_address: String,
    #[serde(default = "default_listen_port")]
    pub http_listen_port: u16,
    #[serde(default = "default_read_timeout")]
    pub http_server_read_timeout: Duration,
    #[serde(default = "default_write_timeout")]
    pub http_server_write_timeout: Duration,
    #[serde(default = "default_idle_timeout")]
    pub http_server_idle_timeout: Duration,
    /// Most simultaneous connections; 0 means no limit.
    #[serde(default)]
    pub http_listen_conn_limit: usize,
    #[serde(default = "default_graceful_shutdown_timeout")]
    pub graceful_shutdown_timeout: Duration,
    #[serde(default = "default_log_level")]
    pub log_level: String,
    #[serde(default = "default_log_format")]
    pub log_format: String,
    /// pushtail extension: how long a push waits for room in the client
    /// queues before it is answered 503.
    #[serde(default = "default_push_timeout")]
    pub push_timeout: Duration,

    // Accepted and ignored (Promtail compatibility).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc_listen_port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc_listen_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc_listen_network: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_listen_network: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub register_instrumentation: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc_server_max_recv_msg_size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc_server_max_send_msg_size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc_server_max_concurrent_streams: Option<u64>,
    /// Not supported: the binary should warn when it is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_path_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_target: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profiling_enabled: Option<bool>,
    /// Serve TLS on this listener (Promtail's keys, rustls).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_tls_config: Option<TlsServerConfig>,
    /// Promtail's key: `POST /reload` on the shared server reloads the
    /// config as SIGHUP does.
    #[serde(default)]
    pub enable_runtime_reload: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            http_listen_address: default_listen_address(),
            http_listen_port: default_listen_port(),
            http_server_read_timeout: default_read_timeout(),
            http_server_write_timeout: default_write_timeout(),
            http_server_idle_timeout: default_idle_timeout(),
            http_listen_conn_limit: 0,
            graceful_shutdown_timeout: default_graceful_shutdown_timeout(),
            log_level: default_log_level(),
            log_format: default_log_format(),
            push_timeout: default_push_timeout(),
            grpc_listen_port: None,
            grpc_listen_address: None,
            grpc_listen_network: None,
            http_listen_network: None,
            register_instrumentation: None,
            grpc_server_max_recv_msg_size: None,
            grpc_server_max_send_msg_size: None,
            grpc_server_max_concurrent_streams: None,
            http_path_prefix: None,
            disable: None,
            health_check_target: None,
            profiling_enabled: None,
            http_tls_config: None,
            enable_runtime_reload: false,
        }
    }
}

/// pushtail's `http` target block (served on the shared listener).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpTargetConfig {
    #[serde(default = "default_base_url")]
    pub base_url: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub use_incoming_timestamp: bool,
    #[serde(default = "default_max_message_size")]
    pub max_message_size: ByteSize,
    /// When non-empty, overrides `X-Scope-OrgID` for this target.
    #[serde(default)]
    pub tenant_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuthConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_from_client_cert: Option<CertTenant>,
}

impl Default for HttpTargetConfig {
    fn default() -> Self {
        HttpTargetConfig {
            base_url: default_base_url(),
            labels: BTreeMap::new(),
            use_incoming_timestamp: false,
            max_message_size: default_max_message_size(),
            tenant_id: String::new(),
            basic_auth: None,
            bearer_token: None,
            bearer_token_file: None,
            tenant_from_client_cert: None,
        }
    }
}

impl HttpTargetConfig {
    /// The credentials pushers must present, as configured.
    pub fn auth(&self) -> AuthConfig {
        AuthConfig {
            basic_auth: self.basic_auth.clone(),
            bearer_token: self.bearer_token.clone(),
            bearer_token_file: self.bearer_token_file.clone(),
        }
    }
}

/// Promtail's `loki_push_api` target block: a target on its own listener.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LokiPushApiConfig {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub use_incoming_timestamp: bool,
    #[serde(default = "default_max_message_size")]
    pub max_send_msg_size: ByteSize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuthConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_from_client_cert: Option<CertTenant>,
}

impl Default for LokiPushApiConfig {
    fn default() -> Self {
        LokiPushApiConfig {
            server: ServerConfig::default(),
            labels: BTreeMap::new(),
            use_incoming_timestamp: false,
            max_send_msg_size: default_max_message_size(),
            basic_auth: None,
            bearer_token: None,
            bearer_token_file: None,
            tenant_from_client_cert: None,
        }
    }
}

impl LokiPushApiConfig {
    /// The credentials pushers must present, as configured.
    pub fn auth(&self) -> AuthConfig {
        AuthConfig {
            basic_auth: self.basic_auth.clone(),
            bearer_token: self.bearer_token.clone(),
            bearer_token_file: self.bearer_token_file.clone(),
        }
    }
}

/// A secret from the config (password, token, inline key): never printed.
/// `Debug`, `Display` and serialisation all show `<secret>`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself, for the one place that compares or uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<secret>")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<secret>")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<secret>")
    }
}

/// pushtail extension: `basic_auth` on a target; pushers must send these.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuthConfig {
    #[serde(default)]
    pub username: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<String>,
}

/// The credentials a target asks of pushers (either one is accepted when
/// both are set). Files are read when the listener starts and on reload.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthConfig {
    pub basic_auth: Option<BasicAuthConfig>,
    pub bearer_token: Option<Secret>,
    pub bearer_token_file: Option<String>,
}

impl AuthConfig {
    pub fn is_empty(&self) -> bool {
        self.basic_auth.is_none() && self.bearer_token.is_none() && self.bearer_token_file.is_none()
    }
}

/// pushtail extension `tenant_from_client_cert`: which part of the verified
/// client certificate names the tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CertTenant {
    /// The subject's common name.
    Cn,
}

/// `http_tls_config`: Promtail's (dskit's) server TLS keys, plus
/// `min_version`. A certificate and key are required, from files or inline.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsServerConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cert_file: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub key_file: String,
    #[serde(default)]
    pub client_auth_type: ClientAuthType,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub client_ca_file: String,
    /// Inline PEM certificate (chain), instead of `cert_file`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cert: String,
    /// Inline PEM private key, instead of `key_file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Secret>,
    /// Inline PEM client CA certificates, instead of `client_ca_file`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub client_ca: String,
    /// pushtail: the oldest TLS version offered (TLS12 by default).
    #[serde(default)]
    pub min_version: TlsVersion,
}

/// Go's `tls.ClientAuthType` names, as Promtail spells them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientAuthType {
    #[default]
    NoClientCert,
    RequestClientCert,
    RequireAnyClientCert,
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
}

impl ClientAuthType {
    /// A client certificate, when given, is checked against the client CA.
    pub fn verifies(self) -> bool {
        matches!(
            self,
            ClientAuthType::VerifyClientCertIfGiven | ClientAuthType::RequireAndVerifyClientCert
        )
    }
}

/// `min_version`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TlsVersion {
    #[default]
    TLS12,
    TLS13,
}

fn default_listen_address() -> String {
    "0.0.0.0".to_owned()
}
fn default_listen_port() -> u16 {
    9080
}
fn default_read_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_write_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_idle_timeout() -> Duration {
    Duration::from_secs(120)
}
fn default_graceful_shutdown_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_log_level() -> String {
    "info".to_owned()
}
fn default_log_format() -> String {
    "logfmt".to_owned()
}
fn default_push_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_base_url() -> String {
    "/".to_owned()
}
fn default_max_message_size() -> ByteSize {
    ByteSize::mib(100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_missing_keys() {
        let server: ServerConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(server, ServerConfig::default());
        assert_eq!(server.http_listen_port, 9080);
        assert_eq!(server.push_timeout, Duration::from_secs(5));
        let http: HttpTargetConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(http.base_url, "/");
        assert_eq!(http.max_message_size, ByteSize::mib(100));
        let api: LokiPushApiConfig =
            serde_json::from_str(r#"{"server":{"http_listen_port":3500}}"#).unwrap();
        assert_eq!(api.server.http_listen_port, 3500);
        assert_eq!(api.max_send_msg_size, ByteSize::mib(100));
    }

    #[test]
    fn promtail_server_keys_are_accepted_and_unknown_keys_rejected() {
        let promtail = r#"{"http_listen_port": 1, "grpc_listen_port": 0, "register_instrumentation": true,
            "grpc_server_max_recv_msg_size": 4194304, "http_path_prefix": "/x", "log_format": "json"}"#;
        let server: ServerConfig = serde_json::from_str(promtail).unwrap();
        assert_eq!(server.http_path_prefix.as_deref(), Some("/x"));
        for bad in [r#"{"http_listen_prot": 1}"#, r#"{"bogus": true}"#] {
            let err = serde_json::from_str::<ServerConfig>(bad)
                .unwrap_err()
                .to_string();
            assert!(err.contains("unknown field"), "{err}");
        }
        let err = serde_json::from_str::<HttpTargetConfig>(r#"{"base_uri": "/"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("base_uri"), "{err}");
    }
}
