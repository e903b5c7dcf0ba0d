//! The HTTP listener: what `axum::serve` does, plus the limits a server
//! facing the internet needs. At most [`ListenerLimits::max_connections`]
//! connections are served at once (more wait in the kernel's accept queue
//! until one closes; HTTP/1 carries one request at a time, so this bounds
//! the requests in flight too); the request headers must arrive within
//! [`ListenerLimits::header_read_timeout`] (a slow-loris client that
//! trickles them is cut off); a connection on which no byte moves either
//! way for [`ListenerLimits::idle_timeout`] is closed, whether it sits
//! between requests or stalls in the middle of one.
//!
//! Closing is "lingering": when hyper closes a connection (after an answer
//! sent before the request body was read, say a 401 or a 413), the socket
//! first sends its FIN, then reads and discards what the client still
//! sends for up to [`LINGER`]. Closing at once with unread bytes in the
//! socket would make the kernel send a reset, and a reset throws away the
//! answer still unread in the client's buffer: the client would see
//! "broken pipe" instead of the reason.

use std::future::Future as _;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// How long a closing connection keeps reading (and discarding) what the
/// client still sends, so that its answer is not lost to a reset.
pub const LINGER: Duration = Duration::from_secs(2);
/// Most bytes discarded while lingering.
const LINGER_MAX_BYTES: u64 = 64 << 20;

/// Limits of the listener (flags and env vars of `sizegate serve`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerLimits {
    /// Time a client has to send a request's headers
    /// (`SIZEGATE_HEADER_READ_TIMEOUT_SECS`, default 10 s).
    pub header_read_timeout: Duration,
    /// A connection with no byte read or written for this long is closed
    /// (`SIZEGATE_IDLE_TIMEOUT_SECS`, default 60 s).
    pub idle_timeout: Duration,
    /// Connections served at once (`SIZEGATE_MAX_CONNECTIONS`, default 512).
    pub max_connections: usize,
}

impl Default for ListenerLimits {
    fn default() -> Self {
        ListenerLimits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 512,
        }
    }
}

/// Serve `router` on `listener` within `limits` until `shutdown` is
/// cancelled; then stop accepting, let the requests in flight finish and
/// return.
pub async fn serve_with_limits(
    listener: TcpListener,
    router: Router,
    limits: ListenerLimits,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    loop {
        // A permit first: past the limit, connections wait unaccepted.
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = shutdown.cancelled() => break,
        };
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait, do not spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::new());
        let io = TokioIo::new(Tracked {
            inner: stream,
            activity: Arc::clone(&activity),
            linger: None,
        });
        let service = TowerToHyperService::new(router.clone());
        let builder = builder.clone();
        let idle_timeout = limits.idle_timeout;
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let connection = builder.serve_connection(io, service);
            let connection = watcher.watch(connection);
            tokio::select! {
                result = connection => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                }
                () = activity.idle_for(idle_timeout) => {
                    tracing::debug!(?idle_timeout, "closing an idle connection");
                }
            }
            drop(permit);
        });
    }
    drop(listener);
    // The requests in flight get to finish; idle connections are closed.
    graceful.shutdown().await;
    Ok(())
}

/// When a connection last moved a byte, in milliseconds since it opened.
struct Activity {
    opened: tokio::time::Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Activity {
            opened: tokio::time::Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// Resolves once no byte has moved for `limit`.
    async fn idle_for(&self, limit: Duration) {
        loop {
            let last = self.opened + Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
            let deadline = last + limit;
            if tokio::time::Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}

/// A socket that records when bytes move, and lingers when shut down.
struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
    linger: Option<Linger>,
}

/// The state of a lingering close: the write side is shut, reads are
/// discarded until end of stream, the deadline or the byte limit.
struct Linger {
    deadline: Pin<Box<tokio::time::Sleep>>,
    discarded: u64,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        poll
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        poll
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if this.linger.is_none() {
            // Our FIN goes out after the answer; the client reads it all.
            let shut = std::task::ready!(Pin::new(&mut this.inner).poll_shutdown(cx));
            if shut.is_err() {
                return Poll::Ready(shut);
            }
            this.linger = Some(Linger {
                deadline: Box::pin(tokio::time::sleep(LINGER)),
                discarded: 0,
            });
        }
        let Some(linger) = this.linger.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        let mut scratch = [0u8; 16 * 1024];
        loop {
            if linger.discarded >= LINGER_MAX_BYTES || linger.deadline.as_mut().poll(cx).is_ready()
            {
                return Poll::Ready(Ok(()));
            }
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut this.inner).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if buf.filled().is_empty() => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) => linger.discarded += buf.filled().len() as u64,
                // The client is gone: nothing left to protect.
                Poll::Ready(Err(_)) => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
