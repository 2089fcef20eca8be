//! Receiver metric names (DESIGN §6) and their descriptions.
//!
//! Names are constants so call sites never spell them; this module never
//! installs a recorder (the binary does).

/// Histogram, labels `route`, `status_code`: time spent serving a request.
pub const REQUEST_DURATION_SECONDS: &str = "loki_source_api_request_duration_seconds";
/// Histogram, label `route`: bytes of request body read (as sent, before
/// decompression).
pub const REQUEST_MESSAGE_BYTES: &str = "loki_source_api_request_message_bytes";
/// Histogram, label `route`: bytes of response body.
pub const RESPONSE_MESSAGE_BYTES: &str = "loki_source_api_response_message_bytes";
/// Gauge: currently open TCP connections, over all listeners.
pub const TCP_CONNECTIONS: &str = "loki_source_api_tcp_connections";
/// Counter, label `job`: entries handed to the clients (after stages).
pub const ENTRIES_WRITTEN: &str = "loki_source_api_entries_written";
/// Counter: pushes that found a client queue full and had to wait.
pub const QUEUE_WAITS_TOTAL: &str = "pushtail_receiver_queue_waits_total";
/// Counter, label `reason` (`queue_full`, `rate_limited`, `queue_closed`,
/// `shutting_down`, `timed_out`, `wal_full`, `wal_error`):
/// pushes answered 503.
pub const REJECTED_PUSHES_TOTAL: &str = "pushtail_receiver_rejected_pushes_total";
/// Counter, label `job`: streams skipped because of bad labels or tenant.
pub const BAD_STREAMS_TOTAL: &str = "pushtail_receiver_bad_streams_total";

/// Counter, label `reason` (`read_timeout`, `write_timeout`,
/// `header_too_large`, `uri_too_long`, `malformed`): connections or
/// requests the HTTP layer cut off or refused before any endpoint saw them
/// (silent or slow clients, clients that stopped reading, over-large heads,
/// unparseable requests).
pub const REJECTED_CONNECTIONS_TOTAL: &str = "pushtail_receiver_rejected_connections_total";

/// Gauge, label `protocol` (`http`): open connections, dskit's (and so
/// Promtail's server's) name, beside [`TCP_CONNECTIONS`].
pub const SERVER_TCP_CONNECTIONS: &str = "tcp_connections";
/// Gauge, label `protocol`: the shared server's `http_listen_conn_limit`
/// (0: no limit).
pub const SERVER_TCP_CONNECTIONS_LIMIT: &str = "tcp_connections_limit";
/// Gauge, labels `method`, `route`: requests being served.
pub const INFLIGHT_REQUESTS: &str = "inflight_requests";
/// Counter, labels `job`, `reason` (`missing`, `wrong`, `no_client_cert`):
/// requests answered 401 by a target that requires credentials.
pub const AUTH_FAILURES_TOTAL: &str = "pushtail_receiver_auth_failures_total";
/// Counter: TLS handshakes that failed (plain HTTP on a TLS port, no or a
/// bad client certificate, protocol errors).
pub const TLS_HANDSHAKE_FAILURES_TOTAL: &str = "pushtail_receiver_tls_handshake_failures_total";

/// Registers descriptions with the installed recorder (idempotent).
pub(crate) fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_histogram!(
        REQUEST_DURATION_SECONDS,
        Unit::Seconds,
        "Time (in seconds) spent serving HTTP requests."
    );
    describe_histogram!(
        REQUEST_MESSAGE_BYTES,
        Unit::Bytes,
        "Size (in bytes) of messages received in the request."
    );
    describe_histogram!(
        RESPONSE_MESSAGE_BYTES,
        Unit::Bytes,
        "Size (in bytes) of messages sent in response."
    );
    describe_gauge!(
        TCP_CONNECTIONS,
        "Current number of accepted TCP connections."
    );
    describe_counter!(
        ENTRIES_WRITTEN,
        "Number of log entries handed to the clients."
    );
    describe_counter!(
        QUEUE_WAITS_TOTAL,
        "Pushes that waited for room in a client queue."
    );
    describe_counter!(
        REJECTED_PUSHES_TOTAL,
        "Pushes answered 503 because the agent could not take them."
    );
    describe_counter!(
        BAD_STREAMS_TOTAL,
        "Streams skipped because of invalid labels or tenant."
    );
    describe_gauge!(
        SERVER_TCP_CONNECTIONS,
        "Current number of accepted TCP connections."
    );
    describe_gauge!(
        SERVER_TCP_CONNECTIONS_LIMIT,
        "The max number of TCP connections that can be accepted (0 means no limit)."
    );
    describe_gauge!(INFLIGHT_REQUESTS, "Current number of inflight requests.");
    describe_counter!(
        AUTH_FAILURES_TOTAL,
        "Requests refused with 401 because credentials were missing or wrong, by job and reason."
    );
    describe_counter!(TLS_HANDSHAKE_FAILURES_TOTAL, "TLS handshakes that failed.");
    describe_counter!(
        REJECTED_CONNECTIONS_TOTAL,
        "Connections or requests refused or cut off by the HTTP layer, by reason."
    );
}
