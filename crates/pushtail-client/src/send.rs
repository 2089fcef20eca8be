//! Sending one batch: encode, POST, and apply the status policy (2xx sent;
//! 429, 5xx, network errors and timeouts retried with backoff; anything else
//! dropped with the server's message logged), counting the outcome.
//!
//! This module never batches and never reads the queue.

use std::time::Duration;

use http::header::{HeaderName, HeaderValue};
use http::StatusCode;
use pushtail_proto::tenant::TenantId;
use tokio::time::Instant;

use crate::batch::Batch;
use crate::config::BackoffConfig;
use crate::encode::Encoder;
use crate::metrics::{ClientMetrics, DropReason};
use crate::queue::Backlog;

/// Most bytes of an error answer kept for the log.
const MAX_ERROR_BODY: usize = 1024;

/// The tenant header, as Loki and Promtail spell it (header names are
/// case-insensitive).
const X_SCOPE_ORGID: HeaderName = HeaderName::from_static("x-scope-orgid");

/// Status code label for attempts that got no HTTP answer.
const NO_STATUS: i32 = -1;

pub(crate) struct Transport {
    pub(crate) http: reqwest::Client,
    pub(crate) url: reqwest::Url,
    pub(crate) host: String,
    pub(crate) backoff: BackoffConfig,
    pub(crate) drop_rate_limited: bool,
    /// Entries dropped so far, shared with the [`crate::ClientHandle`].
    pub(crate) dropped: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// What the status page reads.
    pub(crate) probe: std::sync::Arc<crate::probe::ProbeState>,
    pub(crate) encoder: Encoder,
    pub(crate) metrics: ClientMetrics,
}

/// What one attempt came to.
enum Outcome {
    Sent,
    Retry {
        status: i32,
        error: String,
    },
    Drop {
        reason: DropReason,
        status: i32,
        error: String,
    },
}

impl Transport {
    /// Sends `batch` until it is accepted, dropped, or out of retries.
    /// Between attempts the backlog may drain a closed queue (see `queue.rs`).
    pub(crate) async fn send(
        &mut self,
        tenant: Option<&TenantId>,
        batch: Batch,
        backlog: &mut Backlog,
    ) {
        let entries = batch.entries() as u64;
        let bytes = batch.bytes() as u64;
        let body = self.encoder.encode(&batch.into_streams());
        self.metrics.encoded_bytes.increment(body.len() as u64);
        let tenant_header = tenant.and_then(|t| HeaderValue::from_str(t.as_str()).ok());
        let tenant_name = tenant.map(TenantId::as_str).unwrap_or_default();
        let attempts = self.backoff.max_retries.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = self.attempt(body.clone(), tenant_header.as_ref()).await;
            let (reason, status, error) = match outcome {
                Outcome::Sent => {
                    self.metrics.sent_entries.increment(entries);
                    self.metrics.sent_bytes.increment(bytes);
                    self.probe.sent(entries);
                    return;
                }
                Outcome::Drop {
                    reason,
                    status,
                    error,
                } => (reason, status, error),
                Outcome::Retry { status, error } if attempt < attempts => {
                    tracing::warn!(
                        host = %self.host,
                        tenant = tenant_name,
                        status,
                        attempt,
                        error = %error,
                        "error sending batch, will retry"
                    );
                    self.metrics.retried(tenant_name);
                    self.probe.retried();
                    backlog.drain_if_closed();
                    tokio::time::sleep(self.backoff_delay(attempt)).await;
                    continue;
                }
                Outcome::Retry { status, error } => {
                    let reason = if status == i32::from(StatusCode::TOO_MANY_REQUESTS.as_u16()) {
                        DropReason::RateLimited
                    } else {
                        DropReason::IngesterError
                    };
                    (reason, status, error)
                }
            };
            tracing::error!(
                host = %self.host,
                tenant = tenant_name,
                status,
                attempts = attempt,
                entries,
                reason = reason.as_str(),
                error = %error,
                "final error sending batch, dropping it"
            );
            self.count_dropped(tenant_name, reason, entries, bytes);
            return;
        }
    }

    /// Counts entries this client gave up on, everywhere drops are seen:
    /// the metrics, the status page, and the handle (whose count makes a
    /// shutdown report acknowledged entries as lost).
    fn count_dropped(&mut self, tenant: &str, reason: DropReason, entries: u64, bytes: u64) {
        self.count_limited(tenant, reason, entries, bytes);
        self.dropped
            .fetch_add(entries, std::sync::atomic::Ordering::Relaxed);
    }

    /// Counts entries a configured limit (`limits_config`) dropped: in the
    /// metrics and on the status page, but not as lost, since dropping
    /// them is what the operator asked for.
    pub(crate) fn count_limited(
        &mut self,
        tenant: &str,
        reason: DropReason,
        entries: u64,
        bytes: u64,
    ) {
        self.metrics.dropped(tenant, reason, entries, bytes);
        self.probe.dropped(reason, entries);
    }

    async fn attempt(&mut self, body: bytes::Bytes, tenant: Option<&HeaderValue>) -> Outcome {
        let start = Instant::now();
        let mut request = self.http.post(self.url.clone()).body(body);
        if let Some(tenant) = tenant {
            request = request.header(X_SCOPE_ORGID, tenant.clone());
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                self.metrics
                    .request_duration(NO_STATUS, start.elapsed().as_secs_f64());
                let error = error_chain(&e);
                self.probe.attempted(None, Some(&error));
                return Outcome::Retry {
                    status: NO_STATUS,
                    error,
                };
            }
        };
        let status = response.status();
        let code = i32::from(status.as_u16());
        if status.is_success() {
            // Read the (normally empty) body so the connection can be reused.
            let _ = response.bytes().await;
            self.metrics
                .request_duration(code, start.elapsed().as_secs_f64());
            self.probe.attempted(Some(status.as_u16()), None);
            return Outcome::Sent;
        }
        let message = read_error_body(response).await;
        self.metrics
            .request_duration(code, start.elapsed().as_secs_f64());
        let error = format!("server returned HTTP status {status}: {message}");
        self.probe.attempted(Some(status.as_u16()), Some(&message));
        if status == StatusCode::TOO_MANY_REQUESTS {
            if self.drop_rate_limited {
                return Outcome::Drop {
                    reason: DropReason::RateLimited,
                    status: code,
                    error,
                };
            }
            return Outcome::Retry {
                status: code,
                error,
            };
        }
        if status.is_server_error() {
            return Outcome::Retry {
                status: code,
                error,
            };
        }
        Outcome::Drop {
            reason: classify(&message),
            status: code,
            error,
        }
    }

    /// Wait before attempt `attempt + 1`: exponential from `min_period`,
    /// plus up to half again of jitter, never above `max_period`.
    fn backoff_delay(&self, attempt: u32) -> Duration {
        backoff_delay(&self.backoff, attempt, fastrand::f64())
    }
}

/// Pure part of [`Transport::backoff_delay`]; `jitter` is in `[0, 1)`.
fn backoff_delay(cfg: &BackoffConfig, attempt: u32, jitter: f64) -> Duration {
    let min = cfg.min_period.get();
    let max = cfg.max_period.get().max(min);
    let exp = attempt.saturating_sub(1).min(32);
    let base = min.saturating_mul(1u32 << exp.min(31)).min(max);
    base.saturating_add(base.mul_f64(jitter / 2.0)).min(max)
}

/// The drop reason Loki's message points at, as Promtail counts it.
fn classify(message: &str) -> DropReason {
    let lower = message.to_ascii_lowercase();
    if lower.contains("stream limit") || lower.contains("streams limit") {
        DropReason::StreamLimited
    } else if lower.contains("max entry size") || lower.contains("line too long") {
        DropReason::LineTooLong
    } else {
        DropReason::IngesterError
    }
}

/// The first [`MAX_ERROR_BODY`] bytes of an error answer, as text.
async fn read_error_body(mut response: reqwest::Response) -> String {
    let mut buf = Vec::new();
    while buf.len() < MAX_ERROR_BODY {
        match response.chunk().await {
            Ok(Some(chunk)) => buf.extend_from_slice(&chunk),
            _ => break,
        }
    }
    buf.truncate(MAX_ERROR_BODY);
    String::from_utf8_lossy(&buf).trim_end().to_owned()
}

/// An error with its causes (`reqwest` hides the interesting part there).
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use pushtail_proto::units::Duration as D;

    #[test]
    fn backoff_delays() {
        let cfg = BackoffConfig {
            min_period: D::from_millis(500),
            max_period: D::from_secs(5),
            max_retries: 10,
        };
        let ms = Duration::from_millis;
        let cases: &[(u32, f64, Duration)] = &[
            (1, 0.0, ms(500)),
            (1, 0.999, ms(749)),
            (2, 0.0, ms(1000)),
            (3, 0.5, ms(2500)),
            (4, 0.0, ms(4000)),
            (4, 0.9, ms(5000)),
            (5, 0.0, ms(5000)),
            (100, 0.0, ms(5000)),
        ];
        for &(attempt, jitter, want) in cases {
            let got = backoff_delay(&cfg, attempt, jitter);
            assert!(
                got.abs_diff(want) < ms(1),
                "attempt {attempt} jitter {jitter}: {got:?} != {want:?}"
            );
        }
    }

    #[test]
    fn drop_reasons() {
        let cases: &[(&str, DropReason)] = &[
            ("entry too far behind", DropReason::IngesterError),
            (
                "Maximum active stream limit exceeded, reduce the number of active streams",
                DropReason::StreamLimited,
            ),
            (
                "Max entry size '256' bytes exceeded for stream '{a=\"b\"}'",
                DropReason::LineTooLong,
            ),
            ("", DropReason::IngesterError),
        ];
        for (msg, want) in cases {
            assert_eq!(classify(msg), *want, "{msg}");
        }
    }
}
