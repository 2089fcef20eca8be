//! Helpers shared by the client's integration tests: a per-test metrics
//! recorder, a client config for the fake Loki, and batch builders.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use metrics::LocalRecorderGuard;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use pushtail_client::config::ClientConfig;
use pushtail_client::{Client, ClientHandle};
use pushtail_proto::labels::LabelSet;
use pushtail_proto::model::{Delivery, Entry, Stream, TenantBatch};
use pushtail_proto::tenant::TenantId;
use pushtail_proto::units::Duration as D;
use pushtail_tests::fake_loki::FakeLoki;
use tokio::sync::mpsc;

pub const WAIT: Duration = Duration::from_secs(20);

/// A recorder for this test only. `#[tokio::test]` runs every task on the
/// test's thread, so a thread-local recorder sees the client's metrics
/// (handles are built at spawn) and no other test's.
pub fn recorder() -> (Snapshotter, LocalRecorderGuard<'static>) {
    let recorder: &'static DebuggingRecorder = Box::leak(Box::new(DebuggingRecorder::new()));
    (
        recorder.snapshotter(),
        metrics::set_default_local_recorder(recorder),
    )
}

/// The value of metric `name` with the given labels (plus `host`).
pub fn metric(snap: &Snapshotter, loki: &FakeLoki, name: &str, labels: &[(&str, &str)]) -> f64 {
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

pub fn config(loki: &FakeLoki) -> ClientConfig {
    let mut cfg = ClientConfig::new(loki.push_url());
    // Long by default, so batches go by size or at shutdown unless a test
    // is about age.
    cfg.batchwait = D::from_secs(3600);
    cfg.backoff_config.min_period = D::from_millis(5);
    cfg.backoff_config.max_period = D::from_millis(20);
    cfg
}

pub fn start(cfg: ClientConfig) -> (mpsc::Sender<Arc<Delivery>>, ClientHandle) {
    let (tx, rx) = mpsc::channel(cfg.queue_capacity);
    let handle = Client::spawn(cfg, rx).expect("spawn client");
    (tx, handle)
}

pub fn labels(pairs: &[(&str, &str)]) -> LabelSet {
    LabelSet::from_pairs(pairs.iter().copied()).expect("valid labels")
}

pub fn batch(tenant: Option<&str>, stream: &[(&str, &str)], lines: &[&str]) -> Arc<Delivery> {
    Arc::new(Delivery::new(vec![TenantBatch {
        tenant: tenant.map(|t| TenantId::new(t).expect("valid tenant")),
        streams: vec![Stream {
            labels: labels(stream),
            entries: lines
                .iter()
                .enumerate()
                .map(|(i, l)| Entry::new(1_000 + i as i64, l.to_string()))
                .collect(),
        }],
    }]))
}

/// Closes the queue and waits for the client to flush everything.
pub async fn finish(tx: mpsc::Sender<Arc<Delivery>>, mut handle: ClientHandle) {
    drop(tx);
    tokio::time::timeout(WAIT, handle.finished())
        .await
        .expect("client finishes");
    assert_eq!(handle.pending_entries(), 0);
}
