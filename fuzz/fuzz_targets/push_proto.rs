//! Protobuf push decoding: any bytes either fail or decode; a decoded push
//! whose labels are valid encodes back to the same streams.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use pushtail_proto::model::Stream;
use pushtail_proto::push::{decode_push_proto, encode_push_proto};

fuzz_target!(|data: &[u8]| {
    let Ok(push) = decode_push_proto(Bytes::copy_from_slice(data)) else {
        return;
    };
    let streams: Option<Vec<Stream>> = push
        .streams
        .iter()
        .map(|s| {
            Some(Stream {
                labels: s.labels.parse().ok()?,
                entries: s.entries.clone(),
            })
        })
        .collect();
    let Some(streams) = streams else { return };
    let mut body = Vec::new();
    encode_push_proto(&streams, &mut body);
    let again = decode_push_proto(Bytes::from(body))
        .unwrap_or_else(|e| panic!("re-encoded push does not decode: {e}"));
    assert_eq!(again.streams.len(), streams.len());
    for (a, s) in again.streams.iter().zip(&streams) {
        assert_eq!(a.labels.parse().ok().as_ref(), Some(&s.labels));
        assert_eq!(a.entries, s.entries);
    }
});
