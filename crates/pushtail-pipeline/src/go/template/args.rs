//! Argument handling shared by the template functions: Go's arity check
//! and the conversions Go's `text/template` does when it calls a function
//! with typed parameters (a `string` parameter takes only a string, an
//! `int` one only an integer).

use std::sync::Arc;

use gotmpl::{FuncMap, TemplateError, Value};

pub(super) type Res = Result<Value, TemplateError>;

/// A template function over its (arity-checked) arguments.
pub(super) type Func = fn(&[Value]) -> Res;

/// How many arguments a function takes.
#[derive(Clone, Copy)]
pub(super) enum Arity {
    Exactly(usize),
    AtLeast(usize),
}

pub(super) fn register(m: &mut FuncMap, name: &'static str, arity: Arity, f: Func) {
    m.insert(
        name.to_owned(),
        Arc::new(move |args: &[Value]| {
            let ok = match arity {
                Arity::Exactly(n) => args.len() == n,
                Arity::AtLeast(n) => args.len() >= n,
            };
            if !ok {
                let want = match arity {
                    Arity::Exactly(n) => n.to_string(),
                    Arity::AtLeast(n) => format!("at least {n}"),
                };
                return Err(fail(format!(
                    "wrong number of args for {name}: want {want} got {}",
                    args.len()
                )));
            }
            f(args)
        }),
    );
}

pub(super) fn fail(msg: impl Into<String>) -> TemplateError {
    TemplateError::Exec(msg.into())
}

/// A `string` parameter.
pub(super) fn string(v: &Value) -> Result<&str, TemplateError> {
    match v {
        Value::String(s) => Ok(s),
        Value::Nil => Err(fail("invalid value; expected string")),
        other => Err(fail(format!(
            "wrong type for value; expected string; got {}",
            go_type(other)
        ))),
    }
}

/// An `int` parameter (an integral float constant converts, as in Go).
pub(super) fn int(v: &Value) -> Result<i64, TemplateError> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::Uint(u) => i64::try_from(*u).map_err(|_| fail(format!("{u} overflows int"))),
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Ok(*f as i64),
        Value::Nil => Err(fail("invalid value; expected int")),
        other => Err(fail(format!(
            "wrong type for value; expected int; got {}",
            go_type(other)
        ))),
    }
}

/// A `bool` parameter.
pub(super) fn boolean(v: &Value) -> Result<bool, TemplateError> {
    match v {
        Value::Bool(b) => Ok(*b),
        other => Err(fail(format!(
            "wrong type for value; expected bool; got {}",
            go_type(other)
        ))),
    }
}

/// A `map[string]interface{}` parameter (sprig's dict functions).
pub(super) fn dict(
    v: &Value,
) -> Result<&std::collections::BTreeMap<Arc<str>, Value>, TemplateError> {
    match v {
        Value::Map(m) => Ok(m),
        other => Err(fail(format!(
            "wrong type for value; expected map[string]interface {{}}; got {}",
            go_type(other)
        ))),
    }
}

/// Go's type name for a value, as `%T` and sprig's `typeOf` print it.
pub(super) fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Nil => "<nil>",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Uint(_) => "uint",
        Value::Float(_) => "float64",
        Value::String(_) => "string",
        Value::List(_) => "[]interface {}",
        Value::Map(_) => "map[string]interface {}",
        Value::Function(_) => "func",
    }
}

pub(super) fn str_value(s: impl Into<Arc<str>>) -> Value {
    Value::String(s.into())
}

pub(super) fn list_value(items: Vec<Value>) -> Value {
    Value::List(items.into())
}

pub(super) fn strings_value<S: Into<Arc<str>>>(items: impl IntoIterator<Item = S>) -> Value {
    Value::List(items.into_iter().map(|s| Value::String(s.into())).collect())
}
