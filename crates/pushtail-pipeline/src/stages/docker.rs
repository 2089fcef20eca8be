//! The `docker` stage: Promtail's shorthand for
//! `json {output: log, stream: stream, timestamp: time}`, `labels {stream}`,
//! `timestamp {source: timestamp, format: RFC3339Nano}`, `output {source: output}`,
//! implemented directly. A line that is not Docker JSON passes unchanged;
//! an unparsable time leaves the timestamp unchanged.

use serde_json::Value;

use super::{parse_config, BuildCtx, FieldError, Stage};
use crate::entry::{value_to_string, StageEntry};

struct DockerStage;

pub(crate) fn build(
    cfg: &serde_yaml::Value,
    _ctx: &BuildCtx,
) -> Result<Box<dyn Stage>, FieldError> {
    let _: serde_yaml::Mapping =
        parse_config(cfg).map_err(|_| FieldError::new("docker takes no configuration"))?;
    if cfg.as_mapping().is_some_and(|m| !m.is_empty()) {
        return Err(FieldError::new("docker takes no configuration"));
    }
    Ok(Box::new(DockerStage))
}

/// Parses an RFC3339 timestamp (fractional seconds optional) to Unix ns.
pub(crate) fn parse_rfc3339_nano(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .and_then(|t| t.timestamp_nanos_opt())
}

impl Stage for DockerStage {
    fn process(&self, e: &mut StageEntry) {
        let Ok(Value::Object(mut obj)) = serde_json::from_str::<Value>(&e.line()) else {
            return;
        };
        let mut take = |k: &str| match obj.remove(k) {
            Some(v @ (Value::Array(_) | Value::Object(_))) => {
                Value::String(super::json::go_json(&v))
            }
            Some(v) => v,
            None => Value::Null,
        };
        let output = take("log");
        let stream = take("stream");
        let time = take("time");
        let stream_s = value_to_string(&stream);
        let time_s = value_to_string(&time);
        let output_s = value_to_string(&output);
        let extracted = e.extracted_mut();
        extracted.insert("output".to_owned(), output);
        extracted.insert("stream".to_owned(), stream);
        extracted.insert("timestamp".to_owned(), time);
        if let Some(s) = stream_s.filter(|s| !s.is_empty()) {
            e.set_label("stream", &s);
        }
        if let Some(ts) = time_s.as_deref().and_then(parse_rfc3339_nano) {
            e.timestamp_ns = ts;
        }
        if let Some(line) = output_s {
            e.set_line(line);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::stages::testing::{check_table, config_error, Row};

    #[test]
    fn docker_table() {
        let rows: &[Row<'_>] = &[
            (
                "- docker: {}",
                &[("job", "d")],
                r#"{"log":"hello\n","stream":"stderr","time":"2019-04-30T02:12:41.8443515Z"}"#,
                "{job=\"d\", stream=\"stderr\"} hello\n ts=1556590361844351500",
            ),
            ("- docker:", &[], "plain text", "{} plain text"),
            (
                "- docker: {}",
                &[],
                r#"{"log":"x","stream":"stdout","time":"bad"}"#,
                r#"{stream="stdout"} x"#,
            ),
        ];
        check_table(rows);
        assert!(
            config_error("- docker: {a: 1}").contains("(docker): docker takes no configuration")
        );
    }
}
