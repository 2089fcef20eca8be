//! Parsers for the line-oriented endpoints: raw line splitting, plaintext
//! push paths (`name/value/…`) and the `?timestamp=` parameter.
//!
//! Pure functions over borrowed input; they never panic on user bytes.

use bytes::Bytes;
use pushtail_proto::labels::is_valid_label_name;

/// Splits a raw body into lines: on `\n`, trailing `\r`s trimmed, empty
/// lines skipped, a last line without newline kept. Lines share `body`'s
/// buffer.
pub(crate) fn split_lines(body: &Bytes) -> impl Iterator<Item = Bytes> + '_ {
    let mut start = 0;
    std::iter::from_fn(move || {
        while start < body.len() {
            let rest = &body[start..];
            let len = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
            let line_start = start;
            start += len + 1;
            let mut end = line_start + len;
            while end > line_start && body[end - 1] == b'\r' {
                end -= 1;
            }
            if end > line_start {
                return Some(body.slice(line_start..end));
            }
        }
        None
    })
}

/// Label pairs from the part of a plaintext push path after `push/`:
/// `job/api/env/prod` → `[(job, api), (env, prod)]`, each segment
/// percent-decoded; a trailing `/` is allowed. An odd count or an invalid name is an error naming it.
pub(crate) fn parse_plain_path(rest: &str) -> Result<Vec<(String, String)>, String> {
    if rest.is_empty() || rest == "/" {
        return Ok(Vec::new());
    }
    let mut segments: Vec<&str> = rest.split('/').collect();
    // A trailing slash ends the path (`job/x/`) unless it is an empty value
    // (`job/`).
    if segments.len() % 2 == 1 && segments.last() == Some(&"") {
        segments.pop();
    }
    let pairs = segments.chunks_exact(2);
    if !pairs.remainder().is_empty() {
        return Err(format!(
            "expected name/value pairs after push/, got {} segments in {rest:?}",
            segments.len()
        ));
    }
    pairs
        .map(|pair| {
            let name = percent_decode(pair[0])?;
            if !is_valid_label_name(&name) {
                return Err(format!("invalid label name {name:?}"));
            }
            Ok((name, percent_decode(pair[1])?))
        })
        .collect()
}

/// The `timestamp` query parameter in nanoseconds: RFC3339, Unix seconds
/// (with an optional fraction) or Unix nanoseconds (integers of 13 digits
/// or more). `None` when absent, empty or `now`: the receive time applies.
pub(crate) fn parse_timestamp_query(query: Option<&str>) -> Result<Option<i64>, String> {
    let Some(raw) = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|kv| kv.strip_prefix("timestamp="))
    else {
        return Ok(None);
    };
    let value = percent_decode(raw).map_err(|_| raw.to_owned())?;
    parse_timestamp(&value).map_err(|()| value)
}

fn parse_timestamp(value: &str) -> Result<Option<i64>, ()> {
    if value.is_empty() || value == "now" {
        return Ok(None);
    }
    if value.contains(['T', 't']) {
        return chrono::DateTime::parse_from_rfc3339(value)
            .ok()
            .and_then(|t| t.timestamp_nanos_opt())
            .map(Some)
            .ok_or(());
    }
    let (int, frac) = match value.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (value, None),
    };
    let negative = int.starts_with('-');
    let int_value: i64 = int.parse().map_err(|_| ())?;
    let Some(frac) = frac else {
        if int_value.unsigned_abs() >= 1_000_000_000_000 {
            return Ok(Some(int_value));
        }
        return int_value.checked_mul(1_000_000_000).map(Some).ok_or(());
    };
    if frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(());
    }
    let mut frac_ns: i64 = 0;
    for (i, digit) in frac.bytes().take(9).enumerate() {
        frac_ns += i64::from(digit - b'0') * 10_i64.pow(8 - i as u32);
    }
    let secs_ns = int_value.checked_mul(1_000_000_000).ok_or(())?;
    let ns = if negative {
        secs_ns.checked_sub(frac_ns)
    } else {
        secs_ns.checked_add(frac_ns)
    };
    ns.map(Some).ok_or(())
}

/// Decodes `%XX` escapes; the result must be UTF-8.
fn percent_decode(s: &str) -> Result<String, String> {
    if !s.contains('%') {
        return Ok(s.to_owned());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("invalid percent-encoding in {s:?}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{s:?} does not decode to UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_lines() {
        let cases: &[(&[u8], &[&str])] = &[
            (b"a\r\r\n\r\nb", &["a", "b"]),
            (b"a\nb\n", &["a", "b"]),
            (b"", &[]),
            (b"\n\n\r\n", &[]),
            (b"one", &["one"]),
            (b"x\r", &["x"]),
            (b" x \n\ty", &[" x ", "\ty"]),
            (b"{\"a\":1}\r\n{\"a\":2}", &["{\"a\":1}", "{\"a\":2}"]),
            (b"a\rb\n", &["a\rb"]),
        ];
        for (body, want) in cases {
            let body = Bytes::copy_from_slice(body);
            let got: Vec<Bytes> = split_lines(&body).collect();
            let want: Vec<Bytes> = want.iter().map(|s| Bytes::from(*s)).collect();
            assert_eq!(got, want, "{body:?}");
        }
    }

    #[test]
    fn plain_paths() {
        type Want = Result<Vec<(&'static str, &'static str)>, &'static str>;
        let cases: &[(&str, Want)] = &[
            ("", Ok(vec![])),
            ("job/api", Ok(vec![("job", "api")])),
            (
                "job/api/env/prod/",
                Ok(vec![("job", "api"), ("env", "prod")]),
            ),
            ("job/a%2Fb%20c", Ok(vec![("job", "a/b c")])),
            ("job/", Ok(vec![("job", "")])),
            ("job", Err("expected name/value pairs")),
            ("a/b/c", Err("3 segments")),
            ("a-b/x", Err("invalid label name \"a-b\"")),
            ("%zz/x", Err("invalid percent-encoding")),
            ("a/%ff", Err("does not decode to UTF-8")),
            ("a/%4", Err("invalid percent-encoding")),
        ];
        for (rest, want) in cases {
            let got = parse_plain_path(rest);
            match (got, want) {
                (Ok(got), Ok(want)) => {
                    let want: Vec<(String, String)> = want
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect();
                    assert_eq!(got, want, "{rest}");
                }
                (Err(got), Err(want)) => assert!(got.contains(want), "{rest}: {got}"),
                (got, want) => panic!("{rest}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn timestamps() {
        type Case = (Option<&'static str>, Result<Option<i64>, &'static str>);
        let cases: &[Case] = &[
            (None, Ok(None)),
            (Some("a=b"), Ok(None)),
            (Some("timestamp=now"), Ok(None)),
            (Some("timestamp="), Ok(None)),
            (
                Some("timestamp=1700000000"),
                Ok(Some(1_700_000_000_000_000_000)),
            ),
            (
                Some("x=1&timestamp=1700000000.5"),
                Ok(Some(1_700_000_000_500_000_000)),
            ),
            (Some("timestamp=1.000000001"), Ok(Some(1_000_000_001))),
            (
                Some("timestamp=1700000000123456789"),
                Ok(Some(1_700_000_000_123_456_789)),
            ),
            (
                Some("timestamp=2023-11-14T22:13:20Z"),
                Ok(Some(1_700_000_000_000_000_000)),
            ),
            (
                Some("timestamp=2023-11-14T23:13:20.25%2B01:00"),
                Ok(Some(1_700_000_000_250_000_000)),
            ),
            (Some("timestamp=-1.5"), Ok(Some(-1_500_000_000))),
            (Some("timestamp=yesterday"), Err("yesterday")),
            (Some("timestamp=1."), Err("1.")),
            (Some("timestamp=1.2e3"), Err("1.2e3")),
            (
                Some("timestamp=2023-13-01T00:00:00Z"),
                Err("2023-13-01T00:00:00Z"),
            ),
            (Some("timestamp=99999999999.0"), Err("99999999999.0")),
            (
                Some("timestamp=9999999999999999999"),
                Err("9999999999999999999"),
            ),
            (Some("timestamp=%"), Err("%")),
        ];
        for (query, want) in cases {
            let got = parse_timestamp_query(*query);
            assert_eq!(got, want.map_err(str::to_owned), "{query:?}");
        }
    }
}
