//! Log lines for refused pushes: one `warn` line per target per second at
//! most, naming the target, the remote address, the status and the reason
//! the client was told, with the count of refusals not logged since the
//! previous line.
//!
//! Only refusals come here, so the lock is never taken on the success path.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use http::StatusCode;

/// Shortest gap between two lines for one target.
const INTERVAL: Duration = Duration::from_secs(1);

/// The job name logged for requests that matched no target.
pub(crate) const NO_TARGET: &str = "-";

/// One refusal, as logged.
#[derive(Clone, Copy)]
pub(crate) struct Rejection<'a> {
    pub job: &'a str,
    pub remote: Option<SocketAddr>,
    pub method: &'a str,
    pub path: &'a str,
    pub status: StatusCode,
    pub reason: &'a dyn std::fmt::Display,
}

#[derive(Debug)]
struct Window {
    last: Instant,
    suppressed: u64,
}

/// Per-target rate limiting of refusal log lines.
#[derive(Debug, Default)]
pub(crate) struct Rejections {
    windows: Mutex<HashMap<String, Window>>,
}

impl Rejections {
    /// Logs `r` unless a line for its target was logged less than a
    /// second ago (then it is only counted).
    pub(crate) fn record(&self, r: &Rejection<'_>) {
        if let Some(suppressed) = self.admit(r.job, Instant::now()) {
            let remote = r
                .remote
                .map_or_else(|| "unknown".to_owned(), |a| a.to_string());
            tracing::warn!(
                job = r.job,
                remote = %remote,
                method = r.method,
                path = r.path,
                status = r.status.as_u16(),
                reason = %r.reason,
                suppressed,
                "push refused"
            );
        }
    }

    /// `Some(suppressed since the last line)` when a line may be logged
    /// at `now`; `None` when this refusal is only counted.
    fn admit(&self, job: &str, now: Instant) -> Option<u64> {
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match windows.get_mut(job) {
            Some(w) if now.duration_since(w.last) < INTERVAL => {
                w.suppressed += 1;
                None
            }
            Some(w) => {
                let suppressed = std::mem::take(&mut w.suppressed);
                w.last = now;
                Some(suppressed)
            }
            None => {
                windows.insert(
                    job.to_owned(),
                    Window {
                        last: now,
                        suppressed: 0,
                    },
                );
                Some(0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_target_per_second() {
        let r = Rejections::default();
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let steps = [
            ("a", 0, Some(0)),
            ("a", 10, None),
            ("b", 20, Some(0)),
            ("a", 500, None),
            ("a", 999, None),
            ("a", 1000, Some(3)),
            ("b", 1500, Some(0)),
            ("a", 1200, None),
            ("a", 2500, Some(1)),
        ];
        for (job, at, want) in steps {
            assert_eq!(r.admit(job, ms(at)), want, "{job} at {at}ms");
        }
    }
}
