//! Fault injection, through the control API and the library API: every kind (status with and
//! without rate-limit headers, status after applying, latency, reset before/after, malformed, slow body), `count` and
//! `probability`, and the request log that records faulted requests too.

mod common;

use std::time::{Duration, Instant};

use ghl_sandbox::{Fault, FaultKind, RecordedRequest, API_VERSION, LOCATION_ID, READ_TOKEN, WRITE_TOKEN};
use serde_json::{json, Value};

#[tokio::test]
async fn a_counted_status_fault_posted_to_the_control_api_fires_that_many_times() {
    let t = common::spawn().await;
    let (contact, _) = t.contact_with_tasks(1).await;
    t.sandbox.clear_requests();
    let posted = t
        .client
        .post(t.url("/__sandbox/faults"))
        .json(&json!({"method": "GET", "path": "/contacts/*/tasks", "kind": "status", "status": 503, "count": 2}))
        .send()
        .await
        .expect("answered");
    assert_eq!(posted.status().as_u16(), 201);
    let path = format!("/contacts/{contact}/tasks");
    let statuses = [t.get(READ_TOKEN, &path).await.status, t.get(READ_TOKEN, &path).await.status, t.get(READ_TOKEN, &path).await.status];
    assert_eq!(statuses, [503, 503, 200]);
    let failed = t.get(READ_TOKEN, &format!("/contacts/{contact}")).await;
    assert_eq!(failed.status, 200, "other paths are not affected");

    let log: Value = t.client.get(t.url("/__sandbox/requests")).send().await.expect("log").json().await.expect("json");
    let logged: Vec<RecordedRequest> = serde_json::from_value(log["requests"].clone()).expect("requests");
    let statuses: Vec<u16> = logged.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [503, 503, 200, 200]);
    assert_eq!(logged[0].path, path);
    assert_eq!(logged[0].location_id.as_deref(), Some(LOCATION_ID));
    assert!(logged.iter().all(|r| !r.path.starts_with("/__sandbox")), "control calls are not logged");

    let cleared = t.client.delete(t.url("/__sandbox/requests")).send().await.expect("answered");
    assert!(cleared.status().is_success());
    assert!(t.sandbox.requests().is_empty());
}

#[tokio::test]
async fn an_injected_429_carries_rate_limit_headers_only_when_asked() {
    let t = common::spawn().await;
    let path = format!("/contacts/{}", t.first_contact());
    t.sandbox.add_fault(Fault::new("/contacts/*", FaultKind::Status { status: 429, rate_limit_headers: true }).times(1));
    let with = t.get(READ_TOKEN, &path).await;
    assert_eq!(with.status, 429);
    assert_eq!(with.header_u64("x-ratelimit-remaining"), 0);
    assert!(with.header("x-ratelimit-max").is_some());
    t.sandbox.add_fault(Fault::new("/contacts/*", FaultKind::Status { status: 429, rate_limit_headers: false }).times(1));
    let without = t.get(READ_TOKEN, &path).await;
    assert_eq!(without.status, 429);
    assert!(without.header("x-ratelimit-remaining").is_none() && without.header("x-ratelimit-max").is_none());
    assert_eq!(t.get(READ_TOKEN, &path).await.status, 200);
}

#[tokio::test]
async fn a_latency_fault_delays_matching_requests() {
    let t = common::spawn().await;
    t.sandbox.add_fault(Fault::new("/contacts/*", FaultKind::Latency { latency_ms: 300 }).method("GET"));
    let path = format!("/contacts/{}", t.first_contact());
    let started = Instant::now();
    assert_eq!(t.get(READ_TOKEN, &path).await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    t.sandbox.clear_faults();
    let started = Instant::now();
    assert_eq!(t.get(READ_TOKEN, &path).await.status, 200);
    assert!(started.elapsed() < Duration::from_millis(300));
}

async fn add_tag(t: &common::TestSandbox, contact: &str, tag: &str) -> Result<reqwest::Response, reqwest::Error> {
    t.client
        .post(t.url(&format!("/contacts/{contact}/tags")))
        .bearer_auth(WRITE_TOKEN)
        .header("Version", API_VERSION)
        .json(&json!({"tags": [tag]}))
        .send()
        .await
}

async fn tags_of(t: &common::TestSandbox, contact: &str) -> Vec<Value> {
    t.get(READ_TOKEN, &format!("/contacts/{contact}")).await.body["contact"]["tags"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn reset_before_drops_the_connection_and_leaves_state_unchanged() {
    let t = common::spawn().await;
    let contact = t.first_contact();
    t.sandbox.clear_requests();
    t.sandbox.add_fault(Fault::new("/contacts/*/tags", FaultKind::ResetBefore).method("POST").times(1));
    let error = add_tag(&t, &contact, "never").await.expect_err("the connection is reset");
    assert!(!error.is_status() && !error.is_timeout(), "{error:?}");
    assert!(!tags_of(&t, &contact).await.contains(&json!("never")));
    assert_eq!(t.sandbox.requests()[0].status, 0, "a reset is logged with status 0");
    assert_eq!(add_tag(&t, &contact, "later").await.expect("answered").status().as_u16(), 201);
}

#[tokio::test]
async fn reset_after_applies_the_request_then_drops_the_connection() {
    let t = common::spawn().await;
    let contact = t.first_contact();
    t.sandbox.add_fault(Fault::new("/contacts/*/tags", FaultKind::ResetAfter).method("POST").times(1));
    add_tag(&t, &contact, "applied").await.expect_err("the connection is reset");
    assert!(tags_of(&t, &contact).await.contains(&json!("applied")));
    let logged = t.sandbox.requests();
    let post = logged.iter().find(|r| r.method == "POST").expect("logged");
    assert_eq!(post.status, 0);
}

#[tokio::test]
async fn malformed_answers_200_with_invalid_json() {
    let t = common::spawn().await;
    t.sandbox.add_fault(Fault::new("/contacts/*", FaultKind::Malformed).times(1));
    let response =
        t.client.get(t.url(&format!("/contacts/{}", t.first_contact()))).bearer_auth(READ_TOKEN).header("Version", API_VERSION).send().await.expect("answered");
    assert_eq!(response.status().as_u16(), 200);
    let bytes = response.bytes().await.expect("body");
    assert!(!bytes.is_empty());
    assert!(serde_json::from_slice::<Value>(&bytes).is_err(), "{}", String::from_utf8_lossy(&bytes));
}

#[tokio::test]
async fn slow_body_sends_headers_at_once_and_the_body_over_seconds() {
    let t = common::spawn().await;
    let path = format!("/contacts/{}", t.first_contact());
    let expected = t.get(READ_TOKEN, &path).await.body;
    t.sandbox.add_fault(Fault::new("/contacts/*", FaultKind::SlowBody).times(1));
    let started = Instant::now();
    let response = t.client.get(t.url(&path)).bearer_auth(READ_TOKEN).header("Version", API_VERSION).send().await.expect("headers");
    assert_eq!(response.status().as_u16(), 200);
    assert!(started.elapsed() < Duration::from_secs(1), "headers arrive before the body");
    let body: Value = response.json().await.expect("the body is complete, just slow");
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert_eq!(body, expected);
}

#[tokio::test]
async fn a_slow_body_trips_a_client_read_timeout() {
    let t = common::spawn().await;
    t.sandbox.add_fault(Fault::new("/contacts/*", FaultKind::SlowBody));
    let client = reqwest::Client::builder().timeout(Duration::from_millis(800)).build().expect("client");
    let result = async {
        client.get(t.url(&format!("/contacts/{}", t.first_contact()))).bearer_auth(READ_TOKEN).header("Version", API_VERSION).send().await?.bytes().await
    }
    .await;
    assert!(result.expect_err("times out").is_timeout());
}

#[tokio::test]
async fn a_probabilistic_fault_fires_on_some_requests_only() {
    let t = common::spawn().await;
    t.sandbox.add_fault(Fault::new("/contacts/*", FaultKind::Status { status: 500, rate_limit_headers: true }).probability(0.5));
    let path = format!("/contacts/{}", t.first_contact());
    let mut statuses = Vec::new();
    for _ in 0..40 {
        statuses.push(t.get(READ_TOKEN, &path).await.status);
    }
    assert!(statuses.contains(&500) && statuses.contains(&200), "{statuses:?}");
}

#[tokio::test]
async fn the_control_api_lists_validates_and_clears_faults() {
    let t = common::spawn().await;
    let bad = t.client.post(t.url("/__sandbox/faults")).json(&json!({"path": "/x", "kind": "explode"})).send().await.expect("answered");
    assert_eq!(bad.status().as_u16(), 422);
    let bad = t.client.post(t.url("/__sandbox/faults")).json(&json!({"path": "/x", "kind": "malformed", "probability": 2})).send().await.expect("answered");
    assert_eq!(bad.status().as_u16(), 422);
    for fault in [
        json!({"path": "/contacts/*", "kind": "latency", "latencyMs": 5}),
        json!({"path": "/contacts/*", "kind": "status", "status": 500, "rateLimitHeaders": false, "probability": 0.1}),
    ] {
        let added = t.client.post(t.url("/__sandbox/faults")).json(&fault).send().await.expect("answered");
        assert_eq!(added.status().as_u16(), 201);
    }
    let listed: Value = t.client.get(t.url("/__sandbox/faults")).send().await.expect("answered").json().await.expect("json");
    assert_eq!(listed["faults"].as_array().map(Vec::len), Some(2));
    assert_eq!(listed["faults"][1]["rateLimitHeaders"], false);
    let cleared = t.client.delete(t.url("/__sandbox/faults")).send().await.expect("answered");
    assert!(cleared.status().is_success());
    let listed: Value = t.client.get(t.url("/__sandbox/faults")).send().await.expect("answered").json().await.expect("json");
    assert_eq!(listed["faults"], json!([]));
    let info: Value = t.client.get(t.url("/__sandbox/info")).send().await.expect("answered").json().await.expect("json");
    assert_eq!(info["locations"][0]["id"], LOCATION_ID);
}

#[tokio::test]
async fn a_status_after_fault_answers_422_yet_creates_the_contact_and_sends_its_webhook() {
    let (t, receiver) = common::spawn_hooked().await;
    let posted = t
        .client
        .post(t.url("/__sandbox/faults"))
        .json(&json!({"method": "POST", "path": "/contacts/", "kind": "status_after", "status": 422, "count": 1}))
        .send()
        .await
        .expect("answered");
    assert_eq!(posted.status().as_u16(), 201);
    let before = t.sandbox.contact_ids();
    t.sandbox.clear_requests();

    let body = json!({"locationId": LOCATION_ID, "firstName": "Ghost", "email": "ghost@faults.test"});
    let failed = t.post(WRITE_TOKEN, "/contacts/", body.clone()).await;

    assert_eq!((failed.status, failed.body["statusCode"].as_u64()), (422, Some(422)), "{:?}", failed.body);
    assert!(failed.header("x-ratelimit-remaining").is_some(), "the gateway's headers stay");
    let created: Vec<String> = t.sandbox.contact_ids().into_iter().filter(|id| !before.contains(id)).collect();
    assert_eq!(created.len(), 1, "the contact exists despite the 422");
    assert_eq!(t.sandbox.requests().iter().map(|r| r.status).collect::<Vec<_>>(), [422]);
    let events = receiver.expect(&["ContactCreate"]).await;
    assert_eq!(events[0].event["id"], created[0].as_str());
    // A blind retry now meets the contact the failed call made.
    let retried = t.post(WRITE_TOKEN, "/contacts/", body).await;
    assert_eq!((retried.status, retried.body["meta"]["contactId"].as_str()), (400, Some(created[0].as_str())));
}
