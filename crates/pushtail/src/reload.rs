//! Config reload: on SIGHUP, or when the config file changes on disk, the
//! file is loaded and validated again and the receiver's targets (labels,
//! relabel rules, pipelines, base URLs, limits) are swapped in.
//!
//! A reload never half-applies: a file that does not validate, or that
//! changes what cannot change while running (listeners, clients, wal), is
//! refused, logged and counted, and the running config stays in force.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use notify::{RecursiveMode, Watcher};
use pushtail_client::config::ClientConfig;
use pushtail_receiver::Reloader;
use pushtail_wal::WalConfig;
use tokio::sync::mpsc;

use crate::Source;

pub const RELOAD_SUCCESS: &str = "promtail_config_reload_success_total";
pub const RELOAD_FAIL: &str = "promtail_config_reload_fail_total";

/// File events closer together than this are one change (editors write a
/// file in several steps).
const SETTLE: Duration = Duration::from_millis(200);

/// What can trigger a reload.
pub struct Triggers {
    #[cfg(unix)]
    hangup: tokio::signal::unix::Signal,
    file_events: mpsc::Receiver<()>,
    /// Keeps the file watch alive; `None` when it could not be set up.
    _watcher: Option<notify::RecommendedWatcher>,
}

impl Triggers {
    /// Registers the SIGHUP handler and a watch on the config file's
    /// directory (editors replace files, so the file itself is not watched).
    pub fn install(config_path: &str) -> anyhow::Result<Self> {
        #[cfg(unix)]
        let hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            .context("installing the SIGHUP handler")?;
        let (tx, file_events) = mpsc::channel(1);
        let watcher = match watch_file(Path::new(config_path), tx) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(path = config_path, error = %e, "config file is not watched; reload with SIGHUP");
                None
            }
        };
        Ok(Triggers {
            #[cfg(unix)]
            hangup,
            file_events,
            _watcher: watcher,
        })
    }

    /// Resolves at the next trigger; `false` when no trigger can come any
    /// more.
    async fn next(&mut self) -> bool {
        #[cfg(unix)]
        let got = tokio::select! {
            s = self.hangup.recv() => s.is_some(),
            e = self.file_events.recv() => e.is_some() && self.settle().await,
        };
        #[cfg(not(unix))]
        let got = self.file_events.recv().await.is_some() && self.settle().await;
        got
    }

    /// Swallows the rest of a burst of file events.
    async fn settle(&mut self) -> bool {
        loop {
            match tokio::time::timeout(SETTLE, self.file_events.recv()).await {
                Err(_) => return true,
                Ok(Some(())) => continue,
                Ok(None) => return false,
            }
        }
    }
}

fn watch_file(path: &Path, tx: mpsc::Sender<()>) -> notify::Result<notify::RecommendedWatcher> {
    let file: PathBuf = path.file_name().map(PathBuf::from).unwrap_or_default();
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if event.kind.is_access() {
            return;
        }
        if event
            .paths
            .iter()
            .any(|p| p.file_name() == Some(file.as_os_str()))
        {
            // A full channel already means "reload pending".
            let _ = tx.try_send(());
        }
    })?;
    watcher.watch(&dir, RecursiveMode::NonRecursive)?;
    Ok(watcher)
}

/// Reloads on every trigger until the process stops.
pub async fn run(
    mut triggers: Triggers,
    source: Source,
    reloader: Reloader,
    clients: Vec<ClientConfig>,
    wal: WalConfig,
) {
    let success = metrics::counter!(RELOAD_SUCCESS);
    let fail = metrics::counter!(RELOAD_FAIL);
    success.increment(0);
    fail.increment(0);
    while triggers.next().await {
        match reload(&source, &reloader, &clients, &wal).await {
            // Logged before counted: whoever sees the count can find the line.
            Ok(()) => {
                tracing::info!(path = source.path(), "config reloaded");
                success.increment(1);
            }
            Err(e) => {
                tracing::error!(path = source.path(), error = %format!("{e:#}"), "config reload failed; the running config stays");
                fail.increment(1);
            }
        }
    }
}

async fn reload(
    source: &Source,
    reloader: &Reloader,
    running: &[ClientConfig],
    running_wal: &WalConfig,
) -> anyhow::Result<()> {
    let (plan, _) = source.load()?;
    if plan.clients != running {
        anyhow::bail!("clients changed: restart to apply client changes");
    }
    if plan.wal != *running_wal {
        anyhow::bail!("wal changed: restart to apply write-ahead log changes");
    }
    reloader.reload(plan.listeners).await?;
    Ok(())
}
