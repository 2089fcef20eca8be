//! LogQL log selectors as Promtail's `match` stage reads them: a stream
//! selector `{a="b", c=~"x.*", d!="y", e!~"z"}` optionally followed by line
//! filters `|= "s"`, `!= "s"`, `|~ "re"`, `!~ "re"`.
//!
//! Parsing happens once at config load; matching is allocation-free. This
//! module never evaluates label parsers, label filters or metric queries:
//! they are rejected at parse time.

mod parse;
pub(crate) mod quote;

use regex::bytes::Regex as BytesRegex;
use regex::Regex;

pub(crate) use parse::parse_log_selector;

/// Why a selector did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SelectorError {
    #[error("parse error at byte {pos}: {msg}")]
    Syntax { pos: usize, msg: String },
    #[error("invalid regex {re:?}: {msg}")]
    Regex { re: String, msg: String },
}

/// One label matcher. Regex matchers are fully anchored, `.` matches
/// newlines, and a missing label matches as the empty string (Prometheus).
#[derive(Debug, Clone)]
pub(crate) struct LabelMatcher {
    pub(crate) name: String,
    kind: MatcherKind,
}

#[derive(Debug, Clone)]
enum MatcherKind {
    Eq(String),
    Ne(String),
    Re(Regex),
    Nre(Regex),
}

impl LabelMatcher {
    pub(crate) fn matches(&self, value: Option<&str>) -> bool {
        let v = value.unwrap_or("");
        match &self.kind {
            MatcherKind::Eq(want) => v == want,
            MatcherKind::Ne(want) => v != want,
            MatcherKind::Re(re) => re.is_match(v),
            MatcherKind::Nre(re) => !re.is_match(v),
        }
    }
}

/// One line filter; regexes are unanchored, as in LogQL.
#[derive(Debug, Clone)]
pub(crate) enum LineFilter {
    Contains(BytesRegex),
    NotContains(BytesRegex),
    Matches(BytesRegex),
    NotMatches(BytesRegex),
}

impl LineFilter {
    fn keeps(&self, line: &[u8]) -> bool {
        match self {
            LineFilter::Contains(re) | LineFilter::Matches(re) => re.is_match(line),
            LineFilter::NotContains(re) | LineFilter::NotMatches(re) => !re.is_match(line),
        }
    }
}

/// A parsed log selector.
#[derive(Debug, Clone)]
pub(crate) struct LogSelector {
    pub(crate) matchers: Vec<LabelMatcher>,
    pub(crate) filters: Vec<LineFilter>,
}

impl LogSelector {
    /// True when every label matcher accepts the labels looked up by `get`.
    pub(crate) fn matches_labels<'a>(&self, get: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.matchers.iter().all(|m| m.matches(get(&m.name)))
    }

    /// True when every line filter keeps `line`.
    pub(crate) fn matches_line(&self, line: &[u8]) -> bool {
        self.filters.iter().all(|f| f.keeps(line))
    }
}

fn anchored(re: &str) -> Result<Regex, SelectorError> {
    Regex::new(&format!("^(?s:{})$", crate::go::re2::translate(re))).map_err(|e| {
        SelectorError::Regex {
            re: re.to_owned(),
            msg: e.to_string(),
        }
    })
}

fn unanchored(re: &str) -> Result<BytesRegex, SelectorError> {
    crate::go::re2::compile_bytes(re).map_err(|e| SelectorError::Regex {
        re: re.to_owned(),
        msg: e.to_string(),
    })
}

fn literal(s: &str) -> Result<BytesRegex, SelectorError> {
    unanchored(&regex::escape(s))
}

#[cfg(test)]
mod tests;
