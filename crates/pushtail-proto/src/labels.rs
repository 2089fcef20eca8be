//! Label sets: sorted, unique, validated label pairs with their canonical
//! Loki rendering computed once.
//!
//! A [`LabelSet`] is immutable and cheap to clone (one `Arc`). It is built by
//! [`LabelsBuilder`], which is where label edits (target labels, relabeling,
//! pipeline stages) happen. Because a set is always in canonical form, its
//! rendering (`{a="x", b="y"}`) is exactly what Loki would print, and it is
//! computed once per distinct set rather than once per entry.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// Why a label set could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    #[error("invalid label name {0:?}")]
    InvalidName(String),
    #[error("duplicate label name {0:?}")]
    DuplicateName(String),
}

/// True when `name` is a valid Prometheus label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A sorted set of label pairs with unique, valid names and non-empty values.
#[derive(Clone)]
pub struct LabelSet {
    inner: Arc<Inner>,
}

/// One allocation for the text, one for the offsets (plus the `Arc`),
/// however many labels: a set is kept per distinct stream of a request and
/// per cached resolution, so its size is most of a stream's cost.
struct Inner {
    /// The canonical rendering, then every name and value unescaped,
    /// back to back: `{a="x", b="y"}axby`.
    text: Box<str>,
    /// Where the rendering ends and, per pair, where its name and its value
    /// end in `text`.
    rendered_len: usize,
    ends: Box<[usize]>,
    /// Hash of the rendering, computed once, so maps keyed by label set (the
    /// client's batches, the receiver's per-request grouping) hash 8 bytes
    /// instead of the whole rendering for every lookup.
    hash: u64,
}

impl LabelSet {
    /// The empty set, `{}`.
    pub fn empty() -> Self {
        Self::from_sorted_unchecked(Vec::new())
    }

    /// Builds a set from pairs in any order. Pairs with an empty value are
    /// dropped (Loki treats `a=""` as "no label a"); names must be valid and
    /// unique.
    pub fn from_pairs<I, K, V>(pairs: I) -> Result<Self, LabelError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let mut v: Vec<(String, String)> = pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .filter(|(_, v)| !v.is_empty())
            .collect();
        if let Some((name, _)) = v.iter().find(|(k, _)| !is_valid_label_name(k)) {
            return Err(LabelError::InvalidName(name.clone()));
        }
        v.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        if let Some(w) = v.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(LabelError::DuplicateName(w[0].0.clone()));
        }
        Ok(Self::from_sorted_unchecked(v))
    }

    fn from_sorted_unchecked(pairs: Vec<(String, String)>) -> Self {
        let raw: usize = pairs.iter().map(|(k, v)| k.len() + v.len()).sum();
        let mut text = String::with_capacity(2 + raw + 5 * pairs.len() + raw);
        render_into(
            &mut text,
            pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        );
        let rendered_len = text.len();
        let hash = {
            let mut h = std::hash::DefaultHasher::new();
            text.hash(&mut h);
            h.finish()
        };
        let mut ends = Vec::with_capacity(2 * pairs.len());
        for (k, v) in &pairs {
            text.push_str(k);
            ends.push(text.len());
            text.push_str(v);
            ends.push(text.len());
        }
        LabelSet {
            inner: Arc::new(Inner {
                text: text.into_boxed_str(),
                rendered_len,
                ends: ends.into_boxed_slice(),
                hash,
            }),
        }
    }

    /// The `i`th pair in name order.
    fn pair(&self, i: usize) -> (&str, &str) {
        let inner = &*self.inner;
        let start = match i {
            0 => inner.rendered_len,
            _ => inner.ends[2 * i - 1],
        };
        let (name_end, value_end) = (inner.ends[2 * i], inner.ends[2 * i + 1]);
        (
            &inner.text[start..name_end],
            &inner.text[name_end..value_end],
        )
    }

    /// The value of label `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let (k, v) = self.pair(mid);
            match k.cmp(name) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(v),
            }
        }
        None
    }

    /// Pairs in name order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + '_ {
        (0..self.len()).map(|i| self.pair(i))
    }

    pub fn len(&self) -> usize {
        self.inner.ends.len() / 2
    }

    pub fn is_empty(&self) -> bool {
        self.inner.ends.is_empty()
    }

    /// The canonical Loki rendering, e.g. `{app="api", env="prod"}`.
    pub fn as_str(&self) -> &str {
        &self.inner.text[..self.inner.rendered_len]
    }

    /// A builder seeded with this set, for edits.
    pub fn to_builder(&self) -> LabelsBuilder {
        LabelsBuilder {
            pairs: self
                .iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        }
    }
}

impl Default for LabelSet {
    fn default() -> Self {
        Self::empty()
    }
}

impl PartialEq for LabelSet {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
            || (self.inner.hash == other.inner.hash && self.as_str() == other.as_str())
    }
}

impl Eq for LabelSet {}

impl Hash for LabelSet {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.inner.hash);
    }
}

impl fmt::Display for LabelSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for LabelSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A mutable, unsorted working copy of a label set.
///
/// Setting a label to the empty string deletes it, as in Prometheus
/// relabeling and Loki. Names are validated when the set is built, so rules
/// may pass through invalid intermediate states.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelsBuilder {
    pairs: Vec<(String, String)>,
}

impl LabelsBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Sets `name` to `value`; an empty value removes the label.
    pub fn set(&mut self, name: &str, value: &str) {
        if value.is_empty() {
            self.remove(name);
            return;
        }
        match self.pairs.iter_mut().find(|(k, _)| k == name) {
            Some((_, v)) => {
                v.clear();
                v.push_str(value);
            }
            None => self.pairs.push((name.to_owned(), value.to_owned())),
        }
    }

    pub fn remove(&mut self, name: &str) {
        self.pairs.retain(|(k, _)| k != name);
    }

    /// Keeps only the labels for which `keep(name, value)` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &str) -> bool) {
        self.pairs.retain(|(k, v)| keep(k, v));
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Validates and sorts into a [`LabelSet`].
    pub fn build(self) -> Result<LabelSet, LabelError> {
        LabelSet::from_pairs(self.pairs)
    }
}

/// Renders pairs (already sorted) in Loki's canonical form:
/// `{a="x", b="y"}`, values quoted as Go's `strconv.Quote` does.
fn render_into<'a>(out: &mut String, pairs: impl Iterator<Item = (&'a str, &'a str)>) {
    out.push('{');
    for (i, (k, v)) in pairs.enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(k);
        out.push('=');
        quote_into(out, v);
    }
    out.push('}');
}

/// Appends `s` as a double-quoted Go string literal.
pub fn quote_into(out: &mut String, s: &str) {
    use fmt::Write;
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{07}' => out.push_str("\\a"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '\u{0b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_names() {
        for (name, ok) in [
            ("a", true),
            ("_", true),
            ("__tenant_id__", true),
            ("A9_b", true),
            ("", false),
            ("9a", false),
            ("a-b", false),
            ("a.b", false),
            ("é", false),
        ] {
            assert_eq!(is_valid_label_name(name), ok, "{name:?}");
        }
    }

    #[test]
    fn sets_are_sorted_and_rendered() {
        let set =
            LabelSet::from_pairs([("job", "x"), ("app", "a\"b\\c\nd"), ("gone", "")]).unwrap();
        assert_eq!(set.as_str(), r#"{app="a\"b\\c\nd", job="x"}"#);
        assert_eq!(set.get("job"), Some("x"));
        assert_eq!(set.get("gone"), None);
        assert_eq!(set.get("app"), Some("a\"b\\c\nd"));
        assert_eq!(set.get("zzz"), None);
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            [("app", "a\"b\\c\nd"), ("job", "x")]
        );
        assert_eq!(set.len(), 2);
        assert!(LabelSet::empty().is_empty());
        assert_eq!(LabelSet::empty().iter().count(), 0);
        assert_eq!(LabelSet::empty().as_str(), "{}");
        assert_eq!(
            LabelSet::from_pairs([("a", "1"), ("a", "2")]),
            Err(LabelError::DuplicateName("a".into()))
        );
        assert_eq!(
            LabelSet::from_pairs([("a-b", "1")]),
            Err(LabelError::InvalidName("a-b".into()))
        );
    }

    #[test]
    fn builder_edits() {
        let mut b = LabelSet::from_pairs([("a", "1"), ("b", "2")])
            .unwrap()
            .to_builder();
        b.set("c", "3");
        b.set("a", "");
        b.set("b", "two");
        assert_eq!(b.build().unwrap().as_str(), r#"{b="two", c="3"}"#);
    }
}
