//! The hand-off to the clients: a push goes to every queue as one delivery,
//! all or nothing, or (with the write-ahead log) into the log as one
//! record; otherwise it is refused with 503.
//!
//! Room is reserved on every queue before anything is sent, so a refused
//! push never leaves a partial fan-out behind for its retry to duplicate.
//! With the log, `Ok` means the record is written (and synced, with
//! `sync: request`): the clients tail the log, not these queues.
//! This module never drops a batch it has accepted.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pushtail_proto::model::{Delivery, TenantBatch};
use pushtail_wal::Writer;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::mpsc::{Permit, Sender};

use crate::error::PushError;
use crate::metrics::QUEUE_WAITS_TOTAL;

pub(crate) struct Handoff {
    /// Emptied by [`Handoff::close`]; cloned out per send so the lock is
    /// never held across an `.await`.
    queues: Mutex<Vec<Sender<Arc<Delivery>>>>,
    /// The write-ahead log, when enabled (then `queues` is empty). Taken
    /// by [`Handoff::close`], which lets the writer finish.
    log: Mutex<Option<Arc<Writer>>>,
    waits: metrics::Counter,
}

impl Handoff {
    pub(crate) fn new(queues: Vec<Sender<Arc<Delivery>>>, log: Option<Arc<Writer>>) -> Self {
        Handoff {
            queues: Mutex::new(queues),
            log: Mutex::new(log),
            waits: metrics::counter!(QUEUE_WAITS_TOTAL),
        }
    }

    /// Sends the batches of one request to every queue as one delivery (one
    /// slot per queue, however many tenants it holds), waiting at most
    /// `timeout` (`None`: without bound) for room. Either every queue gets
    /// it or none does.
    pub(crate) async fn send(
        &self,
        batches: Vec<TenantBatch>,
        timeout: Option<Duration>,
    ) -> Result<(), PushError> {
        if batches.is_empty() {
            return Ok(());
        }
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(writer) = log {
            return match writer.append(&batches).await {
                Ok(_) => Ok(()),
                Err(e) => Err(PushError::Log(e)),
            };
        }
        let queues = self.lock().clone();
        if queues.is_empty() {
            return Err(PushError::QueueClosed);
        }
        let reserve = self.reserve_all(&queues);
        let permits = match timeout {
            Some(t) => {
                tokio::time::timeout(t, reserve)
                    .await
                    .map_err(|_| PushError::QueueFull {
                        timeout_ms: t.as_millis(),
                    })??
            }
            None => reserve.await?,
        };
        let delivery = Arc::new(Delivery::new(batches));
        for permit in permits {
            permit.send(Arc::clone(&delivery));
        }
        Ok(())
    }

    /// One permit on every queue.
    async fn reserve_all<'q>(
        &self,
        queues: &'q [Sender<Arc<Delivery>>],
    ) -> Result<Vec<Permit<'q, Arc<Delivery>>>, PushError> {
        let mut permits = Vec::with_capacity(queues.len());
        for queue in queues {
            let permit = match queue.try_reserve() {
                Ok(p) => p,
                Err(TrySendError::Closed(())) => return Err(PushError::QueueClosed),
                Err(TrySendError::Full(())) => {
                    self.waits.increment(1);
                    queue.reserve().await.map_err(|_| PushError::QueueClosed)?
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
        self.log.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Sender<Arc<Delivery>>>> {
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
        let handoff = Handoff::new(vec![tx1, tx2], None);
        handoff
            .send(vec![batch("a"), batch("b")], Some(Duration::from_secs(5)))
            .await
            .unwrap();
        for rx in [&mut rx1, &mut rx2] {
            let delivery = rx.recv().await.unwrap();
            let tenants: Vec<&str> = delivery
                .batches
                .iter()
                .map(|b| b.tenant.as_ref().unwrap().as_str())
                .collect();
            assert_eq!(tenants, ["a", "b"]);
        }
    }

    #[tokio::test]
    async fn a_full_queue_refuses_without_a_partial_fanout() {
        let (free, mut free_rx) = mpsc::channel(4);
        let (full, _full_rx) = mpsc::channel(1);
        full.try_send(Arc::new(Delivery::new(vec![batch("old")])))
            .unwrap();
        let handoff = Handoff::new(vec![free, full], None);
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
        let handoff = Handoff::new(vec![tx], None);
        handoff.close();
        assert!(rx.recv().await.is_none(), "the only sender is gone");
        let err = handoff.send(vec![batch("a")], None).await.unwrap_err();
        assert!(matches!(err, PushError::QueueClosed));
    }

    #[tokio::test]
    async fn a_closed_queue_is_reported() {
        let (tx, rx) = mpsc::channel(1);
        drop(rx);
        let err = Handoff::new(vec![tx], None)
            .send(vec![batch("a")], None)
            .await
            .unwrap_err();
        assert!(matches!(err, PushError::QueueClosed));
    }

    #[tokio::test]
    async fn more_tenants_than_slots_take_one_slot_or_none() {
        // A queue with one slot, already taken: a request fanning into more
        // tenants than the queue has slots is refused whole, and once there
        // is room it goes in as one delivery.
        let (tx, mut rx) = mpsc::channel(1);
        tx.try_send(Arc::new(Delivery::new(vec![batch("old")])))
            .unwrap();
        let handoff = Handoff::new(vec![tx], None);
        let many: Vec<TenantBatch> = (0..40).map(|i| batch(&format!("t{i}"))).collect();
        let err = handoff
            .send(many.clone(), Some(Duration::from_millis(20)))
            .await
            .unwrap_err();
        assert!(matches!(err, PushError::QueueFull { .. }), "{err}");
        assert_eq!(
            rx.recv().await.unwrap().batches.len(),
            1,
            "only the old one"
        );
        handoff
            .send(many, Some(Duration::from_secs(5)))
            .await
            .unwrap();
        assert_eq!(rx.recv().await.unwrap().batches.len(), 40);
        drop(handoff);
        assert!(rx.recv().await.is_none(), "nothing else was queued");
    }
}
