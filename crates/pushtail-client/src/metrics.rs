//! Client telemetry: metric names (Promtail's, which users alert on) and the
//! per-client handles, built once at spawn so sending never formats labels.
//!
//! This module never decides anything; it only counts what the sender tells it.

use std::collections::HashMap;

use metrics::{Counter, Gauge, Histogram, Label};

pub const SENT_ENTRIES: &str = "promtail_sent_entries_total";
pub const SENT_BYTES: &str = "promtail_sent_bytes_total";
pub const ENCODED_BYTES: &str = "promtail_encoded_bytes_total";
pub const DROPPED_ENTRIES: &str = "promtail_dropped_entries_total";
pub const DROPPED_BYTES: &str = "promtail_dropped_bytes_total";
pub const REQUEST_DURATION: &str = "promtail_request_duration_seconds";
pub const BATCH_RETRIES: &str = "promtail_batch_retries_total";
pub const PENDING_ENTRIES: &str = "pushtail_client_pending_entries";
/// Promtail's counters of entries (and bytes cut from them) the client
/// changed before sending, by the drop reasons: only `line_too_long`, a
/// line cut to `limits_config.max_line_size` with `max_line_size_truncate`.
pub const MUTATED_ENTRIES: &str = "promtail_mutated_entries_total";
pub const MUTATED_BYTES: &str = "promtail_mutated_bytes_total";

pub const LABEL_HOST: &str = "host";
pub const LABEL_REASON: &str = "reason";
pub const LABEL_STATUS_CODE: &str = "status_code";

/// Why a batch was dropped (the `reason` label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DropReason {
    IngesterError,
    RateLimited,
    StreamLimited,
    LineTooLong,
}

impl DropReason {
    pub(crate) const ALL: [DropReason; 4] = [
        DropReason::IngesterError,
        DropReason::RateLimited,
        DropReason::StreamLimited,
        DropReason::LineTooLong,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            DropReason::IngesterError => "ingester_error",
            DropReason::RateLimited => "rate_limited",
            DropReason::StreamLimited => "stream_limited",
            DropReason::LineTooLong => "line_too_long",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Registers descriptions for every client metric (idempotent).
fn describe() {
    metrics::describe_counter!(SENT_ENTRIES, "Number of log entries sent to the ingester.");
    metrics::describe_counter!(SENT_BYTES, "Number of bytes sent.");
    metrics::describe_counter!(ENCODED_BYTES, "Number of bytes encoded and ready to send.");
    metrics::describe_counter!(
        DROPPED_ENTRIES,
        "Number of log entries dropped because they failed to be sent to the ingester after all retries."
    );
    metrics::describe_counter!(
        DROPPED_BYTES,
        "Number of bytes dropped because they failed to be sent to the ingester after all retries."
    );
    metrics::describe_histogram!(REQUEST_DURATION, "Duration of send requests.");
    metrics::describe_counter!(
        BATCH_RETRIES,
        "Number of times batches have had to be retried."
    );
    metrics::describe_counter!(
        MUTATED_ENTRIES,
        "The total number of log entries that have been mutated."
    );
    metrics::describe_counter!(
        MUTATED_BYTES,
        "The total number of bytes that have been mutated."
    );
    metrics::describe_gauge!(
        PENDING_ENTRIES,
        "Entries taken from the queue and not yet sent or dropped."
    );
}

/// One client's metric handles.
pub(crate) struct ClientMetrics {
    host: String,
    pub(crate) sent_entries: Counter,
    pub(crate) sent_bytes: Counter,
    pub(crate) encoded_bytes: Counter,
    pub(crate) batch_retries: Counter,
    dropped_entries: [Counter; 4],
    dropped_bytes: [Counter; 4],
    mutated_entries: [Counter; 4],
    mutated_bytes: [Counter; 4],
    /// Request duration per status code (`-1`: no response), built on first use.
    durations: HashMap<i32, Histogram>,
}

impl ClientMetrics {
    /// Builds every handle and creates the counters at 0.
    pub(crate) fn new(host: &str) -> Self {
        describe();
        let host_label = || [Label::new(LABEL_HOST, host.to_owned())];
        let by_reason = |name: &'static str| {
            DropReason::ALL.map(|r| {
                let c = metrics::counter!(name, LABEL_HOST => host.to_owned(), LABEL_REASON => r.as_str());
                c.increment(0);
                c
            })
        };
        let counter = |name: &'static str| {
            let c = metrics::counter!(name, host_label().to_vec());
            c.increment(0);
            c
        };
        ClientMetrics {
            mutated_entries: by_reason(MUTATED_ENTRIES),
            mutated_bytes: by_reason(MUTATED_BYTES),
            host: host.to_owned(),
            sent_entries: counter(SENT_ENTRIES),
            sent_bytes: counter(SENT_BYTES),
            encoded_bytes: counter(ENCODED_BYTES),
            batch_retries: counter(BATCH_RETRIES),
            dropped_entries: by_reason(DROPPED_ENTRIES),
            dropped_bytes: by_reason(DROPPED_BYTES),
            durations: HashMap::new(),
        }
    }

    /// The pending-entries gauge (owned by the queue side).
    pub(crate) fn pending_gauge(&self) -> Gauge {
        metrics::gauge!(PENDING_ENTRIES, LABEL_HOST => self.host.clone())
    }

    pub(crate) fn dropped(&self, reason: DropReason, entries: u64, bytes: u64) {
        self.dropped_entries[reason.index()].increment(entries);
        self.dropped_bytes[reason.index()].increment(bytes);
    }

    /// `entries` changed before sending, `bytes` cut from them.
    pub(crate) fn mutated(&self, reason: DropReason, entries: u64, bytes: u64) {
        self.mutated_entries[reason.index()].increment(entries);
        self.mutated_bytes[reason.index()].increment(bytes);
    }

    pub(crate) fn request_duration(&mut self, status: i32, seconds: f64) {
        let host = &self.host;
        self.durations
            .entry(status)
            .or_insert_with(|| {
                metrics::histogram!(
                    REQUEST_DURATION,
                    LABEL_STATUS_CODE => status.to_string(),
                    LABEL_HOST => host.clone()
                )
            })
            .record(seconds);
    }
}
