//! What to do when `accept` fails: back off on resource exhaustion, retry
//! at once when only the one pending connection failed.
//!
//! Retrying a resource error at once spins a core and floods the log
//! exactly when the agent is overloaded (Go's `http.Server` sleeps too).

use std::io;
use std::time::Duration;

/// How long the accept loop pauses after a resource error.
pub(crate) const BACKOFF: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AcceptAction {
    /// Only that connection failed (aborted, reset, refused by a firewall
    /// rule, interrupted): accept the next one now.
    Retry,
    /// The process or system is out of something (descriptors, buffers,
    /// memory), or the error is unknown: wait [`BACKOFF`] before accepting
    /// again.
    BackOff,
}

/// Classifies an `accept` error.
pub(crate) fn classify(err: &io::Error) -> AcceptAction {
    if let Some(code) = err.raw_os_error() {
        return match code {
            libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM => AcceptAction::BackOff,
            // accept(2): errors of the pending connection, and network
            // errors Linux passes through that mean the same.
            libc::ECONNABORTED
            | libc::ECONNRESET
            | libc::EPERM
            | libc::EINTR
            | libc::EAGAIN
            | libc::EPROTO
            | libc::ETIMEDOUT
            | libc::ENETDOWN
            | libc::ENETUNREACH
            | libc::EHOSTDOWN
            | libc::EHOSTUNREACH
            | libc::ENONET
            | libc::ENOPROTOOPT
            | libc::EOPNOTSUPP => AcceptAction::Retry,
            _ => AcceptAction::BackOff,
        };
    }
    match err.kind() {
        io::ErrorKind::ConnectionAborted
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::Interrupted
        | io::ErrorKind::WouldBlock
        | io::ErrorKind::PermissionDenied
        | io::ErrorKind::TimedOut => AcceptAction::Retry,
        _ => AcceptAction::BackOff,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_errors() {
        use AcceptAction::*;
        let cases = [
            ("EMFILE", libc::EMFILE, BackOff),
            ("ENFILE", libc::ENFILE, BackOff),
            ("ENOBUFS", libc::ENOBUFS, BackOff),
            ("ENOMEM", libc::ENOMEM, BackOff),
            ("ECONNABORTED", libc::ECONNABORTED, Retry),
            ("ECONNRESET", libc::ECONNRESET, Retry),
            ("EPERM", libc::EPERM, Retry),
            ("EINTR", libc::EINTR, Retry),
            ("EAGAIN", libc::EAGAIN, Retry),
            ("EPROTO", libc::EPROTO, Retry),
            ("ETIMEDOUT", libc::ETIMEDOUT, Retry),
            ("ENETUNREACH", libc::ENETUNREACH, Retry),
            ("EHOSTUNREACH", libc::EHOSTUNREACH, Retry),
            ("EBADF", libc::EBADF, BackOff),
            ("EINVAL", libc::EINVAL, BackOff),
        ];
        for (name, code, want) in cases {
            let err = io::Error::from_raw_os_error(code);
            assert_eq!(classify(&err), want, "{name}");
        }
    }

    #[test]
    fn accept_errors_without_os_code() {
        use AcceptAction::*;
        let cases = [
            (io::ErrorKind::ConnectionAborted, Retry),
            (io::ErrorKind::Interrupted, Retry),
            (io::ErrorKind::OutOfMemory, BackOff),
            (io::ErrorKind::Other, BackOff),
        ];
        for (kind, want) in cases {
            assert_eq!(classify(&io::Error::from(kind)), want, "{kind:?}");
        }
    }
}
