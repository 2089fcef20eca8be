//! Property tests for Go time layouts: any layout with any value parses or
//! fails without a panic, and times formatted per a layout parse back to
//! the same instant.

use chrono::{DateTime, FixedOffset, Utc};
use chrono_tz::Tz;
use proptest::prelude::*;

use super::GoLayout;

/// Go layout tokens and literal bits, to build layouts Go would accept.
const TOKENS: &[&str] = &[
    "2006",
    "06",
    "01",
    "1",
    "Jan",
    "January",
    "02",
    "2",
    "_2",
    "002",
    "15",
    "03",
    "3",
    "04",
    "4",
    "05",
    "5",
    "PM",
    "pm",
    "MST",
    "Z07:00",
    "Z0700",
    "Z07",
    "-07:00",
    "-0700",
    "-07",
    ".000",
    ".999999999",
    ",000",
    ".0",
    "Mon",
    "Monday",
    " ",
    "-",
    ":",
    "T",
    "/",
    "x",
    "0",
    "9",
];

fn layout() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        proptest::collection::vec(proptest::sample::select(TOKENS), 0..12).prop_map(|t| t.concat()),
    ]
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9A-Za-z :+\\-.,/_]{0,40}",
        proptest::collection::vec(
            proptest::sample::select(
                &[
                    "2026",
                    "26",
                    "12",
                    "1",
                    "Feb",
                    "February",
                    "31",
                    " 3",
                    "366",
                    "23",
                    "11",
                    "59",
                    "PM",
                    "AM",
                    "UTC",
                    "Z",
                    "+01:00",
                    "-0800",
                    ".123",
                    ",5",
                    "Tue",
                    "Tuesday",
                    " ",
                    "-",
                    ":",
                    "T",
                    "/",
                    "99999999999",
                ][..]
            ),
            0..12,
        )
        .prop_map(|t| t.concat()),
    ]
}

/// An instant between 1970 and 2200, in nanoseconds.
fn timestamp_ns() -> impl Strategy<Value = i64> {
    0i64..7_258_118_400_000_000_000
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn any_layout_and_value_never_panic(layout in layout(), value in value(), tz in any::<bool>()) {
        let location: Option<Tz> = tz.then_some(chrono_tz::America::New_York);
        let now = Utc::now();
        let _ = GoLayout::new(&layout).parse_ns(&value, location.as_ref(), now);
    }

    #[test]
    fn rfc3339_nano_layout_round_trips(ts in timestamp_ns(), offset_min in -14 * 60..=14 * 60i32) {
        let layout = GoLayout::new("2006-01-02T15:04:05.000000000Z07:00");
        let offset = FixedOffset::east_opt(offset_min * 60).expect("offset in range");
        let t = DateTime::from_timestamp_nanos(ts).with_timezone(&offset);
        let text = t.format("%Y-%m-%dT%H:%M:%S%.9f%:z").to_string();
        prop_assert_eq!(layout.parse_ns(&text, None, Utc::now()), Some(ts), "{}", text);
    }

    #[test]
    fn local_layout_round_trips_in_utc(ts in timestamp_ns()) {
        let ts = ts / 1_000_000_000 * 1_000_000_000;
        let layout = GoLayout::new("2006-01-02 15:04:05");
        let text = DateTime::from_timestamp_nanos(ts).format("%Y-%m-%d %H:%M:%S").to_string();
        prop_assert_eq!(layout.parse_ns(&text, None, Utc::now()), Some(ts), "{}", text);
    }

    #[test]
    fn yearless_layout_takes_the_year_from_now(ts in timestamp_ns()) {
        let ts = ts / 1_000_000 * 1_000_000;
        let layout = GoLayout::new("Jan 02 15:04:05.000");
        let t = DateTime::from_timestamp_nanos(ts);
        let text = t.format("%b %d %H:%M:%S%.3f").to_string();
        prop_assert_eq!(layout.parse_ns(&text, None, t), Some(ts), "{}", text);
    }
}
