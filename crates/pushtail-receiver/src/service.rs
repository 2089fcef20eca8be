//! The per-listener tower service: routes a request, runs its endpoint and
//! answers. Every error goes through [`PushError::into_response`].
//!
//! It never blocks a thread: decoding is synchronous but bounded by the
//! body limit, and the only wait is the hand-off, bounded by the push
//! timeout.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::Body;
use http_body_util::Full;
use metrics_exporter_prometheus::PrometheusHandle;
use pushtail_proto::labels::LabelSet;
use pushtail_proto::model::Entry;

use crate::body::{content_encoding, header_tenant, push_format, read_limited};
use crate::decode::{decode_encoding, decode_push, label_key, quote_labels};
use crate::error::{text_response, PushError};
use crate::handoff::Handoff;
use crate::layers::{RequestBytes, RouteLabel};
use crate::lines::{parse_plain_path, parse_timestamp_query, split_lines};
use crate::metrics::REJECTED_PUSHES_TOTAL;
use crate::route::{Endpoint, RouteTable, NOT_FOUND_LABEL};
use crate::target::{BatchSet, Clock, Source, Target};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

use arc_swap::ArcSwap;

/// A listener's routes and targets: swapped as a whole on reload, so a
/// request sees either the old set or the new one, never a mix.
pub(crate) struct Routing {
    pub routes: RouteTable,
    pub targets: Vec<Target>,
}

/// What every request of one listener shares.
pub(crate) struct ListenerState {
    pub routing: ArcSwap<Routing>,
    pub handoff: Arc<Handoff>,
    pub push_timeout: Duration,
    /// Shared by all listeners: set once shutdown begins.
    pub shutting_down: Arc<AtomicBool>,
    pub metrics: Option<PrometheusHandle>,
}

/// The innermost service of a listener's stack.
#[derive(Clone)]
pub(crate) struct ListenerService {
    pub state: Arc<ListenerState>,
    /// `http_server_write_timeout`: a request that takes longer gets a 503
    /// with `Retry-After` through the one error mapping, like every other
    /// refusal.
    pub write_timeout: Duration,
}

impl<B> tower::Service<Request<B>> for ListenerService
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let state = Arc::clone(&self.state);
        let limit = self.write_timeout;
        Box::pin(async move {
            match tokio::time::timeout(limit, state.handle(req)).await {
                Ok(resp) => Ok(resp),
                Err(_) => Ok(PushError::TimedOut {
                    timeout_ms: limit.as_millis(),
                }
                .into_response()),
            }
        })
    }
}

impl ListenerState {
    async fn handle<B>(&self, req: Request<B>) -> Response<Full<Bytes>>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<BoxError>,
    {
        let path = req.uri().path().to_owned();
        let routing = self.routing.load_full();
        let Some(route) = routing.routes.lookup(&path) else {
            return with_route(
                PushError::NotFound { path }.into_response(),
                NOT_FOUND_LABEL,
            );
        };
        if !route.endpoint.allows(req.method()) {
            let err = PushError::MethodNotAllowed {
                method: req.method().to_string(),
                path: path.clone(),
                allow: route.endpoint.allow(),
            };
            return with_route(err.into_response(), route.label);
        }
        let mut request_bytes = 0;
        let result = match (route.endpoint, route.target) {
            (Endpoint::Metrics, _) => self.render_metrics(),
            (Endpoint::Ready, _) => Ok(self.ready()),
            (endpoint, Some(target)) => match routing.targets.get(target) {
                Some(target) => {
                    let rest = route.rest.to_owned();
                    self.receive(target, endpoint, &rest, req, &mut request_bytes)
                        .await
                }
                None => Err(PushError::NotFound { path: path.clone() }),
            },
            (_, None) => Err(PushError::NotFound { path: path.clone() }),
        };
        let mut resp = result.unwrap_or_else(|err| {
            if let Some(reason) = err.rejection_reason() {
                metrics::counter!(REJECTED_PUSHES_TOTAL, "reason" => reason).increment(1);
            }
            err.into_response()
        });
        resp.extensions_mut().insert(RequestBytes(request_bytes));
        with_route(resp, route.label)
    }

    fn ready(&self) -> Response<Full<Bytes>> {
        if self.shutting_down.load(Ordering::Acquire) {
            return text_response(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n");
        }
        text_response(StatusCode::OK, "ready\n")
    }

    fn render_metrics(&self) -> Result<Response<Full<Bytes>>, PushError> {
        let handle = self.metrics.as_ref().ok_or(PushError::MetricsDisabled)?;
        let mut resp = text_response(StatusCode::OK, handle.render());
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        );
        Ok(resp)
    }

    /// The push, raw and plaintext endpoints.
    async fn receive<B>(
        &self,
        target: &Target,
        endpoint: Endpoint,
        rest: &str,
        req: Request<B>,
        request_bytes: &mut usize,
    ) -> Result<Response<Full<Bytes>>, PushError>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<BoxError>,
    {
        if self.shutting_down.load(Ordering::Acquire) {
            return Err(PushError::ShuttingDown);
        }
        let (parts, body) = req.into_parts();
        let headers = &parts.headers;
        let spec = &target.spec;
        let tenant = match spec.tenant_id {
            Some(_) => None,
            None => header_tenant(headers)?,
        };
        let limit = spec.max_message_size;
        let encoding = content_encoding(headers)?;
        let mut batches = BatchSet::default();
        let mut bad = Vec::new();
        match endpoint {
            Endpoint::Push => {
                let format = push_format(headers)?;
                let body = read_limited(headers, body, limit).await?;
                *request_bytes = body.len();
                let push = decode_push(format, encoding, body, limit)?;
                let mut clock = Clock::starting_now();
                let mut key_buf = Vec::new();
                for (index, stream) in push.streams.into_iter().enumerate() {
                    let key = label_key(&stream.labels, &mut key_buf);
                    let resolved = target.resolve(Source::Push, key, tenant.as_ref(), || {
                        stream.labels.parse().map_err(|e| e.to_string())
                    });
                    match resolved {
                        Ok(Some(resolved)) => {
                            let entries = stream.entries.into_iter();
                            if spec.use_incoming_timestamp {
                                target.add_entries(&resolved, entries, &mut batches);
                            } else {
                                let stamped = entries.map(|mut e| {
                                    e.timestamp_ns = clock.tick();
                                    e
                                });
                                target.add_entries(&resolved, stamped, &mut batches);
                            }
                        }
                        Ok(None) => {}
                        Err(reason) => bad.push(format!(
                            "stream {index}: invalid labels {}: {reason}",
                            quote_labels(&stream.labels)
                        )),
                    }
                }
            }
            Endpoint::Raw | Endpoint::Plain => {
                let (source, key, labels, fixed_ts) = if endpoint == Endpoint::Plain {
                    let pairs = parse_plain_path(rest).map_err(PushError::BadPath)?;
                    let labels = LabelSet::from_pairs(pairs)
                        .map_err(|e| PushError::BadPath(e.to_string()))?;
                    let ts = parse_timestamp_query(parts.uri.query())
                        .map_err(|value| PushError::BadTimestamp { value })?;
                    (Source::Plain, rest.as_bytes(), labels, ts)
                } else {
                    (Source::Raw, &b""[..], LabelSet::empty(), None)
                };
                let body = read_limited(headers, body, limit).await?;
                *request_bytes = body.len();
                let body = decode_encoding(encoding, body, limit)?;
                let resolved = target.resolve(source, key, tenant.as_ref(), || Ok(labels));
                match resolved {
                    Ok(Some(resolved)) => {
                        let mut clock = match fixed_ts {
                            Some(ts) => Clock::starting_at(ts),
                            None => Clock::starting_now(),
                        };
                        let entries = split_lines(&body).map(|line| Entry::new(clock.tick(), line));
                        target.add_entries(&resolved, entries, &mut batches);
                    }
                    Ok(None) => {}
                    Err(reason) => bad.push(format!("invalid labels: {reason}")),
                }
            }
            Endpoint::Ready | Endpoint::Metrics => return Ok(self.ready()),
        }
        target.count_bad_streams(bad.len());
        self.hand_off(target, batches).await?;
        if bad.is_empty() {
            let mut resp = Response::new(Full::new(Bytes::new()));
            *resp.status_mut() = StatusCode::NO_CONTENT;
            Ok(resp)
        } else {
            Err(PushError::BadStreams(bad))
        }
    }

    async fn hand_off(&self, target: &Target, batches: BatchSet) -> Result<(), PushError> {
        let entries = batches.entry_count();
        self.handoff
            .send(batches.into_batches(), Some(self.push_timeout))
            .await?;
        target.count_written(entries);
        Ok(())
    }
}

fn with_route(mut resp: Response<Full<Bytes>>, label: &'static str) -> Response<Full<Bytes>> {
    resp.extensions_mut().insert(RouteLabel(label));
    resp
}
