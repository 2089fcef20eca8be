//! The `replace` stage (Promtail). Not implemented yet.

use super::{BuildCtx, FieldError, Stage};

pub(crate) fn build(
    _cfg: &serde_yaml::Value,
    _ctx: &BuildCtx,
) -> Result<Box<dyn Stage>, FieldError> {
    Err(FieldError::new("stage not implemented yet"))
}
