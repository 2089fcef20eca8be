//! The metrics recorder and the binary's own families: build info (as
//! pushtail and as Promtail names it), process metrics, and the HELP text
//! of every crate's metrics.
//!
//! The `metrics` stage's user-defined families are not in this recorder:
//! they live in the pipeline crate's own registry (their buckets come from
//! the config, read after the recorder exists) and the receiver appends
//! them to `/metrics`.

use std::time::Duration;

use anyhow::Context;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::{REVISION, VERSION};

/// Gauge, labels `version`, `revision`: always 1.
pub const BUILD_INFO: &str = "pushtail_build_info";
/// Promtail's name for the same, with its labels (`branch`, `goversion`
/// are empty: there are none), for dashboards that read it.
pub const PROMTAIL_BUILD_INFO: &str = "promtail_build_info";

/// How often the `process_*` metrics are refreshed.
const PROCESS_INTERVAL: Duration = Duration::from_secs(5);

/// Prometheus' default buckets, for the `*_seconds` histograms.
const SECONDS_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Buckets for the `*_bytes` histograms: 1 KiB to 64 MiB by powers of 4.
const BYTES_BUCKETS: &[f64] = &[
    1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0, 16777216.0, 67108864.0,
];

/// Installs the process-wide recorder and registers the families that
/// exist from the start.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    // Without buckets the exporter renders histograms as summaries.
    let handle = PrometheusBuilder::new()
        .set_buckets(SECONDS_BUCKETS)
        .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_bytes".into()), BYTES_BUCKETS))
        .context("configuring histogram buckets")?
        .install_recorder()
        .context("installing the metrics recorder")?;
    metrics::describe_gauge!(
        BUILD_INFO,
        "A metric with a constant '1' value labeled by version and revision from which pushtail was built."
    );
    metrics::gauge!(BUILD_INFO, "version" => VERSION, "revision" => REVISION).set(1.0);
    metrics::describe_gauge!(
        PROMTAIL_BUILD_INFO,
        "A metric with a constant '1' value labeled by version, revision, branch, goversion from which promtail was built, here pushtail's version and revision."
    );
    metrics::gauge!(
        PROMTAIL_BUILD_INFO,
        "version" => VERSION,
        "revision" => REVISION,
        "branch" => "",
        "goversion" => "",
        "goos" => std::env::consts::OS,
        "goarch" => std::env::consts::ARCH,
        "tags" => "",
    )
    .set(1.0);
    crate::reload::describe_metrics();
    pushtail_pipeline::describe_metrics();
    Ok(handle)
}

/// Refreshes the `process_*` metrics (CPU, memory, open descriptors,
/// start time) now and then every few seconds, until the runtime stops.
pub fn spawn_process_metrics() {
    let collector = metrics_process::Collector::default();
    collector.describe();
    collector.collect();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(PROCESS_INTERVAL);
        loop {
            tick.tick().await;
            collector.collect();
        }
    });
}
