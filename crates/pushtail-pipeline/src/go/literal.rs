//! Go string literals in pipeline config (LogQL selectors, Go templates):
//! the shared decoder of `pushtail_proto::literal` (Go's `strconv.Unquote`),
//! with the pipeline's rule for bytes that are not UTF-8 (`"\377"`): they
//! become U+FFFD, since labels, lines and template output are text here.

use pushtail_proto::literal::{unquote_prefix as unquote_bytes, LiteralError};

/// Decodes the Go string literal at the start of `src`; returns the value
/// and the number of bytes the literal took.
pub(crate) fn unquote_prefix(src: &str) -> Result<(String, usize), LiteralError> {
    let (value, len) = unquote_bytes(src.as_bytes())?;
    let value = match String::from_utf8(value.into_owned()) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    };
    Ok((value, len))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Case {
        input: String,
        #[serde(default)]
        hex: String,
        #[serde(default)]
        error: bool,
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The shared decoder against real Go's `strconv.Unquote`
    /// (`xtask/golden/stages`), byte for byte.
    #[test]
    fn matches_go_unquote() {
        let cases: Vec<Case> =
            serde_json::from_str(include_str!("testdata/literals.json")).unwrap();
        for c in cases {
            let got = pushtail_proto::literal::unquote_prefix(c.input.as_bytes());
            // Unquote takes the whole input; a prefix decoder must use all of it.
            let got = got.ok().filter(|(_, n)| *n == c.input.len());
            match got {
                Some((v, _)) if !c.error => assert_eq!(hex(&v), c.hex, "{:?}", c.input),
                None if c.error => {}
                other => panic!("{:?}: Go error={} got {other:?}", c.input, c.error),
            }
        }
    }

    #[test]
    fn non_utf8_bytes_become_replacement_characters() {
        let (v, n) = super::unquote_prefix(r#""a\377b" x"#).unwrap();
        assert_eq!((v.as_str(), n), ("a\u{fffd}b", 8));
        let (v, _) = super::unquote_prefix(r#""\xc3\xa9""#).unwrap();
        assert_eq!(v, "é");
    }
}
