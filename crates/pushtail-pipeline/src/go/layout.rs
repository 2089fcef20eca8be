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

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime};

mod format;
mod parse;
mod scan;
mod tokenizer;
pub(crate) use format::format;
use tokenizer::Std;

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
mod tests;

#[cfg(test)]
#[path = "layout_proptests.rs"]
mod proptests;
