//! The soak's load: `conns` workers on keep-alive HTTP/1.1 connections,
//! paced to a total line rate, each push in turn protobuf, JSON or raw.
//! Every line carries a unique id (`soak id=N`); the ids of pushes answered
//! 204 are recorded as acknowledged. Nothing is retried: a refused push is
//! counted (503s separately) and its lines are simply not acknowledged.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use prost::Message;
use pushtail_proto::logproto::{EntryAdapter, PushRequest, StreamAdapter};
use tokio::net::TcpStream;

use super::ids::IdSet;

/// Label sets the pushes rotate through.
pub const STREAMS: u64 = 1000;
/// Streams per protobuf or JSON push.
const STREAMS_PER_PUSH: u64 = 10;
const FAILURE_PAUSE: Duration = Duration::from_millis(50);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Proto,
    Json,
    Raw,
}

const FORMATS: [Format; 3] = [Format::Proto, Format::Json, Format::Raw];

#[derive(Default)]
pub struct Tally {
    pub pushes: AtomicU64,
    pub acked_pushes: AtomicU64,
    pub acked_lines: AtomicU64,
    pub status_503: AtomicU64,
    pub other_status: AtomicU64,
    pub errors: AtomicU64,
    /// Ids handed out so far (the next id).
    pub next_id: AtomicU64,
    pub acked: Mutex<IdSet>,
}

pub struct Load {
    pub authority: String,
    pub conns: usize,
    pub lines_per_push: u64,
    pub line_bytes: usize,
    /// Lines per second over all workers.
    pub rate: u64,
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

fn line(id: u64, len: usize) -> String {
    let mut s = format!("soak id={id} level=info msg=\"soak line\" pad=");
    while s.len() < len {
        s.push((b'a' + (s.len() % 26) as u8) as char);
    }
    s
}

/// The body of push number `seq` carrying ids `first..first+n`: path,
/// content type, bytes.
pub fn body(
    format: Format,
    seq: u64,
    first: u64,
    n: u64,
    line_bytes: usize,
) -> (&'static str, &'static str, Bytes) {
    let ts = now_ns();
    let stream_of = |i: u64| (seq * STREAMS_PER_PUSH + i % STREAMS_PER_PUSH) % STREAMS;
    match format {
        Format::Raw => {
            let mut text = String::new();
            for i in 0..n {
                text.push_str(&line(first + i, line_bytes));
                text.push('\n');
            }
            ("/loki/api/v1/raw", "text/plain", Bytes::from(text))
        }
        Format::Proto => {
            let mut streams: Vec<StreamAdapter> = (0..STREAMS_PER_PUSH.min(n))
                .map(|i| StreamAdapter {
                    labels: format!("{{soak=\"proto\", stream=\"s{}\"}}", stream_of(i)),
                    entries: Vec::new(),
                    hash: 0,
                })
                .collect();
            for i in 0..n {
                let k = (i % STREAMS_PER_PUSH) as usize;
                let t = ts + i as i64;
                streams[k].entries.push(EntryAdapter {
                    timestamp: Some(prost_types::Timestamp {
                        seconds: t.div_euclid(1_000_000_000),
                        nanos: t.rem_euclid(1_000_000_000) as i32,
                    }),
                    line: line(first + i, line_bytes),
                    structured_metadata: Vec::new(),
                    parsed: Vec::new(),
                });
            }
            let raw = PushRequest { streams }.encode_to_vec();
            let packed = snap::raw::Encoder::new()
                .compress_vec(&raw)
                .unwrap_or_default();
            (
                "/loki/api/v1/push",
                "application/x-protobuf",
                Bytes::from(packed),
            )
        }
        Format::Json => {
            let mut streams: Vec<serde_json::Value> = Vec::new();
            for s in 0..STREAMS_PER_PUSH.min(n) {
                let values: Vec<serde_json::Value> = (s..n)
                    .step_by(STREAMS_PER_PUSH as usize)
                    .map(|i| {
                        serde_json::json!([
                            (ts + i as i64).to_string(),
                            line(first + i, line_bytes)
                        ])
                    })
                    .collect();
                streams.push(serde_json::json!({
                    "stream": {"soak": "json", "stream": format!("s{}", stream_of(s))},
                    "values": values,
                }));
            }
            let body = serde_json::json!({ "streams": streams }).to_string();
            ("/loki/api/v1/push", "application/json", Bytes::from(body))
        }
    }
}

type Sender = http1::SendRequest<Full<Bytes>>;

async fn connect(authority: &str) -> Result<Sender> {
    let tcp = TcpStream::connect(authority)
        .await
        .with_context(|| format!("connecting to {authority}"))?;
    tcp.set_nodelay(true)?;
    let (sender, conn) = http1::handshake(TokioIo::new(tcp)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

async fn push(
    sender: &mut Sender,
    authority: &str,
    path: &str,
    content_type: &str,
    body: Bytes,
) -> Result<u16> {
    let req = hyper::Request::post(path)
        .header(hyper::header::HOST, authority)
        .header(hyper::header::CONTENT_TYPE, content_type)
        .body(Full::new(body))?;
    sender.ready().await?;
    let resp = sender.send_request(req).await?;
    let status = resp.status().as_u16();
    resp.into_body().collect().await?;
    Ok(status)
}

async fn worker(id: usize, load: Arc<Load>, tally: Arc<Tally>, end: Instant) {
    let conns = load.conns.max(1) as u64;
    let per_worker = (load.rate / conns).max(1);
    let interval = Duration::from_secs_f64(load.lines_per_push as f64 / per_worker as f64);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sender: Option<Sender> = None;
    let mut seq = id as u64;
    while Instant::now() < end {
        ticker.tick().await;
        let s = match sender.as_mut() {
            Some(s) => s,
            None => match connect(&load.authority).await {
                Ok(s) => sender.insert(s),
                Err(_) => {
                    tally.errors.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(FAILURE_PAUSE).await;
                    continue;
                }
            },
        };
        let format = FORMATS[(seq % 3) as usize];
        let n = load.lines_per_push;
        let first = tally.next_id.fetch_add(n, Ordering::Relaxed);
        let (path, content_type, body) = body(format, seq, first, n, load.line_bytes);
        seq += conns;
        tally.pushes.fetch_add(1, Ordering::Relaxed);
        match push(s, &load.authority, path, content_type, body).await {
            Ok(204) => {
                tally.acked_pushes.fetch_add(1, Ordering::Relaxed);
                tally.acked_lines.fetch_add(n, Ordering::Relaxed);
                let mut acked = tally.acked.lock().unwrap_or_else(PoisonError::into_inner);
                for i in first..first + n {
                    acked.insert(i);
                }
            }
            Ok(503) => {
                tally.status_503.fetch_add(1, Ordering::Relaxed);
            }
            Ok(_) => {
                tally.other_status.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                tally.errors.fetch_add(1, Ordering::Relaxed);
                sender = None;
                tokio::time::sleep(FAILURE_PAUSE).await;
            }
        }
    }
}

/// Pushes until `end`.
pub async fn run(load: Load, tally: Arc<Tally>, end: Instant) {
    let load = Arc::new(load);
    let handles: Vec<_> = (0..load.conns.max(1))
        .map(|id| tokio::spawn(worker(id, Arc::clone(&load), Arc::clone(&tally), end)))
        .collect();
    for h in handles {
        let _ = h.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pushtail_proto::json::decode_push_json;
    use pushtail_proto::push::decode_push_proto;

    use crate::soak::ids::line_id;

    /// Every format carries exactly the ids it was given, over at most
    /// `STREAMS_PER_PUSH` label sets.
    #[test]
    fn bodies_carry_their_ids() {
        for format in FORMATS {
            let (_, _, bytes) = body(format, 3, 100, 25, 80);
            let mut ids: Vec<u64> = match format {
                Format::Raw => bytes
                    .split(|b| *b == b'\n')
                    .filter(|l| !l.is_empty())
                    .filter_map(line_id)
                    .collect(),
                Format::Proto => {
                    let raw = snap::raw::Decoder::new().decompress_vec(&bytes).unwrap();
                    let push = decode_push_proto(Bytes::from(raw)).unwrap();
                    assert_eq!(push.streams.len(), 10);
                    push.streams
                        .iter()
                        .flat_map(|s| &s.entries)
                        .filter_map(|e| line_id(&e.line))
                        .collect()
                }
                Format::Json => {
                    let push = decode_push_json(&bytes).unwrap();
                    assert_eq!(push.streams.len(), 10);
                    push.streams
                        .iter()
                        .flat_map(|s| &s.entries)
                        .filter_map(|e| line_id(&e.line))
                        .collect()
                }
            };
            ids.sort_unstable();
            assert_eq!(ids, (100..125).collect::<Vec<_>>(), "{format:?}");
        }
    }
}
