//! Promtail's own template functions (its `template` stage adds them on
//! top of sprig's map).

use gotmpl::{FuncMap, Value};
use sha2::Digest;

use super::args::{int, register, str_value, string, Arity::Exactly, Res};
use crate::go::case;

pub(super) fn register_all(m: &mut FuncMap) {
    register(m, "ToLower", Exactly(1), |a| {
        Ok(str_value(case::to_lower(string(&a[0])?)))
    });
    register(m, "ToUpper", Exactly(1), |a| {
        Ok(str_value(case::to_upper(string(&a[0])?)))
    });
    register(m, "Replace", Exactly(4), |a| {
        let (s, old, new, n) = (string(&a[0])?, string(&a[1])?, string(&a[2])?, int(&a[3])?);
        Ok(str_value(go_replace(s, old, new, n)))
    });
    register(m, "Trim", Exactly(2), |a| {
        let cut = string(&a[1])?;
        Ok(str_value(string(&a[0])?.trim_matches(|c| cut.contains(c))))
    });
    register(m, "TrimLeft", Exactly(2), |a| {
        let cut = string(&a[1])?;
        Ok(str_value(
            string(&a[0])?.trim_start_matches(|c| cut.contains(c)),
        ))
    });
    register(m, "TrimRight", Exactly(2), |a| {
        let cut = string(&a[1])?;
        Ok(str_value(
            string(&a[0])?.trim_end_matches(|c| cut.contains(c)),
        ))
    });
    register(m, "TrimPrefix", Exactly(2), |a| {
        let s = string(&a[0])?;
        Ok(str_value(s.strip_prefix(string(&a[1])?).unwrap_or(s)))
    });
    register(m, "TrimSuffix", Exactly(2), |a| {
        let s = string(&a[0])?;
        Ok(str_value(s.strip_suffix(string(&a[1])?).unwrap_or(s)))
    });
    register(m, "TrimSpace", Exactly(1), |a| {
        Ok(str_value(string(&a[0])?.trim_matches(is_go_space)))
    });
    register(m, "Hash", Exactly(2), |a| {
        let mut h = sha3::Sha3_256::new();
        h.update(string(&a[0])?);
        h.update(string(&a[1])?);
        Ok(str_value(hex(&h.finalize())))
    });
    register(m, "Sha2Hash", Exactly(2), |a| {
        let mut h = sha2::Sha256::new();
        h.update(string(&a[0])?);
        h.update(string(&a[1])?);
        Ok(str_value(hex(&h.finalize())))
    });
    register(m, "regexReplaceAll", Exactly(3), |a| replace_all(a, false));
    register(m, "regexReplaceAllLiteral", Exactly(3), |a| {
        replace_all(a, true)
    });
}

/// `regexp.MustCompile(re).ReplaceAll[Literal]String(s, repl)`; a bad
/// regex is an execution error (Go's panic, recovered by the template).
pub(super) fn replace_all(a: &[Value], literal: bool) -> Res {
    let (pat, s, repl) = (string(&a[0])?, string(&a[1])?, string(&a[2])?);
    super::sprig::with_regex(pat, |re| {
        Ok(str_value(if literal {
            re.replace_all(s, regex::NoExpand(repl))
        } else {
            re.replace_all(s, repl)
        }))
    })
}

/// Go's `strings.Replace`: `n < 0` replaces all; an empty `old` matches
/// before every rune and at the end.
pub(super) fn go_replace(s: &str, old: &str, new: &str, n: i64) -> String {
    let limit = usize::try_from(n).unwrap_or(usize::MAX);
    if old.is_empty() {
        let mut out = String::with_capacity(s.len() + new.len() * (s.len() + 1));
        let mut done = 0;
        for c in s.chars() {
            if done < limit {
                out.push_str(new);
                done += 1;
            }
            out.push(c);
        }
        if done < limit {
            out.push_str(new);
        }
        return out;
    }
    s.replacen(old, new, limit)
}

/// `unicode.IsSpace`, which `strings.TrimSpace` uses.
pub(super) fn is_go_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{85}' | '\u{a0}'
    ) || (!c.is_ascii() && c.is_whitespace())
}

pub(super) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}
