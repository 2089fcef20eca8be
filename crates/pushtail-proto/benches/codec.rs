//! Codec throughput on a 1000-line request (10 streams x 100 lines x 200
//! bytes), reported in lines per second.

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use pushtail_proto::encoding::{snappy_decode_limited, snappy_encode};
use pushtail_proto::json::{decode_push_json, encode_push_json};
use pushtail_proto::labels::LabelSet;
use pushtail_proto::model::{Entry, Stream};
use pushtail_proto::push::{decode_push_proto, encode_push_proto};
use pushtail_proto::syntax::parse_labels;

const STREAMS: usize = 10;
const LINES: usize = 100;
const LINE_LEN: usize = 200;

fn request() -> Vec<Stream> {
    (0..STREAMS)
        .map(|s| {
            let labels = LabelSet::from_pairs([
                ("app", "checkout".to_owned()),
                ("env", "prod".to_owned()),
                ("instance", format!("10.0.0.{s}:8080")),
                ("job", "default/checkout".to_owned()),
            ])
            .expect("valid labels");
            let entries = (0..LINES)
                .map(|i| {
                    let mut line =
                        format!("level=info ts=2024-01-01T00:00:00Z stream={s} line={i} msg=\"");
                    line.extend(std::iter::repeat_n(
                        'x',
                        LINE_LEN.saturating_sub(line.len() + 1),
                    ));
                    line.push('"');
                    Entry::new(1_700_000_000_000_000_000 + i as i64, line)
                })
                .collect();
            Stream { labels, entries }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let streams = request();
    let lines = (STREAMS * LINES) as u64;

    let mut g = c.benchmark_group("labels");
    let selector = streams[0].labels.as_str().as_bytes().to_vec();
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse_labels", |b| {
        b.iter(|| parse_labels(black_box(&selector)))
    });
    g.finish();

    let mut g = c.benchmark_group("codec_1000_lines");
    g.throughput(Throughput::Elements(lines));

    let json = encode_push_json(&streams);
    g.bench_function("json_decode", |b| {
        b.iter(|| decode_push_json(black_box(&json)))
    });
    g.bench_function("json_encode", |b| {
        b.iter(|| encode_push_json(black_box(&streams)))
    });

    let mut proto = Vec::new();
    encode_push_proto(&streams, &mut proto);
    let proto = Bytes::from(proto);
    g.bench_function("proto_decode", |b| {
        b.iter(|| decode_push_proto(black_box(proto.clone())))
    });

    let mut compressed = Vec::new();
    let mut enc = snap::raw::Encoder::new();
    snappy_encode(&proto, &mut enc, &mut compressed).expect("snappy");
    g.bench_function("snappy_proto_decode", |b| {
        b.iter(|| {
            let body = snappy_decode_limited(black_box(&compressed), 100 << 20).expect("snappy");
            decode_push_proto(body)
        })
    });

    let mut buf = Vec::new();
    let mut out = Vec::new();
    g.bench_function("proto_encode", |b| {
        b.iter(|| {
            encode_push_proto(black_box(&streams), &mut buf);
            buf.len()
        })
    });
    g.bench_function("proto_encode_snappy", |b| {
        b.iter(|| {
            encode_push_proto(black_box(&streams), &mut buf);
            snappy_encode(&buf, &mut enc, &mut out).expect("snappy");
            out.len()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
