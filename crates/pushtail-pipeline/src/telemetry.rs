//! Telemetry names this crate emits, in one place.
//!
//! (`stages/metrics.rs` is the Promtail `metrics` stage, a different thing:
//! user-defined metrics.) Never put metric name literals at call sites.

/// Entries dropped by a stage, label `reason`.
pub(crate) const DROPPED_LINES_TOTAL: &str = "logentry_dropped_lines_total";

/// The `reason` label of [`DROPPED_LINES_TOTAL`].
pub(crate) const REASON_LABEL: &str = "reason";

/// Counts one dropped entry.
pub(crate) fn count_dropped(reason: &str) {
    metrics::counter!(DROPPED_LINES_TOTAL, REASON_LABEL => reason.to_owned()).increment(1);
}

/// Registers HELP text for this crate's own metrics with the installed
/// recorder (the `metrics` stage's user-defined families have their own
/// registry, `stages/metrics/registry.rs`).
pub fn describe() {
    metrics::describe_counter!(
        DROPPED_LINES_TOTAL,
        "A count of all log lines dropped as a result of a pipeline stage."
    );
    metrics::describe_counter!(
        crate::stages::limit::DROPPED_BY_LABEL_TOTAL,
        "A count of log lines dropped by the limit stage, by the label it limits."
    );
}
