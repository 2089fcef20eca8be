//! The JSON push codec:
//! `{"streams":[{"stream":{"a":"b"},"values":[["<ns>","<line>",{"k":"v"}]]}]}`.
//!
//! Decoding follows Loki's own JSON decoder: timestamps are decimal strings
//! of nanoseconds; label values may be strings or numbers (taken as their
//! JSON text); the optional third element of an entry is structured metadata,
//! an object of string values kept in order; further elements are ignored;
//! `null` values arrays and `null` entries are skipped; a missing or `null`
//! `streams` is an empty push, and a `null` stream an empty stream (so
//! stream indices stay those of the request). Unknown keys are ignored. Labels are not
//! validated here ([`RawLabels::parse`] does that per stream), and errors
//! name the stream and entry index where decoding stopped.
//!
//! Lines are copied once, into one buffer per request that every entry's
//! line is a slice of. Decoding must never panic, whatever the body.
//!
//! The encoder, [`encode_push_json`], lives in the private `encode` module.

use std::cell::{Cell, RefCell};
use std::fmt;

use bytes::Bytes;
use serde::de::{
    self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Unexpected, Visitor,
};
use serde_json::value::RawValue;

use crate::model::Entry;
use crate::push::{
    DecodeError, DecodedPush, DecodedStream, LabelPairs, Location, RawLabels, MAX_STREAMS,
};

/// Decodes a JSON push body.
///
/// Text that is not valid UTF-8 (invalid bytes, lone surrogate escapes) is
/// replaced with U+FFFD as Go's decoder replaces it, so Loki and pushtail
/// accept the same bodies: the body is decoded as it is first, and only if
/// that fails is it rewritten and decoded again (valid bodies pay nothing).
pub fn decode_push_json(body: &[u8]) -> Result<DecodedPush, DecodeError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(DecodeError::EmptyBody);
    }
    match decode_valid(body) {
        Ok(push) => Ok(push),
        Err(err) => match go_utf8::coerce(body) {
            Some(coerced) => decode_valid(&coerced),
            None => Err(err),
        },
    }
}

fn decode_valid(body: &[u8]) -> Result<DecodedPush, DecodeError> {
    let ctx = Ctx::default();
    // Every line goes into one buffer (at most the body's size), frozen and
    // sliced at the end: one allocation per request, not one per line.
    ctx.lines.borrow_mut().reserve(body.len());
    let mut de = serde_json::Deserializer::from_slice(body);
    let res = PushSeed(&ctx)
        .deserialize(&mut de)
        .and_then(|p| de.end().map(|()| p));
    let mut push = res.map_err(|source| {
        ctx.err.take().unwrap_or(DecodeError::Json {
            at: Location {
                stream: ctx.stream.get(),
                entry: ctx.entry.get(),
            },
            source,
        })
    })?;
    let mut lines = ctx.lines.take();
    // The buffer was reserved for the whole body; lines are usually a
    // fraction of it, and the buffer lives as long as any of its entries
    // (queued batches included), so give the rest back.
    if lines.capacity() > 2 * lines.len() {
        lines.shrink_to_fit();
    }
    let lines = Bytes::from(lines);
    let ranges = ctx.line_ranges.take();
    let entries = push.streams.iter_mut().flat_map(|s| &mut s.entries);
    for (entry, (start, end)) in entries.zip(ranges) {
        entry.line = lines.slice(start..end);
    }
    Ok(push)
}

/// Decoding state shared by the visitors: where we are, and a structured
/// error that a visitor raised (serde errors can only carry text).
#[derive(Default)]
struct Ctx {
    stream: Cell<Option<usize>>,
    entry: Cell<Option<usize>>,
    err: RefCell<Option<DecodeError>>,
    /// The bytes of every line decoded so far.
    lines: RefCell<Vec<u8>>,
    /// Where each entry's line is in `lines`, in entry order.
    line_ranges: RefCell<Vec<(usize, usize)>>,
}

impl Ctx {
    fn fail<E: de::Error>(&self, err: DecodeError) -> E {
        let msg = err.to_string();
        *self.err.borrow_mut() = Some(err);
        E::custom(msg)
    }

    fn stream(&self) -> usize {
        self.stream.get().unwrap_or_default()
    }

    fn entry(&self) -> usize {
        self.entry.get().unwrap_or_default()
    }
}

enum Key {
    Streams,
    Stream,
    Values,
    Other,
}

impl<'de> de::Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(match v {
                    "streams" => Key::Streams,
                    "stream" => Key::Stream,
                    "values" => Key::Values,
                    _ => Key::Other,
                })
            }
        }
        d.deserialize_identifier(V)
    }
}

struct PushSeed<'c>(&'c Ctx);

impl<'de> DeserializeSeed<'de> for PushSeed<'_> {
    type Value = DecodedPush;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<DecodedPush, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for PushSeed<'_> {
    type Value = DecodedPush;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a push request object {\"streams\": [...]}")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<DecodedPush, A::Error> {
        let mut push = DecodedPush::default();
        let mut seen = false;
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Streams => {
                    if std::mem::replace(&mut seen, true) {
                        return Err(self.0.fail(DecodeError::DuplicateKey {
                            at: Location::default(),
                            key: "streams",
                        }));
                    }
                    push.streams = map.next_value_seed(StreamsSeed(self.0))?
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        self.0.stream.set(None);
        self.0.entry.set(None);
        Ok(push)
    }
}

struct StreamsSeed<'c>(&'c Ctx);

impl<'de> DeserializeSeed<'de> for StreamsSeed<'_> {
    type Value = Vec<DecodedStream>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for StreamsSeed<'_> {
    type Value = Vec<DecodedStream>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of streams")
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        loop {
            if out.len() == MAX_STREAMS {
                return Err(self
                    .0
                    .fail(DecodeError::TooManyStreams { max: MAX_STREAMS }));
            }
            self.0.stream.set(Some(out.len()));
            self.0.entry.set(None);
            // A `null` stream stays in place as an empty one, so indices in
            // error messages match the request.
            match seq.next_element_seed(OptionSeed(StreamSeed(self.0)))? {
                None => break,
                Some(s) => out.push(s.unwrap_or(DecodedStream {
                    labels: RawLabels::Pairs(LabelPairs::default()),
                    entries: Vec::new(),
                })),
            }
        }
        Ok(out)
    }
}

/// `null` → `None`, anything else → the inner seed.
struct OptionSeed<S>(S);

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for OptionSeed<S> {
    type Value = Option<S::Value>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de, S: DeserializeSeed<'de>> Visitor<'de> for OptionSeed<S> {
    type Value = Option<S::Value>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a value or null")
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.0.deserialize(d).map(Some)
    }
}

struct StreamSeed<'c>(&'c Ctx);

impl<'de> DeserializeSeed<'de> for StreamSeed<'_> {
    type Value = DecodedStream;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<DecodedStream, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for StreamSeed<'_> {
    type Value = DecodedStream;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a stream object {\"stream\": {...}, \"values\": [...]}")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<DecodedStream, A::Error> {
        let mut labels = Vec::new();
        let mut entries = Vec::new();
        let (mut seen_stream, mut seen_values) = (false, false);
        let duplicate = |key| {
            self.0.fail(DecodeError::DuplicateKey {
                at: Location {
                    stream: Some(self.0.stream()),
                    entry: None,
                },
                key,
            })
        };
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Stream if std::mem::replace(&mut seen_stream, true) => {
                    return Err(duplicate("stream"))
                }
                Key::Values if std::mem::replace(&mut seen_values, true) => {
                    return Err(duplicate("values"))
                }
                Key::Stream => {
                    labels = map
                        .next_value_seed(OptionSeed(LabelsSeed(self.0)))?
                        .unwrap_or_default()
                }
                Key::Values => entries = map.next_value_seed(ValuesSeed(self.0))?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(DecodedStream {
            labels: RawLabels::Pairs(LabelPairs::from_packed(labels)),
            entries,
        })
    }
}

/// A stream's labels, packed as [`LabelPairs`] expects.
struct LabelsSeed<'c>(&'c Ctx);

impl<'de> DeserializeSeed<'de> for LabelsSeed<'_> {
    type Value = Vec<u8>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for LabelsSeed<'_> {
    type Value = Vec<u8>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a label object {\"name\": \"value\"}")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(name) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let raw: &'de RawValue = map.next_value()?;
            let text = raw.get();
            let value: std::borrow::Cow<'_, str> = match text.as_bytes().first() {
                Some(b'"') => match text.get(1..text.len() - 1) {
                    Some(inner) if !inner.contains('\\') => inner.into(),
                    _ => serde_json::from_str::<String>(text)
                        .map_err(de::Error::custom)?
                        .into(),
                },
                Some(b'-' | b'0'..=b'9') => text.into(),
                _ => {
                    let stream = self.0.stream();
                    return Err(self.0.fail(DecodeError::InvalidLabelValue {
                        stream,
                        name: clip(&name),
                        found: clip(text),
                    }));
                }
            };
            LabelPairs::pack(&mut out, &name, &value);
        }
        out.shrink_to_fit();
        Ok(out)
    }
}

struct ValuesSeed<'c>(&'c Ctx);

impl<'de> DeserializeSeed<'de> for ValuesSeed<'_> {
    type Value = Vec<Entry>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<Entry>, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for ValuesSeed<'_> {
    type Value = Vec<Entry>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of entries")
    }
    fn visit_none<E: de::Error>(self) -> Result<Vec<Entry>, E> {
        Ok(Vec::new())
    }
    fn visit_unit<E: de::Error>(self) -> Result<Vec<Entry>, E> {
        Ok(Vec::new())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Vec<Entry>, D::Error> {
        d.deserialize_seq(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Entry>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        for i in 0.. {
            self.0.entry.set(Some(i));
            match seq.next_element_seed(OptionSeed(EntrySeed(self.0)))? {
                None => break,
                Some(None) => {}
                Some(Some(e)) => out.push(e),
            }
        }
        self.0.entry.set(None);
        Ok(out)
    }
}

struct EntrySeed<'c>(&'c Ctx);

impl<'de> DeserializeSeed<'de> for EntrySeed<'_> {
    type Value = Entry;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Entry, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for EntrySeed<'_> {
    type Value = Entry;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an entry array [timestamp, line, structured metadata?]")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Entry, A::Error> {
        let short = |found| {
            self.0.fail(DecodeError::ShortEntry {
                stream: self.0.stream(),
                entry: self.0.entry(),
                found,
            })
        };
        let Some(timestamp_ns) = seq.next_element_seed(TimestampSeed(self.0))? else {
            return Err(short(0));
        };
        let Some(()) = seq.next_element_seed(LineSeed(self.0))? else {
            return Err(short(1));
        };
        let structured_metadata = seq
            .next_element_seed(OptionSeed(MetadataSeed(self.0)))?
            .flatten()
            .unwrap_or_default();
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Entry {
            timestamp_ns,
            line: Bytes::new(),
            structured_metadata,
        })
    }
}

struct TimestampSeed<'c>(&'c Ctx);

impl<'de> DeserializeSeed<'de> for TimestampSeed<'_> {
    type Value = i64;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<i64, D::Error> {
        d.deserialize_any(self)
    }
}

impl TimestampSeed<'_> {
    fn bad<E: de::Error>(&self, value: String) -> E {
        self.0.fail(DecodeError::InvalidTimestamp {
            stream: self.0.stream(),
            entry: self.0.entry(),
            value,
        })
    }
}

impl Visitor<'_> for TimestampSeed<'_> {
    type Value = i64;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a decimal string of nanoseconds")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<i64, E> {
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(self.bad(format!("{:?}", clip(v))));
        }
        v.parse().map_err(|_| self.bad(format!("{:?}", clip(v))))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
        Err(self.bad(v.to_string()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
        Err(self.bad(v.to_string()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
        Err(self.bad(v.to_string()))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<i64, E> {
        Err(self.bad(v.to_string()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<i64, E> {
        Err(self.bad("null".to_owned()))
    }
}

/// Appends a line to the shared buffer; the entry gets its slice once the
/// whole body is decoded.
struct LineSeed<'c>(&'c Ctx);

impl<'de> DeserializeSeed<'de> for LineSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for LineSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a line string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        let mut lines = self.0.lines.borrow_mut();
        let start = lines.len();
        lines.extend_from_slice(v.as_bytes());
        self.0.line_ranges.borrow_mut().push((start, lines.len()));
        Ok(())
    }
}

struct MetadataSeed<'c>(&'c Ctx);

impl<'de> DeserializeSeed<'de> for MetadataSeed<'_> {
    type Value = Vec<(String, String)>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for MetadataSeed<'_> {
    type Value = Vec<(String, String)>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a structured metadata object {\"name\": \"value\"}")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(name) = map.next_key::<String>()? {
            let value = map.next_value_seed(MetadataValueSeed {
                ctx: self.0,
                name: &name,
            })?;
            out.push((name, value));
        }
        Ok(out)
    }
}

struct MetadataValueSeed<'a> {
    ctx: &'a Ctx,
    name: &'a str,
}

impl<'de> DeserializeSeed<'de> for MetadataValueSeed<'_> {
    type Value = String;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for MetadataValueSeed<'_> {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Err(self.bad(Unexpected::Unsigned(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Err(self.bad(Unexpected::Signed(v)))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Err(self.bad(Unexpected::Float(v)))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        Err(self.bad(Unexpected::Bool(v)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<String, E> {
        Err(self.bad(Unexpected::Unit))
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<String, A::Error> {
        Err(self.bad(Unexpected::Map))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<String, A::Error> {
        Err(self.bad(Unexpected::Seq))
    }
}

impl MetadataValueSeed<'_> {
    fn bad<E: de::Error>(&self, found: Unexpected) -> E {
        self.ctx.fail(DecodeError::InvalidMetadataValue {
            stream: self.ctx.stream(),
            entry: self.ctx.entry(),
            name: clip(self.name),
            found: found.to_string(),
        })
    }
}

/// Text quoted back in an error, cut to a readable length.
fn clip(s: &str) -> String {
    const MAX: usize = 64;
    match s.char_indices().nth(MAX) {
        None => s.to_owned(),
        Some((at, _)) => format!("{}...", &s[..at]),
    }
}

mod encode;
mod go_utf8;
mod legacy;
pub use encode::encode_push_json;
pub use legacy::decode_push_json_legacy;

#[cfg(test)]
mod tests;
