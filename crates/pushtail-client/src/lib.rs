//! The Loki client.
