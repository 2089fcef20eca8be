//! Every content encoding under a size limit: the first byte picks the
//! encoding and the limit, the rest is the body. Decoding never panics and
//! never returns more than the limit; the same bytes compressed by each
//! encoder decode back to themselves when they fit.
#![no_main]

use std::io::Write;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use pushtail_proto::encoding::{decode_body, ContentEncoding};

const ENCODINGS: [ContentEncoding; 5] = [
    ContentEncoding::Identity,
    ContentEncoding::Snappy,
    ContentEncoding::Gzip,
    ContentEncoding::Deflate,
    ContentEncoding::Zstd,
];

fn compress(enc: ContentEncoding, data: &[u8], zlib: bool) -> Vec<u8> {
    match enc {
        ContentEncoding::Identity => data.to_vec(),
        ContentEncoding::Snappy => snap::raw::Encoder::new()
            .compress_vec(data)
            .expect("snappy compress"),
        ContentEncoding::Gzip => {
            let mut w = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            w.write_all(data).expect("gzip");
            w.finish().expect("gzip")
        }
        ContentEncoding::Deflate if zlib => {
            let mut w = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            w.write_all(data).expect("zlib");
            w.finish().expect("zlib")
        }
        ContentEncoding::Deflate => {
            let mut w = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
            w.write_all(data).expect("deflate");
            w.finish().expect("deflate")
        }
        ContentEncoding::Zstd => zstd::encode_all(data, 1).expect("zstd"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let enc = ENCODINGS[usize::from(selector) % ENCODINGS.len()];
    // Small limits exercise the bomb checks; the top bit lifts it to 1 MiB.
    let limit = if selector & 0x80 != 0 {
        1 << 20
    } else {
        usize::from(selector) * 16
    };
    if let Ok(out) = decode_body(enc, Bytes::copy_from_slice(body), limit) {
        assert!(
            out.len() <= limit,
            "{enc:?}: {} bytes over limit {limit}",
            out.len()
        );
    }
    let packed = compress(enc, body, selector & 0x40 != 0);
    match decode_body(enc, Bytes::from(packed), limit) {
        Ok(out) => assert_eq!(&out[..], body, "{enc:?} round trip"),
        Err(e) => assert!(
            body.len() > limit,
            "{enc:?}: {} bytes under limit {limit}: {e}",
            body.len()
        ),
    }
});
