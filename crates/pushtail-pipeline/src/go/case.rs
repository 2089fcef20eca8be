//! Go's case mapping: `strings.ToUpper`, `strings.ToLower` and
//! `strings.ToTitle` map each rune on its own with Unicode's simple
//! (one-to-one) mappings, so `ToUpper("straße")` is `STRAßE` and every `Σ`
//! lowers to `σ` (no final `ς`). Rust's `str` methods use the full,
//! context-sensitive mappings instead; this module never does.
//!
//! Rust's per-char mappings are the simple ones except where Unicode's full
//! mapping has several chars; those runes are looked up in the small tables
//! below (checked against every rune Go maps by the golden test).

use std::borrow::Cow;

/// `strings.ToUpper`.
pub fn to_upper(s: &str) -> Cow<'_, str> {
    map(s, upper)
}

/// `strings.ToLower`.
pub fn to_lower(s: &str) -> Cow<'_, str> {
    map(s, lower)
}

/// `strings.ToTitle`: every rune to its title case.
#[cfg(test)]
pub fn to_title(s: &str) -> Cow<'_, str> {
    map(s, title)
}

fn map(s: &str, f: fn(char) -> char) -> Cow<'_, str> {
    match s.char_indices().find(|&(_, c)| f(c) != c) {
        None => Cow::Borrowed(s),
        Some((i, _)) => {
            let mut out = String::with_capacity(s.len());
            out.push_str(&s[..i]);
            out.extend(s[i..].chars().map(f));
            Cow::Owned(out)
        }
    }
}

/// The single char a case-mapping iterator yields, if it yields exactly one.
fn single(mut it: impl Iterator<Item = char>) -> Option<char> {
    let c = it.next()?;
    it.next().is_none().then_some(c)
}

/// `unicode.ToUpper`.
pub fn upper(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_uppercase();
    }
    single(c.to_uppercase()).unwrap_or_else(|| simple(c, UPPER))
}

/// `unicode.ToLower`.
pub fn lower(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_lowercase();
    }
    single(c.to_lowercase()).unwrap_or_else(|| simple(c, LOWER))
}

/// `unicode.ToTitle`.
pub fn title(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_uppercase();
    }
    // Georgian Mkhedruli has upper-case (Mtavruli) forms but no title case.
    if matches!(c, '\u{10D0}'..='\u{10FA}' | '\u{10FD}'..='\u{10FF}') {
        return c;
    }
    match TITLE.binary_search_by_key(&c, |&(from, _)| from) {
        Ok(i) => TITLE[i].1,
        Err(_) => upper(c),
    }
}

/// The simple mapping of a rune whose full mapping has several chars; a
/// rune absent from `table` maps to itself.
fn simple(c: char, table: &[(char, char)]) -> char {
    match table.binary_search_by_key(&c, |&(from, _)| from) {
        Ok(i) => table[i].1,
        Err(_) => c,
    }
}

/// Simple uppercase of the runes whose full uppercase has several chars
/// (Greek with ypogegrammeni: the simple mapping keeps it as one rune).
const UPPER: &[(char, char)] = &[
    ('\u{1F80}', '\u{1F88}'),
    ('\u{1F81}', '\u{1F89}'),
    ('\u{1F82}', '\u{1F8A}'),
    ('\u{1F83}', '\u{1F8B}'),
    ('\u{1F84}', '\u{1F8C}'),
    ('\u{1F85}', '\u{1F8D}'),
    ('\u{1F86}', '\u{1F8E}'),
    ('\u{1F87}', '\u{1F8F}'),
    ('\u{1F90}', '\u{1F98}'),
    ('\u{1F91}', '\u{1F99}'),
    ('\u{1F92}', '\u{1F9A}'),
    ('\u{1F93}', '\u{1F9B}'),
    ('\u{1F94}', '\u{1F9C}'),
    ('\u{1F95}', '\u{1F9D}'),
    ('\u{1F96}', '\u{1F9E}'),
    ('\u{1F97}', '\u{1F9F}'),
    ('\u{1FA0}', '\u{1FA8}'),
    ('\u{1FA1}', '\u{1FA9}'),
    ('\u{1FA2}', '\u{1FAA}'),
    ('\u{1FA3}', '\u{1FAB}'),
    ('\u{1FA4}', '\u{1FAC}'),
    ('\u{1FA5}', '\u{1FAD}'),
    ('\u{1FA6}', '\u{1FAE}'),
    ('\u{1FA7}', '\u{1FAF}'),
    ('\u{1FB3}', '\u{1FBC}'),
    ('\u{1FC3}', '\u{1FCC}'),
    ('\u{1FF3}', '\u{1FFC}'),
];

/// Simple lowercase of the runes whose full lowercase has several chars.
const LOWER: &[(char, char)] = &[('\u{130}', 'i')];

/// Runes whose title case is not their upper case.
const TITLE: &[(char, char)] = &[
    ('\u{1C4}', '\u{1C5}'),
    ('\u{1C5}', '\u{1C5}'),
    ('\u{1C6}', '\u{1C5}'),
    ('\u{1C7}', '\u{1C8}'),
    ('\u{1C8}', '\u{1C8}'),
    ('\u{1C9}', '\u{1C8}'),
    ('\u{1CA}', '\u{1CB}'),
    ('\u{1CB}', '\u{1CB}'),
    ('\u{1CC}', '\u{1CB}'),
    ('\u{1F1}', '\u{1F2}'),
    ('\u{1F2}', '\u{1F2}'),
    ('\u{1F3}', '\u{1F2}'),
];

#[cfg(test)]
#[path = "case_tests.rs"]
mod tests;
