//! sprig's paths, URLs, reflection, environment, UUIDs and semver.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine;
use gotmpl::{FuncMap, Value};

use crate::go::template::args::{
    dict, fail, go_type, int, register, str_value, string, Arity::Exactly, Res,
};

pub(super) fn register_all(m: &mut FuncMap) {
    register(m, "hello", Exactly(0), |_| Ok(str_value("Hello!")));
    register(m, "fail", Exactly(1), |a| {
        Err(fail(string(&a[0])?.to_owned()))
    });
    // Paths: Go's `path` (and `path/filepath`, the same on Unix).
    for (plain, os) in [
        ("base", "osBase"),
        ("dir", "osDir"),
        ("clean", "osClean"),
        ("ext", "osExt"),
    ] {
        let f: fn(&[Value]) -> Res = match plain {
            "base" => |a| Ok(str_value(path_base(string(&a[0])?))),
            "dir" => |a| Ok(str_value(path_dir(string(&a[0])?))),
            "clean" => |a| Ok(str_value(path_clean(string(&a[0])?))),
            _ => |a| Ok(str_value(path_ext(string(&a[0])?))),
        };
        register(m, plain, Exactly(1), f);
        register(m, os, Exactly(1), f);
    }
    for name in ["isAbs", "osIsAbs"] {
        register(m, name, Exactly(1), |a| {
            Ok(Value::Bool(string(&a[0])?.starts_with('/')))
        });
    }
    register(m, "urlParse", Exactly(1), url_parse);
    register(m, "urlJoin", Exactly(1), url_join);
    register(m, "typeOf", Exactly(1), |a| Ok(str_value(go_type(&a[0]))));
    register(m, "typeIs", Exactly(2), |a| {
        Ok(Value::Bool(string(&a[0])? == go_type(&a[1])))
    });
    register(m, "typeIsLike", Exactly(2), |a| {
        let (want, got) = (string(&a[0])?, go_type(&a[1]));
        Ok(Value::Bool(
            want == got || got.strip_prefix('*') == Some(want),
        ))
    });
    register(m, "kindOf", Exactly(1), |a| Ok(str_value(kind_of(&a[0]))));
    register(m, "kindIs", Exactly(2), |a| {
        Ok(Value::Bool(string(&a[0])? == kind_of(&a[1])))
    });
    register(m, "env", Exactly(1), |a| {
        Ok(str_value(std::env::var(string(&a[0])?).unwrap_or_default()))
    });
    register(m, "expandenv", Exactly(1), |a| {
        Ok(str_value(expand_env(string(&a[0])?)))
    });
    register(m, "uuidv4", Exactly(0), |_| {
        Ok(str_value(uuid::Uuid::new_v4().to_string()))
    });
    register(m, "randBytes", Exactly(1), |a| {
        let n = usize::try_from(int(&a[0])?).unwrap_or(0).min(1 << 20);
        let bytes: Vec<u8> = (0..n).map(|_| fastrand::u8(..)).collect();
        Ok(str_value(
            base64::engine::general_purpose::STANDARD.encode(bytes),
        ))
    });
    register(m, "semver", Exactly(1), |a| {
        let v = parse_semver(string(&a[0])?)?;
        let mut d = BTreeMap::new();
        d.insert(Arc::from("Major"), Value::Uint(v.major));
        d.insert(Arc::from("Minor"), Value::Uint(v.minor));
        d.insert(Arc::from("Patch"), Value::Uint(v.patch));
        d.insert(Arc::from("Prerelease"), str_value(v.pre.as_str()));
        d.insert(Arc::from("Metadata"), str_value(v.build.as_str()));
        d.insert(Arc::from("Original"), str_value(string(&a[0])?));
        Ok(Value::Map(Arc::new(d)))
    });
    register(m, "semverCompare", Exactly(2), |a| {
        let (c, v) = (string(&a[0])?, string(&a[1])?);
        let v = parse_semver(v)?;
        // Masterminds constraints: `||` alternatives of comma- or
        // space-separated ANDed comparisons.
        for alt in c.split("||") {
            let req = alt
                .split([',', ' '])
                .filter(|p| !p.is_empty())
                .collect::<Vec<_>>();
            let req = normalise_constraint(&req);
            let req = semver::VersionReq::parse(&req)
                .map_err(|e| fail(format!("improper constraint: {c}: {e}")))?;
            if req.matches(&v) {
                return Ok(Value::Bool(true));
            }
        }
        Ok(Value::Bool(false))
    });
}

/// Masterminds' lenient versions: an optional `v`, missing minor/patch.
fn parse_semver(s: &str) -> Result<semver::Version, gotmpl::TemplateError> {
    let t = s.strip_prefix('v').unwrap_or(s);
    let (core, rest) = match t.find(['-', '+']) {
        Some(i) => t.split_at(i),
        None => (t, ""),
    };
    let mut parts: Vec<&str> = core.split('.').collect();
    while parts.len() < 3 {
        parts.push("0");
    }
    semver::Version::parse(&format!("{}{rest}", parts.join(".")))
        .map_err(|_| fail("Invalid Semantic Version"))
}

/// Rewrites comparisons joined by spaces/commas into `semver`'s syntax
/// (comma-separated, `=` for bare versions, `v` prefixes dropped).
fn normalise_constraint(parts: &[&str]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut pending_op: Option<&str> = None;
    for p in parts {
        if matches!(
            *p,
            "=" | "!=" | ">" | "<" | ">=" | "=>" | "<=" | "=<" | "~" | "^" | "~>"
        ) {
            pending_op = Some(p);
            continue;
        }
        let op_len = p
            .find(|c: char| c.is_ascii_alphanumeric() || c == '*')
            .unwrap_or(p.len());
        let (op, ver) = p.split_at(op_len);
        let op = pending_op.take().unwrap_or(op);
        let op = match op {
            "" => "=",
            "=>" => ">=",
            "=<" => "<=",
            "~>" => "~",
            o => o,
        };
        let ver = ver.strip_prefix('v').unwrap_or(ver);
        let ver = ver.replace(['x', 'X'], "*");
        if op == "=" && ver.contains('*') {
            out.push(ver);
        } else {
            out.push(format!("{op}{ver}"));
        }
    }
    out.join(", ")
}

/// Go's `reflect.Kind` name.
fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Nil => "invalid",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Uint(_) => "uint",
        Value::Float(_) => "float64",
        Value::String(_) => "string",
        Value::List(_) => "slice",
        Value::Map(_) => "map",
        Value::Function(_) => "func",
    }
}

/// `os.ExpandEnv`: `$VAR` and `${VAR}`.
fn expand_env(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (name, used) = if let Some(body) = after.strip_prefix('{') {
            match body.find('}') {
                Some(j) => (&body[..j], j + 2),
                None => ("", 1),
            }
        } else {
            let n = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..n], n)
        };
        if used == 0 {
            out.push('$');
        } else if !name.is_empty() {
            out.push_str(&std::env::var(name).unwrap_or_default());
        }
        rest = &after[used.min(after.len())..];
    }
    out.push_str(rest);
    out
}

/// `path.Clean`.
pub(super) fn path_clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let body = parts.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".into(),
        (false, false) => body,
    }
}

/// `path.Base`.
fn path_base(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return "/".into();
    }
    t.rsplit('/').next().unwrap_or(t).to_owned()
}

/// `path.Dir`.
fn path_dir(p: &str) -> String {
    let dir = match p.rfind('/') {
        Some(i) => &p[..=i],
        None => "",
    };
    path_clean(dir)
}

/// `path.Ext`.
fn path_ext(p: &str) -> String {
    for (i, c) in p.char_indices().rev() {
        match c {
            '/' => break,
            '.' => return p[i..].to_owned(),
            _ => {}
        }
    }
    String::new()
}

fn url_parse(a: &[Value]) -> Res {
    let s = string(&a[0])?;
    let mut d = BTreeMap::new();
    let mut put = |k: &str, v: &str| {
        d.insert(Arc::from(k), str_value(v));
    };
    match url::Url::parse(s) {
        Ok(u) => {
            // Go keeps the authority as written (a default port too).
            let host = raw_host(s);
            put("scheme", u.scheme());
            put("host", &host);
            put(
                "hostname",
                u.host_str().unwrap_or("").trim_matches(['[', ']']),
            );
            put(
                "path",
                &percent_decode(if u.cannot_be_a_base() { "" } else { u.path() }),
            );
            put("query", u.query().unwrap_or(""));
            put("opaque", if u.cannot_be_a_base() { u.path() } else { "" });
            put("fragment", &percent_decode(u.fragment().unwrap_or("")));
            let user = match (u.username(), u.password()) {
                ("", None) => String::new(),
                (n, Some(p)) => format!("{n}:{p}"),
                (n, None) => n.to_owned(),
            };
            put("userinfo", &user);
        }
        Err(url::ParseError::RelativeUrlWithoutBase) => {
            // A relative reference: path, query and fragment only.
            let (rest, frag) = s.split_once('#').unwrap_or((s, ""));
            let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
            for (k, v) in [
                ("scheme", ""),
                ("host", ""),
                ("hostname", ""),
                ("path", path),
                ("query", query),
                ("opaque", ""),
                ("fragment", frag),
                ("userinfo", ""),
            ] {
                put(k, v);
            }
        }
        Err(e) => return Err(fail(format!("unable to parse url: {e}"))),
    }
    Ok(Value::Map(Arc::new(d)))
}

/// The `host[:port]` of `scheme://[userinfo@]host[:port]/…` as written.
fn raw_host(s: &str) -> String {
    let Some((_, rest)) = s.split_once("://") else {
        return String::new();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    authority
        .rsplit_once('@')
        .map_or(authority, |(_, h)| h)
        .to_owned()
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn url_join(a: &[Value]) -> Res {
    let d = dict(&a[0])?;
    let get = |k: &str| -> Result<String, gotmpl::TemplateError> {
        match d.get(k) {
            None => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.to_string()),
            Some(other) => Err(fail(format!(
                "unable to parse {k} key, must be of type string, but {} found",
                kind_of(other)
            ))),
        }
    };
    let (scheme, host, path, query, opaque, fragment, user) = (
        get("scheme")?,
        get("host")?,
        get("path")?,
        get("query")?,
        get("opaque")?,
        get("fragment")?,
        get("userinfo")?,
    );
    let mut out = String::new();
    if !scheme.is_empty() {
        out.push_str(&scheme);
        out.push(':');
    }
    if !opaque.is_empty() {
        out.push_str(&opaque);
    } else {
        if !scheme.is_empty() || !host.is_empty() || !user.is_empty() {
            if !host.is_empty() || !path.is_empty() || !user.is_empty() {
                out.push_str("//");
            }
            if !user.is_empty() {
                out.push_str(&user);
                out.push('@');
            }
            out.push_str(&host);
        }
        if !path.is_empty() && !path.starts_with('/') && !host.is_empty() {
            out.push('/');
        }
        out.push_str(&path);
    }
    if !query.is_empty() {
        out.push('?');
        out.push_str(&query);
    }
    if !fragment.is_empty() {
        out.push('#');
        out.push_str(&fragment);
    }
    Ok(str_value(out))
}
