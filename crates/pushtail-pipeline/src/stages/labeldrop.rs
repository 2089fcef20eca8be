//! The `labeldrop` and `labelallow` stages (Promtail). Not implemented yet.

use super::{BuildCtx, FieldError, Stage};

pub(crate) fn build_labeldrop(
    _cfg: &serde_yaml::Value,
    _ctx: &BuildCtx,
) -> Result<Box<dyn Stage>, FieldError> {
    Err(FieldError::new("stage not implemented yet"))
}

pub(crate) fn build_labelallow(
    _cfg: &serde_yaml::Value,
    _ctx: &BuildCtx,
) -> Result<Box<dyn Stage>, FieldError> {
    Err(FieldError::new("stage not implemented yet"))
}
