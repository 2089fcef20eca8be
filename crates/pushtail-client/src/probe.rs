//! What a client is doing, readable from any task while it runs (the
//! status page reads it): counters the sender bumps once per batch or
//! attempt, and the outcome of the latest attempt.
//!
//! Never touched per entry; the only lock is taken once per send attempt
//! and never held across an await.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::metrics::DropReason;

/// Longest error text kept for the latest attempt.
const ERROR_MAX: usize = 512;

/// The sender's side: what it records.
#[derive(Debug, Default)]
pub(crate) struct ProbeState {
    sent_entries: AtomicU64,
    retries: AtomicU64,
    dropped: [AtomicU64; 4],
    last: Mutex<Option<Attempt>>,
}

impl ProbeState {
    pub(crate) fn sent(&self, entries: u64) {
        self.sent_entries.fetch_add(entries, Ordering::Relaxed);
    }

    pub(crate) fn retried(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn dropped(&self, reason: DropReason, entries: u64) {
        self.dropped[reason as usize].fetch_add(entries, Ordering::Relaxed);
    }

    /// The outcome of one attempt: an HTTP status (`None`: no answer) and,
    /// for failures, the error.
    pub(crate) fn attempted(&self, status: Option<u16>, error: Option<&str>) {
        let attempt = Attempt {
            at: SystemTime::now(),
            status,
            error: error.map(|e| shorten(e, ERROR_MAX)),
        };
        if let Ok(mut last) = self.last.lock() {
            *last = Some(attempt);
        }
    }
}

/// A running client's state, cheap to clone and to read.
#[derive(Debug, Clone)]
pub struct Probe {
    pub(crate) url: String,
    pub(crate) state: Arc<ProbeState>,
    pub(crate) pending: Arc<AtomicU64>,
}

/// One reading of a [`Probe`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSnapshot {
    /// The configured URL with any password masked.
    pub url: String,
    /// Entries taken from the queue and not yet sent or dropped.
    pub pending_entries: u64,
    pub sent_entries: u64,
    /// Attempts that failed and were retried.
    pub retries: u64,
    /// Dropped entries per reason (`ingester_error`, `rate_limited`,
    /// `stream_limited`, `line_too_long`), every reason listed.
    pub dropped_entries: Vec<(&'static str, u64)>,
    pub last_attempt: Option<Attempt>,
}

/// The outcome of a send attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub at: SystemTime,
    /// The HTTP status; `None` when no answer came (network error, timeout).
    pub status: Option<u16>,
    /// What went wrong, for failed attempts.
    pub error: Option<String>,
}

impl Probe {
    pub fn snapshot(&self) -> ClientSnapshot {
        let state = &self.state;
        ClientSnapshot {
            url: self.url.clone(),
            pending_entries: self.pending.load(Ordering::Relaxed),
            sent_entries: state.sent_entries.load(Ordering::Relaxed),
            retries: state.retries.load(Ordering::Relaxed),
            dropped_entries: DropReason::ALL
                .iter()
                .map(|r| {
                    (
                        r.as_str(),
                        state.dropped[*r as usize].load(Ordering::Relaxed),
                    )
                })
                .collect(),
            last_attempt: state.last.lock().ok().and_then(|last| last.clone()),
        }
    }
}

/// `s` cut to at most `max` bytes on a character boundary.
fn shorten(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_reads_what_the_sender_recorded() {
        let probe = Probe {
            url: "http://loki/push".to_owned(),
            state: Arc::default(),
            pending: Arc::new(AtomicU64::new(7)),
        };
        assert_eq!(probe.snapshot().last_attempt, None);
        probe.state.sent(10);
        probe.state.retried();
        probe.state.dropped(DropReason::RateLimited, 3);
        probe.state.attempted(Some(429), Some(&"é".repeat(400)));
        let snap = probe.snapshot();
        assert_eq!(snap.pending_entries, 7);
        assert_eq!(snap.sent_entries, 10);
        assert_eq!(snap.retries, 1);
        assert_eq!(
            snap.dropped_entries,
            vec![
                ("ingester_error", 0),
                ("rate_limited", 3),
                ("stream_limited", 0),
                ("line_too_long", 0)
            ]
        );
        let last = snap.last_attempt.expect("an attempt");
        assert_eq!(last.status, Some(429));
        let error = last.error.expect("an error");
        assert!(error.len() <= ERROR_MAX + '…'.len_utf8(), "{}", error.len());
        assert!(error.ends_with('…'));
    }
}
