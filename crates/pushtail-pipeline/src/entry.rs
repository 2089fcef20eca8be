//! The working state of one entry while it runs through the stages.
//!
//! [`StageEntry`] is what every stage reads and edits: labels, the extracted
//! map (seeded from the labels, as Promtail does), the line, timestamp,
//! structured metadata, tenant and the drop decision. It tracks which parts
//! changed so that an entry no stage touched leaves the pipeline without a
//! new label set or a copy of its line. It must never do I/O.

use std::borrow::Cow;
use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use pushtail_proto::labels::{is_valid_label_name, LabelSet, LabelsBuilder};
use pushtail_proto::model::Entry;
use pushtail_proto::tenant::TenantId;
use serde_json::Value;

use crate::pipeline::Pace;

/// The label Promtail keeps an entry's tenant in; here it maps to
/// [`StageEntry::tenant`].
pub(crate) const TENANT_LABEL: &str = "__tenant_id__";

/// The extracted map: Promtail's `map[string]interface{}`.
pub(crate) type Extracted = HashMap<String, Value>;

/// One entry in flight through the stages.
#[derive(Debug, Clone)]
pub(crate) struct StageEntry {
    original_labels: LabelSet,
    labels: Option<LabelsBuilder>,
    extracted: Option<Extracted>,
    original_line: Bytes,
    line: Option<String>,
    /// Nanoseconds since the Unix epoch.
    pub(crate) timestamp_ns: i64,
    /// Loki structured metadata, in order.
    pub(crate) metadata: Vec<(String, String)>,
    pub(crate) tenant: Option<TenantId>,
    /// `Some(reason)` once a stage dropped the entry; later stages don't run.
    pub(crate) dropped: Option<Cow<'static, str>>,
    /// What `limit` with `drop: false` asks of the push (see [`Pace`]).
    pub(crate) pace: Pace,
    /// The longest `limit` may hold the push back (the server's
    /// `push_timeout`); a token due later refuses the push instead.
    pub(crate) max_delay: Duration,
}

impl StageEntry {
    pub(crate) fn new(labels: LabelSet, entry: Entry, tenant: Option<TenantId>) -> Self {
        StageEntry {
            original_labels: labels,
            labels: None,
            extracted: None,
            original_line: entry.line,
            line: None,
            timestamp_ns: entry.timestamp_ns,
            metadata: entry.structured_metadata,
            tenant,
            dropped: None,
            pace: Pace::Now,
            max_delay: crate::pipeline::DEFAULT_MAX_DELAY,
        }
    }

    /// A test/helper constructor from a line and label pairs.
    #[cfg(test)]
    pub(crate) fn from_parts(labels: &[(&str, &str)], line: &str, timestamp_ns: i64) -> Self {
        let set = LabelSet::from_pairs(labels.iter().copied()).unwrap_or_default();
        StageEntry::new(set, Entry::new(timestamp_ns, line.to_owned()), None)
    }

    // ---- labels ----

    /// The current value of label `name`. `__tenant_id__` is the entry's
    /// tenant, as Promtail keeps the tenant in that label.
    pub(crate) fn label(&self, name: &str) -> Option<&str> {
        if name == TENANT_LABEL {
            return self.tenant.as_ref().map(TenantId::as_str);
        }
        match &self.labels {
            Some(b) => b.get(name),
            None => self.original_labels.get(name),
        }
    }

    /// Current labels as borrowed pairs (unsorted once edited), without
    /// allocating.
    pub(crate) fn label_iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        let (edited, original) = match &self.labels {
            Some(b) => (Some(b.iter()), None),
            None => (None, Some(self.original_labels.iter())),
        };
        edited
            .into_iter()
            .flatten()
            .chain(original.into_iter().flatten())
    }

    /// Current labels as pairs (unsorted once edited).
    pub(crate) fn label_pairs(&self) -> Vec<(String, String)> {
        match &self.labels {
            Some(b) => b
                .iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            None => self
                .original_labels
                .iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        }
    }

    /// A hash of the current label set (order-independent), the key of
    /// per-stream state in stages.
    pub(crate) fn labels_key(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut pairs = self.label_pairs();
        pairs.sort_unstable();
        let mut h = std::collections::hash_map::DefaultHasher::new();
        pairs.hash(&mut h);
        h.finish()
    }

    /// The labels for editing; marks them changed.
    pub(crate) fn labels_mut(&mut self) -> &mut LabelsBuilder {
        let original = &self.original_labels;
        self.labels.get_or_insert_with(|| original.to_builder())
    }

    /// Sets a label (an empty value deletes it). Invalid names are ignored,
    /// as Promtail ignores them.
    pub(crate) fn set_label(&mut self, name: &str, value: &str) {
        if name == TENANT_LABEL {
            // Becomes the entry's tenant (an invalid one is ignored, as a
            // stage's unusable value is), never a label sent to Loki.
            if value.is_empty() {
                self.tenant = None;
            } else if let Ok(t) = TenantId::new(value) {
                self.tenant = Some(t);
            }
            return;
        }
        if !is_valid_label_name(name) {
            return;
        }
        if self.label(name) == Some(value) {
            return;
        }
        self.labels_mut().set(name, value);
    }

    pub(crate) fn remove_label(&mut self, name: &str) {
        if name == TENANT_LABEL {
            self.tenant = None;
            return;
        }
        if self.label(name).is_some() {
            self.labels_mut().remove(name);
        }
    }

    /// The final label set: the original when no stage changed it.
    pub(crate) fn finish_labels(&mut self) -> LabelSet {
        match self.labels.take() {
            None => self.original_labels.clone(),
            Some(mut b) => {
                b.retain(|k, _| is_valid_label_name(k));
                b.build().unwrap_or_else(|_| self.original_labels.clone())
            }
        }
    }

    // ---- extracted map ----

    /// The extracted map, seeded from the entry's labels at first use.
    pub(crate) fn extracted(&mut self) -> &Extracted {
        self.extracted_mut()
    }

    /// The extracted map for edits, seeded from the entry's labels at first use.
    pub(crate) fn extracted_mut(&mut self) -> &mut Extracted {
        if self.extracted.is_none() {
            self.extracted = Some(self.seed_extracted());
        }
        self.extracted.get_or_insert_with(Extracted::new)
    }

    /// The extracted map as it is, or as it would be seeded now, without
    /// seeding it (for `-inspect`, which must not change what stages see).
    pub(crate) fn extracted_peek(&self) -> Cow<'_, Extracted> {
        match &self.extracted {
            Some(m) => Cow::Borrowed(m),
            None => Cow::Owned(self.seed_extracted()),
        }
    }

    fn seed_extracted(&self) -> Extracted {
        self.original_labels
            .iter()
            .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())))
            .chain(
                self.tenant
                    .iter()
                    .map(|t| (TENANT_LABEL.to_owned(), Value::String(t.to_string()))),
            )
            .collect()
    }

    /// An extracted value as a string, as Promtail's `getString` converts it.
    pub(crate) fn extracted_string(&mut self, key: &str) -> Option<String> {
        self.extracted().get(key).and_then(value_to_string)
    }

    /// What a parsing stage reads: the extracted value `source` as text,
    /// or the line when there is no source. `None` when the source is
    /// missing (the stage then does nothing, as in Promtail).
    pub(crate) fn source_text(&mut self, source: Option<&str>) -> Option<String> {
        match source {
            Some(src) => self.extracted_string(src),
            None => Some(self.line().into_owned()),
        }
    }

    // ---- line ----

    /// The line as text (invalid UTF-8 replaced).
    pub(crate) fn line(&self) -> Cow<'_, str> {
        match &self.line {
            Some(s) => Cow::Borrowed(s.as_str()),
            None => String::from_utf8_lossy(&self.original_line),
        }
    }

    pub(crate) fn set_line(&mut self, line: String) {
        self.line = Some(line);
    }

    /// The final line: the original bytes when no stage changed it.
    pub(crate) fn finish_line(&mut self) -> Bytes {
        match self.line.take() {
            Some(s) => Bytes::from(s),
            None => self.original_line.clone(),
        }
    }

    // ---- drop ----

    /// Drops the entry, counted under `reason`.
    pub(crate) fn drop_with(&mut self, reason: impl Into<Cow<'static, str>>) {
        if self.dropped.is_none() {
            self.dropped = Some(reason.into());
        }
    }

    pub(crate) fn is_dropped(&self) -> bool {
        self.dropped.is_some()
    }
}

/// Converts an extracted value to a string as Promtail's `getString` does:
/// strings as is, numbers in shortest decimal form, booleans as
/// `true`/`false`. Null, objects and arrays have no string form.
pub(crate) fn value_to_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(number_to_string(n)),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

fn number_to_string(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    // Rust's Display for f64 is the shortest round-trip form without an
    // exponent, like Go's FormatFloat(f, 'f', -1, 64).
    n.as_f64().map(|f| f.to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untouched_entry_keeps_its_parts() {
        let mut e = StageEntry::from_parts(&[("app", "a")], "hello", 5);
        assert_eq!(e.extracted_string("app").as_deref(), Some("a"));
        let labels = e.finish_labels();
        assert_eq!(labels.as_str(), r#"{app="a"}"#);
        assert_eq!(e.finish_line(), Bytes::from_static(b"hello"));
    }

    #[test]
    fn value_strings() {
        for (v, want) in [
            (serde_json::json!("x"), Some("x")),
            (serde_json::json!(1), Some("1")),
            (serde_json::json!(1.5), Some("1.5")),
            (serde_json::json!(true), Some("true")),
            (serde_json::json!(null), None),
            (serde_json::json!([1]), None),
        ] {
            assert_eq!(value_to_string(&v).as_deref(), want, "{v}");
        }
    }
}
