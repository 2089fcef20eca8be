//! The per-listener tower service: routes a request, runs its endpoint and
//! answers. Every error goes through [`PushError::into_response`].
//!
//! It never blocks an async worker for long: small bodies are decoded
//! inline, larger or compressed ones on the blocking pool under the
//! process-wide decode permits (see `decode`); the only other wait is the
//! hand-off, bounded by the push timeout.

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
use pushtail_pipeline::Pace;
use pushtail_proto::labels::LabelSet;
use pushtail_proto::model::Entry;
use pushtail_proto::push::{DecodedPush, RawLabels};
use pushtail_proto::tenant::TenantId;

use crate::auth::AuthFailure;
use crate::body::Format;
use crate::body::{content_encoding, header_tenant, push_format, read_limited};
use crate::config::CertTenant;
use crate::decode::{
    decode_encoding, decode_push, is_cheap, label_key, quote_labels, DecodePermits,
};
use crate::error::{text_response, BadStreams, PushError};
use crate::handoff::Handoff;
use crate::layers::RemoteAddr;
use crate::layers::{RequestBytes, RouteLabel};
use crate::lines::{parse_plain_path, parse_timestamp_query, split_lines};
use crate::metrics::INFLIGHT_REQUESTS;
use crate::rejections::{Rejection, Rejections, NO_TARGET};
use crate::route::{Endpoint, RouteTable, NOT_FOUND_LABEL};
use crate::server::{ReloadFailure, ReloadHook};
use crate::status::{render_html, render_json, StatusBoard};
use crate::target::{BatchSet, Clock, Source, Target};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

use arc_swap::ArcSwap;

/// A listener's routes and targets: swapped as a whole on reload, so a
/// request sees either the old set or the new one, never a mix.
pub(crate) struct Routing {
    pub routes: RouteTable,
    pub targets: Vec<Target>,
}

/// The path of the runtime reload endpoint on the shared server.
const RELOAD_PATH: &str = "/reload";

/// `POST /reload`: served when `enable_runtime_reload` is set on the shared
/// server; the hook is the binary's, installed after the listeners bind.
#[derive(Default)]
pub(crate) struct ReloadEndpoint {
    pub enabled: bool,
    pub hook: std::sync::OnceLock<Arc<dyn ReloadHook>>,
}

/// What the TLS handshake told about the client, on every request of a
/// TLS connection.
#[derive(Debug, Clone, Default)]
pub(crate) struct ClientIdentity {
    /// The client certificate's subject CN, when one was presented.
    pub cn: Option<Arc<str>>,
}

/// What every request of one listener shares.
pub(crate) struct ListenerState {
    pub reload: Arc<ReloadEndpoint>,
    /// Shared with the status board, which reads every listener's targets.
    pub routing: Arc<ArcSwap<Routing>>,
    pub handoff: Arc<Handoff>,
    pub push_timeout: Duration,
    /// Shared by all listeners: set once shutdown begins.
    pub shutting_down: Arc<AtomicBool>,
    pub metrics: Option<PrometheusHandle>,
    /// The status page's data; on the shared listener only.
    pub status: Option<Arc<StatusBoard>>,
    /// Rate-limited log lines for refused pushes.
    pub rejections: Rejections,
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

/// A listener's response body: text from the HTTP endpoints, or tonic's
/// body (with its trailers) from the gRPC Pusher.
pub(crate) type ResponseBody = http_body_util::Either<Full<Bytes>, tonic::body::Body>;

impl<B> tower::Service<Request<B>> for ListenerService
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError> + Send,
{
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let state = Arc::clone(&self.state);
        let limit = self.write_timeout;
        if crate::grpc::is_grpc(&req) {
            return Box::pin(async move {
                let resp = match tokio::time::timeout(limit, crate::grpc::serve(&state, req)).await
                {
                    Ok(resp) => resp,
                    Err(_) => crate::grpc::error_response(&PushError::TimedOut {
                        timeout_ms: limit.as_millis(),
                    }),
                };
                Ok(resp.map(http_body_util::Either::Right))
            });
        }
        Box::pin(async move {
            let resp = match tokio::time::timeout(limit, state.handle(req)).await {
                Ok(resp) => resp,
                Err(_) => PushError::TimedOut {
                    timeout_ms: limit.as_millis(),
                }
                .into_response(),
            };
            Ok(resp.map(http_body_util::Either::Left))
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
        let remote = req.extensions().get::<RemoteAddr>().map(|r| r.0);
        let method = method_label(req.method());
        let routing = self.routing.load_full();
        if path == RELOAD_PATH && self.reload.enabled {
            return with_route(self.reload(req.method()).await, "reload");
        }
        let Some(route) = routing.routes.lookup(&path) else {
            let err = PushError::NotFound {
                hint: push_hint(&routing),
                path: path.clone(),
            };
            self.refused(NO_TARGET, remote, method, &path, &err);
            return with_route(err.into_response(), NOT_FOUND_LABEL);
        };
        // The status counters of the target a push path names.
        let stats = match route.endpoint {
            Endpoint::Push | Endpoint::LegacyPush | Endpoint::Raw | Endpoint::Plain => route
                .target
                .and_then(|t| routing.targets.get(t))
                .map(|t| &t.stats),
            _ => None,
        };
        let job = route
            .target
            .and_then(|t| routing.targets.get(t))
            .map_or(NO_TARGET, |t| t.spec.job_name.as_str());
        if !route.endpoint.allows(req.method()) {
            let err = PushError::MethodNotAllowed {
                method: req.method().to_string(),
                path: path.clone(),
                allow: route.endpoint.allow(),
            };
            if let Some(stats) = stats {
                stats.rejected(err.status(), 0, &err);
            }
            self.refused(job, remote, method, &path, &err);
            return with_route(err.into_response(), route.label);
        }
        let inflight = Inflight::enter(method, route.label);
        let mut request_bytes = 0;
        let target = route.target.and_then(|t| TargetHandle::new(&routing, t));
        let result = match (route.endpoint, target) {
            (Endpoint::Metrics, _) => self.render_metrics(),
            (Endpoint::Status, _) => self.render_status(false),
            (Endpoint::StatusJson, _) => self.render_status(true),
            (Endpoint::Ready, _) => Ok(self.ready()),
            (Endpoint::Push, Some(target)) => {
                self.push(target, false, req, &mut request_bytes).await
            }
            (Endpoint::LegacyPush, Some(target)) => {
                self.push(target, true, req, &mut request_bytes).await
            }
            (Endpoint::Raw, Some(target)) => {
                self.lines(target.get(), None, req, &mut request_bytes)
                    .await
            }
            (Endpoint::Plain, Some(target)) => {
                let rest = route.rest.to_owned();
                self.lines(target.get(), Some(&rest), req, &mut request_bytes)
                    .await
            }
            (Endpoint::Push | Endpoint::LegacyPush | Endpoint::Raw | Endpoint::Plain, None) => {
                Err(PushError::NotFound {
                    path: path.clone(),
                    hint: push_hint(&routing),
                })
            }
        };
        drop(inflight);
        let mut resp = match result {
            Ok(resp) => {
                if let Some(stats) = stats {
                    stats.accepted(request_bytes);
                }
                resp
            }
            Err(err) => {
                err.count_rejection();
                if let Some(stats) = stats {
                    stats.rejected(err.status(), request_bytes, &err);
                }
                self.refused(job, remote, method, &path, &err);
                err.into_response()
            }
        };
        resp.extensions_mut().insert(RequestBytes(request_bytes));
        with_route(resp, route.label)
    }

    /// Logs a refusal (rate-limited per target) with what the client is
    /// told.
    fn refused(
        &self,
        job: &str,
        remote: Option<std::net::SocketAddr>,
        method: &str,
        path: &str,
        err: &PushError,
    ) {
        self.rejections.record(&Rejection {
            job,
            remote,
            method,
            path,
            status: err.status(),
            reason: err,
        });
    }

    fn ready(&self) -> Response<Full<Bytes>> {
        if self.shutting_down.load(Ordering::Acquire) {
            return text_response(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n");
        }
        text_response(StatusCode::OK, "ready\n")
    }

    fn render_metrics(&self) -> Result<Response<Full<Bytes>>, PushError> {
        let handle = self.metrics.as_ref().ok_or(PushError::MetricsDisabled)?;
        let mut body = handle.render();
        pushtail_pipeline::render_custom_metrics(&mut body);
        let mut resp = text_response(StatusCode::OK, body);
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        );
        Ok(resp)
    }

    /// The status page (`json`: its data as JSON), from the shared board.
    fn render_status(&self, json: bool) -> Result<Response<Full<Bytes>>, PushError> {
        let board = self.status.as_ref().ok_or(PushError::StatusDisabled)?;
        let status = board.snapshot();
        let (body, content_type) = if json {
            (render_json(&status), "application/json")
        } else {
            (render_html(&status), "text/html; charset=utf-8")
        };
        let mut resp = text_response(StatusCode::OK, body);
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static(content_type),
        );
        resp.headers_mut().insert(
            http::header::CACHE_CONTROL,
            http::HeaderValue::from_static("no-store"),
        );
        Ok(resp)
    }

    /// `POST /reload`: what SIGHUP does, through the binary's hook.
    async fn reload(&self, method: &http::Method) -> Response<Full<Bytes>> {
        if method != http::Method::POST {
            return PushError::MethodNotAllowed {
                method: method.to_string(),
                path: RELOAD_PATH.to_owned(),
                allow: "POST",
            }
            .into_response();
        }
        let Some(hook) = self.reload.hook.get() else {
            return PushError::Internal("reload is not available yet".into()).into_response();
        };
        match hook.reload().await {
            Ok(()) => text_response(StatusCode::OK, "config reloaded\n"),
            Err(ReloadFailure::Refused(reason)) => {
                text_response(StatusCode::BAD_REQUEST, format!("{reason}\n"))
            }
            Err(ReloadFailure::Failed(reason)) => {
                text_response(StatusCode::INTERNAL_SERVER_ERROR, format!("{reason}\n"))
            }
        }
    }

    /// What every receiving endpoint checks first, from the request head
    /// only: credentials, not shutting down, and the tenant (from the client
    /// certificate or the header).
    pub(crate) fn authorize(
        &self,
        target: &Target,
        headers: &http::HeaderMap,
        identity: Option<&ClientIdentity>,
    ) -> Result<Option<TenantId>, PushError> {
        let refuse = |failure: AuthFailure| {
            target.count_auth_failure(failure);
            PushError::Unauthorized {
                job: target.spec.job_name.clone(),
                failure,
                challenge: target.credentials.challenges(),
            }
        };
        target.credentials.check(headers).map_err(refuse)?;
        let cert_tenant = match target.spec.tenant_from_client_cert {
            Some(CertTenant::Cn) => {
                let cn = identity
                    .and_then(|i| i.cn.as_deref())
                    .ok_or_else(|| refuse(AuthFailure::NoClientCert))?;
                Some(TenantId::new(cn).map_err(|e| PushError::InvalidCertTenant {
                    cn: cn.to_owned(),
                    reason: e.to_string(),
                })?)
            }
            None => None,
        };
        if self.shutting_down.load(Ordering::Acquire) {
            return Err(PushError::ShuttingDown);
        }
        match (&target.spec.tenant_id, cert_tenant) {
            (Some(_), _) => Ok(None),
            (None, Some(tenant)) => Ok(Some(tenant)),
            (None, None) => header_tenant(headers),
        }
    }

    /// [`Self::authorize`], then the Content-Encoding header.
    fn admit<'h>(
        &self,
        target: &Target,
        headers: &'h http::HeaderMap,
        identity: Option<&ClientIdentity>,
    ) -> Result<(Option<TenantId>, Option<&'h str>), PushError> {
        let tenant = self.authorize(target, headers, identity)?;
        Ok((tenant, content_encoding(headers)?))
    }

    /// A Loki push (`legacy`: to `/api/prom/push`): decode, resolve each
    /// stream's labels (cached), batch per tenant, hand off.
    async fn push<B>(
        &self,
        handle: TargetHandle,
        legacy: bool,
        req: Request<B>,
        request_bytes: &mut usize,
    ) -> Result<Response<Full<Bytes>>, PushError>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<BoxError>,
    {
        let (parts, body) = req.into_parts();
        let headers = &parts.headers;
        let target = handle.get();
        let identity = parts.extensions.get::<ClientIdentity>();
        let (tenant, encoding) = self.admit(target, headers, identity)?;
        let format = push_format(headers)?;
        let limit = target.spec.max_message_size;
        let body = read_limited(headers, body, limit).await?;
        *request_bytes = body.len();
        let owned_encoding = encoding.map(str::to_owned);
        let work = handle.clone();
        // Decoding and the per-stream work run together (on the blocking
        // pool for large or compressed bodies): the streams are allocated
        // and turned into batches on one thread, so the allocator reuses
        // what each step frees instead of growing one arena per thread.
        let cheap = is_cheap(&body, encoding, format == Format::Protobuf);
        let (batches, bad) = DecodePermits::global()
            .run(cheap, move || {
                let push = decode_push(format, legacy, owned_encoding.as_deref(), body, limit)?;
                Ok(batch_push(work.get(), push, tenant.as_ref()))
            })
            .await?;
        self.finish(target, batches, bad).await
    }

    /// The raw (`rest` is `None`) and plaintext endpoints: one stream of
    /// lines whose labels come from the target (and the path).
    async fn lines<B>(
        &self,
        target: &Target,
        rest: Option<&str>,
        req: Request<B>,
        request_bytes: &mut usize,
    ) -> Result<Response<Full<Bytes>>, PushError>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<BoxError>,
    {
        let (parts, body) = req.into_parts();
        let headers = &parts.headers;
        let identity = parts.extensions.get::<ClientIdentity>();
        let (tenant, encoding) = self.admit(target, headers, identity)?;
        let (source, key, labels, fixed_ts) = match rest {
            Some(rest) => {
                let pairs = parse_plain_path(rest).map_err(PushError::BadPath)?;
                let labels =
                    LabelSet::from_pairs(pairs).map_err(|e| PushError::BadPath(e.to_string()))?;
                let ts = parse_timestamp_query(parts.uri.query())
                    .map_err(|value| PushError::BadTimestamp { value })?;
                (Source::Plain, rest.as_bytes(), labels, ts)
            }
            None => (Source::Raw, &b""[..], LabelSet::empty(), None),
        };
        let limit = target.spec.max_message_size;
        let body = read_limited(headers, body, limit).await?;
        *request_bytes = body.len();
        let owned_encoding = encoding.map(str::to_owned);
        let cheap = is_cheap(&body, encoding, false);
        let body = DecodePermits::global()
            .run(cheap, move || {
                decode_encoding(owned_encoding.as_deref(), body, limit)
            })
            .await?;
        let mut batches = BatchSet::default();
        let mut bad = BadStreams::default();
        match target.resolve(source, key, tenant.as_ref(), true, || Ok(labels)) {
            Ok(Some(resolved)) => {
                let mut clock = match fixed_ts {
                    Some(ts) => Clock::starting_at(ts),
                    None => Clock::starting_now(),
                };
                let entries = split_lines(&body)
                    .map(|line| Entry::new(clock.tick(), line))
                    .collect();
                target.add_entries(&resolved, entries, &mut batches);
            }
            Ok(None) => {}
            Err(kind) => bad.push(None, || None, kind),
        }
        self.finish(target, batches, bad).await
    }

    /// Hands the batches off and answers: 204, or 400 naming the streams
    /// that were skipped (the rest were forwarded).
    pub(crate) async fn finish(
        &self,
        target: &Target,
        batches: BatchSet,
        bad: BadStreams,
    ) -> Result<Response<Full<Bytes>>, PushError> {
        target.count_bad_streams(bad.total());
        match batches.pace() {
            Pace::Now => {}
            // `limit` with `drop: false` reserved tokens for these entries:
            // hold the push until the last is due (Promtail blocks here).
            Pace::NotBefore(due) => tokio::time::sleep_until(due.into()).await,
            Pace::Refuse => {
                return Err(PushError::RateLimited {
                    timeout_ms: self.push_timeout.as_millis(),
                })
            }
        }
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

/// A target of one routing snapshot, owned, so blocking work can hold it.
#[derive(Clone)]
pub(crate) struct TargetHandle {
    routing: Arc<Routing>,
    index: usize,
}

impl TargetHandle {
    pub(crate) fn new(routing: &Arc<Routing>, index: usize) -> Option<Self> {
        routing.targets.get(index)?;
        Some(TargetHandle {
            routing: Arc::clone(routing),
            index,
        })
    }

    pub(crate) fn get(&self) -> &Target {
        // Checked in `new`; the routing it points into is immutable.
        &self.routing.targets[self.index]
    }
}

/// DESIGN §4 steps 1-6 for every stream of a decoded push: resolve its
/// labels (cached), stamp receive times, run the pipeline, group by tenant.
pub(crate) fn batch_push(
    target: &Target,
    push: DecodedPush,
    tenant: Option<&TenantId>,
) -> (BatchSet, BadStreams) {
    let mut batches = BatchSet::default();
    let mut bad = BadStreams::default();
    let mut clock = Clock::starting_now();
    let cache = target.should_cache(push.streams.len());
    for (index, stream) in push.streams.into_iter().enumerate() {
        let source = match stream.labels {
            RawLabels::Selector(_) => Source::Selector,
            RawLabels::Pairs(_) => Source::Pairs,
        };
        let key = label_key(&stream.labels);
        let resolved = target.resolve(source, key, tenant, cache, || stream.labels.parse());
        match resolved {
            Ok(Some(resolved)) => {
                let mut entries = stream.entries;
                if !target.spec.use_incoming_timestamp {
                    for e in &mut entries {
                        e.timestamp_ns = clock.tick();
                    }
                }
                target.add_entries(&resolved, entries, &mut batches);
            }
            Ok(None) => {}
            Err(kind) => bad.push(Some(index), || Some(quote_labels(&stream.labels)), kind),
        }
    }
    (batches, bad)
}

/// Counts a request in `inflight_requests` until dropped (also when the
/// request is cancelled).
struct Inflight(metrics::Gauge);

impl Inflight {
    fn enter(method: &'static str, route: &'static str) -> Inflight {
        let gauge = metrics::gauge!(INFLIGHT_REQUESTS, "method" => method, "route" => route);
        gauge.increment(1.0);
        Inflight(gauge)
    }
}

impl Drop for Inflight {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// The `method` label: a static string, so counting never allocates.
fn method_label(method: &http::Method) -> &'static str {
    match *method {
        http::Method::POST => "POST",
        http::Method::GET => "GET",
        http::Method::PUT => "PUT",
        http::Method::HEAD => "HEAD",
        http::Method::DELETE => "DELETE",
        http::Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Most base URLs a 404 names.
const HINT_TARGETS: usize = 10;

/// The end of a 404 body: where this listener takes pushes.
pub(crate) fn push_hint(routing: &Routing) -> String {
    use std::fmt::Write;
    let targets = &routing.targets;
    if targets.is_empty() {
        return "; no push targets are configured on this listener".to_owned();
    }
    let mut out = String::from("; push to <base_url>loki/api/v1/push (or api/v1/raw, push/<name>/<value>) where base_url is one of ");
    for (i, t) in targets.iter().take(HINT_TARGETS).enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(
            out,
            "{} (job {})",
            crate::normalize_base_url(&t.spec.base_url),
            t.spec.job_name
        );
    }
    if targets.len() > HINT_TARGETS {
        let _ = write!(out, " and {} more", targets.len() - HINT_TARGETS);
    }
    out
}

fn with_route(mut resp: Response<Full<Bytes>>, label: &'static str) -> Response<Full<Bytes>> {
    resp.extensions_mut().insert(RouteLabel(label));
    resp
}
