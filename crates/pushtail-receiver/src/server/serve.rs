//! Serving one listener: the layered service, the accept loop (connection
//! limit, connection gauges, back-off on resource errors), each connection
//! on its own task (TLS handshake, plain HTTP refused on a TLS port), TLS
//! file rotation, and the graceful drain when told to stop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpStream;
use tokio::sync::{watch, Semaphore};
use tokio_rustls::server::TlsStream;
use tower::ServiceBuilder;
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::{DefaultOnFailure, Trace, TraceLayer};

use crate::accept::{classify, AcceptAction, BACKOFF};
use crate::config::ServerConfig;
use crate::conn::{
    connection_error_reason, count_rejection, ConnService, ConnState, DeadlineIo, Timeouts,
};
use crate::layers::{MetricsLayer, MetricsService};
use crate::metrics::{
    SERVER_TCP_CONNECTIONS, SERVER_TCP_CONNECTIONS_LIMIT, TCP_CONNECTIONS,
    TLS_HANDSHAKE_FAILURES_TOTAL,
};
use crate::service::{ClientIdentity, ListenerService, ListenerState};
use crate::tls::{client_cn, looks_like_plain_http, Tls, PLAIN_HTTP_RESPONSE, ROTATION_CHECK};

use super::{stopped, Bound};

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

/// Accepts connections until told to stop, then drains them gracefully.
/// Each connection (its TLS handshake too) runs on its own task, so a slow
/// handshake never holds up `accept`.
pub(super) async fn serve(bound: Bound, mut stop: watch::Receiver<bool>) {
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
