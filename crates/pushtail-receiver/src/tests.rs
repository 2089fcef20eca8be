//! Service-level tests: the whole listener stack driven with
//! `ServiceExt::oneshot`, no sockets.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use prost::Message;
use pushtail_pipeline::relabel::{RelabelConfig, RelabelRules};
use pushtail_pipeline::Pipeline;
use pushtail_proto::logproto::{EntryAdapter, PushRequest, StreamAdapter};
use pushtail_proto::model::TenantBatch;
use pushtail_proto::tenant::TenantId;
use tokio::sync::mpsc;
use tower::ServiceExt;

use crate::config::ServerConfig;
use crate::handoff::Handoff;
use crate::server::{listener_state, stack};
use crate::service::ListenerState;
use crate::{ListenerSpec, TargetSpec};

fn target(job: &str, base: &str) -> TargetSpec {
    TargetSpec {
        job_name: job.to_owned(),
        base_url: base.to_owned(),
        labels: Vec::new(),
        use_incoming_timestamp: false,
        max_message_size: 1 << 20,
        tenant_id: None,
        relabel: Arc::new(RelabelRules::default()),
        pipeline: Arc::new(Pipeline::empty()),
    }
}

fn relabel(rules: serde_json::Value) -> Arc<RelabelRules> {
    let configs: Vec<RelabelConfig> = serde_json::from_value(rules).unwrap();
    Arc::new(RelabelRules::new(configs).unwrap())
}

struct Harness {
    state: Arc<ListenerState>,
    rx: mpsc::Receiver<Arc<TenantBatch>>,
    /// Keeps a test's own sender alive (for pre-filling the queue).
    tx: mpsc::Sender<Arc<TenantBatch>>,
}

/// One received entry, flattened: (tenant, labels, timestamp, line).
type Row = (Option<String>, String, i64, String);

impl Harness {
    fn new(targets: Vec<TargetSpec>) -> Self {
        Self::with_queue(targets, 64, Duration::from_secs(5))
    }

    fn with_queue(targets: Vec<TargetSpec>, capacity: usize, push_timeout: Duration) -> Self {
        let (tx, rx) = mpsc::channel(capacity);
        let spec = ListenerSpec {
            server: ServerConfig::default(),
            targets,
            serve_metrics: true,
        };
        let handoff = Arc::new(Handoff::new(vec![tx.clone()]));
        let state = Arc::new(listener_state(
            &spec,
            &handoff,
            push_timeout,
            &Arc::new(AtomicBool::new(false)),
            None,
        ));
        Harness { state, rx, tx }
    }

    async fn call(
        &self,
        method: Method,
        uri: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> (StatusCode, HeaderMap, String) {
        let mut req = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(body.into())).unwrap();
        let svc = stack(Arc::clone(&self.state), &ServerConfig::default());
        let resp = svc.oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, headers, String::from_utf8_lossy(&body).into_owned())
    }

    async fn push_json(
        &self,
        uri: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (StatusCode, String) {
        let mut all = vec![("content-type", "application/json")];
        all.extend_from_slice(headers);
        let (status, _, body) = self.call(Method::POST, uri, &all, body.to_owned()).await;
        (status, body)
    }

    fn rows(&mut self) -> Vec<Row> {
        let mut rows = Vec::new();
        while let Ok(batch) = self.rx.try_recv() {
            for stream in &batch.streams {
                for e in &stream.entries {
                    rows.push((
                        batch.tenant.as_ref().map(|t| t.as_str().to_owned()),
                        stream.labels.as_str().to_owned(),
                        e.timestamp_ns,
                        String::from_utf8_lossy(&e.line).into_owned(),
                    ));
                }
            }
        }
        rows
    }

    fn lines(&mut self) -> Vec<(String, String)> {
        self.rows()
            .into_iter()
            .map(|(_, l, _, line)| (l, line))
            .collect()
    }
}

const ONE_STREAM: &str = r#"{"streams":[{"stream":{"app":"a"},"values":[["1","hello"]]}]}"#;

fn protobuf(streams: &[(&str, &[(i64, &str)])]) -> Vec<u8> {
    let req = PushRequest {
        streams: streams
            .iter()
            .map(|(labels, entries)| StreamAdapter {
                labels: (*labels).to_owned(),
                entries: entries
                    .iter()
                    .map(|(ts, line)| EntryAdapter {
                        timestamp: Some(prost_types::Timestamp {
                            seconds: ts / 1_000_000_000,
                            nanos: (ts % 1_000_000_000) as i32,
                        }),
                        line: (*line).to_owned(),
                        ..Default::default()
                    })
                    .collect(),
                hash: 0,
            })
            .collect(),
    };
    snap::raw::Encoder::new()
        .compress_vec(&req.encode_to_vec())
        .unwrap()
}

#[tokio::test]
async fn every_endpoint_under_every_base_url() {
    let h = Harness::new(vec![target("root", "/"), target("app", "app")]);
    for base in ["/", "/app/"] {
        for suffix in ["loki/api/v1/push", "api/v1/push"] {
            let uri = format!("{base}{suffix}");
            assert_eq!(
                h.push_json(&uri, &[], ONE_STREAM).await.0,
                StatusCode::NO_CONTENT,
                "{uri}"
            );
        }
        for suffix in [
            "loki/api/v1/raw",
            "api/v1/raw",
            "promtail/api/v1/raw",
            "push/job/x",
        ] {
            let uri = format!("{base}{suffix}");
            let (status, _, body) = h.call(Method::POST, &uri, &[], "line").await;
            assert_eq!(status, StatusCode::NO_CONTENT, "{uri}: {body}");
        }
        for suffix in ["loki/ready", "ready"] {
            let uri = format!("{base}{suffix}");
            let (status, _, body) = h.call(Method::GET, &uri, &[], "").await;
            assert_eq!(
                (status, body.as_str()),
                (StatusCode::OK, "ready\n"),
                "{uri}"
            );
        }
    }
    let cases: &[(Method, &str, StatusCode, Option<&str>)] = &[
        (
            Method::GET,
            "/nope/loki/api/v1/push",
            StatusCode::NOT_FOUND,
            None,
        ),
        (
            Method::POST,
            "/app/loki/api/v1/pushes",
            StatusCode::NOT_FOUND,
            None,
        ),
        (
            Method::GET,
            "/app/loki/api/v1/push",
            StatusCode::METHOD_NOT_ALLOWED,
            Some("POST"),
        ),
        (
            Method::PUT,
            "/api/v1/raw",
            StatusCode::METHOD_NOT_ALLOWED,
            Some("POST"),
        ),
        (
            Method::GET,
            "/app/push/a/b",
            StatusCode::METHOD_NOT_ALLOWED,
            Some("POST"),
        ),
        (
            Method::POST,
            "/app/ready",
            StatusCode::METHOD_NOT_ALLOWED,
            Some("GET, HEAD"),
        ),
        (
            Method::POST,
            "/metrics",
            StatusCode::METHOD_NOT_ALLOWED,
            Some("GET, HEAD"),
        ),
        (Method::GET, "/ready", StatusCode::OK, None),
        (Method::GET, "/metrics", StatusCode::NOT_FOUND, None),
    ];
    for (method, uri, status, allow) in cases {
        let (got, headers, body) = h.call(method.clone(), uri, &[], "").await;
        assert_eq!(got, *status, "{method} {uri}: {body}");
        assert_eq!(
            headers.get("allow").map(|v| v.to_str().unwrap()),
            *allow,
            "{method} {uri}"
        );
        if got.is_client_error() {
            assert!(body.contains(uri), "{uri}: {body}");
        }
    }
}

#[tokio::test]
async fn each_base_url_gets_its_own_labels() {
    let mut a = target("a", "/a/");
    a.labels = vec![("source".into(), "a".into())];
    let mut b = target("b", "/b");
    b.labels = vec![("source".into(), "b".into())];
    let mut h = Harness::new(vec![a, b]);
    for base in ["/a/", "/b/"] {
        let (status, _) = h
            .push_json(&format!("{base}loki/api/v1/push"), &[], ONE_STREAM)
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    assert_eq!(
        h.lines(),
        vec![
            (r#"{app="a", source="a"}"#.to_owned(), "hello".to_owned()),
            (r#"{app="a", source="b"}"#.to_owned(), "hello".to_owned()),
        ]
    );
}

#[tokio::test]
async fn per_stream_steps_run_in_order() {
    // (target labels, target tenant, header, relabel, incoming labels) → (tenant, labels)
    struct Case {
        labels: &'static [(&'static str, &'static str)],
        tenant: Option<&'static str>,
        header: Option<&'static str>,
        relabel: serde_json::Value,
        incoming: &'static str,
        want: (Option<&'static str>, &'static str),
    }
    let none = serde_json::json!([]);
    let cases = [
        Case {
            labels: &[("env", "prod"), ("host", "")],
            tenant: None,
            header: None,
            relabel: none.clone(),
            incoming: r#"{"env":"dev","host":"h1","app":"x"}"#,
            want: (None, r#"{app="x", env="prod"}"#),
        },
        Case {
            labels: &[],
            tenant: None,
            header: Some("team-a"),
            relabel: none.clone(),
            incoming: r#"{"app":"x","__secret__":"s"}"#,
            want: (Some("team-a"), r#"{app="x"}"#),
        },
        Case {
            labels: &[],
            tenant: Some("fixed"),
            header: Some("team-a"),
            relabel: none.clone(),
            incoming: r#"{"app":"x"}"#,
            want: (Some("fixed"), r#"{app="x"}"#),
        },
        Case {
            labels: &[],
            tenant: None,
            header: Some("team-a"),
            relabel: serde_json::json!([
                {"source_labels": ["__tenant_id__"], "target_label": "tenant"},
                {"source_labels": ["app"], "target_label": "__tenant_id__", "replacement": "t-$1"}
            ]),
            incoming: r#"{"app":"x"}"#,
            want: (Some("t-x"), r#"{app="x", tenant="team-a"}"#),
        },
    ];
    for case in cases {
        let mut t = target("job", "/");
        t.labels = case
            .labels
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        t.tenant_id = case.tenant.map(|id| TenantId::new(id).unwrap());
        t.relabel = relabel(case.relabel.clone());
        let mut h = Harness::new(vec![t]);
        let body = format!(
            r#"{{"streams":[{{"stream":{},"values":[["1","l"]]}}]}}"#,
            case.incoming
        );
        let headers: Vec<(&str, &str)> =
            case.header.iter().map(|v| ("x-scope-orgid", *v)).collect();
        let (status, msg) = h.push_json("/loki/api/v1/push", &headers, &body).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{}: {msg}", case.incoming);
        let rows = h.rows();
        assert_eq!(rows.len(), 1, "{}", case.incoming);
        assert_eq!(
            (rows[0].0.as_deref(), rows[0].1.as_str()),
            case.want,
            "{}",
            case.incoming
        );
    }
}

#[tokio::test]
async fn bad_streams_are_reported_by_index_and_good_ones_forwarded() {
    let mut h = Harness::new(vec![target("job", "/")]);
    let body = protobuf(&[
        (r#"{a="0"}"#, &[(1, "zero")]),
        (r#"{a=}"#, &[(1, "one")]),
        (r#"{a="2"}"#, &[(1, "two")]),
    ]);
    let (status, _, msg) = h
        .call(
            Method::POST,
            "/loki/api/v1/push",
            &[("content-type", "application/x-protobuf")],
            body,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(msg.starts_with("stream 1: invalid labels {a=}: "), "{msg}");
    assert!(
        !msg.contains("stream 0") && !msg.contains("stream 2"),
        "{msg}"
    );
    let lines: Vec<String> = h.lines().into_iter().map(|(_, l)| l).collect();
    assert_eq!(lines, ["zero", "two"]);

    let json = r#"{"streams":[{"stream":{"a":"0"},"values":[["1","zero"]]},
        {"stream":{"a-b":"1"},"values":[["1","one"]]},
        {"stream":{"a":"2"},"values":[["1","two"]]},
        {"stream":{"9":"3"},"values":[["1","three"]]}]}"#;
    let (status, msg) = h.push_json("/loki/api/v1/push", &[], json).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        msg.contains("stream 1: invalid labels {a-b=\"1\"}"),
        "{msg}"
    );
    assert!(msg.contains("; stream 3: "), "{msg}");
    let lines: Vec<String> = h.lines().into_iter().map(|(_, l)| l).collect();
    assert_eq!(lines, ["zero", "two"]);
}

#[tokio::test]
async fn a_relabel_drop_skips_only_that_stream() {
    let mut t = target("job", "/");
    t.relabel = relabel(serde_json::json!([
        {"source_labels": ["a"], "regex": "1", "action": "drop"}
    ]));
    let mut h = Harness::new(vec![t]);
    let json = r#"{"streams":[{"stream":{"a":"0"},"values":[["1","zero"]]},
        {"stream":{"a":"1"},"values":[["1","one"]]},
        {"stream":{"a":"2"},"values":[["1","two"]]}]}"#;
    assert_eq!(
        h.push_json("/loki/api/v1/push", &[], json).await.0,
        StatusCode::NO_CONTENT
    );
    let lines: Vec<String> = h.lines().into_iter().map(|(_, l)| l).collect();
    assert_eq!(lines, ["zero", "two"]);
}

#[tokio::test]
async fn timestamps_follow_use_incoming_timestamp() {
    let body = r#"{"streams":[{"stream":{"a":"1"},"values":[["5","x"],["5","x"],["3","y"]]}]}"#;
    let mut h = Harness::new(vec![target("job", "/")]);
    h.push_json("/loki/api/v1/push", &[], body).await;
    let ts: Vec<i64> = h.rows().into_iter().map(|r| r.2).collect();
    assert_eq!(ts.len(), 3);
    assert!(ts.windows(2).all(|w| w[0] < w[1]), "{ts:?}");
    assert!(
        ts[0] > 1_600_000_000_000_000_000,
        "receive time, not pushed: {ts:?}"
    );

    let mut t = target("job", "/");
    t.use_incoming_timestamp = true;
    let mut h = Harness::new(vec![t]);
    h.push_json("/loki/api/v1/push", &[], body).await;
    let ts: Vec<i64> = h.rows().into_iter().map(|r| r.2).collect();
    assert_eq!(ts, [5, 5, 3]);
}

#[tokio::test]
async fn raw_and_plaintext_lines() {
    let mut t = target("job", "/");
    t.labels = vec![("source".into(), "raw".into())];
    t.use_incoming_timestamp = true;
    let mut h = Harness::new(vec![t]);
    let (status, _, _) = h
        .call(
            Method::POST,
            "/loki/api/v1/raw",
            &[("x-scope-orgid", "t1")],
            "a\r\r\n\r\nb",
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let rows = h.rows();
    let got: Vec<(Option<&str>, &str, &str)> = rows
        .iter()
        .map(|r| (r.0.as_deref(), r.1.as_str(), r.3.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (Some("t1"), r#"{source="raw"}"#, "a"),
            (Some("t1"), r#"{source="raw"}"#, "b")
        ]
    );
    assert!(rows[0].2 < rows[1].2 && rows[0].2 > 1_600_000_000_000_000_000);

    let (status, _, msg) = h
        .call(
            Method::POST,
            "/push/job/api/env/a%20b?timestamp=1700000000",
            &[],
            "hello\nworld\n",
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{msg}");
    let rows = h.rows();
    let want_labels = r#"{env="a b", job="api", source="raw"}"#;
    assert_eq!(
        rows,
        [
            (
                None,
                want_labels.to_owned(),
                1_700_000_000_000_000_000,
                "hello".to_owned()
            ),
            (
                None,
                want_labels.to_owned(),
                1_700_000_000_000_000_001,
                "world".to_owned()
            ),
        ]
    );
    for (uri, want) in [
        ("/push/job", "invalid plaintext push path"),
        ("/push/a-b/x", "invalid label name \"a-b\""),
        (
            "/push/job/x?timestamp=soon",
            "invalid timestamp query parameter \"soon\"",
        ),
    ] {
        let (status, _, msg) = h.call(Method::POST, uri, &[], "x").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
        assert!(msg.contains(want), "{uri}: {msg}");
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

#[tokio::test]
async fn limits_and_media_types() {
    let mut t = target("job", "/");
    t.max_message_size = 64 * 1024;
    let h = Harness::new(vec![t]);
    let json = [("content-type", "application/json")];
    let big = "x".repeat(70 * 1024);
    let bomb = gzip(&vec![b' '; 1 << 20]);
    assert!(bomb.len() < 64 * 1024);
    let gz = gzip(ONE_STREAM.as_bytes());
    let cases: Vec<(Vec<(&str, &str)>, Bytes, StatusCode, &str)> = vec![
        (
            json.to_vec(),
            Bytes::from(big.clone()),
            StatusCode::PAYLOAD_TOO_LARGE,
            "65536 byte limit",
        ),
        (
            vec![
                ("content-type", "application/json"),
                ("content-length", "99999999"),
            ],
            Bytes::from_static(b"{}"),
            StatusCode::PAYLOAD_TOO_LARGE,
            "65536 byte limit",
        ),
        (
            vec![
                ("content-type", "application/json"),
                ("content-encoding", "gzip"),
            ],
            Bytes::from(bomb),
            StatusCode::PAYLOAD_TOO_LARGE,
            "decompressed",
        ),
        (
            vec![
                ("content-type", "application/json"),
                ("content-encoding", "gzip"),
            ],
            Bytes::from(gz),
            StatusCode::NO_CONTENT,
            "",
        ),
        (
            vec![],
            Bytes::from(ONE_STREAM),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "missing Content-Type",
        ),
        (
            vec![("content-type", "json")],
            Bytes::from(ONE_STREAM),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "application/json or application/x-protobuf",
        ),
        (
            vec![
                ("content-type", "application/json"),
                ("content-encoding", "br"),
            ],
            Bytes::from(ONE_STREAM),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "gzip, deflate, snappy or zstd",
        ),
        (
            vec![
                ("content-type", "application/json"),
                ("x-scope-orgid", "a/b"),
            ],
            Bytes::from(ONE_STREAM),
            StatusCode::BAD_REQUEST,
            "X-Scope-OrgID",
        ),
    ];
    for (headers, body, status, want) in cases {
        let (got, _, msg) = h
            .call(Method::POST, "/loki/api/v1/push", &headers, body)
            .await;
        assert_eq!(got, status, "{headers:?}: {msg}");
        assert!(msg.contains(want), "{headers:?}: {msg}");
    }
}

#[tokio::test]
async fn garbage_bodies_are_refused_not_fatal() {
    let h = Harness::new(vec![target("job", "/")]);
    let proto = [("content-type", "application/x-protobuf")];
    let json = [("content-type", "application/json")];
    let valid = protobuf(&[(r#"{a="b"}"#, &[(1, "x")])]);
    let huge_labels = format!("{{a=\"{}\"", "v".repeat(1 << 20));
    let cases: Vec<(&[(&str, &str)], Vec<u8>)> = vec![
        (
            &proto,
            (0..=255u8)
                .cycle()
                .take(4096)
                .map(|b| b.wrapping_mul(31))
                .collect(),
        ),
        (&proto, valid[..valid.len() / 2].to_vec()),
        (
            &proto,
            snap::raw::Encoder::new()
                .compress_vec(b"\xff\xff\xff garbage")
                .unwrap(),
        ),
        (&proto, protobuf(&[(&huge_labels, &[(1, "x")])])),
        (
            &json,
            br#"{"streams":[{"stream":{"a":1},"values":[[1,"x"]]}]}"#.to_vec(),
        ),
        (&json, br#"{"streams":{"a":"b"}}"#.to_vec()),
        (
            &json,
            br#"{"streams":[{"stream":{"a":"b"},"values":[["x","y"]]}]}"#.to_vec(),
        ),
        (&json, b"\x00\x01{".to_vec()),
        (&json, Vec::new()),
    ];
    for (headers, body) in cases {
        let len = body.len();
        let (status, _, msg) = h
            .call(Method::POST, "/loki/api/v1/push", headers, body)
            .await;
        assert!(status.is_client_error(), "{len} bytes: {status} {msg}");
        assert!(msg.len() < 2048, "error bodies stay short: {}", msg.len());
    }
    assert_eq!(
        h.call(Method::GET, "/ready", &[], "").await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn full_queues_answer_503_with_retry_after() {
    let h = Harness::with_queue(vec![target("job", "/")], 1, Duration::from_millis(50));
    h.tx.try_send(Arc::new(TenantBatch::default())).unwrap();
    let (status, headers, msg) = h
        .call(
            Method::POST,
            "/loki/api/v1/push",
            &[("content-type", "application/json")],
            ONE_STREAM,
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{msg}");
    assert_eq!(headers.get("retry-after").unwrap(), "1");
    assert!(msg.contains("queues stayed full for 50ms"), "{msg}");
}

#[tokio::test]
async fn shutting_down_refuses_pushes_and_readiness() {
    let h = Harness::new(vec![target("job", "/")]);
    h.state.shutting_down.store(true, Ordering::Release);
    let (status, headers, _) = h.call(Method::POST, "/api/v1/raw", &[], "x").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(headers.contains_key("retry-after"));
    assert_eq!(
        h.call(Method::GET, "/ready", &[], "").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        h.call(Method::GET, "/loki/ready", &[], "").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[tokio::test]
async fn label_work_is_cached_per_distinct_stream() {
    let mut t = target("job", "/");
    t.relabel = relabel(serde_json::json!([{"source_labels": ["s"], "target_label": "copy"}]));
    let mut h = Harness::new(vec![t]);
    let streams: Vec<(String, Vec<(i64, String)>)> = (0..10)
        .map(|s| {
            let entries = (0..100).map(|e| (e, format!("line {e}"))).collect();
            (format!(r#"{{s="{s}"}}"#), entries)
        })
        .collect();
    let borrowed: Vec<(&str, Vec<(i64, &str)>)> = streams
        .iter()
        .map(|(l, es)| {
            (
                l.as_str(),
                es.iter().map(|(t, l)| (*t, l.as_str())).collect(),
            )
        })
        .collect();
    let refs: Vec<(&str, &[(i64, &str)])> =
        borrowed.iter().map(|(l, es)| (*l, es.as_slice())).collect();
    let body = protobuf(&refs);
    for round in 0..2 {
        let (status, _, msg) = h
            .call(
                Method::POST,
                "/loki/api/v1/push",
                &[("content-type", "application/x-protobuf")],
                body.clone(),
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{msg}");
        assert_eq!(h.rows().len(), 1000, "round {round}");
        assert_eq!(
            h.state.targets[0].resolutions_computed(),
            10,
            "round {round}"
        );
    }
}
