//! What loading reports: the config errors (one variant per fault, each
//! naming its place) and the warnings for accepted keys that have no effect.

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
    #[error("limits_config: readline_rate and readline_burst must be positive when readline_rate_enabled is true")]
    ReadlineLimit,
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
