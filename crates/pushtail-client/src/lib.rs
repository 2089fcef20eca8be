//! The Loki client: takes [`Delivery`]s from a bounded queue, batches
//! them per tenant, and sends them as protobuf+snappy pushes with retries.
//!
//! One [`Client`] is one configured URL with one sender task that owns all of
//! its state. The client never knows the receiver: the binary connects them
//! with a bounded channel, which is where backpressure comes from. It never
//! buffers beyond that channel and the batches being filled or sent.

pub mod config;
pub mod metrics;

mod batch;
mod connect;
mod encode;
mod limits;
mod probe;
mod queue;
mod send;
mod sender;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use pushtail_proto::model::Delivery;
use pushtail_proto::tenant::TenantId;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::{ClientConfig, ClientConfigError};

pub use limits::ClientLimits;
pub use probe::{Attempt, ClientSnapshot, Probe};

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("client {url}: {source}")]
    Config {
        url: String,
        source: ClientConfigError,
    },
    #[error("client {url}: reading {path}: {source}", path = path.display())]
    ReadFile {
        url: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("client {url}: {path}: {reason}", path = path.display())]
    BadFile {
        url: String,
        path: PathBuf,
        reason: String,
    },
    #[error("client {url}: building the http client: {source}")]
    Build { url: String, source: reqwest::Error },
    #[error("client {url}: must be spawned inside a tokio runtime")]
    NoRuntime { url: String },
}

/// Starts clients; see [`Client::spawn`].
pub struct Client;

/// Creates a client's metric families at 0 without a client, for
/// `-dry-run`, so dashboards and the HELP lines look as they will when it
/// sends. An invalid URL registers nothing (validation reports it).
pub fn register_metrics(config: &ClientConfig) {
    if let Ok(url) = config::parse_url(&config.url) {
        drop(metrics::ClientMetrics::new(&config::host_label(&url)));
    }
}

impl Client {
    /// Everything [`Client::spawn`] checks, without starting anything:
    /// the config, the URL, the tenant, and the password, token and TLS
    /// files (read and parsed). For `-check-syntax`.
    pub fn check(config: &ClientConfig) -> Result<(), ClientError> {
        let shown_url = config::redacted_url(&config.url);
        let config_err = |source| ClientError::Config {
            url: shown_url.clone(),
            source,
        };
        config.validate().map_err(config_err)?;
        config::parse_url(&config.url).map_err(config_err)?;
        if !config.tenant_id.is_empty() {
            TenantId::new(&config.tenant_id)
                .map_err(|e| config_err(ClientConfigError::TenantId(e)))?;
        }
        connect::build_client(config).map(drop)
    }

    /// Validates `config`, builds the HTTP client (reading password, token
    /// and TLS files: errors name the file) and spawns the sender task that
    /// reads `rx` until it is closed. Must be called inside a tokio runtime.
    pub fn spawn(
        config: ClientConfig,
        rx: mpsc::Receiver<Arc<Delivery>>,
    ) -> Result<ClientHandle, ClientError> {
        let shown_url = config::redacted_url(&config.url);
        let config_err = |source| ClientError::Config {
            url: shown_url.clone(),
            source,
        };
        config.validate().map_err(config_err)?;
        let url = config::parse_url(&config.url).map_err(config_err)?;
        let default_tenant = match config.tenant_id.as_str() {
            "" => None,
            id => Some(TenantId::new(id).map_err(|e| config_err(ClientConfigError::TenantId(e)))?),
        };
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| ClientError::NoRuntime {
                url: shown_url.clone(),
            })?;
        let http = connect::build_client(&config)?;
        let host = config::host_label(&url);
        let pending = Arc::new(AtomicU64::new(0));
        let dropped = Arc::new(AtomicU64::new(0));
        let (resume, _) = tokio::sync::watch::channel(sender::NO_POSITION);
        let client_metrics = metrics::ClientMetrics::new(&host);
        let probe = Probe {
            url: shown_url,
            state: Arc::default(),
            pending: Arc::clone(&pending),
        };
        let backlog = queue::Backlog::new(
            rx,
            queue::Pending::new(Arc::clone(&pending), client_metrics.pending_gauge()),
        );
        let sender = sender::Sender {
            transport: send::Transport {
                http,
                url,
                metrics: client_metrics,
                host,
                backoff: config.backoff_config,
                drop_rate_limited: config.drop_rate_limited_batches,
                dropped: Arc::clone(&dropped),
                probe: Arc::clone(&probe.state),
                encoder: encode::Encoder::new(),
            },
            batchsize: config.batchsize.as_usize(),
            batchwait: config.batchwait.get(),
            default_tenant,
            external: batch::ExternalLabels::new(config.external_labels),
            batches: HashMap::new(),
            backlog,
            resume: resume.clone(),
            last_log_end: None,
            limits: config.limits,
        };
        let task = runtime.spawn(sender.run());
        Ok(ClientHandle {
            pending,
            dropped,
            resume,
            probe,
            task: Some(task),
        })
    }
}

/// A client's progress through the write-ahead log.
#[derive(Clone, Debug)]
pub struct Progress(tokio::sync::watch::Receiver<u64>);

impl Progress {
    /// The log position from which a restarted reader must resume so that
    /// nothing this client has not sent or dropped is skipped. `None` until
    /// a logged delivery was taken.
    pub fn resume_position(&self) -> Option<u64> {
        match *self.0.borrow() {
            sender::NO_POSITION => None,
            position => Some(position),
        }
    }

    /// Waits until the position moved, then returns it; `None` once the
    /// client is gone.
    pub async fn changed(&mut self) -> Option<Option<u64>> {
        self.0.changed().await.ok()?;
        Some(self.resume_position())
    }
}

/// A running client: how much it still holds, and when it is done.
pub struct ClientHandle {
    pending: Arc<AtomicU64>,
    dropped: Arc<AtomicU64>,
    resume: tokio::sync::watch::Sender<u64>,
    probe: Probe,
    task: Option<JoinHandle<()>>,
}

impl ClientHandle {
    /// Entries taken from the queue and not yet sent or dropped.
    pub fn pending_entries(&self) -> u64 {
        self.pending.load(Ordering::Relaxed)
    }

    /// Entries dropped after a final error (Loki refused them, or retries
    /// ran out).
    pub fn dropped_entries(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// A reader of what the client is doing (for the status page); can be
    /// read from another task.
    pub fn probe(&self) -> Probe {
        self.probe.clone()
    }

    /// How far the client got through deliveries read from the
    /// write-ahead log; can be read from another task.
    pub fn progress(&self) -> Progress {
        Progress(self.resume.subscribe())
    }

    /// Resolves once the queue is closed and every batch has been sent or
    /// dropped, retries included. Cancel-safe: it can be wrapped in a
    /// timeout and awaited again.
    pub async fn finished(&mut self) {
        if let Some(task) = self.task.as_mut() {
            // The task only ends by returning; a panic inside it is a bug,
            // and there is nothing left to wait for either way.
            let _ = task.await;
            self.task = None;
        }
    }
}
