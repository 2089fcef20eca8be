//! The `pack` stage: wraps the line and the named labels (or extracted
//! values) into one JSON object, `{"label":"value",...,"_entry":"line"}`
//! (keys sorted, `_entry` last), and removes those labels. With
//! `ingest_timestamp` (default true) the entry gets the current time.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Deserialize;

use super::{BuildCtx, FieldError, Stage};
use crate::entry::StageEntry;
use crate::go::json::quote;

const ENTRY_KEY: &str = "_entry";

fn default_true() -> bool {
    true
}

/// The `pack` stage's config.
#[derive(Debug, Clone, Deserialize)]
pub struct PackConfig {
    #[serde(default)]
    labels: Vec<String>,
    #[serde(default = "default_true")]
    ingest_timestamp: bool,
}

struct PackStage {
    labels: Vec<String>,
    ingest_timestamp: bool,
}

pub(crate) fn build(cfg: &PackConfig, _ctx: &BuildCtx) -> Result<Box<dyn Stage>, FieldError> {
    let mut labels = cfg.labels.clone();
    labels.sort();
    labels.dedup();
    Ok(Box::new(PackStage {
        labels,
        ingest_timestamp: cfg.ingest_timestamp,
    }))
}

impl Stage for PackStage {
    fn process(&self, e: &mut StageEntry) {
        let mut out = String::from("{");
        for name in &self.labels {
            let value = match e.label(name).map(str::to_owned) {
                Some(v) => {
                    e.remove_label(name);
                    v
                }
                None => match e.extracted_string(name) {
                    Some(v) => v,
                    None => continue,
                },
            };
            if out.len() > 1 {
                out.push(',');
            }
            out.push_str(&quote(name));
            out.push(':');
            out.push_str(&quote(&value));
        }
        if out.len() > 1 {
            out.push(',');
        }
        out.push_str(&quote(ENTRY_KEY));
        out.push(':');
        out.push_str(&quote(&e.line()));
        out.push('}');
        e.set_line(out);
        if self.ingest_timestamp {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
            e.timestamp_ns = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::stages::testing::{check_table, config_error, Row};

    #[test]
    fn pack_table() {
        let rows: &[Row<'_>] = &[
            (
                "- pack: {labels: [pod, app], ingest_timestamp: false}",
                &[("app", "web"), ("pod", "p-1"), ("ns", "x")],
                r#"say "hi" <b>"#,
                r#"{ns="x"} {"app":"web","pod":"p-1","_entry":"say \"hi\" \u003cb\u003e"}"#,
            ),
            (
                "- regex: {expression: '(?P<lvl>\\w+)'}\n- pack: {labels: [lvl, missing], ingest_timestamp: false}",
                &[],
                "warn x",
                r#"{} {"lvl":"warn","_entry":"warn x"}"#,
            ),
            // No labels: only the line is packed.
            (
                "- pack: {ingest_timestamp: false}",
                &[("app", "web")],
                "x",
                r#"{app="web"} {"_entry":"x"}"#,
            ),
        ];
        check_table(rows);
        assert_eq!(config_error("- pack: {}"), "ok");
    }
}
