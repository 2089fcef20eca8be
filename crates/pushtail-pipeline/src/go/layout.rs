//! Go's `time.Parse` and `time.ParseInLocation`: reference-time layouts
//! (`2006-01-02T15:04:05.000Z07:00`) compiled once, then applied to values
//! exactly as Go applies them, plus Promtail's named formats; and
//! `time.Time.Format` over the same layout elements (`format`).
//!
//! Go is strict in some places and lenient in others, and both matter to
//! users moving from Promtail: `.000` needs exactly three digits, a day
//! name is read but never checked against the date, a fraction is accepted
//! after seconds even when the layout has none, month and day names match
//! case-insensitively, a zone abbreviation the location does not know
//! means UTC. The golden table `testdata/time_parse.json` was produced by
//! real Go (see `xtask/golden/stages`). Parsing never allocates.

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, Offset, TimeZone};
use chrono_tz::{OffsetName, Tz};

mod format;
pub(crate) use format::format;

/// A compiled Go layout.
#[derive(Debug, Clone)]
pub(crate) struct GoLayout {
    /// Literal prefix, then the element that follows it.
    steps: Vec<(Box<str>, Std)>,
    /// The literal after the last element.
    tail: Box<str>,
}

/// A parsed time: the instant (as a UTC wall clock) and the offset of the
/// zone it was read in. The year is 0 when the layout had none, as in Go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GoTime {
    pub(crate) utc: NaiveDateTime,
    /// Seconds east of UTC.
    pub(crate) offset: i32,
}

impl GoTime {
    /// The wall clock in the parsed zone.
    pub(crate) fn wall(&self) -> NaiveDateTime {
        self.utc + Duration::seconds(i64::from(self.offset))
    }

    /// Nanoseconds since the Unix epoch, `None` outside i64's range.
    pub(crate) fn unix_nanos(&self) -> Option<i64> {
        self.utc.and_utc().timestamp_nanos_opt()
    }
}

/// Why a value did not match (Go's error, without the quoting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum LayoutError {
    #[error("value does not match the layout")]
    Mismatch,
    #[error("extra text after the layout")]
    ExtraText,
    #[error("{0} out of range")]
    Range(&'static str),
}

/// Expands Promtail's named formats to their Go layouts.
pub(crate) fn named_layout(name: &str) -> Option<&'static str> {
    Some(match name {
        "ANSIC" => "Mon Jan _2 15:04:05 2006",
        "UnixDate" => "Mon Jan _2 15:04:05 MST 2006",
        "RubyDate" => "Mon Jan 02 15:04:05 -0700 2006",
        "RFC822" => "02 Jan 06 15:04 MST",
        "RFC822Z" => "02 Jan 06 15:04 -0700",
        "RFC850" => "Monday, 02-Jan-06 15:04:05 MST",
        "RFC1123" => "Mon, 02 Jan 2006 15:04:05 MST",
        "RFC1123Z" => "Mon, 02 Jan 2006 15:04:05 -0700",
        "RFC3339" => "2006-01-02T15:04:05Z07:00",
        "RFC3339Nano" => "2006-01-02T15:04:05.999999999Z07:00",
        _ => return None,
    })
}

/// The layout elements, named after Go's `std*` constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Std {
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
    Pm {
        upper: bool,
    },
    /// `MST`
    Tz,
    /// `-0700`, `Z0700` (iso: `Z` means UTC) and friends.
    NumTz {
        iso: bool,
        form: TzForm,
    },
    /// `.000` (`exact`) or `.999`, with the number of digits.
    Frac {
        exact: bool,
        digits: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TzForm {
    /// `-07`
    Hours,
    /// `-0700`
    HoursMinutes,
    /// `-07:00`
    ColonHoursMinutes,
    /// `-070000`
    Seconds,
    /// `-07:00:00`
    ColonSeconds,
}

const LONG_MONTHS: [&str; 12] = [
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
const SHORT_MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const LONG_DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const SHORT_DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

fn starts_lower(s: &[u8]) -> bool {
    s.first().is_some_and(u8::is_ascii_lowercase)
}

/// The next element of `layout`: (literal prefix length, element, element length).
fn next_std(layout: &str) -> Option<(usize, Std, usize)> {
    let b = layout.as_bytes();
    let at = |i: usize, p: &str| b[i..].starts_with(p.as_bytes());
    for i in 0..b.len() {
        let found = match b[i] {
            b'J' if at(i, "January") => Some((Std::LongMonth, 7)),
            b'J' if at(i, "Jan") && !starts_lower(&b[i + 3..]) => Some((Std::Month, 3)),
            b'M' if at(i, "Monday") => Some((Std::LongWeekDay, 6)),
            b'M' if at(i, "Mon") && !starts_lower(&b[i + 3..]) => Some((Std::WeekDay, 3)),
            b'M' if at(i, "MST") => Some((Std::Tz, 3)),
            b'0' if matches!(b.get(i + 1), Some(b'1'..=b'6')) => Some((
                match b[i + 1] {
                    b'1' => Std::ZeroMonth,
                    b'2' => Std::ZeroDay,
                    b'3' => Std::ZeroHour12,
                    b'4' => Std::ZeroMinute,
                    b'5' => Std::ZeroSecond,
                    _ => Std::Year,
                },
                2,
            )),
            b'0' if at(i, "002") => Some((Std::ZeroYearDay, 3)),
            b'1' if at(i, "15") => Some((Std::Hour, 2)),
            b'1' => Some((Std::NumMonth, 1)),
            b'2' if at(i, "2006") => Some((Std::LongYear, 4)),
            b'2' => Some((Std::Day, 1)),
            // `_2006` is a literal `_` and a year.
            b'_' if at(i, "_2006") => return Some((i + 1, Std::LongYear, 4)),
            b'_' if at(i, "_2") => Some((Std::UnderDay, 2)),
            b'_' if at(i, "__2") => Some((Std::UnderYearDay, 3)),
            b'3' => Some((Std::Hour12, 1)),
            b'4' => Some((Std::Minute, 1)),
            b'5' => Some((Std::Second, 1)),
            b'P' if at(i, "PM") => Some((Std::Pm { upper: true }, 2)),
            b'p' if at(i, "pm") => Some((Std::Pm { upper: false }, 2)),
            c @ (b'-' | b'Z') => {
                let iso = c == b'Z';
                [
                    ("07:00:00", TzForm::ColonSeconds),
                    ("070000", TzForm::Seconds),
                    ("07:00", TzForm::ColonHoursMinutes),
                    ("0700", TzForm::HoursMinutes),
                    ("07", TzForm::Hours),
                ]
                .into_iter()
                .find(|(p, _)| at(i + 1, p))
                .map(|(p, form)| (Std::NumTz { iso, form }, p.len() + 1))
            }
            b'.' | b',' if matches!(b.get(i + 1), Some(b'0' | b'9')) => {
                let digit = b[i + 1];
                let n = b[i + 1..].iter().take_while(|&&d| d == digit).count();
                (!b.get(i + 1 + n).is_some_and(u8::is_ascii_digit)).then_some((
                    Std::Frac {
                        exact: digit == b'0',
                        digits: n,
                    },
                    n + 1,
                ))
            }
            _ => None,
        };
        if let Some((std, len)) = found {
            return Some((i, std, len));
        }
    }
    None
}

/// Go's `getnum`: one or two digits (exactly two when `fixed`).
fn getnum(s: &str, fixed: bool) -> Result<(i64, &str), LayoutError> {
    let b = s.as_bytes();
    let digit = |i: usize| {
        b.get(i)
            .filter(|c| c.is_ascii_digit())
            .map(|c| i64::from(c - b'0'))
    };
    let first = digit(0).ok_or(LayoutError::Mismatch)?;
    match digit(1) {
        None if fixed => Err(LayoutError::Mismatch),
        None => Ok((first, &s[1..])),
        Some(second) => Ok((first * 10 + second, &s[2..])),
    }
}

/// Go's `getnum3`: up to three digits (exactly three when `fixed`).
fn getnum3(s: &str, fixed: bool) -> Result<(i64, &str), LayoutError> {
    let n = s.bytes().take(3).take_while(u8::is_ascii_digit).count();
    if n == 0 || (fixed && n != 3) {
        return Err(LayoutError::Mismatch);
    }
    let v = s[..n].bytes().fold(0, |v, c| v * 10 + i64::from(c - b'0'));
    Ok((v, &s[n..]))
}

/// Go's `atoi`: optional sign, then decimal digits (an empty rest is 0).
fn atoi(s: &str) -> Result<i64, LayoutError> {
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut v: i64 = 0;
    for c in digits.bytes() {
        if !c.is_ascii_digit() {
            return Err(LayoutError::Mismatch);
        }
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(i64::from(c - b'0')))
            .ok_or(LayoutError::Mismatch)?;
    }
    Ok(if neg { -v } else { v })
}

/// Go's `lookup`: the table entry `s` starts with, ASCII case-insensitively.
fn lookup<'a>(table: &[&str], s: &'a str) -> Result<(usize, &'a str), LayoutError> {
    for (i, name) in table.iter().enumerate() {
        if let Some(head) = s.get(..name.len()) {
            if head.eq_ignore_ascii_case(name) {
                return Ok((i, &s[name.len()..]));
            }
        }
    }
    Err(LayoutError::Mismatch)
}

/// Go's `skip`: matches a literal; a space matches any run of spaces.
fn skip<'a>(mut value: &'a str, mut prefix: &str) -> Result<&'a str, LayoutError> {
    while let Some(c) = prefix.chars().next() {
        if c == ' ' {
            if value.as_bytes().first().is_some_and(|&c| c != b' ') {
                return Err(LayoutError::Mismatch);
            }
            prefix = prefix.trim_start_matches(' ');
            value = value.trim_start_matches(' ');
            continue;
        }
        // Byte-wise in Go; char-wise here, which is the same on UTF-8.
        value = value.strip_prefix(c).ok_or(LayoutError::Mismatch)?;
        prefix = &prefix[c.len_utf8()..];
    }
    Ok(value)
}

/// Go's `parseNanoseconds`: `value` starts with `.` or `,` and the
/// fraction is `value[1..nbytes]`.
fn parse_nanos(value: &str, nbytes: usize) -> Result<i64, LayoutError> {
    if !matches!(value.as_bytes().first(), Some(b'.' | b',')) {
        return Err(LayoutError::Mismatch);
    }
    let nbytes = nbytes.min(10);
    let ns = atoi(value.get(1..nbytes).ok_or(LayoutError::Mismatch)?)?;
    if ns < 0 {
        return Err(LayoutError::Range("fractional second"));
    }
    let scale = 10 - u32::try_from(nbytes).unwrap_or(10);
    Ok(ns * 10i64.pow(scale))
}

/// Go's `parseTimeZone`: the length of a zone abbreviation at the start of `s`.
fn zone_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    if b.len() < 3 {
        return None;
    }
    if b.len() >= 4 && (&b[..4] == b"ChST" || &b[..4] == b"MeST") {
        return Some(4);
    }
    if &b[..3] == b"GMT" {
        return Some(3 + gmt_len(&s[3..]));
    }
    if b[0] == b'+' || b[0] == b'-' {
        return signed_offset_len(s);
    }
    let upper = b.iter().take_while(|c| c.is_ascii_uppercase()).count();
    match upper {
        0..=2 | 6.. => None,
        5 => (b[4] == b'T').then_some(5),
        4 => (b[3] == b'T' || &b[..3] == b"WIT").then_some(4),
        _ => Some(3),
    }
}

/// Go's `parseGMT`: the length of a `+3`/`-10` after `GMT` (0 if none).
fn gmt_len(s: &str) -> usize {
    signed_offset_len(s)
        .filter(|_| !s.as_bytes().get(1).is_some_and(|&c| c == b'+' || c == b'-'))
        .unwrap_or(0)
}

/// Go's `parseSignedOffset`: `+N`/`-N` hours within ±23.
fn signed_offset_len(s: &str) -> Option<usize> {
    let sign = *s.as_bytes().first()?;
    if sign != b'+' && sign != b'-' {
        return None;
    }
    let digits = s[1..].bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let hours: i64 = s[1..1 + digits].parse().ok()?;
    (hours <= 23).then_some(1 + digits)
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in(month: i64, year: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days before the start of each month in a non-leap year.
const DAYS_BEFORE: [i64; 13] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365];

/// The zone the time was written in; Go prefers `Z`/`UTC`, then a
/// numeric offset, then an abbreviation.
#[derive(Default)]
struct Zone<'a> {
    utc: bool,
    offset: Option<i64>,
    name: Option<&'a str>,
}

/// What has been read so far (Go's locals in `time.parse`).
struct State<'a> {
    year: i64,
    month: i64,
    day: i64,
    yday: i64,
    hour: i64,
    min: i64,
    sec: i64,
    nsec: i64,
    pm: bool,
    am: bool,
    zone: Zone<'a>,
    range: Option<&'static str>,
}

impl<'a> State<'a> {
    /// Reads one layout element from the start of `v`; returns the rest.
    fn element(
        &mut self,
        std: Std,
        v: &'a str,
        next_is_frac: bool,
    ) -> Result<&'a str, LayoutError> {
        Ok(match std {
            Std::Year => {
                let head = v.get(..2).ok_or(LayoutError::Mismatch)?;
                self.year = atoi(head)?;
                self.year += if self.year >= 69 { 1900 } else { 2000 };
                &v[2..]
            }
            Std::LongYear => {
                if !v.as_bytes().first().is_some_and(u8::is_ascii_digit) {
                    return Err(LayoutError::Mismatch);
                }
                self.year = atoi(v.get(..4).ok_or(LayoutError::Mismatch)?)?;
                &v[4..]
            }
            Std::Month => {
                let (m, rest) = lookup(&SHORT_MONTHS, v)?;
                self.month = m as i64 + 1;
                rest
            }
            Std::LongMonth => {
                let (m, rest) = lookup(&LONG_MONTHS, v)?;
                self.month = m as i64 + 1;
                rest
            }
            Std::NumMonth | Std::ZeroMonth => {
                let (m, rest) = getnum(v, std == Std::ZeroMonth)?;
                if !(1..=12).contains(&m) {
                    self.range = Some("month");
                }
                self.month = m;
                rest
            }
            // Day names are read, never checked against the date.
            Std::WeekDay => lookup(&SHORT_DAYS, v)?.1,
            Std::LongWeekDay => lookup(&LONG_DAYS, v)?.1,
            Std::Day | Std::UnderDay | Std::ZeroDay => {
                let v = if std == Std::UnderDay {
                    v.strip_prefix(' ').unwrap_or(v)
                } else {
                    v
                };
                let (d, rest) = getnum(v, std == Std::ZeroDay)?;
                self.day = d;
                rest
            }
            Std::UnderYearDay | Std::ZeroYearDay => {
                let mut v = v;
                if std == Std::UnderYearDay {
                    for _ in 0..2 {
                        v = v.strip_prefix(' ').unwrap_or(v);
                    }
                }
                let (d, rest) = getnum3(v, std == Std::ZeroYearDay)?;
                self.yday = d;
                rest
            }
            Std::Hour => {
                let (h, rest) = getnum(v, false)?;
                if !(0..24).contains(&h) {
                    self.range = Some("hour");
                }
                self.hour = h;
                rest
            }
            Std::Hour12 | Std::ZeroHour12 => {
                let (h, rest) = getnum(v, std == Std::ZeroHour12)?;
                if !(0..=12).contains(&h) {
                    self.range = Some("hour");
                }
                self.hour = h;
                rest
            }
            Std::Minute | Std::ZeroMinute => {
                let (m, rest) = getnum(v, std == Std::ZeroMinute)?;
                if !(0..60).contains(&m) {
                    self.range = Some("minute");
                }
                self.min = m;
                rest
            }
            Std::Second | Std::ZeroSecond => {
                let (s, mut rest) = getnum(v, std == Std::ZeroSecond)?;
                if !(0..60).contains(&s) {
                    self.range = Some("second");
                }
                self.sec = s;
                // A fraction after the seconds, unless the layout
                // has its own fraction next.
                let rb = rest.as_bytes();
                if rb.len() >= 2
                    && matches!(rb[0], b'.' | b',')
                    && rb[1].is_ascii_digit()
                    && !next_is_frac
                {
                    let n = 2 + rb[2..].iter().take_while(|c| c.is_ascii_digit()).count();
                    self.nsec = parse_nanos(rest, n)?;
                    rest = &rest[n..];
                }
                rest
            }
            Std::Pm { upper } => {
                let head = v.get(..2).ok_or(LayoutError::Mismatch)?;
                match (head, upper) {
                    ("PM", true) | ("pm", false) => self.pm = true,
                    ("AM", true) | ("am", false) => self.am = true,
                    _ => return Err(LayoutError::Mismatch),
                }
                &v[2..]
            }
            Std::NumTz { iso, form } => {
                if iso && v.starts_with('Z') {
                    self.zone.utc = true;
                    return Ok(&v[1..]);
                }
                let b = v.as_bytes();
                let part = |r: std::ops::Range<usize>| v.get(r).ok_or(LayoutError::Mismatch);
                let (sign, hh, mm, ss, len) = match form {
                    TzForm::ColonHoursMinutes => {
                        if b.len() < 6 || b[3] != b':' {
                            return Err(LayoutError::Mismatch);
                        }
                        (b[0], part(1..3)?, part(4..6)?, "00", 6)
                    }
                    TzForm::Hours => {
                        if b.len() < 3 {
                            return Err(LayoutError::Mismatch);
                        }
                        (b[0], part(1..3)?, "00", "00", 3)
                    }
                    TzForm::ColonSeconds => {
                        if b.len() < 9 || b[3] != b':' || b[6] != b':' {
                            return Err(LayoutError::Mismatch);
                        }
                        (b[0], part(1..3)?, part(4..6)?, part(7..9)?, 9)
                    }
                    TzForm::Seconds => {
                        if b.len() < 7 {
                            return Err(LayoutError::Mismatch);
                        }
                        (b[0], part(1..3)?, part(3..5)?, part(5..7)?, 7)
                    }
                    TzForm::HoursMinutes => {
                        if b.len() < 5 {
                            return Err(LayoutError::Mismatch);
                        }
                        (b[0], part(1..3)?, part(3..5)?, "00", 5)
                    }
                };
                let (h, _) = getnum(hh, true)?;
                let (m, _) = getnum(mm, true)?;
                let (s, _) = getnum(ss, true)?;
                // Go compares with > so that 24:00 offsets load.
                if h > 24 {
                    self.range = Some("time zone offset hour");
                }
                if m > 60 {
                    self.range = Some("time zone offset minute");
                }
                if s > 60 {
                    self.range = Some("time zone offset second");
                }
                let off = (h * 60 + m) * 60 + s;
                self.zone.offset = Some(match sign {
                    b'+' => off,
                    b'-' => -off,
                    _ => return Err(LayoutError::Mismatch),
                });
                v.get(len..).ok_or(LayoutError::Mismatch)?
            }
            Std::Tz => {
                if let Some(rest) = v.strip_prefix("UTC") {
                    self.zone.utc = true;
                    return Ok(rest);
                }
                let n = zone_len(v).ok_or(LayoutError::Mismatch)?;
                self.zone.name = Some(&v[..n]);
                &v[n..]
            }
            Std::Frac {
                exact: true,
                digits,
            } => {
                let n = digits + 1;
                if v.len() < n {
                    return Err(LayoutError::Mismatch);
                }
                self.nsec = parse_nanos(v, n)?;
                v.get(n..).ok_or(LayoutError::Mismatch)?
            }
            Std::Frac { exact: false, .. } => {
                let b = v.as_bytes();
                if b.len() < 2 || !matches!(b[0], b'.' | b',') || !b[1].is_ascii_digit() {
                    // The fraction is optional.
                    return Ok(v);
                }
                let n = 1 + b[1..].iter().take_while(|c| c.is_ascii_digit()).count();
                self.nsec = parse_nanos(v, n)?;
                &v[n..]
            }
        })
    }
}

impl GoLayout {
    /// Compiles a Go layout. Any string is a valid Go layout (unknown text
    /// is literal), so this cannot fail.
    pub(crate) fn new(layout: &str) -> GoLayout {
        let mut steps = Vec::new();
        let mut rest = layout;
        while let Some((lit, std, len)) = next_std(rest) {
            steps.push((rest[..lit].into(), std));
            rest = &rest[lit + len..];
        }
        GoLayout {
            steps,
            tail: rest.into(),
        }
    }

    /// Parses `value` as Go's `time.ParseInLocation(layout, value,
    /// location)` does (`time.Parse` with `None`, on a host whose local
    /// zone is UTC).
    pub(crate) fn parse(&self, value: &str, location: Option<&Tz>) -> Result<GoTime, LayoutError> {
        let mut st = State {
            year: 0,
            month: -1,
            day: -1,
            yday: -1,
            hour: 0,
            min: 0,
            sec: 0,
            nsec: 0,
            pm: false,
            am: false,
            zone: Zone::default(),
            range: None,
        };
        let mut value = value;
        for (idx, (prefix, std)) in self.steps.iter().enumerate() {
            value = skip(value, prefix)?;
            let next_is_frac = matches!(self.steps.get(idx + 1), Some((_, Std::Frac { .. })));
            let result = st.element(*std, value, next_is_frac);
            if let Some(what) = st.range {
                return Err(LayoutError::Range(what));
            }
            value = result?;
        }
        value = skip(value, &self.tail)?;
        let State {
            year,
            mut month,
            mut day,
            mut yday,
            mut hour,
            min,
            sec,
            nsec,
            pm,
            am,
            zone,
            ..
        } = st;
        if !value.is_empty() {
            return Err(LayoutError::ExtraText);
        }
        if pm && hour < 12 {
            hour += 12;
        } else if am && hour == 12 {
            hour = 0;
        }
        if yday >= 0 {
            let (mut m, mut d) = (0, 0);
            if is_leap(year) {
                if yday == 31 + 29 {
                    m = 2;
                    d = 29;
                } else if yday > 31 + 29 {
                    yday -= 1;
                }
            }
            if !(1..=365).contains(&yday) {
                return Err(LayoutError::Range("day-of-year"));
            }
            if m == 0 {
                m = (yday - 1) / 31 + 1;
                if DAYS_BEFORE[m as usize] < yday {
                    m += 1;
                }
                d = yday - DAYS_BEFORE[m as usize - 1];
            }
            if month >= 0 && month != m {
                return Err(LayoutError::Range("day-of-year does not match month"));
            }
            month = m;
            if day >= 0 && day != d {
                return Err(LayoutError::Range("day-of-year does not match day"));
            }
            day = d;
        } else {
            if month < 0 {
                month = 1;
            }
            if day < 0 {
                day = 1;
            }
        }
        if day < 1 || day > days_in(month, year) {
            return Err(LayoutError::Range("day"));
        }
        let wall = i32::try_from(year)
            .ok()
            .and_then(|y| NaiveDate::from_ymd_opt(y, month as u32, day as u32))
            .and_then(|d| d.and_hms_nano_opt(hour as u32, min as u32, sec as u32, nsec as u32))
            .ok_or(LayoutError::Range("date"))?;
        let fixed = |offset: i64| GoTime {
            utc: wall - Duration::seconds(offset),
            offset: offset as i32,
        };
        Ok(match zone {
            Zone { utc: true, .. } => fixed(0),
            Zone {
                offset: Some(off), ..
            } => fixed(off),
            Zone {
                name: Some(name), ..
            } => match location.and_then(|tz| lookup_name(tz, name, wall)) {
                Some(off) => fixed(off),
                None if name.len() > 3 && name.starts_with("GMT") => {
                    // Go keeps the instant of the wall clock read as UTC
                    // and only labels it with the GMT offset.
                    GoTime {
                        utc: wall,
                        offset: (atoi(&name[3..]).unwrap_or(0) * 3600) as i32,
                    }
                }
                None => fixed(0),
            },
            _ => match location {
                None => fixed(0),
                Some(tz) => in_location(tz, wall),
            },
        })
    }
}

impl GoLayout {
    /// What the timestamp stage uses: [`GoLayout::parse`], a missing year
    /// filled in from `now` as Promtail does, as epoch nanoseconds.
    pub(crate) fn parse_ns(
        &self,
        value: &str,
        location: Option<&Tz>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Option<i64> {
        let t = self.parse(value, location).ok()?;
        fix_missing_year(t, now.year(), now.month())?.unix_nanos()
    }
}

/// Seconds east of UTC in force in `tz` at the instant `utc`.
fn offset_at(tz: &Tz, utc: NaiveDateTime) -> i64 {
    i64::from(tz.offset_from_utc_datetime(&utc).fix().local_minus_utc())
}

/// A wall clock in `tz` as Go's `time.Date` resolves it: the offset in
/// force at the wall clock read as UTC, corrected once if the result falls
/// outside it (so a time in a DST gap moves forward, and an ambiguous time
/// takes the later offset's reading as Go's lookup happens to pick).
fn in_location(tz: &Tz, wall: NaiveDateTime) -> GoTime {
    let mut offset = offset_at(tz, wall);
    let utc = wall - Duration::seconds(offset);
    let again = offset_at(tz, utc);
    if again != offset {
        offset = again;
    }
    let utc = wall - Duration::seconds(offset);
    GoTime {
        utc,
        offset: offset_at(tz, utc) as i32,
    }
}

/// Go's `Location.lookupName`: the offset of the zone abbreviation `name`
/// in `tz` around the wall clock `wall`, preferring one actually in force.
fn lookup_name(tz: &Tz, name: &str, wall: NaiveDateTime) -> Option<i64> {
    // chrono-tz cannot list a zone's abbreviations; the offsets in force
    // within half a year either side cover standard and summer time.
    let candidates: Vec<(i64, bool)> = [0i64, -91, 91, -182, 182]
        .iter()
        .map(|days| {
            let at = wall + Duration::days(*days);
            let o = tz.offset_from_utc_datetime(&at);
            (
                i64::from(o.fix().local_minus_utc()),
                o.abbreviation() == Some(name),
            )
        })
        .collect();
    for &(off, named) in &candidates {
        if named {
            let there = tz.offset_from_utc_datetime(&(wall - Duration::seconds(off)));
            if there.abbreviation() == Some(name) {
                return Some(i64::from(there.fix().local_minus_utc()));
            }
        }
    }
    candidates.iter().find(|c| c.1).map(|c| c.0)
}

/// The year Promtail gives a timestamp whose layout had none (Go's year 0):
/// the current one, or the previous/next one across New Year.
pub(crate) fn fix_missing_year(t: GoTime, now_year: i32, now_month: u32) -> Option<GoTime> {
    let wall = t.wall();
    if wall.year() != 0 {
        return Some(t);
    }
    let year = match (wall.month(), now_month) {
        (12, 1) => now_year - 1,
        (1, 12) => now_year + 1,
        _ => now_year,
    };
    // Go's AddDate normalises Feb 29 of a non-leap year to Mar 1.
    let date = NaiveDate::from_ymd_opt(year, wall.month(), wall.day())
        .or_else(|| NaiveDate::from_ymd_opt(year, 3, 1))?;
    let wall = date.and_time(wall.time());
    Some(GoTime {
        utc: wall - Duration::seconds(i64::from(t.offset)),
        offset: t.offset,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Case {
        layout: String,
        value: String,
        #[serde(default)]
        location: String,
        #[serde(default)]
        wall: String,
        offset: i32,
        #[serde(default)]
        error: String,
    }

    /// Every row of the table real Go produced (`xtask/golden/stages`).
    #[test]
    fn matches_go_time_parse() {
        let cases: Vec<Case> =
            serde_json::from_str(include_str!("testdata/time_parse.json")).unwrap();
        assert!(cases.len() > 50);
        for c in cases {
            let tz: Option<Tz> = (!c.location.is_empty()).then(|| c.location.parse().unwrap());
            let got = GoLayout::new(&c.layout).parse(&c.value, tz.as_ref());
            let what = format!(
                "layout {:?} value {:?} in {:?}",
                c.layout, c.value, c.location
            );
            if !c.error.is_empty() {
                assert!(got.is_err(), "{what}: Go failed ({}), got {got:?}", c.error);
                continue;
            }
            let got = got.unwrap_or_else(|e| panic!("{what}: Go parsed, we failed: {e}"));
            let wall = NaiveDateTime::parse_from_str(&c.wall, "%Y-%m-%dT%H:%M:%S%.9f").unwrap();
            assert_eq!(
                (got.wall(), got.offset),
                (wall, c.offset),
                "{what}: (wall, offset)"
            );
        }
    }

    #[test]
    fn missing_year_follows_new_year() {
        let l = GoLayout::new("Jan _2 15:04:05");
        let dec = l.parse("Dec 31 23:59:59", None).unwrap();
        let jan = l.parse("Jan  1 00:00:01", None).unwrap();
        let year = |t: Option<GoTime>| t.unwrap().wall().year();
        assert_eq!(year(fix_missing_year(dec, 2025, 1)), 2024);
        assert_eq!(year(fix_missing_year(jan, 2024, 12)), 2025);
        assert_eq!(year(fix_missing_year(jan, 2024, 6)), 2024);
        let feb29 = GoLayout::new("Jan 02").parse("Feb 29", None).unwrap();
        let fixed = fix_missing_year(feb29, 2023, 6).unwrap().wall();
        assert_eq!((fixed.month(), fixed.day()), (3, 1));
    }
}

#[cfg(test)]
#[path = "layout_proptests.rs"]
mod proptests;
