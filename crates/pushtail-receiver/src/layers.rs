//! The metrics middleware: request duration, request and response sizes
//! per route (DESIGN §6).
//!
//! The inner service tells this layer which route answered and how many
//! body bytes it read through response extensions; the layer never looks
//! at bodies itself.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use http::{Request, Response};
use http_body::Body;

use crate::metrics::{REQUEST_DURATION_SECONDS, REQUEST_MESSAGE_BYTES, RESPONSE_MESSAGE_BYTES};

/// Response extension: the `route` label of the endpoint that answered.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RouteLabel(pub &'static str);

/// Response extension: request body bytes read (before decompression).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestBytes(pub usize);

/// Request extension: the connection's remote address.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RemoteAddr(pub std::net::SocketAddr);

/// Response extension: the `status_code` label when the HTTP status does not
/// tell (gRPC answers 200 whatever happened; this is the status the same
/// push would have got over HTTP).
#[derive(Debug, Clone, Copy)]
pub(crate) struct StatusLabel(pub u16);

/// Route label of responses made outside the router (timeouts).
const UNKNOWN_ROUTE: &str = "unknown";

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct MetricsLayer;

impl<S> tower::Layer<S> for MetricsLayer {
    type Service = MetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        MetricsService { inner }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct MetricsService<S> {
    inner: S,
}

impl<S, ReqB, ResB> tower::Service<Request<ReqB>> for MetricsService<S>
where
    S: tower::Service<Request<ReqB>, Response = Response<ResB>>,
    S::Future: Send + 'static,
    ResB: Body,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let started = Instant::now();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let resp = fut.await?;
            record(&resp, started);
            Ok(resp)
        })
    }
}

fn record<B: Body>(resp: &Response<B>, started: Instant) {
    let route = resp
        .extensions()
        .get::<RouteLabel>()
        .map_or(UNKNOWN_ROUTE, |r| r.0);
    let status = match resp.extensions().get::<StatusLabel>() {
        Some(StatusLabel(code)) => code.to_string(),
        None => resp.status().as_str().to_owned(),
    };
    metrics::histogram!(REQUEST_DURATION_SECONDS, "route" => route, "status_code" => status)
        .record(started.elapsed().as_secs_f64());
    let request_bytes = resp.extensions().get::<RequestBytes>().map_or(0, |b| b.0);
    metrics::histogram!(REQUEST_MESSAGE_BYTES, "route" => route).record(request_bytes as f64);
    let response_bytes = resp.body().size_hint().exact().unwrap_or(0);
    metrics::histogram!(RESPONSE_MESSAGE_BYTES, "route" => route).record(response_bytes as f64);
}
