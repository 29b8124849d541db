//! The data layer fetches each (entity, id) at most once per request, on every path: contacts,
//! tasks (per contact and through the search), notes, appointments, single tasks and notes,
//! entity references, and reads after a mutation in the same request.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::helpers::{spawn_app, Setup, TestApp};

/// A seeded contact with a task and a note (read before the measured request, then forgotten).
async fn a_task_and_a_note(app: &TestApp) -> (String, String, String) {
    for contact in app.contact_ids() {
        let found = app.graphql("query($c: ID!) { contact(id: $c) { tasks { id } notes { id } } }", json!({ "c": contact })).await;
        let first = |list: &str| found["data"]["contact"][list][0]["id"].as_str().map(str::to_owned);
        if let (Some(task), Some(note)) = (first("tasks"), first("notes")) {
            app.sandbox.clear_requests();
            return (contact, task, note);
        }
    }
    panic!("no seeded contact has both a task and a note");
}

fn assert_each_call_once(calls: &BTreeMap<String, usize>) {
    assert!(!calls.is_empty());
    assert!(calls.values().all(|&n| n == 1), "{calls:#?}");
}

/// Every path that can reach contact `$c`, its lists, its task `$t` and note `$n`, twice or more.
const EVERY_PATH: &str = "query($c: ID!, $t: ID!, $n: ID!, $r: [_Any!]!) {
  a: contact(id: $c) { id tasks { id contact { id notes { id } } } notes { id contact { id appointments { id } } } appointments { id } }
  b: contact(id: $c) { name tasks { title } notes { body } appointments { title } }
  t1: task(contactId: $c, id: $t) { id contact { id tasks { id } } }
  t2: task(contactId: $c, id: $t) { title }
  n1: note(contactId: $c, id: $n) { id contact { id notes { id } } }
  n2: note(contactId: $c, id: $n) { body }
  _entities(representations: $r) { ... on Contact { id email tasks { id } notes { id } } }
}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_read_path_fetches_each_entity_once_per_request_with_per_contact_tasks() {
    let app = spawn_app(Setup::read_only()).await;
    let (contact, task, note) = a_task_and_a_note(&app).await;
    let representations = json!([{ "__typename": "Contact", "id": contact }, { "__typename": "Contact", "id": contact }]);

    let response = app.graphql(EVERY_PATH, json!({ "c": contact, "t": task, "n": note, "r": representations })).await;

    assert_eq!(response["errors"], Value::Null, "{response}");
    assert_eq!(response["data"]["t1"]["id"], json!(task));
    assert_eq!(response["data"]["n1"]["id"], json!(note));
    assert_eq!(response["data"]["_entities"][1]["id"], json!(contact));
    let calls = app.calls();
    assert_each_call_once(&calls);
    for suffix in ["", "/tasks", "/notes", "/appointments", &format!("/tasks/{task}"), &format!("/notes/{note}")] {
        assert_eq!(calls.get(&format!("GET /contacts/{contact}{suffix}")), Some(&1), "{suffix}: {calls:#?}");
    }
    assert_eq!(calls.len(), 6, "{calls:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_read_path_fetches_each_entity_once_per_request_with_the_tasks_search() {
    let app = spawn_app(Setup::default()).await;
    let (contact, task, note) = a_task_and_a_note(&app).await;
    let representations = json!([{ "__typename": "Contact", "id": contact }]);

    let response = app.graphql(EVERY_PATH, json!({ "c": contact, "t": task, "n": note, "r": representations })).await;

    assert_eq!(response["errors"], Value::Null, "{response}");
    let ids = |list: &Value| list.as_array().expect("list").iter().map(|t| t["id"].clone()).collect::<Vec<_>>();
    assert_eq!(ids(&response["data"]["a"]["tasks"]), ids(&response["data"]["t1"]["contact"]["tasks"]));
    assert!(ids(&response["data"]["a"]["tasks"]).contains(&json!(task)));
    let calls = app.calls();
    assert_each_call_once(&calls);
    assert_eq!(calls.get(&format!("POST /locations/{}/tasks/search", ghl_sandbox::LOCATION_ID)), Some(&1), "{calls:#?}");
    assert_eq!(calls.get(&format!("GET /contacts/{contact}/tasks")), None, "{calls:#?}");
}

#[tokio::test]
async fn reads_after_mutations_in_the_same_request_see_the_writes_without_fetching_again() {
    let app = spawn_app(Setup::write_without_tasks_search()).await;
    let (contact, seeded_task, _) = a_task_and_a_note(&app).await;

    let response = app
        .graphql(
            "mutation($c: ID!, $t: ID!) {
               created: createTask(contactId: $c, input: { title: \"Call back\", dueDate: \"2026-12-01T09:00:00Z\" }) { id contact { id name tasks { id } } }
               tagged: addContactTags(id: $c, tags: [\"once\"]) { id name tags tasks { id } }
               removed: deleteTask(contactId: $c, id: $t)
               noted: createNote(contactId: $c, input: { body: \"Site visit\" }) { id contact { name tags tasks { id } notes { id } } }
               updated: updateContact(id: $c, input: { city: \"Leeds\" }) { city tags }
               again: removeContactTags(id: $c, tags: [\"once\"]) { name city tags }
             }",
            json!({ "c": contact, "t": seeded_task }),
        )
        .await;

    assert_eq!(response["errors"], Value::Null, "{response}");
    let data = &response["data"];
    let created = data["created"]["id"].clone();
    let ids = |list: &Value| list.as_array().expect("list").iter().map(|t| t["id"].clone()).collect::<Vec<_>>();
    assert!(ids(&data["created"]["contact"]["tasks"]).contains(&created));
    assert!(data["tagged"]["tags"].as_array().unwrap().contains(&json!("once")));
    assert_eq!(data["tagged"]["name"], data["created"]["contact"]["name"]);
    let after_delete = ids(&data["noted"]["contact"]["tasks"]);
    assert!(after_delete.contains(&created) && !after_delete.contains(&json!(seeded_task)), "{response}");
    assert!(ids(&data["noted"]["contact"]["notes"]).contains(&data["noted"]["id"]), "{response}");
    assert_eq!(data["noted"]["contact"]["tags"], data["tagged"]["tags"]);
    assert_eq!(data["again"]["city"], json!("Leeds"));
    assert!(!data["again"]["tags"].as_array().unwrap().contains(&json!("once")), "{response}");

    let calls = app.calls();
    assert_each_call_once(&calls);
    for read in ["", "/tasks", "/notes"] {
        assert_eq!(calls.get(&format!("GET /contacts/{contact}{read}")), Some(&1), "{read}: {calls:#?}");
    }
}
