use std::time::{Duration, Instant};

use super::registry::{self, Kind, Op, Registry};
use crate::stages::testing::{config_error, pipeline, run};

/// The sample lines of a rendered exposition (no `#` lines).
fn samples(r: &Registry, now: Instant) -> Vec<String> {
    let mut out = String::new();
    r.render_at(&mut out, now);
    out.lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// Runs `lines` (labels, line) through `yaml` and returns the rendered samples.
fn record(yaml: &str, lines: &[(&[(&str, &str)], &str)]) -> Vec<String> {
    let r = Registry::default();
    registry::with_local(&r, || {
        let p = pipeline(yaml);
        for (labels, line) in lines {
            run(&p, labels, line);
        }
    });
    samples(&r, Instant::now())
}

#[test]
fn metrics_table() {
    let a: &[(&str, &str)] = &[("app", "a")];
    type Lines<'a> = Vec<(&'a [(&'a str, &'a str)], &'a str)>;
    let rows: Vec<(&str, Lines<'_>, Vec<&str>)> = vec![
        (
            "- metrics: {lines: {type: Counter, config: {match_all: true, action: inc}}}",
            vec![(a, "x"), (a, "yy")],
            vec!["promtail_custom_lines{app=\"a\"} 2"],
        ),
        (
            "- metrics: {bytes: {type: Counter, prefix: my_, config: {match_all: true, count_entry_bytes: true, action: add}}}",
            vec![(a, "x"), (a, "yy")],
            vec!["my_bytes{app=\"a\"} 3"],
        ),
        (
            "- template: {source: level, template: '{{ .Entry }}'}\n- metrics: {errors: {type: counter, source: level, config: {value: error, action: inc}}}",
            vec![(a, "error"), (a, "info"), (a, "error")],
            vec!["promtail_custom_errors{app=\"a\"} 2"],
        ),
        (
            // Fractional adds are kept; negative and unparsable values are skipped.
            "- template: {source: n, template: '{{ .Entry }}'}\n- metrics: {total: {type: Counter, source: n, config: {action: add}}}",
            vec![(a, "5"), (a, "x"), (a, "-3"), (a, "2.25")],
            vec!["promtail_custom_total{app=\"a\"} 7.25"],
        ),
        (
            "- template: {source: n, template: '{{ .Entry }}'}\n- metrics: {g: {type: Gauge, source: n, config: {action: set}}}",
            vec![(a, "5"), (a, "2.5")],
            vec!["promtail_custom_g{app=\"a\"} 2.5"],
        ),
        (
            "- template: {source: n, template: '{{ .Entry }}'}\n- metrics: {g: {type: Gauge, source: n, config: {action: add}}, h: {type: Gauge, source: n, config: {action: dec}}}",
            vec![(a, "5"), (a, "2.5")],
            vec!["promtail_custom_g{app=\"a\"} 7.5", "promtail_custom_h{app=\"a\"} -2"],
        ),
        (
            "- template: {source: n, template: '{{ .Entry }}'}\n- metrics: {g: {type: Gauge, source: n, config: {action: sub}}, i: {type: Gauge, source: n, config: {action: inc}}}",
            vec![(a, "1.5")],
            vec!["promtail_custom_g{app=\"a\"} -1.5", "promtail_custom_i{app=\"a\"} 1"],
        ),
        (
            // The configured buckets, cumulative, then +Inf, sum and count.
            "- template: {source: n, template: '{{ .Entry }}'}\n- metrics: {d: {type: Histogram, source: n, config: {buckets: [1, 5, 10]}}}",
            vec![(a, "0.5"), (a, "7"), (a, "70"), (&[], "3")],
            vec![
                "promtail_custom_d_bucket{le=\"1\"} 0",
                "promtail_custom_d_bucket{le=\"5\"} 1",
                "promtail_custom_d_bucket{le=\"10\"} 1",
                "promtail_custom_d_bucket{le=\"+Inf\"} 1",
                "promtail_custom_d_sum 3",
                "promtail_custom_d_count 1",
                "promtail_custom_d_bucket{app=\"a\",le=\"1\"} 1",
                "promtail_custom_d_bucket{app=\"a\",le=\"5\"} 1",
                "promtail_custom_d_bucket{app=\"a\",le=\"10\"} 2",
                "promtail_custom_d_bucket{app=\"a\",le=\"+Inf\"} 3",
                "promtail_custom_d_sum{app=\"a\"} 77.5",
                "promtail_custom_d_count{app=\"a\"} 3",
            ],
        ),
        (
            // Without buckets, Prometheus' defaults.
            "- template: {source: n, template: '{{ .Entry }}'}\n- metrics: {d: {type: Histogram, source: n}}",
            vec![(&[], "0.3")],
            vec![
                "promtail_custom_d_bucket{le=\"0.005\"} 0",
                "promtail_custom_d_bucket{le=\"0.01\"} 0",
                "promtail_custom_d_bucket{le=\"0.025\"} 0",
                "promtail_custom_d_bucket{le=\"0.05\"} 0",
                "promtail_custom_d_bucket{le=\"0.1\"} 0",
                "promtail_custom_d_bucket{le=\"0.25\"} 0",
                "promtail_custom_d_bucket{le=\"0.5\"} 1",
                "promtail_custom_d_bucket{le=\"1\"} 1",
                "promtail_custom_d_bucket{le=\"2.5\"} 1",
                "promtail_custom_d_bucket{le=\"5\"} 1",
                "promtail_custom_d_bucket{le=\"10\"} 1",
                "promtail_custom_d_bucket{le=\"+Inf\"} 1",
                "promtail_custom_d_sum 0.3",
                "promtail_custom_d_count 1",
            ],
        ),
        (
            // Label values are escaped; labels are sorted.
            "- metrics: {c: {type: Counter, config: {match_all: true, action: inc}}}",
            vec![(&[("z", "1"), ("b", "q\"\\")], "x")],
            vec!["promtail_custom_c{b=\"q\\\"\\\\\",z=\"1\"} 1"],
        ),
        (
            "- metrics: {nothing: {type: Counter, source: missing, config: {action: inc}}}",
            vec![(a, "x")],
            vec![],
        ),
    ];
    for (yaml, lines, want) in rows {
        assert_eq!(record(yaml, &lines), want, "{yaml}");
    }
}

#[test]
fn description_is_help_and_type_is_declared() {
    let r = Registry::default();
    registry::with_local(&r, || {
        let p = pipeline("- metrics: {c: {type: Counter, description: \"lines\\nseen\", config: {match_all: true, action: inc}}, u: {type: Counter, config: {match_all: true, action: inc}}}");
        run(&p, &[], "x");
    });
    let mut out = String::new();
    r.render_at(&mut out, Instant::now());
    for want in [
        "# HELP promtail_custom_c lines\\nseen\n# TYPE promtail_custom_c counter\n",
        "# HELP promtail_custom_u Metric u of a pipeline metrics stage.\n# TYPE promtail_custom_u counter\n",
    ] {
        assert!(out.contains(want), "missing {want:?} in\n{out}");
    }
}

#[test]
fn idle_series_expire_on_render() {
    let t0 = Instant::now();
    let s = Duration::from_secs(1);
    // (max_idle, updates at seconds: labels, rendered at second, samples left)
    type Row<'a> = (u64, &'a [(u64, &'a str)], u64, &'a [&'a str]);
    let rows: &[Row<'_>] = &[
        (60, &[(0, "a")], 60, &["m{k=\"a\"} 1"]),
        (60, &[(0, "a")], 61, &[]),
        (60, &[(0, "a"), (30, "b")], 61, &["m{k=\"b\"} 1"]),
        (60, &[(0, "a"), (30, "a")], 89, &["m{k=\"a\"} 2"]),
        (300, &[(0, "a")], 299, &["m{k=\"a\"} 1"]),
    ];
    for (idle, updates, at, want) in rows {
        let r = Registry::default();
        let f = r.family("m", "help", Kind::Counter, s * *idle as u32);
        for (when, v) in *updates {
            f.update(&[("k", v)], Op::Add(1.0), t0 + s * *when as u32);
        }
        assert_eq!(
            samples(&r, t0 + s * *at as u32),
            *want,
            "idle {idle} at {at}"
        );
    }
    // An expired series starts again from zero.
    let r = Registry::default();
    let f = r.family("m", "help", Kind::Counter, s);
    f.update(&[], Op::Add(1.0), t0);
    assert!(samples(&r, t0 + s * 2).is_empty());
    f.update(&[], Op::Add(1.0), t0 + s * 3);
    assert_eq!(samples(&r, t0 + s * 3), ["m 1"]);
}

#[test]
fn a_family_is_shared_by_kind_and_replaced_when_its_kind_changes() {
    let r = Registry::default();
    let t0 = Instant::now();
    let hist = |b: &[f64]| Kind::Histogram(b.to_vec());
    let idle = Duration::from_secs(60);
    // (kind registered second, samples after one update through each)
    let rows: Vec<(Kind, Vec<&str>)> = vec![
        (
            Kind::Counter,
            vec!["# HELP m second", "# TYPE m counter", "m 2"],
        ),
        (
            Kind::Gauge,
            vec!["# HELP m second", "# TYPE m gauge", "m 1"],
        ),
        (
            hist(&[1.0]),
            vec![
                "# HELP m second",
                "# TYPE m histogram",
                "m_bucket{le=\"1\"} 1",
                "m_bucket{le=\"+Inf\"} 1",
                "m_sum 1",
                "m_count 1",
            ],
        ),
    ];
    for (second, want) in rows {
        let first = r.family("m", "first", Kind::Counter, idle);
        let op = |k: &Kind| match k {
            Kind::Histogram(_) => Op::Observe(1.0),
            _ => Op::Add(1.0),
        };
        first.update(&[], op(&Kind::Counter), t0);
        let other = r.family("m", "second", second.clone(), idle);
        other.update(&[], op(&second), t0);
        let mut out = String::new();
        r.render_at(&mut out, t0);
        assert_eq!(out.lines().collect::<Vec<_>>(), want, "{second:?}");
        // Start the next row from a fresh counter family.
        r.family("m", "reset", Kind::Gauge, idle);
    }
}

#[test]
fn default_max_idle_is_five_minutes() {
    let r = Registry::default();
    let f = registry::with_local(&r, || {
        pipeline("- metrics: {c: {type: Counter, config: {match_all: true, action: inc}}}");
        r.family(
            "promtail_custom_c",
            "Metric c of a pipeline metrics stage.",
            Kind::Counter,
            Duration::from_secs(300),
        )
    });
    let t0 = Instant::now();
    f.update(&[], Op::Add(1.0), t0);
    assert_eq!(
        samples(&r, t0 + Duration::from_secs(300)),
        ["promtail_custom_c 1"]
    );
    assert!(samples(&r, t0 + Duration::from_secs(301)).is_empty());
}

#[test]
fn metrics_config_errors() {
    for (yaml, want) in [
        ("- metrics: {c: {type: Counter}}", "field \"c.config.action\": counter action must be defined"),
        ("- metrics: {c: {type: Counter, config: {action: del}}}", "action del is not valid"),
        ("- metrics: {c: {type: Counter, config: {action: inc, match_all: true, value: x}}}", "cannot be combined with `value`"),
        ("- metrics: {c: {type: Counter, config: {action: add, count_entry_bytes: true}}}", "can only be set with `match_all: true`"),
        ("- metrics: {c: {type: Counter, config: {action: inc, match_all: true, count_entry_bytes: true}}}", "can only be used with `action: add`"),
        ("- metrics: {g: {type: Gauge, config: {action: mul}}}", "field \"g.config.action\""),
        ("- metrics: {h: {type: Summary}}", "field \"h.type\""),
        ("- metrics: {h: {type: Histogram, config: {buckets: [5, 1]}}}", "increasing order"),
        ("- metrics: {bad-name: {type: Counter, config: {action: inc}}}", "invalid metric name \"promtail_custom_bad-name\""),
        ("- metrics: {c: {type: Counter, max_idle_duration: nope, config: {action: inc}}}", "invalid duration"),
        ("- metrics: {c: {type: Counter, max_idle_duration: 500ms, config: {action: inc}}}", "field \"c.max_idle_duration\": max_idle_duration 500ms is less than 1s"),
    ] {
        let got = config_error(yaml);
        assert!(got.contains(want), "{yaml}\n got: {got}");
    }
}
