//! End-to-end tests: the real `pushtail` binary on loopback, pushed to with
//! a real HTTP client, checked through its dry-run output or a fake Loki.

mod cli;
mod deploy;
mod docs;
mod edge;
mod forward;
mod input;
mod invariants;
mod ops;
mod pipeline;
mod receive;
mod reload;
mod secure;
mod status;
mod support;
mod wal;
