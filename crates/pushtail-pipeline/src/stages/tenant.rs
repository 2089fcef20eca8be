//! The `tenant` stage: sets the entry's tenant from a label, an extracted
//! value, or a fixed value. A missing or invalid tenant leaves the entry's
//! tenant unchanged.

use pushtail_proto::tenant::TenantId;
use serde::Deserialize;

use super::{BuildCtx, FieldError, Stage};
use crate::entry::StageEntry;

/// The `tenant` stage's config.
#[derive(Debug, Clone, Deserialize)]
pub struct TenantConfig {
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    value: Option<String>,
}

enum From {
    Label(String),
    Source(String),
    Value(TenantId),
}

struct TenantStage {
    from: From,
}

pub(crate) fn build(cfg: &TenantConfig, _ctx: &BuildCtx) -> Result<Box<dyn Stage>, FieldError> {
    let set = [&cfg.label, &cfg.source, &cfg.value]
        .iter()
        .filter(|v| v.as_deref().is_some_and(|s| !s.is_empty()))
        .count();
    if set == 0 {
        return Err(FieldError::new(
            "label, source or value config are required",
        ));
    }
    if set > 1 {
        return Err(FieldError::new(
            "label, source and value are mutually exclusive: you should set only one",
        ));
    }
    let from = match (&cfg.label, &cfg.source, &cfg.value) {
        (Some(l), _, _) if !l.is_empty() => From::Label(l.clone()),
        (_, Some(s), _) if !s.is_empty() => From::Source(s.clone()),
        (_, _, Some(v)) => {
            From::Value(TenantId::new(v).map_err(|e| FieldError::field("value", e))?)
        }
        _ => {
            return Err(FieldError::new(
                "label, source or value config are required",
            ))
        }
    };
    Ok(Box::new(TenantStage { from }))
}

impl Stage for TenantStage {
    fn process(&self, e: &mut StageEntry) {
        let id = match &self.from {
            From::Value(t) => {
                e.tenant = Some(t.clone());
                return;
            }
            From::Label(l) => e.label(l).map(str::to_owned),
            From::Source(s) => e.extracted_string(s),
        };
        if let Some(t) = id.and_then(|v| TenantId::new(&v).ok()) {
            e.tenant = Some(t);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::stages::testing::{check_table, config_error, Row};

    #[test]
    fn tenant_table() {
        let rows: &[Row<'_>] = &[
            ("- tenant: {value: team-a}", &[], "l", "{} l tenant=team-a"),
            (
                "- tenant: {label: ns}",
                &[("ns", "ops")],
                "l",
                r#"{ns="ops"} l tenant=ops"#,
            ),
            ("- tenant: {label: ns}", &[], "l", "{} l"),
            (
                "- json: {expressions: {t: customer}}\n- tenant: {source: t}",
                &[],
                r#"{"customer":"acme"}"#,
                r#"{} {"customer":"acme"} tenant=acme"#,
            ),
            (
                "- json: {expressions: {t: customer}}\n- tenant: {source: t}",
                &[],
                r#"{"customer":"a/b"}"#,
                r#"{} {"customer":"a/b"}"#,
            ),
            // `__tenant_id__` set by any stage is the tenant, not a label,
            // and match selectors see it.
            (
                "- static_labels: {__tenant_id__: t1}\n- match: {selector: '{__tenant_id__=\"t1\"}', stages: [{static_labels: {seen: yes}}]}",
                &[("app", "a")],
                "l",
                r#"{app="a", seen="yes"} l tenant=t1"#,
            ),
            (
                "- json: {expressions: {t: org}}\n- labels: {__tenant_id__: t}",
                &[],
                r#"{"org":"acme"}"#,
                r#"{} {"org":"acme"} tenant=acme"#,
            ),
            (
                "- tenant: {value: x}\n- labeldrop: [__tenant_id__]",
                &[],
                "l",
                "{} l",
            ),
            (
                "- tenant: {value: x}\n- template: {source: t, template: '{{ .__tenant_id__ }}'}\n- labels: {copy: t}",
                &[],
                "l",
                r#"{copy="x"} l tenant=x"#,
            ),
        ];
        check_table(rows);
        for (yaml, want) in [
            (
                "- tenant: {}",
                "(tenant): label, source or value config are required",
            ),
            ("- tenant: {label: a, value: b}", "mutually exclusive"),
            (
                "- tenant: {value: 'a/b'}",
                r#"(tenant): field "value": tenant id"#,
            ),
        ] {
            let got = config_error(yaml);
            assert!(got.contains(want), "{yaml}: {got}");
        }
    }
}
