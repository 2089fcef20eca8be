//! Listeners: binding, the accept loop (connection limit, connection
//! gauge, back-off on resource errors), hyper connections under graceful
//! shutdown, the periodic flush of held pipeline entries, and the shutdown
//! sequence.
//!
//! Timeouts follow Go's `http.Server` for HTTP/1 and HTTP/2 alike (see
//! [`crate::conn`]): `http_server_read_timeout` bounds accept (or the first
//! byte after an idle gap) to the end of the request body, so silent,
//! half-sent and slow requests cannot hold a `http_listen_conn_limit` slot;
//! `http_server_idle_timeout` closes connections with no request in flight;
//! `http_server_write_timeout` bounds the whole handling of a request
//! (answered 503 when it runs out) and how long a response write may stall
//! on a client that does not read. `accept` errors are classified in
//! [`crate::accept`]. Nothing here reads bodies.
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::auth::CredentialError;
use crate::config::ServerConfig;
use crate::handoff::Handoff;
use crate::route::RouteTable;
use crate::service::{ListenerState, ReloadEndpoint, Routing};
use crate::status::{ListenerView, StatusBoard, StatusSource};
use crate::target::Target;
use crate::tls::{Tls, TlsError};
use crate::{normalize_base_url, validate, ListenerSpec, Output, ReceiverConfigError};

mod flush;
mod reload;
mod serve;

use flush::{flush_loop, flush_targets};
pub use reload::{ReloadError, ReloadFailure, ReloadHook, Reloader};
use serve::serve;
#[cfg(test)]
pub(crate) use serve::stack;

/// Why the receiver could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReceiverError {
    #[error(transparent)]
    Config(#[from] ReceiverConfigError),
    #[error("invalid listen address {address:?}: {reason}")]
    Address { address: String, reason: String },
    /// `listener` says which: the shared server or a job's own
    /// `loki_push_api` server.
    #[error("cannot listen on {address} for {listener}: {reason}")]
    Bind {
        address: String,
        listener: String,
        reason: std::io::Error,
    },
    #[error("listener {address}: {source}")]
    Tls { address: String, source: TlsError },
    #[error(transparent)]
    Credentials(#[from] CredentialError),
}

/// The bound listeners, ready to serve.
pub struct Receiver {
    listeners: Vec<Bound>,
    handoff: Arc<Handoff>,
    shutting_down: Arc<AtomicBool>,
    metrics: Option<PrometheusHandle>,
    status: Arc<StatusBoard>,
}

struct Bound {
    /// The shared server (it serves /metrics), not a job's own listener.
    shared: bool,
    listener: TcpListener,
    addr: SocketAddr,
    server: ServerConfig,
    state: Arc<ListenerState>,
    tls: Option<Arc<Tls>>,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("addrs", &self.local_addrs())
            .finish_non_exhaustive()
    }
}

impl Receiver {
    /// Validates the listeners and binds every socket. Install the metrics
    /// recorder before calling this: per-target counters are registered
    /// here.
    pub async fn bind(
        listeners: Vec<ListenerSpec>,
        output: Output,
        metrics: Option<PrometheusHandle>,
    ) -> Result<Receiver, ReceiverError> {
        validate(&listeners)?;
        crate::metrics::describe();
        let handoff = Arc::new(Handoff::new(output.queues, output.log));
        let shutting_down = Arc::new(AtomicBool::new(false));
        let mut sockets = Vec::with_capacity(listeners.len());
        for spec in listeners {
            let address = format!(
                "{}:{}",
                spec.server.http_listen_address, spec.server.http_listen_port
            );
            // `http_path_prefix` is warned about by the binary's config
            // check (also under -check-syntax), not here.
            let addr = resolve(&spec.server)?;
            let tls = match &spec.server.http_tls_config {
                Some(cfg) => Some(Arc::new(Tls::new(cfg).map_err(|source| {
                    ReceiverError::Tls {
                        address: address.clone(),
                        source,
                    }
                })?)),
                None => None,
            };
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|reason| ReceiverError::Bind {
                    address,
                    listener: describe_listener(&spec),
                    reason,
                })?;
            let addr = listener.local_addr().unwrap_or(addr);
            let routing = Arc::new(ArcSwap::from_pointee(routing(&spec, None)?));
            sockets.push((listener, addr, spec, routing, tls));
        }
        let status = Arc::new(StatusBoard::new(
            sockets
                .iter()
                .map(|(_, addr, spec, routing, _)| ListenerView {
                    address: *addr,
                    shared: spec.serve_metrics,
                    routing: Arc::clone(routing),
                })
                .collect(),
        ));
        let bound = sockets
            .into_iter()
            .map(|(listener, addr, spec, routing, tls)| Bound {
                shared: spec.serve_metrics,
                listener,
                addr,
                state: Arc::new(ListenerState {
                    reload: reload_endpoint(&spec),
                    routing,
                    handoff: Arc::clone(&handoff),
                    push_timeout: output.push_timeout,
                    shutting_down: Arc::clone(&shutting_down),
                    metrics: metrics.clone(),
                    status: spec.serve_metrics.then(|| Arc::clone(&status)),
                    rejections: Default::default(),
                }),
                server: spec.server,
                tls,
            })
            .collect();
        Ok(Receiver {
            listeners: bound,
            handoff,
            shutting_down,
            metrics,
            status,
        })
    }

    /// Gives the status page (`GET /`, `GET /api/v1/status` on the shared
    /// server) the agent's version and its clients. Without it the page
    /// shows the receiver's own version and no clients.
    pub fn attach_status(&self, version: impl Into<String>, source: Arc<dyn StatusSource>) {
        self.status.attach(version.into(), source);
    }

    /// A handle that swaps the targets of the running listeners; see
    /// [`Reloader::reload`].
    pub fn reloader(&self) -> Reloader {
        Reloader {
            listeners: self
                .listeners
                .iter()
                .map(|l| (l.server.clone(), Arc::clone(&l.state)))
                .collect(),
            handoff: Arc::clone(&self.handoff),
        }
    }

    /// Installs what `POST /reload` runs (served only on the shared server
    /// with `enable_runtime_reload`). Call before [`Receiver::run`].
    pub fn set_reload_hook(&self, hook: Arc<dyn ReloadHook>) {
        for l in &self.listeners {
            let _ = l.state.reload.hook.set(Arc::clone(&hook));
        }
    }

    /// The bound addresses, in `ListenerSpec` order.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners.iter().map(|l| l.addr).collect()
    }

    /// Serves until `shutdown` resolves; then readiness and new pushes turn
    /// 503, in-flight requests finish (each listener waits at most its
    /// `graceful_shutdown_timeout`), held pipeline entries are flushed into
    /// the output, the receiver lets go of its queue senders, and this
    /// returns.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ReceiverError> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let mut states = Vec::new();
        let mut grace = Duration::ZERO;
        for bound in self.listeners {
            states.push(Arc::clone(&bound.state));
            grace = grace.max(bound.server.graceful_shutdown_timeout.get());
            tasks.spawn(serve(bound, stop_rx.clone()));
        }
        let flusher = tokio::spawn(flush_loop(
            states.clone(),
            Arc::clone(&self.handoff),
            self.metrics.clone(),
            stop_rx,
        ));
        shutdown.await;
        tracing::info!("receiver shutting down");
        self.shutting_down.store(true, Ordering::Release);
        let _ = stop_tx.send(true);
        while tasks.join_next().await.is_some() {}
        let mut flusher = flusher;
        if tokio::time::timeout(grace, &mut flusher).await.is_err() {
            tracing::warn!("pipeline flush did not finish in time");
            flusher.abort();
        }
        flush_targets(&states, &self.handoff, true, Some(grace)).await;
        // Connections that outlived the grace period still hold the
        // service; the clients must not wait for them.
        self.handoff.close();
        Ok(())
    }
}

fn resolve(server: &ServerConfig) -> Result<SocketAddr, ReceiverError> {
    let host = server.http_listen_address.trim();
    let host = if host.is_empty() { "0.0.0.0" } else { host };
    let ip: std::net::IpAddr = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .map_err(|e: std::net::AddrParseError| ReceiverError::Address {
            address: host.to_owned(),
            reason: e.to_string(),
        })?;
    Ok(SocketAddr::new(ip, server.http_listen_port))
}

/// The routes and targets of `spec`, reading credential files; a target
/// whose job ran in `previous` keeps its status counters.
fn routing(spec: &ListenerSpec, previous: Option<&Routing>) -> Result<Routing, CredentialError> {
    let stats = |job: &str| {
        previous
            .and_then(|p| p.targets.iter().find(|t| t.spec.job_name == job))
            .map(|t| Arc::clone(&t.stats))
            .unwrap_or_default()
    };
    Ok(Routing {
        routes: RouteTable::new(
            spec.targets.iter().map(|t| normalize_base_url(&t.base_url)),
            spec.serve_metrics,
        ),
        targets: spec
            .targets
            .iter()
            .map(|t| Target::new(t.clone(), stats(&t.job_name)))
            .collect::<Result<_, _>>()?,
    })
}

/// A listener's state outside [`Receiver::bind`] (service-level tests): a
/// shared listener gets a status board that sees only itself.
#[cfg(test)]
pub(crate) fn listener_state(
    spec: &ListenerSpec,
    handoff: &Arc<Handoff>,
    push_timeout: Duration,
    shutting_down: &Arc<AtomicBool>,
    metrics: Option<PrometheusHandle>,
) -> Result<ListenerState, CredentialError> {
    let routing = Arc::new(ArcSwap::from_pointee(routing(spec, None)?));
    let status = spec.serve_metrics.then(|| {
        Arc::new(StatusBoard::new(vec![ListenerView {
            address: SocketAddr::from(([127, 0, 0, 1], spec.server.http_listen_port)),
            shared: true,
            routing: Arc::clone(&routing),
        }]))
    });
    Ok(ListenerState {
        reload: reload_endpoint(spec),
        routing,
        handoff: Arc::clone(handoff),
        push_timeout,
        shutting_down: Arc::clone(shutting_down),
        metrics,
        status,
        rejections: Default::default(),
    })
}

/// `POST /reload`: served on the shared server with `enable_runtime_reload`.
fn reload_endpoint(spec: &ListenerSpec) -> Arc<ReloadEndpoint> {
    Arc::new(ReloadEndpoint {
        enabled: spec.serve_metrics && spec.server.enable_runtime_reload,
        hook: std::sync::OnceLock::new(),
    })
}

/// Names a listener in messages: the shared server, or the job whose
/// `loki_push_api` block it serves.
pub(crate) fn describe_listener(spec: &ListenerSpec) -> String {
    match (spec.serve_metrics, spec.targets.first()) {
        (false, Some(target)) => format!(
            "the loki_push_api server of job {:?} (its server.http_listen_port)",
            target.job_name
        ),
        _ => "the shared server (server.http_listen_port)".to_owned(),
    }
}

/// Resolves once the stop flag is set (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
