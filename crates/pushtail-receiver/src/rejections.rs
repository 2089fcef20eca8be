//! Log lines for refused pushes: one `warn` line per target per second at
//! most, naming the target, the remote address, the status and the reason
//! the client was told, with the count of refusals not logged since the
//! previous line. Refusals suppressed after a target's last line are not
//! left untold when no further refusal comes: a flusher task, started with
//! the first refusal, logs their count once the second has passed.
//!
//! Only refusals come here, so the lock is never taken on the success path.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock, Weak};
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

type Windows = Mutex<HashMap<String, Window>>;

/// Per-target rate limiting of refusal log lines.
#[derive(Debug, Default)]
pub(crate) struct Rejections {
    windows: Arc<Windows>,
    flusher: OnceLock<()>,
}

impl Rejections {
    /// Logs `r` unless a line for its target was logged less than a
    /// second ago (then it is only counted).
    pub(crate) fn record(&self, r: &Rejection<'_>) {
        self.flusher
            .get_or_init(|| start_flusher(Arc::downgrade(&self.windows)));
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
        let mut windows = lock(&self.windows);
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

fn lock(windows: &Windows) -> std::sync::MutexGuard<'_, HashMap<String, Window>> {
    windows
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The targets whose suppressed refusals are due to be told at `now` (a
/// second after their last line), with their counts; each is then as if
/// just logged.
fn due(windows: &Windows, now: Instant) -> Vec<(String, u64)> {
    let mut windows = lock(windows);
    let mut out = Vec::new();
    for (job, w) in windows.iter_mut() {
        if w.suppressed > 0 && now.duration_since(w.last) >= INTERVAL {
            out.push((job.clone(), std::mem::take(&mut w.suppressed)));
            w.last = now;
        }
    }
    out
}

/// Once a second, logs the refusals suppressed since each target's last
/// line; ends with the listener (when `windows` is dropped). Outside a
/// runtime (unit tests) there is no flusher.
fn start_flusher(windows: Weak<Windows>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    runtime.spawn(async move {
        let mut tick = tokio::time::interval(INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(windows) = windows.upgrade() else {
                return;
            };
            for (job, suppressed) in due(&windows, Instant::now()) {
                tracing::warn!(job, suppressed, "push refusals suppressed");
            }
        }
    });
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

    /// Suppressed refusals are told a second after the last line even when
    /// no refusal follows, once, and the next refusal is then counted
    /// against that flush.
    #[test]
    fn suppressed_refusals_are_flushed_without_a_next_refusal() {
        let r = Rejections::default();
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        assert_eq!(r.admit("a", ms(0)), Some(0));
        assert_eq!(r.admit("a", ms(100)), None);
        assert_eq!(r.admit("a", ms(200)), None);
        assert_eq!(r.admit("b", ms(300)), Some(0));
        assert!(due(&r.windows, ms(999)).is_empty(), "not yet due");
        assert_eq!(due(&r.windows, ms(1000)), [("a".to_owned(), 2)]);
        assert!(due(&r.windows, ms(3000)).is_empty(), "told once");
        assert_eq!(r.admit("a", ms(1500)), None, "within a second of the flush");
        assert_eq!(due(&r.windows, ms(2000)), [("a".to_owned(), 1)]);
    }
}
