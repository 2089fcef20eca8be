//! A client's reader: one OS thread per client that reads records from its
//! committed position on, in order, and feeds them to the client's bounded
//! queue (blocking while the queue is full, so a slow client holds disk,
//! not memory). The client reports how far it has delivered; the binary
//! commits that through the [`TailHandle`].
//!
//! A record is checked before it is decoded. A bad record in a segment that
//! is no longer written (a corrupt middle) costs the rest of that segment,
//! counted and logged; the tail goes on with the next segment.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use pushtail_proto::model::{Delivery, LogSpan};
use tokio::sync::mpsc;

use crate::metrics::REPLAYED_ENTRIES;
use crate::record::Decoder;
use crate::segment::{Next, SegmentReader};
use crate::shared::Shared;

/// A client's place in the log, before its reader starts.
pub struct Tail {
    shared: Arc<Shared>,
    index: usize,
}

impl std::fmt::Debug for Tail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tail")
            .field("client", &self.shared.names.get(self.index))
            .finish_non_exhaustive()
    }
}

/// Commits a running tail's progress.
pub struct TailHandle {
    shared: Arc<Shared>,
    index: usize,
    committed: AtomicU64,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for TailHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TailHandle")
            .field("client", &self.name())
            .finish_non_exhaustive()
    }
}

impl Tail {
    pub(crate) fn new(shared: Arc<Shared>, index: usize) -> Tail {
        Tail { shared, index }
    }

    /// Starts the reader thread. It ends when the queue closes, or when the
    /// writer is gone and everything has been read (dropping `queue`, so
    /// the client sees the end).
    pub fn spawn(self, queue: mpsc::Sender<Arc<Delivery>>) -> io::Result<TailHandle> {
        let start = self.position();
        let mut reader = TailReader {
            shared: Arc::clone(&self.shared),
            position: start,
            segment: None,
            decoder: Decoder::default(),
            replayed: metrics::counter!(REPLAYED_ENTRIES),
            queue,
        };
        let thread = std::thread::Builder::new()
            .name(format!("pushtail-wal-{}", self.index))
            .spawn(move || reader.run())?;
        Ok(TailHandle {
            shared: self.shared,
            index: self.index,
            committed: AtomicU64::new(start),
            thread: Some(thread),
        })
    }

    /// Where this client resumes: its checkpoint (or the oldest segment).
    pub fn position(&self) -> u64 {
        let state = self.shared.lock();
        state
            .committed
            .get(self.index)
            .copied()
            .unwrap_or(state.end)
    }
}

impl TailHandle {
    /// The client's name in checkpoint files and metrics.
    pub fn name(&self) -> &str {
        self.shared.names.get(self.index).map_or("", String::as_str)
    }

    /// Persists that a restart must resume from `position` (everything
    /// before it was delivered or dropped), and deletes segments every
    /// client has passed. Does nothing when the position did not move.
    pub fn commit(&self, position: u64) -> io::Result<()> {
        if self.committed.load(Ordering::Relaxed) == position {
            return Ok(());
        }
        self.shared.commit(self.index, position)?;
        self.committed.store(position, Ordering::Relaxed);
        Ok(())
    }

    /// Waits (blocking) for the reader thread to end: it ends once the
    /// writer is closed and it read everything, or its queue is gone.
    pub fn join(mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    /// Bytes of the log this client has not committed.
    pub fn lag_bytes(&self) -> u64 {
        let end = self.shared.lock().end;
        end.saturating_sub(self.committed.load(Ordering::Relaxed))
    }
}

struct TailReader {
    shared: Arc<Shared>,
    position: u64,
    /// The open segment: its start and reader.
    segment: Option<(u64, SegmentReader)>,
    decoder: Decoder,
    replayed: metrics::Counter,
    queue: mpsc::Sender<Arc<Delivery>>,
}

/// Where the tail stands in the segment list, read under the lock.
struct Place {
    start: u64,
    len: u64,
    next: Option<u64>,
}

impl TailReader {
    fn run(&mut self) {
        while let Some(place) = self.wait() {
            if self.position < place.start {
                self.position = place.start;
            }
            if self.position >= place.start + place.len {
                match place.next {
                    Some(next) => {
                        self.position = next;
                        self.segment = None;
                    }
                    // The end of the live segment: wait for more.
                    None => continue,
                }
                continue;
            }
            match self.read_segment(&place) {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => {
                    tracing::warn!(error = %e, segment = place.start, "write-ahead log: read failed; retrying");
                    self.segment = None;
                    std::thread::sleep(self.shared.poll);
                }
            }
        }
    }

    /// Waits until there is something to read; `None` once the writer is
    /// gone and everything was read.
    fn wait(&mut self) -> Option<Place> {
        let mut state = self.shared.lock();
        loop {
            if self.position < state.end {
                if let Some((start, len)) = state.segment_at(self.position) {
                    return Some(Place {
                        start,
                        len,
                        next: state.next_segment(start),
                    });
                }
            }
            if state.closed {
                return None;
            }
            state = match self.shared.changed.wait_timeout(state, self.shared.poll) {
                Ok((s, _)) => s,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// Reads and forwards the records of one segment up to its length as
    /// published. `Ok(false)`: the client's queue is gone.
    fn read_segment(&mut self, place: &Place) -> io::Result<bool> {
        let offset = self.position - place.start;
        let reader = match &mut self.segment {
            Some((start, reader)) if *start == place.start && reader.offset() == offset.max(8) => {
                reader.refresh_len()?;
                reader
            }
            _ => {
                let path = self.shared.segment_path(place.start);
                let (reader, _) = SegmentReader::open(&path, offset)?;
                &mut self.segment.insert((place.start, reader)).1
            }
        };
        loop {
            let before = reader.offset();
            match reader.next(place.len)? {
                Next::Record { payload, len } => {
                    let span = LogSpan {
                        start: place.start + before,
                        end: place.start + before + len,
                    };
                    self.position = span.end;
                    let batches = match self.decoder.decode(&payload) {
                        Ok(b) => b,
                        Err(e) => {
                            self.shared.corruptions.increment(1);
                            self.shared.lost_bytes.increment(len);
                            tracing::error!(position = span.start, error = %e, "write-ahead log: skipping a record that does not decode");
                            continue;
                        }
                    };
                    let delivery = Delivery {
                        batches,
                        log: Some(span),
                    };
                    if span.end <= self.shared.replay_end {
                        self.replayed.increment(delivery.entry_count() as u64);
                    }
                    if self.queue.blocking_send(Arc::new(delivery)).is_err() {
                        return Ok(false);
                    }
                }
                Next::End => {
                    self.position = place.start + reader.offset().max(before);
                    return Ok(true);
                }
                Next::Bad(bad) => {
                    let Some(next) = place.next else {
                        // Not yet written whole (cannot happen below the
                        // published end); look again later.
                        return Ok(true);
                    };
                    let lost = place.len.saturating_sub(before);
                    self.shared.corruptions.increment(1);
                    self.shared.lost_bytes.increment(lost);
                    tracing::error!(
                        segment = place.start,
                        offset = before,
                        lost_bytes = lost,
                        problem = bad.as_str(),
                        "write-ahead log: corrupt record; skipping the rest of the segment"
                    );
                    self.position = next;
                    self.segment = None;
                    return Ok(true);
                }
            }
        }
    }
}
