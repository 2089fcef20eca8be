//! Building the HTTP client: auth headers, configured headers, TLS, and
//! errors that name the file at fault.

mod common;

use pushtail_client::config::{BasicAuth, ClientConfig};
use pushtail_client::{Client, ClientError};
use pushtail_tests::fake_loki::tls::tls_fixture;
use pushtail_tests::fake_loki::FakeLoki;
use tokio::sync::mpsc;

use common::*;

#[tokio::test]
async fn auth_and_configured_headers_are_sent() {
    let dir = tempfile::tempdir().unwrap();
    let password = dir.path().join("password");
    std::fs::write(&password, "p\n").unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, " tok \n").unwrap();
    let loki = FakeLoki::start().await;

    let mut basic = config(&loki);
    basic.basic_auth = Some(BasicAuth {
        username: "u".into(),
        password: None,
        password_file: Some(password),
    });
    basic.headers.insert("X-Extra".into(), "1".into());
    let mut bearer = config(&loki);
    bearer.bearer_token_file = Some(token);
    let mut inline = config(&loki);
    inline.bearer_token = Some("inline".into());

    for cfg in [basic, bearer, inline] {
        let (tx, handle) = start(cfg);
        tx.send(batch(None, &[("a", "1")], &["x"])).await.unwrap();
        finish(tx, handle).await;
    }
    let reqs = loki.requests();
    let auth: Vec<Option<&str>> = reqs.iter().map(|r| r.header("authorization")).collect();
    assert_eq!(
        auth,
        [
            Some("Basic dTpw"),
            Some("Bearer tok"),
            Some("Bearer inline")
        ]
    );
    assert_eq!(reqs[0].header("x-extra"), Some("1"));
}

#[tokio::test]
async fn bad_files_are_named_at_spawn() {
    let dir = tempfile::tempdir().unwrap();
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "not a certificate").unwrap();
    let not_pem = not_pem.to_str().unwrap().to_owned();
    let missing = "/nonexistent/pushtail-file";
    type Edit = Box<dyn Fn(&mut ClientConfig)>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "bearer_token_file",
            Box::new(|c| c.bearer_token_file = Some(missing.into())),
            missing,
        ),
        (
            "password_file",
            Box::new(|c| {
                c.basic_auth = Some(BasicAuth {
                    username: "u".into(),
                    password: None,
                    password_file: Some(missing.into()),
                })
            }),
            missing,
        ),
        (
            "ca_file missing",
            Box::new(|c| c.tls_config.ca_file = Some(missing.into())),
            missing,
        ),
        (
            "ca_file not pem",
            Box::new({
                let p = not_pem.clone();
                move |c| c.tls_config.ca_file = Some(p.clone().into())
            }),
            &not_pem,
        ),
        (
            "cert and key not pem",
            Box::new({
                let p = not_pem.clone();
                move |c| {
                    c.tls_config.cert_file = Some(p.clone().into());
                    c.tls_config.key_file = Some(p.clone().into());
                }
            }),
            &not_pem,
        ),
        (
            "invalid config",
            Box::new(|c| c.url = "nope".into()),
            "url \"nope\" is invalid",
        ),
    ];
    for (name, edit, want) in cases {
        let mut cfg = ClientConfig::new("http://127.0.0.1:1/loki/api/v1/push");
        edit(&mut cfg);
        let (_tx, rx) = mpsc::channel(1);
        let err = Client::spawn(cfg, rx).err().expect("spawn fails");
        assert!(err.to_string().contains(want), "{name}: {err}");
        if want == missing {
            assert!(
                matches!(err, ClientError::ReadFile { .. }),
                "{name}: {err:?}"
            );
        }
    }
}

#[tokio::test]
async fn tls_config_is_honoured() {
    // server wants a client cert, ca_file, client cert+key, insecure_skip_verify, delivered
    let cases = [
        (false, true, false, false, true),
        (false, false, false, false, false),
        (false, false, false, true, true),
        (true, true, true, false, true),
        (true, true, false, false, false),
    ];
    for (require_client_cert, ca, client_cert, insecure, delivered) in cases {
        let what = format!(
            "client cert required {require_client_cert}, ca {ca}, client cert {client_cert}, insecure {insecure}"
        );
        let loki = FakeLoki::start_tls(require_client_cert).await;
        let mut cfg = config(&loki);
        cfg.backoff_config.max_retries = 2;
        if ca {
            cfg.tls_config.ca_file = Some(tls_fixture("ca.pem"));
        }
        if client_cert {
            cfg.tls_config.cert_file = Some(tls_fixture("client.pem"));
            cfg.tls_config.key_file = Some(tls_fixture("client.key"));
        }
        cfg.tls_config.insecure_skip_verify = insecure;
        let (tx, handle) = start(cfg);
        tx.send(batch(Some("t"), &[("a", "1")], &["x"]))
            .await
            .unwrap();
        finish(tx, handle).await;
        assert_eq!(loki.entries().len(), usize::from(delivered), "{what}");
    }
}
