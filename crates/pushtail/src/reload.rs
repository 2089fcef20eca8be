//! Config reload: on SIGHUP, or when the config file changes on disk, the
//! file is loaded and validated again and the receiver's targets (labels,
//! relabel rules, pipelines, base URLs, limits) are swapped in.
//!
//! A reload never half-applies: a file that does not validate, or that
//! changes what cannot change while running (listeners, clients, wal), is
//! refused, logged and counted, and the running config stays in force.
//!
//! The file watch must stay cheap whatever else happens in the config
//! file's directory: on Linux the kernel is asked only for the events that
//! can replace or finish a write of a file (close after write, create,
//! rename into the directory), so a busy log file next to the config costs
//! nothing; names other than the config file (and Kubernetes' `..data`
//! symlink) are dropped before any allocation.

use std::ffi::OsStr;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use pushtail_client::config::ClientConfig;
use pushtail_receiver::{ReloadFailure, ReloadHook, Reloader};
use pushtail_wal::WalConfig;
use tokio::sync::mpsc;

use crate::Source;

pub const RELOAD_SUCCESS: &str = "promtail_config_reload_success_total";
pub const RELOAD_FAIL: &str = "promtail_config_reload_fail_total";

/// HELP text of the reload counters.
pub fn describe_metrics() {
    metrics::describe_counter!(
        RELOAD_SUCCESS,
        "Number of successful config reloads (SIGHUP or a change of the config file)."
    );
    metrics::describe_counter!(
        RELOAD_FAIL,
        "Number of config reloads that failed; the running config stays."
    );
}

/// File events closer together than this are one change (editors write a
/// file in several steps).
const SETTLE: Duration = Duration::from_millis(200);

/// The name Kubernetes swaps atomically when a mounted ConfigMap changes
/// (`config.yaml -> ..data/config.yaml`, `..data -> ..2026_01_01_...`).
const K8S_DATA: &str = "..data";

/// What happened to a name in the config file's directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Change {
    /// A writer closed the file (or, where the platform reports no close,
    /// wrote to it).
    Written,
    /// The name was created (a new file or symlink).
    Created,
    /// Something was renamed onto the name (editors' temp file + rename,
    /// vim's backup-rename, a ConfigMap symlink swap).
    MovedIn,
    /// Removals, renames away, metadata, reads: nothing to load.
    Other,
}

/// Whether a change to `name` in the watched directory may have changed the
/// config file `file`. A removal is not a reason: the file that replaces it
/// comes with its own create or rename.
fn wants_reload(change: Change, name: &OsStr, file: &OsStr) -> bool {
    change != Change::Other && (name == file || name == OsStr::new(K8S_DATA))
}

/// What can trigger a reload.
pub struct Triggers {
    #[cfg(unix)]
    hangup: tokio::signal::unix::Signal,
    file_events: mpsc::Receiver<()>,
    /// Keeps the file watch alive; `None` when it could not be set up.
    _watch: Option<watch::Watch>,
}

impl Triggers {
    /// Registers the SIGHUP handler and a watch on the config file's
    /// directory (editors replace files, so the file itself is not watched).
    pub fn install(config_path: &str) -> anyhow::Result<Self> {
        #[cfg(unix)]
        let hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            .context("installing the SIGHUP handler")?;
        let (tx, file_events) = mpsc::channel(1);
        let watch = match watch::start(Path::new(config_path), tx) {
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
            _watch: watch,
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

/// The directory to watch and the file name to look for in it.
fn split_path(path: &Path) -> (&Path, &OsStr) {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    (dir, path.file_name().unwrap_or_default())
}

#[cfg(target_os = "linux")]
mod watch {
    //! inotify with a narrow mask: writes, opens and reads of other files in
    //! the directory never reach this process.

    use std::ffi::OsString;
    use std::path::Path;

    use futures_util::StreamExt;
    use inotify::{EventMask, Inotify, WatchMask};
    use tokio::sync::mpsc;

    use super::{split_path, wants_reload, Change};

    /// The kernel events asked for on the config file's directory.
    pub(super) const MASK: WatchMask = WatchMask::CLOSE_WRITE
        .union(WatchMask::CREATE)
        .union(WatchMask::MOVED_TO)
        .union(WatchMask::ONLYDIR);

    /// The watch lives as long as this task; dropping it stops the watch.
    pub struct Watch(tokio::task::JoinHandle<()>);

    impl Drop for Watch {
        fn drop(&mut self) {
            self.0.abort();
        }
    }

    pub(super) fn change(mask: EventMask) -> Change {
        if mask.contains(EventMask::MOVED_TO) {
            Change::MovedIn
        } else if mask.contains(EventMask::CREATE) {
            Change::Created
        } else if mask.contains(EventMask::CLOSE_WRITE) || mask.contains(EventMask::MODIFY) {
            Change::Written
        } else {
            Change::Other
        }
    }

    /// Watches `path`'s directory and sends `()` on `tx` for every event
    /// that may have changed the file.
    pub fn start(path: &Path, tx: mpsc::Sender<()>) -> std::io::Result<Watch> {
        let (dir, file) = split_path(path);
        let file = file.to_os_string();
        let inotify = Inotify::init()?;
        inotify.watches().add(dir, MASK)?;
        let mut events = inotify.into_event_stream([0u8; 4096])?;
        Ok(Watch(tokio::spawn(async move {
            while let Some(event) = events.next().await {
                let event = match event {
                    Ok(e) => e,
                    Err(e) => {
                        tracing::warn!(error = %e, "config file watch failed; reload with SIGHUP");
                        return;
                    }
                };
                if relevant(event.mask, event.name.as_deref(), &file) && tx.try_send(()).is_err() {
                    // Full: a reload is pending already. Closed: nobody
                    // listens any more.
                    if tx.is_closed() {
                        return;
                    }
                }
            }
        })))
    }

    pub(super) fn relevant(
        mask: EventMask,
        name: Option<&std::ffi::OsStr>,
        file: &OsString,
    ) -> bool {
        if mask.contains(EventMask::Q_OVERFLOW) {
            // Events were lost; one of them may have been ours.
            return true;
        }
        name.is_some_and(|name| wants_reload(change(mask), name, file))
    }
}

#[cfg(not(target_os = "linux"))]
mod watch {
    //! notify elsewhere: the platform reports every event in the directory;
    //! the callback drops other names before doing anything else.

    use std::path::Path;

    use notify::event::{CreateKind, EventKind, ModifyKind, RenameMode};
    use notify::{RecursiveMode, Watcher};
    use tokio::sync::mpsc;

    use super::{split_path, wants_reload, Change};

    pub type Watch = notify::RecommendedWatcher;

    fn change(kind: &EventKind) -> Change {
        match kind {
            EventKind::Create(CreateKind::File | CreateKind::Any | CreateKind::Other) => {
                Change::Created
            }
            EventKind::Modify(ModifyKind::Name(RenameMode::To | RenameMode::Both)) => {
                Change::MovedIn
            }
            EventKind::Modify(ModifyKind::Data(_) | ModifyKind::Any) => Change::Written,
            _ => Change::Other,
        }
    }

    pub fn start(path: &Path, tx: mpsc::Sender<()>) -> notify::Result<Watch> {
        let (dir, file) = split_path(path);
        let file = file.to_os_string();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                let Ok(event) = event else { return };
                let change = change(&event.kind);
                if event
                    .paths
                    .iter()
                    .filter_map(|p| p.file_name())
                    .any(|name| wants_reload(change, name, &file))
                {
                    // A full channel already means "reload pending".
                    let _ = tx.try_send(());
                }
            })?;
        watcher.watch(dir, RecursiveMode::NonRecursive)?;
        Ok(watcher)
    }
}

/// The reload SIGHUP, file changes and `POST /reload` share: one at a
/// time, logged and counted the same way whatever triggered it.
pub struct Reload {
    source: Source,
    reloader: Reloader,
    clients: Vec<ClientConfig>,
    wal: WalConfig,
    one_at_a_time: tokio::sync::Mutex<()>,
    success: metrics::Counter,
    fail: metrics::Counter,
}

impl Reload {
    pub fn new(
        source: Source,
        reloader: Reloader,
        clients: Vec<ClientConfig>,
        wal: WalConfig,
    ) -> Reload {
        let success = metrics::counter!(RELOAD_SUCCESS);
        let fail = metrics::counter!(RELOAD_FAIL);
        success.increment(0);
        fail.increment(0);
        Reload {
            source,
            reloader,
            clients,
            wal,
            one_at_a_time: tokio::sync::Mutex::new(()),
            success,
            fail,
        }
    }

    /// Loads, validates and applies the config file once.
    pub async fn once(&self, trigger: &'static str) -> Result<(), ReloadFailure> {
        let _one = self.one_at_a_time.lock().await;
        let result = self.apply().await;
        // Logged before counted: whoever sees the count can find the line.
        match &result {
            Ok(()) => {
                tracing::info!(path = self.source.path(), trigger, "config reloaded");
                self.success.increment(1);
            }
            Err(e) => {
                tracing::error!(path = self.source.path(), trigger, error = %e, "config reload failed; the running config stays");
                self.fail.increment(1);
            }
        }
        result
    }

    async fn apply(&self) -> Result<(), ReloadFailure> {
        let plan = self.source.load().map_err(|e| {
            let message = crate::error_chain(&e);
            // A file that cannot be read is the agent's problem (500); one
            // that does not validate is the caller's (400).
            if e.root_cause().downcast_ref::<std::io::Error>().is_some() {
                ReloadFailure::Failed(message)
            } else {
                ReloadFailure::Refused(message)
            }
        })?;
        if plan.clients != self.clients {
            return Err(ReloadFailure::Refused(
                "clients changed: restart to apply client changes".into(),
            ));
        }
        if plan.wal != self.wal {
            return Err(ReloadFailure::Refused(
                "wal changed: restart to apply write-ahead log changes".into(),
            ));
        }
        self.reloader
            .reload(plan.listeners)
            .await
            .map_err(|e| match e {
                pushtail_receiver::ReloadError::Credentials(_) => {
                    ReloadFailure::Failed(e.to_string())
                }
                other => ReloadFailure::Refused(other.to_string()),
            })
    }
}

impl ReloadHook for Reload {
    fn reload(&self) -> Pin<Box<dyn Future<Output = Result<(), ReloadFailure>> + Send + '_>> {
        Box::pin(self.once("http"))
    }
}

/// Reloads on every trigger until the process stops.
pub async fn run(mut triggers: Triggers, reload: Arc<Reload>) {
    while triggers.next().await {
        let _ = reload.once("signal or file change").await;
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;
    use std::path::Path;

    use super::*;

    #[test]
    fn only_the_config_file_and_configmap_swaps_reload() {
        use Change::*;
        let file = OsStr::new("pushtail.yaml");
        let table: &[(Change, &str, bool)] = &[
            (Written, "pushtail.yaml", true),
            (Created, "pushtail.yaml", true),
            (MovedIn, "pushtail.yaml", true),
            (Other, "pushtail.yaml", false),
            (Written, "app.log", false),
            (Created, "app.log", false),
            (MovedIn, ".pushtail.yaml.swp", false),
            (Written, "pushtail.yaml~", false),
            (Written, "4913", false),
            (MovedIn, "..data", true),
            (Created, "..data_tmp", false),
            (Other, "..data", false),
            (Written, "pushtail.yml", false),
        ];
        for &(change, name, want) in table {
            assert_eq!(
                wants_reload(change, OsStr::new(name), file),
                want,
                "{change:?} {name}"
            );
        }
    }

    #[test]
    fn split_path_finds_the_directory() {
        let table: &[(&str, &str, &str)] = &[
            (
                "/etc/pushtail/pushtail.yaml",
                "/etc/pushtail",
                "pushtail.yaml",
            ),
            ("pushtail.yaml", ".", "pushtail.yaml"),
            ("config/p.yaml", "config", "p.yaml"),
        ];
        for &(path, dir, file) in table {
            assert_eq!(
                split_path(Path::new(path)),
                (Path::new(dir), OsStr::new(file)),
                "{path}"
            );
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn kernel_events_map_to_changes() {
        use inotify::EventMask as M;
        let file = std::ffi::OsString::from("c.yaml");
        let table: &[(M, Option<&str>, bool)] = &[
            (M::CLOSE_WRITE, Some("c.yaml"), true),
            (M::CREATE, Some("c.yaml"), true),
            (M::MOVED_TO, Some("c.yaml"), true),
            (M::MOVED_TO, Some("..data"), true),
            (M::MOVED_FROM, Some("c.yaml"), false),
            (M::DELETE, Some("c.yaml"), false),
            (M::CLOSE_WRITE, Some("other.log"), false),
            (M::CREATE | M::ISDIR, Some("..2026_01_01"), false),
            (M::IGNORED, None, false),
            (M::Q_OVERFLOW, None, true),
        ];
        for &(mask, name, want) in table {
            assert_eq!(
                watch::relevant(mask, name.map(OsStr::new), &file),
                want,
                "{mask:?} {name:?}"
            );
        }
    }

    /// The kernel subscription itself: writes to another file in the
    /// directory produce no event at all; only the config file's own write
    /// does.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn writes_to_other_files_never_reach_the_process() {
        use std::io::Write;

        use futures_util::StreamExt;

        let dir = tempfile::tempdir().expect("tempdir");
        let busy_path = dir.path().join("app.log");
        let mut busy = std::fs::File::create(&busy_path).expect("create busy file");
        let inotify = inotify::Inotify::init().expect("inotify");
        inotify
            .watches()
            .add(dir.path(), watch::MASK)
            .expect("watch");
        let mut events = inotify.into_event_stream([0u8; 4096]).expect("stream");
        for _ in 0..10_000 {
            busy.write_all(b"a line\n").expect("write busy file");
        }
        std::fs::read(&busy_path).expect("read busy file");
        std::fs::write(dir.path().join("c.yaml"), "x: 1\n").expect("write config");
        // The first event the process sees is the config file's.
        let first = tokio::time::timeout(Duration::from_secs(5), events.next())
            .await
            .expect("an event within 5 s")
            .expect("stream open")
            .expect("event");
        assert_eq!(
            first.name.as_deref(),
            Some(OsStr::new("c.yaml")),
            "{first:?}"
        );
        drop(busy);
    }
}
