//! `-dry-run`: print what would be sent instead of sending it; `-inspect`:
//! print what each pipeline stage changed.
//!
//! Each entry becomes one stdout line: `timestamp<TAB>labels<TAB>line`, then
//! `<TAB>{structured metadata}` when the entry has any and `<TAB>tenant=ID`
//! when it has a tenant. Newlines inside a line are printed as `\n` so one
//! entry is always one output line. Inspection reports go to stderr, as
//! Promtail writes them.

use std::io::Write;
use std::sync::Arc;

use pushtail_proto::labels::quote_into;
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
pub async fn print(mut rx: mpsc::Receiver<Arc<Delivery>>) {
    let mut text = String::new();
    while let Some(delivery) = rx.recv().await {
        text.clear();
        for batch in &delivery.batches {
            render(batch, &mut text);
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

fn render(batch: &TenantBatch, out: &mut String) {
    for stream in &batch.streams {
        for entry in &stream.entries {
            format_timestamp(entry.timestamp_ns, out);
            out.push('\t');
            out.push_str(stream.labels.as_str());
            out.push('\t');
            for c in String::from_utf8_lossy(&entry.line).chars() {
                match c {
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
        let mut with_meta = Entry::new(1_700_000_000_123_456_789, "b\nc");
        with_meta.structured_metadata = vec![("trace_id".into(), "x\"y".into())];
        let batch = TenantBatch {
            tenant: TenantId::new("t1").ok(),
            streams: vec![Stream {
                labels: LabelSet::from_pairs([("job", "app")]).unwrap(),
                entries: vec![Entry::new(0, "a"), with_meta],
            }],
        };
        let mut out = String::new();
        render(&batch, &mut out);
        assert_eq!(
            out,
            "1970-01-01T00:00:00.000000000Z\t{job=\"app\"}\ta\ttenant=t1\n\
             2023-11-14T22:13:20.123456789Z\t{job=\"app\"}\tb\\nc\t{trace_id=\"x\\\"y\"}\ttenant=t1\n"
        );
    }
}
