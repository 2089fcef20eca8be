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

use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;
use std::time::Duration;

use http::Version;
use tokio::time::Instant;

use crate::metrics::REJECTED_CONNECTIONS_TOTAL;

mod io;
mod service;
#[cfg(test)]
mod tests;

pub(crate) use io::DeadlineIo;
pub(crate) use service::ConnService;

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

    /// The protocol is known from elsewhere (TLS ALPN), not from the first
    /// bytes read (the handshake).
    pub(crate) fn set_http2(&self, http2: bool) {
        let mut inner = self.lock();
        inner.sniffed = true;
        inner.http2 = http2;
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
        // TLS without ALPN cannot tell HTTP/2 before its first request.
        inner.http2 |= version == Version::HTTP_2;
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
