//! The `output` stage: the line becomes the extracted value under `source`.
//!
//! A missing source, or a value with no string form (null, object, array),
//! leaves the line unchanged, as Promtail does.

use serde::Deserialize;

use super::{BuildCtx, FieldError, Stage};
use crate::entry::{value_to_string, StageEntry};

/// The `output` stage's config.
#[derive(Debug, Clone, Deserialize)]
pub struct OutputConfig {
    #[serde(default)]
    source: String,
}

struct Output {
    source: String,
}

pub(crate) fn build(cfg: &OutputConfig, _ctx: &BuildCtx) -> Result<Box<dyn Stage>, FieldError> {
    if cfg.source.is_empty() {
        return Err(FieldError::field(
            "source",
            "output source value is required",
        ));
    }
    Ok(Box::new(Output {
        source: cfg.source.clone(),
    }))
}

impl Stage for Output {
    fn process(&self, e: &mut StageEntry) {
        if let Some(line) = e.extracted().get(&self.source).and_then(value_to_string) {
            e.set_line(line);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::stages::testing::{check_table, config_error};

    #[test]
    fn output_table() {
        check_table(&[
            (
                "- output: {source: app}",
                &[("app", "a")],
                "line",
                r#"{app="a"} a"#,
            ),
            (
                "- output: {source: missing}",
                &[("app", "a")],
                "line",
                r#"{app="a"} line"#,
            ),
            (
                "- template: {source: m, template: '{{ .Entry }}!'}\n- output: {source: m}",
                &[],
                "hello",
                "{} hello!",
            ),
        ]);
    }

    #[test]
    fn output_config_errors() {
        let got = config_error("- output: {}");
        assert_eq!(
            got,
            "pipeline_stages[0] (output): field \"source\": output source value is required"
        );
    }
}
