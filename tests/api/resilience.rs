//! One test per upstream fault (sandbox fault injection): the server stays up, data and codes are
//! right, wall time is bounded, and no POST reaches GHL twice.

use std::time::{Duration, Instant};

use ghl_sandbox::{Fault, SandboxConfig};
use serde_json::{json, Value};

use crate::helpers::{codes, spawn_app, Setup, TestApp};

const CONTACT: &str = "query($id: ID!) { contact(id: $id) { id email } }";

fn fault(value: Value) -> Fault {
    serde_json::from_value(value).expect("fault JSON")
}

fn setup(extra: &[&str]) -> Setup {
    Setup { extra: extra.iter().map(|s| s.to_string()).collect(), ..Default::default() }
}

fn with_sandbox_limit(extra: &[&str], limit: &str) -> Setup {
    Setup { sandbox: SandboxConfig { rate_limit: limit.parse().expect("limit"), ..Default::default() }, ..setup(extra) }
}

async fn contact(app: &TestApp, id: &str) -> Value {
    app.graphql(CONTACT, json!({ "id": id })).await
}

fn count(app: &TestApp, method: &str, path: &str) -> usize {
    app.requests().iter().filter(|r| r.method == method && r.path == path).count()
}

async fn assert_still_serving(app: &TestApp) {
    let ok = app.graphql("{ __typename }", json!({})).await;
    assert_eq!(ok["data"]["__typename"], json!("Query"));
}

#[tokio::test]
async fn a_429_storm_with_rate_limit_headers_is_waited_out() {
    let app = spawn_app(with_sandbox_limit(&[], "1000/1s")).await;
    let id = app.contact_ids()[0].clone();
    app.sandbox.add_fault(fault(json!({ "method": "GET", "path": "/contacts/*", "kind": "status", "status": 429, "count": 2 })));

    let started = Instant::now();
    let response = contact(&app, &id).await;

    assert_eq!(response["data"]["contact"]["id"], json!(id), "{response}");
    assert_eq!(count(&app, "GET", &format!("/contacts/{id}")), 3);
    assert!(started.elapsed() < Duration::from_secs(6), "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_429_storm_without_headers_ends_in_rate_limited_with_a_hint() {
    let app = spawn_app(setup(&[])).await;
    let id = app.contact_ids()[0].clone();
    app.sandbox.add_fault(fault(json!({ "method": "GET", "path": "/contacts/*", "kind": "status", "status": 429, "rateLimitHeaders": false })));

    let started = Instant::now();
    let response = contact(&app, &id).await;

    assert_eq!(codes(&response), vec!["RATE_LIMITED"], "{response}");
    assert_eq!(response["data"]["contact"], Value::Null);
    assert_eq!(count(&app, "GET", &format!("/contacts/{id}")), 3, "three attempts, no more");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn gateway_errors_are_retried_and_a_500_is_not() {
    let app = spawn_app(setup(&[])).await;
    let ids = app.contact_ids();
    for (i, status) in [502, 503, 504].into_iter().enumerate() {
        let path = format!("/contacts/{}", ids[i]);
        app.sandbox.add_fault(fault(json!({ "method": "GET", "path": path, "kind": "status", "status": status, "count": 2 })));
        let response = contact(&app, &ids[i]).await;
        assert_eq!(response["data"]["contact"]["id"], json!(ids[i]), "{status}: {response}");
        assert_eq!(count(&app, "GET", &path), 3, "{status}");
    }

    let path = format!("/contacts/{}", ids[5]);
    app.sandbox.add_fault(fault(json!({ "method": "GET", "path": path, "kind": "status", "status": 500, "count": 1 })));
    let response = contact(&app, &ids[5]).await;
    assert_eq!(codes(&response), vec!["UPSTREAM_UNAVAILABLE"], "{response}");
    assert_eq!(response["errors"][0]["extensions"]["upstream"]["status"], json!(500));
    assert_eq!(count(&app, "GET", &path), 1);
}

#[tokio::test]
async fn a_reset_before_the_answer_is_retried_for_reads_and_never_for_posts() {
    let app = spawn_app(setup(&[])).await;
    let id = app.contact_ids()[0].clone();

    app.sandbox.add_fault(fault(json!({ "method": "GET", "path": "/contacts/*", "kind": "reset_before", "count": 1 })));
    assert_eq!(contact(&app, &id).await["data"]["contact"]["id"], json!(id));

    let tasks_path = format!("/contacts/{id}/tasks");
    app.sandbox.add_fault(fault(json!({ "method": "POST", "path": tasks_path, "kind": "reset_before", "count": 1 })));
    let response = app
        .graphql("mutation($id: ID!) { createTask(contactId: $id, input: { title: \"x\", dueDate: \"2026-12-01T00:00:00Z\" }) { id } }", json!({ "id": id }))
        .await;
    assert_eq!(codes(&response), vec!["UPSTREAM_UNAVAILABLE"], "{response}");
    assert_eq!(count(&app, "POST", &tasks_path), 1, "a POST is never sent twice");
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn a_reset_after_a_post_is_not_retried_so_the_note_exists_once() {
    let app = spawn_app(setup(&[])).await;
    let id = app.contact_ids()[4].clone();
    let path = format!("/contacts/{id}/notes");
    app.sandbox.add_fault(fault(json!({ "method": "POST", "path": path, "kind": "reset_after", "count": 1 })));

    let response = app.graphql("mutation($id: ID!) { createNote(contactId: $id, input: { body: \"reset-after note\" }) { id } }", json!({ "id": id })).await;

    assert_eq!(codes(&response), vec!["UPSTREAM_UNAVAILABLE"], "{response}");
    assert_eq!(count(&app, "POST", &path), 1);
    let read = app.graphql("query($id: ID!) { contact(id: $id) { notes { body } } }", json!({ "id": id })).await;
    let copies = read["data"]["contact"]["notes"].as_array().expect("notes").iter().filter(|n| n["body"] == json!("reset-after note")).count();
    assert_eq!(copies, 1, "applied once, never duplicated");
}

#[tokio::test]
async fn a_reset_after_an_idempotent_put_is_retried() {
    let app = spawn_app(setup(&[])).await;
    let id = app.contact_ids()[6].clone();
    let path = format!("/contacts/{id}");
    app.sandbox.add_fault(fault(json!({ "method": "PUT", "path": path, "kind": "reset_after", "count": 1 })));

    let response = app.graphql("mutation($id: ID!) { updateContact(id: $id, input: { city: \"Leeds\" }) { city } }", json!({ "id": id })).await;

    assert_eq!(response["data"]["updateContact"]["city"], json!("Leeds"), "{response}");
    assert_eq!(count(&app, "PUT", &path), 2);
}

#[tokio::test]
async fn malformed_json_is_an_upstream_error_not_a_crash() {
    let app = spawn_app(setup(&[])).await;
    let ids = app.contact_ids();
    app.sandbox.add_fault(fault(json!({ "method": "GET", "path": format!("/contacts/{}", ids[0]), "kind": "malformed" })));

    let response = app.graphql("query($a: ID!, $b: ID!) { a: contact(id: $a) { id } b: contact(id: $b) { id } }", json!({ "a": ids[0], "b": ids[1] })).await;

    assert_eq!(codes(&response), vec!["UPSTREAM_UNAVAILABLE"], "{response}");
    assert_eq!(response["data"]["a"], Value::Null);
    assert_eq!(response["data"]["b"]["id"], json!(ids[1]));
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn a_slow_body_times_out_and_the_retry_succeeds_within_bounds() {
    let app = spawn_app(setup(&["--request-timeout", "700ms"])).await;
    let id = app.contact_ids()[0].clone();
    app.sandbox.add_fault(fault(json!({ "method": "GET", "path": "/contacts/*", "kind": "slow_body", "count": 1 })));

    let started = Instant::now();
    let response = contact(&app, &id).await;

    assert_eq!(response["data"]["contact"]["id"], json!(id), "{response}");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_latency_spike_beyond_the_operation_deadline_fails_fast() {
    let app = spawn_app(setup(&["--operation-timeout", "600ms"])).await;
    let id = app.contact_ids()[0].clone();
    app.sandbox.add_fault(fault(json!({ "method": "GET", "path": "/contacts/*", "kind": "latency", "latencyMs": 3000 })));

    let started = Instant::now();
    let response = contact(&app, &id).await;

    assert_eq!(codes(&response), vec!["UPSTREAM_UNAVAILABLE"], "{response}");
    assert!(started.elapsed() < Duration::from_millis(1500), "{:?}", started.elapsed());
    app.sandbox.clear_faults();
    assert_eq!(contact(&app, &id).await["data"]["contact"]["id"], json!(id));
}

#[tokio::test]
async fn the_circuit_opens_after_repeated_failures_and_then_fails_fast() {
    let app = spawn_app(setup(&["--breaker-threshold", "3", "--breaker-cool-down", "30s", "--retry-max-attempts", "1"])).await;
    let ids = app.contact_ids();
    app.sandbox.add_fault(fault(json!({ "method": "GET", "path": "/contacts/*", "kind": "status", "status": 503 })));
    for id in &ids[..3] {
        assert_eq!(codes(&contact(&app, id).await), vec!["UPSTREAM_UNAVAILABLE"]);
    }
    let before = app.requests().len();

    let started = Instant::now();
    let response = contact(&app, &ids[3]).await;

    assert_eq!(codes(&response), vec!["UPSTREAM_UNAVAILABLE"]);
    assert!(response["errors"][0]["message"].as_str().unwrap().contains("recent failures"), "{response}");
    assert_eq!(app.requests().len(), before, "no upstream call while open");
    assert!(started.elapsed() < Duration::from_millis(500));
}

#[tokio::test]
async fn concurrent_identical_reads_share_one_upstream_call() {
    let app = spawn_app(setup(&[])).await;
    let id = app.contact_ids()[0].clone();
    app.sandbox.set_latency(Duration::from_millis(300));

    let responses = futures_util::future::join_all((0..10).map(|_| contact(&app, &id))).await;

    assert!(responses.iter().all(|r| r["data"]["contact"]["id"] == json!(id)));
    assert_eq!(count(&app, "GET", &format!("/contacts/{id}")), 1);
}

#[tokio::test]
async fn the_limiter_keeps_under_ghls_limit_so_a_burst_sees_no_429() {
    let app = spawn_app(with_sandbox_limit(&["--rate-limit", "5/1s", "--limiter-max-wait", "10s"], "5/1s")).await;
    let ids = app.contact_ids();

    let started = Instant::now();
    let responses = futures_util::future::join_all(ids[..15].iter().map(|id| contact(&app, id))).await;

    assert!(responses.iter().all(|r| r["errors"].is_null()), "{responses:?}");
    assert!(app.requests().iter().all(|r| r.status != 429), "{:?}", app.requests());
    assert!(started.elapsed() >= Duration::from_millis(1900), "15 calls at 5/s take two windows");
}

#[tokio::test]
async fn a_stricter_limit_reported_by_ghl_is_adopted_without_configuration() {
    let app = spawn_app(with_sandbox_limit(&["--rate-limit", "100/1s", "--limiter-max-wait", "10s"], "4/1s")).await;
    let ids = app.contact_ids();
    assert!(contact(&app, &ids[0]).await["errors"].is_null(), "warm-up call teaches the limit");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    app.sandbox.clear_requests();

    let responses = futures_util::future::join_all(ids[1..13].iter().map(|id| contact(&app, id))).await;

    assert!(responses.iter().all(|r| r["errors"].is_null()), "{responses:?}");
    assert!(app.requests().iter().all(|r| r.status != 429), "{:?}", app.requests());
}

#[tokio::test]
async fn calls_that_would_wait_too_long_fail_fast_with_a_retry_hint() {
    let app = spawn_app(setup(&["--rate-limit", "2/10s", "--limiter-max-wait", "200ms"])).await;
    let ids = app.contact_ids();
    assert!(contact(&app, &ids[0]).await["errors"].is_null());
    assert!(contact(&app, &ids[1]).await["errors"].is_null());

    let started = Instant::now();
    let response = contact(&app, &ids[2]).await;

    assert_eq!(codes(&response), vec!["RATE_LIMITED"], "{response}");
    assert!(response["errors"][0]["extensions"]["retryAfterMs"].as_u64().is_some_and(|ms| ms > 1000), "{response}");
    assert!(started.elapsed() < Duration::from_millis(500));
    assert_eq!(app.requests().len(), 2);
}

#[tokio::test]
async fn an_exhausted_daily_budget_fails_fast_until_it_resets() {
    let app = spawn_app(setup(&["--daily-limit", "2"])).await;
    let ids = app.contact_ids();
    assert!(contact(&app, &ids[0]).await["errors"].is_null());
    assert!(contact(&app, &ids[1]).await["errors"].is_null());

    let response = contact(&app, &ids[2]).await;

    assert_eq!(codes(&response), vec!["RATE_LIMITED"]);
    assert_eq!(app.requests().len(), 2);
}

#[tokio::test]
async fn metrics_expose_upstream_calls_retries_and_operations() {
    let app = spawn_app(setup(&[])).await;
    let id = app.contact_ids()[0].clone();
    app.sandbox.add_fault(fault(json!({ "method": "GET", "path": "/contacts/*", "kind": "status", "status": 503, "count": 1 })));
    contact(&app, &id).await;

    let text = app.http.get(format!("{}/metrics", app.url)).send().await.unwrap().text().await.unwrap();

    for name in ["ghl_upstream_calls_total", "ghl_upstream_retries_total", "graphql_operations_total", "ghl_limiter_wait_seconds"] {
        assert!(text.contains(name), "missing {name} in\n{text}");
    }
    assert!(!text.contains(ghl_sandbox::WRITE_TOKEN));
}
