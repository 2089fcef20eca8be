//! Promtail's `limits_config` as every client applies it, per entry, before
//! batching: a line longer than `max_line_size` is dropped (reason
//! `line_too_long`) or, with `max_line_size_truncate`, cut to that many
//! bytes and counted as mutated; a batch holds at most `max_streams`
//! streams, and an entry of a further stream is dropped (reason
//! `stream_limited`). Zero turns a limit off. The drops are what the
//! operator configured and are counted, never silent.

/// The limits one client applies (the top-level `limits_config`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientLimits {
    /// Longest line in bytes; 0: no limit.
    pub max_line_size: usize,
    /// Cut longer lines to `max_line_size` instead of dropping them.
    pub max_line_size_truncate: bool,
    /// Most streams in one batch; 0: no limit.
    pub max_streams: usize,
}

/// What happens to a line of some length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineFate {
    Keep,
    /// Keep the first `keep` bytes.
    Truncate {
        keep: usize,
    },
    Drop,
}

impl ClientLimits {
    pub(crate) fn line(&self, len: usize) -> LineFate {
        match self.max_line_size {
            0 => LineFate::Keep,
            max if len <= max => LineFate::Keep,
            max if self.max_line_size_truncate => LineFate::Truncate { keep: max },
            _ => LineFate::Drop,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_fates() {
        let limits = |max_line_size, max_line_size_truncate| ClientLimits {
            max_line_size,
            max_line_size_truncate,
            max_streams: 0,
        };
        let cases = [
            (limits(0, false), 1 << 30, LineFate::Keep),
            (limits(0, true), 1 << 30, LineFate::Keep),
            (limits(10, false), 10, LineFate::Keep),
            (limits(10, false), 11, LineFate::Drop),
            (limits(10, true), 10, LineFate::Keep),
            (limits(10, true), 11, LineFate::Truncate { keep: 10 }),
            (limits(10, true), 0, LineFate::Keep),
        ];
        for (limits, len, want) in cases {
            assert_eq!(limits.line(len), want, "{limits:?} len {len}");
        }
    }
}
