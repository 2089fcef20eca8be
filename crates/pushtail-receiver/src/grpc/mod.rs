//! Loki's gRPC `logproto.Pusher/Push`, served on the same port as HTTP
//! (HTTP/2, h2c or TLS), told apart by `content-type: application/grpc`.
//!
//! Built on tonic's server-side unary handling (framing, size limit,
//! status trailers) with a codec over raw bytes: the message is decoded by
//! `pushtail-proto`'s own protobuf decoder, so lines stay slices of the
//! received buffer and the semantics are exactly the HTTP push's (labels,
//! tenant from `x-scope-orgid`, relabeling, stages, all-or-nothing
//! hand-off). The target is the one whose `base_url` is the metadata
//! `x-pushtail-base-url` (default `/`). Every error goes through the same
//! [`PushError`] and is mapped to one gRPC code here. gzip messages are
//! inflated here, under the decode pool's rules, before tonic sees them.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::{HeaderValue, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{Either, Full};
use pushtail_proto::push::decode_push_proto;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::{Code, Status};

use crate::body::read_limited;
use crate::decode::{self, DecodePermits};
use crate::error::PushError;
use crate::layers::{RemoteAddr, RequestBytes, RouteLabel, StatusLabel};
use crate::normalize_base_url;
use crate::rejections::{Rejection, NO_TARGET};
use crate::service::{batch_push, ClientIdentity, ListenerState, TargetHandle};
use crate::target::Target;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The one method served.
pub(crate) const PUSH_PATH: &str = "/logproto.Pusher/Push";
/// Metadata naming the target by its base URL.
const BASE_URL_METADATA: &str = "x-pushtail-base-url";
/// The `route` label of gRPC requests.
const ROUTE: &str = "grpc";
/// Bodies up to this size are decoded inline (as HTTP's cheap bodies).
const INLINE_MAX: usize = 64 * 1024;
/// A gRPC message's frame: a compressed flag and a big-endian `u32` length.
const FRAME_HEADER: usize = 5;
const GRPC_ENCODING: &str = "grpc-encoding";

/// A gRPC request: its content type is `application/grpc` (any suffix).
pub(crate) fn is_grpc<B>(req: &Request<B>) -> bool {
    req.headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

/// The gRPC code for an error, from the status the same push would get
/// over HTTP.
fn code(err: &PushError) -> Code {
    match err.status().as_u16() {
        400 | 415 => Code::InvalidArgument,
        401 => Code::Unauthenticated,
        404 | 405 => Code::NotFound,
        413 => Code::ResourceExhausted,
        503 => Code::Unavailable,
        _ => Code::Internal,
    }
}

fn status(err: &PushError) -> Status {
    Status::new(code(err), err.to_string())
}

/// A finished gRPC answer for an error found before tonic took over.
pub(crate) fn error_response(err: &PushError) -> Response<tonic::body::Body> {
    label(status(err).into_http(), 0)
}

/// Serves one gRPC request and counts it where an HTTP push is counted.
pub(crate) async fn serve<B>(
    state: &Arc<ListenerState>,
    req: Request<B>,
) -> Response<tonic::body::Body>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError> + Send,
{
    let remote = req.extensions().get::<RemoteAddr>().map(|r| r.0);
    let (resp, target) = respond(state, req).await;
    account(state, target.as_ref().map(TargetHandle::get), remote, &resp);
    resp
}

/// The gRPC counterpart of the HTTP push's bookkeeping: the target's
/// status-page numbers, and for a refusal the rate-limited warn line with
/// what the client was told (the status message). A request that reached
/// no target is logged under no job, as an HTTP 404 is.
fn account(
    state: &ListenerState,
    target: Option<&Target>,
    remote: Option<SocketAddr>,
    resp: &Response<tonic::body::Body>,
) {
    let bytes = resp.extensions().get::<RequestBytes>().map_or(0, |b| b.0);
    let status = resp.extensions().get::<StatusLabel>().map_or(500, |s| s.0);
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status.is_success() {
        if let Some(target) = target {
            target.stats.accepted(bytes);
        }
        return;
    }
    let reason = Status::from_header_map(resp.headers())
        .map_or_else(|| status.to_string(), |s| s.message().to_owned());
    if let Some(target) = target {
        target.stats.rejected(status, bytes, &reason);
    }
    state.rejections.record(&Rejection {
        job: target.map_or(NO_TARGET, |t| t.spec.job_name.as_str()),
        remote,
        method: "POST",
        path: PUSH_PATH,
        status,
        reason: &reason,
    });
}

async fn respond<B>(
    state: &Arc<ListenerState>,
    req: Request<B>,
) -> (Response<tonic::body::Body>, Option<TargetHandle>)
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError> + Send,
{
    if req.uri().path() != PUSH_PATH {
        let status = Status::unimplemented(format!(
            "unknown method {}; pushtail serves {PUSH_PATH}",
            req.uri().path()
        ));
        return (label(status.into_http(), 0), None);
    }
    let routing = state.routing.load_full();
    let base = req
        .headers()
        .get(BASE_URL_METADATA)
        .and_then(|v| v.to_str().ok())
        .map_or_else(|| "/".to_owned(), normalize_base_url);
    let Some(handle) = routing
        .routes
        .target_for_base(&base)
        .and_then(|i| TargetHandle::new(&routing, i))
    else {
        let err = PushError::NotFound {
            path: format!("{PUSH_PATH} (no target with base_url {base})"),
            hint: crate::service::push_hint(&routing),
        };
        return (error_response(&err), None);
    };
    let kept = handle.clone();
    let target = handle.get();
    let identity = req.extensions().get::<ClientIdentity>();
    let tenant = match state.authorize(target, req.headers(), identity) {
        Ok(tenant) => tenant,
        Err(e) => {
            let mut resp = error_response(&e);
            if let PushError::Unauthorized { challenge, .. } = &e {
                resp.headers_mut().insert(
                    http::header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(challenge),
                );
            }
            return (resp, Some(kept));
        }
    };
    let limit = target.spec.max_message_size;
    let req = match decompress(req, limit, DecodePermits::global()).await {
        Ok(req) => req,
        Err(e) => return (error_response(&e), Some(kept)),
    };
    let received = Arc::new(AtomicUsize::new(0));
    let push = {
        let state = Arc::clone(state);
        let received = Arc::clone(&received);
        tower::service_fn(move |request: tonic::Request<Bytes>| {
            let state = Arc::clone(&state);
            let handle = handle.clone();
            let tenant = tenant.clone();
            let received = Arc::clone(&received);
            async move {
                let message = request.into_inner();
                received.store(message.len(), Ordering::Relaxed);
                let work = handle.clone();
                let cheap = message.len() <= INLINE_MAX;
                let (batches, bad) = DecodePermits::global()
                    .run(cheap, move || {
                        let push = decode_push_proto(message).map_err(|e| {
                            PushError::Malformed(format!("invalid protobuf push: {e}"))
                        })?;
                        Ok(batch_push(work.get(), push, tenant.as_ref()))
                    })
                    .await
                    .map_err(|e| refuse(&e))?;
                state
                    .finish(handle.get(), batches, bad)
                    .await
                    .map_err(|e| refuse(&e))?;
                Ok::<_, Status>(tonic::Response::new(()))
            }
        })
    };
    // Compressed messages were undone by `decompress`; tonic itself
    // accepts none (another `grpc-encoding` gets its UNIMPLEMENTED).
    let mut grpc =
        tonic::server::Grpc::new(RawCodec).apply_max_message_size_config(Some(limit), None);
    let mut resp = grpc.unary(push, req).await;
    // tonic answers an over-limit message OUT_OF_RANGE; Loki's clients and
    // this agent's contract call it RESOURCE_EXHAUSTED (HTTP's 413).
    if resp.headers().get("grpc-status").map(HeaderValue::as_bytes) == Some(b"11") {
        resp.headers_mut()
            .insert("grpc-status", HeaderValue::from_static("8"));
    }
    (label(resp, received.load(Ordering::Relaxed)), Some(kept))
}

/// The status for a push refused after decoding began; a 503's reason is
/// counted as the HTTP push counts it.
fn refuse(err: &PushError) -> Status {
    err.count_rejection();
    status(err)
}

/// Undoes a gzip-compressed message (`grpc-encoding: gzip`, what grpc-go
/// clients send) the way an HTTP body's `Content-Encoding` is undone: the
/// message is read whole (at most `limit` bytes and its frame header) and
/// inflated into at most `limit` bytes under the decode pool's fairness
/// rules, so a gzip bomb takes a decode permit, never an async worker. It
/// reaches tonic re-framed as an uncompressed message. Requests without an
/// encoding pass through untouched; other encodings are left to tonic.
async fn decompress<B>(
    req: Request<B>,
    limit: usize,
    permits: &DecodePermits,
) -> Result<Request<Either<B, Full<Bytes>>>, PushError>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let gzip = req
        .headers()
        .get(GRPC_ENCODING)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    if !gzip {
        return Ok(req.map(Either::Left));
    }
    let (mut parts, body) = req.into_parts();
    let framed = read_limited(&parts.headers, body, limit.saturating_add(FRAME_HEADER)).await?;
    let (compressed, message) = unframe(framed)?;
    let message = if compressed {
        let cheap = decode::is_cheap(&message, Some("gzip"), false);
        permits
            .run(cheap, move || {
                decode::decode_encoding(Some("gzip"), message, limit)
            })
            .await?
    } else {
        message
    };
    let mut frame = BytesMut::with_capacity(FRAME_HEADER + message.len());
    frame.put_u8(0);
    frame.put_u32(u32::try_from(message.len()).map_err(|_| PushError::TooLarge { limit })?);
    frame.extend_from_slice(&message);
    parts.headers.remove(GRPC_ENCODING);
    Ok(Request::from_parts(
        parts,
        Either::Right(Full::new(frame.freeze())),
    ))
}

/// The one message of a unary request body: its compressed flag and its
/// bytes (a slice of `body`).
fn unframe(body: Bytes) -> Result<(bool, Bytes), PushError> {
    let malformed = |what: &str| PushError::Malformed(format!("invalid gRPC message: {what}"));
    let Some((&[flag, a, b, c, d], _)) = body.split_first_chunk::<FRAME_HEADER>() else {
        return Err(malformed("shorter than its 5-byte frame header"));
    };
    let len = u32::from_be_bytes([a, b, c, d]) as usize;
    if body.len() - FRAME_HEADER != len {
        return Err(malformed(&format!(
            "the frame says {len} bytes, the request carries {}",
            body.len() - FRAME_HEADER
        )));
    }
    match flag {
        0 | 1 => Ok((flag == 1, body.slice(FRAME_HEADER..))),
        other => Err(malformed(&format!("unknown compressed flag {other}"))),
    }
}

/// Attaches the metric labels: route `grpc`, and as `status_code` the
/// HTTP status the same push would have got (204 for success).
fn label(
    mut resp: Response<tonic::body::Body>,
    request_bytes: usize,
) -> Response<tonic::body::Body> {
    let status = match resp.headers().get("grpc-status").map(HeaderValue::as_bytes) {
        None | Some(b"0") => 204,
        Some(b"3") => 400,
        Some(b"16") => 401,
        Some(b"5") | Some(b"12") => 404,
        Some(b"8") | Some(b"11") => 413,
        Some(b"14") => 503,
        Some(_) => 500,
    };
    resp.extensions_mut().insert(RouteLabel(ROUTE));
    resp.extensions_mut().insert(StatusLabel(status));
    resp.extensions_mut().insert(RequestBytes(request_bytes));
    resp
}

/// The Pusher's messages as tonic sees them: the request as raw bytes
/// (decoded by `pushtail-proto`), the empty `PushResponse` as nothing.
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = ();
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }

    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = ();
    type Error = Status;

    /// `PushResponse` has no fields: its encoding is empty.
    fn encode(&mut self, _: (), _: &mut EncodeBuf<'_>) -> Result<(), Status> {
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

#[cfg(test)]
mod tests;
