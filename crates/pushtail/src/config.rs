//! The YAML config file: the top-level document composed from each
//! component's own config struct, loaded with errors that name the key path
//! and line, then validated into runnable specs with no I/O.
//!
//! Nothing here listens, connects or reads files other than the config file
//! itself: `-check-syntax` runs exactly this code.

use std::collections::BTreeMap;
use std::sync::Arc;

use pushtail_client::config::ClientConfig;
use pushtail_pipeline::relabel::{RelabelConfig, RelabelRules};
use pushtail_pipeline::Pipeline;
use pushtail_proto::tenant::TenantId;
use pushtail_receiver::config::{HttpTargetConfig, LokiPushApiConfig, ServerConfig};
use pushtail_receiver::{ListenerSpec, TargetSpec};
use pushtail_wal::WalConfig;
use serde::Deserialize;

/// A config problem, reported before anything starts.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {message}")]
    Syntax { path: String, message: String },
    #[error("scrape_configs[{index}]: job_name is empty")]
    EmptyJobName { index: usize },
    #[error(
        "scrape_configs[{index}]: job_name {job:?} is already used by scrape_configs[{first}]"
    )]
    DuplicateJobName {
        index: usize,
        first: usize,
        job: String,
    },
    #[error(
        "scrape_configs[{index}] (job {job:?}): needs exactly one of `http` or `loki_push_api`"
    )]
    TargetKind { index: usize, job: String },
    #[error("scrape_configs[{index}] (job {job:?}): tenant_id: {source}")]
    Tenant {
        index: usize,
        job: String,
        source: pushtail_proto::tenant::TenantError,
    },
    #[error("scrape_configs[{index}] (job {job:?}): relabel_configs: {source}")]
    Relabel {
        index: usize,
        job: String,
        source: pushtail_pipeline::relabel::RelabelError,
    },
    #[error("scrape_configs[{index}] (job {job:?}): {source}")]
    Pipeline {
        index: usize,
        job: String,
        source: Box<pushtail_pipeline::StageConfigError>,
    },
    #[error("clients[{index}]: {source}")]
    Client {
        index: usize,
        source: pushtail_client::config::ClientConfigError,
    },
    #[error("{0}")]
    Receiver(#[from] pushtail_receiver::ReceiverConfigError),
}

/// The whole config file. Promtail keys that make no sense for a
/// push-receiving agent (`positions`, `target_config`, ...) are accepted and
/// ignored so a Promtail config loads unchanged.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub clients: Vec<ClientConfig>,
    /// Promtail's older single-client form; appended to `clients`.
    #[serde(default)]
    pub client: Option<ClientConfig>,
    #[serde(default)]
    pub scrape_configs: Vec<ScrapeConfig>,
    /// Promtail's top-level write-ahead log block (off by default).
    #[serde(default)]
    pub wal: WalConfig,
    #[serde(default)]
    pub positions: Option<serde_yaml::Value>,
    #[serde(default)]
    pub target_config: Option<serde_yaml::Value>,
    #[serde(default)]
    pub limits_config: Option<serde_yaml::Value>,
    #[serde(default)]
    pub options: Option<serde_yaml::Value>,
    #[serde(default)]
    pub tracing: Option<serde_yaml::Value>,
}

/// One `scrape_configs` item: a push target and what to do with its streams.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScrapeConfig {
    #[serde(default)]
    pub job_name: String,
    #[serde(default)]
    pub http: Option<HttpTargetConfig>,
    #[serde(default)]
    pub loki_push_api: Option<LokiPushApiConfig>,
    #[serde(default, alias = "relabel_rules")]
    pub relabel_configs: Vec<RelabelConfig>,
    #[serde(default)]
    pub pipeline_stages: Vec<serde_yaml::Value>,
}

/// Parses YAML text into a [`Config`]; errors name the key path and line.
pub fn parse(text: &str) -> Result<Config, ConfigError> {
    let de = serde_yaml::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = match inner.location() {
            Some(loc) => {
                // serde_yaml appends " at line L column C"; say it once, our way.
                let msg = inner.to_string();
                let msg = msg.split(" at line ").next().unwrap_or(&msg).to_owned();
                format!("{msg} (line {}, column {})", loc.line(), loc.column())
            }
            None => inner.to_string(),
        };
        ConfigError::Syntax {
            path: if path == "." { "config".into() } else { path },
            message,
        }
    })
}

/// Substitutes `${VAR}` and `${VAR:-default}` from the environment, as
/// `-config.expand-env` does. An unset variable without a default becomes
/// the empty string; `$$` is a literal `$`.
pub fn expand_env(text: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('{') {
            match inner.find('}') {
                Some(end) => {
                    let expr = &inner[..end];
                    let (name, default) = match expr.split_once(":-") {
                        Some((n, d)) => (n, Some(d)),
                        None => (expr, None),
                    };
                    let value = lookup(name).filter(|v| !v.is_empty() || default.is_none());
                    out.push_str(&value.unwrap_or_else(|| default.unwrap_or("").to_owned()));
                    rest = &inner[end + 1..];
                }
                None => {
                    out.push('$');
                    rest = after;
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// Keys whose values are secrets wherever they appear.
const SECRET_KEYS: &[&str] = &["password", "bearer_token", "client_secret"];

/// The config text for `-print-config-stderr`: re-serialised with every
/// secret (passwords, tokens, inline TLS keys) shown as `<secret>`.
pub fn redact_secrets(text: &str) -> String {
    fn walk(value: &mut serde_yaml::Value, in_tls: bool) {
        match value {
            serde_yaml::Value::Mapping(map) => {
                for (k, v) in map.iter_mut() {
                    let key = k.as_str().unwrap_or_default();
                    if SECRET_KEYS.contains(&key) || (in_tls && key == "key") {
                        if !v.is_null() {
                            *v = serde_yaml::Value::String("<secret>".into());
                        }
                    } else {
                        walk(v, key.ends_with("tls_config"));
                    }
                }
            }
            serde_yaml::Value::Sequence(items) => {
                for item in items {
                    walk(item, false);
                }
            }
            serde_yaml::Value::Tagged(tagged) => walk(&mut tagged.value, in_tls),
            _ => {}
        }
    }
    match serde_yaml::from_str::<serde_yaml::Value>(text) {
        Ok(mut value) => {
            walk(&mut value, false);
            serde_yaml::to_string(&value).unwrap_or_default()
        }
        Err(_) => "# the config could not be printed without its secrets\n".to_owned(),
    }
}

/// Everything needed to run, validated.
pub struct Plan {
    pub server: ServerConfig,
    /// Promtail top-level keys present in the file that pushtail ignores.
    pub ignored_keys: Vec<&'static str>,
    /// Unknown keys inside pipeline stages (ignored, as Promtail does),
    /// with the job they are in.
    pub stage_warnings: Vec<(String, pushtail_pipeline::StageWarning)>,
    pub listeners: Vec<ListenerSpec>,
    pub clients: Vec<ClientConfig>,
    pub wal: WalConfig,
}

/// Overrides given on the command line, applied before validation.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub http_listen_port: Option<u16>,
    pub client_url: Option<String>,
    pub external_labels: BTreeMap<String, String>,
    /// `-inspect`: pipelines report what each stage changed.
    pub inspect: bool,
}

/// Validates a parsed config into a [`Plan`]. No I/O.
pub fn plan(mut config: Config, overrides: &Overrides) -> Result<Plan, ConfigError> {
    if let Some(port) = overrides.http_listen_port {
        config.server.http_listen_port = port;
    }
    let mut clients = config.clients;
    clients.extend(config.client);
    if let Some(url) = &overrides.client_url {
        clients.push(client_for_url(url)?);
    }
    for client in &mut clients {
        for (k, v) in &overrides.external_labels {
            client
                .external_labels
                .entry(k.clone())
                .or_insert_with(|| v.clone());
        }
    }
    for (index, client) in clients.iter().enumerate() {
        client
            .validate()
            .map_err(|source| ConfigError::Client { index, source })?;
    }

    let mut shared = ListenerSpec {
        server: config.server.clone(),
        targets: Vec::new(),
        serve_metrics: true,
    };
    let mut own_listeners = Vec::new();
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut stage_warnings = Vec::new();
    for (index, sc) in config.scrape_configs.iter().enumerate() {
        let job = sc.job_name.clone();
        if job.is_empty() {
            return Err(ConfigError::EmptyJobName { index });
        }
        if let Some(&first) = seen.get(job.as_str()) {
            return Err(ConfigError::DuplicateJobName { index, first, job });
        }
        seen.insert(&sc.job_name, index);
        let relabel = RelabelRules::new(sc.relabel_configs.clone()).map_err(|source| {
            ConfigError::Relabel {
                index,
                job: job.clone(),
                source,
            }
        })?;
        let pipeline = Pipeline::new(&sc.pipeline_stages).map_err(|e| ConfigError::Pipeline {
            index,
            job: job.clone(),
            source: Box::new(e),
        })?;
        stage_warnings.extend(pipeline.warnings().iter().map(|w| (job.clone(), w.clone())));
        let pipeline = if overrides.inspect {
            pipeline.with_inspector(crate::dry_run::stderr_inspector())
        } else {
            pipeline
        };
        let (relabel, pipeline) = (Arc::new(relabel), Arc::new(pipeline));
        match (&sc.http, &sc.loki_push_api) {
            (Some(http), None) => {
                let tenant_id = tenant(&http.tenant_id).map_err(|source| ConfigError::Tenant {
                    index,
                    job: job.clone(),
                    source,
                })?;
                shared.targets.push(TargetSpec {
                    job_name: job,
                    base_url: http.base_url.clone(),
                    labels: http.labels.clone().into_iter().collect(),
                    use_incoming_timestamp: http.use_incoming_timestamp,
                    max_message_size: http.max_message_size.as_usize(),
                    tenant_id,
                    relabel,
                    pipeline,
                    auth: http.auth(),
                    tenant_from_client_cert: http.tenant_from_client_cert,
                });
            }
            (None, Some(push)) => own_listeners.push(ListenerSpec {
                server: push.server.clone(),
                targets: vec![TargetSpec {
                    job_name: job,
                    base_url: "/".into(),
                    labels: push.labels.clone().into_iter().collect(),
                    use_incoming_timestamp: push.use_incoming_timestamp,
                    max_message_size: push.max_send_msg_size.as_usize(),
                    tenant_id: None,
                    relabel,
                    pipeline,
                    auth: push.auth(),
                    tenant_from_client_cert: push.tenant_from_client_cert,
                }],
                serve_metrics: false,
            }),
            _ => return Err(ConfigError::TargetKind { index, job }),
        }
    }
    let mut listeners = vec![shared];
    listeners.extend(own_listeners);
    pushtail_receiver::validate(&listeners)?;
    let ignored_keys = [
        ("positions", config.positions.is_some()),
        ("target_config", config.target_config.is_some()),
        ("limits_config", config.limits_config.is_some()),
        ("options", config.options.is_some()),
        ("tracing", config.tracing.is_some()),
    ]
    .into_iter()
    .filter_map(|(key, set)| set.then_some(key))
    .collect();
    Ok(Plan {
        server: config.server,
        ignored_keys,
        stage_warnings,
        listeners,
        clients,
        wal: config.wal,
    })
}

/// The client `-client.url` adds: every other key at its default.
fn client_for_url(url: &str) -> Result<ClientConfig, ConfigError> {
    let mut map = serde_yaml::Mapping::new();
    map.insert("url".into(), url.into());
    serde_yaml::from_value(serde_yaml::Value::Mapping(map)).map_err(|e| ConfigError::Syntax {
        path: "-client.url".into(),
        message: e.to_string(),
    })
}

fn tenant(id: &str) -> Result<Option<TenantId>, pushtail_proto::tenant::TenantError> {
    if id.is_empty() {
        Ok(None)
    } else {
        TenantId::new(id).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_expansion() {
        let env = |k: &str| match k {
            "HOST" => Some("loki".to_owned()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        let cases = [
            ("url: http://${HOST}:3100", "url: http://loki:3100"),
            ("a: ${MISSING:-dflt}", "a: dflt"),
            ("a: ${HOST:-dflt}", "a: loki"),
            ("a: ${EMPTY:-dflt}", "a: dflt"),
            ("a: ${MISSING}", "a: "),
            ("a: $$HOST", "a: $HOST"),
            ("a: $HOST", "a: $HOST"),
            ("a: ${unterminated", "a: ${unterminated"),
            ("price: 5$", "price: 5$"),
        ];
        for (input, want) in cases {
            assert_eq!(expand_env(input, env), want, "{input}");
        }
    }

    #[test]
    fn unknown_key_names_path_and_line() {
        let text = "server:\n  http_listen_port: 1\nscrape_configs:\n  - job_name: a\n    http:\n      bse_url: /x/\n";
        let err = parse(text).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("bse_url"), "{err}");
        assert!(err.contains("scrape_configs[0].http"), "{err}");
        assert!(err.contains("line 6"), "{err}");
    }

    #[test]
    fn printed_config_hides_secrets() {
        let text = "clients:\n  - url: http://x\n    basic_auth: {username: u, password: hunter2}\n    bearer_token: tok1\nserver:\n  http_tls_config:\n    cert_file: /c.pem\n    key: \"-----BEGIN PRIVATE KEY-----\"\nscrape_configs:\n  - job_name: a\n    http:\n      basic_auth: {username: edge, password: s3cret}\n      bearer_token: tok2\n";
        let printed = redact_secrets(text);
        for secret in ["hunter2", "tok1", "PRIVATE KEY", "s3cret", "tok2"] {
            assert!(!printed.contains(secret), "{secret} in {printed}");
        }
        for kept in ["username: edge", "cert_file: /c.pem", "url: http://x"] {
            assert!(printed.contains(kept), "{kept} missing from {printed}");
        }
        assert!(printed.contains("<secret>"), "{printed}");
    }

    #[test]
    fn secure_target_keys_are_checked() {
        let cases = [
            (
                "scrape_configs:\n  - job_name: a\n    http:\n      basic_auth: {username: u}\n",
                "basic_auth needs password or password_file",
            ),
            (
                "scrape_configs:\n  - job_name: a\n    http:\n      basic_auth: {password: p}\n",
                "basic_auth needs a username",
            ),
            (
                "scrape_configs:\n  - job_name: a\n    http:\n      bearer_token: t\n      bearer_token_file: /f\n",
                "bearer_token and bearer_token_file are both set",
            ),
            (
                "scrape_configs:\n  - job_name: a\n    http:\n      tenant_from_client_cert: cn\n",
                "tenant_from_client_cert needs http_tls_config",
            ),
            (
                "server:\n  http_tls_config: {key_file: /k}\n",
                "http_tls_config: needs cert_file or cert",
            ),
            (
                "server:\n  http_tls_config: {cert_file: /c}\n",
                "http_tls_config: needs key_file or key",
            ),
            (
                "server:\n  http_tls_config: {cert_file: /c, key_file: /k, client_auth_type: RequireAndVerifyClientCert}\n",
                "needs client_ca_file or client_ca",
            ),
            (
                "server:\n  http_tls_config: {cert_file: /c, cert: x, key_file: /k}\n",
                "cert_file and cert are both set",
            ),
            (
                "server:\n  http_tls_config: {cert_file: /c, key_file: /k, client_auth_type: Sometimes}\n",
                "unknown variant `Sometimes`",
            ),
            (
                "server:\n  http_tls_config: {cert_file: /c, key_file: /k, min_version: TLS10}\n",
                "unknown variant `TLS10`",
            ),
        ];
        for (text, want) in cases {
            let err = parse(text)
                .and_then(|c| plan(c, &Overrides::default()))
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains(want), "{text}: {err}");
        }
        let ok = "server:\n  http_tls_config: {cert_file: /c, key_file: /k, client_auth_type: VerifyClientCertIfGiven, client_ca_file: /ca, min_version: TLS13}\n  enable_runtime_reload: true\nscrape_configs:\n  - job_name: a\n    http:\n      tenant_from_client_cert: cn\n      basic_auth: {username: u, password_file: /p}\n  - job_name: b\n    loki_push_api:\n      server: {http_listen_port: 3500}\n      bearer_token: t\n";
        let plan = parse(ok).and_then(|c| plan(c, &Overrides::default()));
        assert!(plan.is_ok(), "{:?}", plan.err().map(|e| e.to_string()));
    }

    #[test]
    fn job_name_rules() {
        let cases = [
            ("scrape_configs:\n  - http: {}\n", "job_name is empty"),
            (
                "scrape_configs:\n  - job_name: a\n    http: {base_url: /a/}\n  - job_name: a\n    http: {base_url: /b/}\n",
                "already used",
            ),
            ("scrape_configs:\n  - job_name: a\n", "exactly one of"),
        ];
        for (text, want) in cases {
            let err = parse(text)
                .and_then(|c| plan(c, &Overrides::default()))
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains(want), "{text}: {err}");
        }
    }
}
