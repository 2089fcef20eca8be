//! sprig's date functions. Go's `time.Time` has no template-value
//! counterpart here, so a time travels as its Go `String()` form
//! (`2006-01-02 15:04:05.999999999 -0700 MST`): it prints as Go prints it,
//! and the date functions read it back. "Local" is the zone named by `TZ`,
//! else UTC.

use chrono::{DateTime, Datelike, FixedOffset, Offset, TimeZone, Timelike, Utc};
use chrono_tz::{OffsetName, Tz};
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
    let t = t.with_timezone(tz);
    let offset = t.offset().fix().local_minus_utc();
    let abbr = t.offset().abbreviation().map(str::to_owned);
    let mut out = String::with_capacity(layout.len() + 10);
    let mut rest = layout;
    while !rest.is_empty() {
        let (tok, len) = next_token(rest);
        let Some(tok) = tok else {
            let c = rest.chars().next().map_or(1, char::len_utf8);
            out.push_str(&rest[..c]);
            rest = &rest[c..];
            continue;
        };
        rest = &rest[len..];
        let hour12 = match t.hour() % 12 {
            0 => 12,
            h => h,
        };
        match tok {
            Tok::LongMonth => out.push_str(MONTHS[t.month0() as usize]),
            Tok::Month => out.push_str(&MONTHS[t.month0() as usize][..3]),
            Tok::NumMonth => out.push_str(&t.month().to_string()),
            Tok::ZeroMonth => out.push_str(&format!("{:02}", t.month())),
            Tok::LongWeekDay => out.push_str(DAYS[t.weekday().num_days_from_sunday() as usize]),
            Tok::WeekDay => out.push_str(&DAYS[t.weekday().num_days_from_sunday() as usize][..3]),
            Tok::Day => out.push_str(&t.day().to_string()),
            Tok::UnderDay => out.push_str(&format!("{:>2}", t.day())),
            Tok::ZeroDay => out.push_str(&format!("{:02}", t.day())),
            Tok::UnderYearDay => out.push_str(&format!("{:>3}", t.ordinal())),
            Tok::ZeroYearDay => out.push_str(&format!("{:03}", t.ordinal())),
            Tok::Hour => out.push_str(&format!("{:02}", t.hour())),
            Tok::Hour12 => out.push_str(&hour12.to_string()),
            Tok::ZeroHour12 => out.push_str(&format!("{hour12:02}")),
            Tok::Minute => out.push_str(&t.minute().to_string()),
            Tok::ZeroMinute => out.push_str(&format!("{:02}", t.minute())),
            Tok::Second => out.push_str(&t.second().to_string()),
            Tok::ZeroSecond => out.push_str(&format!("{:02}", t.second())),
            Tok::LongYear => out.push_str(&format!("{:04}", t.year())),
            Tok::Year => out.push_str(&format!("{:02}", t.year().rem_euclid(100))),
            Tok::Pm => out.push_str(if t.hour() >= 12 { "PM" } else { "AM" }),
            Tok::PmLower => out.push_str(if t.hour() >= 12 { "pm" } else { "am" }),
            Tok::Tz => match &abbr {
                Some(a) => out.push_str(a),
                None => push_offset(&mut out, offset, false, false, false, false),
            },
            Tok::Offset {
                z,
                colon,
                mins,
                secs,
            } => {
                if z && offset == 0 {
                    out.push('Z');
                } else {
                    push_offset(&mut out, offset, colon, mins, secs, true);
                }
            }
            Tok::Frac { digits, trim, sep } => {
                let ns = format!("{:09}", t.nanosecond() % 1_000_000_000);
                let mut f = &ns[..digits.min(9)];
                if trim {
                    f = f.trim_end_matches('0');
                    if f.is_empty() {
                        continue;
                    }
                }
                out.push(sep);
                out.push_str(f);
            }
        }
    }
    out
}

fn push_offset(out: &mut String, offset: i32, colon: bool, mins: bool, secs: bool, numeric: bool) {
    let _ = numeric;
    let sign = if offset < 0 { '-' } else { '+' };
    let a = offset.unsigned_abs();
    out.push(sign);
    out.push_str(&format!("{:02}", a / 3600));
    if mins {
        if colon {
            out.push(':');
        }
        out.push_str(&format!("{:02}", a / 60 % 60));
    }
    if secs {
        if colon {
            out.push(':');
        }
        out.push_str(&format!("{:02}", a % 60));
    }
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

#[derive(Clone, Copy)]
enum Tok {
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    UnderYearDay,
    ZeroYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    Pm,
    PmLower,
    Tz,
    Offset {
        z: bool,
        colon: bool,
        mins: bool,
        secs: bool,
    },
    Frac {
        digits: usize,
        trim: bool,
        sep: char,
    },
}

/// The layout element at the start of `s` (Go's `nextStdChunk`, anchored).
fn next_token(s: &str) -> (Option<Tok>, usize) {
    let starts = |p: &str| s.starts_with(p);
    let off = |z: bool, colon: bool, mins: bool, secs: bool| Tok::Offset {
        z,
        colon,
        mins,
        secs,
    };
    let candidates: &[(&str, Tok)] = &[
        ("January", Tok::LongMonth),
        ("Jan", Tok::Month),
        ("Monday", Tok::LongWeekDay),
        ("Mon", Tok::WeekDay),
        ("MST", Tok::Tz),
        ("002", Tok::ZeroYearDay),
        ("01", Tok::ZeroMonth),
        ("02", Tok::ZeroDay),
        ("03", Tok::ZeroHour12),
        ("04", Tok::ZeroMinute),
        ("05", Tok::ZeroSecond),
        ("06", Tok::Year),
        ("15", Tok::Hour),
        ("1", Tok::NumMonth),
        ("2006", Tok::LongYear),
        ("2", Tok::Day),
        ("__2", Tok::UnderYearDay),
        ("_2", Tok::UnderDay),
        ("3", Tok::Hour12),
        ("4", Tok::Minute),
        ("5", Tok::Second),
        ("PM", Tok::Pm),
        ("pm", Tok::PmLower),
        ("-070000", off(false, false, true, true)),
        ("-07:00:00", off(false, true, true, true)),
        ("-0700", off(false, false, true, false)),
        ("-07:00", off(false, true, true, false)),
        ("-07", off(false, false, false, false)),
        ("Z070000", off(true, false, true, true)),
        ("Z07:00:00", off(true, true, true, true)),
        ("Z0700", off(true, false, true, false)),
        ("Z07:00", off(true, true, true, false)),
        ("Z07", off(true, false, false, false)),
    ];
    // "_2006" is "_" then a long year, as in Go.
    if starts("_2006") {
        return (None, 1);
    }
    for (p, tok) in candidates {
        // "Jan"/"Mon" followed by a lower-case letter are text ("Month").
        if !starts(p) {
            continue;
        }
        let word = matches!(*p, "Jan" | "Mon")
            && s[p.len()..].starts_with(|c: char| c.is_ascii_lowercase());
        if !word {
            return (Some(*tok), p.len());
        }
    }
    let b = s.as_bytes();
    if (b[0] == b'.' || b[0] == b',') && b.len() > 1 && (b[1] == b'0' || b[1] == b'9') {
        let d = b[1];
        let n = b[1..].iter().take_while(|&&c| c == d).count();
        if !b.get(1 + n).is_some_and(u8::is_ascii_digit) {
            let tok = Tok::Frac {
                digits: n,
                trim: d == b'9',
                sep: char::from(b[0]),
            };
            return (Some(tok), 1 + n);
        }
    }
    (None, 0)
}
