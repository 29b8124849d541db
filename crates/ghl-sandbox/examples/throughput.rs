//! Measures how many `GET /contacts/{id}` per second the sandbox answers, with the rate limit out of
//! the way: `cargo run --release -p ghl-sandbox --example throughput [-- CONNECTIONS SECONDS CONTACTS]`.
//! Client and server share the machine, so the figure is a lower bound for the server alone.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ghl_sandbox::{RateLimit, Sandbox, SandboxConfig, API_VERSION, READ_TOKEN};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<u64>());
    let connections = args.next().transpose()?.unwrap_or(32);
    let seconds = args.next().transpose()?.unwrap_or(5);
    let contacts = args.next().transpose()?.unwrap_or(100_000);

    let started = Instant::now();
    let sandbox = Sandbox::spawn(SandboxConfig {
        contacts: contacts as usize,
        rate_limit: RateLimit { max: u32::MAX, interval: Duration::from_secs(1) },
        daily_limit: u64::MAX,
        ..SandboxConfig::default()
    })
    .await?;
    println!("seeded {contacts} contacts and listening in {:?}", started.elapsed());
    let ids = Arc::new(sandbox.contact_ids());
    let base = sandbox.base_url();
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);

    let mut workers = Vec::new();
    for worker in 0..connections {
        // One client per worker: one keep-alive connection each.
        let client = reqwest::Client::builder().pool_max_idle_per_host(1).build()?;
        let (ids, base, done, failed) = (ids.clone(), base.clone(), done.clone(), failed.clone());
        workers.push(tokio::spawn(async move {
            let mut i = worker as usize * 7919;
            while Instant::now() < deadline {
                i = (i + 1) % ids.len();
                let response = client
                    .get(format!("{base}/contacts/{}", ids[i]))
                    .bearer_auth(READ_TOKEN)
                    .header("Version", API_VERSION)
                    .send()
                    .await;
                let ok = match response {
                    Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                if ok {
                    done.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let measured = Instant::now();
    for w in workers {
        w.await?;
    }
    let elapsed = measured.elapsed().as_secs_f64();
    let ok = done.load(Ordering::Relaxed);
    println!(
        "{ok} requests in {elapsed:.2}s over {connections} keep-alive connections: {:.0} req/s ({} failed)",
        ok as f64 / elapsed,
        failed.load(Ordering::Relaxed)
    );
    sandbox.clear_requests();
    Ok(())
}
