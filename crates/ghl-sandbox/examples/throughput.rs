//! Measures how many `GET /contacts/{id}` per second the sandbox answers, rate limit out of the way:
//!
//! `cargo run --release -p ghl-sandbox --example throughput [-- CLIENT CONNECTIONS SECONDS CONTACTS]`
//!
//! CLIENT is `raw` (default: a minimal HTTP/1.1 keep-alive client, like `wrk`, so that most of the
//! CPU goes to the server) or `reqwest` (one reqwest client per connection: what our subgraph pays).
//! Client and server share the machine, so either figure is a lower bound for the server alone.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ghl_sandbox::{RateLimit, Sandbox, SandboxConfig, API_VERSION, READ_TOKEN};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

type Error = Box<dyn std::error::Error + Send + Sync>;

#[derive(Default)]
struct Counters {
    ok: AtomicU64,
    failed: AtomicU64,
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let client = args.next().unwrap_or_else(|| "raw".to_owned());
    let mut numbers = args.map(|a| a.parse::<u64>());
    let connections = numbers.next().transpose()?.unwrap_or(32);
    let seconds = numbers.next().transpose()?.unwrap_or(5);
    let contacts = numbers.next().transpose()?.unwrap_or(100_000);

    let started = Instant::now();
    let sandbox = Sandbox::spawn(SandboxConfig {
        contacts: contacts as usize,
        rate_limit: RateLimit { max: u32::MAX, interval: Duration::from_secs(1) },
        daily_limit: u64::MAX,
        ..SandboxConfig::default()
    })
    .await?;
    println!("seeded {contacts} contacts and listening in {:.2?}", started.elapsed());
    let ids = Arc::new(sandbox.contact_ids());
    let counters = Arc::new(Counters::default());
    let deadline = Instant::now() + Duration::from_secs(seconds);

    let mut workers = Vec::new();
    for worker in 0..connections as usize {
        let (ids, counters) = (ids.clone(), counters.clone());
        let start = worker * 7919;
        let (addr, base) = (sandbox.addr(), sandbox.base_url());
        let raw = client == "raw";
        workers.push(tokio::spawn(async move {
            let result =
                if raw { raw_client(addr, &ids, start, deadline, &counters).await } else { reqwest_client(&base, &ids, start, deadline, &counters).await };
            if let Err(e) = result {
                eprintln!("worker {worker} stopped: {e}");
                counters.failed.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let measured = Instant::now();
    for w in workers {
        w.await?;
    }
    let elapsed = measured.elapsed().as_secs_f64();
    let ok = counters.ok.load(Ordering::Relaxed);
    println!(
        "{client}: {ok} requests in {elapsed:.2}s over {connections} keep-alive connections: {:.0} req/s ({} failed)",
        ok as f64 / elapsed,
        counters.failed.load(Ordering::Relaxed)
    );
    Ok(())
}

async fn reqwest_client(base: &str, ids: &[String], mut i: usize, deadline: Instant, counters: &Counters) -> Result<(), Error> {
    // One client per worker: one keep-alive connection each.
    let client = reqwest::Client::builder().pool_max_idle_per_host(1).build()?;
    while Instant::now() < deadline {
        i = (i + 1) % ids.len();
        let response = client.get(format!("{base}/contacts/{}", ids[i])).bearer_auth(READ_TOKEN).header("Version", API_VERSION).send().await?;
        let ok = response.status().is_success();
        response.bytes().await?;
        let counter = if ok { &counters.ok } else { &counters.failed };
        counter.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// One connection, one request at a time (no pipelining), reading each answer by `content-length`.
async fn raw_client(addr: SocketAddr, ids: &[String], mut i: usize, deadline: Instant, counters: &Counters) -> Result<(), Error> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut line = String::new();
    let mut body = Vec::new();
    while Instant::now() < deadline {
        i = (i + 1) % ids.len();
        let request = format!("GET /contacts/{} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {READ_TOKEN}\r\nVersion: {API_VERSION}\r\n\r\n", ids[i]);
        write.write_all(request.as_bytes()).await?;
        line.clear();
        reader.read_line(&mut line).await?;
        let ok = line.starts_with("HTTP/1.1 200");
        let mut length = 0;
        loop {
            line.clear();
            if reader.read_line(&mut line).await? == 0 {
                return Err("connection closed".into());
            }
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse()?;
                }
            }
        }
        body.resize(length, 0);
        reader.read_exact(&mut body).await?;
        let counter = if ok { &counters.ok } else { &counters.failed };
        counter.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}
