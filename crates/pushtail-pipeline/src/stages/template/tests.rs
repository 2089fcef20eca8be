use std::borrow::Cow;
use std::collections::HashMap;

use super::{Scope, Template};
use crate::stages::testing::{check_table, config_error};

struct Map(HashMap<&'static str, &'static str>);

impl Scope for Map {
    fn get(&self, name: &str) -> Option<Cow<'_, str>> {
        self.0.get(name).map(|v| Cow::Borrowed(*v))
    }
}

fn scope() -> Map {
    Map(HashMap::from([
        ("Value", "Hello World"),
        ("Entry", "the line"),
        ("app", "loki"),
        ("level", "WARN"),
        ("empty", ""),
        ("pii", "this is PII data"),
        ("path", "/api/v1/users/123"),
    ]))
}

/// (template, rendered or "ERR" for an execution error)
const RENDER: &[(&str, &str)] = &[
    ("hello world!", "hello world!"),
    ("", ""),
    ("{{ .Value }}", "Hello World"),
    ("{{.Value}}_suffix", "Hello World_suffix"),
    ("{{ .Entry }}", "the line"),
    ("{{ .app }}-{{ .level }}", "loki-WARN"),
    ("{{ .missing }}", "<no value>"),
    ("{{ .Value | ToUpper }}", "HELLO WORLD"),
    ("{{ ToLower .Value }}", "hello world"),
    ("{{ .Value | ToLower | ToUpper }}", "HELLO WORLD"),
    ("{{ ToUpper (ToLower .Value) }}", "HELLO WORLD"),
    (r#"{{ Replace .Value "o" "0" -1 }}"#, "Hell0 W0rld"),
    (r#"{{ Replace .Value "o" "0" 1 }}"#, "Hell0 World"),
    (r#"{{ Replace .Value " " "_" -1 }}"#, "Hello_World"),
    (r#"{{ Trim .Value "Hd" }}"#, "ello Worl"),
    (r#"{{ TrimLeft .Value "Hel" }}"#, "o World"),
    (r#"{{ TrimRight .Value "dlr" }}"#, "Hello Wo"),
    (r#"{{ TrimPrefix .Value "Hello " }}"#, "World"),
    (r#"{{ TrimSuffix .Value " World" }}"#, "Hello"),
    (r#"{{ TrimPrefix .Value "nope" }}"#, "Hello World"),
    (r#"{{ TrimSpace "  x  " }}"#, "x"),
    (
        r#"{{ regexReplaceAll "(\\d+)" .path "<$1>" }}"#,
        "/api/v<1>/users/<123>",
    ),
    (
        r#"{{ regexReplaceAll "/users/[0-9]+" .path "/users/:id" }}"#,
        "/api/v1/users/:id",
    ),
    (
        r#"{{ regexReplaceAllLiteral "[0-9]+" .path "$1" }}"#,
        "/api/v$1/users/$1",
    ),
    (
        r#"{{ Sha2Hash .pii "salt" }}"#,
        "5526fd6f8ad457279cf8ff06453c6cb61bf479fa826e3b099caa6c846f9376f2",
    ),
    (
        r#"{{ Hash .pii "salt" }}"#,
        "0807ea24e992127128b38e4930f7155013786a4999c73a25910318a793847658",
    ),
    (
        r#"{{ if eq .level "WARN" }}{{ Replace .level "WARN" "OK" -1 }}{{ else }}{{ .level }}{{ end }}"#,
        "OK",
    ),
    (
        r#"{{ if eq .app "x" }}x{{ else if eq .app "loki" }}L{{ else }}?{{ end }}"#,
        "L",
    ),
    ("{{ if .empty }}yes{{ else }}no{{ end }}", "no"),
    ("{{ if .missing }}yes{{ end }}", ""),
    ("{{ if not .missing }}absent{{ end }}", "absent"),
    ("{{ if and .app .level }}both{{ end }}", "both"),
    ("{{ or .empty .app }}", "loki"),
    (r#"{{ if ne .app "x" }}ne{{ end }}"#, "ne"),
    (r#"{{ eq .app "a" "b" "loki" }}"#, "true"),
    ("{{ len .app }}", "4"),
    (r#"{{ index . "app" }}"#, "loki"),
    (r#"{{ default "none" .missing }}"#, "none"),
    (r#"{{ .empty | default "none" }}"#, "none"),
    (r#"{{ replace "o" "0" .app }}"#, "l0ki"),
    (r#"{{ if contains "ok" .app }}c{{ end }}"#, "c"),
    ("a  {{- .app -}}  b", "alokib"),
    ("{{/* a comment */}}x", "x"),
    (
        r#"{{ "lit" }} {{ `raw\n` }} {{ 42 }} {{ true }}"#,
        r"lit raw\n 42 true",
    ),
    // Go execution errors: Promtail leaves the entry unchanged.
    ("{{ .missing | ToUpper }}", "ERR"),
    ("{{ ToLower .missing }}", "ERR"),
    (r#"{{ Replace .Value "o" "0" "x" }}"#, "ERR"),
    ("{{ ToUpper 5 }}", "ERR"),
    ("{{ . }}", "ERR"),
    (r#"{{ regexReplaceAll .app .app "x" }}"#, "x"),
];

#[test]
fn engine_renders() {
    let scope = scope();
    for (src, want) in RENDER {
        let t = Template::parse(src).unwrap_or_else(|e| panic!("{src}: {e}"));
        let mut out = String::new();
        let got = match t.render(&scope, &mut out) {
            Ok(()) => out,
            Err(_) => "ERR".to_owned(),
        };
        assert_eq!(&got, want, "{src}");
    }
}

#[test]
fn engine_parse_errors() {
    let bad = [
        "{{ .Value ",
        "{{ Nope .Value }}",
        "{{ if .a }}x",
        "{{ end }}",
        "{{ else }}",
        "{{ ToUpper }}",
        r#"{{ Replace .Value "a" }}"#,
        r#"{{ regexReplaceAll "(" .Value "x" }}"#,
        "{{ range .x }}{{ end }}",
        r#"{{ "unterminated }}"#,
        "{{ .a .b }}",
        "{{ .Value | .app }}",
        "{{ (ToUpper .Value }}",
        "{{ .a.b }}",
        "{{/* open }}",
    ];
    for src in bad {
        assert!(Template::parse(src).is_err(), "{src:?} should not parse");
    }
}

#[test]
fn template_stage_table() {
    check_table(&[
        (
            "- template: {source: new_key, template: 'hello world!'}\n- output: {source: new_key}",
            &[],
            "line",
            "{} hello world!",
        ),
        (
            "- template: {source: app, template: '{{ .Value }}_some_suffix'}\n- output: {source: app}",
            &[("app", "loki")],
            "line",
            r#"{app="loki"} loki_some_suffix"#,
        ),
        (
            "- template: {source: app, template: '{{ ToUpper .Value }}'}\n- output: {source: app}",
            &[("app", "loki")],
            "line",
            r#"{app="loki"} LOKI"#,
        ),
        (
            "- template: {source: out, template: '{{ .Entry }} [{{ .app }}]'}\n- output: {source: out}",
            &[("app", "loki")],
            "msg",
            r#"{app="loki"} msg [loki]"#,
        ),
        // An empty result deletes the key, so output has nothing to use.
        (
            "- template: {source: app, template: ''}\n- output: {source: app}",
            &[("app", "loki")],
            "line",
            r#"{app="loki"} line"#,
        ),
        // A missing source passed to a function is an execution error: unchanged.
        (
            "- template: {source: app, template: '{{ .Value | ToUpper }} doki'}\n- output: {source: app}",
            &[],
            "line",
            "{} line",
        ),
        // Promtail's own multi-stage vector.
        (
            "- template: {source: app, template: '{{ .Value | ToUpper }} doki'}\n- template: {source: level, template: '{{ if eq .Value \"WARN\" }}{{ Replace .Value \"WARN\" \"OK\" -1 }}{{ else }}{{ .Value }}{{ end }}'}\n- template: {source: nonexistent, template: TEST}\n- template: {source: out, template: '{{ .app }}|{{ .level }}|{{ .nonexistent }}'}\n- output: {source: out}",
            &[("app", "loki"), ("level", "WARN")],
            "line",
            r#"{app="loki", level="WARN"} LOKI doki|OK|TEST"#,
        ),
        (
            "- template: {source: h, template: '{{ Sha2Hash .Entry \"salt\" }}'}\n- output: {source: h}",
            &[],
            "this is PII data",
            "{} 5526fd6f8ad457279cf8ff06453c6cb61bf479fa826e3b099caa6c846f9376f2",
        ),
    ]);
}

#[test]
fn template_config_errors() {
    for (yaml, want) in [
        (
            "- template: {template: x}",
            "pipeline_stages[0] (template): field \"source\": template source value is required",
        ),
        (
            "- template: {source: a, template: '{{ Nope }}'}",
            "pipeline_stages[0] (template): field \"template\": template parse error at byte 3: function \"Nope\" not defined",
        ),
    ] {
        assert_eq!(config_error(yaml), want, "{yaml}");
    }
}
