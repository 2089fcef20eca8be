//! The stage framework: the [`Stage`] trait, config helpers, building a
//! stage list from its typed config ([`StageConfig`]), and running entries
//! through it.
//!
//! # Adding a stage (the convention)
//!
//! 1. Create `src/stages/<type>.rs` with the stage's config struct,
//!    `pub struct <Type>Config`, deriving `Deserialize, Debug, Clone`
//!    (fields `#[serde(default)]` unless Promtail requires them; never
//!    `deny_unknown_fields`: Promtail ignores unknown keys inside a stage,
//!    and the binary collects them as warnings through `serde_ignored`).
//!    Deserialising checks types only; the same file exposes
//!    `pub(crate) fn build(cfg: &<Type>Config, ctx: &BuildCtx) -> Result<Box<dyn Stage>, FieldError>`,
//!    which validates what types cannot (regexes, selectors, templates,
//!    ranges) and reports problems with [`FieldError::field`] (names the
//!    YAML field) or [`FieldError::new`] (whole stage). A nested stage list
//!    is a `Vec<StageConfig>` field, built with [`BuildCtx::nested`], which
//!    keeps the error path (`pipeline_stages[1].stages[0]`).
//! 2. Declare `pub(crate) mod <type>;` below; in `src/config.rs` add a
//!    [`StageConfig`] variant, its name in `STAGE_TYPES`, its arm in the
//!    deserialiser's type-name `match` and in `StageConfig::type_name`; add
//!    its arm to [`build_by_type`]. The compiler points at the `match`es on
//!    the enum that miss the variant; the config tests check that every
//!    name in `STAGE_TYPES` deserialises.
//! 3. Implement [`Stage::process`]: edit the [`StageEntry`] in place. To
//!    drop, call `e.drop_with(reason)`; the runner stops, counts the drop in
//!    `logentry_dropped_lines_total{reason}` and emits nothing. A failure on
//!    one entry (unparsable input) must leave the entry as Promtail would
//!    and return normally; stages never panic and never stop the pipeline.
//! 4. Stages that hold entries back (multiline) return `true` from
//!    [`Stage::buffers`] and implement [`Stage::process_owned`] and
//!    [`Stage::flush`]; entries they release continue with the next stage.
//! 5. Stateful stages use interior mutability (`Mutex`): a stage is shared
//!    (`Send + Sync`) by every request of a target.
//!
//! Stages never do I/O and never block beyond a short `Mutex`; the one
//! exception is `geoip`, which reads its database file once, while its
//! config is built.

use std::fmt;

use crate::config::StageConfig;
use crate::entry::StageEntry;
use crate::inspect::{render_diff, render_note, Snapshot};
use crate::pipeline::{Pace, StageConfigError};
use crate::telemetry;

pub(crate) mod cri;
pub(crate) mod decolorize;
pub(crate) mod docker;
pub(crate) mod drop;
pub(crate) mod eventlogmessage;
pub(crate) mod geoip;
pub(crate) mod json;
pub(crate) mod labeldrop;
pub(crate) mod labels;
pub(crate) mod limit;
pub(crate) mod logfmt;
pub(crate) mod matcher;
pub(crate) mod metrics;
pub(crate) mod multiline;
pub(crate) mod output;
pub(crate) mod pack;
pub(crate) mod regex;
pub(crate) mod replace;
pub(crate) mod sampling;
pub(crate) mod static_labels;
pub(crate) mod template;
pub(crate) mod tenant;
pub(crate) mod timestamp;

#[cfg(test)]
mod proptests;
#[cfg(test)]
pub(crate) mod testing;

/// One pipeline stage.
pub(crate) trait Stage: Send + Sync {
    /// Processes one entry in place (or drops it with `e.drop_with`).
    fn process(&self, e: &mut StageEntry);

    /// True for stages that hold entries back and release them later.
    fn buffers(&self) -> bool {
        false
    }

    /// For buffering stages: takes `e` and pushes the entries released now
    /// (0..n, possibly including `e`) into `out`.
    fn process_owned(&self, mut e: StageEntry, out: &mut Vec<StageEntry>) {
        self.process(&mut e);
        out.push(e);
    }

    /// For buffering stages: releases entries whose deadline passed `now_ns`
    /// (all of them with `force`).
    fn flush(&self, _now_ns: i64, _force: bool, _out: &mut Vec<StageEntry>) {}
}

/// A problem in one stage's config; [`build_stage`] adds the stage's index
/// and type.
#[derive(Debug)]
pub(crate) enum FieldError {
    /// The named field is wrong.
    Field { field: String, reason: String },
    /// The stage as a whole is wrong (a missing or contradictory
    /// combination of fields).
    Stage(String),
    /// A nested stage list failed; its error already has the full path.
    Nested(Box<StageConfigError>),
}

impl FieldError {
    pub(crate) fn field(field: &str, reason: impl fmt::Display) -> Self {
        FieldError::Field {
            field: field.to_owned(),
            reason: reason.to_string(),
        }
    }

    pub(crate) fn new(reason: impl fmt::Display) -> Self {
        FieldError::Stage(reason.to_string())
    }
}

/// Validates a parsing stage's optional `source`: absent means the line,
/// present must name an extracted value.
pub(crate) fn check_source(source: &Option<String>) -> Result<(), FieldError> {
    if source.as_deref() == Some("") {
        return Err(FieldError::field("source", "empty source"));
    }
    Ok(())
}

/// Compiles a stage regex: unanchored, Go's RE2 syntax (see [`crate::go::re2`]).
pub(crate) fn compile_regex(field: &str, re: &str) -> Result<::regex::Regex, FieldError> {
    crate::go::re2::compile(re).map_err(|e| FieldError::field(field, format!("invalid regex: {e}")))
}

/// Where a stage sits in the config, for error messages and nested lists.
#[derive(Debug, Clone)]
pub(crate) struct BuildCtx {
    /// e.g. `pipeline_stages[2]` or `pipeline_stages[1].stages[0]`.
    pub(crate) path: String,
}

impl BuildCtx {
    /// Builds a nested stage list found under this stage's `field`.
    pub(crate) fn nested(
        &self,
        field: &str,
        list: &[StageConfig],
    ) -> Result<StageList, FieldError> {
        StageList::build(&format!("{}.{field}", self.path), list)
            .map_err(|e| FieldError::Nested(Box::new(e)))
    }
}

/// Builds one stage from its config; errors name its place and type.
pub(crate) fn build_stage(
    index: usize,
    prefix: &str,
    cfg: &StageConfig,
) -> Result<Box<dyn Stage>, StageConfigError> {
    let ctx = BuildCtx {
        path: format!("{prefix}[{index}]"),
    };
    build_by_type(cfg, &ctx).map_err(|e| match e {
        FieldError::Nested(inner) => *inner,
        FieldError::Field { field, reason } => StageConfigError::Field {
            path: ctx.path.clone(),
            stage: cfg.type_name().to_owned(),
            field,
            reason,
        },
        FieldError::Stage(reason) => StageConfigError::Stage {
            path: ctx.path.clone(),
            stage: cfg.type_name().to_owned(),
            reason,
        },
    })
}

/// Builds a stage from its typed config: one arm per [`StageConfig`]
/// variant, so the compiler checks that every stage type is built.
fn build_by_type(cfg: &StageConfig, ctx: &BuildCtx) -> Result<Box<dyn Stage>, FieldError> {
    match cfg {
        StageConfig::Cri(c) => cri::build(c, ctx),
        StageConfig::Decolorize(c) => decolorize::build(c, ctx),
        StageConfig::Docker(c) => docker::build(c, ctx),
        StageConfig::Drop(c) => drop::build(c, ctx),
        StageConfig::EventLogMessage(c) => eventlogmessage::build(c, ctx),
        StageConfig::Geoip(c) => geoip::build(c, ctx),
        StageConfig::Json(c) => json::build(c, ctx),
        StageConfig::LabelAllow(c) => labeldrop::build_labelallow(c, ctx),
        StageConfig::LabelDrop(c) => labeldrop::build_labeldrop(c, ctx),
        StageConfig::Labels(c) => labels::build_labels(c, ctx),
        StageConfig::Limit(c) => limit::build(c, ctx),
        StageConfig::Logfmt(c) => logfmt::build(c, ctx),
        StageConfig::Match(c) => matcher::build(c, ctx),
        StageConfig::Metrics(c) => metrics::build(c, ctx),
        StageConfig::Multiline(c) => multiline::build(c, ctx),
        StageConfig::Output(c) => output::build(c, ctx),
        StageConfig::Pack(c) => pack::build(c, ctx),
        StageConfig::Regex(c) => regex::build(c, ctx),
        StageConfig::Replace(c) => replace::build(c, ctx),
        StageConfig::Sampling(c) => sampling::build(c, ctx),
        StageConfig::StaticLabels(c) => static_labels::build(c, ctx),
        StageConfig::StructuredMetadata(c) => labels::build_structured_metadata(c, ctx),
        StageConfig::Template(c) => template::build(c, ctx),
        StageConfig::Tenant(c) => tenant::build(c, ctx),
        StageConfig::Timestamp(c) => timestamp::build(c, ctx),
    }
}

/// An ordered list of stages (the pipeline, or a nested list).
#[derive(Default)]
pub(crate) struct StageList {
    stages: Vec<Box<dyn Stage>>,
    /// Each stage's type name, for `-inspect`.
    names: Vec<&'static str>,
}

impl StageList {
    /// Builds from the typed list; `prefix` names the list in errors
    /// (`pipeline_stages`).
    pub(crate) fn build(prefix: &str, list: &[StageConfig]) -> Result<StageList, StageConfigError> {
        let mut stages = Vec::with_capacity(list.len());
        let mut names = Vec::with_capacity(list.len());
        for (index, cfg) in list.iter().enumerate() {
            stages.push(build_stage(index, prefix, cfg)?);
            names.push(cfg.type_name());
        }
        Ok(StageList { stages, names })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.stages.len()
    }

    /// True when some stage holds entries back.
    pub(crate) fn buffers(&self) -> bool {
        self.stages.iter().any(|s| s.buffers())
    }

    /// Runs `e` through every stage from `start`; surviving entries go to
    /// `out`, dropped ones are counted. Returns the [`Pace`] of the entries
    /// that ran (held ones pace the push that releases them).
    pub(crate) fn run(&self, e: StageEntry, out: &mut Vec<StageEntry>) -> Pace {
        self.run_from(0, e, out)
    }

    fn run_from(&self, start: usize, mut e: StageEntry, out: &mut Vec<StageEntry>) -> Pace {
        for (i, stage) in self.stages.iter().enumerate().skip(start) {
            if stage.buffers() {
                let mut pace = e.pace;
                let mut released = Vec::new();
                stage.process_owned(e, &mut released);
                for r in released {
                    if let Some(reason) = &r.dropped {
                        telemetry::count_dropped(reason);
                        pace = pace.and(r.pace);
                    } else {
                        pace = pace.and(self.run_from(i + 1, r, out));
                    }
                }
                return pace;
            }
            stage.process(&mut e);
            if let Some(reason) = &e.dropped {
                telemetry::count_dropped(reason);
                return e.pace;
            }
        }
        let pace = e.pace;
        out.push(e);
        pace
    }

    /// The inspecting twin of [`StageList::run`] (`-inspect`): also appends
    /// what each stage changed to `report`. Kept apart so that the normal
    /// path pays nothing for inspection.
    pub(crate) fn run_inspected(
        &self,
        e: StageEntry,
        out: &mut Vec<StageEntry>,
        report: &mut String,
    ) -> Pace {
        self.run_inspected_from(0, e, out, report)
    }

    fn run_inspected_from(
        &self,
        start: usize,
        mut e: StageEntry,
        out: &mut Vec<StageEntry>,
        report: &mut String,
    ) -> Pace {
        for (i, stage) in self.stages.iter().enumerate().skip(start) {
            let name = self.names.get(i).copied().unwrap_or("unknown");
            let before = Snapshot::of(&e);
            if stage.buffers() {
                let mut pace = e.pace;
                let mut released = Vec::new();
                stage.process_owned(e, &mut released);
                if released.is_empty() {
                    render_note(name, "entry held back", report);
                }
                for r in released {
                    render_diff(name, &before, &Snapshot::of(&r), report);
                    if let Some(reason) = &r.dropped {
                        telemetry::count_dropped(reason);
                        pace = pace.and(r.pace);
                    } else {
                        pace = pace.and(self.run_inspected_from(i + 1, r, out, report));
                    }
                }
                return pace;
            }
            stage.process(&mut e);
            render_diff(name, &before, &Snapshot::of(&e), report);
            if let Some(reason) = &e.dropped {
                telemetry::count_dropped(reason);
                return e.pace;
            }
        }
        let pace = e.pace;
        out.push(e);
        pace
    }

    /// Runs `e` through the stages in place, for nested lists inside a
    /// stage. Buffering stages are run as plain stages here. Drops are
    /// left on `e` (not counted) for the outer runner to count.
    pub(crate) fn run_in_place(&self, e: &mut StageEntry) {
        for stage in &self.stages {
            stage.process(e);
            if e.is_dropped() {
                return;
            }
        }
    }

    /// Releases held entries (see [`Stage::flush`]) through the rest of the
    /// list; with a `report` (`-inspect`), says what the later stages changed.
    pub(crate) fn flush(
        &self,
        now_ns: i64,
        force: bool,
        out: &mut Vec<StageEntry>,
        mut report: Option<&mut String>,
    ) {
        for (i, stage) in self.stages.iter().enumerate() {
            if !stage.buffers() {
                continue;
            }
            let mut released = Vec::new();
            stage.flush(now_ns, force, &mut released);
            for r in released {
                if let Some(reason) = &r.dropped {
                    telemetry::count_dropped(reason);
                } else if let Some(report) = report.as_deref_mut() {
                    let name = self.names.get(i).copied().unwrap_or("unknown");
                    render_note(name, "held entry released", report);
                    // Nothing waits for a flush: a later `limit` only
                    // reserves its token.
                    let _ = self.run_inspected_from(i + 1, r, out, report);
                } else {
                    let _ = self.run_from(i + 1, r, out);
                }
            }
        }
    }
}
