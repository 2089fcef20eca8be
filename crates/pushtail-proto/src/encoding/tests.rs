use std::io::Write;

use proptest::prelude::*;

use super::*;

const ALL: [ContentEncoding; 5] = [
    ContentEncoding::Identity,
    ContentEncoding::Snappy,
    ContentEncoding::Gzip,
    ContentEncoding::Deflate,
    ContentEncoding::Zstd,
];

#[test]
fn header_values() {
    use ContentEncoding::*;
    for (header, want) in [
        (None, Ok(Identity)),
        (Some(""), Ok(Identity)),
        (Some("identity"), Ok(Identity)),
        (Some("GZIP"), Ok(Gzip)),
        (Some(" gzip "), Ok(Gzip)),
        (Some("x-gzip"), Ok(Gzip)),
        (Some("Deflate"), Ok(Deflate)),
        (Some("snappy"), Ok(Snappy)),
        (Some("zstd"), Ok(Zstd)),
        (Some("br"), Err("br")),
        (Some("gzip, identity"), Err("gzip, identity")),
    ] {
        let got = ContentEncoding::from_header(header);
        assert_eq!(
            got,
            want.map_err(|v| UnsupportedEncoding { value: v.into() }),
            "{header:?}"
        );
    }
    assert_eq!(
        ContentEncoding::from_header(Some("br"))
            .unwrap_err()
            .to_string(),
        "unsupported content-encoding \"br\": supported are identity, snappy, gzip, deflate, zstd"
    );
}

fn compress(enc: ContentEncoding, data: &[u8]) -> Vec<u8> {
    match enc {
        ContentEncoding::Identity => data.to_vec(),
        ContentEncoding::Snappy => {
            let mut out = Vec::new();
            snappy_encode(data, &mut snap::raw::Encoder::new(), &mut out).unwrap();
            out
        }
        ContentEncoding::Gzip => {
            let mut w = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            w.write_all(data).unwrap();
            w.finish().unwrap()
        }
        ContentEncoding::Deflate => {
            let mut w =
                flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
            w.write_all(data).unwrap();
            w.finish().unwrap()
        }
        ContentEncoding::Zstd => zstd::encode_all(data, 3).unwrap(),
    }
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut w = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    w.write_all(data).unwrap();
    w.finish().unwrap()
}

#[test]
fn every_encoding_round_trips() {
    let data = b"hello hello hello pushtail".repeat(50);
    for enc in ALL {
        let body = Bytes::from(compress(enc, &data));
        let got = decode_body(enc, body, data.len()).unwrap();
        assert_eq!(got, data, "{enc}");
    }
}

#[test]
fn deflate_accepts_zlib_wrapped() {
    let data = b"zlib wrapped body".repeat(10);
    let got = decode_body(ContentEncoding::Deflate, Bytes::from(zlib(&data)), 1 << 20).unwrap();
    assert_eq!(got, data);
}

#[test]
fn identity_does_not_copy() {
    let body = Bytes::from(vec![b'x'; 100]);
    let got = decode_body(ContentEncoding::Identity, body.clone(), 100).unwrap();
    assert_eq!(got.as_ptr(), body.as_ptr());
}

#[test]
fn bombs_hit_the_limit() {
    // 16 MiB of zeros compresses to ~16 KB (gzip/deflate) or less.
    let data = vec![0u8; 16 << 20];
    for enc in ALL {
        let body = Bytes::from(compress(enc, &data));
        let err = decode_body(enc, body, 1 << 20).unwrap_err();
        assert!(
            matches!(err, BodyError::TooLarge { limit } if limit == 1 << 20),
            "{enc}: {err}"
        );
    }
    let exact = vec![7u8; 1000];
    for enc in ALL {
        let body = Bytes::from(compress(enc, &exact));
        assert_eq!(
            decode_body(enc, body.clone(), 1000).unwrap(),
            exact,
            "{enc}"
        );
        assert!(
            matches!(
                decode_body(enc, body, 999),
                Err(BodyError::TooLarge { limit: 999 })
            ),
            "{enc}"
        );
    }
}

#[test]
fn corrupt_bodies_are_errors_naming_the_encoding() {
    for (enc, want) in [
        (ContentEncoding::Snappy, "invalid snappy body"),
        (ContentEncoding::Gzip, "invalid gzip body"),
        (ContentEncoding::Deflate, "invalid deflate body"),
        (ContentEncoding::Zstd, "invalid zstd body"),
    ] {
        let err = decode_body(
            enc,
            Bytes::from_static(b"\xff\xff\xff\xffnot compressed"),
            1 << 20,
        )
        .unwrap_err();
        assert!(err.to_string().starts_with(want), "{enc}: {err}");
    }
}

#[test]
fn snappy_encoder_reuses_buffers() {
    let mut enc = snap::raw::Encoder::new();
    let mut out = Vec::new();
    snappy_encode(&b"a".repeat(10_000), &mut enc, &mut out).unwrap();
    let cap = out.capacity();
    snappy_encode(b"short", &mut enc, &mut out).unwrap();
    assert_eq!(out.capacity(), cap);
    assert_eq!(snappy_decode_limited(&out, 5).unwrap(), &b"short"[..]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..256)) {
        for enc in ALL {
            let _ = decode_body(enc, Bytes::from(input.clone()), 4096);
        }
        let _ = snappy_decode_limited(&input, 4096);
    }

    #[test]
    fn corrupted_streams_never_panic(
        data in proptest::collection::vec(any::<u8>(), 0..512),
        flip in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        for enc in ALL {
            let mut body = compress(enc, &data);
            if !body.is_empty() {
                let at = flip.index(body.len());
                body[at] = byte;
            }
            let _ = decode_body(enc, Bytes::from(body), 4096);
        }
    }
}

#[test]
fn compress_into_reuses_scratch_and_round_trips() {
    let mut enc = snap::raw::Encoder::new();
    let mut scratch = Vec::new();
    let big = b"abc".repeat(10_000);
    let packed = snappy_compress_into(&big, &mut enc, &mut scratch)
        .unwrap()
        .to_vec();
    assert_eq!(snappy_decode_limited(&packed, big.len()).unwrap(), big);
    let len_after_big = scratch.len();
    let packed = snappy_compress_into(b"short", &mut enc, &mut scratch)
        .unwrap()
        .to_vec();
    assert_eq!(snappy_decode_limited(&packed, 5).unwrap(), &b"short"[..]);
    assert_eq!(scratch.len(), len_after_big, "scratch keeps its length");
}

#[test]
fn zstd_window_is_bounded() {
    // A frame that asks for a 128 MiB window is refused, not allocated.
    let data = vec![7u8; 1 << 16];
    let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    enc.window_log(27).unwrap();
    enc.long_distance_matching(true).unwrap();
    std::io::Write::write_all(&mut enc, &data).unwrap();
    let big_window = enc.finish().unwrap();
    let got = decode_body(ContentEncoding::Zstd, Bytes::from(big_window), 100 << 20);
    assert!(matches!(got, Err(BodyError::Invalid { .. })), "{got:?}");
    // Ordinary frames decode, up to level 19.
    let normal = zstd::encode_all(&data[..], 19).unwrap();
    assert_eq!(
        decode_body(ContentEncoding::Zstd, Bytes::from(normal), 100 << 20)
            .unwrap()
            .len(),
        data.len()
    );
}
