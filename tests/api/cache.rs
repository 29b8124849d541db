//! The shared cache (`--cache-ttl`): a repeated query costs no upstream call, our own writes
//! update exactly what they change, "no such object" is remembered briefly, and forward-mode
//! callers with different tokens never share an entry. The sandbox's request log is the oracle.

use serde_json::{json, Value};

use crate::helpers::{spawn_app, Setup};

const NESTED: &str = "query($id: ID!) { contact(id: $id) { id name tags tasks { id title } notes { id body } appointments { id } } }";

fn cached(setup: Setup) -> Setup {
    let mut extra = setup.extra.clone();
    extra.extend(["--cache-ttl".to_owned(), "5m".to_owned()]);
    Setup { extra, ..setup }
}

#[tokio::test]
async fn a_repeated_nested_query_makes_no_upstream_call() {
    let app = spawn_app(cached(Setup::read_only())).await;
    let id = app.contact_ids()[0].clone();

    let first = app.graphql(NESTED, json!({ "id": id })).await;
    let calls = app.requests().len();
    let second = app.graphql(NESTED, json!({ "id": id })).await;

    assert_eq!(first["errors"], Value::Null, "{first}");
    assert_eq!(calls, 4, "contact, tasks, notes, appointments: {:?}", app.calls());
    assert_eq!(second, first);
    assert_eq!(app.requests().len(), calls, "the second query was served from the cache: {:?}", app.calls());
}

#[tokio::test]
async fn without_a_ttl_nothing_is_kept() {
    let app = spawn_app(Setup { extra: vec!["--cache-ttl".into(), "0s".into()], ..Setup::read_only() }).await;
    let id = app.contact_ids()[0].clone();

    app.graphql(NESTED, json!({ "id": id })).await;
    app.graphql(NESTED, json!({ "id": id })).await;

    assert_eq!(app.requests().len(), 8, "{:?}", app.calls());
}

#[tokio::test]
async fn our_own_writes_update_the_cached_entries_they_change() {
    let app = spawn_app(cached(Setup::write_without_tasks_search())).await;
    let id = app.contact_ids()[2].clone();
    let before = app.graphql(NESTED, json!({ "id": id })).await;
    assert_eq!(before["errors"], Value::Null, "{before}");

    let written = app
        .graphql(
            "mutation($id: ID!) {
               task: createTask(contactId: $id, input: { title: \"Cached call back\", dueDate: \"2026-12-01T09:00:00Z\" }) { id }
               note: createNote(contactId: $id, input: { body: \"Cached note\" }) { id }
               tagged: addContactTags(id: $id, tags: [\"cached-tag\"]) { id tags }
               renamed: updateContact(id: $id, input: { firstName: \"Renamed\" }) { id }
             }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(written["errors"], Value::Null, "{written}");
    app.sandbox.clear_requests();
    let after = app.graphql(NESTED, json!({ "id": id })).await;

    assert!(app.requests().is_empty(), "every entry was written through: {:?}", app.calls());
    let ids = |list: &Value| list.as_array().expect("list").iter().map(|t| t["id"].clone()).collect::<Vec<_>>();
    let contact = &after["data"]["contact"];
    assert!(ids(&contact["tasks"]).contains(&written["data"]["task"]["id"]), "{after}");
    assert!(ids(&contact["notes"]).contains(&written["data"]["note"]["id"]), "{after}");
    assert!(contact["name"].as_str().is_some_and(|n| n.starts_with("Renamed")), "{after}");
    assert_eq!(contact["tags"], written["data"]["tagged"]["tags"]);

    let deleted = app.graphql("mutation($id: ID!) { deleteContact(id: $id) }", json!({ "id": id })).await;
    assert_eq!(deleted["data"]["deleteContact"], json!(true), "{deleted}");
    app.sandbox.clear_requests();
    let gone = app.graphql("query($id: ID!) { contact(id: $id) { id } }", json!({ "id": id })).await;
    assert_eq!(gone["data"]["contact"], Value::Null, "{gone}");
    assert!(app.requests().is_empty(), "the deletion is known: {:?}", app.calls());
}

#[tokio::test]
async fn a_repeated_page_is_kept_until_a_contact_changes() {
    let app = spawn_app(cached(Setup::write_without_tasks_search())).await;
    let page = "{ contacts(first: 3) { nodes { id name } } }";

    let first = app.graphql(page, json!({})).await;
    let calls = app.requests().len();
    let again = app.graphql(page, json!({})).await;
    assert_eq!(first["errors"], Value::Null, "{first}");
    assert_eq!(calls, 1, "{:?}", app.calls());
    assert_eq!(again, first);
    assert_eq!(app.requests().len(), calls, "the page was kept: {:?}", app.calls());

    let id = first["data"]["contacts"]["nodes"][0]["id"].as_str().expect("an id").to_owned();
    let renamed = app.graphql("mutation($id: ID!) { updateContact(id: $id, input: { firstName: \"Paged\" }) { id } }", json!({ "id": id })).await;
    assert_eq!(renamed["errors"], Value::Null, "{renamed}");
    app.sandbox.clear_requests();
    let after = app.graphql(page, json!({})).await;
    assert_eq!(app.requests().len(), 1, "a contact write drops the kept pages: {:?}", app.calls());
    assert!(after["data"]["contacts"]["nodes"][0]["name"].as_str().is_some_and(|n| n.starts_with("Paged")), "{after}");
}

#[tokio::test]
async fn a_missing_contact_is_remembered_briefly() {
    let app = spawn_app(cached(Setup::read_only())).await;
    for _ in 0..3 {
        let response = app.graphql("{ contact(id: \"noSuchContact0000001\") { id } }", json!({})).await;
        assert_eq!(response["data"]["contact"], Value::Null, "{response}");
    }
    assert_eq!(app.requests().len(), 1, "{:?}", app.calls());
}

#[tokio::test]
async fn failures_are_never_kept() {
    let app = spawn_app(cached(Setup::read_only())).await;
    let id = app.contact_ids()[0].clone();
    app.sandbox
        .add_fault(serde_json::from_value(json!({ "method": "GET", "path": "/contacts/*", "kind": "status", "status": 500, "count": 1 })).expect("fault"));

    let failed = app.graphql("query($id: ID!) { contact(id: $id) { id } }", json!({ "id": id })).await;
    let read = app.graphql("query($id: ID!) { contact(id: $id) { id } }", json!({ "id": id })).await;

    assert!(failed["errors"].is_array(), "{failed}");
    assert_eq!(read["data"]["contact"]["id"], json!(id), "{read}");
}

#[tokio::test]
async fn forward_mode_callers_with_different_tokens_never_share_an_entry() {
    let app = spawn_app(cached(Setup::forward())).await;
    let id = app.contact_ids()[0].clone();
    let as_caller =
        |token: &str| vec![("authorization".to_owned(), format!("Bearer {token}")), ("x-ghl-location-id".to_owned(), ghl_sandbox::LOCATION_ID.to_owned())];
    let query = "query($id: ID!) { contact(id: $id) { id email } }";
    let ask = |headers: Vec<(String, String)>| {
        let app = &app;
        let id = id.clone();
        async move {
            let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            app.graphql_with(query, json!({ "id": id }), &headers).await
        }
    };

    let read = ask(as_caller(ghl_sandbox::READ_TOKEN)).await;
    let again = ask(as_caller(ghl_sandbox::READ_TOKEN)).await;
    let stranger = ask(as_caller("a-token-ghl-refuses")).await;
    let other = ask(as_caller(ghl_sandbox::WRITE_TOKEN)).await;

    assert_eq!(read["data"]["contact"]["id"], json!(id), "{read}");
    assert_eq!(again, read);
    assert_eq!(stranger["data"]["contact"], Value::Null, "a refused token never sees the cached contact: {stranger}");
    assert!(stranger["errors"].is_array(), "{stranger}");
    assert_eq!(other["data"]["contact"]["id"], json!(id), "{other}");
    let contact_gets = app.requests().iter().filter(|r| r.path == format!("/contacts/{id}")).count();
    assert_eq!(contact_gets, 3, "one per token: {:?}", app.calls());
}

#[tokio::test]
async fn cache_control_lets_a_router_keep_clean_cached_queries_only() {
    let app = spawn_app(cached(Setup::write_without_tasks_search())).await;
    let id = app.contact_ids()[0].clone();
    let cache_control = |query: &'static str, variables: Value| {
        let app = &app;
        async move {
            let response = app.http.post(format!("{}/graphql", app.url)).json(&json!({ "query": query, "variables": variables })).send().await.expect("sent");
            response.headers().get("cache-control").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned()
        }
    };

    assert_eq!(cache_control(NESTED, json!({ "id": id })).await, "private, max-age=300", "a clean query, fetched or cached");
    assert_eq!(cache_control(NESTED, json!({ "id": id })).await, "private, max-age=300");
    assert_eq!(cache_control("{ contact(id: \"noSuchContact0000001\") { id } }", json!({})).await, "private, max-age=30", "a miss is kept shortly");
    assert_eq!(cache_control("{ contacts(first: 2) { nodes { id } } }", json!({})).await, "private, max-age=30", "pages are kept shortly");
    assert_eq!(cache_control("query($id: ID!) { contact(id: $id) { id nope } }", json!({ "id": id })).await, "no-store", "errors");
    assert_eq!(cache_control("mutation($id: ID!) { addContactTags(id: $id, tags: [\"x\"]) { id } }", json!({ "id": id })).await, "no-store", "mutations");

    let uncached = spawn_app(Setup::read_only()).await;
    let response =
        uncached.http.post(format!("{}/graphql", uncached.url)).json(&json!({ "query": NESTED, "variables": { "id": id } })).send().await.expect("sent");
    assert_eq!(response.headers()["cache-control"], "no-store", "caching off");
}
