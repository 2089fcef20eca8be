//! Test kit shared by the end-to-end tests and the benchmark harness.

pub mod agent;
pub mod fake_loki;
pub mod pki;
