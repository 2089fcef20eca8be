//! The `cri` stage: Promtail's shorthand for the regex
//! `^(?s)(?P<time>\S+?) (?P<stream>stdout|stderr) (?P<flags>\S+?) (?P<content>.*)$`,
//! `labels {stream}`, `timestamp {source: time, format: RFC3339Nano}`,
//! `output {source: content}`, implemented directly. A line that does not
//! match passes unchanged. The partial-line options load but partial
//! lines are not merged (each `P` line is passed on as is).

use std::sync::LazyLock;

use serde::Deserialize;
use serde_json::Value;

use super::docker::parse_rfc3339_nano;
use super::{parse_config, BuildCtx, FieldError, Stage};
use crate::entry::StageEntry;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // accepted for Promtail compatibility; see the module docs
struct Config {
    #[serde(default)]
    max_partial_lines: Option<u64>,
    #[serde(default)]
    max_partial_line_size: Option<serde_yaml::Value>,
    #[serde(default)]
    max_partial_line_size_truncate: Option<bool>,
}

#[allow(clippy::expect_used)] // a constant pattern, covered by the tests
static CRI_RE: LazyLock<::regex::Regex> = LazyLock::new(|| {
    ::regex::Regex::new(
        r"^(?s)(?P<time>\S+?) (?P<stream>stdout|stderr) (?P<flags>\S+?) (?P<content>.*)$",
    )
    .expect("constant regex")
});

struct CriStage;

pub(crate) fn build(
    cfg: &serde_yaml::Value,
    _ctx: &BuildCtx,
) -> Result<Box<dyn Stage>, FieldError> {
    let _: Config = parse_config(cfg)?;
    Ok(Box::new(CriStage))
}

impl Stage for CriStage {
    fn process(&self, e: &mut StageEntry) {
        let line = e.line().into_owned();
        let Some(caps) = CRI_RE.captures(&line) else {
            return;
        };
        let get = |n: &str| caps.name(n).map_or("", |m| m.as_str());
        let (time, stream, flags, content) =
            (get("time"), get("stream"), get("flags"), get("content"));
        let extracted = e.extracted_mut();
        for (k, v) in [
            ("time", time),
            ("stream", stream),
            ("flags", flags),
            ("content", content),
        ] {
            extracted.insert(k.to_owned(), Value::String(v.to_owned()));
        }
        e.set_label("stream", stream);
        if let Some(ts) = parse_rfc3339_nano(time) {
            e.timestamp_ns = ts;
        }
        e.set_line(content.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use crate::stages::testing::{check_table, config_error, Row};

    #[test]
    fn cri_table() {
        let rows: &[Row<'_>] = &[
            (
                "- cri: {}",
                &[],
                "2019-01-01T01:00:00.000000001Z stderr F my message",
                r#"{stream="stderr"} my message ts=1546304400000000001"#,
            ),
            (
                "- cri: {}",
                &[],
                "2019-04-30T02:12:41.8443515Z stdout P multi\nline",
                "{stream=\"stdout\"} multi\nline ts=1556590361844351500",
            ),
            ("- cri:", &[], "not cri", "{} not cri"),
            (
                "- cri: {max_partial_lines: 100}",
                &[],
                "x stdout F y",
                r#"{stream="stdout"} y"#,
            ),
        ];
        check_table(rows);
        assert!(config_error("- cri: {bogus: 1}").contains("(cri): unknown field `bogus`"));
    }
}
