//! Recursive-descent parser for `{matchers} filters…`.

use super::quote::unquote_prefix;
use super::{
    anchored, literal, unanchored, LabelMatcher, LineFilter, LogSelector, MatcherKind,
    SelectorError,
};

struct Cursor<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn err<T>(&self, msg: impl Into<String>) -> Result<T, SelectorError> {
        Err(SelectorError::Syntax {
            pos: self.pos,
            msg: msg.into(),
        })
    }

    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    fn skip_ws(&mut self) {
        let r = self.rest();
        self.pos += r.len() - r.trim_start().len();
    }

    fn eat(&mut self, tok: &str) -> bool {
        self.skip_ws();
        if self.rest().starts_with(tok) {
            self.pos += tok.len();
            true
        } else {
            false
        }
    }

    fn ident(&mut self) -> Result<&'a str, SelectorError> {
        self.skip_ws();
        let r = self.rest();
        let len = r
            .char_indices()
            .find(|&(i, c)| !(c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())))
            .map_or(r.len(), |(i, _)| i);
        if len == 0 {
            return self.err("expected a label name");
        }
        self.pos += len;
        Ok(&r[..len])
    }

    fn string(&mut self) -> Result<String, SelectorError> {
        self.skip_ws();
        match unquote_prefix(self.rest()) {
            Ok((s, used)) => {
                self.pos += used;
                Ok(s)
            }
            Err(msg) => self.err(msg),
        }
    }
}

/// Parses a LogQL log selector: a stream selector with at least one matcher,
/// then any number of line filters.
pub(crate) fn parse_log_selector(src: &str) -> Result<LogSelector, SelectorError> {
    let mut c = Cursor { src, pos: 0 };
    if !c.eat("{") {
        return c.err("expected '{'");
    }
    let mut matchers = Vec::new();
    loop {
        if c.eat("}") {
            break;
        }
        let name = c.ident()?.to_owned();
        let kind = if c.eat("=~") {
            MatcherKind::Re(anchored(&c.string()?)?)
        } else if c.eat("!~") {
            MatcherKind::Nre(anchored(&c.string()?)?)
        } else if c.eat("!=") {
            MatcherKind::Ne(c.string()?)
        } else if c.eat("=") {
            MatcherKind::Eq(c.string()?)
        } else {
            return c.err("expected one of =, !=, =~, !~");
        };
        matchers.push(LabelMatcher { name, kind });
        if c.eat(",") {
            continue;
        }
        if c.eat("}") {
            break;
        }
        return c.err("expected ',' or '}'");
    }
    if matchers.is_empty() {
        return c.err("a selector needs at least one label matcher");
    }
    let mut filters = Vec::new();
    loop {
        c.skip_ws();
        if c.rest().is_empty() {
            break;
        }
        let filter = if c.eat("|=") {
            LineFilter::Contains(literal(&c.string()?)?)
        } else if c.eat("!=") {
            LineFilter::NotContains(literal(&c.string()?)?)
        } else if c.eat("|~") {
            LineFilter::Matches(unanchored(&c.string()?)?)
        } else if c.eat("!~") {
            LineFilter::NotMatches(unanchored(&c.string()?)?)
        } else {
            return c.err("expected a line filter (|=, !=, |~, !~); parsers and label filters are not supported here");
        };
        filters.push(filter);
    }
    Ok(LogSelector { matchers, filters })
}
