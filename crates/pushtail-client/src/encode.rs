//! Request bodies: a batch's streams as a protobuf `PushRequest`, raw-block
//! snappy compressed, with buffers reused from one request to the next.
//!
//! This module never decides what goes into a batch or what to do with the
//! answer; it only turns streams into bytes.

use bytes::Bytes;
use pushtail_proto::encoding::snappy_compress_into;
use pushtail_proto::model::Stream;
use pushtail_proto::push::encode_push_proto;

/// Encodes batches, keeping its protobuf buffer and snappy state between calls.
pub(crate) struct Encoder {
    proto: Vec<u8>,
    /// Compression scratch; keeps its length so it is zero-filled only when
    /// it grows.
    compressed: Vec<u8>,
    snappy: snap::raw::Encoder,
}

impl Encoder {
    pub(crate) fn new() -> Self {
        Encoder {
            proto: Vec::new(),
            compressed: Vec::new(),
            snappy: snap::raw::Encoder::new(),
        }
    }

    /// The compressed body for `streams`. Both buffers are reused; the HTTP
    /// client needs to own the body, so the compressed bytes (about a third
    /// of the protobuf) are copied out once.
    pub(crate) fn encode(&mut self, streams: &[Stream]) -> Bytes {
        encode_push_proto(streams, &mut self.proto);
        // Compression only fails when the input exceeds snappy's 4 GiB
        // limit, which a batch (bounded by `batchsize` plus one entry)
        // cannot reach in practice; an empty body is sent rather than panic.
        match snappy_compress_into(&self.proto, &mut self.snappy, &mut self.compressed) {
            Ok(packed) => Bytes::copy_from_slice(packed),
            Err(_) => Bytes::new(),
        }
    }
}
