//! The Loki push protocol model and its codecs.
//!
//! This crate knows what a push *is*: label sets, entries, streams, tenants,
//! and how they look on the wire (Loki label syntax, JSON, protobuf+snappy,
//! content encodings). It never does networking or I/O beyond in-memory
//! buffers, so every other crate can lean on it without pulling in a runtime.

pub mod encoding;
pub mod json;
pub mod labels;
pub mod literal;
pub mod model;
pub mod push;
pub mod syntax;
pub mod tenant;
#[cfg(test)]
mod test_support;
pub mod units;

/// Types generated from `proto/push.proto` (package `logproto`).
#[allow(clippy::all, missing_docs)]
pub mod logproto {
    include!(concat!(env!("OUT_DIR"), "/logproto.rs"));
}
