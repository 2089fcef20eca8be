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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_runtime_reload: Option<bool>,
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
            enable_runtime_reload: None,
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
}

impl Default for HttpTargetConfig {
    fn default() -> Self {
        HttpTargetConfig {
            base_url: default_base_url(),
            labels: BTreeMap::new(),
            use_incoming_timestamp: false,
            max_message_size: default_max_message_size(),
            tenant_id: String::new(),
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
}

impl Default for LokiPushApiConfig {
    fn default() -> Self {
        LokiPushApiConfig {
            server: ServerConfig::default(),
            labels: BTreeMap::new(),
            use_incoming_timestamp: false,
            max_send_msg_size: default_max_message_size(),
        }
    }
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
