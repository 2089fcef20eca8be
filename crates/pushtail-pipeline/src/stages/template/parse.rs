//! Parser for the Go text/template subset: text, `{{ pipeline }}` actions,
//! `{{ if }}…{{ else if }}…{{ else }}…{{ end }}`, comments and `{{-`/`-}}`
//! whitespace trimming.

use regex::Regex;

use super::engine::{Cmd, Func, Node, Operand, Pipe, TemplateError};
use crate::logql::quote::unquote_prefix;

/// What ended a list of nodes.
enum Stop {
    Eof,
    Else,
    ElseIf(Pipe),
    End,
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    /// Trim leading whitespace of the next text node (after `-}}`).
    trim_next: bool,
}

pub(super) fn parse(src: &str) -> Result<Vec<Node>, TemplateError> {
    let mut p = Parser {
        src,
        pos: 0,
        trim_next: false,
    };
    let (nodes, end) = p.list()?;
    match end {
        Stop::Eof => Ok(nodes),
        Stop::Else | Stop::ElseIf(_) => p.err("unexpected {{else}}"),
        Stop::End => p.err("unexpected {{end}}"),
    }
}

impl Parser<'_> {
    fn err<T>(&self, msg: impl Into<String>) -> Result<T, TemplateError> {
        Err(TemplateError {
            pos: self.pos,
            msg: msg.into(),
        })
    }

    /// Nodes up to `{{else}}`, `{{end}}` or the end of input.
    fn list(&mut self) -> Result<(Vec<Node>, Stop), TemplateError> {
        let mut nodes = Vec::new();
        loop {
            let rest = &self.src[self.pos..];
            let open = rest.find("{{").unwrap_or(rest.len());
            let mut text = &rest[..open];
            if std::mem::take(&mut self.trim_next) {
                text = text.trim_start();
            }
            let trim_left = rest[open..].starts_with("{{- ")
                || rest[open..].starts_with("{{-\t")
                || rest[open..].starts_with("{{-\n");
            if trim_left {
                text = text.trim_end();
            }
            if !text.is_empty() {
                nodes.push(Node::Text(text.to_owned()));
            }
            self.pos += open;
            if self.pos >= self.src.len() {
                return Ok((nodes, Stop::Eof));
            }
            self.pos += if trim_left { 3 } else { 2 };
            // Comments: {{/* … */}}
            self.skip_ws();
            if self.rest().starts_with("/*") {
                let Some(end) = self.rest().find("*/") else {
                    return self.err("unclosed comment");
                };
                self.pos += end + 2;
                self.close()?;
                continue;
            }
            match self.peek_word() {
                "if" => {
                    self.pos += 2;
                    let cond = self.pipe()?;
                    self.close()?;
                    nodes.push(self.if_chain(cond)?);
                }
                "else" => {
                    self.pos += 4;
                    self.skip_ws();
                    if self.peek_word() == "if" {
                        self.pos += 2;
                        let cond = self.pipe()?;
                        self.close()?;
                        return Ok((nodes, Stop::ElseIf(cond)));
                    }
                    self.close()?;
                    return Ok((nodes, Stop::Else));
                }
                "end" => {
                    self.pos += 3;
                    self.close()?;
                    return Ok((nodes, Stop::End));
                }
                w @ ("range" | "with" | "define" | "template" | "block" | "break" | "continue") => {
                    return self.err(format!("{{{{{w}}}}} is not supported"));
                }
                _ => {
                    let pipe = self.pipe()?;
                    self.close()?;
                    nodes.push(Node::Action(pipe));
                }
            }
        }
    }

    /// The body of an `if` whose condition was just read, through `{{end}}`.
    fn if_chain(&mut self, cond: Pipe) -> Result<Node, TemplateError> {
        let (then, end) = self.list()?;
        let els = match end {
            Stop::End => Vec::new(),
            Stop::Else => match self.list()? {
                (els, Stop::End) => els,
                _ => return self.err("expected {{end}} after {{else}}"),
            },
            Stop::ElseIf(c) => vec![self.if_chain(c)?],
            Stop::Eof => return self.err("unclosed {{if}}"),
        };
        Ok(Node::If { cond, then, els })
    }

    fn rest(&self) -> &str {
        &self.src[self.pos..]
    }

    fn skip_ws(&mut self) {
        let r = self.rest();
        self.pos += r.len() - r.trim_start().len();
    }

    fn peek_word(&self) -> &str {
        let r = self.rest();
        let n = r
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(r.len());
        &r[..n]
    }

    /// Consumes `}}` or ` -}}`.
    fn close(&mut self) -> Result<(), TemplateError> {
        self.skip_ws();
        let had_ws = self.src[..self.pos].ends_with(char::is_whitespace);
        if had_ws && self.rest().starts_with("-}}") {
            self.pos += 3;
            self.trim_next = true;
            return Ok(());
        }
        if self.rest().starts_with("}}") {
            self.pos += 2;
            return Ok(());
        }
        self.err("expected }}")
    }

    fn at_pipe_end(&mut self) -> bool {
        self.skip_ws();
        let r = self.rest();
        r.is_empty()
            || r.starts_with("}}")
            || r.starts_with("-}}")
            || r.starts_with(')')
            || r.starts_with('|')
    }

    /// `cmd (| cmd)*`
    fn pipe(&mut self) -> Result<Pipe, TemplateError> {
        let mut cmds = Vec::new();
        loop {
            let piped = !cmds.is_empty();
            cmds.push(self.cmd(piped)?);
            self.skip_ws();
            if self.rest().starts_with('|') {
                self.pos += 1;
                continue;
            }
            return Ok(Pipe { cmds });
        }
    }

    /// One command: an operand alone, or a function and its arguments.
    fn cmd(&mut self, piped: bool) -> Result<Cmd, TemplateError> {
        self.skip_ws();
        let word = self.peek_word();
        let first = word.chars().next();
        let is_func = first.is_some_and(|c| c.is_alphabetic() || c == '_')
            && !matches!(word, "true" | "false" | "nil");
        if !is_func {
            if piped {
                return self.err("only a function can follow |");
            }
            let op = self.operand()?;
            if !self.at_pipe_end() {
                return self.err("unexpected operand after a value");
            }
            return Ok(Cmd::Operand(op));
        }
        let name = word.to_owned();
        let start = self.pos;
        self.pos += name.len();
        let Some(func) = Func::by_name(&name) else {
            self.pos = start;
            return self.err(format!("function {name:?} not defined"));
        };
        let mut args = Vec::new();
        while !self.at_pipe_end() {
            args.push(self.operand()?);
        }
        let n = args.len() + usize::from(piped);
        if !func.arity_ok(n) {
            self.pos = start;
            return self.err(format!("wrong number of args for {name}: got {n}"));
        }
        // A regex given as a literal is compiled once, here.
        let re = match (func, args.first()) {
            (Func::RegexReplaceAll | Func::RegexReplaceAllLiteral, Some(Operand::Str(s))) => {
                Some(Regex::new(s).map_err(|e| TemplateError {
                    pos: start,
                    msg: format!("invalid regex {s:?}: {e}"),
                })?)
            }
            _ => None,
        };
        Ok(Cmd::Call { func, args, re })
    }

    fn operand(&mut self) -> Result<Operand, TemplateError> {
        self.skip_ws();
        let r = self.rest();
        let Some(c) = r.chars().next() else {
            return self.err("unexpected end of template");
        };
        match c {
            '"' | '`' => match unquote_prefix(r) {
                Ok((s, used)) => {
                    self.pos += used;
                    Ok(Operand::Str(s))
                }
                Err(msg) => self.err(msg),
            },
            '.' => {
                self.pos += 1;
                let name = self.peek_word().to_owned();
                self.pos += name.len();
                if self.rest().starts_with('.') {
                    return self.err("nested fields are not supported");
                }
                Ok(if name.is_empty() {
                    Operand::Dot
                } else {
                    Operand::Field(name)
                })
            }
            '(' => {
                self.pos += 1;
                let p = self.pipe()?;
                self.skip_ws();
                if !self.rest().starts_with(')') {
                    return self.err("expected )");
                }
                self.pos += 1;
                Ok(Operand::Sub(Box::new(p)))
            }
            '-' | '+' | '0'..='9' => {
                let n = r[1..]
                    .find(|c: char| !c.is_ascii_digit())
                    .map_or(r.len(), |i| i + 1);
                match r[..n].parse::<i64>() {
                    Ok(v) => {
                        self.pos += n;
                        Ok(Operand::Int(v))
                    }
                    Err(_) => self.err(format!("bad number {:?}", &r[..n])),
                }
            }
            _ => match self.peek_word() {
                "true" => {
                    self.pos += 4;
                    Ok(Operand::Bool(true))
                }
                "false" => {
                    self.pos += 5;
                    Ok(Operand::Bool(false))
                }
                "nil" => {
                    self.pos += 3;
                    Ok(Operand::Nil)
                }
                w if !w.is_empty() && Func::by_name(w).is_some() => {
                    self.err(format!("function {w} used as an argument: wrap it in ( )"))
                }
                _ => self.err(format!("unexpected {c:?} in action")),
            },
        }
    }
}
