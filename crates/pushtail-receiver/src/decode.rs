//! The bridge to `pushtail-proto`'s codecs: content encodings, JSON and
//! protobuf+snappy, with their errors mapped to [`PushError`].
//!
//! Decoding only: no labels are parsed here (the target does that per
//! stream, cached), and nothing is allocated beyond the limit.
//!
//! Fairness: decompressing and decoding a large or compressed body is CPU
//! work bounded by the body limit, not by the bytes a client sent (a small
//! gzip bomb costs as much as a big push). Such work runs on the blocking
//! pool under a process-wide [`DecodePermits`] semaphore with one permit per
//! core, handed out first come first served, so a client looping bombs
//! holds at most its share of decoders and never the async workers that
//! accept, read and answer everyone else. Small uncompressed bodies are
//! decoded inline, without a permit: they are cheap and must not queue
//! behind bombs.

use std::sync::LazyLock;

use bytes::Bytes;
use pushtail_proto::encoding::{decode_body, snappy_decode_limited, BodyError, ContentEncoding};
use pushtail_proto::json::{decode_push_json, decode_push_json_legacy};
use pushtail_proto::push::{decode_push_proto, DecodedPush, RawLabels};
use tokio::sync::Semaphore;

use crate::body::Format;
use crate::error::{excerpt, PushError};

/// Longest label text quoted back in an error body.
const QUOTE_MAX: usize = 256;

/// Bodies up to this size without a Content-Encoding are decoded inline.
const INLINE_MAX: usize = 64 * 1024;

/// The process-wide bound on concurrent decoding work.
pub(crate) struct DecodePermits(Semaphore);

static PERMITS: LazyLock<DecodePermits> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    DecodePermits::new(cores)
});

impl DecodePermits {
    pub(crate) fn new(permits: usize) -> Self {
        DecodePermits(Semaphore::new(permits.max(1)))
    }

    /// The permits every listener shares.
    pub(crate) fn global() -> &'static DecodePermits {
        &PERMITS
    }

    /// Runs `work` (decompressing and decoding a body of `body_len` bytes
    /// with Content-Encoding `encoding`, and the per-stream work on what it
    /// decoded): inline when the body is small and uncompressed, else on
    /// the blocking pool once a permit is free.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        body_len: usize,
        encoding: Option<&str>,
        work: impl FnOnce() -> Result<T, PushError> + Send + 'static,
    ) -> Result<T, PushError> {
        let identity = encoding.is_none_or(|e| e.trim().eq_ignore_ascii_case("identity"));
        if identity && body_len <= INLINE_MAX {
            return work();
        }
        // The semaphore is never closed; if it were, decoding unbounded
        // beats refusing every push.
        let _permit = self.0.acquire().await.ok();
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| PushError::Internal(format!("decoding the request failed: {e}")))?
    }

    #[cfg(test)]
    pub(crate) fn available(&self) -> usize {
        self.0.available_permits()
    }
}

/// Undoes `Content-Encoding`, bounded by `limit` decompressed bytes.
pub(crate) fn decode_encoding(
    encoding: Option<&str>,
    body: Bytes,
    limit: usize,
) -> Result<Bytes, PushError> {
    decode_body(parse_encoding(encoding)?, body, limit).map_err(|e| body_error(e, limit))
}

fn parse_encoding(encoding: Option<&str>) -> Result<ContentEncoding, PushError> {
    ContentEncoding::from_header(encoding)
        .map_err(|e| PushError::UnsupportedContentEncoding(e.value))
}

/// A `/push` body: content encoding, then JSON or snappy+protobuf. A
/// protobuf body is always snappy-compressed, so `Content-Encoding: snappy`
/// on it names that compression rather than a second one (as in Loki).
/// `legacy`: the body came to `/api/prom/push`, whose JSON is Loki's
/// legacy shape.
pub(crate) fn decode_push(
    format: Format,
    legacy: bool,
    encoding: Option<&str>,
    body: Bytes,
    limit: usize,
) -> Result<DecodedPush, PushError> {
    let enc = parse_encoding(encoding)?;
    match format {
        Format::Json => {
            let body = decode_body(enc, body, limit).map_err(|e| body_error(e, limit))?;
            let decoded = if legacy {
                decode_push_json_legacy(&body)
            } else {
                decode_push_json(&body)
            };
            decoded.map_err(|e| PushError::Malformed(format!("invalid JSON push: {e}")))
        }
        Format::Protobuf => {
            let compressed = match enc {
                ContentEncoding::Snappy => body,
                other => decode_body(other, body, limit).map_err(|e| body_error(e, limit))?,
            };
            let raw =
                snappy_decode_limited(&compressed, limit).map_err(|e| body_error(e, limit))?;
            decode_push_proto(raw)
                .map_err(|e| PushError::Malformed(format!("invalid protobuf push: {e}")))
        }
    }
}

fn body_error(e: BodyError, limit: usize) -> PushError {
    match e {
        BodyError::TooLarge { .. } => PushError::TooLargeDecompressed { limit },
        other => PushError::Malformed(other.to_string()),
    }
}

/// The cache key of a stream's labels: the selector bytes as received, or
/// the JSON pairs as packed (joined with separators no text contains).
pub(crate) fn label_key(raw: &RawLabels) -> &[u8] {
    match raw {
        RawLabels::Selector(s) => s,
        RawLabels::Pairs(pairs) => pairs.as_bytes(),
    }
}

/// The labels as the user sent them, shortened for an error body.
pub(crate) fn quote_labels(raw: &RawLabels) -> String {
    match raw {
        RawLabels::Selector(s) => excerpt(&String::from_utf8_lossy(s), QUOTE_MAX).into_owned(),
        RawLabels::Pairs(pairs) => {
            let mut out = String::from("{");
            for (i, (name, value)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(name);
                out.push('=');
                pushtail_proto::labels::quote_into(&mut out, value);
            }
            out.push('}');
            excerpt(&out, QUOTE_MAX).into_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;

    /// However many requests decode at once, no more than the permits run
    /// their work concurrently; small identity bodies bypass the permits.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn permits_bound_concurrent_decoding() {
        let permits: &'static DecodePermits = Box::leak(Box::new(DecodePermits::new(2)));
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (running, peak) = (Arc::clone(&running), Arc::clone(&peak));
                tokio::spawn(async move {
                    permits
                        .run(1, Some("gzip"), move || {
                            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                            peak.fetch_max(now, Ordering::SeqCst);
                            std::thread::sleep(std::time::Duration::from_millis(5));
                            running.fetch_sub(1, Ordering::SeqCst);
                            Ok(())
                        })
                        .await
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(peak.load(Ordering::SeqCst), 2);
        assert_eq!(permits.available(), 2);

        // With every permit taken, a small uncompressed body still decodes.
        let held = permits.0.acquire_many(2).await.unwrap();
        let small = permits.run(INLINE_MAX, None, || Ok(7)).await.unwrap();
        assert_eq!(small, 7);
        drop(held);
    }
}
