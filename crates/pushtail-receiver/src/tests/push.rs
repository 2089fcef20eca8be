//! The per-stream steps, timestamps, line endpoints, stages and the cache.

use super::*;

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
            h.state.routing.load().targets[0].resolutions_computed(),
            10,
            "round {round}"
        );
    }
}

#[tokio::test]
async fn pipeline_stages_run_per_entry_and_regroup_streams() {
    let stages: Vec<pushtail_pipeline::StageConfig> =
        serde_yaml::from_str("- json: {expressions: {level: level}}\n- labels: {level: ''}\n")
            .unwrap();
    let mut t = target("job", "/");
    t.pipeline = Arc::new(Pipeline::new(&stages).unwrap());
    let mut h = Harness::new(vec![t]);
    let body = r#"{"streams":[{"stream":{"a":"1"},"values":[
        ["1","{\"level\":\"info\"}"],["2","{\"level\":\"error\"}"],["3","{\"level\":\"info\"}"]]}]}"#;
    assert_eq!(
        h.push_json("/loki/api/v1/push", &[], body).await.0,
        StatusCode::NO_CONTENT
    );
    let delivery = h.rx.try_recv().unwrap();
    let streams: Vec<(&str, usize)> = delivery.batches[0]
        .streams
        .iter()
        .map(|s| (s.labels.as_str(), s.entries.len()))
        .collect();
    assert_eq!(
        streams,
        [
            (r#"{a="1", level="info"}"#, 2),
            (r#"{a="1", level="error"}"#, 1)
        ]
    );
}

/// Loki 3.6 accepts an empty label set on every path: JSON `{}`, an empty
/// protobuf label string or `{}`, legacy JSON, plaintext without pairs. The
/// answer must not depend on which came first (they once shared a cache
/// key), so each pair runs in both orders on a fresh target.
#[tokio::test]
async fn an_empty_label_set_is_accepted_on_every_path_in_any_order() {
    const PROTO: (&str, &str) = ("content-type", "application/x-protobuf");
    const JSON: (&str, &str) = ("content-type", "application/json");
    /// (name, path, content-type header, body).
    type Path<'a> = (&'a str, &'a str, (&'a str, &'a str), Vec<u8>);
    let paths: Vec<Path> =
        vec![
        (
            "json {}",
            "/loki/api/v1/push",
            JSON,
            br#"{"streams":[{"stream":{},"values":[["1","l"]]}]}"#.to_vec(),
        ),
        ("protobuf \"\"", "/loki/api/v1/push", PROTO, protobuf(&[("", &[(1, "l")])])),
        ("protobuf {}", "/loki/api/v1/push", PROTO, protobuf(&[("{}", &[(1, "l")])])),
        (
            "legacy json \"\"",
            "/api/prom/push",
            JSON,
            br#"{"streams":[{"labels":"","entries":[{"ts":"1970-01-01T00:00:00Z","line":"l"}]}]}"#
                .to_vec(),
        ),
        ("plaintext", "/push", ("content-type", "text/plain"), b"l".to_vec()),
    ];
    for a in &paths {
        for b in &paths {
            let mut h = Harness::new(vec![target("job", "/")]);
            for (name, uri, ct, body) in [a, b] {
                let (status, _, msg) = h.call(Method::POST, uri, &[*ct], body.clone()).await;
                assert_eq!(
                    status,
                    StatusCode::NO_CONTENT,
                    "{} then {}: {name}: {msg}",
                    a.0,
                    b.0
                );
                assert_eq!(
                    h.lines(),
                    [("{}".to_owned(), "l".to_owned())],
                    "{} then {}: {name}",
                    a.0,
                    b.0
                );
            }
        }
    }
}

/// A request with more distinct streams than the cache holds resolves
/// them without inserting (it would only churn the cache); ordinary
/// requests are cached.
#[tokio::test]
async fn many_stream_requests_do_not_churn_the_cache() {
    let mut h = Harness::new(vec![target("job", "/")]);
    let many: Vec<String> = (0..6000).map(|s| format!(r#"{{s="{s}"}}"#)).collect();
    let refs: Vec<(&str, &[(i64, &str)])> =
        many.iter().map(|l| (l.as_str(), &[(1, "x")][..])).collect();
    let body = protobuf(&refs);
    for round in 1..=2 {
        let (status, _, msg) = h
            .call(
                Method::POST,
                "/loki/api/v1/push",
                &[("content-type", "application/x-protobuf")],
                body.clone(),
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{msg}");
        assert_eq!(h.rows().len(), 6000);
        assert_eq!(
            h.state.routing.load().targets[0].resolutions_computed(),
            6000 * round
        );
    }
}

/// However many streams are bad, the 400 names the first 20 and counts the
/// rest; the good streams are forwarded.
#[tokio::test]
async fn bad_stream_bodies_name_twenty_and_count_the_rest() {
    let mut h = Harness::new(vec![target("job", "/")]);
    let mut labels: Vec<String> = (0..5000).map(|s| format!(r#"{{s-{s}="x"}}"#)).collect();
    labels.push(r#"{ok="1"}"#.to_owned());
    let refs: Vec<(&str, &[(i64, &str)])> = labels
        .iter()
        .map(|l| (l.as_str(), &[(1, "x")][..]))
        .collect();
    let (status, _, msg) = h
        .call(
            Method::POST,
            "/loki/api/v1/push",
            &[("content-type", "application/x-protobuf")],
            protobuf(&refs),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        msg.starts_with(r#"stream 0: invalid labels {s-0="x"}: "#),
        "{msg}"
    );
    assert!(
        msg.contains("stream 19: ") && !msg.contains("stream 20: "),
        "{msg}"
    );
    assert!(msg.ends_with("; ... and 4980 more bad streams\n"), "{msg}");
    assert_eq!(h.lines(), [(r#"{ok="1"}"#.to_owned(), "x".to_owned())]);
}

/// `limit` with `drop: false` (Promtail blocks until a token is free): the
/// push is held until its last entry's token is due, then forwarded whole;
/// a push whose tokens would come later than the pipeline's maximum delay
/// is refused with a 503 and nothing of it is taken. Time is paused, so
/// the hold costs nothing and is observed exactly.
#[tokio::test(start_paused = true)]
async fn limit_without_drop_holds_the_push_then_refuses_past_push_timeout() {
    let stages: Vec<pushtail_pipeline::StageConfig> =
        serde_yaml::from_str("- limit: {rate: 1, burst: 1}").unwrap();
    let mut t = target("job", "/");
    t.pipeline = Arc::new(
        Pipeline::new(&stages)
            .unwrap()
            .with_max_delay(Duration::from_millis(1500)),
    );
    let mut h = Harness::with_queue(vec![t], 64, Duration::from_millis(1500));
    let two = r#"{"streams":[{"stream":{"a":"1"},"values":[["1","x"],["2","y"]]}]}"#;
    let start = tokio::time::Instant::now();
    let (status, body) = h.push_json("/loki/api/v1/push", &[], two).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let held = start.elapsed();
    assert!(
        held >= Duration::from_millis(900),
        "the second token is a second away: held {held:?}"
    );
    assert_eq!(h.rows().len(), 2);

    // The bucket is a token in debt: the next token is two seconds away.
    let (status, headers, body) = h
        .call(
            Method::POST,
            "/loki/api/v1/push",
            &[("content-type", "application/json")],
            ONE_STREAM,
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body.contains("limit stage"), "{body}");
    assert!(body.contains("push_timeout"), "{body}");
    assert_eq!(headers["retry-after"], "1");
    assert!(h.rx.try_recv().is_err(), "a 503 takes nothing");
}
