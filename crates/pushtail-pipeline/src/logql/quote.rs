//! Go string literals (`"…"` with escapes, `` `…` `` raw), as LogQL selectors
//! and Go templates write them.
//!
//! Only decoding lives here; it never allocates more than the literal's size.

/// Decodes the Go string literal at the start of `src` (which must begin
/// with `"` or `` ` ``). Returns the value and the number of bytes consumed,
/// or a message saying what is wrong.
pub(crate) fn unquote_prefix(src: &str) -> Result<(String, usize), String> {
    let mut chars = src.char_indices();
    let quote = match chars.next() {
        Some((_, q @ ('"' | '`'))) => q,
        _ => return Err("expected a string literal".to_owned()),
    };
    let mut out = String::new();
    if quote == '`' {
        return match src[1..].find('`') {
            Some(end) => {
                out.push_str(&src[1..1 + end]);
                Ok((out, end + 2))
            }
            None => Err("unterminated raw string".to_owned()),
        };
    }
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, i + 1)),
            '\n' => return Err("newline in string literal".to_owned()),
            '\\' => {
                let (_, e) = chars.next().ok_or("unterminated string literal")?;
                match e {
                    'a' => out.push('\x07'),
                    'b' => out.push('\x08'),
                    'f' => out.push('\x0c'),
                    'n' => out.push('\n'),
                    'r' => out.push('\r'),
                    't' => out.push('\t'),
                    'v' => out.push('\x0b'),
                    '\\' => out.push('\\'),
                    '"' => out.push('"'),
                    'x' | 'u' | 'U' => {
                        let n = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let mut v: u32 = 0;
                        for _ in 0..n {
                            let (_, h) = chars.next().ok_or("unterminated escape")?;
                            let d = h.to_digit(16).ok_or("invalid hex escape")?;
                            v = v * 16 + d;
                        }
                        out.push(char::from_u32(v).ok_or("escape is not a valid character")?);
                    }
                    '0'..='7' => {
                        let mut v = e.to_digit(8).unwrap_or(0);
                        for _ in 0..2 {
                            let (_, o) = chars.next().ok_or("unterminated escape")?;
                            v = v * 8 + o.to_digit(8).ok_or("invalid octal escape")?;
                        }
                        // Go's \ooo is a byte; bytes over 0x7f are not valid
                        // UTF-8 on their own, so keep them as U+FFFD.
                        out.push(if v < 0x80 {
                            char::from_u32(v).unwrap_or('\u{fffd}')
                        } else {
                            '\u{fffd}'
                        });
                    }
                    other => return Err(format!("unknown escape sequence \\{other}")),
                }
            }
            c => out.push(c),
        }
    }
    Err("unterminated string literal".to_owned())
}

#[cfg(test)]
mod tests {
    use super::unquote_prefix;

    #[test]
    fn literals() {
        let ok = [
            (r#""abc" rest"#, "abc", 5),
            (r#""a\"b""#, "a\"b", 6),
            (r#""\n\t\\""#, "\n\t\\", 8),
            (r#""\x41\u00e9\101""#, "AéA", 16),
            ("`raw\\n`", "raw\\n", 7),
            (r#""""#, "", 2),
        ];
        for (src, want, used) in ok {
            let (got, n) = unquote_prefix(src).unwrap();
            assert_eq!((got.as_str(), n), (want, used), "{src}");
        }
        for bad in [r#""abc"#, "`abc", r#""\q""#, "abc", r#""\x4""#, "\"a\nb\""] {
            assert!(unquote_prefix(bad).is_err(), "{bad:?}");
        }
    }
}
