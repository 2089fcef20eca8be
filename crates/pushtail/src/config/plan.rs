//! Validation: a parsed [`Config`] and the command-line overrides into a
//! runnable [`Plan`] (listeners, targets, clients), with no I/O.

use std::collections::BTreeMap;
use std::sync::Arc;

use pushtail_client::config::ClientConfig;
use pushtail_pipeline::relabel::RelabelRules;
use pushtail_pipeline::{Pipeline, ReadlineLimit};
use pushtail_proto::tenant::TenantId;
use pushtail_receiver::config::ServerConfig;
use pushtail_receiver::{ListenerSpec, TargetSpec};
use pushtail_wal::WalConfig;

use super::{Config, ConfigError, ConfigWarning};

/// Everything needed to run, validated.
pub struct Plan {
    pub server: ServerConfig,
    /// Accepted keys and flags that have no effect, for the start-up log.
    pub warnings: Vec<ConfigWarning>,
    pub log_level: crate::logging::LogLevel,
    pub log_format: crate::logging::LogFormat,
    /// The labels `-dry-run` adds as a client would: the first client's
    /// `external_labels`, or `-client.external-labels` when there is none.
    pub dry_run_labels: BTreeMap<String, String>,
    pub listeners: Vec<ListenerSpec>,
    pub clients: Vec<ClientConfig>,
    pub wal: WalConfig,
}

/// Overrides given on the command line, applied before validation.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub http_listen_port: Option<u16>,
    pub http_listen_address: Option<String>,
    pub enable_runtime_reload: Option<bool>,
    pub client_url: Option<String>,
    pub client: ClientFlags,
    pub external_labels: BTreeMap<String, String>,
    /// `-inspect`: pipelines report what each stage changed.
    pub inspect: bool,
    pub log_level: Option<String>,
    pub log_format: Option<String>,
    /// `-dry-run`: no clients are needed.
    pub dry_run: bool,
    pub ignored_flags: Vec<crate::cli::IgnoredFlag>,
}

/// Promtail's `-client.*` flags: they configure the client `-client.url`
/// adds (as in Promtail, where they are that client's defaults).
#[derive(Debug, Default, Clone)]
pub struct ClientFlags {
    pub tenant_id: Option<String>,
    pub batch_wait: Option<pushtail_proto::units::Duration>,
    pub batch_size: Option<pushtail_proto::units::ByteSize>,
    pub timeout: Option<pushtail_proto::units::Duration>,
    pub min_backoff: Option<pushtail_proto::units::Duration>,
    pub max_backoff: Option<pushtail_proto::units::Duration>,
    pub max_retries: Option<u32>,
}

impl ClientFlags {
    /// The flags given, by name.
    fn given(&self) -> Vec<&'static str> {
        [
            ("-client.tenant-id", self.tenant_id.is_some()),
            ("-client.batch-wait", self.batch_wait.is_some()),
            ("-client.batch-size-bytes", self.batch_size.is_some()),
            ("-client.timeout", self.timeout.is_some()),
            ("-client.min-backoff", self.min_backoff.is_some()),
            ("-client.max-backoff", self.max_backoff.is_some()),
            ("-client.max-retries", self.max_retries.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, given)| given.then_some(name))
        .collect()
    }

    fn apply(&self, client: &mut ClientConfig) {
        if let Some(t) = &self.tenant_id {
            client.tenant_id = t.clone();
        }
        if let Some(d) = self.batch_wait {
            client.batchwait = d;
        }
        if let Some(b) = self.batch_size {
            client.batchsize = b;
        }
        if let Some(d) = self.timeout {
            client.timeout = d;
        }
        if let Some(d) = self.min_backoff {
            client.backoff_config.min_period = d;
        }
        if let Some(d) = self.max_backoff {
            client.backoff_config.max_period = d;
        }
        if let Some(n) = self.max_retries {
            client.backoff_config.max_retries = n;
        }
    }
}

/// Validates a parsed config into a [`Plan`]. No I/O.
pub fn plan(mut config: Config, overrides: &Overrides) -> Result<Plan, ConfigError> {
    if let Some(port) = overrides.http_listen_port {
        config.server.http_listen_port = port;
    }
    if let Some(address) = &overrides.http_listen_address {
        config.server.http_listen_address = address.clone();
    }
    if let Some(enabled) = overrides.enable_runtime_reload {
        config.server.enable_runtime_reload = enabled;
    }
    let log_level = match &overrides.log_level {
        Some(level) => level.parse().map_err(|reason| ConfigError::Log {
            key: "-log.level",
            reason,
        })?,
        None => config
            .server
            .log_level
            .parse()
            .map_err(|reason| ConfigError::Log {
                key: "server.log_level",
                reason,
            })?,
    };
    let log_format = match &overrides.log_format {
        Some(format) => format.parse().map_err(|reason| ConfigError::Log {
            key: "-log.format",
            reason,
        })?,
        None => config
            .server
            .log_format
            .parse()
            .map_err(|reason| ConfigError::Log {
                key: "server.log_format",
                reason,
            })?,
    };
    let mut warnings: Vec<ConfigWarning> = overrides
        .ignored_flags
        .iter()
        .copied()
        .map(ConfigWarning::IgnoredFlag)
        .collect();
    let mut clients = config.clients;
    clients.extend(config.client);
    match &overrides.client_url {
        Some(url) => {
            let mut client = ClientConfig::new(url.clone());
            overrides.client.apply(&mut client);
            client
                .validate()
                .map_err(|reason| ConfigError::ClientFlag { reason })?;
            clients.push(client);
        }
        None => warnings.extend(
            overrides
                .client
                .given()
                .into_iter()
                .map(ConfigWarning::ClientFlagWithoutUrl),
        ),
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
    let limits = &config.limits_config;
    for client in &mut clients {
        client.limits = limits.client();
    }
    let readline = if limits.readline_rate_enabled {
        Some(
            ReadlineLimit::new(
                limits.readline_rate,
                limits.readline_burst,
                limits.readline_rate_drop,
            )
            .ok_or(ConfigError::ReadlineLimit)?,
        )
    } else {
        None
    };

    let mut shared = ListenerSpec {
        server: config.server.clone(),
        targets: Vec::new(),
        serve_metrics: true,
    };
    let mut own_listeners = Vec::new();
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
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
        warnings.extend(sc.stage_warnings.iter().map(|w| ConfigWarning::Stage {
            job: job.clone(),
            warning: w.clone(),
        }));
        // `limit` (drop: false) holds a push at most as long as the
        // listener serving this job waits for queue room.
        let push_timeout = match &sc.loki_push_api {
            Some(api) => api.server.push_timeout,
            None => config.server.push_timeout,
        };
        let pipeline = pipeline.with_max_delay(push_timeout.get());
        let pipeline = match &readline {
            Some(limit) => pipeline.with_readline_limit(limit.clone()),
            None => pipeline,
        };
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
    for listener in &listeners {
        let prefix = listener.server.http_path_prefix.as_deref().unwrap_or("");
        if !prefix.is_empty() && prefix != "/" {
            let place = match (listener.serve_metrics, listener.targets.first()) {
                (false, Some(t)) => format!("job {:?} loki_push_api.server", t.job_name),
                _ => "server".to_owned(),
            };
            warnings.push(ConfigWarning::PathPrefix {
                place,
                prefix: prefix.to_owned(),
            });
        }
    }
    pushtail_receiver::validate(&listeners)?;
    // Last, so a file with other faults names those first.
    if clients.is_empty() && !overrides.dry_run {
        return Err(ConfigError::NoClients);
    }
    let dry_run_labels = clients.first().map_or_else(
        || overrides.external_labels.clone(),
        |c| c.external_labels.clone(),
    );
    warnings.extend(
        [
            ("positions", config.positions.is_some()),
            ("target_config", config.target_config.is_some()),
            ("options", config.options.is_some()),
            ("tracing", config.tracing.is_some()),
        ]
        .into_iter()
        .filter_map(|(key, set)| set.then_some(ConfigWarning::IgnoredKey(key))),
    );
    warnings.extend(
        config
            .ignored_keys
            .into_iter()
            .map(ConfigWarning::UnknownKey),
    );
    Ok(Plan {
        server: config.server,
        warnings,
        log_level,
        log_format,
        dry_run_labels,
        listeners,
        clients,
        wal: config.wal,
    })
}

fn tenant(id: &str) -> Result<Option<TenantId>, pushtail_proto::tenant::TenantError> {
    if id.is_empty() {
        Ok(None)
    } else {
        TenantId::new(id).map(Some)
    }
}
