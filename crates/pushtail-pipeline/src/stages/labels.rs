//! The `labels` and `structured_metadata` stages (Promtail). Not implemented yet.

use super::{BuildCtx, FieldError, Stage};

pub(crate) fn build_labels(
    _cfg: &serde_yaml::Value,
    _ctx: &BuildCtx,
) -> Result<Box<dyn Stage>, FieldError> {
    Err(FieldError::new("stage not implemented yet"))
}

pub(crate) fn build_structured_metadata(
    _cfg: &serde_yaml::Value,
    _ctx: &BuildCtx,
) -> Result<Box<dyn Stage>, FieldError> {
    Err(FieldError::new("stage not implemented yet"))
}
