//! Wiring: one bounded queue per client (or the dry-run printer), the
//! receiver in front, and the shutdown order that loses nothing acknowledged:
//! stop the receiver (in-flight pushes finish), close the queues, let every
//! client flush within `graceful_shutdown_timeout`.

use std::sync::Arc;

use anyhow::Context;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use pushtail_client::Client;
use pushtail_proto::model::Delivery;
use pushtail_receiver::{Output, Receiver};
use tokio::sync::mpsc;

use crate::config::Plan;
use crate::{dry_run, reload, Source};

/// Prometheus' default buckets, for the `*_seconds` histograms.
const SECONDS_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Buckets for the `*_bytes` histograms: 1 KiB to 64 MiB by powers of 4.
const BYTES_BUCKETS: &[f64] = &[
    1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0, 16777216.0, 67108864.0,
];

/// Batches the dry-run printer may have waiting.
const DRY_RUN_QUEUE: usize = 64;

pub async fn run(plan: Plan, source: Source, dry_run: bool) -> anyhow::Result<()> {
    if plan.clients.is_empty() && !dry_run {
        anyhow::bail!("no clients configured: add `clients` (or -client.url) or run with -dry-run");
    }
    // Without buckets the exporter renders histograms as summaries.
    let metrics = PrometheusBuilder::new()
        .set_buckets(SECONDS_BUCKETS)
        .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_bytes".into()), BYTES_BUCKETS))
        .context("configuring histogram buckets")?
        .install_recorder()
        .context("installing the metrics recorder")?;

    for key in &plan.ignored_keys {
        tracing::warn!(
            key,
            "config key is accepted for Promtail compatibility and ignored"
        );
    }

    let running_clients = plan.clients.clone();
    let mut queues = Vec::new();
    let mut clients = Vec::new();
    let mut printer = None;
    if dry_run {
        let (tx, rx) = mpsc::channel::<Arc<Delivery>>(DRY_RUN_QUEUE);
        queues.push(tx);
        printer = Some(tokio::spawn(dry_run::print(rx)));
    } else {
        for (index, client) in plan.clients.into_iter().enumerate() {
            let (tx, rx) = mpsc::channel(client.queue_capacity.max(1));
            let url = client.url.clone();
            let handle =
                Client::spawn(client, rx).with_context(|| format!("clients[{index}] ({url})"))?;
            queues.push(tx);
            clients.push((url, handle));
        }
    }

    let signals = Signals::install()?;
    let triggers = reload::Triggers::install(source.path())?;
    let output = Output {
        queues,
        push_timeout: plan.server.push_timeout.get(),
    };
    let receiver = Receiver::bind(plan.listeners, output, Some(metrics)).await?;
    for (listener, addr) in receiver.local_addrs().into_iter().enumerate() {
        tracing::info!(listener, %addr, "listening");
    }
    let reloads = tokio::spawn(reload::run(
        triggers,
        source,
        receiver.reloader(),
        running_clients,
    ));
    receiver.run(signals.wait()).await?;
    reloads.abort();
    tracing::info!("receiver stopped; flushing clients");

    let grace = plan.server.graceful_shutdown_timeout.get();
    let deadline = tokio::time::Instant::now() + grace;
    let mut undelivered = 0;
    let mut dropped = 0;
    for (url, mut handle) in clients {
        if tokio::time::timeout_at(deadline, handle.finished())
            .await
            .is_err()
        {
            let pending = handle.pending_entries();
            undelivered += pending;
            tracing::error!(client = %url, undelivered = pending, "shutdown timeout: entries not delivered");
        }
        dropped += handle.dropped_entries();
    }
    if let Some(printer) = printer {
        let _ = tokio::time::timeout_at(deadline, printer).await;
    }
    shutdown_outcome(undelivered, dropped)
}

/// The last word of a run: exit 0 only when every acknowledged entry was
/// delivered; otherwise say which were not and how many.
fn shutdown_outcome(undelivered: u64, dropped: u64) -> anyhow::Result<()> {
    match (undelivered, dropped) {
        (0, 0) => {
            tracing::info!("all entries delivered; exiting");
            Ok(())
        }
        (0, dropped) => {
            anyhow::bail!("exiting after dropping {dropped} acknowledged entries (Loki refused them or retries ran out)")
        }
        (undelivered, 0) => anyhow::bail!(
            "exiting with {undelivered} acknowledged entries undelivered (graceful_shutdown_timeout ran out)"
        ),
        (undelivered, dropped) => anyhow::bail!(
            "exiting with {undelivered} acknowledged entries undelivered (graceful_shutdown_timeout ran out) and {dropped} dropped (Loki refused them or retries ran out)"
        ),
    }
}

/// SIGTERM and SIGINT handlers, registered when created so that a signal
/// arriving right after start-up is never missed (a future that registers on
/// first poll would leave a window where the default action kills us).
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Signals {
                term: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
                int: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    /// Resolves on the first SIGTERM or SIGINT.
    async fn wait(mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutdown signal received");
    }
}
