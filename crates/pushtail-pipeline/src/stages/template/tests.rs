//! The `template` stage; the engine itself is tested against Go's golden
//! output in `crate::go::template`.

use crate::stages::testing::{check_table, config_error};

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
        // The data holds only the fields a template reads, unless it reads
        // `.` whole: then every field is there (ranged over in key order).
        (
            "- template: {source: out, template: '{{ range $k, $v := . }}{{ $k }}={{ $v }};{{ end }}'}\n- output: {source: out}",
            &[("app", "loki"), ("env", "prod")],
            "line",
            r#"{app="loki", env="prod"} Entry=line;app=loki;env=prod;"#,
        ),
        (
            "- template: {source: out, template: '{{ with . }}{{ .env }}{{ end }}/{{ index . \"app\" }}/{{ .Value }}'}\n- output: {source: out}",
            &[("app", "loki"), ("env", "prod")],
            "line",
            r#"{app="loki", env="prod"} prod/loki/<no value>"#,
        ),
        (
            "- template: {source: app, template: '{{ .env }}-{{ .Value }}'}\n- output: {source: app}",
            &[("app", "loki"), ("env", "prod")],
            "line",
            r#"{app="loki", env="prod"} prod-loki"#,
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
        // The whole Go template language and sprig.
        (
            "- template: {source: out, template: '{{ printf \"%s/%5s|\" .app .level }}{{ with $x := .app }}{{ $x | upper }}{{ end }}'}\n- output: {source: out}",
            &[("app", "loki"), ("level", "WARN")],
            "line",
            r#"{app="loki", level="WARN"} loki/ WARN|LOKI"#,
        ),
        (
            "- template: {source: out, template: '{{ range $i, $p := splitList \"/\" .Entry }}{{ if $i }},{{ end }}{{ $p | default \"-\" }}{{ end }}'}\n- output: {source: out}",
            &[],
            "/a/b",
            "{} -,a,b",
        ),
        (
            "- template: {source: out, template: '{{ range $k, $v := . }}{{ $k }}={{ $v }};{{ end }}'}\n- output: {source: out}",
            &[("app", "loki")],
            "l",
            r#"{app="loki"} Entry=l;app=loki;"#,
        ),
        (
            "- template: {source: app, template: '{{ ToUpper .Value }}'}\n- output: {source: app}",
            &[("app", "straße")],
            "line",
            r#"{app="straße"} STRAßE"#,
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
            "- template: {source: a, template: '{{ genCA \"x\" 1 }}'}",
            "pipeline_stages[0] (template): field \"template\": function \"genCA\" is not available in pushtail: it generates keys or certificates, which has no place in a log pipeline",
        ),
        (
            "- template: {source: a, template: '{{ if .a }}x'}",
            "pipeline_stages[0] (template): field \"template\": unexpected EOF: {{if}} has no {{end}}",
        ),
        (
            "- template: {source: a, template: '{{ Nope }}'}",
            "pipeline_stages[0] (template): field \"template\": function \"Nope\" not defined",
        ),
    ] {
        assert_eq!(config_error(yaml), want, "{yaml}");
    }
}
