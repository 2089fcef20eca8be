//! The socket wrapper that enforces a connection's deadlines under hyper.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::{ConnState, Expiry};

/// The accepted socket with the connection's read deadline: once it
/// passes, reads end with EOF (idle) or a `TimedOut` error (a request did
/// not arrive in time). A write or flush that stays pending for the write
/// timeout fails with `TimedOut`.
pub(crate) struct DeadlineIo<T> {
    io: T,
    state: Arc<ConnState>,
    sleep: Pin<Box<Sleep>>,
    sleep_at: Option<Instant>,
    /// Runs while writes are pending; reset by any progress.
    stall: Option<Pin<Box<Sleep>>>,
}

impl<T> DeadlineIo<T> {
    pub(crate) fn new(io: T, state: Arc<ConnState>) -> DeadlineIo<T> {
        DeadlineIo {
            io,
            state,
            sleep: Box::pin(tokio::time::sleep_until(Instant::now())),
            sleep_at: None,
            stall: None,
        }
    }

    /// Passes a write-side poll through; while it stays pending, runs the
    /// stall timer and fails it once the write timeout passes.
    fn stalled<R>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        if polled.is_ready() {
            self.stall = None;
            return polled;
        }
        let Some(limit) = self.state.timeouts.write else {
            return Poll::Pending;
        };
        let stall = self
            .stall
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match stall.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.state.expire_write();
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "client read nothing for http_server_write_timeout",
                )))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// Polls the deadline timer; `Some` once the deadline has passed.
    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> Option<Expiry> {
        let at = self.state.deadline(cx.waker())?;
        if self.sleep_at != Some(at) {
            self.sleep.as_mut().reset(at);
            self.sleep_at = Some(at);
        }
        match self.sleep.as_mut().poll(cx) {
            Poll::Ready(()) => self.state.expire(Instant::now()),
            Poll::Pending => None,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for DeadlineIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(expiry) = this.state.expired().or_else(|| this.poll_deadline(cx)) {
            return Poll::Ready(match expiry {
                Expiry::Idle => Ok(()),
                Expiry::Read | Expiry::Write => Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "connection timed out (http_server_read_timeout or http_server_write_timeout)",
                )),
            });
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let data = &buf.filled()[before..];
            if !data.is_empty() {
                this.state.on_read(data);
            }
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for DeadlineIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write(cx, buf);
        this.stalled(cx, polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.stalled(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_flush(cx);
        this.stalled(cx, polled)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
