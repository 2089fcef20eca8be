//! The sender task: one per client, owning its batches. It reads the queue,
//! batches per tenant, and sends with the status policy of `send.rs`.
//!
//! While a batch is being sent (retries included) the task does not read the
//! queue: the bounded queue fills and the receiver applies backpressure.
//! This is deliberate; the cost is that another tenant's batch that becomes
//! due during a long retry waits for it too. This module never holds a lock.

use std::collections::HashMap;

use pushtail_proto::model::{Entry, LogSpan, TenantBatch};
use pushtail_proto::tenant::TenantId;
use tokio::time::Instant;

use crate::batch::{Batch, ExternalLabels};
use crate::limits::{ClientLimits, LineFate};
use crate::metrics::DropReason;
use crate::queue::Backlog;
use crate::send::Transport;

pub(crate) struct Sender {
    pub(crate) transport: Transport,
    pub(crate) batchsize: usize,
    pub(crate) batchwait: std::time::Duration,
    pub(crate) default_tenant: Option<TenantId>,
    pub(crate) external: ExternalLabels,
    pub(crate) batches: HashMap<Option<TenantId>, Batch>,
    pub(crate) backlog: Backlog,
    /// Where a reader of the write-ahead log may resume so that nothing
    /// this client has not sent or dropped is skipped ([`NO_POSITION`]
    /// until a logged delivery is done with).
    pub(crate) resume: tokio::sync::watch::Sender<u64>,
    /// End position of the last logged delivery taken from the queue.
    pub(crate) last_log_end: Option<u64>,
    pub(crate) limits: ClientLimits,
}

/// [`Sender::resume`] before any position is known.
pub(crate) const NO_POSITION: u64 = u64::MAX;

impl Sender {
    pub(crate) async fn run(mut self) {
        loop {
            let deadline = self.next_deadline();
            tokio::select! {
                msg = self.backlog.next() => match msg {
                    Some(delivery) => {
                        for tb in &delivery.batches {
                            self.add(tb, delivery.log).await;
                        }
                        if let Some(span) = delivery.log {
                            self.last_log_end = Some(span.end);
                        }
                        drop(delivery);
                        self.send_due().await;
                        self.publish_resume();
                    }
                    None => break,
                },
                () = sleep_until(deadline) => {
                    self.send_due().await;
                    self.publish_resume();
                }
            }
        }
        let tenants: Vec<Option<TenantId>> = self.batches.keys().cloned().collect();
        for tenant in tenants {
            if let Some(batch) = self.batches.remove(&tenant) {
                self.send(tenant, batch).await;
            }
        }
        self.publish_resume();
    }

    /// Publishes how far a log reader may skip: to the first delivery still
    /// held in a batch, or past the last one taken when none is held.
    fn publish_resume(&self) {
        let held = self.batches.values().filter_map(Batch::first_log).min();
        if let Some(position) = held.or(self.last_log_end) {
            self.resume
                .send_if_modified(|p| std::mem::replace(p, position) != position);
        }
    }

    /// Adds every entry of `tb` (part of the delivery logged at `log`) to its tenant's batch, sending the batch
    /// first when an entry would overflow it, and right after when it is full.
    async fn add(&mut self, tb: &TenantBatch, log: Option<LogSpan>) {
        let tenant = tb.tenant.clone().or_else(|| self.default_tenant.clone());
        let tenant_name = tenant.as_ref().map(TenantId::as_str).unwrap_or_default();
        self.transport.metrics.batching(tenant_name);
        let mut batch = self.batches.remove(&tenant);
        for stream in &tb.streams {
            let labels = self.external.apply(&stream.labels);
            // The stream's slot in the current batch, looked up once per
            // stream and batch rather than once per entry.
            let mut slot = None;
            for entry in &stream.entries {
                let entry = match self.limits.line(entry.line.len()) {
                    LineFate::Keep => entry.clone(),
                    LineFate::Truncate { keep } => {
                        let cut = (entry.line.len() - keep) as u64;
                        self.transport.metrics.mutated(
                            tenant_name,
                            DropReason::LineTooLong,
                            1,
                            cut,
                        );
                        Entry {
                            line: entry.line.slice(..keep),
                            ..entry.clone()
                        }
                    }
                    LineFate::Drop => {
                        self.refuse(tenant_name, DropReason::LineTooLong, entry);
                        continue;
                    }
                };
                let size = entry.size();
                if let Some(full) =
                    batch.take_if(|b| !b.is_empty() && b.bytes() + size > self.batchsize)
                {
                    slot = None;
                    self.send(tenant.clone(), full).await;
                }
                let b = batch.get_or_insert_with(|| Batch::new(Instant::now()));
                if let Some(span) = log {
                    b.note_log(span.start);
                }
                let i = match slot.or_else(|| b.slot_within(&labels, self.limits.max_streams)) {
                    Some(i) => i,
                    None => {
                        self.refuse(tenant_name, DropReason::StreamLimited, &entry);
                        continue;
                    }
                };
                slot = Some(i);
                b.push_at(i, entry);
                if b.bytes() >= self.batchsize {
                    slot = None;
                    if let Some(full) = batch.take() {
                        self.send(tenant.clone(), full).await;
                    }
                }
            }
        }
        if let Some(b) = batch {
            self.batches.insert(tenant, b);
        }
    }

    /// Drops one entry before batching (a `limits_config` limit): counted
    /// in the drop metrics, and no longer pending.
    fn refuse(&mut self, tenant: &str, reason: DropReason, entry: &Entry) {
        self.transport
            .count_limited(tenant, reason, 1, entry.line.len() as u64);
        self.backlog.pending.sub(1);
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.batches
            .values()
            .map(Batch::created)
            .min()
            .map(|c| c + self.batchwait)
    }

    /// Sends every batch that is `batchwait` old.
    async fn send_due(&mut self) {
        let now = Instant::now();
        let due: Vec<Option<TenantId>> = self
            .batches
            .iter()
            .filter(|(_, b)| b.created() + self.batchwait <= now)
            .map(|(t, _)| t.clone())
            .collect();
        for tenant in due {
            if let Some(batch) = self.batches.remove(&tenant) {
                self.send(tenant, batch).await;
            }
        }
    }

    async fn send(&mut self, tenant: Option<TenantId>, batch: Batch) {
        if batch.is_empty() {
            return;
        }
        let entries = batch.entries() as u64;
        self.transport
            .send(tenant.as_ref(), batch, &mut self.backlog)
            .await;
        self.backlog.pending.sub(entries);
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
