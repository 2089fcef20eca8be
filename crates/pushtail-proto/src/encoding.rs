//! Request body content encodings (`Content-Encoding`) and the raw-block
//! snappy framing of protobuf push bodies.
//!
//! Every decoder enforces the decompressed-size limit *while* decoding, so a
//! small compressed bomb is refused by the limit, never by running out of
//! memory. Nothing here allocates more than `limit + 1` bytes of output.

use std::fmt;
use std::io::Read;

use bytes::Bytes;

/// A `Content-Encoding` this crate can decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ContentEncoding {
    Identity,
    /// Raw-block snappy (not the framed stream format).
    Snappy,
    Gzip,
    /// Raw DEFLATE (as Go sends it) or zlib-wrapped, detected per body.
    Deflate,
    Zstd,
}

/// A `Content-Encoding` header value that is not supported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unsupported content-encoding {value:?}: supported are identity, snappy, gzip, deflate, zstd"
)]
pub struct UnsupportedEncoding {
    pub value: String,
}

impl ContentEncoding {
    /// Reads a `Content-Encoding` header: absent, empty or `identity` is
    /// [`ContentEncoding::Identity`]; names are case-insensitive.
    pub fn from_header(value: Option<&str>) -> Result<Self, UnsupportedEncoding> {
        let Some(raw) = value else {
            return Ok(Self::Identity);
        };
        let v = raw.trim();
        let enc = if v.is_empty() || v.eq_ignore_ascii_case("identity") {
            Self::Identity
        } else if v.eq_ignore_ascii_case("snappy") {
            Self::Snappy
        } else if v.eq_ignore_ascii_case("gzip") || v.eq_ignore_ascii_case("x-gzip") {
            Self::Gzip
        } else if v.eq_ignore_ascii_case("deflate") {
            Self::Deflate
        } else if v.eq_ignore_ascii_case("zstd") {
            Self::Zstd
        } else {
            return Err(UnsupportedEncoding {
                value: raw.to_owned(),
            });
        };
        Ok(enc)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Identity => "identity",
            Self::Snappy => "snappy",
            Self::Gzip => "gzip",
            Self::Deflate => "deflate",
            Self::Zstd => "zstd",
        }
    }
}

impl fmt::Display for ContentEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a body could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("body is over the limit of {limit} bytes")]
    TooLarge { limit: usize },
    #[error("invalid {encoding} body: {message}")]
    Invalid {
        encoding: ContentEncoding,
        message: String,
    },
}

impl BodyError {
    fn invalid(encoding: ContentEncoding, e: impl fmt::Display) -> Self {
        BodyError::Invalid {
            encoding,
            message: e.to_string(),
        }
    }
}

/// Decodes `body` per `enc`, refusing output over `limit` bytes. Identity
/// returns `body` itself (no copy).
pub fn decode_body(enc: ContentEncoding, body: Bytes, limit: usize) -> Result<Bytes, BodyError> {
    match enc {
        ContentEncoding::Identity => {
            if body.len() > limit {
                return Err(BodyError::TooLarge { limit });
            }
            Ok(body)
        }
        ContentEncoding::Snappy => snappy_decode_limited(&body, limit),
        ContentEncoding::Gzip => read_limited(
            enc,
            flate2::read::MultiGzDecoder::new(&body[..]),
            body.len(),
            limit,
        ),
        ContentEncoding::Deflate => {
            if is_zlib_header(&body) {
                read_limited(
                    enc,
                    flate2::read::ZlibDecoder::new(&body[..]),
                    body.len(),
                    limit,
                )
            } else {
                read_limited(
                    enc,
                    flate2::read::DeflateDecoder::new(&body[..]),
                    body.len(),
                    limit,
                )
            }
        }
        ContentEncoding::Zstd => {
            let mut dec = zstd::stream::read::Decoder::new(&body[..])
                .map_err(|e| BodyError::invalid(enc, e))?;
            dec.window_log_max(ZSTD_MAX_WINDOW_LOG)
                .map_err(|e| BodyError::invalid(enc, e))?;
            read_limited(enc, dec, body.len(), limit)
        }
    }
}

/// Largest zstd window a request may ask the decoder to allocate, as a
/// power of two: 16 MiB, above what every level up to `zstd -19` declares
/// (streaming encoders declare their level's window whatever the content
/// size, so the body limit cannot bound it). A frame declaring more (the
/// `--ultra`/`--long` modes) is refused rather than letting a few small
/// requests reserve 128 MiB each.
const ZSTD_MAX_WINDOW_LOG: u32 = 24;

/// A zlib stream starts with CMF (method 8 = deflate, window <= 32 KiB) and
/// FLG such that `(CMF << 8 | FLG) % 31 == 0`. A raw DEFLATE stream whose
/// first byte has low nibble 8 would be a non-final stored block with
/// non-zero padding bits, which encoders (Go's included) never write.
fn is_zlib_header(b: &[u8]) -> bool {
    match b {
        [cmf, flg, ..] => {
            cmf & 0x0f == 8 && cmf >> 4 <= 7 && ((u16::from(*cmf) << 8) | u16::from(*flg)) % 31 == 0
        }
        _ => false,
    }
}

fn read_limited(
    enc: ContentEncoding,
    reader: impl Read,
    compressed: usize,
    limit: usize,
) -> Result<Bytes, BodyError> {
    let cap = compressed.saturating_mul(4).min(limit).saturating_add(1);
    let mut out = Vec::with_capacity(cap);
    let take = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(take)
        .read_to_end(&mut out)
        .map_err(|e| BodyError::invalid(enc, e))?;
    if out.len() > limit {
        return Err(BodyError::TooLarge { limit });
    }
    Ok(Bytes::from(out))
}

/// Decodes a raw-block snappy body, checking the declared length against
/// `limit` before allocating.
pub fn snappy_decode_limited(body: &[u8], limit: usize) -> Result<Bytes, BodyError> {
    let enc = ContentEncoding::Snappy;
    let len = snap::raw::decompress_len(body).map_err(|e| BodyError::invalid(enc, e))?;
    if len > limit {
        return Err(BodyError::TooLarge { limit });
    }
    let mut out = vec![0u8; len];
    let n = snap::raw::Decoder::new()
        .decompress(body, &mut out)
        .map_err(|e| BodyError::invalid(enc, e))?;
    out.truncate(n);
    Ok(Bytes::from(out))
}

/// Compresses `input` as raw-block snappy into `scratch` and returns the
/// compressed bytes, a prefix of `scratch`. Unlike [`snappy_encode`] the
/// scratch buffer keeps its length between calls, so a steady stream of
/// batches never zero-fills it again: the hot path of the client.
pub fn snappy_compress_into<'a>(
    input: &[u8],
    enc: &mut snap::raw::Encoder,
    scratch: &'a mut Vec<u8>,
) -> Result<&'a [u8], snap::Error> {
    let max = snap::raw::max_compress_len(input.len());
    if scratch.len() < max {
        scratch.resize(max, 0);
    }
    let n = enc.compress(input, scratch)?;
    Ok(&scratch[..n])
}

/// Compresses `input` as raw-block snappy into `out` (cleared first; its
/// capacity is reused), with the caller's reusable encoder.
pub fn snappy_encode(
    input: &[u8],
    enc: &mut snap::raw::Encoder,
    out: &mut Vec<u8>,
) -> Result<(), snap::Error> {
    out.clear();
    out.resize(snap::raw::max_compress_len(input.len()), 0);
    let n = enc.compress(input, out)?;
    out.truncate(n);
    Ok(())
}

#[cfg(test)]
mod tests;
