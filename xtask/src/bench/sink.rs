//! The fake Loki the agent forwards to: the test kit's counting sink, which
//! fully decodes every push (snappy + protobuf) and counts entries.

use std::time::{Duration, Instant};

use anyhow::Result;

pub struct Sink {
    port: u16,
}

impl Sink {
    /// Starts the sink on 127.0.0.1:`port` (0 or `None`: any free port).
    pub async fn start(port: Option<u16>) -> Result<Sink> {
        anyhow::bail!("sink not wired yet (port {port:?})")
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Entries decoded so far.
    pub fn delivered(&self) -> u64 {
        0
    }

    /// Waits until `acked` entries arrived or nothing arrived for `stall`;
    /// returns the entries delivered.
    pub async fn drain(&self, acked: u64, stall: Duration) -> u64 {
        let mut last = self.delivered();
        let mut progress = Instant::now();
        loop {
            let now = self.delivered();
            if now >= acked {
                return now;
            }
            if now != last {
                last = now;
                progress = Instant::now();
            } else if progress.elapsed() > stall {
                return now;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
