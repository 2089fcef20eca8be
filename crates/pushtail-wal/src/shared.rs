//! What the writer and the tails share: the segment list, the end of the
//! written log, each tail's committed position, and the checkpoint files.
//!
//! One mutex guards it, held only for bookkeeping (and the rare file
//! deletion), never across a write or a read of a segment.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use metrics::{Counter, Gauge};

use crate::config::{SyncMode, WalConfig};
use crate::metrics::{CLIENT_LAG, CORRUPTIONS, LOST_BYTES, WAL_BYTES, WAL_SEGMENTS};
use crate::segment;

/// Checkpoint files are `checkpoint-<client name>`.
const CHECKPOINT_PREFIX: &str = "checkpoint-";

pub(crate) struct Shared {
    pub dir: PathBuf,
    pub max_size: u64,
    pub segment_size: u64,
    pub sync: SyncMode,
    /// How long a tail sleeps when nothing wakes it.
    pub poll: Duration,
    /// The end of the log when it was opened: records before it are replayed.
    pub replay_end: u64,
    pub names: Vec<String>,
    state: Mutex<State>,
    /// Notified when the end moves or the writer closes.
    pub changed: Condvar,
    pub corruptions: Counter,
    pub lost_bytes: Counter,
    wal_bytes: Gauge,
    wal_segments: Gauge,
    lag: Vec<Gauge>,
    /// Held for the life of the log: the directory lock.
    _lock: File,
}

pub(crate) struct State {
    /// Start position → length in bytes, oldest first. The last one is the
    /// segment being written.
    pub segments: BTreeMap<u64, u64>,
    /// Just past the last record written (and synced, with `sync: request`).
    pub end: u64,
    /// The writer is gone: no record will follow `end`.
    pub closed: bool,
    /// Per tail, the position it must resume from.
    pub committed: Vec<u64>,
}

impl State {
    pub fn disk_bytes(&self) -> u64 {
        self.segments.values().sum()
    }

    /// The segment holding `position`: its start and length. Positions before
    /// the oldest segment (deleted) map to the oldest.
    pub fn segment_at(&self, position: u64) -> Option<(u64, u64)> {
        self.segments
            .range(..=position)
            .next_back()
            .or_else(|| self.segments.iter().next())
            .map(|(&s, &l)| (s, l))
    }

    /// The start of the segment after the one starting at `start`.
    pub fn next_segment(&self, start: u64) -> Option<u64> {
        self.segments.range(start + 1..).next().map(|(&s, _)| s)
    }
}

impl Shared {
    pub fn open(config: &WalConfig, clients: &[String], lock: File) -> io::Result<Shared> {
        let dir = config.dir.clone();
        let corruptions = metrics::counter!(CORRUPTIONS);
        let lost_bytes = metrics::counter!(LOST_BYTES);
        let mut found = segment::list(&dir)?;
        if let Some(last) = found.pop() {
            let (good, bad) = segment::scan(&last.path)?;
            let mut keep = last.clone();
            if let Some(bad) = bad {
                let lost = last.len - good;
                tracing::warn!(
                    segment = %last.path.display(),
                    offset = good,
                    lost_bytes = lost,
                    problem = bad.as_str(),
                    "write-ahead log: truncating a torn or corrupt tail"
                );
                corruptions.increment(1);
                lost_bytes.increment(lost);
                keep.len = good;
            }
            if keep.len <= segment::MAGIC.len() as u64 {
                // Nothing in it: the writer starts a new segment here.
                std::fs::remove_file(&last.path)?;
            } else {
                if keep.len < last.len {
                    File::options()
                        .write(true)
                        .open(&last.path)?
                        .set_len(keep.len)?;
                }
                found.push(keep);
            }
        }
        let segments: BTreeMap<u64, u64> = found.iter().map(|s| (s.start, s.len)).collect();
        let end = segments.iter().next_back().map_or(0, |(s, l)| s + l);
        let oldest = segments.keys().next().copied().unwrap_or(end);
        let names: Vec<String> = clients.iter().map(|n| file_safe(n)).collect();
        remove_stale_checkpoints(&dir, &names)?;
        let committed = names
            .iter()
            .map(|name| {
                read_checkpoint(&dir, name)
                    .unwrap_or(oldest)
                    .clamp(oldest, end)
            })
            .collect();
        let max_size = config.max_size.get().max(1);
        let shared = Shared {
            dir,
            max_size,
            segment_size: (max_size / 8).clamp(64 << 10, 128 << 20),
            sync: config.sync,
            poll: config.watch_config.max_read_frequency.get(),
            replay_end: end,
            lag: names
                .iter()
                .map(|n| metrics::gauge!(CLIENT_LAG, "client" => n.clone()))
                .collect(),
            names,
            state: Mutex::new(State {
                segments,
                end,
                closed: false,
                committed,
            }),
            changed: Condvar::new(),
            corruptions,
            lost_bytes,
            wal_bytes: metrics::gauge!(WAL_BYTES),
            wal_segments: metrics::gauge!(WAL_SEGMENTS),
            _lock: lock,
        };
        shared.update_gauges(&shared.lock());
        Ok(shared)
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        // Every update leaves the state consistent before anything that
        // could panic, so a poisoned lock still holds good data.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn segment_path(&self, start: u64) -> PathBuf {
        self.dir.join(segment::file_name(start))
    }

    /// Records that tail `tail` must resume from `position`, persists it
    /// (write, then atomic rename) and deletes segments every tail has
    /// passed.
    pub fn commit(&self, tail: usize, position: u64) -> io::Result<()> {
        let name = self
            .names
            .get(tail)
            .ok_or_else(|| io::Error::other("no such tail"))?;
        write_checkpoint(&self.dir, name, position)?;
        let mut state = self.lock();
        if let Some(c) = state.committed.get_mut(tail) {
            *c = position;
        }
        self.collect_garbage(&mut state);
        Ok(())
    }

    /// Deletes every segment that all tails have passed (never the one
    /// being written), and refreshes the gauges.
    pub fn collect_garbage(&self, state: &mut State) {
        let floor = state.committed.iter().copied().min().unwrap_or(state.end);
        loop {
            let mut starts = state.segments.keys();
            let (Some(&oldest), Some(&next)) = (starts.next(), starts.next()) else {
                break;
            };
            if next > floor {
                break;
            }
            let path = self.segment_path(oldest);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(segment = %path.display(), error = %e, "write-ahead log: cannot delete a delivered segment");
                    break;
                }
            }
            state.segments.remove(&oldest);
        }
        self.update_gauges(state);
    }

    pub fn update_gauges(&self, state: &State) {
        self.wal_bytes.set(state.disk_bytes() as f64);
        self.wal_segments.set(state.segments.len() as f64);
        for (gauge, committed) in self.lag.iter().zip(&state.committed) {
            gauge.set(state.end.saturating_sub(*committed) as f64);
        }
    }
}

/// A client name as a file name: anything but `[A-Za-z0-9._-]` becomes `_`.
fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '_' | '-' => c,
            _ => '_',
        })
        .collect()
}

fn checkpoint_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{CHECKPOINT_PREFIX}{name}"))
}

fn read_checkpoint(dir: &Path, name: &str) -> Option<u64> {
    let path = checkpoint_path(dir, name);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!(checkpoint = %path.display(), error = %e, "write-ahead log: unreadable checkpoint; replaying from the oldest segment");
            return None;
        }
    };
    let position = text.trim().parse().ok();
    if position.is_none() {
        tracing::warn!(checkpoint = %path.display(), "write-ahead log: invalid checkpoint; replaying from the oldest segment");
    }
    position
}

fn write_checkpoint(dir: &Path, name: &str, position: u64) -> io::Result<()> {
    let path = checkpoint_path(dir, name);
    let tmp = dir.join(format!(".{CHECKPOINT_PREFIX}{name}.tmp"));
    std::fs::write(&tmp, format!("{position}\n"))?;
    std::fs::rename(&tmp, &path)
}

fn remove_stale_checkpoints(dir: &Path, names: &[String]) -> io::Result<()> {
    for item in std::fs::read_dir(dir)? {
        let item = item?;
        let file = item.file_name();
        let Some(name) = file
            .to_str()
            .and_then(|f| f.strip_prefix(CHECKPOINT_PREFIX))
        else {
            continue;
        };
        if !names.iter().any(|n| n == name) {
            tracing::warn!(
                client = name,
                "write-ahead log: removing the checkpoint of a client no longer configured"
            );
            std::fs::remove_file(item.path())?;
        }
    }
    Ok(())
}
