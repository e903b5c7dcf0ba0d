//! A loopback TCP proxy for the upload tests: it forwards both ways, counts
//! the bytes the client sends and the connections it opens, and can cut
//! the first connection that carries more than a given number of bytes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// Counters shared with the forwarding tasks.
#[derive(Debug, Default)]
pub struct Counters {
    /// Bytes from clients to the server.
    pub upstream: AtomicU64,
    /// Connections accepted.
    pub connections: AtomicU64,
    /// Cut once upstream bytes pass this (0: never).
    pub cut_after: AtomicU64,
    /// Whether the cut happened.
    pub cut: AtomicBool,
}

/// A running proxy.
pub struct Proxy {
    pub url: String,
    pub counters: Arc<Counters>,
}

impl Proxy {
    /// A proxy in front of `server` (`http://host:port`).
    pub async fn start(server: &str) -> Proxy {
        let target = server.trim_start_matches("http://").to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let counters = Arc::new(Counters::default());
        let shared = Arc::clone(&counters);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                shared.connections.fetch_add(1, Ordering::SeqCst);
                let target = target.clone();
                let shared = Arc::clone(&shared);
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(&target).await {
                        forward(client, server, shared).await;
                    }
                });
            }
        });
        Proxy { url, counters }
    }

    pub fn upstream(&self) -> u64 {
        self.counters.upstream.load(Ordering::SeqCst)
    }

    pub fn connections(&self) -> u64 {
        self.counters.connections.load(Ordering::SeqCst)
    }

    pub fn reset(&self) {
        self.counters.upstream.store(0, Ordering::SeqCst);
        self.counters.connections.store(0, Ordering::SeqCst);
    }
}

async fn forward(client: TcpStream, server: TcpStream, counters: Arc<Counters>) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let down = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    });
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match client_read.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let total = counters.upstream.fetch_add(n as u64, Ordering::SeqCst) + n as u64;
        let cut_after = counters.cut_after.load(Ordering::SeqCst);
        if cut_after > 0 && total > cut_after && !counters.cut.swap(true, Ordering::SeqCst) {
            // Drop both sides mid-request, as a broken network would.
            down.abort();
            return;
        }
        if server_write.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = server_write.shutdown().await;
    let _ = down.await;
}
