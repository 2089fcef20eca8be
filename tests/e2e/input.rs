//! Input semantics and per-request bounds through the real binary:
//! Loki 3.6's answers to odd-but-valid input, the legacy push path, capped
//! error bodies and memory bounded by the request.

use crate::support::*;

/// `/api/prom/push` takes protobuf (as `/loki/api/v1/push`) and Loki's
/// legacy JSON (selector strings, RFC3339 timestamps) on every target.
#[tokio::test(flavor = "multi_thread")]
async fn legacy_push_path_takes_protobuf_and_legacy_json() {
    let agent = dry_run(&two_targets("      use_incoming_timestamp: true\n"));
    let client = reqwest::Client::new();
    let legacy = r#"{"streams":[{"labels":"{level=\"info\"}","entries":[{"ts":"2023-11-14T22:13:20.000000007Z","line":"legacy json"}]}]}"#;
    let (status, text) = post(
        &client,
        &agent.url(0, "/app/api/prom/push"),
        &[JSON],
        legacy,
    )
    .await;
    assert_eq!(status, 204, "{text}");
    let body = proto_body(&[(
        r#"{level="warn"}"#,
        &[(1_700_000_000_000_000_008, "legacy proto", &[])],
    )]);
    let (status, text) = post(
        &client,
        &agent.url(0, "/edge/api/prom/push"),
        &[PROTO],
        body,
    )
    .await;
    assert_eq!(status, 204, "{text}");
    let bad = r#"{"streams":[{"labels":"{a=\"b\"}","entries":[{"ts":"1700000000","line":"x"}]}]}"#;
    let (status, text) = post(&client, &agent.url(0, "/app/api/prom/push"), &[JSON], bad).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("expected RFC3339"), "{text}");
    let out = agent.wait_stdout(2, WAIT);
    assert_eq!(out.len(), 2, "{out:?}");
    assert_eq!(
        out[0],
        "2023-11-14T22:13:20.000000007Z\t{level=\"info\", source=\"app\"}\tlegacy json"
    );
    // `edge` stamps the receive time.
    assert_eq!(
        fields(&out[1])[1..],
        [
            "{level=\"warn\", source=\"edge\", tier=\"frontend\"}",
            "legacy proto"
        ]
    );
}

/// Loki 3.6 stores U+FFFD for invalid UTF-8 and lone surrogates in a JSON
/// line instead of refusing the push; so must pushtail.
#[tokio::test(flavor = "multi_thread")]
async fn invalid_utf8_in_json_lines_becomes_u_fffd() {
    let agent = dry_run(&two_targets("      use_incoming_timestamp: true\n"));
    let client = reqwest::Client::new();
    let mut body = br#"{"streams":[{"stream":{"a":"b"},"values":[["1","bad \xff\xfe byte"],["2","lone \ud800 surrogate"]]}]}"#.to_vec();
    // The raw string above holds `\xff` as text: put the real bytes in.
    let at = body
        .windows(8)
        .position(|w| w == br"\xff\xfe")
        .expect("marker");
    body.splice(at..at + 8, [0xff, 0xfe]);
    let (status, text) = post(
        &client,
        &agent.url(0, "/app/loki/api/v1/push"),
        &[JSON],
        body,
    )
    .await;
    assert_eq!(status, 204, "{text}");
    let out = agent.wait_stdout(2, WAIT);
    let lines: Vec<&str> = out.iter().map(|l| fields(l)[2]).collect();
    assert_eq!(
        lines,
        ["bad \u{FFFD}\u{FFFD} byte", "lone \u{FFFD} surrogate"]
    );
}

/// A repeated top-level key is a 400, never a 204 that drops the first.
#[tokio::test(flavor = "multi_thread")]
async fn duplicate_top_level_keys_are_refused() {
    let agent = dry_run(&two_targets(""));
    let client = reqwest::Client::new();
    let body = r#"{"streams":[{"stream":{"a":"1"},"values":[["1","A"]]}],"streams":[{"stream":{"a":"2"},"values":[["1","B"]]}]}"#;
    let (status, text) = post(
        &client,
        &agent.url(0, "/app/loki/api/v1/push"),
        &[JSON],
        body,
    )
    .await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("duplicate key \"streams\""), "{text}");
    let (status, _) = post(
        &client,
        &agent.url(0, "/app/loki/api/v1/push"),
        &[JSON],
        ONE,
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(
        agent.wait_stdout(1, WAIT).len(),
        1,
        "only the valid push is printed"
    );
}

const ONE_X: &[TestEntry] = &[(1, "x", &[])];
const ONE_LINE: &[TestEntry] = &[(1, "line", &[])];

const ONE: &str = r#"{"streams":[{"stream":{"a":"1"},"values":[["1","ok"]]}]}"#;

/// An empty label set is accepted on every path, and the answer does not
/// depend on which path was used first (they once shared a cache entry).
#[tokio::test(flavor = "multi_thread")]
async fn empty_label_sets_agree_across_paths_in_both_orders() {
    let json = r#"{"streams":[{"stream":{},"values":[["1","json"]]}]}"#;
    for proto_first in [true, false] {
        let agent = dry_run(&two_targets(""));
        let client = reqwest::Client::new();
        let url = agent.url(0, "/app/loki/api/v1/push");
        let proto = proto_body(&[("", &[(1, "proto", &[])])]);
        let results = if proto_first {
            [
                post(&client, &url, &[PROTO], proto).await,
                post(&client, &url, &[JSON], json).await,
            ]
        } else {
            [
                post(&client, &url, &[JSON], json).await,
                post(&client, &url, &[PROTO], proto).await,
            ]
        };
        for (status, text) in results {
            assert_eq!(status, 204, "proto first: {proto_first}: {text}");
        }
        let (status, text) = post(&client, &agent.url(0, "/app/push"), &[], "plain").await;
        assert_eq!(status, 204, "{text}");
        let out = agent.wait_stdout(3, WAIT);
        let mut got: Vec<(&str, &str)> = out.iter().map(|l| (fields(l)[1], fields(l)[2])).collect();
        got.sort();
        assert_eq!(
            got,
            [
                ("{source=\"app\"}", "json"),
                ("{source=\"app\"}", "plain"),
                ("{source=\"app\"}", "proto")
            ],
            "proto first: {proto_first}"
        );
    }
}

/// 100 000 bad streams once made a 28 MB body; it is capped at 64 KiB,
/// naming the first streams and counting the rest.
#[tokio::test(flavor = "multi_thread")]
async fn error_bodies_are_capped() {
    let agent = dry_run(&two_targets(""));
    let client = reqwest::Client::new();
    let labels: Vec<String> = (0..100_000).map(|i| format!("{{bad-{i}=\"x\"}}")).collect();
    let streams: Vec<(&str, &[TestEntry])> = labels.iter().map(|l| (l.as_str(), ONE_X)).collect();
    let (status, text) = post(
        &client,
        &agent.url(0, "/app/loki/api/v1/push"),
        &[PROTO],
        proto_body(&streams),
    )
    .await;
    assert_eq!(status, 400);
    assert!(text.len() <= 64 * 1024, "{} bytes", text.len());
    assert!(
        text.starts_with("stream 0: invalid labels {bad-0=\"x\"}"),
        "{text}"
    );
    assert!(
        text.trim_end().ends_with("... and 99980 more bad streams"),
        "{text}"
    );
}

/// Peak RSS of a process, from /proc (Linux), in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    kb * 1024
}

/// The agent's pid, found by its unique config path on its command line.
fn pid_of(agent: &Agent) -> u32 {
    let needle = format!("-config.file={}", agent.config_path().display());
    std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.split(|&b| b == 0).any(|arg| arg == needle.as_bytes()))
        })
        .expect("agent pid")
}

/// One push of 200 000 distinct one-entry streams (~11 MB decoded) once
/// peaked at 175 MB RSS (~850 bytes per stream); the per-stream cost is
/// now small enough that it stays under 128 MB. The bound is structural
/// (what is allocated per stream), so it holds for debug builds too.
#[tokio::test(flavor = "multi_thread")]
async fn a_many_stream_push_is_bounded_by_the_request() {
    let agent = dry_run(&two_targets(""));
    let labels: Vec<String> = (0..200_000)
        .map(|i| format!("{{app=\"load\", stream=\"{i}\"}}"))
        .collect();
    let streams: Vec<(&str, &[TestEntry])> =
        labels.iter().map(|l| (l.as_str(), ONE_LINE)).collect();
    let body = proto_body(&streams);
    drop(streams);
    drop(labels);
    let client = reqwest::Client::new();
    let (status, text) = post(
        &client,
        &agent.url(0, "/app/loki/api/v1/push"),
        &[PROTO],
        body,
    )
    .await;
    assert_eq!(status, 204, "{text}");
    assert_eq!(agent.wait_stdout(200_000, WAIT).len(), 200_000);
    let peak = peak_rss(pid_of(&agent));
    assert!(peak < 128 << 20, "peak RSS {} MiB", peak >> 20);
}
