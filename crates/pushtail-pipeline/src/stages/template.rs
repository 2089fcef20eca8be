//! The `template` stage: renders a Go template over the extracted map and
//! stores the result under `source` (an empty result deletes the key).
//!
//! The engine is Go's text/template with Promtail's function map
//! ([`crate::go::template`]), shared with `replace`. A template that fails
//! on one entry (a missing value passed to a function) leaves that entry
//! unchanged, as Promtail does.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value;

use super::{BuildCtx, FieldError, Stage};
use crate::entry::{value_to_string, StageEntry};
use crate::go::template::{self as gotemplate, Template};

/// The `template` stage's config.
#[derive(Debug, Clone, Deserialize)]
pub struct TemplateConfig {
    #[serde(default)]
    source: String,
    #[serde(default)]
    template: String,
}

struct TemplateStage {
    source: String,
    template: Template,
    uses_entry: bool,
    uses_value: bool,
}

pub(crate) fn build(cfg: &TemplateConfig, _ctx: &BuildCtx) -> Result<Box<dyn Stage>, FieldError> {
    if cfg.source.is_empty() {
        return Err(FieldError::field(
            "source",
            "template source value is required",
        ));
    }
    let template = Template::parse(&cfg.template).map_err(|e| FieldError::field("template", e))?;
    Ok(Box::new(TemplateStage {
        source: cfg.source.clone(),
        uses_entry: template.reads_field("Entry"),
        uses_value: template.reads_field("Value"),
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

impl Stage for TemplateStage {
    fn process(&self, e: &mut StageEntry) {
        // Promtail's data: every extracted value as a string, `.Value` (the
        // source's value) and `.Entry` (the line).
        let line = self.uses_entry.then(|| e.line().into_owned());
        let data = {
            // Only the fields the template can read go into its data (all of
            // them when it reads `.` whole): each one costs a copy per entry.
            let extracted = e.extracted();
            let texts: Vec<(&str, Cow<'_, str>)> = extracted
                .iter()
                .filter(|(k, _)| **k == self.source || self.template.reads_field(k))
                .filter_map(|(k, v)| Some((k.as_str(), value_text(v)?)))
                .collect();
            let value = self
                .uses_value
                .then(|| texts.iter().find(|(k, _)| *k == self.source))
                .flatten()
                .map(|(_, v)| v.clone());
            let mut pairs: Vec<(&str, &str)> = texts
                .iter()
                .filter(|(k, _)| self.template.reads_field(k))
                .map(|(k, v)| (*k, &**v))
                .collect();
            if let Some(v) = &value {
                pairs.push(("Value", v));
            }
            if let Some(l) = &line {
                pairs.push(("Entry", l));
            }
            gotemplate::data(pairs)
        };
        let mut out = String::new();
        if self.template.render(&data, &mut out).is_err() {
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
