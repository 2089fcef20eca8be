//! Entries, streams and per-tenant batches: the unit the receiver hands to
//! the clients.

use bytes::Bytes;

use crate::labels::LabelSet;
use crate::tenant::TenantId;

/// One log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Nanoseconds since the Unix epoch.
    pub timestamp_ns: i64,
    /// The line's bytes, usually a slice of the decoded request body. Lines
    /// are passed through as bytes; see ARCHITECTURE.md on invalid UTF-8.
    pub line: Bytes,
    /// Loki structured metadata, in the order it was received.
    pub structured_metadata: Vec<(String, String)>,
}

impl Entry {
    pub fn new(timestamp_ns: i64, line: impl Into<Bytes>) -> Self {
        Entry {
            timestamp_ns,
            line: line.into(),
            structured_metadata: Vec::new(),
        }
    }

    /// Bytes this entry counts for in batch sizes and metrics: the line plus
    /// every structured metadata name and value.
    pub fn size(&self) -> usize {
        self.line.len()
            + self
                .structured_metadata
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>()
    }
}

/// Entries sharing one label set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stream {
    pub labels: LabelSet,
    pub entries: Vec<Entry>,
}

/// Streams bound for one tenant (`None`: no `X-Scope-OrgID`, the client's
/// default applies). This is what the receiver hands to every client.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TenantBatch {
    pub tenant: Option<TenantId>,
    pub streams: Vec<Stream>,
}

impl TenantBatch {
    pub fn entry_count(&self) -> usize {
        self.streams.iter().map(|s| s.entries.len()).sum()
    }

    /// Sum of [`Entry::size`] over all entries.
    pub fn size(&self) -> usize {
        self.streams
            .iter()
            .flat_map(|s| &s.entries)
            .map(Entry::size)
            .sum()
    }
}

/// Where a [`Delivery`]'s record sits in the write-ahead log: the byte
/// positions of its start and of the record after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogSpan {
    pub start: u64,
    pub end: u64,
}

/// Everything one accepted push hands to a client: its batches, one per
/// tenant. A client's queue takes or refuses a delivery as one unit, so a
/// refused push never leaves part of itself behind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    pub batches: Vec<TenantBatch>,
    /// Set when the delivery was read back from the write-ahead log; the
    /// client reports how far it has delivered in these positions.
    pub log: Option<LogSpan>,
}

impl Delivery {
    pub fn new(batches: Vec<TenantBatch>) -> Self {
        Delivery { batches, log: None }
    }

    pub fn entry_count(&self) -> usize {
        self.batches.iter().map(TenantBatch::entry_count).sum()
    }
}
