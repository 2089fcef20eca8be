//! The `regex` stage: named capture groups of an unanchored RE2 regex,
//! matched against the line or an extracted value, go into the extracted
//! map. A non-matching entry passes unchanged.

use serde::Deserialize;
use serde_json::Value;

use super::{check_source, compile_regex, BuildCtx, FieldError, Stage};
use crate::entry::StageEntry;

/// The `regex` stage's config.
#[derive(Debug, Clone, Deserialize)]
pub struct RegexConfig {
    #[serde(default)]
    expression: String,
    #[serde(default)]
    source: Option<String>,
}

struct RegexStage {
    re: ::regex::Regex,
    source: Option<String>,
}

pub(crate) fn build(cfg: &RegexConfig, _ctx: &BuildCtx) -> Result<Box<dyn Stage>, FieldError> {
    if cfg.expression.is_empty() {
        return Err(FieldError::field("expression", "expression is required"));
    }
    check_source(&cfg.source)?;
    Ok(Box::new(RegexStage {
        re: compile_regex("expression", &cfg.expression)?,
        source: cfg.source.clone(),
    }))
}

impl Stage for RegexStage {
    fn process(&self, e: &mut StageEntry) {
        let Some(input) = e.source_text(self.source.as_deref()) else {
            return;
        };
        let Some(caps) = self.re.captures(&input) else {
            return;
        };
        let extracted = e.extracted_mut();
        for (i, name) in self.re.capture_names().enumerate() {
            if let (true, Some(name)) = (i > 0, name) {
                let v = caps.get(i).map_or("", |m| m.as_str());
                extracted.insert(name.to_owned(), Value::String(v.to_owned()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::stages::testing::{check_table, config_error, Row};

    const LABELS: &str = "- labels: {user: '', level: ''}";

    #[test]
    fn regex_table() {
        let p1 = format!("- regex: {{expression: 'user=(?P<user>\\w+)'}}\n{LABELS}");
        let p2 = format!(
            "- regex: {{expression: '^(?P<level>\\w+) (?P<rest>.*)$'}}\n- regex: {{expression: '(?P<user>[a-z]+)@', source: rest}}\n{LABELS}"
        );
        let p3 = format!("- regex: {{expression: '(?P<user>x)', source: missing}}\n{LABELS}");
        let rows: &[Row<'_>] = &[
            (
                &p1,
                &[],
                "login user=bob ok",
                r#"{user="bob"} login user=bob ok"#,
            ),
            (&p1, &[("a", "1")], "no match", r#"{a="1"} no match"#),
            (
                &p2,
                &[],
                "info mail from ann@x",
                r#"{level="info", user="ann"} info mail from ann@x"#,
            ),
            (&p3, &[], "x", "{} x"),
        ];
        check_table(rows);
    }

    #[test]
    fn regex_config_errors() {
        for (yaml, want) in [
            (
                "- regex: {}",
                r#"pipeline_stages[0] (regex): field "expression": expression is required"#,
            ),
            (
                "- regex: {expression: '('}",
                r#"pipeline_stages[0] (regex): field "expression": invalid regex"#,
            ),
            (
                "- regex: {expression: 'a', source: ''}",
                r#"field "source": empty source"#,
            ),
        ] {
            let got = config_error(yaml);
            assert!(got.contains(want), "{yaml}: {got}");
        }
    }
}
