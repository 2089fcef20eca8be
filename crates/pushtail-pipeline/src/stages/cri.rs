//! The `cri` stage: Promtail's shorthand for the regex
//! `^(?s)(?P<time>\S+?) (?P<stream>stdout|stderr) (?P<flags>\S+?) (?P<content>.*)$`,
//! `labels {stream}`, `timestamp {source: time, format: RFC3339Nano}`,
//! `output {source: content}`, implemented directly. A line that does not
//! match passes unchanged.
//!
//! Partial lines (flag `P`) are held per stream (label set) and joined
//! with the following lines of that stream up to and including the next
//! full (`F`) line, which carries the joined content on with its own
//! timestamp, as Promtail does. At most `max_partial_lines` (default 100)
//! streams hold a partial line; one more releases all that are held, each
//! as it stands. With `max_partial_line_size_truncate`, a held or joined
//! line is cut to `max_partial_line_size` bytes. Held lines are released
//! at shutdown (`flush` with `force`).

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use pushtail_proto::units::ByteSize;
use serde::Deserialize;
use serde_json::Value;

use super::docker::parse_rfc3339_nano;
use super::{BuildCtx, FieldError, Stage};
use crate::entry::StageEntry;

/// The `cri` stage's config.
#[derive(Debug, Clone, Deserialize)]
pub struct CriConfig {
    #[serde(default)]
    max_partial_lines: Option<u64>,
    #[serde(default)]
    max_partial_line_size: Option<ByteSize>,
    #[serde(default)]
    max_partial_line_size_truncate: bool,
}

#[allow(clippy::expect_used)] // a constant pattern, covered by the tests
static CRI_RE: LazyLock<::regex::Regex> = LazyLock::new(|| {
    ::regex::Regex::new(
        r"^(?s)(?P<time>\S+?) (?P<stream>stdout|stderr) (?P<flags>\S+?) (?P<content>.*)$",
    )
    .expect("constant regex")
});

struct CriStage {
    max_partial_lines: usize,
    /// `Some(bytes)` with `max_partial_line_size_truncate`.
    truncate_at: Option<usize>,
    /// The partial line held per stream (label-set hash).
    partial: Mutex<HashMap<u64, StageEntry>>,
}

pub(crate) fn build(cfg: &CriConfig, _ctx: &BuildCtx) -> Result<Box<dyn Stage>, FieldError> {
    let max_partial_lines = match cfg.max_partial_lines {
        None => 100,
        Some(0) => {
            return Err(FieldError::field(
                "max_partial_lines",
                "must be greater than 0",
            ))
        }
        Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
    };
    let size = cfg.max_partial_line_size.map_or(0, ByteSize::as_usize);
    Ok(Box::new(CriStage {
        max_partial_lines,
        truncate_at: (cfg.max_partial_line_size_truncate && size > 0).then_some(size),
        partial: Mutex::new(HashMap::new()),
    }))
}

impl CriStage {
    /// Cuts the line to the size limit (at a character boundary).
    fn truncate(&self, e: &mut StageEntry) {
        let Some(max) = self.truncate_at else { return };
        let line = e.line();
        if line.len() <= max {
            return;
        }
        let mut end = max;
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        let cut = line[..end].to_owned();
        e.set_line(cut);
    }
}

/// `prev`'s line followed by `e`'s, on `e`.
fn join(prev: &StageEntry, e: &mut StageEntry) {
    let mut line = prev.line().into_owned();
    line.push_str(&e.line());
    e.set_line(line);
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

    fn buffers(&self) -> bool {
        true
    }

    fn process_owned(&self, mut e: StageEntry, out: &mut Vec<StageEntry>) {
        self.process(&mut e);
        let partial_flag = matches!(
            e.extracted_mut().get("flags"),
            Some(Value::String(f)) if f == "P"
        );
        let key = e.labels_key();
        let Ok(mut held) = self.partial.lock() else {
            out.push(e);
            return;
        };
        if partial_flag {
            if held.len() >= self.max_partial_lines && !held.contains_key(&key) {
                out.extend(held.drain().map(|(_, v)| v));
            } else if let Some(prev) = held.get(&key) {
                join(prev, &mut e);
            }
            self.truncate(&mut e);
            held.insert(key, e);
            return;
        }
        if let Some(prev) = held.remove(&key) {
            join(&prev, &mut e);
            self.truncate(&mut e);
        }
        out.push(e);
    }

    fn flush(&self, _now_ns: i64, force: bool, out: &mut Vec<StageEntry>) {
        if !force {
            return;
        }
        if let Ok(mut held) = self.partial.lock() {
            out.extend(held.drain().map(|(_, v)| v));
        }
    }
}

#[cfg(test)]
mod tests {
    use pushtail_proto::labels::LabelSet;
    use pushtail_proto::model::Entry;

    use crate::pipeline::{Pipeline, PipelineEntry};
    use crate::stages::testing::{check_table, config_error, pipeline, render, Row};

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
                "2019-04-30T02:12:41.8443515Z stdout F multi\nline",
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
        assert!(config_error("- cri: {max_partial_lines: 0}").contains("max_partial_lines"));
    }

    fn push(p: &Pipeline, line: &str) -> String {
        let mut out = Vec::new();
        let _ = p.process(
            PipelineEntry {
                labels: LabelSet::default(),
                entry: Entry::new(1, line.to_owned()),
                tenant: None,
            },
            &mut out,
        );
        if out.is_empty() {
            "-".to_owned()
        } else {
            render(&out)
        }
    }

    #[test]
    fn partial_lines_are_joined_per_stream() {
        let p = pipeline("- cri: {}");
        let t = "2019-01-01T01:00:00.000000001Z";
        for (line, want) in [
            (format!("{t} stdout P one "), "-"),
            (
                format!("{t} stderr F err"),
                r#"{stream="stderr"} err ts=1546304400000000001"#,
            ),
            (format!("{t} stdout P two "), "-"),
            (
                "2019-01-01T01:00:00.000000002Z stdout F three".to_owned(),
                r#"{stream="stdout"} one two three ts=1546304400000000002"#,
            ),
            (
                format!("{t} stdout F alone"),
                r#"{stream="stdout"} alone ts=1546304400000000001"#,
            ),
        ] {
            assert_eq!(push(&p, &line), want, "{line}");
        }
    }

    #[test]
    fn partial_line_limits() {
        // One stream over the limit releases those held.
        let p = pipeline("- cri: {max_partial_lines: 1}\n- labeldrop: [x]");
        let t = "2019-01-01T01:00:00Z";
        assert_eq!(push(&p, &format!("{t} stdout P a")), "-");
        assert_eq!(
            push(&p, &format!("{t} stderr P b")),
            r#"{stream="stdout"} a ts=1546304400000000000"#
        );
        let mut out = Vec::new();
        p.flush(0, true, &mut out);
        assert_eq!(
            render(&out),
            r#"{stream="stderr"} b ts=1546304400000000000"#
        );
        // Truncation of held and joined lines.
        let p = pipeline("- cri: {max_partial_line_size: 4, max_partial_line_size_truncate: true}");
        assert_eq!(push(&p, &format!("{t} stdout P abcdef")), "-");
        assert_eq!(
            push(&p, &format!("{t} stdout F gh")),
            r#"{stream="stdout"} abcd ts=1546304400000000000"#
        );
    }
}
