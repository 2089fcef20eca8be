//! End-to-end tests: the real `pushtail` binary on loopback.
