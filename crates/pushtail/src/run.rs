//! Wiring: one bounded queue per client (or the dry-run printer), the
//! receiver in front, and the shutdown order that loses nothing acknowledged:
//! stop the receiver (in-flight pushes finish), close the queues, let every
//! client flush within `graceful_shutdown_timeout`.

use std::sync::Arc;

use anyhow::Context;
use metrics_exporter_prometheus::PrometheusBuilder;
use pushtail_client::Client;
use pushtail_proto::model::TenantBatch;
use pushtail_receiver::{Output, Receiver};
use tokio::sync::mpsc;

use crate::config::Plan;
use crate::dry_run;

/// Batches the dry-run printer may have waiting.
const DRY_RUN_QUEUE: usize = 64;

pub async fn run(plan: Plan, dry_run: bool) -> anyhow::Result<()> {
    if plan.clients.is_empty() && !dry_run {
        anyhow::bail!("no clients configured: add `clients` (or -client.url) or run with -dry-run");
    }
    let metrics = PrometheusBuilder::new()
        .install_recorder()
        .context("installing the metrics recorder")?;

    let mut queues = Vec::new();
    let mut clients = Vec::new();
    let mut printer = None;
    if dry_run {
        let (tx, rx) = mpsc::channel::<Arc<TenantBatch>>(DRY_RUN_QUEUE);
        queues.push(tx);
        printer = Some(tokio::spawn(dry_run::print(rx)));
    } else {
        for (index, client) in plan.clients.into_iter().enumerate() {
            let (tx, rx) = mpsc::channel(client.queue_capacity.max(1));
            let url = client.url.clone();
            let handle = Client::spawn(client, rx)
                .with_context(|| format!("clients[{index}] ({url})"))?;
            queues.push(tx);
            clients.push((url, handle));
        }
    }

    let output = Output { queues, push_timeout: plan.server.push_timeout.get() };
    let receiver = Receiver::bind(plan.listeners, output, Some(metrics)).await?;
    for (listener, addr) in receiver.local_addrs().into_iter().enumerate() {
        tracing::info!(listener, %addr, "listening");
    }
    receiver.run(shutdown_signal()).await?;
    tracing::info!("receiver stopped; flushing clients");

    let grace = plan.server.graceful_shutdown_timeout.get();
    let deadline = tokio::time::Instant::now() + grace;
    let mut undelivered = 0;
    for (url, mut handle) in clients {
        if tokio::time::timeout_at(deadline, handle.finished()).await.is_err() {
            let pending = handle.pending_entries();
            undelivered += pending;
            tracing::error!(client = %url, undelivered = pending, "shutdown timeout: entries not delivered");
        }
    }
    if let Some(printer) = printer {
        let _ = tokio::time::timeout_at(deadline, printer).await;
    }
    if undelivered > 0 {
        tracing::error!(undelivered, "exiting with undelivered entries");
    } else {
        tracing::info!("all entries delivered; exiting");
    }
    Ok(())
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
    tracing::info!("shutdown signal received");
}
