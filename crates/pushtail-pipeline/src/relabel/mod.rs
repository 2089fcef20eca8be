//! Prometheus relabeling (`relabel_configs`), with Prometheus' semantics
//! and load-time validation messages.
//!
//! Rules are validated and their regexes compiled once in
//! [`RelabelRules::new`]; [`RelabelRules::apply`] edits a label set in place.
//! The receiver caches results per distinct incoming label set, so this
//! module keeps no cache of its own. It must never do I/O.

mod config;
mod expand;
#[cfg(test)]
mod tests;

use md5::{Digest, Md5};
use pushtail_proto::labels::LabelsBuilder;
use regex::Regex;

pub use config::{RelabelAction, RelabelConfig};

/// Why a relabel rule set was rejected at load time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelabelError {
    /// A rule broke one of Prometheus' validation rules; the message is
    /// Prometheus' own.
    #[error("relabel rule {index}: {message}")]
    Invalid { index: usize, message: String },
    /// A rule's `regex` does not compile.
    #[error("relabel rule {index}: invalid regex {regex:?}: {message}")]
    Regex {
        index: usize,
        regex: String,
        message: String,
    },
}

/// One validated rule.
#[derive(Debug)]
struct Rule {
    cfg: RelabelConfig,
    regex: Regex,
    /// `target_label` or `replacement` hold a `$` reference.
    templated: bool,
    /// `regex` is the default `(.*)`.
    default_regex: bool,
}

/// A validated, compiled list of relabel rules.
#[derive(Debug, Default)]
pub struct RelabelRules {
    rules: Vec<Rule>,
}

impl RelabelRules {
    /// Validates and compiles `configs`, rejecting invalid rules with
    /// Prometheus' messages.
    pub fn new(configs: Vec<RelabelConfig>) -> Result<RelabelRules, RelabelError> {
        let mut rules = Vec::with_capacity(configs.len());
        for (index, cfg) in configs.into_iter().enumerate() {
            cfg.validate()
                .map_err(|message| RelabelError::Invalid { index, message })?;
            let regex = Regex::new(&format!("^(?s:{})$", crate::go::re2::translate(&cfg.regex)))
                .map_err(|e| RelabelError::Regex {
                    index,
                    regex: cfg.regex.clone(),
                    message: e.to_string(),
                })?;
            rules.push(Rule {
                templated: cfg.target_label.contains('$') || cfg.replacement.contains('$'),
                default_regex: cfg.regex == config::DEFAULT_REGEX,
                regex,
                cfg,
            });
        }
        Ok(RelabelRules { rules })
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Applies every rule in order. Returns false when a rule dropped the
    /// set (later rules are not run; `labels` is then unspecified).
    pub fn apply(&self, labels: &mut LabelsBuilder) -> bool {
        let mut value = String::new();
        self.rules.iter().all(|rule| {
            value.clear();
            rule.apply(labels, &mut value)
        })
    }
}

impl Rule {
    fn apply(&self, lb: &mut LabelsBuilder, val: &mut String) -> bool {
        let cfg = &self.cfg;
        if let Some(sources) = &cfg.source_labels {
            for (i, name) in sources.iter().enumerate() {
                if i > 0 {
                    val.push_str(&cfg.separator);
                }
                val.push_str(lb.get(name).unwrap_or(""));
            }
        }
        let val = val.as_str();
        match cfg.action {
            RelabelAction::Drop => return !self.regex.is_match(val),
            RelabelAction::Keep => return self.regex.is_match(val),
            RelabelAction::DropEqual => return lb.get(&cfg.target_label).unwrap_or("") != val,
            RelabelAction::KeepEqual => return lb.get(&cfg.target_label).unwrap_or("") == val,
            RelabelAction::Replace => self.replace(lb, val),
            RelabelAction::Lowercase => lb.set(&cfg.target_label, &val.to_lowercase()),
            RelabelAction::Uppercase => lb.set(&cfg.target_label, &val.to_uppercase()),
            RelabelAction::HashMod => {
                let digest = Md5::digest(val.as_bytes());
                let mut tail = [0u8; 8];
                tail.copy_from_slice(&digest[8..16]);
                let m = u64::from_be_bytes(tail) % cfg.modulus.max(1);
                lb.set(&cfg.target_label, &m.to_string());
            }
            RelabelAction::LabelMap => {
                let snapshot: Vec<(String, String)> = lb
                    .iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect();
                for (name, value) in snapshot {
                    if let Some(caps) = self.regex.captures(&name) {
                        let mut target = String::new();
                        expand::expand(&mut target, &cfg.replacement, &caps);
                        lb.set(&target, &value);
                    }
                }
            }
            RelabelAction::LabelDrop => lb.retain(|name, _| !self.regex.is_match(name)),
            RelabelAction::LabelKeep => lb.retain(|name, _| self.regex.is_match(name)),
        }
        true
    }

    fn replace(&self, lb: &mut LabelsBuilder, val: &str) {
        let cfg = &self.cfg;
        // Prometheus' fast path: a literal set (or delete).
        if val.is_empty() && self.default_regex && !self.templated {
            lb.set(&cfg.target_label, &cfg.replacement);
            return;
        }
        let Some(caps) = self.regex.captures(val) else {
            return;
        };
        let mut target = String::new();
        expand::expand(&mut target, &cfg.target_label, &caps);
        if !pushtail_proto::labels::is_valid_label_name(&target) {
            return;
        }
        let mut res = String::new();
        expand::expand(&mut res, &cfg.replacement, &caps);
        lb.set(&target, &res);
    }
}
