//! The command line: config validation, flags, and every shipped example.

use pushtail_tests::agent::{run_to_end, run_to_end_with_env, write_config};
use pushtail_tests::pki::Pki;

use crate::support::bin;

fn check(yaml: &str) -> (Option<i32>, String, String) {
    let path = write_config(yaml);
    let arg = format!("-config.file={}", path.display());
    let result = run_to_end(bin(), &[&arg, "-check-syntax"]);
    let _ = std::fs::remove_file(path);
    result
}

#[test]
fn every_example_config_is_valid() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
    // `-check-syntax` reads the files a start reads: give `secure.yaml` the
    // ones it names under PUSHTAIL_TLS_DIR.
    let pki = Pki::new("examples");
    let server = pki.server("pushtail");
    pki.write("server.crt", &server.cert);
    pki.write("server.key", &server.key);
    pki.write("edge.pw", "edge-secret\n");
    pki.write("apps.token", "apps-token\n");
    let env = [("PUSHTAIL_TLS_DIR", pki.dir())];
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("config dir") {
        let path = entry.expect("dir entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        seen += 1;
        let arg = format!("--config.file={}", path.display());
        let (code, stdout, stderr) =
            run_to_end_with_env(bin(), &[&arg, "-check-syntax", "-config.expand-env"], &env);
        assert_eq!(code, Some(0), "{}: {stdout}{stderr}", path.display());
        assert!(
            stdout.contains("Valid config file"),
            "{}: {stdout}",
            path.display()
        );
    }
    assert!(
        seen >= 2,
        "expected the example configs in {}",
        dir.display()
    );
}

#[test]
fn colliding_base_urls_name_both_jobs() {
    let yaml = "scrape_configs:\n  - job_name: first\n    http: {base_url: /same}\n  - job_name: second\n    http: {base_url: /same/}\n";
    let (code, _, stderr) = check(yaml);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("first") && stderr.contains("second"),
        "{stderr}"
    );
    assert!(stderr.contains("/same/"), "{stderr}");
}

#[test]
fn config_errors_name_the_key_and_line() {
    let cases = [
        ("server:\n  http_listen_port: 1\n  no_such_key: 2\n", &["no_such_key", "line 3"][..]),
        (
            "scrape_configs:\n  - job_name: a\n    http:\n      labels: {\"bad-name\": x}\n",
            &["bad-name", "a"][..],
        ),
        (
            "scrape_configs:\n  - job_name: a\n    http: {base_url: /a/}\n  - job_name: b\n    loki_push_api:\n      server: {http_listen_port: 9080}\n",
            &["9080"][..],
        ),
        ("clients:\n  - url: http://x\n    batchwait: soon\n", &["batchwait", "soon"][..]),
    ];
    for (yaml, wants) in cases {
        let (code, _, stderr) = check(yaml);
        assert_eq!(code, Some(1), "{yaml}: {stderr}");
        for want in wants {
            assert!(
                stderr.contains(want),
                "{yaml}: missing {want:?} in {stderr}"
            );
        }
    }
}

#[test]
fn expand_env_substitutes_variables() {
    let path = write_config("server:\n  http_listen_port: ${PUSHTAIL_TEST_PORT:-9081}\n  log_level: ${PUSHTAIL_TEST_LEVEL}\n");
    let arg = format!("-config.file={}", path.display());
    let out = std::process::Command::new(bin())
        .args([
            arg.as_str(),
            "-config.expand-env=true",
            "-check-syntax",
            "-dry-run",
            "-print-config-stderr",
        ])
        .env("PUSHTAIL_TEST_LEVEL", "debug")
        .output()
        .expect("run");
    let _ = std::fs::remove_file(path);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("http_listen_port: 9081"), "{stderr}");
    assert!(stderr.contains("log_level: debug"), "{stderr}");
}

#[test]
fn version_help_and_missing_config() {
    let (code, stdout, _) = run_to_end(bin(), &["-version"]);
    assert_eq!(code, Some(0));
    assert!(stdout.contains(env!("CARGO_PKG_VERSION")), "{stdout}");
    let (code, stdout, _) = run_to_end(bin(), &["-help"]);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("config.file"), "{stdout}");
    let (code, _, stderr) = run_to_end(bin(), &[]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("-config.file"), "{stderr}");
    let (code, _, stderr) = run_to_end(bin(), &["-config.file=/does/not/exist.yaml"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("/does/not/exist.yaml"), "{stderr}");
}

/// No message says the same thing twice (`X: X`): each `: `-separated part
/// of a line appears once.
fn assert_no_repetition(text: &str) {
    for line in text.lines() {
        let parts: Vec<&str> = line.split(": ").filter(|p| p.len() > 8).collect();
        for (i, part) in parts.iter().enumerate() {
            assert!(
                !parts[i + 1..].contains(part),
                "repeated {part:?} in {line:?}"
            );
        }
    }
}

#[test]
fn check_syntax_catches_what_a_start_would() {
    let target = "scrape_configs:\n  - job_name: a\n    http: {base_url: /a/}\n";
    let with_client = format!("clients:\n  - url: http://127.0.0.1:1/loki/api/v1/push\n{target}");
    let cases: &[(&str, &[&str])] = &[
        ("", &["empty"]),
        ("# only a comment\n", &["empty"]),
        (target, &["no clients configured", "-dry-run"]),
        (
            &format!("server:\n  log_level: verbose\n{with_client}"),
            &["server.log_level", "\"verbose\"", "debug, info, warn, error"],
        ),
        (
            &format!("server:\n  log_format: text\n{with_client}"),
            &["server.log_format", "logfmt, json"],
        ),
        (
            &format!("{with_client}    pipeline_stages:\n      - lables: {{a: b}}\n"),
            &[
                "scrape_configs[0].pipeline_stages[0]: unsupported stage type \"lables\"",
                "did you mean \"labels\"",
                "static_labels",
                "line 7",
            ],
        ),
        (
            &format!("{with_client}    pipeline_stages:\n      - regex: {{expression: \"(a\"}}\n"),
            &["pipeline_stages[0] (regex)", "unclosed group"],
        ),
        (
            &format!("{with_client}    pipeline_stages:\n      - regex:\n          expression: [a]\n"),
            &[
                "scrape_configs[0].pipeline_stages[0].regex.expression: invalid type: sequence",
                "line 8",
            ],
        ),
        (
            "clients:\n  - url: http://x\nscrape_configs:\n  - job_name: a\n    http:\n      labels: {a: [}\n",
            &["scrape_configs[0].http.labels", "line 6"],
        ),
        // Files a start reads: TLS, target credentials, client secrets.
        (
            &format!("server:\n  http_tls_config: {{cert_file: /nonexistent/cert.pem, key_file: /nonexistent/key.pem}}\n{with_client}"),
            &["http_tls_config.cert_file", "/nonexistent/cert.pem"],
        ),
        (
            "clients:\n  - url: http://127.0.0.1:1/loki/api/v1/push\nscrape_configs:\n  - job_name: a\n    http:\n      base_url: /a/\n      bearer_token_file: /nonexistent/token\n",
            &["/nonexistent/token"],
        ),
        (
            &format!("clients:\n  - url: https://127.0.0.1:1/loki/api/v1/push\n    tls_config: {{ca_file: /nonexistent/ca.pem}}\n{target}"),
            &["/nonexistent/ca.pem"],
        ),
        (
            &format!("clients:\n  - url: http://127.0.0.1:1/loki/api/v1/push\n    basic_auth: {{username: u, password_file: /nonexistent/pw}}\n{target}"),
            &["/nonexistent/pw"],
        ),
    ];
    for (yaml, wants) in cases {
        let (code, stdout, stderr) = check(yaml);
        assert_eq!(code, Some(1), "{yaml}: {stdout}{stderr}");
        for want in *wants {
            assert!(
                stderr.contains(want),
                "{yaml}: missing {want:?} in {stderr}"
            );
        }
        assert!(
            !stderr.contains("config file") || !stderr.contains(": ?"),
            "{stderr}"
        );
        assert_no_repetition(&stderr);
    }
}

#[test]
fn check_syntax_shows_the_warnings_a_start_logs() {
    let yaml = "server: {http_path_prefix: /logs}\npositions: {filename: /tmp/p.yaml}\nclients:\n  - url: http://127.0.0.1:1/loki/api/v1/push\nscrape_configs:\n  - job_name: a\n    http: {base_url: /a/}\n    pipeline_stages:\n      - regex: {expression: a, bogus: 1}\n      - match:\n          selector: '{a=\"b\"}'\n          stages:\n            - output: {source: a, extra: {deep: 1}}\n";
    let path = write_config(yaml);
    let arg = format!("-config.file={}", path.display());
    let (code, stdout, stderr) = run_to_end(
        bin(),
        &[
            &arg,
            "-check-syntax",
            "-positions.file=/tmp/x",
            "-client.timeout=3s",
        ],
    );
    let _ = std::fs::remove_file(path);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("Valid config file"), "{stdout}");
    for want in [
        "config key positions is accepted",
        "flag -positions.file is accepted",
        "server.http_path_prefix \"/logs\" is not supported",
        "flag -client.timeout only configures the client -client.url adds",
        "job \"a\": pipeline_stages[0] (regex): unknown key \"bogus\" ignored",
        "job \"a\": pipeline_stages[1].stages[0] (output): unknown key \"extra\" ignored",
    ] {
        assert!(stderr.contains(want), "missing {want:?} in {stderr}");
    }
}

#[test]
fn promtail_flags_are_accepted_and_flag_errors_use_one_dash() {
    let yaml = "scrape_configs:\n  - job_name: a\n    http: {base_url: /a/}\n";
    let path = write_config(yaml);
    let arg = format!("-config.file={}", path.display());
    let flags = [
        "-client.url=http://127.0.0.1:1/loki/api/v1/push",
        "-client.tenant-id=team-a",
        "-client.batch-wait=2s",
        "-client.batch-size-bytes=2MiB",
        "-client.timeout=3s",
        "-client.min-backoff=100ms",
        "-client.max-backoff=10s",
        "-client.max-retries=3",
        "-server.http-listen-address=127.0.0.1",
        "-server.grpc-listen-port=0",
        "-log-config-reverse-order",
        "-positions.file=/tmp/positions.yaml",
        "-server.enable-runtime-reload=true",
        "--config.expand-env=1",
        "-log.level=warn",
    ];
    let mut args = vec![arg.as_str(), "-check-syntax"];
    args.extend(flags);
    let (code, stdout, stderr) = run_to_end(bin(), &args);
    assert_eq!(code, Some(0), "{stdout}{stderr}");

    let (code, _, stderr) = run_to_end(bin(), &[&arg, "-check-syntax", "-no-such-flag"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("'-no-such-flag'"), "{stderr}");
    assert!(!stderr.contains("--no-such-flag"), "{stderr}");
    let (code, _, stderr) = run_to_end(bin(), &[&arg, "-check-syntax", "-client.max-retries=many"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("-client.max-retries"), "{stderr}");
    assert!(!stderr.contains("--client"), "{stderr}");

    // A bad -client.url blames the flag, not the file.
    let (code, _, stderr) = run_to_end(bin(), &[&arg, "-check-syntax", "-client.url=not a url"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("-client.url"), "{stderr}");
    assert!(!stderr.contains("config file"), "{stderr}");
    let (code, _, stderr) = run_to_end(bin(), &[&arg, "-check-syntax", "-log.level=verbose"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("-log.level: unknown log level \"verbose\""),
        "{stderr}"
    );
    let _ = std::fs::remove_file(path);
}

#[test]
fn print_config_stderr_masks_every_secret() {
    let yaml = "server:\n  http_listen_port: 9081\nclients:\n  - url: http://u:urlpass@127.0.0.1:1/loki/api/v1/push\n    basic_auth: {username: bob, password: s3cr3t}\n    headers: {Authorization: Bearer hdrtoken}\n  - url: http://127.0.0.1:2/loki/api/v1/push\n    bearer_token: tok3n\n    tls_config: {ca_file: /etc/k.pem}\nscrape_configs:\n  - job_name: a\n    http: {base_url: /a/}\n";
    // The check reads the client's CA file, so it must exist.
    let pki = Pki::new("print-config");
    let ca = pki.path("ca.pem");
    let yaml = yaml.replace("/etc/k.pem", &ca.display().to_string());
    let path = write_config(&yaml);
    let arg = format!("-config.file={}", path.display());
    let (code, _, stderr) = run_to_end(bin(), &[&arg, "-check-syntax", "-print-config-stderr"]);
    let _ = std::fs::remove_file(path);
    assert_eq!(code, Some(0), "{stderr}");
    for secret in ["urlpass", "s3cr3t", "hdrtoken", "tok3n"] {
        assert!(!stderr.contains(secret), "{secret} printed: {stderr}");
    }
    assert!(stderr.matches("<secret>").count() >= 4, "{stderr}");
    for kept in ["username: bob", "ca.pem", "http_listen_port: 9081"] {
        assert!(stderr.contains(kept), "{kept} missing: {stderr}");
    }
}

#[test]
fn a_port_in_use_names_the_listener() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let shared = format!("server:\n  http_listen_address: 127.0.0.1\n  http_listen_port: {port}\nscrape_configs:\n  - job_name: a\n    http: {{base_url: /a/}}\n");
    let own = format!("server:\n  http_listen_address: 127.0.0.1\n  http_listen_port: 0\nscrape_configs:\n  - job_name: legacy\n    loki_push_api:\n      server: {{http_listen_address: 127.0.0.1, http_listen_port: {port}}}\n");
    for (yaml, want) in [
        (shared, "the shared server"),
        (own, "loki_push_api server of job"),
    ] {
        let path = write_config(&yaml);
        let arg = format!("-config.file={}", path.display());
        let (code, _, stderr) = run_to_end(bin(), &[&arg, "-dry-run"]);
        let _ = std::fs::remove_file(path);
        assert_eq!(code, Some(1), "{stderr}");
        assert!(stderr.contains(want), "missing {want:?}: {stderr}");
        assert!(stderr.contains(&port.to_string()), "{stderr}");
        assert_no_repetition(&stderr);
    }
    drop(taken);
}
