//! What an operator sees: log lines (shapes, start-up, refused pushes),
//! `/metrics` (HELP for every family, build and process families), the 404
//! hint and the dry-run printout.

use std::collections::BTreeSet;

use crate::support::*;

const CLIENT: &str = "clients:\n  - url: http://127.0.0.1:1/loki/api/v1/push\n    external_labels: {cluster: eu, source: ext}\n";

/// `level=… ts=…Z caller=file.rs:N msg="…"` and the rest of a logfmt line.
fn assert_logfmt(line: &str) {
    let mut parts = line.splitn(5, ' ');
    let level = parts.next().unwrap_or_default();
    assert!(
        ["level=debug", "level=info", "level=warn", "level=error"].contains(&level),
        "{line}"
    );
    let ts = parts.next().unwrap_or_default();
    assert!(
        ts.starts_with("ts=20") && ts.ends_with('Z') && ts.len() == 27,
        "{line}"
    );
    let caller = parts.next().unwrap_or_default();
    assert!(
        caller.starts_with("caller=")
            && caller.contains(".rs:")
            && caller
                .rsplit(':')
                .next()
                .is_some_and(|n| n.parse::<u32>().is_ok()),
        "{line}"
    );
    assert!(
        parts.next().unwrap_or_default().starts_with("msg=\""),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn logfmt_start_up_lines_name_version_config_and_listeners_once() {
    let agent = dry_run(&two_targets(""));
    let log = agent.wait_stderr("msg=\"listening\"", WAIT);
    for line in &log {
        assert_logfmt(line);
    }
    let start = log
        .iter()
        .find(|l| l.contains("msg=\"starting pushtail\""))
        .unwrap_or_else(|| panic!("{log:?}"));
    assert!(
        start.contains(&format!("version={}", env!("CARGO_PKG_VERSION"))),
        "{start}"
    );
    assert!(start.contains("revision="), "{start}");
    let config = agent.config_path().display().to_string();
    assert!(start.contains(&format!("config_file={config}")), "{start}");
    let listening: Vec<&String> = log.iter().filter(|l| l.contains("listening")).collect();
    assert_eq!(listening.len(), 1, "{log:?}");
    assert!(
        listening[0].contains("jobs=app,edge") && listening[0].contains("base_urls=/app/,/edge/"),
        "{}",
        listening[0]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn json_log_lines_are_flat_objects() {
    let agent = Agent::start(
        bin(),
        &two_targets(""),
        &["-dry-run", "-log.format=json"],
        1,
    );
    let log = agent.wait_stderr("\"msg\":\"listening\"", WAIT);
    for line in &log {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let obj = v.as_object().unwrap_or_else(|| panic!("{line}"));
        for key in ["level", "ts", "caller", "msg"] {
            assert!(obj.get(key).is_some_and(|v| v.is_string()), "{key}: {line}");
        }
        assert!(
            obj.values().all(|v| !v.is_object() && !v.is_array()),
            "{line}"
        );
    }
    let listening = log
        .iter()
        .find(|l| l.contains("\"msg\":\"listening\""))
        .unwrap_or_else(|| panic!("{log:?}"));
    assert!(listening.contains("\"listener\":0"), "{listening}");
}

/// How many refusals the warn lines account for: one per `push refused`
/// line plus every `suppressed=` count, checking each line's shape.
fn accounted_refusals(log: &[String]) -> u64 {
    let mut accounted = 0;
    for line in log.iter().filter(|l| l.contains("msg=\"push refus")) {
        assert!(line.starts_with("level=warn "), "{line}");
        assert!(line.contains("job=app"), "{line}");
        let suppressed: u64 = line
            .split("suppressed=")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{line}"));
        if line.contains("msg=\"push refused\"") {
            for want in ["remote=127.0.0.1:", "status=400", "reason=", "invalid json"] {
                assert!(line.contains(want), "missing {want}: {line}");
            }
            accounted += 1;
        }
        accounted += suppressed;
    }
    accounted
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_pushes_are_logged_at_warn_once_per_target_per_second() {
    let agent = dry_run(&two_targets(""));
    let client = reqwest::Client::new();
    let url = agent.url(0, "/app/loki/api/v1/push");
    let mut refused: u64 = 0;
    for _ in 0..5 {
        let (status, _) = post(&client, &url, &[JSON], "{not json").await;
        assert_eq!(status, 400);
        refused += 1;
    }
    // The first refusal is logged at once; the four after it within the
    // second are told by the flusher a second later, with no further
    // refusal needed. (On a machine so slow that the pushes spanned more
    // than a second, a later flush tells the rest.)
    let mut flushes = 1;
    let (log, accounted) = loop {
        let log = agent.wait_stderr_count("msg=\"push refusals suppressed\"", flushes, WAIT);
        let accounted = accounted_refusals(&log);
        if accounted >= refused || flushes as u64 >= refused {
            break (log, accounted);
        }
        flushes += 1;
    };
    assert_eq!(accounted, refused, "{log:?}");
    assert!(!log.iter().any(|l| l.contains("level=error")), "{log:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_paths_name_the_base_urls() {
    let agent = dry_run(&two_targets(""));
    let client = reqwest::Client::new();
    let (status, body) = post(&client, &agent.url(0, "/loki/api/v1/push"), &[JSON], "{}").await;
    assert_eq!(status, 404, "{body}");
    for want in ["/app/ (job app)", "/edge/ (job edge)", "loki/api/v1/push"] {
        assert!(body.contains(want), "missing {want}: {body}");
    }
}

/// The metric families of an exposition (histogram series folded).
fn families(text: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut sampled = BTreeSet::new();
    let mut helped = BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let mut it = rest.splitn(2, ' ');
            let name = it.next().unwrap_or_default();
            if it.next().is_some_and(|h| !h.trim().is_empty()) {
                helped.insert(name.to_owned());
            }
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            let name = line.split(['{', ' ']).next().unwrap_or_default();
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s).filter(|b| helped.contains(*b)))
                .unwrap_or(name);
            sampled.insert(base.to_owned());
        }
    }
    (sampled, helped)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_metric_family_has_help_text() {
    let stage = "    pipeline_stages:\n      - metrics:\n          hits:\n            type: Counter\n            description: lines seen by the app target\n            config: {match_all: true, action: inc}\n      - metrics:\n          undocumented:\n            type: Counter\n            config: {match_all: true, action: inc}\n      - template: {source: n, template: '{{ .Entry }}'}\n      - metrics:\n          latency:\n            type: Histogram\n            source: n\n            description: latency from the line\n            config: {buckets: [0.1, 1]}\n          amount:\n            type: Counter\n            source: n\n            config: {action: add}\n";
    let yaml = format!("{CLIENT}{}", two_targets(stage));
    let agent = Agent::start(bin(), &yaml, &["-dry-run"], 1);
    let client = reqwest::Client::new();
    let (status, text) = post(
        &client,
        &agent.url(0, "/app/loki/api/v1/push"),
        &[JSON],
        r#"{"streams":[{"stream":{"a":"b"},"values":[["1","0.25"]]}]}"#,
    )
    .await;
    assert_eq!(status, 204, "{text}");
    let _ = post(
        &client,
        &agent.url(0, "/app/loki/api/v1/push"),
        &[JSON],
        "{bad",
    )
    .await;
    agent.wait_stdout(1, WAIT);
    let text = client
        .get(agent.url(0, "/metrics"))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("body");
    let (sampled, helped) = families(&text);
    let missing: Vec<&String> = sampled.difference(&helped).collect();
    assert!(
        missing.is_empty(),
        "families without HELP: {missing:?}\n{text}"
    );
    for want in [
        "pushtail_build_info",
        "promtail_build_info",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
        "tcp_connections",
        "tcp_connections_limit",
        "inflight_requests",
        "loki_source_api_tcp_connections",
        "promtail_config_reload_success_total",
        "promtail_config_reload_fail_total",
        "promtail_sent_entries_total",
        "promtail_dropped_entries_total",
        "promtail_mutated_entries_total",
        "promtail_mutated_bytes_total",
        "promtail_custom_hits",
        "promtail_custom_undocumented",
        "promtail_custom_latency",
        "promtail_custom_amount",
    ] {
        assert!(
            sampled.contains(want) || helped.contains(want),
            "no {want}:\n{text}"
        );
    }
    assert!(
        text.contains("# HELP promtail_custom_hits lines seen by the app target"),
        "{text}"
    );
    // The custom histogram has its configured buckets; the counter keeps a
    // fractional add.
    let sample = |prefix: &str, suffix: &str| {
        text.lines()
            .any(|l| l.starts_with(prefix) && l.ends_with(suffix))
    };
    for (prefix, suffix) in [
        ("promtail_custom_latency_bucket{", "le=\"0.1\"} 0"),
        ("promtail_custom_latency_bucket{", "le=\"1\"} 1"),
        ("promtail_custom_latency_bucket{", "le=\"+Inf\"} 1"),
        ("promtail_custom_latency_sum{", "} 0.25"),
        ("promtail_custom_amount{", "} 0.25"),
    ] {
        assert!(sample(prefix, suffix), "no {prefix}..{suffix}:\n{text}");
    }
    assert!(
        text.contains("# HELP promtail_custom_latency latency from the line\n# TYPE promtail_custom_latency histogram\n"),
        "{text}"
    );
    assert!(
        text.contains(&format!("version=\"{}\"", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
    assert!(
        text.contains("tcp_connections{protocol=\"http\"}"),
        "{text}"
    );
    assert!(
        text.contains(
            "promtail_mutated_bytes_total{host=\"127.0.0.1:1\",tenant=\"\",reason=\"line_too_long\"} 0"
        ),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_escapes_lines_and_prints_labels_as_sent() {
    let yaml = format!("{CLIENT}{}", two_targets(""));
    let agent = Agent::start(bin(), &yaml, &["-dry-run"], 1);
    let client = reqwest::Client::new();
    let body = r#"{"streams":[{"stream":{"k":"v"},"values":[["1","a\tb\\c\nd\re"]]}]}"#;
    let (status, text) = post(
        &client,
        &agent.url(0, "/app/loki/api/v1/push"),
        &[JSON],
        body,
    )
    .await;
    assert_eq!(status, 204, "{text}");
    let out = agent.wait_stdout(1, WAIT);
    let f = fields(&out[0]);
    assert_eq!(f.len(), 3, "{out:?}");
    // The target's own `source` wins over the client's external label.
    assert_eq!(f[1], r#"{cluster="eu", k="v", source="app"}"#);
    assert_eq!(f[2], r"a\tb\\c\nd\re");
}
