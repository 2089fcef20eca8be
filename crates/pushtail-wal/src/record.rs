//! One record: the batches of one accepted push, as they will be sent
//! (after relabeling and stages, with final timestamps and tenants).
//!
//! Frame: `len: u32 LE`, `crc: u32 LE` (CRC-32 of the length bytes and the
//! payload), then `len` payload bytes. Payload, all integers little endian:
//!
//! ```text
//! u32 batches
//!   per batch:  u8 has_tenant, [u32 len, tenant bytes], u32 streams
//!   per stream: u32 labels, per label: u32 len, name, u32 len, value
//!               u32 entries
//!   per entry:  i64 timestamp_ns, u32 len, line bytes, u32 metadata,
//!               per pair: u32 len, name, u32 len, value
//! ```
//!
//! Decoding never panics and never trusts a length: every read is checked
//! against what is left of the payload.

use std::collections::HashMap;

use bytes::Bytes;
use pushtail_proto::labels::LabelSet;
use pushtail_proto::model::{Entry, Stream, TenantBatch};
use pushtail_proto::tenant::TenantId;

/// Bytes of the frame header (`len` and `crc`).
pub(crate) const HEADER: usize = 8;

/// Why a payload could not be decoded (the checksum matched, so this is a
/// bug or a format from another version, not a torn write).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("record ends early at byte {0}")]
    Truncated(usize),
    #[error("record has invalid utf-8 in {0}")]
    Utf8(&'static str),
    #[error("record has an invalid tenant: {0}")]
    Tenant(String),
    #[error("record has invalid labels: {0}")]
    Labels(String),
    #[error("record has {0} bytes after its last batch")]
    Trailing(usize),
}

/// Appends the framed record of `batches` to `out`.
pub(crate) fn encode(batches: &[TenantBatch], out: &mut Vec<u8>) {
    let frame_start = out.len();
    out.extend_from_slice(&[0; HEADER]);
    put_u32(out, batches.len());
    for batch in batches {
        match &batch.tenant {
            Some(t) => {
                out.push(1);
                put_bytes(out, t.as_str().as_bytes());
            }
            None => out.push(0),
        }
        put_u32(out, batch.streams.len());
        for stream in &batch.streams {
            put_u32(out, stream.labels.len());
            for (name, value) in stream.labels.iter() {
                put_bytes(out, name.as_bytes());
                put_bytes(out, value.as_bytes());
            }
            put_u32(out, stream.entries.len());
            for entry in &stream.entries {
                out.extend_from_slice(&entry.timestamp_ns.to_le_bytes());
                put_bytes(out, &entry.line);
                put_u32(out, entry.structured_metadata.len());
                for (name, value) in &entry.structured_metadata {
                    put_bytes(out, name.as_bytes());
                    put_bytes(out, value.as_bytes());
                }
            }
        }
    }
    let len = out.len() - frame_start - HEADER;
    let len_bytes = u32::try_from(len).unwrap_or(u32::MAX).to_le_bytes();
    let crc = checksum(&len_bytes, &out[frame_start + HEADER..]);
    out[frame_start..frame_start + 4].copy_from_slice(&len_bytes);
    out[frame_start + 4..frame_start + HEADER].copy_from_slice(&crc.to_le_bytes());
}

/// The CRC-32 a frame carries: over its length bytes and its payload.
pub(crate) fn checksum(len_bytes: &[u8; 4], payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(len_bytes);
    h.update(payload);
    h.finalize()
}

/// Splits a frame header into (payload length, checksum).
pub(crate) fn parse_header(header: &[u8; HEADER]) -> (u32, u32) {
    let [a, b, c, d, e, f, g, h] = *header;
    (
        u32::from_le_bytes([a, b, c, d]),
        u32::from_le_bytes([e, f, g, h]),
    )
}

fn put_u32(out: &mut Vec<u8>, n: usize) {
    // Counts and lengths are bounded by the request size limit, far below
    // 4 GiB; saturate rather than wrap if that ever changed.
    out.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_u32(out, bytes.len());
    out.extend_from_slice(bytes);
}

/// Most distinct label sets a [`Decoder`] remembers before it starts over.
const LABEL_CACHE_CAPACITY: usize = 4096;

/// Decodes payloads; remembers label sets so that a stream seen before
/// costs a map lookup, not a validation and sort.
#[derive(Default)]
pub(crate) struct Decoder {
    labels: HashMap<Bytes, LabelSet>,
}

impl Decoder {
    /// Decodes one checked payload. Lines are slices of `payload`.
    pub(crate) fn decode(&mut self, payload: &Bytes) -> Result<Vec<TenantBatch>, RecordError> {
        let mut r = Reader {
            buf: payload,
            pos: 0,
        };
        let n = r.count()?;
        let mut batches = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            let tenant = match r.u8()? {
                0 => None,
                _ => {
                    let id = r.str("tenant")?;
                    Some(TenantId::new(id).map_err(|e| RecordError::Tenant(e.to_string()))?)
                }
            };
            let streams_n = r.count()?;
            let mut streams = Vec::with_capacity(streams_n.min(1024));
            for _ in 0..streams_n {
                let labels = self.labels(&mut r)?;
                let entries_n = r.count()?;
                let mut entries = Vec::with_capacity(entries_n.min(4096));
                for _ in 0..entries_n {
                    let timestamp_ns = r.i64()?;
                    let line = r.bytes()?;
                    let pairs = r.count()?;
                    let mut structured_metadata = Vec::with_capacity(pairs.min(64));
                    for _ in 0..pairs {
                        let name = r.str("structured metadata")?.to_owned();
                        let value = r.str("structured metadata")?.to_owned();
                        structured_metadata.push((name, value));
                    }
                    entries.push(Entry {
                        timestamp_ns,
                        line,
                        structured_metadata,
                    });
                }
                streams.push(Stream { labels, entries });
            }
            batches.push(TenantBatch { tenant, streams });
        }
        match payload.len() - r.pos {
            0 => Ok(batches),
            extra => Err(RecordError::Trailing(extra)),
        }
    }

    fn labels(&mut self, r: &mut Reader<'_>) -> Result<LabelSet, RecordError> {
        let start = r.pos;
        let n = r.count()?;
        for _ in 0..2 * n {
            r.bytes()?;
        }
        let key = r.buf.slice(start..r.pos);
        if let Some(set) = self.labels.get(&key) {
            return Ok(set.clone());
        }
        let mut pairs = Reader { buf: &key, pos: 4 };
        let mut list = Vec::with_capacity(n);
        for _ in 0..n {
            let name = pairs.str("label name")?;
            let value = pairs.str("label value")?;
            list.push((name, value));
        }
        let set = LabelSet::from_pairs(list).map_err(|e| RecordError::Labels(e.to_string()))?;
        if self.labels.len() >= LABEL_CACHE_CAPACITY {
            self.labels.clear();
        }
        self.labels.insert(key, set.clone());
        Ok(set)
    }
}

struct Reader<'a> {
    buf: &'a Bytes,
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], RecordError> {
        let buf: &'a Bytes = self.buf;
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or(RecordError::Truncated(self.pos))?;
        self.pos = end;
        Ok(&buf[end - n..end])
    }

    fn u8(&mut self) -> Result<u8, RecordError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<usize, RecordError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }

    /// A count of items that each take at least one byte, so a count larger
    /// than what is left is rejected before anything is reserved for it.
    fn count(&mut self) -> Result<usize, RecordError> {
        let at = self.pos;
        let n = self.u32()?;
        if n > self.buf.len() - self.pos {
            return Err(RecordError::Truncated(at));
        }
        Ok(n)
    }

    fn i64(&mut self) -> Result<i64, RecordError> {
        let b = self.take(8)?;
        let mut a = [0; 8];
        a.copy_from_slice(b);
        Ok(i64::from_le_bytes(a))
    }

    fn bytes(&mut self) -> Result<Bytes, RecordError> {
        let n = self.u32()?;
        let start = self.pos;
        self.take(n)?;
        Ok(self.buf.slice(start..start + n))
    }

    fn str(&mut self, what: &'static str) -> Result<&'a str, RecordError> {
        let n = self.u32()?;
        std::str::from_utf8(self.take(n)?).map_err(|_| RecordError::Utf8(what))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Vec<TenantBatch> {
        let mut meta = Entry::new(-5, "with metadata");
        meta.structured_metadata = vec![("trace_id".into(), "abc".into())];
        vec![
            TenantBatch {
                tenant: Some(TenantId::new("team-a").unwrap()),
                streams: vec![
                    Stream {
                        labels: LabelSet::from_pairs([("app", "api"), ("env", "prod")]).unwrap(),
                        entries: vec![Entry::new(1, "one"), meta],
                    },
                    Stream {
                        labels: LabelSet::empty(),
                        entries: vec![Entry::new(2, &b"\xff invalid utf-8"[..])],
                    },
                ],
            },
            TenantBatch {
                tenant: None,
                streams: vec![],
            },
        ]
    }

    fn payload(frame: &[u8]) -> Bytes {
        Bytes::copy_from_slice(&frame[HEADER..])
    }

    #[test]
    fn round_trip_keeps_everything() {
        let batches = sample();
        let mut frame = Vec::new();
        encode(&batches, &mut frame);
        let mut header = [0; HEADER];
        header.copy_from_slice(&frame[..HEADER]);
        let (len, crc) = parse_header(&header);
        assert_eq!(len as usize, frame.len() - HEADER);
        assert_eq!(crc, checksum(&len.to_le_bytes(), &frame[HEADER..]));
        let mut decoder = Decoder::default();
        assert_eq!(decoder.decode(&payload(&frame)).unwrap(), batches);
        // The second time the label sets come from the cache.
        assert_eq!(decoder.decode(&payload(&frame)).unwrap(), batches);
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let mut frame = Vec::new();
        encode(&sample(), &mut frame);
        let full = payload(&frame);
        for cut in 0..full.len() {
            let short = full.slice(..cut);
            assert!(
                Decoder::default().decode(&short).is_err(),
                "cut at {cut} decoded"
            );
        }
        let mut long = full.to_vec();
        long.push(0);
        assert_eq!(
            Decoder::default().decode(&Bytes::from(long)),
            Err(RecordError::Trailing(1))
        );
    }

    proptest! {
        #[test]
        fn random_payloads_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Decoder::default().decode(&Bytes::from(bytes));
        }

        #[test]
        fn generated_batches_round_trip(
            lines in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..20),
            ts in any::<i64>(),
            value in "[a-z0-9]{1,8}",
        ) {
            let labels = LabelSet::from_pairs([("app", value.as_str())]).unwrap();
            let batches = vec![TenantBatch {
                tenant: TenantId::new(&value).ok(),
                streams: vec![Stream {
                    labels,
                    entries: lines.into_iter().map(|l| Entry::new(ts, l)).collect(),
                }],
            }];
            let mut frame = Vec::new();
            encode(&batches, &mut frame);
            prop_assert_eq!(Decoder::default().decode(&payload(&frame)).unwrap(), batches);
        }
    }
}
