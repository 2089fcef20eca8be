//! Go's `time.Time.Format`, over the same layout elements `time.Parse`
//! reads (one tokenizer, [`super::tokenizer::next_std`], for both directions).

use std::fmt::Write;

use chrono::{DateTime, Datelike, Offset, Timelike};
use chrono_tz::{OffsetName, Tz};

use super::tokenizer::{next_std, Std, TzForm, LONG_DAYS, LONG_MONTHS};

/// `t` formatted with Go layout `layout`, in `t`'s zone.
pub(crate) fn format(layout: &str, t: DateTime<Tz>) -> String {
    let offset = t.offset().fix().local_minus_utc();
    let abbr = t.offset().abbreviation();
    let hour12 = match t.hour() % 12 {
        0 => 12,
        h => h,
    };
    let mut out = String::with_capacity(layout.len() + 10);
    let mut rest = layout;
    while let Some((prefix, std, len)) = next_std(rest) {
        out.push_str(&rest[..prefix]);
        let element = &rest[prefix..prefix + len];
        rest = &rest[prefix + len..];
        // Writing to a String cannot fail.
        let _ = match std {
            Std::LongMonth => write!(out, "{}", LONG_MONTHS[t.month0() as usize]),
            Std::Month => write!(out, "{}", &LONG_MONTHS[t.month0() as usize][..3]),
            Std::NumMonth => write!(out, "{}", t.month()),
            Std::ZeroMonth => write!(out, "{:02}", t.month()),
            Std::LongWeekDay => write!(
                out,
                "{}",
                LONG_DAYS[t.weekday().num_days_from_sunday() as usize]
            ),
            Std::WeekDay => write!(
                out,
                "{}",
                &LONG_DAYS[t.weekday().num_days_from_sunday() as usize][..3]
            ),
            Std::Day => write!(out, "{}", t.day()),
            Std::UnderDay => write!(out, "{:>2}", t.day()),
            Std::ZeroDay => write!(out, "{:02}", t.day()),
            Std::UnderYearDay => write!(out, "{:>3}", t.ordinal()),
            Std::ZeroYearDay => write!(out, "{:03}", t.ordinal()),
            Std::Hour => write!(out, "{:02}", t.hour()),
            Std::Hour12 => write!(out, "{hour12}"),
            Std::ZeroHour12 => write!(out, "{hour12:02}"),
            Std::Minute => write!(out, "{}", t.minute()),
            Std::ZeroMinute => write!(out, "{:02}", t.minute()),
            Std::Second => write!(out, "{}", t.second()),
            Std::ZeroSecond => write!(out, "{:02}", t.second()),
            Std::LongYear => write!(out, "{:04}", t.year()),
            Std::Year => write!(out, "{:02}", t.year().rem_euclid(100)),
            Std::Pm { upper } => {
                let pm = t.hour() >= 12;
                out.push_str(match (upper, pm) {
                    (true, true) => "PM",
                    (true, false) => "AM",
                    (false, true) => "pm",
                    (false, false) => "am",
                });
                Ok(())
            }
            Std::Tz => match abbr {
                Some(a) => write!(out, "{a}"),
                None => write_offset(&mut out, offset, TzForm::HoursMinutes),
            },
            Std::NumTz { iso: true, .. } if offset == 0 => write!(out, "Z"),
            Std::NumTz { form, .. } => write_offset(&mut out, offset, form),
            Std::Frac { exact, digits } => {
                let ns = format!("{:09}", t.nanosecond() % 1_000_000_000);
                let mut f = &ns[..digits.min(9)];
                if !exact {
                    f = f.trim_end_matches('0');
                }
                if !f.is_empty() {
                    // The separator is the element's first byte (`.` or `,`).
                    out.push_str(&element[..1]);
                    out.push_str(f);
                }
                Ok(())
            }
        };
    }
    out.push_str(rest);
    out
}

/// A numeric zone offset in `form` (`-07`, `-0700`, `-07:00`, ...).
fn write_offset(out: &mut String, offset: i32, form: TzForm) -> std::fmt::Result {
    let (colon, mins, secs) = match form {
        TzForm::Hours => (false, false, false),
        TzForm::HoursMinutes => (false, true, false),
        TzForm::ColonHoursMinutes => (true, true, false),
        TzForm::Seconds => (false, true, true),
        TzForm::ColonSeconds => (true, true, true),
    };
    let sep = if colon { ":" } else { "" };
    let a = offset.unsigned_abs();
    write!(out, "{}{:02}", if offset < 0 { '-' } else { '+' }, a / 3600)?;
    if mins {
        write!(out, "{sep}{:02}", a / 60 % 60)?;
    }
    if secs {
        write!(out, "{sep}{:02}", a % 60)?;
    }
    Ok(())
}
