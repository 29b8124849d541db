//! Scale-out (`--redis-url`): three replicas against one sandbox and one real redis-server.
//! A webhook on one replica refreshes every replica's cache and reaches every replica's
//! subscribers; GHL's retries apply once across replicas; the cache is flushed when Redis is back;
//! the replicas share GHL's rate budget (and keep to their share of it while Redis is down).

use std::time::{Duration, Instant};

use base64::Engine as _;
use ed25519_dalek::Signer as _;
use serde_json::{json, Value};

use ghl_sandbox::SandboxConfig;

use crate::helpers::{codes, edit_in_ghl, Setup};
use crate::redis_harness::Cluster;
// Read-only replicas with a 5-minute cache that take our signed webhooks.
use crate::webhooks::{setup as cached, signing_key};

const CONTACT: &str = "query($id: ID!) { contact(id: $id) { id name } }";

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

/// Waits up to a second for `check` to hold; how long it took, or `None`.
async fn within_a_second<F, Fut>(check: F) -> Option<Duration>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(1) {
        if check().await {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    None
}

#[tokio::test]
async fn a_write_through_one_replica_is_read_through_the_others_without_a_webhook_and_reaches_no_subscriber() {
    // Writable replicas with a 5-minute cache; the sandbox sends no webhooks here, so only the
    // writing replica can tell the others.
    let cluster = Cluster::start(3, Setup { extra: vec!["--cache-ttl".into(), "5m".into()], ..Default::default() }).await;
    let id = cluster.sandbox.contact_ids()[3].clone();
    const TASKS: &str = "query($id: ID!) { contact(id: $id) { tasks { title } } }";
    let titles = |response: &Value| -> Vec<String> {
        response["data"]["contact"]["tasks"].as_array().into_iter().flatten().filter_map(|t| t["title"].as_str().map(str::to_owned)).collect()
    };
    for replica in 1..3 {
        name_on(&cluster, replica, &id).await;
        cluster.graphql(replica, TASKS, json!({ "id": id })).await;
    }
    let mut subscriber = Subscriber::open(&cluster, 2, &id).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut lags = Vec::new();
    for round in 0..10 {
        let name = format!("Written{round}");
        let update = "mutation($id: ID!, $name: String!) { updateContact(id: $id, input: { firstName: $name }) { id } }";
        let written = cluster.graphql(0, update, json!({ "id": id, "name": name })).await;
        assert_eq!(written["errors"], Value::Null, "{written}");
        for replica in 1..3 {
            let seen = within_a_second(|| async { name_on(&cluster, replica, &id).await.starts_with(&name) }).await;
            lags.push(seen.unwrap_or_else(|| panic!("replica {} still serves the old name of round {round}", replica + 1)));
        }
    }
    let title = "Written through replica 1";
    let create = format!("mutation($id: ID!) {{ createTask(contactId: $id, input: {{ title: \"{title}\", dueDate: \"2026-12-01T09:00:00Z\" }}) {{ id }} }}");
    let created = cluster.graphql(0, &create, json!({ "id": id })).await;
    assert_eq!(created["errors"], Value::Null, "{created}");
    let seen = within_a_second(|| async { titles(&cluster.graphql(2, TASKS, json!({ "id": id })).await).iter().any(|t| t == title) }).await;
    assert!(seen.is_some(), "replica 3 lists the task created through replica 1");

    assert_eq!(subscriber.next(Duration::from_millis(500)).await, None, "subscribers hear of a write from GHL's webhook, not twice");
    let (p50, p99) = (percentile(&mut lags, 0.5), percentile(&mut lags, 0.99));
    println!("write on replica 1 -> read of it on replicas 2 and 3: p50 {p50:?}, p99 {p99:?}");
}

/// Replicas told GHL allows 40 calls per second, against a sandbox that enforces exactly that.
fn paced(limit: &str, max_wait: &str) -> Setup {
    Setup {
        extra: vec!["--rate-limit".into(), limit.into(), "--limiter-max-wait".into(), max_wait.into()],
        sandbox: SandboxConfig { rate_limit: "40/1s".parse().unwrap(), contacts: 1000, ..Default::default() },
        ..Setup::read_only()
    }
}

/// Queries of one contact each (one upstream call, no cache), spread round-robin over the
/// replicas, at most `in_flight` at once (1,000 HTTP requests parsed at the same instant by a
/// debug build delay sends by more than the limiter's margin, in process as much as in Redis).
/// The answered ones, the refused ones (`RATE_LIMITED`), and the span of upstream arrivals.
async fn burst(cluster: &Cluster, ids: &[String], in_flight: usize) -> (usize, usize, Duration) {
    use futures_util::StreamExt as _;
    let before = cluster.sandbox.requests().len();
    let (mut first, mut last) = (None, Instant::now());
    let queries = futures_util::stream::iter(ids.iter().enumerate())
        .map(|(n, id)| async move { cluster.graphql(n % cluster.replicas.len(), CONTACT, json!({ "id": id })).await })
        .buffer_unordered(in_flight)
        .collect::<Vec<Value>>();
    tokio::pin!(queries);
    // The sandbox's log, sampled every 10 ms, dates the first and last arrival.
    let responses = loop {
        tokio::select! {
            responses = &mut queries => break responses,
            () = tokio::time::sleep(Duration::from_millis(10)) => {
                let seen = cluster.sandbox.requests().len();
                if seen > before {
                    first.get_or_insert_with(Instant::now);
                }
                if seen > before + usize::from(first.is_some()) {
                    last = Instant::now();
                }
            }
        }
    };
    let (mut answered, mut refused) = (0, 0);
    for response in &responses {
        if response["errors"].is_null() {
            answered += 1;
        } else {
            assert_eq!(codes(response), ["RATE_LIMITED"], "{response}");
            refused += 1;
        }
    }
    (answered, refused, first.map_or(Duration::ZERO, |first| last.saturating_duration_since(first)))
}

#[tokio::test]
async fn a_thousand_query_burst_over_three_replicas_gets_no_429_and_uses_at_least_90_percent_of_the_limit() {
    let cluster = Cluster::start(3, paced("40/1s", "5s")).await;
    let ids = cluster.sandbox.contact_ids();

    let (answered, refused, span) = burst(&cluster, &ids[..1000], 100).await;

    let requests = cluster.sandbox.requests();
    let throttled = requests.iter().filter(|r| r.status == 429).count();
    // GHL allows 40 in each second its calls arrived in (the last one's window included).
    let used = answered as f64 / (40.0 * (span.as_secs_f64() + 1.0));
    println!("1,000-query burst over 3 replicas at 40/1s: {answered} answered, {refused} refused, upstream arrivals over {span:?}, {throttled} upstream 429s, {:.1} % of the limit used", used * 100.0);
    assert_eq!(throttled, 0, "GHL answered 429 to {throttled} of {} calls", requests.len());
    assert_eq!(requests.len(), answered, "one call per answered query, none for refused ones");
    assert!(used >= 0.90, "{:.1} % of the limit used", used * 100.0);
    assert!(answered >= 150, "{answered} answered in the 5 s the limiter may wait");
}

#[tokio::test]
async fn with_redis_down_each_replica_keeps_to_its_share_and_the_shared_budget_resumes_when_it_is_back() {
    let mut cluster = Cluster::start(3, paced("40/1s", "3s")).await;
    let ids = cluster.sandbox.contact_ids();
    cluster.redis.kill();
    tokio::time::sleep(Duration::from_millis(600)).await;

    let (answered, _, span) = burst(&cluster, &ids[..300], 100).await;

    let requests = cluster.sandbox.requests();
    assert_eq!(requests.iter().filter(|r| r.status == 429).count(), 0, "each replica keeps to 40 / 3 per second");
    let rate = answered as f64 / (span.as_secs_f64() + 1.0);
    println!("Redis down: {answered} answered at {rate:.1}/s");
    assert!((0.6 * 39.0..=40.0).contains(&rate), "{answered} over {span:?}: {rate:.1}/s, about 3 × 13");
    assert!(cluster.metric(0, "ghl_limiter_shared_fallback_total").await >= 1.0, "the fallback is counted");

    // Redis back: the shared budget resumes (the whole limit again, still no 429).
    cluster.redis.restart();
    cluster.wait_until_shared().await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    cluster.sandbox.clear_requests();
    let (answered, _, span) = burst(&cluster, &ids[300..700], 100).await;
    assert_eq!(cluster.sandbox.requests().iter().filter(|r| r.status == 429).count(), 0);
    let used = answered as f64 / (40.0 * (span.as_secs_f64() + 1.0));
    println!("Redis back: {answered} answered, {:.1} % of the limit used", used * 100.0);
    assert!(used >= 0.85, "{answered} over {span:?}: {:.1} % of the limit", used * 100.0);
    let windows: Vec<String> = cluster.redis.query(redis::cmd("KEYS").arg(format!("{}:rate:*:sent", cluster.prefix))).unwrap();
    assert_eq!(windows.len(), 1, "the calls were booked in the shared window again: {windows:?}");
    let booked: usize = cluster.redis.query(redis::cmd("ZCARD").arg(&windows[0])).unwrap();
    assert!(booked >= 30, "{booked} calls in the shared window");
}

#[tokio::test]
async fn two_hundred_concurrent_requests_across_replicas_with_an_expired_token_cause_exactly_one_refresh() {
    use crate::oauth_harness::{spawn_oauth_app, spawn_sandbox, store_dir, token_calls, CONTACTS, KEY_A};
    // Tokens live 6 s and are refreshed within 3 s of expiry: after 3.2 s the stored one is stale.
    let sandbox = spawn_sandbox(Duration::from_secs(6)).await;
    let redis = crate::redis_harness::RedisServer::start();
    let prefix = format!("test-{:08x}", fastrand::u32(..));
    let url = redis.url();
    let extra = ["--refresh-margin", "3s", "--redis-url", url.as_str(), "--redis-prefix", prefix.as_str(), "--expected-replicas", "3"];
    let mut replicas = Vec::new();
    for n in 0..3 {
        replicas.push(spawn_oauth_app(&sandbox, &store_dir(&format!("shared-{n}")), &extra).await);
    }
    assert_eq!(replicas[0].install(ghl_sandbox::LOCATION_ID).await.0, 200);
    let stored: Vec<String> = redis.query(redis::cmd("SMEMBERS").arg(format!("{prefix}:tokens"))).unwrap();
    assert_eq!(stored, [ghl_sandbox::LOCATION_ID], "the pair is in Redis, for every replica");
    tokio::time::sleep(Duration::from_millis(3200)).await;
    sandbox.clear_requests();

    let requests = (0..200).map(|n| replicas[n % 3].query_as(KEY_A, ghl_sandbox::LOCATION_ID, CONTACTS));
    let responses = futures_util::future::join_all(requests).await;

    let failed: Vec<&Value> = responses.iter().filter(|r| !r["errors"].is_null()).collect();
    assert!(failed.is_empty(), "every request succeeded: {:?}", failed.first());
    assert_eq!(token_calls(&sandbox), 1, "one POST /oauth/token for 200 requests over 3 replicas");
}

#[tokio::test]
async fn redis_killed_mid_burst_and_restarted_every_request_ends_in_time_with_data_or_a_code_and_the_shared_budget_resumes() {
    use futures_util::StreamExt as _;
    let mut setup = paced("40/1s", "2s");
    setup.extra.extend(["--operation-timeout".into(), "4s".into()]);
    let cluster = std::sync::Arc::new(tokio::sync::Mutex::new(Cluster::start(3, setup).await));
    let (ids, http, urls) = {
        let c = cluster.lock().await;
        (c.sandbox.contact_ids(), c.http.clone(), c.replicas.iter().map(|r| r.url.clone()).collect::<Vec<_>>())
    };
    let burst = tokio::spawn(async move {
        futures_util::stream::iter(ids.into_iter().take(500).enumerate())
            .map(|(n, id)| {
                let (http, url) = (http.clone(), urls[n % 3].clone());
                async move {
                    let started = Instant::now();
                    let body = json!({ "query": CONTACT, "variables": { "id": id } });
                    let response: Value = http.post(format!("{url}/graphql")).json(&body).send().await.expect("answered").json().await.expect("json");
                    (response, started.elapsed())
                }
            })
            .buffer_unordered(100)
            .collect::<Vec<_>>()
            .await
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    cluster.lock().await.redis.kill();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    cluster.lock().await.redis.restart();
    let responses = burst.await.expect("the burst task did not panic");

    let (mut answered, mut refused) = (0, 0);
    for (response, took) in &responses {
        assert!(*took <= Duration::from_millis(4500), "answered after {took:?}, past the 4 s deadline: {response}");
        if response["errors"].is_null() {
            assert!(response["data"]["contact"]["id"].is_string(), "{response}");
            answered += 1;
        } else {
            let codes = codes(response);
            assert!(codes.iter().all(|c| c == "RATE_LIMITED" || c == "UPSTREAM_UNAVAILABLE"), "a coded error: {response}");
            refused += 1;
        }
    }
    println!("Redis killed mid-burst: {answered} answered, {refused} refused with a code, all within the deadline");
    assert!(answered >= 60, "{answered} answered");

    // Every replica is still serving, on the shared budget again.
    let cluster = cluster.lock().await;
    cluster.wait_until_shared().await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let ids = cluster.sandbox.contact_ids();
    for replica in 0..3 {
        let response = cluster.graphql(replica, CONTACT, json!({ "id": ids[900 + replica] })).await;
        assert!(response["errors"].is_null(), "replica {replica}: {response}");
    }
    let windows: Vec<String> = cluster.redis.query(redis::cmd("KEYS").arg(format!("{}:rate:*:sent", cluster.prefix))).unwrap();
    assert_eq!(windows.len(), 1, "booked in the shared window again: {windows:?}");
}
