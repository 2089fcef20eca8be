//! The `metrics` stage: Promtail's user-defined counters, gauges and
//! histograms, fed from extracted values, with the entry's labels as metric
//! labels. Names are `prefix` (default `promtail_custom_`) + the map key,
//! validated at load time. The families live in this crate's [`registry`]
//! (f64 counters, per-family histogram buckets, `max_idle_duration`
//! expiry), which the receiver appends to `/metrics`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use pushtail_proto::units::Duration;
use serde::Deserialize;
use serde_json::Value;

use super::{BuildCtx, FieldError, Stage};
use crate::entry::{value_to_string, StageEntry};

pub(crate) mod registry;

use registry::{Family, Op};

/// Promtail's default `max_idle_duration`.
const DEFAULT_MAX_IDLE: std::time::Duration = std::time::Duration::from_secs(5 * 60);

/// Labels an entry can carry without the stage allocating to sort them.
const INLINE_LABELS: usize = 32;

/// The `metrics` stage's config: metric name (after the prefix) to its
/// definition.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct MetricsConfig(BTreeMap<String, MetricConfig>);

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct MetricConfig {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    prefix: Option<String>,
    #[serde(default)]
    max_idle_duration: Option<Duration>,
    #[serde(default)]
    config: Options,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub(crate) struct Options {
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    match_all: Option<bool>,
    #[serde(default)]
    count_entry_bytes: Option<bool>,
    #[serde(default)]
    buckets: Option<Vec<f64>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    CounterInc,
    CounterAdd,
    /// `match_all: true`: every entry counts, by one or by its line bytes.
    CounterAll {
        bytes: bool,
    },
    GaugeSet,
    GaugeInc,
    GaugeDec,
    GaugeAdd,
    GaugeSub,
    Histogram,
}

struct Metric {
    family: Arc<Family>,
    source: String,
    value: Option<String>,
    kind: Kind,
}

struct Metrics {
    metrics: Vec<Metric>,
}

fn valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn kind_of(key: &str, cfg: &MetricConfig) -> Result<Kind, FieldError> {
    let o = &cfg.config;
    let field = |f: &str| format!("{key}.config.{f}");
    let action = o.action.as_deref().map(str::to_ascii_lowercase);
    match cfg.kind.to_ascii_lowercase().as_str() {
        "counter" => {
            let action = action.ok_or_else(|| {
                FieldError::field(
                    &field("action"),
                    "counter action must be defined as either `inc` or `add`",
                )
            })?;
            let match_all = o.match_all == Some(true);
            let bytes = o.count_entry_bytes == Some(true);
            if match_all && o.value.is_some() {
                return Err(FieldError::field(&field("match_all"), "`match_all: true` cannot be combined with `value`, please remove `match_all` or `value`"));
            }
            if bytes && !match_all {
                return Err(FieldError::field(
                    &field("count_entry_bytes"),
                    "`count_entry_bytes: true` can only be set with `match_all: true`",
                ));
            }
            if bytes && action != "add" {
                return Err(FieldError::field(
                    &field("count_entry_bytes"),
                    "`count_entry_bytes: true` can only be used with `action: add`",
                ));
            }
            match action.as_str() {
                "inc" | "add" if match_all => Ok(Kind::CounterAll { bytes }),
                "inc" => Ok(Kind::CounterInc),
                "add" => Ok(Kind::CounterAdd),
                other => Err(FieldError::field(
                    &field("action"),
                    format!("action {other} is not valid, action must be either `inc` or `add`"),
                )),
            }
        }
        "gauge" => {
            let action = action.ok_or_else(|| {
                FieldError::field(
                    &field("action"),
                    "gauge action must be defined as `set`, `inc`, `dec`, `add`, or `sub`",
                )
            })?;
            Ok(match action.as_str() {
                "set" => Kind::GaugeSet,
                "inc" => Kind::GaugeInc,
                "dec" => Kind::GaugeDec,
                "add" => Kind::GaugeAdd,
                "sub" => Kind::GaugeSub,
                other => return Err(FieldError::field(&field("action"), format!("action {other} is not valid, action must be `set`, `inc`, `dec`, `add`, or `sub`"))),
            })
        }
        "histogram" => {
            if o.buckets
                .as_ref()
                .is_some_and(|b| b.windows(2).any(|w| w[0] >= w[1]))
            {
                return Err(FieldError::field(
                    &field("buckets"),
                    "histogram buckets must be in increasing order",
                ));
            }
            Ok(Kind::Histogram)
        }
        other => Err(FieldError::field(
            &format!("{key}.type"),
            format!("metric type {other:?} is not valid: use Counter, Gauge or Histogram"),
        )),
    }
}

pub(crate) fn build(cfg: &MetricsConfig, _ctx: &BuildCtx) -> Result<Box<dyn Stage>, FieldError> {
    let cfgs = &cfg.0;
    let mut metrics = Vec::with_capacity(cfgs.len());
    for (key, cfg) in cfgs {
        let kind = kind_of(key, cfg)?;
        let prefix = cfg.prefix.as_deref().unwrap_or("promtail_custom_");
        let name = format!("{prefix}{key}");
        if !valid_metric_name(&name) {
            return Err(FieldError::field(
                key,
                format!("invalid metric name {name:?}"),
            ));
        }
        let max_idle = match cfg.max_idle_duration {
            None => DEFAULT_MAX_IDLE,
            Some(d) if d.0 < std::time::Duration::from_secs(1) => {
                return Err(FieldError::field(
                    &format!("{key}.max_idle_duration"),
                    format!("max_idle_duration {d} is less than 1s"),
                ));
            }
            Some(d) => d.0,
        };
        // Every family gets HELP text; Promtail leaves it empty when the
        // config has no `description`.
        let help = if cfg.description.trim().is_empty() {
            format!("Metric {key} of a pipeline metrics stage.")
        } else {
            cfg.description.clone()
        };
        let family_kind = match kind {
            Kind::CounterInc | Kind::CounterAdd | Kind::CounterAll { .. } => {
                registry::Kind::Counter
            }
            Kind::Histogram => registry::Kind::Histogram(
                cfg.config
                    .buckets
                    .clone()
                    .unwrap_or_else(|| registry::DEFAULT_BUCKETS.to_vec()),
            ),
            _ => registry::Kind::Gauge,
        };
        metrics.push(Metric {
            family: registry::current().family(&name, &help, family_kind, max_idle),
            source: cfg.source.clone().unwrap_or_else(|| key.clone()),
            value: cfg.config.value.clone(),
            kind,
        });
    }
    Ok(Box::new(Metrics { metrics }))
}

/// Promtail's `getFloat`: numbers, numeric strings, booleans as 1/0.
fn to_float(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        _ => None,
    }
}

impl Stage for Metrics {
    fn process(&self, e: &mut StageEntry) {
        // Seeded now, the map is then borrowed alongside the labels.
        e.extracted();
        let e = &*e;
        // The entry's labels, sorted, on the stack unless there are many.
        let mut inline = [("", ""); INLINE_LABELS];
        let mut spilled = Vec::new();
        let mut n = 0;
        for pair in e.label_iter() {
            if n < INLINE_LABELS {
                inline[n] = pair;
            } else {
                if spilled.is_empty() {
                    spilled.extend_from_slice(&inline);
                }
                spilled.push(pair);
            }
            n += 1;
        }
        let labels: &mut [(&str, &str)] = if spilled.is_empty() {
            &mut inline[..n]
        } else {
            &mut spilled
        };
        labels.sort_unstable();
        let labels = &*labels;
        let line_len = e.line().len();
        let extracted = e.extracted_peek();
        let now = Instant::now();
        for m in &self.metrics {
            if let Kind::CounterAll { bytes } = m.kind {
                let n = if bytes { line_len as f64 } else { 1.0 };
                m.family.update(labels, Op::Add(n), now);
                continue;
            }
            let Some(v) = extracted.get(&m.source) else {
                continue;
            };
            if let Some(want) = &m.value {
                if value_to_string(v).as_deref() != Some(want.as_str()) {
                    continue;
                }
            }
            let op = match m.kind {
                Kind::CounterInc | Kind::GaugeInc => Op::Add(1.0),
                Kind::GaugeDec => Op::Add(-1.0),
                kind => {
                    let Some(f) = to_float(v) else { continue };
                    match kind {
                        // Promtail skips negative values: counters only go up.
                        Kind::CounterAdd if f >= 0.0 => Op::Add(f),
                        Kind::GaugeSet => Op::Set(f),
                        Kind::GaugeAdd => Op::Add(f),
                        Kind::GaugeSub => Op::Add(-f),
                        Kind::Histogram => Op::Observe(f),
                        _ => continue,
                    }
                }
            };
            m.family.update(labels, op, now);
        }
    }
}

#[cfg(test)]
mod tests;
