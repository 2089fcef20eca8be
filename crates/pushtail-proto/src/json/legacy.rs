//! The legacy JSON push of `/api/prom/push`, as Loki still serves it:
//! `{"streams":[{"labels":"{a=\"b\"}","entries":[{"ts":"<RFC3339>","line":"..."}]}]}`.
//!
//! Labels are a selector string (parsed per stream by the receiver, like a
//! protobuf stream's), timestamps RFC3339 with optional fraction (Go's
//! `time.Time`), structured metadata an optional `structuredMetadata` list of
//! `{"name","value"}` objects. Unknown keys are ignored, a repeated key is an error, and
//! text that is not valid UTF-8 is replaced as Go replaces it. Each line is
//! its own allocation: this path is for old clients, not for volume.

use bytes::Bytes;
use serde::Deserialize;

use super::go_utf8;
use crate::model::Entry;
use crate::push::{DecodeError, DecodedPush, DecodedStream, Location, RawLabels, MAX_STREAMS};

#[derive(Deserialize)]
struct LegacyPush {
    #[serde(default)]
    streams: Option<Vec<Option<LegacyStream>>>,
}

#[derive(Deserialize)]
struct LegacyStream {
    #[serde(default)]
    labels: Option<String>,
    #[serde(default)]
    entries: Option<Vec<Option<LegacyEntry>>>,
}

#[derive(Deserialize)]
struct LegacyEntry {
    ts: String,
    #[serde(default)]
    line: Option<String>,
    #[serde(default, rename = "structuredMetadata")]
    structured_metadata: Option<Vec<LegacyPair>>,
}

/// `logproto.LabelPairAdapter` as Go's JSON encoder writes it.
#[derive(Deserialize)]
struct LegacyPair {
    #[serde(default)]
    name: String,
    #[serde(default)]
    value: String,
}

/// Decodes a legacy JSON push body.
pub fn decode_push_json_legacy(body: &[u8]) -> Result<DecodedPush, DecodeError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(DecodeError::EmptyBody);
    }
    let parsed = match serde_json::from_slice::<LegacyPush>(body) {
        Ok(p) => p,
        Err(err) => match go_utf8::coerce(body) {
            Some(coerced) => serde_json::from_slice(&coerced),
            None => Err(err),
        }
        .map_err(|source| DecodeError::Json {
            at: Location::default(),
            source,
        })?,
    };
    let all = parsed.streams.unwrap_or_default();
    if all.len() > MAX_STREAMS {
        return Err(DecodeError::TooManyStreams { max: MAX_STREAMS });
    }
    let mut streams = Vec::with_capacity(all.len());
    for (si, stream) in all.into_iter().enumerate() {
        let stream = stream.unwrap_or(LegacyStream {
            labels: None,
            entries: None,
        });
        let mut entries = Vec::new();
        for (ei, entry) in stream.entries.unwrap_or_default().into_iter().enumerate() {
            let Some(entry) = entry else { continue };
            let timestamp_ns = chrono::DateTime::parse_from_rfc3339(&entry.ts)
                .ok()
                .and_then(|t| t.timestamp_nanos_opt())
                .ok_or_else(|| DecodeError::InvalidLegacyTimestamp {
                    stream: si,
                    entry: ei,
                    value: entry.ts.chars().take(64).collect(),
                })?;
            entries.push(Entry {
                timestamp_ns,
                line: Bytes::from(entry.line.unwrap_or_default()),
                structured_metadata: entry
                    .structured_metadata
                    .unwrap_or_default()
                    .into_iter()
                    .map(|p| (p.name, p.value))
                    .collect(),
            });
        }
        streams.push(DecodedStream {
            labels: RawLabels::Selector(Bytes::from(stream.labels.unwrap_or_default())),
            entries,
        });
    }
    Ok(DecodedPush { streams })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_structured_metadata() {
        let body = br#"{"streams":[{"labels":"{a=\"b\"}","entries":[{"ts":"1970-01-01T00:00:00Z","line":"x","structuredMetadata":[{"name":"trace_id","value":"t1"}]}]}]}"#;
        let push = decode_push_json_legacy(body).unwrap();
        assert_eq!(
            push.streams[0].entries[0].structured_metadata,
            [("trace_id".to_owned(), "t1".to_owned())]
        );
    }

    #[test]
    fn legacy_bodies() {
        /// (body, [(label string, [(timestamp, line)])]).
        type Case<'a> = (&'a str, &'a [(&'a str, &'a [(i64, &'a str)])]);
        let ok: &[Case] = &[
            (
                r#"{"streams":[{"labels":"{a=\"b\"}","entries":[{"ts":"2023-11-14T22:13:20.000000005Z","line":"hi"},{"ts":"1970-01-01T00:00:01+01:00","line":"x"}]}]}"#,
                &[(
                    r#"{a="b"}"#,
                    &[(1_700_000_000_000_000_005, "hi"), (-3_599_000_000_000, "x")],
                )],
            ),
            (r#"{"streams":null,"other":1}"#, &[]),
            (r#"{}"#, &[]),
            (
                r#"{"streams":[{"labels":"","entries":null},null]}"#,
                &[("", &[]), ("", &[])],
            ),
            (
                "{\"streams\":[{\"labels\":\"{}\",\"entries\":[{\"ts\":\"1970-01-01T00:00:00Z\",\"line\":\"a\\ud800\u{7f}\"}]}]}",
                &[("{}", &[(0, "a\u{FFFD}\u{7f}")])],
            ),
        ];
        for (body, want) in ok {
            let got = decode_push_json_legacy(body.as_bytes()).unwrap();
            let got: Vec<(String, Vec<(i64, String)>)> = got
                .streams
                .into_iter()
                .map(|s| {
                    let RawLabels::Selector(l) = s.labels else {
                        panic!("legacy labels are a selector")
                    };
                    (
                        String::from_utf8(l.to_vec()).unwrap(),
                        s.entries
                            .into_iter()
                            .map(|e| (e.timestamp_ns, String::from_utf8(e.line.to_vec()).unwrap()))
                            .collect(),
                    )
                })
                .collect();
            let want: Vec<(String, Vec<(i64, String)>)> = want
                .iter()
                .map(|(l, es)| {
                    (
                        l.to_string(),
                        es.iter().map(|(t, x)| (*t, x.to_string())).collect(),
                    )
                })
                .collect();
            assert_eq!(got, want, "{body}");
        }
        let bad: &[(&[u8], &str)] = &[
            (b"", "empty body"),
            (
                br#"{"streams":[{"labels":"{}","entries":[{"ts":"1700000000","line":"x"}]}]}"#,
                "stream 0: entry 0: invalid timestamp \"1700000000\": expected RFC3339",
            ),
            (
                br#"{"streams":[],"streams":[]}"#,
                "invalid json: duplicate field `streams` at line 1 column 23",
            ),
            (
                br#"{"streams":[{"entries":[{"line":"x"}]}]}"#,
                "invalid json: missing field `ts`",
            ),
        ];
        for (body, want) in bad {
            let got = decode_push_json_legacy(body).unwrap_err().to_string();
            assert!(
                got.starts_with(want),
                "{got:?} does not start with {want:?}"
            );
        }
    }
}
