//! Relabel table tests: Prometheus' vectors and validation messages.

use pushtail_proto::labels::LabelSet;

use super::*;

fn rules(yaml: &str) -> RelabelRules {
    let configs: Vec<RelabelConfig> = serde_yaml::from_str(yaml).unwrap();
    RelabelRules::new(configs).unwrap()
}

/// Applies `yaml` to `input`; the rendered result or `dropped`.
fn run(yaml: &str, input: &[(&str, &str)]) -> String {
    let mut lb = LabelSet::from_pairs(input.iter().copied())
        .unwrap()
        .to_builder();
    if !rules(yaml).apply(&mut lb) {
        return "dropped".to_owned();
    }
    lb.build().unwrap().to_string()
}

/// Rules YAML, input labels, expected rendering (or `dropped`).
type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);

#[test]
fn prometheus_vectors() {
    let abc: &[(&str, &str)] = &[("a", "foo"), ("b", "bar"), ("c", "baz")];
    let cases: &[Case<'_>] = &[
        // 1. replacement with ${1}
        (
            "[{source_labels: [a], regex: 'f(.*)', target_label: d, replacement: 'ch${1}-ch${1}'}]",
            abc,
            r#"{a="foo", b="bar", c="baz", d="choo-choo"}"#,
        ),
        // 2. chained rules see the previous rule's output
        (
            "[{source_labels: [a, b], regex: 'f(.*);(.*)r', target_label: a, replacement: 'b${1}${2}m'},
              {source_labels: [c, a], regex: '(b).*b(.*)ba(.*)', target_label: d, replacement: '$1$2$2$3'}]",
            abc,
            r#"{a="boobam", b="bar", c="baz", d="boooom"}"#,
        ),
        // 3. drop stops; regexes are anchored
        (
            "[{source_labels: [a], regex: '.*o.*', action: drop}, {target_label: x, replacement: y}]",
            &[("a", "foo")],
            "dropped",
        ),
        (
            "[{source_labels: [a], regex: 'f|o', action: drop}]",
            &[("a", "foo")],
            r#"{a="foo"}"#,
        ),
        // 4. templated target that expands to "" is invalid: skipped
        (
            "[{source_labels: [a], regex: '(f).*', target_label: '$1', replacement: '$2'}]",
            &[("a", "foo"), ("f", "baz")],
            r#"{a="foo"}"#,
        ),
        // 5. hashmod
        (
            "[{source_labels: [c], modulus: 1000, target_label: d, action: hashmod}]",
            abc,
            r#"{a="foo", b="bar", c="baz", d="976"}"#,
        ),
        (
            "[{source_labels: [a], modulus: 1000, target_label: d, action: hashmod}]",
            &[("a", "foo\nbar")],
            r#"{a="foo\nbar", d="734"}"#,
        ),
        // 6. labelmap copies
        (
            "[{regex: '(b.*)', replacement: 'bar_${1}', action: labelmap}]",
            &[("a", "foo"), ("b1", "bar"), ("b2", "baz")],
            r#"{a="foo", b1="bar", b2="baz", bar_b1="bar", bar_b2="baz"}"#,
        ),
        // 7. target from a group; a missing group empties (deletes) nothing new
        (
            "[{source_labels: [a], regex: 'some-([^-]+)-([^,]+)', target_label: '${1}', replacement: '${2}'}]",
            &[("a", "some-name-value")],
            r#"{a="some-name-value", name="value"}"#,
        ),
        (
            "[{source_labels: [a], regex: 'some-([^-]+)-([^,]+)', target_label: '${1}', replacement: '${3}'}]",
            &[("a", "some-name-value")],
            r#"{a="some-name-value"}"#,
        ),
        // 8. case actions
        (
            "[{source_labels: [foo], target_label: foo_uppercase, action: uppercase},
              {source_labels: [foo], target_label: foo_lowercase, action: lowercase}]",
            &[("foo", "bAr123Foo")],
            r#"{foo="bAr123Foo", foo_lowercase="bar123foo", foo_uppercase="BAR123FOO"}"#,
        ),
        // Go maps rune by rune: no "SS" for ß, no final ς for Σ.
        (
            "[{source_labels: [foo], target_label: up, action: uppercase},
              {source_labels: [foo], target_label: low, action: lowercase}]",
            &[("foo", "straße ΟΔΟΣ")],
            r#"{foo="straße ΟΔΟΣ", low="straße οδοσ", up="STRAßE ΟΔΟΣ"}"#,
        ),
        // 9. keepequal / dropequal
        (
            "[{source_labels: [__tmp_port], target_label: __port1, action: keepequal}]",
            &[("__tmp_port", "1234"), ("__port1", "1234"), ("__port2", "5678")],
            r#"{__port1="1234", __port2="5678", __tmp_port="1234"}"#,
        ),
        (
            "[{source_labels: [__tmp_port], target_label: __port2, action: keepequal}]",
            &[("__tmp_port", "1234"), ("__port1", "1234"), ("__port2", "5678")],
            "dropped",
        ),
        (
            "[{source_labels: [__tmp_port], target_label: __port1, action: dropequal}]",
            &[("__tmp_port", "1234"), ("__port1", "1234"), ("__port2", "5678")],
            "dropped",
        ),
        (
            "[{source_labels: [__tmp_port], target_label: __port2, action: dropequal}]",
            &[("__tmp_port", "1234"), ("__port1", "1234"), ("__port2", "5678")],
            r#"{__port1="1234", __port2="5678", __tmp_port="1234"}"#,
        ),
        // 10. `.` matches newline; named groups both ways
        (
            "[{source_labels: [a], regex: 'line1.*line2', target_label: b, replacement: 'match${1}'}]",
            &[("a", "line1\nline2")],
            r#"{a="line1\nline2", b="match"}"#,
        ),
        (
            "[{source_labels: [a], regex: '(?P<first>\\w+)-(?P<second>\\w+)', target_label: b, replacement: '${second}|$second|$first'}]",
            &[("a", "x-y")],
            r#"{a="x-y", b="y|y|x"}"#,
        ),
        // More Prometheus behaviour.
        (
            "[{source_labels: [a], regex: 'no', target_label: b}]",
            &[("a", "foo")],
            r#"{a="foo"}"#,
        ),
        (
            "[{source_labels: [a], target_label: a, replacement: ''}]",
            &[("a", "foo"), ("b", "x")],
            r#"{b="x"}"#,
        ),
        (
            "[{source_labels: [missing], target_label: b, replacement: 'v'}]",
            &[("a", "foo")],
            r#"{a="foo", b="v"}"#,
        ),
        (
            "[{source_labels: [a], regex: 'FOO', action: Keep}]",
            &[("a", "foo")],
            "dropped",
        ),
        (
            "[{source_labels: [a], regex: '(?i)FOO', action: KEEP}]",
            &[("a", "foo")],
            r#"{a="foo"}"#,
        ),
        (
            "[{regex: 'b.*', action: labeldrop}]",
            &[("a", "1"), ("b1", "2"), ("b2", "3")],
            r#"{a="1"}"#,
        ),
        (
            "[{regex: 'b.*', action: labelkeep}]",
            &[("a", "1"), ("b1", "2"), ("b2", "3")],
            r#"{b1="2", b2="3"}"#,
        ),
        (
            "[{source_labels: [a, b], separator: '', target_label: c}]",
            &[("a", "1"), ("b", "2")],
            r#"{a="1", b="2", c="12"}"#,
        ),
    ];
    for (yaml, input, want) in cases {
        assert_eq!(&run(yaml, input), want, "{yaml}");
    }
}

#[test]
fn load_time_validation() {
    let cases: &[(&str, &str)] = &[
        (
            "{source_labels: [a], target_label: d, action: hashmod}",
            "relabel configuration for hashmod requires non-zero modulus",
        ),
        (
            "{source_labels: [a]}",
            "relabel configuration for replace action requires 'target_label' value",
        ),
        (
            "{source_labels: [a], action: uppercase}",
            "relabel configuration for uppercase action requires 'target_label' value",
        ),
        (
            "{source_labels: [a], target_label: foo-bar}",
            r#""foo-bar" is invalid 'target_label' for replace action"#,
        ),
        (
            "{source_labels: [a], target_label: '${1}-x'}",
            r#""${1}-x" is invalid 'target_label' for replace action"#,
        ),
        (
            "{source_labels: [a], target_label: 'a-b', action: lowercase}",
            r#""a-b" is invalid 'target_label' for lowercase action"#,
        ),
        (
            "{source_labels: [a], target_label: b, replacement: x, action: lowercase}",
            "'replacement' can not be set for lowercase action",
        ),
        (
            "{regex: '(.*)', replacement: 'a-${1}', action: labelmap}",
            r#""a-${1}" is invalid 'replacement' for labelmap action"#,
        ),
        (
            "{source_labels: [a], target_label: '1x', modulus: 2, action: hashmod}",
            r#""1x" is invalid 'target_label' for hashmod action"#,
        ),
        (
            "{source_labels: [a], target_label: b, regex: x, action: keepequal}",
            "keepequal action requires only 'source_labels' and `target_label`, and no other fields",
        ),
        (
            "{source_labels: [a], regex: x, action: labeldrop}",
            "labeldrop action requires only 'regex', and no other fields",
        ),
        (
            "{target_label: a, regex: x, action: labelkeep}",
            "labelkeep action requires only 'regex', and no other fields",
        ),
        ("{source_labels: [a], regex: '(', action: drop}", "invalid regex"),
    ];
    for (yaml, want) in cases {
        let cfg: RelabelConfig = serde_yaml::from_str(yaml).unwrap();
        let err = RelabelRules::new(vec![cfg]).unwrap_err().to_string();
        assert!(err.starts_with("relabel rule 0: "), "{err}");
        assert!(err.contains(want), "{yaml}: got {err:?}, want {want:?}");
    }
}

#[test]
fn yaml_shape() {
    let bad_action = serde_yaml::from_str::<RelabelConfig>("{action: frobnicate}").unwrap_err();
    assert!(bad_action
        .to_string()
        .contains(r#"unknown relabel action "frobnicate""#));
    let unknown = serde_yaml::from_str::<RelabelConfig>("{target: x}").unwrap_err();
    assert!(unknown.to_string().contains("unknown field `target`"));
    assert_eq!(
        serde_yaml::from_str::<RelabelConfig>("{}").unwrap(),
        RelabelConfig::default()
    );
    assert!(RelabelRules::new(vec![]).unwrap().is_empty());
}
