//! One cheap request must never take the subgraph or a location down (security review F3, F4):
//! callers that go away mid-call give back their limiter slot, permit and in-flight entry, a
//! timeout that is only an operation's own deadline never opens the circuit for everyone, and in
//! forward mode a caller's token has a budget of its own.

use std::time::{Duration, Instant};

use ghl_sandbox::Fault;
use serde_json::{json, Value};

use crate::helpers::{codes, spawn_app, Setup, TestApp};

const LOCATION: &str = "x-ghl-location-id";
const CONTACT: &str = "query($id: ID!) { contact(id: $id) { id } }";
const BY_BUSINESS: &str = "{ contactsByBusiness(businessId: \"x\", first: 1) { nodes { id } } }";

fn setup(extra: &[&str]) -> Setup {
    Setup { extra: extra.iter().map(|s| s.to_string()).collect(), ..Default::default() }
}

fn fault(value: Value) -> Fault {
    serde_json::from_value(value).expect("fault JSON")
}

/// Sends `query` and hangs up after `after`, as a client that closes its socket.
async fn send_and_hang_up(app: &TestApp, query: &str, headers: &[(&str, &str)], after: Duration) {
    let client = reqwest::Client::builder().timeout(after).build().expect("client");
    let mut request = client.post(format!("{}/graphql", app.url)).json(&json!({ "query": query }));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let sent = request.send().await;
    assert!(sent.is_err_and(|e| e.is_timeout()), "the request was meant to be still running when the caller left");
}

#[tokio::test]
async fn a_caller_that_leaves_while_queued_for_the_limiter_does_not_wedge_the_location() {
    let app = spawn_app(setup(&["--rate-limit", "5/2s", "--limiter-max-wait", "5s"])).await;
    let ids = app.contact_ids();
    let window_started = Instant::now();
    for id in &ids[..5] {
        assert_eq!(app.graphql(CONTACT, json!({ "id": id })).await["data"]["contact"]["id"], json!(id));
    }

    // The window is full: this call queues for a slot, and its caller leaves.
    send_and_hang_up(&app, BY_BUSINESS, &[], Duration::from_millis(300)).await;
    tokio::time::sleep((window_started + Duration::from_millis(2200)).saturating_duration_since(Instant::now())).await;

    let started = Instant::now();
    let response = app.graphql(CONTACT, json!({ "id": ids[5] })).await;
    assert_eq!(response["data"]["contact"]["id"], json!(ids[5]), "{response}");
    assert!(started.elapsed() < Duration::from_secs(3), "waited {:?}", started.elapsed());
}

#[tokio::test]
async fn forward_mode_garbage_callers_that_leave_do_not_lock_out_a_valid_caller() {
    let app = spawn_app(Setup { extra: vec!["--rate-limit".into(), "5/2s".into(), "--limiter-max-wait".into(), "5s".into()], ..Setup::forward() }).await;
    let garbage = [("authorization", "Bearer garbage"), (LOCATION, ghl_sandbox::LOCATION_ID)];
    let window_started = Instant::now();
    let batch: Vec<Value> = (0..5).map(|i| json!({ "query": format!("{{ contact(id: \"c{i}\") {{ id }} }}") })).collect();
    let mut request = app.http.post(format!("{}/graphql", app.url)).json(&batch);
    for (name, value) in garbage {
        request = request.header(name, value);
    }
    let filled: Value = request.send().await.expect("batch").json().await.expect("JSON");
    assert!(filled.as_array().is_some_and(|r| r.len() == 5), "{filled}");

    send_and_hang_up(&app, BY_BUSINESS, &garbage, Duration::from_millis(300)).await;
    tokio::time::sleep((window_started + Duration::from_millis(2200)).saturating_duration_since(Instant::now())).await;

    let bearer = format!("Bearer {}", ghl_sandbox::READ_TOKEN);
    let id = app.contact_ids()[0].clone();
    let started = Instant::now();
    let response = app.graphql_with(CONTACT, json!({ "id": id }), &[("authorization", &bearer), (LOCATION, ghl_sandbox::LOCATION_ID)]).await;
    assert_eq!(response["data"]["contact"]["id"], json!(id), "{response}");
    assert!(started.elapsed() < Duration::from_secs(3), "waited {:?}", started.elapsed());
}

#[tokio::test]
async fn a_caller_that_leaves_mid_call_gives_back_its_permit_and_its_shared_call() {
    let app = spawn_app(setup(&["--max-concurrency-per-location", "1", "--operation-timeout", "4s"])).await;
    app.sandbox.add_fault(fault(json!({ "method": "GET", "path": "/contacts/business/*", "kind": "latency", "latencyMs": 1000, "count": 1 })));

    send_and_hang_up(&app, BY_BUSINESS, &[], Duration::from_millis(200)).await;

    let id = app.contact_ids()[0].clone();
    let started = Instant::now();
    let response = tokio::time::timeout(Duration::from_secs(6), app.graphql(CONTACT, json!({ "id": id }))).await.expect("a permit within the deadline");
    assert_eq!(response["data"]["contact"]["id"], json!(id), "{response}");
    assert!(started.elapsed() < Duration::from_millis(2500), "waited {:?} for the permit", started.elapsed());
    // The abandoned call finished and left the in-flight table: the same read runs anew.
    let again = tokio::time::timeout(Duration::from_secs(5), app.graphql(BY_BUSINESS, json!({}))).await.expect("not stuck behind the abandoned call");
    assert!(again["data"]["contactsByBusiness"]["nodes"].is_array(), "{again}");
    let business_calls = app.requests().iter().filter(|r| r.path == "/contacts/business/x").count();
    assert_eq!(business_calls, 2);
}

#[tokio::test]
async fn operations_that_run_out_of_their_own_time_never_open_the_circuit() {
    let app = spawn_app(Setup {
        extra: ["--operation-timeout", "300ms", "--breaker-threshold", "2", "--breaker-cool-down", "30s", "--retry-max-attempts", "1"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        ..Setup::write_without_tasks_search()
    })
    .await;
    let ids = app.contact_ids();
    app.sandbox.add_fault(fault(json!({ "method": "GET", "path": "/contacts/*/notes/*", "kind": "latency", "latencyMs": 1000 })));
    for id in &ids[..3] {
        let response = app.graphql("query($id: ID!) { note(contactId: $id, id: \"n1\") { id } }", json!({ "id": id })).await;
        assert_eq!(codes(&response), vec!["UPSTREAM_UNAVAILABLE"], "{response}");
    }

    let response = app.graphql(CONTACT, json!({ "id": ids[3] })).await;
    assert_eq!(response["data"]["contact"]["id"], json!(ids[3]), "the circuit stayed closed: {response}");
}

#[tokio::test]
async fn forward_mode_callers_with_other_tokens_neither_spend_nor_shrink_a_locations_budget() {
    let app = spawn_app(Setup { extra: vec!["--rate-limit".into(), "3/10s".into(), "--limiter-max-wait".into(), "200ms".into()], ..Setup::forward() }).await;
    let garbage = [("authorization", "Bearer garbage"), (LOCATION, ghl_sandbox::LOCATION_ID)];
    for i in 0..3 {
        let response = app.graphql_with("query($id: ID!) { contact(id: $id) { id } }", json!({ "id": format!("c{i}") }), &garbage).await;
        assert_eq!(codes(&response), vec!["UNAUTHENTICATED"], "{response}");
    }

    let bearer = format!("Bearer {}", ghl_sandbox::READ_TOKEN);
    let valid = [("authorization", bearer.as_str()), (LOCATION, ghl_sandbox::LOCATION_ID)];
    for id in &app.contact_ids()[..3] {
        let response = app.graphql_with(CONTACT, json!({ "id": id }), &valid).await;
        assert_eq!(response["data"]["contact"]["id"], json!(id), "{response}");
    }
    // The same garbage token is still paced on its own budget.
    let response = app.graphql_with(CONTACT, json!({ "id": "c9" }), &garbage).await;
    assert_eq!(codes(&response), vec!["RATE_LIMITED"], "{response}");
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let app = spawn_app(Setup::forward()).await;
    let id = app.contact_ids()[0].clone();
    let bearer = format!("BEARER {}", ghl_sandbox::READ_TOKEN);
    let response = app.graphql_with(CONTACT, json!({ "id": id }), &[("authorization", &bearer), (LOCATION, ghl_sandbox::LOCATION_ID)]).await;
    assert_eq!(response["data"]["contact"]["id"], json!(id), "{response}");
}
