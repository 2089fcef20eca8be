//! The public face of the stages: [`Pipeline`], built once from a target's
//! `pipeline_stages` and shared by every request of that target.
//!
//! It converts entries to and from the stages' working form and never does
//! I/O, except that building a `geoip` stage reads its database file.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pushtail_proto::labels::LabelSet;
use pushtail_proto::model::Entry;
use pushtail_proto::tenant::TenantId;

use crate::config::StageConfig;
use crate::entry::StageEntry;
use crate::inspect::Inspector;
use crate::stages::limit::Limit;
use crate::stages::{Stage, StageList};

/// A `pipeline_stages` config error found while building (what types alone
/// cannot check: regexes, selectors, templates, ranges), naming the stage's
/// place, type and field. Shape and type errors are the deserialiser's
/// (see [`crate::StageConfig`]).
#[derive(Debug, thiserror::Error)]
pub enum StageConfigError {
    #[error("{path} ({stage}): field {field:?}: {reason}")]
    Field {
        path: String,
        stage: String,
        field: String,
        reason: String,
    },
    #[error("{path} ({stage}): {reason}")]
    Stage {
        path: String,
        stage: String,
        reason: String,
    },
}

/// How long `limit` (with `drop: false`) may hold a push back unless
/// [`Pipeline::with_max_delay`] says otherwise: the default `push_timeout`.
pub(crate) const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(5);

/// What rate limiting asks of the caller before it hands a push's entries
/// on: Promtail's `limit` stage with `drop: false` blocks until a token is
/// free; here the stage reserves the token and the caller waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[must_use]
pub enum Pace {
    /// Nothing to wait for.
    #[default]
    Now,
    /// Hand the entries on no earlier than this.
    NotBefore(Instant),
    /// A token would only be free after the pipeline's maximum delay: refuse
    /// the push (503), as nothing of it may be taken. No token was reserved
    /// for the entry that found this.
    Refuse,
}

impl Pace {
    /// The stricter of two: a refusal wins, then the later instant.
    pub fn and(self, other: Pace) -> Pace {
        match (self, other) {
            (Pace::Refuse, _) | (_, Pace::Refuse) => Pace::Refuse,
            (Pace::NotBefore(a), Pace::NotBefore(b)) => Pace::NotBefore(a.max(b)),
            (Pace::NotBefore(a), Pace::Now) | (Pace::Now, Pace::NotBefore(a)) => Pace::NotBefore(a),
            (Pace::Now, Pace::Now) => Pace::Now,
        }
    }
}

/// One entry going into or coming out of a pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineEntry {
    pub labels: LabelSet,
    pub entry: Entry,
    pub tenant: Option<TenantId>,
}

/// A built `pipeline_stages` list. `Send + Sync`; stateful stages keep
/// their state behind a `Mutex`.
#[derive(Default)]
pub struct Pipeline {
    stages: StageList,
    /// `-inspect`: where per-stage changes go; `None` runs the plain path.
    inspector: Option<Inspector>,
    /// The longest a `limit` stage may hold a push back.
    max_delay: Duration,
    /// `limits_config.readline_*`, after the stages.
    readline: Option<ReadlineLimit>,
}

/// Promtail's `limits_config` readline limit (`readline_rate`,
/// `readline_burst`, `readline_rate_drop`): one token bucket shared by
/// every target's pipeline, taken by each entry its stages let through.
/// Over the limit an entry is dropped (`global_rate_limiter_drop`) or, as
/// with a `limit` stage without `drop`, its push is held until the token
/// is due (at most the pipeline's maximum delay, else a 503).
#[derive(Clone)]
pub struct ReadlineLimit(Arc<Limit>);

impl ReadlineLimit {
    /// `None` when `rate` or `burst` is not positive.
    pub fn new(rate: f64, burst: i64, drop: bool) -> Option<ReadlineLimit> {
        Limit::readline(rate, burst, drop).map(|l| ReadlineLimit(Arc::new(l)))
    }

    /// Takes a token for `e` unless a stage dropped it.
    fn apply(&self, e: &mut StageEntry) {
        if !e.is_dropped() {
            self.0.process(e);
        }
    }
}

impl std::fmt::Debug for ReadlineLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadlineLimit").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline").finish_non_exhaustive()
    }
}

impl Pipeline {
    /// Builds the stages of a target's `pipeline_stages`.
    pub fn new(stages: &[StageConfig]) -> Result<Pipeline, StageConfigError> {
        Ok(Pipeline {
            stages: StageList::build("pipeline_stages", stages)?,
            inspector: None,
            max_delay: DEFAULT_MAX_DELAY,
            readline: None,
        })
    }

    /// Applies the agent-wide readline limit after the stages.
    pub fn with_readline_limit(mut self, limit: ReadlineLimit) -> Pipeline {
        self.readline = Some(limit);
        self
    }

    /// Sets how long a `limit` stage with `drop: false` may hold a push
    /// back (the server's `push_timeout`); a push that would wait longer
    /// gets [`Pace::Refuse`].
    pub fn with_max_delay(mut self, max_delay: Duration) -> Pipeline {
        self.max_delay = max_delay;
        self
    }

    /// Turns on `-inspect`: for every entry, what each stage changed is
    /// written to `inspector` (one call per entry). Without it, entries run
    /// the plain path, which does no inspection work at all.
    pub fn with_inspector(mut self, inspector: Inspector) -> Pipeline {
        self.inspector = Some(inspector);
        self
    }

    /// A pipeline with no stages.
    pub fn empty() -> Pipeline {
        Pipeline::default()
    }

    /// No stages and no readline limit: entries pass unchanged.
    pub fn is_empty(&self) -> bool {
        self.stages.is_empty() && self.readline.is_none()
    }

    /// The number of top-level stages (a `match` counts as one).
    pub fn len(&self) -> usize {
        self.stages.len()
    }

    /// Runs every stage on one entry; pushes 0..n results (dropped: 0;
    /// multiline may hold entries back and release them later). The
    /// [`Pace`] says when the caller may hand the results on (fold a
    /// push's with [`Pace::and`]).
    pub fn process(&self, input: PipelineEntry, out: &mut Vec<PipelineEntry>) -> Pace {
        let mut e = StageEntry::new(input.labels, input.entry, input.tenant);
        e.max_delay = self.max_delay;
        if let Some(inspector) = &self.inspector {
            let mut report = String::new();
            let mut done = Vec::new();
            let pace = self.stages.run_inspected(e, &mut done, &mut report);
            inspector(&report);
            return self.finish_all(done, pace, out);
        }
        if !self.stages.buffers() {
            // The common case: one entry in, at most one out, no Vec.
            self.stages.run_in_place(&mut e);
            if let Some(limit) = &self.readline {
                limit.apply(&mut e);
            }
            let pace = e.pace;
            match &e.dropped {
                Some(reason) => crate::telemetry::count_dropped(reason),
                None => out.push(finish(e)),
            }
            return pace;
        }
        let mut done = Vec::new();
        let pace = self.stages.run(e, &mut done);
        self.finish_all(done, pace, out)
    }

    /// Hands on what the stages let out, through the readline limit when
    /// there is one; returns `pace` joined with the limit's.
    fn finish_all(
        &self,
        done: Vec<StageEntry>,
        mut pace: Pace,
        out: &mut Vec<PipelineEntry>,
    ) -> Pace {
        let Some(limit) = &self.readline else {
            out.extend(done.into_iter().map(finish));
            return pace;
        };
        for mut e in done {
            limit.apply(&mut e);
            pace = pace.and(e.pace);
            match &e.dropped {
                Some(reason) => crate::telemetry::count_dropped(reason),
                None => out.push(finish(e)),
            }
        }
        pace
    }

    /// Releases entries held by time-based stages (multiline
    /// `max_wait_time`) whose deadline passed `now_ns`; with `force`,
    /// releases everything (shutdown).
    pub fn flush(&self, now_ns: i64, force: bool, out: &mut Vec<PipelineEntry>) {
        let mut done = Vec::new();
        match &self.inspector {
            Some(inspector) => {
                let mut report = String::new();
                self.stages
                    .flush(now_ns, force, &mut done, Some(&mut report));
                if !report.is_empty() {
                    inspector(&report);
                }
            }
            None => self.stages.flush(now_ns, force, &mut done, None),
        }
        // Released entries have no push to hold: a readline limit without
        // drop takes their tokens and lets them through.
        let _released = self.finish_all(done, Pace::Now, out);
    }
}

fn finish(mut e: StageEntry) -> PipelineEntry {
    let labels = e.finish_labels();
    let line = e.finish_line();
    PipelineEntry {
        labels,
        entry: Entry {
            timestamp_ns: e.timestamp_ns,
            line,
            structured_metadata: std::mem::take(&mut e.metadata),
        },
        tenant: e.tenant.take(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::testing::{config_error, pipeline, render, run};

    #[test]
    fn pipeline_is_shareable() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Pipeline>();
        assert!(Pipeline::empty().is_empty());
    }

    #[test]
    fn stage_errors_name_index_type_and_field() {
        for (yaml, want) in [
            (
                "- static_labels: {a: b}\n- json: {}",
                r#"pipeline_stages[1] (json): field "expressions": JMES expression is required"#,
            ),
            (
                "- non_indexed_labels: {}",
                "pipeline_stages[0] (structured_metadata): at least one label source is required",
            ),
            (
                "- match: {selector: '{a=\"b\"}', stages: [{regex: {expression: '('}}]}",
                r#"pipeline_stages[0].stages[0] (regex): field "expression": invalid regex"#,
            ),
        ] {
            let got = config_error(yaml);
            assert!(got.starts_with(want), "{yaml}: {got}");
        }
    }

    #[test]
    fn inspector_sees_every_stage_and_results_are_unchanged() {
        let yaml = "- regex: {expression: 'level=(?P<level>\\w+) msg=(?P<msg>.*)'}\n- labels: {level: ''}\n- output: {source: msg}\n- drop: {expression: nomatch}\n- drop: {expression: bye}";
        let plain = pipeline(yaml);
        let reports = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let sink = std::sync::Arc::clone(&reports);
        let inspected = pipeline(yaml).with_inspector(std::sync::Arc::new(move |r: &str| {
            sink.lock().unwrap().push(r.to_owned());
        }));
        for line in ["level=info msg=hi", "level=warn msg=bye"] {
            assert_eq!(
                render(&run(&inspected, &[("app", "a")], line)),
                render(&run(&plain, &[("app", "a")], line)),
                "{line}"
            );
        }
        let got = reports.lock().unwrap().clone();
        assert_eq!(
            got,
            [
                "[inspect: regex stage]:\n\textracted[\"level\"]: +\"info\"\n\textracted[\"msg\"]: +\"hi\"\n\
                 [inspect: labels stage]:\n\tlabels[\"level\"]: +\"info\"\n\
                 [inspect: output stage]:\n\tline: -\"level=info msg=hi\" +\"hi\"\n\
                 [inspect: drop stage]: none\n\
                 [inspect: drop stage]: none\n",
                "[inspect: regex stage]:\n\textracted[\"level\"]: +\"warn\"\n\textracted[\"msg\"]: +\"bye\"\n\
                 [inspect: labels stage]:\n\tlabels[\"level\"]: +\"warn\"\n\
                 [inspect: output stage]:\n\tline: -\"level=warn msg=bye\" +\"bye\"\n\
                 [inspect: drop stage]: none\n\
                 [inspect: drop stage]:\n\tdropped: reason \"drop_stage\"\n",
            ]
        );
    }

    #[test]
    fn drops_and_untouched_entries() {
        let p = pipeline("- json: {expressions: {a: ''}, drop_malformed: true}");
        assert_eq!(render(&run(&p, &[], "nope")), "dropped");
        let out = run(&p, &[("x", "1")], r#"{"a":1}"#);
        assert_eq!(render(&out), r#"{x="1"} {"a":1}"#);
    }
}
