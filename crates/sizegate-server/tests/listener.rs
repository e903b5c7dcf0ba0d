//! The listener's limits, over real sockets: a client trickling its
//! headers (slow loris) is cut off at the header-read timeout, a silent
//! connection at the idle timeout, and no more than the connection limit
//! are served at once.

#![allow(clippy::unwrap_used)] // tests may unwrap

use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use sizegate_server::ListenerLimits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";

struct Listening {
    address: String,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Listening {
    async fn start(limits: ListenerLimits) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let router = Router::new().route("/", get(|| async { "ok" }));
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(sizegate_server::listener::serve_with_limits(
            listener,
            router,
            limits,
            shutdown.clone(),
        ));
        Listening {
            address,
            shutdown,
            task,
        }
    }

    async fn connect(&self) -> TcpStream {
        TcpStream::connect(&self.address).await.unwrap()
    }

    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("the listener stops on shutdown")
            .unwrap()
            .unwrap();
    }
}

/// Read until the end of the answer's headers, or the end of the stream.
/// `None` when nothing came within `limit`.
async fn read_answer(stream: &mut TcpStream, limit: Duration) -> Option<String> {
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    tokio::time::timeout(limit, async {
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .ok()?;
    Some(String::from_utf8_lossy(&answer).into_owned())
}

/// The answer on `stream` comes within 5 s and is a 200.
async fn assert_served(stream: &mut TcpStream) {
    let answer = read_answer(stream, Duration::from_secs(5))
        .await
        .expect("an answer within 5 s");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// Whether the server closed `stream` within `limit` (end of stream or a
/// reset), ignoring whatever it sent first.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 1024];
    tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

#[tokio::test]
async fn a_slow_loris_is_cut_off_at_the_header_read_timeout() {
    let server = Listening::start(ListenerLimits {
        header_read_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(60),
        max_connections: 16,
    })
    .await;
    let mut loris = server.connect().await;
    loris
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    // One header line every 200 ms: bytes keep coming, the headers never end.
    let trickle = async {
        for i in 0..50 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if loris
                .write_all(format!("X-Slow-{i}: 1\r\n").as_bytes())
                .await
                .is_err()
            {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(15), trickle)
        .await
        .unwrap();
    assert!(
        closed_within(&mut loris, Duration::from_secs(5)).await,
        "the slow client is still connected"
    );
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(8),
        "cut off after {elapsed:?}"
    );
    // A normal client is served meanwhile and after.
    let mut client = server.connect().await;
    client.write_all(REQUEST).await.unwrap();
    assert_served(&mut client).await;
    server.stop().await;
}

#[tokio::test]
async fn a_silent_connection_is_closed_at_the_idle_timeout() {
    let server = Listening::start(ListenerLimits {
        header_read_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(1),
        max_connections: 16,
    })
    .await;
    // Served, then kept alive with nothing more to say.
    let mut client = server.connect().await;
    client.write_all(REQUEST).await.unwrap();
    assert_served(&mut client).await;
    let started = Instant::now();
    assert!(closed_within(&mut client, Duration::from_secs(5)).await);
    assert!(started.elapsed() >= Duration::from_millis(800));
    // Connected and silent from the start.
    let mut silent = server.connect().await;
    assert!(closed_within(&mut silent, Duration::from_secs(5)).await);
    server.stop().await;
}

#[tokio::test]
async fn no_more_than_the_connection_limit_is_served_at_once() {
    let server = Listening::start(ListenerLimits {
        header_read_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(30),
        max_connections: 2,
    })
    .await;
    // Two connections hold both places (open, headers unfinished).
    let mut first = server.connect().await;
    first.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
    let mut second = server.connect().await;
    second.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
    // A third is not served while they are open...
    let mut third = server.connect().await;
    third.write_all(REQUEST).await.unwrap();
    assert_eq!(
        read_answer(&mut third, Duration::from_millis(1500)).await,
        None,
        "a third connection was served past the limit of 2"
    );
    // ...and is as soon as one of them goes.
    drop(first);
    assert_served(&mut third).await;
    // The second can still finish its request.
    second.write_all(b"Host: x\r\n\r\n").await.unwrap();
    assert_served(&mut second).await;
    drop((second, third));
    server.stop().await;
}
