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
pub const LABEL_TENANT: &str = "tenant";
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
    /// Promtail's families with a `tenant` label, per tenant ("" without
    /// one), created at 0 the first time a tenant's entries are batched.
    tenants: HashMap<Box<str>, TenantCounters>,
    /// Request duration per status code (`-1`: no response), built on first use.
    durations: HashMap<i32, Histogram>,
}

/// Most tenants with counters of their own; further tenants share
/// [`OTHER_TENANTS`], so pushers inventing tenants cannot grow the metrics
/// without bound.
const MAX_TENANTS: usize = 1000;
/// The `tenant` label past [`MAX_TENANTS`] (not a valid Loki tenant ID,
/// so it names no real tenant).
pub const OTHER_TENANTS: &str = "..";

/// The handles labelled `host`, `tenant` (and `reason`), as Promtail's.
struct TenantCounters {
    dropped_entries: [Counter; 4],
    dropped_bytes: [Counter; 4],
    mutated_entries: [Counter; 4],
    mutated_bytes: [Counter; 4],
    batch_retries: Counter,
}

impl TenantCounters {
    fn new(host: &str, tenant: &str) -> Self {
        let by_reason = |name: &'static str| {
            DropReason::ALL.map(|r| {
                let c = metrics::counter!(
                    name,
                    LABEL_HOST => host.to_owned(),
                    LABEL_TENANT => tenant.to_owned(),
                    LABEL_REASON => r.as_str()
                );
                c.increment(0);
                c
            })
        };
        let batch_retries = metrics::counter!(
            BATCH_RETRIES,
            LABEL_HOST => host.to_owned(),
            LABEL_TENANT => tenant.to_owned()
        );
        batch_retries.increment(0);
        TenantCounters {
            dropped_entries: by_reason(DROPPED_ENTRIES),
            dropped_bytes: by_reason(DROPPED_BYTES),
            mutated_entries: by_reason(MUTATED_ENTRIES),
            mutated_bytes: by_reason(MUTATED_BYTES),
            batch_retries,
        }
    }
}

impl ClientMetrics {
    /// Builds the handles and creates the counters at 0.
    pub(crate) fn new(host: &str) -> Self {
        describe();
        let host_label = || [Label::new(LABEL_HOST, host.to_owned())];
        let counter = |name: &'static str| {
            let c = metrics::counter!(name, host_label().to_vec());
            c.increment(0);
            c
        };
        let mut metrics = ClientMetrics {
            host: host.to_owned(),
            sent_entries: counter(SENT_ENTRIES),
            sent_bytes: counter(SENT_BYTES),
            encoded_bytes: counter(ENCODED_BYTES),
            tenants: HashMap::new(),
            durations: HashMap::new(),
        };
        // Entries without a tenant are the common case: their counters
        // exist from the start (Promtail's appear with a tenant's first
        // batch), so dashboards and `-dry-run` see the families at 0.
        metrics.batching("");
        metrics
    }

    /// The counters of `tenant`, created at 0 on first use.
    fn tenant(&mut self, tenant: &str) -> &TenantCounters {
        if self.tenants.contains_key(tenant) {
            return &self.tenants[tenant];
        }
        let key = if self.tenants.len() < MAX_TENANTS {
            tenant
        } else {
            OTHER_TENANTS
        };
        let host = &self.host;
        self.tenants
            .entry(key.into())
            .or_insert_with(|| TenantCounters::new(host, key))
    }

    /// Creates `tenant`'s counters at 0, as Promtail does when it starts a
    /// tenant's first batch.
    pub(crate) fn batching(&mut self, tenant: &str) {
        self.tenant(tenant);
    }

    pub(crate) fn dropped(&mut self, tenant: &str, reason: DropReason, entries: u64, bytes: u64) {
        let t = self.tenant(tenant);
        t.dropped_entries[reason.index()].increment(entries);
        t.dropped_bytes[reason.index()].increment(bytes);
    }

    /// `entries` changed before sending, `bytes` cut from them.
    pub(crate) fn mutated(&mut self, tenant: &str, reason: DropReason, entries: u64, bytes: u64) {
        let t = self.tenant(tenant);
        t.mutated_entries[reason.index()].increment(entries);
        t.mutated_bytes[reason.index()].increment(bytes);
    }

    pub(crate) fn retried(&mut self, tenant: &str) {
        self.tenant(tenant).batch_retries.increment(1);
    }

    /// The pending-entries gauge (owned by the queue side).
    pub(crate) fn pending_gauge(&self) -> Gauge {
        metrics::gauge!(PENDING_ENTRIES, LABEL_HOST => self.host.clone())
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

#[cfg(test)]
mod tests {
    use super::*;
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    /// Counters per tenant, at most [`MAX_TENANTS`] of them: later tenants
    /// share [`OTHER_TENANTS`], so the series stay bounded.
    #[test]
    fn tenants_are_bounded() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, || {
            let mut m = ClientMetrics::new("loki:3100");
            for i in 0..MAX_TENANTS + 5 {
                m.dropped(&format!("t{i}"), DropReason::IngesterError, 1, 10);
            }
            m.dropped("t0", DropReason::IngesterError, 1, 10);
            assert_eq!(m.tenants.len(), MAX_TENANTS + 1, "and the shared one");
        });
        let dropped = |tenant: &str| {
            snapshotter
                .snapshot()
                .into_vec()
                .into_iter()
                .find(|(k, ..)| {
                    let key = k.key();
                    key.name() == DROPPED_ENTRIES
                        && key
                            .labels()
                            .any(|l| l.key() == LABEL_TENANT && l.value() == tenant)
                        && key.labels().any(|l| l.value() == "ingester_error")
                })
                .map(|(.., v)| v)
        };
        assert_eq!(dropped("t0"), Some(DebugValue::Counter(2)));
        assert_eq!(
            dropped(""),
            Some(DebugValue::Counter(0)),
            "no tenant: from the start"
        );
        // "" and t0..t998 fill the map; the remaining six share the label.
        assert_eq!(dropped(OTHER_TENANTS), Some(DebugValue::Counter(6)));
        assert_eq!(dropped("t1000"), None);
    }
}
