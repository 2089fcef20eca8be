//! The command line: config validation, flags, and every shipped example.

use pushtail_tests::agent::{run_to_end, write_config};

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
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("config dir") {
        let path = entry.expect("dir entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        seen += 1;
        let arg = format!("--config.file={}", path.display());
        let (code, stdout, stderr) =
            run_to_end(bin(), &[&arg, "-check-syntax", "-config.expand-env"]);
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
