use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{spawn_app, Setup};

const NESTED: &str = "id name tasks { id title completed } notes { id body } appointments { id title }";

/// 20 distinct contacts, each asked for twice under different aliases.
fn twenty_contacts_twice(ids: &[String]) -> String {
    let fields: Vec<String> = ids
        .iter()
        .take(20)
        .enumerate()
        .flat_map(|(i, id)| [format!("a{i}: contact(id: \"{id}\") {{ {NESTED} }}"), format!("b{i}: contact(id: \"{id}\") {{ {NESTED} }}")])
        .collect();
    format!("{{ {} }}", fields.join("\n"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_contacts_with_repeating_aliases_make_one_call_per_endpoint_and_contact() {
    let app = spawn_app(Setup::read_only()).await;
    let ids = app.contact_ids();

    let response = app.graphql(&twenty_contacts_twice(&ids), json!({})).await;

    assert_eq!(response["errors"], Value::Null, "{response}");
    assert_eq!(response["data"]["a7"], response["data"]["b7"]);
    let calls = app.calls();
    assert_eq!(calls.len(), 80, "{calls:#?}");
    assert!(calls.values().all(|&n| n == 1), "{calls:#?}");
    for id in ids.iter().take(20) {
        for suffix in ["", "/tasks", "/notes", "/appointments"] {
            assert_eq!(calls.get(&format!("GET /contacts/{id}{suffix}")), Some(&1), "missing {id}{suffix}");
        }
    }
}

// Multi-threaded like the real server, where a batch could start on the other worker too early.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_of_many_contacts_load_through_the_location_search_when_the_scope_allows() {
    let per_contact = spawn_app(Setup::read_only()).await;
    // A generous batch window keeps this exact while the whole suite loads the machine.
    let searched = spawn_app(Setup { extra: vec!["--batch-delay".into(), "25ms".into()], ..Default::default() }).await;
    let ids = per_contact.contact_ids();
    assert_eq!(ids, searched.contact_ids(), "both sandboxes are seeded alike");
    let query = twenty_contacts_twice(&ids);

    let expected = per_contact.graphql(&query, json!({})).await;
    let actual = searched.graphql(&query, json!({})).await;

    assert_eq!(actual["errors"], Value::Null, "{actual}");
    let tasks = |r: &Value| (0..20).map(|i| r["data"][format!("a{i}")]["tasks"].clone()).collect::<Vec<_>>();
    let sort = |mut v: Vec<Value>| {
        for list in &mut v {
            if let Some(items) = list.as_array_mut() {
                items.sort_by_key(|t| t["id"].as_str().unwrap_or("").to_owned());
            }
        }
        v
    };
    assert_eq!(sort(tasks(&actual)), sort(tasks(&expected)));
    let calls = searched.calls();
    let task_gets = calls.keys().filter(|k| k.starts_with("GET") && k.ends_with("/tasks")).count();
    let searches = calls.get(&format!("POST /locations/{}/tasks/search", ghl_sandbox::LOCATION_ID)).copied().unwrap_or(0);
    assert_eq!(task_gets, 0, "{calls:#?}");
    let total_tasks: usize = tasks(&actual).iter().map(|t| t.as_array().map_or(0, Vec::len)).sum();
    // Contacts resolve in waves; on a loaded machine a straggler wave may miss the batch window
    // and take a search of its own, but never one call per contact.
    assert!((1..=4).contains(&searches), "{searches} searches for {total_tasks} tasks");
}

#[tokio::test]
async fn entities_with_repeated_representations_fetch_each_contact_once() {
    let app = spawn_app(Setup::read_only()).await;
    let ids: Vec<String> = app.contact_ids().into_iter().take(10).collect();
    let representations: Vec<Value> = ids.iter().chain(ids.iter()).chain(ids.iter().take(3)).map(|id| json!({ "__typename": "Contact", "id": id })).collect();

    let response = app
        .graphql("query($r: [_Any!]!) { _entities(representations: $r) { ... on Contact { id email notes { id } } } }", json!({ "r": representations }))
        .await;

    assert_eq!(response["errors"], Value::Null, "{response}");
    let entities = response["data"]["_entities"].as_array().expect("entities");
    assert_eq!(entities.len(), 23);
    for (entity, rep) in entities.iter().zip(&representations) {
        assert_eq!(entity["id"], rep["id"]);
    }
    let calls: BTreeMap<String, usize> = app.calls();
    assert_eq!(calls.len(), 20, "{calls:#?}");
    assert!(calls.values().all(|&n| n == 1), "{calls:#?}");
}

// The batch delay is only a bound: a search starts once the resolvers are idle with no contact
// read in flight (with a fixed 100 ms delay the nested query took over 100 ms), and still waits
// for contacts that are on their way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_search_starts_once_the_contacts_are_in_not_after_the_batch_delay() {
    let app = spawn_app(Setup { extra: vec!["--batch-delay".into(), "100ms".into()], ..Default::default() }).await;
    let ids = app.contact_ids();
    let search = format!("POST /locations/{}/tasks/search", ghl_sandbox::LOCATION_ID);

    let started = std::time::Instant::now();
    let nested = app.graphql(&format!("{{ contact(id: \"{}\") {{ {NESTED} }} }}", ids[0]), json!({})).await;
    let nested_took = started.elapsed();
    let nested_calls = app.calls();
    app.sandbox.clear_requests();
    let twenty = app.graphql(&twenty_contacts_twice(&ids), json!({})).await;
    let twenty_calls = app.calls();

    assert_eq!(nested["errors"], Value::Null, "{nested}");
    assert_eq!(twenty["errors"], Value::Null, "{twenty}");
    assert_eq!(nested_calls.get(&search), Some(&1), "{nested_calls:#?}");
    // 20 contacts arrive one by one (a search each if it started at the first idle moment); it
    // waits for the last of them, unless a loaded machine stretches that past the 100 ms bound.
    let searches = twenty_calls.get(&search).copied().unwrap_or(0);
    assert!((1..=4).contains(&searches), "{twenty_calls:#?}");
    assert_eq!(twenty_calls.keys().filter(|k| k.ends_with("/tasks")).count(), 0, "{twenty_calls:#?}");
    assert!(nested_took < Duration::from_millis(100), "one contact's tasks waited {nested_took:?}");
}

// 50 contacts of one page ask for their tasks in one wave; a list yields part-way through (its
// futures wake themselves), which must not start the search early. The delay is the longest
// allowed, so a loaded machine pausing the resolvers (CI runs tests side by side) cannot split the
// wave by its deadline: only a wrongly seen idle moment can.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_of_a_page_of_fifty_contacts_take_three_searches() {
    let app = spawn_app(Setup { extra: vec!["--batch-delay".into(), "100ms".into()], ..Default::default() }).await;

    let response = app.graphql("{ contacts(first: 50) { nodes { id tasks { id } } } }", json!({})).await;

    assert_eq!(response["errors"], Value::Null, "{response}");
    assert_eq!(response["data"]["contacts"]["nodes"].as_array().map(Vec::len), Some(50));
    let calls = app.calls();
    let searches = calls.get(&format!("POST /locations/{}/tasks/search", ghl_sandbox::LOCATION_ID)).copied().unwrap_or(0);
    assert_eq!(searches, 3, "20 contacts a search: {calls:#?}");
    assert_eq!(calls.len(), 2, "the page and the searches only: {calls:#?}");
}
