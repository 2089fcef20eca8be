//! The `labels` and `structured_metadata` stages: copy extracted values
//! into labels or into the entry's structured metadata. Config is a map
//! `name: source` (an empty source means the same name). Missing or
//! non-string values are skipped as Promtail skips them; an empty
//! extracted value removes the label.
//!
//! `structured_metadata` (also accepted under its old name
//! `non_indexed_labels`) takes the source from the extracted map, or else
//! from the entry's labels, and a label that became metadata is removed
//! from the labels, as Promtail does.

use std::collections::BTreeMap;

use pushtail_proto::labels::is_valid_label_name;

use serde::Deserialize;

use super::{BuildCtx, FieldError, Stage};
use crate::entry::StageEntry;

/// The `labels` and `structured_metadata` stages' config: target name to
/// source (empty or null: the same name).
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct LabelMapConfig(BTreeMap<String, Option<String>>);

/// `(target name, extracted key)` pairs, in name order.
fn parse_map(cfg: &LabelMapConfig) -> Result<Vec<(String, String)>, FieldError> {
    let map = &cfg.0;
    if map.is_empty() {
        return Err(FieldError::new("at least one label source is required"));
    }
    let mut out = Vec::with_capacity(map.len());
    for (name, source) in map {
        if !is_valid_label_name(name) {
            return Err(FieldError::field(
                name,
                format!("invalid label name {name:?}"),
            ));
        }
        let source = source
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| name.clone());
        out.push((name.clone(), source));
    }
    Ok(out)
}

struct LabelsStage {
    map: Vec<(String, String)>,
}

pub(crate) fn build_labels(
    cfg: &LabelMapConfig,
    _ctx: &BuildCtx,
) -> Result<Box<dyn Stage>, FieldError> {
    Ok(Box::new(LabelsStage {
        map: parse_map(cfg)?,
    }))
}

impl Stage for LabelsStage {
    fn process(&self, e: &mut StageEntry) {
        for (name, source) in &self.map {
            // An empty value removes the label, as Promtail's empty
            // label value does.
            if let Some(v) = e.extracted_string(source) {
                e.set_label(name, &v);
            }
        }
    }
}

struct MetadataStage {
    map: Vec<(String, String)>,
}

pub(crate) fn build_structured_metadata(
    cfg: &LabelMapConfig,
    _ctx: &BuildCtx,
) -> Result<Box<dyn Stage>, FieldError> {
    Ok(Box::new(MetadataStage {
        map: parse_map(cfg)?,
    }))
}

impl Stage for MetadataStage {
    fn process(&self, e: &mut StageEntry) {
        for (name, source) in &self.map {
            let from_label = e.label(source).map(str::to_owned);
            let Some(v) = e.extracted_string(source).or_else(|| from_label.clone()) else {
                continue;
            };
            if from_label.is_some() {
                e.remove_label(source);
            }
            if v.is_empty() {
                continue;
            }
            match e.metadata.iter_mut().find(|(k, _)| k == name) {
                Some((_, old)) => *old = v,
                None => e.metadata.push((name.clone(), v)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::stages::testing::{check_table, config_error, Row};

    #[test]
    fn labels_table() {
        let json = "- json: {expressions: {lvl: level, n: count, ok: flag, o: obj}}\n";
        let p1 = format!("{json}- labels: {{level: lvl, n: '', ok: null, o: }}");
        let p2 = format!("{json}- structured_metadata: {{level: lvl, trace: ''}}");
        let p3 = "- labels: {copy: app}";
        let p4 = "- non_indexed_labels: {pod: ''}";
        let p5 = "- json: {expressions: {pod: ''}}\n- structured_metadata: {pod: ''}";
        let rows: &[Row<'_>] = &[
            (
                &p1,
                &[],
                r#"{"level":"warn","count":3,"flag":true,"obj":{"a":1}}"#,
                r#"{level="warn", n="3", o="{\"a\":1}", ok="true"} {"level":"warn","count":3,"flag":true,"obj":{"a":1}}"#,
            ),
            // An empty extracted value removes the label.
            (
                &p1,
                &[("level", "x"), ("keep", "y")],
                r#"{"level":""}"#,
                r#"{keep="y"} {"level":""}"#,
            ),
            (&p1, &[], "not json", "{} not json"),
            (
                &p2,
                &[("app", "a")],
                r#"{"level":"info"}"#,
                r#"{app="a"} {"level":"info"} sm={level=info}"#,
            ),
            (p3, &[("app", "web")], "l", r#"{app="web", copy="web"} l"#),
            // A label source becomes metadata and leaves the labels.
            (
                p4,
                &[("app", "web"), ("pod", "p-1")],
                "l",
                r#"{app="web"} l sm={pod=p-1}"#,
            ),
            // An extracted value wins over the label of the same name,
            // and the label still goes.
            (
                p5,
                &[("pod", "label")],
                r#"{"pod":"json"}"#,
                r#"{} {"pod":"json"} sm={pod=json}"#,
            ),
            (p4, &[("app", "web")], "l", r#"{app="web"} l"#),
        ];
        check_table(rows);
    }

    #[test]
    fn labels_config_errors() {
        for (yaml, want) in [
            (
                "- labels: {}",
                "pipeline_stages[0] (labels): at least one label source is required",
            ),
            (
                "- labels: {a-b: x}",
                r#"pipeline_stages[0] (labels): field "a-b": invalid label name"#,
            ),
            (
                "- structured_metadata:",
                "(structured_metadata): at least one label source is required",
            ),
        ] {
            let got = config_error(yaml);
            assert!(got.contains(want), "{yaml}: {got}");
        }
    }
}
