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
//! accept, read and answer everyone else. Small bodies that decompress
//! small ([`is_cheap`]) are decoded inline, without a permit: they are
//! cheap and must not queue behind bombs.

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

/// Bodies up to this size that also decompress to at most this size are
/// decoded inline.
const INLINE_MAX: usize = 64 * 1024;
/// A protobuf body's snappy block may expand this far and still count as
/// cheap (snappy is a fast memcpy-like decoder).
const INLINE_SNAPPY_MAX: usize = 16 * INLINE_MAX;

/// True when decoding `body` is cheap enough to do inline: it is small and
/// so is what it decompresses to. Checked by decompressing at most
/// [`INLINE_MAX`] bytes (itself cheap), so a small polite gzip push never
/// queues behind decompression bombs while a bomb stops at the budget and
/// takes the queue. `snappy`: the result is a snappy block (protobuf).
pub(crate) fn is_cheap(body: &Bytes, encoding: Option<&str>, snappy: bool) -> bool {
    if body.len() > INLINE_MAX {
        return false;
    }
    let Ok(enc) = ContentEncoding::from_header(encoding) else {
        return true; // refused at once
    };
    let inner = match enc {
        ContentEncoding::Snappy if snappy => body.clone(),
        _ => match decode_body(enc, body.clone(), INLINE_MAX) {
            Ok(inner) => inner,
            Err(BodyError::TooLarge { .. }) => return false,
            Err(_) => return true, // refused at once
        },
    };
    !snappy || snap::raw::decompress_len(&inner).map_or(true, |n| n <= INLINE_SNAPPY_MAX)
}

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

    /// Runs `work` (decompressing and decoding a body, and the per-stream
    /// work on what it decoded): inline when `cheap` (see [`is_cheap`]),
    /// else on the blocking pool once a permit is free.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        cheap: bool,
        work: impl FnOnce() -> Result<T, PushError> + Send + 'static,
    ) -> Result<T, PushError> {
        if cheap {
            return work();
        }
        // The semaphore is never closed; if it were, decoding unbounded
        // beats refusing every push.
        let _permit = self.0.acquire().await.ok();
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| PushError::Internal(format!("decoding the request failed: {e}")))?
    }

    /// Takes every permit until the guard drops.
    #[cfg(test)]
    pub(crate) async fn hold_all(&self) -> tokio::sync::SemaphorePermit<'_> {
        let all = u32::try_from(self.available()).unwrap_or(u32::MAX);
        self.0.acquire_many(all).await.expect("never closed")
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
                        .run(false, move || {
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

        // With every permit taken, cheap work still runs.
        let held = permits.0.acquire_many(2).await.unwrap();
        let small = permits.run(true, || Ok(7)).await.unwrap();
        assert_eq!(small, 7);
        drop(held);
    }

    /// Small bodies that decompress small are cheap; bombs, big bodies and
    /// large snappy blocks are not.
    #[test]
    fn cheap_bodies() {
        use std::io::Write;
        let gzip = |data: &[u8]| {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(data).unwrap();
            Bytes::from(enc.finish().unwrap())
        };
        let snappy =
            |data: &[u8]| Bytes::from(snap::raw::Encoder::new().compress_vec(data).unwrap());
        let cases: Vec<(&str, Bytes, Option<&str>, bool, bool)> = vec![
            ("small json", Bytes::from_static(b"{}"), None, false, true),
            (
                "identity",
                Bytes::from_static(b"{}"),
                Some("identity"),
                false,
                true,
            ),
            (
                "big body",
                Bytes::from(vec![b' '; INLINE_MAX + 1]),
                None,
                false,
                false,
            ),
            (
                "small gzip",
                gzip(b"{\"streams\":[]}"),
                Some("gzip"),
                false,
                true,
            ),
            (
                "gzip bomb",
                gzip(&vec![0; 10 << 20]),
                Some("gzip"),
                false,
                false,
            ),
            ("small snappy", snappy(b"abc"), None, true, true),
            ("snappy bomb", snappy(&vec![0; 4 << 20]), None, true, false),
            (
                "snappy bomb as content-encoding",
                snappy(&vec![0; 4 << 20]),
                Some("snappy"),
                true,
                false,
            ),
            (
                "gzip of a snappy bomb",
                gzip(&snappy(&vec![0; 4 << 20])),
                Some("gzip"),
                true,
                false,
            ),
            (
                "unknown encoding",
                Bytes::from_static(b"x"),
                Some("br"),
                false,
                true,
            ),
        ];
        for (name, body, encoding, is_snappy, want) in cases {
            assert_eq!(is_cheap(&body, encoding, is_snappy), want, "{name}");
        }
    }
}
