//! The `match` stage: entries whose labels and line match a LogQL selector
//! run the nested `stages` (action `keep`, the default) or are dropped
//! (action `drop`, counted under `drop_counter_reason`, default
//! `match_stage`). Entries that do not match pass through untouched.
//!
//! Matching uses the entry's current labels (not the extracted map), like
//! Promtail. When the nested stages hold entries back (multiline), so does
//! `match`: matching entries go through the nested list's buffering, and
//! its `flush` releases what the nested stages hold.

use std::borrow::Cow;

use serde::Deserialize;

use super::{BuildCtx, FieldError, Stage, StageList};
use crate::config::StageConfig;
use crate::entry::StageEntry;
use crate::logql::{parse_log_selector, LogSelector};

/// The `match` stage's config.
#[derive(Debug, Clone, Deserialize)]
pub struct MatchConfig {
    #[serde(default)]
    selector: String,
    #[serde(default)]
    pub(crate) stages: Option<Vec<StageConfig>>,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    pipeline_name: Option<String>,
    #[serde(default)]
    drop_counter_reason: Option<String>,
}

enum Action {
    Keep(StageList),
    Drop(Cow<'static, str>),
}

struct Match {
    selector: LogSelector,
    action: Action,
}

pub(crate) fn build(cfg: &MatchConfig, ctx: &BuildCtx) -> Result<Box<dyn Stage>, FieldError> {
    if cfg.pipeline_name.as_deref() == Some("") {
        return Err(FieldError::field(
            "pipeline_name",
            "match stage pipeline name can be omitted but cannot be an empty string",
        ));
    }
    if cfg.selector.is_empty() {
        return Err(FieldError::field(
            "selector",
            "selector statement required for match stage",
        ));
    }
    let stages = cfg.stages.as_deref().unwrap_or_default();
    let keep = match cfg.action.as_deref() {
        None | Some("") | Some("keep") => true,
        Some("drop") => false,
        Some(_) => {
            return Err(FieldError::field(
                "action",
                "match stage action should be 'keep' or 'drop'",
            ))
        }
    };
    if keep && stages.is_empty() {
        return Err(FieldError::field(
            "stages",
            "match stage requires at least one additional stage to be defined in '- stages'",
        ));
    }
    if !keep && !stages.is_empty() {
        return Err(FieldError::field(
            "stages",
            "match stage configured to drop entries cannot contains stages",
        ));
    }
    let selector = parse_log_selector(&cfg.selector).map_err(|e| {
        FieldError::field(
            "selector",
            format!("invalid selector syntax for match stage: {e}"),
        )
    })?;
    let action = if keep {
        Action::Keep(ctx.nested("stages", stages)?)
    } else {
        let reason = match &cfg.drop_counter_reason {
            Some(r) if !r.is_empty() => Cow::Owned(r.clone()),
            _ => Cow::Borrowed("match_stage"),
        };
        Action::Drop(reason)
    };
    Ok(Box::new(Match { selector, action }))
}

impl Match {
    fn selects(&self, e: &StageEntry) -> bool {
        self.selector.matches_labels(|name| e.label(name))
            && (self.selector.filters.is_empty() || self.selector.matches_line(e.line().as_bytes()))
    }
}

impl Stage for Match {
    fn process(&self, e: &mut StageEntry) {
        if !self.selects(e) {
            return;
        }
        match &self.action {
            Action::Keep(stages) => stages.run_in_place(e),
            Action::Drop(reason) => e.drop_with(reason.clone()),
        }
    }

    fn buffers(&self) -> bool {
        matches!(&self.action, Action::Keep(stages) if stages.buffers())
    }

    fn process_owned(&self, mut e: StageEntry, out: &mut Vec<StageEntry>) {
        match &self.action {
            // Released entries carry their own pace to the outer runner.
            Action::Keep(stages) if self.selects(&e) => {
                let _ = stages.run(e, out);
            }
            _ => {
                self.process(&mut e);
                out.push(e);
            }
        }
    }

    fn flush(&self, now_ns: i64, force: bool, out: &mut Vec<StageEntry>) {
        if let Action::Keep(stages) = &self.action {
            stages.flush(now_ns, force, out, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::stages::testing::{check_table, config_error};

    #[test]
    fn match_table() {
        let keep = "- match:\n    selector: '{app=\"a\"}'\n    stages:\n    - template: {source: out, template: 'matched {{ .Entry }}'}\n    - output: {source: out}";
        let drop_debug =
            "- match:\n    selector: '{app=~\"a|b\"} |= \"level=debug\"'\n    action: drop";
        let drop_reason = "- match: {selector: '{app=\"a\"} !~ \"keep.*me\"', action: drop, drop_counter_reason: noisy}";
        check_table(&[
            (keep, &[("app", "a")], "x", r#"{app="a"} matched x"#),
            (keep, &[("app", "b")], "x", r#"{app="b"} x"#),
            (keep, &[], "x", "{} x"),
            (drop_debug, &[("app", "a")], "level=debug msg", "dropped"),
            (drop_debug, &[("app", "b")], "level=debug msg", "dropped"),
            (drop_debug, &[("app", "ab")], "level=debug msg", r#"{app="ab"} level=debug msg"#),
            (drop_debug, &[("app", "a")], "level=info msg", r#"{app="a"} level=info msg"#),
            (drop_reason, &[("app", "a")], "noise", "dropped"),
            (drop_reason, &[("app", "a")], "keep me", r#"{app="a"} keep me"#),
            // A drop inside the nested stages drops the entry.
            (
                "- match:\n    selector: '{app=\"a\"}'\n    stages:\n    - match: {selector: '{app=\"a\"} |= \"x\"', action: drop}",
                &[("app", "a")],
                "x",
                "dropped",
            ),
        ]);
    }

    #[test]
    fn match_config_errors() {
        let rows = [
            ("- match: {action: drop}", "pipeline_stages[0] (match): field \"selector\": selector statement required for match stage"),
            ("- match: {selector: '{a=\"b\"}'}", "field \"stages\": match stage requires at least one additional stage"),
            ("- match: {selector: '{a=\"b\"}', action: drop, stages: [{output: {source: a}}]}", "cannot contains stages"),
            ("- match: {selector: '{a=\"b\"}', action: nope}", "field \"action\": match stage action should be 'keep' or 'drop'"),
            ("- match: {selector: '{}', action: drop}", "field \"selector\": invalid selector syntax"),
            ("- match: {selector: '{a=\"b\"} | json', action: drop}", "field \"selector\": invalid selector syntax"),
            ("- match: {selector: '{a=\"b\"}', action: drop, pipeline_name: ''}", "field \"pipeline_name\""),
            ("- match: {selector: '{a=\"b\"}', stages: [{output: {}}]}", "pipeline_stages[0].stages[0] (output): field \"source\""),
        ];
        for (yaml, want) in rows {
            let got = config_error(yaml);
            assert!(got.contains(want), "{yaml}\n got: {got}\nwant: {want}");
        }
    }
}
