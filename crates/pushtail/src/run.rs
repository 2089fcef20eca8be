//! Wiring: one bounded queue per client (or the dry-run printer), the
//! receiver in front, and the shutdown order that loses nothing acknowledged:
//! stop the receiver (in-flight pushes finish), close the queues, let every
//! client flush within `graceful_shutdown_timeout`.

use std::sync::Arc;

use anyhow::Context;
use metrics_exporter_prometheus::PrometheusHandle;
use pushtail_client::{Client, Progress};
use pushtail_proto::model::Delivery;
use pushtail_receiver::{Output, Receiver};
use pushtail_wal::{TailHandle, Wal};
use tokio::sync::mpsc;

use crate::config::Plan;
use crate::status::{ClientView, Clients};
use crate::{dry_run, reload, Source};

/// Batches the dry-run printer may have waiting.
const DRY_RUN_QUEUE: usize = 64;

pub async fn run(
    plan: Plan,
    source: Source,
    metrics: Option<PrometheusHandle>,
    dry_run: bool,
) -> anyhow::Result<()> {
    crate::telemetry::spawn_process_metrics();

    let running_clients = plan.clients.clone();
    let running_wal = plan.wal.clone();
    let mut queues = Vec::new();
    let mut clients = Vec::new();
    let mut printer = None;
    let mut log = None;
    let mut views = Vec::new();
    if dry_run {
        if plan.wal.enabled {
            tracing::warn!("-dry-run: the write-ahead log is not used");
        }
        // Nothing is sent, but the client families exist (at 0) as they
        // will when it does.
        for client in &plan.clients {
            pushtail_client::register_metrics(client);
        }
        let (tx, rx) = mpsc::channel::<Arc<Delivery>>(DRY_RUN_QUEUE);
        queues.push(tx);
        printer = Some(tokio::spawn(dry_run::print(
            rx,
            plan.dry_run_labels.clone(),
        )));
    } else {
        let wal = if plan.wal.enabled {
            let names = wal_client_names(&plan.clients);
            let wal = Wal::open(&plan.wal, &names)?;
            tracing::info!(dir = %plan.wal.dir.display(), sync = ?plan.wal.sync, max_size = plan.wal.max_size.get(), "write-ahead log open");
            Some(wal)
        } else {
            None
        };
        let mut tails = match wal {
            Some(wal) => {
                log = Some(Arc::new(wal.writer));
                wal.tails.into_iter().map(Some).collect()
            }
            None => Vec::new(),
        };
        for (index, client) in plan.clients.into_iter().enumerate() {
            let capacity = client.queue_capacity.max(1);
            let (tx, rx) = mpsc::channel(capacity);
            let url = client.url.clone();
            let handle =
                Client::spawn(client, rx).with_context(|| format!("clients[{index}] ({url})"))?;
            let mut view = ClientView {
                probe: handle.probe(),
                queue: tx.downgrade(),
                queue_capacity: capacity,
                tail: None,
            };
            match tails.get_mut(index).and_then(Option::take) {
                Some(tail) => {
                    let tail = Arc::new(tail.spawn(tx).with_context(|| {
                        format!("clients[{index}] ({url}): starting its write-ahead log reader")
                    })?);
                    view.tail = Some(Arc::clone(&tail));
                    views.push(view);
                    clients.push((url, handle, Some(tail)));
                }
                None => {
                    queues.push(tx);
                    views.push(view);
                    clients.push((url, handle, None));
                }
            }
        }
    }

    let signals = Signals::install()?;
    let triggers = reload::Triggers::install(source.path())?;
    let output = Output {
        queues,
        push_timeout: plan.server.push_timeout.get(),
        log,
    };
    let described: Vec<(String, String)> = plan.listeners.iter().map(describe).collect();
    let receiver = Receiver::bind(plan.listeners, output, metrics).await?;
    receiver.attach_status(
        format!("{} (revision {})", crate::VERSION, crate::REVISION),
        Arc::new(Clients(views)),
    );
    for (listener, (addr, (jobs, base_urls))) in receiver
        .local_addrs()
        .into_iter()
        .zip(described)
        .enumerate()
    {
        tracing::info!(listener, address = %addr, jobs, base_urls, "listening");
    }
    let reload = Arc::new(reload::Reload::new(
        source,
        receiver.reloader(),
        running_clients,
        running_wal,
    ));
    receiver.set_reload_hook(reload.clone());
    let reloads = tokio::spawn(reload::run(triggers, reload));
    let committers: Vec<_> = clients
        .iter()
        .filter_map(|(_, handle, tail)| {
            let tail = Arc::clone(tail.as_ref()?);
            Some(tokio::spawn(commit_loop(handle.progress(), tail)))
        })
        .collect();
    receiver.run(signals.wait()).await?;
    reloads.abort();
    tracing::info!("receiver stopped; flushing clients");

    let grace = plan.server.graceful_shutdown_timeout.get();
    let deadline = tokio::time::Instant::now() + grace;
    let mut finished = Vec::with_capacity(clients.len());
    for (_, handle, _) in &mut clients {
        finished.push(
            tokio::time::timeout_at(deadline, handle.finished())
                .await
                .is_ok(),
        );
    }
    // The final checkpoints below are the last word; no committer may race them.
    for committer in committers {
        committer.abort();
    }
    let mut undelivered = 0;
    let mut kept = 0;
    let mut dropped = 0;
    for ((url, handle, tail), finished) in clients.into_iter().zip(finished) {
        dropped += handle.dropped_entries();
        let Some(tail) = tail else {
            if !finished {
                let pending = handle.pending_entries();
                undelivered += pending;
                tracing::error!(client = %url, undelivered = pending, "shutdown timeout: entries not delivered");
            }
            continue;
        };
        // With the log, what is not delivered stays there for the next start.
        if let Some(position) = handle.progress().resume_position() {
            if let Err(e) = tail.commit(position) {
                tracing::error!(client = %url, error = %e, "write-ahead log: cannot write the checkpoint; the next start delivers some entries again");
            }
        }
        if !finished {
            let pending = handle.pending_entries();
            kept += pending;
            tracing::warn!(client = %url, pending_entries = pending, log_bytes = tail.lag_bytes(), "shutdown timeout: undelivered entries stay in the write-ahead log for the next start");
        }
    }
    if let Some(printer) = printer {
        let _ = tokio::time::timeout_at(deadline, printer).await;
    }
    if kept > 0 {
        tracing::info!(
            pending_entries = kept,
            "entries kept in the write-ahead log"
        );
    }
    shutdown_outcome(undelivered, dropped)
}

/// A listener's jobs and base URLs, comma-separated, for the start-up log.
fn describe(spec: &pushtail_receiver::ListenerSpec) -> (String, String) {
    let jobs: Vec<&str> = spec.targets.iter().map(|t| t.job_name.as_str()).collect();
    let urls: Vec<String> = spec
        .targets
        .iter()
        .map(|t| pushtail_receiver::normalize_base_url(&t.base_url))
        .collect();
    (jobs.join(","), urls.join(","))
}

/// Checkpoints a client's progress in the write-ahead log each time it
/// moves (after each batch sent), so a restart resends at most what was in
/// flight.
async fn commit_loop(mut progress: Progress, tail: Arc<TailHandle>) {
    while let Some(position) = progress.changed().await {
        let Some(position) = position else { continue };
        if let Err(e) = tail.commit(position) {
            tracing::warn!(client = tail.name(), error = %e, "write-ahead log: cannot write the checkpoint");
        }
    }
}

/// The name each client's checkpoint goes by: derived from its URL (so
/// reordering clients keeps their progress), made unique by position.
fn wal_client_names(clients: &[pushtail_client::config::ClientConfig]) -> Vec<String> {
    let mut names: Vec<String> = Vec::with_capacity(clients.len());
    for (i, client) in clients.iter().enumerate() {
        // FNV-1a: stable across builds and platforms, unlike std's hasher.
        let hash = client.url.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        let mut name = format!("client-{hash:016x}");
        if names.contains(&name) {
            name = format!("{name}-{i}");
        }
        names.push(name);
    }
    names
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
