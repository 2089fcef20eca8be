//! The gRPC Pusher's error mapping, framing and decompression.

use super::*;
use http_body_util::BodyExt;

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).expect("gzip");
    enc.finish().expect("gzip")
}

fn frame(flag: u8, message: &[u8]) -> Vec<u8> {
    let mut out = vec![flag];
    out.extend_from_slice(&(message.len() as u32).to_be_bytes());
    out.extend_from_slice(message);
    out
}

fn request(encoding: Option<&str>, body: Vec<u8>) -> Request<Full<Bytes>> {
    let mut req = Request::new(Full::new(Bytes::from(body)));
    if let Some(e) = encoding {
        req.headers_mut()
            .insert(GRPC_ENCODING, HeaderValue::from_str(e).expect("header"));
    }
    req
}

/// What tonic is handed: the headers' encoding and the body's bytes.
async fn unwrapped(
    req: Request<Either<Full<Bytes>, Full<Bytes>>>,
) -> (Option<String>, bool, Vec<u8>) {
    let encoding = req
        .headers()
        .get(GRPC_ENCODING)
        .map(|v| v.to_str().expect("ascii").to_owned());
    let (rewritten, body) = match req.into_body() {
        Either::Left(b) => (false, b),
        Either::Right(b) => (true, b),
    };
    let bytes = body.collect().await.expect("full body").to_bytes().to_vec();
    (encoding, rewritten, bytes)
}

/// gzip messages reach tonic inflated and re-framed; anything else
/// passes untouched; a bad frame, a body past the limit or a bomb is
/// refused with the HTTP push's status.
#[tokio::test]
async fn gzip_messages_are_inflated_and_reframed() {
    let permits = DecodePermits::new(1);
    let limit = 64;
    let msg = b"a push request".to_vec();
    let plain = frame(0, &msg);
    type Want = Result<(Option<&'static str>, bool, Vec<u8>), u16>;
    let cases: Vec<(&str, Option<&str>, Vec<u8>, Want)> = vec![
        (
            "no encoding",
            None,
            plain.clone(),
            Ok((None, false, plain.clone())),
        ),
        (
            "identity",
            Some("identity"),
            plain.clone(),
            Ok((Some("identity"), false, plain.clone())),
        ),
        (
            "zstd is tonic's to refuse",
            Some("zstd"),
            frame(1, b"?"),
            Ok((Some("zstd"), false, frame(1, b"?"))),
        ),
        (
            "gzip",
            Some("gzip"),
            frame(1, &gzip(&msg)),
            Ok((None, true, plain.clone())),
        ),
        (
            "gzip header, message not compressed",
            Some("GZIP"),
            plain.clone(),
            Ok((None, true, plain.clone())),
        ),
        ("empty", Some("gzip"), Vec::new(), Err(400)),
        ("short frame header", Some("gzip"), vec![1, 0, 0], Err(400)),
        (
            "length too long",
            Some("gzip"),
            frame(1, b"xx")[..6].to_vec(),
            Err(400),
        ),
        (
            "two messages",
            Some("gzip"),
            [plain.clone(), plain.clone()].concat(),
            Err(400),
        ),
        ("unknown flag", Some("gzip"), frame(2, b"x"), Err(400)),
        ("not gzip", Some("gzip"), frame(1, b"not gzip"), Err(400)),
        (
            "too large on the wire",
            Some("gzip"),
            frame(0, &[b'x'; 65]),
            Err(413),
        ),
        ("bomb", Some("gzip"), frame(1, &gzip(&[b'x'; 65])), Err(413)),
    ];
    for (name, encoding, body, want) in cases {
        let got = match decompress(request(encoding, body), limit, &permits).await {
            Ok(req) => Ok(unwrapped(req).await),
            Err(e) => Err(e.status().as_u16()),
        };
        let want = want.map(|(e, r, b)| (e.map(str::to_owned), r, b));
        assert_eq!(got, want, "{name}");
    }
}

/// A message that inflates past the inline budget needs a decode
/// permit: with every permit taken its first poll waits (inline work
/// would finish there), while a small one does not wait.
#[tokio::test]
async fn a_gzip_bomb_waits_for_a_decode_permit() {
    use std::future::Future;
    use std::task::{Context, Waker};
    let permits = DecodePermits::new(1);
    let limit = 4 << 20;
    let held = permits.hold_all().await;
    let bomb = request(Some("gzip"), frame(1, &gzip(&vec![b'x'; 2 << 20])));
    let mut bomb = std::pin::pin!(decompress(bomb, limit, &permits));
    let polled = bomb.as_mut().poll(&mut Context::from_waker(Waker::noop()));
    assert!(polled.is_pending(), "the bomb ran without a permit");
    let small = request(Some("gzip"), frame(1, &gzip(b"small")));
    let small = decompress(small, limit, &permits).await.expect("small");
    assert_eq!(unwrapped(small).await.2, frame(0, b"small"));
    drop(held);
    let bomb = bomb.await.expect("the bomb decodes once a permit is free");
    assert_eq!(unwrapped(bomb).await.2.len(), 5 + (2 << 20));
}

#[test]
fn errors_map_to_one_code() {
    let table: &[(PushError, Code)] = &[
        (PushError::Malformed("x".into()), Code::InvalidArgument),
        (PushError::TooLarge { limit: 1 }, Code::ResourceExhausted),
        (PushError::ShuttingDown, Code::Unavailable),
        (PushError::QueueFull { timeout_ms: 1 }, Code::Unavailable),
        (
            PushError::Unauthorized {
                job: "j".into(),
                failure: crate::auth::AuthFailure::Missing,
                challenge: "Basic realm=\"pushtail\"",
            },
            Code::Unauthenticated,
        ),
        (
            PushError::NotFound {
                path: "/".into(),
                hint: String::new(),
            },
            Code::NotFound,
        ),
        (PushError::Internal("x".into()), Code::Internal),
    ];
    for (err, want) in table {
        assert_eq!(code(err), *want, "{err}");
    }
}

#[test]
fn grpc_is_told_by_content_type() {
    let req = |ct: &str| {
        Request::builder()
            .header("content-type", ct)
            .body(())
            .expect("request")
    };
    assert!(is_grpc(&req("application/grpc")));
    assert!(is_grpc(&req("application/grpc+proto")));
    assert!(!is_grpc(&req("application/x-protobuf")));
    assert!(!is_grpc(&req("application/json")));
}
