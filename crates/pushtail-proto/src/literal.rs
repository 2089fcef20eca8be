//! Go string literals, decoded as Go's `strconv.Unquote` decodes them: the
//! one decoder shared by the label syntax parser here and by everything in
//! `pushtail-pipeline` that reads Go-quoted text (LogQL selectors, Go
//! templates).
//!
//! `"…"` and `'…'` take Go escapes (`\n`, `\x41`, `\101`, `\u00e9`,
//! `\U0001F600`; `\'` only inside `'…'`, `\"` only inside `"…"`); `` `…` ``
//! is raw, with carriage returns dropped. `\xff` and `\377` are single
//! bytes, so the result is bytes, not necessarily UTF-8: each caller
//! decides what invalid UTF-8 means for it. The golden table of real Go
//! results lives with the pipeline's Go module
//! (`pushtail-pipeline/src/go/testdata/literals.json`).

use std::borrow::Cow;

/// Why a literal could not be decoded; `at` is a byte offset into the
/// input given to [`unquote_prefix`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LiteralError {
    #[error("expected a quoted string at byte {at}")]
    NotQuoted { at: usize },
    #[error("unterminated quoted string starting at byte {at}")]
    Unterminated { at: usize },
    #[error("invalid escape sequence at byte {at}")]
    InvalidEscape { at: usize },
}

/// Decodes the quoted string at the start of `src` (its first byte is the
/// quote: `"`, `'` or `` ` ``). Returns the value and the number of bytes
/// the literal took. Borrows when there is nothing to decode.
pub fn unquote_prefix(src: &[u8]) -> Result<(Cow<'_, [u8]>, usize), LiteralError> {
    let quote = match src.first() {
        Some(&q @ (b'"' | b'\'' | b'`')) => q,
        _ => return Err(LiteralError::NotQuoted { at: 0 }),
    };
    let unterminated = LiteralError::Unterminated { at: 0 };
    if quote == b'`' {
        let len = src[1..]
            .iter()
            .position(|&b| b == b'`')
            .ok_or(unterminated)?;
        let raw = &src[1..1 + len];
        let value = if raw.contains(&b'\r') {
            Cow::Owned(raw.iter().copied().filter(|&b| b != b'\r').collect())
        } else {
            Cow::Borrowed(raw)
        };
        return Ok((value, len + 2));
    }
    let mut owned: Option<Vec<u8>> = None;
    let mut run = 1;
    let mut pos = 1;
    loop {
        match src.get(pos) {
            None | Some(b'\n') => return Err(unterminated),
            Some(&b) if b == quote => {
                let tail = &src[run..pos];
                let value = match owned {
                    None => Cow::Borrowed(tail),
                    Some(mut buf) => {
                        buf.extend_from_slice(tail);
                        Cow::Owned(buf)
                    }
                };
                return Ok((value, pos + 1));
            }
            Some(b'\\') => {
                let buf = owned.get_or_insert_with(Vec::new);
                buf.extend_from_slice(&src[run..pos]);
                pos = escape(src, pos, quote, buf)?;
                run = pos;
            }
            Some(_) => pos += 1,
        }
    }
}

/// Decodes the escape at `src[at]` (a backslash) into `buf`; returns the
/// offset after it.
fn escape(src: &[u8], at: usize, quote: u8, buf: &mut Vec<u8>) -> Result<usize, LiteralError> {
    let bad = LiteralError::InvalidEscape { at };
    let Some(&c) = src.get(at + 1) else {
        return Err(LiteralError::Unterminated { at: 0 });
    };
    let digits = |from: usize, n: usize, radix: u32| -> Option<u32> {
        let s = src.get(from..from + n)?;
        s.iter().try_fold(0u32, |v, &d| {
            Some(v * radix + char::from(d).to_digit(radix)?)
        })
    };
    let byte = match c {
        b'a' => 0x07,
        b'b' => 0x08,
        b'f' => 0x0c,
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        b'v' => 0x0b,
        b'\\' => b'\\',
        b'"' | b'\'' if c == quote => c,
        b'0'..=b'7' => {
            let v = digits(at + 1, 3, 8).ok_or(bad)?;
            buf.push(u8::try_from(v).map_err(|_| bad)?);
            return Ok(at + 4);
        }
        b'x' => {
            let v = digits(at + 2, 2, 16).ok_or(bad)?;
            buf.push(u8::try_from(v).map_err(|_| bad)?);
            return Ok(at + 4);
        }
        b'u' | b'U' => {
            let n = if c == b'u' { 4 } else { 8 };
            let ch = digits(at + 2, n, 16).and_then(char::from_u32).ok_or(bad)?;
            let mut tmp = [0u8; 4];
            buf.extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
            return Ok(at + 2 + n);
        }
        _ => return Err(bad),
    };
    buf.push(byte);
    Ok(at + 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Input, then the value and length taken, or the error.
    type Row<'a> = (&'a str, Result<(&'a [u8], usize), LiteralError>);

    #[test]
    fn decodes_and_reports_offsets() {
        let rows: &[Row<'_>] = &[
            (r#""abc" rest"#, Ok((b"abc", 5))),
            (r#"'a\'b'"#, Ok((b"a'b", 6))),
            (r#""\377""#, Ok((b"\xff", 6))),
            ("`a\r\nb`", Ok((b"a\nb", 6))),
            (r#""a\qb""#, Err(LiteralError::InvalidEscape { at: 2 })),
            ("\"ab\ncd\"", Err(LiteralError::Unterminated { at: 0 })),
            ("abc", Err(LiteralError::NotQuoted { at: 0 })),
        ];
        for (src, want) in rows {
            let got = unquote_prefix(src.as_bytes());
            let got = got.as_ref().map(|(v, n)| (v.as_ref(), *n)).map_err(|e| *e);
            assert_eq!(got, *want, "{src:?}");
        }
    }
}
