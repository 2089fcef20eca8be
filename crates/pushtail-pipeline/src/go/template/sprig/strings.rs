//! sprig's string, encoding, hashing and regex functions.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine;
use gotmpl::{FuncMap, Value};
use sha2::Digest;

use super::convert::strval;
use super::with_regex;
use crate::go::case;
use crate::go::template::args::{
    int, register, str_value, string, strings_value, Arity::AtLeast, Arity::Exactly, Func, Res,
};
use crate::go::template::promtail::{go_replace, hex, is_go_space};

pub(super) fn register_all(m: &mut FuncMap) {
    // Functions of one string returning a string.
    macro_rules! one {
        ($($name:literal => $f:expr,)*) => {$(
            register(m, $name, Exactly(1), |a| {
                let f: fn(&str) -> String = $f;
                Ok(str_value(f(string(&a[0])?)))
            });
        )*};
    }
    one! {
        "trim" => |s| s.trim_matches(is_go_space).to_owned(),
        "upper" => |s| case::to_upper(s).into_owned(),
        "lower" => |s| case::to_lower(s).into_owned(),
        "title" => title,
        "untitle" => untitle,
        "nospace" => |s| s.chars().filter(|&c| !is_go_space(c)).collect(),
        "initials" => initials,
        "swapcase" => swapcase,
        "snakecase" => |s| words(s).join("_"),
        "kebabcase" => |s| words(s).join("-"),
        "camelcase" => camelcase,
        "shuffle" => shuffle,
        "sha1sum" => |s| hex(&sha1::Sha1::digest(s)),
        "sha256sum" => |s| hex(&sha2::Sha256::digest(s)),
        "sha512sum" => |s| hex(&sha2::Sha512::digest(s)),
        "adler32sum" => |s| {
            let mut a = adler2::Adler32::new();
            a.write_slice(s.as_bytes());
            a.checksum().to_string()
        },
        "b64enc" => |s| base64::engine::general_purpose::STANDARD.encode(s),
        "b64dec" => |s| match base64::engine::general_purpose::STANDARD.decode(s) {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) => go_base64_error(&e),
        },
        "b32enc" => |s| data_encoding::BASE32.encode(s.as_bytes()),
        "b32dec" => |s| match data_encoding::BASE32.decode(s.as_bytes()) {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) => format!("illegal base32 data at input byte {}", e.position),
        },
        "regexQuoteMeta" => go_quote_meta,
    }
    let two: &[(&str, Func)] = &[
        ("trimAll", |a| {
            let cut = string(&a[0])?;
            Ok(str_value(string(&a[1])?.trim_matches(|c| cut.contains(c))))
        }),
        ("trimall", |a| {
            let cut = string(&a[0])?;
            Ok(str_value(string(&a[1])?.trim_matches(|c| cut.contains(c))))
        }),
        ("trimSuffix", |a| {
            let s = string(&a[1])?;
            Ok(str_value(s.strip_suffix(string(&a[0])?).unwrap_or(s)))
        }),
        ("trimPrefix", |a| {
            let s = string(&a[1])?;
            Ok(str_value(s.strip_prefix(string(&a[0])?).unwrap_or(s)))
        }),
        ("contains", |a| {
            Ok(Value::Bool(string(&a[1])?.contains(string(&a[0])?)))
        }),
        ("hasPrefix", |a| {
            Ok(Value::Bool(string(&a[1])?.starts_with(string(&a[0])?)))
        }),
        ("hasSuffix", |a| {
            Ok(Value::Bool(string(&a[1])?.ends_with(string(&a[0])?)))
        }),
        ("repeat", |a| {
            let n = int(&a[0])?;
            let n =
                usize::try_from(n).map_err(|_| super::fail("strings: negative Repeat count"))?;
            let s = string(&a[1])?;
            if s.len().saturating_mul(n) > MAX_OUTPUT {
                return Err(super::fail("strings: Repeat output length overflow"));
            }
            Ok(str_value(s.repeat(n)))
        }),
        ("trunc", |a| {
            Ok(str_value(trunc(int(&a[0])?, string(&a[1])?)))
        }),
        ("abbrev", |a| {
            let (w, s) = (int(&a[0])?, string(&a[1])?);
            Ok(str_value(if w < 4 {
                s.to_owned()
            } else {
                abbreviate(s, 0, w)
            }))
        }),
        ("wrap", |a| {
            Ok(str_value(wrap(string(&a[1])?, int(&a[0])?, "\n", false)))
        }),
        ("indent", |a| {
            Ok(str_value(indent(int(&a[0])?, string(&a[1])?)))
        }),
        ("nindent", |a| {
            Ok(str_value(format!(
                "\n{}",
                indent(int(&a[0])?, string(&a[1])?)
            )))
        }),
        ("splitList", |a| {
            let (sep, s) = (string(&a[0])?, string(&a[1])?);
            Ok(strings_value(go_split(s, sep, -1)))
        }),
        ("split", |a| {
            let (sep, s) = (string(&a[0])?, string(&a[1])?);
            Ok(indexed(go_split(s, sep, -1)))
        }),
        ("join", |a| {
            let sep = string(&a[0])?;
            Ok(str_value(strslice(&a[1]).join(sep)))
        }),
        ("regexMatch", |a| {
            let (pat, s) = (string(&a[0])?, string(&a[1])?);
            match with_regex(pat, |re| Ok(Value::Bool(re.is_match(s)))) {
                Ok(v) => Ok(v),
                Err(_) => Ok(Value::Bool(false)),
            }
        }),
        ("mustRegexMatch", |a| {
            let (pat, s) = (string(&a[0])?, string(&a[1])?);
            with_regex(pat, |re| Ok(Value::Bool(re.is_match(s))))
        }),
        ("regexFind", regex_find),
        ("mustRegexFind", regex_find),
    ];
    for &(name, f) in two {
        register(m, name, Exactly(2), f);
    }
    let three: &[(&str, Func)] = &[
        ("replace", |a| {
            let (old, new, s) = (string(&a[0])?, string(&a[1])?, string(&a[2])?);
            Ok(str_value(go_replace(s, old, new, -1)))
        }),
        ("substr", |a| {
            Ok(str_value(substr(int(&a[0])?, int(&a[1])?, string(&a[2])?)?))
        }),
        ("abbrevboth", |a| {
            let (l, r, s) = (int(&a[0])?, int(&a[1])?, string(&a[2])?);
            Ok(str_value(if r < 4 || l > 0 && r < 7 {
                s.to_owned()
            } else {
                abbreviate(s, l, r)
            }))
        }),
        ("wrapWith", |a| {
            let (w, sep, s) = (int(&a[0])?, string(&a[1])?, string(&a[2])?);
            Ok(str_value(wrap(s, w, sep, true)))
        }),
        ("plural", |a| {
            let (one, many, n) = (string(&a[0])?, string(&a[1])?, int(&a[2])?);
            Ok(str_value(if n == 1 { one } else { many }))
        }),
        ("splitn", |a| {
            let (sep, n, s) = (string(&a[0])?, int(&a[1])?, string(&a[2])?);
            Ok(indexed(go_split(s, sep, n)))
        }),
        ("regexFindAll", regex_find_all),
        ("mustRegexFindAll", regex_find_all),
        ("regexSplit", regex_split),
        ("mustRegexSplit", regex_split),
        ("mustRegexReplaceAll", |a| {
            crate::go::template::promtail::replace_all(a, false)
        }),
        ("mustRegexReplaceAllLiteral", |a| {
            crate::go::template::promtail::replace_all(a, true)
        }),
    ];
    for &(name, f) in three {
        register(m, name, Exactly(3), f);
    }
    // sprig's own regexReplaceAll* (Promtail's replace them, same order).
    register(m, "regexReplaceAll", Exactly(3), |a| {
        crate::go::template::promtail::replace_all(a, false)
    });
    register(m, "regexReplaceAllLiteral", Exactly(3), |a| {
        crate::go::template::promtail::replace_all(a, true)
    });
    register(m, "toString", Exactly(1), |a| Ok(str_value(strval(&a[0]))));
    register(m, "toStrings", Exactly(1), |a| {
        Ok(strings_value(strslice(&a[0])))
    });
    register(m, "sortAlpha", Exactly(1), |a| {
        let mut v = match &a[0] {
            Value::List(_) => strslice(&a[0]),
            other => vec![strval(other)],
        };
        v.sort();
        Ok(strings_value(v))
    });
    register(m, "quote", AtLeast(0), |a| {
        let q: Vec<String> = a
            .iter()
            .filter(|v| !matches!(v, Value::Nil))
            .map(|v| go_quote(&strval(v)))
            .collect();
        Ok(str_value(q.join(" ")))
    });
    register(m, "squote", AtLeast(0), |a| {
        let q: Vec<String> = a
            .iter()
            .filter(|v| !matches!(v, Value::Nil))
            .map(|v| format!("'{}'", super::convert::go_fmt_v(v)))
            .collect();
        Ok(str_value(q.join(" ")))
    });
    register(m, "cat", AtLeast(0), |a| {
        let q: Vec<String> = a
            .iter()
            .filter(|v| !matches!(v, Value::Nil))
            .map(super::convert::go_fmt_v)
            .collect();
        Ok(str_value(q.join(" ")))
    });
    register(m, "bcrypt", Exactly(1), |a| {
        Ok(str_value(bcrypt(string(&a[0])?)))
    });
    register(m, "htpasswd", AtLeast(2), |a| {
        let (user, password) = (string(&a[0])?, string(&a[1])?);
        let sha = match a.get(2) {
            Some(v) => string(v)? == "sha",
            None => false,
        };
        Ok(str_value(if user.contains(':') {
            format!("invalid username: {user}")
        } else if sha {
            let sum = sha1::Sha1::digest(password);
            format!(
                "{user}:{{SHA}}{}",
                base64::engine::general_purpose::STANDARD.encode(sum)
            )
        } else {
            format!("{user}:{}", bcrypt(password))
        }))
    });
    register(m, "randAlphaNum", Exactly(1), |a| rand_string(a, ALNUM));
    register(m, "randAlpha", Exactly(1), |a| rand_string(a, ALPHA));
    register(m, "randNumeric", Exactly(1), |a| {
        rand_string(a, b"0123456789")
    });
    register(m, "randAscii", Exactly(1), |a| rand_string(a, ASCII));
}

/// The biggest string a function builds (`repeat`), against runaway
/// templates.
const MAX_OUTPUT: usize = 16 << 20;

/// A byte range of `s` as text (Go slices strings by byte; a cut inside a
/// rune becomes U+FFFD here, where Go would keep the raw bytes).
fn bytes_str(s: &str, from: usize, to: usize) -> Cow<'_, str> {
    String::from_utf8_lossy(&s.as_bytes()[from..to])
}

/// Go's `strings.Title`: the first letter of each word to title case.
fn title(s: &str) -> String {
    fn separator(c: char) -> bool {
        if c.is_ascii() {
            return !(c.is_ascii_alphanumeric() || c == '_');
        }
        if c.is_alphanumeric() {
            return false;
        }
        is_go_space(c)
    }
    let mut prev = ' ';
    s.chars()
        .map(|c| {
            let out = if separator(prev) { case::title(c) } else { c };
            prev = c;
            out
        })
        .collect()
}

/// goutils' `Uncapitalize`: the first rune to lower case.
fn untitle(s: &str) -> String {
    let mut it = s.chars();
    match it.next() {
        Some(c) => std::iter::once(case::lower(c)).chain(it).collect(),
        None => String::new(),
    }
}

/// goutils' `Initials`: the first rune of each whitespace-separated word.
fn initials(s: &str) -> String {
    let mut gap = true;
    let mut out = String::new();
    for c in s.chars() {
        if is_go_space(c) {
            gap = true;
        } else if gap {
            out.push(c);
            gap = false;
        }
    }
    out
}

/// goutils' `SwapCase`.
fn swapcase(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_uppercase() || case::lower(c) != c && case::upper(c) == c {
                case::lower(c)
            } else if c.is_lowercase() {
                case::upper(c)
            } else {
                c
            }
        })
        .collect()
}

/// Lower-case words split at non-alphanumerics and at lower→upper case
/// changes (xstrings' snake/kebab case for ordinary identifiers).
fn words(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut prev: Option<char> = None;
    let chars: Vec<char> = s.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev = None;
            continue;
        }
        if let Some(p) = prev {
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            let boundary = (p.is_lowercase() || p.is_numeric()) && c.is_uppercase()
                || p.is_uppercase() && c.is_uppercase() && next_lower;
            if boundary && !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
        }
        cur.push_str(&case::to_lower(c.encode_utf8(&mut [0; 4])));
        prev = Some(c);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// xstrings' `ToPascalCase`: words split at `_`, `-`, `.` and spaces, each
/// with its first letter upper-cased.
fn camelcase(s: &str) -> String {
    s.split(['_', '-', '.', ' '])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut it = w.chars();
            let first = it.next().map(case::upper);
            first.into_iter().chain(it).collect::<String>()
        })
        .collect()
}

fn shuffle(s: &str) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    fastrand::shuffle(&mut chars);
    chars.into_iter().collect()
}

fn go_base64_error(e: &base64::DecodeError) -> String {
    let at = match e {
        base64::DecodeError::InvalidByte(i, _) | base64::DecodeError::InvalidLastSymbol(i, _) => *i,
        base64::DecodeError::InvalidLength(n) => *n,
        base64::DecodeError::InvalidPadding => 0,
    };
    format!("illegal base64 data at input byte {at}")
}

/// `regexp.QuoteMeta`: escapes `\.+*?()|[]{}^$`.
fn go_quote_meta(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if r"\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// sprig's `trunc`: the first `c` bytes, or the last `-c`.
fn trunc(c: i64, s: &str) -> String {
    let len = s.len() as i64;
    if c < 0 && len + c > 0 {
        return bytes_str(s, (len + c) as usize, s.len()).into_owned();
    }
    if c >= 0 && len > c {
        return bytes_str(s, 0, c as usize).into_owned();
    }
    s.to_owned()
}

/// sprig's `substr` (byte offsets); Go panics (an execution error) on an
/// out-of-range bound.
fn substr(start: i64, end: i64, s: &str) -> Result<String, gotmpl::TemplateError> {
    let len = s.len() as i64;
    let bad = || {
        super::fail(format!(
            "slice bounds out of range [{start}:{end}] with length {len}"
        ))
    };
    let (from, to) = if start < 0 {
        (0, end)
    } else if end < 0 || end > len {
        (start, len)
    } else {
        (start, end)
    };
    if from < 0 || to < from || to > len {
        return Err(bad());
    }
    Ok(bytes_str(s, from as usize, to as usize).into_owned())
}

/// goutils' `AbbreviateFull` (byte offsets), for `maxWidth >= 4`.
fn abbreviate(s: &str, offset: i64, max: i64) -> String {
    let len = s.len() as i64;
    if s.is_empty() {
        return String::new();
    }
    if len <= max {
        return s.to_owned();
    }
    let mut offset = offset.min(len);
    if len - offset < max - 3 {
        offset = len - (max - 3);
    }
    if offset <= 4 {
        return format!("{}...", bytes_str(s, 0, (max - 3) as usize));
    }
    if max < 7 {
        return String::new();
    }
    if offset + max - 3 < len {
        let rest = bytes_str(s, offset.max(0) as usize, s.len()).into_owned();
        return format!("...{}", abbreviate(&rest, 0, max - 3));
    }
    format!("...{}", bytes_str(s, (len - (max - 3)) as usize, s.len()))
}

/// goutils' `WrapCustom` (byte offsets).
fn wrap(s: &str, width: i64, newline: &str, wrap_long: bool) -> String {
    if s.is_empty() {
        return String::new();
    }
    let newline = if newline.is_empty() { "\n" } else { newline };
    let width = usize::try_from(width.max(1)).unwrap_or(1);
    let b = s.as_bytes();
    let mut out = String::new();
    let mut offset = 0;
    while b.len() - offset > width {
        if b[offset] == b' ' {
            offset += 1;
            continue;
        }
        let end = (width + offset + 1).min(b.len());
        match b[offset..end].iter().rposition(|&c| c == b' ') {
            Some(i) => {
                out.push_str(&bytes_str(s, offset, offset + i));
                out.push_str(newline);
                offset += i + 1;
            }
            None if wrap_long => {
                out.push_str(&bytes_str(s, offset, offset + width));
                out.push_str(newline);
                offset += width;
            }
            None => {
                let end = width + offset;
                match b[end..].iter().position(|&c| c == b' ') {
                    None => {
                        out.push_str(&bytes_str(s, offset, b.len()));
                        offset = b.len();
                    }
                    Some(i) => {
                        out.push_str(&bytes_str(s, offset, end + i));
                        out.push_str(newline);
                        offset = end + i + 1;
                    }
                }
            }
        }
    }
    out.push_str(&bytes_str(s, offset, b.len()));
    out
}

fn indent(n: i64, s: &str) -> String {
    let pad = " ".repeat(usize::try_from(n).unwrap_or(0).min(MAX_OUTPUT));
    format!("{pad}{}", s.replace('\n', &format!("\n{pad}")))
}

/// Go's `strings.SplitN`: an empty separator splits into runes; `n < 0`
/// means all, `n == 0` none.
pub(super) fn go_split<'a>(s: &'a str, sep: &str, n: i64) -> Vec<&'a str> {
    if n == 0 {
        return Vec::new();
    }
    let limit = usize::try_from(n).unwrap_or(usize::MAX);
    if sep.is_empty() {
        let mut out: Vec<&str> = Vec::new();
        let mut idx = s.char_indices().peekable();
        while let Some((i, _)) = idx.next() {
            if out.len() + 1 == limit {
                out.push(&s[i..]);
                break;
            }
            let j = idx.peek().map_or(s.len(), |&(j, _)| j);
            out.push(&s[i..j]);
        }
        return out;
    }
    s.splitn(limit, sep).collect()
}

/// `split`'s result: a map `_0`, `_1`, ….
fn indexed(parts: Vec<&str>) -> Value {
    let map: BTreeMap<Arc<str>, Value> = parts
        .into_iter()
        .enumerate()
        .map(|(i, p)| (Arc::from(format!("_{i}")), str_value(p)))
        .collect();
    Value::Map(Arc::new(map))
}

/// sprig's `strslice`: a list's non-nil items as strings; nil is empty;
/// anything else is one string.
pub(super) fn strslice(v: &Value) -> Vec<String> {
    match v {
        Value::List(l) => l
            .iter()
            .filter(|x| !matches!(x, Value::Nil))
            .map(strval)
            .collect(),
        Value::Nil => Vec::new(),
        other => vec![strval(other)],
    }
}

fn regex_find(a: &[Value]) -> Res {
    let (pat, s) = (string(&a[0])?, string(&a[1])?);
    with_regex(pat, |re| {
        Ok(str_value(re.find(s).map_or("", |m| m.as_str())))
    })
}

fn regex_find_all(a: &[Value]) -> Res {
    let (pat, s, n) = (string(&a[0])?, string(&a[1])?, int(&a[2])?);
    let limit = usize::try_from(n).unwrap_or(usize::MAX);
    with_regex(pat, |re| {
        Ok(strings_value(
            re.find_iter(s).take(limit).map(|m| m.as_str()),
        ))
    })
}

/// `regexp.Split`: `n < 0` all, `n == 0` nil; an empty regex splits runes.
fn regex_split(a: &[Value]) -> Res {
    let (pat, s, n) = (string(&a[0])?, string(&a[1])?, int(&a[2])?);
    if n == 0 {
        return Ok(strings_value(Vec::<&str>::new()));
    }
    if pat.is_empty() && !s.is_empty() {
        return Ok(strings_value(go_split(s, "", n)));
    }
    let limit = usize::try_from(n).unwrap_or(usize::MAX);
    with_regex(pat, |re| Ok(strings_value(re.splitn(s, limit))))
}

/// `strconv.Quote`.
pub(super) fn go_quote(s: &str) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if go_printable(c) => out.push(c),
            c if (c as u32) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push('"');
    out
}

/// Approximates `strconv.IsPrint`: no controls, no format characters, and
/// no spaces but U+0020.
fn go_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    !matches!(c,
        '\u{ad}' | '\u{600}'..='\u{605}' | '\u{61c}' | '\u{6dd}' | '\u{70f}' | '\u{180e}'
        | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{206f}'
        | '\u{feff}' | '\u{fff9}'..='\u{fffb}' | '\u{e000}'..='\u{f8ff}'
        | '\u{fffe}' | '\u{ffff}' | '\u{e0001}' | '\u{e0020}'..='\u{e007f}'
        | '\u{f0000}'..='\u{10ffff}')
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const ALPHA: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const ASCII: &[u8] = b" !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~";

fn rand_string(a: &[Value], set: &[u8]) -> Res {
    let n = usize::try_from(int(&a[0])?).unwrap_or(0).min(MAX_OUTPUT);
    let s: String = (0..n)
        .map(|_| char::from(set[fastrand::usize(..set.len())]))
        .collect();
    Ok(str_value(s))
}

/// sprig's `bcrypt`: Go's `bcrypt.GenerateFromPassword` at the default
/// cost (10), version `2a`.
fn bcrypt(input: &str) -> String {
    match bcrypt::hash_with_result(input, 10) {
        Ok(h) => h.format_for_version(bcrypt::Version::TwoA),
        Err(e) => format!("failed to encrypt string with bcrypt: {e}"),
    }
}
