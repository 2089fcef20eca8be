//! The `limit` stage: a token bucket (`rate` per second, `burst`) over the
//! entries passing through, optionally one bucket per value of the label
//! `by_label_name` (at most `max_distinct_labels` buckets; the map is reset
//! when full, like Promtail's generational map).
//!
//! With `drop: true` entries over the limit are dropped
//! (`ratelimit_drop_stage`). With `drop: false` Promtail blocks the
//! pipeline until a token is free; here the stage reserves the next token
//! (the bucket goes into debt, as Go's `rate.Limiter.Wait` does) and sets
//! the entry's [`Pace`] to the instant it is due; the receiver holds the
//! push until then, without a thread. A token due later than the
//! pipeline's maximum delay (the server's `push_timeout`) is not reserved
//! and the push is refused ([`Pace::Refuse`], a 503 the pusher retries).
//! Time is the processing wall clock.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::{BuildCtx, FieldError, Stage};
use crate::entry::StageEntry;
use crate::pipeline::Pace;

const DROP_REASON: &str = "ratelimit_drop_stage";
/// Promtail's reason for entries `limits_config.readline_rate_drop` drops.
const GLOBAL_DROP_REASON: &str = "global_rate_limiter_drop";
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

pub(crate) struct Limit {
    rate: f64,
    burst: f64,
    drop: bool,
    drop_reason: &'static str,
    by_label: Option<String>,
    max_buckets: usize,
    global: Mutex<Bucket>,
    per_label: Mutex<HashMap<String, Bucket>>,
}

pub(crate) fn build(cfg: &LimitConfig, _ctx: &BuildCtx) -> Result<Box<dyn Stage>, FieldError> {
    let mut limit = Limit::new(cfg.rate, cfg.burst, cfg.drop, DROP_REASON)
        .ok_or_else(|| FieldError::new("limit stage failed to parse rate or burst"))?;
    if !cfg.by_label_name.is_empty() && !cfg.drop {
        return Err(FieldError::field(
            "drop",
            "when ratelimiting by label, drop must be true",
        ));
    }
    limit.by_label = (!cfg.by_label_name.is_empty()).then(|| cfg.by_label_name.clone());
    limit.max_buckets = cfg.max_distinct_labels.max(MIN_MAX_DISTINCT_LABELS);
    Ok(Box::new(limit))
}

impl Limit {
    /// One full bucket (no per-label buckets); `None` when `rate` or
    /// `burst` is not positive.
    fn new(rate: f64, burst: i64, drop: bool, drop_reason: &'static str) -> Option<Limit> {
        if rate.is_nan() || rate <= 0.0 || burst <= 0 {
            return None;
        }
        let burst = burst as f64;
        Some(Limit {
            rate,
            burst,
            drop,
            drop_reason,
            by_label: None,
            max_buckets: 0,
            global: Mutex::new(Bucket {
                tokens: burst,
                last: Instant::now(),
            }),
            per_label: Mutex::new(HashMap::new()),
        })
    }

    /// Promtail's `limits_config` readline limit: one bucket for every
    /// entry of every target, applied after each target's stages;
    /// `None` when `rate` or `burst` is not positive.
    pub(crate) fn readline(rate: f64, burst: i64, drop: bool) -> Option<Limit> {
        Limit::new(rate, burst, drop, GLOBAL_DROP_REASON)
    }

    /// Refills `b` up to `now`.
    fn refill(&self, b: &mut Bucket, now: Instant) {
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * self.rate).min(self.burst);
        b.last = now;
    }

    /// Takes a token if one is available at `now`.
    fn allow(&self, b: &mut Bucket, now: Instant) -> bool {
        self.refill(b, now);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Reserves the next token, however far ahead, unless it is due later
    /// than `max_delay` from `now`.
    fn reserve(&self, b: &mut Bucket, now: Instant, max_delay: Duration) -> Pace {
        self.refill(b, now);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            return Pace::Now;
        }
        let wait = (1.0 - b.tokens) / self.rate;
        if wait > max_delay.as_secs_f64() {
            return Pace::Refuse;
        }
        b.tokens -= 1.0;
        Pace::NotBefore(now + Duration::from_secs_f64(wait))
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
            e.drop_with(self.drop_reason);
            return;
        }
        let Ok(mut bucket) = self.global.lock() else {
            return;
        };
        if self.drop {
            if !self.allow(&mut bucket, now) {
                drop(bucket);
                e.drop_with(self.drop_reason);
            }
            return;
        }
        let pace = self.reserve(&mut bucket, now, e.max_delay);
        e.pace = e.pace.and(pace);
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use pushtail_proto::labels::LabelSet;
    use pushtail_proto::model::Entry;

    use crate::pipeline::{Pace, PipelineEntry};
    use crate::stages::testing::{config_error, pipeline, render, run};

    fn entry(line: &str) -> PipelineEntry {
        PipelineEntry {
            labels: LabelSet::empty(),
            entry: Entry::new(1000, line.to_owned()),
            tenant: None,
        }
    }

    /// The readline limit is one bucket across pipelines, taken after each
    /// pipeline's stages (what a stage drops takes no token), and a target
    /// without stages is limited too.
    #[test]
    fn readline_limit_is_shared_by_every_pipeline() {
        let limit = crate::ReadlineLimit::new(0.0001, 3, true).expect("limit");
        let a = pipeline("- drop: {expression: skip}").with_readline_limit(limit.clone());
        let b = crate::Pipeline::empty().with_readline_limit(limit);
        assert!(!b.is_empty(), "a limited pipeline is not a no-op");
        let got: Vec<String> = [(&a, "x"), (&a, "skip"), (&b, "y"), (&a, "z"), (&b, "w")]
            .into_iter()
            .map(|(p, line)| render(&run(p, &[], line)))
            .collect();
        assert_eq!(got, ["{} x", "dropped", "{} y", "{} z", "dropped"]);
        assert!(crate::ReadlineLimit::new(0.0, 1, true).is_none());
        assert!(crate::ReadlineLimit::new(1.0, 0, true).is_none());
    }

    /// Without drop the readline limit paces pushes as a `limit` stage does.
    #[test]
    fn readline_limit_without_drop_paces() {
        let limit = crate::ReadlineLimit::new(2.0, 1, false).expect("limit");
        let p = crate::Pipeline::empty()
            .with_readline_limit(limit)
            .with_max_delay(Duration::from_secs(1));
        let paces: Vec<Pace> = (0..4)
            .map(|_| p.process(entry("x"), &mut Vec::new()))
            .collect();
        assert_eq!(paces[0], Pace::Now);
        assert!(matches!(paces[1], Pace::NotBefore(_)), "{paces:?}");
        assert!(matches!(paces[2], Pace::NotBefore(_)), "{paces:?}");
        assert_eq!(paces[3], Pace::Refuse, "1.5 s ahead is past the max delay");
    }

    #[test]
    fn limit_drops_over_burst() {
        // A rate this low refills nothing during the test: exactly `burst` pass.
        let p = pipeline("- limit: {rate: 0.0001, burst: 3, drop: true}");
        let got: Vec<String> = (0..5).map(|_| render(&run(&p, &[], "x"))).collect();
        assert_eq!(got, ["{} x", "{} x", "{} x", "dropped", "dropped"]);
    }

    #[test]
    fn limit_without_drop_paces_entries_then_refuses_past_the_max_delay() {
        // 2 tokens a second, burst 2, at most 1 s of delay: the burst goes
        // now, the next two are due 0.5 s and 1 s ahead, the fifth would be
        // 1.5 s ahead and is refused without reserving.
        let p = pipeline("- limit: {rate: 2, burst: 2}").with_max_delay(Duration::from_secs(1));
        let start = Instant::now();
        let mut paces = Vec::new();
        for _ in 0..5 {
            let mut out = Vec::new();
            paces.push(p.process(entry("x"), &mut out));
            assert_eq!(render(&out), "{} x", "a paced entry is never dropped");
        }
        assert_eq!(paces[..2], [Pace::Now, Pace::Now]);
        let due = |pace: Pace| match pace {
            Pace::NotBefore(t) => t.saturating_duration_since(start).as_secs_f64(),
            other => panic!("{other:?}"),
        };
        // The test's own run time shifts the instants by at most that much.
        let slack = start.elapsed().as_secs_f64();
        assert!(
            (0.5 - slack..=0.5 + slack).contains(&due(paces[2])),
            "{paces:?}"
        );
        assert!(
            (1.0 - slack..=1.0 + slack).contains(&due(paces[3])),
            "{paces:?}"
        );
        assert_eq!(paces[4], Pace::Refuse);
        // Folding a push's paces: a refusal wins, then the latest instant.
        assert_eq!(paces[2].and(paces[3]), paces[3]);
        assert_eq!(paces[3].and(Pace::Refuse), Pace::Refuse);
        assert_eq!(Pace::Now.and(paces[2]), paces[2]);
    }

    #[test]
    fn limit_without_drop_refusal_reserves_nothing() {
        // With no room for delay every over-burst entry is refused, and the
        // refusals pile up no debt: given room again, the next token is the
        // one a second after the burst, not a hundred seconds away.
        let p = pipeline("- limit: {rate: 1, burst: 1}").with_max_delay(Duration::ZERO);
        let start = Instant::now();
        let mut out = Vec::new();
        assert_eq!(p.process(entry("a"), &mut out), Pace::Now);
        for _ in 0..100 {
            assert_eq!(p.process(entry("b"), &mut out), Pace::Refuse);
        }
        let p = p.with_max_delay(Duration::from_secs(2));
        match p.process(entry("c"), &mut out) {
            Pace::NotBefore(due) => {
                let due = due.saturating_duration_since(start);
                assert!(due <= Duration::from_secs(1) + start.elapsed(), "{due:?}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn limit_inside_match_and_after_multiline_paces_the_push() {
        let p =
            pipeline("- match: {selector: '{app=\"a\"}', stages: [{limit: {rate: 1, burst: 1}}]}")
                .with_max_delay(Duration::from_secs(10));
        let mut out = Vec::new();
        let a = || PipelineEntry {
            labels: LabelSet::from_pairs([("app", "a")]).unwrap(),
            ..entry("x")
        };
        assert_eq!(p.process(a(), &mut out), Pace::Now);
        assert!(matches!(p.process(a(), &mut out), Pace::NotBefore(_)));
        assert_eq!(p.process(entry("other app"), &mut out), Pace::Now);

        let p = pipeline("- multiline: {firstline: '^start'}\n- limit: {rate: 1, burst: 1}")
            .with_max_delay(Duration::from_secs(10));
        assert_eq!(p.process(entry("start 1"), &mut out), Pace::Now, "held");
        assert_eq!(
            p.process(entry("start 2"), &mut out),
            Pace::Now,
            "releases 1"
        );
        assert!(
            matches!(p.process(entry("start 3"), &mut out), Pace::NotBefore(_)),
            "releases 2, over the burst"
        );
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
