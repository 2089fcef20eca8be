//! sprig's date functions. Go's `time.Time` has no template-value
//! counterpart here, so a time travels as its Go `String()` form
//! (`2006-01-02 15:04:05.999999999 -0700 MST`): it prints as Go prints it,
//! and the date functions read it back. "Local" is the zone named by `TZ`,
//! else UTC.

use chrono::{DateTime, Datelike, FixedOffset, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use gotmpl::{FuncMap, Value};

use crate::go::layout::GoLayout;
use crate::go::template::args::{fail, register, str_value, string, Arity::Exactly, Res};

pub(super) fn register_all(m: &mut FuncMap) {
    register(m, "now", Exactly(0), |_| {
        Ok(time_value(Utc::now(), &local()))
    });
    register(m, "date", Exactly(2), |a| {
        Ok(str_value(format(string(&a[0])?, instant(&a[1]), &local())))
    });
    for name in ["dateInZone", "date_in_zone"] {
        register(m, name, Exactly(3), |a| {
            let zone = zone(string(&a[2])?);
            Ok(str_value(format(string(&a[0])?, instant(&a[1]), &zone)))
        });
    }
    register(m, "htmlDate", Exactly(1), |a| {
        Ok(str_value(format("2006-01-02", instant(&a[0]), &local())))
    });
    register(m, "htmlDateInZone", Exactly(2), |a| {
        let zone = zone(string(&a[1])?);
        Ok(str_value(format("2006-01-02", instant(&a[0]), &zone)))
    });
    register(m, "toDate", Exactly(2), |a| {
        let t = to_date(string(&a[0])?, string(&a[1])?).unwrap_or_else(zero_time);
        Ok(time_value(t, &local()))
    });
    register(m, "mustToDate", Exactly(2), |a| {
        let (layout, s) = (string(&a[0])?, string(&a[1])?);
        let t = to_date(layout, s)
            .ok_or_else(|| fail(format!("parsing time {s:?} as {layout:?}: cannot parse")))?;
        Ok(time_value(t, &local()))
    });
    register(m, "unixEpoch", Exactly(1), |a| {
        Ok(str_value(time_arg(&a[0])?.timestamp().to_string()))
    });
    for (name, must) in [
        ("dateModify", false),
        ("date_modify", false),
        ("mustDateModify", true),
        ("must_date_modify", true),
    ] {
        let f: fn(&[Value]) -> Res = if must {
            |a| {
                let t = time_arg(&a[1])?;
                let d = string(&a[0])?;
                let ns = parse_go_duration(d)
                    .ok_or_else(|| fail(format!("time: invalid duration {d:?}")))?;
                Ok(time_value(add_ns(t, ns), &local()))
            }
        } else {
            |a| {
                let t = time_arg(&a[1])?;
                let ns = parse_go_duration(string(&a[0])?).unwrap_or(0);
                Ok(time_value(add_ns(t, ns), &local()))
            }
        };
        register(m, name, Exactly(2), f);
    }
    register(m, "ago", Exactly(1), |a| {
        let t = match &a[0] {
            Value::Int(secs) => Utc.timestamp_opt(*secs, 0).single(),
            Value::String(s) => parse_time(s),
            _ => None,
        }
        .unwrap_or_else(Utc::now);
        let ns = Utc::now()
            .signed_duration_since(t)
            .num_nanoseconds()
            .unwrap_or(i64::MAX);
        Ok(str_value(go_duration_string(round_to_second(ns))))
    });
    register(m, "duration", Exactly(1), |a| {
        let secs = match &a[0] {
            Value::String(s) => s.parse::<i64>().unwrap_or(0),
            Value::Int(i) => *i,
            _ => 0,
        };
        Ok(str_value(go_duration_string(
            secs.wrapping_mul(1_000_000_000),
        )))
    });
    register(m, "durationRound", Exactly(1), |a| {
        let ns: i64 = match &a[0] {
            Value::String(s) => match parse_time(s) {
                Some(t) => Utc::now()
                    .signed_duration_since(t)
                    .num_nanoseconds()
                    .unwrap_or(i64::MAX),
                None => parse_go_duration(s).unwrap_or(0),
            },
            Value::Int(i) => *i,
            _ => 0,
        };
        Ok(str_value(duration_round(ns)))
    });
}

fn local() -> Tz {
    std::env::var("TZ")
        .ok()
        .and_then(|z| z.parse::<Tz>().ok())
        .unwrap_or(Tz::UTC)
}

/// `time.LoadLocation`, falling back to UTC as sprig does.
fn zone(name: &str) -> Tz {
    match name {
        "Local" => local(),
        "" | "UTC" => Tz::UTC,
        n => n.parse().unwrap_or(Tz::UTC),
    }
}

fn zero_time() -> DateTime<Utc> {
    DateTime::<Utc>::MIN_UTC
        .with_year(1)
        .and_then(|t| t.with_month(1))
        .and_then(|t| t.with_day(1))
        .and_then(|t| t.with_hour(0))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// A time as its Go `String()` in `tz`.
fn time_value(t: DateTime<Utc>, tz: &Tz) -> Value {
    str_value(format("2006-01-02 15:04:05.999999999 -0700 MST", t, tz))
}

/// Reads back a time value (the Go `String()` form).
pub(super) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    // Drop the zone abbreviation: the numeric offset is authoritative.
    let cut = s.rfind(' ')?;
    let t = DateTime::<FixedOffset>::parse_from_str(&s[..cut], "%Y-%m-%d %H:%M:%S%.f %z").ok()?;
    Some(t.with_timezone(&Utc))
}

/// A `time.Time` parameter.
fn time_arg(v: &Value) -> Result<DateTime<Utc>, gotmpl::TemplateError> {
    match v {
        Value::String(s) => parse_time(s)
            .ok_or_else(|| fail("wrong type for value; expected time.Time; got string")),
        other => Err(fail(format!(
            "wrong type for value; expected time.Time; got {}",
            crate::go::template::args::go_type(other)
        ))),
    }
}

/// `dateInZone`'s time argument: a time, Unix seconds, else now.
fn instant(v: &Value) -> DateTime<Utc> {
    match v {
        Value::Int(secs) => Utc.timestamp_opt(*secs, 0).single(),
        Value::String(s) => parse_time(s),
        _ => None,
    }
    .unwrap_or_else(Utc::now)
}

fn add_ns(t: DateTime<Utc>, ns: i64) -> DateTime<Utc> {
    t.checked_add_signed(chrono::Duration::nanoseconds(ns))
        .unwrap_or(t)
}

fn to_date(layout: &str, s: &str) -> Option<DateTime<Utc>> {
    let tz = local();
    let ns = GoLayout::new(layout).parse_ns(s, Some(&tz), Utc::now())?;
    Some(Utc.timestamp_nanos(ns))
}

fn round_to_second(ns: i64) -> i64 {
    let r = ns.rem_euclid(1_000_000_000);
    let down = ns - r;
    if r >= 500_000_000 {
        down.saturating_add(1_000_000_000)
    } else {
        down
    }
}

/// `time.Duration.String`.
pub(super) fn go_duration_string(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let neg = ns < 0;
    let u = ns.unsigned_abs();
    let mut out = String::new();
    if u < 1_000_000_000 {
        // Sub-second: ns, µs or ms with a fraction.
        let (unit, div) = match u {
            0..=999 => ("ns", 1),
            1_000..=999_999 => ("µs", 1_000),
            _ => ("ms", 1_000_000),
        };
        out.push_str(&frac(u, div));
        out.push_str(unit);
    } else {
        let h = u / 3_600_000_000_000;
        let rem = u % 3_600_000_000_000;
        let m = rem / 60_000_000_000;
        let s = rem % 60_000_000_000;
        if h > 0 {
            out.push_str(&format!("{h}h"));
        }
        if h > 0 || m > 0 {
            out.push_str(&format!("{m}m"));
        }
        out.push_str(&frac(s, 1_000_000_000));
        out.push('s');
    }
    if neg {
        out.insert(0, '-');
    }
    out
}

/// `n / div` with the fraction's trailing zeros dropped.
fn frac(n: u64, div: u64) -> String {
    let (int, rem) = (n / div, n % div);
    if rem == 0 {
        return int.to_string();
    }
    let width = div.ilog10() as usize;
    let f = format!("{rem:0width$}");
    format!("{int}.{}", f.trim_end_matches('0'))
}

/// `time.ParseDuration`: `[-+]` then numbers with units ns us µs ms s m h.
pub(super) fn parse_go_duration(s: &str) -> Option<i64> {
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num = &rest[..n];
        if num.is_empty() || num == "." {
            return None;
        }
        let v: f64 = num.parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..u] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[u..];
        total += v * mult;
    }
    if total > i64::MAX as f64 {
        return None;
    }
    let ns = total.round() as i64;
    Some(if neg { -ns } else { ns })
}

/// sprig's `durationRound`: the largest whole unit (y, mo, d, h, m, s).
fn duration_round(ns: i64) -> String {
    let u = ns.unsigned_abs();
    const S: u64 = 1_000_000_000;
    for (unit, size) in [
        ("y", S * 3600 * 24 * 365),
        ("mo", S * 3600 * 24 * 30),
        ("d", S * 3600 * 24),
        ("h", S * 3600),
        ("m", S * 60),
        ("s", S),
    ] {
        if u > size {
            return format!("{}{unit}", u / size);
        }
    }
    "0s".into()
}

/// `time.Time.Format` in zone `tz`.
pub(super) fn format(layout: &str, t: DateTime<Utc>, tz: &Tz) -> String {
    crate::go::layout::format(layout, t.with_timezone(tz))
}
