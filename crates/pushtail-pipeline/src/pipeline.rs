//! The public face of the stages: [`Pipeline`], built once from a target's
//! `pipeline_stages` and shared by every request of that target.
//!
//! It converts entries to and from the stages' working form and never does
//! I/O, except that building a `geoip` stage reads its database file.

use std::time::{Duration, Instant};

use pushtail_proto::labels::LabelSet;
use pushtail_proto::model::Entry;
use pushtail_proto::tenant::TenantId;

use crate::entry::StageEntry;
use crate::inspect::Inspector;
use crate::stages::StageList;

/// A `pipeline_stages` config error, naming the stage's place, type and field.
#[derive(Debug, thiserror::Error)]
pub enum StageConfigError {
    #[error("{path}: a stage must be a map with one key, the stage type")]
    Shape { path: String },
    #[error(
        "{path} ({stage}): unsupported stage type{}; valid types are {}",
        suggestion.map(|s| format!(", did you mean {s:?}?")).unwrap_or_default(),
        crate::stages::STAGE_TYPES.join(", ")
    )]
    UnknownType {
        path: String,
        stage: String,
        /// The closest known type, when one is close.
        suggestion: Option<&'static str>,
    },
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

/// A `pipeline_stages` key that was ignored: Promtail ignores unknown keys
/// inside a stage, so pushtail loads such configs and warns instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StageWarning {
    #[error("{path} ({stage}): unknown key {key:?} ignored")]
    UnknownKey {
        path: String,
        stage: String,
        key: String,
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
    warnings: Vec<StageWarning>,
    /// `-inspect`: where per-stage changes go; `None` runs the plain path.
    inspector: Option<Inspector>,
    /// The longest a `limit` stage may hold a push back.
    max_delay: Duration,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline").finish_non_exhaustive()
    }
}

impl Pipeline {
    /// Builds the stages from the YAML list under `pipeline_stages`.
    pub fn new(stages: &[serde_yaml::Value]) -> Result<Pipeline, StageConfigError> {
        crate::stages::take_warnings();
        let stages = StageList::build("pipeline_stages", stages);
        let warnings = crate::stages::take_warnings();
        Ok(Pipeline {
            stages: stages?,
            warnings,
            inspector: None,
            max_delay: DEFAULT_MAX_DELAY,
        })
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

    /// What loading the config ignored (unknown keys), for the caller to log.
    pub fn warnings(&self) -> &[StageWarning] {
        &self.warnings
    }

    /// A pipeline with no stages.
    pub fn empty() -> Pipeline {
        Pipeline::default()
    }

    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
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
            out.extend(done.into_iter().map(finish));
            return pace;
        }
        if !self.stages.buffers() {
            // The common case: one entry in, at most one out, no Vec.
            self.stages.run_in_place(&mut e);
            let pace = e.pace;
            match &e.dropped {
                Some(reason) => crate::telemetry::count_dropped(reason),
                None => out.push(finish(e)),
            }
            return pace;
        }
        let mut done = Vec::new();
        let pace = self.stages.run(e, &mut done);
        out.extend(done.into_iter().map(finish));
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
        out.extend(done.into_iter().map(finish));
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
                "- frobnicate: {}",
                "pipeline_stages[0] (frobnicate): unsupported stage type; valid types are cri, decolorize,",
            ),
            (
                "- static_labels: {a: b}\n- lables: {}",
                "pipeline_stages[1] (lables): unsupported stage type, did you mean \"labels\"?; valid types are cri,",
            ),
            (
                "- {json: {}, regex: {}}",
                "pipeline_stages[0]: a stage must be a map with one key, the stage type",
            ),
            (
                "- just-a-string",
                "pipeline_stages[0]: a stage must be a map with one key, the stage type",
            ),
        ] {
            let got = config_error(yaml);
            assert!(got.starts_with(want), "{yaml}: {got}");
        }
    }

    #[test]
    fn every_listed_stage_type_is_known() {
        for name in crate::stages::STAGE_TYPES {
            let err = Pipeline::new(
                &serde_yaml::from_str::<Vec<serde_yaml::Value>>(&format!("- {name}: {{}}"))
                    .unwrap_or_default(),
            )
            .err();
            assert!(
                !matches!(err, Some(StageConfigError::UnknownType { .. })),
                "{name}"
            );
        }
        let cases = [
            ("lables", Some("labels")),
            ("jsno", Some("json")),
            ("timestmp", Some("timestamp")),
            ("staticlabels", Some("static_labels")),
            ("kubernetes", None),
        ];
        for (typo, want) in cases {
            assert_eq!(crate::stages::closest_stage_type(typo), want, "{typo}");
        }
    }

    #[test]
    fn unknown_keys_are_warnings_naming_key_and_stage() {
        let yaml = "- regex: {expression: a, bogus: 1}\n- match: {selector: '{a=\"b\"}', typo: x, stages: [{output: {source: a, extra: {deep: 1}}}]}\n- json: {expressions: {a: ''}}";
        let v: Vec<serde_yaml::Value> = serde_yaml::from_str(yaml).unwrap();
        let p = Pipeline::new(&v).unwrap();
        let got: Vec<String> = p.warnings().iter().map(ToString::to_string).collect();
        assert_eq!(
            got,
            [
                r#"pipeline_stages[0] (regex): unknown key "bogus" ignored"#,
                r#"pipeline_stages[1].stages[0] (output): unknown key "extra" ignored"#,
                r#"pipeline_stages[1] (match): unknown key "typo" ignored"#,
            ]
        );
        assert!(pipeline("- json: {expressions: {a: ''}}")
            .warnings()
            .is_empty());

        let p = pipeline("- template: {source: a, template: '{{ .Value }}', tmeplate: x}\n- replace: {expression: a, replace: b, sorce: c}");
        let got: Vec<String> = p.warnings().iter().map(ToString::to_string).collect();
        assert_eq!(
            got,
            [
                r#"pipeline_stages[0] (template): unknown key "tmeplate" ignored"#,
                r#"pipeline_stages[1] (replace): unknown key "sorce" ignored"#,
            ]
        );
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
