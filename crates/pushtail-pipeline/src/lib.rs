//! Prometheus relabeling and Promtail pipeline stages.
//!
//! Pure, synchronous code: no tokio, no hyper, no I/O. The receiver calls it
//! per stream (relabeling, cached) and per entry (stages).
