//! Loki's label syntax, as a push carries it in a protobuf `StreamAdapter`:
//! `{app="api", env="prod"}`.
//!
//! This is the subset of the PromQL/LogQL selector grammar that Loki's
//! `syntax.ParseLabels` (Prometheus `ParseMetric`) accepts: an optional metric
//! name (kept as `__name__`), then `{` name `=` value pairs `}` with
//! whitespace anywhere between tokens and an optional trailing comma. Names
//! may be bare identifiers or quoted strings; values are quoted with `"`,
//! `'` or `` ` `` (backtick strings are raw, the others take Go escape
//! sequences). Pairs with an empty value are dropped, the result is sorted,
//! and a duplicate or invalid name is an error.
//!
//! The parser works on bytes (protobuf strings arrive unvalidated) and every
//! error names the byte offset it stopped at. It must never panic or allocate
//! more than a small multiple of its input, whatever the input.

use crate::labels::{is_valid_label_name, LabelError, LabelSet};
use crate::literal::LiteralError;

/// The longest label string accepted, in bytes.
pub const MAX_LABELS_LEN: usize = 16 << 20;

/// Why a label string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelParseError {
    #[error("label string is {len} bytes, over the limit of {MAX_LABELS_LEN}")]
    TooLong { len: usize },
    #[error("expected {expected} at byte {at}{}", eof_note(*.eof))]
    Expected {
        expected: &'static str,
        at: usize,
        eof: bool,
    },
    #[error("unsupported matcher {op:?} at byte {at}: push labels only allow \"=\"")]
    UnsupportedMatcher { op: &'static str, at: usize },
    #[error("unterminated quoted string starting at byte {at}")]
    Unterminated { at: usize },
    #[error("invalid escape sequence at byte {at}")]
    InvalidEscape { at: usize },
    #[error("invalid utf-8 at byte {at}")]
    InvalidUtf8 { at: usize },
    #[error("invalid label name {name:?} at byte {at}")]
    InvalidName { name: String, at: usize },
    #[error("duplicate label name {name:?}")]
    DuplicateName { name: String },
    #[error(transparent)]
    Label(#[from] LabelError),
}

fn eof_note(eof: bool) -> &'static str {
    if eof {
        " (end of input)"
    } else {
        ""
    }
}

/// Parses a label string in Loki syntax into a canonical [`LabelSet`].
pub fn parse_labels(input: &[u8]) -> Result<LabelSet, LabelParseError> {
    if input.len() > MAX_LABELS_LEN {
        return Err(LabelParseError::TooLong { len: input.len() });
    }
    let mut p = Parser { s: input, pos: 0 };
    let mut pairs: Vec<(String, String)> = Vec::new();
    p.skip_ws();
    if p.peek().is_some_and(is_metric_start) {
        let name = p.ident(is_metric_continue)?;
        pairs.push(("__name__".to_owned(), name));
        p.skip_ws();
    }
    p.expect(b'{', "\"{\"")?;
    loop {
        p.skip_ws();
        let name_at = p.pos;
        let name = match p.peek() {
            Some(b'}') => {
                p.pos += 1;
                break;
            }
            Some(b'"' | b'\'' | b'`') => p.string()?,
            Some(b) if b.is_ascii_alphabetic() || b == b'_' => p.ident(is_label_continue)?,
            _ => return Err(p.expected("label name or \"}\"")),
        };
        if !is_valid_label_name(&name) {
            return Err(LabelParseError::InvalidName { name, at: name_at });
        }
        p.skip_ws();
        p.matcher()?;
        p.skip_ws();
        let value = match p.peek() {
            Some(b'"' | b'\'' | b'`') => p.string()?,
            _ => return Err(p.expected("quoted label value")),
        };
        pairs.push((name, value));
        p.skip_ws();
        match p.peek() {
            Some(b',') => p.pos += 1,
            Some(b'}') => {
                p.pos += 1;
                break;
            }
            _ => return Err(p.expected("\",\" or \"}\" after label value")),
        }
    }
    p.skip_ws();
    if p.pos != input.len() {
        return Err(p.expected("end of input after \"}\""));
    }
    finish(pairs)
}

/// Sorts, rejects duplicate names (before empty values are dropped, as
/// Prometheus does) and builds the set.
fn finish(mut pairs: Vec<(String, String)>) -> Result<LabelSet, LabelParseError> {
    pairs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    if let Some(w) = pairs.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(LabelParseError::DuplicateName {
            name: w[0].0.clone(),
        });
    }
    Ok(LabelSet::from_pairs(pairs)?)
}

fn is_metric_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b':'
}

fn is_metric_continue(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b':'
}

fn is_label_continue(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<u8> {
        self.s.get(self.pos + ahead).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn expected(&self, expected: &'static str) -> LabelParseError {
        LabelParseError::Expected {
            expected,
            at: self.pos,
            eof: self.pos >= self.s.len(),
        }
    }

    fn expect(&mut self, b: u8, what: &'static str) -> Result<(), LabelParseError> {
        if self.peek() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.expected(what))
        }
    }

    /// Consumes the `=` between name and value, rejecting other matchers.
    fn matcher(&mut self) -> Result<(), LabelParseError> {
        let at = self.pos;
        let op = match (self.peek(), self.peek_at(1)) {
            (Some(b'='), Some(b'~')) => "=~",
            (Some(b'!'), Some(b'=')) => "!=",
            (Some(b'!'), Some(b'~')) => "!~",
            (Some(b'='), _) => {
                self.pos += 1;
                return Ok(());
            }
            _ => return Err(self.expected("\"=\" after label name")),
        };
        Err(LabelParseError::UnsupportedMatcher { op, at })
    }

    /// An ASCII identifier; the first byte has been checked by the caller.
    fn ident(&mut self, cont: fn(u8) -> bool) -> Result<String, LabelParseError> {
        let start = self.pos;
        self.pos += 1;
        while self.peek().is_some_and(cont) {
            self.pos += 1;
        }
        self.utf8(start, self.pos).map(str::to_owned)
    }

    fn utf8(&self, start: usize, end: usize) -> Result<&'a str, LabelParseError> {
        let bytes = self.s.get(start..end).unwrap_or_default();
        std::str::from_utf8(bytes).map_err(|e| LabelParseError::InvalidUtf8 {
            at: start + e.valid_up_to(),
        })
    }

    /// A quoted string starting at the current byte (a quote character),
    /// decoded by the shared Go literal decoder; the value must be UTF-8.
    fn string(&mut self) -> Result<String, LabelParseError> {
        let open = self.pos;
        let (value, len) =
            crate::literal::unquote_prefix(&self.s[open..]).map_err(|e| match e {
                LiteralError::NotQuoted { .. } => self.expected("quoted string"),
                LiteralError::Unterminated { .. } => LabelParseError::Unterminated { at: open },
                LiteralError::InvalidEscape { at } => {
                    LabelParseError::InvalidEscape { at: open + at }
                }
            })?;
        // Point at the bad byte of the source when it is there, else at
        // the literal (an escape such as `\377` made the bad byte).
        self.utf8(open, open + len)?;
        self.pos = open + len;
        String::from_utf8(value.into_owned()).map_err(|_| LabelParseError::InvalidUtf8 { at: open })
    }
}

#[cfg(test)]
mod tests;
