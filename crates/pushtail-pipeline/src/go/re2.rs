//! Go's regular expressions (RE2 syntax, Perl flags) on Rust's `regex`.
//!
//! The two dialects are close but not equal, and a Promtail config must
//! load and match the same here. [`translate`] rewrites the differences
//! before compiling:
//!
//! - in a class, `-` that cannot form a range is literal in Go
//!   (`[\w-.]`, `[T\d-:.Z]`), an error in Rust: written `\-`;
//! - `[`, `&&`, `--`, `~~` inside a class are literal in Go, nested classes
//!   and set operations in Rust: escaped;
//! - `\d \w \s \b` (and their negations) are ASCII in Go, Unicode in Rust:
//!   written as their ASCII classes;
//! - `\Q…\E` quoting, `\C` and octal escapes (`\012`) exist only in Go;
//! - `\<` and `\>` are literal in Go, word boundaries in Rust;
//! - a `{` that does not start a repetition (`a{`, `x{,3}`) is literal in Go.
//!
//! Anything else is passed through unchanged, so a pattern Go rejects is
//! still rejected by Rust's parser. Translation happens once, at load.

use std::borrow::Cow;
use std::fmt::Write;

/// Rewrites Go regexp syntax into the Rust `regex` pattern that matches
/// the same strings.
pub(crate) fn translate(re: &str) -> Cow<'_, str> {
    let needs = re.contains(['\\', '[', '{']);
    if !needs {
        return Cow::Borrowed(re);
    }
    let mut t = Translator {
        src: re.as_bytes(),
        s: re,
        pos: 0,
        out: String::with_capacity(re.len() + 16),
    };
    t.run();
    Cow::Owned(t.out)
}

/// Compiles a Go regexp as `regex::Regex` (see [`translate`]).
pub(crate) fn compile(re: &str) -> Result<regex::Regex, regex::Error> {
    regex::Regex::new(&translate(re))
}

/// Compiles a Go regexp as `regex::bytes::Regex` (see [`translate`]).
pub(crate) fn compile_bytes(re: &str) -> Result<regex::bytes::Regex, regex::Error> {
    regex::bytes::Regex::new(&translate(re))
}

struct Translator<'a> {
    src: &'a [u8],
    s: &'a str,
    pos: usize,
    out: String,
}

const DIGIT: &str = "0-9";
const WORD: &str = "0-9A-Za-z_";
const SPACE: &str = r"\t\n\x0C\r ";

impl Translator<'_> {
    fn peek(&self, ahead: usize) -> Option<u8> {
        self.src.get(self.pos + ahead).copied()
    }

    /// Copies the char at `pos` verbatim.
    fn copy_char(&mut self) {
        if let Some(c) = self.s[self.pos..].chars().next() {
            self.out.push(c);
            self.pos += c.len_utf8();
        }
    }

    fn run(&mut self) {
        while self.pos < self.src.len() {
            match self.src[self.pos] {
                b'\\' => self.escape_outside(),
                b'[' => self.class(),
                b'{' => self.brace(),
                _ => self.copy_char(),
            }
        }
    }

    /// A `{`: a repetition `{n}`, `{n,}`, `{n,m}` is copied, anything else
    /// is a literal brace in Go.
    fn brace(&mut self) {
        let rest = &self.s[self.pos + 1..];
        let n = rest.bytes().take_while(u8::is_ascii_digit).count();
        let after = &rest[n..];
        let len = if n == 0 {
            None
        } else if after.starts_with('}') {
            Some(n + 2)
        } else if let Some(more) = after.strip_prefix(',') {
            let m = more.bytes().take_while(u8::is_ascii_digit).count();
            more[m..].starts_with('}').then_some(n + m + 3)
        } else {
            None
        };
        match len {
            Some(len) => {
                self.out.push_str(&self.s[self.pos..self.pos + len]);
                self.pos += len;
            }
            None => {
                self.out.push_str(r"\{");
                self.pos += 1;
            }
        }
    }

    /// Octal escape digits after the backslash at `pos` (Go: `\0`, `\01`,
    /// `\012`, and `\1`..`\7` only when followed by another octal digit).
    fn octal(&self) -> Option<(u32, usize)> {
        let first = self.peek(1).filter(|c| (b'0'..=b'7').contains(c))?;
        if first != b'0' && !self.peek(2).is_some_and(|c| (b'0'..=b'7').contains(&c)) {
            return None;
        }
        let mut v = 0u32;
        let mut n = 0;
        while n < 3 {
            match self.peek(1 + n) {
                Some(c @ b'0'..=b'7') => v = v * 8 + u32::from(c - b'0'),
                _ => break,
            }
            n += 1;
        }
        Some((v, n + 1))
    }

    fn escape_outside(&mut self) {
        let Some(c) = self.peek(1) else {
            self.copy_char();
            return;
        };
        let ascii = |out: &mut String, set: &str, neg: bool| {
            let _ = write!(out, "[{}{set}]", if neg { "^" } else { "" });
        };
        match c {
            b'd' | b'D' => ascii(&mut self.out, DIGIT, c == b'D'),
            b'w' | b'W' => ascii(&mut self.out, WORD, c == b'W'),
            b's' | b'S' => ascii(&mut self.out, SPACE, c == b'S'),
            b'b' => self.out.push_str(r"(?-u:\b)"),
            b'B' => self.out.push_str(r"(?-u:\B)"),
            b'<' | b'>' => self.out.push(char::from(c)),
            b'C' => self.out.push_str("(?s:.)"),
            b'p' | b'P' => {
                self.copy_unicode_class();
                return;
            }
            b'Q' => {
                let body = &self.s[self.pos + 2..];
                let (quoted, used) = match body.find(r"\E") {
                    Some(end) => (&body[..end], end + 2),
                    None => (body, body.len()),
                };
                self.out.push_str(&regex::escape(quoted));
                self.pos += 2 + used;
                return;
            }
            b'0'..=b'7' if self.octal().is_some() => {
                let (v, len) = self.octal().unwrap_or((0, 2));
                let _ = write!(self.out, r"\x{{{v:X}}}");
                self.pos += len;
                return;
            }
            _ => {
                self.out.push('\\');
                self.pos += 1;
                self.copy_char();
                return;
            }
        }
        self.pos += 2;
    }

    /// A bracketed class, from its `[` to its `]`.
    fn class(&mut self) {
        let start = self.pos;
        let out_start = self.out.len();
        self.out.push('[');
        self.pos += 1;
        if self.peek(0) == Some(b'^') {
            self.out.push('^');
            self.pos += 1;
        }
        let mut first = true;
        loop {
            let Some(c) = self.peek(0) else {
                // Unterminated: leave it for the regex parser to reject.
                self.out.truncate(out_start);
                self.out.push_str(&self.s[start..]);
                self.pos = self.src.len();
                return;
            };
            if c == b']' && !first {
                self.out.push(']');
                self.pos += 1;
                return;
            }
            first = false;
            if c == b'[' && self.s[self.pos..].starts_with("[:") {
                if let Some(end) = self.s[self.pos + 2..].find(":]") {
                    let len = end + 4;
                    self.out.push_str(&self.s[self.pos..self.pos + len]);
                    self.pos += len;
                    continue;
                }
            }
            if c == b'\\' {
                let set = match self.peek(1) {
                    Some(b'd') => Some((DIGIT, false)),
                    Some(b'D') => Some((DIGIT, true)),
                    Some(b'w') => Some((WORD, false)),
                    Some(b'W') => Some((WORD, true)),
                    Some(b's') => Some((SPACE, false)),
                    Some(b'S') => Some((SPACE, true)),
                    _ => None,
                };
                if let Some((set, neg)) = set {
                    if neg {
                        let _ = write!(self.out, "[^{set}]");
                    } else {
                        self.out.push_str(set);
                    }
                    self.pos += 2;
                    continue;
                }
                if matches!(self.peek(1), Some(b'p' | b'P')) {
                    self.copy_unicode_class();
                    continue;
                }
            }
            // A single character, possibly the start of a range.
            self.class_char();
            if self.peek(0) == Some(b'-') && self.peek(1).is_some_and(|c| c != b']') {
                self.out.push('-');
                self.pos += 1;
                self.class_char();
            }
        }
    }

    /// `\pL`, `\p{Greek}`, `\PL`, copied.
    fn copy_unicode_class(&mut self) {
        let len = if self.peek(2) == Some(b'{') {
            self.s[self.pos..].find('}').map_or(3, |e| e + 1)
        } else {
            3
        };
        let end = (self.pos + len).min(self.s.len());
        match self.s.get(self.pos..end) {
            Some(text) => {
                self.out.push_str(text);
                self.pos = end;
            }
            None => self.copy_char(),
        }
    }

    /// One class character (literal or escape), written so that Rust reads
    /// it as that character.
    fn class_char(&mut self) {
        match self.peek(0) {
            Some(b'\\') => {
                if let Some((v, len)) = self.octal() {
                    let _ = write!(self.out, r"\x{{{v:X}}}");
                    self.pos += len;
                } else if self.peek(1).is_some() {
                    self.out.push('\\');
                    self.pos += 1;
                    if matches!(self.peek(0), Some(b'x')) && self.peek(1) == Some(b'{') {
                        let len = self.s[self.pos..].find('}').map_or(1, |e| e + 1);
                        self.out.push_str(&self.s[self.pos..self.pos + len]);
                        self.pos += len;
                    } else if matches!(self.peek(0), Some(b'x')) {
                        let len = (self.s.len() - self.pos).min(3);
                        match self.s.get(self.pos..self.pos + len) {
                            Some(t) => {
                                self.out.push_str(t);
                                self.pos += len;
                            }
                            None => self.copy_char(),
                        }
                    } else {
                        self.copy_char();
                    }
                } else {
                    self.copy_char();
                }
            }
            Some(b'[' | b'&' | b'~' | b'-') => {
                self.out.push('\\');
                self.copy_char();
            }
            Some(_) => self.copy_char(),
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translations() {
        for (go, rust) in [
            ("plain", "plain"),
            (r"[\w-.]+", r"[0-9A-Za-z_\-.]+"),
            (r"[T\d-:.Z]", r"[T0-9\-:.Z]"),
            (r"\d+\s\w", r"[0-9]+[\t\n\x0C\r ][0-9A-Za-z_]"),
            (r"[^\D]", r"[^[^0-9]]"),
            (r"\bx\B", r"(?-u:\b)x(?-u:\B)"),
            (r"[a-z0-9]", r"[a-z0-9]"),
            (r"[[]", r"[\[]"),
            (r"[a&&b]", r"[a\&\&b]"),
            (r"[]a]", r"[]a]"),
            (r"[-a]", r"[\-a]"),
            (r"[a-]", r"[a\-]"),
            (r"[!-~]", r"[!-\~]"),
            (r"[[:alpha:]-]", r"[[:alpha:]\-]"),
            (r"\Q.*\E+", r"\.\*+"),
            (r"\012\0", r"\x{A}\x{0}"),
            (r"a{2}b{1,}c{1,3}d{,3}e{", r"a{2}b{1,}c{1,3}d\{,3}e\{"),
            (r"\<x\>", "<x>"),
            (r"[\x41-\x{5A}]", r"[\x41-\x{5A}]"),
            (r"\p{Greek}[\pL\d]", r"\p{Greek}[\pL0-9]"),
            (r"(?P<ts>[^ ]+)", r"(?P<ts>[^ ]+)"),
        ] {
            assert_eq!(translate(go), rust, "{go}");
            assert!(regex::Regex::new(&translate(go)).is_ok(), "{go}");
        }
    }

    #[test]
    fn matches_as_go_does() {
        // (Go pattern, text, does Go's regexp match)
        for (re, text, want) in [
            (r"^[\w-.]+$", "my-host.example", true),
            (r"^[T\d-:.Z]+$", "2024-01-02T03:04:05.000Z", true),
            (r"^\d$", "٣", false),
            (r"^\w+$", "é", false),
            (r"^[[]$", "[", true),
            (r"^a{,3}$", "a{,3}", true),
            (r"^\Qa.b\E$", "a.b", true),
            (r"^\Qa.b\E$", "axb", false),
            (r"^[a&&b]+$", "a&b", true),
            (r"x\b", "x!", true),
        ] {
            assert_eq!(
                compile(re).unwrap().is_match(text),
                want,
                "{re} on {text:?}"
            );
        }
    }

    #[test]
    fn promtail_docs_example_loads() {
        // The regex stage example from Promtail's pipelines.md.
        let re =
            r#"^(?s)(?P<time>\S+?) (?P<stream>stdout|stderr) (?P<flags>\S+?) (?P<content>.*)$"#;
        assert!(compile(re).is_ok());
        let re = r#"^(?P<timestamp>[T\d-:.Z]*) (?P<flag>[\w-.]+)? ?(?P<level>\w+)?"#;
        let caps = compile(re)
            .unwrap()
            .captures("2019-01-01T01:00:00.000000001Z stderr info msg")
            .unwrap();
        assert_eq!(&caps["timestamp"], "2019-01-01T01:00:00.000000001Z");
        assert_eq!(&caps["flag"], "stderr");
    }

    #[test]
    fn go_errors_stay_errors() {
        // (Go also rejects nested repetitions such as `a**`; Rust takes
        // them, which only lets more configs load.)
        for bad in [r"(", r"[a", r"\1", r"[z-a]"] {
            assert!(compile(bad).is_err(), "{bad}");
        }
    }
}
