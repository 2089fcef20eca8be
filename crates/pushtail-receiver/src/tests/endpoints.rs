//! Routing, status codes, limits and media types, bad input.

use super::*;

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
async fn limits_and_media_types() {
    let mut t = target("job", "/");
    t.max_message_size = 64 * 1024;
    let h = Harness::new(vec![t]);
    let json = [("content-type", "application/json")];
    let big = "x".repeat(70 * 1024);
    let bomb = gzip(&vec![b' '; 1 << 20]);
    assert!(bomb.len() < 64 * 1024);
    let gz = gzip(ONE_STREAM.as_bytes());
    type Case = (
        Vec<(&'static str, &'static str)>,
        Bytes,
        StatusCode,
        &'static str,
    );
    let cases: Vec<Case> = vec![
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
    type Case<'a> = (&'a [(&'a str, &'a str)], Vec<u8>);
    let cases: Vec<Case> = vec![
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
    h.tx.try_send(Arc::new(Delivery::default())).unwrap();
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
async fn a_push_over_the_write_timeout_answers_503_with_retry_after() {
    let mut h = Harness::with_queue(vec![target("job", "/")], 1, Duration::from_secs(30));
    h.server.http_server_write_timeout = pushtail_proto::units::Duration::from_millis(50);
    h.tx.try_send(Arc::new(Delivery::default())).unwrap();
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
    assert!(msg.contains("http_server_write_timeout"), "{msg}");
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
