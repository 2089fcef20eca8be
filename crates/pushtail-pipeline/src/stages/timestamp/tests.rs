use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::Format;
use crate::stages::testing::{check_table, config_error};

fn ns(rfc3339: &str) -> i64 {
    DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp_nanos_opt()
        .unwrap()
}

/// (format, location, input, expected instant in RFC 3339, or "" for a failure)
const FORMATS: &[(&str, &str, &str, &str)] = &[
    (
        "RFC3339",
        "",
        "2019-07-09T21:48:36Z",
        "2019-07-09T21:48:36Z",
    ),
    (
        "RFC3339",
        "",
        "2019-07-09T21:48:36+02:00",
        "2019-07-09T19:48:36Z",
    ),
    (
        "RFC3339",
        "",
        "2019-07-09T21:48:36.123Z",
        "2019-07-09T21:48:36.123Z",
    ),
    (
        "RFC3339",
        "America/New_York",
        "2019-07-09T21:48:36Z",
        "2019-07-09T21:48:36Z",
    ),
    ("RFC3339", "", "2019-07-09 21:48:36Z", ""),
    (
        "RFC3339Nano",
        "",
        "2019-10-01T01:02:03.400000000Z",
        "2019-10-01T01:02:03.4Z",
    ),
    (
        "RFC3339Nano",
        "",
        "2019-10-01T01:02:03.123456789-07:00",
        "2019-10-01T08:02:03.123456789Z",
    ),
    (
        "RFC3339Nano",
        "",
        "2019-10-01T01:02:03Z",
        "2019-10-01T01:02:03Z",
    ),
    (
        "ANSIC",
        "",
        "Mon Jan  2 15:04:05 2006",
        "2006-01-02T15:04:05Z",
    ),
    (
        "ANSIC",
        "",
        "Tue Jul  9 21:48:36 2019",
        "2019-07-09T21:48:36Z",
    ),
    (
        "UnixDate",
        "",
        "Tue Jul  9 21:48:36 UTC 2019",
        "2019-07-09T21:48:36Z",
    ),
    (
        "RubyDate",
        "",
        "Tue Jul 09 21:48:36 -0700 2019",
        "2019-07-10T04:48:36Z",
    ),
    ("RFC822", "", "09 Jul 19 21:48 UTC", "2019-07-09T21:48:00Z"),
    ("RFC822", "", "09 Jul 69 21:48 UTC", "1969-07-09T21:48:00Z"),
    ("RFC822", "", "09 Jul 68 21:48 UTC", "2068-07-09T21:48:00Z"),
    (
        "RFC822Z",
        "",
        "09 Jul 19 21:48 +0100",
        "2019-07-09T20:48:00Z",
    ),
    (
        "RFC850",
        "",
        "Tuesday, 09-Jul-19 21:48:36 UTC",
        "2019-07-09T21:48:36Z",
    ),
    (
        "RFC1123",
        "",
        "Tue, 09 Jul 2019 21:48:36 GMT",
        "2019-07-09T21:48:36Z",
    ),
    (
        "RFC1123Z",
        "",
        "Tue, 09 Jul 2019 21:48:36 -0230",
        "2019-07-10T00:18:36Z",
    ),
    ("Unix", "", "1562708916", "2019-07-09T21:48:36Z"),
    (
        "Unix",
        "",
        "1562708916.414123",
        "2019-07-09T21:48:36.414123Z",
    ),
    (
        "Unix",
        "",
        "1562708916.000000123",
        "2019-07-09T21:48:36.000000123Z",
    ),
    ("Unix", "", "1562708916.4.1", ""),
    ("Unix", "", "abc", ""),
    ("UnixMs", "", "1562708916414", "2019-07-09T21:48:36.414Z"),
    (
        "UnixUs",
        "",
        "1562708916414123",
        "2019-07-09T21:48:36.414123Z",
    ),
    (
        "UnixNs",
        "",
        "1562708916000000123",
        "2019-07-09T21:48:36.000000123Z",
    ),
    ("UnixNs", "", "1.5", ""),
    (
        "2006-01-02T15:04:05.000Z07:00",
        "",
        "2019-07-09T21:48:36.123+01:00",
        "2019-07-09T20:48:36.123Z",
    ),
    (
        "2006-01-02T15:04:05.000Z07:00",
        "",
        "2019-07-09T21:48:36.123Z",
        "2019-07-09T21:48:36.123Z",
    ),
    (
        "2006-01-02 15:04:05",
        "",
        "2019-07-22 20:29:32",
        "2019-07-22T20:29:32Z",
    ),
    (
        "2006-01-02 15:04:05",
        "America/New_York",
        "2019-07-22 20:29:32",
        "2019-07-23T00:29:32Z",
    ),
    (
        "2006-01-02 15:04:05",
        "Europe/Berlin",
        "2019-01-22 20:29:32",
        "2019-01-22T19:29:32Z",
    ),
    (
        "2006-01-02 15:04:05.999999",
        "",
        "2019-07-22 20:29:32.5",
        "2019-07-22T20:29:32.5Z",
    ),
    (
        "2006-01-02 15:04:05,000",
        "",
        "2019-07-22 20:29:32,250",
        "2019-07-22T20:29:32.25Z",
    ),
    (
        "2006-01-02 15:04:05",
        "",
        "2019-07-22 20:29:32.75",
        "2019-07-22T20:29:32.75Z",
    ),
    (
        "02/Jan/2006:15:04:05 -0700",
        "",
        "10/Oct/2000:13:55:36 -0700",
        "2000-10-10T20:55:36Z",
    ),
    (
        "2006-01-02T15:04:05-07",
        "",
        "2019-07-22T20:29:32+02",
        "2019-07-22T18:29:32Z",
    ),
    (
        "January 2, 2006 3:04:05 PM",
        "",
        "July 9, 2019 9:48:36 PM",
        "2019-07-09T21:48:36Z",
    ),
    (
        "January 2, 2006 3:04:05 pm",
        "",
        "July 9, 2019 12:48:36 am",
        "2019-07-09T00:48:36Z",
    ),
    (
        "Monday 02 Jan 2006",
        "",
        "Tuesday 09 Jul 2019",
        "2019-07-09T00:00:00Z",
    ),
    (
        "20060102150405",
        "",
        "20190709214836",
        "2019-07-09T21:48:36Z",
    ),
    ("2006-002", "", "2019-190", "2019-07-09T00:00:00Z"),
    ("2006-01-02", "", "2019-13-01", ""),
    ("2006-01-02", "", "not a date", ""),
    // No year: the current one (now is 2024-06-15 in these tests).
    (
        "Jan _2 15:04:05",
        "",
        "Jul  9 21:48:36",
        "2024-07-09T21:48:36Z",
    ),
    (
        "Jan 02 15:04:05",
        "",
        "Dec 31 23:59:59",
        "2024-12-31T23:59:59Z",
    ),
    ("15:04:05", "", "21:48:36", "2024-01-01T21:48:36Z"),
];

#[test]
fn go_layouts() {
    let now = Utc.with_ymd_and_hms(2024, 6, 15, 12, 0, 0).unwrap();
    for &(format, location, input, want) in FORMATS {
        let loc: Option<Tz> = (!location.is_empty()).then(|| location.parse().unwrap());
        let got = Format::new(format).parse(input, loc.as_ref(), now);
        let want = (!want.is_empty()).then(|| ns(want));
        assert_eq!(got, want, "{format} {location} {input:?}");
    }
}

#[test]
fn year_rollover() {
    // In January, a December timestamp without a year is last year's.
    let jan = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 5).unwrap();
    let dec = Utc.with_ymd_and_hms(2024, 12, 30, 0, 0, 0).unwrap();
    let f = Format::new("Jan _2 15:04:05");
    assert_eq!(
        f.parse("Dec 31 23:59:59", None, jan),
        Some(ns("2024-12-31T23:59:59Z"))
    );
    assert_eq!(
        f.parse("Jan  1 00:00:01", None, dec),
        Some(ns("2025-01-01T00:00:01Z"))
    );
}

#[test]
fn timestamp_stage_table() {
    let rfc = "- timestamp: {source: ts, format: RFC3339}";
    let skip = "- timestamp: {source: ts, format: RFC3339, action_on_failure: skip}";
    let fallback =
        "- timestamp: {source: ts, format: UnixMs, fallback_formats: [RFC3339, '2006-01-02']}";
    check_table(&[
        (
            rfc,
            &[("ts", "2019-07-09T21:48:36Z")],
            "l",
            r#"{ts="2019-07-09T21:48:36Z"} l ts=1562708916000000000"#,
        ),
        // Fudge without an earlier success for this stream: unchanged.
        (rfc, &[("ts", "garbage")], "l", r#"{ts="garbage"} l"#),
        (rfc, &[], "l", "{} l"),
        (skip, &[("ts", "garbage")], "l", r#"{ts="garbage"} l"#),
        (
            fallback,
            &[("ts", "1562708916000")],
            "l",
            r#"{ts="1562708916000"} l ts=1562708916000000000"#,
        ),
        (
            fallback,
            &[("ts", "2019-07-09T21:48:36Z")],
            "l",
            r#"{ts="2019-07-09T21:48:36Z"} l ts=1562708916000000000"#,
        ),
        (
            fallback,
            &[("ts", "2019-07-09")],
            "l",
            r#"{ts="2019-07-09"} l ts=1562630400000000000"#,
        ),
        (
            "- timestamp: {source: ts, format: '2006-01-02 15:04:05', location: Asia/Tokyo}",
            &[("ts", "2019-07-10 06:48:36")],
            "l",
            r#"{ts="2019-07-10 06:48:36"} l ts=1562708916000000000"#,
        ),
    ]);
}

#[test]
fn fudge_follows_last_good_timestamp_per_stream() {
    use crate::stages::testing::{pipeline, render, run};
    let p = pipeline("- template: {source: ts, template: '{{ .Entry }}'}\n- timestamp: {source: ts, format: RFC3339Nano}");
    let a = [("app", "a")];
    let b = [("app", "b")];
    type Step<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
    let rows: [Step<'_>; 5] = [
        (
            &a,
            "2019-10-01T01:02:03.4Z",
            r#"{app="a"} 2019-10-01T01:02:03.4Z ts=1569891723400000000"#,
        ),
        (&a, "bad", r#"{app="a"} bad ts=1569891723400000001"#),
        (&a, "bad", r#"{app="a"} bad ts=1569891723400000002"#),
        (&b, "bad", r#"{app="b"} bad"#),
        (
            &a,
            "2019-10-01T01:02:03.5Z",
            r#"{app="a"} 2019-10-01T01:02:03.5Z ts=1569891723500000000"#,
        ),
    ];
    for (labels, line, want) in rows {
        assert_eq!(render(&run(&p, labels, line)), want, "{line}");
    }
}

#[test]
fn timestamp_config_errors() {
    for (yaml, want) in [
        (
            "- timestamp: {format: RFC3339}",
            "field \"source\": timestamp source value is required",
        ),
        (
            "- timestamp: {source: ts}",
            "field \"format\": timestamp format is required",
        ),
        (
            "- timestamp: {source: ts, format: RFC3339, location: Mars/Olympus}",
            "field \"location\": invalid location specified",
        ),
        (
            "- timestamp: {source: ts, format: RFC3339, action_on_failure: panic}",
            "field \"action_on_failure\"",
        ),
    ] {
        let got = config_error(yaml);
        assert!(got.contains(want), "{yaml}\n got: {got}");
    }
}
