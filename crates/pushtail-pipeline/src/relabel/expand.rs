//! Go's `regexp.Expand` template semantics, used by relabeling (`$1`,
//! `${1}`, `$name`, `${name}`, `$$`). Pure string work.

use regex::Captures;

/// Appends `template` expanded against `caps` to `dst`, as Go's
/// `Regexp.ExpandString`: `$name` takes the longest run of letters, digits
/// and `_`; a name that is all digits (no leading zero) is a group number;
/// unknown or unmatched groups expand to nothing; `$$` is `$`; a `$` not
/// followed by a name is kept as is.
pub(crate) fn expand(dst: &mut String, template: &str, caps: &Captures<'_>) {
    let mut rest = template;
    while let Some(pos) = rest.find('$') {
        dst.push_str(&rest[..pos]);
        rest = &rest[pos + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            dst.push('$');
            rest = after;
            continue;
        }
        let Some((name, after)) = extract(rest) else {
            dst.push('$');
            continue;
        };
        rest = after;
        let group = match group_number(name) {
            Some(n) => caps.get(n),
            None => caps.name(name),
        };
        if let Some(m) = group {
            dst.push_str(m.as_str());
        }
    }
    dst.push_str(rest);
}

/// Splits `name` or `{name}` off the front of `s`.
fn extract(s: &str) -> Option<(&str, &str)> {
    let (brace, body) = match s.strip_prefix('{') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let end = body
        .char_indices()
        .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
        .map_or(body.len(), |(i, _)| i);
    if end == 0 {
        return None;
    }
    let name = &body[..end];
    let mut rest = &body[end..];
    if brace {
        rest = rest.strip_prefix('}')?;
    }
    Some((name, rest))
}

fn group_number(name: &str) -> Option<usize> {
    if !name.bytes().all(|b| b.is_ascii_digit()) || (name.len() > 1 && name.starts_with('0')) {
        return None;
    }
    name.parse::<usize>().ok().filter(|n| *n < 100_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;

    #[test]
    fn go_expand_table() {
        let re = Regex::new(r"^(?s:(?P<first>a+)-(b+)(x)?)$").unwrap();
        let caps = re.captures("aa-bb").unwrap();
        for (template, want) in [
            ("$1", "aa"),
            ("${1}", "aa"),
            ("$2", "bb"),
            ("$1x", ""),
            ("${1}x", "aax"),
            ("$first", "aa"),
            ("${first}", "aa"),
            ("$first_", ""),
            ("$3", ""),
            ("$9", ""),
            ("$$1", "$1"),
            ("a$", "a$"),
            ("$-", "$-"),
            ("${1", "${1"),
            ("$01", ""),
            ("$0", "aa-bb"),
            ("x${2}y$2", "xbbybb"),
        ] {
            let mut s = String::new();
            expand(&mut s, template, &caps);
            assert_eq!(s, want, "{template:?}");
        }
    }
}
