//! `time.Parse` itself: each layout element read from the value
//! (`State::element`), then the date checked and resolved in its zone.

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, Offset, TimeZone};
use chrono_tz::{OffsetName, Tz};

use super::scan::{atoi, getnum, getnum3, lookup, parse_nanos, skip, zone_len};
use super::tokenizer::{next_std, Std, TzForm, LONG_DAYS, LONG_MONTHS, SHORT_DAYS, SHORT_MONTHS};
use super::{fix_missing_year, GoLayout, GoTime, LayoutError};

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
