//! Forwarding to Loki through the real binary: what arrives at a fake Loki
//! that really decodes, batching, retries, drops, backpressure, shutdown
//! flush, fan-out to two clients, and agents chained together.

use std::collections::BTreeSet;
use std::time::Duration;

use pushtail_tests::fake_loki::{Behaviour, FakeLoki};

use crate::support::*;

/// A one-target agent config (`/`, label `hop=<name>`) forwarding to `urls`.
fn forwarding(name: &str, urls: &[String], client_extra: &str, server_extra: &str) -> String {
    let mut yaml = format!(
        "server:\n  http_listen_address: 127.0.0.1\n  http_listen_port: 0\n  graceful_shutdown_timeout: 10s\n{server_extra}clients:\n"
    );
    for url in urls {
        yaml.push_str(&format!(
            "  - url: {url}\n    batchwait: 50ms\n{client_extra}"
        ));
    }
    yaml.push_str(&format!(
        "scrape_configs:\n  - job_name: {name}\n    http:\n      labels: {{hop_{name}: \"yes\"}}\n      use_incoming_timestamp: true\n"
    ));
    yaml
}

fn start(yaml: &str) -> Agent {
    Agent::start(bin(), yaml, &[], 1)
}

/// A JSON push of `n` lines `"{prefix}-{i}"` with timestamps `base + i`.
fn json_lines(prefix: &str, base: i64, n: usize, with_metadata: bool) -> String {
    let values: Vec<String> = (0..n)
        .map(|i| {
            let sm = if with_metadata {
                format!(r#",{{"trace_id":"t{i}"}}"#)
            } else {
                String::new()
            };
            format!(r#"["{}","{prefix}-{i}"{sm}]"#, base + i as i64)
        })
        .collect();
    format!(
        r#"{{"streams":[{{"stream":{{"app":"api"}},"values":[{}]}}]}}"#,
        values.join(",")
    )
}

async fn push(agent: &Agent, headers: &[(&str, &str)], body: String) -> (u16, String) {
    let mut all = vec![JSON];
    all.extend_from_slice(headers);
    post(
        &reqwest::Client::new(),
        &agent.url(0, "/loki/api/v1/push"),
        &all,
        body,
    )
    .await
}

/// The sum over the metric lines starting with `name` and containing every
/// one of `parts`; `None` when there is no such line.
async fn metric(agent: &Agent, name: &str, parts: &[&str]) -> Option<f64> {
    let text = reqwest::get(agent.url(0, "/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let values: Vec<f64> = text
        .lines()
        .filter(|l| l.starts_with(name) && parts.iter().all(|p| l.contains(p)))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

/// Polls `metric` until it equals `want` or the wait runs out.
async fn wait_metric(agent: &Agent, name: &str, parts: &[&str], want: f64) -> Option<f64> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let got = metric(agent, name, parts).await;
        if got == Some(want) || tokio::time::Instant::now() >= deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn entries_arrive_with_labels_timestamp_metadata_and_tenant() {
    let loki = FakeLoki::start().await;
    let agent = start(&forwarding("a", &[loki.push_url()], "", ""));
    let (status, text) = push(
        &agent,
        &[("X-Scope-OrgID", "team-a")],
        json_lines("l", 1_000, 3, true),
    )
    .await;
    assert_eq!(status, 204, "{text}");
    let (status, _) = push(
        &agent,
        &[("X-Scope-OrgID", "team-b")],
        json_lines("m", 2_000, 1, false),
    )
    .await;
    assert_eq!(status, 204);
    let got = loki.wait_for_entries(4, WAIT).await;
    assert_eq!(got.len(), 4);
    let a: Vec<_> = got
        .iter()
        .filter(|e| e.tenant.as_deref() == Some("team-a"))
        .collect();
    assert_eq!(a.len(), 3);
    assert_eq!(a[0].labels, r#"{app="api", hop_a="yes"}"#);
    assert_eq!((a[0].timestamp_ns, a[0].line.as_str()), (1_000, "l-0"));
    assert_eq!(
        a[2].structured_metadata,
        [("trace_id".to_owned(), "t2".to_owned())]
    );
    let b: Vec<_> = got
        .iter()
        .filter(|e| e.tenant.as_deref() == Some("team-b"))
        .collect();
    assert_eq!(b.len(), 1);
    assert!(b[0].structured_metadata.is_empty());
    // Two tenants never share a request.
    let requests = loki.requests();
    assert!(requests.iter().all(|r| r.status == 204));
    assert!(requests.len() >= 2, "{requests:?}");
    let ua = requests[0]
        .header("user-agent")
        .unwrap_or_default()
        .to_owned();
    assert!(ua.starts_with("pushtail/"), "{ua}");
    assert_eq!(
        requests[0].header("content-type"),
        Some("application/x-protobuf")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn batches_are_cut_by_size_and_by_age() {
    let loki = FakeLoki::start().await;
    // 1 KiB batches; 20 lines of ~100 bytes each cannot fit in one request.
    let agent = start(&forwarding(
        "a",
        &[loki.push_url()],
        "    batchsize: 1KiB\n",
        "",
    ));
    let long = "x".repeat(100);
    assert_eq!(
        push(&agent, &[], json_lines(&long, 1, 20, false)).await.0,
        204
    );
    assert_eq!(loki.wait_for_entries(20, WAIT).await.len(), 20);
    let sizes: Vec<usize> = loki.requests().iter().map(|r| r.entries).collect();
    assert!(
        sizes.len() >= 2 && sizes.iter().all(|&n| n <= 10),
        "by size: {sizes:?}"
    );

    // A lone small push still goes out: the batch is sent when it is batchwait old.
    let before = loki.requests().len();
    assert_eq!(
        push(&agent, &[], json_lines("late", 100, 1, false)).await.0,
        204
    );
    assert_eq!(loki.wait_for_entries(21, WAIT).await.len(), 21);
    assert_eq!(
        loki.requests().len(),
        before + 1,
        "by age: one more request"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn server_errors_are_retried_until_accepted() {
    let loki = FakeLoki::start().await;
    for _ in 0..3 {
        loki.push_behaviour(Behaviour::Status(500));
    }
    let backoff = "    backoff_config: {min_period: 10ms, max_period: 50ms, max_retries: 10}\n";
    let agent = start(&forwarding("a", &[loki.push_url()], backoff, ""));
    assert_eq!(push(&agent, &[], json_lines("r", 1, 5, false)).await.0, 204);
    let got = loki.wait_for_entries(5, WAIT).await;
    let lines: Vec<&str> = got.iter().map(|e| e.line.as_str()).collect();
    assert_eq!(
        lines,
        ["r-0", "r-1", "r-2", "r-3", "r-4"],
        "each entry exactly once"
    );
    assert_eq!(
        wait_metric(&agent, "promtail_sent_entries_total", &[], 5.0).await,
        Some(5.0)
    );
    assert_eq!(
        metric(&agent, "promtail_batch_retries_total", &[]).await,
        Some(3.0)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limited_and_rejected_batches_are_dropped_and_counted() {
    let limited = FakeLoki::start().await;
    limited.set_default(Behaviour::Status(429));
    let rejecting = FakeLoki::start().await;
    rejecting.set_default(Behaviour::StatusBody(400, "line too long".into()));
    let extra = "    drop_rate_limited_batches: true\n    backoff_config: {min_period: 10ms, max_period: 50ms, max_retries: 3}\n";
    let agent = start(&forwarding(
        "a",
        &[limited.push_url(), rejecting.push_url()],
        extra,
        "",
    ));
    assert_eq!(push(&agent, &[], json_lines("d", 1, 4, false)).await.0, 204);
    assert!(limited.wait_for_requests(1, WAIT).await);
    assert!(rejecting.wait_for_requests(1, WAIT).await);
    let host = |l: &FakeLoki| format!("host=\"{}\"", l.addr());
    let dropped = "promtail_dropped_entries_total";
    let rl = wait_metric(
        &agent,
        dropped,
        &["reason=\"rate_limited\"", &host(&limited)],
        4.0,
    )
    .await;
    assert_eq!(rl, Some(4.0), "rate-limited drops");
    let bad = wait_metric(&agent, dropped, &[&host(&rejecting)], 4.0).await;
    assert_eq!(bad, Some(4.0), "rejected drops");
    // Dropped at once: one request each, no retries.
    assert_eq!(limited.request_count(), 1);
    assert_eq!(rejecting.request_count(), 1);
    assert!(limited.entries().is_empty() && rejecting.entries().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hung_loki_turns_into_503_and_everything_acknowledged_arrives_later() {
    let loki = FakeLoki::start().await;
    loki.set_default(Behaviour::Hang(Duration::from_secs(30)));
    let client = "    timeout: 200ms\n    queue_capacity: 1\n    backoff_config: {min_period: 20ms, max_period: 100ms, max_retries: 1000}\n";
    let server = "  push_timeout: 300ms\n";
    let agent = start(&forwarding("a", &[loki.push_url()], client, server));

    // The first push is taken into a batch whose send then hangs; from then on
    // the client reads nothing and its one-slot queue fills.
    assert_eq!(
        push(&agent, &[], json_lines("p0", 1, 10, false)).await.0,
        204
    );
    assert!(
        loki.wait_for_requests(1, WAIT).await,
        "the client never sent"
    );
    let mut acked = 1usize;
    let mut refused = None;
    for i in 1..50 {
        let (status, text) = push(&agent, &[], json_lines(&format!("p{i}"), 1, 10, false)).await;
        match status {
            204 => acked += 1,
            503 => {
                refused = Some(text);
                break;
            }
            other => panic!("push {i}: unexpected {other} {text}"),
        }
    }
    assert!(refused.is_some(), "pushes never got 503 while Loki hung");
    // Backpressure is logged as a refusal at warn, never as an error.
    let log = agent.wait_stderr("status=503", WAIT);
    let line = log
        .iter()
        .find(|l| l.contains("status=503"))
        .unwrap_or_else(|| panic!("{log:?}"));
    assert!(
        line.starts_with("level=warn ") && line.contains("msg=\"push refused\""),
        "{line}"
    );
    assert!(!log.iter().any(|l| l.starts_with("level=error")), "{log:?}");
    // Bounded: the hung batch plus the one queue slot.
    assert!(acked <= 3, "{acked} pushes acknowledged while Loki hung");
    let rejected = metric(
        &agent,
        "pushtail_receiver_rejected_pushes_total",
        &["queue_full"],
    )
    .await;
    assert_eq!(rejected, Some(1.0));
    let pending = metric(&agent, "pushtail_client_pending_entries", &[])
        .await
        .unwrap_or(0.0);
    assert!(
        pending <= (acked * 10) as f64,
        "pending {pending} > acknowledged"
    );

    loki.set_default(Behaviour::Accept);
    assert!(
        loki.wait_for_count((acked * 10) as u64, Duration::from_secs(20))
            .await,
        "not all delivered"
    );
    let got = loki.entries();
    let unique: BTreeSet<&str> = got.iter().map(|e| e.line.as_str()).collect();
    assert_eq!(unique.len(), acked * 10, "no duplicates, nothing lost");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_flushes_pending_batches_before_exit() {
    let loki = FakeLoki::start().await;
    // Batches would wait a minute; only the shutdown flush can send them.
    let yaml =
        forwarding("a", &[loki.push_url()], "", "").replace("batchwait: 50ms", "batchwait: 1m");
    let mut agent = start(&yaml);
    for i in 0..5 {
        assert_eq!(
            push(&agent, &[], json_lines(&format!("s{i}"), 1, 100, false))
                .await
                .0,
            204
        );
    }
    assert_eq!(loki.entry_count(), 0, "nothing sent before shutdown");
    agent.terminate();
    let status = tokio::task::spawn_blocking(move || {
        let s = agent.wait_exit(Duration::from_secs(15));
        (s, agent.stderr())
    })
    .await
    .expect("join");
    assert!(status.0.is_some_and(|s| s.success()), "{status:?}");
    assert_eq!(
        loki.entry_count(),
        500,
        "every accepted line reached Loki before exit"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_clients_both_get_everything_and_a_failing_one_does_not_block_the_other() {
    let good = FakeLoki::start().await;
    let also_good = FakeLoki::start().await;
    let broken = FakeLoki::start().await;
    broken.set_default(Behaviour::Status(500));
    let backoff = "    backoff_config: {min_period: 5ms, max_period: 10ms, max_retries: 2}\n";
    let agent = start(&forwarding(
        "a",
        &[good.push_url(), also_good.push_url(), broken.push_url()],
        backoff,
        "",
    ));
    for i in 0..20 {
        let (status, text) = push(&agent, &[], json_lines(&format!("f{i}"), 1, 50, false)).await;
        assert_eq!(status, 204, "push {i}: {text}");
    }
    assert!(good.wait_for_count(1000, WAIT).await);
    assert!(also_good.wait_for_count(1000, WAIT).await);
    assert_eq!(broken.entry_count(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn chained_agents_keep_labels_tenant_and_metadata_without_loss_or_duplicates() {
    let loki = FakeLoki::start().await;
    let b = start(&forwarding("b", &[loki.push_url()], "", ""));
    let a = start(&forwarding("a", &[b.url(0, "/loki/api/v1/push")], "", ""));
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for r in 0..10 {
        let url = a.url(0, "/loki/api/v1/push");
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let body = json_lines(&format!("c{r}"), (r * 10_000) as i64 + 1, 1000, true);
            post(&client, &url, &[JSON, ("X-Scope-OrgID", "chain")], body).await
        }));
    }
    for t in tasks {
        let (status, text) = t.await.expect("join");
        assert_eq!(status, 204, "{text}");
    }
    assert!(
        loki.wait_for_count(10_000, Duration::from_secs(20)).await,
        "not all arrived"
    );
    let got = loki.entries();
    assert_eq!(got.len(), 10_000, "no duplicates");
    let unique: BTreeSet<&str> = got.iter().map(|e| e.line.as_str()).collect();
    assert_eq!(unique.len(), 10_000);
    for e in &got {
        assert_eq!(e.labels, r#"{app="api", hop_a="yes", hop_b="yes"}"#);
        assert_eq!(e.tenant.as_deref(), Some("chain"));
        let i: usize = e
            .line
            .rsplit('-')
            .next()
            .and_then(|n| n.parse().ok())
            .expect("index");
        assert_eq!(
            e.structured_metadata,
            [("trace_id".to_owned(), format!("t{i}"))]
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn client_flags_add_a_client_and_external_labels() {
    let loki = FakeLoki::start().await;
    // No `clients` in the file: -client.url adds one; -client.external-labels
    // labels every entry unless the entry has the label itself.
    let yaml = "server:\n  http_listen_address: 127.0.0.1\n  http_listen_port: 0\n\
                scrape_configs:\n  - job_name: a\n    http:\n      use_incoming_timestamp: true\n";
    let url_flag = format!("-client.url={}", loki.push_url());
    let agent = Agent::start(
        bin(),
        yaml,
        &[&url_flag, "--client.external-labels", "dc=eu,app=ignored"],
        1,
    );
    assert_eq!(push(&agent, &[], json_lines("x", 1, 2, false)).await.0, 204);
    let got = loki.wait_for_entries(2, WAIT).await;
    assert_eq!(got.len(), 2);
    assert!(
        got.iter().all(|e| e.labels == r#"{app="api", dc="eu"}"#),
        "{got:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_timeout_logs_exactly_what_was_not_delivered() {
    let loki = FakeLoki::start().await;
    loki.set_default(Behaviour::Status(500));
    let client = "    backoff_config: {min_period: 20ms, max_period: 50ms, max_retries: 100000}\n";
    let yaml = forwarding("a", &[loki.push_url()], client, "").replace(
        "graceful_shutdown_timeout: 10s",
        "graceful_shutdown_timeout: 1s",
    );
    let mut agent = start(&yaml);
    assert_eq!(
        push(&agent, &[], json_lines("u", 1, 30, false)).await.0,
        204
    );
    assert_eq!(
        push(&agent, &[], json_lines("v", 100, 7, false)).await.0,
        204
    );
    assert!(
        loki.wait_for_requests(1, WAIT).await,
        "the client never tried"
    );
    agent.terminate();
    let (status, stderr) = tokio::task::spawn_blocking(move || {
        let s = agent.wait_exit(Duration::from_secs(15));
        (s, agent.stderr())
    })
    .await
    .expect("join");
    assert!(
        status.is_some_and(|s| !s.success()),
        "undelivered entries must fail the exit: {status:?}\n{stderr}"
    );
    assert!(stderr.contains("undelivered=37"), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.contains("37 acknowledged entries undelivered"),
        "last line: {last}"
    );
    assert!(!stderr.contains("all entries delivered"), "{stderr}");
    assert_eq!(loki.entry_count(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn dropped_entries_fail_the_exit_and_the_last_line_says_so() {
    let loki = FakeLoki::start().await;
    loki.set_default(Behaviour::StatusBody(400, "line too long".into()));
    let mut agent = start(&forwarding("a", &[loki.push_url()], "", ""));
    assert_eq!(push(&agent, &[], json_lines("d", 1, 4, false)).await.0, 204);
    assert!(loki.wait_for_requests(1, WAIT).await);
    assert_eq!(
        wait_metric(&agent, "promtail_dropped_entries_total", &[], 4.0).await,
        Some(4.0)
    );
    agent.terminate();
    let (status, stderr) = tokio::task::spawn_blocking(move || {
        let s = agent.wait_exit(Duration::from_secs(15));
        (s, agent.stderr())
    })
    .await
    .expect("join");
    assert!(status.is_some_and(|s| !s.success()), "{status:?}\n{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.contains("dropping 4 acknowledged entries"),
        "last line: {last}"
    );
    assert!(!stderr.contains("all entries delivered"), "{stderr}");
}

/// A JSON push of `tenants` streams, each with its own `__tenant_id__`
/// label (relabelled into the tenant), one line `"{prefix}-{i}"` each.
fn many_tenant_push(prefix: &str, tenants: usize) -> String {
    let streams: Vec<String> = (0..tenants)
        .map(|i| {
            format!(r#"{{"stream":{{"app":"api","__tenant_id__":"t{i}"}},"values":[["{}","{prefix}-{i}"]]}}"#, 1 + i)
        })
        .collect();
    format!(r#"{{"streams":[{}]}}"#, streams.join(","))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_503_takes_nothing_even_when_a_push_fans_into_more_tenants_than_queue_slots() {
    let loki = FakeLoki::start().await;
    loki.set_default(Behaviour::Hang(Duration::from_secs(30)));
    // Four queue slots, 40 tenants per push: before, 4 tenants' batches of a
    // refused push were queued anyway and its retry delivered them twice.
    let client = "    timeout: 200ms\n    queue_capacity: 4\n    backoff_config: {min_period: 20ms, max_period: 100ms, max_retries: 1000}\n";
    let server = "  push_timeout: 300ms\n";
    let agent = start(&forwarding("a", &[loki.push_url()], client, server));
    assert_eq!(
        push(&agent, &[], json_lines("first", 1, 1, false)).await.0,
        204
    );
    assert!(
        loki.wait_for_requests(1, WAIT).await,
        "the client never sent"
    );

    let mut acked = Vec::new();
    let mut refused = Vec::new();
    for i in 0..10 {
        let prefix = format!("p{i}");
        let (status, text) = push(&agent, &[], many_tenant_push(&prefix, 40)).await;
        match status {
            204 => acked.push(prefix),
            503 => refused.push(prefix),
            other => panic!("push {i}: unexpected {other} {text}"),
        }
    }
    assert!(!refused.is_empty(), "no push was refused while Loki hung");
    // The pusher retries what was refused once Loki is back.
    loki.set_default(Behaviour::Accept);
    for prefix in &refused {
        let (status, text) = loop {
            let got = push(&agent, &[], many_tenant_push(prefix, 40)).await;
            if got.0 != 503 {
                break got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(status, 204, "{text}");
    }
    let want = 1 + 40 * (acked.len() + refused.len());
    assert!(
        loki.wait_for_count(want as u64, Duration::from_secs(20))
            .await,
        "not all delivered"
    );
    let got = loki.entries();
    let mut seen = BTreeSet::new();
    let duplicates: Vec<&str> = got
        .iter()
        .map(|e| e.line.as_str())
        .filter(|l| !seen.insert(*l))
        .collect();
    assert!(duplicates.is_empty(), "delivered twice: {duplicates:?}");
    assert_eq!(seen.len(), want);
}

/// Promtail's `limits_config` through the real binary: a long line is cut
/// to `max_line_size` (`max_line_size_truncate`) and counted as mutated; a
/// batch carries at most `max_streams` streams; the readline limit is one
/// bucket for every target (its burst passes, the rest is dropped and
/// counted). What is not limited arrives unchanged.
#[tokio::test(flavor = "multi_thread")]
async fn limits_config_cuts_lines_caps_streams_and_rate_limits_reads() {
    let loki = FakeLoki::start().await;
    let yaml = format!(
        "{}limits_config:\n  max_line_size: 8\n  max_line_size_truncate: true\n  max_streams: 1\n\
         \x20 readline_rate_enabled: true\n  readline_rate: 0.0001\n  readline_burst: 4\n",
        forwarding("lim", &[loki.push_url()], "", "").replace("batchwait: 50ms", "batchwait: 1h")
    );
    let mut agent = start(&yaml);
    // One push, two streams: the second is over max_streams in the batch.
    let body = r#"{"streams":[
        {"stream":{"s":"a"},"values":[["1","short"],["2","0123456789abc"]]},
        {"stream":{"s":"b"},"values":[["3","other stream"]]}]}"#;
    assert_eq!(push(&agent, &[], body.to_owned()).await.0, 204);
    // The readline burst (4) is now one token from spent: of these two,
    // the first passes and the second is dropped.
    assert_eq!(
        push(&agent, &[], json_lines("r", 10, 2, false)).await.0,
        204
    );
    let counted: &[(&str, &[&str], f64)] = &[
        // Cut before batching, as Promtail does: the other stream's line
        // too, though its entry is then over max_streams.
        ("promtail_mutated_entries_total", &["line_too_long"], 2.0),
        ("promtail_mutated_bytes_total", &["line_too_long"], 9.0),
        ("promtail_dropped_entries_total", &["stream_limited"], 2.0),
        (
            "logentry_dropped_lines_total",
            &["global_rate_limiter_drop"],
            1.0,
        ),
    ];
    for (name, parts, want) in counted {
        assert_eq!(
            wait_metric(&agent, name, parts, *want).await,
            Some(*want),
            "{name}{parts:?}"
        );
    }
    // A graceful stop sends the one batch `batchwait` holds.
    agent.terminate();
    assert!(agent.wait_exit(WAIT).is_some_and(|s| s.success()));
    let got: Vec<(String, String)> = loki
        .entries()
        .into_iter()
        .map(|e| (e.labels, e.line))
        .collect();
    let want: Vec<(String, String)> = [
        (r#"{hop_lim="yes", s="a"}"#, "short"),
        (r#"{hop_lim="yes", s="a"}"#, "01234567"),
    ]
    .iter()
    .map(|(l, e)| ((*l).to_owned(), (*e).to_owned()))
    .collect();
    assert_eq!(got, want);
}
