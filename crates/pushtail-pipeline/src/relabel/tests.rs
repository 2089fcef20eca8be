//! Relabel table tests.
