//! The client against the fake Loki on loopback: what arrives, with which
//! labels, tenants and headers, and how it is batched.

mod common;

use std::sync::Arc;

use pushtail_proto::model::{Delivery, Entry, Stream, TenantBatch};
use pushtail_proto::tenant::TenantId;
use pushtail_proto::units::{ByteSize, Duration as D};
use pushtail_tests::fake_loki::{FakeLoki, Received};

use common::*;

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
    tx.send(Arc::new(Delivery::new(vec![tb]))).await.unwrap();
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

/// A delivery of `lines` as read back from the log at `start..end`.
fn logged(start: u64, end: u64, lines: &[&str]) -> Arc<Delivery> {
    let mut d = (*batch(None, &[("app", "api")], lines)).clone();
    d.log = Some(pushtail_proto::model::LogSpan { start, end });
    Arc::new(d)
}

#[tokio::test]
async fn the_resume_position_stays_at_the_first_delivery_not_yet_sent() {
    let loki = FakeLoki::start().await;
    let mut cfg = config(&loki);
    // Two lines fill a batch: it goes out at once, the third line waits.
    cfg.batchsize = ByteSize(2);
    let (tx, mut handle) = start(cfg);
    assert_eq!(
        handle.progress().resume_position(),
        None,
        "nothing known yet"
    );
    tx.send(logged(100, 150, &["a"])).await.unwrap();
    tx.send(logged(150, 200, &["b"])).await.unwrap();
    tx.send(logged(200, 260, &["c"])).await.unwrap();
    loki.wait_for_entries(2, WAIT).await;
    // "c" is held in a batch: a reader restarted now must read it again.
    let deadline = tokio::time::Instant::now() + WAIT;
    while handle.progress().resume_position() != Some(200) && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert_eq!(handle.progress().resume_position(), Some(200));
    drop(tx);
    tokio::time::timeout(WAIT, handle.finished()).await.unwrap();
    assert_eq!(
        handle.progress().resume_position(),
        Some(260),
        "everything sent"
    );
    assert_eq!(handle.dropped_entries(), 0);
    assert_eq!(loki.entry_count(), 3);
}

/// `limits_config`: a line past `max_line_size` is dropped, or cut with
/// `max_line_size_truncate` (counted as mutated, with the bytes cut); a
/// batch holds at most `max_streams` streams and a further stream's
/// entries are dropped. Every drop is counted; nothing else is touched.
#[tokio::test]
async fn limits_drop_or_cut_long_lines_and_cap_streams_per_batch() {
    let (snap, _metrics) = recorder();
    let cases: &[(bool, &[&str])] = &[
        (false, &["short", "exactly10!", "a", "b"]),
        (true, &["short", "exactly10!", "0123456789", "a", "b"]),
    ];
    for (truncate, want) in cases {
        let loki = FakeLoki::start().await;
        let mut cfg = config(&loki);
        cfg.limits = pushtail_client::ClientLimits {
            max_line_size: 10,
            max_line_size_truncate: *truncate,
            max_streams: 2,
        };
        let (tx, handle) = start(cfg);
        let long = "0123456789-and-more-é";
        tx.send(batch(None, &[("s", "1")], &["short", "exactly10!", long]))
            .await
            .unwrap();
        tx.send(batch(None, &[("s", "2")], &["a"])).await.unwrap();
        tx.send(batch(None, &[("s", "3")], &["capped"]))
            .await
            .unwrap();
        tx.send(batch(None, &[("s", "2")], &["b"])).await.unwrap();
        finish(tx, handle).await;
        let got: Vec<String> = loki.entries().into_iter().map(|r| r.line).collect();
        assert_eq!(got, *want, "truncate: {truncate}");
        let reason = |r| [("reason", r)];
        let (dropped, mutated) = if *truncate { (0.0, 1.0) } else { (1.0, 0.0) };
        let m = |name, r| metric(&snap, &loki, name, &reason(r));
        assert_eq!(
            m("promtail_dropped_entries_total", "line_too_long"),
            dropped
        );
        assert_eq!(
            m("promtail_dropped_bytes_total", "line_too_long"),
            dropped * long.len() as f64
        );
        assert_eq!(
            m("promtail_mutated_entries_total", "line_too_long"),
            mutated
        );
        assert_eq!(
            m("promtail_mutated_bytes_total", "line_too_long"),
            mutated * (long.len() - 10) as f64
        );
        assert_eq!(m("promtail_dropped_entries_total", "stream_limited"), 1.0);
    }
}
