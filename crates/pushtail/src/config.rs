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
use pushtail_pipeline::{Pipeline, StageConfig};
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
    #[error("the config file is empty; it needs at least `clients` (or -client.url) and `scrape_configs`")]
    Empty,
    #[error("no clients configured: add `clients` (or -client.url), or run with -dry-run")]
    NoClients,
    /// The client `-client.url` and the `-client.*` flags describe.
    #[error("-client.url: {reason}")]
    ClientFlag {
        reason: pushtail_client::config::ClientConfigError,
    },
    #[error("{key}: {reason}")]
    Log {
        key: &'static str,
        reason: crate::logging::LogSettingError,
    },
}

/// Something in the config or flags that is accepted but has no effect;
/// printed at start and by `-check-syntax`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigWarning {
    /// A Promtail top-level key pushtail ignores.
    IgnoredKey(&'static str),
    /// A Promtail flag pushtail accepts and ignores.
    IgnoredFlag(crate::cli::IgnoredFlag),
    /// A `-client.*` flag given without `-client.url`.
    ClientFlagWithoutUrl(&'static str),
    /// `http_path_prefix` on a listener (`place`: `server` or a job's
    /// `loki_push_api.server`).
    PathPrefix { place: String, prefix: String },
    /// An unknown key inside a pipeline stage (ignored, as Promtail does).
    Stage { job: String, warning: StageWarning },
    /// An unknown key elsewhere that serde ignored (every struct outside
    /// the stages denies unknown keys, so this names a missed one).
    UnknownKey(String),
}

/// A key inside a pipeline stage that the stage ignored: Promtail ignores
/// unknown keys inside a stage, so pushtail loads such configs and warns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageWarning {
    /// The stage's place: `pipeline_stages[1]`, `pipeline_stages[1].stages[0]`.
    pub path: String,
    /// The stage type.
    pub stage: String,
    /// The key, relative to the stage's config (`typo`, `m.config.typo`).
    pub key: String,
}

impl std::fmt::Display for StageWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let StageWarning { path, stage, key } = self;
        write!(f, "{path} ({stage}): unknown key {key:?} ignored")
    }
}

impl std::fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigWarning::IgnoredKey(key) => write!(
                f,
                "config key {key} is accepted for Promtail compatibility and ignored"
            ),
            ConfigWarning::IgnoredFlag(flag) => write!(
                f,
                "flag {flag} is accepted for Promtail compatibility and ignored"
            ),
            ConfigWarning::PathPrefix { place, prefix } => write!(
                f,
                "{place}.http_path_prefix {prefix:?} is not supported and is ignored; use base_url on the targets"
            ),
            ConfigWarning::Stage { job, warning } => write!(f, "job {job:?}: {warning}"),
            ConfigWarning::UnknownKey(path) => {
                write!(f, "config key {path} is not known and is ignored")
            }
            ConfigWarning::ClientFlagWithoutUrl(flag) => write!(
                f,
                "flag {flag} only configures the client -client.url adds, and -client.url is not given; it is ignored"
            ),
        }
    }
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
    /// Ignored keys outside the stages (filled by [`parse`]; none while
    /// every such struct denies unknown keys).
    #[serde(skip)]
    pub ignored_keys: Vec<String>,
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
    pub pipeline_stages: Vec<StageConfig>,
    /// Keys the stages ignored (filled by [`parse`]).
    #[serde(skip)]
    pub stage_warnings: Vec<StageWarning>,
}

/// Parses YAML text into a [`Config`]; errors name the key path and line.
/// Keys that serde ignores (only stage configs ignore keys, as Promtail
/// does) are collected with their path, for the warnings.
pub fn parse(text: &str) -> Result<Config, ConfigError> {
    if text
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#') || l.trim() == "---")
    {
        return Err(ConfigError::Empty);
    }
    let de = serde_yaml::Deserializer::from_str(text);
    let mut ignored: Vec<Vec<Segment>> = Vec::new();
    let mut record = |path: serde_ignored::Path<'_>| {
        let mut segments = Vec::new();
        Segment::collect(&path, &mut segments);
        ignored.push(segments);
    };
    let de = serde_ignored::Deserializer::new(de, &mut record);
    let mut config: Config = serde_path_to_error::deserialize(de).map_err(|e| {
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
        // serde_yaml may start its message with the path, or with a parent
        // of it when the error surfaced above the value it is about (a
        // stage's null config missing a field); say it once.
        let message = match message.split_once(": ") {
            Some((head, rest)) if !head.is_empty() && path.starts_with(head) => rest.to_owned(),
            _ => message,
        };
        // A YAML syntax error leaves serde's path unknown (`?`): name the
        // keys that lead to the bad line instead.
        let path = if path == "?" || path.contains(".?") || path.ends_with('?') {
            inner
                .location()
                .map(|loc| path_before_line(text, loc.line()))
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| "config".into())
        } else {
            path
        };
        ConfigError::Syntax {
            path: if path == "." { "config".into() } else { path },
            message,
        }
    })?;
    for segments in ignored {
        match stage_warning(&segments) {
            Some((index, warning)) => match config.scrape_configs.get_mut(index) {
                Some(sc) => sc.stage_warnings.push(warning),
                None => config.ignored_keys.push(render_key(&segments)),
            },
            None => config.ignored_keys.push(render_key(&segments)),
        }
    }
    Ok(config)
}

/// One step of an ignored key's path.
enum Segment {
    Index(usize),
    Key(String),
}

impl Segment {
    /// Appends `path`'s steps, root first; serde_ignored's steps for
    /// options and newtypes name nothing in the file and are left out.
    fn collect(path: &serde_ignored::Path<'_>, out: &mut Vec<Segment>) {
        use serde_ignored::Path;
        match path {
            Path::Root => {}
            Path::Seq { parent, index } => {
                Segment::collect(parent, out);
                out.push(Segment::Index(*index));
            }
            Path::Map { parent, key } => {
                Segment::collect(parent, out);
                out.push(Segment::Key(key.clone()));
            }
            Path::Some { parent }
            | Path::NewtypeStruct { parent }
            | Path::NewtypeVariant { parent } => Segment::collect(parent, out),
        }
    }
}

/// `a.b[0].c`.
fn render_key(segments: &[Segment]) -> String {
    let mut out = String::new();
    for segment in segments {
        match segment {
            Segment::Index(i) => out.push_str(&format!("[{i}]")),
            Segment::Key(k) if out.is_empty() => out.push_str(k),
            Segment::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
        }
    }
    out
}

/// The scrape config index and warning for a key ignored inside a stage:
/// `scrape_configs[0].pipeline_stages[1].match.stages[0].output.extra` is
/// key `extra` of the `output` stage at `pipeline_stages[1].stages[0]`.
fn stage_warning(segments: &[Segment]) -> Option<(usize, StageWarning)> {
    use Segment::{Index, Key};
    let [Key(scrape_configs), Index(job), Key(list), rest @ ..] = segments else {
        return None;
    };
    if scrape_configs != "scrape_configs" || list != "pipeline_stages" {
        return None;
    }
    let mut rest = rest;
    let mut path = String::from("pipeline_stages");
    loop {
        let [Index(index), Key(stage), tail @ ..] = rest else {
            return None;
        };
        path.push_str(&format!("[{index}]"));
        match tail {
            [] => return None,
            [Key(field), nested @ ..]
                if stage == "match" && field == "stages" && !nested.is_empty() =>
            {
                path.push_str(".stages");
                rest = nested;
            }
            key => {
                let warning = StageWarning {
                    path,
                    stage: stage.clone(),
                    key: render_key(key),
                };
                return Some((*job, warning));
            }
        }
    }
}

/// The key path (`scrape_configs[0].http`) that encloses line `line`
/// (1-based) of a YAML block document, found from indentation alone, so it
/// works on text that does not parse.
fn path_before_line(text: &str, line: usize) -> String {
    // (indent, segment, list index counter for `- ` items at this indent)
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut seq_index: Vec<(usize, usize)> = Vec::new();
    for raw in text.lines().take(line.saturating_sub(1)) {
        let trimmed = raw.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed == "---" {
            continue;
        }
        let mut indent = raw.len() - trimmed.len();
        let mut rest = trimmed;
        while let Some(after) =
            rest.strip_prefix("- ")
                .or(if rest == "-" { Some("") } else { None })
        {
            stack.retain(|(i, _)| *i < indent);
            seq_index.retain(|(i, _)| *i <= indent);
            let index = match seq_index.last_mut() {
                Some((i, n)) if *i == indent => {
                    *n += 1;
                    *n
                }
                _ => {
                    seq_index.push((indent, 0));
                    0
                }
            };
            stack.push((indent, format!("[{index}]")));
            let skipped = rest.len() - after.trim_start().len();
            indent += skipped;
            rest = after.trim_start();
        }
        let Some((key, _)) = rest.split_once(':') else {
            continue;
        };
        let key = key.trim().trim_matches(|c| c == '"' || c == '\'');
        if key.is_empty() || key.contains(['{', '[', ' ']) {
            continue;
        }
        stack.retain(|(i, _)| *i < indent);
        seq_index.retain(|(i, _)| {
            *i < indent || stack.iter().any(|(si, s)| si == i && s.starts_with('['))
        });
        stack.push((indent, key.to_owned()));
    }
    let mut out = String::new();
    for (_, seg) in &stack {
        if !seg.starts_with('[') && !out.is_empty() {
            out.push('.');
        }
        out.push_str(seg);
    }
    out
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

impl ConfigError {
    /// Whether the fault is in a command-line flag rather than the file.
    pub fn is_flag_error(&self) -> bool {
        match self {
            ConfigError::ClientFlag { .. } => true,
            ConfigError::Log { key, .. } => key.starts_with('-'),
            _ => false,
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
            ("limits_config", config.limits_config.is_some()),
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
    fn stage_errors_name_path_and_line() {
        let head = "scrape_configs:\n  - job_name: a\n    http: {}\n    pipeline_stages:\n";
        let cases = [
            (
                "      - json: {expressions: {a: ''}}\n      - regex:\n          expression: {a: 1}\n",
                "scrape_configs[0].pipeline_stages[1].regex.expression: invalid type: map, expected a string (line 7, column 23)",
            ),
            (
                "      - sampling:\n",
                "scrape_configs[0].pipeline_stages[0].sampling: missing field `rate` (line 5",
            ),
            (
                "      - lables: {a: ''}\n",
                "scrape_configs[0].pipeline_stages[0]: unsupported stage type \"lables\", did you mean \"labels\"?; valid types are cri,",
            ),
            (
                "      - match:\n          selector: '{a=\"b\"}'\n          stages:\n            - {json: {}, regex: {}}\n",
                "scrape_configs[0].pipeline_stages[0].match.stages[0]: a stage must be a map with one key, the stage type (line 8",
            ),
        ];
        for (stages, want) in cases {
            let err = parse(&format!("{head}{stages}"))
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.starts_with(want), "{stages}\n got: {err}\nwant: {want}");
        }
    }

    #[test]
    fn keys_stages_ignore_are_warnings_naming_job_stage_and_key() {
        let text = "clients:\n  - url: http://x\nscrape_configs:\n  - job_name: a\n    http: {base_url: /a/}\n  - job_name: b\n    http: {base_url: /b/}\n    pipeline_stages:\n      - regex: {expression: a, bogus: 1}\n      - match:\n          selector: '{a=\"b\"}'\n          typo: x\n          stages:\n            - output: {source: a, extra: {deep: 1}}\n      - non_indexed_labels: {a: ''}\n      - metrics: {m: {type: Counter, config: {action: inc, typo: 2}}}\n";
        let config = parse(text).unwrap_or_else(|e| panic!("{e}"));
        assert!(config.ignored_keys.is_empty(), "{:?}", config.ignored_keys);
        let plan = plan(config, &Overrides::default()).unwrap_or_else(|e| panic!("{e}"));
        let got: Vec<String> = plan.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(
            got,
            [
                r#"job "b": pipeline_stages[0] (regex): unknown key "bogus" ignored"#,
                r#"job "b": pipeline_stages[1] (match): unknown key "typo" ignored"#,
                r#"job "b": pipeline_stages[1].stages[0] (output): unknown key "extra" ignored"#,
                r#"job "b": pipeline_stages[3] (metrics): unknown key "m.config.typo" ignored"#,
            ]
        );
    }

    #[test]
    fn printed_config_hides_secrets() {
        let text = "clients:\n  - url: http://x\n    basic_auth: {username: u, password: hunter2}\n    bearer_token: tok1\nserver:\n  http_tls_config:\n    cert_file: /c.pem\n    key: \"-----BEGIN PRIVATE KEY-----\"\nscrape_configs:\n  - job_name: a\n    http:\n      basic_auth: {username: edge, password: s3cret}\n      bearer_token: tok2\n";
        let printed = crate::redact::redacted_yaml(text).unwrap_or_default();
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
        let dry_run = Overrides {
            dry_run: true,
            ..Overrides::default()
        };
        let plan = parse(ok).and_then(|c| plan(c, &dry_run));
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
