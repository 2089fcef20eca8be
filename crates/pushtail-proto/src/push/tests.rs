use proptest::prelude::*;

use super::*;
use crate::encoding::{snappy_decode_limited, snappy_encode};
use crate::logproto;
use crate::test_support::streams;

/// Turns decoded streams back into model streams (labels parsed).
fn to_model(push: DecodedPush) -> Vec<Stream> {
    push.streams
        .into_iter()
        .map(|s| Stream {
            labels: s.labels.parse().unwrap(),
            entries: s.entries,
        })
        .collect()
}

fn to_logproto(streams: &[Stream]) -> logproto::PushRequest {
    logproto::PushRequest {
        streams: streams
            .iter()
            .map(|s| logproto::StreamAdapter {
                labels: s.labels.as_str().to_owned(),
                entries: s
                    .entries
                    .iter()
                    .map(|e| {
                        let (seconds, nanos) = split_ts(e.timestamp_ns);
                        logproto::EntryAdapter {
                            timestamp: Some(prost_types::Timestamp { seconds, nanos }),
                            line: String::from_utf8(e.line.to_vec()).unwrap(),
                            structured_metadata: e
                                .structured_metadata
                                .iter()
                                .map(|(name, value)| logproto::LabelPairAdapter {
                                    name: name.clone(),
                                    value: value.clone(),
                                })
                                .collect(),
                            parsed: Vec::new(),
                        }
                    })
                    .collect(),
                hash: 0,
            })
            .collect(),
    }
}

fn sample() -> Vec<Stream> {
    vec![
        Stream {
            labels: LabelSet::from_pairs([("app", "api"), ("env", "prod")]).unwrap(),
            entries: vec![
                Entry::new(1_700_000_000_123_456_789, "hello"),
                Entry {
                    timestamp_ns: 0,
                    line: Bytes::new(),
                    structured_metadata: vec![
                        ("trace_id".into(), "abc".into()),
                        ("b".into(), String::new()),
                    ],
                },
                Entry::new(-1_500_000_000, "before 1970"),
            ],
        },
        Stream {
            labels: LabelSet::empty(),
            entries: Vec::new(),
        },
    ]
}

#[test]
fn encoding_matches_generated_types_byte_for_byte() {
    let streams = sample();
    let mut ours = Vec::new();
    encode_push_proto(&streams, &mut ours);
    assert_eq!(ours, to_logproto(&streams).encode_to_vec());
}

#[test]
fn decodes_what_generated_types_encode() {
    let mut req = to_logproto(&sample());
    req.streams[0].hash = 42;
    req.streams[0].entries[0].parsed = vec![logproto::LabelPairAdapter {
        name: "ignored".into(),
        value: "x".into(),
    }];
    req.streams[0].entries[1].timestamp = None;
    let decoded = decode_push_proto(Bytes::from(req.encode_to_vec())).unwrap();
    let mut want = sample();
    want[0].entries[1].timestamp_ns = 0;
    assert_eq!(to_model(decoded), want);
}

#[test]
fn generated_types_decode_what_we_encode() {
    let mut buf = Vec::new();
    encode_push_proto(&sample(), &mut buf);
    let got = logproto::PushRequest::decode(&buf[..]).unwrap();
    assert_eq!(got, to_logproto(&sample()));
}

#[test]
fn lines_and_labels_are_slices_of_the_body() {
    let mut buf = Vec::new();
    encode_push_proto(&sample(), &mut buf);
    let body = Bytes::from(buf);
    let range = body.as_ptr_range();
    let decoded = decode_push_proto(body.clone()).unwrap();
    let s = &decoded.streams[0];
    let RawLabels::Selector(labels) = &s.labels else {
        panic!("protobuf labels are a selector")
    };
    assert!(range.contains(&labels.as_ptr()));
    assert!(range.contains(&s.entries[0].line.as_ptr()));
}

#[test]
fn invalid_utf8_lines_pass_through() {
    let req = logproto::PushRequest {
        streams: vec![logproto::StreamAdapter {
            labels: "{a=\"b\"}".into(),
            entries: vec![logproto::EntryAdapter {
                line: "XY".into(),
                ..Default::default()
            }],
            hash: 0,
        }],
    };
    let mut bytes = req.encode_to_vec();
    let at = bytes.iter().position(|&b| b == b'X').unwrap();
    bytes[at] = 0xff;
    let decoded = decode_push_proto(Bytes::from(bytes)).unwrap();
    assert_eq!(&decoded.streams[0].entries[0].line[..], b"\xffY");
}

#[test]
fn bad_protobuf_and_timestamps_are_errors() {
    let cases: &[&[u8]] = &[b"\x0a\x05ab", b"\x08\x01", b"\x0a\x02\x0a\x05", b"\x0a"];
    for body in cases {
        assert!(
            matches!(
                decode_push_proto(Bytes::from_static(body)),
                Err(DecodeError::Protobuf(_)
                    | DecodeError::Truncated { .. }
                    | DecodeError::StreamsWireType(_))
            ),
            "{body:?}"
        );
    }
    // Unknown top-level fields are skipped, as prost skips them.
    let skipped = decode_push_proto(Bytes::from_static(b"\x10\x07\x0a\x00")).unwrap();
    assert_eq!(skipped.streams.len(), 1);
    let req = logproto::PushRequest {
        streams: vec![logproto::StreamAdapter {
            entries: vec![logproto::EntryAdapter {
                timestamp: Some(prost_types::Timestamp {
                    seconds: i64::MAX,
                    nanos: 0,
                }),
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let err = decode_push_proto(Bytes::from(req.encode_to_vec())).unwrap_err();
    assert_eq!(err.to_string(), "stream 0: entry 0: timestamp out of range");
}

#[test]
fn empty_body_is_an_empty_push() {
    assert_eq!(
        decode_push_proto(Bytes::new()).unwrap(),
        DecodedPush::default()
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn proto_snappy_round_trips(streams in streams(i64::MAX)) {
        let mut proto = Vec::new();
        let mut compressed = Vec::new();
        encode_push_proto(&streams, &mut proto);
        prop_assert_eq!(&proto, &to_logproto(&streams).encode_to_vec());
        snappy_encode(&proto, &mut snap::raw::Encoder::new(), &mut compressed).unwrap();
        let body = snappy_decode_limited(&compressed, proto.len()).unwrap();
        prop_assert_eq!(to_model(decode_push_proto(body).unwrap()), streams);
    }

    #[test]
    fn random_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..128)) {
        let _ = decode_push_proto(Bytes::from(input));
    }

    #[test]
    fn mutated_requests_never_panic(
        streams in streams(i64::MAX),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut buf = Vec::new();
        encode_push_proto(&streams, &mut buf);
        if !buf.is_empty() {
            for (i, b) in flips {
                let at = i.index(buf.len());
                buf[at] = b;
            }
        }
        if let Ok(push) = decode_push_proto(Bytes::from(buf)) {
            for s in push.streams {
                let _ = s.labels.parse();
            }
        }
    }
}

/// Loki 3.6 accepts an empty label string as `{}`, as it accepts `{}`.
#[test]
fn empty_label_string_is_the_empty_set() {
    for raw in ["", "{}", " { } "] {
        let labels = RawLabels::Selector(Bytes::from(raw)).parse().unwrap();
        assert_eq!(labels, LabelSet::empty(), "{raw:?}");
    }
    assert_eq!(
        RawLabels::Pairs(LabelPairs::default()).parse().unwrap(),
        LabelSet::empty()
    );
    assert!(RawLabels::Selector(Bytes::from(" ")).parse().is_err());
}

#[test]
fn too_many_streams_is_an_error() {
    // The smallest stream: an empty StreamAdapter (two bytes).
    let body: Vec<u8> = b"\x0a\x00".repeat(MAX_STREAMS + 1);
    let err = decode_push_proto(Bytes::from(body)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "more than 1000000 streams in one push: split it"
    );
    let ok: Vec<u8> = b"\x0a\x00".repeat(3);
    assert_eq!(decode_push_proto(Bytes::from(ok)).unwrap().streams.len(), 3);
}

#[test]
fn label_pairs_pack_and_unpack() {
    let cases: &[&[(&str, &str)]] = &[
        &[],
        &[("a", "b")],
        &[("a", ""), ("", "v"), ("é", "x\u{FFFD}y"), ("n", "42")],
    ];
    for pairs in cases {
        let packed = LabelPairs::from_pairs(pairs.iter().copied());
        assert_eq!(packed.iter().collect::<Vec<_>>(), *pairs);
    }
    // Different pairs never pack to the same bytes.
    let a = LabelPairs::from_pairs([("ab", "c")]);
    let b = LabelPairs::from_pairs([("a", "bc")]);
    assert_ne!(a.as_bytes(), b.as_bytes());
}
