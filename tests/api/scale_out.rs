//! Scale-out (`--redis-url`): three replicas against one sandbox and one real redis-server.
//! A webhook on one replica refreshes every replica's cache and reaches every replica's
//! subscribers; GHL's retries apply once across replicas; the cache is flushed when Redis is back.

use std::time::{Duration, Instant};

use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey};
use serde_json::{json, Value};

use crate::helpers::{edit_in_ghl, Setup};
use crate::redis_harness::Cluster;

const CONTACT: &str = "query($id: ID!) { contact(id: $id) { id name } }";

fn signing_key() -> SigningKey {
    SigningKey::from_bytes(&[13; 32])
}

/// Read-only replicas with a 5-minute cache that take our signed webhooks.
fn cached() -> Setup {
    let public: String = signing_key().verifying_key().to_bytes().iter().map(|b| format!("{b:02x}")).collect();
    Setup { extra: vec!["--cache-ttl".into(), "5m".into(), "--webhook-public-key".into(), public], ..Setup::read_only() }
}

fn contact_update(id: &str, webhook_id: &str) -> Vec<u8> {
    let event = json!({ "type": "ContactUpdate", "locationId": ghl_sandbox::LOCATION_ID, "id": id, "webhookId": webhook_id, "timestamp": chrono::Utc::now().to_rfc3339() });
    serde_json::to_vec(&event).unwrap()
}

/// Posts a signed delivery to `replica`; the outcome it answers (`applied`, `duplicate`, …).
async fn deliver(cluster: &Cluster, replica: usize, body: &[u8]) -> String {
    let signature = base64::engine::general_purpose::STANDARD.encode(signing_key().sign(body).to_bytes());
    let response = cluster
        .http
        .post(format!("{}/webhooks/ghl", cluster.url(replica)))
        .header("content-type", "application/json")
        .header("x-ghl-signature", signature)
        .body(body.to_vec())
        .send()
        .await
        .expect("sent");
    let answer: Value = response.json().await.expect("json");
    answer["status"].as_str().unwrap_or_default().to_owned()
}

async fn name_on(cluster: &Cluster, replica: usize, id: &str) -> String {
    let response = cluster.graphql(replica, CONTACT, json!({ "id": id })).await;
    assert_eq!(response["errors"], Value::Null, "{response}");
    response["data"]["contact"]["name"].as_str().unwrap_or_default().to_owned()
}

/// An SSE subscription to one contact's changes, read one event at a time.
struct Subscriber {
    response: reqwest::Response,
    buffer: String,
}

impl Subscriber {
    async fn open(cluster: &Cluster, replica: usize, id: &str) -> Self {
        let body = json!({ "query": "subscription($id: ID) { contactChanged(id: $id) { contact { name } } }", "variables": { "id": id } });
        let response = cluster.http.post(format!("{}/graphql", cluster.url(replica))).header("accept", "text/event-stream").json(&body).send().await.unwrap();
        assert_eq!(response.status(), 200);
        Self { response, buffer: String::new() }
    }

    /// The next event's contact name, or `None` if nothing comes within `wait`.
    async fn next(&mut self, wait: Duration) -> Option<String> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if block.lines().any(|l| l == "event: next") {
                    let data: String = block.lines().filter_map(|l| l.strip_prefix("data: ").or_else(|| l.strip_prefix("data:"))).collect();
                    let event: Value = serde_json::from_str(&data).expect("json");
                    return Some(event["data"]["contactChanged"]["contact"]["name"].as_str().unwrap_or_default().to_owned());
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk()).await.ok()?.expect("readable").expect("open");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    samples[((samples.len() as f64 * p).ceil() as usize).clamp(1, samples.len()) - 1]
}

#[tokio::test]
async fn a_webhook_on_one_replica_refreshes_the_others_and_reaches_their_subscribers_within_50ms_p99() {
    let cluster = Cluster::start(3, cached()).await;
    let id = cluster.sandbox.contact_ids()[0].clone();
    let original = name_on(&cluster, 1, &id).await;
    assert_eq!(name_on(&cluster, 2, &id).await, original);
    let mut on_2 = Subscriber::open(&cluster, 1, &id).await;
    let mut on_3 = Subscriber::open(&cluster, 2, &id).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut lags = Vec::new();
    for round in 0..40 {
        let name = format!("Fanned{round}");
        // Changed in GHL without a delivery of the sandbox's own: ours below is the only one.
        edit_in_ghl(&cluster.sandbox, reqwest::Method::PATCH, &format!("/contacts/{id}"), json!({ "firstName": name })).await;
        cluster.sandbox.clear_requests();
        let posted = Instant::now();
        assert_eq!(deliver(&cluster, 0, &contact_update(&id, &format!("wh-fan-{round}"))).await, "applied");
        for subscriber in [&mut on_2, &mut on_3] {
            let heard = subscriber.next(Duration::from_secs(5)).await.expect("the event reaches another replica's subscriber");
            assert!(heard.starts_with(&name), "the fresh value: {heard}");
        }
        lags.push(posted.elapsed());
        // Replicas 2 and 3 had the old name cached: they serve the new one.
        assert!(name_on(&cluster, 1, &id).await.starts_with(&name));
        assert!(name_on(&cluster, 2, &id).await.starts_with(&name));
    }
    let (p50, p99) = (percentile(&mut lags, 0.5), percentile(&mut lags, 0.99));
    println!("webhook on replica 1 -> subscribers on replicas 2 and 3 (refetch included): p50 {p50:?}, p99 {p99:?}");
    assert!(p99 <= Duration::from_millis(50), "p50 {p50:?}, p99 {p99:?}");
}

#[tokio::test]
async fn a_ghl_retry_is_applied_once_across_replicas() {
    let cluster = Cluster::start(3, cached()).await;
    let id = cluster.sandbox.contact_ids()[1].clone();
    let mut subscriber = Subscriber::open(&cluster, 2, &id).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let body = contact_update(&id, "wh-retried");
    let outcomes = [deliver(&cluster, 0, &body).await, deliver(&cluster, 1, &body).await, deliver(&cluster, 2, &body).await];

    assert_eq!(outcomes, ["applied", "duplicate", "duplicate"]);
    assert!(subscriber.next(Duration::from_secs(5)).await.is_some(), "the one application reaches replica 3");
    assert_eq!(subscriber.next(Duration::from_millis(500)).await, None, "and only once");
    let key = format!("{}:webhook:wh-retried", cluster.prefix);
    assert_eq!(cluster.redis.query::<i64>(redis::cmd("EXISTS").arg(&key)).unwrap(), 1, "claimed under the documented key");
}

#[tokio::test]
async fn a_replica_forgets_its_cache_when_redis_comes_back() {
    let mut cluster = Cluster::start(2, cached()).await;
    let id = cluster.sandbox.contact_ids()[2].clone();
    cluster.redis.kill();
    // Both replicas notice (their probe pings every 200 ms); replica 2 caches the contact meanwhile.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let original = name_on(&cluster, 1, &id).await;
    edit_in_ghl(&cluster.sandbox, reqwest::Method::PATCH, &format!("/contacts/{id}"), json!({ "firstName": "WhileAway" })).await;
    assert_eq!(deliver(&cluster, 0, &contact_update(&id, "wh-away")).await, "applied", "a replica keeps taking webhooks without Redis");
    assert!(name_on(&cluster, 0, &id).await.starts_with("WhileAway"));
    assert_eq!(name_on(&cluster, 1, &id).await, original, "missed while Redis is down (bounded by the TTL)");

    cluster.redis.restart();
    cluster.wait_until_shared().await;
    assert!(name_on(&cluster, 1, &id).await.starts_with("WhileAway"), "flushed on reconnect");
}
