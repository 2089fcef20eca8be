//! `-dry-run`: print what would be sent instead of sending it; `-inspect`:
//! print what each pipeline stage changed.
//!
//! Each entry becomes one stdout line: `timestamp<TAB>labels<TAB>line`, then
//! `<TAB>{structured metadata}` when the entry has any and `<TAB>tenant=ID`
//! when it has a tenant. Backslashes, tabs, newlines and carriage returns
//! inside a line are printed as `\\`, `\t`, `\n`, `\r`, so one entry is
//! always one output line and its fields split on TAB unambiguously.
//! Labels are printed as a client would send them: with the first client's
//! `external_labels` merged in (a stream's own labels win).
//! `-inspect` reports go to stderr, as Promtail writes them.

use std::io::Write;
use std::sync::Arc;

use std::collections::BTreeMap;

use pushtail_proto::labels::{quote_into, LabelSet};
use pushtail_proto::model::{Delivery, TenantBatch};
use tokio::sync::mpsc;

/// The `-inspect` sink: each entry's report is written to stderr in one
/// piece, so reports of concurrent requests never interleave.
pub fn stderr_inspector() -> pushtail_pipeline::Inspector {
    Arc::new(|report: &str| {
        let mut err = std::io::stderr().lock();
        // stderr gone: nothing useful to do with the report.
        let _ = err.write_all(report.as_bytes()).and_then(|()| err.flush());
    })
}

/// Prints batches until the queue closes.
pub async fn print(mut rx: mpsc::Receiver<Arc<Delivery>>, external: BTreeMap<String, String>) {
    let mut text = String::new();
    while let Some(delivery) = rx.recv().await {
        text.clear();
        for batch in &delivery.batches {
            render(batch, &external, &mut text);
        }
        let mut out = std::io::stdout().lock();
        if out
            .write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .is_err()
        {
            tracing::warn!("dry-run: stdout is closed; entries are no longer printed");
        }
    }
}

/// The labels a client sends for `labels`: external labels added where
/// the stream has no label of that name.
fn as_sent(labels: &LabelSet, external: &BTreeMap<String, String>) -> Option<LabelSet> {
    if external.keys().all(|k| labels.get(k).is_some()) {
        return None;
    }
    let mut builder = labels.to_builder();
    for (k, v) in external {
        if labels.get(k).is_none() {
            builder.set(k, v);
        }
    }
    builder.build().ok()
}

fn render(batch: &TenantBatch, external: &BTreeMap<String, String>, out: &mut String) {
    for stream in &batch.streams {
        let merged = as_sent(&stream.labels, external);
        let labels = merged.as_ref().unwrap_or(&stream.labels);
        for entry in &stream.entries {
            format_timestamp(entry.timestamp_ns, out);
            out.push('\t');
            out.push_str(labels.as_str());
            out.push('\t');
            for c in String::from_utf8_lossy(&entry.line).chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\t' => out.push_str("\\t"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    c => out.push(c),
                }
            }
            if !entry.structured_metadata.is_empty() {
                out.push_str("\t{");
                for (i, (k, v)) in entry.structured_metadata.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(k);
                    out.push('=');
                    quote_into(out, v);
                }
                out.push('}');
            }
            if let Some(tenant) = &batch.tenant {
                out.push_str("\ttenant=");
                out.push_str(tenant.as_str());
            }
            out.push('\n');
        }
    }
}

/// RFC 3339 with nanoseconds, UTC.
fn format_timestamp(ns: i64, out: &mut String) {
    use std::fmt::Write;
    let secs = ns.div_euclid(1_000_000_000);
    let nanos = ns.rem_euclid(1_000_000_000) as u32;
    match chrono::DateTime::from_timestamp(secs, nanos) {
        Some(t) => {
            let _ = write!(out, "{}", t.format("%Y-%m-%dT%H:%M:%S%.9fZ"));
        }
        None => {
            let _ = write!(out, "{ns}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pushtail_proto::labels::LabelSet;
    use pushtail_proto::model::{Entry, Stream};
    use pushtail_proto::tenant::TenantId;

    #[test]
    fn renders_entries() {
        let mut with_meta = Entry::new(1_700_000_000_123_456_789, "b\nc\td\\n");
        with_meta.structured_metadata = vec![("trace_id".into(), "x\"y".into())];
        let batch = TenantBatch {
            tenant: TenantId::new("t1").ok(),
            streams: vec![Stream {
                labels: LabelSet::from_pairs([("job", "app"), ("env", "own")]).unwrap(),
                entries: vec![Entry::new(0, "a"), with_meta],
            }],
        };
        let external: BTreeMap<String, String> = [("env", "ext"), ("cluster", "eu")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let mut out = String::new();
        render(&batch, &external, &mut out);
        assert_eq!(
            out,
            "1970-01-01T00:00:00.000000000Z\t{cluster=\"eu\", env=\"own\", job=\"app\"}\ta\ttenant=t1\n\
             2023-11-14T22:13:20.123456789Z\t{cluster=\"eu\", env=\"own\", job=\"app\"}\tb\\nc\\td\\\\n\t{trace_id=\"x\\\"y\"}\ttenant=t1\n"
        );
        let mut plain = String::new();
        render(&batch, &BTreeMap::new(), &mut plain);
        assert!(
            plain.starts_with("1970-01-01T00:00:00.000000000Z\t{env=\"own\", job=\"app\"}\ta"),
            "{plain}"
        );
    }
}
