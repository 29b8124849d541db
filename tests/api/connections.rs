//! Connections are bounded (security review F6): idle, slow-header and slow-body sockets are
//! closed, a declared oversized body is refused before it is read, a caller without an API key
//! is refused before it sends its body, and connections past the cap are closed at once.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{spawn_app, Setup, TestApp};

fn setup(extra: &[&str]) -> Setup {
    Setup { extra: extra.iter().map(|s| s.to_string()).collect(), ..Default::default() }
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.url.trim_start_matches("http://")).await.expect("connect")
}

/// Reads until the server closes the socket (or `limit` passes); returns what it sent.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<String> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(limit, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok().map(|()| String::from_utf8_lossy(&received).into_owned())
}

#[tokio::test]
async fn idle_and_slow_header_connections_are_closed() {
    let app = spawn_app(setup(&["--header-read-timeout", "300ms"])).await;
    let mut idle = connect(&app).await;
    let mut slow = connect(&app).await;
    slow.write_all(b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\n").await.expect("partial headers");

    let started = Instant::now();
    assert!(read_until_closed(&mut idle, Duration::from_secs(3)).await.is_some(), "the idle connection stayed open");
    assert!(read_until_closed(&mut slow, Duration::from_secs(3)).await.is_some(), "the slow-header connection stayed open");
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_slow_body_is_cut_off() {
    let app = spawn_app(setup(&["--body-read-timeout", "300ms"])).await;
    let mut stream = connect(&app).await;
    stream
        .write_all(b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"query\":")
        .await
        .expect("headers");

    let answer = read_until_closed(&mut stream, Duration::from_secs(3)).await.expect("the slow-body connection stayed open");
    assert!(!answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn a_declared_oversized_body_is_refused_before_it_is_sent() {
    let app = spawn_app(setup(&["--max-body-bytes", "1000"])).await;
    let mut stream = connect(&app).await;
    stream
        .write_all(b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 50000000\r\n\r\n")
        .await
        .expect("headers");

    let answer = read_until_closed(&mut stream, Duration::from_secs(3)).await.expect("answered and closed without the body");
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("PAYLOAD_TOO_LARGE"), "{answer}");
}

#[tokio::test]
async fn a_caller_without_an_api_key_is_refused_before_sending_its_body() {
    let key = "a-caller-key-0123456789";
    let app = spawn_app(setup(&["--api-keys", key])).await;
    let mut stream = connect(&app).await;
    stream
        .write_all(b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\nConnection: close\r\n\r\n")
        .await
        .expect("headers");

    let answer = read_until_closed(&mut stream, Duration::from_secs(3)).await.expect("refused without the body");
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(app.requests().is_empty());
}

#[tokio::test]
async fn connections_past_the_cap_are_closed_and_freed_slots_serve_again() {
    let app = spawn_app(setup(&["--max-connections", "2", "--header-read-timeout", "30s"])).await;
    let first = connect(&app).await;
    let _second = connect(&app).await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    let mut third = connect(&app).await;
    third.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await.ok();
    let answer = read_until_closed(&mut third, Duration::from_secs(2)).await.expect("closed at once");
    assert!(answer.is_empty(), "{answer}");

    drop(first);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut fourth = connect(&app).await;
    fourth.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").await.expect("request");
    let answer = read_until_closed(&mut fourth, Duration::from_secs(3)).await.expect("answered");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}
