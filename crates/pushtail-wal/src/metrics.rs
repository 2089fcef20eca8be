//! The log's metric names, in one place.

pub const WAL_BYTES: &str = "pushtail_wal_bytes";
pub const WAL_SEGMENTS: &str = "pushtail_wal_segments";
pub const FSYNC_DURATION: &str = "pushtail_wal_fsync_duration_seconds";
pub const REPLAYED_ENTRIES: &str = "pushtail_wal_replayed_entries_total";
pub const CORRUPTIONS: &str = "pushtail_wal_corruptions_total";
pub const LOST_BYTES: &str = "pushtail_wal_corrupt_bytes_total";
pub const CLIENT_LAG: &str = "pushtail_wal_client_lag_bytes";
pub const APPEND_FAILURES: &str = "pushtail_wal_append_failures_total";

pub(crate) fn describe() {
    metrics::describe_gauge!(WAL_BYTES, "Bytes of segments in the write-ahead log.");
    metrics::describe_gauge!(WAL_SEGMENTS, "Segment files in the write-ahead log.");
    metrics::describe_histogram!(
        FSYNC_DURATION,
        "Time of each fsync of the write-ahead log (one per group of requests)."
    );
    metrics::describe_counter!(
        REPLAYED_ENTRIES,
        "Entries read back from the write-ahead log that were written before this start."
    );
    metrics::describe_counter!(
        CORRUPTIONS,
        "Torn or corrupt records found in the write-ahead log (truncated or skipped)."
    );
    metrics::describe_counter!(
        LOST_BYTES,
        "Bytes of the write-ahead log truncated or skipped because they were torn or corrupt."
    );
    metrics::describe_gauge!(
        CLIENT_LAG,
        "Bytes of the write-ahead log a client has not yet committed as delivered."
    );
    metrics::describe_counter!(
        APPEND_FAILURES,
        "Appends refused by the write-ahead log (label reason: full, io); the push got 503."
    );
}
