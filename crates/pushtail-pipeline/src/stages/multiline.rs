//! The `multiline` stage: joins lines into blocks per stream (label set).
//! A line matching `firstline` starts a block; other lines are appended
//! with `\n`. A block is released when the next first line arrives, when it
//! reaches `max_lines` (default 128), or when it got no line for
//! `max_wait_time` (default 3s; the pipeline's `flush` hook checks this,
//! `force` releases everything).
//!
//! A released block keeps the labels, timestamp, extracted map and metadata
//! of its first line. A line that is not a first line, arriving with no
//! open block (the lines before the first start line), passes on by
//! itself. Inside `match` the stage buffers just the same (the `match`
//! stage holds and releases through it). At most 10 000 streams are held;
//! beyond that all open blocks are released early. Time is the wall clock.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use pushtail_proto::units::Duration;
use regex::Regex;
use serde::Deserialize;

use super::{compile_regex, BuildCtx, FieldError, Stage};
use crate::entry::StageEntry;

const MAX_STREAMS: usize = 10_000;

/// The `multiline` stage's config.
#[derive(Debug, Clone, Deserialize)]
pub struct MultilineConfig {
    #[serde(default)]
    firstline: String,
    #[serde(default)]
    max_wait_time: Option<Duration>,
    #[serde(default)]
    max_lines: Option<u64>,
}

struct Block {
    first: StageEntry,
    text: String,
    lines: usize,
    last_ns: i64,
}

impl Block {
    fn start(e: StageEntry, now_ns: i64) -> Block {
        let text = e.line().into_owned();
        Block {
            first: e,
            text,
            lines: 1,
            last_ns: now_ns,
        }
    }

    fn finish(self) -> StageEntry {
        let mut e = self.first;
        e.set_line(self.text);
        e
    }
}

struct Multiline {
    firstline: Regex,
    max_wait_ns: i64,
    max_lines: usize,
    blocks: Mutex<HashMap<u64, Block>>,
}

pub(crate) fn build(cfg: &MultilineConfig, _ctx: &BuildCtx) -> Result<Box<dyn Stage>, FieldError> {
    if cfg.firstline.is_empty() {
        return Err(FieldError::field(
            "firstline",
            "multiline stage first line regex is required",
        ));
    }
    let firstline = compile_regex("firstline", &cfg.firstline)?;
    let max_wait = cfg
        .max_wait_time
        .map_or(std::time::Duration::from_secs(3), Duration::get);
    let max_lines = cfg.max_lines.unwrap_or(128);
    if max_lines == 0 {
        return Err(FieldError::field(
            "max_lines",
            "max_lines must be greater than 0",
        ));
    }
    Ok(Box::new(Multiline {
        firstline,
        max_wait_ns: i64::try_from(max_wait.as_nanos()).unwrap_or(i64::MAX),
        max_lines: usize::try_from(max_lines).unwrap_or(usize::MAX),
        blocks: Mutex::new(HashMap::new()),
    }))
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_nanos()).ok())
        .unwrap_or(i64::MAX)
}

fn stream_key(e: &StageEntry) -> u64 {
    let mut pairs = e.label_pairs();
    pairs.sort_unstable();
    let mut h = DefaultHasher::new();
    pairs.hash(&mut h);
    h.finish()
}

impl Stage for Multiline {
    /// Unbuffered use (inside `match`): lines pass through unchanged.
    fn process(&self, _e: &mut StageEntry) {}

    fn buffers(&self) -> bool {
        true
    }

    fn process_owned(&self, e: StageEntry, out: &mut Vec<StageEntry>) {
        let now = now_ns();
        let key = stream_key(&e);
        let is_first = self.firstline.is_match(&e.line());
        let Ok(mut blocks) = self.blocks.lock() else {
            out.push(e);
            return;
        };
        let open = blocks.contains_key(&key);
        if !is_first && !open {
            out.push(e);
            return;
        }
        if is_first {
            if let Some(prev) = blocks.remove(&key) {
                out.push(prev.finish());
            }
            if blocks.len() >= MAX_STREAMS {
                out.extend(blocks.drain().map(|(_, b)| b.finish()));
            }
            blocks.insert(key, Block::start(e, now));
        } else if let Some(b) = blocks.get_mut(&key) {
            b.text.push('\n');
            b.text.push_str(&e.line());
            b.lines += 1;
            b.last_ns = now;
        }
        if blocks.get(&key).is_some_and(|b| b.lines >= self.max_lines) {
            if let Some(b) = blocks.remove(&key) {
                out.push(b.finish());
            }
        }
    }

    fn flush(&self, now_ns: i64, force: bool, out: &mut Vec<StageEntry>) {
        let Ok(mut blocks) = self.blocks.lock() else {
            return;
        };
        let expired: Vec<u64> = blocks
            .iter()
            .filter(|(_, b)| force || now_ns.saturating_sub(b.last_ns) >= self.max_wait_ns)
            .map(|(k, _)| *k)
            .collect();
        for k in expired {
            if let Some(b) = blocks.remove(&k) {
                out.push(b.finish());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use pushtail_proto::labels::LabelSet;
    use pushtail_proto::model::Entry;

    use crate::pipeline::{Pipeline, PipelineEntry};
    use crate::stages::testing::{config_error, pipeline, render};

    fn push(p: &Pipeline, app: &str, ts: i64, line: &str) -> String {
        let mut out = Vec::new();
        let _ = p.process(
            PipelineEntry {
                labels: LabelSet::from_pairs([("app", app)]).unwrap(),
                entry: Entry::new(ts, line.to_owned()),
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

    fn flush(p: &Pipeline, now_ns: i64, force: bool) -> String {
        let mut out = Vec::new();
        p.flush(now_ns, force, &mut out);
        if out.is_empty() {
            "-".to_owned()
        } else {
            render(&out)
        }
    }

    #[test]
    fn joins_stack_traces_per_stream() {
        let p = pipeline("- multiline: {firstline: '^\\d{4}-', max_lines: 3}");
        let steps = [
            ("a", 1000, "2024-01-01 error", "-"),
            ("a", 1001, "  at foo()", "-"),
            ("b", 1002, "2024-01-01 other stream", "-"),
            (
                "a",
                1003,
                "  at bar()",
                r#"{app="a"} 2024-01-01 error\n  at foo()\n  at bar()"#,
            ),
            ("a", 1004, "2024-01-02 next", "-"),
            (
                "a",
                1005,
                "2024-01-03 third",
                r#"{app="a"} 2024-01-02 next ts=1004"#,
            ),
            ("b", 1006, "  continued", "-"),
            // Before any first line, lines pass one by one.
            ("c", 1007, "  orphan", r#"{app="c"}   orphan ts=1007"#),
            ("c", 1008, "  orphan 2", r#"{app="c"}   orphan 2 ts=1008"#),
        ];
        for (app, ts, line, want) in steps {
            assert_eq!(push(&p, app, ts, line).replace('\n', "\\n"), want, "{line}");
        }
        // Nothing is idle yet; forcing releases both open blocks.
        assert_eq!(flush(&p, 0, false), "-");
        let mut all = flush(&p, 0, true).replace('\n', "\\n");
        let mut parts: Vec<&str> = all.split(" | ").collect();
        parts.sort_unstable();
        all = parts.join(" | ");
        assert_eq!(
            all,
            r#"{app="a"} 2024-01-03 third ts=1005 | {app="b"} 2024-01-01 other stream\n  continued ts=1002"#
        );
        assert_eq!(flush(&p, 0, true), "-");
    }

    #[test]
    fn idle_blocks_are_released_by_flush() {
        let p = pipeline("- multiline: {firstline: '^start', max_wait_time: 1s}\n- template: {source: x, template: '[{{ .Entry }}]'}\n- output: {source: x}");
        assert_eq!(push(&p, "a", 1000, "start"), "-");
        assert_eq!(push(&p, "a", 1000, "more"), "-");
        assert_eq!(flush(&p, 0, false), "-");
        // Released blocks run through the stages after multiline.
        assert_eq!(
            flush(&p, i64::MAX, false).replace('\n', "\\n"),
            r#"{app="a"} [start\nmore]"#
        );
    }

    #[test]
    fn multiline_inside_match_buffers() {
        let p = pipeline(
            "- match: {selector: '{app=\"a\"}', stages: [{multiline: {firstline: '^start'}}]}\n- static_labels: {after: x}",
        );
        assert_eq!(push(&p, "a", 1000, "start"), "-");
        assert_eq!(push(&p, "a", 1001, "more"), "-");
        // Entries the selector does not pick pass at once.
        assert_eq!(
            push(&p, "b", 1002, "other"),
            r#"{after="x", app="b"} other ts=1002"#
        );
        assert_eq!(
            push(&p, "a", 1003, "start 2").replace('\n', "\\n"),
            r#"{after="x", app="a"} start\nmore"#
        );
        // Held blocks are released by flush, through the later stages.
        assert_eq!(
            flush(&p, 0, true),
            r#"{after="x", app="a"} start 2 ts=1003"#
        );
    }

    #[test]
    fn multiline_config_errors() {
        for (yaml, want) in [
            (
                "- multiline: {}",
                "field \"firstline\": multiline stage first line regex is required",
            ),
            (
                "- multiline: {firstline: '('}",
                "field \"firstline\": invalid regex",
            ),
            (
                "- multiline: {firstline: a, max_lines: 0}",
                "field \"max_lines\"",
            ),
            (
                "- multiline: {firstline: a, max_wait_time: forever}",
                "invalid duration",
            ),
        ] {
            let got = config_error(yaml);
            assert!(got.contains(want), "{yaml}\n got: {got}");
        }
    }
}
