//! The `logfmt` stage: parses `key=value key2="quoted \"v\""` pairs from
//! the line (or an extracted value) as go-logfmt does and stores the mapped
//! keys in the extracted map. Unparsable input stores what parsed before
//! the error.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::{check_source, BuildCtx, FieldError, Stage};
use crate::entry::StageEntry;

/// The `logfmt` stage's config.
#[derive(Debug, Clone, Deserialize)]
pub struct LogfmtConfig {
    #[serde(default)]
    mapping: BTreeMap<String, Option<String>>,
    #[serde(default)]
    source: Option<String>,
}

struct LogfmtStage {
    /// logfmt key → extracted names.
    mapping: Vec<(String, String)>,
    source: Option<String>,
}

pub(crate) fn build(cfg: &LogfmtConfig, _ctx: &BuildCtx) -> Result<Box<dyn Stage>, FieldError> {
    if cfg.mapping.is_empty() {
        return Err(FieldError::field("mapping", "logfmt mapping is required"));
    }
    check_source(&cfg.source)?;
    let mapping = cfg
        .mapping
        .iter()
        .map(|(name, key)| {
            let key = key
                .clone()
                .filter(|k| !k.is_empty())
                .unwrap_or_else(|| name.clone());
            (key, name.clone())
        })
        .collect();
    Ok(Box::new(LogfmtStage {
        mapping,
        source: cfg.source.clone(),
    }))
}

impl Stage for LogfmtStage {
    fn process(&self, e: &mut StageEntry) {
        let Some(input) = e.source_text(self.source.as_deref()) else {
            return;
        };
        let pairs = parse(&input);
        let extracted = e.extracted_mut();
        for (key, value) in pairs {
            for (k, name) in &self.mapping {
                if *k == key {
                    extracted.insert(name.clone(), Value::String(value.clone()));
                }
            }
        }
    }
}

/// Splits logfmt text into pairs as go-logfmt's `Decoder` does (what
/// Promtail uses): records are lines, a bare key has an empty value, a
/// quoted value takes JSON escapes. Decoding stops at the first syntax
/// error (`eq=a=b`: an unquoted `=` or `"` inside a value, an
/// unterminated quote); the pairs before it are kept.
pub(crate) fn parse(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for record in s.split('\n') {
        let record = record.strip_suffix('\r').unwrap_or(record);
        if parse_record(record, &mut out).is_err() {
            break;
        }
    }
    out
}

/// A go-logfmt syntax error (the position is not kept: Promtail only logs it).
#[derive(Debug)]
struct SyntaxError;

fn parse_record(line: &str, out: &mut Vec<(String, String)>) -> Result<(), SyntaxError> {
    let b = line.as_bytes();
    let mut pos = 0;
    loop {
        // Garbage: anything up to a space.
        while pos < b.len() && b[pos] <= b' ' {
            pos += 1;
        }
        if pos == b.len() {
            return Ok(());
        }
        let start = pos;
        while pos < b.len() && b[pos] > b' ' && b[pos] != b'=' && b[pos] != b'"' {
            pos += 1;
        }
        if pos < b.len() && b[pos] == b'"' {
            return Err(SyntaxError);
        }
        let key = &line[start..pos];
        if key.contains('\u{fffd}') {
            return Err(SyntaxError);
        }
        if pos == b.len() || b[pos] != b'=' {
            out.push((key.to_owned(), String::new()));
            continue;
        }
        if key.is_empty() {
            return Err(SyntaxError);
        }
        pos += 1;
        if pos >= b.len() || b[pos] <= b' ' {
            out.push((key.to_owned(), String::new()));
            continue;
        }
        if b[pos] == b'"' {
            let (value, end) = quoted(line, pos)?;
            out.push((key.to_owned(), value));
            pos = end;
            continue;
        }
        let start = pos;
        while pos < b.len() && b[pos] > b' ' {
            if b[pos] == b'=' || b[pos] == b'"' {
                return Err(SyntaxError);
            }
            pos += 1;
        }
        out.push((key.to_owned(), line[start..pos].to_owned()));
    }
}

/// The quoted value starting at `line[open]` (a `"`); returns it and the
/// offset after the closing quote.
fn quoted(line: &str, open: usize) -> Result<(String, usize), SyntaxError> {
    let b = line.as_bytes();
    let mut escaped = false;
    let mut has_escape = false;
    let mut pos = open + 1;
    while pos < b.len() {
        match b[pos] {
            _ if escaped => escaped = false,
            b'\\' => {
                escaped = true;
                has_escape = true;
            }
            b'"' => {
                let body = &line[open + 1..pos];
                let value = if has_escape {
                    unescape(body)?
                } else {
                    body.to_owned()
                };
                return Ok((value, pos + 1));
            }
            _ => {}
        }
        pos += 1;
    }
    Err(SyntaxError)
}

/// go-logfmt's JSON-style unescaping of a quoted value's body.
fn unescape(body: &str) -> Result<String, SyntaxError> {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                let (_, e) = chars.next().ok_or(SyntaxError)?;
                match e {
                    '"' | '\\' | '/' | '\'' => out.push(e),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'n' => out.push('\n'),
                    'r' => out.push('\r'),
                    't' => out.push('\t'),
                    'u' => {
                        let hi = u4(&body[i..]).ok_or(SyntaxError)?;
                        chars.nth(3);
                        let mut r = char::from_u32(hi);
                        if (0xD800..0xE000).contains(&hi) {
                            r = None;
                            if let Some(lo) = body.get(i + 6..).and_then(u4) {
                                if (0xD800..0xDC00).contains(&hi) && (0xDC00..0xE000).contains(&lo)
                                {
                                    r = char::from_u32(
                                        0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00),
                                    );
                                    chars.nth(5);
                                }
                            }
                        }
                        out.push(r.unwrap_or('\u{fffd}'));
                    }
                    _ => return Err(SyntaxError),
                }
            }
            '"' => return Err(SyntaxError),
            c if c < ' ' => return Err(SyntaxError),
            c => out.push(c),
        }
    }
    Ok(out)
}

/// `\uXXXX` at the start of `s`: the code unit.
fn u4(s: &str) -> Option<u32> {
    let hex = s.strip_prefix("\\u")?.get(..4)?;
    if !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(hex, 16).ok()
}

#[cfg(test)]
mod tests {
    use crate::stages::testing::{check_table, config_error, Row};

    #[derive(serde::Deserialize)]
    struct GoCase {
        input: String,
        pairs: Vec<(String, String)>,
    }

    /// Every row of the table go-logfmt itself produced (`xtask/golden/stages`).
    #[test]
    fn matches_go_logfmt() {
        let cases: Vec<GoCase> =
            serde_json::from_str(include_str!("../go/testdata/logfmt.json")).unwrap();
        for c in cases {
            assert_eq!(super::parse(&c.input), c.pairs, "{:?}", c.input);
        }
    }

    #[test]
    fn logfmt_parse_table() {
        for (input, want) in [
            ("a=1 b=two", vec![("a", "1"), ("b", "two")]),
            (
                r#"msg="hello \"w\"" lvl=info"#,
                vec![("msg", "hello \"w\""), ("lvl", "info")],
            ),
            ("flag x=", vec![("flag", ""), ("x", "")]),
            (r#"a=1 b="open"#, vec![("a", "1")]),
            ("x=1 eq=a=b y=2", vec![("x", "1")]),
            ("", vec![]),
        ] {
            let got = super::parse(input);
            let got: Vec<(&str, &str)> =
                got.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            assert_eq!(got, want, "{input:?}");
        }
    }

    #[test]
    fn logfmt_table() {
        let p = "- logfmt: {mapping: {level: '', who: user}}\n- labels: {level: '', who: ''}";
        let p2 = "- regex: {expression: '^\\S+ (?P<rest>.*)$'}\n- logfmt: {mapping: {level: ''}, source: rest}\n- labels: {level: ''}";
        let rows: &[Row<'_>] = &[
            (
                p,
                &[],
                "level=warn user=bob msg=x",
                r#"{level="warn", who="bob"} level=warn user=bob msg=x"#,
            ),
            (p, &[], "nothing here", "{} nothing here"),
            (
                p2,
                &[],
                "ts level=error",
                r#"{level="error"} ts level=error"#,
            ),
        ];
        check_table(rows);
        assert!(config_error("- logfmt: {}")
            .contains(r#"(logfmt): field "mapping": logfmt mapping is required"#));
    }
}
