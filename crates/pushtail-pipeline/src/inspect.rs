//! `-inspect`: what each stage changed in an entry, as Promtail's
//! `-inspect` prints it.
//!
//! A [`Snapshot`] is the visible state of an entry (labels, extracted map,
//! line, timestamp, structured metadata, tenant, drop); [`render_diff`]
//! writes the differences between two snapshots as one block per stage:
//!
//! ```text
//! [inspect: regex stage]:
//! <TAB>extracted["level"]: +"info"
//! [inspect: output stage]:
//! <TAB>line: -"level=info msg=hi" +"hi"
//! [inspect: drop stage]: none
//! ```
//!
//! Only the inspecting run path builds snapshots: a pipeline without an
//! inspector never calls anything here. Nothing here does I/O; the text goes
//! to the [`Inspector`] sink the caller installed.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;

use pushtail_proto::labels::quote_into;
use serde_json::Value;

use crate::entry::StageEntry;

/// Receives the inspection text of one entry (all its stages at once, so
/// reports of concurrent entries do not interleave).
pub type Inspector = Arc<dyn Fn(&str) + Send + Sync>;

/// The parts of an entry that `-inspect` compares.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Snapshot {
    labels: BTreeMap<String, String>,
    extracted: BTreeMap<String, String>,
    line: String,
    timestamp_ns: i64,
    metadata: BTreeMap<String, String>,
    tenant: Option<String>,
    dropped: Option<String>,
}

impl Snapshot {
    /// Takes the entry's visible state. An extracted map not used yet is
    /// shown as its first use would seed it (from the labels, as Promtail
    /// seeds it), so seeding is never reported as a change.
    pub(crate) fn of(e: &StageEntry) -> Snapshot {
        let extracted = e
            .extracted_peek()
            .iter()
            .map(|(k, v)| (k.clone(), render_value(v)))
            .collect();
        Snapshot {
            labels: e.label_pairs().into_iter().collect(),
            extracted,
            line: e.line().into_owned(),
            timestamp_ns: e.timestamp_ns,
            metadata: e.metadata.iter().cloned().collect(),
            tenant: e.tenant.as_ref().map(ToString::to_string),
            dropped: e.dropped.as_ref().map(ToString::to_string),
        }
    }
}

/// An extracted value as `-inspect` shows it: strings quoted, everything
/// else as JSON.
fn render_value(v: &Value) -> String {
    match v {
        Value::String(s) => {
            let mut out = String::with_capacity(s.len() + 2);
            quote_into(&mut out, s);
            out
        }
        other => other.to_string(),
    }
}

fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    quote_into(&mut out, s);
    out
}

/// Appends one stage's block: its name and every difference between
/// `before` and `after`, or `none`.
pub(crate) fn render_diff(stage: &str, before: &Snapshot, after: &Snapshot, out: &mut String) {
    let _ = write!(out, "[inspect: {stage} stage]:");
    let start = out.len();
    map_diff("labels", &before.labels, &after.labels, true, out);
    map_diff("extracted", &before.extracted, &after.extracted, false, out);
    if before.line != after.line {
        change(
            out,
            "line",
            Some(&quoted(&before.line)),
            Some(&quoted(&after.line)),
        );
    }
    if before.timestamp_ns != after.timestamp_ns {
        change(
            out,
            "timestamp",
            Some(&format_timestamp(before.timestamp_ns)),
            Some(&format_timestamp(after.timestamp_ns)),
        );
    }
    map_diff(
        "structured_metadata",
        &before.metadata,
        &after.metadata,
        true,
        out,
    );
    if before.tenant != after.tenant {
        change(
            out,
            "tenant",
            before.tenant.as_deref().map(quoted).as_deref(),
            after.tenant.as_deref().map(quoted).as_deref(),
        );
    }
    if before.dropped.is_none() {
        if let Some(reason) = &after.dropped {
            let _ = write!(out, "\n\tdropped: reason {}", quoted(reason));
        }
    }
    if out.len() == start {
        out.push_str(" none");
    }
    out.push('\n');
}

/// A note for a stage that did not change the entry in a comparable way
/// (a buffering stage holding it back).
pub(crate) fn render_note(stage: &str, note: &str, out: &mut String) {
    let _ = writeln!(out, "[inspect: {stage} stage]: {note}");
}

fn map_diff(
    name: &str,
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
    quote_values: bool,
    out: &mut String,
) {
    let show = |v: &String| if quote_values { quoted(v) } else { v.clone() };
    let mut b = before.iter().peekable();
    let mut a = after.iter().peekable();
    loop {
        let order = match (b.peek(), a.peek()) {
            (None, None) => break,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some((bk, _)), Some((ak, _))) => bk.cmp(ak),
        };
        let mut key = String::new();
        match order {
            std::cmp::Ordering::Less => {
                if let Some((k, v)) = b.next() {
                    key_path(name, k, &mut key);
                    change(out, &key, Some(&show(v)), None);
                }
            }
            std::cmp::Ordering::Greater => {
                if let Some((k, v)) = a.next() {
                    key_path(name, k, &mut key);
                    change(out, &key, None, Some(&show(v)));
                }
            }
            std::cmp::Ordering::Equal => {
                if let (Some((k, bv)), Some((_, av))) = (b.next(), a.next()) {
                    if bv != av {
                        key_path(name, k, &mut key);
                        change(out, &key, Some(&show(bv)), Some(&show(av)));
                    }
                }
            }
        }
    }
}

fn key_path(name: &str, key: &str, out: &mut String) {
    out.push_str(name);
    out.push('[');
    quote_into(out, key);
    out.push(']');
}

/// One line: `\tpath: -old +new`, either side optional.
fn change(out: &mut String, path: &str, old: Option<&str>, new: Option<&str>) {
    let _ = write!(out, "\n\t{path}:");
    if let Some(old) = old {
        let _ = write!(out, " -{old}");
    }
    if let Some(new) = new {
        let _ = write!(out, " +{new}");
    }
}

/// RFC 3339 with nanoseconds, UTC, as `-dry-run` prints timestamps.
fn format_timestamp(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let nanos = ns.rem_euclid(1_000_000_000) as u32;
    match chrono::DateTime::from_timestamp(secs, nanos) {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string(),
        None => ns.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(labels: &[(&str, &str)], extracted: &[(&str, Value)], line: &str, ts: i64) -> Snapshot {
        Snapshot {
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            extracted: extracted
                .iter()
                .map(|(k, v)| ((*k).to_owned(), render_value(v)))
                .collect(),
            line: line.to_owned(),
            timestamp_ns: ts,
            metadata: BTreeMap::new(),
            tenant: None,
            dropped: None,
        }
    }

    #[test]
    fn renders_each_kind_of_change() {
        let base = snap(
            &[("app", "a"), ("gone", "x")],
            &[("n", serde_json::json!(1))],
            "old",
            0,
        );
        let mut changed = snap(
            &[("app", "b"), ("level", "info")],
            &[
                ("n", serde_json::json!(1.5)),
                ("user", serde_json::json!("al\"ice")),
                ("obj", serde_json::json!({"k": [1, null]})),
            ],
            "new\nline",
            1_700_000_000_000_000_001,
        );
        changed.metadata.insert("trace_id".into(), "t".into());
        changed.tenant = Some("team".into());
        changed.dropped = Some("drop_stage".into());

        let cases: &[(&Snapshot, &Snapshot, &str)] = &[
            (&base, &base, "[inspect: s stage]: none\n"),
            (
                &base,
                &changed,
                "[inspect: s stage]:\n\
                 \tlabels[\"app\"]: -\"a\" +\"b\"\n\
                 \tlabels[\"gone\"]: -\"x\"\n\
                 \tlabels[\"level\"]: +\"info\"\n\
                 \textracted[\"n\"]: -1 +1.5\n\
                 \textracted[\"obj\"]: +{\"k\":[1,null]}\n\
                 \textracted[\"user\"]: +\"al\\\"ice\"\n\
                 \tline: -\"old\" +\"new\\nline\"\n\
                 \ttimestamp: -1970-01-01T00:00:00.000000000Z +2023-11-14T22:13:20.000000001Z\n\
                 \tstructured_metadata[\"trace_id\"]: +\"t\"\n\
                 \ttenant: +\"team\"\n\
                 \tdropped: reason \"drop_stage\"\n",
            ),
            (
                &changed,
                &base,
                "[inspect: s stage]:\n\
                 \tlabels[\"app\"]: -\"b\" +\"a\"\n\
                 \tlabels[\"gone\"]: +\"x\"\n\
                 \tlabels[\"level\"]: -\"info\"\n\
                 \textracted[\"n\"]: -1.5 +1\n\
                 \textracted[\"obj\"]: -{\"k\":[1,null]}\n\
                 \textracted[\"user\"]: -\"al\\\"ice\"\n\
                 \tline: -\"new\\nline\" +\"old\"\n\
                 \ttimestamp: -2023-11-14T22:13:20.000000001Z +1970-01-01T00:00:00.000000000Z\n\
                 \tstructured_metadata[\"trace_id\"]: -\"t\"\n\
                 \ttenant: -\"team\"\n",
            ),
        ];
        for (before, after, want) in cases {
            let mut out = String::new();
            render_diff("s", before, after, &mut out);
            assert_eq!(out, *want);
        }
    }

    #[test]
    fn snapshot_does_not_report_extracted_seeding() {
        let e = StageEntry::from_parts(&[("app", "a")], "x", 1);
        let before = Snapshot::of(&e);
        assert_eq!(
            before.extracted.get("app").map(String::as_str),
            Some("\"a\"")
        );
        let mut out = String::new();
        render_diff("noop", &before, &Snapshot::of(&e), &mut out);
        assert_eq!(out, "[inspect: noop stage]: none\n");
    }
}
