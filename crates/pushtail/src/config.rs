//! The YAML config file: the top-level document composed from each
//! component's own config struct, loaded with errors that name the key path
//! and line, then validated into runnable specs with no I/O.
//!
//! Nothing here listens, connects or reads files other than the config file
//! itself: `-check-syntax` runs exactly this code.

mod document;
mod error;
mod plan;
#[cfg(test)]
mod tests;

pub use document::{expand_env, parse, Config};
pub use error::{ConfigError, ConfigWarning, StageWarning};
pub use plan::{plan, ClientFlags, Overrides, Plan};
