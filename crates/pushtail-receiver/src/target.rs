//! One target at run time: the per-stream steps of DESIGN §4 (target
//! labels, tenant, relabel, `__` removal, cached), timestamps, the
//! pipeline per entry, and grouping into per-tenant batches.
//!
//! Synchronous and free of I/O: the service decodes and hands off; this
//! module only turns streams into batches.

use std::collections::HashMap;
use std::sync::Arc;

use pushtail_pipeline::{Pace, PipelineEntry};
use pushtail_proto::labels::LabelSet;
use pushtail_proto::model::{Entry, Stream, TenantBatch};
use pushtail_proto::syntax::LabelParseError;
use pushtail_proto::tenant::TenantId;

use crate::auth::{AuthFailure, CredentialError, Credentials};
use crate::cache::Cache;
use crate::error::StreamErrorKind;
use crate::metrics::AUTH_FAILURES_TOTAL;
use crate::metrics::{BAD_STREAMS_TOTAL, ENTRIES_WRITTEN};
use crate::status::TargetStats;
use crate::TargetSpec;

/// The label relabel rules use to read and set the tenant.
const TENANT_LABEL: &str = "__tenant_id__";

/// Which parser a label key is for: the same bytes mean different labels
/// to different parsers (an empty key is "no pairs" to JSON and an empty
/// selector to protobuf), so the source is part of every cache key and no
/// two different inputs ever share a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Source {
    /// A selector string: protobuf and legacy JSON pushes.
    Selector,
    /// JSON `stream` pairs, joined by [`crate::decode::label_key`].
    Pairs,
    Raw,
    Plain,
}

/// A stream's labels and tenant after steps 1-5; `None` from
/// [`Target::resolve`] means relabeling dropped the stream.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub labels: LabelSet,
    pub tenant: Option<TenantId>,
}

type Resolution = Result<Option<Resolved>, StreamErrorKind>;

pub(crate) struct Target {
    pub spec: TargetSpec,
    cache: Cache<(Source, Option<TenantId>), Resolution>,
    entries_written: metrics::Counter,
    bad_streams: metrics::Counter,
    /// What pushers must present (files read when the routing was built).
    pub credentials: Credentials,
    /// What the status page shows; shared with the target this one replaced
    /// on reload (same job), so counters survive reloads.
    pub stats: Arc<TargetStats>,
}

impl Target {
    /// Builds the target, reading its credential files.
    pub(crate) fn new(spec: TargetSpec, stats: Arc<TargetStats>) -> Result<Self, CredentialError> {
        let job = spec.job_name.clone();
        let credentials = Credentials::load(&job, &spec.auth)?;
        Ok(Target {
            entries_written: metrics::counter!(ENTRIES_WRITTEN, "job" => job.clone()),
            bad_streams: metrics::counter!(BAD_STREAMS_TOTAL, "job" => job),
            cache: Cache::new(),
            credentials,
            spec,
            stats,
        })
    }

    /// Counts a refused request by reason (`missing`, `wrong`,
    /// `no_client_cert`).
    pub(crate) fn count_auth_failure(&self, failure: AuthFailure) {
        metrics::counter!(AUTH_FAILURES_TOTAL, "job" => self.spec.job_name.clone(), "reason" => failure.reason())
            .increment(1);
    }

    /// Steps 1-5 for one stream, cached per (`source`, header tenant,
    /// `key`) unless `cache` is false (a request with more distinct streams
    /// than the cache holds would only churn it). `parse` turns the key into
    /// labels (step 1) on a miss; its error is the reason the stream is
    /// skipped.
    pub(crate) fn resolve(
        &self,
        source: Source,
        key: &[u8],
        header_tenant: Option<&TenantId>,
        cache: bool,
        parse: impl FnOnce() -> Result<LabelSet, LabelParseError>,
    ) -> Resolution {
        let scope = (source, header_tenant.cloned());
        self.cache.get_or_compute(&scope, key, cache, || {
            let labels = parse().map_err(StreamErrorKind::Labels)?;
            self.resolve_parsed(&labels, header_tenant)
        })
    }

    /// Whether a request of `streams` streams should fill the cache.
    pub(crate) fn should_cache(&self, streams: usize) -> bool {
        streams <= Cache::<(), ()>::CAPACITY / 2
    }

    /// Steps 2-5.
    fn resolve_parsed(&self, labels: &LabelSet, header_tenant: Option<&TenantId>) -> Resolution {
        let mut builder = labels.to_builder();
        for (name, value) in &self.spec.labels {
            builder.set(name, value);
        }
        if let Some(tenant) = self.spec.tenant_id.as_ref().or(header_tenant) {
            builder.set(TENANT_LABEL, tenant.as_str());
        }
        if !self.spec.relabel.is_empty() && !self.spec.relabel.apply(&mut builder) {
            return Ok(None);
        }
        let tenant = match builder.get(TENANT_LABEL) {
            Some(t) => Some(TenantId::new(t).map_err(StreamErrorKind::Tenant)?),
            None => None,
        };
        builder.retain(|name, _| !name.starts_with("__"));
        let labels = builder.build().map_err(StreamErrorKind::Relabeled)?;
        Ok(Some(Resolved { labels, tenant }))
    }

    /// Step 6 for one stream's entries, into `out`.
    pub(crate) fn add_entries(&self, resolved: &Resolved, entries: Vec<Entry>, out: &mut BatchSet) {
        if self.spec.pipeline.is_empty() {
            out.append(&resolved.tenant, &resolved.labels, entries);
            return;
        }
        for entry in entries {
            let input = PipelineEntry {
                labels: resolved.labels.clone(),
                entry,
                tenant: resolved.tenant.clone(),
            };
            let pace = self.spec.pipeline.process(input, &mut out.scratch);
            out.pace = out.pace.and(pace);
            out.drain_scratch();
        }
    }

    /// Releases entries held by stages (multiline): those past their
    /// deadline, or all with `force`.
    pub(crate) fn flush(&self, now_ns: i64, force: bool, out: &mut BatchSet) {
        if self.spec.pipeline.is_empty() {
            return;
        }
        self.spec.pipeline.flush(now_ns, force, &mut out.scratch);
        out.drain_scratch();
    }

    pub(crate) fn count_written(&self, entries: usize) {
        self.entries_written.increment(entries as u64);
        self.stats.count_entries(entries);
    }

    pub(crate) fn count_bad_streams(&self, streams: usize) {
        self.bad_streams.increment(streams as u64);
    }

    #[cfg(test)]
    pub(crate) fn resolutions_computed(&self) -> u64 {
        self.cache.computed()
    }
}

/// Streams grouped by tenant and label set; one [`TenantBatch`] per tenant.
///
/// Memory per distinct stream: its [`Stream`] in the batch plus one
/// `LabelSet → index` slot in that tenant's map (16 bytes and a control
/// byte); entries are moved in, not copied. Tenants are few, so they are
/// found by a scan.
#[derive(Default)]
pub(crate) struct BatchSet {
    batches: Vec<TenantBatch>,
    /// Per batch (same index): label set → stream index.
    index: Vec<HashMap<LabelSet, usize, foldhash::fast::RandomState>>,
    last: Option<(usize, usize)>,
    scratch: Vec<PipelineEntry>,
    /// When the batches may be handed off (`limit` with `drop: false`).
    pace: Pace,
}

impl BatchSet {
    /// The entries of the stream for (`tenant`, `labels`), created empty if
    /// new.
    pub(crate) fn stream(
        &mut self,
        tenant: &Option<TenantId>,
        labels: &LabelSet,
    ) -> &mut Vec<Entry> {
        let (b, s) = match self.last {
            Some((b, s))
                if self.batches[b].tenant == *tenant
                    && self.batches[b].streams[s].labels == *labels =>
            {
                (b, s)
            }
            _ => self.locate(tenant, labels),
        };
        self.last = Some((b, s));
        &mut self.batches[b].streams[s].entries
    }

    /// Adds `entries` to the stream for (`tenant`, `labels`); a new stream
    /// takes the vector as it is, without copying.
    pub(crate) fn append(
        &mut self,
        tenant: &Option<TenantId>,
        labels: &LabelSet,
        mut entries: Vec<Entry>,
    ) {
        let stream = self.stream(tenant, labels);
        if stream.is_empty() {
            std::mem::swap(stream, &mut entries);
        } else {
            stream.append(&mut entries);
        }
    }

    fn locate(&mut self, tenant: &Option<TenantId>, labels: &LabelSet) -> (usize, usize) {
        let b = match self.batches.iter().position(|b| b.tenant == *tenant) {
            Some(b) => b,
            None => {
                self.batches.push(TenantBatch {
                    tenant: tenant.clone(),
                    streams: Vec::new(),
                });
                self.index.push(HashMap::default());
                self.batches.len() - 1
            }
        };
        let streams = &mut self.batches[b].streams;
        let s = *self.index[b].entry(labels.clone()).or_insert_with(|| {
            streams.push(Stream {
                labels: labels.clone(),
                entries: Vec::new(),
            });
            streams.len() - 1
        });
        (b, s)
    }

    fn drain_scratch(&mut self) {
        let mut scratch = std::mem::take(&mut self.scratch);
        for e in scratch.drain(..) {
            self.stream(&e.tenant, &e.labels).push(e.entry);
        }
        self.scratch = scratch;
    }

    /// What the pipeline's rate limits ask of this push (see [`Pace`]).
    pub(crate) fn pace(&self) -> Pace {
        self.pace
    }

    pub(crate) fn entry_count(&self) -> usize {
        self.batches.iter().map(TenantBatch::entry_count).sum()
    }

    /// The non-empty batches.
    pub(crate) fn into_batches(self) -> Vec<TenantBatch> {
        let mut batches = self.batches;
        for b in &mut batches {
            b.streams.retain(|s| !s.entries.is_empty());
        }
        batches.retain(|b| !b.streams.is_empty());
        batches
    }
}

/// Receive-time timestamps: `now`, then one nanosecond later for every
/// entry, so entries of one request never share a timestamp.
pub(crate) struct Clock {
    next: i64,
}

impl Clock {
    pub(crate) fn starting_now() -> Self {
        Clock { next: now_ns() }
    }

    pub(crate) fn starting_at(ns: i64) -> Self {
        Clock { next: ns }
    }

    pub(crate) fn tick(&mut self) -> i64 {
        let t = self.next;
        self.next = self.next.saturating_add(1);
        t
    }
}

/// Wall-clock nanoseconds since the Unix epoch.
pub(crate) fn now_ns() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX)
}
