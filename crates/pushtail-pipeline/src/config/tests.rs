//! The stage-list deserialiser as tables: YAML in, the stage types (nested
//! `match` lists in brackets) or the error out.

use super::{closest_stage_type, StageConfig, STAGE_TYPES};
use crate::stages::testing::{ignored_keys, stages};

/// `match[regex, output]`-style rendering of a stage list.
fn shape(list: &[StageConfig]) -> String {
    list.iter()
        .map(|s| match s {
            StageConfig::Match(m) => {
                format!("match[{}]", shape(m.stages.as_deref().unwrap_or_default()))
            }
            other => other.type_name().to_owned(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn parsed(yaml: &str) -> String {
    match stages(yaml) {
        Ok((list, _)) => shape(&list),
        Err(e) => format!("error: {e}"),
    }
}

#[test]
fn accepted_stage_lists() {
    let rows = [
        ("[]", ""),
        // A null config is the empty one.
        ("- docker:\n- cri:\n- decolorize: ~", "docker, cri, decolorize"),
        ("- non_indexed_labels: {a: ''}", "structured_metadata"),
        ("- structured_metadata: {a: ''}", "structured_metadata"),
        ("- labeldrop: [a]\n- labelallow: [b]", "labeldrop, labelallow"),
        (
            "- match:\n    selector: '{a=\"b\"}'\n    stages:\n    - regex: {expression: x}\n    - match:\n        selector: '{b=\"c\"}'\n        stages: [{output: {source: x}}]\n- labels: {x: ''}",
            "match[regex, match[output]], labels",
        ),
        ("- match: {selector: '{a=\"b\"}', action: drop}", "match[]"),
    ];
    for (yaml, want) in rows {
        assert_eq!(parsed(yaml), want, "{yaml}");
    }
}

#[test]
fn refused_stage_lists_name_path_and_line() {
    let rows = [
        (
            "- static_labels: {a: b}\n- lables: {a: b}",
            "[1]: unsupported stage type \"lables\", did you mean \"labels\"?; valid types are cri, decolorize,",
        ),
        (
            "- frobnicate: {}",
            "[0]: unsupported stage type \"frobnicate\"; valid types are cri, decolorize,",
        ),
        (
            "- {json: {}, regex: {}}",
            "[0]: a stage must be a map with one key, the stage type at line 1",
        ),
        ("- {}", "[0]: a stage must be a map with one key, the stage type"),
        ("- just-a-string", "[0]: a stage must be a map with one key, the stage type"),
        ("- [regex]", "[0]: a stage must be a map with one key, the stage type"),
        ("-", "[0]: a stage must be a map with one key, the stage type"),
        (
            "- json: {expressions: {a: ''}}\n- regex:\n    expression: [a]",
            "[1].regex.expression: invalid type: sequence, expected a string at line 3 column 17",
        ),
        ("- sampling:", "missing field `rate`"),
        ("- sampling: {}", "[0].sampling: missing field `rate`"),
        ("- docker: {a: 1}", "[0].docker: docker takes no configuration"),
        ("- docker: 5", "expected an empty map (docker takes no configuration)"),
        (
            "- match: {selector: '{a=\"b\"}', stages: [{lables: {}}]}",
            "[0].match.stages[0]: unsupported stage type \"lables\", did you mean \"labels\"?",
        ),
        (
            "- match: {selector: '{a=\"b\"}', stages: [{output: {source: [x]}}]}",
            "[0].match.stages[0].output.source: invalid type: sequence",
        ),
    ];
    for (yaml, want) in rows {
        let got = parsed(yaml);
        assert!(got.contains(want), "{yaml}\n got: {got}\nwant: {want}");
    }
}

#[test]
fn every_listed_stage_type_is_known() {
    for name in STAGE_TYPES {
        let got = parsed(&format!("- {name}: {{}}"));
        assert!(!got.contains("unsupported stage type"), "{name}: {got}");
        if !got.starts_with("error") {
            assert_eq!(got.trim_end_matches("[]"), *name);
        }
    }
    let cases = [
        ("lables", Some("labels")),
        ("jsno", Some("json")),
        ("timestmp", Some("timestamp")),
        ("staticlabels", Some("static_labels")),
        ("kubernetes", None),
    ];
    for (typo, want) in cases {
        assert_eq!(closest_stage_type(typo), want, "{typo}");
    }
}

#[test]
fn unknown_keys_are_ignored_with_their_path() {
    let rows: [(&str, &[&str]); 4] = [
        (
            "- regex: {expression: a, bogus: 1}\n- match: {selector: '{a=\"b\"}', typo: x, stages: [{output: {source: a, extra: {deep: 1}}}]}\n- json: {expressions: {a: ''}}",
            &[
                "[0].regex.bogus",
                "[1].match.typo",
                "[1].match.stages[0].output.extra",
            ],
        ),
        ("- json: {expressions: {a: ''}}", &[]),
        (
            "- template: {source: a, template: '{{ .Value }}', tmeplate: x}\n- replace: {expression: a, replace: b, sorce: c}",
            &["[0].template.tmeplate", "[1].replace.sorce"],
        ),
        (
            "- metrics: {m: {type: Counter, bogus: 1, config: {action: inc, typo: 2}}}",
            &["[0].metrics.m.bogus", "[0].metrics.m.config.typo"],
        ),
    ];
    for (yaml, want) in rows {
        assert_eq!(ignored_keys(yaml), want, "{yaml}");
    }
}
