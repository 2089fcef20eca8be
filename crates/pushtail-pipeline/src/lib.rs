//! Prometheus relabeling and Promtail pipeline stages.
//!
//! Pure, synchronous code: no tokio, no hyper, no I/O. The receiver calls it
//! per stream (relabeling, cached) and per entry (stages).

#[allow(dead_code)] // TODO(stages): remove once every stage is wired
mod entry;
mod logql;
mod pipeline;
pub mod relabel;
#[allow(dead_code)] // TODO(stages): remove once every stage is wired
mod stages;
mod telemetry;

pub use pipeline::{Pipeline, PipelineEntry, StageConfigError};
