//! Property tests for the line parsers: logfmt, cri, docker, and the regex
//! and json stages' input. Any line (random bytes read as text, random
//! Unicode) goes through without a panic, and structured input generated
//! from known fields parses back to those fields.

use chrono::{DateTime, SecondsFormat};
use proptest::prelude::*;

use super::docker::parse_rfc3339_nano;
use super::logfmt;
use super::testing::{pipeline, run};

/// Pipelines whose first stage parses the line, followed by stages that
/// use what it extracted.
const PARSERS: &[&str] = &[
    "- cri: {}",
    "- docker: {}",
    "- logfmt: {mapping: {level: '', msg: '', ts: time}}\n- labels: {level: ''}\n- timestamp: {source: ts, format: RFC3339Nano, action_on_failure: skip}\n- output: {source: msg}",
    "- regex: {expression: '^(?P<ts>\\S+) (?P<level>\\w+) (?P<msg>.*)$'}\n- labels: {level: ''}\n- timestamp: {source: ts, format: '2006-01-02T15:04:05.000Z07:00'}",
    "- json: {expressions: {level: level, msg: message, ts: 'time', nested: 'a.b[0]'}}\n- labels: {level: ''}\n- timestamp: {source: ts, format: UnixMs}\n- output: {source: msg}",
    "- json: {expressions: {level: level}, drop_malformed: true}\n- labels: {level: ''}",
];

/// Text that looks a little like each format, so the parsers get past
/// their first check more often than with uniform noise.
fn line_like() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        proptest::collection::vec(any::<u8>(), 0..200)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        "[ -~]{0,120}",
        "(\\{\"(log|stream|time|level|message|a)\":(\"[ -~]{0,10}\"|[0-9]{1,14}|\\{|\\[|null|true)[,}\\]]?){0,6}",
        "([a-z]{1,5}=(\"[ -~]{0,8}\"?|[!-~]{0,8}) ?){0,8}",
        "20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})?(Z|[+-][01][0-9]:[0-5][0-9]) (stdout|stderr|x) [FP]{0,2} [ -~]{0,20}",
    ]
}

/// A timestamp between 1970 and 2200 in nanoseconds.
fn timestamp_ns() -> impl Strategy<Value = i64> {
    0i64..7_258_118_400_000_000_000
}

fn rfc3339(ns: i64) -> String {
    DateTime::from_timestamp_nanos(ns).to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// A logfmt value as go-logfmt writes it: quoted with escapes when it
/// must be, bare when it may.
fn logfmt_value(v: &str, quote: bool) -> String {
    let bare_ok = !v.is_empty() && v.chars().all(|c| c > ' ' && c != '"' && c != '=');
    if bare_ok && !quote {
        return v.to_owned();
    }
    let mut s = String::from("\"");
    for c in v.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\t' => s.push_str("\\t"),
            '\r' => s.push_str("\\r"),
            c if c < ' ' => s.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_line_through_any_parser_never_panics(which in 0..PARSERS.len(), line in line_like()) {
        let p = pipeline(PARSERS[which]);
        let out = run(&p, &[("job", "prop")], &line);
        prop_assert!(out.len() <= 1);
    }

    #[test]
    fn logfmt_parse_never_panics(s in any::<String>()) {
        let pairs = logfmt::parse(&s);
        for (k, _) in &pairs {
            prop_assert!(!k.is_empty());
            prop_assert!(k.chars().all(|c| c > ' ' && c != '=' && c != '"'));
        }
    }

    #[test]
    fn logfmt_round_trips(
        pairs in proptest::collection::vec(
            ("[a-zA-Z_][a-zA-Z0-9_.\\-]{0,10}", any::<String>(), any::<bool>()),
            0..8,
        )
    ) {
        let text: Vec<String> = pairs
            .iter()
            .map(|(k, v, quote)| format!("{k}={}", logfmt_value(v, *quote)))
            .collect();
        let line = text.join(" ");
        let want: Vec<(String, String)> =
            pairs.iter().map(|(k, v, _)| (k.clone(), v.clone())).collect();
        prop_assert_eq!(logfmt::parse(&line), want, "{}", line);
    }

    #[test]
    fn cri_lines_split_into_their_fields(
        ts in timestamp_ns(),
        stream in prop_oneof![Just("stdout"), Just("stderr")],
        flags in prop_oneof![Just("F"), Just("P")],
        content in any::<String>(),
    ) {
        let p = pipeline("- cri: {}");
        let line = format!("{} {stream} {flags} {content}", rfc3339(ts));
        let out = run(&p, &[("job", "prop")], &line);
        prop_assert_eq!(out.len(), 1);
        prop_assert_eq!(out[0].entry.timestamp_ns, ts);
        prop_assert_eq!(out[0].labels.get("stream"), Some(stream));
        prop_assert_eq!(String::from_utf8_lossy(&out[0].entry.line), content);
    }

    #[test]
    fn docker_lines_split_into_their_fields(
        ts in timestamp_ns(),
        stream in prop_oneof![Just("stdout"), Just("stderr")],
        log in any::<String>(),
    ) {
        let p = pipeline("- docker: {}");
        let line = serde_json::json!({"log": log, "stream": stream, "time": rfc3339(ts)}).to_string();
        let out = run(&p, &[("job", "prop")], &line);
        prop_assert_eq!(out.len(), 1);
        prop_assert_eq!(out[0].entry.timestamp_ns, ts);
        prop_assert_eq!(out[0].labels.get("stream"), Some(stream));
        prop_assert_eq!(String::from_utf8_lossy(&out[0].entry.line), log);
    }

    #[test]
    fn rfc3339_nano_round_trips(ts in timestamp_ns()) {
        prop_assert_eq!(parse_rfc3339_nano(&rfc3339(ts)), Some(ts));
    }

    #[test]
    fn rfc3339_nano_never_panics(s in any::<String>()) {
        let _ = parse_rfc3339_nano(&s);
    }

    #[test]
    fn json_fields_are_extracted(
        level in "[a-zA-Z0-9 _\\-]{1,12}",
        message in any::<String>(),
        extra in proptest::collection::btree_map("[a-z]{1,6}", any::<String>(), 0..4),
    ) {
        let p = pipeline(PARSERS[4]);
        let mut obj = serde_json::Map::new();
        for (k, v) in extra {
            obj.insert(k, serde_json::Value::String(v));
        }
        obj.insert("level".into(), serde_json::Value::String(level.clone()));
        obj.insert("message".into(), serde_json::Value::String(message.clone()));
        let line = serde_json::Value::Object(obj).to_string();
        let out = run(&p, &[("job", "prop")], &line);
        prop_assert_eq!(out.len(), 1);
        prop_assert_eq!(out[0].labels.get("level"), Some(level.as_str()));
        prop_assert_eq!(String::from_utf8_lossy(&out[0].entry.line), message);
    }

    #[test]
    fn regex_fields_are_extracted(
        ts in timestamp_ns(),
        level in "[a-zA-Z0-9_]{1,10}",
        msg in any::<String>(),
    ) {
        let p = pipeline(PARSERS[3]);
        // Millisecond precision, as the layout says.
        let ts = ts / 1_000_000 * 1_000_000;
        let time = DateTime::from_timestamp_nanos(ts).to_rfc3339_opts(SecondsFormat::Millis, true);
        let line = format!("{time} {level} {msg}");
        let out = run(&p, &[("job", "prop")], &line);
        prop_assert_eq!(out.len(), 1);
        prop_assert_eq!(out[0].labels.get("level"), Some(level.as_str()));
        prop_assert_eq!(out[0].entry.timestamp_ns, ts);
    }
}
