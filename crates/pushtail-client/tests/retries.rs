//! The status policy against the fake Loki: retries, drops and their
//! reasons (read from the metrics), and what the client reports as pending.

mod common;

use std::time::Duration;

use pushtail_proto::units::Duration as D;
use pushtail_tests::fake_loki::{Behaviour, FakeLoki};

use common::*;

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
        tx.send(batch(Some("team-a"), &[("a", "1")], &["one", "two"]))
            .await
            .unwrap();
        finish(tx, handle).await;
        let what = format!("{answer:?} drop_rate_limited={drop_rate_limited}");
        assert_eq!(loki.requests().len(), *attempts, "{what}");
        assert!(loki.entries().is_empty(), "{what}");
        // Promtail's labels: host, tenant, reason.
        let r = [("reason", *reason), ("tenant", "team-a")];
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
            metric(
                &snap,
                &loki,
                "promtail_batch_retries_total",
                &[("tenant", "team-a")]
            ),
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
