//! The sender task's side of the client queue, and the count of entries the
//! client holds (taken from the queue, not yet sent or dropped).
//!
//! Normally the task reads the queue only between sends, which is what makes
//! the queue apply backpressure. Once every producer is gone (shutdown),
//! nothing can push any more, so whatever is left in the queue is drained
//! into a local backlog during retry waits: its entries then count as
//! pending, and the number reported as undelivered after a shutdown timeout
//! is exact. This module never drops anything.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use metrics::Gauge;
use pushtail_proto::model::Delivery;
use tokio::sync::mpsc;

/// Entries the client holds, shared with the [`crate::ClientHandle`].
pub(crate) struct Pending {
    count: Arc<AtomicU64>,
    gauge: Gauge,
}

impl Pending {
    pub(crate) fn new(count: Arc<AtomicU64>, gauge: Gauge) -> Self {
        let pending = Pending { count, gauge };
        pending.set(0);
        pending
    }

    // Only the sender task writes the count, so load-then-store is exact.
    fn set(&self, value: u64) {
        self.count.store(value, Ordering::Relaxed);
        self.gauge.set(value as f64);
    }

    pub(crate) fn add(&self, n: u64) {
        self.set(self.count.load(Ordering::Relaxed).saturating_add(n));
    }

    pub(crate) fn sub(&self, n: u64) {
        self.set(self.count.load(Ordering::Relaxed).saturating_sub(n));
    }
}

/// The queue plus what was drained from it after it closed.
pub(crate) struct Backlog {
    rx: mpsc::Receiver<Arc<Delivery>>,
    drained: VecDeque<Arc<Delivery>>,
    pub(crate) pending: Pending,
}

impl Backlog {
    pub(crate) fn new(rx: mpsc::Receiver<Arc<Delivery>>, pending: Pending) -> Self {
        Backlog {
            rx,
            drained: VecDeque::new(),
            pending,
        }
    }

    /// The next batch, its entries counted as pending; `None` once the
    /// queue is closed and empty. Cancel-safe.
    pub(crate) async fn next(&mut self) -> Option<Arc<Delivery>> {
        if let Some(tb) = self.drained.pop_front() {
            return Some(tb);
        }
        let tb = self.rx.recv().await?;
        self.pending.add(tb.entry_count() as u64);
        Some(tb)
    }

    /// After shutdown, moves what is left in the queue into the backlog so
    /// it counts as pending. Does nothing while producers remain.
    pub(crate) fn drain_if_closed(&mut self) {
        if !self.rx.is_closed() {
            return;
        }
        while let Ok(tb) = self.rx.try_recv() {
            self.pending.add(tb.entry_count() as u64);
            self.drained.push_back(tb);
        }
    }
}
