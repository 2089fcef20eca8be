//! Go reference-time layouts (`2006-01-02T15:04:05.000Z07:00`) translated
//! once into chrono parse items, plus Promtail's named formats.
//!
//! Parsing follows Go's `time.Parse` where it is visible to users:
//! fractional seconds are accepted after seconds even when the layout has
//! none, two-digit years 69-99 are 19xx, a layout without a year takes the
//! current one (Promtail's rule around New Year), a layout without a zone
//! uses `location` or UTC. Zone abbreviations (`MST`) are accepted and
//! ignored: the time is taken in `location` (or UTC).

use chrono::format::{Fixed, Item, Numeric, Pad, Parsed, StrftimeItems};
use chrono::{DateTime, Datelike, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// A compiled Go layout.
#[derive(Debug, Clone)]
pub(crate) struct GoLayout {
    items: Vec<Item<'static>>,
    has_year: bool,
    two_digit_year: bool,
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

/// Go layout chunks, in the order Go's `nextStdChunk` tries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    LongMonth,
    Month,
    NumMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    YearDay,
    Hour,
    Hour12,
    Minute,
    Second,
    LongYear,
    Year,
    Pm,
    ZoneName,
    /// `-0700`, `-07:00`, `-070000`, `-07:00:00`
    Offset,
    /// `-07`
    OffsetHours,
    /// `Z0700`, `Z07:00`, …
    OffsetZ,
    /// `Z07`
    OffsetZHours,
    /// `.000`/`.999` (n digits) or `,000`/`,999`
    Frac {
        comma: bool,
        digits: usize,
    },
}

/// The next chunk at the start of `s`: (literal prefix length, chunk, chunk length).
fn next_chunk(s: &str) -> Option<(usize, Chunk, usize)> {
    let b = s.as_bytes();
    let at = |i: usize, p: &str| s.get(i..).is_some_and(|r| r.starts_with(p));
    for i in 0..b.len() {
        let found = match b[i] {
            b'J' if at(i, "January") => Some((Chunk::LongMonth, 7)),
            b'J' if at(i, "Jan") => Some((Chunk::Month, 3)),
            b'M' if at(i, "Monday") => Some((Chunk::LongWeekDay, 6)),
            b'M' if at(i, "Mon") => Some((Chunk::WeekDay, 3)),
            b'M' if at(i, "MST") => Some((Chunk::ZoneName, 3)),
            b'0' if matches!(b.get(i + 1), Some(b'1'..=b'6')) => Some((
                match b[i + 1] {
                    b'1' => Chunk::NumMonth,
                    b'2' => Chunk::Day,
                    b'3' => Chunk::Hour12,
                    b'4' => Chunk::Minute,
                    b'5' => Chunk::Second,
                    _ => Chunk::Year,
                },
                2,
            )),
            b'0' if at(i, "002") => Some((Chunk::YearDay, 3)),
            b'1' if at(i, "15") => Some((Chunk::Hour, 2)),
            b'1' => Some((Chunk::NumMonth, 1)),
            b'2' if at(i, "2006") => Some((Chunk::LongYear, 4)),
            b'2' => Some((Chunk::Day, 1)),
            b'_' if at(i, "_2006") => return Some((i + 1, Chunk::LongYear, 4)),
            b'_' if at(i, "_2") => Some((Chunk::UnderDay, 2)),
            b'_' if at(i, "__2") => Some((Chunk::YearDay, 3)),
            b'3' => Some((Chunk::Hour12, 1)),
            b'4' => Some((Chunk::Minute, 1)),
            b'5' => Some((Chunk::Second, 1)),
            b'P' if at(i, "PM") => Some((Chunk::Pm, 2)),
            b'p' if at(i, "pm") => Some((Chunk::Pm, 2)),
            b'-' if at(i, "-07:00:00") => Some((Chunk::Offset, 9)),
            b'-' if at(i, "-070000") => Some((Chunk::Offset, 7)),
            b'-' if at(i, "-07:00") => Some((Chunk::Offset, 6)),
            b'-' if at(i, "-0700") => Some((Chunk::Offset, 5)),
            b'-' if at(i, "-07") => Some((Chunk::OffsetHours, 3)),
            b'Z' if at(i, "Z07:00:00") => Some((Chunk::OffsetZ, 9)),
            b'Z' if at(i, "Z070000") => Some((Chunk::OffsetZ, 7)),
            b'Z' if at(i, "Z07:00") => Some((Chunk::OffsetZ, 6)),
            b'Z' if at(i, "Z0700") => Some((Chunk::OffsetZ, 5)),
            b'Z' if at(i, "Z07") => Some((Chunk::OffsetZHours, 3)),
            c @ (b'.' | b',') if matches!(b.get(i + 1), Some(b'0' | b'9')) => {
                let digit = b[i + 1];
                let n = b[i + 1..].iter().take_while(|&&d| d == digit).count();
                if b.get(i + 1 + n).is_some_and(u8::is_ascii_digit) {
                    None
                } else {
                    Some((
                        Chunk::Frac {
                            comma: c == b',',
                            digits: n,
                        },
                        n + 1,
                    ))
                }
            }
            _ => None,
        };
        if let Some((chunk, len)) = found {
            return Some((i, chunk, len));
        }
    }
    None
}

fn strftime(spec: &'static str) -> Vec<Item<'static>> {
    StrftimeItems::new(spec).collect()
}

fn push_literal(items: &mut Vec<Item<'static>>, lit: &str) {
    for (i, part) in lit.split(' ').enumerate() {
        if i > 0 {
            items.push(Item::Space(" "));
        }
        if !part.is_empty() {
            items.push(Item::OwnedLiteral(part.into()));
        }
    }
}

impl GoLayout {
    /// Compiles a Go layout. Any string is a valid Go layout (unknown text
    /// is literal), so this cannot fail.
    pub(crate) fn new(layout: &str) -> GoLayout {
        let mut chunks = Vec::new();
        let mut rest = layout;
        while let Some((lit, chunk, len)) = next_chunk(rest) {
            chunks.push((&rest[..lit], Some(chunk)));
            rest = &rest[lit + len..];
        }
        chunks.push((rest, None));
        let has_pm = chunks.iter().any(|(_, c)| *c == Some(Chunk::Pm));
        let mut items = Vec::new();
        let (mut has_year, mut two_digit_year) = (false, false);
        for (idx, (lit, chunk)) in chunks.iter().enumerate() {
            push_literal(&mut items, lit);
            let Some(chunk) = chunk else { continue };
            let num = |n| Item::Numeric(n, Pad::Zero);
            match chunk {
                Chunk::LongMonth => items.push(Item::Fixed(Fixed::LongMonthName)),
                Chunk::Month => items.push(Item::Fixed(Fixed::ShortMonthName)),
                Chunk::NumMonth => items.push(num(Numeric::Month)),
                Chunk::LongWeekDay => items.push(Item::Fixed(Fixed::LongWeekdayName)),
                Chunk::WeekDay => items.push(Item::Fixed(Fixed::ShortWeekdayName)),
                Chunk::Day | Chunk::UnderDay => items.push(num(Numeric::Day)),
                Chunk::YearDay => items.push(num(Numeric::Ordinal)),
                Chunk::Hour => items.push(num(Numeric::Hour)),
                // Without AM/PM a 12-hour field is read as the hour itself.
                Chunk::Hour12 if has_pm => items.push(num(Numeric::Hour12)),
                Chunk::Hour12 => items.push(num(Numeric::Hour)),
                Chunk::Minute => items.push(num(Numeric::Minute)),
                Chunk::Second => {
                    items.push(num(Numeric::Second));
                    // Go accepts a fraction after seconds even when the
                    // layout has none.
                    let next_is_frac =
                        matches!(chunks.get(idx + 1), Some(("", Some(Chunk::Frac { .. }))));
                    if !next_is_frac {
                        items.push(Item::Fixed(Fixed::Nanosecond));
                    }
                }
                Chunk::LongYear => {
                    has_year = true;
                    items.push(num(Numeric::Year));
                }
                Chunk::Year => {
                    has_year = true;
                    two_digit_year = true;
                    items.push(num(Numeric::YearMod100));
                }
                Chunk::Pm => items.push(Item::Fixed(Fixed::UpperAmPm)),
                Chunk::ZoneName => items.push(Item::Fixed(Fixed::TimezoneName)),
                Chunk::Offset => items.push(Item::Fixed(Fixed::TimezoneOffset)),
                Chunk::OffsetZ => items.push(Item::Fixed(Fixed::TimezoneOffsetZ)),
                Chunk::OffsetHours | Chunk::OffsetZHours => items.extend(strftime("%#z")),
                Chunk::Frac { comma: false, .. } => items.push(Item::Fixed(Fixed::Nanosecond)),
                Chunk::Frac {
                    comma: true,
                    digits,
                } => {
                    items.push(Item::Literal(","));
                    items.extend(strftime(match digits {
                        0..=3 => "%3f",
                        4..=6 => "%6f",
                        _ => "%9f",
                    }));
                }
            }
        }
        GoLayout {
            items,
            has_year,
            two_digit_year,
        }
    }

    /// Parses `s`; returns nanoseconds since the epoch. `now` supplies the
    /// year for layouts without one.
    pub(crate) fn parse(&self, s: &str, location: Option<&Tz>, now: DateTime<Utc>) -> Option<i64> {
        let mut p = Parsed::new();
        chrono::format::parse(&mut p, s, self.items.iter()).ok()?;
        if !self.has_year {
            let month = p.month().unwrap_or(1);
            let year = match (month, now.month()) {
                (12, 1) => now.year() - 1,
                (1, 12) => now.year() + 1,
                _ => now.year(),
            };
            p.set_year(i64::from(year)).ok()?;
        } else if self.two_digit_year {
            let yy = p.year_mod_100()?;
            let full = if yy >= 69 { 1900 + yy } else { 2000 + yy };
            p.set_year(i64::from(full)).ok()?;
        }
        if p.month().is_none() && p.ordinal().is_none() {
            p.set_month(1).ok()?;
        }
        if p.day().is_none() && p.ordinal().is_none() {
            p.set_day(1).ok()?;
        }
        if p.hour_div_12().is_none() && p.hour_mod_12().is_none() {
            p.set_hour(0).ok()?;
        }
        if p.minute().is_none() {
            p.set_minute(0).ok()?;
        }
        if p.offset().is_some() {
            return p.to_datetime().ok()?.timestamp_nanos_opt();
        }
        let naive = p.to_naive_datetime_with_offset(0).ok()?;
        local_to_ns(naive, location)
    }
}

/// A wall-clock time in `location` (UTC when none) as epoch nanoseconds.
/// Ambiguous times take the earlier instant; times in a DST gap use the
/// offset in force just before the gap, as Go does.
pub(crate) fn local_to_ns(naive: NaiveDateTime, location: Option<&Tz>) -> Option<i64> {
    let Some(tz) = location else {
        return naive.and_utc().timestamp_nanos_opt();
    };
    match tz.from_local_datetime(&naive).earliest() {
        Some(dt) => dt.timestamp_nanos_opt(),
        None => {
            let before = naive - chrono::Duration::hours(3);
            let offset = tz
                .from_local_datetime(&before)
                .earliest()?
                .offset()
                .to_owned();
            let utc = naive
                - chrono::Duration::seconds(i64::from(
                    chrono::Offset::fix(&offset).local_minus_utc(),
                ));
            utc.and_utc().timestamp_nanos_opt()
        }
    }
}
