//! The bridge to `pushtail-proto`'s codecs: content encodings, JSON and
//! protobuf+snappy, with their errors mapped to [`PushError`].
//!
//! Decoding only: no labels are parsed here (the target does that per
//! stream, cached), and nothing is allocated beyond the limit.

use bytes::Bytes;
use pushtail_proto::encoding::{decode_body, snappy_decode_limited, BodyError, ContentEncoding};
use pushtail_proto::json::decode_push_json;
use pushtail_proto::push::{decode_push_proto, DecodedPush, RawLabels};

use crate::body::Format;
use crate::error::{excerpt, PushError};

/// Longest label text quoted back in an error body.
const QUOTE_MAX: usize = 256;

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
pub(crate) fn decode_push(
    format: Format,
    encoding: Option<&str>,
    body: Bytes,
    limit: usize,
) -> Result<DecodedPush, PushError> {
    let enc = parse_encoding(encoding)?;
    match format {
        Format::Json => {
            let body = decode_body(enc, body, limit).map_err(|e| body_error(e, limit))?;
            decode_push_json(&body)
                .map_err(|e| PushError::Malformed(format!("invalid JSON push: {e}")))
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
/// the JSON pairs joined with separators no valid name contains.
pub(crate) fn label_key<'a>(raw: &'a RawLabels, buf: &'a mut Vec<u8>) -> &'a [u8] {
    match raw {
        RawLabels::Selector(s) => s,
        RawLabels::Pairs(pairs) => {
            buf.clear();
            for (name, value) in pairs {
                buf.extend_from_slice(name.as_bytes());
                buf.push(0xff);
                buf.extend_from_slice(value.as_bytes());
                buf.push(0xfe);
            }
            buf
        }
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
