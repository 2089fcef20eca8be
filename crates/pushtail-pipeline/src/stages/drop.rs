//! The `drop` stage: drops entries that meet every configured condition
//! (`longer_than`, `older_than`, `source` present, `value`/`expression`
//! matching), counted under `drop_counter_reason` (default `drop_stage`).
//!
//! Conditions combine with AND, as in Promtail. With `source` and a regex,
//! the regex runs on the present sources' values joined by `separator`;
//! without `source`, on the line.

use std::borrow::Cow;
use std::time::{SystemTime, UNIX_EPOCH};

use pushtail_proto::units::{ByteSize, Duration};
use regex::Regex;
use serde::Deserialize;

use super::{compile_regex, BuildCtx, FieldError, Stage};
use crate::entry::{value_to_string, StageEntry};

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Source {
    One(String),
    Many(Vec<String>),
}

/// The `drop` stage's config.
#[derive(Debug, Clone, Deserialize)]
pub struct DropConfig {
    #[serde(default)]
    source: Option<Source>,
    #[serde(default)]
    separator: Option<String>,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    expression: Option<String>,
    #[serde(default)]
    older_than: Option<Duration>,
    #[serde(default)]
    longer_than: Option<ByteSize>,
    #[serde(default)]
    drop_counter_reason: Option<String>,
}

struct Drop {
    sources: Option<Vec<String>>,
    separator: String,
    regex: Option<Regex>,
    older_than_ns: Option<i64>,
    longer_than: Option<usize>,
    reason: Cow<'static, str>,
}

pub(crate) fn build(cfg: &DropConfig, _ctx: &BuildCtx) -> Result<Box<dyn Stage>, FieldError> {
    if cfg.source.is_none()
        && cfg.expression.is_none()
        && cfg.older_than.is_none()
        && cfg.longer_than.is_none()
    {
        return Err(FieldError::new(
            "drop stage config must contain at least one of `source`, `expression`, `older_than` or `longer_than`",
        ));
    }
    if cfg.value.is_some() && cfg.source.is_none() {
        return Err(FieldError::field(
            "value",
            "drop stage config must contain `source` if `value` is specified",
        ));
    }
    if cfg.value.is_some() && cfg.expression.is_some() {
        return Err(FieldError::field(
            "value",
            "`value` and `expression` cannot both be defined at the same time",
        ));
    }
    let regex = match (&cfg.expression, &cfg.value) {
        (Some(expr), _) => Some(compile_regex("expression", expr)?),
        (None, Some(v)) => Some(compile_regex("value", &format!("^{}$", regex::escape(v)))?),
        (None, None) => None,
    };
    let older_than_ns = match cfg.older_than {
        Some(d) => Some(
            i64::try_from(d.get().as_nanos())
                .map_err(|_| FieldError::field("older_than", "duration too large"))?,
        ),
        None => None,
    };
    let reason = match &cfg.drop_counter_reason {
        Some(r) if !r.is_empty() => Cow::Owned(r.clone()),
        _ => Cow::Borrowed("drop_stage"),
    };
    Ok(Box::new(Drop {
        sources: cfg.source.as_ref().map(|s| match s {
            Source::One(s) => vec![s.clone()],
            Source::Many(v) => v.clone(),
        }),
        separator: cfg.separator.clone().unwrap_or_else(|| ";".to_owned()),
        regex,
        older_than_ns,
        longer_than: cfg.longer_than.map(ByteSize::as_usize),
        reason,
    }))
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_nanos()).ok())
        .unwrap_or(i64::MAX)
}

impl Drop {
    fn should_drop(&self, e: &mut StageEntry) -> bool {
        if let Some(max) = self.longer_than {
            if e.line().len() <= max {
                return false;
            }
        }
        if let Some(age) = self.older_than_ns {
            if e.timestamp_ns >= now_ns().saturating_sub(age) {
                return false;
            }
        }
        match (&self.sources, &self.regex) {
            (Some(sources), None) => {
                let extracted = e.extracted();
                sources.iter().all(|s| extracted.contains_key(s))
            }
            (None, Some(re)) => re.is_match(&e.line()),
            (Some(sources), Some(re)) => {
                let extracted = e.extracted();
                let mut joined = String::new();
                let mut first = true;
                for s in sources {
                    let Some(v) = extracted.get(s) else { continue };
                    // A value with no string form: Promtail does not drop.
                    let Some(text) = value_to_string(v) else {
                        return false;
                    };
                    if !first {
                        joined.push_str(&self.separator);
                    }
                    first = false;
                    joined.push_str(&text);
                }
                re.is_match(&joined)
            }
            (None, None) => true,
        }
    }
}

impl Stage for Drop {
    fn process(&self, e: &mut StageEntry) {
        if self.should_drop(e) {
            e.drop_with(self.reason.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::stages::testing::{check_table, config_error};

    #[test]
    fn drop_table() {
        let kept = |labels: &str, line: &str| format!("{labels} {line}");
        type Owned<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str, String);
        let rows: Vec<Owned<'_>> = vec![
            (
                "- drop: {source: app}",
                vec![("app", "a")],
                "x",
                "dropped".into(),
            ),
            (
                "- drop: {source: app}",
                vec![("env", "a")],
                "x",
                kept(r#"{env="a"}"#, "x"),
            ),
            (
                "- drop: {source: [app, env]}",
                vec![("app", "a")],
                "x",
                kept(r#"{app="a"}"#, "x"),
            ),
            (
                "- drop: {source: [app, env]}",
                vec![("app", "a"), ("env", "b")],
                "x",
                "dropped".into(),
            ),
            (
                "- drop: {source: app, value: foo}",
                vec![("app", "foo")],
                "x",
                "dropped".into(),
            ),
            (
                "- drop: {source: app, value: foo}",
                vec![("app", "foobar")],
                "x",
                kept(r#"{app="foobar"}"#, "x"),
            ),
            (
                "- drop: {source: app, value: 'a.b'}",
                vec![("app", "axb")],
                "x",
                kept(r#"{app="axb"}"#, "x"),
            ),
            (
                "- drop: {source: app, expression: 'fo+'}",
                vec![("app", "xfooy")],
                "x",
                "dropped".into(),
            ),
            (
                "- drop: {expression: debug}",
                vec![],
                "level=debug",
                "dropped".into(),
            ),
            (
                "- drop: {expression: debug}",
                vec![],
                "level=info",
                kept("{}", "level=info"),
            ),
            (
                "- drop: {source: [app, env], separator: '|', expression: '^a\\|b$'}",
                vec![("app", "a"), ("env", "b")],
                "x",
                "dropped".into(),
            ),
            (
                "- drop: {source: [app, missing, env], expression: '^a;b$'}",
                vec![("app", "a"), ("env", "b")],
                "x",
                "dropped".into(),
            ),
            (
                "- drop: {longer_than: 4}",
                vec![],
                "12345",
                "dropped".into(),
            ),
            (
                "- drop: {longer_than: 4}",
                vec![],
                "1234",
                kept("{}", "1234"),
            ),
            (
                "- drop: {longer_than: 1KiB}",
                vec![],
                "short",
                kept("{}", "short"),
            ),
            // All conditions must hold.
            (
                "- drop: {longer_than: 4, expression: zzz}",
                vec![],
                "12345",
                kept("{}", "12345"),
            ),
            // Test entries are stamped at 1000ns after the epoch: very old.
            ("- drop: {older_than: 24h}", vec![], "old", "dropped".into()),
            (
                "- drop: {older_than: 24h, source: app}",
                vec![],
                "old",
                kept("{}", "old"),
            ),
        ];
        let table: Vec<_> = rows
            .iter()
            .map(|(y, l, line, want)| (*y, l.as_slice(), *line, want.as_str()))
            .collect();
        check_table(&table);
    }

    #[test]
    fn drop_config_errors() {
        for (yaml, want) in [
            (
                "- drop: {}",
                "pipeline_stages[0] (drop): drop stage config must contain at least one of",
            ),
            (
                "- drop: {value: x, expression: y}",
                "field \"value\": drop stage config must contain `source`",
            ),
            (
                "- drop: {source: a, value: x, expression: y}",
                "cannot both be defined",
            ),
            (
                "- drop: {expression: '('}",
                "field \"expression\": invalid regex",
            ),
            ("- drop: {longer_than: 23QB}", "invalid size"),
            ("- drop: {older_than: soon}", "invalid duration"),
        ] {
            let got = config_error(yaml);
            assert!(got.contains(want), "{yaml}\n got: {got}");
        }
    }
}
