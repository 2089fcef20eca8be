//! Go's default float formatting, `fmt.Sprint(f)` for a float64 (`%v`,
//! which is `strconv.FormatFloat(f, 'g', -1, 64)`): the shortest digits
//! that read back the same, as a plain decimal when the decimal exponent
//! is between -4 and 5, else as `d.ddde±XX` (at least two exponent
//! digits). `-0`, `NaN`, `+Inf` and `-Inf` as Go spells them. Used where
//! Promtail prints a float with `fmt.Sprint` (the `geoip` stage's
//! coordinates). The golden table `testdata/sprint_float.json` was
//! written by real Go.

use std::fmt::Write;

/// `fmt.Sprint(f)` for a float64.
pub(crate) fn sprint(f: f64) -> String {
    let mut out = String::new();
    write_sprint(&mut out, f);
    out
}

/// Appends `fmt.Sprint(f)` for a float64 to `out`.
pub(crate) fn write_sprint(out: &mut String, f: f64) {
    if f.is_nan() {
        out.push_str("NaN");
        return;
    }
    if f.is_infinite() {
        out.push_str(if f > 0.0 { "+Inf" } else { "-Inf" });
        return;
    }
    // Rust's `{:e}` is the shortest round-trip digits with the decimal
    // exponent: `3.9102e1`, `-5e-5`, `0e0`.
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..6).contains(&exp) {
        // Rust's Display is the same shortest digits without an exponent.
        let _ = write!(out, "{f}");
        return;
    }
    out.push_str(mantissa);
    out.push('e');
    out.push(if exp < 0 { '-' } else { '+' });
    let _ = write!(out, "{:02}", exp.unsigned_abs());
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Case {
        input: f64,
        output: String,
    }

    /// Every row of the table real Go produced (`xtask/golden/stages`).
    #[test]
    fn matches_go_sprint() {
        let cases: Vec<Case> =
            serde_json::from_str(include_str!("testdata/sprint_float.json")).unwrap();
        assert!(cases.len() > 20);
        for c in cases {
            assert_eq!(super::sprint(c.input), c.output, "{:e}", c.input);
        }
    }

    /// What JSON cannot carry in the table above.
    #[test]
    fn special_values() {
        for (f, want) in [
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (-0.0, "-0"),
        ] {
            assert_eq!(super::sprint(f), want);
        }
    }
}
