//! The soak's fake Loki: decodes every push (snappy + protobuf), records the
//! id of every line it accepts, and injects faults: a share of pushes is
//! answered 500 or 429, and a share hangs past the client's timeout (then
//! 503). A push answered with anything but 204 records nothing, as Loki.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use anyhow::Result;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use pushtail_proto::encoding::snappy_decode_limited;
use pushtail_proto::push::decode_push_proto;
use tokio::net::TcpListener;

use super::ids::{line_id, IdSet};

const MAX_BODY: usize = 100 << 20;

/// Shares of pushes answered with a fault, in per mille.
#[derive(Clone, Copy, Debug)]
pub struct Faults {
    pub err500: u64,
    pub err429: u64,
    pub hang: u64,
    /// How long a hung push waits before its 503.
    pub hang_for: Duration,
}

#[derive(Default)]
pub struct Counts {
    pub pushes: AtomicU64,
    pub err500: AtomicU64,
    pub err429: AtomicU64,
    pub hangs: AtomicU64,
    /// Pushes that did not decode (should stay 0).
    pub rejected: AtomicU64,
    /// Accepted lines without a soak id (should stay 0).
    pub foreign: AtomicU64,
}

pub struct Sink {
    addr: SocketAddr,
    pub ids: Arc<Mutex<IdSet>>,
    pub counts: Arc<Counts>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

struct State {
    faults: Faults,
    ids: Arc<Mutex<IdSet>>,
    counts: Arc<Counts>,
    seq: AtomicU64,
}

impl Sink {
    pub async fn start(faults: Faults) -> Result<Sink> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let ids = Arc::new(Mutex::new(IdSet::default()));
        let counts = Arc::new(Counts::default());
        let state = Arc::new(State {
            faults,
            ids: Arc::clone(&ids),
            counts: Arc::clone(&counts),
            seq: AtomicU64::new(0),
        });
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = Arc::clone(&state);
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let state = Arc::clone(&state);
                        async move { Ok::<_, Infallible>(handle(&state, req).await) }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Sink { addr, ids, counts })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

fn reply(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *resp.status_mut() = status;
    resp
}

/// The fault for push number `seq`: spread evenly (a fixed pattern per
/// thousand pushes), so every run sees the same mix.
fn fault(faults: &Faults, seq: u64) -> Option<StatusCode> {
    // A multiplicative hash spreads consecutive pushes over the thousand.
    let slot = seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
    let slot = slot % 1000;
    if slot < faults.err500 {
        Some(StatusCode::INTERNAL_SERVER_ERROR)
    } else if slot < faults.err500 + faults.err429 {
        Some(StatusCode::TOO_MANY_REQUESTS)
    } else if slot < faults.err500 + faults.err429 + faults.hang {
        Some(StatusCode::SERVICE_UNAVAILABLE)
    } else {
        None
    }
}

async fn handle(state: &State, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let Ok(body) = req.into_body().collect().await.map(|b| b.to_bytes()) else {
        state.counts.rejected.fetch_add(1, Ordering::Relaxed);
        return reply(StatusCode::BAD_REQUEST, "body\n");
    };
    let push = match snappy_decode_limited(&body, MAX_BODY)
        .ok()
        .and_then(|raw| decode_push_proto(raw).ok())
    {
        Some(p) => p,
        None => {
            state.counts.rejected.fetch_add(1, Ordering::Relaxed);
            return reply(StatusCode::BAD_REQUEST, "decode\n");
        }
    };
    state.counts.pushes.fetch_add(1, Ordering::Relaxed);
    let seq = state.seq.fetch_add(1, Ordering::Relaxed);
    match fault(&state.faults, seq) {
        Some(StatusCode::INTERNAL_SERVER_ERROR) => {
            state.counts.err500.fetch_add(1, Ordering::Relaxed);
            return reply(StatusCode::INTERNAL_SERVER_ERROR, "soak: injected 500\n");
        }
        Some(StatusCode::TOO_MANY_REQUESTS) => {
            state.counts.err429.fetch_add(1, Ordering::Relaxed);
            return reply(StatusCode::TOO_MANY_REQUESTS, "soak: injected 429\n");
        }
        Some(_) => {
            state.counts.hangs.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(state.faults.hang_for).await;
            return reply(StatusCode::SERVICE_UNAVAILABLE, "soak: injected hang\n");
        }
        None => {}
    }
    let mut ids = lock(&state.ids);
    for stream in &push.streams {
        for entry in &stream.entries {
            match line_id(&entry.line) {
                Some(id) => {
                    ids.insert(id);
                }
                None => {
                    state.counts.foreign.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
    reply(StatusCode::NO_CONTENT, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_come_in_the_configured_shares() {
        let faults = Faults {
            err500: 20,
            err429: 20,
            hang: 5,
            hang_for: Duration::ZERO,
        };
        let mut counts = [0u64; 3];
        for seq in 0..100_000 {
            match fault(&faults, seq) {
                Some(StatusCode::INTERNAL_SERVER_ERROR) => counts[0] += 1,
                Some(StatusCode::TOO_MANY_REQUESTS) => counts[1] += 1,
                Some(_) => counts[2] += 1,
                None => {}
            }
        }
        // Within 20% of 2%, 2% and 0.5%.
        for (got, want) in counts.iter().zip([2000.0, 2000.0, 500.0]) {
            assert!((*got as f64 - want).abs() < want * 0.2, "{counts:?}");
        }
    }
}
