use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};

use crate::stages::testing::{config_error, pipeline, run};

/// Records every update as `name{labels} op value` lines.
#[derive(Default, Clone)]
struct Log(Arc<Mutex<BTreeMap<String, f64>>>);

struct Handle {
    key: String,
    log: Log,
}

impl Handle {
    fn apply(&self, f: impl FnOnce(f64) -> f64) {
        let mut m = self.log.0.lock().unwrap();
        let v = m.entry(self.key.clone()).or_insert(0.0);
        *v = f(*v);
    }
}

impl metrics::CounterFn for Handle {
    fn increment(&self, value: u64) {
        self.apply(|v| v + value as f64);
    }
    fn absolute(&self, value: u64) {
        self.apply(|_| value as f64);
    }
}

impl metrics::GaugeFn for Handle {
    fn increment(&self, value: f64) {
        self.apply(|v| v + value);
    }
    fn decrement(&self, value: f64) {
        self.apply(|v| v - value);
    }
    fn set(&self, value: f64) {
        self.apply(|_| value);
    }
}

impl metrics::HistogramFn for Handle {
    fn record(&self, value: f64) {
        // Histograms log their sum.
        self.apply(|v| v + value);
    }
}

impl Log {
    fn handle(&self, key: &Key) -> Arc<Handle> {
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        Arc::new(Handle {
            key: format!("{}{{{}}}", key.name(), labels.join(",")),
            log: self.clone(),
        })
    }
}

impl Recorder for Log {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.handle(key))
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.handle(key))
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.handle(key))
    }
}

/// Runs `lines` (labels, line) through `yaml` and returns the recorded values.
fn record(yaml: &str, lines: &[(&[(&str, &str)], &str)]) -> Vec<String> {
    let log = Log::default();
    metrics::with_local_recorder(&log, || {
        let p = pipeline(yaml);
        for (labels, line) in lines {
            run(&p, labels, line);
        }
    });
    let m = log.0.lock().unwrap();
    m.iter().map(|(k, v)| format!("{k} {v}")).collect()
}

#[test]
fn metrics_table() {
    let a: &[(&str, &str)] = &[("app", "a")];
    type Lines<'a> = Vec<(&'a [(&'a str, &'a str)], &'a str)>;
    let rows: Vec<(&str, Lines<'_>, Vec<&str>)> = vec![
        (
            "- metrics: {lines: {type: Counter, config: {match_all: true, action: inc}}}",
            vec![(a, "x"), (a, "yy")],
            vec!["promtail_custom_lines{app=a} 2"],
        ),
        (
            "- metrics: {bytes: {type: Counter, prefix: my_, config: {match_all: true, count_entry_bytes: true, action: add}}}",
            vec![(a, "x"), (a, "yy")],
            vec!["my_bytes{app=a} 3"],
        ),
        (
            "- template: {source: level, template: '{{ .Entry }}'}\n- metrics: {errors: {type: counter, source: level, config: {value: error, action: inc}}}",
            vec![(a, "error"), (a, "info"), (a, "error")],
            vec!["promtail_custom_errors{app=a} 2"],
        ),
        (
            "- template: {source: n, template: '{{ .Entry }}'}\n- metrics: {total: {type: Counter, source: n, config: {action: add}}}",
            vec![(a, "5"), (a, "x"), (a, "-3"), (a, "2.4")],
            vec!["promtail_custom_total{app=a} 7"],
        ),
        (
            "- template: {source: n, template: '{{ .Entry }}'}\n- metrics: {g: {type: Gauge, source: n, config: {action: set}}}",
            vec![(a, "5"), (a, "2.5")],
            vec!["promtail_custom_g{app=a} 2.5"],
        ),
        (
            "- template: {source: n, template: '{{ .Entry }}'}\n- metrics: {g: {type: Gauge, source: n, config: {action: add}}, h: {type: Gauge, source: n, config: {action: dec}}}",
            vec![(a, "5"), (a, "2.5")],
            vec!["promtail_custom_g{app=a} 7.5", "promtail_custom_h{app=a} -2"],
        ),
        (
            "- template: {source: n, template: '{{ .Entry }}'}\n- metrics: {d: {type: Histogram, source: n, config: {buckets: [1, 5, 10]}}}",
            vec![(a, "0.5"), (&[], "3")],
            vec!["promtail_custom_d{app=a} 0.5", "promtail_custom_d{} 3"],
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
    ] {
        let got = config_error(yaml);
        assert!(got.contains(want), "{yaml}\n got: {got}");
    }
}
