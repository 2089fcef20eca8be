//! The layout tokenizer, shared by parsing and formatting: Go's `std*`
//! elements, the month and day names, and `nextStdChunk` (`next_std`).

/// The layout elements, named after Go's `std*` constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Std {
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
pub(super) enum TzForm {
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

pub(super) const LONG_MONTHS: [&str; 12] = [
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
pub(super) const SHORT_MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
pub(super) const LONG_DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
pub(super) const SHORT_DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

fn starts_lower(s: &[u8]) -> bool {
    s.first().is_some_and(u8::is_ascii_lowercase)
}

/// The next element of `layout`: (literal prefix length, element, element length).
pub(super) fn next_std(layout: &str) -> Option<(usize, Std, usize)> {
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
