//! What Go's `encoding/json` does with text that is not valid UTF-8, so a
//! body Loki (a Go program) accepts is accepted here too.
//!
//! Go's `unquote` decodes a string rune by rune with `utf8.DecodeRune`,
//! which returns `(U+FFFD, 1)` for every byte that does not start a valid
//! sequence: each invalid byte becomes one U+FFFD. A `\uXXXX` escape of a
//! UTF-16 surrogate is combined with an immediately following `\uXXXX` low
//! surrogate when the two form a pair; any other surrogate escape becomes
//! U+FFFD. serde_json refuses both, so [`coerce`] rewrites a body into the
//! text Go would have decoded, and the decoder retries on that. Checked
//! against real Go's output in `testdata/go_unquote.golden.json`.
//!
//! Must never panic and never change a valid body.

/// `body` with Go's replacements applied, or `None` when it has nothing to
/// replace.
pub(crate) fn coerce(body: &[u8]) -> Option<Vec<u8>> {
    let replaced = replace_invalid_bytes(body);
    let text = replaced.as_deref().unwrap_or(body);
    let mut lone = Vec::new();
    lone_surrogates(text, |at| lone.push(at));
    if lone.is_empty() {
        return replaced;
    }
    let mut out = replaced.unwrap_or_else(|| body.to_vec());
    for at in lone {
        out[at..at + 6].copy_from_slice(b"\\ufffd");
    }
    Some(out)
}

/// Each byte of an invalid UTF-8 sequence → U+FFFD; `None` if all valid.
fn replace_invalid_bytes(body: &[u8]) -> Option<Vec<u8>> {
    if std::str::from_utf8(body).is_ok() {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() + 16);
    for chunk in body.utf8_chunks() {
        out.extend_from_slice(chunk.valid().as_bytes());
        // Rust groups a truncated sequence into one invalid run; every byte
        // after its first is a continuation byte, which Go also rejects on
        // its own, so the run is exactly as many U+FFFD as it has bytes.
        for _ in chunk.invalid() {
            out.extend_from_slice("\u{FFFD}".as_bytes());
        }
    }
    Some(out)
}

/// Calls `hit` with the offset of each `\uXXXX` escape, inside a JSON
/// string, that is a surrogate not paired as Go pairs them.
fn lone_surrogates(b: &[u8], mut hit: impl FnMut(usize)) {
    let mut i = 0;
    let mut in_string = false;
    while i < b.len() {
        match b[i] {
            b'"' => {
                in_string = !in_string;
                i += 1;
            }
            b'\\' if in_string => {
                let Some(cp) = escape_at(b, i) else {
                    i += 2;
                    continue;
                };
                if (0xD800..0xDC00).contains(&cp)
                    && escape_at(b, i + 6).is_some_and(|lo| (0xDC00..0xE000).contains(&lo))
                {
                    i += 12;
                    continue;
                }
                if (0xD800..0xE000).contains(&cp) {
                    hit(i);
                }
                i += 6;
            }
            _ => i += 1,
        }
    }
}

/// The code unit of a `\uXXXX` escape starting at `at`.
fn escape_at(b: &[u8], at: usize) -> Option<u32> {
    let esc = b.get(at..at + 6)?;
    if esc[0] != b'\\' || esc[1] != b'u' {
        return None;
    }
    let hex = std::str::from_utf8(&esc[2..]).ok()?;
    u32::from_str_radix(hex, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every string literal in `testdata/go_unquote.golden.json` (made by
    /// real Go, `testdata/go_unquote.go`) decodes to what Go decoded it to.
    #[test]
    fn golden_outputs_from_go() {
        #[derive(serde::Deserialize)]
        struct Golden {
            #[serde(rename = "in")]
            input: Vec<u8>,
            out: String,
        }
        let cases: Vec<Golden> =
            serde_json::from_str(include_str!("testdata/go_unquote.golden.json")).unwrap();
        assert!(cases.len() >= 20);
        for case in cases {
            let body = coerce(&case.input).unwrap_or_else(|| case.input.clone());
            let got: String = serde_json::from_slice(&body).unwrap();
            assert_eq!(got, case.out, "{:?}", String::from_utf8_lossy(&case.input));
        }
    }

    /// Rows: body → what Go's encoding/json decodes the string to, as the
    /// JSON text serde_json then reads (None: unchanged).
    #[test]
    fn replacements_follow_go() {
        let cases: &[(&[u8], Option<&[u8]>)] = &[
            (br#""plain""#, None),
            (br#""\ud83d\ude00""#, None),
            (br#""\\ud800""#, None),
            (b"\"a\xffb\"", Some("\"a\u{FFFD}b\"".as_bytes())),
            // A truncated 3-byte sequence: one U+FFFD per byte, as Go.
            (b"\"\xe2\x82A\"", Some("\"\u{FFFD}\u{FFFD}A\"".as_bytes())),
            // UTF-8-encoded surrogate and overlong NUL.
            (
                b"\"\xed\xa0\x80\"",
                Some("\"\u{FFFD}\u{FFFD}\u{FFFD}\"".as_bytes()),
            ),
            (b"\"\xc0\x80\"", Some("\"\u{FFFD}\u{FFFD}\"".as_bytes())),
            (
                b"\"\xf0\x9f\x98\"",
                Some("\"\u{FFFD}\u{FFFD}\u{FFFD}\"".as_bytes()),
            ),
            (br#""\ud800""#, Some(br#""\ufffd""#)),
            (br#""\udc00x""#, Some(br#""\ufffdx""#)),
            (br#""\ud800\u0041""#, Some(br#""\ufffd\u0041""#)),
            (br#""\ud800\ud83d\ude00""#, Some(br#""\ufffd\ud83d\ude00""#)),
            (br#""\ud83d\ude00\udc00""#, Some(br#""\ud83d\ude00\ufffd""#)),
            (br#""\\\ud800""#, Some(br#""\\\ufffd""#)),
            (b"\"\\ud800\xff\"", Some("\"\\ufffd\u{FFFD}\"".as_bytes())),
            // Outside strings nothing is an escape.
            (br#"{"a":1}"#, None),
            (b"\\ud800", None),
        ];
        for (body, want) in cases {
            let got = coerce(body);
            assert_eq!(got.as_deref(), *want, "{:?}", String::from_utf8_lossy(body));
        }
    }
}
