use proptest::prelude::*;

use super::*;

#[test]
fn accepted() {
    for (input, want) in [
        (
            r#"{ "foo"="bar2",      "environment"="prod"   }"#,
            r#"{environment="prod", foo="bar2"}"#,
        ),
        (r#"{job="foo", bar=""}"#, r#"{job="foo"}"#),
        (r#"{}"#, r#"{}"#),
        ("  {  }  ", r#"{}"#),
        (r#"{a="b",}"#, r#"{a="b"}"#),
        ("{\n\ta = \"b\" ,\r\n}", r#"{a="b"}"#),
        (r#"{a='single'}"#, r#"{a="single"}"#),
        ("{a=`raw \\n \"q\"`}", r#"{a="raw \\n \"q\""}"#),
        ("{a=`multi\nline`}", r#"{a="multi\nline"}"#),
        (r#"{'a'="x", `b`="y"}"#, r#"{a="x", b="y"}"#),
        (r#"{a="\a\b\f\n\r\t\v\\\""}"#, r#"{a="\a\b\f\n\r\t\v\\\""}"#),
        (r#"{a='it\'s'}"#, r#"{a="it's"}"#),
        (r#"{a="\x41\101\u00e9\U0001F600"}"#, "{a=\"AAé\u{1F600}\"}"),
        (r#"{a="\xc3\xa9"}"#, "{a=\"é\"}"),
        ("{a=\"é日本\"}", "{a=\"é日本\"}"),
        (r#"{z="1", a="2", m="3"}"#, r#"{a="2", m="3", z="1"}"#),
        (r#"up{job="x"}"#, r#"{__name__="up", job="x"}"#),
        (r#"{_a_9="x"}"#, r#"{_a_9="x"}"#),
        (r#"{a=""}"#, r#"{}"#),
    ] {
        let got = parse_labels(input.as_bytes()).map(|l| l.as_str().to_owned());
        assert_eq!(got.as_deref(), Ok(want), "{input:?}");
    }
}

#[test]
fn rejected() {
    for (input, want) in [
        ("", "expected \"{\" at byte 0 (end of input)"),
        ("{", "expected label name or \"}\" at byte 1 (end of input)"),
        (
            r#"{foo!="bar"}"#,
            "unsupported matcher \"!=\" at byte 4: push labels only allow \"=\"",
        ),
        (
            r#"{foo=~"bar"}"#,
            "unsupported matcher \"=~\" at byte 4: push labels only allow \"=\"",
        ),
        (
            r#"{foo!~"bar"}"#,
            "unsupported matcher \"!~\" at byte 4: push labels only allow \"=\"",
        ),
        (r#"{abcd "x"}"#, "expected \"=\" after label name at byte 6"),
        (r#"{a-b="x"}"#, "expected \"=\" after label name at byte 2"),
        (r#"{a=b}"#, "expected quoted label value at byte 3"),
        (
            r#"{a="b" c="d"}"#,
            "expected \",\" or \"}\" after label value at byte 7",
        ),
        (r#"{,}"#, "expected label name or \"}\" at byte 1"),
        (r#"{a="b",,}"#, "expected label name or \"}\" at byte 7"),
        (
            r#"{a="b"} x"#,
            "expected end of input after \"}\" at byte 8",
        ),
        (r#"{a="b"#, "unterminated quoted string starting at byte 3"),
        (
            "{a=\"b\nc\"}",
            "unterminated quoted string starting at byte 3",
        ),
        ("{a=`b}", "unterminated quoted string starting at byte 3"),
        (r#"{a="\q"}"#, "invalid escape sequence at byte 4"),
        (r#"{a="\'"}"#, "invalid escape sequence at byte 4"),
        (r#"{a='\"'}"#, "invalid escape sequence at byte 4"),
        (r#"{a="\400"}"#, "invalid escape sequence at byte 4"),
        (r#"{a="\x4"}"#, "invalid escape sequence at byte 4"),
        (r#"{a="\ud800"}"#, "invalid escape sequence at byte 4"),
        (r#"{a="\xff"}"#, "invalid utf-8 at byte 3"),
        (r#"{"a-b"="x"}"#, "invalid label name \"a-b\" at byte 1"),
        (r#"{""="x"}"#, "invalid label name \"\" at byte 1"),
        (r#"{a="1", a="2"}"#, "duplicate label name \"a\""),
        (r#"{a="", a="2"}"#, "duplicate label name \"a\""),
    ] {
        let got = parse_labels(input.as_bytes()).map(|l| l.as_str().to_owned());
        assert_eq!(
            got.map_err(|e| e.to_string()),
            Err(want.to_owned()),
            "{input:?}"
        );
    }
}

#[test]
fn invalid_utf8_names_its_byte() {
    assert_eq!(
        parse_labels(b"{a=\"ok\xffno\"}"),
        Err(LabelParseError::InvalidUtf8 { at: 6 })
    );
    assert_eq!(
        parse_labels(b"{a=`\xc3`}"),
        Err(LabelParseError::InvalidUtf8 { at: 4 })
    );
}

#[test]
fn too_long() {
    let mut big = b"{a=\"".to_vec();
    big.resize(MAX_LABELS_LEN, b'x');
    big.extend_from_slice(b"\"}");
    assert_eq!(
        parse_labels(&big),
        Err(LabelParseError::TooLong {
            len: MAX_LABELS_LEN + 2
        })
    );
}

fn label_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9]{0,8}",
        ".{0,12}",
        "[\"\\\\`'\n\r\t\u{0}-\u{1f}\u{7f}-\u{a0}é日\u{1F600}]{0,12}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn render_then_parse_round_trips(
        pairs in proptest::collection::btree_map("[a-zA-Z_][a-zA-Z0-9_]{0,6}", label_value(), 0..6)
    ) {
        let set = LabelSet::from_pairs(pairs).unwrap();
        let parsed = parse_labels(set.as_str().as_bytes()).unwrap();
        prop_assert_eq!(parsed.as_str(), set.as_str());
    }

    #[test]
    fn random_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = parse_labels(&input);
    }

    #[test]
    fn selector_like_bytes_never_panic(input in "[{}=!~,\"'`\\\\ a-z0-7xuU\n]{0,40}") {
        let _ = parse_labels(input.as_bytes());
    }
}
