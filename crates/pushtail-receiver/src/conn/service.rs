//! The per-connection service: request body deadlines and in-flight
//! bookkeeping for the connection state.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use super::{count_rejection, reason, ConnState};
use crate::service::ClientIdentity;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

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
    pub(super) fn new(inner: B, deadline: Option<Instant>, timeout: Duration) -> DeadlineBody<B> {
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
    peer: Option<std::net::SocketAddr>,
    /// On TLS connections: what the handshake told about the client.
    identity: Option<ClientIdentity>,
}

impl<S> ConnService<S> {
    pub(crate) fn new(
        inner: S,
        state: Arc<ConnState>,
        identity: Option<ClientIdentity>,
    ) -> ConnService<S> {
        ConnService {
            inner,
            state,
            peer: None,
            identity,
        }
    }

    /// Tells every request of this connection its remote address (as a
    /// [`crate::layers::RemoteAddr`] extension), for log lines.
    pub(crate) fn with_peer(mut self, peer: std::net::SocketAddr) -> ConnService<S> {
        self.peer = Some(peer);
        self
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
        let mut req = req.map(|body| DeadlineBody::new(body, deadline, timeout));
        if let Some(peer) = self.peer {
            req.extensions_mut().insert(crate::layers::RemoteAddr(peer));
        }
        if let Some(identity) = &self.identity {
            req.extensions_mut().insert(identity.clone());
        }
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
