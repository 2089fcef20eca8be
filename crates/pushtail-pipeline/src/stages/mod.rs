//! The stage framework: the [`Stage`] trait, config helpers, building a
//! stage list from YAML, and running entries through it.
//!
//! # Adding a stage (the convention)
//!
//! 1. Create `src/stages/<type>.rs`. It exposes exactly
//!    `pub(crate) fn build(cfg: &serde_yaml::Value, ctx: &BuildCtx) -> Result<Box<dyn Stage>, FieldError>`.
//!    Parse the config with [`parse_config`] into a serde struct (without
//!    `deny_unknown_fields`: unknown keys become warnings naming the key and
//!    stage, as Promtail ignores them), validate it, and report problems with [`FieldError::field`]
//!    (names the YAML field) or [`FieldError::new`] (whole stage). Nested
//!    stage lists (`match`, `docker`, `cri`) are built with
//!    [`BuildCtx::nested`], which keeps the error path (`pipeline_stages[1].stages[0]`).
//! 2. Add `mod <type>;` below and one arm to the `match` in [`build_stage`]:
//!    `"<type>" => <type>::build(cfg, ctx),`.
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

use std::cell::RefCell;
use std::fmt;

use serde::de::DeserializeOwned;

use crate::entry::StageEntry;
use crate::inspect::{render_diff, render_note, Snapshot};
use crate::pipeline::{Pace, StageConfigError, StageWarning};
use crate::telemetry;

mod cri;
mod decolorize;
mod docker;
mod drop;
mod eventlogmessage;
mod geoip;
mod json;
mod labeldrop;
mod labels;
pub(crate) mod limit;
mod logfmt;
mod matcher;
pub(crate) mod metrics;
mod multiline;
mod output;
mod pack;
mod regex;
mod replace;
mod sampling;
mod static_labels;
mod template;
mod tenant;
mod timestamp;

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
    /// The stage as a whole is wrong (unknown field, wrong shape).
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

thread_local! {
    /// Keys the stage being built ignored (its own, not its nested stages').
    static IGNORED_KEYS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    /// Warnings of the pipeline being built, in config order.
    static WARNINGS: RefCell<Vec<StageWarning>> = const { RefCell::new(Vec::new()) };
}

/// Takes the warnings collected since the last call (by [`build_stage`]).
pub(crate) fn take_warnings() -> Vec<StageWarning> {
    WARNINGS.with(|w| std::mem::take(&mut *w.borrow_mut()))
}

/// Deserialises a stage's config; a YAML null (`docker:`) is an empty map.
/// Unknown keys are collected (see [`take_warnings`]), not refused.
pub(crate) fn parse_config<T: DeserializeOwned>(cfg: &serde_yaml::Value) -> Result<T, FieldError> {
    let empty;
    let cfg = if cfg.is_null() {
        empty = serde_yaml::Value::Mapping(serde_yaml::Mapping::new());
        &empty
    } else {
        cfg
    };
    let mut ignored = Vec::new();
    let parsed = serde_ignored::deserialize(cfg.clone(), |path| ignored.push(path.to_string()))
        .map_err(|e: serde_yaml::Error| FieldError::new(e.to_string()))?;
    IGNORED_KEYS.with(|k| k.borrow_mut().extend(ignored));
    Ok(parsed)
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
        list: &[serde_yaml::Value],
    ) -> Result<StageList, FieldError> {
        StageList::build(&format!("{}.{field}", self.path), list)
            .map_err(|e| FieldError::Nested(Box::new(e)))
    }
}

/// Every stage type [`build_stage`] knows, for the unknown-type error.
pub(crate) const STAGE_TYPES: &[&str] = &[
    "cri",
    "decolorize",
    "docker",
    "drop",
    "eventlogmessage",
    "geoip",
    "json",
    "labelallow",
    "labeldrop",
    "labels",
    "limit",
    "logfmt",
    "match",
    "metrics",
    "multiline",
    "output",
    "pack",
    "regex",
    "replace",
    "sampling",
    "static_labels",
    "structured_metadata",
    "template",
    "tenant",
    "timestamp",
];

/// The known stage type closest to a misspelt one, if any is close.
pub(crate) fn closest_stage_type(name: &str) -> Option<&'static str> {
    STAGE_TYPES
        .iter()
        .map(|known| (strsim::damerau_levenshtein(name, known), *known))
        .filter(|(distance, known)| *distance <= 2.max(known.len() / 3))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, known)| known)
}

/// Builds one stage from its type name and config.
pub(crate) fn build_stage(
    index: usize,
    prefix: &str,
    type_name: &str,
    cfg: &serde_yaml::Value,
) -> Result<Box<dyn Stage>, StageConfigError> {
    let ctx = BuildCtx {
        path: format!("{prefix}[{index}]"),
    };
    // Keep an enclosing stage's ignored keys apart from this stage's.
    let outer = IGNORED_KEYS.with(|k| std::mem::take(&mut *k.borrow_mut()));
    let built = build_by_type(type_name, cfg, &ctx);
    let mine = IGNORED_KEYS.with(|k| std::mem::replace(&mut *k.borrow_mut(), outer));
    WARNINGS.with(|w| {
        w.borrow_mut()
            .extend(mine.into_iter().map(|key| StageWarning::UnknownKey {
                path: ctx.path.clone(),
                stage: type_name.to_owned(),
                key,
            }))
    });
    let built = match built {
        Some(b) => b,
        None => {
            return Err(StageConfigError::UnknownType {
                path: ctx.path,
                stage: type_name.to_owned(),
                suggestion: closest_stage_type(type_name),
            })
        }
    };
    built.map_err(|e| match e {
        FieldError::Nested(inner) => *inner,
        FieldError::Field { field, reason } => StageConfigError::Field {
            path: ctx.path.clone(),
            stage: type_name.to_owned(),
            field,
            reason,
        },
        FieldError::Stage(reason) => StageConfigError::Stage {
            path: ctx.path.clone(),
            stage: type_name.to_owned(),
            reason,
        },
    })
}

/// Builds a stage by its type name; `None` for an unknown type.
fn build_by_type(
    type_name: &str,
    cfg: &serde_yaml::Value,
    ctx: &BuildCtx,
) -> Option<Result<Box<dyn Stage>, FieldError>> {
    let ctx = ctx.clone();
    Some(match type_name {
        "regex" => regex::build(cfg, &ctx),
        "json" => json::build(cfg, &ctx),
        "logfmt" => logfmt::build(cfg, &ctx),
        "replace" => replace::build(cfg, &ctx),
        "labels" => labels::build_labels(cfg, &ctx),
        "structured_metadata" | "non_indexed_labels" => {
            labels::build_structured_metadata(cfg, &ctx)
        }
        "static_labels" => static_labels::build(cfg, &ctx),
        "labeldrop" => labeldrop::build_labeldrop(cfg, &ctx),
        "labelallow" => labeldrop::build_labelallow(cfg, &ctx),
        "tenant" => tenant::build(cfg, &ctx),
        "pack" => pack::build(cfg, &ctx),
        "cri" => cri::build(cfg, &ctx),
        "docker" => docker::build(cfg, &ctx),
        "template" => template::build(cfg, &ctx),
        "output" => output::build(cfg, &ctx),
        "decolorize" => decolorize::build(cfg, &ctx),
        "match" => matcher::build(cfg, &ctx),
        "timestamp" => timestamp::build(cfg, &ctx),
        "drop" => drop::build(cfg, &ctx),
        "limit" => limit::build(cfg, &ctx),
        "sampling" => sampling::build(cfg, &ctx),
        "multiline" => multiline::build(cfg, &ctx),
        "metrics" => metrics::build(cfg, &ctx),
        "eventlogmessage" => eventlogmessage::build(cfg, &ctx),
        "geoip" => geoip::build(cfg, &ctx),
        _ => return None,
    })
}

/// An ordered list of stages (the pipeline, or a nested list).
#[derive(Default)]
pub(crate) struct StageList {
    stages: Vec<Box<dyn Stage>>,
    /// Each stage's type name, for `-inspect`.
    names: Vec<String>,
}

impl StageList {
    /// Builds from the YAML list; `prefix` names the list in errors
    /// (`pipeline_stages`). Each item is a map with exactly one key, the
    /// stage type.
    pub(crate) fn build(
        prefix: &str,
        list: &[serde_yaml::Value],
    ) -> Result<StageList, StageConfigError> {
        let mut stages = Vec::with_capacity(list.len());
        let mut names = Vec::with_capacity(list.len());
        for (index, item) in list.iter().enumerate() {
            let (type_name, cfg) = match item.as_mapping() {
                Some(m) if m.len() == 1 => match m.iter().next() {
                    Some((serde_yaml::Value::String(k), v)) => (k.as_str(), v),
                    _ => {
                        return Err(StageConfigError::Shape {
                            path: format!("{prefix}[{index}]"),
                        })
                    }
                },
                _ => {
                    return Err(StageConfigError::Shape {
                        path: format!("{prefix}[{index}]"),
                    })
                }
            };
            stages.push(build_stage(index, prefix, type_name, cfg)?);
            names.push(type_name.to_owned());
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
            let name = self.names.get(i).map_or("unknown", String::as_str);
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
                    let name = self.names.get(i).map_or("unknown", String::as_str);
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
