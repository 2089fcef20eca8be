//! The load generator: `conns` workers, each on its own keep-alive HTTP/1.1
//! connection, pushing pre-encoded bodies in a loop until the window ends.
//!
//! A worker never builds a body; it clones `Bytes` and a few headers. It
//! records latency and lines only for responses that arrive inside the
//! measured window, and counts every acknowledged line (warmup included) so
//! delivered can be checked against acknowledged. It must never retry a
//! failed push: a failure is counted, not hidden.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::bodies::Bodies;

/// Pause after a failed push, so a refusing agent is not spun against.
const FAILURE_PAUSE: Duration = Duration::from_millis(20);

/// Where and what to push.
pub struct Target {
    /// `host:port` to connect to.
    pub authority: String,
    /// Path and query.
    pub path: String,
    pub content_type: &'static str,
}

/// When the phases start and end.
#[derive(Clone, Copy)]
pub struct Window {
    pub start: Instant,
    pub end: Instant,
}

/// What one worker (or all, merged) saw.
#[derive(Default)]
pub struct Tally {
    pub latencies: Vec<Duration>,
    /// Lines in 2xx responses inside the window.
    pub window_lines: u64,
    pub window_pushes: u64,
    /// Lines in 2xx responses over the whole run.
    pub acked: u64,
    pub failures: u64,
    /// First few failure descriptions, for the report.
    pub failure_samples: Vec<String>,
}

impl Tally {
    pub fn merge(&mut self, other: Tally) {
        self.latencies.extend(other.latencies);
        self.window_lines += other.window_lines;
        self.window_pushes += other.window_pushes;
        self.acked += other.acked;
        self.failures += other.failures;
        for f in other.failure_samples {
            if self.failure_samples.len() < 5 {
                self.failure_samples.push(f);
            }
        }
    }

    fn fail(&mut self, what: String) {
        self.failures += 1;
        if self.failure_samples.len() < 5 {
            self.failure_samples.push(what);
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

/// One push; `Ok(status)` when a response came back.
async fn push(sender: &mut Sender, target: &Target, body: Bytes) -> Result<u16> {
    let req = hyper::Request::post(&target.path)
        .header(hyper::header::HOST, &target.authority)
        .header(hyper::header::CONTENT_TYPE, target.content_type)
        .body(Full::new(body))?;
    sender.ready().await?;
    let resp = sender.send_request(req).await?;
    let status = resp.status().as_u16();
    // Drain the body so the connection can be reused.
    resp.into_body().collect().await?;
    Ok(status)
}

async fn worker(id: usize, target: Arc<Target>, bodies: Arc<Bodies>, window: Window) -> Tally {
    let mut tally = Tally::default();
    let lines = bodies.lines_per_body;
    let mut next = id;
    let mut sender: Option<Sender> = None;
    while Instant::now() < window.end {
        let s = match sender.as_mut() {
            Some(s) => s,
            None => match connect(&target.authority).await {
                Ok(s) => sender.insert(s),
                Err(e) => {
                    tally.fail(format!("{e:#}"));
                    tokio::time::sleep(FAILURE_PAUSE).await;
                    continue;
                }
            },
        };
        let body = bodies.bodies[next % bodies.bodies.len()].clone();
        next += 1;
        let sent = Instant::now();
        let result = push(s, &target, body).await;
        let done = Instant::now();
        match result {
            Ok(status) if (200..300).contains(&status) => {
                tally.acked += lines;
                if sent >= window.start && done <= window.end {
                    tally.latencies.push(done - sent);
                    tally.window_lines += lines;
                    tally.window_pushes += 1;
                }
            }
            Ok(status) => {
                tally.fail(format!("status {status}"));
                tokio::time::sleep(FAILURE_PAUSE).await;
            }
            Err(e) => {
                tally.fail(format!("{e:#}"));
                sender = None;
                tokio::time::sleep(FAILURE_PAUSE).await;
            }
        }
    }
    tally
}

/// Runs `conns` workers until `window.end` and merges what they saw.
pub async fn run(conns: usize, target: Target, bodies: Arc<Bodies>, window: Window) -> Tally {
    let target = Arc::new(target);
    let handles: Vec<_> = (0..conns.max(1))
        .map(|id| tokio::spawn(worker(id, Arc::clone(&target), Arc::clone(&bodies), window)))
        .collect();
    let mut total = Tally::default();
    for h in handles {
        match h.await {
            Ok(t) => total.merge(t),
            Err(e) => total.fail(format!("worker panicked: {e}")),
        }
    }
    total
}

/// Splits `http://host:port/path?q` into authority and path.
pub fn split_url(url: &str) -> Result<(String, String)> {
    let rest = url
        .strip_prefix("http://")
        .with_context(|| format!("push url {url:?} must start with http://"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    anyhow::ensure!(!authority.is_empty(), "push url {url:?} has no host");
    Ok((authority.to_owned(), path.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split() {
        let cases = [
            (
                "http://127.0.0.1:3500/loki/api/v1/push",
                Some(("127.0.0.1:3500", "/loki/api/v1/push")),
            ),
            ("http://localhost:9", Some(("localhost:9", "/"))),
            ("http://h:1/raw?x=1", Some(("h:1", "/raw?x=1"))),
            ("https://h:1/", None),
            ("http:///x", None),
        ];
        for (url, want) in cases {
            let got = split_url(url).ok();
            let got = got.as_ref().map(|(a, p)| (a.as_str(), p.as_str()));
            assert_eq!(got, want, "{url}");
        }
    }

    #[test]
    fn tallies_merge() {
        let mut a = Tally {
            window_lines: 1,
            acked: 2,
            failures: 1,
            latencies: vec![Duration::ZERO],
            ..Tally::default()
        };
        a.merge(Tally {
            window_lines: 10,
            acked: 20,
            window_pushes: 3,
            latencies: vec![Duration::ZERO],
            ..Tally::default()
        });
        assert_eq!(
            (
                a.window_lines,
                a.acked,
                a.failures,
                a.window_pushes,
                a.latencies.len()
            ),
            (11, 22, 1, 3, 2)
        );
    }
}
