//! The `static_labels` stage: sets fixed labels on every entry.

use std::collections::BTreeMap;

use pushtail_proto::labels::is_valid_label_name;

use serde::Deserialize;

use super::{BuildCtx, FieldError, Stage};
use crate::entry::StageEntry;

/// The `static_labels` stage's config: label name to value.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct StaticLabelsConfig(BTreeMap<String, Option<String>>);

struct StaticLabels {
    labels: Vec<(String, String)>,
}

pub(crate) fn build(
    cfg: &StaticLabelsConfig,
    _ctx: &BuildCtx,
) -> Result<Box<dyn Stage>, FieldError> {
    let map = &cfg.0;
    if map.is_empty() {
        return Err(FieldError::new("static_labels requires at least one label"));
    }
    let mut labels = Vec::with_capacity(map.len());
    for (name, value) in map {
        if !is_valid_label_name(name) {
            return Err(FieldError::field(
                name,
                format!("invalid label name {name:?}"),
            ));
        }
        labels.push((name.clone(), value.clone().unwrap_or_default()));
    }
    Ok(Box::new(StaticLabels { labels }))
}

impl Stage for StaticLabels {
    fn process(&self, e: &mut StageEntry) {
        for (name, value) in &self.labels {
            if !value.is_empty() {
                e.set_label(name, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::stages::testing::{check_table, config_error, Row};

    #[test]
    fn static_labels_table() {
        let rows: &[Row<'_>] = &[
            (
                "- static_labels: {env: prod, team: a}",
                &[("app", "x")],
                "l",
                r#"{app="x", env="prod", team="a"} l"#,
            ),
            (
                "- static_labels: {env: prod}",
                &[("env", "dev")],
                "l",
                r#"{env="prod"} l"#,
            ),
        ];
        check_table(rows);
        assert!(
            config_error("- static_labels: {'1a': x}").contains(r#"(static_labels): field "1a""#)
        );
    }
}
