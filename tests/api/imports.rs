//! Contact imports over GraphQL: a job started by a mutation reports its progress, counts and
//! per-row results (paged), can be followed by subscription, and belongs to its caller alone.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::{codes, spawn_app, Setup, TestApp};

const START: &str = "mutation($input: [CreateContactInput!]!, $options: ContactImportOptions) {
  startContactImport(input: $input, options: $options) { id status counts { total pending } }
}";
const JOB: &str = "query($id: ID!, $after: String) {
  contactImport(id: $id) {
    id status etaSeconds reason
    counts { created updated unchanged failed pending total }
    results(first: 10, after: $after) { pageInfo { hasNextPage endCursor } nodes { row key contactId outcome message } }
  }
}";
const KEY_A: &str = "import-caller-a-0123456789";
const KEY_B: &str = "import-caller-b-0123456789";

/// 25 new contacts, 2 repeats of their emails (updates), 3 invalid rows: 30 in all.
fn rows(tag: &str) -> Value {
    let mut rows: Vec<Value> = (0..25).map(|i| json!({ "email": format!("{tag}{i}@import.test"), "firstName": format!("Row {i}") })).collect();
    rows.push(json!({ "email": format!("{tag}0@import.test"), "firstName": "Again" }));
    rows.push(json!({ "email": format!("{tag}1@import.test"), "lastName": "Again" }));
    rows.push(json!({ "email": "not-an-email", "firstName": "Bad" }));
    rows.push(json!({ "phone": "12", "firstName": "Bad" }));
    rows.push(json!({ "firstName": "No key" }));
    Value::Array(rows)
}

async fn start(app: &TestApp, headers: &[(&str, &str)], tag: &str) -> String {
    let started = app.graphql_with(START, json!({ "input": rows(tag) }), headers).await;
    assert_eq!(started["data"]["startContactImport"]["counts"]["total"], 30, "{started}");
    started["data"]["startContactImport"]["id"].as_str().expect("an id").to_owned()
}

async fn job(app: &TestApp, headers: &[(&str, &str)], id: &str, after: Option<&str>) -> Value {
    let answer = app.graphql_with(JOB, json!({ "id": id, "after": after }), headers).await;
    assert!(answer["errors"].is_null(), "{answer}");
    answer["data"]["contactImport"].clone()
}

/// Polls until the job has finished; every state seen on the way.
async fn until_finished(app: &TestApp, headers: &[(&str, &str)], id: &str) -> Vec<Value> {
    let started = Instant::now();
    let mut seen = Vec::new();
    loop {
        let now = job(app, headers, id, None).await;
        let running = now["status"] == "RUNNING";
        seen.push(now);
        if !running {
            return seen;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "the import did not finish: {:?}", seen.last());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn upserts(app: &TestApp) -> usize {
    app.requests().iter().filter(|r| r.path == "/contacts/upsert").count()
}

#[tokio::test]
async fn an_import_job_reports_progress_counts_and_paged_per_row_results() {
    // 20 calls a second: the 27 upserts take over a second, long enough to watch.
    let app = spawn_app(Setup { extra: vec!["--rate-limit".into(), "20/1s".into()], ..Setup::default() }).await;
    let id = start(&app, &[], "progress").await;

    let seen = until_finished(&app, &[], &id).await;

    let running = seen.iter().find(|s| s["status"] == "RUNNING" && s["counts"]["pending"].as_i64() > Some(0)).expect("seen running");
    assert!(running["etaSeconds"].as_i64() >= Some(1), "27 rows at 10 a second (half of 20/s): {running}");
    let done = seen.last().unwrap();
    assert_eq!(done["status"], "COMPLETED", "{done}");
    assert_eq!(done["counts"], json!({ "created": 25, "updated": 2, "unchanged": 0, "failed": 3, "pending": 0, "total": 30 }));
    assert_eq!(upserts(&app), 27, "each valid row once");
    let first = &done["results"];
    assert_eq!(first["nodes"].as_array().unwrap().len(), 10);
    assert_eq!(first["pageInfo"]["hasNextPage"], true);
    assert_eq!(first["nodes"][0]["outcome"], "CREATED");
    assert!(first["nodes"][0]["contactId"].is_string());
    let mut after = first["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    let mut last_page = Value::Null;
    for _ in 0..2 {
        last_page = job(&app, &[], &id, after.as_deref()).await["results"].clone();
        after = last_page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    let nodes = last_page["nodes"].as_array().unwrap();
    assert_eq!((nodes[0]["row"].as_i64(), last_page["pageInfo"]["hasNextPage"].as_bool()), (Some(21), Some(false)));
    assert_eq!(nodes[5]["outcome"], "UPDATED", "row 26 repeats row 1's email");
    assert!(nodes[7]["message"].as_str().is_some_and(|m| m.contains("not an email")), "{}", nodes[7]);
    assert!(nodes[9]["message"].as_str().is_some_and(|m| m.contains("email or a phone")), "{}", nodes[9]);
}

#[tokio::test]
async fn a_subscriber_follows_an_import_until_it_completes() {
    let app = spawn_app(Setup { extra: vec!["--rate-limit".into(), "20/1s".into()], ..Setup::default() }).await;
    let id = start(&app, &[], "followed").await;
    let body = json!({ "query": "subscription($id: ID!) { contactImportProgress(id: $id) { status counts { pending created } } }", "variables": { "id": id } });

    let response = app.http.post(format!("{}/graphql", app.url)).header("accept", "text/event-stream").json(&body).send().await.unwrap();
    let text = tokio::time::timeout(Duration::from_secs(20), response.text()).await.expect("the stream ends with the job").unwrap();

    let events: Vec<Value> = text
        .split("\n\n")
        .filter(|block| block.lines().any(|l| l == "event: next"))
        .map(|block| {
            serde_json::from_str(&block.lines().filter_map(|l| l.strip_prefix("data: ").or_else(|| l.strip_prefix("data:"))).collect::<String>()).unwrap()
        })
        .collect();
    assert!(events.len() >= 2, "{text}");
    assert_eq!(events[0]["data"]["contactImportProgress"]["status"], "RUNNING");
    let last = &events.last().unwrap()["data"]["contactImportProgress"];
    assert_eq!(last["status"], "COMPLETED", "{text}");
    assert_eq!(last["counts"], json!({ "pending": 0, "created": 25 }));
}

#[tokio::test]
async fn a_job_of_one_caller_is_invisible_to_another() {
    let app = spawn_app(Setup { extra: vec!["--api-keys".into(), format!("{KEY_A},{KEY_B}")], ..Setup::default() }).await;
    let (a, b) = ([("x-api-key", KEY_A)], [("x-api-key", KEY_B)]);
    let id = start(&app, &a, "owned").await;

    let seen_by_b = app.graphql_with(JOB, json!({ "id": id }), &b).await;
    let cancelled_by_b = app.graphql_with("mutation($id: ID!) { cancelContactImport(id: $id) { status } }", json!({ "id": id }), &b).await;
    let followed_by_b = app
        .http
        .post(format!("{}/graphql", app.url))
        .header("accept", "text/event-stream")
        .header("x-api-key", KEY_B)
        .json(&json!({ "query": "subscription($id: ID!) { contactImportProgress(id: $id) { status } }", "variables": { "id": id } }))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    assert_eq!(seen_by_b["data"]["contactImport"], Value::Null, "{seen_by_b}");
    assert_eq!(codes(&cancelled_by_b), ["NOT_FOUND"], "{cancelled_by_b}");
    assert!(followed_by_b.contains("NOT_FOUND") && !followed_by_b.contains("RUNNING"), "{followed_by_b}");
    let done = until_finished(&app, &a, &id).await;
    assert_eq!(done.last().unwrap()["counts"]["created"], 25, "caller A's job ran untouched");
}

#[tokio::test]
async fn an_import_needs_the_write_scope_and_bounded_input() {
    let read_only = spawn_app(Setup::read_only()).await;
    let refused = read_only.graphql(START, json!({ "input": rows("scope") })).await;
    assert_eq!(codes(&refused), ["FORBIDDEN"], "{refused}");
    assert_eq!(upserts(&read_only), 0);

    let app = spawn_app(Setup::default()).await;
    let empty = app.graphql(START, json!({ "input": [] })).await;
    assert_eq!(codes(&empty), ["BAD_USER_INPUT"], "{empty}");
    let dry = app.graphql(START, json!({ "input": rows("dry"), "options": { "dryRun": true } })).await;
    let id = dry["data"]["startContactImport"]["id"].as_str().unwrap().to_owned();
    let done = until_finished(&app, &[], &id).await;
    assert_eq!(done.last().unwrap()["counts"]["failed"], 3);
    assert_eq!(upserts(&app), 0, "a dry run sends nothing");
}
