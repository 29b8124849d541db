//! Benchmark: the subgraph against the sandbox, each figure next to baselines from the same run.
//!
//! Run: `cargo bench --bench subgraph` (release build, about a minute). Starts a sandbox
//! in-process, the `ghl-subgraph` binary as a child (so its peak RSS is its own) and a plain HTTP
//! hop (this bench re-executed: one reqwest call per request, the floor any proxy pays), then:
//! - req/s, p50, p99 and upstream calls per query, at 1 and 32 concurrent, of a direct sandbox
//!   `GET /contacts/:id`, the same GET through the hop, and our single-contact, nested (contact +
//!   tasks + notes + appointments) and 50-contact queries (contact ids cycled over 100 contacts);
//! - the 50-contact query both ways: with `locations/tasks.readonly` (tasks batched through
//!   `tasks/search`) and without (one tasks call per contact), at 0 ms and 100 ms sandbox latency;
//! - ratios from this run, the subgraph's peak RSS, and the shared cache (a cached variant).
//!
//! `SUBGRAPH_BENCH_PROFILE=ROW:CONCURRENCY` (a row's number in the table, from 1) runs only that
//! load, for 20 s, after printing the subgraph's pid (for `perf record -g -p PID`).
//!
//! With two or more cores and `taskset` on the PATH, the subgraph and the hop run pinned to core 1
//! and this process (load generator and sandbox) to core 0; otherwise the first line says so.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{ms, pinning, Subgraph, ALL_SCOPES};
use ghl_sandbox::{Sandbox, SandboxConfig};
use serde_json::json;

const RUN_FOR: Duration = Duration::from_secs(3);
/// Set on the re-executed bench to make it the plain hop in front of this upstream.
const HOP_UPSTREAM: &str = "SUBGRAPH_BENCH_HOP_UPSTREAM";
/// `ROW:CONCURRENCY`: run only that load, long enough to profile.
const PROFILE: &str = "SUBGRAPH_BENCH_PROFILE";
/// Contact ids the loads cycle over.
const CYCLED: usize = 100;

const SINGLE: &str = "query($id: ID!) { contact(id: $id) { id name email phone tags } }";
const NESTED: &str = "query($id: ID!) { contact(id: $id) { id name tasks { id title } notes { id body } appointments { id startTime } } }";
const FIFTY: &str = "{ contacts(first: 50) { nodes { id name tasks { id title } } } }";
const TYPENAME: &str = "{ __typename }";

struct Stats {
    rps: f64,
    p50: Duration,
    p99: Duration,
    /// CPU time the process under test spent per request, when it is a child process.
    cpu: Option<Duration>,
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
    Stats { rps: all.len() as f64 / elapsed.as_secs_f64(), p50: pct(0.50), p99: pct(0.99), cpu: None }
}

/// What a load sends: a GET of a contact (direct or through the hop) or a GraphQL query.
#[derive(Clone)]
enum Target {
    Get(String),
    Graphql(String, &'static str),
}

impl Target {
    /// One request for the `i`th contact id; true on a success without errors.
    async fn send(&self, http: &reqwest::Client, id: &str) -> bool {
        match self {
            Target::Get(base) => {
                let sent = http.get(format!("{base}/contacts/{id}")).bearer_auth(ghl_sandbox::WRITE_TOKEN).header("Version", "2021-07-28").send().await;
                match sent {
                    Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                    Ok(r) => {
                        eprintln!("GET answered {}", r.status());
                        false
                    }
                    Err(e) => {
                        eprintln!("GET failed: {e}");
                        false
                    }
                }
            }
            Target::Graphql(url, query) => {
                let body = json!({ "query": query, "variables": { "id": id } });
                match http.post(format!("{url}/graphql")).json(&body).send().await {
                    Ok(r) => r.json::<serde_json::Value>().await.is_ok_and(|v| {
                        let ok = v["errors"].is_null() && v["data"].is_object();
                        if !ok {
                            eprintln!("query answered {v}");
                        }
                        ok
                    }),
                    Err(e) => {
                        eprintln!("query failed: {e}");
                        false
                    }
                }
            }
        }
    }

    /// A load of this target; `serving` is the child process whose CPU time it costs.
    async fn load(&self, http: &reqwest::Client, ids: &Arc<Vec<String>>, concurrency: usize, serving: Option<&Subgraph>) -> Stats {
        let (target, http, ids) = (self.clone(), http.clone(), ids.clone());
        let cpu_before = serving.map(Subgraph::cpu_time);
        let started = Instant::now();
        let mut stats = load(concurrency, move |i| {
            let (target, http, ids) = (target.clone(), http.clone(), ids.clone());
            async move { target.send(&http, &ids[i % CYCLED]).await }
        })
        .await;
        let requests = stats.rps * started.elapsed().as_secs_f64();
        stats.cpu = serving.zip(cpu_before).map(|(child, before)| (child.cpu_time() - before).div_f64(requests.max(1.0)));
        stats
    }
}

/// Upstream calls one request makes, averaged over a few sent one after another.
async fn calls_per_request(sandbox: &ghl_sandbox::RunningSandbox, http: &reqwest::Client, ids: &[String], target: &Target) -> f64 {
    const SAMPLE: usize = 10;
    sandbox.clear_requests();
    for id in ids.iter().take(SAMPLE) {
        assert!(target.send(http, id).await, "sample request failed");
    }
    sandbox.requests().len() as f64 / SAMPLE as f64
}

fn main() {
    if let Ok(upstream) = std::env::var(HOP_UPSTREAM) {
        return runtime().block_on(hop(upstream));
    }
    let pinning = pinning();
    runtime().block_on(bench(pinning));
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime")
}

/// The plain hop: each request forwarded as a GET with its `Authorization` and `Version` headers,
/// the answer's status and body sent back. Prints its URL first, as the subgraph does.
async fn hop(upstream: String) {
    use axum::response::IntoResponse;
    let client = reqwest::Client::new();
    let forward = move |request: axum::extract::Request| {
        let (client, url) = (client.clone(), format!("{upstream}{}", request.uri()));
        async move {
            let mut outbound = client.get(url);
            for name in ["authorization", "version"] {
                if let Some(value) = request.headers().get(name) {
                    outbound = outbound.header(name, value.clone());
                }
            }
            match outbound.send().await {
                Ok(answer) => {
                    let status = answer.status();
                    (status, answer.bytes().await.unwrap_or_default()).into_response()
                }
                Err(_) => axum::http::StatusCode::BAD_GATEWAY.into_response(),
            }
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    println!("plain hop on http://{}", listener.local_addr().expect("addr"));
    axum::serve(listener, axum::Router::new().fallback(forward)).await.expect("serve");
}

async fn bench(pinning: &str) {
    let sandbox =
        Sandbox::spawn(SandboxConfig { contacts: 1_000, rate_limit: "10000000/1s".parse().expect("limit"), daily_limit: u64::MAX / 2, ..Default::default() })
            .await
            .expect("sandbox");
    // The uncached path (the cache is on by default); the second one's token may not search tasks.
    let subgraph = Subgraph::start(&sandbox.base_url(), &["--cache-ttl", "0s"]);
    let unsearched = Subgraph::start_scoped(&sandbox.base_url(), &ALL_SCOPES.replace(" locations/tasks.readonly", ""), &["--cache-ttl", "0s"]);
    let mut hop = common::pinned_command(std::env::current_exe().expect("this bench").to_str().expect("path"));
    hop.env(HOP_UPSTREAM, sandbox.base_url());
    let hop = Subgraph::launch(hop);
    let ids = Arc::new(sandbox.contact_ids());
    let http = reqwest::Client::builder().pool_max_idle_per_host(64).build().expect("client");

    let rows: [(&str, Target, Option<&Subgraph>); 6] = [
        ("direct GET /contacts/:id", Target::Get(sandbox.base_url()), None),
        ("plain hop GET /contacts/:id", Target::Get(hop.url.clone()), Some(&hop)),
        ("single contact(id)", Target::Graphql(subgraph.url.clone(), SINGLE), Some(&subgraph)),
        ("nested contact + 3 lists", Target::Graphql(subgraph.url.clone(), NESTED), Some(&subgraph)),
        ("50 contacts, tasks searched", Target::Graphql(subgraph.url.clone(), FIFTY), Some(&subgraph)),
        ("50 contacts, tasks per contact", Target::Graphql(unsearched.url.clone(), FIFTY), Some(&unsearched)),
    ];
    if let Ok(chosen) = std::env::var(PROFILE) {
        let parsed = chosen.split_once(':').and_then(|(r, c)| Some((r.parse::<usize>().ok()?, c.parse().ok()?)));
        let Some(((name, target, serving), concurrency)) = parsed.and_then(|(row, c)| Some((rows.get(row.checked_sub(1)?)?, c))) else {
            panic!("{PROFILE}={chosen}: expected ROW:CONCURRENCY with ROW from 1 to {}", rows.len());
        };
        println!("profiling {name} c={concurrency}: subgraph pid {}, plain hop pid {}", subgraph.pid(), hop.pid());
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            println!("{:.0} req/s", target.load(&http, &ids, concurrency, *serving).await.rps);
        }
        return;
    }
    let mut calls = Vec::new();
    for (_, target, _) in &rows {
        calls.push(calls_per_request(&sandbox, &http, &ids, target).await);
    }

    println!("ghl-subgraph benchmark (sandbox in-process, subgraph and hop as child processes; {RUN_FOR:?} per load; {pinning})");
    println!("{:<36} {:>10} {:>11} {:>11} {:>10} {:>12}", "load", "req/s", "p50", "p99", "upstream", "CPU/request");
    let mut stats: Vec<Vec<Stats>> = Vec::new();
    for concurrency in [1, 32] {
        let mut at = Vec::new();
        for ((name, target, serving), calls) in rows.iter().zip(&calls) {
            let s = target.load(&http, &ids, concurrency, *serving).await;
            let cpu = s.cpu.map_or_else(|| "-".to_owned(), |cpu| format!("{:.0} µs", cpu.as_secs_f64() * 1e6));
            println!("{:<36} {:>10.0} {:>11} {:>11} {:>10.2} {cpu:>12}", format!("{name} c={concurrency}"), s.rps, ms(s.p50), ms(s.p99), calls);
            at.push(s);
        }
        stats.push(at);
    }
    let (c1, c32) = (&stats[0], &stats[1]);
    let (direct, plain, single, nested, searched, per_contact) = (0, 1, 2, 3, 4, 5);

    println!();
    println!(
        "50-contact query, tasks searched vs per contact: {:.2}x the throughput at c=1, {:.2}x at c=32",
        c1[searched].rps / c1[per_contact].rps,
        c32[searched].rps / c32[per_contact].rps
    );
    for latency in [Duration::ZERO, Duration::from_millis(100)] {
        sandbox.set_latency(latency);
        let mut walls = Vec::new();
        for target in [&rows[searched].1, &rows[per_contact].1] {
            let t = Instant::now();
            assert!(target.send(&http, &ids[0]).await, "50-contact query failed");
            walls.push(t.elapsed());
        }
        println!("  at sandbox latency {latency:?}: searched {} vs per contact {} (one query, wall)", ms(walls[0]), ms(walls[1]));
    }
    sandbox.set_latency(Duration::ZERO);

    println!();
    println!(
        "single c=32 throughput: {:.1} % of direct GET, {:.1} % of the plain hop",
        100.0 * c32[single].rps / c32[direct].rps,
        100.0 * c32[single].rps / c32[plain].rps
    );
    println!(
        "nested c=32 throughput: {:.1} % of direct GET, {:.1} % of the plain hop",
        100.0 * c32[nested].rps / c32[direct].rps,
        100.0 * c32[nested].rps / c32[plain].rps
    );
    println!(
        "single c=1 added p50 latency over the plain hop: {} (target <= 0.100 ms; the hop adds {} over direct GET)",
        ms(c1[single].p50.saturating_sub(c1[plain].p50)),
        ms(c1[plain].p50.saturating_sub(c1[direct].p50))
    );
    let us = |s: &Stats| s.cpu.unwrap_or_default().as_secs_f64() * 1e6;
    println!(
        "subgraph CPU per query at c=32: single {:.0} µs, nested {:.0} µs, 50 contacts {:.0} µs searched / {:.0} µs per contact (the plain hop: {:.0} µs a request)",
        us(&c32[single]),
        us(&c32[nested]),
        us(&c32[searched]),
        us(&c32[per_contact]),
        us(&c32[plain])
    );
    println!(
        "peak RSS: subgraph {:.1} MiB (target <= 64 MiB), without task search {:.1} MiB, plain hop {:.1} MiB",
        subgraph.peak_rss_kib() as f64 / 1024.0,
        unsearched.peak_rss_kib() as f64 / 1024.0,
        hop.peak_rss_kib() as f64 / 1024.0
    );

    cached(&sandbox, &ids, &http, (&c32[single], &c32[nested])).await;
}

/// The shared cache: cached single and nested queries against the uncached ones of the main
/// table and against `{ __typename }`, and webhook delivery to invalidation.
async fn cached(sandbox: &ghl_sandbox::RunningSandbox, ids: &Arc<Vec<String>>, http: &reqwest::Client, uncached: (&Stats, &Stats)) {
    use base64::Engine as _;
    use ed25519_dalek::Signer as _;
    let key = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
    let public: String = key.verifying_key().to_bytes().iter().map(|b| format!("{b:02x}")).collect();
    let subgraph = Subgraph::start(&sandbox.base_url(), &["--cache-ttl", "10m", "--webhook-public-key", &public]);
    let target = |query| Target::Graphql(subgraph.url.clone(), query);
    for id in ids.iter().take(CYCLED) {
        assert!(target(NESTED).send(http, id).await, "warming the cache");
    }
    sandbox.clear_requests();
    println!();
    println!("{:<36} {:>10} {:>11} {:>11} {:>23}", "shared cache, c=32", "req/s", "p50", "p99", "CPU/request");
    let typename = target(TYPENAME).load(http, ids, 32, Some(&subgraph)).await;
    let single = target(SINGLE).load(http, ids, 32, Some(&subgraph)).await;
    let nested = target(NESTED).load(http, ids, 32, Some(&subgraph)).await;
    let upstream_while_cached = sandbox.requests().len();
    for (name, s) in [("{ __typename }", &typename), ("single contact(id) cached", &single), ("nested contact cached", &nested)] {
        println!("{name:<36} {:>10.0} {:>11} {:>11} {:>20.0} µs", s.rps, ms(s.p50), ms(s.p99), s.cpu.unwrap_or_default().as_secs_f64() * 1e6);
    }
    println!("upstream calls during the cached loads: {upstream_while_cached}");
    println!("cached nested query costs {:.2}x a {{ __typename }} request (target <= 1.25x)", typename.rps / nested.rps);
    println!("cached vs uncached throughput: single {:.1}x, nested {:.1}x", single.rps / uncached.0.rps, nested.rps / uncached.1.rps);

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
