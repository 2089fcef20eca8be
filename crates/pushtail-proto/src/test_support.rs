//! Proptest strategies shared by the codec tests.

use bytes::Bytes;
use proptest::prelude::*;

use crate::labels::LabelSet;
use crate::model::{Entry, Stream};

/// Text with the characters codecs get wrong: quotes, backslashes,
/// newlines, control characters, backticks and non-ASCII.
pub(crate) fn odd_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9 ]{0,12}",
        ".{0,12}",
        "[\"\\\\`'\n\r\t\u{0}-\u{1f}\u{7f}-\u{a0}é日\u{1F600}{}=,]{0,12}",
    ]
}

pub(crate) fn label_set() -> impl Strategy<Value = LabelSet> {
    proptest::collection::btree_map("[a-zA-Z_][a-zA-Z0-9_]{0,6}", odd_text(), 0..5)
        .prop_map(|m| LabelSet::from_pairs(m).unwrap())
}

pub(crate) fn entry(max_ts: i64) -> impl Strategy<Value = Entry> {
    (
        0..max_ts,
        odd_text(),
        proptest::collection::vec(("[a-zA-Z_][a-zA-Z0-9_]{0,6}", odd_text()), 0..3),
    )
        .prop_map(|(timestamp_ns, line, structured_metadata)| Entry {
            timestamp_ns,
            line: Bytes::from(line),
            structured_metadata,
        })
}

pub(crate) fn streams(max_ts: i64) -> impl Strategy<Value = Vec<Stream>> {
    proptest::collection::vec(
        (label_set(), proptest::collection::vec(entry(max_ts), 0..4))
            .prop_map(|(labels, entries)| Stream { labels, entries }),
        0..4,
    )
}
