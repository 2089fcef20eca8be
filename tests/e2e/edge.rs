//! Misbehaving clients at the connection level: silent and preface-only
//! connections, slow bodies, over-large or unparseable heads. Go's server
//! semantics: the read timeout bounds accept to end of body, so no client
//! can hold a connection slot forever.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

/// The HTTP/2 client preface followed by an empty SETTINGS frame.
const H2_PREFACE_AND_SETTINGS: &[u8] =
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

/// How long a silent connection may survive a 1 s read timeout.
const CLOSE_BOUND: Duration = Duration::from_secs(5);

fn edge_config(server_extra: &str) -> String {
    format!(
        "server:\n  http_listen_address: 127.0.0.1\n  http_listen_port: 0\n  \
         graceful_shutdown_timeout: 1s\n  http_server_read_timeout: 1s\n{server_extra}\
         scrape_configs:\n\
         \x20 - job_name: app\n    http:\n      base_url: /app/\n      labels: {{source: app}}\n"
    )
}

/// Reads (and discards what the server sends, e.g. its HTTP/2 SETTINGS)
/// until EOF or reset; returns how long that took from `since`, or `None`
/// if the socket was still open after [`CLOSE_BOUND`].
async fn wait_closed(mut sock: TcpStream, since: Instant) -> Option<Duration> {
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::from_std(since + CLOSE_BOUND);
    loop {
        match tokio::time::timeout_at(deadline, sock.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(since.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

/// Polls `/metrics` until the sample `prefix` reads `want` (counters are
/// bumped when a connection task ends, just after the client sees the
/// close); returns the last value seen.
async fn wait_metric(agent: &Agent, prefix: &str, want: f64) -> Option<f64> {
    let deadline = Instant::now() + WAIT;
    loop {
        let got = metric(agent, prefix).await;
        if got == Some(want) || Instant::now() >= deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn metric(agent: &Agent, prefix: &str) -> Option<f64> {
    let text = reqwest::get(agent.url(0, "/metrics"))
        .await
        .expect("scrape")
        .text()
        .await
        .expect("scrape body");
    text.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .and_then(|v| v.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread")]
async fn silent_connections_are_closed_and_cannot_starve_the_conn_limit() {
    let agent = dry_run(&edge_config("  http_listen_conn_limit: 4\n"));
    let addr = agent.addr(0);
    let opened = Instant::now();
    let mut silent = Vec::new();
    for i in 0..4 {
        let mut sock = TcpStream::connect(addr).await.expect("connect");
        if i % 2 == 1 {
            sock.write_all(H2_PREFACE_AND_SETTINGS)
                .await
                .expect("preface");
        }
        silent.push(sock);
    }
    // All four slots are held; a polite push must still get through once
    // the silent connections are cut at the read timeout.
    let client = reqwest::Client::new();
    let push = tokio::spawn({
        let url = agent.url(0, "/app/loki/api/v1/raw");
        async move {
            let started = Instant::now();
            let status =
                tokio::time::timeout(CLOSE_BOUND, client.post(url).body("polite line\n").send())
                    .await
                    .map(|r| r.map(|r| r.status().as_u16()));
            (status, started.elapsed())
        }
    });
    let closes: Vec<_> = silent.into_iter().map(|s| wait_closed(s, opened)).collect();
    for (i, close) in closes.into_iter().enumerate() {
        let kind = if i % 2 == 1 { "h2 preface" } else { "silent" };
        let took = close.await;
        eprintln!("{kind} connection {i} closed after {took:?}");
        let took = took.unwrap_or_else(|| panic!("{kind} connection {i} still open"));
        assert!(took >= Duration::from_millis(900), "{kind} {i}: {took:?}");
    }
    let (status, took) = push.await.expect("push task");
    eprintln!("polite push behind 4 silent connections answered after {took:?}");
    assert_eq!(status.ok().and_then(Result::ok), Some(204), "polite push");
    assert_eq!(agent.wait_stdout(1, WAIT).len(), 1);
    assert!(agent.stdout()[0].ends_with("\tpolite line"));
    let timeouts = wait_metric(
        &agent,
        "pushtail_receiver_rejected_connections_total{reason=\"read_timeout\"}",
        4.0,
    )
    .await;
    assert_eq!(timeouts, Some(4.0));
}

#[tokio::test(flavor = "multi_thread")]
async fn partial_request_head_is_closed_at_the_read_timeout() {
    let agent = dry_run(&edge_config(""));
    let mut sock = TcpStream::connect(agent.addr(0)).await.expect("connect");
    let started = Instant::now();
    sock.write_all(b"POST /app/loki/api/v1/raw HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let took = wait_closed(sock, started).await.expect("still open");
    assert!(took >= Duration::from_millis(900), "{took:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let agent = dry_run(&edge_config("  http_server_idle_timeout: 2s\n"));
    let mut sock = TcpStream::connect(agent.addr(0)).await.expect("connect");
    sock.write_all(b"GET /ready HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut buf = [0u8; 1024];
    let n = sock.read(&mut buf).await.expect("response");
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{:?}", &buf[..n]);
    // Kept alive past the 1 s read timeout: idle time is the idle timeout's.
    let answered = Instant::now();
    let took = wait_closed(sock, answered).await.expect("still open");
    eprintln!("idle keep-alive connection closed after {took:?}");
    assert!(took >= Duration::from_millis(1900), "{took:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_body_is_cut_at_the_read_timeout_not_the_write_timeout() {
    let agent = dry_run(&edge_config("  http_server_write_timeout: 30s\n"));
    let sock = TcpStream::connect(agent.addr(0)).await.expect("connect");
    let (mut rd, mut wr) = sock.into_split();
    let started = Instant::now();
    wr.write_all(b"POST /app/loki/api/v1/raw HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
        .await
        .expect("head");
    let trickle = tokio::spawn(async move {
        for _ in 0..100 {
            if wr.write_all(b"x").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    });
    let mut response = Vec::new();
    let read = tokio::time::timeout(CLOSE_BOUND, rd.read_to_end(&mut response)).await;
    let took = started.elapsed();
    trickle.abort();
    assert!(read.is_ok(), "connection still open after {took:?}");
    let text = String::from_utf8_lossy(&response);
    eprintln!("slow body answered and closed after {took:?}");
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(text.contains("http_server_read_timeout"), "{text}");
    // Nothing of the cut request was forwarded: the next push's line is
    // the first and only output.
    let client = reqwest::Client::new();
    let url = agent.url(0, "/app/loki/api/v1/raw");
    assert_eq!(post(&client, &url, &[], "after\n").await.0, 204);
    let out = agent.wait_stdout(1, WAIT);
    assert_eq!(out.len(), 1, "{out:?}");
    assert!(out[0].ends_with("\tafter"), "{out:?}");
}

/// Sends `request` on a fresh connection (ignoring write errors: the server
/// may answer and close before it has read everything) and returns the
/// response's status line.
async fn raw_status(agent: &Agent, request: &[u8]) -> String {
    let mut sock = TcpStream::connect(agent.addr(0)).await.expect("connect");
    let _ = sock.write_all(request).await;
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(Ok(n)) = tokio::time::timeout(WAIT, sock.read(&mut buf)).await {
        if n == 0 {
            break;
        }
        response.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&response);
    text.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn http_layer_rejections_are_counted_by_reason() {
    let agent = dry_run(&edge_config(""));
    let long_uri = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70_000));
    // hyper refuses a head once its read buffer passes ~400 KiB, but one read
    // can overshoot that by up to the buffer's size again: 2 MB can never fit.
    let big_header = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(2_000_000)
    );
    let cases: [(&str, &[u8], &str); 3] = [
        ("malformed", b"GARBAGE\r\n\r\n", "HTTP/1.1 400"),
        ("uri_too_long", long_uri.as_bytes(), "HTTP/1.1 414"),
        ("header_too_large", big_header.as_bytes(), "HTTP/1.1 431"),
    ];
    for (reason, request, want) in cases {
        let status = raw_status(&agent, request).await;
        assert!(status.starts_with(want), "{reason}: {status:?}");
    }
    for (reason, _, _) in cases {
        let prefix = format!("pushtail_receiver_rejected_connections_total{{reason=\"{reason}\"}}");
        assert_eq!(
            wait_metric(&agent, &prefix, 1.0).await,
            Some(1.0),
            "{reason}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn http2_push_works_and_the_idle_connection_is_closed_after_the_idle_timeout() {
    use http_body_util::Full;
    use hyper_util::rt::{TokioExecutor, TokioIo};

    let agent = dry_run(&edge_config("  http_server_idle_timeout: 2s\n"));
    let addr = agent.addr(0);
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .expect("h2 handshake");
    let closed = tokio::spawn(async move {
        let _ = conn.await;
        Instant::now()
    });
    for line in ["h2 one", "h2 two"] {
        let req = hyper::Request::post(format!("http://{addr}/app/loki/api/v1/raw"))
            .body(Full::new(bytes::Bytes::from(format!("{line}\n"))))
            .expect("request");
        let resp = sender.send_request(req).await.expect("h2 push");
        assert_eq!(resp.status().as_u16(), 204, "{line}");
    }
    let answered = Instant::now();
    assert_eq!(agent.wait_stdout(2, WAIT).len(), 2);
    let closed_at = tokio::time::timeout(CLOSE_BOUND, closed)
        .await
        .expect("h2 connection still open")
        .expect("connection task");
    let took = closed_at - answered;
    eprintln!("idle h2 connection closed after {took:?}");
    // The idle timeout (2 s), not the read timeout (1 s), applies once a
    // request has been served.
    assert!(took >= Duration::from_millis(1900), "{took:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_stops_reading_is_disconnected_after_the_write_timeout() {
    let agent = dry_run(&edge_config(
        "  http_server_write_timeout: 1s\n  http_server_idle_timeout: 60s\n",
    ));
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let sock = socket.connect(agent.addr(0)).await.expect("connect");
    let (_rd, mut wr) = sock.into_split();
    // Pipelined requests whose responses (404s naming the long path) far
    // outgrow the socket buffers; the client never reads them.
    let path = "x".repeat(60_000);
    let request = format!("GET /{path} HTTP/1.1\r\nHost: x\r\n\r\n");
    let writer = tokio::spawn(async move {
        for _ in 0..1000 {
            if wr.write_all(request.as_bytes()).await.is_err() {
                return;
            }
        }
    });
    let stalls = wait_metric(
        &agent,
        "pushtail_receiver_rejected_connections_total{reason=\"write_timeout\"}",
        1.0,
    )
    .await;
    writer.abort();
    assert_eq!(stalls, Some(1.0));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_http2_protocol_violation_is_counted_as_malformed() {
    let agent = dry_run(&edge_config(""));
    let mut sock = TcpStream::connect(agent.addr(0)).await.expect("connect");
    // Preface and SETTINGS, then a DATA frame on stream 0: a connection
    // error (PROTOCOL_ERROR) the server answers with GOAWAY.
    let mut bytes = H2_PREFACE_AND_SETTINGS.to_vec();
    bytes.extend_from_slice(b"\x00\x00\x01\x00\x00\x00\x00\x00\x00x");
    sock.write_all(&bytes).await.expect("write");
    let took = wait_closed(sock, Instant::now()).await.expect("still open");
    assert!(
        took < Duration::from_millis(900),
        "closed by the read timeout instead: {took:?}"
    );
    let malformed = wait_metric(
        &agent,
        "pushtail_receiver_rejected_connections_total{reason=\"malformed\"}",
        1.0,
    )
    .await;
    assert_eq!(malformed, Some(1.0));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_http2_stream_is_cut_while_the_connection_serves_others() {
    use http_body_util::{BodyExt, Channel, Full};
    use hyper_util::rt::{TokioExecutor, TokioIo};

    let agent = dry_run(&edge_config("  http_server_write_timeout: 30s\n"));
    let addr = agent.addr(0);
    let url = format!("http://{addr}/app/loki/api/v1/raw");
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let (sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .expect("h2 handshake");
    tokio::spawn(conn);
    let (mut tx, body) = Channel::<bytes::Bytes, std::convert::Infallible>::new(1);
    let trickle = tokio::spawn(async move {
        for _ in 0..100 {
            if tx.send_data(bytes::Bytes::from_static(b"x")).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    });
    let slow = tokio::spawn({
        let mut sender = sender.clone();
        let req = hyper::Request::post(&url)
            .header("content-length", "100")
            .body(body.boxed())
            .expect("request");
        async move {
            let started = Instant::now();
            let resp = sender
                .send_request(req)
                .await
                .expect("slow stream answered");
            let status = resp.status().as_u16();
            let text = resp.into_body().collect().await.map(|c| c.to_bytes());
            (status, text, started.elapsed())
        }
    });
    let (status, text, took) = tokio::time::timeout(CLOSE_BOUND, slow)
        .await
        .expect("slow stream not answered in time")
        .expect("slow task");
    trickle.abort();
    eprintln!("slow h2 stream answered {status} after {took:?}");
    assert_eq!(status, 400);
    let text = text
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    assert!(text.contains("http_server_read_timeout"), "{text}");
    // The same connection still takes a polite push.
    let mut sender = sender;
    let req = hyper::Request::post(&url)
        .body(
            Full::new(bytes::Bytes::from_static(b"after\n"))
                .map_err(|e| match e {})
                .boxed(),
        )
        .expect("request");
    let resp = sender.send_request(req).await.expect("second stream");
    assert_eq!(resp.status().as_u16(), 204);
    let out = agent.wait_stdout(1, WAIT);
    assert_eq!(out.len(), 1, "{out:?}");
    assert!(out[0].ends_with("\tafter"), "{out:?}");
}

/// Starts pushtail through `sh -c 'ulimit -n N; exec pushtail ...'`.
fn dry_run_with_fd_limit(yaml: &str, nofile: u32) -> Agent {
    use std::os::unix::fs::PermissionsExt;
    let script = std::env::temp_dir().join(format!(
        "pushtail-ulimit-{}-{nofile}.sh",
        std::process::id()
    ));
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nulimit -n {nofile} || exit 1\nexec '{}' \"$@\"\n",
            bin().display()
        ),
    )
    .expect("write wrapper");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let agent = Agent::start(&script, yaml, &["-dry-run"], 1);
    let _ = std::fs::remove_file(&script);
    agent
}

#[tokio::test(flavor = "multi_thread")]
async fn out_of_descriptors_the_accept_loop_backs_off_and_recovers() {
    let agent = dry_run_with_fd_limit(&edge_config(""), 40);
    let addr = agent.addr(0);
    let started = Instant::now();
    // More silent connections than the agent has descriptors: accept
    // fails with EMFILE until the read timeout frees some.
    let mut silent = Vec::new();
    for _ in 0..60 {
        silent.push(TcpStream::connect(addr).await.expect("connect"));
    }
    let client = reqwest::Client::new();
    let url = agent.url(0, "/app/loki/api/v1/raw");
    let (status, text) = tokio::time::timeout(
        Duration::from_secs(20),
        post(&client, &url, &[], "after emfile\n"),
    )
    .await
    .expect("push not answered: the listener did not recover");
    assert_eq!(status, 204, "{text}");
    let took = started.elapsed();
    let log = agent.stderr();
    let warnings = log.matches("accept failed").count();
    eprintln!("recovered after {took:?} with {warnings} accept warnings");
    assert!(warnings >= 1, "descriptors never ran out:\n{log}");
    // One warning per back-off (about 1 s), not a spin.
    assert!(
        warnings as u64 <= took.as_secs() + 2,
        "{warnings} accept warnings in {took:?}"
    );
    drop(silent);
}
