//! The `template` stage: renders a Go template over the extracted map and
//! stores the result under `source` (an empty result deletes the key).
//!
//! The engine ([`Template`], [`Scope`]) is shared with other stages. A
//! template that fails on one entry (a missing value passed to a function)
//! leaves that entry unchanged, as Promtail does.

mod engine;
mod parse;

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value;

use super::{parse_config, BuildCtx, FieldError, Stage};
use crate::entry::{value_to_string, Extracted, StageEntry};

pub(crate) use engine::{Scope, Template};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default)]
    source: String,
    #[serde(default)]
    template: String,
}

struct TemplateStage {
    source: String,
    template: Template,
    uses_entry: bool,
}

pub(crate) fn build(
    cfg: &serde_yaml::Value,
    _ctx: &BuildCtx,
) -> Result<Box<dyn Stage>, FieldError> {
    let cfg: Config = parse_config(cfg)?;
    if cfg.source.is_empty() {
        return Err(FieldError::field(
            "source",
            "template source value is required",
        ));
    }
    let template = Template::parse(&cfg.template).map_err(|e| FieldError::field("template", e))?;
    Ok(Box::new(TemplateStage {
        source: cfg.source,
        uses_entry: template.uses_field("Entry"),
        template,
    }))
}

/// An extracted value as template text (Promtail's `getString`).
pub(crate) fn value_text(v: &Value) -> Option<Cow<'_, str>> {
    match v {
        Value::String(s) => Some(Cow::Borrowed(s)),
        other => value_to_string(other).map(Cow::Owned),
    }
}

/// The data Promtail gives the template: extracted values, `.Value` (the
/// source's value) and `.Entry` (the line).
struct StageScope<'a> {
    extracted: &'a Extracted,
    source: &'a str,
    entry: Option<&'a str>,
}

impl Scope for StageScope<'_> {
    fn get(&self, name: &str) -> Option<Cow<'_, str>> {
        match name {
            "Entry" if self.entry.is_some() => self.entry.map(Cow::Borrowed),
            "Value" => self
                .extracted
                .get(self.source)
                .or_else(|| self.extracted.get("Value"))
                .and_then(value_text),
            _ => self.extracted.get(name).and_then(value_text),
        }
    }
}

impl Stage for TemplateStage {
    fn process(&self, e: &mut StageEntry) {
        let line = self.uses_entry.then(|| e.line().into_owned());
        let mut out = String::new();
        let scope = StageScope {
            extracted: e.extracted(),
            source: &self.source,
            entry: line.as_deref(),
        };
        if self.template.render(&scope, &mut out).is_err() {
            return;
        }
        let extracted = e.extracted_mut();
        if out.is_empty() {
            extracted.remove(&self.source);
        } else {
            extracted.insert(self.source.clone(), Value::String(out));
        }
    }
}

#[cfg(test)]
mod tests;
