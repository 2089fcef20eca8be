//! Figures of one run: percentiles, the derived rates, the human report and
//! the one-line summary (always the last line printed). Pure functions only;
//! nothing here measures or does I/O besides writing the JSON file.

use std::time::Duration;

use serde::Serialize;

/// Nearest-rank percentile `p` (0-100) of sorted `samples`; zero when empty.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Codec floor, CPU seconds per million lines, single thread.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Floor {
    pub snappy_decode: f64,
    pub proto_decode: f64,
    pub proto_encode: f64,
    pub snappy_encode: f64,
}

impl Floor {
    pub fn total(&self) -> f64 {
        self.snappy_decode + self.proto_decode + self.proto_encode + self.snappy_encode
    }
}

/// Everything a run measured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    pub agent: String,
    pub format: String,
    pub conns: usize,
    pub streams: usize,
    pub lines: usize,
    pub line_bytes: usize,
    pub distinct_streams: usize,
    pub structured_metadata: bool,
    /// Mean request body on the wire, and before snappy.
    pub body_bytes: u64,
    pub body_plain_bytes: u64,
    /// Measured window, seconds (warmup excluded).
    pub window_s: f64,
    /// Lines acknowledged (2xx) inside the window.
    pub window_lines: u64,
    pub lines_per_s: f64,
    pub mb_per_s: f64,
    pub pushes: u64,
    pub failures: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub agent_cpu_s: f64,
    pub cpu_s_per_mlines: f64,
    /// Agent CPU seconds per wall second (1.0 = one core busy).
    pub cpu_utilisation: f64,
    pub peak_rss_mb: f64,
    pub hwm_mb: f64,
    pub rss_first_half_mb: f64,
    pub rss_second_half_mb: f64,
    /// Lines acknowledged over the whole run, warmup included.
    pub acked: u64,
    /// Lines the sink decoded.
    pub delivered: u64,
    /// Line bytes the sink decoded, and line bytes acknowledged.
    pub delivered_line_bytes: u64,
    pub acked_line_bytes: u64,
    /// Pushes the sink refused as malformed.
    pub sink_rejected: u64,
    pub floor: Option<Floor>,
    pub floor_multiple: Option<f64>,
}

pub const MB: f64 = 1024.0 * 1024.0;

impl Report {
    /// Fills the rates from the raw counts.
    pub fn derive(&mut self, latencies: &mut [Duration], line_bytes: u64) {
        latencies.sort_unstable();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        self.p50_ms = ms(percentile(latencies, 50.0));
        self.p99_ms = ms(percentile(latencies, 99.0));
        self.max_ms = ms(latencies.last().copied().unwrap_or_default());
        if self.window_s > 0.0 {
            self.lines_per_s = self.window_lines as f64 / self.window_s;
            self.mb_per_s = line_bytes as f64 / self.window_s / 1e6;
            self.cpu_utilisation = self.agent_cpu_s / self.window_s;
        }
        if self.window_lines > 0 {
            self.cpu_s_per_mlines = self.agent_cpu_s / self.window_lines as f64 * 1e6;
        }
        if let Some(floor) = self.floor.filter(|f| f.total() > 0.0) {
            self.floor_multiple = Some(self.cpu_s_per_mlines / floor.total());
        }
    }

    pub fn ok(&self) -> bool {
        self.delivered == self.acked && self.acked > 0
    }

    /// The multi-line human report.
    pub fn text(&self) -> String {
        let mut out = format!(
            "agent {} format {} conns {} streams/req {} lines/req {} line-bytes {} distinct-streams {} structured-metadata {}\n",
            self.agent, self.format, self.conns, self.streams, self.lines, self.line_bytes,
            self.distinct_streams, self.structured_metadata
        );
        out += &format!(
            "  bodies       {} bytes on the wire ({} before compression)\n",
            self.body_bytes, self.body_plain_bytes
        );
        out += &format!(
            "  throughput   {:.0} lines/s, {:.1} MB/s of line bytes ({} lines in {:.1}s, {} pushes, {} failures)\n",
            self.lines_per_s, self.mb_per_s, self.window_lines, self.window_s, self.pushes, self.failures
        );
        out += &format!(
            "  latency      p50 {:.2}ms, p99 {:.2}ms, max {:.2}ms\n",
            self.p50_ms, self.p99_ms, self.max_ms
        );
        out += &format!(
            "  agent cpu    {:.2}s, {:.3} cpu-s per million lines, utilisation {:.2} cores\n",
            self.agent_cpu_s, self.cpu_s_per_mlines, self.cpu_utilisation
        );
        out += &format!(
            "  agent memory peak rss {:.1}MB (first half {:.1}MB, second half {:.1}MB), hwm {:.1}MB\n",
            self.peak_rss_mb, self.rss_first_half_mb, self.rss_second_half_mb, self.hwm_mb
        );
        if let (Some(f), Some(m)) = (self.floor, self.floor_multiple) {
            out += &format!(
                "  codec floor  {:.3} cpu-s per million lines; agent at {m:.2}x the floor\n",
                f.total()
            );
        }
        out += &format!(
            "  delivery     delivered {} acknowledged {}{} (line bytes {} of {}, sink rejected {})\n",
            self.delivered,
            self.acked,
            if self.ok() { "" } else { "  MISMATCH" },
            self.delivered_line_bytes,
            self.acked_line_bytes,
            self.sink_rejected
        );
        out
    }

    /// The one-line summary printed last.
    pub fn summary(&self) -> String {
        let floor = self
            .floor_multiple
            .map(|m| format!(" ({m:.1}x floor)"))
            .unwrap_or_default();
        let delivery = if self.delivered == self.acked {
            format!("delivered=acked={}", self.acked)
        } else {
            format!("delivered={} acked={} MISMATCH", self.delivered, self.acked)
        };
        format!(
            "{} {}: {} lines/s, {:.2} cpu-s/Mlines{floor}, p99 {:.1}ms, rss {:.0}MB, failures {}, {delivery}",
            self.agent,
            self.format,
            human(self.lines_per_s),
            self.cpu_s_per_mlines,
            self.p99_ms,
            self.peak_rss_mb,
            self.failures,
        )
    }
}

/// `1234567.0` → `1.23M`, `12345.0` → `12.3k`.
pub fn human(n: f64) -> String {
    if n >= 1e6 {
        format!("{:.2}M", n / 1e6)
    } else if n >= 1e3 {
        format!("{:.1}k", n / 1e3)
    } else {
        format!("{n:.0}")
    }
}

/// The floor as printed by `--codec-floor`.
pub fn floor_text(f: &Floor) -> String {
    format!(
        "codec floor (cpu-s per million lines, one thread):\n  snappy decode   {:.3}\n  protobuf decode {:.3}\n  protobuf encode {:.3}\n  snappy encode   {:.3}\n  total           {:.3}",
        f.snappy_decode, f.proto_decode, f.proto_encode, f.snappy_encode, f.total()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|&m| Duration::from_millis(m)).collect()
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        // (samples sorted, p, expected ms)
        let cases: &[(&[u64], f64, u64)] = &[
            (&[], 50.0, 0),
            (&[7], 50.0, 7),
            (&[7], 99.0, 7),
            (&[1, 2, 3, 4], 50.0, 2),
            (&[1, 2, 3, 4], 99.0, 4),
            (&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90.0, 9),
            (&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.0, 1),
            (&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 100.0, 10),
        ];
        for (samples, p, want) in cases {
            assert_eq!(
                percentile(&ms(samples), *p),
                Duration::from_millis(*want),
                "{samples:?} p{p}"
            );
        }
    }

    #[test]
    fn derive_computes_rates_and_floor_multiple() {
        let mut r = Report {
            window_s: 10.0,
            window_lines: 2_000_000,
            agent_cpu_s: 1.0,
            floor: Some(Floor {
                snappy_decode: 0.1,
                proto_decode: 0.1,
                proto_encode: 0.1,
                snappy_encode: 0.2,
            }),
            ..Report::default()
        };
        let mut lat = ms(&[5, 1, 3]);
        r.derive(&mut lat, 400_000_000);
        assert_eq!(r.lines_per_s, 200_000.0);
        assert_eq!(r.mb_per_s, 40.0);
        assert_eq!(r.cpu_s_per_mlines, 0.5);
        assert_eq!(r.cpu_utilisation, 0.1);
        assert_eq!(r.floor_multiple, Some(1.0));
        assert_eq!(r.p50_ms, 3.0);
        assert_eq!(r.max_ms, 5.0);
    }

    #[test]
    fn summary_line_names_the_mismatch() {
        let mut r = Report {
            agent: "pushtail".into(),
            format: "proto".into(),
            acked: 10,
            delivered: 10,
            lines_per_s: 1_234_567.0,
            ..Report::default()
        };
        assert!(r.summary().starts_with("pushtail proto: 1.23M lines/s"));
        assert!(r.summary().ends_with("delivered=acked=10"));
        assert!(r.ok());
        r.delivered = 9;
        assert!(r.summary().ends_with("delivered=9 acked=10 MISMATCH"));
        assert!(!r.ok());
    }

    #[test]
    fn human_numbers() {
        for (n, want) in [(999.0, "999"), (12_345.0, "12.3k"), (1_234_567.0, "1.23M")] {
            assert_eq!(human(n), want);
        }
    }
}
