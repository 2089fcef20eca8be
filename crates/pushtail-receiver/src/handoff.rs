//! The hand-off to the clients: every batch goes to every queue, all or
//! nothing, or the push is refused with 503.
//!
//! Room is reserved on every queue before anything is sent, so a refused
//! push never leaves a partial fan-out behind for its retry to duplicate.
//! This module never drops a batch it has accepted.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pushtail_proto::model::TenantBatch;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::mpsc::{PermitIterator, Sender};

use crate::error::PushError;
use crate::metrics::QUEUE_WAITS_TOTAL;

pub(crate) struct Handoff {
    /// Emptied by [`Handoff::close`]; cloned out per send so the lock is
    /// never held across an `.await`.
    queues: Mutex<Vec<Sender<Arc<TenantBatch>>>>,
    waits: metrics::Counter,
}

impl Handoff {
    pub(crate) fn new(queues: Vec<Sender<Arc<TenantBatch>>>) -> Self {
        Handoff {
            queues: Mutex::new(queues),
            waits: metrics::counter!(QUEUE_WAITS_TOTAL),
        }
    }

    /// Sends every batch to every queue, waiting at most `timeout` (`None`:
    /// without bound) for room. Batches are atomic as a whole unless there
    /// are more of them than a queue can ever hold; then they go in chunks
    /// of that queue's capacity.
    pub(crate) async fn send(
        &self,
        batches: Vec<TenantBatch>,
        timeout: Option<Duration>,
    ) -> Result<(), PushError> {
        if batches.is_empty() {
            return Ok(());
        }
        let queues = self.lock().clone();
        if queues.is_empty() {
            return Err(PushError::QueueClosed);
        }
        let batches: Vec<Arc<TenantBatch>> = batches.into_iter().map(Arc::new).collect();
        let chunk = queues
            .iter()
            .map(Sender::max_capacity)
            .min()
            .unwrap_or(1)
            .max(1);
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        for part in batches.chunks(chunk) {
            let reserve = self.reserve_all(&queues, part.len());
            let permits = match deadline {
                Some(at) => tokio::time::timeout_at(at, reserve).await.map_err(|_| {
                    PushError::QueueFull {
                        timeout_ms: timeout.unwrap_or_default().as_millis(),
                    }
                })??,
                None => reserve.await?,
            };
            for permit_iter in permits {
                for (permit, batch) in permit_iter.zip(part) {
                    permit.send(Arc::clone(batch));
                }
            }
        }
        Ok(())
    }

    /// `n` permits on every queue.
    async fn reserve_all<'q>(
        &self,
        queues: &'q [Sender<Arc<TenantBatch>>],
        n: usize,
    ) -> Result<Vec<PermitIterator<'q, Arc<TenantBatch>>>, PushError> {
        let mut permits = Vec::with_capacity(queues.len());
        for queue in queues {
            let permit = match queue.try_reserve_many(n) {
                Ok(p) => p,
                Err(TrySendError::Closed(())) => return Err(PushError::QueueClosed),
                Err(TrySendError::Full(())) => {
                    self.waits.increment(1);
                    queue
                        .reserve_many(n)
                        .await
                        .map_err(|_| PushError::QueueClosed)?
                }
            };
            permits.push(permit);
        }
        Ok(permits)
    }

    /// Drops the receiver's senders, so the clients see their queues close
    /// once every other sender is gone. Later sends fail with 503.
    pub(crate) fn close(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Sender<Arc<TenantBatch>>>> {
        // Only `clone` and `clear` run under the lock: a poisoned lock still
        // holds a consistent list.
        self.queues.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pushtail_proto::tenant::TenantId;
    use tokio::sync::mpsc;

    fn batch(tenant: &str) -> TenantBatch {
        TenantBatch {
            tenant: Some(TenantId::new(tenant).unwrap()),
            streams: Vec::new(),
        }
    }

    #[tokio::test]
    async fn every_batch_reaches_every_queue() {
        let (tx1, mut rx1) = mpsc::channel(4);
        let (tx2, mut rx2) = mpsc::channel(4);
        let handoff = Handoff::new(vec![tx1, tx2]);
        handoff
            .send(vec![batch("a"), batch("b")], Some(Duration::from_secs(5)))
            .await
            .unwrap();
        for rx in [&mut rx1, &mut rx2] {
            assert_eq!(
                rx.recv().await.unwrap().tenant.as_ref().unwrap().as_str(),
                "a"
            );
            assert_eq!(
                rx.recv().await.unwrap().tenant.as_ref().unwrap().as_str(),
                "b"
            );
        }
    }

    #[tokio::test]
    async fn a_full_queue_refuses_without_a_partial_fanout() {
        let (free, mut free_rx) = mpsc::channel(4);
        let (full, _full_rx) = mpsc::channel(1);
        full.try_send(Arc::new(batch("old"))).unwrap();
        let handoff = Handoff::new(vec![free, full]);
        let err = handoff
            .send(vec![batch("a")], Some(Duration::from_millis(20)))
            .await
            .unwrap_err();
        assert!(
            matches!(err, PushError::QueueFull { timeout_ms: 20 }),
            "{err}"
        );
        drop(handoff);
        assert!(
            free_rx.recv().await.is_none(),
            "nothing sent to the free queue"
        );
    }

    #[tokio::test]
    async fn closing_releases_the_queues() {
        let (tx, mut rx) = mpsc::channel(1);
        let handoff = Handoff::new(vec![tx]);
        handoff.close();
        assert!(rx.recv().await.is_none(), "the only sender is gone");
        let err = handoff.send(vec![batch("a")], None).await.unwrap_err();
        assert!(matches!(err, PushError::QueueClosed));
    }

    #[tokio::test]
    async fn a_closed_queue_is_reported() {
        let (tx, rx) = mpsc::channel(1);
        drop(rx);
        let err = Handoff::new(vec![tx])
            .send(vec![batch("a")], None)
            .await
            .unwrap_err();
        assert!(matches!(err, PushError::QueueClosed));
    }

    #[tokio::test]
    async fn more_batches_than_capacity_go_in_chunks() {
        let (tx, mut rx) = mpsc::channel(1);
        let reader = tokio::spawn(async move {
            let mut n = 0;
            while rx.recv().await.is_some() {
                n += 1;
            }
            n
        });
        let handoff = Handoff::new(vec![tx]);
        handoff
            .send(vec![batch("a"), batch("b"), batch("c")], None)
            .await
            .unwrap();
        drop(handoff);
        assert_eq!(reader.await.unwrap(), 3);
    }
}
