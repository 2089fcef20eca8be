//! Relabeling and pipeline stages wired into targets through the YAML, seen
//! through the real binary's dry-run output.

use crate::support::*;

fn one_target(stages: &str) -> String {
    format!(
        "server:\n  http_listen_address: 127.0.0.1\n  http_listen_port: 0\n\
         scrape_configs:\n  - job_name: app\n    http:\n      base_url: /\n      labels: {{job: app}}\n{stages}"
    )
}

async fn push_lines(agent: &Agent, labels: &str, lines: &[&str]) {
    let values: Vec<String> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| format!("[\"{}\",{}]", i + 1, serde_json::Value::from(*l)))
        .collect();
    let body = format!(
        r#"{{"streams":[{{"stream":{labels},"values":[{}]}}]}}"#,
        values.join(",")
    );
    let (status, text) = post(
        &reqwest::Client::new(),
        &agent.url(0, "/loki/api/v1/push"),
        &[JSON],
        body,
    )
    .await;
    assert_eq!(status, 204, "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn json_fields_become_label_timestamp_and_output() {
    let stages = r#"    pipeline_stages:
      - json:
          expressions:
            level: level
            ts: time
            msg: message
      - labels:
          level:
      - timestamp:
          source: ts
          format: RFC3339Nano
      - output:
          source: msg
"#;
    let agent = dry_run(&one_target(stages));
    push_lines(
        &agent,
        r#"{"host":"h1"}"#,
        &[r#"{"level":"error","time":"2024-05-06T07:08:09.123456789Z","message":"db down"}"#],
    )
    .await;
    let out = agent.wait_stdout(1, WAIT);
    assert_eq!(
        out,
        ["2024-05-06T07:08:09.123456789Z\t{host=\"h1\", job=\"app\", level=\"error\"}\tdb down"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn match_stage_drops_debug_lines_and_relabel_runs_first() {
    let stages = r#"    relabel_configs:
      - source_labels: [env]
        regex: dev
        action: drop
      - source_labels: [svc]
        target_label: service
    pipeline_stages:
      - match:
          selector: '{job="app"} |= "DEBUG"'
          action: drop
          drop_counter_reason: debug_noise
"#;
    let agent = dry_run(&one_target(stages));
    push_lines(&agent, r#"{"env":"dev"}"#, &["dropped by relabel"]).await;
    push_lines(
        &agent,
        r#"{"svc":"api"}"#,
        &["DEBUG noisy", "INFO kept", "DEBUG more", "WARN kept too"],
    )
    .await;
    let out = agent.wait_stdout(2, WAIT);
    let lines: Vec<(&str, &str)> = out.iter().map(|l| (fields(l)[1], fields(l)[2])).collect();
    assert_eq!(
        lines,
        [
            ("{job=\"app\", service=\"api\", svc=\"api\"}", "INFO kept"),
            (
                "{job=\"app\", service=\"api\", svc=\"api\"}",
                "WARN kept too"
            ),
        ]
    );
    let metrics = reqwest::get(agent.url(0, "/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .unwrap_or_default();
    let dropped = metrics
        .lines()
        .find(|l| l.starts_with("logentry_dropped_lines_total") && l.contains("debug_noise"))
        .unwrap_or_default();
    assert!(dropped.ends_with(" 2"), "{dropped:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn tenant_stage_routes_lines_to_two_tenants() {
    let stages = r#"    pipeline_stages:
      - regex:
          expression: '^(?P<team>\w+):'
      - tenant:
          source: team
"#;
    let agent = dry_run(&one_target(stages));
    push_lines(
        &agent,
        r#"{"a":"1"}"#,
        &["red: one", "blue: two", "red: three"],
    )
    .await;
    let out = agent.wait_stdout(3, WAIT);
    let mut got: Vec<(String, String)> = out
        .iter()
        .map(|l| {
            (
                fields(l)[2].to_owned(),
                fields(l).last().copied().unwrap_or("").to_owned(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("blue: two".to_owned(), "tenant=blue".to_owned()),
            ("red: one".to_owned(), "tenant=red".to_owned()),
            ("red: three".to_owned(), "tenant=red".to_owned()),
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn multiline_joins_a_stack_trace() {
    let stages = r#"    pipeline_stages:
      - multiline:
          firstline: '^\d{4}-\d{2}-\d{2}'
          max_wait_time: 200ms
"#;
    let agent = dry_run(&one_target(stages));
    push_lines(
        &agent,
        r#"{"a":"1"}"#,
        &[
            "2024-01-01 ERROR boom",
            "java.lang.RuntimeException: x",
            "    at com.example.Main(Main.java:1)",
            "2024-01-01 INFO next",
        ],
    )
    .await;
    // The first block is released by the next first line, the second by
    // max_wait_time through the receiver's periodic flush.
    let out = agent.wait_stdout(2, WAIT);
    let lines: Vec<&str> = out.iter().map(|l| fields(l)[2]).collect();
    assert_eq!(
        lines,
        [
            "2024-01-01 ERROR boom\\njava.lang.RuntimeException: x\\n    at com.example.Main(Main.java:1)",
            "2024-01-01 INFO next",
        ]
    );
}

#[test]
fn stage_config_errors_name_index_type_and_field() {
    let yaml = one_target("    pipeline_stages:\n      - json: {}\n      - timestamp:\n          source: ts\n          format: 2006-01-02\n          action_on_failure: explode\n");
    let path = pushtail_tests::agent::write_config(&yaml);
    let arg = format!("-config.file={}", path.display());
    let (code, _, stderr) = pushtail_tests::agent::run_to_end(bin(), &[&arg, "-check-syntax"]);
    let _ = std::fs::remove_file(path);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("pipeline_stages[0]") && stderr.contains("json"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn inspect_prints_what_each_stage_changed() {
    let stages = r#"    pipeline_stages:
      - regex:
          expression: 'level=(?P<level>\w+) msg="(?P<msg>[^"]*)"'
      - labels:
          level:
      - output:
          source: msg
"#;
    let agent = Agent::start(bin(), &one_target(stages), &["-dry-run", "-inspect"], 1);
    push_lines(
        &agent,
        r#"{"host":"h1"}"#,
        &[r#"level=warn msg="disk full""#],
    )
    .await;
    let out = agent.wait_stdout(1, WAIT);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(
        fields(&out[0])[1..],
        ["{host=\"h1\", job=\"app\", level=\"warn\"}", "disk full"]
    );
    let err = agent
        .wait_stderr("[inspect: output stage]", WAIT)
        .join("\n");
    let report: Vec<&str> = err
        .lines()
        .skip_while(|l| !l.starts_with("[inspect: regex stage]"))
        .take(7)
        .collect();
    assert_eq!(
        report,
        [
            "[inspect: regex stage]:",
            "\textracted[\"level\"]: +\"warn\"",
            "\textracted[\"msg\"]: +\"disk full\"",
            "[inspect: labels stage]:",
            "\tlabels[\"level\"]: +\"warn\"",
            "[inspect: output stage]:",
            "\tline: -\"level=warn msg=\\\"disk full\\\"\" +\"disk full\"",
        ],
        "stderr:\n{err}"
    );

    // Without -inspect nothing is reported.
    let plain = dry_run(&one_target(stages));
    push_lines(&plain, r#"{"host":"h1"}"#, &["level=info msg=\"ok\""]).await;
    assert_eq!(plain.wait_stdout(1, WAIT).len(), 1);
    assert!(!plain.stderr().contains("[inspect:"), "{}", plain.stderr());
}

/// `limit` with `drop: false` holds a push until its tokens are due (as
/// Promtail blocks), and a push that would wait past the server's
/// `push_timeout` gets a 503 instead: the binary hands `push_timeout` to the
/// pipeline.
#[tokio::test(flavor = "multi_thread")]
async fn limit_without_drop_holds_pushes_up_to_push_timeout() {
    let yaml =
        "server:\n  http_listen_address: 127.0.0.1\n  http_listen_port: 0\n  push_timeout: 800ms\n\
         scrape_configs:\n  - job_name: app\n    http:\n      base_url: /\n\
             \x20   pipeline_stages:\n      - limit: {rate: 4, burst: 1}\n  \
           - job_name: slow\n    http:\n      base_url: /slow/\n\
             \x20   pipeline_stages:\n      - limit: {rate: 0.5, burst: 1}\n";
    let agent = dry_run(yaml);
    let client = reqwest::Client::new();
    // Two lines: the second token is a quarter of a second away.
    let started = std::time::Instant::now();
    push_lines(&agent, r#"{"a":"1"}"#, &["first", "second"]).await;
    let held = started.elapsed();
    assert!(
        held >= std::time::Duration::from_millis(200),
        "held only {held:?}"
    );
    assert_eq!(agent.wait_stdout(2, WAIT).len(), 2);

    // One token per two seconds: the burst passes, the next push would
    // wait about 2 s, past push_timeout, and is refused whole.
    let one = r#"{"streams":[{"stream":{"a":"1"},"values":[["1","x"]]}]}"#;
    let url = agent.url(0, "/slow/loki/api/v1/push");
    let (status, text) = post(&client, &url, &[JSON], one.to_owned()).await;
    assert_eq!(status, 204, "{text}");
    let (status, text) = post(&client, &url, &[JSON], one.to_owned()).await;
    assert_eq!(status, 503, "{text}");
    assert!(
        text.contains("limit stage") && text.contains("800ms"),
        "{text}"
    );
    agent.wait_stdout(3, WAIT);
    assert_eq!(agent.stdout().len(), 3, "a 503 takes nothing");
}

/// A pusher that hangs up while `limit` holds its push: the agent neither
/// answers it nor stalls, the held push stays all-or-nothing, and the next
/// pusher is served once its own tokens are due.
#[tokio::test(flavor = "multi_thread")]
async fn a_pusher_that_hangs_up_during_a_limit_hold_leaves_the_agent_serving() {
    use tokio::io::AsyncWriteExt;
    let yaml =
        "server:\n  http_listen_address: 127.0.0.1\n  http_listen_port: 0\n  push_timeout: 5s\n\
         scrape_configs:\n  - job_name: app\n    http:\n      base_url: /\n\
             \x20   pipeline_stages:\n      - limit: {rate: 4, burst: 1}\n";
    let agent = dry_run(yaml);
    let held = r#"{"streams":[{"stream":{"a":"1"},"values":[["1","held-1"],["2","held-2"],["3","held-3"],["4","held-4"]]}]}"#;
    let mut sock = tokio::net::TcpStream::connect(agent.addr(0))
        .await
        .expect("connect");
    let head = format!(
        "POST /loki/api/v1/push HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n",
        held.len()
    );
    sock.write_all(head.as_bytes()).await.expect("head");
    sock.write_all(held.as_bytes()).await.expect("body");
    // Hang up once the push is being held (in flight), not before.
    let inflight = "inflight_requests{method=\"POST\",route=\"loki_api_v1_push\"} 1";
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let text = reqwest::get(agent.url(0, "/metrics"))
            .await
            .expect("scrape")
            .text()
            .await
            .expect("scrape body");
        if text.contains(inflight) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never held:\n{text}");
    }
    drop(sock);

    let one = r#"{"streams":[{"stream":{"a":"1"},"values":[["5","after"]]}]}"#;
    let (status, text) = post(
        &reqwest::Client::new(),
        &agent.url(0, "/loki/api/v1/push"),
        &[JSON],
        one.to_owned(),
    )
    .await;
    assert_eq!(status, 204, "{text}");
    // The hung-up push was never acknowledged; hyper drops its future when
    // the connection closes, so it is normally not forwarded either, but
    // if it was, it went whole.
    let lines = agent.wait_stdout_line("after", WAIT);
    let held_lines = lines.iter().filter(|l| l.contains("held-")).count();
    assert!(
        lines.iter().any(|l| l.ends_with("\tafter")),
        "the next push arrives: {lines:?}"
    );
    assert!(
        held_lines == 0 || held_lines == 4,
        "all or nothing: {lines:?}"
    );
    assert!(!agent.stderr().contains("panicked"), "{}", agent.stderr());
}
