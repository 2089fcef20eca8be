//! The secure receiver: TLS (CA-verified clients, plain HTTP refused,
//! mutual TLS, certificate rotation), per-target credentials, the gRPC
//! Pusher over h2c and TLS, a TLS + basic auth chain of two agents,
//! `POST /reload`, and the shipped `config/secure.yaml`. Every certificate
//! is made by the test (rcgen).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes};
use prost::Message;
use pushtail_proto::logproto::{EntryAdapter, PushRequest, StreamAdapter};
use pushtail_tests::agent::write_config;
use pushtail_tests::fake_loki::FakeLoki;
use pushtail_tests::pki::{Pair, Pki};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};

use crate::support::*;

/// A request case: (URL or path, headers, expected status).
type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], u16);
/// A gRPC case: (metadata, message, expected code).
type GrpcCase<'a> = (&'a [(&'static str, &'a str)], Bytes, tonic::Code);

const ONE_LINE: &str = r#"{"streams":[{"stream":{"app":"a"},"values":[["1","hello"]]}]}"#;

/// An agent config with TLS from `pki`'s `server.crt`/`server.key`
/// (`tls_extra` adds keys to `http_tls_config`; `extra` follows it: more
/// `server` keys, or top-level blocks) and the given targets.
fn tls_config(pki: &Pki, tls_extra: &str, extra: &str, targets: &str) -> String {
    format!(
        "server:\n  http_listen_address: 127.0.0.1\n  http_listen_port: 0\n  graceful_shutdown_timeout: 5s\n  http_tls_config:\n    cert_file: {}\n    key_file: {}\n{tls_extra}{extra}scrape_configs:\n{targets}",
        pki.path("server.crt").display(),
        pki.path("server.key").display(),
    )
}

const ROOT_TARGET: &str = "  - job_name: app\n    http: {labels: {source: app}}\n";

fn https(agent: &Agent, path: &str) -> String {
    format!("https://127.0.0.1:{}{path}", agent.addr(0).port())
}

/// A reqwest client trusting `pki`'s CA, optionally presenting `identity`.
fn tls_client(pki: &Pki, identity: Option<&Pair>) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(pki.ca_pem().as_bytes()).expect("CA certificate");
    let mut builder = reqwest::Client::builder()
        .add_root_certificate(ca)
        .tls_built_in_root_certs(false)
        .timeout(WAIT);
    if let Some(pair) = identity {
        builder = builder.identity(
            reqwest::Identity::from_pem(pair.identity_pem().as_bytes()).expect("identity"),
        );
    }
    builder.build().expect("client")
}

async fn send(
    client: &reqwest::Client,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<(u16, reqwest::header::HeaderMap, String), reqwest::Error> {
    let mut req = client
        .post(url)
        .body(body.to_owned())
        .header(JSON.0, JSON.1);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    Ok((status, headers, resp.text().await?))
}

fn der(pem: &str) -> Vec<u8> {
    CertificateDer::from_pem_slice(pem.as_bytes())
        .expect("certificate PEM")
        .to_vec()
}

/// Opens a TLS connection trusting `ca_pem` and returns the certificate the
/// server presented.
async fn presented_cert(addr: SocketAddr, ca_pem: &str) -> Vec<u8> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).expect("CA PEM"))
        .expect("CA");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let name = ServerName::try_from("localhost").expect("server name");
    let tls = connector.connect(name, tcp).await.expect("handshake");
    tls.get_ref()
        .1
        .peer_certificates()
        .expect("server certificate")[0]
        .to_vec()
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_push_with_a_verified_server_and_plain_http_refused() {
    let pki = Pki::new("tls");
    pki.write_server(&pki.server("pushtail"));
    let agent = Agent::start(
        bin(),
        &tls_config(&pki, "", "", ROOT_TARGET),
        &["-dry-run"],
        1,
    );
    let client = tls_client(&pki, None);
    let (status, _, body) = send(&client, &https(&agent, "/loki/api/v1/push"), &[], ONE_LINE)
        .await
        .expect("TLS push");
    assert_eq!(status, 204, "{body}");
    let out = agent.wait_stdout(1, WAIT);
    assert!(out.iter().any(|l| l.ends_with("\thello")), "{out:?}");

    // Plain HTTP to the TLS port: a clear 400 and a closed connection.
    let plain = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{}/loki/api/v1/push", agent.addr(0).port());
    let (status, _, body) = send(&plain, &url, &[], ONE_LINE)
        .await
        .expect("plain answer");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("TLS"), "{body}");

    // A client that does not trust the CA fails the handshake; the agent
    // keeps serving.
    let untrusting = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .build()
        .expect("client");
    let refused = send(&untrusting, &https(&agent, "/ready"), &[], "").await;
    assert!(refused.is_err(), "{refused:?}");
    let (status, _, _) = send(&client, &https(&agent, "/loki/api/v1/push"), &[], ONE_LINE)
        .await
        .expect("TLS push after failures");
    assert_eq!(status, 204);
    let metrics = client
        .get(https(&agent, "/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    assert!(
        metrics.lines().any(
            |l| l.starts_with("pushtail_receiver_tls_handshake_failures_total ")
                && !l.ends_with(" 0")
        ),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn mutual_tls_requires_a_client_certificate_and_can_pin_the_tenant() {
    let pki = Pki::new("mtls");
    pki.write_server(&pki.server("pushtail"));
    let tls_extra = format!(
        "    client_auth_type: RequireAndVerifyClientCert\n    client_ca_file: {}\n    min_version: TLS13\n",
        pki.path("ca.pem").display()
    );
    let targets =
        "  - job_name: app\n    http: {labels: {source: app}, tenant_from_client_cert: cn}\n";
    let agent = Agent::start(
        bin(),
        &tls_config(&pki, &tls_extra, "", targets),
        &["-dry-run"],
        1,
    );
    let url = https(&agent, "/loki/api/v1/push");

    let anonymous = send(&tls_client(&pki, None), &url, &[], ONE_LINE).await;
    assert!(
        anonymous.is_err(),
        "accepted without a certificate: {anonymous:?}"
    );

    // A certificate from another CA is refused too.
    let stranger = Pki::new("stranger").client("team-x");
    let foreign = send(&tls_client(&pki, Some(&stranger)), &url, &[], ONE_LINE).await;
    assert!(
        foreign.is_err(),
        "accepted a foreign certificate: {foreign:?}"
    );

    let client = tls_client(&pki, Some(&pki.client("team-a")));
    // The certificate's CN wins over the header.
    let (status, _, body) = send(&client, &url, &[("X-Scope-OrgID", "other")], ONE_LINE)
        .await
        .expect("push with a client certificate");
    assert_eq!(status, 204, "{body}");
    let out = agent.wait_stdout(1, WAIT);
    assert_eq!(out.len(), 1, "{out:?}");
    assert!(out[0].ends_with("\ttenant=team-a"), "{out:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn certificate_files_are_rotated_without_a_restart() {
    let pki = Pki::new("rotate");
    let first = pki.server("first");
    pki.write_server(&first);
    let agent = Agent::start(
        bin(),
        &tls_config(&pki, "", "", ROOT_TARGET),
        &["-dry-run"],
        1,
    );
    let addr = agent.addr(0);
    assert_eq!(presented_cert(addr, pki.ca_pem()).await, der(&first.cert));

    let second = pki.server("second");
    pki.write_server(&second);
    let deadline = Instant::now() + WAIT;
    loop {
        if presented_cert(addr, pki.ca_pem()).await == der(&second.cert) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate was never served"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A key that does not match the certificate: the old pair stays.
    let third = pki.server("third");
    pki.write("server.crt", &third.cert);
    let stderr_wait = Instant::now() + WAIT;
    while !agent.stderr().contains("key does not match") {
        assert!(Instant::now() < stderr_wait, "{}", agent.stderr());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(presented_cert(addr, pki.ca_pem()).await, der(&second.cert));
    let client = tls_client(&pki, None);
    let (status, _, _) = send(&client, &https(&agent, "/loki/api/v1/push"), &[], ONE_LINE)
        .await
        .expect("push after a bad rotation");
    assert_eq!(status, 204);
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_guard_one_target_while_another_stays_open() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pw = dir.path().join("edge.pw");
    std::fs::write(&pw, "s3cret-pw\n").expect("password file");
    let yaml = format!(
        "server:\n  http_listen_address: 127.0.0.1\n  http_listen_port: 0\nscrape_configs:\n\
         \x20 - job_name: edge\n    http:\n      base_url: /edge/\n      basic_auth: {{username: edge, password_file: {}}}\n\
         \x20 - job_name: apps\n    http:\n      base_url: /apps/\n      bearer_token: inline-t0ken\n\
         \x20 - job_name: open\n    http:\n      base_url: /open/\n",
        pw.display()
    );
    let agent = Agent::start(bin(), &yaml, &["-dry-run", "-print-config-stderr"], 1);
    let client = reqwest::Client::new();
    let edge = agent.url(0, "/edge/loki/api/v1/push");
    let cases: &[Case] = &[
        (&edge, &[], 401),
        (&edge, &[("Authorization", "Basic ZWRnZTp3cm9uZw==")], 401), // edge:wrong
        (&edge, &[("Authorization", "Bearer inline-t0ken")], 401),
        (
            &edge,
            &[("Authorization", "Basic ZWRnZTpzM2NyZXQtcHc=")],
            204,
        ), // edge:s3cret-pw
    ];
    for (url, headers, want) in cases {
        let (status, headers_back, body) =
            send(&client, url, headers, ONE_LINE).await.expect("answer");
        assert_eq!(status, *want, "{headers:?}: {body}");
        if status == 401 {
            assert_eq!(
                headers_back
                    .get("www-authenticate")
                    .and_then(|v| v.to_str().ok()),
                Some("Basic realm=\"pushtail\"")
            );
            assert!(body.contains("edge"), "{body}");
        }
    }
    let apps = agent.url(0, "/apps/loki/api/v1/raw");
    let (status, h, _) = send(&client, &apps, &[], "x").await.expect("answer");
    assert_eq!(status, 401);
    assert_eq!(
        h.get("www-authenticate").and_then(|v| v.to_str().ok()),
        Some("Bearer realm=\"pushtail\"")
    );
    let (status, _, _) = send(
        &client,
        &apps,
        &[("Authorization", "Bearer inline-t0ken")],
        "x",
    )
    .await
    .expect("answer");
    assert_eq!(status, 204);
    let (status, _, body) = send(
        &client,
        &agent.url(0, "/open/loki/api/v1/push"),
        &[],
        ONE_LINE,
    )
    .await
    .expect("answer");
    assert_eq!(status, 204, "{body}");
    agent.wait_stdout(3, WAIT);

    let metrics = reqwest::get(agent.url(0, "/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    for (job, reason, n) in [
        ("edge", "missing", 1),
        ("edge", "wrong", 2),
        ("apps", "missing", 1),
    ] {
        let line = metrics
            .lines()
            .find(|l| {
                l.starts_with("pushtail_receiver_auth_failures_total{")
                    && l.contains(&format!("job=\"{job}\""))
                    && l.contains(&format!("reason=\"{reason}\""))
            })
            .unwrap_or_else(|| panic!("no {job}/{reason} line in {metrics}"));
        assert!(line.ends_with(&format!(" {n}")), "{line}");
    }
    let stderr = agent.stderr();
    assert!(!stderr.contains("inline-t0ken"), "{stderr}");
    assert!(!stderr.contains("s3cret-pw"), "{stderr}");
    assert!(stderr.contains("<secret>"), "{stderr}");
}

/// The Pusher's messages for a tonic client: the request as encoded bytes,
/// the response ignored.
#[derive(Clone, Copy, Default)]
struct TestCodec;

impl tonic::codec::Codec for TestCodec {
    type Encode = Bytes;
    type Decode = ();
    type Encoder = TestCodec;
    type Decoder = TestCodec;
    fn encoder(&mut self) -> TestCodec {
        TestCodec
    }
    fn decoder(&mut self) -> TestCodec {
        TestCodec
    }
}

impl tonic::codec::Encoder for TestCodec {
    type Item = Bytes;
    type Error = tonic::Status;
    fn encode(
        &mut self,
        item: Bytes,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for TestCodec {
    type Item = ();
    type Error = tonic::Status;
    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<()>, tonic::Status> {
        src.advance(src.remaining());
        Ok(Some(()))
    }
}

fn push_request(line: &str) -> Bytes {
    PushRequest {
        streams: vec![StreamAdapter {
            labels: r#"{app="grpc"}"#.into(),
            entries: vec![EntryAdapter {
                timestamp: Some(prost_types::Timestamp {
                    seconds: 1,
                    nanos: 0,
                }),
                line: line.into(),
                ..Default::default()
            }],
            hash: 0,
        }],
    }
    .encode_to_vec()
    .into()
}

async fn grpc_push(
    channel: tonic::transport::Channel,
    body: Bytes,
    metadata: &[(&'static str, &str)],
) -> Result<(), tonic::Status> {
    grpc_push_with(tonic::client::Grpc::new(channel), body, metadata).await
}

/// [`grpc_push`] with the message gzip-compressed (`grpc-encoding: gzip`).
async fn grpc_push_gzip(
    channel: tonic::transport::Channel,
    body: Bytes,
    metadata: &[(&'static str, &str)],
) -> Result<(), tonic::Status> {
    let client =
        tonic::client::Grpc::new(channel).send_compressed(tonic::codec::CompressionEncoding::Gzip);
    grpc_push_with(client, body, metadata).await
}

async fn grpc_push_with(
    mut client: tonic::client::Grpc<tonic::transport::Channel>,
    body: Bytes,
    metadata: &[(&'static str, &str)],
) -> Result<(), tonic::Status> {
    client
        .ready()
        .await
        .map_err(|e| tonic::Status::unknown(e.to_string()))?;
    let mut req = tonic::Request::new(body);
    for (k, v) in metadata {
        req.metadata_mut()
            .insert(*k, v.parse().expect("metadata value"));
    }
    let path = http::uri::PathAndQuery::from_static("/logproto.Pusher/Push");
    client.unary(req, path, TestCodec).await.map(|_| ())
}

fn grpc_targets(loki: &FakeLoki) -> String {
    format!(
        "clients:\n  - url: {}\n    batchwait: 50ms\n\
         \x20 - job_name: root\n    http: {{labels: {{via: root}}, max_message_size: 2KiB}}\n\
         \x20 - job_name: app\n    http: {{base_url: /app/, labels: {{via: app}}}}\n\
         \x20 - job_name: locked\n    http: {{base_url: /locked/, bearer_token: t}}\n",
        loki.push_url()
    )
}

/// gRPC cases shared by h2c and TLS: tenant metadata, target choice,
/// unknown target, credentials, size limit.
async fn grpc_cases(channel: tonic::transport::Channel, loki: &FakeLoki) {
    grpc_push(
        channel.clone(),
        push_request("one"),
        &[("x-scope-orgid", "tenant-a")],
    )
    .await
    .expect("push to /");
    grpc_push(
        channel.clone(),
        push_request("two"),
        &[
            ("x-scope-orgid", "tenant-b"),
            ("x-pushtail-base-url", "/app/"),
        ],
    )
    .await
    .expect("push to /app/");
    let got = loki.wait_for_entries(2, WAIT).await;
    let mut got: Vec<_> = got
        .iter()
        .map(|e| (e.tenant.clone(), e.labels.clone(), e.line.clone()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            (
                Some("tenant-a".into()),
                r#"{app="grpc", via="root"}"#.into(),
                "one".into()
            ),
            (
                Some("tenant-b".into()),
                r#"{app="grpc", via="app"}"#.into(),
                "two".into()
            ),
        ]
    );
    let codes: &[GrpcCase] = &[
        (
            &[("x-pushtail-base-url", "/nope/")],
            push_request("x"),
            tonic::Code::NotFound,
        ),
        (
            &[("x-pushtail-base-url", "/locked/")],
            push_request("x"),
            tonic::Code::Unauthenticated,
        ),
        (
            &[],
            Bytes::from_static(b"\xff\xff\xff"),
            tonic::Code::InvalidArgument,
        ),
        (
            &[],
            push_request(&"x".repeat(4096)),
            tonic::Code::ResourceExhausted,
        ),
    ];
    for (metadata, body, want) in codes {
        let err = grpc_push(channel.clone(), body.clone(), metadata)
            .await
            .expect_err("refused");
        assert_eq!(err.code(), *want, "{metadata:?}: {err}");
    }
    grpc_push(
        channel.clone(),
        push_request("three"),
        &[
            ("x-pushtail-base-url", "locked"),
            ("authorization", "Bearer t"),
        ],
    )
    .await
    .expect("push with a token");
    loki.wait_for_entries(3, WAIT).await;

    // A gzip-compressed message is accepted; one that decompresses past
    // `max_message_size` (2 KiB on `/`) is RESOURCE_EXHAUSTED, however
    // small it is on the wire.
    grpc_push_gzip(channel.clone(), push_request("four"), &[])
        .await
        .expect("gzip push");
    let got = loki.wait_for_entries(4, WAIT).await;
    assert!(got.iter().any(|e| e.line == "four"), "{got:?}");
    let bomb = push_request(&"x".repeat(64 * 1024));
    let err = grpc_push_gzip(channel, bomb, &[])
        .await
        .expect_err("over the limit once decompressed");
    assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn grpc_pusher_over_h2c() {
    let loki = FakeLoki::start().await;
    let yaml = format!(
        "server:\n  http_listen_address: 127.0.0.1\n  http_listen_port: 0\n{}",
        grpc_targets(&loki).replacen(
            "\x20 - job_name: root",
            "scrape_configs:\n  - job_name: root",
            1
        )
    );
    let agent = Agent::start(bin(), &yaml, &[], 1);
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", agent.addr(0)))
        .expect("uri")
        .connect()
        .await
        .expect("h2c channel");
    grpc_cases(channel, &loki).await;
    let metrics = reqwest::get(agent.url(0, "/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("route=\"grpc\"") && metrics.contains("status_code=\"413\""),
        "{metrics}"
    );
    // gRPC pushes count on the status page as HTTP pushes do.
    let status = reqwest::get(agent.url(0, "/api/v1/status"))
        .await
        .expect("status")
        .text()
        .await
        .expect("text");
    let status: serde_json::Value = serde_json::from_str(&status).expect("status json");
    let targets = status["listeners"][0]["targets"]
        .as_array()
        .expect("targets");
    let job = |name: &str| {
        targets
            .iter()
            .find(|t| t["job"] == name)
            .unwrap_or_else(|| panic!("no target {name}: {status:#}"))
    };
    let root = job("root");
    assert_eq!(root["pushes_accepted"], 2, "{root:#}");
    assert_eq!(root["rejected_4xx"], 3, "{root:#}");
    assert_eq!(root["last_rejection"]["status"], 413, "{root:#}");
    let locked = job("locked");
    assert_eq!(locked["pushes_accepted"], 1, "{locked:#}");
    assert_eq!(locked["rejected_4xx"], 1, "{locked:#}");
    assert_eq!(locked["last_rejection"]["status"], 401, "{locked:#}");
    // And a refusal is logged as an HTTP one is, with what the client was told.
    let log = agent.wait_stderr("path=/logproto.Pusher/Push", WAIT);
    assert!(
        log.iter()
            .any(|l| l.contains("msg=\"push refused\"") && l.contains("status=")),
        "{log:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn grpc_pusher_over_tls() {
    let loki = FakeLoki::start().await;
    let pki = Pki::new("grpc");
    pki.write_server(&pki.server("pushtail"));
    let targets = grpc_targets(&loki);
    let (clients, targets) = targets.split_once("\x20 - job_name: root").expect("split");
    let yaml = tls_config(&pki, "", clients, &format!("  - job_name: root{targets}"));
    let agent = Agent::start(bin(), &yaml, &[], 1);
    let tls = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(pki.ca_pem()))
        .domain_name("localhost");
    let channel = tonic::transport::Channel::from_shared(format!(
        "https://127.0.0.1:{}",
        agent.addr(0).port()
    ))
    .expect("uri")
    .tls_config(tls)
    .expect("tls config")
    .connect()
    .await
    .expect("TLS channel");
    grpc_cases(channel, &loki).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn chain_over_tls_with_basic_auth() {
    let loki = FakeLoki::start().await;
    let pki = Pki::new("chain");
    pki.write_server(&pki.server("aggregator"));
    let pw = pki.write("edge.pw", "chain-pw\n");
    let aggregator = tls_config(
        &pki,
        "",
        &format!("clients:\n  - url: {}\n    batchwait: 50ms\n", loki.push_url()),
        &format!(
            "  - job_name: aggregate\n    http:\n      use_incoming_timestamp: true\n      basic_auth: {{username: edge, password_file: {}}}\n",
            pw.display()
        ),
    );
    let aggregator = Agent::start(bin(), &aggregator, &[], 1);
    let edge = format!(
        "server:\n  http_listen_address: 127.0.0.1\n  http_listen_port: 0\nclients:\n  - url: {}\n    batchwait: 50ms\n    basic_auth: {{username: edge, password: chain-pw}}\n    tls_config: {{ca_file: {}}}\nscrape_configs:\n  - job_name: edge\n    http: {{labels: {{hop: edge}}, use_incoming_timestamp: true}}\n",
        https(&aggregator, "/loki/api/v1/push"),
        pki.path("ca.pem").display()
    );
    let edge = Agent::start(bin(), &edge, &[], 1);
    let (status, body) = post(
        &reqwest::Client::new(),
        &edge.url(0, "/loki/api/v1/push"),
        &[JSON, ("X-Scope-OrgID", "t1")],
        ONE_LINE,
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let got = loki.wait_for_entries(1, WAIT).await;
    assert_eq!(got.len(), 1, "{}", edge.stderr());
    assert_eq!(got[0].labels, r#"{app="a", hop="edge"}"#);
    assert_eq!(got[0].tenant.as_deref(), Some("t1"));
    assert_eq!((got[0].timestamp_ns, got[0].line.as_str()), (1, "hello"));
}

#[tokio::test(flavor = "multi_thread")]
async fn reload_endpoint_reloads_and_refuses_with_reasons() {
    let pki = Pki::new("reload");
    pki.write_server(&pki.server("pushtail"));
    let server_extra = "  enable_runtime_reload: true\n";
    let yaml = tls_config(&pki, "", server_extra, ROOT_TARGET);
    let path = write_config(&yaml);
    let agent = Agent::start_at(bin(), path.clone(), &["-dry-run"], 1);
    let client = tls_client(&pki, None);
    let reload = https(&agent, "/reload");

    let with_label = yaml.replace("source: app", "source: reloaded");
    std::fs::write(&path, &with_label).expect("rewrite config");
    let resp = client.post(&reload).send().await.expect("reload");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.expect("body"), "config reloaded\n");
    let (status, _, _) = send(&client, &https(&agent, "/loki/api/v1/push"), &[], ONE_LINE)
        .await
        .expect("push");
    assert_eq!(status, 204);
    let out = agent.wait_stdout(1, WAIT);
    assert!(out[0].contains("source=\"reloaded\""), "{out:?}");

    let refusals = [
        (
            with_label.replace("job_name: app", "job_name: \"\""),
            "job_name is empty",
        ),
        (
            with_label.replace(
                "  http_tls_config:\n",
                "  http_tls_config:\n    min_version: TLS13\n",
            ),
            "http_tls_config",
        ),
    ];
    for (text, reason) in refusals {
        std::fs::write(&path, &text).expect("rewrite config");
        let resp = client.post(&reload).send().await.expect("reload");
        assert_eq!(resp.status(), 400);
        let body = resp.text().await.expect("body");
        assert!(body.contains(reason), "{body}");
    }
    let resp = client.get(&reload).send().await.expect("get");
    assert_eq!(resp.status(), 405);
}

#[tokio::test(flavor = "multi_thread")]
async fn reload_endpoint_is_off_by_default() {
    let agent = Agent::start(bin(), &two_targets(""), &["-dry-run"], 1);
    let resp = reqwest::Client::new()
        .post(agent.url(0, "/reload"))
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status(), 404);
}

/// `config/secure.yaml` as shipped, with its files made here and
/// `PUSHTAIL_TLS_DIR` pointing at them.
#[tokio::test(flavor = "multi_thread")]
async fn the_secure_example_config_serves_as_documented() {
    let pki = Pki::new("example");
    pki.write_server(&pki.server("pushtail"));
    pki.write("edge.pw", "edge-password\n");
    pki.write("apps.token", "apps-token\n");
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/secure.yaml");
    let path = write_config(&std::fs::read_to_string(example).expect("config/secure.yaml"));
    let dir = pki.dir().display().to_string();
    let agent = Agent::start_with_env(
        bin(),
        path,
        &[
            "-dry-run",
            "-config.expand-env",
            "-server.http-listen-port=0",
        ],
        &[("PUSHTAIL_TLS_DIR", &dir)],
        1,
    );
    let client = tls_client(&pki, Some(&pki.client("team-a")));
    let url = |p: &str| format!("https://127.0.0.1:{}{p}", agent.addr(0).port());
    let cases: &[Case] = &[
        ("/edge/loki/api/v1/push", &[], 401),
        (
            "/edge/loki/api/v1/push",
            &[("Authorization", "Basic ZWRnZTplZGdlLXBhc3N3b3Jk")],
            204,
        ), // edge:edge-password
        (
            "/apps/loki/api/v1/push",
            &[("Authorization", "Bearer apps-token")],
            204,
        ),
        ("/loki/api/v1/push", &[], 204),
    ];
    for (p, headers, want) in cases {
        let (status, _, body) = send(&client, &url(p), headers, ONE_LINE)
            .await
            .expect("answer");
        assert_eq!(status, *want, "{p}: {body}");
    }
    let out = agent.wait_stdout(3, WAIT);
    assert!(
        out.iter().any(|l| l.ends_with("\ttenant=team-a")),
        "{out:?}"
    );
    let resp = client.post(url("/reload")).send().await.expect("reload");
    assert_eq!(resp.status(), 200);
}
