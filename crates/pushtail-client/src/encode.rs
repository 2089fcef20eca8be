//! Request bodies: a batch's streams as a protobuf `PushRequest`, raw-block
//! snappy compressed, with buffers reused from one request to the next.
//!
//! This module never decides what goes into a batch or what to do with the
//! answer; it only turns streams into bytes.

use bytes::Bytes;
use prost::Message;
use pushtail_proto::logproto::{EntryAdapter, LabelPairAdapter, PushRequest, StreamAdapter};
use pushtail_proto::model::Stream;

/// Encodes batches, keeping its protobuf buffer and snappy state between calls.
pub(crate) struct Encoder {
    proto: Vec<u8>,
    snappy: snap::raw::Encoder,
}

impl Encoder {
    pub(crate) fn new() -> Self {
        Encoder {
            proto: Vec::new(),
            snappy: snap::raw::Encoder::new(),
        }
    }

    /// The compressed body for `streams`.
    pub(crate) fn encode(&mut self, streams: &[Stream]) -> Bytes {
        self.proto.clear();
        encode_proto(streams, &mut self.proto);
        let mut out = vec![0; snap::raw::max_compress_len(self.proto.len())];
        // Compression only fails when the input exceeds snappy's 4 GiB
        // limit, which `batchsize` (at most the size of one pushed request)
        // cannot reach; send an empty body rather than panic if it does.
        let n = self.snappy.compress(&self.proto, &mut out).unwrap_or(0);
        out.truncate(n);
        Bytes::from(out)
    }
}

fn encode_proto(streams: &[Stream], out: &mut Vec<u8>) {
    let req = PushRequest {
        streams: streams
            .iter()
            .map(|s| StreamAdapter {
                labels: s.labels.as_str().to_owned(),
                entries: s
                    .entries
                    .iter()
                    .map(|e| EntryAdapter {
                        timestamp: Some(prost_types::Timestamp {
                            seconds: e.timestamp_ns.div_euclid(1_000_000_000),
                            nanos: i32::try_from(e.timestamp_ns.rem_euclid(1_000_000_000))
                                .unwrap_or(0),
                        }),
                        line: String::from_utf8_lossy(&e.line).into_owned(),
                        structured_metadata: e
                            .structured_metadata
                            .iter()
                            .map(|(name, value)| LabelPairAdapter {
                                name: name.clone(),
                                value: value.clone(),
                            })
                            .collect(),
                        parsed: Vec::new(),
                    })
                    .collect(),
                hash: 0,
            })
            .collect(),
    };
    // Encoding into a Vec cannot run out of space.
    let _ = req.encode(out);
}
