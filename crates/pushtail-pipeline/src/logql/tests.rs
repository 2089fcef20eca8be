use super::parse_log_selector;

/// (selector, labels, line, matches)
type Row = (
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static str,
    bool,
);

const MATCHES: &[Row] = &[
    (r#"{app="foo"}"#, &[("app", "foo")], "x", true),
    (r#"{app="foo"}"#, &[("app", "bar")], "x", false),
    (r#"{app="foo"}"#, &[], "x", false),
    (r#"{app!="foo"}"#, &[], "x", true),
    (r#"{app!="foo"}"#, &[("app", "foo")], "x", false),
    (r#"{app=""}"#, &[], "x", true),
    (r#"{app=~"f.*"}"#, &[("app", "foo")], "x", true),
    (r#"{app=~"o"}"#, &[("app", "foo")], "x", false),
    (r#"{app=~"f|o"}"#, &[("app", "foo")], "x", false),
    (r#"{app=~".*"}"#, &[], "x", true),
    (r#"{app=~"a.b"}"#, &[("app", "a\nb")], "x", true),
    (r#"{app!~"f.*"}"#, &[("app", "foo")], "x", false),
    (r#"{app!~"f.*"}"#, &[("app", "bar")], "x", true),
    (
        r#"{ app = "foo" , env =~ "prod|dev", }"#,
        &[("app", "foo"), ("env", "dev")],
        "x",
        true,
    ),
    (
        r#"{app="foo", env="prod"}"#,
        &[("app", "foo"), ("env", "dev")],
        "x",
        false,
    ),
    (
        r#"{app="foo"} |= "err""#,
        &[("app", "foo")],
        "an error",
        true,
    ),
    (r#"{app="foo"} |= "err""#, &[("app", "foo")], "fine", false),
    (r#"{app="foo"} |= "a.b""#, &[("app", "foo")], "axb", false),
    (
        r#"{app="foo"} != "debug""#,
        &[("app", "foo")],
        "level=debug",
        false,
    ),
    (
        r#"{app="foo"} != "debug""#,
        &[("app", "foo")],
        "level=info",
        true,
    ),
    (
        r#"{app="foo"} |~ "lev.l=(warn|error)""#,
        &[("app", "foo")],
        "ts=1 level=warn",
        true,
    ),
    (
        r#"{app="foo"} |~ "^level""#,
        &[("app", "foo")],
        "ts=1 level=warn",
        false,
    ),
    (
        r#"{app="foo"} !~ "debug|trace""#,
        &[("app", "foo")],
        "trace here",
        false,
    ),
    (
        r#"{app="foo"} |= "a" != "b" |~ "c+""#,
        &[("app", "foo")],
        "a c",
        true,
    ),
    (
        r#"{app="foo"} |= "a" != "b""#,
        &[("app", "foo")],
        "a b",
        false,
    ),
    (r#"{app="foo"} |= `\d`"#, &[("app", "foo")], r"x\d", true),
    (r#"{app="foo"} |~ `\d+`"#, &[("app", "foo")], "x12", true),
    (
        r#"{app="foo"} |= "\"q\"""#,
        &[("app", "foo")],
        r#"say "q""#,
        true,
    ),
];

#[test]
fn selector_matching() {
    for &(src, labels, line, want) in MATCHES {
        let sel = parse_log_selector(src).unwrap_or_else(|e| panic!("{src}: {e}"));
        let get = |name: &str| labels.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
        let got = sel.matches_labels(get) && sel.matches_line(line.as_bytes());
        assert_eq!(got, want, "{src} on {labels:?} {line:?}");
    }
}

#[test]
fn selector_errors() {
    let bad = [
        "",
        "foo",
        "{",
        "{}",
        r#"{app="foo"#,
        r#"{app="foo""#,
        r#"{app}"#,
        r#"{app=foo}"#,
        r#"{1app="x"}"#,
        r#"{app=="x"}"#,
        r#"{app=~"("}"#,
        r#"{app="x"} |~ "(""#,
        r#"{app="x"} | json"#,
        r#"{app="x"} |= "a" | status >= 200"#,
        r#"{app="x"} |="#,
        r#"{app="x"} garbage"#,
        r#"{app="x" env="y"}"#,
    ];
    for src in bad {
        assert!(parse_log_selector(src).is_err(), "{src:?} should not parse");
    }
}
