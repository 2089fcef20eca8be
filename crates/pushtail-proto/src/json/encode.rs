//! The JSON push encoder. Lines that are not valid UTF-8 are written with
//! U+FFFD replacements: JSON strings cannot carry arbitrary bytes. It never
//! fails: serialising strings into a `Vec` cannot.

use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::Serialize;

use crate::labels::LabelSet;
use crate::model::{Entry, Stream};

/// Encodes `streams` as a JSON push body.
pub fn encode_push_json(streams: &[Stream]) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        64 + streams
            .iter()
            .flat_map(|s| &s.entries)
            .map(|e| e.size() + 32)
            .sum::<usize>(),
    );
    let mut ser = serde_json::Serializer::new(&mut out);
    // Serialising plain strings and maps into a Vec cannot fail.
    let _ = PushOut(streams).serialize(&mut ser);
    out
}

struct PushOut<'a>(&'a [Stream]);

impl Serialize for PushOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry("streams", &Seq(self.0.iter().map(StreamOut)))?;
        m.end()
    }
}

/// Serialises an iterator (cloned per call) as a JSON array.
struct Seq<I>(I);

impl<I: Iterator<Item = T> + Clone, T: Serialize> Serialize for Seq<I> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        for item in self.0.clone() {
            seq.serialize_element(&item)?;
        }
        seq.end()
    }
}

/// Serialises string pairs as a JSON object, in order.
struct Pairs<I>(I);

impl<'a, I: Iterator<Item = (&'a str, &'a str)> + Clone> Serialize for Pairs<I> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        for (k, v) in self.0.clone() {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

struct LabelsOut<'a>(&'a LabelSet);

impl Serialize for LabelsOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0.iter() {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

struct StreamOut<'a>(&'a Stream);

impl Serialize for StreamOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("stream", &LabelsOut(&self.0.labels))?;
        m.serialize_entry("values", &Seq(self.0.entries.iter().map(EntryOut)))?;
        m.end()
    }
}

struct EntryOut<'a>(&'a Entry);

impl Serialize for EntryOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let e = self.0;
        let sm = &e.structured_metadata;
        let mut seq = s.serialize_seq(Some(if sm.is_empty() { 2 } else { 3 }))?;
        seq.serialize_element(&e.timestamp_ns.to_string())?;
        seq.serialize_element(&String::from_utf8_lossy(&e.line))?;
        if !sm.is_empty() {
            seq.serialize_element(&Pairs(sm.iter().map(|(k, v)| (k.as_str(), v.as_str()))))?;
        }
        seq.end()
    }
}
