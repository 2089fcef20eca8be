//! A small Go text/template engine for the cases Promtail configs use:
//! fields (`.Value`, `.Entry`, `.name`), string/number/bool literals,
//! pipelines (`.Value | ToUpper`), function calls (`ToLower .Value`),
//! parenthesised sub-pipelines, `if`/`else if`/`else`/`end`, comments and
//! `{{-`/`-}}` trimming. Parsed once at load; rendering never panics.
//!
//! Values follow Go's rules where they are visible: a missing field prints
//! `<no value>` and is an error when passed to a string function (Promtail
//! then leaves the entry unchanged); `if` is false for missing, empty, 0
//! and `false`.

use std::borrow::Cow;
use std::fmt::Write;

use regex::Regex;
use sha2::Digest;

/// A parse error, with the byte offset in the template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template parse error at byte {pos}: {msg}")]
pub(crate) struct TemplateError {
    pub(crate) pos: usize,
    pub(crate) msg: String,
}

/// An execution error (wrong argument type, missing value, bad regex).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template execution error: {0}")]
pub(crate) struct RenderError(String);

/// The data a template reads: `.name` looks `name` up here.
pub(crate) trait Scope {
    fn get(&self, name: &str) -> Option<Cow<'_, str>>;
}

/// A parsed template.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    nodes: Vec<Node>,
}

#[derive(Debug, Clone)]
pub(super) enum Node {
    Text(String),
    Action(Pipe),
    If {
        cond: Pipe,
        then: Vec<Node>,
        els: Vec<Node>,
    },
}

#[derive(Debug, Clone)]
pub(super) struct Pipe {
    pub(super) cmds: Vec<Cmd>,
}

#[derive(Debug, Clone)]
pub(super) enum Cmd {
    Operand(Operand),
    Call {
        func: Func,
        args: Vec<Operand>,
        /// Pre-compiled regex when the first argument is a literal.
        re: Option<Regex>,
    },
}

#[derive(Debug, Clone)]
pub(super) enum Operand {
    Field(String),
    Dot,
    Str(String),
    Int(i64),
    Bool(bool),
    Nil,
    Sub(Box<Pipe>),
}

macro_rules! funcs {
    ($($name:literal => $variant:ident ($min:expr, $max:expr),)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(super) enum Func { $($variant,)* }
        impl Func {
            pub(super) fn by_name(name: &str) -> Option<Func> {
                match name { $($name => Some(Func::$variant),)* _ => None }
            }
            pub(super) fn arity_ok(self, n: usize) -> bool {
                let (min, max): (usize, usize) = match self { $(Func::$variant => ($min, $max),)* };
                (min..=max).contains(&n)
            }
        }
    };
}

funcs! {
    // Promtail's own functions.
    "ToLower" => ToLower(1, 1),
    "ToUpper" => ToUpper(1, 1),
    "Replace" => Replace(4, 4),
    "Trim" => Trim(2, 2),
    "TrimLeft" => TrimLeft(2, 2),
    "TrimRight" => TrimRight(2, 2),
    "TrimPrefix" => TrimPrefix(2, 2),
    "TrimSuffix" => TrimSuffix(2, 2),
    "TrimSpace" => TrimSpace(1, 1),
    "Hash" => Hash(2, 2),
    "Sha2Hash" => Sha2Hash(2, 2),
    "regexReplaceAll" => RegexReplaceAll(3, 3),
    "regexReplaceAllLiteral" => RegexReplaceAllLiteral(3, 3),
    // Go template builtins.
    "eq" => Eq(2, usize::MAX),
    "ne" => Ne(2, 2),
    "not" => Not(1, 1),
    "and" => And(1, usize::MAX),
    "or" => Or(1, usize::MAX),
    "len" => Len(1, 1),
    "index" => Index(2, 2),
    // A few sprig functions (Promtail also loads sprig).
    "default" => Default(2, 2),
    "lower" => SprigLower(1, 1),
    "upper" => SprigUpper(1, 1),
    "trim" => SprigTrim(1, 1),
    "trimPrefix" => SprigTrimPrefix(2, 2),
    "trimSuffix" => SprigTrimSuffix(2, 2),
    "replace" => SprigReplace(3, 3),
    "contains" => SprigContains(2, 2),
    "hasPrefix" => SprigHasPrefix(2, 2),
    "hasSuffix" => SprigHasSuffix(2, 2),
}

#[derive(Debug, Clone)]
enum Val<'a> {
    Str(Cow<'a, str>),
    Int(i64),
    Bool(bool),
    /// A map key that is not there (Go's invalid value).
    Missing,
    Nil,
    /// `.` itself: the whole data map.
    Map,
}

impl Val<'_> {
    fn truthy(&self) -> bool {
        match self {
            Val::Str(s) => !s.is_empty(),
            Val::Int(i) => *i != 0,
            Val::Bool(b) => *b,
            Val::Missing | Val::Nil => false,
            Val::Map => true,
        }
    }
}

fn fail<T>(msg: impl Into<String>) -> Result<T, RenderError> {
    Err(RenderError(msg.into()))
}

impl Template {
    pub(crate) fn parse(src: &str) -> Result<Template, TemplateError> {
        Ok(Template {
            nodes: super::parse::parse(src)?,
        })
    }

    /// True when rendering may read field `name` (also when `.` is used).
    pub(crate) fn uses_field(&self, name: &str) -> bool {
        fn pipe(p: &Pipe, name: &str) -> bool {
            p.cmds.iter().any(|c| match c {
                Cmd::Operand(op) => operand(op, name),
                Cmd::Call { args, .. } => args.iter().any(|op| operand(op, name)),
            })
        }
        fn operand(op: &Operand, name: &str) -> bool {
            match op {
                Operand::Field(f) => f == name,
                Operand::Dot => true,
                Operand::Sub(p) => pipe(p, name),
                _ => false,
            }
        }
        fn nodes(ns: &[Node], name: &str) -> bool {
            ns.iter().any(|n| match n {
                Node::Text(_) => false,
                Node::Action(p) => pipe(p, name),
                Node::If { cond, then, els } => {
                    pipe(cond, name) || nodes(then, name) || nodes(els, name)
                }
            })
        }
        nodes(&self.nodes, name)
    }

    /// Renders into `out` (appending). On error `out` may hold partial output.
    pub(crate) fn render(&self, scope: &dyn Scope, out: &mut String) -> Result<(), RenderError> {
        render_nodes(&self.nodes, scope, out)
    }
}

fn render_nodes(nodes: &[Node], scope: &dyn Scope, out: &mut String) -> Result<(), RenderError> {
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Action(p) => match eval_pipe(p, scope)? {
                Val::Str(s) => out.push_str(&s),
                Val::Int(i) => {
                    let _ = write!(out, "{i}");
                }
                Val::Bool(b) => out.push_str(if b { "true" } else { "false" }),
                Val::Missing => out.push_str("<no value>"),
                Val::Nil => out.push_str("<nil>"),
                Val::Map => return fail("cannot print the whole data map"),
            },
            Node::If { cond, then, els } => {
                let branch = if eval_pipe(cond, scope)?.truthy() {
                    then
                } else {
                    els
                };
                render_nodes(branch, scope, out)?;
            }
        }
    }
    Ok(())
}

fn eval_pipe<'s>(p: &Pipe, scope: &'s dyn Scope) -> Result<Val<'s>, RenderError> {
    let mut piped: Option<Val<'s>> = None;
    for cmd in &p.cmds {
        let v = match cmd {
            Cmd::Operand(op) => eval_operand(op, scope)?,
            Cmd::Call { func, args, re } => {
                let mut vals = Vec::with_capacity(args.len() + 1);
                for a in args {
                    vals.push(eval_operand(a, scope)?);
                }
                if let Some(v) = piped.take() {
                    vals.push(v);
                }
                call(*func, vals, re.as_ref(), scope)?
            }
        };
        piped = Some(v);
    }
    Ok(piped.unwrap_or(Val::Missing))
}

fn eval_operand<'s>(op: &Operand, scope: &'s dyn Scope) -> Result<Val<'s>, RenderError> {
    Ok(match op {
        Operand::Field(name) => scope.get(name).map_or(Val::Missing, Val::Str),
        Operand::Dot => Val::Map,
        Operand::Str(s) => Val::Str(Cow::Owned(s.clone())),
        Operand::Int(i) => Val::Int(*i),
        Operand::Bool(b) => Val::Bool(*b),
        Operand::Nil => Val::Nil,
        Operand::Sub(p) => eval_pipe(p, scope)?,
    })
}

fn string(v: Val<'_>) -> Result<Cow<'_, str>, RenderError> {
    match v {
        Val::Str(s) => Ok(s),
        Val::Missing => fail("invalid value; expected string"),
        Val::Int(_) => fail("wrong type for value; expected string; got int"),
        Val::Bool(_) => fail("wrong type for value; expected string; got bool"),
        Val::Nil | Val::Map => fail("wrong type for value; expected string"),
    }
}

fn int(v: Val<'_>) -> Result<i64, RenderError> {
    match v {
        Val::Int(i) => Ok(i),
        _ => fail("wrong type for value; expected int"),
    }
}

fn owned(s: Cow<'_, str>) -> Val<'static> {
    Val::Str(Cow::Owned(s.into_owned()))
}

fn same(a: &Val<'_>, b: &Val<'_>) -> Result<bool, RenderError> {
    match (a, b) {
        (Val::Str(x), Val::Str(y)) => Ok(x == y),
        (Val::Int(x), Val::Int(y)) => Ok(x == y),
        (Val::Bool(x), Val::Bool(y)) => Ok(x == y),
        (Val::Missing, _) | (_, Val::Missing) => fail("invalid type for comparison"),
        _ => fail("incompatible types for comparison"),
    }
}

fn hex_digest(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Go's strings.Replace: `n < 0` replaces all.
fn go_replace(s: &str, old: &str, new: &str, n: i64) -> String {
    match usize::try_from(n) {
        Ok(n) => s.replacen(old, new, n),
        Err(_) => s.replace(old, new),
    }
}

fn call<'s>(
    func: Func,
    mut a: Vec<Val<'s>>,
    re: Option<&Regex>,
    scope: &'s dyn Scope,
) -> Result<Val<'s>, RenderError> {
    // Variadic functions first: they consume the whole argument list.
    match func {
        Func::Eq => {
            let mut it = a.into_iter();
            let first = it.next().unwrap_or(Val::Nil);
            let mut any = false;
            for v in it {
                any |= same(&first, &v)?;
            }
            return Ok(Val::Bool(any));
        }
        Func::And | Func::Or => {
            // Go returns the first falsy (and) / truthy (or) argument, else the last.
            let want = func == Func::Or;
            let mut last = Val::Nil;
            for v in a {
                if v.truthy() == want {
                    return Ok(v);
                }
                last = v;
            }
            return Ok(last);
        }
        _ => {}
    }
    // Arity was checked at parse time; `take` keeps indexing panic-free.
    let mut take = |i: usize| std::mem::replace(a.get_mut(i).unwrap_or(&mut Val::Nil), Val::Nil);
    let s = |v: Val<'s>| string(v);
    Ok(match func {
        Func::ToLower | Func::SprigLower => owned(Cow::Owned(s(take(0))?.to_lowercase())),
        Func::ToUpper | Func::SprigUpper => owned(Cow::Owned(s(take(0))?.to_uppercase())),
        Func::TrimSpace | Func::SprigTrim => owned(Cow::Owned(s(take(0))?.trim().to_owned())),
        Func::Replace => {
            let (src, old, new, n) = (s(take(0))?, s(take(1))?, s(take(2))?, int(take(3))?);
            owned(Cow::Owned(go_replace(&src, &old, &new, n)))
        }
        Func::SprigReplace => {
            let (old, new, src) = (s(take(0))?, s(take(1))?, s(take(2))?);
            owned(Cow::Owned(src.replace(&*old, &new)))
        }
        Func::Trim | Func::TrimLeft | Func::TrimRight => {
            let (src, cut) = (s(take(0))?, s(take(1))?);
            let is_cut = |c: char| cut.contains(c);
            let t = match func {
                Func::Trim => src.trim_matches(is_cut),
                Func::TrimLeft => src.trim_start_matches(is_cut),
                _ => src.trim_end_matches(is_cut),
            };
            owned(Cow::Borrowed(t))
        }
        Func::TrimPrefix | Func::SprigTrimPrefix | Func::TrimSuffix | Func::SprigTrimSuffix => {
            let (x, y) = (s(take(0))?, s(take(1))?);
            let (src, affix) = match func {
                Func::TrimPrefix | Func::TrimSuffix => (x, y),
                _ => (y, x),
            };
            let t = match func {
                Func::TrimPrefix | Func::SprigTrimPrefix => src.strip_prefix(&*affix),
                _ => src.strip_suffix(&*affix),
            };
            owned(Cow::Borrowed(t.unwrap_or(&src)))
        }
        Func::Hash | Func::Sha2Hash => {
            let (x, y) = (s(take(0))?, s(take(1))?);
            let digest = if func == Func::Hash {
                let mut h = sha3::Sha3_256::new();
                h.update(x.as_bytes());
                h.update(y.as_bytes());
                hex_digest(&h.finalize())
            } else {
                let mut h = sha2::Sha256::new();
                h.update(x.as_bytes());
                h.update(y.as_bytes());
                hex_digest(&h.finalize())
            };
            Val::Str(Cow::Owned(digest))
        }
        Func::RegexReplaceAll | Func::RegexReplaceAllLiteral => {
            let (pat, src, repl) = (s(take(0))?, s(take(1))?, s(take(2))?);
            let compiled;
            let re = match re {
                Some(re) => re,
                None => {
                    compiled = Regex::new(&pat).map_err(|e| RenderError(e.to_string()))?;
                    &compiled
                }
            };
            let out = if func == Func::RegexReplaceAll {
                re.replace_all(&src, &*repl)
            } else {
                re.replace_all(&src, regex::NoExpand(&repl))
            };
            owned(out)
        }
        Func::SprigContains | Func::SprigHasPrefix | Func::SprigHasSuffix => {
            let (needle, hay) = (s(take(0))?, s(take(1))?);
            Val::Bool(match func {
                Func::SprigContains => hay.contains(&*needle),
                Func::SprigHasPrefix => hay.starts_with(&*needle),
                _ => hay.ends_with(&*needle),
            })
        }
        Func::Ne => Val::Bool(!same(&take(0), &take(1))?),
        Func::Not => Val::Bool(!take(0).truthy()),
        Func::Len => match take(0) {
            Val::Str(x) => Val::Int(i64::try_from(x.len()).unwrap_or(i64::MAX)),
            _ => return fail("len of a non-string"),
        },
        Func::Index => match (take(0), take(1)) {
            (Val::Map, Val::Str(k)) => scope.get(&k).map_or(Val::Missing, Val::Str),
            _ => return fail("index of a non-map"),
        },
        Func::Eq | Func::And | Func::Or => Val::Nil,
        Func::Default => {
            let (d, v) = (take(0), take(1));
            if v.truthy() {
                v
            } else {
                d
            }
        }
    })
}
