//! The `timestamp` stage: sets the entry's timestamp from an extracted
//! value parsed with `format` (then each of `fallback_formats`).
//!
//! On failure (missing source, unparsable value) `action_on_failure`
//! decides: `skip` leaves the timestamp alone; `fudge` (the default), as
//! Promtail does, sets it to the last timestamp this stage parsed or fudged
//! for the same label set plus 1ns, or leaves it alone when there is none.
//! The per-label-set memory is bounded (10 000 sets; cleared when full).

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Deserialize;

use super::{BuildCtx, FieldError, Stage};
use crate::entry::{value_to_string, StageEntry};
use crate::go::layout::{named_layout, GoLayout};

const MAX_FUDGE_STREAMS: usize = 10_000;

/// The `timestamp` stage's config.
#[derive(Debug, Clone, Deserialize)]
pub struct TimestampConfig {
    #[serde(default)]
    source: String,
    #[serde(default)]
    format: String,
    #[serde(default)]
    fallback_formats: Vec<String>,
    #[serde(default)]
    location: Option<String>,
    #[serde(default)]
    action_on_failure: Option<String>,
}

/// One way to read a timestamp.
#[derive(Debug, Clone)]
enum Format {
    Unix,
    UnixMs,
    UnixUs,
    UnixNs,
    /// A named Go format: parsed without `location`, like Promtail.
    Named(GoLayout),
    Layout(GoLayout),
}

impl Format {
    fn new(spec: &str) -> Format {
        match spec {
            "Unix" => Format::Unix,
            "UnixMs" => Format::UnixMs,
            "UnixUs" => Format::UnixUs,
            "UnixNs" => Format::UnixNs,
            _ => match named_layout(spec) {
                Some(layout) => Format::Named(GoLayout::new(layout)),
                None => Format::Layout(GoLayout::new(spec)),
            },
        }
    }

    fn parse(&self, s: &str, location: Option<&Tz>, now: DateTime<Utc>) -> Option<i64> {
        match self {
            Format::Unix => parse_unix(s),
            Format::UnixMs => s.parse::<i64>().ok()?.checked_mul(1_000_000),
            Format::UnixUs => s.parse::<i64>().ok()?.checked_mul(1_000),
            Format::UnixNs => s.parse::<i64>().ok(),
            Format::Named(l) => l.parse_ns(s, None, now),
            Format::Layout(l) => l.parse_ns(s, location, now),
        }
    }
}

/// Seconds, optionally with a fraction (`1562708916.414123`).
fn parse_unix(s: &str) -> Option<i64> {
    let (secs, nanos) = match s.split_once('.') {
        None => (s.parse::<i64>().ok()?, 0),
        Some((sec, frac)) => {
            if frac.contains('.') {
                return None;
            }
            let sec = sec.parse::<i64>().ok()?;
            let frac_val = frac.parse::<i64>().ok()?;
            // Scale to nanoseconds by the number of digits written.
            let digits = u32::try_from(frac.trim_start_matches(['+', '-']).len()).ok()?;
            let nanos = if digits <= 9 {
                frac_val.checked_mul(10i64.pow(9 - digits))?
            } else {
                frac_val / 10i64.checked_pow(digits - 9).unwrap_or(i64::MAX)
            };
            (sec, nanos)
        }
    };
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

struct TimestampStage {
    source: String,
    formats: Vec<Format>,
    location: Option<Tz>,
    /// `Some` with `action_on_failure: fudge`: last timestamp per label set.
    fudge: Option<Mutex<HashMap<u64, i64>>>,
}

pub(crate) fn build(cfg: &TimestampConfig, _ctx: &BuildCtx) -> Result<Box<dyn Stage>, FieldError> {
    if cfg.source.is_empty() {
        return Err(FieldError::field(
            "source",
            "timestamp source value is required if timestamp is specified",
        ));
    }
    if cfg.format.is_empty() {
        return Err(FieldError::field("format", "timestamp format is required"));
    }
    let location = match &cfg.location {
        None => None,
        Some(name) => Some(name.parse::<Tz>().map_err(|e| {
            FieldError::field("location", format!("invalid location specified: {e}"))
        })?),
    };
    let fudge = match cfg.action_on_failure.as_deref() {
        None | Some("fudge") => true,
        Some("skip") => false,
        Some(_) => {
            return Err(FieldError::field(
                "action_on_failure",
                "invalid action on failure (supported values are [skip fudge])",
            ))
        }
    };
    let formats = std::iter::once(&cfg.format)
        .chain(&cfg.fallback_formats)
        .map(|f| Format::new(f))
        .collect();
    Ok(Box::new(TimestampStage {
        source: cfg.source.clone(),
        formats,
        location,
        fudge: fudge.then(|| Mutex::new(HashMap::new())),
    }))
}

/// A hash of the entry's current label set, the key of the fudge memory.
fn labels_key(e: &StageEntry) -> u64 {
    let mut pairs = e.label_pairs();
    pairs.sort_unstable();
    let mut h = DefaultHasher::new();
    pairs.hash(&mut h);
    h.finish()
}

impl TimestampStage {
    fn parse(&self, e: &mut StageEntry) -> Option<i64> {
        let value = e.extracted().get(&self.source).and_then(value_to_string)?;
        let now = Utc::now();
        self.formats
            .iter()
            .find_map(|f| f.parse(&value, self.location.as_ref(), now))
    }
}

impl Stage for TimestampStage {
    fn process(&self, e: &mut StageEntry) {
        let parsed = self.parse(e);
        let Some(fudge) = &self.fudge else {
            if let Some(ts) = parsed {
                e.timestamp_ns = ts;
            }
            return;
        };
        let key = labels_key(e);
        let Ok(mut last) = fudge.lock() else { return };
        let ts = match parsed {
            Some(ts) => ts,
            None => match last.get(&key) {
                Some(prev) => prev.saturating_add(1),
                None => return,
            },
        };
        e.timestamp_ns = ts;
        if last.len() >= MAX_FUDGE_STREAMS && !last.contains_key(&key) {
            last.clear();
        }
        last.insert(key, ts);
    }
}

#[cfg(test)]
mod tests;
