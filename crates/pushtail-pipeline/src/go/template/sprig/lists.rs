//! sprig's lists, dicts, defaults and JSON.

use std::collections::BTreeMap;
use std::sync::Arc;

use gotmpl::{FuncMap, TemplateError, Value};

use super::convert::{empty, go_float, strval, to_int64};
use crate::go::template::args::{
    boolean, dict, fail, go_type, list_value, register, str_value, string, strings_value,
    Arity::AtLeast, Arity::Exactly, Func, Res,
};

type Map = BTreeMap<Arc<str>, Value>;

pub(super) fn register_all(m: &mut FuncMap) {
    register(m, "list", AtLeast(0), |a| Ok(list_value(a.to_vec())));
    register(m, "tuple", AtLeast(0), |a| Ok(list_value(a.to_vec())));
    register(m, "dict", AtLeast(0), |a| {
        let mut d = Map::new();
        for pair in a.chunks(2) {
            let v = pair.get(1).cloned().unwrap_or_else(|| str_value(""));
            d.insert(Arc::from(strval(&pair[0])), v);
        }
        Ok(map_value(d))
    });
    register(m, "get", Exactly(2), |a| {
        let (d, k) = (dict(&a[0])?, string(&a[1])?);
        Ok(d.get(k).cloned().unwrap_or_else(|| str_value("")))
    });
    register(m, "set", Exactly(3), |a| {
        let mut d = dict(&a[0])?.clone();
        d.insert(Arc::from(string(&a[1])?), a[2].clone());
        Ok(map_value(d))
    });
    register(m, "unset", Exactly(2), |a| {
        let mut d = dict(&a[0])?.clone();
        d.remove(string(&a[1])?);
        Ok(map_value(d))
    });
    register(m, "hasKey", Exactly(2), |a| {
        Ok(Value::Bool(dict(&a[0])?.contains_key(string(&a[1])?)))
    });
    register(m, "pluck", AtLeast(1), |a| {
        let k = string(&a[0])?;
        let mut out = Vec::new();
        for d in &a[1..] {
            if let Some(v) = dict(d)?.get(k) {
                out.push(v.clone());
            }
        }
        Ok(list_value(out))
    });
    register(m, "keys", AtLeast(0), |a| {
        let mut out: Vec<Arc<str>> = Vec::new();
        for d in a {
            out.extend(dict(d)?.keys().cloned());
        }
        Ok(strings_value(out))
    });
    register(m, "values", Exactly(1), |a| {
        Ok(list_value(dict(&a[0])?.values().cloned().collect()))
    });
    register(m, "pick", AtLeast(1), |a| {
        let d = dict(&a[0])?;
        let mut out = Map::new();
        for k in &a[1..] {
            let k = string(k)?;
            if let Some((k, v)) = d.get_key_value(k) {
                out.insert(k.clone(), v.clone());
            }
        }
        Ok(map_value(out))
    });
    register(m, "omit", AtLeast(1), |a| {
        let mut d = dict(&a[0])?.clone();
        for k in &a[1..] {
            d.remove(string(k)?);
        }
        Ok(map_value(d))
    });
    let merges: &[(&str, Func)] = &[
        ("merge", |a| merge(a, false)),
        ("mustMerge", |a| merge(a, false)),
        ("mergeOverwrite", |a| merge(a, true)),
        ("mustMergeOverwrite", |a| merge(a, true)),
    ];
    for &(name, f) in merges {
        register(m, name, AtLeast(1), f);
    }
    register(m, "dig", AtLeast(3), |a| {
        let n = a.len();
        let mut cur = dict(&a[n - 1])?;
        let keys = &a[..n - 2];
        for (i, k) in keys.iter().enumerate() {
            match cur.get(string(k)?) {
                None => return Ok(a[n - 2].clone()),
                Some(v) if i + 1 == keys.len() => return Ok(v.clone()),
                Some(v) => cur = dict(v)?,
            }
        }
        Ok(a[n - 2].clone())
    });

    // Lists: the must* form and the plain one both fail on a non-list (the
    // plain one panics in Go, which the template reports as an error).
    let lists: &[(&str, &str, Func)] = &[
        ("first", "mustFirst", |a| {
            Ok(seq(&a[0], "find first")?
                .first()
                .cloned()
                .unwrap_or(Value::Nil))
        }),
        ("last", "mustLast", |a| {
            Ok(seq(&a[0], "find last")?
                .last()
                .cloned()
                .unwrap_or(Value::Nil))
        }),
        ("rest", "mustRest", |a| {
            let l = seq(&a[0], "find rest")?;
            Ok(if l.is_empty() {
                Value::Nil
            } else {
                list_value(l[1..].to_vec())
            })
        }),
        ("initial", "mustInitial", |a| {
            let l = seq(&a[0], "find initial")?;
            Ok(if l.is_empty() {
                Value::Nil
            } else {
                list_value(l[..l.len() - 1].to_vec())
            })
        }),
        ("reverse", "mustReverse", |a| {
            Ok(list_value(
                seq(&a[0], "find reverse")?.iter().rev().cloned().collect(),
            ))
        }),
        ("uniq", "mustUniq", |a| {
            let mut out: Vec<Value> = Vec::new();
            for v in seq(&a[0], "find uniq")? {
                if !out.iter().any(|o| deep_equal(o, v)) {
                    out.push(v.clone());
                }
            }
            Ok(list_value(out))
        }),
        ("compact", "mustCompact", |a| {
            Ok(list_value(
                seq(&a[0], "compact")?
                    .iter()
                    .filter(|v| !empty(v))
                    .cloned()
                    .collect(),
            ))
        }),
    ];
    for &(name, must, f) in lists {
        register(m, name, Exactly(1), f);
        register(m, must, Exactly(1), f);
    }
    for name in ["append", "push", "mustAppend", "mustPush"] {
        register(m, name, Exactly(2), |a| {
            let mut l = seq(&a[0], "push")?.to_vec();
            l.push(a[1].clone());
            Ok(list_value(l))
        });
    }
    for name in ["prepend", "mustPrepend"] {
        register(m, name, Exactly(2), |a| {
            let mut l = vec![a[1].clone()];
            l.extend_from_slice(seq(&a[0], "prepend")?);
            Ok(list_value(l))
        });
    }
    for name in ["chunk", "mustChunk"] {
        register(m, name, Exactly(2), |a| {
            let size = usize::try_from(to_int64(&a[0])).unwrap_or(0);
            if size == 0 {
                return Err(fail("chunk size must be positive"));
            }
            let l = seq(&a[1], "chunk")?;
            Ok(list_value(
                l.chunks(size).map(|c| list_value(c.to_vec())).collect(),
            ))
        });
    }
    for name in ["without", "mustWithout"] {
        register(m, name, AtLeast(1), |a| {
            let l = seq(&a[0], "find without")?;
            let omit = &a[1..];
            Ok(list_value(
                l.iter()
                    .filter(|v| !omit.iter().any(|o| deep_equal(o, v)))
                    .cloned()
                    .collect(),
            ))
        });
    }
    for name in ["has", "mustHas"] {
        register(m, name, Exactly(2), |a| {
            if matches!(a[1], Value::Nil) {
                return Ok(Value::Bool(false));
            }
            let l = seq(&a[1], "find has")?;
            Ok(Value::Bool(l.iter().any(|v| deep_equal(v, &a[0]))))
        });
    }
    for name in ["slice", "mustSlice"] {
        register(m, name, AtLeast(1), |a| {
            let l = seq(&a[0], "slice")?;
            let start = a.get(1).map_or(0, to_int64);
            let end = a.get(2).map_or(l.len() as i64, to_int64);
            match (usize::try_from(start), usize::try_from(end)) {
                (Ok(s), Ok(e)) if s <= e && e <= l.len() => Ok(list_value(l[s..e].to_vec())),
                _ => Err(fail(format!("slice bounds out of range [{start}:{end}]"))),
            }
        });
    }
    register(m, "concat", AtLeast(0), |a| {
        let mut out = Vec::new();
        for l in a {
            out.extend_from_slice(seq(l, "concat")?);
        }
        Ok(list_value(out))
    });

    // Defaults.
    register(m, "default", AtLeast(1), |a| {
        Ok(match a.get(1) {
            Some(v) if !empty(v) => v.clone(),
            _ => a[0].clone(),
        })
    });
    register(m, "empty", Exactly(1), |a| Ok(Value::Bool(empty(&a[0]))));
    register(m, "coalesce", AtLeast(0), |a| {
        Ok(a.iter().find(|v| !empty(v)).cloned().unwrap_or(Value::Nil))
    });
    register(m, "all", AtLeast(0), |a| {
        Ok(Value::Bool(a.iter().all(|v| !empty(v))))
    });
    register(m, "any", AtLeast(0), |a| {
        Ok(Value::Bool(a.iter().any(|v| !empty(v))))
    });
    register(m, "ternary", Exactly(3), |a| {
        Ok(if boolean(&a[2])? {
            a[0].clone()
        } else {
            a[1].clone()
        })
    });
    register(m, "deepCopy", Exactly(1), |a| Ok(a[0].clone()));
    register(m, "mustDeepCopy", Exactly(1), |a| Ok(a[0].clone()));
    register(m, "deepEqual", Exactly(2), |a| {
        Ok(Value::Bool(deep_equal(&a[0], &a[1])))
    });

    // JSON.
    register(m, "fromJson", Exactly(1), |a| {
        Ok(from_json(string(&a[0])?).unwrap_or(Value::Nil))
    });
    register(m, "mustFromJson", Exactly(1), |a| from_json(string(&a[0])?));
    for (name, pretty, html) in [
        ("toJson", false, true),
        ("mustToJson", false, true),
        ("toPrettyJson", true, true),
        ("mustToPrettyJson", true, true),
        ("toRawJson", false, false),
        ("mustToRawJson", false, false),
    ] {
        let f: Func = match (pretty, html) {
            (false, true) => |a| to_json(&a[0], false, true),
            (true, _) => |a| to_json(&a[0], true, true),
            (false, false) => |a| to_json(&a[0], false, false),
        };
        register(m, name, Exactly(1), f);
    }
}

fn map_value(m: Map) -> Value {
    Value::Map(Arc::new(m))
}

/// A list argument of sprig's reflective list functions.
fn seq<'a>(v: &'a Value, what: &str) -> Result<&'a [Value], TemplateError> {
    match v {
        Value::List(l) => Ok(l),
        other => Err(fail(format!("Cannot {what} on type {}", kind(other)))),
    }
}

/// Go's `reflect.Kind` name.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Nil => "invalid",
        Value::List(_) => "slice",
        Value::Map(_) => "map",
        Value::Int(_) => "int64",
        other => go_type(other),
    }
}

/// `reflect.DeepEqual` over template values (types must match).
pub(super) fn deep_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::List(x), Value::List(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| deep_equal(p, q))
        }
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| deep_equal(v, w)))
        }
        (Value::Function(_), _) | (_, Value::Function(_)) => false,
        _ => a == b,
    }
}

/// mergo's `Merge` (fill what `dst` lacks or has empty) or
/// `MergeWithOverwrite` (take `src`'s non-empty values), deep into maps.
fn merge(a: &[Value], overwrite: bool) -> Res {
    fn into(dst: &mut Map, src: &Map, overwrite: bool) {
        for (k, v) in src {
            match dst.get_mut(k) {
                Some(Value::Map(d)) => {
                    if let Value::Map(s) = v {
                        into(Arc::make_mut(d), s, overwrite);
                    } else if overwrite && !empty(v) {
                        dst.insert(k.clone(), v.clone());
                    }
                }
                Some(d) if empty(d) || overwrite && !empty(v) => *d = v.clone(),
                Some(_) => {}
                None => {
                    dst.insert(k.clone(), v.clone());
                }
            }
        }
    }
    let mut dst = dict(&a[0])?.clone();
    for s in &a[1..] {
        into(&mut dst, dict(s)?, overwrite);
    }
    Ok(map_value(dst))
}

/// `json.Unmarshal` into `interface{}`: numbers become float64.
fn from_json(s: &str) -> Res {
    fn conv(v: serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Nil,
            serde_json::Value::Bool(b) => Value::Bool(b),
            serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
            serde_json::Value::String(s) => str_value(s),
            serde_json::Value::Array(a) => list_value(a.into_iter().map(conv).collect()),
            serde_json::Value::Object(o) => Value::Map(Arc::new(
                o.into_iter()
                    .map(|(k, v)| (Arc::from(k), conv(v)))
                    .collect(),
            )),
        }
    }
    serde_json::from_str::<serde_json::Value>(s)
        .map(conv)
        .map_err(|e| fail(e.to_string()))
}

/// `json.Marshal` (`html`: escape `<>&`), or `MarshalIndent(v, "", "  ")`.
fn to_json(v: &Value, pretty: bool, html: bool) -> Res {
    let mut out = String::new();
    write_json(v, &mut out, pretty, html, 0)?;
    Ok(str_value(out))
}

fn write_json(
    v: &Value,
    out: &mut String,
    pretty: bool,
    html: bool,
    depth: usize,
) -> Result<(), TemplateError> {
    let newline = |out: &mut String, depth: usize| {
        if pretty {
            out.push('\n');
            for _ in 0..depth {
                out.push_str("  ");
            }
        }
    };
    match v {
        Value::Nil => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Uint(u) => out.push_str(&u.to_string()),
        Value::Float(f) => {
            if !f.is_finite() {
                return Err(fail(format!("json: unsupported value: {}", go_float(*f))));
            }
            out.push_str(&json_float(*f));
        }
        Value::String(s) => json_string(s, out, html),
        Value::List(l) => {
            out.push('[');
            for (i, x) in l.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, depth + 1);
                write_json(x, out, pretty, html, depth + 1)?;
            }
            if !l.is_empty() {
                newline(out, depth);
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, depth + 1);
                json_string(k, out, html);
                out.push(':');
                if pretty {
                    out.push(' ');
                }
                write_json(x, out, pretty, html, depth + 1)?;
            }
            if !m.is_empty() {
                newline(out, depth);
            }
            out.push('}');
        }
        Value::Function(_) => return Err(fail("json: unsupported type: func")),
    }
    Ok(())
}

/// encoding/json's float64 (shared with the stages, [`crate::go::json`]).
fn json_float(f: f64) -> String {
    let mut out = String::new();
    crate::go::json::write_float(&mut out, f);
    out
}

fn json_string(s: &str, out: &mut String, html: bool) {
    use std::fmt::Write;
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' if html => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}
