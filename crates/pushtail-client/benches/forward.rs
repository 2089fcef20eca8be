//! Client cost per batch, end to end: `Client::spawn` reads per-request
//! batches (10 streams x 100 lines of 200 bytes) from its queue, batches,
//! encodes, snappy-compresses and sends them to the test kit's counting
//! fake Loki in the same process. Batch building and encoding are private,
//! so this measures them through the public client; the fake Loki's own
//! decode is included in the figure.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pushtail_client::config::ClientConfig;
use pushtail_client::Client;
use pushtail_proto::labels::LabelSet;
use pushtail_proto::model::{Delivery, Entry, Stream, TenantBatch};
use pushtail_tests::fake_loki::FakeLoki;

const STREAMS: usize = 10;
const LINES_PER_STREAM: usize = 100;
const WAIT: Duration = Duration::from_secs(30);

fn batch() -> Arc<Delivery> {
    let mut seq = 0i64;
    let streams = (0..STREAMS)
        .map(|s| Stream {
            labels: LabelSet::from_pairs([
                ("app", "bench".to_owned()),
                ("stream", format!("s{s}")),
            ])
            .expect("labels"),
            entries: (0..LINES_PER_STREAM)
                .map(|_| {
                    seq += 1;
                    let line = format!(
                        "level=info seq={seq:08} msg=\"request served\" {}",
                        "x".repeat(160)
                    );
                    Entry::new(1_700_000_000_000_000_000 + seq, line)
                })
                .collect(),
        })
        .collect();
    Arc::new(Delivery::new(vec![TenantBatch {
        tenant: None,
        streams,
    }]))
}

fn bench_forward(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (loki, tx, _handle) = rt.block_on(async {
        let loki = FakeLoki::start_counting().await;
        let yaml = format!(
            "url: {}\nbatchwait: 5ms\nbatchsize: 1MiB\n",
            loki.push_url()
        );
        let config: ClientConfig = serde_yaml::from_str(&yaml).expect("client config");
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let handle = Client::spawn(config, rx).expect("client");
        (loki, tx, handle)
    });
    let batch = batch();
    let per_batch = batch.entry_count() as u64;

    let mut group = c.benchmark_group("client_forward");
    group.throughput(Throughput::Elements(per_batch));
    group.bench_function("batch_1000_lines", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let target = loki.entry_count() + iters * per_batch;
                let start = Instant::now();
                for _ in 0..iters {
                    tx.send(Arc::clone(&batch)).await.expect("queue open");
                }
                assert!(
                    loki.wait_for_count(target, WAIT).await,
                    "fake loki got too few entries"
                );
                start.elapsed()
            })
        })
    });
    group.finish();
}

criterion_group!(benches, bench_forward);
criterion_main!(benches);
