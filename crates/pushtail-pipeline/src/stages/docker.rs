//! The `docker` stage: Promtail's shorthand for
//! `json {output: log, stream: stream, timestamp: time}`, `labels {stream}`,
//! `timestamp {source: timestamp, format: RFC3339Nano}`, `output {source: output}`,
//! implemented directly. A line that is not Docker JSON passes unchanged;
//! an unparsable time leaves the timestamp unchanged.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use super::{BuildCtx, FieldError, Stage};
use crate::entry::{value_to_string, StageEntry};

/// The `docker` stage's config: it takes none, and unlike other stages
/// refuses any key (an empty map or nothing at all).
#[derive(Debug, Clone)]
pub struct DockerConfig;

/// The refusal of any `docker` config.
const NO_CONFIG: &str = "docker takes no configuration";

impl<'de> Deserialize<'de> for DockerConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Empty;
        impl<'de> Visitor<'de> for Empty {
            type Value = DockerConfig;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "an empty map ({NO_CONFIG})")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<DockerConfig, A::Error> {
                match map.next_key::<de::IgnoredAny>()? {
                    Some(_) => Err(de::Error::custom(NO_CONFIG)),
                    None => Ok(DockerConfig),
                }
            }
        }
        d.deserialize_map(Empty)
    }
}

struct DockerStage;

pub(crate) fn build(_cfg: &DockerConfig, _ctx: &BuildCtx) -> Result<Box<dyn Stage>, FieldError> {
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
        // Refused while deserialising, so the error has the key path.
        assert!(
            config_error("- docker: {a: 1}").contains("[0].docker: docker takes no configuration")
        );
    }
}
