//! Shared helpers for the end-to-end tests.

use std::path::Path;
use std::time::Duration;

use prost::Message;
use pushtail_proto::logproto::{EntryAdapter, LabelPairAdapter, PushRequest, StreamAdapter};
pub use pushtail_tests::agent::Agent;

pub const WAIT: Duration = Duration::from_secs(10);

pub fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_pushtail"))
}

/// A config with two `http` targets on the shared server (port 0, loopback):
/// `/app/` labelled `source=app` and `/edge/` labelled `source=edge`.
pub fn two_targets(app_extra: &str) -> String {
    format!(
        "server:\n  http_listen_address: 127.0.0.1\n  http_listen_port: 0\n  graceful_shutdown_timeout: 5s\n\
         scrape_configs:\n\
         \x20 - job_name: app\n    http:\n      base_url: /app/\n      labels: {{source: app}}\n{app_extra}\
         \x20 - job_name: edge\n    http:\n      base_url: edge\n      labels: {{source: edge, tier: frontend}}\n"
    )
}

/// Starts the agent in dry-run mode with `yaml`, one listener.
pub fn dry_run(yaml: &str) -> Agent {
    Agent::start(bin(), yaml, &["-dry-run"], 1)
}

/// One test entry: (timestamp ns, line, structured metadata).
pub type TestEntry<'a> = (i64, &'a str, &'a [(&'a str, &'a str)]);

/// A protobuf push body, snappy-compressed: `streams` of (labels, entries).
pub fn proto_body(streams: &[(&str, &[TestEntry])]) -> Vec<u8> {
    let req = PushRequest {
        streams: streams
            .iter()
            .map(|(labels, entries)| StreamAdapter {
                labels: (*labels).to_owned(),
                entries: entries
                    .iter()
                    .map(|(ts, line, sm)| EntryAdapter {
                        timestamp: Some(prost_types_timestamp(*ts)),
                        line: (*line).to_owned(),
                        structured_metadata: sm
                            .iter()
                            .map(|(k, v)| LabelPairAdapter {
                                name: (*k).into(),
                                value: (*v).into(),
                            })
                            .collect(),
                        parsed: Vec::new(),
                    })
                    .collect(),
                hash: 0,
            })
            .collect(),
    };
    snap::raw::Encoder::new()
        .compress_vec(&req.encode_to_vec())
        .expect("snappy")
}

fn prost_types_timestamp(ns: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: ns.div_euclid(1_000_000_000),
        nanos: ns.rem_euclid(1_000_000_000) as i32,
    }
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).expect("gzip");
    enc.finish().expect("gzip")
}

pub fn deflate_raw(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).expect("deflate");
    enc.finish().expect("deflate")
}

pub fn deflate_zlib(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).expect("zlib");
    enc.finish().expect("zlib")
}

/// Splits a dry-run line into (timestamp, labels, line, rest...).
pub fn fields(line: &str) -> Vec<&str> {
    line.split('\t').collect()
}

/// Posts `body` and returns (status, body text).
pub async fn post(
    client: &reqwest::Client,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<reqwest::Body>,
) -> (u16, String) {
    let mut req = client.post(url).body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

pub const JSON: (&str, &str) = ("Content-Type", "application/json");
pub const PROTO: (&str, &str) = ("Content-Type", "application/x-protobuf");
