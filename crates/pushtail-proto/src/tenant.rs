//! Tenant IDs, validated as Loki validates `X-Scope-OrgID`.

use std::fmt;
use std::sync::Arc;

/// Longest tenant ID Loki accepts.
pub const MAX_TENANT_ID_LEN: usize = 150;

/// A tenant (Loki's org ID), valid by construction.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(Arc<str>);

/// Why a string is not a valid tenant ID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantError {
    #[error("tenant id is empty")]
    Empty,
    #[error("tenant id is {len} characters long, at most {MAX_TENANT_ID_LEN} are allowed")]
    TooLong { len: usize },
    #[error("tenant id {0:?} is not allowed")]
    Reserved(String),
    #[error("tenant id {id:?} has the unsupported character {ch:?}")]
    BadChar { id: String, ch: char },
}

impl TenantId {
    /// Validates `id`: letters, digits and `!-_.*'()`, at most 150
    /// characters, not `.` or `..`.
    pub fn new(id: &str) -> Result<Self, TenantError> {
        if id.is_empty() {
            return Err(TenantError::Empty);
        }
        if id.len() > MAX_TENANT_ID_LEN {
            return Err(TenantError::TooLong { len: id.len() });
        }
        if id == "." || id == ".." {
            return Err(TenantError::Reserved(id.to_owned()));
        }
        if let Some(ch) = id.chars().find(|c| !is_tenant_char(*c)) {
            return Err(TenantError::BadChar {
                id: id.to_owned(),
                ch,
            });
        }
        Ok(TenantId(Arc::from(id)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_tenant_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '!' | '-' | '_' | '.' | '*' | '\'' | '(' | ')')
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TenantId({:?})", &*self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids() {
        let cases: &[(&str, bool)] = &[
            ("team-a", true),
            ("A.b_c!*'()-9", true),
            ("", false),
            (".", false),
            ("..", false),
            ("...", true),
            ("a/b", false),
            ("a b", false),
            ("é", false),
        ];
        for (id, ok) in cases {
            assert_eq!(TenantId::new(id).is_ok(), *ok, "{id:?}");
        }
        assert_eq!(
            TenantId::new(&"a".repeat(150)).map(|t| t.as_str().len()),
            Ok(150)
        );
        assert_eq!(
            TenantId::new(&"a".repeat(151)),
            Err(TenantError::TooLong { len: 151 })
        );
    }
}
