//! The fake Loki the agent forwards to: the test kit's counting sink, which
//! fully decodes every push (snappy + protobuf) and counts entries.
//!
//! The test kit binds a free port; when another agent needs the sink on a
//! fixed `--sink-port`, a plain TCP relay listens there and forwards each
//! connection to the sink. The relay runs in the harness, so it never
//! counts against the agent.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use pushtail_tests::fake_loki::FakeLoki;
use tokio::net::{TcpListener, TcpStream};

const POLL: Duration = Duration::from_millis(50);

pub struct Sink {
    loki: FakeLoki,
    port: u16,
}

/// Forwards every connection accepted on `listener` to `to`.
async fn relay(listener: TcpListener, to: std::net::SocketAddr) {
    while let Ok((mut inbound, _)) = listener.accept().await {
        tokio::spawn(async move {
            let _ = inbound.set_nodelay(true);
            if let Ok(mut outbound) = TcpStream::connect(to).await {
                let _ = outbound.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
    }
}

impl Sink {
    /// Starts the sink; reachable on 127.0.0.1:`port` when given, else on
    /// the sink's own free port.
    pub async fn start(port: Option<u16>) -> Result<Sink> {
        let loki = FakeLoki::start_counting().await;
        let port = match port {
            None | Some(0) => loki.addr().port(),
            Some(p) => {
                let listener = TcpListener::bind(("127.0.0.1", p))
                    .await
                    .with_context(|| format!("binding the sink port 127.0.0.1:{p}"))?;
                tokio::spawn(relay(listener, loki.addr()));
                p
            }
        };
        Ok(Sink { loki, port })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Entries decoded so far.
    pub fn delivered(&self) -> u64 {
        self.loki.entry_count()
    }

    /// Line bytes decoded so far.
    pub fn line_bytes(&self) -> u64 {
        self.loki.line_bytes()
    }

    /// Pushes the sink refused (bad body); should stay 0.
    pub fn rejected(&self) -> u64 {
        self.loki.rejected_count()
    }

    /// Waits until `acked` entries arrived or nothing arrived for `stall`;
    /// returns the entries delivered.
    pub async fn drain(&self, acked: u64, stall: Duration) -> u64 {
        let mut last = self.delivered();
        let mut progress = Instant::now();
        loop {
            let now = self.delivered();
            if now >= acked {
                // Let a straggler past `acked` show up as a mismatch.
                tokio::time::sleep(POLL * 4).await;
                return self.delivered();
            }
            if now != last {
                last = now;
                progress = Instant::now();
            } else if progress.elapsed() > stall {
                return now;
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sink_port_relay_reaches_the_counting_sink() {
        // Find a free port, then ask the sink to listen there.
        let free = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let sink = Sink::start(Some(free)).await.unwrap();
        assert_eq!(sink.port(), free);
        let body = crate::bench::bodies::build(
            crate::bench::bodies::Format::Proto,
            &crate::bench::bodies::Shape {
                streams: 2,
                lines: 6,
                line_bytes: 10,
                distinct_streams: 2,
                structured_metadata: false,
            },
            1,
        )
        .unwrap();
        let target = crate::bench::load::Target {
            authority: format!("127.0.0.1:{free}"),
            path: "/loki/api/v1/push".into(),
            content_type: "application/x-protobuf",
        };
        let now = Instant::now();
        let window = crate::bench::load::Window {
            start: now,
            end: now + Duration::from_millis(200),
        };
        let tally = crate::bench::load::run(1, target, std::sync::Arc::new(body), window).await;
        assert!(
            tally.acked > 0 && tally.failures == 0,
            "{:?}",
            tally.failure_samples
        );
        assert_eq!(
            sink.drain(tally.acked, Duration::from_secs(5)).await,
            tally.acked
        );
        assert_eq!(sink.line_bytes(), tally.acked * 10);
        assert_eq!(sink.rejected(), 0);
    }
}
