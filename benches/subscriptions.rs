//! Benchmark: 1,000 subscribers on one subgraph process, fed by GHL webhooks.
//!
//! Run: `cargo bench --bench subscriptions` (release build). Starts a sandbox in-process and the
//! `ghl-subgraph` binary as a child; opens 1,000 `contactChanged(id)` subscriptions over 10
//! WebSockets (`graphql-transport-ws`, 100 each, as a gateway multiplexes them), then delivers
//! signed ContactUpdate webhooks one at a time and reports, from each webhook's send to each
//! subscriber's event: p50 and p99; the upstream refetches per event; the subgraph's RSS with the
//! subscribers open against its RSS before (the baseline of the same run). Pinned as
//! `benches/subgraph.rs` is, when there are two cores and `taskset`.

mod common;

use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{ms, pinning, Subgraph};
use ed25519_dalek::Signer as _;
use futures_util::{SinkExt as _, StreamExt as _};
use ghl_sandbox::{Sandbox, SandboxConfig};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::Message;

const SOCKETS: usize = 10;
const PER_SOCKET: usize = 100;
const EVENTS: usize = 30;

#[tokio::main]
async fn main() {
    let sandbox = Sandbox::spawn(SandboxConfig { rate_limit: "10000000/1s".parse().expect("limit"), daily_limit: u64::MAX / 2, ..Default::default() })
        .await
        .expect("sandbox");
    let key = ed25519_dalek::SigningKey::from_bytes(&[5; 32]);
    let public: String = key.verifying_key().to_bytes().iter().map(|b| format!("{b:02x}")).collect();
    let subgraph = Subgraph::start(&sandbox.base_url(), &["--webhook-public-key", &public, "--max-subscriptions-per-caller", "5000"]);
    let id = sandbox.contact_ids()[0].clone();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_before = subgraph.rss_kib();

    // Every subscriber reports the instant its event arrived.
    let (arrived, mut arrivals) = mpsc::unbounded_channel::<Instant>();
    let mut ready = Vec::new();
    for _ in 0..SOCKETS {
        let mut request = format!("{}/ws", subgraph.url.replace("http://", "ws://")).into_client_request().expect("request");
        request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().expect("header"));
        let (mut socket, _) = tokio_tungstenite::connect_async(request).await.expect("upgrade");
        socket.send(Message::text(json!({ "type": "connection_init" }).to_string())).await.expect("init");
        for n in 0..PER_SOCKET {
            let query = "subscription($id: ID) { contactChanged(id: $id) { kind contact { id name } } }";
            let subscribe = json!({ "id": n.to_string(), "type": "subscribe", "payload": { "query": query, "variables": { "id": id } } });
            socket.send(Message::text(subscribe.to_string())).await.expect("subscribe");
        }
        let arrived = arrived.clone();
        let (acked, ack) = tokio::sync::oneshot::channel();
        ready.push(ack);
        tokio::spawn(async move {
            let mut acked = Some(acked);
            while let Some(Ok(message)) = socket.next().await {
                let Message::Text(text) = message else { continue };
                let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                match value["type"].as_str() {
                    Some("connection_ack") => {
                        if let Some(acked) = acked.take() {
                            let _ = acked.send(());
                        }
                    }
                    Some("next") => {
                        assert!(value["payload"]["errors"].is_null(), "{value}");
                        let _ = arrived.send(Instant::now());
                    }
                    _ => {}
                }
            }
        });
    }
    for ack in ready {
        ack.await.expect("acked");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_open = subgraph.rss_kib();

    let http = reqwest::Client::new();
    let subscribers = SOCKETS * PER_SOCKET;
    let mut latencies = Vec::with_capacity(subscribers * EVENTS);
    sandbox.clear_requests();
    for i in 0..EVENTS {
        let event = json!({ "type": "ContactUpdate", "locationId": ghl_sandbox::LOCATION_ID, "id": id, "webhookId": format!("bench-sub-{i}"), "timestamp": chrono::Utc::now().to_rfc3339() });
        let body = serde_json::to_vec(&event).expect("json");
        let signature = base64::engine::general_purpose::STANDARD.encode(key.sign(&body).to_bytes());
        let sent = Instant::now();
        let answer = http.post(format!("{}/webhooks/ghl", subgraph.url)).header("x-ghl-signature", signature).body(body).send().await.expect("webhook");
        assert!(answer.status().is_success(), "webhook answered {}", answer.status());
        for _ in 0..subscribers {
            let at = tokio::time::timeout(Duration::from_secs(10), arrivals.recv()).await.expect("every subscriber hears in time").expect("open");
            latencies.push(at.saturating_duration_since(sent));
        }
    }
    let refetches = sandbox.requests().len();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];

    let pinning = pinning();
    println!("ghl-subgraph subscriptions benchmark: {subscribers} subscribers of one contact over {SOCKETS} WebSockets, {EVENTS} webhooks ({pinning})");
    println!("webhook sent to event received: p50 {}, p99 {} (target p99 <= 20 ms)", ms(pct(0.5)), ms(pct(0.99)));
    println!("upstream refetches: {refetches} for {EVENTS} events ({:.2} per event, shared by {subscribers} subscribers)", refetches as f64 / EVENTS as f64);
    println!(
        "subgraph RSS: {:.1} MiB with the subscribers open, {:.1} MiB before ({:.2}x; target <= 96 MiB)",
        rss_open as f64 / 1024.0,
        rss_before as f64 / 1024.0,
        rss_open as f64 / rss_before.max(1) as f64
    );
}
