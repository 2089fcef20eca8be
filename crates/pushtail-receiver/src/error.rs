//! Every way a request can fail, and the one place that maps each to a
//! status code and a one-line `text/plain` body.
//!
//! Handlers return [`PushError`]; nothing else in the crate picks a status
//! for an error. Never 429: Loki clients may drop those unretried.

use std::fmt;

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::Full;
use pushtail_proto::labels::LabelError;
use pushtail_proto::syntax::LabelParseError;
use pushtail_proto::tenant::TenantError;

use crate::auth::AuthFailure;

/// Bad streams named in a 400 body; the rest are only counted, so the body
/// stays small (well under 64 KiB) however many streams were bad.
pub(crate) const NAMED_BAD_STREAMS: usize = 20;
/// Longest text of one bad stream in a body.
const STREAM_ERROR_MAX: usize = 1024;

/// Why one stream was skipped (the rest of the push is forwarded).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum StreamErrorKind {
    #[error("{0}")]
    Labels(LabelParseError),
    #[error("label __tenant_id__: {0}")]
    Tenant(TenantError),
    #[error("after relabeling: {0}")]
    Relabeled(LabelError),
}

/// One skipped stream: where it was and what its labels were.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StreamError {
    /// Its index in the push; `None` on the line endpoints (one stream).
    pub index: Option<usize>,
    /// The labels as sent, already shortened for a body.
    pub labels: Option<String>,
    pub kind: StreamErrorKind,
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(i) = self.index {
            write!(f, "stream {i}: ")?;
        }
        f.write_str("invalid labels")?;
        if let Some(labels) = &self.labels {
            write!(f, " {labels}")?;
        }
        write!(f, ": {}", self.kind)
    }
}

/// The first [`NAMED_BAD_STREAMS`] bad streams of a request and how many
/// there were in all.
#[derive(Debug, Default)]
pub(crate) struct BadStreams {
    named: Vec<StreamError>,
    total: usize,
}

impl BadStreams {
    /// Records one more bad stream; only the first few are kept, and
    /// `labels` is only called for those.
    pub(crate) fn push(
        &mut self,
        index: Option<usize>,
        labels: impl FnOnce() -> Option<String>,
        kind: StreamErrorKind,
    ) {
        self.total += 1;
        if self.named.len() < NAMED_BAD_STREAMS {
            self.named.push(StreamError {
                index,
                labels: labels(),
                kind,
            });
        }
    }

    pub(crate) fn total(&self) -> usize {
        self.total
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.total == 0
    }
}

impl fmt::Display for BadStreams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.named.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            f.write_str(&excerpt(&e.to_string(), STREAM_ERROR_MAX))?;
        }
        let more = self.total - self.named.len();
        if more > 0 {
            write!(f, "; ... and {more} more bad streams")?;
        }
        Ok(())
    }
}

/// What the server tells the client about a response body it cannot take.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PushError {
    /// `hint` says where pushes go on this listener (empty when the
    /// listener has no targets).
    #[error("no route for {path}{hint}")]
    NotFound { path: String, hint: String },
    #[error("method {method} not allowed on {path}, use {allow}")]
    MethodNotAllowed {
        method: String,
        path: String,
        allow: &'static str,
    },
    #[error("missing Content-Type header: use application/json or application/x-protobuf (snappy-compressed)")]
    MissingContentType,
    #[error("unsupported Content-Type {0:?}: use application/json or application/x-protobuf (snappy-compressed)")]
    UnsupportedContentType(String),
    #[error("unsupported Content-Encoding {0:?}: use identity, gzip, deflate, snappy or zstd")]
    UnsupportedContentEncoding(String),
    #[error("invalid X-Scope-OrgID header: {0}")]
    InvalidTenantHeader(String),
    #[error("request body is larger than the {limit} byte limit (max_message_size)")]
    TooLarge { limit: usize },
    #[error("decompressed request body is larger than the {limit} byte limit (max_message_size)")]
    TooLargeDecompressed { limit: usize },
    #[error("reading request body: {0}")]
    BodyRead(String),
    #[error("{0}")]
    Malformed(String),
    /// Some (or all) streams were skipped; the rest were forwarded.
    #[error("{0}")]
    BadStreams(BadStreams),
    #[error("invalid plaintext push path: {0}")]
    BadPath(String),
    #[error("invalid timestamp query parameter {value:?}: expected RFC3339, Unix seconds or Unix nanoseconds")]
    BadTimestamp { value: String },
    #[error("client queues stayed full for {timeout_ms}ms, retry later")]
    QueueFull { timeout_ms: u128 },
    /// A `limit` stage (`drop: false`) would hold the push back longer
    /// than `push_timeout`.
    #[error("the pipeline's limit stage would delay this push by more than {timeout_ms}ms (push_timeout), retry later")]
    RateLimited { timeout_ms: u128 },
    #[error("client queues are closed, retry later")]
    QueueClosed,
    #[error("shutting down, retry later")]
    ShuttingDown,
    #[error("request took longer than {timeout_ms}ms (http_server_write_timeout), retry later")]
    TimedOut { timeout_ms: u128 },
    #[error("/metrics is not served: no metrics recorder was installed")]
    MetricsDisabled,
    #[error("the status page is served on the shared server only")]
    StatusDisabled,
    /// The write-ahead log refused the push (full, or a write failed).
    #[error("{0}, retry later")]
    Log(pushtail_wal::AppendError),
    #[error("internal error: {0}")]
    Internal(String),
    /// The target requires credentials (or a client certificate) and the
    /// request had none or the wrong ones.
    #[error("{}", unauthorized_message(job, *failure))]
    Unauthorized {
        job: String,
        failure: AuthFailure,
        challenge: &'static str,
    },
    #[error("client certificate CN {cn:?} is not a valid tenant: {reason}")]
    InvalidCertTenant { cn: String, reason: String },
}

fn unauthorized_message(job: &str, failure: AuthFailure) -> String {
    match failure {
        AuthFailure::Missing => format!("job {job:?} requires credentials: none were sent"),
        AuthFailure::Wrong => format!("job {job:?}: wrong credentials"),
        AuthFailure::NoClientCert => {
            format!("job {job:?} takes its tenant from the client certificate: none was presented")
        }
    }
}

impl PushError {
    pub(crate) fn status(&self) -> StatusCode {
        use PushError::*;
        match self {
            NotFound { .. } | MetricsDisabled | StatusDisabled => StatusCode::NOT_FOUND,
            MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            MissingContentType | UnsupportedContentType(_) | UnsupportedContentEncoding(_) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            TooLarge { .. } | TooLargeDecompressed { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            InvalidTenantHeader(_)
            | BodyRead(_)
            | Malformed(_)
            | BadStreams(_)
            | BadPath(_)
            | BadTimestamp { .. }
            | InvalidCertTenant { .. } => StatusCode::BAD_REQUEST,
            Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            QueueFull { .. }
            | RateLimited { .. }
            | QueueClosed
            | ShuttingDown
            | TimedOut { .. }
            | Log(_) => StatusCode::SERVICE_UNAVAILABLE,
            Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Seconds a client should wait before retrying, for 503s.
    fn retry_after(&self) -> Option<&'static str> {
        match self {
            PushError::QueueFull { .. }
            | PushError::RateLimited { .. }
            | PushError::QueueClosed
            | PushError::TimedOut { .. }
            | PushError::Log(_) => Some("1"),
            PushError::ShuttingDown => Some("5"),
            _ => None,
        }
    }

    /// The label value of [`crate::metrics::REJECTED_PUSHES_TOTAL`], for 503s.
    pub(crate) fn rejection_reason(&self) -> Option<&'static str> {
        match self {
            PushError::QueueFull { .. } => Some("queue_full"),
            PushError::RateLimited { .. } => Some("rate_limited"),
            PushError::QueueClosed => Some("queue_closed"),
            PushError::ShuttingDown => Some("shutting_down"),
            PushError::TimedOut { .. } => Some("timed_out"),
            PushError::Log(pushtail_wal::AppendError::Full { .. }) => Some("wal_full"),
            PushError::Log(_) => Some("wal_error"),
            _ => None,
        }
    }

    /// Counts a refused push in [`crate::metrics::REJECTED_PUSHES_TOTAL`]
    /// when it is one of the 503s counted there (HTTP and gRPC alike).
    pub(crate) fn count_rejection(&self) {
        if let Some(reason) = self.rejection_reason() {
            metrics::counter!(crate::metrics::REJECTED_PUSHES_TOTAL, "reason" => reason)
                .increment(1);
        }
    }

    pub(crate) fn into_response(self) -> Response<Full<Bytes>> {
        let mut body = self.to_string();
        body.push('\n');
        let mut resp = text_response(self.status(), body);
        if let PushError::MethodNotAllowed { allow, .. } = &self {
            resp.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        if let PushError::Unauthorized { challenge, .. } = &self {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        if let Some(secs) = self.retry_after() {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static(secs));
        }
        resp
    }
}

pub(crate) fn text_response(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// At most `max` bytes of `s` (on a char boundary), marked when cut: error
/// bodies quote user input, which may be a megabyte long.
pub(crate) fn excerpt(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if s.len() <= max {
        return s.into();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…({} bytes)", &s[..end], s.len()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_maps_to_one_status() {
        let cases: Vec<(PushError, u16, Option<&str>)> = vec![
            (
                PushError::NotFound {
                    path: "/x".into(),
                    hint: String::new(),
                },
                404,
                None,
            ),
            (
                PushError::MethodNotAllowed {
                    method: "GET".into(),
                    path: "/loki/api/v1/push".into(),
                    allow: "POST",
                },
                405,
                None,
            ),
            (PushError::MissingContentType, 415, None),
            (PushError::UnsupportedContentType("x".into()), 415, None),
            (
                PushError::UnsupportedContentEncoding("br".into()),
                415,
                None,
            ),
            (PushError::InvalidTenantHeader("x".into()), 400, None),
            (PushError::TooLarge { limit: 1 }, 413, None),
            (PushError::TooLargeDecompressed { limit: 1 }, 413, None),
            (PushError::BodyRead("x".into()), 400, None),
            (PushError::Malformed("x".into()), 400, None),
            (
                PushError::BadStreams({
                    let mut bad = BadStreams::default();
                    let kind = StreamErrorKind::Tenant(TenantError::Empty);
                    bad.push(Some(0), || Some("{}".into()), kind);
                    bad
                }),
                400,
                None,
            ),
            (PushError::BadPath("x".into()), 400, None),
            (PushError::BadTimestamp { value: "x".into() }, 400, None),
            (PushError::QueueFull { timeout_ms: 5 }, 503, Some("1")),
            (PushError::QueueClosed, 503, Some("1")),
            (PushError::ShuttingDown, 503, Some("5")),
            (
                PushError::Log(pushtail_wal::AppendError::Full { max_size: 1 }),
                503,
                Some("1"),
            ),
            (
                PushError::Log(pushtail_wal::AppendError::Io("disk full".into())),
                503,
                Some("1"),
            ),
            (PushError::MetricsDisabled, 404, None),
            (PushError::Internal("x".into()), 500, None),
            (
                PushError::Unauthorized {
                    job: "j".into(),
                    failure: AuthFailure::Wrong,
                    challenge: "Basic realm=\"pushtail\"",
                },
                401,
                None,
            ),
            (
                PushError::InvalidCertTenant {
                    cn: "a/b".into(),
                    reason: "x".into(),
                },
                400,
                None,
            ),
        ];
        for (err, status, retry) in cases {
            let line = err.to_string();
            let resp = err.into_response();
            assert_eq!(resp.status().as_u16(), status, "{line}");
            assert_eq!(
                resp.headers()
                    .get(header::RETRY_AFTER)
                    .map(|v| v.to_str().unwrap()),
                retry,
                "{line}"
            );
            assert!(!line.contains('\n') && !line.is_empty(), "{line:?}");
            assert_ne!(status, 429);
        }
    }

    #[test]
    fn bad_stream_bodies_are_capped() {
        let mut bad = BadStreams::default();
        let kind = StreamErrorKind::Labels(pushtail_proto::syntax::parse_labels(b"x").unwrap_err());
        for i in 0..100_000 {
            bad.push(Some(i), || Some("{a=\"b\"}".repeat(1000)), kind.clone());
        }
        let body = PushError::BadStreams(bad).to_string();
        assert!(body.len() <= 64 * 1024, "{} bytes", body.len());
        assert!(
            body.starts_with("stream 0: invalid labels {a=\"b\"}"),
            "{body}"
        );
        assert!(body.contains("stream 19: "), "{body}");
        assert!(!body.contains("stream 20: "), "{body}");
        assert!(body.ends_with("; ... and 99980 more bad streams"), "{body}");
        let mut one = BadStreams::default();
        one.push(
            None,
            || None,
            StreamErrorKind::Relabeled(LabelError::InvalidName("a-b".into())),
        );
        assert_eq!(
            one.to_string(),
            "invalid labels: after relabeling: invalid label name \"a-b\""
        );
    }

    #[test]
    fn excerpts_cut_on_char_boundaries() {
        assert_eq!(excerpt("abc", 5), "abc");
        assert_eq!(excerpt("ééé", 3), "é…(6 bytes)");
    }
}
