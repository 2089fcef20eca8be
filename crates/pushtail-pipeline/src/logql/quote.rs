//! Go string literals as LogQL selectors and Go templates write them: a
//! thin adapter over the shared decoder in [`crate::go::literal`].

/// Decodes the Go string literal at the start of `src` (which must begin
/// with `"` or `` ` ``). Returns the value and the number of bytes consumed,
/// or a message saying what is wrong.
pub(crate) fn unquote_prefix(src: &str) -> Result<(String, usize), String> {
    if src.starts_with('\'') {
        return Err("expected a string literal".to_owned());
    }
    crate::go::literal::unquote_prefix(src).map_err(|e| e.to_string())
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
            (r#""\xc3\xa9""#, "é", 10),
            ("`raw\\n`", "raw\\n", 7),
            (r#""""#, "", 2),
        ];
        for (src, want, used) in ok {
            let (got, n) = unquote_prefix(src).unwrap();
            assert_eq!((got.as_str(), n), (want, used), "{src}");
        }
        for bad in [
            r#""abc"#, "`abc", r#""\q""#, "abc", r#""\x4""#, "\"a\nb\"", "'a'",
        ] {
            assert!(unquote_prefix(bad).is_err(), "{bad:?}");
        }
    }
}
