//! Request headers and bodies: Content-Type negotiation, the tenant header,
//! and reading a body under a byte limit.
//!
//! Never reads more than the limit (plus one frame) into memory, and checks
//! `Content-Length` before reading anything.

use bytes::Bytes;
use http::{header, HeaderMap};
use http_body::Body;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use pushtail_proto::tenant::TenantId;

use crate::error::PushError;

/// How a `/push` body is encoded, from its Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Json,
    /// protobuf `PushRequest`, raw-block snappy compressed.
    Protobuf,
}

/// `application/json` (any parameters) is JSON; any other well-formed type
/// is protobuf+snappy, as Loki does.
pub(crate) fn push_format(headers: &HeaderMap) -> Result<Format, PushError> {
    let value = headers
        .get(header::CONTENT_TYPE)
        .ok_or(PushError::MissingContentType)?;
    let text = value.to_str().map_err(|_| {
        PushError::UnsupportedContentType(String::from_utf8_lossy(value.as_bytes()).into_owned())
    })?;
    let essence = text.split(';').next().unwrap_or("").trim();
    let valid = essence
        .split_once('/')
        .is_some_and(|(ty, sub)| is_token(ty) && is_token(sub));
    if !valid {
        return Err(PushError::UnsupportedContentType(text.to_owned()));
    }
    if essence.eq_ignore_ascii_case("application/json") {
        Ok(Format::Json)
    } else {
        Ok(Format::Protobuf)
    }
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
}

/// The Content-Encoding header, if any, as text.
pub(crate) fn content_encoding(headers: &HeaderMap) -> Result<Option<&str>, PushError> {
    match headers.get(header::CONTENT_ENCODING) {
        None => Ok(None),
        Some(v) => v.to_str().map(Some).map_err(|_| {
            PushError::UnsupportedContentEncoding(
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        }),
    }
}

/// The tenant from a valid `X-Scope-OrgID`; an empty header counts as none.
pub(crate) fn header_tenant(headers: &HeaderMap) -> Result<Option<TenantId>, PushError> {
    let Some(value) = headers.get("x-scope-orgid") else {
        return Ok(None);
    };
    let text = value.to_str().map_err(|_| {
        PushError::InvalidTenantHeader(format!(
            "{:?} is not ASCII text",
            String::from_utf8_lossy(value.as_bytes())
        ))
    })?;
    if text.is_empty() {
        return Ok(None);
    }
    TenantId::new(text)
        .map(Some)
        .map_err(|e| PushError::InvalidTenantHeader(e.to_string()))
}

/// Reads the whole body, refusing more than `limit` bytes: at once when
/// `Content-Length` says so, else as soon as the stream passes it.
pub(crate) async fn read_limited<B>(
    headers: &HeaderMap,
    body: B,
    limit: usize,
) -> Result<Bytes, PushError>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(PushError::TooLarge { limit });
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(PushError::TooLarge { limit }),
        Err(e) => Err(PushError::BodyRead(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn content_types() {
        let cases: &[(Option<&str>, Result<Format, u16>)] = &[
            (Some("application/json"), Ok(Format::Json)),
            (Some("Application/JSON; charset=utf-8"), Ok(Format::Json)),
            (Some("application/x-protobuf"), Ok(Format::Protobuf)),
            (Some("application/octet-stream"), Ok(Format::Protobuf)),
            (None, Err(415)),
            (Some(""), Err(415)),
            (Some("json"), Err(415)),
            (Some("application/"), Err(415)),
            (Some("a b/c"), Err(415)),
        ];
        for (value, want) in cases {
            let mut headers = HeaderMap::new();
            if let Some(v) = value {
                headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(v).unwrap());
            }
            let got = push_format(&headers).map_err(|e| e.status().as_u16());
            assert_eq!(got, *want, "{value:?}");
        }
    }

    #[test]
    fn tenant_headers() {
        type Case = (Option<&'static [u8]>, Result<Option<&'static str>, ()>);
        let cases: &[Case] = &[
            (None, Ok(None)),
            (Some(b""), Ok(None)),
            (Some(b"team-a"), Ok(Some("team-a"))),
            (Some(b"a/b"), Err(())),
            (Some(b".."), Err(())),
            (Some(b"\xff"), Err(())),
        ];
        for (value, want) in cases {
            let mut headers = HeaderMap::new();
            if let Some(v) = value {
                headers.insert("x-scope-orgid", HeaderValue::from_bytes(v).unwrap());
            }
            let got = header_tenant(&headers);
            match (got, want) {
                (Ok(got), Ok(want)) => assert_eq!(got.as_ref().map(TenantId::as_str), *want),
                (Err(e), Err(())) => assert_eq!(e.status().as_u16(), 400),
                (got, want) => panic!("{value:?}: got {got:?}, want {want:?}"),
            }
        }
    }
}
