use super::*;

fn parse(yaml: &str) -> Result<ClientConfig, String> {
    serde_yaml::from_str(yaml).map_err(|e| e.to_string())
}

#[test]
fn defaults_match_promtail() {
    let cfg = parse("url: http://loki:3100/loki/api/v1/push").unwrap();
    assert_eq!(cfg, ClientConfig::new("http://loki:3100/loki/api/v1/push"));
    assert_eq!(cfg.batchwait, Duration::from_secs(1));
    assert_eq!(cfg.batchsize, ByteSize::mib(1));
    assert_eq!(cfg.timeout, Duration::from_secs(10));
    assert_eq!(
        cfg.backoff_config,
        BackoffConfig {
            min_period: Duration::from_millis(500),
            max_period: Duration::from_secs(300),
            max_retries: 10,
        }
    );
    assert_eq!(cfg.queue_capacity, 16);
    assert!(!cfg.drop_rate_limited_batches);
    assert_eq!(cfg.validate(), Ok(()));
}

#[test]
fn full_promtail_client_block_loads() {
    let cfg = parse(
        r#"
url: https://loki.example.com:3100/loki/api/v1/push
tenant_id: team-a
batchwait: 2s
batchsize: 512KiB
timeout: 5s
backoff_config: {min_period: 100ms, max_period: 10s, max_retries: 3}
external_labels: {cluster: eu}
headers: {X-Extra: "1"}
basic_auth: {username: u, password_file: /run/secret}
tls_config: {ca_file: /ca.pem, cert_file: /c.pem, key_file: /k.pem, server_name: loki, insecure_skip_verify: false}
drop_rate_limited_batches: true
proxy_url: http://proxy:8080
stream_lag_labels: [filename]
follow_redirects: true
enable_http2: true
queue_capacity: 4
"#,
    )
    .unwrap();
    assert_eq!(cfg.batchsize, ByteSize(512 * 1024));
    assert_eq!(cfg.backoff_config.max_retries, 3);
    assert_eq!(cfg.queue_capacity, 4);
    assert_eq!(cfg.validate(), Ok(()));
}

#[test]
fn unknown_keys_are_errors() {
    let cases = [
        ("url: http://a\nbatch_size: 1", "batch_size"),
        ("url: http://a\nbackoff_config: {min: 1s}", "min"),
        ("url: http://a\ntls_config: {ca: x}", "ca"),
        ("url: http://a\nbasic_auth: {user: x}", "user"),
    ];
    for (yaml, key) in cases {
        let err = parse(yaml).unwrap_err();
        assert!(err.contains(key), "{yaml}: {err}");
    }
}

#[test]
fn validation() {
    type Edit = fn(&mut ClientConfig);
    let cases: &[(&str, Edit, Option<ClientConfigError>)] = &[
        ("defaults", |_| {}, None),
        (
            "bad url",
            |c| c.url = "not a url".into(),
            Some(ClientConfigError::Url {
                url: "not a url".into(),
                reason: "relative URL without a base".into(),
            }),
        ),
        (
            "ftp url",
            |c| c.url = "ftp://a/b".into(),
            Some(ClientConfigError::Url {
                url: "ftp://a/b".into(),
                reason: "the scheme must be http or https".into(),
            }),
        ),
        (
            "bad tenant",
            |c| c.tenant_id = "a/b".into(),
            Some(ClientConfigError::TenantId(TenantError::BadChar {
                id: "a/b".into(),
                ch: '/',
            })),
        ),
        (
            "zero batchsize",
            |c| c.batchsize = ByteSize(0),
            Some(ClientConfigError::ZeroBatchSize),
        ),
        (
            "zero queue",
            |c| c.queue_capacity = 0,
            Some(ClientConfigError::ZeroQueueCapacity),
        ),
        (
            "min over max",
            |c| c.backoff_config.min_period = Duration::from_secs(600),
            Some(ClientConfigError::Backoff {
                min: Duration::from_secs(600),
                max: Duration::from_secs(300),
            }),
        ),
        (
            "two bearer tokens",
            |c| {
                c.bearer_token = Some("t".into());
                c.bearer_token_file = Some("/t".into());
            },
            Some(ClientConfigError::BearerTokenTwice),
        ),
        (
            "basic and bearer",
            |c| {
                c.bearer_token = Some("t".into());
                c.basic_auth = Some(BasicAuth {
                    username: "u".into(),
                    password: Some("p".into()),
                    password_file: None,
                });
            },
            Some(ClientConfigError::BasicAndBearer),
        ),
        (
            "password and password_file",
            |c| {
                c.basic_auth = Some(BasicAuth {
                    username: "u".into(),
                    password: Some("p".into()),
                    password_file: Some("/p".into()),
                });
            },
            Some(ClientConfigError::BasicAuthPassword),
        ),
        (
            "no password",
            |c| {
                c.basic_auth = Some(BasicAuth {
                    username: "u".into(),
                    password: None,
                    password_file: None,
                });
            },
            Some(ClientConfigError::BasicAuthPassword),
        ),
        (
            "bad external label",
            |c| {
                c.external_labels.insert("a-b".into(), "x".into());
            },
            Some(ClientConfigError::ExternalLabelName("a-b".into())),
        ),
        (
            "content-type header",
            |c| {
                c.headers.insert("content-TYPE".into(), "x".into());
            },
            Some(ClientConfigError::ReservedHeader("content-TYPE".into())),
        ),
        (
            "user-agent header",
            |c| {
                c.headers.insert("User-Agent".into(), "x".into());
            },
            Some(ClientConfigError::ReservedHeader("User-Agent".into())),
        ),
        (
            "tenant header",
            |c| {
                c.headers.insert("x-scope-orgid".into(), "x".into());
            },
            Some(ClientConfigError::ReservedHeader("x-scope-orgid".into())),
        ),
        (
            "bad header name",
            |c| {
                c.headers.insert("a b".into(), "x".into());
            },
            Some(ClientConfigError::HeaderName("a b".into())),
        ),
        (
            "bad header value",
            |c| {
                c.headers.insert("x-a".into(), "a\nb".into());
            },
            Some(ClientConfigError::HeaderValue("x-a".into())),
        ),
        (
            "cert without key",
            |c| c.tls_config.cert_file = Some("/c".into()),
            Some(ClientConfigError::TlsPair),
        ),
    ];
    for (name, edit, want) in cases {
        let mut cfg = ClientConfig::new("http://localhost:3100/loki/api/v1/push");
        edit(&mut cfg);
        assert_eq!(cfg.validate().err(), *want, "{name}");
    }
}

#[test]
fn host_labels() {
    let cases = [
        ("http://loki:3100/loki/api/v1/push", "loki:3100"),
        (
            "https://loki.example.com/loki/api/v1/push",
            "loki.example.com",
        ),
        ("http://[::1]:3100/x", "[::1]:3100"),
    ];
    for (url, want) in cases {
        assert_eq!(host_label(&parse_url(url).unwrap()), want, "{url}");
    }
}

#[test]
fn passwords_in_urls_are_masked() {
    let cases = [
        (
            "http://u:secret@loki:3100/push",
            "http://u:xxxxx@loki:3100/push",
        ),
        ("http://u@loki/push", "http://u@loki/push"),
        ("not a url", "not a url"),
    ];
    for (url, want) in cases {
        assert_eq!(redacted_url(url), want, "{url}");
    }
}
