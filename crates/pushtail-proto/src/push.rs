//! A decoded push request, and the protobuf codec for it (Loki's
//! `PushRequest`, plain protobuf; snappy is in [`crate::encoding`]).
//!
//! Decoding is zero-copy: the body is a [`Bytes`] and every line and every
//! label string is a slice of it. Label strings are *not* parsed here: the
//! receiver parses each stream's labels itself (through a cache), so one bad
//! stream does not fail the whole request.
//!
//! Invalid UTF-8: lines are passed through as bytes, untouched. Loki's
//! gogo-protobuf decoder does not validate proto3 `string` fields either, so
//! a line Loki would accept is never refused here. Structured metadata names
//! and values are stored as Rust strings, so invalid UTF-8 in them is
//! replaced with U+FFFD. Label strings are validated by the label parser.
//! Ignored on decode, as Loki ignores them: `StreamAdapter.hash` and
//! `EntryAdapter.parsed`. A missing timestamp decodes as 0.
//!
//! Encoding writes protobuf straight from the model types into a reusable
//! buffer, without building intermediate message structs. Every entry carries
//! a timestamp field, as Loki's own encoder writes it.
//!
//! This module must never copy a line on decode, nor panic on any body.

use std::fmt;

use bytes::Bytes;
use prost::encoding::{encode_key, encode_varint, encoded_len_varint, WireType};
use prost::Message;

use crate::labels::LabelSet;
use crate::model::{Entry, Stream};
use crate::syntax::{parse_labels, LabelParseError};

/// A push request as decoded from the wire, labels still raw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DecodedPush {
    pub streams: Vec<DecodedStream>,
}

/// One stream of a [`DecodedPush`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodedStream {
    pub labels: RawLabels,
    pub entries: Vec<Entry>,
}

/// A stream's labels as they arrived, before validation.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RawLabels {
    /// Loki selector syntax, from protobuf: `{a="b"}`.
    Selector(Bytes),
    /// Name/value pairs from a JSON `stream` object, in received order,
    /// not validated.
    Pairs(LabelPairs),
}

/// Label pairs packed into one buffer as `name 0xFF value 0xFE` each
/// (bytes no UTF-8 text contains), so a JSON stream's labels are one
/// allocation rather than two per pair, and the packed bytes are the
/// receiver's cache key as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct LabelPairs(Box<[u8]>);

const NAME_END: u8 = 0xff;

/// One packed part as text (always valid: it was packed from a `&str`).
fn text(b: Option<&[u8]>) -> &str {
    std::str::from_utf8(b.unwrap_or_default()).unwrap_or_default()
}
const PAIR_END: u8 = 0xfe;

impl LabelPairs {
    /// Appends one pair to a buffer being packed (see [`LabelPairs::from_packed`]).
    pub fn pack(buf: &mut Vec<u8>, name: &str, value: &str) {
        buf.extend_from_slice(name.as_bytes());
        buf.push(NAME_END);
        buf.extend_from_slice(value.as_bytes());
        buf.push(PAIR_END);
    }

    /// The pairs of a buffer filled by [`LabelPairs::pack`].
    pub fn from_packed(buf: Vec<u8>) -> Self {
        LabelPairs(buf.into_boxed_slice())
    }

    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut buf = Vec::new();
        for (name, value) in pairs {
            Self::pack(&mut buf, name, value);
        }
        Self::from_packed(buf)
    }

    /// The packed bytes: distinct pairs give distinct bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The pairs in received order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.0
            .split(|&b| b == PAIR_END)
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let mut parts = pair.splitn(2, |&b| b == NAME_END);
                (text(parts.next()), text(parts.next()))
            })
    }
}

impl RawLabels {
    /// Parses into a canonical [`LabelSet`]: names validated, empty values
    /// dropped, sorted; a duplicate name is an error.
    pub fn parse(&self) -> Result<LabelSet, LabelParseError> {
        match self {
            // Loki 3.6 accepts an empty label string as the empty set, as
            // it accepts `{}`.
            RawLabels::Selector(s) if s.is_empty() => Ok(LabelSet::empty()),
            RawLabels::Selector(s) => parse_labels(s),
            RawLabels::Pairs(p) => Ok(LabelSet::from_pairs(p.iter())?),
        }
    }
}

/// Where in a JSON request decoding stopped: displays as `stream 2: entry 0: `
/// (or less, or nothing).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Location {
    pub stream: Option<usize>,
    pub entry: Option<usize>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(s) = self.stream {
            write!(f, "stream {s}: ")?;
        }
        if let Some(e) = self.entry {
            write!(f, "entry {e}: ")?;
        }
        Ok(())
    }
}

/// Why a push body could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("empty body")]
    EmptyBody,
    #[error("{at}invalid json: {source}")]
    Json {
        at: Location,
        source: serde_json::Error,
    },
    #[error(
        "stream {stream}: entry {entry}: invalid timestamp {value}: expected a decimal string of nanoseconds"
    )]
    InvalidTimestamp {
        stream: usize,
        entry: usize,
        value: String,
    },
    #[error("stream {stream}: entry {entry}: expected [timestamp, line, structured metadata?], found {found} elements")]
    ShortEntry {
        stream: usize,
        entry: usize,
        found: usize,
    },
    #[error("stream {stream}: label {name:?}: value must be a string or a number, found {found}")]
    InvalidLabelValue {
        stream: usize,
        name: String,
        found: String,
    },
    #[error("stream {stream}: entry {entry}: structured metadata {name:?}: value must be a string, found {found}")]
    InvalidMetadataValue {
        stream: usize,
        entry: usize,
        name: String,
        found: String,
    },
    #[error("invalid protobuf: {0}")]
    Protobuf(#[from] prost::DecodeError),
    #[error("more than {max} streams in one push: split it")]
    TooManyStreams { max: usize },
    #[error("{at}duplicate key {key:?}: a push must not repeat it")]
    DuplicateKey { at: Location, key: &'static str },
    #[error("stream {stream}: entry {entry}: invalid timestamp {value:?}: expected RFC3339")]
    InvalidLegacyTimestamp {
        stream: usize,
        entry: usize,
        value: String,
    },
    #[error("invalid protobuf: a stream of {len} bytes runs past the end of the body")]
    Truncated { len: usize },
    #[error("invalid protobuf: streams (field 1) has wire type {0:?}, expected length-delimited")]
    StreamsWireType(WireType),
    #[error("stream {stream}: entry {entry}: timestamp out of range")]
    TimestampOutOfRange { stream: usize, entry: usize },
}

// Wire mirrors of `logproto` with zero-copy byte fields. Field numbers must
// match proto/push.proto; `wire_compat` tests pin that. The top-level
// `PushRequest` is walked by hand (see [`decode_push_proto`]), so only one
// stream's wire form is alive at a time.

#[derive(Clone, PartialEq, Message)]
struct StreamWire {
    #[prost(bytes = "bytes", tag = "1")]
    labels: Bytes,
    #[prost(message, repeated, tag = "2")]
    entries: Vec<EntryWire>,
}

#[derive(Clone, PartialEq, Message)]
struct EntryWire {
    #[prost(message, optional, tag = "1")]
    timestamp: Option<prost_types::Timestamp>,
    #[prost(bytes = "bytes", tag = "2")]
    line: Bytes,
    #[prost(message, repeated, tag = "3")]
    structured_metadata: Vec<PairWire>,
}

#[derive(Clone, PartialEq, Message)]
struct PairWire {
    #[prost(bytes = "bytes", tag = "1")]
    name: Bytes,
    #[prost(bytes = "bytes", tag = "2")]
    value: Bytes,
}

const NANOS_PER_SEC: i64 = 1_000_000_000;

/// `PushRequest.streams`.
const STREAMS_TAG: u32 = 1;

/// Most streams one push may carry (Loki has no such limit, but its
/// per-tenant stream limits refuse far fewer). A stream costs a few hundred
/// bytes in memory but can be ten bytes on the wire, so without a cap a
/// 100 MiB body could ask for gigabytes; with it, a push's streams cost at
/// most a few hundred megabytes whatever its shape.
pub const MAX_STREAMS: usize = 1_000_000;

/// Decodes a plain-protobuf `PushRequest` (already snappy-decoded). Lines and
/// label strings are slices of `body`.
///
/// Memory: the request's streams are counted first (a walk over the
/// top-level keys), then decoded one at a time straight into their final
/// form, so a push of many small streams costs one [`DecodedStream`] and
/// its entries per stream, with no intermediate copy of the whole request.
pub fn decode_push_proto(body: Bytes) -> Result<DecodedPush, DecodeError> {
    let count = stream_slices(&body).try_fold(0usize, |n, s| s.map(|_| n + 1))?;
    if count > MAX_STREAMS {
        return Err(DecodeError::TooManyStreams { max: MAX_STREAMS });
    }
    let mut streams = Vec::with_capacity(count);
    for (si, slice) in stream_slices(&body).enumerate() {
        let s = StreamWire::decode(slice?)?;
        let mut entries = Vec::with_capacity(s.entries.len());
        for (ei, e) in s.entries.into_iter().enumerate() {
            let timestamp_ns = match e.timestamp {
                None => 0,
                Some(t) => t
                    .seconds
                    .checked_mul(NANOS_PER_SEC)
                    .and_then(|ns| ns.checked_add(i64::from(t.nanos)))
                    .ok_or(DecodeError::TimestampOutOfRange {
                        stream: si,
                        entry: ei,
                    })?,
            };
            entries.push(Entry {
                timestamp_ns,
                line: e.line,
                structured_metadata: e
                    .structured_metadata
                    .iter()
                    .map(|p| (lossy(&p.name), lossy(&p.value)))
                    .collect(),
            });
        }
        streams.push(DecodedStream {
            labels: RawLabels::Selector(s.labels),
            entries,
        });
    }
    Ok(DecodedPush { streams })
}

/// The encoded `StreamAdapter` messages of a `PushRequest`, as slices of
/// `body`, in order; other fields are skipped as prost skips them.
fn stream_slices(body: &Bytes) -> impl Iterator<Item = Result<Bytes, DecodeError>> + '_ {
    use prost::bytes::Buf;
    use prost::encoding::{decode_key, decode_varint, skip_field, DecodeContext};
    let mut buf: &[u8] = body;
    let mut failed = false;
    std::iter::from_fn(move || loop {
        if failed || !buf.has_remaining() {
            return None;
        }
        let step = (|| {
            let (tag, wire_type) = decode_key(&mut buf)?;
            if tag == STREAMS_TAG && wire_type != WireType::LengthDelimited {
                return Err(DecodeError::StreamsWireType(wire_type));
            }
            if tag != STREAMS_TAG {
                skip_field(wire_type, tag, &mut buf, DecodeContext::default())?;
                return Ok(None);
            }
            let len = usize::try_from(decode_varint(&mut buf)?).unwrap_or(usize::MAX);
            if len > buf.len() {
                return Err(DecodeError::Truncated { len });
            }
            let start = body.len() - buf.len();
            buf.advance(len);
            Ok(Some(body.slice(start..start + len)))
        })();
        match step {
            Ok(None) => continue,
            Ok(Some(slice)) => return Some(Ok(slice)),
            Err(e) => {
                failed = true;
                return Some(Err(e));
            }
        }
    })
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Encodes `streams` as a plain-protobuf `PushRequest` into `out` (cleared
/// first; its capacity is reused).
pub fn encode_push_proto(streams: &[Stream], out: &mut Vec<u8>) {
    out.clear();
    let total: usize = streams.iter().map(|s| delimited_len(stream_len(s))).sum();
    out.reserve(total);
    for s in streams {
        encode_key(1, WireType::LengthDelimited, out);
        encode_varint(stream_len(s) as u64, out);
        put_bytes(1, s.labels.as_str().as_bytes(), out);
        for e in &s.entries {
            encode_key(2, WireType::LengthDelimited, out);
            encode_varint(entry_len(e) as u64, out);
            put_entry(e, out);
        }
    }
}

/// Key (one byte: every tag here is below 16) + length + payload.
fn delimited_len(len: usize) -> usize {
    1 + encoded_len_varint(len as u64) + len
}

fn bytes_len(b: &[u8]) -> usize {
    if b.is_empty() {
        0
    } else {
        delimited_len(b.len())
    }
}

fn put_bytes(tag: u32, b: &[u8], out: &mut Vec<u8>) {
    if !b.is_empty() {
        encode_key(tag, WireType::LengthDelimited, out);
        encode_varint(b.len() as u64, out);
        out.extend_from_slice(b);
    }
}

fn stream_len(s: &Stream) -> usize {
    bytes_len(s.labels.as_str().as_bytes())
        + s.entries
            .iter()
            .map(|e| delimited_len(entry_len(e)))
            .sum::<usize>()
}

fn split_ts(ns: i64) -> (i64, i32) {
    let nanos = ns.rem_euclid(NANOS_PER_SEC);
    (
        ns.div_euclid(NANOS_PER_SEC),
        i32::try_from(nanos).unwrap_or(0),
    )
}

fn varint_field_len(v: u64) -> usize {
    if v == 0 {
        0
    } else {
        1 + encoded_len_varint(v)
    }
}

fn ts_len(ns: i64) -> usize {
    let (secs, nanos) = split_ts(ns);
    // int64/int32 fields are varints of the two's-complement u64.
    varint_field_len(secs as u64) + varint_field_len(i64::from(nanos) as u64)
}

fn pair_len(k: &str, v: &str) -> usize {
    bytes_len(k.as_bytes()) + bytes_len(v.as_bytes())
}

fn entry_len(e: &Entry) -> usize {
    delimited_len(ts_len(e.timestamp_ns))
        + bytes_len(&e.line)
        + e.structured_metadata
            .iter()
            .map(|(k, v)| delimited_len(pair_len(k, v)))
            .sum::<usize>()
}

fn put_entry(e: &Entry, out: &mut Vec<u8>) {
    let (secs, nanos) = split_ts(e.timestamp_ns);
    encode_key(1, WireType::LengthDelimited, out);
    encode_varint(ts_len(e.timestamp_ns) as u64, out);
    if secs != 0 {
        encode_key(1, WireType::Varint, out);
        encode_varint(secs as u64, out);
    }
    if nanos != 0 {
        encode_key(2, WireType::Varint, out);
        encode_varint(i64::from(nanos) as u64, out);
    }
    put_bytes(2, &e.line, out);
    for (k, v) in &e.structured_metadata {
        encode_key(3, WireType::LengthDelimited, out);
        encode_varint(pair_len(k, v) as u64, out);
        put_bytes(1, k.as_bytes(), out);
        put_bytes(2, v.as_bytes(), out);
    }
}

#[cfg(test)]
mod tests;
