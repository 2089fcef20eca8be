//! The client against the fake Loki on loopback: what arrives, how it is
//! batched, and what the status policy does (read from the metrics).

use std::sync::Arc;
use std::time::Duration;

use metrics::LocalRecorderGuard;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use pushtail_client::config::ClientConfig;
use pushtail_client::{Client, ClientError, ClientHandle};
use pushtail_proto::labels::LabelSet;
use pushtail_proto::model::{Entry, Stream, TenantBatch};
use pushtail_proto::tenant::TenantId;
use pushtail_proto::units::{ByteSize, Duration as D};
use pushtail_tests::fake_loki::{Behaviour, FakeLoki, Received};
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(20);

/// A recorder for this test only. `#[tokio::test]` runs every task on the
/// test's thread, so a thread-local recorder sees the client's metrics
/// (handles are built at spawn) and no other test's.
fn recorder() -> (Snapshotter, LocalRecorderGuard<'static>) {
    let recorder: &'static DebuggingRecorder = Box::leak(Box::new(DebuggingRecorder::new()));
    (
        recorder.snapshotter(),
        metrics::set_default_local_recorder(recorder),
    )
}

/// The value of metric `name` with the given labels (plus `host`).
fn metric(snap: &Snapshotter, loki: &FakeLoki, name: &str, labels: &[(&str, &str)]) -> f64 {
    let host = loki.addr().to_string();
    let found = snap.snapshot().into_vec().into_iter().find(|(k, ..)| {
        let key = k.key();
        key.name() == name
            && key.labels().any(|l| l.key() == "host" && l.value() == host)
            && labels
                .iter()
                .all(|(n, v)| key.labels().any(|l| l.key() == *n && l.value() == *v))
    });
    match found {
        Some((.., DebugValue::Counter(v))) => v as f64,
        Some((.., DebugValue::Gauge(v))) => v.into_inner(),
        other => panic!("metric {name}{labels:?} for {host}: {other:?}"),
    }
}

fn config(loki: &FakeLoki) -> ClientConfig {
    let mut cfg = ClientConfig::new(loki.push_url());
    // Long by default, so batches go by size or at shutdown unless a test
    // is about age.
    cfg.batchwait = D::from_secs(3600);
    cfg.backoff_config.min_period = D::from_millis(5);
    cfg.backoff_config.max_period = D::from_millis(20);
    cfg
}

fn start(cfg: ClientConfig) -> (mpsc::Sender<Arc<TenantBatch>>, ClientHandle) {
    let (tx, rx) = mpsc::channel(cfg.queue_capacity);
    let handle = Client::spawn(cfg, rx).expect("spawn client");
    (tx, handle)
}

fn labels(pairs: &[(&str, &str)]) -> LabelSet {
    LabelSet::from_pairs(pairs.iter().copied()).expect("valid labels")
}

fn batch(tenant: Option<&str>, stream: &[(&str, &str)], lines: &[&str]) -> Arc<TenantBatch> {
    Arc::new(TenantBatch {
        tenant: tenant.map(|t| TenantId::new(t).expect("valid tenant")),
        streams: vec![Stream {
            labels: labels(stream),
            entries: lines
                .iter()
                .enumerate()
                .map(|(i, l)| Entry::new(1_000 + i as i64, l.to_string()))
                .collect(),
        }],
    })
}

/// Closes the queue and waits for the client to flush everything.
async fn finish(tx: mpsc::Sender<Arc<TenantBatch>>, mut handle: ClientHandle) {
    drop(tx);
    tokio::time::timeout(WAIT, handle.finished())
        .await
        .expect("client finishes");
    assert_eq!(handle.pending_entries(), 0);
}

#[tokio::test]
async fn entry_arrives_intact() {
    let (snap, _metrics) = recorder();
    let loki = FakeLoki::start().await;
    let (tx, handle) = start(config(&loki));
    let mut entry = Entry::new(1_700_000_000_123_456_789, "hello");
    entry.structured_metadata = vec![("trace_id".into(), "abc".into())];
    let tb = TenantBatch {
        tenant: Some(TenantId::new("team-a").unwrap()),
        streams: vec![Stream {
            labels: labels(&[("app", "api"), ("env", "prod")]),
            entries: vec![entry],
        }],
    };
    tx.send(Arc::new(tb)).await.unwrap();
    finish(tx, handle).await;
    assert_eq!(
        loki.entries(),
        [Received {
            tenant: Some("team-a".into()),
            labels: r#"{app="api", env="prod"}"#.into(),
            timestamp_ns: 1_700_000_000_123_456_789,
            line: "hello".into(),
            structured_metadata: vec![("trace_id".into(), "abc".into())],
        }]
    );
    let req = &loki.requests()[0];
    assert_eq!(req.header("content-type"), Some("application/x-protobuf"));
    let ua = format!("pushtail/{}", env!("CARGO_PKG_VERSION"));
    assert_eq!(req.header("user-agent"), Some(ua.as_str()));
    assert_eq!(
        metric(&snap, &loki, "promtail_sent_entries_total", &[]),
        1.0
    );
    assert_eq!(metric(&snap, &loki, "promtail_sent_bytes_total", &[]), 16.0);
    assert!(metric(&snap, &loki, "promtail_encoded_bytes_total", &[]) > 0.0);
    let reason = [("reason", "ingester_error")];
    assert_eq!(
        metric(&snap, &loki, "promtail_dropped_entries_total", &reason),
        0.0
    );
}

#[tokio::test]
async fn external_labels_merge_and_entry_labels_win() {
    let loki = FakeLoki::start().await;
    let mut cfg = config(&loki);
    cfg.external_labels.insert("cluster".into(), "eu".into());
    cfg.external_labels.insert("app".into(), "external".into());
    let (tx, handle) = start(cfg);
    tx.send(batch(None, &[("app", "own")], &["a"]))
        .await
        .unwrap();
    tx.send(batch(None, &[("job", "j")], &["b"])).await.unwrap();
    finish(tx, handle).await;
    let mut got: Vec<String> = loki.entries().into_iter().map(|r| r.labels).collect();
    got.sort();
    assert_eq!(
        got,
        [
            r#"{app="external", cluster="eu", job="j"}"#,
            r#"{app="own", cluster="eu"}"#
        ]
    );
}

#[tokio::test]
async fn batches_by_size_and_oversized_entries_go_alone() {
    let loki = FakeLoki::start().await;
    let mut cfg = config(&loki);
    cfg.batchsize = ByteSize(10);
    let (tx, handle) = start(cfg);
    let lines = [
        "aaaa",
        "bbbb",
        "cccc",
        "dddd",
        "eeee",
        "this line is oversized",
        "ffff",
    ];
    tx.send(batch(None, &[("a", "1")], &lines)).await.unwrap();
    finish(tx, handle).await;
    let per_request: Vec<usize> = loki.requests().iter().map(|r| r.entries).collect();
    assert_eq!(per_request, [2, 2, 1, 1, 1]);
    let got: Vec<String> = loki.entries().into_iter().map(|r| r.line).collect();
    assert_eq!(got, lines);
}

#[tokio::test]
async fn batches_by_age_without_more_input() {
    let loki = FakeLoki::start().await;
    let mut cfg = config(&loki);
    cfg.batchwait = D::from_millis(50);
    let (tx, handle) = start(cfg);
    tx.send(batch(None, &[("a", "1")], &["x"])).await.unwrap();
    // The queue stays open: only the batch's age can send it.
    let got = loki.wait_for_entries(1, WAIT).await;
    assert_eq!(got.len(), 1);
    finish(tx, handle).await;
}

#[tokio::test]
async fn one_request_per_tenant_with_default_tenant() {
    let loki = FakeLoki::start().await;
    let mut cfg = config(&loki);
    cfg.tenant_id = "fallback".into();
    let (tx, handle) = start(cfg);
    tx.send(batch(Some("a"), &[("x", "1")], &["1", "2"]))
        .await
        .unwrap();
    tx.send(batch(Some("b"), &[("x", "1")], &["3"]))
        .await
        .unwrap();
    tx.send(batch(None, &[("x", "1")], &["4"])).await.unwrap();
    tx.send(batch(Some("a"), &[("x", "2")], &["5"]))
        .await
        .unwrap();
    finish(tx, handle).await;
    let mut reqs: Vec<(Option<String>, Option<String>, usize, usize)> = loki
        .requests()
        .iter()
        .map(|r| {
            (
                r.tenant.clone(),
                r.header("x-scope-orgid").map(str::to_owned),
                r.streams,
                r.entries,
            )
        })
        .collect();
    reqs.sort();
    let t = |s: &str| Some(s.to_owned());
    assert_eq!(
        reqs,
        [
            (t("a"), t("a"), 2, 3),
            (t("b"), t("b"), 1, 1),
            (t("fallback"), t("fallback"), 1, 1)
        ]
    );
}

#[tokio::test]
async fn no_tenant_header_without_a_tenant() {
    let loki = FakeLoki::start().await;
    let (tx, handle) = start(config(&loki));
    tx.send(batch(None, &[("x", "1")], &["1"])).await.unwrap();
    finish(tx, handle).await;
    assert_eq!(loki.requests()[0].header("x-scope-orgid"), None);
}

#[tokio::test]
async fn server_errors_are_retried_until_accepted() {
    let (snap, _metrics) = recorder();
    let loki = FakeLoki::start().await;
    for _ in 0..3 {
        loki.push_behaviour(Behaviour::Status(500));
    }
    let (tx, handle) = start(config(&loki));
    tx.send(batch(None, &[("a", "1")], &["1", "2", "3"]))
        .await
        .unwrap();
    finish(tx, handle).await;
    let statuses: Vec<u16> = loki.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [500, 500, 500, 204]);
    let lines: Vec<String> = loki.entries().into_iter().map(|r| r.line).collect();
    assert_eq!(lines, ["1", "2", "3"]);
    assert_eq!(
        metric(&snap, &loki, "promtail_batch_retries_total", &[]),
        3.0
    );
    assert_eq!(
        metric(&snap, &loki, "promtail_sent_entries_total", &[]),
        3.0
    );
}

#[tokio::test]
async fn drops_are_counted_with_their_reason() {
    // answer, drop_rate_limited_batches, reason, requests made
    let cases: &[(Behaviour, bool, &str, usize)] = &[
        (Behaviour::Status(429), true, "rate_limited", 1),
        (Behaviour::Status(400), false, "ingester_error", 1),
        (Behaviour::Status(404), false, "ingester_error", 1),
        (
            Behaviour::StatusBody(400, "Max entry size '8' bytes exceeded for stream".into()),
            false,
            "line_too_long",
            1,
        ),
        (
            Behaviour::StatusBody(400, "Maximum active stream limit exceeded".into()),
            false,
            "stream_limited",
            1,
        ),
        // Out of retries (max_retries 3): 3 attempts.
        (Behaviour::Status(503), false, "ingester_error", 3),
        (Behaviour::Status(429), false, "rate_limited", 3),
    ];
    for (answer, drop_rate_limited, reason, attempts) in cases {
        let (snap, _metrics) = recorder();
        let loki = FakeLoki::start().await;
        loki.set_default(answer.clone());
        let mut cfg = config(&loki);
        cfg.drop_rate_limited_batches = *drop_rate_limited;
        cfg.backoff_config.max_retries = 3;
        let (tx, handle) = start(cfg);
        tx.send(batch(None, &[("a", "1")], &["one", "two"]))
            .await
            .unwrap();
        finish(tx, handle).await;
        let what = format!("{answer:?} drop_rate_limited={drop_rate_limited}");
        assert_eq!(loki.requests().len(), *attempts, "{what}");
        assert!(loki.entries().is_empty(), "{what}");
        let r = [("reason", *reason)];
        assert_eq!(
            metric(&snap, &loki, "promtail_dropped_entries_total", &r),
            2.0,
            "{what}"
        );
        assert_eq!(
            metric(&snap, &loki, "promtail_dropped_bytes_total", &r),
            6.0,
            "{what}"
        );
        let retries = (*attempts - 1) as f64;
        assert_eq!(
            metric(&snap, &loki, "promtail_batch_retries_total", &[]),
            retries,
            "{what}"
        );
        assert_eq!(
            metric(&snap, &loki, "promtail_sent_entries_total", &[]),
            0.0,
            "{what}"
        );
    }
}

#[tokio::test]
async fn requests_hanging_past_the_timeout_are_retried() {
    let (snap, _metrics) = recorder();
    let loki = FakeLoki::start().await;
    loki.push_behaviour(Behaviour::Hang(Duration::from_secs(3600)));
    let mut cfg = config(&loki);
    cfg.timeout = D::from_millis(200);
    let (tx, handle) = start(cfg);
    tx.send(batch(None, &[("a", "1")], &["x"])).await.unwrap();
    finish(tx, handle).await;
    assert_eq!(loki.entries().len(), 1);
    assert_eq!(loki.request_count(), 2);
    assert_eq!(
        metric(&snap, &loki, "promtail_batch_retries_total", &[]),
        1.0
    );
}

#[tokio::test]
async fn shutdown_flushes_every_tenant() {
    let loki = FakeLoki::start().await;
    let (tx, handle) = start(config(&loki));
    let mut want = 0;
    for i in 0..50 {
        let tenant = format!("t{}", i % 3);
        tx.send(batch(Some(&tenant), &[("i", "x")], &["a", "b"]))
            .await
            .unwrap();
        want += 2;
    }
    assert_eq!(loki.request_count(), 0, "nothing is due before shutdown");
    finish(tx, handle).await;
    assert_eq!(loki.entries().len(), want);
    assert_eq!(loki.requests().len(), 3);
}

#[tokio::test]
async fn pending_entries_cover_batches_being_retried() {
    let (snap, _metrics) = recorder();
    let loki = FakeLoki::start().await;
    loki.set_default(Behaviour::Status(500));
    let mut cfg = config(&loki);
    cfg.batchwait = D::from_millis(10);
    cfg.backoff_config.max_retries = 1_000_000;
    let (tx, handle) = start(cfg);
    tx.send(batch(None, &[("a", "1")], &["1", "2", "3"]))
        .await
        .unwrap();
    assert!(loki.wait_for_requests(2, WAIT).await);
    assert_eq!(handle.pending_entries(), 3);
    assert_eq!(
        metric(&snap, &loki, "pushtail_client_pending_entries", &[]),
        3.0
    );
    loki.set_default(Behaviour::Accept);
    assert_eq!(loki.wait_for_entries(3, WAIT).await.len(), 3);
    finish(tx, handle).await;
    assert_eq!(
        metric(&snap, &loki, "pushtail_client_pending_entries", &[]),
        0.0
    );
}

#[tokio::test]
async fn after_shutdown_pending_entries_include_the_queue() {
    let loki = FakeLoki::start().await;
    loki.set_default(Behaviour::Status(500));
    let mut cfg = config(&loki);
    cfg.batchwait = D::from_millis(10);
    cfg.queue_capacity = 4;
    cfg.backoff_config.max_retries = 1_000_000;
    let (tx, mut handle) = start(cfg);
    tx.send(batch(None, &[("a", "1")], &["1", "2", "3"]))
        .await
        .unwrap();
    assert!(loki.wait_for_requests(1, WAIT).await);
    // The task is stuck retrying: these wait in the queue.
    for _ in 0..3 {
        tx.send(batch(None, &[("a", "2")], &["4", "5"]))
            .await
            .unwrap();
    }
    assert_eq!(handle.pending_entries(), 3);
    drop(tx);
    // Two more attempts: at least one retry wait ran after the close.
    let seen = loki.request_count();
    assert!(loki.wait_for_requests(seen + 2, WAIT).await);
    assert_eq!(handle.pending_entries(), 9);
    loki.set_default(Behaviour::Accept);
    tokio::time::timeout(WAIT, handle.finished())
        .await
        .expect("client finishes");
    assert_eq!(handle.pending_entries(), 0);
    assert_eq!(loki.entries().len(), 9);
}

#[tokio::test]
async fn auth_and_configured_headers_are_sent() {
    let dir = tempfile::tempdir().unwrap();
    let password = dir.path().join("password");
    std::fs::write(&password, "p\n").unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, " tok \n").unwrap();
    let loki = FakeLoki::start().await;

    let mut basic = config(&loki);
    basic.basic_auth = Some(pushtail_client::config::BasicAuth {
        username: "u".into(),
        password: None,
        password_file: Some(password),
    });
    basic.headers.insert("X-Extra".into(), "1".into());
    let mut bearer = config(&loki);
    bearer.bearer_token_file = Some(token);
    let mut inline = config(&loki);
    inline.bearer_token = Some("inline".into());

    for cfg in [basic, bearer, inline] {
        let (tx, handle) = start(cfg);
        tx.send(batch(None, &[("a", "1")], &["x"])).await.unwrap();
        finish(tx, handle).await;
    }
    let reqs = loki.requests();
    let auth: Vec<Option<&str>> = reqs.iter().map(|r| r.header("authorization")).collect();
    assert_eq!(
        auth,
        [
            Some("Basic dTpw"),
            Some("Bearer tok"),
            Some("Bearer inline")
        ]
    );
    assert_eq!(reqs[0].header("x-extra"), Some("1"));
}

#[tokio::test]
async fn bad_files_are_named_at_spawn() {
    let dir = tempfile::tempdir().unwrap();
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "not a certificate").unwrap();
    let not_pem = not_pem.to_str().unwrap().to_owned();
    let missing = "/nonexistent/pushtail-file";
    type Edit = Box<dyn Fn(&mut ClientConfig)>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "bearer_token_file",
            Box::new(|c| c.bearer_token_file = Some(missing.into())),
            missing,
        ),
        (
            "password_file",
            Box::new(|c| {
                c.basic_auth = Some(pushtail_client::config::BasicAuth {
                    username: "u".into(),
                    password: None,
                    password_file: Some(missing.into()),
                })
            }),
            missing,
        ),
        (
            "ca_file missing",
            Box::new(|c| c.tls_config.ca_file = Some(missing.into())),
            missing,
        ),
        (
            "ca_file not pem",
            Box::new({
                let p = not_pem.clone();
                move |c| c.tls_config.ca_file = Some(p.clone().into())
            }),
            &not_pem,
        ),
        (
            "cert and key not pem",
            Box::new({
                let p = not_pem.clone();
                move |c| {
                    c.tls_config.cert_file = Some(p.clone().into());
                    c.tls_config.key_file = Some(p.clone().into());
                }
            }),
            &not_pem,
        ),
        (
            "invalid config",
            Box::new(|c| c.url = "nope".into()),
            "url \"nope\" is invalid",
        ),
    ];
    for (name, edit, want) in cases {
        let mut cfg = ClientConfig::new("http://127.0.0.1:1/loki/api/v1/push");
        edit(&mut cfg);
        let (_tx, rx) = mpsc::channel(1);
        let err = Client::spawn(cfg, rx).err().expect("spawn fails");
        assert!(err.to_string().contains(want), "{name}: {err}");
        if want == missing {
            assert!(
                matches!(err, ClientError::ReadFile { .. }),
                "{name}: {err:?}"
            );
        }
    }
}

#[tokio::test]
async fn tls_config_is_honoured() {
    use pushtail_tests::fake_loki::tls::tls_fixture;
    // server wants a client cert, ca_file, client cert+key, insecure_skip_verify, delivered
    let cases = [
        (false, true, false, false, true),
        (false, false, false, false, false),
        (false, false, false, true, true),
        (true, true, true, false, true),
        (true, true, false, false, false),
    ];
    for (require_client_cert, ca, client_cert, insecure, delivered) in cases {
        let what = format!(
            "client cert required {require_client_cert}, ca {ca}, client cert {client_cert}, insecure {insecure}"
        );
        let loki = FakeLoki::start_tls(require_client_cert).await;
        let mut cfg = config(&loki);
        cfg.backoff_config.max_retries = 2;
        if ca {
            cfg.tls_config.ca_file = Some(tls_fixture("ca.pem"));
        }
        if client_cert {
            cfg.tls_config.cert_file = Some(tls_fixture("client.pem"));
            cfg.tls_config.key_file = Some(tls_fixture("client.key"));
        }
        cfg.tls_config.insecure_skip_verify = insecure;
        let (tx, handle) = start(cfg);
        tx.send(batch(Some("t"), &[("a", "1")], &["x"]))
            .await
            .unwrap();
        finish(tx, handle).await;
        assert_eq!(loki.entries().len(), usize::from(delivered), "{what}");
    }
}
