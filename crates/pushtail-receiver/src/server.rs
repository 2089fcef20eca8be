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
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio_rustls::server::TlsStream;
use tower::ServiceBuilder;
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::{DefaultOnFailure, Trace, TraceLayer};

use crate::accept::{classify, AcceptAction, BACKOFF};
use crate::auth::CredentialError;
use crate::config::ServerConfig;
use crate::conn::{
    connection_error_reason, count_rejection, ConnService, ConnState, DeadlineIo, Timeouts,
};
use crate::handoff::Handoff;
use crate::layers::{MetricsLayer, MetricsService};
use crate::metrics::{
    SERVER_TCP_CONNECTIONS, SERVER_TCP_CONNECTIONS_LIMIT, TCP_CONNECTIONS,
    TLS_HANDSHAKE_FAILURES_TOTAL,
};
use crate::route::RouteTable;
use crate::service::{ClientIdentity, ListenerService, ListenerState, ReloadEndpoint, Routing};
use crate::status::{ListenerView, StatusBoard, StatusSource};
use crate::target::{now_ns, BatchSet, Target};
use crate::tls::{
    client_cn, looks_like_plain_http, Tls, TlsError, PLAIN_HTTP_RESPONSE, ROTATION_CHECK,
};
use crate::{normalize_base_url, validate, ListenerSpec, Output, ReceiverConfigError};

/// How often held pipeline entries (multiline) are checked for release.
const FLUSH_INTERVAL: Duration = Duration::from_millis(500);
/// How often histogram upkeep runs on the metrics handle.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

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

/// Why `POST /reload` failed, as the binary's hook reports it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReloadFailure {
    /// The new config is invalid or changes what cannot change: 400.
    #[error("{0}")]
    Refused(String),
    /// The config could not be loaded at all (unreadable): 500.
    #[error("{0}")]
    Failed(String),
}

/// What `POST /reload` runs: the binary's reload (the same as SIGHUP's), so
/// the receiver never depends on the binary.
pub trait ReloadHook: Send + Sync {
    fn reload(&self) -> Pin<Box<dyn Future<Output = Result<(), ReloadFailure>> + Send + '_>>;
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

/// Why a reload was refused; the running configuration stays in force.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error(transparent)]
    Config(#[from] ReceiverConfigError),
    #[error("{0}: listeners cannot change while running; restart to apply")]
    ListenersChanged(String),
    #[error(transparent)]
    Credentials(#[from] CredentialError),
}

/// Applies new targets (labels, relabel rules, pipelines, base URLs, limits)
/// to running listeners. The listeners themselves (addresses, ports,
/// timeouts) are fixed for the life of the process.
#[derive(Clone)]
pub struct Reloader {
    listeners: Vec<(ServerConfig, Arc<ListenerState>)>,
    handoff: Arc<Handoff>,
}

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloader")
            .field("listeners", &self.listeners.len())
            .finish_non_exhaustive()
    }
}

impl Reloader {
    /// Validates `listeners` (same listeners as running, in the same order)
    /// and swaps every listener's routes and targets at once. Entries that
    /// the replaced pipelines still held (multiline) are released into the
    /// output, not lost.
    pub async fn reload(&self, listeners: Vec<ListenerSpec>) -> Result<(), ReloadError> {
        validate(&listeners)?;
        if listeners.len() != self.listeners.len() {
            return Err(ReloadError::ListenersChanged(format!(
                "{} listeners running, {} configured",
                self.listeners.len(),
                listeners.len()
            )));
        }
        for (i, (spec, (server, _))) in listeners.iter().zip(&self.listeners).enumerate() {
            if spec.server != *server {
                let what = if spec.server.http_tls_config != server.http_tls_config {
                    "has a new http_tls_config (certificate files are re-read when they change, without a reload)"
                } else {
                    "has new server settings"
                };
                return Err(ReloadError::ListenersChanged(format!(
                    "listener {i} ({}:{}) {what}",
                    server.http_listen_address, server.http_listen_port
                )));
            }
        }
        // Credential files are read before anything is swapped.
        let routings = listeners
            .iter()
            .zip(&self.listeners)
            .map(|(spec, (_, state))| routing(spec, Some(&state.routing.load())))
            .collect::<Result<Vec<_>, _>>()?;
        let mut replaced = Vec::with_capacity(listeners.len());
        for (new, (_, state)) in routings.into_iter().zip(&self.listeners) {
            replaced.push(state.routing.swap(Arc::new(new)));
        }
        for old in replaced {
            flush_routing(&old, &self.handoff, true, Some(RELOAD_FLUSH_TIMEOUT)).await;
        }
        Ok(())
    }
}

/// How long entries released by replaced pipelines wait for queue room.
const RELOAD_FLUSH_TIMEOUT: Duration = Duration::from_secs(30);

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

/// The layered service of one listener: tracing, metrics, the write
/// timeout, then the router. The read deadlines wrap it per connection
/// ([`ConnService`]).
pub(crate) type Stack =
    Trace<MetricsService<ListenerService>, SharedClassifier<ServerErrorsAsFailures>>;

pub(crate) fn stack(state: Arc<ListenerState>, server: &ServerConfig) -> Stack {
    ServiceBuilder::new()
        // Refusals are logged once, at warn, with their reason, by the
        // service (`crate::rejections`); tower-http's ERROR line for every
        // 5xx (a 503 is backpressure, not a failure) is debug only.
        .layer(
            TraceLayer::new_for_http()
                .on_failure(DefaultOnFailure::new().level(tracing::Level::DEBUG)),
        )
        .layer(MetricsLayer)
        .service(ListenerService {
            state,
            write_timeout: server.http_server_write_timeout.get(),
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

/// Accepts connections until told to stop, then drains them gracefully.
/// Each connection (its TLS handshake too) runs on its own task, so a slow
/// handshake never holds up `accept`.
async fn serve(bound: Bound, mut stop: watch::Receiver<bool>) {
    let Bound {
        shared,
        listener,
        addr,
        server,
        state,
        tls,
    } = bound;
    let service = stack(state, &server);
    let limit = (server.http_listen_conn_limit > 0)
        .then(|| Arc::new(Semaphore::new(server.http_listen_conn_limit)));
    let timeouts = Timeouts::new(
        server.http_server_read_timeout.get(),
        server.http_server_idle_timeout.get(),
        server.http_server_write_timeout.get(),
    );
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // hyper's header timer would also run while a keep-alive connection
    // idles; the connection deadline covers both cases instead.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(None);
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    let connections = metrics::gauge!(TCP_CONNECTIONS);
    let server_connections = metrics::gauge!(SERVER_TCP_CONNECTIONS, "protocol" => "http");
    if shared {
        // dskit's gauge is per server: the shared server's limit.
        metrics::gauge!(SERVER_TCP_CONNECTIONS_LIMIT, "protocol" => "http")
            .set(server.http_listen_conn_limit as f64);
    }
    let rotation = tls
        .as_ref()
        .filter(|t| t.has_files())
        .map(|t| tokio::spawn(watch_rotation(Arc::clone(t), stop.clone())));
    tracing::debug!(%addr, tls = tls.is_some(), "accepting connections");
    loop {
        let permit = match &limit {
            Some(sem) => tokio::select! {
                p = Arc::clone(sem).acquire_owned() => p.ok(),
                _ = stopped(&mut stop) => break,
            },
            None => None,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => match classify(&e) {
                    AcceptAction::Retry => {
                        tracing::debug!(%addr, error = %e, "accept failed, retrying");
                        continue;
                    }
                    AcceptAction::BackOff => {
                        tracing::warn!(%addr, error = %e, backoff = ?BACKOFF, "accept failed, pausing");
                        tokio::select! {
                            _ = tokio::time::sleep(BACKOFF) => continue,
                            _ = stopped(&mut stop) => break,
                        }
                    }
                },
            },
            _ = stopped(&mut stop) => break,
        };
        let conn_state = ConnState::new(timeouts);
        let gauge = connections.clone();
        gauge.increment(1.0);
        let server_gauge = server_connections.clone();
        server_gauge.increment(1.0);
        let conn = Conn {
            builder: Arc::clone(&builder),
            service: service.clone(),
            state: conn_state,
            watcher: graceful.watcher(),
            peer,
        };
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => {
                    let io = DeadlineIo::new(stream, Arc::clone(&conn.state));
                    conn.serve(io, None).await;
                }
                Some(tls) => match handshake(&tls, stream, &conn.state, timeouts).await {
                    Ok((io, identity)) => conn.serve(io, Some(identity)).await,
                    Err(e) => {
                        if conn.state.expired().is_none() {
                            metrics::counter!(TLS_HANDSHAKE_FAILURES_TOTAL).increment(1);
                        }
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    }
                },
            }
            gauge.decrement(1.0);
            server_gauge.decrement(1.0);
            drop(permit);
        });
    }
    drop(listener);
    if let Some(rotation) = rotation {
        rotation.abort();
    }
    let grace = server.graceful_shutdown_timeout.get();
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(%addr, "connections still open after graceful_shutdown_timeout");
    }
}

/// What serving one accepted connection needs.
struct Conn {
    builder: Arc<auto::Builder<TokioExecutor>>,
    service: Stack,
    state: Arc<ConnState>,
    watcher: hyper_util::server::graceful::Watcher,
    peer: SocketAddr,
}

impl Conn {
    /// Serves HTTP/1 or HTTP/2 on `io` until the connection ends.
    async fn serve<I>(self, io: I, identity: Option<ClientIdentity>)
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let conn = self
            .builder
            .serve_connection_with_upgrades(
                TokioIo::new(io),
                TowerToHyperService::new(
                    ConnService::new(self.service, Arc::clone(&self.state), identity)
                        .with_peer(self.peer),
                ),
            )
            .into_owned();
        if let Err(e) = self.watcher.watch(conn).await {
            if self.state.expired().is_none() {
                if let Some(reason) = connection_error_reason(e.as_ref()) {
                    count_rejection(reason);
                }
            }
            tracing::debug!(peer = %self.peer, error = %e, "connection ended with an error");
        }
    }
}

/// The TLS handshake, under the connection's read deadline (it runs from
/// accept). A client that speaks plain HTTP gets a one-line 400 in plain
/// text and the connection closes. Returns the stream and what the client
/// certificate says.
async fn handshake(
    tls: &Tls,
    stream: TcpStream,
    state: &Arc<ConnState>,
    timeouts: Timeouts,
) -> std::io::Result<(TlsStream<DeadlineIo<TcpStream>>, ClientIdentity)> {
    let mut first = [0u8; 1];
    let peeked = match timeouts.read {
        Some(limit) => tokio::time::timeout(limit, stream.peek(&mut first))
            .await
            .map_err(|_| {
                count_rejection(crate::conn::reason::READ_TIMEOUT);
                std::io::Error::new(std::io::ErrorKind::TimedOut, "no TLS handshake in time")
            })??,
        None => stream.peek(&mut first).await?,
    };
    if peeked == 1 && looks_like_plain_http(first[0]) {
        refuse_plain_http(stream, timeouts).await;
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "plain HTTP request on a TLS port",
        ));
    }
    let stream = tls
        .acceptor()
        .accept(DeadlineIo::new(stream, Arc::clone(state)))
        .await?;
    let (_, conn) = stream.get_ref();
    state.set_http2(conn.alpn_protocol() == Some(b"h2"));
    let cn = if tls.verified { client_cn(conn) } else { None };
    Ok((
        stream,
        ClientIdentity {
            cn: cn.map(Arc::from),
        },
    ))
}

/// Answers a plain HTTP client on a TLS port with a one-line 400, then
/// closes: our side first, then after reading what the client sent (at most
/// [`PLAIN_HTTP_DRAIN`] bytes, within the read timeout or a second), so the
/// kernel does not reset the connection and swallow the answer.
async fn refuse_plain_http(mut stream: TcpStream, timeouts: Timeouts) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // The answer fits any socket buffer: one non-blocking write.
    let _ = stream.try_write(PLAIN_HTTP_RESPONSE);
    let _ = stream.shutdown().await;
    let limit = timeouts
        .read
        .unwrap_or(PLAIN_HTTP_LINGER)
        .min(PLAIN_HTTP_LINGER);
    let drain = async {
        let mut buf = [0u8; 4096];
        let mut read = 0;
        while read < PLAIN_HTTP_DRAIN {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => read += n,
            }
        }
    };
    let _ = tokio::time::timeout(limit, drain).await;
}

/// How much of a plain HTTP request is read (and dropped) before closing.
const PLAIN_HTTP_DRAIN: usize = 64 * 1024;
/// How long a refused plain HTTP client is given to finish sending.
const PLAIN_HTTP_LINGER: Duration = Duration::from_secs(1);

/// Re-reads the TLS files when they change, until the listener stops.
async fn watch_rotation(tls: Arc<Tls>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(ROTATION_CHECK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let tls = Arc::clone(&tls);
                // File reads: off the async workers.
                let _ = tokio::task::spawn_blocking(move || tls.check_rotation()).await;
            }
            _ = stopped(&mut stop) => return,
        }
    }
}

/// Every [`FLUSH_INTERVAL`], releases entries stages held past their
/// deadline and hands them off; also keeps the metrics handle's upkeep.
async fn flush_loop(
    states: Vec<Arc<ListenerState>>,
    handoff: Arc<Handoff>,
    metrics: Option<PrometheusHandle>,
    mut stop: watch::Receiver<bool>,
) {
    let mut flush = tokio::time::interval(FLUSH_INTERVAL);
    let mut upkeep = tokio::time::interval(UPKEEP_INTERVAL);
    loop {
        tokio::select! {
            _ = flush.tick() => flush_targets(&states, &handoff, false, None).await,
            _ = upkeep.tick(), if metrics.is_some() => {
                if let Some(handle) = &metrics {
                    handle.run_upkeep();
                }
            }
            _ = stopped(&mut stop) => return,
        }
    }
}

/// Hands off entries the stages release (all of them with `force`). They
/// were accepted already, so they wait for room (up to `timeout`) rather
/// than being refused.
async fn flush_targets(
    states: &[Arc<ListenerState>],
    handoff: &Handoff,
    force: bool,
    timeout: Option<Duration>,
) {
    for state in states {
        flush_routing(&state.routing.load_full(), handoff, force, timeout).await;
    }
}

/// [`flush_targets`] for one listener's routing (also the routing a reload
/// replaced).
async fn flush_routing(
    routing: &Routing,
    handoff: &Handoff,
    force: bool,
    timeout: Option<Duration>,
) {
    for target in &routing.targets {
        let mut out = BatchSet::default();
        target.flush(now_ns(), force, &mut out);
        let entries = out.entry_count();
        if entries == 0 {
            continue;
        }
        match handoff.send(out.into_batches(), timeout).await {
            Ok(()) => target.count_written(entries),
            Err(e) => tracing::warn!(
                job = %target.spec.job_name,
                entries,
                error = %e,
                "could not hand off entries released by pipeline stages"
            ),
        }
    }
}

/// Resolves once the stop flag is set (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
