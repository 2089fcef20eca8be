//! Pre-encoded push bodies for the load generator and the codec floor.
//!
//! Bodies are built once, before any measurement, and then only cloned
//! (`Bytes`), so the load generator spends its CPU on HTTP, not on encoding.
//! This module must stay deterministic: the same shape gives the same bytes.

use bytes::Bytes;
use prost::Message;
use pushtail_proto::logproto::{EntryAdapter, LabelPairAdapter, PushRequest, StreamAdapter};

/// Wire format of the pushes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// protobuf + snappy to `/loki/api/v1/push`.
    Proto,
    /// JSON to `/loki/api/v1/push`.
    Json,
    /// newline-delimited lines to `/loki/api/v1/raw`.
    Raw,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Proto => "proto",
            Format::Json => "json",
            Format::Raw => "raw",
        }
    }

    /// Path on the agent's server for this format.
    pub fn path(self) -> &'static str {
        match self {
            Format::Proto | Format::Json => "/loki/api/v1/push",
            Format::Raw => "/loki/api/v1/raw",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Proto => "application/x-protobuf",
            Format::Json => "application/json",
            Format::Raw => "text/plain",
        }
    }
}

/// What every request looks like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Streams per request (raw pushes have no streams of their own).
    pub streams: usize,
    /// Lines per request, spread evenly over its streams.
    pub lines: usize,
    pub line_bytes: usize,
    /// Distinct label sets the requests' streams rotate through.
    pub distinct_streams: usize,
    /// Two structured metadata pairs on every entry.
    pub structured_metadata: bool,
}

/// Bodies built before a run: the wire bytes and the lines each carries.
pub struct Bodies {
    pub bodies: Vec<Bytes>,
    /// Lines in every body (all bodies carry the same number).
    pub lines_per_body: u64,
    /// Line bytes in every body.
    pub line_bytes_per_body: u64,
    /// Mean size of a body on the wire, and before snappy (same for JSON and raw).
    pub wire_bytes: u64,
    pub plain_bytes: u64,
}

/// A small deterministic generator (xorshift), so bodies are reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

const WORDS: &[&str] = &[
    "request", "served", "cache", "miss", "hit", "db", "query", "took", "ok", "retry", "upstream",
    "session", "checkout", "cart", "token", "refresh", "user", "order", "created", "updated",
];
const PATHS: &[&str] = &[
    "/api/v1/orders",
    "/api/v1/users",
    "/healthz",
    "/api/v2/cart",
    "/login",
];
const LEVELS: &[&str] = &["info", "info", "info", "debug", "warn", "error"];

/// One log line of exactly `len` bytes (ASCII), shaped like a logfmt access
/// log: fixed keys, a timestamp, small numbers, a random 16-hex trace id,
/// then a message of common words. It compresses about as well as real logs
/// do (roughly 2.5x with snappy), which matters: snappy's cost depends on
/// the content.
fn line(rng: &mut Rng, seq: u64, len: usize) -> String {
    let r = rng.next();
    let pick = |list: &[&'static str], x: u64| list[(x % list.len() as u64) as usize];
    let mut s = format!(
        "ts=2026-11-21T10:{:02}:{:02}.{:06}Z level={} caller=http.go:{} method=GET path={}/{} status=200 duration_ms={} trace_id={:016x} seq={seq} msg=\"",
        (r >> 8) % 60,
        (r >> 16) % 60,
        (r >> 24) % 1_000_000,
        pick(LEVELS, r >> 44),
        100 + (r >> 48) % 400,
        pick(PATHS, r >> 52),
        (r >> 32) % 100_000,
        (r >> 4) % 500,
        rng.next(),
    );
    while s.len() < len {
        s.push_str(pick(WORDS, rng.next()));
        s.push(' ');
    }
    s.truncate(len);
    s
}

/// Labels of distinct stream `i`, in canonical (sorted, `", "`) form.
pub fn stream_labels(i: usize) -> String {
    format!(
        "{{app=\"bench\", host=\"host-{}\", stream=\"s{i}\"}}",
        i % 16
    )
}

fn metadata(rng: &mut Rng, seq: u64) -> Vec<(String, String)> {
    vec![
        ("trace_id".to_owned(), format!("{:016x}", rng.next())),
        ("user".to_owned(), format!("u{}", seq % 1000)),
    ]
}

/// One entry: timestamp, line, structured metadata.
type RawEntry = (i64, String, Vec<(String, String)>);

/// One request's content, format-independent: (labels, entries) per stream.
struct Request {
    streams: Vec<(String, Vec<RawEntry>)>,
}

/// Number of distinct bodies to rotate: a handful, or enough to cover
/// every distinct label set.
pub fn body_count(shape: &Shape) -> usize {
    let per_request = shape.streams.max(1);
    shape.distinct_streams.div_ceil(per_request).clamp(4, 256)
}

fn requests(shape: &Shape, base_ns: i64) -> Vec<Request> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let streams = shape.streams.max(1);
    let distinct = shape.distinct_streams.max(1);
    let mut seq = 0u64;
    let mut next_stream = 0usize;
    (0..body_count(shape))
        .map(|_| {
            let mut req = Request {
                streams: Vec::with_capacity(streams),
            };
            for s in 0..streams {
                // Spread `lines` over the streams; the first ones take the remainder.
                let n = shape.lines / streams + usize::from(s < shape.lines % streams);
                let entries = (0..n)
                    .map(|_| {
                        seq += 1;
                        let sm = if shape.structured_metadata {
                            metadata(&mut rng, seq)
                        } else {
                            Vec::new()
                        };
                        let ts = base_ns + i64::try_from(seq).unwrap_or(i64::MAX);
                        (ts, line(&mut rng, seq, shape.line_bytes), sm)
                    })
                    .collect();
                req.streams
                    .push((stream_labels(next_stream % distinct), entries));
                next_stream += 1;
            }
            req
        })
        .collect()
}

fn timestamp(ns: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: ns.div_euclid(1_000_000_000),
        nanos: i32::try_from(ns.rem_euclid(1_000_000_000)).unwrap_or(0),
    }
}

/// The protobuf message of one request (uncompressed).
fn to_proto(req: &Request) -> PushRequest {
    PushRequest {
        streams: req
            .streams
            .iter()
            .map(|(labels, entries)| StreamAdapter {
                labels: labels.clone(),
                entries: entries
                    .iter()
                    .map(|(ts, line, sm)| EntryAdapter {
                        timestamp: Some(timestamp(*ts)),
                        line: line.clone(),
                        structured_metadata: sm
                            .iter()
                            .map(|(k, v)| LabelPairAdapter {
                                name: k.clone(),
                                value: v.clone(),
                            })
                            .collect(),
                        parsed: Vec::new(),
                    })
                    .collect(),
                hash: 0,
            })
            .collect(),
    }
}

/// Parses `{a="b", c="d"}` as generated by [`stream_labels`] (no escapes).
fn label_map(labels: &str) -> serde_json::Map<String, serde_json::Value> {
    labels
        .trim_matches(|c| c == '{' || c == '}')
        .split(", ")
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| {
            (
                k.to_owned(),
                serde_json::Value::String(v.trim_matches('"').to_owned()),
            )
        })
        .collect()
}

fn to_json(req: &Request) -> Vec<u8> {
    use serde_json::{json, Value};
    let streams: Vec<Value> = req
        .streams
        .iter()
        .map(|(labels, entries)| {
            let values: Vec<Value> = entries
                .iter()
                .map(|(ts, line, sm)| {
                    if sm.is_empty() {
                        json!([ts.to_string(), line])
                    } else {
                        let meta: serde_json::Map<String, Value> = sm
                            .iter()
                            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                            .collect();
                        json!([ts.to_string(), line, meta])
                    }
                })
                .collect();
            json!({"stream": label_map(labels), "values": values})
        })
        .collect();
    serde_json::to_vec(&json!({ "streams": streams })).unwrap_or_default()
}

fn to_raw(req: &Request) -> Vec<u8> {
    let mut out = Vec::new();
    for (_, entries) in &req.streams {
        for (_, line, _) in entries {
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
        }
    }
    out
}

/// Snappy (raw block format, as Loki uses) of `data`.
pub fn snappy(data: &[u8]) -> anyhow::Result<Vec<u8>> {
    Ok(snap::raw::Encoder::new().compress_vec(data)?)
}

/// Builds the bodies for `format`; timestamps start at `base_ns`.
pub fn build(format: Format, shape: &Shape, base_ns: i64) -> anyhow::Result<Bodies> {
    let reqs = requests(shape, base_ns);
    let lines_per_body = reqs
        .first()
        .map_or(0, |r| r.streams.iter().map(|(_, e)| e.len()).sum::<usize>());
    let mut plain_total = 0;
    let bodies = reqs
        .iter()
        .map(|r| {
            let plain = match format {
                Format::Proto => to_proto(r).encode_to_vec(),
                Format::Json => to_json(r),
                Format::Raw => to_raw(r),
            };
            plain_total += plain.len();
            Ok(Bytes::from(match format {
                Format::Proto => snappy(&plain)?,
                Format::Json | Format::Raw => plain,
            }))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let n = bodies.len().max(1);
    Ok(Bodies {
        wire_bytes: (bodies.iter().map(Bytes::len).sum::<usize>() / n) as u64,
        plain_bytes: (plain_total / n) as u64,
        bodies,
        lines_per_body: lines_per_body as u64,
        line_bytes_per_body: (lines_per_body * shape.line_bytes) as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(streams: usize, lines: usize, distinct: usize, sm: bool) -> Shape {
        Shape {
            streams,
            lines,
            line_bytes: 50,
            distinct_streams: distinct,
            structured_metadata: sm,
        }
    }

    #[test]
    fn proto_bodies_decode_to_the_shape() {
        // (streams, lines, distinct, metadata, expected bodies, expected distinct label sets)
        let cases = [
            (10, 1000, 10, false, 4, 10),
            (10, 1000, 1000, true, 100, 1000),
            (3, 10, 3, false, 4, 3),
            (1000, 1000, 1000, false, 4, 1000),
        ];
        for (streams, lines, distinct, sm, n_bodies, n_labels) in cases {
            let b = build(Format::Proto, &shape(streams, lines, distinct, sm), 1_000).unwrap();
            assert_eq!(b.bodies.len(), n_bodies, "{streams}/{lines}/{distinct}");
            assert_eq!(b.lines_per_body, lines as u64);
            let mut labels = std::collections::HashSet::new();
            for body in &b.bodies {
                let raw = snap::raw::Decoder::new().decompress_vec(body).unwrap();
                let req = PushRequest::decode(raw.as_slice()).unwrap();
                assert_eq!(req.streams.len(), streams);
                let entries: usize = req.streams.iter().map(|s| s.entries.len()).sum();
                assert_eq!(entries, lines);
                for s in &req.streams {
                    labels.insert(s.labels.clone());
                    for e in &s.entries {
                        assert_eq!(e.line.len(), 50);
                        assert_eq!(e.structured_metadata.len(), if sm { 2 } else { 0 });
                    }
                }
            }
            assert_eq!(labels.len(), n_labels, "{streams}/{lines}/{distinct}");
        }
    }

    #[test]
    fn json_bodies_carry_string_timestamps_and_label_maps() {
        let b = build(Format::Json, &shape(2, 4, 2, true), 7).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&b.bodies[0]).unwrap();
        let s0 = &v["streams"][0];
        assert_eq!(s0["stream"]["app"], "bench");
        assert_eq!(s0["stream"]["stream"], "s0");
        assert_eq!(s0["values"].as_array().unwrap().len(), 2);
        assert_eq!(s0["values"][0][0], "8");
        assert!(s0["values"][0][2]["trace_id"].is_string());
    }

    #[test]
    fn raw_bodies_are_one_line_per_entry() {
        let b = build(Format::Raw, &shape(2, 5, 2, false), 0).unwrap();
        let text = std::str::from_utf8(&b.bodies[0]).unwrap();
        assert_eq!(text.lines().count(), 5);
        assert!(text.lines().all(|l| l.len() == 50));
        assert_eq!(b.line_bytes_per_body, 250);
        assert_eq!((b.wire_bytes, b.plain_bytes), (255, 255));
    }

    #[test]
    fn bodies_are_deterministic() {
        let a = build(Format::Proto, &shape(2, 20, 2, true), 5).unwrap();
        let b = build(Format::Proto, &shape(2, 20, 2, true), 5).unwrap();
        assert_eq!(a.bodies, b.bodies);
    }
}
