//! The `logfmt` stage: parses `key=value key2="quoted \"v\""` pairs from
//! the line (or an extracted value) and stores the mapped keys in the
//! extracted map. Unparsable input stores what parsed before the error.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::{check_source, parse_config, BuildCtx, FieldError, Stage};
use crate::entry::StageEntry;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
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

pub(crate) fn build(
    cfg: &serde_yaml::Value,
    _ctx: &BuildCtx,
) -> Result<Box<dyn Stage>, FieldError> {
    let cfg: Config = parse_config(cfg)?;
    if cfg.mapping.is_empty() {
        return Err(FieldError::field("mapping", "logfmt mapping is required"));
    }
    check_source(&cfg.source)?;
    let mapping = cfg
        .mapping
        .into_iter()
        .map(|(name, key)| {
            let key = key
                .filter(|k| !k.is_empty())
                .unwrap_or_else(|| name.clone());
            (key, name)
        })
        .collect();
    Ok(Box::new(LogfmtStage {
        mapping,
        source: cfg.source,
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

/// Splits logfmt text into pairs; a bare key has an empty value. Stops at
/// the first malformed token (an unterminated quote).
pub(crate) fn parse(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.char_indices().peekable();
    loop {
        while chars.next_if(|(_, c)| *c <= ' ').is_some() {}
        let Some(&(start, _)) = chars.peek() else {
            break;
        };
        let mut end = start;
        while let Some((i, c)) = chars.next_if(|(_, c)| *c > ' ' && *c != '=' && *c != '"') {
            end = i + c.len_utf8();
        }
        let key = &s[start..end];
        if key.is_empty() {
            // A stray `=` or `"`: skip it.
            chars.next();
            continue;
        }
        if chars.next_if(|(_, c)| *c == '=').is_none() {
            out.push((key.to_owned(), String::new()));
            continue;
        }
        let mut value = String::new();
        if chars.next_if(|(_, c)| *c == '"').is_some() {
            let mut closed = false;
            while let Some((_, c)) = chars.next() {
                match c {
                    '"' => {
                        closed = true;
                        break;
                    }
                    '\\' => match chars.next().map(|(_, c)| c) {
                        Some('n') => value.push('\n'),
                        Some('t') => value.push('\t'),
                        Some('r') => value.push('\r'),
                        Some(c) => value.push(c),
                        None => break,
                    },
                    c => value.push(c),
                }
            }
            if !closed {
                break;
            }
        } else {
            while let Some((_, c)) = chars.next_if(|(_, c)| *c > ' ' && *c != '"') {
                value.push(c);
            }
        }
        out.push((key.to_owned(), value));
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::stages::testing::{check_table, config_error, Row};

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
