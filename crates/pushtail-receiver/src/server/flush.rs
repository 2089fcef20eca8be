//! The periodic flush of entries pipeline stages hold (multiline), the
//! metrics handle's upkeep, and the forced flush at shutdown and reload.

use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::watch;

use crate::handoff::Handoff;
use crate::service::{ListenerState, Routing};
use crate::target::{now_ns, BatchSet};

use super::stopped;

/// How often held pipeline entries (multiline) are checked for release.
const FLUSH_INTERVAL: Duration = Duration::from_millis(500);
/// How often histogram upkeep runs on the metrics handle.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);
/// Every [`FLUSH_INTERVAL`], releases entries stages held past their
/// deadline and hands them off; also keeps the metrics handle's upkeep.
pub(super) async fn flush_loop(
    states: Vec<Arc<ListenerState>>,
    handoff: Arc<Handoff>,
    metrics: Option<PrometheusHandle>,
    mut stop: watch::Receiver<bool>,
) {
    let mut flush = tokio::time::interval(FLUSH_INTERVAL);
    let mut upkeep = tokio::time::interval(UPKEEP_INTERVAL);
    loop {
        tokio::select! {
            _ = flush.tick() => flush_targets(&states, &handoff, false, None).await,
            _ = upkeep.tick(), if metrics.is_some() => {
                if let Some(handle) = &metrics {
                    handle.run_upkeep();
                }
            }
            _ = stopped(&mut stop) => return,
        }
    }
}

/// Hands off entries the stages release (all of them with `force`). They
/// were accepted already, so they wait for room (up to `timeout`) rather
/// than being refused.
pub(super) async fn flush_targets(
    states: &[Arc<ListenerState>],
    handoff: &Handoff,
    force: bool,
    timeout: Option<Duration>,
) {
    for state in states {
        flush_routing(&state.routing.load_full(), handoff, force, timeout).await;
    }
}

/// [`flush_targets`] for one listener's routing (also the routing a reload
/// replaced).
pub(super) async fn flush_routing(
    routing: &Routing,
    handoff: &Handoff,
    force: bool,
    timeout: Option<Duration>,
) {
    for target in &routing.targets {
        let mut out = BatchSet::default();
        target.flush(now_ns(), force, &mut out);
        let entries = out.entry_count();
        if entries == 0 {
            continue;
        }
        match handoff.send(out.into_batches(), timeout).await {
            Ok(()) => target.count_written(entries),
            Err(e) => tracing::warn!(
                job = %target.spec.job_name,
                entries,
                error = %e,
                "could not hand off entries released by pipeline stages"
            ),
        }
    }
}
