//! Reloading running listeners: `Reloader` swaps their routes and targets
//! at once, and `POST /reload` calls the binary's `ReloadHook`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::auth::CredentialError;
use crate::config::ServerConfig;
use crate::handoff::Handoff;
use crate::service::ListenerState;
use crate::{validate, ListenerSpec, ReceiverConfigError};

use super::flush::flush_routing;
use super::routing;

/// Why `POST /reload` failed, as the binary's hook reports it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReloadFailure {
    /// The new config is invalid or changes what cannot change: 400.
    #[error("{0}")]
    Refused(String),
    /// The config could not be loaded at all (unreadable): 500.
    #[error("{0}")]
    Failed(String),
}

/// What `POST /reload` runs: the binary's reload (the same as SIGHUP's), so
/// the receiver never depends on the binary.
pub trait ReloadHook: Send + Sync {
    fn reload(&self) -> Pin<Box<dyn Future<Output = Result<(), ReloadFailure>> + Send + '_>>;
}

/// Why a reload was refused; the running configuration stays in force.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error(transparent)]
    Config(#[from] ReceiverConfigError),
    #[error("{0}: listeners cannot change while running; restart to apply")]
    ListenersChanged(String),
    #[error(transparent)]
    Credentials(#[from] CredentialError),
}

/// Applies new targets (labels, relabel rules, pipelines, base URLs, limits)
/// to running listeners. The listeners themselves (addresses, ports,
/// timeouts) are fixed for the life of the process.
#[derive(Clone)]
pub struct Reloader {
    pub(super) listeners: Vec<(ServerConfig, Arc<ListenerState>)>,
    pub(super) handoff: Arc<Handoff>,
}

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloader")
            .field("listeners", &self.listeners.len())
            .finish_non_exhaustive()
    }
}

impl Reloader {
    /// Validates `listeners` (same listeners as running, in the same order)
    /// and swaps every listener's routes and targets at once. Entries that
    /// the replaced pipelines still held (multiline) are released into the
    /// output, not lost.
    pub async fn reload(&self, listeners: Vec<ListenerSpec>) -> Result<(), ReloadError> {
        validate(&listeners)?;
        if listeners.len() != self.listeners.len() {
            return Err(ReloadError::ListenersChanged(format!(
                "{} listeners running, {} configured",
                self.listeners.len(),
                listeners.len()
            )));
        }
        for (i, (spec, (server, _))) in listeners.iter().zip(&self.listeners).enumerate() {
            if spec.server != *server {
                let what = if spec.server.http_tls_config != server.http_tls_config {
                    "has a new http_tls_config (certificate files are re-read when they change, without a reload)"
                } else {
                    "has new server settings"
                };
                return Err(ReloadError::ListenersChanged(format!(
                    "listener {i} ({}:{}) {what}",
                    server.http_listen_address, server.http_listen_port
                )));
            }
        }
        // Credential files are read before anything is swapped.
        let routings = listeners
            .iter()
            .zip(&self.listeners)
            .map(|(spec, (_, state))| routing(spec, Some(&state.routing.load())))
            .collect::<Result<Vec<_>, _>>()?;
        let mut replaced = Vec::with_capacity(listeners.len());
        for (new, (_, state)) in routings.into_iter().zip(&self.listeners) {
            replaced.push(state.routing.swap(Arc::new(new)));
        }
        for old in replaced {
            flush_routing(&old, &self.handoff, true, Some(RELOAD_FLUSH_TIMEOUT)).await;
        }
        Ok(())
    }
}

/// How long entries released by replaced pipelines wait for queue room.
const RELOAD_FLUSH_TIMEOUT: Duration = Duration::from_secs(30);
