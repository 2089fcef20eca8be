//! JSON push decoding: any bytes either fail or decode; a decoded push
//! whose labels are valid encodes back (as JSON) to the same streams.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pushtail_proto::json::{decode_push_json, encode_push_json};
use pushtail_proto::model::Stream;

fuzz_target!(|data: &[u8]| {
    let Ok(push) = decode_push_json(data) else {
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
    let body = encode_push_json(&streams);
    let again = decode_push_json(&body).unwrap_or_else(|e| {
        panic!(
            "re-encoded push does not decode: {e}: {}",
            String::from_utf8_lossy(&body)
        )
    });
    assert_eq!(again.streams.len(), streams.len());
    for (a, s) in again.streams.iter().zip(&streams) {
        assert_eq!(a.labels.parse().ok().as_ref(), Some(&s.labels));
        assert_eq!(a.entries, s.entries);
    }
});
