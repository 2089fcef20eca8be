//! Deadline behaviour on tokio's paused clock.

use super::service::{BodyTimedOut, DeadlineBody};
use super::*;
use bytes::Bytes;
use http_body::Frame;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Wake;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const READ: Duration = Duration::from_secs(1);
const IDLE: Duration = Duration::from_secs(5);
const WRITE: Duration = Duration::from_secs(3);

fn timeouts() -> Timeouts {
    Timeouts::new(READ, IDLE, WRITE)
}

#[test]
fn zero_timeouts_follow_go() {
    let cases = [
        ((1, 5), (Some(1), Some(5))),
        ((1, 0), (Some(1), Some(1))),
        ((0, 5), (None, Some(5))),
        ((0, 0), (None, None)),
    ];
    for ((read, idle), (want_read, want_idle)) in cases {
        let t = Timeouts::new(
            Duration::from_secs(read),
            Duration::from_secs(idle),
            Duration::ZERO,
        );
        let secs = |d: Option<Duration>| d.map(|d| d.as_secs());
        assert_eq!(
            (secs(t.read), secs(t.idle)),
            (want_read, want_idle),
            "{read} {idle}"
        );
        assert_eq!(t.write, None);
    }
}

/// A client that stops reading: writes fail once they made no progress
/// for the write timeout; progress restarts the timer.
#[tokio::test(start_paused = true)]
async fn stalled_writes_fail_at_the_write_timeout() {
    let (mut client, server) = tokio::io::duplex(16);
    let state = ConnState::new(timeouts());
    let mut io = DeadlineIo::new(server, Arc::clone(&state));
    io.write_all(&[0; 16]).await.expect("fits the buffer");
    let writer = tokio::spawn(async move {
        let started = Instant::now();
        let result = io.write_all(&[0; 64]).await;
        (result, started.elapsed())
    });
    // Reading some of it in time restarts the stall timer.
    tokio::time::sleep(WRITE - Duration::from_millis(1)).await;
    let mut buf = [0u8; 16];
    client.read_exact(&mut buf).await.expect("read");
    let (result, took) = writer.await.expect("writer");
    let err = result.expect_err("stall");
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    assert_eq!(took, WRITE * 2 - Duration::from_millis(1));
    assert_eq!(state.expired(), Some(Expiry::Write));
}

/// A silent connection: the read fails with TimedOut at the read
/// timeout, not before.
#[tokio::test(start_paused = true)]
async fn silent_connection_times_out_at_read_timeout() {
    let (client, server) = tokio::io::duplex(64);
    let state = ConnState::new(timeouts());
    let mut io = DeadlineIo::new(server, Arc::clone(&state));
    let started = Instant::now();
    let mut buf = [0u8; 8];
    let err = io.read(&mut buf).await.expect_err("deadline");
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    assert_eq!(started.elapsed(), READ);
    assert_eq!(state.expired(), Some(Expiry::Read));
    drop(client);
}

/// After a response the idle timeout applies and ends the connection
/// with EOF; on HTTP/1 the next request's first byte starts the read
/// timeout again.
#[tokio::test(start_paused = true)]
async fn idle_then_next_request_on_http1() {
    let (mut client, server) = tokio::io::duplex(64);
    let state = ConnState::new(timeouts());
    let mut io = DeadlineIo::new(server, Arc::clone(&state));
    let mut buf = [0u8; 8];
    client.write_all(b"GET").await.expect("write");
    assert_eq!(io.read(&mut buf).await.expect("read"), 3);
    let deadline = state.request_started(Version::HTTP_11);
    assert!(deadline.is_some_and(|d| d <= Instant::now() + READ));
    // Busy: no connection deadline however long the handler takes.
    tokio::time::advance(Duration::from_secs(60)).await;
    assert_eq!(state.expire(Instant::now()), None);
    state.request_done();
    // Idle: a byte before the idle timeout switches to reading.
    tokio::time::advance(IDLE - Duration::from_millis(1)).await;
    client.write_all(b"G").await.expect("write");
    assert_eq!(io.read(&mut buf).await.expect("read"), 1);
    let started = Instant::now();
    let err = io.read(&mut buf).await.expect_err("read deadline");
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    assert_eq!(started.elapsed(), READ);
}

#[tokio::test(start_paused = true)]
async fn idle_timeout_ends_with_eof() {
    let (_client, server) = tokio::io::duplex(64);
    let state = ConnState::new(timeouts());
    let mut io = DeadlineIo::new(server, Arc::clone(&state));
    state.request_started(Version::HTTP_11);
    state.request_done();
    let started = Instant::now();
    let mut buf = [0u8; 8];
    assert_eq!(io.read(&mut buf).await.expect("eof"), 0);
    assert_eq!(started.elapsed(), IDLE);
    assert_eq!(state.expired(), Some(Expiry::Idle));
}

/// HTTP/2: frames without a request (PING) do not reset the idle timer,
/// and the connection has no deadline while a stream is open.
#[tokio::test(start_paused = true)]
async fn http2_idle_counts_streams_not_bytes() {
    let (mut client, server) = tokio::io::duplex(1024);
    let state = ConnState::new(timeouts());
    let mut io = DeadlineIo::new(server, Arc::clone(&state));
    let mut buf = [0u8; 64];
    client
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .expect("write");
    assert_eq!(io.read(&mut buf).await.expect("read"), 24);
    let a = state.request_started(Version::HTTP_2);
    let b = state.request_started(Version::HTTP_2);
    assert!(a.is_some() && b.is_some());
    state.request_done();
    tokio::time::advance(IDLE * 2).await;
    assert_eq!(state.expire(Instant::now()), None, "one stream still open");
    state.request_done();
    let started = Instant::now();
    tokio::time::advance(IDLE / 2).await;
    client.write_all(b"ping").await.expect("write");
    assert_eq!(io.read(&mut buf).await.expect("read"), 4);
    assert_eq!(io.read(&mut buf).await.expect("eof"), 0);
    assert_eq!(started.elapsed(), IDLE);
}

/// HTTP/2 over TLS without ALPN (the handshake said nothing, the bytes
/// read are encrypted): its first request tells it, and from then on the
/// HTTP/2 idle rules apply.
#[tokio::test(start_paused = true)]
async fn http2_without_alpn_is_told_by_its_first_request() {
    let (mut client, server) = tokio::io::duplex(1024);
    let state = ConnState::new(timeouts());
    state.set_http2(false);
    let mut io = DeadlineIo::new(server, Arc::clone(&state));
    let mut buf = [0u8; 64];
    state.request_started(Version::HTTP_2);
    state.request_done();
    let started = Instant::now();
    tokio::time::advance(IDLE / 2).await;
    client.write_all(b"ping").await.expect("write");
    assert_eq!(io.read(&mut buf).await.expect("read"), 4);
    assert_eq!(io.read(&mut buf).await.expect("eof"), 0);
    assert_eq!(started.elapsed(), IDLE, "a PING did not restart the timer");
}

struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A read parked while busy (no timer) is woken when the connection
/// turns idle, so it can arm the idle timer.
#[tokio::test(start_paused = true)]
async fn turning_idle_wakes_the_reader() {
    let state = ConnState::new(timeouts());
    state.request_started(Version::HTTP_11);
    let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
    let waker = Waker::from(Arc::clone(&counter));
    assert_eq!(state.deadline(&waker), None);
    state.request_done();
    assert_eq!(counter.0.load(Ordering::SeqCst), 1);
}

/// The body deadline is total, not an inactivity timer: a body that
/// keeps trickling still fails at its deadline.
#[tokio::test(start_paused = true)]
async fn body_deadline_is_total() {
    use http_body_util::{BodyExt, StreamBody};
    let frames = futures_util::stream::unfold(0u32, |n| async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        Some((
            Ok::<_, io::Error>(Frame::data(Bytes::from_static(b"x"))),
            n + 1,
        ))
    });
    let started = Instant::now();
    let body = DeadlineBody::new(
        StreamBody::new(Box::pin(frames)),
        Some(started + READ),
        READ,
    );
    let err = body.collect().await.expect_err("deadline");
    assert!(err.is::<BodyTimedOut>(), "{err}");
    assert_eq!(started.elapsed(), READ);
}
