//! The `eventlogmessage` stage: parses the `Key: value` lines of a Windows
//! Event Log message (the extracted value `source`, default `message`) into
//! the extracted map.
//!
//! Lines are separated by `\r\n` (as Windows writes them); a line without
//! `:` is skipped; the key is what comes before the first `:`, the value
//! what follows, both with surrounding whitespace trimmed. A key that is
//! not a valid label name is sanitised (each invalid character, and a
//! leading digit, becomes `_`) or, with `drop_invalid_labels`, skipped. A
//! key already in the extracted map is overwritten with
//! `overwrite_existing`, else the value goes under `<key>_extracted`
//! (repeated until the name is free). Written from Promtail's stage
//! documentation.

use pushtail_proto::labels::is_valid_label_name;
use serde::Deserialize;
use serde_json::Value;

use super::{BuildCtx, FieldError, Stage};
use crate::entry::StageEntry;

/// The `eventlogmessage` stage's config.
#[derive(Debug, Clone, Deserialize)]
pub struct EventLogMessageConfig {
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    overwrite_existing: bool,
    #[serde(default)]
    drop_invalid_labels: bool,
}

struct EventLogMessage {
    source: String,
    overwrite_existing: bool,
    drop_invalid_labels: bool,
}

pub(crate) fn build(
    cfg: &EventLogMessageConfig,
    _ctx: &BuildCtx,
) -> Result<Box<dyn Stage>, FieldError> {
    let source = match cfg.source.clone() {
        None => "message".to_owned(),
        Some(s) if s.is_empty() => return Err(FieldError::field("source", "empty source")),
        Some(s) => s,
    };
    Ok(Box::new(EventLogMessage {
        source,
        overwrite_existing: cfg.overwrite_existing,
        drop_invalid_labels: cfg.drop_invalid_labels,
    }))
}

/// Promtail's label-name sanitising: every character outside
/// `[A-Za-z0-9_]` (and a leading digit) becomes `_`.
fn sanitize(key: &str) -> String {
    if key.is_empty() {
        return "_".to_owned();
    }
    key.chars()
        .enumerate()
        .map(|(i, c)| {
            if c.is_ascii_alphabetic() || c == '_' || (c.is_ascii_digit() && i > 0) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl Stage for EventLogMessage {
    fn process(&self, e: &mut StageEntry) {
        let Some(message) = e.extracted_string(&self.source) else {
            return;
        };
        let extracted = e.extracted_mut();
        for line in message.split("\r\n") {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let key = key.trim();
            let mut key = if is_valid_label_name(key) {
                key.to_owned()
            } else if self.drop_invalid_labels {
                continue;
            } else {
                sanitize(key)
            };
            if !self.overwrite_existing {
                while extracted.contains_key(&key) {
                    key.push_str("_extracted");
                }
            }
            extracted.insert(key, Value::String(value.trim().to_owned()));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::stages::testing::{check_table, config_error, Row};

    #[test]
    fn eventlogmessage_table() {
        let msg = r#"{"message":"Message type:\r\nOverwritten: new\r\n\tAccount Name:\t\tSYSTEM\r\nImage: C:\\promtail.exe\r\nno colon\r\n9lives: x","Overwritten":"old"}"#;
        let base = "- json: {expressions: {message: '', Overwritten: ''}}\n";
        let show = "\n- labels: {Overwritten: '', Overwritten_extracted: '', Account_Name: '', Image: '', _lives: ''}";
        let keep = format!("{base}- eventlogmessage: {{}}{show}");
        let overwrite = format!("{base}- eventlogmessage: {{overwrite_existing: true}}{show}");
        let drop = format!("{base}- eventlogmessage: {{drop_invalid_labels: true}}{show}");
        let rows: &[Row<'_>] = &[
            (
                &keep,
                &[],
                msg,
                &format!(
                    r#"{{Account_Name="SYSTEM", Image="C:\\promtail.exe", Overwritten="old", Overwritten_extracted="new", _lives="x"}} {msg}"#
                ),
            ),
            (
                &overwrite,
                &[],
                msg,
                &format!(
                    r#"{{Account_Name="SYSTEM", Image="C:\\promtail.exe", Overwritten="new", _lives="x"}} {msg}"#
                ),
            ),
            (
                &drop,
                &[],
                msg,
                &format!(
                    r#"{{Image="C:\\promtail.exe", Overwritten="old", Overwritten_extracted="new"}} {msg}"#
                ),
            ),
            // No source: nothing happens.
            ("- eventlogmessage: {}", &[("a", "b")], "x", r#"{a="b"} x"#),
        ];
        check_table(rows);
        assert!(config_error("- eventlogmessage: {source: ''}").contains("empty source"));
    }
}
