//! sprig's arithmetic: integer functions convert every argument with
//! `cast.ToInt64` (a bad string is 0), float functions with `ToFloat64`.

use gotmpl::{FuncMap, Value};

use super::convert::{strval, to_float64, to_int64};
use super::decimal::{self, Op};
use crate::go::template::args::{
    fail, int, list_value, register, str_value, string, Arity::AtLeast, Arity::Exactly, Res,
};

pub(super) fn register_all(m: &mut FuncMap) {
    register(m, "atoi", Exactly(1), |a| {
        Ok(Value::Int(string(&a[0])?.parse::<i64>().unwrap_or(0)))
    });
    register(m, "int64", Exactly(1), |a| Ok(Value::Int(to_int64(&a[0]))));
    register(m, "int", Exactly(1), |a| Ok(Value::Int(to_int64(&a[0]))));
    register(m, "float64", Exactly(1), |a| {
        Ok(Value::Float(to_float64(&a[0])))
    });
    register(m, "toDecimal", Exactly(1), |a| {
        Ok(Value::Int(
            i64::from_str_radix(&strval(&a[0]), 8).unwrap_or(0),
        ))
    });
    register(m, "add1", Exactly(1), |a| {
        Ok(Value::Int(to_int64(&a[0]).wrapping_add(1)))
    });
    register(m, "add", AtLeast(0), |a| {
        Ok(Value::Int(
            a.iter().fold(0i64, |s, v| s.wrapping_add(to_int64(v))),
        ))
    });
    register(m, "sub", Exactly(2), |a| {
        Ok(Value::Int(to_int64(&a[0]).wrapping_sub(to_int64(&a[1]))))
    });
    register(m, "mul", AtLeast(1), |a| {
        Ok(Value::Int(
            a.iter().fold(1i64, |s, v| s.wrapping_mul(to_int64(v))),
        ))
    });
    register(m, "div", Exactly(2), |a| {
        let (x, y) = (to_int64(&a[0]), to_int64(&a[1]));
        x.checked_div(y)
            .map(Value::Int)
            .ok_or_else(|| fail("runtime error: integer divide by zero"))
    });
    register(m, "mod", Exactly(2), |a| {
        let (x, y) = (to_int64(&a[0]), to_int64(&a[1]));
        x.checked_rem(y)
            .map(Value::Int)
            .ok_or_else(|| fail("runtime error: integer divide by zero"))
    });
    register(m, "randInt", Exactly(2), |a| {
        let (lo, hi) = (int(&a[0])?, int(&a[1])?);
        if hi <= lo {
            return Err(fail("invalid argument to Intn"));
        }
        Ok(Value::Int(fastrand::i64(lo..hi)))
    });
    register(m, "max", AtLeast(1), |a| {
        Ok(Value::Int(a.iter().map(to_int64).max().unwrap_or(0)))
    });
    register(m, "biggest", AtLeast(1), |a| {
        Ok(Value::Int(a.iter().map(to_int64).max().unwrap_or(0)))
    });
    register(m, "min", AtLeast(1), |a| {
        Ok(Value::Int(a.iter().map(to_int64).min().unwrap_or(0)))
    });
    register(m, "maxf", AtLeast(1), |a| {
        Ok(Value::Float(
            a.iter().map(to_float64).fold(f64::NEG_INFINITY, go_max),
        ))
    });
    register(m, "minf", AtLeast(1), |a| {
        Ok(Value::Float(
            a.iter().map(to_float64).fold(f64::INFINITY, go_min),
        ))
    });
    // Decimal, not float64, arithmetic: see `decimal.rs`.
    register(m, "add1f", Exactly(1), |a| {
        decimal_fold(to_float64(&a[0]), &[Value::Int(1)], Op::Add)
    });
    register(m, "addf", AtLeast(0), |a| decimal_fold(0.0, a, Op::Add));
    register(m, "subf", AtLeast(1), |a| {
        decimal_fold(to_float64(&a[0]), &a[1..], Op::Sub)
    });
    register(m, "mulf", AtLeast(1), |a| {
        decimal_fold(to_float64(&a[0]), &a[1..], Op::Mul)
    });
    register(m, "divf", AtLeast(1), |a| {
        decimal_fold(to_float64(&a[0]), &a[1..], Op::Div)
    });
    register(m, "ceil", Exactly(1), |a| {
        Ok(Value::Float(to_float64(&a[0]).ceil()))
    });
    register(m, "floor", Exactly(1), |a| {
        Ok(Value::Float(to_float64(&a[0]).floor()))
    });
    register(m, "round", AtLeast(2), |a| {
        if a.len() > 3 {
            return Err(fail(format!(
                "wrong number of args for round: want at most 3 got {}",
                a.len()
            )));
        }
        let on = a.get(2).map_or(0.5, to_float64);
        let pow = 10f64.powf(int(&a[1])? as f64);
        let digit = pow * to_float64(&a[0]);
        let frac = digit.fract();
        let r = if frac >= on {
            digit.ceil()
        } else {
            digit.floor()
        };
        Ok(Value::Float(r / pow))
    });
    register(m, "until", Exactly(1), |a| {
        let n = int(&a[0])?;
        until_step(0, n, if n < 0 { -1 } else { 1 })
    });
    register(m, "untilStep", Exactly(3), |a| {
        until_step(int(&a[0])?, int(&a[1])?, int(&a[2])?)
    });
    register(m, "seq", AtLeast(0), |a| {
        let p: Vec<i64> = a.iter().map(int).collect::<Result<_, _>>()?;
        let (start, end, step) = match p[..] {
            [] => return Ok(str_value("")),
            [end] => (1, end, if end < 1 { -1 } else { 1 }),
            [start, end] => (start, end, if end < start { -1 } else { 1 }),
            [start, step, end] => {
                if end < start && step > 0 {
                    return Ok(str_value(""));
                }
                let inc = if end < start { -1 } else { 1 };
                let v = steps(start, end + inc, step)?;
                return Ok(str_value(join_ints(&v)));
            }
            _ => return Ok(str_value("")),
        };
        let v = steps(start, end + step, step)?;
        Ok(str_value(join_ints(&v)))
    });
}

/// `math.Max`/`math.Min` propagate NaN.
fn go_max(x: f64, y: f64) -> f64 {
    if x.is_nan() || y.is_nan() {
        f64::NAN
    } else {
        x.max(y)
    }
}

fn go_min(x: f64, y: f64) -> f64 {
    if x.is_nan() || y.is_nan() {
        f64::NAN
    } else {
        x.min(y)
    }
}

/// `first op rest…` in sprig's decimal arithmetic, every further value
/// through `ToFloat64` first.
fn decimal_fold(first: f64, rest: &[Value], op: Op) -> Res {
    Ok(Value::Float(decimal::fold(
        first,
        rest.iter().map(to_float64),
        op,
    )?))
}

/// The biggest list `until`/`seq` build, against runaway templates.
const MAX_STEPS: usize = 1 << 20;

fn steps(start: i64, stop: i64, step: i64) -> Result<Vec<i64>, gotmpl::TemplateError> {
    let mut v = Vec::new();
    let mut i = start;
    let more = |i: i64| {
        if stop < start {
            step < 0 && i > stop
        } else {
            step > 0 && i < stop
        }
    };
    while more(i) {
        if v.len() >= MAX_STEPS {
            return Err(fail("sequence too long"));
        }
        v.push(i);
        i = match i.checked_add(step) {
            Some(n) => n,
            None => break,
        };
    }
    Ok(v)
}

fn until_step(start: i64, stop: i64, step: i64) -> Res {
    Ok(list_value(
        steps(start, stop, step)?
            .into_iter()
            .map(Value::Int)
            .collect(),
    ))
}

fn join_ints(v: &[i64]) -> String {
    v.iter().map(i64::to_string).collect::<Vec<_>>().join(" ")
}
