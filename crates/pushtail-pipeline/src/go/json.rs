//! Go's `encoding/json` output (`json.Marshal` of a decoded value), which
//! is what Promtail stores when a stage re-serialises JSON: the `json`
//! stage for objects and arrays, `docker`, `pack`.
//!
//! Go decodes every number into a float64 and writes it back in the
//! shortest form that reads back the same: plain decimals between 1e-6 and
//! 1e21, exponents (`1e-7`, `1e+21`) outside, `-0` kept. Map keys come out
//! sorted; `<`, `>`, `&`, U+2028 and U+2029 are escaped. The golden table
//! `testdata/json_numbers.json` was written by real Go.

use std::fmt::Write;

use serde_json::Value;

/// JSON text as Go's `json.Marshal` writes the value.
pub(crate) fn marshal(v: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, v);
    out
}

/// A JSON string literal as Go writes it.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    write_str(&mut out, s);
    out
}

fn write_value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_float(out, n.as_f64().unwrap_or(0.0)),
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(out, k);
                out.push(':');
                write_value(out, &map[k]);
            }
            out.push('}');
        }
    }
}

/// Go's float64 encoding: `strconv.AppendFloat(f, 'f' or 'e', -1, 64)`
/// with the exponent cleaned up as `encoding/json` does.
pub(crate) fn write_float(out: &mut String, f: f64) {
    let abs = f.abs();
    if abs == 0.0 || (1e-6..1e21).contains(&abs) {
        // Rust's Display is the shortest round-trip form without exponent.
        let _ = write!(out, "{f}");
        return;
    }
    let e = format!("{f:e}");
    let (mantissa, exp) = e.split_once('e').unwrap_or((&e, "0"));
    out.push_str(mantissa);
    out.push('e');
    match exp.strip_prefix('-') {
        Some(digits) => {
            out.push('-');
            out.push_str(digits);
        }
        None => {
            out.push('+');
            if exp.len() < 2 {
                out.push('0');
            }
            out.push_str(exp);
        }
    }
}

fn write_str(out: &mut String, s: &str) {
    let start = out.len();
    // serde_json escapes exactly what Go escapes, except the HTML-safe set.
    out.push_str(&serde_json::to_string(s).unwrap_or_default());
    if !out[start..].contains(['<', '>', '&', '\u{2028}', '\u{2029}']) {
        return;
    }
    let plain = out.split_off(start);
    for c in plain.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Case {
        input: String,
        output: String,
    }

    /// Every row of the table real Go produced (`xtask/golden/stages`).
    #[test]
    fn matches_go_marshal() {
        let cases: Vec<Case> =
            serde_json::from_str(include_str!("testdata/json_numbers.json")).unwrap();
        for c in cases {
            let v: serde_json::Value = serde_json::from_str(&c.input).unwrap();
            assert_eq!(super::marshal(&v), c.output, "{}", c.input);
        }
    }
}
