//! Receiver cost per push, end to end over loopback: one keep-alive
//! HTTP/1.1 connection pushes a pre-encoded request (10 streams x 100 lines
//! of 200 bytes) to a real `Receiver` whose output queue is drained by a
//! task. The receiver's per-request pieces (decode, label cache, handoff)
//! are private, so this measures them through the public server; hyper's
//! client side is included in the figure.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use prost::Message;
use pushtail_pipeline::relabel::RelabelRules;
use pushtail_pipeline::Pipeline;
use pushtail_proto::logproto::{EntryAdapter, PushRequest, StreamAdapter};
use pushtail_receiver::config::ServerConfig;
use pushtail_receiver::{ListenerSpec, Output, Receiver, TargetSpec};

const STREAMS: usize = 10;
const LINES_PER_STREAM: usize = 100;

fn request() -> PushRequest {
    let mut seq = 0i64;
    PushRequest {
        streams: (0..STREAMS)
            .map(|s| StreamAdapter {
                labels: format!("{{app=\"bench\", stream=\"s{s}\"}}"),
                entries: (0..LINES_PER_STREAM)
                    .map(|_| {
                        seq += 1;
                        EntryAdapter {
                            timestamp: Some(prost_types::Timestamp {
                                seconds: 1_700_000_000,
                                nanos: seq as i32,
                            }),
                            line: format!(
                                "level=info seq={seq:08} msg=\"request served\" {}",
                                "x".repeat(160)
                            ),
                            structured_metadata: Vec::new(),
                            parsed: Vec::new(),
                        }
                    })
                    .collect(),
                hash: 0,
            })
            .collect(),
    }
}

fn json_body(req: &PushRequest) -> Vec<u8> {
    let streams: Vec<serde_json::Value> = req
        .streams
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let values: Vec<serde_json::Value> = s
                .entries
                .iter()
                .map(|e| {
                    let ts = e.timestamp.map_or(0, |t| t.seconds * 1_000_000_000 + i64::from(t.nanos));
                    serde_json::json!([ts.to_string(), e.line])
                })
                .collect();
            serde_json::json!({"stream": {"app": "bench", "stream": format!("s{i}")}, "values": values})
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({ "streams": streams })).expect("json body")
}

fn bench_push(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let server = ServerConfig {
        http_listen_address: "127.0.0.1".into(),
        http_listen_port: 0,
        ..ServerConfig::default()
    };
    let target = TargetSpec {
        job_name: "bench".into(),
        base_url: "/".into(),
        labels: Vec::new(),
        use_incoming_timestamp: true,
        max_message_size: 100 << 20,
        tenant_id: None,
        relabel: Arc::new(RelabelRules::new(Vec::new()).expect("no rules")),
        pipeline: Arc::new(Pipeline::empty()),
        auth: Default::default(),
        tenant_from_client_cert: None,
    };
    let listeners = vec![ListenerSpec {
        server,
        targets: vec![target],
        serve_metrics: true,
    }];
    let output = Output {
        queues: vec![tx],
        push_timeout: Duration::from_secs(5),
        log: None,
    };
    let (addr, mut sender) = rt.block_on(async {
        let receiver = Receiver::bind(listeners, output, None).await.expect("bind");
        let addr = receiver.local_addrs()[0];
        tokio::spawn(receiver.run(std::future::pending()));
        tokio::spawn(async move { while rx.recv().await.is_some() {} });
        let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        tcp.set_nodelay(true).expect("nodelay");
        let (sender, conn) = http1::handshake(TokioIo::new(tcp))
            .await
            .expect("handshake");
        tokio::spawn(conn);
        (addr, sender)
    });

    let req = request();
    let proto = Bytes::from(
        snap::raw::Encoder::new()
            .compress_vec(&req.encode_to_vec())
            .expect("snappy"),
    );
    let json = Bytes::from(json_body(&req));
    let mut group = c.benchmark_group("receiver_push");
    group.throughput(Throughput::Elements((STREAMS * LINES_PER_STREAM) as u64));
    for (name, body, content_type) in [
        ("proto", proto, "application/x-protobuf"),
        ("json", json, "application/json"),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                rt.block_on(async {
                    let req = hyper::Request::post("/loki/api/v1/push")
                        .header(hyper::header::HOST, addr.to_string())
                        .header(hyper::header::CONTENT_TYPE, content_type)
                        .body(Full::new(body.clone()))
                        .expect("request");
                    sender.ready().await.expect("ready");
                    let resp = sender.send_request(req).await.expect("response");
                    assert_eq!(resp.status(), 204);
                    resp.into_body().collect().await.expect("body");
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_push);
criterion_main!(benches);
