//! Loading and validation tables: env expansion, error paths and lines,
//! stage-key warnings, secret redaction, target and job-name rules.

use super::*;

#[test]
fn env_expansion() {
    let env = |k: &str| match k {
        "HOST" => Some("loki".to_owned()),
        "EMPTY" => Some(String::new()),
        _ => None,
    };
    let cases = [
        ("url: http://${HOST}:3100", "url: http://loki:3100"),
        ("a: ${MISSING:-dflt}", "a: dflt"),
        ("a: ${HOST:-dflt}", "a: loki"),
        ("a: ${EMPTY:-dflt}", "a: dflt"),
        ("a: ${MISSING}", "a: "),
        ("a: $$HOST", "a: $HOST"),
        ("a: $HOST", "a: $HOST"),
        ("a: ${unterminated", "a: ${unterminated"),
        ("price: 5$", "price: 5$"),
    ];
    for (input, want) in cases {
        assert_eq!(expand_env(input, env), want, "{input}");
    }
}

#[test]
fn unknown_key_names_path_and_line() {
    let text = "server:\n  http_listen_port: 1\nscrape_configs:\n  - job_name: a\n    http:\n      bse_url: /x/\n";
    let err = parse(text).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("bse_url"), "{err}");
    assert!(err.contains("scrape_configs[0].http"), "{err}");
    assert!(err.contains("line 6"), "{err}");
}

#[test]
fn stage_errors_name_path_and_line() {
    let head = "scrape_configs:\n  - job_name: a\n    http: {}\n    pipeline_stages:\n";
    let cases = [
        (
            "      - json: {expressions: {a: ''}}\n      - regex:\n          expression: {a: 1}\n",
            "scrape_configs[0].pipeline_stages[1].regex.expression: invalid type: map, expected a string (line 7, column 23)",
        ),
        (
            "      - sampling:\n",
            "scrape_configs[0].pipeline_stages[0].sampling: missing field `rate` (line 5",
        ),
        (
            "      - lables: {a: ''}\n",
            "scrape_configs[0].pipeline_stages[0]: unsupported stage type \"lables\", did you mean \"labels\"?; valid types are cri,",
        ),
        (
            "      - match:\n          selector: '{a=\"b\"}'\n          stages:\n            - {json: {}, regex: {}}\n",
            "scrape_configs[0].pipeline_stages[0].match.stages[0]: a stage must be a map with one key, the stage type (line 8",
        ),
    ];
    for (stages, want) in cases {
        let err = parse(&format!("{head}{stages}"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.starts_with(want), "{stages}\n got: {err}\nwant: {want}");
    }
}

#[test]
fn keys_stages_ignore_are_warnings_naming_job_stage_and_key() {
    let text = "clients:\n  - url: http://x\nscrape_configs:\n  - job_name: a\n    http: {base_url: /a/}\n  - job_name: b\n    http: {base_url: /b/}\n    pipeline_stages:\n      - regex: {expression: a, bogus: 1}\n      - match:\n          selector: '{a=\"b\"}'\n          typo: x\n          stages:\n            - output: {source: a, extra: {deep: 1}}\n      - non_indexed_labels: {a: ''}\n      - metrics: {m: {type: Counter, config: {action: inc, typo: 2}}}\n";
    let config = parse(text).unwrap_or_else(|e| panic!("{e}"));
    assert!(config.ignored_keys.is_empty(), "{:?}", config.ignored_keys);
    let plan = plan(config, &Overrides::default()).unwrap_or_else(|e| panic!("{e}"));
    let got: Vec<String> = plan.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        got,
        [
            r#"job "b": pipeline_stages[0] (regex): unknown key "bogus" ignored"#,
            r#"job "b": pipeline_stages[1] (match): unknown key "typo" ignored"#,
            r#"job "b": pipeline_stages[1].stages[0] (output): unknown key "extra" ignored"#,
            r#"job "b": pipeline_stages[3] (metrics): unknown key "m.config.typo" ignored"#,
        ]
    );
}

#[test]
fn printed_config_hides_secrets() {
    let text = "clients:\n  - url: http://x\n    basic_auth: {username: u, password: hunter2}\n    bearer_token: tok1\nserver:\n  http_tls_config:\n    cert_file: /c.pem\n    key: \"-----BEGIN PRIVATE KEY-----\"\nscrape_configs:\n  - job_name: a\n    http:\n      basic_auth: {username: edge, password: s3cret}\n      bearer_token: tok2\n";
    let printed = crate::redact::redacted_yaml(text).unwrap_or_default();
    for secret in ["hunter2", "tok1", "PRIVATE KEY", "s3cret", "tok2"] {
        assert!(!printed.contains(secret), "{secret} in {printed}");
    }
    for kept in ["username: edge", "cert_file: /c.pem", "url: http://x"] {
        assert!(printed.contains(kept), "{kept} missing from {printed}");
    }
    assert!(printed.contains("<secret>"), "{printed}");
}

#[test]
fn secure_target_keys_are_checked() {
    let cases = [
        (
            "scrape_configs:\n  - job_name: a\n    http:\n      basic_auth: {username: u}\n",
            "basic_auth needs password or password_file",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    http:\n      basic_auth: {password: p}\n",
            "basic_auth needs a username",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    http:\n      bearer_token: t\n      bearer_token_file: /f\n",
            "bearer_token and bearer_token_file are both set",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    http:\n      tenant_from_client_cert: cn\n",
            "tenant_from_client_cert needs http_tls_config",
        ),
        (
            "server:\n  http_tls_config: {key_file: /k}\n",
            "http_tls_config: needs cert_file or cert",
        ),
        (
            "server:\n  http_tls_config: {cert_file: /c}\n",
            "http_tls_config: needs key_file or key",
        ),
        (
            "server:\n  http_tls_config: {cert_file: /c, key_file: /k, client_auth_type: RequireAndVerifyClientCert}\n",
            "needs client_ca_file or client_ca",
        ),
        (
            "server:\n  http_tls_config: {cert_file: /c, cert: x, key_file: /k}\n",
            "cert_file and cert are both set",
        ),
        (
            "server:\n  http_tls_config: {cert_file: /c, key_file: /k, client_auth_type: Sometimes}\n",
            "unknown variant `Sometimes`",
        ),
        (
            "server:\n  http_tls_config: {cert_file: /c, key_file: /k, min_version: TLS10}\n",
            "unknown variant `TLS10`",
        ),
    ];
    for (text, want) in cases {
        let err = parse(text)
            .and_then(|c| plan(c, &Overrides::default()))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains(want), "{text}: {err}");
    }
    let ok = "server:\n  http_tls_config: {cert_file: /c, key_file: /k, client_auth_type: VerifyClientCertIfGiven, client_ca_file: /ca, min_version: TLS13}\n  enable_runtime_reload: true\nscrape_configs:\n  - job_name: a\n    http:\n      tenant_from_client_cert: cn\n      basic_auth: {username: u, password_file: /p}\n  - job_name: b\n    loki_push_api:\n      server: {http_listen_port: 3500}\n      bearer_token: t\n";
    let dry_run = Overrides {
        dry_run: true,
        ..Overrides::default()
    };
    let plan = parse(ok).and_then(|c| plan(c, &dry_run));
    assert!(plan.is_ok(), "{:?}", plan.err().map(|e| e.to_string()));
}

#[test]
fn job_name_rules() {
    let cases = [
        ("scrape_configs:\n  - http: {}\n", "job_name is empty"),
        (
            "scrape_configs:\n  - job_name: a\n    http: {base_url: /a/}\n  - job_name: a\n    http: {base_url: /b/}\n",
            "already used",
        ),
        ("scrape_configs:\n  - job_name: a\n", "exactly one of"),
    ];
    for (text, want) in cases {
        let err = parse(text)
            .and_then(|c| plan(c, &Overrides::default()))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains(want), "{text}: {err}");
    }
}

/// `limits_config`: Promtail's keys and defaults reach every client, a
/// typo is an error naming the key, and an enabled readline limit needs a
/// positive rate and burst.
#[test]
fn limits_config_reaches_every_client() {
    let head = "clients:\n  - url: http://a/loki/api/v1/push\n  - url: http://b/loki/api/v1/push\n\
                scrape_configs:\n  - job_name: a\n    http: {}\n";
    let plan_of = |limits: &str| {
        parse(&format!("{head}{limits}"))
            .and_then(|c| plan(c, &Overrides::default()))
            .map_err(|e| e.to_string())
    };
    let plan = plan_of("limits_config:\n  max_line_size: 256KB\n  max_line_size_truncate: true\n  max_streams: 10\n")
        .expect("limits load");
    let want = pushtail_client::ClientLimits {
        max_line_size: 256 << 10,
        max_line_size_truncate: true,
        max_streams: 10,
    };
    assert!(plan.clients.iter().all(|c| c.limits == want));
    assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
    let plain = plan_of("").expect("no limits");
    assert!(plain.clients.iter().all(|c| c.limits == Default::default()));

    let errors = [
        ("limits_config:\n  max_line_sise: 1\n", "max_line_sise"),
        (
            "limits_config:\n  readline_rate_enabled: true\n  readline_rate: 0\n",
            "readline_rate and readline_burst must be positive",
        ),
    ];
    for (limits, want) in errors {
        let err = plan_of(limits).err().unwrap_or_default();
        assert!(err.contains(want), "{limits}: {err}");
    }
    assert!(plan_of("limits_config:\n  readline_rate_enabled: true\n").is_ok());
}
