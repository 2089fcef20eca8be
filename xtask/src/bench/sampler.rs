//! Samples the agent while the load runs: CPU time when the measured window
//! opens and closes, and resident memory every 100 ms. Runs on its own OS
//! thread so the load generator's runtime cannot delay a sample.

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::load::Window;
use super::procfs::Probe;

const EVERY: Duration = Duration::from_millis(100);

/// What the sampler saw.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Samples {
    /// Agent CPU seconds inside the window.
    pub cpu_s: f64,
    /// Max RSS over the whole run (warmup included), bytes.
    pub peak_rss: u64,
    /// Max RSS over the first and the second half of the window.
    pub first_half_rss: u64,
    pub second_half_rss: u64,
}

/// Reduces RSS samples taken at `at` (time since the run began) to the
/// peak and the max of each half of the window `[open, close)`.
pub fn summarise(rss: &[(Duration, u64)], open: Duration, close: Duration) -> (u64, u64, u64) {
    let mid = open + (close.saturating_sub(open)) / 2;
    let max_in = |lo: Duration, hi: Duration| {
        rss.iter()
            .filter(|(t, _)| *t >= lo && *t < hi)
            .map(|(_, r)| *r)
            .max()
            .unwrap_or(0)
    };
    let peak = rss.iter().map(|(_, r)| *r).max().unwrap_or(0);
    (peak, max_in(open, mid), max_in(mid, close))
}

pub fn spawn(probe: Probe, window: Window) -> JoinHandle<Samples> {
    std::thread::spawn(move || {
        let began = Instant::now();
        let mut rss = Vec::new();
        let mut cpu_open = None;
        let cpu = loop {
            let now = Instant::now();
            if cpu_open.is_none() && now >= window.start {
                cpu_open = Some(probe.cpu_seconds());
            }
            if now >= window.end {
                break probe.cpu_seconds() - cpu_open.unwrap_or(0.0);
            }
            rss.push((now - began, probe.memory().rss));
            // Wake at the next tick or boundary, whichever comes first.
            let boundary = if cpu_open.is_none() {
                window.start
            } else {
                window.end
            };
            let next = (now + EVERY).min(boundary);
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
        };
        let open = window.start.saturating_duration_since(began);
        let close = window.end.saturating_duration_since(began);
        let (peak_rss, first_half_rss, second_half_rss) = summarise(&rss, open, close);
        Samples {
            cpu_s: cpu,
            peak_rss,
            first_half_rss,
            second_half_rss,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_halves() {
        let s = |secs: u64, rss: u64| (Duration::from_secs(secs), rss);
        // (samples, open, close, expected (peak, first half, second half))
        type Case<'a> = (&'a [(Duration, u64)], u64, u64, (u64, u64, u64));
        let cases: &[Case] = &[
            (&[], 2, 12, (0, 0, 0)),
            (
                &[s(0, 50), s(3, 10), s(6, 12), s(8, 11), s(11, 13)],
                2,
                12,
                (50, 12, 13),
            ),
            (&[s(1, 5), s(2, 7), s(7, 9), s(12, 99)], 2, 12, (99, 7, 9)),
        ];
        for (samples, open, close, want) in cases {
            let got = summarise(
                samples,
                Duration::from_secs(*open),
                Duration::from_secs(*close),
            );
            assert_eq!(got, *want, "{samples:?}");
        }
    }
}
