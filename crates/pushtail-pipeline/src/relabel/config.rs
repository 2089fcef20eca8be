//! `relabel_configs` entries as written in YAML, and their load-time
//! validation with Prometheus' messages. No I/O.

use std::fmt;

use serde::{Deserialize, Deserializer};

/// A relabeling action; names are case-insensitive in YAML.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RelabelAction {
    #[default]
    Replace,
    Keep,
    Drop,
    KeepEqual,
    DropEqual,
    HashMod,
    LabelMap,
    LabelDrop,
    LabelKeep,
    Lowercase,
    Uppercase,
}

impl RelabelAction {
    fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "replace" => RelabelAction::Replace,
            "keep" => RelabelAction::Keep,
            "drop" => RelabelAction::Drop,
            "keepequal" => RelabelAction::KeepEqual,
            "dropequal" => RelabelAction::DropEqual,
            "hashmod" => RelabelAction::HashMod,
            "labelmap" => RelabelAction::LabelMap,
            "labeldrop" => RelabelAction::LabelDrop,
            "labelkeep" => RelabelAction::LabelKeep,
            "lowercase" => RelabelAction::Lowercase,
            "uppercase" => RelabelAction::Uppercase,
            _ => return None,
        })
    }

    /// The Prometheus spelling, as used in its messages.
    pub fn as_str(self) -> &'static str {
        match self {
            RelabelAction::Replace => "replace",
            RelabelAction::Keep => "keep",
            RelabelAction::Drop => "drop",
            RelabelAction::KeepEqual => "keepequal",
            RelabelAction::DropEqual => "dropequal",
            RelabelAction::HashMod => "hashmod",
            RelabelAction::LabelMap => "labelmap",
            RelabelAction::LabelDrop => "labeldrop",
            RelabelAction::LabelKeep => "labelkeep",
            RelabelAction::Lowercase => "lowercase",
            RelabelAction::Uppercase => "uppercase",
        }
    }
}

impl fmt::Display for RelabelAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for RelabelAction {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        RelabelAction::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown relabel action {s:?}")))
    }
}

pub(crate) const DEFAULT_SEPARATOR: &str = ";";
pub(crate) const DEFAULT_REGEX: &str = "(.*)";
pub(crate) const DEFAULT_REPLACEMENT: &str = "$1";

fn default_separator() -> String {
    DEFAULT_SEPARATOR.to_owned()
}
fn default_regex() -> String {
    DEFAULT_REGEX.to_owned()
}
fn default_replacement() -> String {
    DEFAULT_REPLACEMENT.to_owned()
}

/// One Prometheus `relabel_config`. Fields not given take Prometheus'
/// defaults.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelabelConfig {
    /// Labels whose values are joined with `separator`; a missing label
    /// counts as empty. `None` when the key is absent.
    #[serde(default)]
    pub source_labels: Option<Vec<String>>,
    #[serde(default = "default_separator")]
    pub separator: String,
    #[serde(default)]
    pub target_label: String,
    /// An RE2 regex, always anchored as `^(?s:regex)$`.
    #[serde(default = "default_regex")]
    pub regex: String,
    #[serde(default)]
    pub modulus: u64,
    #[serde(default = "default_replacement")]
    pub replacement: String,
    #[serde(default)]
    pub action: RelabelAction,
}

impl Default for RelabelConfig {
    fn default() -> Self {
        RelabelConfig {
            source_labels: None,
            separator: default_separator(),
            target_label: String::new(),
            regex: default_regex(),
            modulus: 0,
            replacement: default_replacement(),
            action: RelabelAction::Replace,
        }
    }
}

/// True when `s` is a valid label name or a template of one
/// (Prometheus' `relabelTarget`: `^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$`).
fn is_valid_target_template(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() {
        return false;
    }
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    // Every group starts with a letter/underscore or a `$` reference;
    // digits may follow anything that started a group.
    let mut i = 0;
    let mut started = false;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_alphabetic() || c == b'_' {
            started = true;
            i += 1;
        } else if c == b'$' {
            i += 1;
            if i < b.len() && b[i] == b'{' {
                let start = i + 1;
                let mut j = start;
                while j < b.len() && word(b[j]) {
                    j += 1;
                }
                if j == start || j >= b.len() || b[j] != b'}' {
                    return false;
                }
                i = j + 1;
            } else {
                let start = i;
                while i < b.len() && word(b[i]) {
                    i += 1;
                }
                if i == start {
                    return false;
                }
            }
            started = true;
        } else if c.is_ascii_digit() && started {
            i += 1;
        } else {
            return false;
        }
    }
    true
}

impl RelabelConfig {
    /// Prometheus' `Config.Validate`, message for message.
    pub(crate) fn validate(&self) -> Result<(), String> {
        use pushtail_proto::labels::is_valid_label_name;
        use RelabelAction as A;
        let act = self.action;
        let target = self.target_label.as_str();
        if self.modulus == 0 && act == A::HashMod {
            return Err("relabel configuration for hashmod requires non-zero modulus".into());
        }
        let needs_target = matches!(
            act,
            A::Replace | A::HashMod | A::Lowercase | A::Uppercase | A::KeepEqual | A::DropEqual
        );
        if needs_target && target.is_empty() {
            return Err(format!(
                "relabel configuration for {act} action requires 'target_label' value"
            ));
        }
        if act == A::Replace {
            let ok = if target.contains('$') {
                is_valid_target_template(target)
            } else {
                is_valid_label_name(target)
            };
            if !ok {
                return Err(format!(
                    "{target:?} is invalid 'target_label' for {act} action"
                ));
            }
        }
        let case_or_equal = matches!(
            act,
            A::Lowercase | A::Uppercase | A::KeepEqual | A::DropEqual
        );
        if case_or_equal && !is_valid_label_name(target) {
            return Err(format!(
                "{target:?} is invalid 'target_label' for {act} action"
            ));
        }
        if case_or_equal && self.replacement != DEFAULT_REPLACEMENT {
            return Err(format!("'replacement' can not be set for {act} action"));
        }
        if act == A::LabelMap && !is_valid_target_template(&self.replacement) {
            return Err(format!(
                "{:?} is invalid 'replacement' for {act} action",
                self.replacement
            ));
        }
        if act == A::HashMod && !is_valid_label_name(target) {
            return Err(format!(
                "{target:?} is invalid 'target_label' for {act} action"
            ));
        }
        if matches!(act, A::KeepEqual | A::DropEqual)
            && (self.regex != DEFAULT_REGEX
                || self.modulus != 0
                || self.separator != DEFAULT_SEPARATOR
                || self.replacement != DEFAULT_REPLACEMENT)
        {
            return Err(format!(
                "{act} action requires only 'source_labels' and `target_label`, and no other fields"
            ));
        }
        if matches!(act, A::LabelDrop | A::LabelKeep)
            && (self.source_labels.is_some()
                || !target.is_empty()
                || self.modulus != 0
                || self.separator != DEFAULT_SEPARATOR
                || self.replacement != DEFAULT_REPLACEMENT)
        {
            return Err(format!(
                "{act} action requires only 'regex', and no other fields"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_templates() {
        for (s, ok) in [
            ("a", true),
            ("${1}", true),
            ("$1", true),
            ("bar_${1}", true),
            ("a${1}b2", true),
            ("$name", true),
            ("", false),
            ("1a", false),
            ("a-b", false),
            ("${}", false),
            ("${1", false),
            ("$", false),
        ] {
            assert_eq!(is_valid_target_template(s), ok, "{s:?}");
        }
    }
}
