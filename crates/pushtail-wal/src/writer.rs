//! The writer: one OS thread owns the segment being written. Requests
//! encode their record on their own task (in parallel), then hand the bytes
//! to the thread, which writes every record waiting at that moment with one
//! `write` and, with `sync: request`, one fsync (group commit), and only then
//! answers them. A record that does not fit in `max_size`, or whose write
//! fails, is answered with an error and is not in the log: the file is cut
//! back to where it was.

use std::fs::File;
use std::io::{self, Write};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Instant;

use pushtail_proto::model::{LogSpan, TenantBatch};
use tokio::sync::oneshot;

use crate::config::SyncMode;
use crate::metrics::{APPEND_FAILURES, FSYNC_DURATION};
use crate::record;
use crate::segment::MAGIC;
use crate::shared::Shared;
use crate::AppendError;

/// Bytes of records the thread writes at most in one go.
const GROUP_BYTES: usize = 8 << 20;

struct Append {
    frame: Vec<u8>,
    reply: oneshot::Sender<Result<LogSpan, AppendError>>,
}

/// Appends records; dropping it lets the thread finish (the tails then
/// read to the end and close their queues).
pub struct Writer {
    tx: Option<mpsc::Sender<Append>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").finish_non_exhaustive()
    }
}

impl Writer {
    pub(crate) fn start(shared: Arc<Shared>) -> io::Result<Writer> {
        let (tx, rx) = mpsc::channel();
        let mut thread = WriterThread::new(shared)?;
        let thread = std::thread::Builder::new()
            .name("pushtail-wal".into())
            .spawn(move || thread.run(rx))?;
        Ok(Writer {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Stops taking records and waits (blocking) until everything written
    /// is synced and the tails were told that no more will come.
    pub fn close(mut self) {
        self.tx = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    /// Writes `batches` as one record. `Ok` means it is in the log (and on
    /// disk with `sync: request`); an error means nothing of it is.
    pub async fn append(&self, batches: &[TenantBatch]) -> Result<LogSpan, AppendError> {
        let mut frame = Vec::new();
        record::encode(batches, &mut frame);
        let (reply, answer) = oneshot::channel();
        self.tx
            .as_ref()
            .ok_or(AppendError::Closed)?
            .send(Append { frame, reply })
            .map_err(|_| AppendError::Closed)?;
        answer.await.map_err(|_| AppendError::Closed)?
    }
}

struct WriterThread {
    shared: Arc<Shared>,
    file: File,
    /// Start of the segment being written.
    start: u64,
    /// Length of that segment as published (written and synced).
    len: u64,
    buffer: Vec<u8>,
    waiting: Vec<(oneshot::Sender<Result<LogSpan, AppendError>>, LogSpan)>,
    full: metrics::Counter,
    io_failed: metrics::Counter,
    fsync: metrics::Histogram,
}

impl WriterThread {
    fn new(shared: Arc<Shared>) -> io::Result<Self> {
        let start = shared.lock().end;
        let file = create_segment(&shared, start)?;
        let thread = WriterThread {
            file,
            start,
            len: MAGIC.len() as u64,
            buffer: Vec::new(),
            waiting: Vec::new(),
            full: metrics::counter!(APPEND_FAILURES, "reason" => "full"),
            io_failed: metrics::counter!(APPEND_FAILURES, "reason" => "io"),
            fsync: metrics::histogram!(FSYNC_DURATION),
            shared,
        };
        thread.publish();
        Ok(thread)
    }

    fn run(&mut self, rx: mpsc::Receiver<Append>) {
        while let Ok(first) = rx.recv() {
            let mut bytes = first.frame.len();
            self.add(first);
            while bytes < GROUP_BYTES {
                let Ok(next) = rx.try_recv() else { break };
                bytes += next.frame.len();
                self.add(next);
            }
            self.flush();
        }
        if let Err(e) = self.file.sync_data() {
            tracing::warn!(error = %e, "write-ahead log: final fsync failed");
        }
        let mut state = self.shared.lock();
        state.closed = true;
        drop(state);
        self.shared.changed.notify_all();
    }

    /// Queues one record into the buffer, or refuses it when it cannot fit.
    fn add(&mut self, append: Append) {
        let len = append.frame.len() as u64;
        if !self.fits(len) && self.len + self.buffer.len() as u64 > MAGIC.len() as u64 {
            // Whatever delivered segments there are can go once this one
            // is closed: rotate, then look again.
            self.flush();
            self.rotate();
        }
        if !self.fits(len) {
            self.full.increment(1);
            let _ = append.reply.send(Err(AppendError::Full {
                max_size: self.shared.max_size,
            }));
            return;
        }
        let used = self.len + self.buffer.len() as u64;
        if used > MAGIC.len() as u64 && used + len > self.shared.segment_size {
            self.flush();
            self.rotate();
        }
        let at = self.start + self.len + self.buffer.len() as u64;
        self.buffer.extend_from_slice(&append.frame);
        self.waiting.push((
            append.reply,
            LogSpan {
                start: at,
                end: at + len,
            },
        ));
    }

    fn fits(&self, len: u64) -> bool {
        let on_disk = self.shared.lock().disk_bytes();
        on_disk + self.buffer.len() as u64 + len <= self.shared.max_size
    }

    /// Writes the buffer (and syncs it), publishes the new end and answers
    /// every waiting request.
    fn flush(&mut self) {
        if self.waiting.is_empty() {
            return;
        }
        let result = self.write_buffer();
        let answer = match &result {
            Ok(()) => {
                self.len += self.buffer.len() as u64;
                self.publish();
                None
            }
            Err(e) => {
                self.io_failed.increment(1);
                tracing::error!(error = %e, "write-ahead log: write failed; the pushes get 503");
                // Cut back what may be half written, so the log stays a
                // sequence of whole records.
                if let Err(e) = self.file.set_len(self.len) {
                    tracing::error!(error = %e, "write-ahead log: cannot cut back a failed write; starting a new segment");
                    self.rotate();
                }
                Some(AppendError::Io(e.to_string()))
            }
        };
        self.buffer.clear();
        for (reply, span) in self.waiting.drain(..) {
            let _ = reply.send(match &answer {
                None => Ok(span),
                Some(e) => Err(e.clone()),
            });
        }
    }

    fn write_buffer(&mut self) -> io::Result<()> {
        self.file.write_all(&self.buffer)?;
        if self.shared.sync == SyncMode::Request {
            let started = Instant::now();
            self.file.sync_data()?;
            self.fsync.record(started.elapsed().as_secs_f64());
        }
        Ok(())
    }

    fn publish(&self) {
        let mut state = self.shared.lock();
        state.segments.insert(self.start, self.len);
        state.end = self.start + self.len;
        self.shared.update_gauges(&state);
        drop(state);
        self.shared.changed.notify_all();
    }

    /// Starts a new segment at the end of the current one; delivered
    /// segments are deleted. On failure the current segment stays in use.
    fn rotate(&mut self) {
        let start = self.start + self.len;
        match create_segment(&self.shared, start) {
            Ok(file) => {
                self.file = file;
                self.start = start;
                self.len = MAGIC.len() as u64;
                self.publish();
                let mut state = self.shared.lock();
                self.shared.collect_garbage(&mut state);
            }
            Err(e) => {
                tracing::error!(error = %e, "write-ahead log: cannot start a new segment");
            }
        }
    }
}

fn create_segment(shared: &Shared, start: u64) -> io::Result<File> {
    let path = shared.segment_path(start);
    let mut file = File::options()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)?;
    file.write_all(MAGIC)?;
    if shared.sync == SyncMode::Request {
        file.sync_all()?;
        // The new name must survive a power cut too.
        File::open(&shared.dir)?.sync_all()?;
    }
    Ok(file)
}
