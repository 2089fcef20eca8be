//! Prometheus relabeling and Promtail pipeline stages.
//!
//! Pure, synchronous code: no tokio, no hyper, no I/O. The receiver calls it
//! per stream (relabeling, cached) and per entry (stages).

mod config;
mod entry;
mod go;
mod inspect;
mod logql;
mod pipeline;
pub mod relabel;
mod stages;
mod telemetry;

pub use config::StageConfig;
pub use inspect::Inspector;
pub use pipeline::{Pace, Pipeline, PipelineEntry, ReadlineLimit, StageConfigError};
pub use stages::metrics::registry::render as render_custom_metrics;
pub use telemetry::describe as describe_metrics;
