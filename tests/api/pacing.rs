//! The limiter against a sandbox that enforces its own limit: bursts are paced to GHL's budget,
//! operations under way finish first, and a refused operation spends no upstream call.

use std::time::{Duration, Instant};

use ghl_sandbox::SandboxConfig;
use serde_json::{json, Value};

use crate::helpers::{codes, spawn_app, Setup};

const CONTACT_AND_TASKS: &str = "query($id: ID!) { contact(id: $id) { id tasks { id } } }";

/// The burst: 100 queries of a contact and its tasks (2 calls each, no tasks search) on
/// the default budget (100 per 10 s, 10 s maximum wait) against GHL enforcing 20 per second.
#[tokio::test]
async fn a_burst_is_paced_to_ghls_limit_and_refused_queries_spend_no_call() {
    let setup = Setup {
        extra: vec!["--rate-limit".into(), "marketplace".into()],
        sandbox: SandboxConfig { rate_limit: "20/1s".parse().unwrap(), contacts: 150, ..Default::default() },
        ..Setup::write_without_tasks_search()
    };
    let app = spawn_app(setup).await;
    let ids = app.contact_ids();
    let warm_up = app.graphql(CONTACT_AND_TASKS, json!({ "id": ids[0] })).await;
    assert!(warm_up["errors"].is_null(), "the first answer teaches GHL's limit: {warm_up}");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    app.sandbox.clear_requests();

    let burst = &ids[1..101];
    let started = Instant::now();
    let responses: Vec<Value> = futures_util::future::join_all(burst.iter().map(|id| app.graphql(CONTACT_AND_TASKS, json!({ "id": id })))).await;
    let took = started.elapsed();

    let requests = app.requests();
    assert!(requests.iter().all(|r| r.status != 429), "GHL answered 429: {:?}", requests.iter().filter(|r| r.status == 429).collect::<Vec<_>>());
    let (mut answered, mut refused) = (0, 0);
    for (id, response) in burst.iter().zip(&responses) {
        let calls = requests.iter().filter(|r| r.path.starts_with(&format!("/contacts/{id}"))).count();
        if response["errors"].is_null() {
            assert_eq!(response["data"]["contact"]["id"], json!(id), "{response}");
            assert_eq!(calls, 2, "{id}: contact and tasks");
            answered += 1;
        } else {
            assert_eq!(codes(response), vec!["RATE_LIMITED"], "{response}");
            let message = response["errors"][0]["message"].as_str().unwrap_or_default();
            assert!(message.contains("rate limiter refused") && !message.contains("429"), "says who refused: {message}");
            assert_eq!(response["data"]["contact"], Value::Null, "{response}");
            assert_eq!(calls, 0, "{id}: a refused query made {calls} upstream calls");
            refused += 1;
        }
    }
    eprintln!("burst of 100: {answered} answered, {refused} refused, {} upstream calls in {took:?}", requests.len());
    assert!(answered >= 45, "{answered} answered, {refused} refused");
    assert!(took < Duration::from_secs(12), "{took:?}");
}

/// Later calls of operations under way go before the first calls of new ones: once its contact
/// is fetched, a query's tasks are not starved by queries that arrived after it.
#[tokio::test]
async fn an_operation_under_way_finishes_before_new_ones_start() {
    let setup = Setup { extra: vec!["--rate-limit".into(), "4/1s".into(), "--limiter-max-wait".into(), "30s".into()], ..Setup::write_without_tasks_search() };
    let app = spawn_app(setup).await;
    let ids = app.contact_ids();
    let responses: Vec<Value> = futures_util::future::join_all(ids[..8].iter().map(|id| app.graphql(CONTACT_AND_TASKS, json!({ "id": id })))).await;
    assert!(responses.iter().all(|r| r["errors"].is_null()), "{responses:?}");

    // With 4 calls per second, the first 4 contacts go at once; their tasks must come next, before
    // the 4 queries still waiting start (first come, first served would start them in between).
    let order: Vec<String> = app.requests().iter().map(|r| r.path.trim_start_matches("/contacts/").split('/').next().unwrap_or_default().to_owned()).collect();
    let first_call = |id: &str| order.iter().position(|p| p == id).expect("contact fetched");
    for id in &ids[..8] {
        let (first, last) = (first_call(id), order.iter().rposition(|p| p == id).expect("tasks fetched"));
        let started_between = ids[..8].iter().filter(|other| (first + 1..last).contains(&first_call(other))).count();
        assert!(started_between <= 3, "{id}: {started_between} queries started between its two calls: {order:?}");
    }
}
