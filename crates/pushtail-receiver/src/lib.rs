//! The HTTP push receiver (Promtail's HTTPTarget).
