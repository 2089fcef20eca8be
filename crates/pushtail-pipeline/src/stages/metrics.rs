//! The `metrics` stage: Promtail's user-defined counters, gauges and
//! histograms, fed from extracted values and emitted through the `metrics`
//! facade (exported on `/metrics` by the binary's recorder) with the
//! entry's labels as metric labels. Names are `prefix` (default
//! `promtail_custom_`) + the map key, validated at load time.
//!
//! Differences from Promtail, forced by the facade: counters are integers,
//! so `add` rounds the value to the nearest whole number; histogram
//! `buckets` and `max_idle_duration` are validated but bucket layout and
//! series expiry belong to the exporter's configuration.

use std::collections::BTreeMap;

use metrics::Label;
use pushtail_proto::units::Duration;
use serde::Deserialize;
use serde_json::Value;

use super::{parse_config, BuildCtx, FieldError, Stage};
use crate::entry::{value_to_string, StageEntry};

#[derive(Deserialize)]
struct MetricConfig {
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

#[derive(Deserialize, Default)]
struct Options {
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
    name: String,
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

pub(crate) fn build(
    cfg: &serde_yaml::Value,
    _ctx: &BuildCtx,
) -> Result<Box<dyn Stage>, FieldError> {
    let cfgs: BTreeMap<String, MetricConfig> = parse_config(cfg)?;
    let mut metrics = Vec::with_capacity(cfgs.len());
    for (key, cfg) in &cfgs {
        let kind = kind_of(key, cfg)?;
        let prefix = cfg.prefix.as_deref().unwrap_or("promtail_custom_");
        let name = format!("{prefix}{key}");
        if !valid_metric_name(&name) {
            return Err(FieldError::field(
                key,
                format!("invalid metric name {name:?}"),
            ));
        }
        let _idle = cfg.max_idle_duration;
        // Every family gets HELP text; Promtail leaves it empty when the
        // config has no `description`.
        let description = if cfg.description.trim().is_empty() {
            format!("Metric {key} of a pipeline metrics stage.")
        } else {
            cfg.description.clone()
        };
        match kind {
            Kind::CounterInc | Kind::CounterAdd | Kind::CounterAll { .. } => {
                metrics::describe_counter!(name.clone(), description);
            }
            Kind::Histogram => metrics::describe_histogram!(name.clone(), description),
            _ => metrics::describe_gauge!(name.clone(), description),
        }
        metrics.push(Metric {
            source: cfg.source.clone().unwrap_or_else(|| key.clone()),
            value: cfg.config.value.clone(),
            name,
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
        let labels: Vec<Label> = e
            .label_pairs()
            .into_iter()
            .map(|(k, v)| Label::new(k, v))
            .collect();
        let line_len = e.line().len();
        let extracted = e.extracted();
        for m in &self.metrics {
            if let Kind::CounterAll { bytes } = m.kind {
                let n = if bytes { line_len as u64 } else { 1 };
                metrics::counter!(m.name.clone(), labels.clone()).increment(n);
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
            let labels = labels.clone();
            match m.kind {
                Kind::CounterInc => metrics::counter!(m.name.clone(), labels).increment(1),
                Kind::GaugeInc => metrics::gauge!(m.name.clone(), labels).increment(1.0),
                Kind::GaugeDec => metrics::gauge!(m.name.clone(), labels).decrement(1.0),
                kind => {
                    let Some(f) = to_float(v) else { continue };
                    match kind {
                        Kind::CounterAdd if f >= 0.0 => {
                            metrics::counter!(m.name.clone(), labels).increment(f.round() as u64);
                        }
                        Kind::GaugeSet => metrics::gauge!(m.name.clone(), labels).set(f),
                        Kind::GaugeAdd => metrics::gauge!(m.name.clone(), labels).increment(f),
                        Kind::GaugeSub => metrics::gauge!(m.name.clone(), labels).decrement(f),
                        Kind::Histogram => metrics::histogram!(m.name.clone(), labels).record(f),
                        _ => {}
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
