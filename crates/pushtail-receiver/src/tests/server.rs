//! Validation, and serving on a real socket.

use super::*;

#[test]
fn validation_names_what_collides() {
    let listener = |port: u16, shared: bool, targets: Vec<TargetSpec>| ListenerSpec {
        server: ServerConfig {
            http_listen_port: port,
            ..ServerConfig::default()
        },
        targets,
        serve_metrics: shared,
    };
    let mut bad_label = target("c", "/c/");
    bad_label.labels = vec![("ok".into(), "1".into()), ("bad-name".into(), "x".into())];
    let cases: Vec<(Vec<ListenerSpec>, Result<(), &str>)> = vec![
        (
            vec![listener(
                1,
                true,
                vec![target("a", "/a/"), target("b", "b")],
            )],
            Ok(()),
        ),
        (
            vec![listener(
                1,
                true,
                vec![target("a", "/x"), target("b", "x/")],
            )],
            Err(r#"jobs "a" and "b" both use base_url "/x/" on port 1"#),
        ),
        (
            vec![
                listener(1, true, vec![]),
                listener(2, false, vec![target("a", "/")]),
            ],
            Ok(()),
        ),
        (
            vec![
                listener(1, true, vec![target("a", "/")]),
                listener(2, false, vec![target("b", "/")]),
            ],
            Ok(()),
        ),
        (
            vec![listener(1, true, vec![bad_label])],
            Err(r#"job "c": invalid label name "bad-name" in labels"#),
        ),
        (
            vec![
                listener(9080, true, vec![]),
                listener(9080, false, vec![target("legacy", "/")]),
            ],
            Err("port 9080 is used by two listeners (the shared server and job legacy)"),
        ),
        (
            vec![listener(0, true, vec![]), listener(0, false, vec![])],
            Ok(()),
        ),
    ];
    for (listeners, want) in cases {
        let got = crate::validate(&listeners).map_err(|e| e.to_string());
        assert_eq!(got, want.map_err(str::to_owned));
    }
}

/// The one socket test: bind, serve, shut down with a request in flight's
/// result delivered, and flush.
#[tokio::test]
async fn receiver_serves_and_shuts_down_gracefully() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let (tx, mut rx) = mpsc::channel(8);
    let spec = ListenerSpec {
        server: ServerConfig {
            http_listen_address: "127.0.0.1".into(),
            http_listen_port: 0,
            ..ServerConfig::default()
        },
        targets: vec![target("job", "/app/")],
        serve_metrics: true,
    };
    let output = crate::Output {
        queues: vec![tx],
        push_timeout: Duration::from_secs(5),
        log: None,
    };
    let receiver = crate::Receiver::bind(vec![spec], output, None)
        .await
        .unwrap();
    let addr = receiver.local_addrs()[0];
    assert_ne!(addr.port(), 0);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(receiver.run(async {
        let _ = stop_rx.await;
    }));

    let request = |path: &str, body: &str| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(request("/app/api/v1/raw", "one\ntwo").as_bytes())
        .await
        .unwrap();
    let mut resp = String::new();
    conn.read_to_string(&mut resp).await.unwrap();
    assert!(resp.starts_with("HTTP/1.1 204"), "{resp}");

    stop_tx.send(()).unwrap();
    running.await.unwrap().unwrap();
    let batch = rx.recv().await.unwrap();
    assert_eq!(batch.entry_count(), 2);
    assert!(
        rx.recv().await.is_none(),
        "the receiver let go of its senders"
    );
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "the listener is closed after run returns"
    );
}
