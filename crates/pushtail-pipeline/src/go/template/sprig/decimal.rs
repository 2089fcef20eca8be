//! sprig's float arithmetic (`addf`, `add1f`, `subf`, `mulf`, `divf`),
//! which runs on shopspring/decimal rather than on float64: each operand
//! becomes the decimal of its shortest round-trip digits, the operations
//! are exact (division rounds half away from zero to 16 places, the
//! library's `DivisionPrecision`), and the result is the nearest float64.
//! So `addf 0.1 0.2` is `0.3`, not `0.30000000000000004`, and `divf 1 7`
//! is `0.1428571428571429`. Checked against `testdata/sprig_decimal.json`,
//! written by real Go with the library (`xtask/golden/stages`).

use std::cmp::Ordering;

use num_bigint::{BigInt, Sign};

use crate::go::template::args::fail;

/// Places after the point a quotient keeps (shopspring's `DivisionPrecision`).
const DIVISION_PRECISION: i64 = 16;

/// `mantissa × 10^exp`, exactly.
#[derive(Debug, Clone)]
struct Decimal {
    mantissa: BigInt,
    exp: i64,
}

/// What a fold does with each further operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    Add,
    Sub,
    Mul,
    Div,
}

/// `first op rest[0] op rest[1] …` as sprig computes it; an operand that
/// is NaN or infinite, or a zero divisor, fails as sprig's panic does.
pub(super) fn fold(
    first: f64,
    rest: impl IntoIterator<Item = f64>,
    op: Op,
) -> Result<f64, gotmpl::TemplateError> {
    let mut acc = Decimal::from_f64(first)?;
    for x in rest {
        let x = Decimal::from_f64(x)?;
        acc = match op {
            Op::Add => acc.add(&x),
            Op::Sub => acc.add(&x.neg()),
            Op::Mul => acc.mul(&x),
            Op::Div => acc.div(&x)?,
        };
    }
    Ok(acc.to_f64())
}

fn ten_pow(n: i64) -> BigInt {
    // Exponents come from float64 operands (|exp| < 400 each) and grow by
    // one operand's worth per operation of a template.
    BigInt::from(10u8).pow(u32::try_from(n).unwrap_or(u32::MAX))
}

impl Decimal {
    /// The decimal of `f`'s shortest round-trip digits (Rust's `{:e}` and
    /// Go's shortest formatting pick the same digits).
    fn from_f64(f: f64) -> Result<Decimal, gotmpl::TemplateError> {
        if !f.is_finite() {
            return Err(fail(format!(
                "Cannot create a Decimal from {}",
                crate::go::float::sprint(f)
            )));
        }
        let sci = format!("{f:e}");
        let (digits, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
        let exp: i64 = exp.parse().unwrap_or(0);
        let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
        let mantissa: BigInt = format!("{int}{frac}").parse().unwrap_or_default();
        let frac_len = i64::try_from(frac.len()).unwrap_or(0);
        Ok(Decimal {
            mantissa,
            exp: exp - frac_len,
        })
    }

    /// The nearest float64 (ties to even; ±Inf past the range), as Go's
    /// `big.Rat.Float64`: Rust's float parsing rounds correctly however
    /// many digits it reads.
    fn to_f64(&self) -> f64 {
        format!("{}e{}", self.mantissa, self.exp)
            .parse()
            .unwrap_or(f64::NAN)
    }

    fn neg(&self) -> Decimal {
        Decimal {
            mantissa: -&self.mantissa,
            exp: self.exp,
        }
    }

    fn add(&self, other: &Decimal) -> Decimal {
        let exp = self.exp.min(other.exp);
        let scaled = |d: &Decimal| &d.mantissa * ten_pow(d.exp - exp);
        Decimal {
            mantissa: scaled(self) + scaled(other),
            exp,
        }
    }

    fn mul(&self, other: &Decimal) -> Decimal {
        Decimal {
            mantissa: &self.mantissa * &other.mantissa,
            exp: self.exp + other.exp,
        }
    }

    /// The quotient rounded half away from zero to [`DIVISION_PRECISION`]
    /// places.
    fn div(&self, other: &Decimal) -> Result<Decimal, gotmpl::TemplateError> {
        if other.mantissa.sign() == Sign::NoSign {
            return Err(fail("decimal division by 0"));
        }
        // self / other = (a·10^ea) / (b·10^eb); the quotient's unit is
        // 10^-P, so q = a·10^(ea-eb+P) / b, scaling whichever side keeps
        // integers.
        let shift = self.exp - other.exp + DIVISION_PRECISION;
        let (num, den) = if shift >= 0 {
            (&self.mantissa * ten_pow(shift), other.mantissa.clone())
        } else {
            (self.mantissa.clone(), &other.mantissa * ten_pow(-shift))
        };
        let mut q = &num / &den; // truncated toward zero, as Go's QuoRem
        let r = &num - &q * &den;
        let twice_r = r.magnitude() * 2u8;
        if twice_r.cmp(den.magnitude()) != Ordering::Less {
            if num.sign() == den.sign() {
                q += 1;
            } else {
                q -= 1;
            }
        }
        Ok(Decimal {
            mantissa: q,
            exp: -DIVISION_PRECISION,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Case {
        op: String,
        args: Vec<f64>,
        #[serde(default)]
        output: Option<String>,
        #[serde(default)]
        error: Option<String>,
    }

    fn run(op: &str, args: &[f64]) -> Result<f64, gotmpl::TemplateError> {
        match (op, args) {
            ("addf", _) => fold(0.0, args.iter().copied(), Op::Add),
            ("add1f", [x]) => fold(*x, [1.0], Op::Add),
            ("subf", [first, rest @ ..]) => fold(*first, rest.iter().copied(), Op::Sub),
            ("mulf", [first, rest @ ..]) => fold(*first, rest.iter().copied(), Op::Mul),
            ("divf", [first, rest @ ..]) => fold(*first, rest.iter().copied(), Op::Div),
            _ => panic!("no case shape {op} {args:?}"),
        }
    }

    /// Every row real Go computed with shopspring/decimal v1.4.0 through
    /// sprig's helper.
    #[test]
    fn matches_sprig_decimal() {
        let cases: Vec<Case> =
            serde_json::from_str(include_str!("../../testdata/sprig_decimal.json"))
                .expect("testdata/sprig_decimal.json");
        assert!(cases.len() > 40);
        for c in cases {
            let got = run(&c.op, &c.args);
            match (&c.output, &c.error, got) {
                (Some(want), None, Ok(f)) => {
                    assert_eq!(crate::go::float::sprint(f), *want, "{} {:?}", c.op, c.args)
                }
                (None, Some(want), Err(e)) => {
                    assert!(
                        e.to_string().contains(want.as_str()),
                        "{} {:?}: {e}",
                        c.op,
                        c.args
                    )
                }
                (_, _, got) => panic!(
                    "{} {:?}: go {:?}/{:?}, ours {got:?}",
                    c.op, c.args, c.output, c.error
                ),
            }
        }
    }

    /// NaN and infinities cannot become decimals (sprig panics).
    #[test]
    fn non_finite_operands_fail() {
        for x in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert!(fold(1.0, [x], Op::Add).is_err(), "{x}");
            assert!(fold(x, [], Op::Mul).is_err(), "{x}");
        }
    }
}
