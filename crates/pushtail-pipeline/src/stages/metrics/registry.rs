//! The registry of the `metrics` stage's user-defined families.
//!
//! The process-wide recorder is installed before any config is read, so it
//! cannot know a family's buckets; and its counters are integers. These
//! families live here instead: f64 counters and gauges, histograms with
//! their own buckets, and the last update of every series so that series
//! idle for longer than the family's `max_idle_duration` are dropped when
//! the exposition is rendered. [`render`] writes them in the Prometheus text
//! format; the receiver appends that to its `/metrics` body.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Prometheus' default buckets (`prometheus.DefBuckets`), used when a
/// histogram has no `buckets`.
pub(crate) const DEFAULT_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// What a family is; histograms carry their upper bounds (increasing,
/// without `+Inf`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    Counter,
    Gauge,
    Histogram(Vec<f64>),
}

/// One update of a series.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Op {
    /// Counters and gauges: add (negative for gauges' `dec`/`sub`).
    Add(f64),
    /// Gauges: set.
    Set(f64),
    /// Histograms: observe.
    Observe(f64),
}

struct Series {
    labels: Box<[(Box<str>, Box<str>)]>,
    /// Counter or gauge value; histogram sum.
    value: f64,
    /// Histogram: observations per bucket (not cumulative), then `+Inf`.
    counts: Box<[u64]>,
    updated: Instant,
}

impl Series {
    fn matches(&self, labels: &[(&str, &str)]) -> bool {
        self.labels.len() == labels.len()
            && self
                .labels
                .iter()
                .zip(labels)
                .all(|((k, v), (k2, v2))| **k == **k2 && **v == **v2)
    }
}

/// One metric family and its series, keyed by the hash of their sorted
/// labels (collisions share a short list).
pub(crate) struct Family {
    name: String,
    kind: Kind,
    /// HELP text and idle time: the latest registration's.
    meta: Mutex<(String, Duration)>,
    series: Mutex<HashMap<u64, Vec<Series>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn hash_labels(labels: &[(&str, &str)]) -> u64 {
    let mut h = DefaultHasher::new();
    labels.hash(&mut h);
    h.finish()
}

impl Family {
    /// Applies `op` to the series of `labels` (sorted by name), creating it
    /// if needed. An existing series costs one short lock, no allocation.
    pub(crate) fn update(&self, labels: &[(&str, &str)], op: Op, now: Instant) {
        let key = hash_labels(labels);
        let mut map = lock(&self.series);
        let list = map.entry(key).or_default();
        let i = match list.iter().position(|s| s.matches(labels)) {
            Some(i) => i,
            None => {
                let buckets = match &self.kind {
                    Kind::Histogram(b) => b.len() + 1,
                    _ => 0,
                };
                list.push(Series {
                    labels: labels
                        .iter()
                        .map(|(k, v)| (Box::from(*k), Box::from(*v)))
                        .collect(),
                    value: 0.0,
                    counts: vec![0; buckets].into_boxed_slice(),
                    updated: now,
                });
                list.len() - 1
            }
        };
        let s = &mut list[i];
        s.updated = now;
        match (op, &self.kind) {
            (Op::Add(f), _) => s.value += f,
            (Op::Set(f), _) => s.value = f,
            (Op::Observe(f), Kind::Histogram(bounds)) => {
                s.value += f;
                let b = bounds
                    .iter()
                    .position(|le| f <= *le)
                    .unwrap_or(bounds.len());
                if let Some(c) = s.counts.get_mut(b) {
                    *c += 1;
                }
            }
            (Op::Observe(_), _) => {}
        }
    }

    /// Drops series idle for longer than `max_idle` and writes the rest.
    fn render(&self, out: &mut String, now: Instant) {
        let (help, max_idle) = lock(&self.meta).clone();
        let mut map = lock(&self.series);
        map.retain(|_, list| {
            list.retain(|s| now.saturating_duration_since(s.updated) <= max_idle);
            !list.is_empty()
        });
        let mut series: Vec<&Series> = map.values().flatten().collect();
        if series.is_empty() {
            return;
        }
        series.sort_by(|a, b| a.labels.cmp(&b.labels));
        let name = &self.name;
        let kind = match self.kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram(_) => "histogram",
        };
        let _ = writeln!(out, "# HELP {name} {}", escape_help(&help));
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for s in series {
            match &self.kind {
                Kind::Histogram(bounds) => {
                    let mut total = 0;
                    for (i, c) in s.counts.iter().enumerate() {
                        total += c;
                        let le = bounds
                            .get(i)
                            .map_or_else(|| "+Inf".to_owned(), |b| float(*b));
                        out.push_str(name);
                        out.push_str("_bucket");
                        write_labels(out, &s.labels, Some(&le));
                        let _ = writeln!(out, " {total}");
                    }
                    let _ = write!(out, "{name}_sum");
                    write_labels(out, &s.labels, None);
                    let _ = writeln!(out, " {}", float(s.value));
                    let _ = write!(out, "{name}_count");
                    write_labels(out, &s.labels, None);
                    let _ = writeln!(out, " {total}");
                }
                _ => {
                    out.push_str(name);
                    write_labels(out, &s.labels, None);
                    let _ = writeln!(out, " {}", float(s.value));
                }
            }
        }
    }
}

/// A sample value or `le` bound as Prometheus writes it.
fn float(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        v.to_string()
    }
}

fn escape_help(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

fn write_labels(out: &mut String, labels: &[(Box<str>, Box<str>)], le: Option<&str>) {
    if labels.is_empty() && le.is_none() {
        return;
    }
    out.push('{');
    let pairs = labels
        .iter()
        .map(|(k, v)| (&**k, &**v))
        .chain(le.map(|le| ("le", le)));
    for (i, (k, v)) in pairs.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(k);
        out.push_str("=\"");
        for c in v.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push('}');
}

/// The families by name. Cloning shares them.
#[derive(Clone, Default)]
pub(crate) struct Registry {
    families: Arc<Mutex<BTreeMap<String, Arc<Family>>>>,
}

impl Registry {
    /// The family `name`: the registered one if it has the same kind and
    /// buckets (a reload keeps its values; stages of several targets share
    /// it), taking `help` and `max_idle` as the latest; otherwise a new one
    /// that replaces it.
    pub(crate) fn family(
        &self,
        name: &str,
        help: &str,
        kind: Kind,
        max_idle: Duration,
    ) -> Arc<Family> {
        let mut families = lock(&self.families);
        if let Some(f) = families.get(name) {
            if f.kind == kind {
                *lock(&f.meta) = (help.to_owned(), max_idle);
                return Arc::clone(f);
            }
        }
        let f = Arc::new(Family {
            name: name.to_owned(),
            kind,
            meta: Mutex::new((help.to_owned(), max_idle)),
            series: Mutex::default(),
        });
        families.insert(name.to_owned(), Arc::clone(&f));
        f
    }

    /// Appends every family with a live series to `out`, dropping idle
    /// series first.
    pub(crate) fn render_at(&self, out: &mut String, now: Instant) {
        let families: Vec<Arc<Family>> = lock(&self.families).values().cloned().collect();
        for f in families {
            f.render(out, now);
        }
    }
}

static GLOBAL: LazyLock<Registry> = LazyLock::new(Registry::default);

#[cfg(test)]
thread_local! {
    static LOCAL: std::cell::RefCell<Option<Registry>> = const { std::cell::RefCell::new(None) };
}

/// The registry stages register in: the process-wide one (in unit tests,
/// the one set by [`with_local`] on this thread).
pub(crate) fn current() -> Registry {
    #[cfg(test)]
    if let Some(r) = LOCAL.with(|l| l.borrow().clone()) {
        return r;
    }
    GLOBAL.clone()
}

/// Runs `f` with `r` as this thread's registry.
#[cfg(test)]
pub(crate) fn with_local<T>(r: &Registry, f: impl FnOnce() -> T) -> T {
    LOCAL.with(|l| *l.borrow_mut() = Some(r.clone()));
    let out = f();
    LOCAL.with(|l| *l.borrow_mut() = None);
    out
}

/// Appends the `metrics` stages' families, in the Prometheus text format,
/// to a `/metrics` body. Series idle for longer than their family's
/// `max_idle_duration` are removed first.
pub fn render(out: &mut String) {
    GLOBAL.render_at(out, Instant::now());
}
