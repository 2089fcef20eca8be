//! The clients as the status page shows them: the binary is where the
//! receiver (which serves the page) and the clients meet, so this is where
//! the client probes, the queue depths and the write-ahead log lag are read.

use std::sync::Arc;

use pushtail_client::Probe;
use pushtail_proto::model::Delivery;
use pushtail_receiver::status::{ClientStatus, LastSend, StatusSource};
use pushtail_wal::TailHandle;
use tokio::sync::mpsc::WeakSender;

/// One client's readers.
pub(crate) struct ClientView {
    pub probe: Probe,
    /// Its queue, held weakly: the page must never keep a queue open past
    /// shutdown.
    pub queue: WeakSender<Arc<Delivery>>,
    pub queue_capacity: usize,
    /// Its write-ahead log reader, when the log is on.
    pub tail: Option<Arc<TailHandle>>,
}

/// What the binary attaches to the receiver's status board.
pub(crate) struct Clients(pub Vec<ClientView>);

impl StatusSource for Clients {
    fn clients(&self) -> Vec<ClientStatus> {
        self.0.iter().map(client_status).collect()
    }
}

fn client_status(view: &ClientView) -> ClientStatus {
    let snap = view.probe.snapshot();
    // Slots taken: queued deliveries plus reservations about to be filled.
    let queue_depth = view
        .queue
        .upgrade()
        .map_or(0, |tx| tx.max_capacity() - tx.capacity());
    ClientStatus {
        url: snap.url,
        queue_depth: queue_depth as u64,
        queue_capacity: view.queue_capacity as u64,
        pending_entries: snap.pending_entries,
        sent_entries: snap.sent_entries,
        retries: snap.retries,
        last_send: snap.last_attempt.map(|a| LastSend {
            at: a.at,
            status: a.status,
            error: a.error,
        }),
        dropped_entries: snap
            .dropped_entries
            .into_iter()
            .map(|(reason, n)| (reason.to_owned(), n))
            .collect(),
        wal_lag_bytes: view.tail.as_ref().map(|t| t.lag_bytes()),
    }
}
