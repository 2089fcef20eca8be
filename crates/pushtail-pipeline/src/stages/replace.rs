//! The `replace` stage: every capture group of every match of `expression`
//! in the line (or an extracted value) is replaced by the rendered
//! `replace` template (`{{ .Value }}` is the captured text; extracted
//! names are available too). Named groups also store their replacement in
//! the extracted map. A non-matching entry passes unchanged.

use serde::Deserialize;
use serde_json::Value;

use super::{check_source, compile_regex, BuildCtx, FieldError, Stage};
use crate::entry::{value_to_string, StageEntry};
use crate::go::template::{self as gotemplate, Template};

/// The `replace` stage's config.
#[derive(Debug, Clone, Deserialize)]
pub struct ReplaceConfig {
    #[serde(default)]
    expression: String,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    replace: String,
}

struct ReplaceStage {
    re: ::regex::Regex,
    source: Option<String>,
    template: Template,
}

pub(crate) fn build(cfg: &ReplaceConfig, _ctx: &BuildCtx) -> Result<Box<dyn Stage>, FieldError> {
    if cfg.expression.is_empty() {
        return Err(FieldError::field("expression", "expression is required"));
    }
    check_source(&cfg.source)?;
    let template = Template::parse(&cfg.replace).map_err(|e| FieldError::field("replace", e))?;
    Ok(Box::new(ReplaceStage {
        re: compile_regex("expression", &cfg.expression)?,
        source: cfg.source.clone(),
        template,
    }))
}

impl Stage for ReplaceStage {
    fn process(&self, e: &mut StageEntry) {
        let Some(input) = e.source_text(self.source.as_deref()) else {
            return;
        };
        let mut result = String::with_capacity(input.len());
        let mut captured: Vec<(String, String)> = Vec::new();
        let mut last = 0;
        let mut matched = false;
        let names: Vec<Option<&str>> = self.re.capture_names().collect();
        {
            // Extracted values as strings, plus `.Value` per capture.
            let texts: Vec<(String, String)> = e
                .extracted()
                .iter()
                .filter(|(k, _)| k.as_str() != "Value")
                .filter_map(|(k, v)| Some((k.clone(), value_to_string(v)?)))
                .collect();
            for caps in self.re.captures_iter(&input) {
                matched = true;
                for (i, name) in names.iter().enumerate().skip(1) {
                    let Some(m) = caps.get(i) else { continue };
                    if m.start() < last {
                        continue;
                    }
                    let mut rendered = String::new();
                    let data = gotemplate::data(
                        texts
                            .iter()
                            .map(|(k, v)| (k.as_str(), v.as_str()))
                            .chain([("Value", m.as_str())]),
                    );
                    if self.template.render(&data, &mut rendered).is_err() {
                        return;
                    }
                    result.push_str(&input[last..m.start()]);
                    result.push_str(&rendered);
                    last = m.end();
                    if let Some(n) = name {
                        captured.push(((*n).to_owned(), rendered));
                    }
                }
            }
        }
        if !matched {
            return;
        }
        result.push_str(&input[last..]);
        let extracted = e.extracted_mut();
        for (k, v) in captured {
            extracted.insert(k, Value::String(v));
        }
        match &self.source {
            Some(src) => {
                e.extracted_mut().insert(src.clone(), Value::String(result));
            }
            None => e.set_line(result),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::stages::testing::{check_table, config_error, Row};

    #[test]
    fn replace_table() {
        let rows: &[Row<'_>] = &[
            (
                "- replace: {expression: 'password=(\\S+)', replace: '****'}",
                &[],
                "user=a password=secret x",
                "{} user=a password=**** x",
            ),
            (
                "- replace: {expression: '(\\d{2}\\.\\d{2}\\.\\d{2}\\.\\d{2}) - (\\S+)', replace: '{{ .Value | ToUpper }}'}",
                &[],
                "11.11.11.11 - frank 12.12.12.12 - frank",
                "{} 11.11.11.11 - FRANK 12.12.12.12 - FRANK",
            ),
            (
                "- replace: {expression: '(?P<ip>\\d+\\.\\d+\\.\\d+\\.\\d+)', replace: '*'}\n- labels: {ip: ''}",
                &[],
                "from 1.2.3.4 ok",
                r#"{ip="*"} from * ok"#,
            ),
            (
                "- replace: {expression: 'id=(\\d+)', replace: ''}",
                &[],
                "id=42 done",
                "{} id= done",
            ),
            (
                "- regex: {expression: '(?P<msg>.*)'}\n- replace: {expression: '(o)', source: msg, replace: '0'}\n- labels: {msg: ''}",
                &[],
                "foo",
                r#"{msg="f00"} foo"#,
            ),
            ("- replace: {expression: 'zzz(z)', replace: 'y'}", &[], "abc", "{} abc"),
        ];
        check_table(rows);
        assert!(config_error("- replace: {replace: x}")
            .contains(r#"(replace): field "expression": expression is required"#));
    }
}
