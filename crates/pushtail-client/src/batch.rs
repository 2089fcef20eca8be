//! A batch of entries for one tenant, grouped by label set, and the cache
//! that merges `external_labels` into a stream's labels.
//!
//! This module never sends anything and never looks at the clock except to
//! stamp when a batch was started.

use std::collections::HashMap;

use pushtail_proto::labels::LabelSet;
use pushtail_proto::model::{Entry, Stream};
use tokio::time::Instant;

/// Entries for one tenant waiting to be sent.
pub(crate) struct Batch {
    streams: Vec<Stream>,
    /// Position in `streams` of each label set.
    index: HashMap<LabelSet, usize>,
    bytes: usize,
    entries: usize,
    created: Instant,
    /// Log position of the first delivery with an entry in this batch;
    /// everything before it is out of this batch (sent or dropped).
    first_log: Option<u64>,
}

impl Batch {
    pub(crate) fn new(created: Instant) -> Self {
        Batch {
            streams: Vec::new(),
            index: HashMap::new(),
            bytes: 0,
            entries: 0,
            created,
            first_log: None,
        }
    }

    /// The position of the stream with `labels`, created empty if new.
    #[cfg(test)]
    pub(crate) fn slot(&mut self, labels: &LabelSet) -> usize {
        self.slot_within(labels, 0).unwrap_or_default()
    }

    /// The position of the stream with `labels`, created empty if new and
    /// the batch has fewer than `max_streams` streams (0: no limit);
    /// `None` when a new stream would pass the limit.
    pub(crate) fn slot_within(&mut self, labels: &LabelSet, max_streams: usize) -> Option<usize> {
        if let Some(&i) = self.index.get(labels) {
            return Some(i);
        }
        if max_streams > 0 && self.streams.len() >= max_streams {
            return None;
        }
        let i = self.streams.len();
        self.index.insert(labels.clone(), i);
        self.streams.push(Stream {
            labels: labels.clone(),
            entries: Vec::new(),
        });
        Some(i)
    }

    /// Adds `entry` to the stream at `slot` (from [`Batch::slot`]), keeping
    /// arrival order.
    pub(crate) fn push_at(&mut self, slot: usize, entry: Entry) {
        self.bytes += entry.size();
        self.entries += 1;
        if let Some(stream) = self.streams.get_mut(slot) {
            stream.entries.push(entry);
        }
    }

    /// Adds `entry` to the stream with `labels`.
    #[cfg(test)]
    fn push(&mut self, labels: &LabelSet, entry: Entry) {
        let slot = self.slot(labels);
        self.push_at(slot, entry);
    }

    /// Bytes of line and structured metadata in the batch.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    pub(crate) fn entries(&self) -> usize {
        self.entries
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries == 0
    }

    pub(crate) fn created(&self) -> Instant {
        self.created
    }

    /// Notes that an entry of the delivery at log position `start` went in.
    pub(crate) fn note_log(&mut self, start: u64) {
        self.first_log.get_or_insert(start);
    }

    pub(crate) fn first_log(&self) -> Option<u64> {
        self.first_log
    }

    pub(crate) fn into_streams(self) -> Vec<Stream> {
        self.streams
    }
}

/// Most distinct label sets whose merge result is remembered; the cache is
/// emptied when it is full, so memory stays bounded under label churn.
const MERGE_CACHE_CAPACITY: usize = 4096;

/// Adds `external_labels` to label sets; a set's own labels win.
pub(crate) struct ExternalLabels {
    labels: Vec<(String, String)>,
    cache: HashMap<LabelSet, LabelSet>,
}

impl ExternalLabels {
    pub(crate) fn new(labels: impl IntoIterator<Item = (String, String)>) -> Self {
        ExternalLabels {
            labels: labels.into_iter().filter(|(_, v)| !v.is_empty()).collect(),
            cache: HashMap::new(),
        }
    }

    /// `own` with every external label it does not already have.
    pub(crate) fn apply(&mut self, own: &LabelSet) -> LabelSet {
        if self.labels.is_empty() {
            return own.clone();
        }
        if let Some(merged) = self.cache.get(own) {
            return merged.clone();
        }
        let mut builder = own.to_builder();
        for (name, value) in &self.labels {
            if own.get(name).is_none() {
                builder.set(name, value);
            }
        }
        // External label names are validated with the config, so this only
        // falls back to the stream's own labels if that was bypassed.
        let merged = builder.build().unwrap_or_else(|_| own.clone());
        if self.cache.len() >= MERGE_CACHE_CAPACITY {
            self.cache.clear();
        }
        self.cache.insert(own.clone(), merged.clone());
        merged
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(pairs: &[(&str, &str)]) -> LabelSet {
        LabelSet::from_pairs(pairs.iter().copied()).unwrap()
    }

    #[test]
    fn external_labels_merge_and_own_labels_win() {
        let mut ext = ExternalLabels::new([
            ("cluster".to_owned(), "eu".to_owned()),
            ("job".to_owned(), "ext".to_owned()),
        ]);
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[], r#"{cluster="eu", job="ext"}"#),
            (&[("job", "own")], r#"{cluster="eu", job="own"}"#),
            (&[("app", "a")], r#"{app="a", cluster="eu", job="ext"}"#),
            (&[("app", "a")], r#"{app="a", cluster="eu", job="ext"}"#),
        ];
        for (own, want) in cases {
            assert_eq!(ext.apply(&set(own)).as_str(), *want, "{own:?}");
        }
        let mut none = ExternalLabels::new([]);
        assert_eq!(none.apply(&set(&[("a", "1")])).as_str(), r#"{a="1"}"#);
    }

    #[test]
    fn batch_groups_by_label_set_in_arrival_order() {
        let mut b = Batch::new(Instant::now());
        let a = set(&[("a", "1")]);
        let c = set(&[("c", "1")]);
        b.push(&a, Entry::new(1, "x"));
        b.push(&c, Entry::new(2, "yy"));
        b.push(&a, Entry::new(3, "zzz"));
        assert_eq!((b.entries(), b.bytes()), (3, 6));
        let streams = b.into_streams();
        let got: Vec<(&str, Vec<i64>)> = streams
            .iter()
            .map(|s| {
                (
                    s.labels.as_str(),
                    s.entries.iter().map(|e| e.timestamp_ns).collect(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![(r#"{a="1"}"#, vec![1, 3]), (r#"{c="1"}"#, vec![2])]
        );
    }
}
