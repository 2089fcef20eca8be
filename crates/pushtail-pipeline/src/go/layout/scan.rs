//! Go's value scanners from `time/format.go`: numbers, fractions, table
//! names, literals and zone abbreviations read from the start of a value.

use super::LayoutError;

/// Go's `getnum`: one or two digits (exactly two when `fixed`).
pub(super) fn getnum(s: &str, fixed: bool) -> Result<(i64, &str), LayoutError> {
    let b = s.as_bytes();
    let digit = |i: usize| {
        b.get(i)
            .filter(|c| c.is_ascii_digit())
            .map(|c| i64::from(c - b'0'))
    };
    let first = digit(0).ok_or(LayoutError::Mismatch)?;
    match digit(1) {
        None if fixed => Err(LayoutError::Mismatch),
        None => Ok((first, &s[1..])),
        Some(second) => Ok((first * 10 + second, &s[2..])),
    }
}

/// Go's `getnum3`: up to three digits (exactly three when `fixed`).
pub(super) fn getnum3(s: &str, fixed: bool) -> Result<(i64, &str), LayoutError> {
    let n = s.bytes().take(3).take_while(u8::is_ascii_digit).count();
    if n == 0 || (fixed && n != 3) {
        return Err(LayoutError::Mismatch);
    }
    let v = s[..n].bytes().fold(0, |v, c| v * 10 + i64::from(c - b'0'));
    Ok((v, &s[n..]))
}

/// Go's `atoi`: optional sign, then decimal digits (an empty rest is 0).
pub(super) fn atoi(s: &str) -> Result<i64, LayoutError> {
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut v: i64 = 0;
    for c in digits.bytes() {
        if !c.is_ascii_digit() {
            return Err(LayoutError::Mismatch);
        }
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(i64::from(c - b'0')))
            .ok_or(LayoutError::Mismatch)?;
    }
    Ok(if neg { -v } else { v })
}

/// Go's `lookup`: the table entry `s` starts with, ASCII case-insensitively.
pub(super) fn lookup<'a>(table: &[&str], s: &'a str) -> Result<(usize, &'a str), LayoutError> {
    for (i, name) in table.iter().enumerate() {
        if let Some(head) = s.get(..name.len()) {
            if head.eq_ignore_ascii_case(name) {
                return Ok((i, &s[name.len()..]));
            }
        }
    }
    Err(LayoutError::Mismatch)
}

/// Go's `skip`: matches a literal; a space matches any run of spaces.
pub(super) fn skip<'a>(mut value: &'a str, mut prefix: &str) -> Result<&'a str, LayoutError> {
    while let Some(c) = prefix.chars().next() {
        if c == ' ' {
            if value.as_bytes().first().is_some_and(|&c| c != b' ') {
                return Err(LayoutError::Mismatch);
            }
            prefix = prefix.trim_start_matches(' ');
            value = value.trim_start_matches(' ');
            continue;
        }
        // Byte-wise in Go; char-wise here, which is the same on UTF-8.
        value = value.strip_prefix(c).ok_or(LayoutError::Mismatch)?;
        prefix = &prefix[c.len_utf8()..];
    }
    Ok(value)
}

/// Go's `parseNanoseconds`: `value` starts with `.` or `,` and the
/// fraction is `value[1..nbytes]`.
pub(super) fn parse_nanos(value: &str, nbytes: usize) -> Result<i64, LayoutError> {
    if !matches!(value.as_bytes().first(), Some(b'.' | b',')) {
        return Err(LayoutError::Mismatch);
    }
    let nbytes = nbytes.min(10);
    let ns = atoi(value.get(1..nbytes).ok_or(LayoutError::Mismatch)?)?;
    if ns < 0 {
        return Err(LayoutError::Range("fractional second"));
    }
    let scale = 10 - u32::try_from(nbytes).unwrap_or(10);
    Ok(ns * 10i64.pow(scale))
}

/// Go's `parseTimeZone`: the length of a zone abbreviation at the start of `s`.
pub(super) fn zone_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    if b.len() < 3 {
        return None;
    }
    if b.len() >= 4 && (&b[..4] == b"ChST" || &b[..4] == b"MeST") {
        return Some(4);
    }
    if &b[..3] == b"GMT" {
        return Some(3 + gmt_len(&s[3..]));
    }
    if b[0] == b'+' || b[0] == b'-' {
        return signed_offset_len(s);
    }
    let upper = b.iter().take_while(|c| c.is_ascii_uppercase()).count();
    match upper {
        0..=2 | 6.. => None,
        5 => (b[4] == b'T').then_some(5),
        4 => (b[3] == b'T' || &b[..3] == b"WIT").then_some(4),
        _ => Some(3),
    }
}

/// Go's `parseGMT`: the length of a `+3`/`-10` after `GMT` (0 if none).
fn gmt_len(s: &str) -> usize {
    signed_offset_len(s)
        .filter(|_| !s.as_bytes().get(1).is_some_and(|&c| c == b'+' || c == b'-'))
        .unwrap_or(0)
}

/// Go's `parseSignedOffset`: `+N`/`-N` hours within ±23.
fn signed_offset_len(s: &str) -> Option<usize> {
    let sign = *s.as_bytes().first()?;
    if sign != b'+' && sign != b'-' {
        return None;
    }
    let digits = s[1..].bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let hours: i64 = s[1..1 + digits].parse().ok()?;
    (hours <= 23).then_some(1 + digits)
}
