//! The receiving side through the real binary in dry-run mode: every push
//! format and encoding, target labels, tenants, errors, limits, shutdown.

use std::time::Duration;

use crate::support::*;

const JSON_PUSH: &str = r#"{"streams":[{"stream":{"level":"info"},"values":[["1700000000000000001","hello"],["1700000000000000002","world"]]}]}"#;

#[tokio::test(flavor = "multi_thread")]
async fn protobuf_snappy_push_is_printed_with_target_labels() {
    let agent = dry_run(&two_targets("      use_incoming_timestamp: true\n"));
    let body = proto_body(&[(
        r#"{level="warn", host="h1"}"#,
        &[(1_700_000_000_000_000_005, "disk full", &[])],
    )]);
    let client = reqwest::Client::new();
    let (status, text) = post(
        &client,
        &agent.url(0, "/app/loki/api/v1/push"),
        &[PROTO],
        body,
    )
    .await;
    assert_eq!(status, 204, "{text}");
    let out = agent.wait_stdout(1, WAIT);
    assert_eq!(
        out,
        ["2023-11-14T22:13:20.000000005Z\t{host=\"h1\", level=\"warn\", source=\"app\"}\tdisk full"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn json_push_plain_gzip_deflate_and_zstd() {
    let agent = dry_run(&two_targets("      use_incoming_timestamp: true\n"));
    let client = reqwest::Client::new();
    let url = agent.url(0, "/app/loki/api/v1/push");
    let raw = JSON_PUSH.as_bytes();
    let zstd_body = zstd::encode_all(raw, 3).expect("zstd");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("identity", raw.to_vec()),
        ("gzip", gzip(raw)),
        ("deflate", deflate_raw(raw)),
        ("deflate", deflate_zlib(raw)),
        ("zstd", zstd_body),
    ];
    for (i, (encoding, body)) in cases.into_iter().enumerate() {
        let (status, text) =
            post(&client, &url, &[JSON, ("Content-Encoding", encoding)], body).await;
        assert_eq!(status, 204, "case {i} ({encoding}): {text}");
        let out = agent.wait_stdout(2 * (i + 1), WAIT);
        assert_eq!(out.len(), 2 * (i + 1), "case {i} ({encoding})");
        assert_eq!(
            out[2 * i..],
            [
                "2023-11-14T22:13:20.000000001Z\t{level=\"info\", source=\"app\"}\thello",
                "2023-11-14T22:13:20.000000002Z\t{level=\"info\", source=\"app\"}\tworld",
            ],
            "case {i} ({encoding})"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn structured_metadata_is_preserved_in_both_formats() {
    let agent = dry_run(&two_targets("      use_incoming_timestamp: true\n"));
    let client = reqwest::Client::new();
    let url = agent.url(0, "/app/loki/api/v1/push");
    let json = r#"{"streams":[{"stream":{"a":"1"},"values":[["5","j",{"trace_id":"t1","user":"u\nx"}]]}]}"#;
    assert_eq!(post(&client, &url, &[JSON], json).await.0, 204);
    let body = proto_body(&[(r#"{a="1"}"#, &[(6, "p", &[("trace_id", "t2"), ("b", "2")])])]);
    assert_eq!(post(&client, &url, &[PROTO], body).await.0, 204);
    let out = agent.wait_stdout(2, WAIT);
    assert_eq!(
        out,
        [
            "1970-01-01T00:00:00.000000005Z\t{a=\"1\", source=\"app\"}\tj\t{trace_id=\"t1\", user=\"u\\nx\"}",
            "1970-01-01T00:00:00.000000006Z\t{a=\"1\", source=\"app\"}\tp\t{trace_id=\"t2\", b=\"2\"}",
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn each_base_url_gets_its_own_labels_and_alias_paths_agree() {
    let agent = dry_run(&two_targets("      use_incoming_timestamp: true\n"));
    let client = reqwest::Client::new();
    let body = r#"{"streams":[{"stream":{"source":"client","x":"1"},"values":[["7","same"]]}]}"#;
    for path in [
        "/app/loki/api/v1/push",
        "/app/api/v1/push",
        "/edge/loki/api/v1/push",
        "/edge/api/v1/push",
    ] {
        let (status, text) = post(&client, &agent.url(0, path), &[JSON], body).await;
        assert_eq!(status, 204, "{path}: {text}");
    }
    let mut out: Vec<String> = agent
        .wait_stdout(4, WAIT)
        .iter()
        .map(|l| fields(l)[1].to_owned())
        .collect();
    out.sort();
    // The target's labels override the pushed `source`; edge's use_incoming_timestamp
    // is off, so only labels are compared here.
    assert_eq!(
        out,
        [
            "{source=\"app\", x=\"1\"}",
            "{source=\"app\", x=\"1\"}",
            "{source=\"edge\", tier=\"frontend\", x=\"1\"}",
            "{source=\"edge\", tier=\"frontend\", x=\"1\"}",
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn raw_and_plaintext_lines() {
    let agent = dry_run(&two_targets(""));
    let client = reqwest::Client::new();
    for path in [
        "/edge/loki/api/v1/raw",
        "/edge/api/v1/raw",
        "/edge/promtail/api/v1/raw",
    ] {
        let (status, text) = post(&client, &agent.url(0, path), &[], "a\r\r\n\r\nb").await;
        assert_eq!(status, 204, "{path}: {text}");
    }
    let (status, text) = post(
        &client,
        &agent.url(0, "/edge/push/host/h9/app/web"),
        &[],
        "plain line\n",
    )
    .await;
    assert_eq!(status, 204, "{text}");
    let out = agent.wait_stdout(7, WAIT);
    let got: Vec<(String, String)> = out
        .iter()
        .map(|l| (fields(l)[1].to_owned(), fields(l)[2].to_owned()))
        .collect();
    let edge = "{source=\"edge\", tier=\"frontend\"}".to_owned();
    let mut want = Vec::new();
    for _ in 0..3 {
        want.push((edge.clone(), "a".to_owned()));
        want.push((edge.clone(), "b".to_owned()));
    }
    want.push((
        "{app=\"web\", host=\"h9\", source=\"edge\", tier=\"frontend\"}".to_owned(),
        "plain line".to_owned(),
    ));
    assert_eq!(got, want);
}

#[tokio::test(flavor = "multi_thread")]
async fn ready_endpoints() {
    let agent = dry_run(&two_targets(""));
    let client = reqwest::Client::new();
    for path in [
        "/ready",
        "/app/ready",
        "/app/loki/ready",
        "/edge/ready",
        "/edge/loki/ready",
    ] {
        let resp = client.get(agent.url(0, path)).send().await.expect("get");
        assert_eq!(resp.status().as_u16(), 200, "{path}");
        assert_eq!(
            resp.text().await.unwrap_or_default().trim(),
            "ready",
            "{path}"
        );
    }
    let metrics = client
        .get(agent.url(0, "/metrics"))
        .send()
        .await
        .expect("get");
    assert_eq!(metrics.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn scope_org_id_becomes_the_tenant_and_target_tenant_wins() {
    let agent = dry_run(&two_targets(""));
    let client = reqwest::Client::new();
    let (status, _) = post(
        &client,
        &agent.url(0, "/app/loki/api/v1/push"),
        &[JSON, ("X-Scope-OrgID", "team-a")],
        JSON_PUSH,
    )
    .await;
    assert_eq!(status, 204);
    let out = agent.wait_stdout(2, WAIT);
    assert!(
        out.iter().all(|l| l.ends_with("\ttenant=team-a")),
        "{out:?}"
    );

    let (status, text) = post(
        &client,
        &agent.url(0, "/app/loki/api/v1/push"),
        &[JSON, ("X-Scope-OrgID", "bad/tenant")],
        JSON_PUSH,
    )
    .await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("bad/tenant"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn one_bad_stream_is_reported_and_the_good_ones_forwarded() {
    let agent = dry_run(&two_targets("      use_incoming_timestamp: true\n"));
    let client = reqwest::Client::new();
    let body = proto_body(&[
        (r#"{n="0"}"#, &[(1, "first", &[])]),
        (r#"{n="1""#, &[(2, "broken", &[])]),
        (r#"{n="2"}"#, &[(3, "third", &[])]),
    ]);
    let (status, text) = post(
        &client,
        &agent.url(0, "/app/loki/api/v1/push"),
        &[PROTO],
        body,
    )
    .await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("stream 1"), "{text}");
    assert!(
        !text.contains("stream 0") && !text.contains("stream 2"),
        "{text}"
    );
    let out = agent.wait_stdout(2, WAIT);
    let lines: Vec<&str> = out.iter().map(|l| fields(l)[2]).collect();
    assert_eq!(lines, ["first", "third"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn receive_time_is_strictly_increasing_within_a_stream() {
    // `app` keeps pushed timestamps; `edge` stamps receive time.
    let agent = dry_run(&two_targets("      use_incoming_timestamp: true\n"));
    let client = reqwest::Client::new();
    let body =
        r#"{"streams":[{"stream":{"a":"1"},"values":[["5","dup"],["5","dup"],["5","dup"]]}]}"#;
    assert_eq!(
        post(
            &client,
            &agent.url(0, "/app/loki/api/v1/push"),
            &[JSON],
            body
        )
        .await
        .0,
        204
    );
    assert_eq!(
        post(
            &client,
            &agent.url(0, "/edge/loki/api/v1/push"),
            &[JSON],
            body
        )
        .await
        .0,
        204
    );
    let out = agent.wait_stdout(6, WAIT);
    let app: Vec<&str> = out
        .iter()
        .filter(|l| l.contains("source=\"app\""))
        .map(|l| fields(l)[0])
        .collect();
    assert_eq!(app, ["1970-01-01T00:00:00.000000005Z"; 3]);
    let edge: Vec<&str> = out
        .iter()
        .filter(|l| l.contains("source=\"edge\""))
        .map(|l| fields(l)[0])
        .collect();
    assert_eq!(edge.len(), 3);
    assert!(edge[0] < edge[1] && edge[1] < edge[2], "{edge:?}");
    assert!(edge[0] > "2020", "{edge:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn error_statuses_name_what_was_wrong() {
    let agent = dry_run(&two_targets("      max_message_size: 2KiB\n"));
    let client = reqwest::Client::new();
    let push = agent.url(0, "/app/loki/api/v1/push");

    let (status, text) = post(
        &client,
        &agent.url(0, "/nope/loki/api/v1/push"),
        &[JSON],
        "{}",
    )
    .await;
    assert_eq!(status, 404, "{text}");

    let resp = client.get(&push).send().await.expect("get");
    assert_eq!(resp.status().as_u16(), 405);
    let allow = resp
        .headers()
        .get("allow")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert!(allow.contains("POST"), "allow: {allow}");

    let (status, text) = post(&client, &push, &[JSON, ("Content-Encoding", "br")], "{}").await;
    assert_eq!(status, 415, "{text}");
    assert!(text.contains("br"), "{text}");

    let (status, text) = post(&client, &push, &[], JSON_PUSH).await;
    assert!(status == 415 || status == 400, "{status} {text}");
    assert!(text.contains("application/json"), "{text}");

    let cases: &[(&str, (&str, &str), &[u8])] = &[
        ("bad json", JSON, b"{\"streams\": [ {"),
        (
            "json wrong types",
            JSON,
            br#"{"streams":[{"stream":{"a":"b"},"values":[[1,"x"]]}]}"#,
        ),
        (
            "bad timestamp",
            JSON,
            br#"{"streams":[{"stream":{"a":"b"},"values":[["1.5e18","x"]]}]}"#,
        ),
        ("bad snappy", PROTO, &[10, 0x3c, b'a']),
        (
            "bad protobuf",
            PROTO,
            &[0x05, 0x10, 0xff, 0xff, 0xff, 0xff, 0xff],
        ),
    ];
    for (name, header, body) in cases {
        let (status, text) = post(&client, &push, &[*header], body.to_vec()).await;
        assert_eq!(status, 400, "{name}: {text}");
        assert!(!text.trim().is_empty(), "{name}: empty error body");
    }

    let big = format!(
        r#"{{"streams":[{{"stream":{{"a":"b"}},"values":[["1","{}"]]}}]}}"#,
        "x".repeat(4096)
    );
    let (status, text) = post(&client, &push, &[JSON], big.clone()).await;
    assert_eq!(status, 413, "plain over limit: {text}");
    // Compressed it fits; decompressed it does not.
    let small = gzip(big.as_bytes());
    assert!(small.len() < 2048);
    let (status, text) = post(&client, &push, &[JSON, ("Content-Encoding", "gzip")], small).await;
    assert_eq!(status, 413, "gzip over limit: {text}");

    // The agent is still up and accepting.
    let (status, text) = post(&client, &push, &[JSON], JSON_PUSH).await;
    assert_eq!(status, 204, "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn gzip_bomb_is_refused_by_the_limit() {
    let agent = dry_run(&two_targets(""));
    let client = reqwest::Client::new();
    // ~1 GiB of zeros compresses to about 1 MB; 64 MiB to ~64 KB. Use 200 MiB
    // with the default 100MiB limit: refused while decoding, not after.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..200 {
        std::io::Write::write_all(&mut enc, &zeros).expect("gzip");
    }
    let bomb = enc.finish().expect("gzip");
    assert!(bomb.len() < 300_000, "bomb is {} bytes", bomb.len());
    let (status, text) = post(
        &client,
        &agent.url(0, "/app/loki/api/v1/push"),
        &[JSON, ("Content-Encoding", "gzip")],
        bomb,
    )
    .await;
    assert_eq!(status, 413, "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn garbage_never_takes_the_agent_down() {
    let agent = dry_run(&two_targets(""));
    let client = reqwest::Client::new();
    let push = agent.url(0, "/app/loki/api/v1/push");
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut noise = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect()
    };
    let huge_labels = format!("{{a=\"{}\"", "v".repeat(1 << 20));
    let truncated = {
        let b = proto_body(&[(r#"{a="b"}"#, &[(1, "line", &[])])]);
        b[..b.len() / 2].to_vec()
    };
    let bodies: Vec<((&str, &str), Vec<u8>)> = vec![
        (PROTO, noise(10_000)),
        (PROTO, noise(1)),
        (PROTO, truncated),
        (
            PROTO,
            proto_body(&[(huge_labels.as_str(), &[(1, "x", &[])])]),
        ),
        (JSON, noise(5_000)),
        (JSON, br#"{"streams":{"a":1}}"#.to_vec()),
        (
            JSON,
            br#"{"streams":[{"stream":"x","values":"y"}]}"#.to_vec(),
        ),
        (JSON, br#"[1,2,3]"#.to_vec()),
    ];
    for (i, (ct, body)) in bodies.into_iter().enumerate() {
        let (status, text) = post(&client, &push, &[ct], body).await;
        assert!((400..500).contains(&status), "body {i}: {status} {text}");
    }
    let (status, text) = post(&client, &push, &[JSON], JSON_PUSH).await;
    assert_eq!(status, 204, "{text}");
}

#[test]
fn sigterm_finishes_in_flight_pushes_and_loses_none() {
    use std::io::{Read, Write};
    let mut agent = dry_run(&two_targets("      use_incoming_timestamp: true\n"));
    let addr = agent.addr(0);
    let body_for = |req: usize, n: usize| {
        let values: Vec<String> = (0..n)
            .map(|j| format!(r#"["{}","r{req}-{j}"]"#, req * 1000 + j + 1))
            .collect();
        format!(
            r#"{{"streams":[{{"stream":{{"req":"{req}"}},"values":[{}]}}]}}"#,
            values.join(",")
        )
    };
    let send_head = |body_len: usize| {
        let mut conn = std::net::TcpStream::connect(addr).expect("connect");
        conn.set_read_timeout(Some(WAIT)).expect("timeout");
        write!(
            conn,
            "POST /app/loki/api/v1/push HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {body_len}\r\n\r\n"
        )
        .expect("write head");
        conn
    };
    let status_of = |conn: &mut std::net::TcpStream| {
        let mut buf = [0u8; 512];
        let n = conn.read(&mut buf).unwrap_or(0);
        String::from_utf8_lossy(&buf[..n])
            .split_whitespace()
            .nth(1)
            .unwrap_or("")
            .to_owned()
    };

    // Five pushes acknowledged before the signal.
    for req in 0..5 {
        let body = body_for(req, 50);
        let mut conn = send_head(body.len());
        conn.write_all(body.as_bytes()).expect("write body");
        assert_eq!(status_of(&mut conn), "204");
    }
    // One push in flight: head and half the body sent when SIGTERM arrives.
    let body = body_for(99, 100);
    let (first, rest) = body.as_bytes().split_at(body.len() / 2);
    let mut in_flight = std::net::TcpStream::connect(addr).expect("connect");
    in_flight.set_read_timeout(Some(WAIT)).expect("timeout");
    write!(
        in_flight,
        "POST /app/loki/api/v1/push HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        body.len()
    )
    .expect("write head");
    // hyper answers 100 Continue once the handler reads the body, so the
    // push is past its admission check before the signal (without this
    // the signal could overtake the head on a loaded machine).
    assert_eq!(status_of(&mut in_flight), "100");
    in_flight.write_all(first).expect("write half");
    agent.terminate();
    // Once shutdown has begun, /ready says so (or the listener is closed).
    let ready_url = format!("http://{addr}/ready");
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let status = std::net::TcpStream::connect(addr).ok().map(|mut c| {
            let _ = write!(
                c,
                "GET /ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            );
            c.set_read_timeout(Some(WAIT)).ok();
            status_of(&mut c)
        });
        match status.as_deref() {
            Some("200") if std::time::Instant::now() < deadline => std::thread::yield_now(),
            Some("200") => panic!("{ready_url} still ready after SIGTERM"),
            _ => break,
        }
    }
    in_flight.write_all(rest).expect("write rest");
    assert_eq!(
        status_of(&mut in_flight),
        "204",
        "the in-flight push completes"
    );

    let status = agent
        .wait_exit(Duration::from_secs(15))
        .expect("agent exits after SIGTERM");
    assert!(
        status.success(),
        "exit status {status:?}; stderr:\n{}",
        agent.stderr()
    );
    assert_eq!(
        agent.stdout().len(),
        5 * 50 + 100,
        "every acknowledged entry is printed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn loki_push_api_targets_get_their_own_listener() {
    let yaml = "server:\n  http_listen_address: 127.0.0.1\n  http_listen_port: 0\n  grpc_listen_port: 0\n\
                positions:\n  filename: /tmp/positions.yaml\n\
                scrape_configs:\n\
                \x20 - job_name: push1\n    loki_push_api:\n      server:\n        http_listen_address: 127.0.0.1\n        http_listen_port: 0\n        grpc_listen_port: 0\n      labels:\n        pushserver: push1\n      use_incoming_timestamp: true\n";
    let agent = Agent::start(bin(), yaml, &["-dry-run"], 2);
    let client = reqwest::Client::new();
    let body = r#"{"streams":[{"stream":{"a":"1"},"values":[["9","via own listener"]]}]}"#;
    let (status, text) = post(&client, &agent.url(1, "/loki/api/v1/push"), &[JSON], body).await;
    assert_eq!(status, 204, "{text}");
    let (status, _) = post(&client, &agent.url(1, "/api/v1/push"), &[JSON], body).await;
    assert_eq!(status, 204);
    let out = agent.wait_stdout(2, WAIT);
    assert_eq!(
        out,
        ["1970-01-01T00:00:00.000000009Z\t{a=\"1\", pushserver=\"push1\"}\tvia own listener"; 2]
    );
    // The target is not on the shared server.
    let (status, _) = post(&client, &agent.url(0, "/loki/api/v1/push"), &[JSON], body).await;
    assert_eq!(status, 404);
}
