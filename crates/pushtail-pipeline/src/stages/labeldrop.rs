//! The `labeldrop` and `labelallow` stages: remove the listed labels, or
//! every label not listed.

use std::collections::HashSet;

use serde::Deserialize;

use super::{BuildCtx, FieldError, Stage};
use crate::entry::StageEntry;

/// The `labeldrop` and `labelallow` stages' config: a list of label names.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct LabelListConfig(Vec<String>);

fn parse_list(cfg: &LabelListConfig) -> Result<HashSet<String>, FieldError> {
    if cfg.0.is_empty() {
        return Err(FieldError::new("at least one label name is required"));
    }
    Ok(cfg.0.iter().cloned().collect())
}

struct LabelDrop {
    names: HashSet<String>,
}

pub(crate) fn build_labeldrop(
    cfg: &LabelListConfig,
    _ctx: &BuildCtx,
) -> Result<Box<dyn Stage>, FieldError> {
    Ok(Box::new(LabelDrop {
        names: parse_list(cfg)?,
    }))
}

impl Stage for LabelDrop {
    fn process(&self, e: &mut StageEntry) {
        for name in &self.names {
            e.remove_label(name);
        }
    }
}

struct LabelAllow {
    names: HashSet<String>,
}

pub(crate) fn build_labelallow(
    cfg: &LabelListConfig,
    _ctx: &BuildCtx,
) -> Result<Box<dyn Stage>, FieldError> {
    Ok(Box::new(LabelAllow {
        names: parse_list(cfg)?,
    }))
}

impl Stage for LabelAllow {
    fn process(&self, e: &mut StageEntry) {
        let any_other = e.label_pairs().iter().any(|(k, _)| !self.names.contains(k));
        if any_other {
            e.labels_mut().retain(|k, _| self.names.contains(k));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::stages::testing::{check_table, config_error, Row};

    #[test]
    fn labeldrop_labelallow_table() {
        let l: &[(&str, &str)] = &[("a", "1"), ("b", "2"), ("c", "3")];
        let rows: &[Row<'_>] = &[
            ("- labeldrop: [a, zz]", l, "x", r#"{b="2", c="3"} x"#),
            ("- labelallow: [a, c]", l, "x", r#"{a="1", c="3"} x"#),
            ("- labelallow: [q]", l, "x", "{} x"),
        ];
        check_table(rows);
        assert!(config_error("- labeldrop: []")
            .contains("(labeldrop): at least one label name is required"));
    }
}
