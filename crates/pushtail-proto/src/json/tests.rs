use proptest::prelude::*;

use super::*;
use crate::labels::LabelSet;
use crate::model::Stream;
use crate::test_support::streams;

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn entry(ts: i64, line: &str, sm: &[(&str, &str)]) -> Entry {
    Entry {
        timestamp_ns: ts,
        line: Bytes::copy_from_slice(line.as_bytes()),
        structured_metadata: pairs(sm),
    }
}

fn one(labels: &[(&str, &str)], entries: Vec<Entry>) -> DecodedPush {
    DecodedPush {
        streams: vec![DecodedStream {
            labels: RawLabels::Pairs(LabelPairs::from_pairs(labels.iter().copied())),
            entries,
        }],
    }
}

#[test]
fn accepted() {
    for (body, want) in [
        (
            r#"{"streams":[{"stream":{"app":"api"},"values":[["1700000000000000000","hello"]]}]}"#,
            one(
                &[("app", "api")],
                vec![entry(1_700_000_000_000_000_000, "hello", &[])],
            ),
        ),
        (
            r#"{"streams":[{"stream":{"a":"b"},"values":[["5","l",{"a":"1","b":"2"}]]}]}"#,
            one(
                &[("a", "b")],
                vec![entry(5, "l", &[("a", "1"), ("b", "2")])],
            ),
        ),
        (
            r#"{"streams":[{"stream":{"a":"b"},"values":[["5","l",{"b":"2","a":"1"}]]}]}"#,
            one(
                &[("a", "b")],
                vec![entry(5, "l", &[("b", "2"), ("a", "1")])],
            ),
        ),
        (
            r#"{"streams":[{"stream":{},"values":[["5","l",{"stack":"line 1\nline 2\n"}]]}]}"#,
            one(&[], vec![entry(5, "l", &[("stack", "line 1\nline 2\n")])]),
        ),
        (
            r#"{"streams":[{"stream":{"n":42,"f":-1.50e3,"s":"x\"y"},"values":[]}]}"#,
            one(&[("n", "42"), ("f", "-1.50e3"), ("s", "x\"y")], vec![]),
        ),
        (
            r#"{"streams":[{"stream":{"a":"b"},"values":[null,["1","x",null],["2","y",{},"extra",7]]}]}"#,
            one(&[("a", "b")], vec![entry(1, "x", &[]), entry(2, "y", &[])]),
        ),
        (
            r#"{"streams":[{"stream":{"a":"b"},"values":null}]}"#,
            one(&[("a", "b")], vec![]),
        ),
        (
            r#"{"streams":[{"values":[["0","\u00e9\ttab"]],"other":1}],"extra":{}}"#,
            one(&[], vec![entry(0, "é\ttab", &[])]),
        ),
        (r#"{}"#, DecodedPush::default()),
        (r#"{"streams":null}"#, DecodedPush::default()),
        (r#" {"streams":[]} "#, DecodedPush::default()),
        (r#"{"streams":[null]}"#, one(&[], vec![])),
    ] {
        let got = decode_push_json(body.as_bytes());
        assert_eq!(got.map_err(|e| e.to_string()), Ok(want), "{body}");
    }
}

#[test]
fn rejected() {
    let mut bad = Vec::new();
    for (body, want) in [
        ("", "empty body"),
        ("  \n", "empty body"),
        (
            r#"{"streams":[{"stream":{},"values":[["1","a"]]},{"stream":{},"values":[["1","a"],[1700000000000000000,"x"]]}]}"#,
            "stream 1: entry 1: invalid timestamp 1700000000000000000: expected a decimal string of nanoseconds",
        ),
        (
            r#"{"streams":[{"stream":{},"values":[["1.5e18","x"]]}]}"#,
            "stream 0: entry 0: invalid timestamp \"1.5e18\": expected a decimal string of nanoseconds",
        ),
        (
            r#"{"streams":[{"stream":{},"values":[["+1","x"]]}]}"#,
            "stream 0: entry 0: invalid timestamp \"+1\": expected a decimal string of nanoseconds",
        ),
        (
            r#"{"streams":[{"stream":{},"values":[["-1","x"]]}]}"#,
            "stream 0: entry 0: invalid timestamp \"-1\": expected a decimal string of nanoseconds",
        ),
        (
            r#"{"streams":[{"stream":{},"values":[["","x"]]}]}"#,
            "stream 0: entry 0: invalid timestamp \"\": expected a decimal string of nanoseconds",
        ),
        (
            r#"{"streams":[{"stream":{},"values":[["99999999999999999999","x"]]}]}"#,
            "stream 0: entry 0: invalid timestamp \"99999999999999999999\": expected a decimal string of nanoseconds",
        ),
        (
            r#"{"streams":[{"stream":{},"values":[["1"]]}]}"#,
            "stream 0: entry 0: expected [timestamp, line, structured metadata?], found 1 elements",
        ),
        (
            r#"{"streams":[{"stream":{},"values":[["1","x",{"a":1}]]}]}"#,
            "stream 0: entry 0: structured metadata \"a\": value must be a string, found integer `1`",
        ),
        (
            r#"{"streams":[{"stream":{"a":true},"values":[]}]}"#,
            "stream 0: label \"a\": value must be a string or a number, found true",
        ),
        (
            r#"{"streams":[{"stream":{"a":null},"values":[]}]}"#,
            "stream 0: label \"a\": value must be a string or a number, found null",
        ),
        (
            r#"{"streams":["nope"]}"#,
            "stream 0: invalid json: invalid type: string \"nope\", expected a stream object {\"stream\": {...}, \"values\": [...]} at line 1 column 18",
        ),
        (
            r#"{"streams":[{"stream":{},"values":[["1",2]]}]}"#,
            "stream 0: entry 0: invalid json: invalid type: integer `2`, expected a line string at line 1 column 41",
        ),
        ("[]", "invalid json: invalid type: sequence, expected a push request object {\"streams\": [...]} at line 1 column 0"),
        ("{\"streams\":[", "stream 0: invalid json: EOF while parsing a list at line 1 column 12"),
        ("{} x", "invalid json: trailing characters at line 1 column 4"),
        (
            r#"{"streams":[{"stream":{"a":"1"},"values":[["1","x"]]}],"streams":[{"stream":{"a":"2"},"values":[["1","y"]]}]}"#,
            "duplicate key \"streams\": a push must not repeat it",
        ),
        (
            r#"{"streams":[{"stream":{"a":"1"},"values":[["1","x"]],"values":[["2","y"]]}]}"#,
            "stream 0: duplicate key \"values\": a push must not repeat it",
        ),
        (
            r#"{"streams":[{"stream":{"a":"1"},"stream":{"a":"2"}}]}"#,
            "stream 0: duplicate key \"stream\": a push must not repeat it",
        ),
        (
            &format!(r#"{{"streams":[{{"values":[["{}","x"]]}}]}}"#, "9".repeat(100)),
            &format!(
                "stream 0: entry 0: invalid timestamp \"{}...\": expected a decimal string of nanoseconds",
                "9".repeat(64)
            ),
        ),
    ] {
        let got = decode_push_json(body.as_bytes()).map_err(|e| e.to_string());
        if got != Err(want.to_owned()) {
            bad.push(format!("{body}\n  got  {got:?}\n  want {want:?}"));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn raw_labels_parse_like_loki() {
    for (labels, want) in [
        (
            &[("b", "2"), ("a", "1"), ("gone", "")][..],
            Ok(r#"{a="1", b="2"}"#),
        ),
        (&[("a-b", "1")][..], Err("invalid label name \"a-b\"")),
        (
            &[("a", "1"), ("a", "2")][..],
            Err("duplicate label name \"a\""),
        ),
    ] {
        let got = RawLabels::Pairs(LabelPairs::from_pairs(labels.iter().copied())).parse();
        assert_eq!(
            got.as_ref().map(|l| l.as_str()).map_err(|e| e.to_string()),
            want.map_err(str::to_owned),
            "{labels:?}"
        );
    }
}

#[test]
fn encodes_loki_json() {
    let streams = vec![Stream {
        labels: LabelSet::from_pairs([("app", "a\"b")]).unwrap(),
        entries: vec![
            Entry::new(5, "line\n"),
            Entry {
                timestamp_ns: 6,
                line: Bytes::from_static(b"bad \xff"),
                structured_metadata: pairs(&[("z", "1"), ("a", "2")]),
            },
        ],
    }];
    let got = String::from_utf8(encode_push_json(&streams)).unwrap();
    assert_eq!(
        got,
        r#"{"streams":[{"stream":{"app":"a\"b"},"values":[["5","line\n"],["6","bad �",{"z":"1","a":"2"}]]}]}"#
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn json_round_trips(streams in streams(i64::MAX)) {
        let body = encode_push_json(&streams);
        let decoded = decode_push_json(&body).unwrap();
        let back: Vec<Stream> = decoded
            .streams
            .into_iter()
            .map(|s| Stream { labels: s.labels.parse().unwrap(), entries: s.entries })
            .collect();
        prop_assert_eq!(back, streams);
    }

    #[test]
    fn random_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..128)) {
        let _ = decode_push_json(&input);
    }

    #[test]
    fn json_like_text_never_panics(input in r#"[{}\[\]",:0-9a-z \-+.e]{0,64}"#) {
        let _ = decode_push_json(input.as_bytes());
    }

    #[test]
    fn shaped_requests_never_panic(
        ts in r#"("[0-9+\-.e]{0,6}"|[0-9]{1,3}|null|true)"#,
        line in r#"("[a-z\\n]{0,4}"|1|null|\{\})"#,
        sm in r#"(\{"a":("b"|1|null|\[\])\}|null|"x")"#,
        label in r#"("v"|1|-2.5|true|null|\{\})"#,
    ) {
        let body = format!(r#"{{"streams":[{{"stream":{{"a":{label}}},"values":[[{ts},{line},{sm}]]}}]}}"#);
        if let Ok(push) = decode_push_json(body.as_bytes()) {
            for s in push.streams {
                let _ = s.labels.parse();
            }
        }
    }
}

/// Loki (Go) replaces invalid UTF-8 and lone surrogate escapes in a JSON
/// body with U+FFFD instead of rejecting the push.
#[test]
fn invalid_utf8_is_replaced_as_go_does() {
    let cases: &[(&[u8], &str)] = &[
        (b"a\xffb", "a\u{FFFD}b"),
        (b"\xe2\x82A", "\u{FFFD}\u{FFFD}A"),
        (b"\\ud800", "\u{FFFD}"),
        (b"x\\udfff\\ud83d\\ude00", "x\u{FFFD}\u{1F600}"),
        (b"\\\\ud800", "\\ud800"),
    ];
    for (line, want) in cases {
        let mut body = br#"{"streams":[{"stream":{"a":"b"},"values":[["1",""#.to_vec();
        body.extend_from_slice(line);
        body.extend_from_slice(br#""]]}]}"#);
        let got = decode_push_json(&body).map_err(|e| e.to_string());
        assert_eq!(
            got,
            Ok(one(&[("a", "b")], vec![entry(1, want, &[])])),
            "{:?}",
            String::from_utf8_lossy(line)
        );
    }
}

#[test]
fn too_many_streams_is_an_error() {
    let mut body = String::from(r#"{"streams":["#);
    body.push_str(&"{},".repeat(crate::push::MAX_STREAMS));
    body.push_str("{}]}");
    let err = decode_push_json(body.as_bytes()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "more than 1000000 streams in one push: split it"
    );
}
