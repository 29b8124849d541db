//! Benchmark: the subgraph against the sandbox, each figure next to a baseline from the same run.
//!
//! Run: `cargo bench --bench subgraph` (release build). Starts a sandbox in-process and the
//! `ghl-subgraph` binary as a child (so its peak RSS is its own), then reports:
//! - req/s, p50, p99 of `contact(id)` vs a direct sandbox `GET /contacts/:id`, at 1 and 32 concurrent;
//! - a 50-contact nested query's wall time and upstream calls at 0 ms and 100 ms sandbox latency;
//! - the subgraph's peak RSS;
//! - the shared cache: cached queries against the same uncached and against `{ __typename }`.
//!
//! With two or more cores and `taskset` on the PATH, the subgraph runs pinned to core 1 and this
//! process (load generator and sandbox) to core 0, so the figures compare the subgraph's own work.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{ms, pinning, Subgraph};
use ghl_sandbox::{Sandbox, SandboxConfig};
use serde_json::json;

const RUN_FOR: Duration = Duration::from_secs(3);

struct Stats {
    rps: f64,
    p50: Duration,
    p99: Duration,
}

/// Fires `request` from `concurrency` workers for `RUN_FOR`; every answer must be a success.
async fn load<F, Fut>(concurrency: usize, request: F) -> Stats
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let request = Arc::new(request);
    let start = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|w| {
            let request = request.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut i = w;
                while start.elapsed() < RUN_FOR {
                    let t = Instant::now();
                    assert!(request(i).await, "request failed");
                    latencies.push(t.elapsed());
                    i += concurrency;
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for worker in workers {
        all.extend(worker.await.expect("worker"));
    }
    let elapsed = start.elapsed();
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    Stats { rps: all.len() as f64 / elapsed.as_secs_f64(), p50: pct(0.50), p99: pct(0.99) }
}

#[tokio::main]
async fn main() {
    let pinning = pinning();
    let sandbox =
        Sandbox::spawn(SandboxConfig { contacts: 1_000, rate_limit: "10000000/1s".parse().expect("limit"), daily_limit: u64::MAX / 2, ..Default::default() })
            .await
            .expect("sandbox");
    // Every figure but the shared cache's is of the uncached path (the cache is on by default).
    let subgraph = Subgraph::start(&sandbox.base_url(), &["--cache-ttl", "0s"]);
    let ids = Arc::new(sandbox.contact_ids());
    let http = reqwest::Client::builder().pool_max_idle_per_host(64).build().expect("client");

    println!("ghl-subgraph benchmark (sandbox in-process, subgraph as a child process; {RUN_FOR:?} per load; {pinning})");
    println!("{:<34} {:>11} {:>11} {:>11}", "load", "req/s", "p50", "p99");
    let mut results = Vec::new();
    for concurrency in [1, 32] {
        let (h, base, ids2) = (http.clone(), sandbox.base_url(), ids.clone());
        let direct = load(concurrency, move |i| {
            let (h, url) = (h.clone(), format!("{base}/contacts/{}", ids2[i % ids2.len()]));
            async move {
                match h.get(url).bearer_auth(ghl_sandbox::WRITE_TOKEN).header("Version", "2021-07-28").send().await {
                    Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                    Ok(r) => {
                        eprintln!("direct GET answered {}", r.status());
                        false
                    }
                    Err(e) => {
                        eprintln!("direct GET failed: {e}");
                        false
                    }
                }
            }
        })
        .await;
        let (h, url, ids2) = (http.clone(), format!("{}/graphql", subgraph.url), ids.clone());
        let graphql = load(concurrency, move |i| {
            let body = json!({ "query": "query($id: ID!) { contact(id: $id) { id name email phone tags } }", "variables": { "id": ids2[i % ids2.len()] } });
            let (h, url) = (h.clone(), url.clone());
            async move {
                match h.post(url).json(&body).send().await {
                    Ok(r) => r.json::<serde_json::Value>().await.is_ok_and(|v| v["errors"].is_null() && v["data"]["contact"]["id"].is_string()),
                    Err(_) => false,
                }
            }
        })
        .await;
        for (name, s) in [(format!("direct GET /contacts/:id  c={concurrency}"), &direct), (format!("graphql contact(id)      c={concurrency}"), &graphql)] {
            println!("{name:<34} {:>11.0} {:>11} {:>11}", s.rps, ms(s.p50), ms(s.p99));
        }
        results.push((concurrency, direct, graphql));
    }

    let nested = "{ contacts(first: 50) { nodes { id name tasks { id title } notes { id body } appointments { id startTime } } } }";
    println!();
    println!("{:<34} {:>11} {:>15} {:>14}", "50-contact nested query", "wall", "upstream calls", "round trips");
    for latency in [Duration::ZERO, Duration::from_millis(100)] {
        sandbox.set_latency(latency);
        // Baseline: one direct upstream round trip at this latency.
        let t = Instant::now();
        let _ =
            http.get(format!("{}/contacts/{}", sandbox.base_url(), ids[0])).bearer_auth(ghl_sandbox::WRITE_TOKEN).header("Version", "2021-07-28").send().await;
        let round_trip = t.elapsed();
        sandbox.clear_requests();
        let t = Instant::now();
        let response: serde_json::Value =
            http.post(format!("{}/graphql", subgraph.url)).json(&json!({ "query": nested })).send().await.expect("nested").json().await.expect("json");
        let wall = t.elapsed();
        assert!(response["errors"].is_null(), "{response}");
        let calls = sandbox.requests().len();
        println!(
            "{:<34} {:>11} {:>15} {:>14.2}",
            format!("sandbox latency {latency:?}"),
            ms(wall),
            calls,
            wall.as_secs_f64() / round_trip.as_secs_f64().max(1e-9)
        );
    }
    sandbox.set_latency(Duration::ZERO);

    println!();
    let (_, d1, g1) = &results[0];
    let (_, d32, g32) = &results[1];
    println!("added p50 latency at c=1:        {} (target <= 0.100 ms)", ms(g1.p50.saturating_sub(d1.p50)));
    println!("throughput at c=32 vs direct GET: {:.0} % (target >= 40 %)", 100.0 * g32.rps / d32.rps);
    println!("subgraph peak RSS:               {:.1} MiB (target <= 64 MiB)", subgraph.peak_rss_kib() as f64 / 1024.0);

    cached(&sandbox, &subgraph, &ids, &http).await;
}

/// A graphql load of `query` (variables `{ id }` cycling over the first 100 contacts).
async fn graphql_load(http: &reqwest::Client, url: &str, query: &'static str, ids: &Arc<Vec<String>>, concurrency: usize) -> Stats {
    let (h, url, ids) = (http.clone(), format!("{url}/graphql"), ids.clone());
    load(concurrency, move |i| {
        let body = json!({ "query": query, "variables": { "id": ids[i % 100] } });
        let (h, url) = (h.clone(), url.clone());
        async move {
            match h.post(url).json(&body).send().await {
                Ok(r) => r.json::<serde_json::Value>().await.is_ok_and(|v| v["errors"].is_null()),
                Err(_) => false,
            }
        }
    })
    .await
}

/// The shared cache: cached single and nested queries against the same uncached and against
/// `{ __typename }`, and webhook delivery to invalidation.
async fn cached(sandbox: &ghl_sandbox::RunningSandbox, uncached: &Subgraph, ids: &Arc<Vec<String>>, http: &reqwest::Client) {
    use base64::Engine as _;
    use ed25519_dalek::Signer as _;
    let key = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
    let public: String = key.verifying_key().to_bytes().iter().map(|b| format!("{b:02x}")).collect();
    let subgraph = Subgraph::start(&sandbox.base_url(), &["--cache-ttl", "10m", "--webhook-public-key", &public]);
    const TYPENAME: &str = "{ __typename }";
    const SINGLE: &str = "query($id: ID!) { contact(id: $id) { id name email phone tags } }";
    const NESTED: &str = "query($id: ID!) { contact(id: $id) { id name tasks { id title } notes { id body } appointments { id startTime } } }";
    for id in ids.iter().take(100) {
        let _ = http.post(format!("{}/graphql", subgraph.url)).json(&json!({ "query": NESTED, "variables": { "id": id } })).send().await;
    }
    sandbox.clear_requests();
    println!();
    println!("{:<34} {:>11} {:>11} {:>11}", "shared cache, c=32", "req/s", "p50", "p99");
    let typename = graphql_load(http, &subgraph.url, TYPENAME, ids, 32).await;
    let single_cached = graphql_load(http, &subgraph.url, SINGLE, ids, 32).await;
    let nested_cached = graphql_load(http, &subgraph.url, NESTED, ids, 32).await;
    let upstream_while_cached = sandbox.requests().len();
    let single_uncached = graphql_load(http, &uncached.url, SINGLE, ids, 32).await;
    let nested_uncached = graphql_load(http, &uncached.url, NESTED, ids, 32).await;
    for (name, s) in [
        ("{ __typename }", &typename),
        ("contact(id) cached", &single_cached),
        ("nested contact cached", &nested_cached),
        ("contact(id) uncached", &single_uncached),
        ("nested contact uncached", &nested_uncached),
    ] {
        println!("{name:<34} {:>11.0} {:>11} {:>11}", s.rps, ms(s.p50), ms(s.p99));
    }
    println!("upstream calls during the cached loads: {upstream_while_cached}");
    println!("cached nested query costs {:.2}x a {{ __typename }} request (target <= 1.25x)", typename.rps / nested_cached.rps);
    println!("cached vs uncached throughput: single {:.1}x, nested {:.1}x", single_cached.rps / single_uncached.rps, nested_cached.rps / nested_uncached.rps);

    let mut waits = Vec::new();
    for (i, id) in ids.iter().take(200).enumerate() {
        let event = json!({ "type": "ContactUpdate", "locationId": ghl_sandbox::LOCATION_ID, "id": id, "webhookId": format!("bench-{i}"), "timestamp": chrono::Utc::now().to_rfc3339() });
        let body = serde_json::to_vec(&event).expect("json");
        let signature = base64::engine::general_purpose::STANDARD.encode(key.sign(&body).to_bytes());
        let t = Instant::now();
        let r = http.post(format!("{}/webhooks/ghl", subgraph.url)).header("x-ghl-signature", signature).body(body).send().await.expect("webhook");
        assert!(r.status().is_success(), "webhook answered {}", r.status());
        waits.push(t.elapsed());
    }
    waits.sort();
    let pct = |p: f64| waits[((waits.len() as f64 * p) as usize).min(waits.len() - 1)];
    println!("webhook delivery to invalidation (answered after it): p50 {}, p99 {} (target p99 <= 5 ms)", ms(pct(0.5)), ms(pct(0.99)));
}
