//! The `json` stage: parses the line (or an extracted value) as a JSON
//! object and stores JMESPath results in the extracted map. Strings,
//! numbers, booleans and null are stored as values; objects and arrays are
//! re-serialised as JSON text (keys sorted, as Go's encoder does). Input
//! that is not a JSON object leaves the entry unchanged, or drops it with
//! `drop_malformed`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::{check_source, BuildCtx, FieldError, Stage};
use crate::entry::StageEntry;

/// Drop reason for `drop_malformed`.
const MALFORMED_REASON: &str = "malformed_json";

/// The `json` stage's config.
#[derive(Debug, Clone, Deserialize)]
pub struct JsonConfig {
    #[serde(default)]
    expressions: BTreeMap<String, Option<String>>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    drop_malformed: bool,
}

/// How one expression is evaluated.
enum Query {
    /// A plain dotted path of identifiers, walked directly.
    Path(Vec<String>),
    /// Anything else, through the JMESPath interpreter.
    Jmes(jmespath::Expression<'static>),
}

struct JsonStage {
    queries: Vec<(String, Query)>,
    source: Option<String>,
    drop_malformed: bool,
}

pub(crate) fn build(cfg: &JsonConfig, _ctx: &BuildCtx) -> Result<Box<dyn Stage>, FieldError> {
    if cfg.expressions.is_empty() {
        return Err(FieldError::field(
            "expressions",
            "JMES expression is required",
        ));
    }
    check_source(&cfg.source)?;
    let mut queries = Vec::with_capacity(cfg.expressions.len());
    for (name, expr) in &cfg.expressions {
        let expr = expr
            .clone()
            .filter(|e| !e.is_empty())
            .unwrap_or_else(|| name.clone());
        let compiled = jmespath::compile(&expr).map_err(|e| {
            FieldError::field(
                "expressions",
                format!("could not compile JMES expression {expr:?} for {name:?}: {e}"),
            )
        })?;
        let query = match simple_path(&expr) {
            Some(path) => Query::Path(path),
            None => Query::Jmes(compiled),
        };
        queries.push((name.clone(), query));
    }
    Ok(Box::new(JsonStage {
        queries,
        source: cfg.source.clone(),
        drop_malformed: cfg.drop_malformed,
    }))
}

/// `a.b.c` with plain identifiers (`[A-Za-z_][A-Za-z0-9_]*`) only.
fn simple_path(expr: &str) -> Option<Vec<String>> {
    expr.split('.')
        .map(|seg| {
            let mut b = seg.bytes();
            let ok = matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
                && b.all(|c| c.is_ascii_alphanumeric() || c == b'_');
            ok.then(|| seg.to_owned())
        })
        .collect()
}

impl Stage for JsonStage {
    fn process(&self, e: &mut StageEntry) {
        let Some(input) = e.source_text(self.source.as_deref()) else {
            return;
        };
        let parsed = serde_json::from_str::<Value>(&input);
        let data = match parsed {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                if self.drop_malformed {
                    e.drop_with(MALFORMED_REASON);
                }
                return;
            }
        };
        for (name, query) in &self.queries {
            let result = match query {
                Query::Path(path) => path
                    .iter()
                    .try_fold(&data, |v, key| v.get(key))
                    .cloned()
                    .unwrap_or(Value::Null),
                Query::Jmes(expr) => match expr.search(&data) {
                    Ok(r) => serde_json::to_value(&*r).unwrap_or(Value::Null),
                    Err(_) => continue,
                },
            };
            let value = match result {
                v @ (Value::Array(_) | Value::Object(_)) => Value::String(go_json(&v)),
                v => v,
            };
            e.extracted_mut().insert(name.clone(), value);
        }
    }
}

/// JSON text as Go's `json.Marshal` writes it (see [`crate::go::json`]).
pub(crate) fn go_json(v: &Value) -> String {
    crate::go::json::marshal(v)
}

#[cfg(test)]
mod tests {
    use crate::stages::testing::{check_table, config_error, Row};

    #[test]
    fn json_table() {
        let line = r#"{"level":"info","n":1.5,"user":{"name":"ann","id":7},"tags":["a","b"],"html":{"x":"<b>"},"ok":false}"#;
        let p1 = "- json: {expressions: {level: '', name: user.name, id: user.id, n: n, ok: ok}}\n- labels: {level: '', name: '', id: '', n: '', ok: ''}";
        let p2 = "- json: {expressions: {u: user, t: tags, h: html, first: 'tags[0]', cnt: 'length(tags)'}}\n- labels: {u: '', t: '', h: '', first: '', cnt: ''}";
        let p3 = "- json: {expressions: {level: ''}, drop_malformed: true}";
        let p4 = "- json: {expressions: {inner: ''}}\n- json: {expressions: {lvl: level}, source: inner}\n- labels: {lvl: ''}";
        let p5 = "- json: {expressions: {x: ''}}\n- labels: {x: ''}";
        let rows: &[Row<'_>] = &[
            (
                p1,
                &[],
                line,
                &format!(r#"{{id="7", level="info", n="1.5", name="ann", ok="false"}} {line}"#),
            ),
            // objects and arrays come back as (Go-escaped) JSON text; labels reject nothing here
            (
                p2,
                &[],
                line,
                &format!(
                    r#"{{cnt="2", first="a", h="{{\"x\":\"\\u003cb\\u003e\"}}", t="[\"a\",\"b\"]", u="{{\"id\":7,\"name\":\"ann\"}}"}} {line}"#
                ),
            ),
            (p1, &[("a", "1")], "not json", r#"{a="1"} not json"#),
            (p3, &[], "not json", "dropped"),
            (p3, &[], "[1,2]", "dropped"),
            (p3, &[], r#"{"level":"x"}"#, r#"{} {"level":"x"}"#),
            (
                p4,
                &[],
                r#"{"inner":"{\"level\":\"debug\"}"}"#,
                r#"{lvl="debug"} {"inner":"{\"level\":\"debug\"}"}"#,
            ),
            // a missing key yields null, which the labels stage skips
            (p5, &[], r#"{"y":1}"#, r#"{} {"y":1}"#),
        ];
        check_table(rows);
    }

    #[test]
    fn json_config_errors() {
        for (yaml, want) in [
            (
                "- json: {}",
                r#"pipeline_stages[0] (json): field "expressions": JMES expression is required"#,
            ),
            (
                "- json: {expressions: {a: 'b[['}}",
                r#"(json): field "expressions": could not compile JMES expression"#,
            ),
            (
                "- json: {expressions: {a: b}, source: ''}",
                r#"field "source": empty source"#,
            ),
        ] {
            let got = config_error(yaml);
            assert!(got.contains(want), "{yaml}: {got}");
        }
    }
}
