//! Go's `text/template` as Promtail runs it: the `gotmpl` port of the
//! template language with Promtail's function map, sprig's `TxtFuncMap`
//! (see [`sprig`]) plus Promtail's own functions (see [`promtail`]).
//!
//! Templates are parsed once, at config load; every error Go reports at
//! parse time (syntax, an undefined function, a refused sprig function) is
//! reported then. Rendering never panics: a failing template returns an
//! error and the stage leaves its entry unchanged, as Promtail does.

mod args;
mod promtail;
mod sprig;

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use gotmpl::parse::{Expr, ListNode, Node, Parser, PipeNode};
pub use gotmpl::Value;

/// Why a template was refused at load.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("{0}")]
    Syntax(String),
    #[error("function {name:?} not defined")]
    Undefined { name: String },
    #[error("function {name:?} is not available in pushtail: {why}")]
    Refused { name: String, why: &'static str },
}

/// Why a render failed (Go's execution error, without Go's position prefix).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RenderError(String);

/// A parsed template.
#[derive(Clone)]
pub struct Template {
    inner: gotmpl::Template,
    /// Top-level fields the template may read; `None` when it reads `.` or
    /// `$` whole (then every field may be read).
    fields: Option<Vec<String>>,
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Template")
            .field("fields", &self.fields)
            .finish()
    }
}

/// The function map, built once: sprig's, then Promtail's on top (Promtail
/// overrides sprig's `regexReplaceAll*`, as its init does).
fn funcs() -> &'static gotmpl::FuncMap {
    static FUNCS: OnceLock<gotmpl::FuncMap> = OnceLock::new();
    FUNCS.get_or_init(|| {
        let mut m = gotmpl::FuncMap::new();
        sprig::register_all(&mut m);
        promtail::register_all(&mut m);
        m
    })
}

/// Go's builtins, which `gotmpl` registers itself.
const BUILTINS: &[&str] = &[
    "and", "call", "eq", "ge", "gt", "html", "index", "js", "le", "len", "lt", "ne", "not", "or",
    "print", "printf", "println", "slice", "urlquery",
];

impl Template {
    pub fn parse(src: &str) -> Result<Template, ParseError> {
        let (tree, defines) = Parser::new(src, "{{", "}}")
            .and_then(Parser::parse)
            .map_err(|e| ParseError::Syntax(e.to_string()))?;
        check_structure(src)?;
        let mut walk = Walk {
            names: Vec::new(),
            fields: Some(Vec::new()),
            vars: vec!["$".to_owned()],
            ranges: 0,
            error: None,
        };
        walk.list(&tree);
        for d in &defines {
            walk.vars.truncate(1);
            walk.list(&d.body);
        }
        if let Some(msg) = walk.error {
            return Err(ParseError::Syntax(msg));
        }
        for name in walk.names {
            if let Some(why) = sprig::refused(&name) {
                return Err(ParseError::Refused { name, why });
            }
            if !BUILTINS.contains(&name.as_str()) && !funcs().contains_key(&name) {
                return Err(ParseError::Undefined { name });
            }
        }
        let inner = gotmpl::Template::new("")
            .funcs(funcs().clone())
            .parse(src)
            .map_err(|e| ParseError::Syntax(e.to_string()))?;
        Ok(Template {
            inner,
            fields: walk.fields,
        })
    }

    /// True when rendering may read top-level field `name`.
    pub fn reads_field(&self, name: &str) -> bool {
        self.fields
            .as_ref()
            .is_none_or(|f| f.iter().any(|n| n == name))
    }

    /// Renders over `data` (a [`Value::Map`]), appending to `out`. On error
    /// `out` may hold partial output.
    pub fn render(&self, data: &Value, out: &mut String) -> Result<(), RenderError> {
        self.inner
            .execute_fmt(out, data)
            .map_err(|e| RenderError(e.to_string()))
    }
}

/// Builds template data: a map of strings.
pub fn data<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Value {
    let map: BTreeMap<Arc<str>, Value> = pairs
        .into_iter()
        .map(|(k, v)| (Arc::from(k), Value::String(Arc::from(v))))
        .collect();
    Value::Map(Arc::new(map))
}

/// Go's block structure, which `gotmpl` does not enforce: every `{{if}}`,
/// `{{range}}`, `{{with}}`, `{{define}}` and `{{block}}` closed by one
/// `{{end}}`, and `{{else}}` only inside `if`, `range` or `with`.
fn check_structure(src: &str) -> Result<(), ParseError> {
    let mut open: Vec<&str> = Vec::new();
    let mut rest = src;
    while let Some(i) = rest.find("{{") {
        rest = &rest[i + 2..];
        let body = rest.strip_prefix('-').unwrap_or(rest).trim_start();
        if body.starts_with("/*") {
            let end = body.find("*/").map_or(body.len(), |e| e + 2);
            rest = &body[end..];
            continue;
        }
        let word_len = body
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(body.len());
        match &body[..word_len] {
            w @ ("if" | "range" | "with" | "define" | "block") => open.push(w),
            "else" if !matches!(open.last(), Some(&("if" | "range" | "with"))) => {
                return Err(ParseError::Syntax("unexpected {{else}}".into()));
            }
            "end" if open.pop().is_none() => {
                return Err(ParseError::Syntax("unexpected {{end}}".into()));
            }
            _ => {}
        }
        rest = skip_action(body);
    }
    match open.last() {
        Some(w) => Err(ParseError::Syntax(format!(
            "unexpected EOF: {{{{{w}}}}} has no {{{{end}}}}"
        ))),
        None => Ok(()),
    }
}

/// The text after the action that starts `s`: up to `}}` outside quotes.
fn skip_action(s: &str) -> &str {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'}' if b.get(i + 1) == Some(&b'}') => return &s[i + 2..],
            q @ (b'"' | b'\'' | b'`') => {
                i += 1;
                while i < b.len() && b[i] != q {
                    if b[i] == b'\\' && q != b'`' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    ""
}

/// Collects the function names a template calls and the fields it reads,
/// and makes the parse-time checks Go makes that `gotmpl` leaves to
/// execution (undefined variables, `{{break}}` outside `{{range}}`, a
/// constant after `|`).
struct Walk {
    names: Vec<String>,
    fields: Option<Vec<String>>,
    /// Variables in scope.
    vars: Vec<String>,
    /// `{{range}}` nesting depth.
    ranges: usize,
    /// The first error found.
    error: Option<String>,
}

impl Walk {
    fn list(&mut self, l: &ListNode) {
        for n in &l.nodes {
            self.node(n);
        }
    }

    fn node(&mut self, n: &Node) {
        match n {
            Node::List(l) => self.list(l),
            Node::Action(a) => self.pipe(&a.pipe),
            Node::If(b) | Node::Range(b) | Node::With(b) => {
                let scope = self.vars.len();
                self.pipe(&b.pipe);
                let range = matches!(n, Node::Range(_));
                self.ranges += usize::from(range);
                self.list(&b.body);
                self.ranges -= usize::from(range);
                if let Some(e) = &b.else_body {
                    self.list(e);
                }
                self.vars.truncate(scope);
            }
            Node::Template(t) => {
                // `{{template "x" .}}` hands `.` on: the callee may read anything.
                if let Some(p) = &t.pipe {
                    self.pipe(p);
                }
                self.fields = None;
            }
            Node::Define(d) => self.list(&d.body),
            Node::Break(_) | Node::Continue(_) if self.ranges == 0 => {
                let word = if matches!(n, Node::Break(_)) {
                    "break"
                } else {
                    "continue"
                };
                self.fail(format!("{{{{{word}}}}} outside {{{{range}}}}"));
            }
            Node::Text(_) | Node::Break(_) | Node::Continue(_) => {}
        }
    }

    fn fail(&mut self, msg: String) {
        self.error.get_or_insert(msg);
    }

    fn pipe(&mut self, p: &PipeNode) {
        if !p.is_assign {
            self.vars.extend(p.decl.iter().map(|v| v.to_string()));
        }
        for (i, c) in p.commands.iter().enumerate() {
            let constant = matches!(
                c.args.first(),
                Some(
                    Expr::Bool(..)
                        | Expr::Dot(_)
                        | Expr::Nil(_)
                        | Expr::Number(..)
                        | Expr::String(..)
                )
            );
            if i > 0 && constant {
                self.fail(format!(
                    "non executable command in pipeline stage {}",
                    i + 1
                ));
            }
            for a in &c.args {
                self.expr(a);
            }
        }
    }

    fn expr(&mut self, e: &Expr) {
        match e {
            Expr::Identifier(_, name) => self.names.push(name.to_string()),
            Expr::Field(_, path) => self.field(path.first().map(|s| s.as_str())),
            Expr::Variable(_, name, path) if name == "$" => {
                self.field(path.first().map(|s| s.as_str()))
            }
            Expr::Variable(_, name, _) if !self.vars.iter().any(|v| v == name) => {
                self.fail(format!("undefined variable {:?}", name.as_str()));
            }
            Expr::Dot(_) => self.fields = None,
            Expr::Pipe(_, p) => self.pipe(p),
            Expr::Chain(_, inner, _) => self.expr(inner),
            Expr::Variable(..)
            | Expr::String(..)
            | Expr::Number(..)
            | Expr::Bool(..)
            | Expr::Nil(_) => {}
        }
    }

    fn field(&mut self, first: Option<&str>) {
        match (first, &mut self.fields) {
            (None, _) => self.fields = None,
            (Some(f), Some(fields)) => fields.push(f.to_owned()),
            (Some(_), None) => {}
        }
    }
}

#[cfg(test)]
mod tests;
