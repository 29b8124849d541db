//! Benchmark: 1,000 GraphQL queries (a contact with its tasks) fired at once against a sandbox
//! whose limit is scaled down, through a subgraph configured to the same limit and a maximum wait
//! long enough to drain them.
//!
//! Run: `cargo bench --bench rate_limit`. Reports client-visible failures (target 0), upstream
//! 429s (target 0), and the achieved upstream rate as a share of the limit (target >= 90 %).

use std::time::{Duration, Instant};

use clap::Parser;
use ghl_sandbox::{Sandbox, SandboxConfig};
use ghl_subgraph::app::App;
use ghl_subgraph::config::{Cli, Command, ServeConfig};
use ghl_subgraph::services::Services;
use serde_json::json;

const QUERIES: usize = 1_000;
const LIMIT: &str = "100/1s";
const LIMIT_PER_SECOND: f64 = 100.0;

#[tokio::main]
async fn main() {
    let sandbox = Sandbox::spawn(SandboxConfig { contacts: QUERIES, rate_limit: LIMIT.parse().expect("limit"), ..Default::default() }).await.expect("sandbox");
    let argv = [
        "ghl-subgraph",
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--ghl-base-url",
        &sandbox.base_url(),
        "--ghl-token",
        ghl_sandbox::READ_TOKEN,
        "--ghl-location-id",
        ghl_sandbox::LOCATION_ID,
        "--ghl-scopes",
        "contacts.readonly",
        "--rate-limit",
        LIMIT,
        "--limiter-max-wait",
        "120s",
        "--operation-timeout",
        "180s",
    ];
    let Command::Serve(args) = Cli::try_parse_from(argv).expect("args").into_command() else { unreachable!() };
    let config = ServeConfig::try_from(*args).expect("valid config");
    let listener = tokio::net::TcpListener::bind(config.listen).await.expect("bind");
    let app = App::new(listener, Services::build(&config).await.expect("services"), &config.http).expect("app");
    let url = format!("http://{}/graphql", app.local_addr().expect("addr"));
    tokio::spawn(app.run_until_stopped(std::future::pending()));

    let ids = sandbox.contact_ids();
    let http = reqwest::Client::builder().pool_max_idle_per_host(QUERIES).timeout(Duration::from_secs(300)).build().expect("client");
    sandbox.clear_requests();
    let started = Instant::now();
    let queries = ids.iter().take(QUERIES).map(|id| {
        let (http, url) = (http.clone(), url.clone());
        let body = json!({ "query": "query($id: ID!) { contact(id: $id) { id name tasks { id title status } } }", "variables": { "id": id } });
        async move {
            match http.post(url).json(&body).send().await {
                Ok(r) => r.json::<serde_json::Value>().await.map(|v| v["errors"].is_null() && v["data"]["contact"]["id"].is_string()).unwrap_or(false),
                Err(_) => false,
            }
        }
    });
    let results = futures_util::future::join_all(queries).await;
    let wall = started.elapsed();

    let requests = sandbox.requests();
    let failures = results.iter().filter(|ok| !**ok).count();
    let throttled = requests.iter().filter(|r| r.status == 429).count();
    let calls = requests.len();
    // The first window's burst is free; the steady rate is what the limiter sustains after it.
    let achieved = calls as f64 / wall.as_secs_f64();
    println!("rate-limit benchmark: {QUERIES} queries at once, limit {LIMIT} (sandbox and subgraph)");
    println!("  wall time:                 {:.1} s", wall.as_secs_f64());
    println!("  upstream calls:            {calls}");
    println!("  client-visible failures:   {failures} (target 0)");
    println!("  upstream 429s:             {throttled} (target 0)");
    println!("  achieved upstream rate:    {achieved:.1}/s = {:.1} % of the limit (target >= 90 %)", 100.0 * achieved / LIMIT_PER_SECOND);
}
