//! The status page (`GET /`) and its JSON twin (`GET /api/v1/status`) on
//! the shared server: what each listener and target received and refused,
//! and what each client is doing.
//!
//! Per-target counters are atomics bumped once per request (never per
//! entry, never under a lock); the last rejection is swapped in only when a
//! request is refused. The clients are reported by a [`StatusSource`] the
//! binary attaches, so this crate never depends on the client crate. Every
//! string a user or a peer controls (labels, URLs, reasons) is escaped by
//! the template engine; nothing here is rendered without it.

mod html;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Instant, SystemTime};

use arc_swap::{ArcSwap, ArcSwapOption};
use http::StatusCode;
use serde::{Serialize, Serializer};

use crate::error::excerpt;
use crate::service::Routing;
use crate::TargetSpec;

pub(crate) use html::render_html;

/// Longest rejection reason kept for the page.
const REASON_MAX: usize = 512;

/// Seconds between the page's self-refreshes.
pub(crate) const REFRESH_SECONDS: u32 = 5;

/// What the binary knows and the receiver does not: the clients. Called
/// once per status request, from an async worker, so it must not block.
pub trait StatusSource: Send + Sync {
    fn clients(&self) -> Vec<ClientStatus>;
}

/// One client as the status page shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ClientStatus {
    /// The push URL with any password masked.
    pub url: String,
    /// Deliveries (accepted pushes) waiting in its queue.
    pub queue_depth: u64,
    pub queue_capacity: u64,
    /// Entries taken from the queue and not yet sent or dropped.
    pub pending_entries: u64,
    pub sent_entries: u64,
    /// Retried send attempts.
    pub retries: u64,
    pub last_send: Option<LastSend>,
    /// Dropped entries by reason (`ingester_error`, `rate_limited`, ...).
    pub dropped_entries: BTreeMap<String, u64>,
    /// Bytes of the write-ahead log this client has not yet delivered;
    /// `None` without a log.
    pub wal_lag_bytes: Option<u64>,
}

/// The outcome of a client's latest send attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LastSend {
    #[serde(serialize_with = "rfc3339")]
    pub at: SystemTime,
    /// The HTTP status; `None` when there was no answer (network error,
    /// timeout).
    pub status: Option<u16>,
    /// The error, for failed attempts.
    pub error: Option<String>,
}

/// Everything the page shows, as `/api/v1/status` returns it.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub version: String,
    #[serde(serialize_with = "rfc3339")]
    pub started_at: SystemTime,
    pub uptime_seconds: u64,
    pub listeners: Vec<ListenerStatus>,
    pub clients: Vec<ClientStatus>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ListenerStatus {
    pub address: String,
    /// The shared server (the `server` block); otherwise a job's own
    /// `loki_push_api` listener.
    pub shared: bool,
    pub targets: Vec<TargetStatus>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetStatus {
    pub job: String,
    pub base_url: String,
    /// The configured `labels` (an empty value deletes the label).
    pub labels: BTreeMap<String, String>,
    pub relabel_rules: usize,
    pub pipeline_stages: usize,
    /// `tenant_id` pinned by the target, overriding `X-Scope-OrgID`.
    pub tenant_id: Option<String>,
    #[serde(flatten)]
    pub counters: TargetCounters,
    pub last_rejection: Option<Rejection>,
}

/// A target's counters since start (kept across reloads, by job name).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TargetCounters {
    /// Pushes answered 2xx.
    pub pushes_accepted: u64,
    /// Entries handed to the clients (after relabeling and stages).
    pub entries: u64,
    /// Request body bytes read, as sent (before decompression).
    pub bytes: u64,
    /// Pushes answered 4xx.
    pub rejected_4xx: u64,
    /// Pushes answered 503.
    pub rejected_503: u64,
}

/// The latest refused push of a target: what the pusher was told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejection {
    pub status: u16,
    pub reason: String,
    #[serde(serialize_with = "rfc3339")]
    pub at: SystemTime,
}

/// A target's live counters.
#[derive(Debug, Default)]
pub(crate) struct TargetStats {
    pushes_accepted: AtomicU64,
    entries: AtomicU64,
    bytes: AtomicU64,
    rejected_4xx: AtomicU64,
    rejected_503: AtomicU64,
    last_rejection: ArcSwapOption<Rejection>,
}

impl TargetStats {
    pub(crate) fn count_entries(&self, entries: usize) {
        self.entries.fetch_add(entries as u64, Ordering::Relaxed);
    }

    /// One push answered 2xx, `bytes` long.
    pub(crate) fn accepted(&self, bytes: usize) {
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        self.pushes_accepted.fetch_add(1, Ordering::Relaxed);
    }

    /// One push refused with `status`; `reason` is what the pusher was told
    /// (only formatted here, on the refusal path).
    pub(crate) fn rejected(&self, status: StatusCode, bytes: usize, reason: impl ToString) {
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        // Anything else is a 4xx (a 500 would be a bug; counted there too).
        let counter = if status == StatusCode::SERVICE_UNAVAILABLE {
            &self.rejected_503
        } else {
            &self.rejected_4xx
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let reason = reason.to_string();
        self.last_rejection.store(Some(Arc::new(Rejection {
            status: status.as_u16(),
            reason: excerpt(reason.trim_end(), REASON_MAX).into_owned(),
            at: SystemTime::now(),
        })));
    }

    pub(crate) fn counters(&self) -> TargetCounters {
        TargetCounters {
            pushes_accepted: self.pushes_accepted.load(Ordering::Relaxed),
            entries: self.entries.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            rejected_4xx: self.rejected_4xx.load(Ordering::Relaxed),
            rejected_503: self.rejected_503.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn last_rejection(&self) -> Option<Rejection> {
        self.last_rejection.load_full().map(|r| (*r).clone())
    }
}

/// One listener as the board sees it: its address and its current routing.
pub(crate) struct ListenerView {
    pub address: SocketAddr,
    pub shared: bool,
    pub routing: Arc<ArcSwap<Routing>>,
}

/// What the status endpoints read: every listener, the start time, and
/// (once the binary attaches it) the client source.
pub(crate) struct StatusBoard {
    started: Instant,
    started_at: SystemTime,
    listeners: Vec<ListenerView>,
    attached: OnceLock<(String, Arc<dyn StatusSource>)>,
}

impl StatusBoard {
    pub(crate) fn new(listeners: Vec<ListenerView>) -> Self {
        StatusBoard {
            started: Instant::now(),
            started_at: SystemTime::now(),
            listeners,
            attached: OnceLock::new(),
        }
    }

    /// Sets the version and the client source; the first call wins.
    pub(crate) fn attach(&self, version: String, source: Arc<dyn StatusSource>) {
        let _ = self.attached.set((version, source));
    }

    pub(crate) fn snapshot(&self) -> Status {
        let (version, clients) = match self.attached.get() {
            Some((version, source)) => (version.clone(), source.clients()),
            None => (env!("CARGO_PKG_VERSION").to_owned(), Vec::new()),
        };
        Status {
            version,
            started_at: self.started_at,
            uptime_seconds: self.started.elapsed().as_secs(),
            listeners: self.listeners.iter().map(listener_status).collect(),
            clients,
        }
    }
}

fn listener_status(view: &ListenerView) -> ListenerStatus {
    let routing = view.routing.load();
    ListenerStatus {
        address: view.address.to_string(),
        shared: view.shared,
        targets: routing
            .targets
            .iter()
            .map(|t| target_status(&t.spec, &t.stats))
            .collect(),
    }
}

fn target_status(spec: &TargetSpec, stats: &TargetStats) -> TargetStatus {
    TargetStatus {
        job: spec.job_name.clone(),
        base_url: crate::normalize_base_url(&spec.base_url),
        labels: spec.labels.iter().cloned().collect(),
        relabel_rules: spec.relabel.len(),
        pipeline_stages: spec.pipeline.len(),
        tenant_id: spec.tenant_id.as_ref().map(|t| t.as_str().to_owned()),
        counters: stats.counters(),
        last_rejection: stats.last_rejection(),
    }
}

/// The JSON body of `/api/v1/status`.
pub(crate) fn render_json(status: &Status) -> String {
    // Plain data with string keys: serialising it cannot fail.
    serde_json::to_string_pretty(status).unwrap_or_default()
}

/// RFC 3339 UTC with milliseconds, as the page and the JSON show times.
pub(crate) fn format_time(at: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(at).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn rfc3339<S: Serializer>(at: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_time(*at))
}
