//! The golden `time.Parse` table and the missing-year rule.

use chrono_tz::Tz;
use serde::Deserialize;

use super::*;

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
        serde_json::from_str(include_str!("../testdata/time_parse.json")).unwrap();
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
