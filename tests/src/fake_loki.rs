//! A fake Loki for tests and the benchmark: a loopback HTTP server that
//! really decodes pushes (raw-block snappy, protobuf, label syntax), records
//! or counts what it accepts, and answers with scripted statuses.
//!
//! It rejects what Loki rejects: a missing or unparsable Content-Type is
//! 400 (Loki's `mime.ParseMediaType` error), JSON is 415 here (pushtail
//! only sends protobuf), bad snappy, bad protobuf and bad label syntax are
//! 400. A request answered with anything but 204 never records entries, so
//! "every entry exactly once" is checkable. It must never be used outside
//! tests: it keeps everything in memory.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use pushtail_proto::encoding::snappy_decode_limited;
use pushtail_proto::push::decode_push_proto;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

pub mod tls;

/// The path pushes are accepted on.
pub const PUSH_PATH: &str = "/loki/api/v1/push";

/// Largest decompressed body accepted, as Loki's default
/// `max_send_msg_size`-sized bodies go.
const MAX_BODY: usize = 100 << 20;

/// One entry the fake Loki accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// `X-Scope-OrgID`, if the request had one.
    pub tenant: Option<String>,
    /// Canonical labels, e.g. `{app="api", env="prod"}`.
    pub labels: String,
    pub timestamp_ns: i64,
    /// The line (invalid UTF-8 replaced).
    pub line: String,
    pub structured_metadata: Vec<(String, String)>,
}

/// One push request that decoded, whatever it was answered.
#[derive(Clone, Debug)]
pub struct RequestRecord {
    pub tenant: Option<String>,
    pub streams: usize,
    pub entries: usize,
    /// The status the fake Loki answered.
    pub status: u16,
    pub headers: HeaderMap,
}

impl RequestRecord {
    /// A header's value as text, if present and printable.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// How to answer one push that decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// 204, entries recorded.
    Accept,
    /// This status with a short body naming it; entries not recorded.
    Status(u16),
    /// This status and body; entries not recorded.
    StatusBody(u16, String),
    /// Wait, then answer 503 without recording (the client has usually
    /// given up by then).
    Hang(Duration),
}

struct State {
    /// False in counting mode: nothing but counters is kept.
    store: bool,
    entries: Mutex<Vec<Received>>,
    requests: Mutex<Vec<RequestRecord>>,
    script: Mutex<VecDeque<Behaviour>>,
    default: Mutex<Behaviour>,
    entry_count: watch::Sender<u64>,
    line_bytes: AtomicU64,
    request_count: watch::Sender<u64>,
    rejected_count: AtomicU64,
}

/// A running fake Loki on 127.0.0.1; stops when dropped.
pub struct FakeLoki {
    addr: SocketAddr,
    tls: bool,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl Drop for FakeLoki {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl FakeLoki {
    /// Starts a fake Loki that records every accepted entry and request.
    pub async fn start() -> FakeLoki {
        Self::start_with(true, None).await
    }

    /// Starts a recording fake Loki on HTTPS with the fixture server
    /// certificate (see [`tls::tls_fixture`]); with `require_client_cert`,
    /// clients must present a certificate signed by `ca.pem`.
    pub async fn start_tls(require_client_cert: bool) -> FakeLoki {
        Self::start_with(true, Some(tls::acceptor(require_client_cert))).await
    }

    /// Starts a lean fake Loki that decodes fully but only counts entries,
    /// line bytes and requests (for the benchmark).
    pub async fn start_counting() -> FakeLoki {
        Self::start_with(false, None).await
    }

    async fn start_with(store: bool, tls: Option<TlsAcceptor>) -> FakeLoki {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap_or_else(|e| panic!("fake loki: binding 127.0.0.1:0: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("fake loki: local address: {e}"));
        let state = Arc::new(State {
            store,
            entries: Mutex::new(Vec::new()),
            requests: Mutex::new(Vec::new()),
            script: Mutex::new(VecDeque::new()),
            default: Mutex::new(Behaviour::Accept),
            entry_count: watch::Sender::new(0),
            line_bytes: AtomicU64::new(0),
            request_count: watch::Sender::new(0),
            rejected_count: AtomicU64::new(0),
        });
        let is_tls = tls.is_some();
        let task = tokio::spawn(serve(listener, tls, Arc::clone(&state)));
        FakeLoki {
            addr,
            tls: is_tls,
            state,
            task,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/loki/api/v1/push` (`https` with TLS).
    pub fn push_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}{PUSH_PATH}", self.addr)
    }

    /// Every accepted entry so far, in arrival order (empty in counting mode).
    pub fn entries(&self) -> Vec<Received> {
        lock(&self.state.entries).clone()
    }

    /// Every push that decoded so far, with its answer (empty in counting mode).
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.state.requests).clone()
    }

    /// Entries accepted so far.
    pub fn entry_count(&self) -> u64 {
        *self.state.entry_count.borrow()
    }

    /// Line bytes accepted so far.
    pub fn line_bytes(&self) -> u64 {
        self.state.line_bytes.load(Ordering::Relaxed)
    }

    /// Push requests that decoded, counted on arrival, whatever they are
    /// answered.
    pub fn request_count(&self) -> u64 {
        *self.state.request_count.borrow()
    }

    /// Requests refused because they did not decode (400/415).
    pub fn rejected_count(&self) -> u64 {
        self.state.rejected_count.load(Ordering::Relaxed)
    }

    /// Waits until at least `n` entries were accepted or `timeout` passed,
    /// then returns every accepted entry (check its length).
    pub async fn wait_for_entries(&self, n: usize, timeout: Duration) -> Vec<Received> {
        self.wait_for_count(n as u64, timeout).await;
        self.entries()
    }

    /// Waits until at least `n` entries were accepted; false on timeout.
    pub async fn wait_for_count(&self, n: u64, timeout: Duration) -> bool {
        let mut rx = self.state.entry_count.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|c| *c >= n))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Waits until at least `n` pushes decoded (counted on arrival, before
    /// they are answered, so a hanging push counts); false on timeout.
    pub async fn wait_for_requests(&self, n: u64, timeout: Duration) -> bool {
        let mut rx = self.state.request_count.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|c| *c >= n))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Queues an answer for the next push that decodes; queued answers are
    /// used one per push, then the default applies.
    pub fn push_behaviour(&self, behaviour: Behaviour) {
        lock(&self.state.script).push_back(behaviour);
    }

    /// The answer once the queue is empty (initially [`Behaviour::Accept`]).
    pub fn set_default(&self, behaviour: Behaviour) {
        *lock(&self.state.default) = behaviour;
    }
}

async fn serve(listener: TcpListener, tls: Option<TlsAcceptor>, state: Arc<State>) {
    // Dropping the set (when the task is aborted) aborts every connection.
    let mut conns = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let state = Arc::clone(&state);
        let tls = tls.clone();
        conns.spawn(async move {
            let service = service_fn(move |req| {
                let state = Arc::clone(&state);
                async move { Ok::<_, Infallible>(handle(&state, req).await) }
            });
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            match tls {
                None => {
                    let _ = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                }
                // A failed handshake is the client's problem to report.
                Some(tls) => {
                    if let Ok(stream) = tls.accept(stream).await {
                        let _ = builder
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    }
                }
            }
        });
        while conns.try_join_next().is_some() {}
    }
}

fn reply(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = status;
    resp
}

async fn handle(state: &State, req: Request<Incoming>) -> Response<Full<Bytes>> {
    if req.uri().path() != PUSH_PATH {
        return reply(StatusCode::NOT_FOUND, "404 page not found\n");
    }
    if req.method() != Method::POST {
        return reply(StatusCode::METHOD_NOT_ALLOWED, "only POST\n");
    }
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return reply(StatusCode::BAD_REQUEST, format!("reading body: {e}\n")),
    };
    let tenant = parts
        .headers
        .get("x-scope-orgid")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let decoded = match decode(&parts.headers, &body) {
        Ok(d) => d,
        Err((status, msg)) => {
            state.rejected_count.fetch_add(1, Ordering::Relaxed);
            return reply(status, format!("{msg}\n"));
        }
    };
    state.request_count.send_modify(|c| *c += 1);
    let behaviour = lock(&state.script)
        .pop_front()
        .unwrap_or_else(|| lock(&state.default).clone());
    let (status, message) = match &behaviour {
        Behaviour::Accept => (StatusCode::NO_CONTENT, String::new()),
        Behaviour::Status(code) => (
            status_code(*code),
            format!("fake loki: scripted status {code}\n"),
        ),
        Behaviour::StatusBody(code, body) => (status_code(*code), body.clone()),
        Behaviour::Hang(d) => {
            tokio::time::sleep(*d).await;
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "fake loki: hung\n".to_owned(),
            )
        }
    };
    if state.store {
        lock(&state.requests).push(RequestRecord {
            tenant: tenant.clone(),
            streams: decoded.len(),
            entries: decoded.iter().map(|(_, e)| e.len()).sum(),
            status: status.as_u16(),
            headers: parts.headers,
        });
    }
    if status == StatusCode::NO_CONTENT {
        record(state, tenant, decoded);
    }
    reply(status, message)
}

fn status_code(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

type Streams = Vec<(String, Vec<pushtail_proto::model::Entry>)>;

/// Content-Type check, snappy, protobuf, labels: each failure is the
/// status and message Loki would answer.
fn decode(headers: &HeaderMap, body: &Bytes) -> Result<Streams, (StatusCode, String)> {
    let bad = |msg: String| (StatusCode::BAD_REQUEST, msg);
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .filter(|v| v.contains('/'))
        .ok_or_else(|| bad("mime: no media type".to_owned()))?;
    if content_type == "application/json" {
        return Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "fake loki decodes protobuf only".to_owned(),
        ));
    }
    if let Some(enc) = headers.get(http::header::CONTENT_ENCODING) {
        if !enc.as_bytes().is_empty() && enc.as_bytes() != b"identity" {
            return Err((
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("unsupported content encoding {enc:?}"),
            ));
        }
    }
    let raw = snappy_decode_limited(body, MAX_BODY).map_err(|e| bad(format!("snappy: {e}")))?;
    let push = decode_push_proto(raw).map_err(|e| bad(e.to_string()))?;
    push.streams
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let labels = s
                .labels
                .parse()
                .map_err(|e| bad(format!("stream {i}: {e}")))?;
            Ok((labels.as_str().to_owned(), s.entries))
        })
        .collect()
}

fn record(state: &State, tenant: Option<String>, streams: Streams) {
    let count: usize = streams.iter().map(|(_, e)| e.len()).sum();
    let bytes: usize = streams
        .iter()
        .flat_map(|(_, e)| e)
        .map(|e| e.line.len())
        .sum();
    if state.store {
        let mut entries = lock(&state.entries);
        for (labels, stream_entries) in streams {
            for e in stream_entries {
                entries.push(Received {
                    tenant: tenant.clone(),
                    labels: labels.clone(),
                    timestamp_ns: e.timestamp_ns,
                    line: String::from_utf8_lossy(&e.line).into_owned(),
                    structured_metadata: e.structured_metadata,
                });
            }
        }
    }
    state.line_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    state.entry_count.send_modify(|c| *c += count as u64);
}

#[cfg(test)]
mod tests;
