//! The `limit` stage: a token bucket (`rate` per second, `burst`) over the
//! entries passing through, optionally one bucket per value of the label
//! `by_label_name` (at most `max_distinct_labels` buckets; the map is reset
//! when full, like Promtail's generational map).
//!
//! With `drop: true` entries over the limit are dropped
//! (`ratelimit_drop_stage`). Promtail's `drop: false` blocks the pipeline
//! until a token is free; pushtail never blocks a request, so with
//! `drop: false` over-limit entries pass through unchanged (the limit then
//! only applies through `drop: true`). Time is the processing wall clock.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use serde::Deserialize;

use super::{BuildCtx, FieldError, Stage};
use crate::entry::StageEntry;

const DROP_REASON: &str = "ratelimit_drop_stage";
pub(crate) const DROPPED_BY_LABEL_TOTAL: &str = "logentry_dropped_lines_by_label_total";
const MIN_MAX_DISTINCT_LABELS: usize = 10_000;

/// The `limit` stage's config.
#[derive(Debug, Clone, Deserialize)]
pub struct LimitConfig {
    #[serde(default)]
    rate: f64,
    #[serde(default)]
    burst: i64,
    #[serde(default)]
    drop: bool,
    #[serde(default)]
    by_label_name: String,
    #[serde(default)]
    max_distinct_labels: usize,
}

/// A token bucket that starts full.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

struct Limit {
    rate: f64,
    burst: f64,
    drop: bool,
    by_label: Option<String>,
    max_buckets: usize,
    global: Mutex<Bucket>,
    per_label: Mutex<HashMap<String, Bucket>>,
}

pub(crate) fn build(cfg: &LimitConfig, _ctx: &BuildCtx) -> Result<Box<dyn Stage>, FieldError> {
    if cfg.rate.is_nan() || cfg.rate <= 0.0 || cfg.burst <= 0 {
        return Err(FieldError::new("limit stage failed to parse rate or burst"));
    }
    if !cfg.by_label_name.is_empty() && !cfg.drop {
        return Err(FieldError::field(
            "drop",
            "when ratelimiting by label, drop must be true",
        ));
    }
    let burst = cfg.burst as f64;
    Ok(Box::new(Limit {
        rate: cfg.rate,
        burst,
        drop: cfg.drop,
        by_label: (!cfg.by_label_name.is_empty()).then(|| cfg.by_label_name.clone()),
        max_buckets: cfg.max_distinct_labels.max(MIN_MAX_DISTINCT_LABELS),
        global: Mutex::new(Bucket {
            tokens: burst,
            last: Instant::now(),
        }),
        per_label: Mutex::new(HashMap::new()),
    }))
}

impl Limit {
    /// Takes a token if one is available at `now`.
    fn allow(&self, b: &mut Bucket, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * self.rate).min(self.burst);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

impl Stage for Limit {
    fn process(&self, e: &mut StageEntry) {
        let now = Instant::now();
        if let Some(name) = &self.by_label {
            let Some(value) = e.label(name) else { return };
            let Ok(mut buckets) = self.per_label.lock() else {
                return;
            };
            if !buckets.contains_key(value) && buckets.len() >= self.max_buckets {
                buckets.clear();
            }
            let bucket = buckets.entry(value.to_owned()).or_insert(Bucket {
                tokens: self.burst,
                last: now,
            });
            if self.allow(bucket, now) {
                return;
            }
            metrics::counter!(DROPPED_BY_LABEL_TOTAL, "label_name" => name.clone(), "label_value" => value.to_owned())
                .increment(1);
            drop(buckets);
            e.drop_with(DROP_REASON);
            return;
        }
        let Ok(mut bucket) = self.global.lock() else {
            return;
        };
        if !self.allow(&mut bucket, now) && self.drop {
            drop(bucket);
            e.drop_with(DROP_REASON);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::stages::testing::{config_error, pipeline, render, run};

    #[test]
    fn limit_drops_over_burst() {
        // A rate this low refills nothing during the test: exactly `burst` pass.
        let p = pipeline("- limit: {rate: 0.0001, burst: 3, drop: true}");
        let got: Vec<String> = (0..5).map(|_| render(&run(&p, &[], "x"))).collect();
        assert_eq!(got, ["{} x", "{} x", "{} x", "dropped", "dropped"]);
    }

    #[test]
    fn limit_without_drop_never_blocks_or_drops() {
        let p = pipeline("- limit: {rate: 0.0001, burst: 1}");
        for _ in 0..5 {
            assert_eq!(render(&run(&p, &[], "x")), "{} x");
        }
    }

    #[test]
    fn limit_by_label_has_a_bucket_per_value() {
        let p = pipeline("- limit: {rate: 0.0001, burst: 1, drop: true, by_label_name: app}");
        let rows: [(&[(&str, &str)], &str); 5] = [
            (&[("app", "a")], r#"{app="a"} x"#),
            (&[("app", "a")], "dropped"),
            (&[("app", "b")], r#"{app="b"} x"#),
            (&[], "{} x"),
            (&[], "{} x"),
        ];
        for (labels, want) in rows {
            assert_eq!(render(&run(&p, labels, "x")), want, "{labels:?}");
        }
    }

    #[test]
    fn limit_config_errors() {
        for (yaml, want) in [
            (
                "- limit: {rate: 0, burst: 1}",
                "limit stage failed to parse rate or burst",
            ),
            (
                "- limit: {rate: 1, burst: 0}",
                "limit stage failed to parse rate or burst",
            ),
            (
                "- limit: {rate: 1, burst: 1, by_label_name: app}",
                "field \"drop\": when ratelimiting by label, drop must be true",
            ),
        ] {
            let got = config_error(yaml);
            assert!(got.contains(want), "{yaml}\n got: {got}");
        }
    }
}
