//! The write-ahead log between the receiver and the clients.
//!
//! The receiver appends each accepted push as one record ([`Writer::append`])
//! and answers 204 only once the record is written (and fsynced with
//! `sync: request`). Each client reads the log at its own pace through a
//! [`Tail`], which feeds its queue, and commits the position from which it
//! must resume after a restart; a segment is deleted once every client has
//! committed past it. The log never holds more than `max_size` bytes: an
//! append that does not fit is refused, and the push gets 503.
//!
//! Invariants: an `Ok` from [`Writer::append`] means the record is in the
//! log; nothing in a segment is deleted before every tail has committed past
//! it; a torn or corrupt record is detected by its checksum, never decoded.
//! This crate has no HTTP in it and never panics on what it reads from disk.

pub mod config;
pub mod metrics;

mod record;
mod segment;
mod shared;
mod tail;
mod writer;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use config::{SyncMode, WalConfig};
pub use record::RecordError;
pub use tail::{Tail, TailHandle};
pub use writer::Writer;

use crate::shared::Shared;

/// Why the log could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("wal.dir {dir}: {source}", dir = dir.display())]
    Dir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("wal.dir {dir} is in use by another process (lock file {lock})", dir = dir.display(), lock = lock.display())]
    Locked { dir: PathBuf, lock: PathBuf },
    #[error("wal.dir {dir}: starting the writer thread: {source}", dir = dir.display())]
    Thread {
        dir: PathBuf,
        source: std::io::Error,
    },
}

/// Why an append was refused; nothing of it is in the log.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AppendError {
    #[error("write-ahead log is full ({max_size} bytes); delivery is behind")]
    Full { max_size: u64 },
    #[error("write-ahead log write failed: {0}")]
    Io(String),
    #[error("write-ahead log is closed")]
    Closed,
}

/// An open log: its writer and one tail per client.
pub struct Wal {
    pub writer: Writer,
    pub tails: Vec<Tail>,
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal")
            .field("tails", &self.tails.len())
            .finish_non_exhaustive()
    }
}

impl Wal {
    /// Opens (or creates) the log in `config.dir`, locks it, repairs a torn
    /// tail, and prepares one tail per name in `clients` (in that order),
    /// each starting at its checkpoint. Checkpoints of clients no longer
    /// configured are removed, so they cannot hold segments forever.
    pub fn open(config: &WalConfig, clients: &[String]) -> Result<Wal, OpenError> {
        let dir = config.dir.clone();
        let dir_err = |source| OpenError::Dir {
            dir: dir.clone(),
            source,
        };
        std::fs::create_dir_all(&dir).map_err(dir_err)?;
        let lock = lock_dir(&dir)?;
        crate::metrics::describe();
        let shared = Arc::new(Shared::open(config, clients, lock).map_err(dir_err)?);
        let writer = Writer::start(Arc::clone(&shared)).map_err(|source| OpenError::Thread {
            dir: dir.clone(),
            source,
        })?;
        let tails = (0..clients.len())
            .map(|i| Tail::new(Arc::clone(&shared), i))
            .collect();
        Ok(Wal { writer, tails })
    }
}

/// Takes the directory's lock file, so two agents cannot share a log. The
/// lock lives as long as the returned file (released by the OS on exit,
/// also on kill -9).
fn lock_dir(dir: &Path) -> Result<File, OpenError> {
    let path = dir.join("LOCK");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| OpenError::Dir {
            dir: dir.to_owned(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(OpenError::Locked {
            dir: dir.to_owned(),
            lock: path,
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(OpenError::Dir {
            dir: dir.to_owned(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests;
