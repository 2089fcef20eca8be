//! Per-connection deadlines with Go's `http.Server` semantics, for HTTP/1
//! and HTTP/2 (h2c) alike.
//!
//! A connection is in one of three phases:
//! - **reading**: from accept (or, on HTTP/1, from the first byte after an
//!   idle gap) a request must arrive within `http_server_read_timeout`; a
//!   connection that sends nothing, a partial head, or only the HTTP/2
//!   preface is closed when it passes (counted as a `read_timeout`
//!   rejection). An HTTP/2 client that connects eagerly (gRPC channels)
//!   must therefore send its first request within the read timeout; Go's
//!   HTTP/2 server would wait for the idle timeout, but an edge listener
//!   cannot tell such a client from a slot squatter;
//! - **busy**: requests are in flight, the connection itself has no
//!   deadline; each request body must end by its own deadline (HTTP/1: the
//!   deadline of the reading phase, so head and body share one read
//!   timeout as in Go; HTTP/2: stream start + read timeout), or the body
//!   read fails and the request is answered 400;
//! - **idle**: no request in flight since the last response ended; the
//!   connection is closed (EOF to hyper, so it ends cleanly) after
//!   `http_server_idle_timeout` (the read timeout when that is zero).
//!
//! Writes that make no progress for `http_server_write_timeout` (a client
//! that stopped reading its responses) end the connection too. This is a
//! stall timer, not Go's total write deadline: the handler itself is
//! bounded by the write timeout in the service.
//!
//! The deadlines are enforced in the socket wrapper [`DeadlineIo`], under
//! hyper, so they hold whatever hyper is doing. Nothing here parses HTTP
//! beyond sniffing the HTTP/2 preface, and nothing blocks.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, Version};
use http_body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::metrics::REJECTED_CONNECTIONS_TOTAL;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The HTTP/2 client preface starts with this; HTTP/1 has no such method.
const H2_PREFACE_START: &[u8] = b"PRI *";

/// Label values of [`REJECTED_CONNECTIONS_TOTAL`].
pub(crate) mod reason {
    pub const READ_TIMEOUT: &str = "read_timeout";
    pub const WRITE_TIMEOUT: &str = "write_timeout";
    pub const HEADER_TOO_LARGE: &str = "header_too_large";
    pub const URI_TOO_LONG: &str = "uri_too_long";
    pub const MALFORMED: &str = "malformed";
}

/// Counts one rejected connection or request.
pub(crate) fn count_rejection(reason: &'static str) {
    metrics::counter!(REJECTED_CONNECTIONS_TOTAL, "reason" => reason).increment(1);
}

/// The connection's timeouts; `None` means no limit (a zero duration).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    pub read: Option<Duration>,
    pub idle: Option<Duration>,
    pub write: Option<Duration>,
}

impl Timeouts {
    /// Go's rule: a zero idle timeout falls back to the read timeout.
    pub(crate) fn new(read: Duration, idle: Duration, write: Duration) -> Timeouts {
        let read = (!read.is_zero()).then_some(read);
        let idle = if idle.is_zero() { read } else { Some(idle) };
        let write = (!write.is_zero()).then_some(write);
        Timeouts { read, idle, write }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Reading,
    Busy,
    Idle,
}

/// Why a connection's deadline ended it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expiry {
    /// No complete request within the read timeout.
    Read,
    /// Idle past the idle timeout.
    Idle,
    /// The client read nothing of the response for the write timeout.
    Write,
}

/// Deadline state shared by a connection's socket wrapper and the service
/// that sees its requests (HTTP/2 streams run on other tasks).
#[derive(Debug)]
pub(crate) struct ConnState {
    timeouts: Timeouts,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    phase: Phase,
    deadline: Option<Instant>,
    active: usize,
    http2: bool,
    sniffed: bool,
    expired: Option<Expiry>,
    reader: Option<Waker>,
}

impl ConnState {
    /// A freshly accepted connection: reading, deadline now + read timeout.
    pub(crate) fn new(timeouts: Timeouts) -> Arc<ConnState> {
        Arc::new(ConnState {
            timeouts,
            inner: Mutex::new(Inner {
                phase: Phase::Reading,
                deadline: timeouts.read.map(|d| Instant::now() + d),
                active: 0,
                http2: false,
                sniffed: false,
                expired: None,
                reader: None,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The socket delivered `data`: the first read tells HTTP/2 from
    /// HTTP/1; on HTTP/1 the first byte after an idle gap starts the read
    /// timeout of the next request (HTTP/2 frames such as PING do not).
    fn on_read(&self, data: &[u8]) {
        let mut inner = self.lock();
        if !inner.sniffed {
            inner.sniffed = true;
            let n = data.len().min(H2_PREFACE_START.len());
            inner.http2 = data[..n] == H2_PREFACE_START[..n];
        }
        if inner.phase == Phase::Idle && !inner.http2 {
            inner.phase = Phase::Reading;
            inner.deadline = self.timeouts.read.map(|d| Instant::now() + d);
        }
    }

    /// A request (head) arrived: the connection is busy until every
    /// request's response ends. Returns the deadline for its body.
    fn request_started(&self, version: Version) -> Option<Instant> {
        let mut inner = self.lock();
        let fresh = self.timeouts.read.map(|d| Instant::now() + d);
        let body_deadline = match (version, inner.phase) {
            (Version::HTTP_2, _) | (_, Phase::Idle) => fresh,
            _ => inner.deadline.or(fresh),
        };
        inner.active += 1;
        inner.phase = Phase::Busy;
        inner.deadline = None;
        body_deadline
    }

    /// A response ended (or its request was dropped): with nothing left in
    /// flight the connection turns idle.
    fn request_done(&self) {
        let mut inner = self.lock();
        inner.active = inner.active.saturating_sub(1);
        if inner.active == 0 {
            inner.phase = Phase::Idle;
            inner.deadline = self.timeouts.idle.map(|d| Instant::now() + d);
            if let Some(waker) = inner.reader.take() {
                waker.wake();
            }
        }
    }

    /// The current deadline; remembers `waker` so a new deadline can wake
    /// a read that is parked without a timer.
    fn deadline(&self, waker: &Waker) -> Option<Instant> {
        let mut inner = self.lock();
        match &inner.reader {
            Some(w) if w.will_wake(waker) => {}
            _ => inner.reader = Some(waker.clone()),
        }
        inner.deadline
    }

    /// The deadline passed (if it still stands): what ended the connection.
    fn expire(&self, now: Instant) -> Option<Expiry> {
        let mut inner = self.lock();
        if let Some(expired) = inner.expired {
            return Some(expired);
        }
        if inner.deadline.is_none_or(|d| d > now) {
            return None;
        }
        let expiry = match inner.phase {
            Phase::Idle => Expiry::Idle,
            Phase::Reading | Phase::Busy => Expiry::Read,
        };
        if expiry == Expiry::Read {
            count_rejection(reason::READ_TIMEOUT);
        }
        inner.expired = Some(expiry);
        Some(expiry)
    }

    /// A write stalled past the write timeout.
    fn expire_write(&self) {
        let mut inner = self.lock();
        if inner.expired.is_none() {
            inner.expired = Some(Expiry::Write);
            count_rejection(reason::WRITE_TIMEOUT);
        }
    }

    /// What ended the connection, if its deadline did.
    pub(crate) fn expired(&self) -> Option<Expiry> {
        self.lock().expired
    }
}

/// The accepted socket with the connection's read deadline: once it
/// passes, reads end with EOF (idle) or a `TimedOut` error (a request did
/// not arrive in time). A write or flush that stays pending for the write
/// timeout fails with `TimedOut`.
pub(crate) struct DeadlineIo<T> {
    io: T,
    state: Arc<ConnState>,
    sleep: Pin<Box<Sleep>>,
    sleep_at: Option<Instant>,
    /// Runs while writes are pending; reset by any progress.
    stall: Option<Pin<Box<Sleep>>>,
}

impl<T> DeadlineIo<T> {
    pub(crate) fn new(io: T, state: Arc<ConnState>) -> DeadlineIo<T> {
        DeadlineIo {
            io,
            state,
            sleep: Box::pin(tokio::time::sleep_until(Instant::now())),
            sleep_at: None,
            stall: None,
        }
    }

    /// Passes a write-side poll through; while it stays pending, runs the
    /// stall timer and fails it once the write timeout passes.
    fn stalled<R>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        if polled.is_ready() {
            self.stall = None;
            return polled;
        }
        let Some(limit) = self.state.timeouts.write else {
            return Poll::Pending;
        };
        let stall = self
            .stall
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match stall.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.state.expire_write();
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "client read nothing for http_server_write_timeout",
                )))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// Polls the deadline timer; `Some` once the deadline has passed.
    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> Option<Expiry> {
        let at = self.state.deadline(cx.waker())?;
        if self.sleep_at != Some(at) {
            self.sleep.as_mut().reset(at);
            self.sleep_at = Some(at);
        }
        match self.sleep.as_mut().poll(cx) {
            Poll::Ready(()) => self.state.expire(Instant::now()),
            Poll::Pending => None,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for DeadlineIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(expiry) = this.state.expired().or_else(|| this.poll_deadline(cx)) {
            return Poll::Ready(match expiry {
                Expiry::Idle => Ok(()),
                Expiry::Read | Expiry::Write => Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "connection timed out (http_server_read_timeout or http_server_write_timeout)",
                )),
            });
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let data = &buf.filled()[before..];
            if !data.is_empty() {
                this.state.on_read(data);
            }
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for DeadlineIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write(cx, buf);
        this.stalled(cx, polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.stalled(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_flush(cx);
        this.stalled(cx, polled)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// The request body did not end by its deadline.
#[derive(Debug, thiserror::Error)]
#[error("request body not complete within {timeout_ms}ms (http_server_read_timeout)")]
pub(crate) struct BodyTimedOut {
    timeout_ms: u128,
}

/// A request body that fails once its deadline passes (a total limit, like
/// Go's read deadline, not an inactivity timer).
pub(crate) struct DeadlineBody<B> {
    inner: B,
    sleep: Option<Pin<Box<Sleep>>>,
    timeout: Duration,
    failed: bool,
}

impl<B> DeadlineBody<B> {
    fn new(inner: B, deadline: Option<Instant>, timeout: Duration) -> DeadlineBody<B> {
        DeadlineBody {
            inner,
            sleep: deadline.map(|at| Box::pin(tokio::time::sleep_until(at))),
            timeout,
            failed: false,
        }
    }
}

impl<B> Body for DeadlineBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if this.failed {
            return Poll::Ready(None);
        }
        if let Some(sleep) = &mut this.sleep {
            if sleep.as_mut().poll(cx).is_ready() {
                this.failed = true;
                count_rejection(reason::READ_TIMEOUT);
                return Poll::Ready(Some(Err(Box::new(BodyTimedOut {
                    timeout_ms: this.timeout.as_millis(),
                }))));
            }
        }
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if let Poll::Ready(None) = polled {
            this.sleep = None;
        }
        polled.map(|frame| frame.map(|r| r.map_err(Into::into)))
    }

    fn is_end_stream(&self) -> bool {
        self.failed || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Marks one request in flight on its connection until dropped (with the
/// response body, or with the service future if the request is cancelled).
struct InFlight(Arc<ConnState>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_done();
    }
}

/// A response body that keeps its request counted as in flight.
pub(crate) struct TrackedBody<B> {
    inner: B,
    _in_flight: InFlight,
}

impl<B: Body + Unpin> Body for TrackedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The service of one connection: gives each request body its deadline and
/// tells the connection state when requests start and responses end.
#[derive(Clone)]
pub(crate) struct ConnService<S> {
    inner: S,
    state: Arc<ConnState>,
}

impl<S> ConnService<S> {
    pub(crate) fn new(inner: S, state: Arc<ConnState>) -> ConnService<S> {
        ConnService { inner, state }
    }
}

impl<S, B, ResB> tower::Service<Request<B>> for ConnService<S>
where
    S: tower::Service<Request<DeadlineBody<B>>, Response = Response<ResB>>,
    S::Future: Send + 'static,
    ResB: Body + Unpin,
{
    type Response = Response<TrackedBody<ResB>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let deadline = self.state.request_started(req.version());
        let in_flight = InFlight(Arc::clone(&self.state));
        let timeout = self.state.timeouts.read.unwrap_or_default();
        let req = req.map(|body| DeadlineBody::new(body, deadline, timeout));
        let fut = self.inner.call(req);
        Box::pin(async move {
            let resp = fut.await?;
            Ok(resp.map(|inner| TrackedBody {
                inner,
                _in_flight: in_flight,
            }))
        })
    }
}

/// The rejection reason for an error that ended a connection, when it is
/// one the server answered or dropped on purpose (read timeouts are counted
/// where they fire).
pub(crate) fn connection_error_reason(
    err: &(dyn std::error::Error + 'static),
) -> Option<&'static str> {
    let err = err.downcast_ref::<hyper::Error>()?;
    if err.is_parse_too_large() {
        // hyper answers 414 for an over-long URI, 431 for any other
        // over-large head; only the message tells them apart.
        if err.to_string().contains("URI too long") {
            Some(reason::URI_TOO_LONG)
        } else {
            Some(reason::HEADER_TOO_LARGE)
        }
    } else if err.is_parse() {
        Some(reason::MALFORMED)
    } else if err.is_timeout() {
        Some(reason::READ_TIMEOUT)
    } else if h2_violation(err) {
        Some(reason::MALFORMED)
    } else {
        None
    }
}

/// An HTTP/2 connection error h2 raised itself (a GOAWAY it sent because
/// the peer broke the protocol), found in the error's source chain.
fn h2_violation(err: &hyper::Error) -> bool {
    let mut source = std::error::Error::source(err);
    while let Some(e) = source {
        if let Some(h2) = e.downcast_ref::<h2::Error>() {
            return h2.is_library() && h2.is_go_away();
        }
        source = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const READ: Duration = Duration::from_secs(1);
    const IDLE: Duration = Duration::from_secs(5);
    const WRITE: Duration = Duration::from_secs(3);

    fn timeouts() -> Timeouts {
        Timeouts::new(READ, IDLE, WRITE)
    }

    #[test]
    fn zero_timeouts_follow_go() {
        let cases = [
            ((1, 5), (Some(1), Some(5))),
            ((1, 0), (Some(1), Some(1))),
            ((0, 5), (None, Some(5))),
            ((0, 0), (None, None)),
        ];
        for ((read, idle), (want_read, want_idle)) in cases {
            let t = Timeouts::new(
                Duration::from_secs(read),
                Duration::from_secs(idle),
                Duration::ZERO,
            );
            let secs = |d: Option<Duration>| d.map(|d| d.as_secs());
            assert_eq!(
                (secs(t.read), secs(t.idle)),
                (want_read, want_idle),
                "{read} {idle}"
            );
            assert_eq!(t.write, None);
        }
    }

    /// A client that stops reading: writes fail once they made no progress
    /// for the write timeout; progress restarts the timer.
    #[tokio::test(start_paused = true)]
    async fn stalled_writes_fail_at_the_write_timeout() {
        let (mut client, server) = tokio::io::duplex(16);
        let state = ConnState::new(timeouts());
        let mut io = DeadlineIo::new(server, Arc::clone(&state));
        io.write_all(&[0; 16]).await.expect("fits the buffer");
        let writer = tokio::spawn(async move {
            let started = Instant::now();
            let result = io.write_all(&[0; 64]).await;
            (result, started.elapsed())
        });
        // Reading some of it in time restarts the stall timer.
        tokio::time::sleep(WRITE - Duration::from_millis(1)).await;
        let mut buf = [0u8; 16];
        client.read_exact(&mut buf).await.expect("read");
        let (result, took) = writer.await.expect("writer");
        let err = result.expect_err("stall");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(took, WRITE * 2 - Duration::from_millis(1));
        assert_eq!(state.expired(), Some(Expiry::Write));
    }

    /// A silent connection: the read fails with TimedOut at the read
    /// timeout, not before.
    #[tokio::test(start_paused = true)]
    async fn silent_connection_times_out_at_read_timeout() {
        let (client, server) = tokio::io::duplex(64);
        let state = ConnState::new(timeouts());
        let mut io = DeadlineIo::new(server, Arc::clone(&state));
        let started = Instant::now();
        let mut buf = [0u8; 8];
        let err = io.read(&mut buf).await.expect_err("deadline");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), READ);
        assert_eq!(state.expired(), Some(Expiry::Read));
        drop(client);
    }

    /// After a response the idle timeout applies and ends the connection
    /// with EOF; on HTTP/1 the next request's first byte starts the read
    /// timeout again.
    #[tokio::test(start_paused = true)]
    async fn idle_then_next_request_on_http1() {
        let (mut client, server) = tokio::io::duplex(64);
        let state = ConnState::new(timeouts());
        let mut io = DeadlineIo::new(server, Arc::clone(&state));
        let mut buf = [0u8; 8];
        client.write_all(b"GET").await.expect("write");
        assert_eq!(io.read(&mut buf).await.expect("read"), 3);
        let deadline = state.request_started(Version::HTTP_11);
        assert!(deadline.is_some_and(|d| d <= Instant::now() + READ));
        // Busy: no connection deadline however long the handler takes.
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(state.expire(Instant::now()), None);
        state.request_done();
        // Idle: a byte before the idle timeout switches to reading.
        tokio::time::advance(IDLE - Duration::from_millis(1)).await;
        client.write_all(b"G").await.expect("write");
        assert_eq!(io.read(&mut buf).await.expect("read"), 1);
        let started = Instant::now();
        let err = io.read(&mut buf).await.expect_err("read deadline");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), READ);
    }

    #[tokio::test(start_paused = true)]
    async fn idle_timeout_ends_with_eof() {
        let (_client, server) = tokio::io::duplex(64);
        let state = ConnState::new(timeouts());
        let mut io = DeadlineIo::new(server, Arc::clone(&state));
        state.request_started(Version::HTTP_11);
        state.request_done();
        let started = Instant::now();
        let mut buf = [0u8; 8];
        assert_eq!(io.read(&mut buf).await.expect("eof"), 0);
        assert_eq!(started.elapsed(), IDLE);
        assert_eq!(state.expired(), Some(Expiry::Idle));
    }

    /// HTTP/2: frames without a request (PING) do not reset the idle timer,
    /// and the connection has no deadline while a stream is open.
    #[tokio::test(start_paused = true)]
    async fn http2_idle_counts_streams_not_bytes() {
        let (mut client, server) = tokio::io::duplex(1024);
        let state = ConnState::new(timeouts());
        let mut io = DeadlineIo::new(server, Arc::clone(&state));
        let mut buf = [0u8; 64];
        client
            .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            .await
            .expect("write");
        assert_eq!(io.read(&mut buf).await.expect("read"), 24);
        let a = state.request_started(Version::HTTP_2);
        let b = state.request_started(Version::HTTP_2);
        assert!(a.is_some() && b.is_some());
        state.request_done();
        tokio::time::advance(IDLE * 2).await;
        assert_eq!(state.expire(Instant::now()), None, "one stream still open");
        state.request_done();
        let started = Instant::now();
        tokio::time::advance(IDLE / 2).await;
        client.write_all(b"ping").await.expect("write");
        assert_eq!(io.read(&mut buf).await.expect("read"), 4);
        assert_eq!(io.read(&mut buf).await.expect("eof"), 0);
        assert_eq!(started.elapsed(), IDLE);
    }

    struct CountingWaker(AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A read parked while busy (no timer) is woken when the connection
    /// turns idle, so it can arm the idle timer.
    #[tokio::test(start_paused = true)]
    async fn turning_idle_wakes_the_reader() {
        let state = ConnState::new(timeouts());
        state.request_started(Version::HTTP_11);
        let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&counter));
        assert_eq!(state.deadline(&waker), None);
        state.request_done();
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
    }

    /// The body deadline is total, not an inactivity timer: a body that
    /// keeps trickling still fails at its deadline.
    #[tokio::test(start_paused = true)]
    async fn body_deadline_is_total() {
        use http_body_util::{BodyExt, StreamBody};
        let frames = futures_util::stream::unfold(0u32, |n| async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            Some((
                Ok::<_, io::Error>(Frame::data(Bytes::from_static(b"x"))),
                n + 1,
            ))
        });
        let started = Instant::now();
        let body = DeadlineBody::new(
            StreamBody::new(Box::pin(frames)),
            Some(started + READ),
            READ,
        );
        let err = body.collect().await.expect_err("deadline");
        assert!(err.is::<BodyTimedOut>(), "{err}");
        assert_eq!(started.elapsed(), READ);
    }
}
