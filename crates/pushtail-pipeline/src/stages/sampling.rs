//! The `sampling` stage: keeps each entry with probability `rate` (0..=1)
//! and drops the rest, counted under `drop_counter_reason` (default
//! `sampling_stage`).
//!
//! Randomness is a xorshift64* generator in an atomic: cheap, lock-free and
//! good enough for sampling (not for anything secret).

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Deserialize;

use super::{BuildCtx, FieldError, Stage};
use crate::entry::StageEntry;

/// The `sampling` stage's config.
#[derive(Debug, Clone, Deserialize)]
pub struct SamplingConfig {
    rate: f64,
    #[serde(default)]
    drop_counter_reason: Option<String>,
}

struct Sampling {
    /// Keep when the next random u64 is below this.
    threshold: u64,
    keep_all: bool,
    state: AtomicU64,
    reason: Cow<'static, str>,
}

pub(crate) fn build(cfg: &SamplingConfig, _ctx: &BuildCtx) -> Result<Box<dyn Stage>, FieldError> {
    if !(0.0..=1.0).contains(&cfg.rate) {
        return Err(FieldError::field(
            "rate",
            format!("sampling rate must be between 0 and 1, got {}", cfg.rate),
        ));
    }
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0x9e37_79b9_7f4a_7c15, |d| d.as_nanos() as u64)
        | 1;
    // rate * 2^64, saturating; `as` on a float saturates and maps NaN to 0.
    let threshold = (cfg.rate * 18_446_744_073_709_551_616.0) as u64;
    Ok(Box::new(Sampling {
        threshold,
        keep_all: cfg.rate >= 1.0,
        state: AtomicU64::new(seed),
        reason: match &cfg.drop_counter_reason {
            Some(r) if !r.is_empty() => Cow::Owned(r.clone()),
            _ => Cow::Borrowed("sampling_stage"),
        },
    }))
}

impl Sampling {
    fn next(&self) -> u64 {
        let step = |mut x: u64| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            x
        };
        let prev = self
            .state
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |x| Some(step(x)))
            .unwrap_or(1);
        step(prev).wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

impl Stage for Sampling {
    fn process(&self, e: &mut StageEntry) {
        if self.keep_all || self.next() < self.threshold {
            return;
        }
        e.drop_with(self.reason.clone());
    }
}

#[cfg(test)]
mod tests {
    use crate::stages::testing::{check_table, config_error, pipeline, run};

    #[test]
    fn sampling_table() {
        check_table(&[
            ("- sampling: {rate: 1}", &[], "x", "{} x"),
            ("- sampling: {rate: 0}", &[], "x", "dropped"),
            (
                "- sampling: {rate: 0.0, drop_counter_reason: sampled}",
                &[],
                "x",
                "dropped",
            ),
        ]);
    }

    #[test]
    fn sampling_keeps_about_rate() {
        let p = pipeline("- sampling: {rate: 0.25}");
        let kept = (0..4000).filter(|_| !run(&p, &[], "x").is_empty()).count();
        // Expected 1000; the bound is many standard deviations (~27) wide.
        assert!((800..1200).contains(&kept), "kept {kept} of 4000");
    }

    #[test]
    fn sampling_config_errors() {
        for (yaml, want) in [
            (
                "- sampling: {rate: 1.5}",
                "field \"rate\": sampling rate must be between 0 and 1",
            ),
            ("- sampling: {rate: -0.1}", "field \"rate\""),
            ("- sampling: {}", "missing field `rate`"),
        ] {
            let got = config_error(yaml);
            assert!(got.contains(want), "{yaml}\n got: {got}");
        }
    }
}
