//! Service-level tests: the whole listener stack driven with
//! `ServiceExt::oneshot` (no sockets, except one test of `Receiver::run`).
//! This file holds the harness; the cases are split by topic.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use prost::Message;
use pushtail_pipeline::relabel::{RelabelConfig, RelabelRules};
use pushtail_pipeline::Pipeline;
use pushtail_proto::logproto::{EntryAdapter, PushRequest, StreamAdapter};
use pushtail_proto::model::Delivery;
use pushtail_proto::tenant::TenantId;
use tokio::sync::mpsc;
use tower::ServiceExt;

use crate::config::ServerConfig;
use crate::handoff::Handoff;
use crate::server::{listener_state, stack};
use crate::service::ListenerState;
use crate::{ListenerSpec, TargetSpec};

mod endpoints;
mod push;
mod server;

pub(super) fn target(job: &str, base: &str) -> TargetSpec {
    TargetSpec {
        job_name: job.to_owned(),
        base_url: base.to_owned(),
        labels: Vec::new(),
        use_incoming_timestamp: false,
        max_message_size: 1 << 20,
        tenant_id: None,
        relabel: Arc::new(RelabelRules::default()),
        pipeline: Arc::new(Pipeline::empty()),
        auth: Default::default(),
        tenant_from_client_cert: None,
    }
}

pub(super) fn relabel(rules: serde_json::Value) -> Arc<RelabelRules> {
    let configs: Vec<RelabelConfig> = serde_json::from_value(rules).unwrap();
    Arc::new(RelabelRules::new(configs).unwrap())
}

pub(super) struct Harness {
    pub state: Arc<ListenerState>,
    pub rx: mpsc::Receiver<Arc<Delivery>>,
    /// Keeps a test's own sender alive (for pre-filling the queue).
    pub tx: mpsc::Sender<Arc<Delivery>>,
    /// The server settings the layered stack is built with.
    pub server: ServerConfig,
}

/// One received entry, flattened: (tenant, labels, timestamp, line).
pub(super) type Row = (Option<String>, String, i64, String);

impl Harness {
    pub fn new(targets: Vec<TargetSpec>) -> Self {
        Self::with_queue(targets, 64, Duration::from_secs(5))
    }

    pub fn with_queue(targets: Vec<TargetSpec>, capacity: usize, push_timeout: Duration) -> Self {
        let (tx, rx) = mpsc::channel(capacity);
        let spec = ListenerSpec {
            server: ServerConfig::default(),
            targets,
            serve_metrics: true,
        };
        let handoff = Arc::new(Handoff::new(vec![tx.clone()], None));
        let state = Arc::new(
            listener_state(
                &spec,
                &handoff,
                push_timeout,
                &Arc::new(AtomicBool::new(false)),
                None,
            )
            .unwrap(),
        );
        Harness {
            state,
            rx,
            tx,
            server: ServerConfig::default(),
        }
    }

    pub async fn call(
        &self,
        method: Method,
        uri: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> (StatusCode, HeaderMap, String) {
        let mut req = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(body.into())).unwrap();
        let svc = stack(Arc::clone(&self.state), &self.server);
        let resp = svc.oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, headers, String::from_utf8_lossy(&body).into_owned())
    }

    pub async fn push_json(
        &self,
        uri: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (StatusCode, String) {
        let mut all = vec![("content-type", "application/json")];
        all.extend_from_slice(headers);
        let (status, _, body) = self.call(Method::POST, uri, &all, body.to_owned()).await;
        (status, body)
    }

    pub fn rows(&mut self) -> Vec<Row> {
        let mut rows = Vec::new();
        while let Ok(delivery) = self.rx.try_recv() {
            for (batch, stream) in delivery
                .batches
                .iter()
                .flat_map(|b| b.streams.iter().map(move |s| (b, s)))
            {
                for e in &stream.entries {
                    rows.push((
                        batch.tenant.as_ref().map(|t| t.as_str().to_owned()),
                        stream.labels.as_str().to_owned(),
                        e.timestamp_ns,
                        String::from_utf8_lossy(&e.line).into_owned(),
                    ));
                }
            }
        }
        rows
    }

    pub fn lines(&mut self) -> Vec<(String, String)> {
        self.rows()
            .into_iter()
            .map(|(_, l, _, line)| (l, line))
            .collect()
    }
}

pub(super) const ONE_STREAM: &str =
    r#"{"streams":[{"stream":{"app":"a"},"values":[["1","hello"]]}]}"#;

pub(super) fn protobuf(streams: &[(&str, &[(i64, &str)])]) -> Vec<u8> {
    let req = PushRequest {
        streams: streams
            .iter()
            .map(|(labels, entries)| StreamAdapter {
                labels: (*labels).to_owned(),
                entries: entries
                    .iter()
                    .map(|(ts, line)| EntryAdapter {
                        timestamp: Some(prost_types::Timestamp {
                            seconds: ts / 1_000_000_000,
                            nanos: (ts % 1_000_000_000) as i32,
                        }),
                        line: (*line).to_owned(),
                        ..Default::default()
                    })
                    .collect(),
                hash: 0,
            })
            .collect(),
    };
    snap::raw::Encoder::new()
        .compress_vec(&req.encode_to_vec())
        .unwrap()
}

pub(super) fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}
