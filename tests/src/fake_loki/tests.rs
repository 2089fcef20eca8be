use super::*;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use prost::Message;
use pushtail_proto::logproto::{EntryAdapter, LabelPairAdapter, PushRequest, StreamAdapter};

const WAIT: Duration = Duration::from_secs(10);

fn body(labels: &str, lines: &[&str]) -> Vec<u8> {
    let req = PushRequest {
        streams: vec![StreamAdapter {
            labels: labels.to_owned(),
            entries: lines
                .iter()
                .enumerate()
                .map(|(i, line)| EntryAdapter {
                    timestamp: Some(prost_types::Timestamp {
                        seconds: 1_700_000_000,
                        nanos: i32::try_from(i).unwrap(),
                    }),
                    line: (*line).to_owned(),
                    structured_metadata: vec![LabelPairAdapter {
                        name: "trace_id".into(),
                        value: "abc".into(),
                    }],
                    parsed: vec![],
                })
                .collect(),
            hash: 0,
        }],
    };
    snap::raw::Encoder::new()
        .compress_vec(&req.encode_to_vec())
        .unwrap()
}

/// Posts `body` with the given headers; returns the status.
async fn post(loki: &FakeLoki, headers: &[(&str, &str)], body: Vec<u8>) -> u16 {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = Request::post(loki.push_url());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = client
        .request(req.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .unwrap();
    resp.status().as_u16()
}

const PROTOBUF: (&str, &str) = ("content-type", "application/x-protobuf");

#[tokio::test]
async fn good_push_is_recorded() {
    let loki = FakeLoki::start().await;
    let status = post(
        &loki,
        &[PROTOBUF, ("x-scope-orgid", "team-a"), ("user-agent", "t/1")],
        body(r#"{job="x", app="a"}"#, &["one", "two"]),
    )
    .await;
    assert_eq!(status, 204);
    let got = loki.wait_for_entries(2, WAIT).await;
    assert_eq!(
        got[0],
        Received {
            tenant: Some("team-a".into()),
            labels: r#"{app="a", job="x"}"#.into(),
            timestamp_ns: 1_700_000_000_000_000_000,
            line: "one".into(),
            structured_metadata: vec![("trace_id".into(), "abc".into())],
        }
    );
    assert_eq!(got[1].line, "two");
    let reqs = loki.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!((reqs[0].entries, reqs[0].status), (2, 204));
    assert_eq!(reqs[0].header("user-agent"), Some("t/1"));
    assert_eq!((loki.entry_count(), loki.line_bytes()), (2, 6));
}

#[tokio::test]
async fn malformed_pushes_are_rejected() {
    let loki = FakeLoki::start().await;
    let good = || body(r#"{a="b"}"#, &["x"]);
    // name, headers, body, expected status
    type Case = (
        &'static str,
        Vec<(&'static str, &'static str)>,
        Vec<u8>,
        u16,
    );
    let cases: Vec<Case> = vec![
        ("no content type", vec![], good(), 400),
        (
            "json",
            vec![("content-type", "application/json")],
            good(),
            415,
        ),
        (
            "gzip",
            vec![PROTOBUF, ("content-encoding", "gzip")],
            good(),
            415,
        ),
        (
            "bad snappy",
            vec![PROTOBUF],
            b"\xff\xff\xff\xffnot snappy".to_vec(),
            400,
        ),
        (
            "bad protobuf",
            vec![PROTOBUF],
            snap::raw::Encoder::new().compress_vec(b"\x0a\xff").unwrap(),
            400,
        ),
        ("bad labels", vec![PROTOBUF], body(r#"{a=b}"#, &["x"]), 400),
        (
            "bad label name",
            vec![PROTOBUF],
            body(r#"{"a-b"="c"}"#, &["x"]),
            400,
        ),
    ];
    let n = cases.len() as u64;
    for (name, headers, body, want) in cases {
        assert_eq!(post(&loki, &headers, body).await, want, "{name}");
    }
    assert_eq!(loki.rejected_count(), n);
    assert!(loki.entries().is_empty());
    assert!(loki.requests().is_empty());
}

#[tokio::test]
async fn scripted_answers_then_default() {
    let loki = FakeLoki::start().await;
    loki.push_behaviour(Behaviour::Status(500));
    loki.push_behaviour(Behaviour::StatusBody(400, "line too long".into()));
    loki.push_behaviour(Behaviour::Status(429));
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(post(&loki, &[PROTOBUF], body(r#"{a="b"}"#, &["x"])).await);
    }
    assert_eq!(statuses, [500, 400, 429, 204]);
    assert_eq!(loki.wait_for_entries(1, WAIT).await.len(), 1);
    assert_eq!(loki.request_count(), 4);
    loki.set_default(Behaviour::Status(503));
    assert_eq!(
        post(&loki, &[PROTOBUF], body(r#"{a="b"}"#, &["x"])).await,
        503
    );
    assert_eq!(loki.entries().len(), 1, "failed pushes record nothing");
    let recorded: Vec<u16> = loki.requests().iter().map(|r| r.status).collect();
    assert_eq!(recorded, [500, 400, 429, 204, 503]);
}

#[tokio::test]
async fn counting_mode_counts_without_storing() {
    let loki = FakeLoki::start_counting().await;
    let status = post(&loki, &[PROTOBUF], body(r#"{a="b"}"#, &["abc", "de"])).await;
    assert_eq!(status, 204);
    assert!(loki.wait_for_count(2, WAIT).await);
    assert_eq!(loki.line_bytes(), 5);
    assert!(loki.entries().is_empty());
}

#[tokio::test]
async fn tls_fixtures_load() {
    for require_client_cert in [false, true] {
        let loki = FakeLoki::start_tls(require_client_cert).await;
        assert!(loki.push_url().starts_with("https://127.0.0.1:"));
    }
}
