//! A failed field is `null` at its path with a coded error, and everything else comes back
//! (GraphQL spec, "Handling Field Errors"): one test per field backed by its own GHL call, each
//! with a fault injected in the sandbox, checking the whole shape of the response.

use ghl_sandbox::Fault;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, Setup, TestApp};

fn fault(value: Value) -> Fault {
    serde_json::from_value(value).expect("fault JSON")
}

/// Every later GET of `path` answers 503 (retries included).
fn fail_gets(app: &TestApp, path: &str) {
    app.sandbox.add_fault(fault(json!({ "method": "GET", "path": path, "kind": "status", "status": 503 })));
}

fn setup() -> Setup {
    Setup { extra: vec!["--retry-max-attempts".into(), "1".into(), "--breaker-threshold".into(), "1000".into()], ..Default::default() }
}

/// The one error of `response`: its path and code.
fn only_error(response: &Value) -> (Value, String) {
    let errors = response["errors"].as_array().unwrap_or_else(|| panic!("an error expected: {response}"));
    assert_eq!(errors.len(), 1, "{response}");
    (errors[0]["path"].clone(), errors[0]["extensions"]["code"].as_str().unwrap_or_default().to_owned())
}

const NESTED: &str = "query($id: ID!) { contact(id: $id) { id name tasks { id } notes { id } appointments { id } } }";

async fn assert_list_is_null_and_the_rest_stays(app: &TestApp, failing: &str) {
    let id = app.contact_ids()[0].clone();
    let response = app.graphql(NESTED, json!({ "id": id })).await;
    let contact = &response["data"]["contact"];
    assert_eq!(contact["id"], json!(id), "{response}");
    assert!(contact["name"].is_string(), "{response}");
    for list in ["tasks", "notes", "appointments"] {
        let value = contact.get(list).unwrap_or_else(|| panic!("`{list}` is missing: {response}"));
        if list == failing {
            assert!(value.is_null(), "{response}");
        } else {
            assert!(value.is_array(), "{response}");
        }
    }
    assert_eq!(only_error(&response), (json!(["contact", failing]), "UPSTREAM_UNAVAILABLE".to_owned()));
}

#[tokio::test]
async fn failed_tasks_are_null_and_the_contact_and_its_other_lists_stay() {
    let app = spawn_app(Setup { token: Some(ghl_sandbox::WRITE_ONLY_CONTACTS_TOKEN), scopes: "contacts.readonly contacts.write", ..setup() }).await;
    fail_gets(&app, "/contacts/*/tasks");
    assert_list_is_null_and_the_rest_stays(&app, "tasks").await;
}

#[tokio::test]
async fn failed_tasks_search_is_null_at_each_contacts_tasks() {
    let app = spawn_app(setup()).await;
    app.sandbox.add_fault(fault(json!({ "method": "POST", "path": "/locations/*/tasks/search", "kind": "status", "status": 503 })));
    assert_list_is_null_and_the_rest_stays(&app, "tasks").await;
}

#[tokio::test]
async fn failed_notes_are_null_and_the_contact_and_its_other_lists_stay() {
    let app = spawn_app(setup()).await;
    fail_gets(&app, "/contacts/*/notes");
    assert_list_is_null_and_the_rest_stays(&app, "notes").await;
}

#[tokio::test]
async fn failed_appointments_are_null_and_the_contact_and_its_other_lists_stay() {
    let app = spawn_app(setup()).await;
    fail_gets(&app, "/contacts/*/appointments");
    assert_list_is_null_and_the_rest_stays(&app, "appointments").await;
}

/// A contact of the seed with a task and a note: (contact, task, note).
async fn children(app: &TestApp) -> (String, String, String) {
    for id in app.contact_ids() {
        let response = app.graphql(NESTED, json!({ "id": id })).await;
        let first = |list: &str| response["data"]["contact"][list][0]["id"].as_str().map(str::to_owned);
        if let (Some(task), Some(note)) = (first("tasks"), first("notes")) {
            return (id, task, note);
        }
    }
    panic!("the seed has a contact with tasks and notes");
}

#[tokio::test]
async fn a_failed_contact_under_a_task_or_note_is_null_and_its_parent_stays() {
    let app = spawn_app(setup()).await;
    let (contact, task, note) = children(&app).await;
    fail_gets(&app, &format!("/contacts/{contact}"));
    let query = "query($c: ID!, $t: ID!, $n: ID!) {
        task(contactId: $c, id: $t) { id contactId contact { id name } }
        note(contactId: $c, id: $n) { id contactId contact { id name } } }";

    let response = app.graphql(query, json!({ "c": contact, "t": task, "n": note })).await;

    for (field, id) in [("task", &task), ("note", &note)] {
        let parent = &response["data"][field];
        assert_eq!(parent["id"], json!(id), "{response}");
        assert_eq!(parent["contactId"], json!(contact), "{response}");
        assert!(parent.get("contact").is_some_and(Value::is_null), "`{field}.contact` must be present and null: {response}");
    }
    let paths: Vec<Value> = response["errors"].as_array().expect("errors").iter().map(|e| e["path"].clone()).collect();
    assert!(paths.contains(&json!(["task", "contact"])) && paths.contains(&json!(["note", "contact"])), "{response}");
}

#[tokio::test]
async fn a_failed_root_field_is_null_and_its_siblings_stay() {
    let app = spawn_app(setup()).await;
    let ids = app.contact_ids();
    fail_gets(&app, &format!("/contacts/{}", ids[0]));
    app.sandbox.add_fault(fault(json!({ "method": "POST", "path": "/contacts/search", "kind": "status", "status": 503 })));

    let response = app
        .graphql(
            "query($a: ID!, $b: ID!) { a: contact(id: $a) { id } b: contact(id: $b) { id } contacts(first: 2) { totalCount } }",
            json!({ "a": ids[0], "b": ids[1] }),
        )
        .await;

    let data = response["data"].as_object().unwrap_or_else(|| panic!("data: {response}"));
    assert!(data["a"].is_null() && data["contacts"].is_null(), "{response}");
    assert_eq!(data["b"]["id"], json!(ids[1]), "{response}");
    let paths: Vec<Value> = response["errors"].as_array().expect("errors").iter().map(|e| e["path"].clone()).collect();
    assert_eq!(paths.len(), 2, "{response}");
    assert!(paths.contains(&json!(["a"])) && paths.contains(&json!(["contacts"])), "{response}");
}

#[tokio::test]
async fn a_failed_mutation_is_null_and_the_earlier_ones_keep_their_results() {
    let app = spawn_app(setup()).await;
    let id = app.contact_ids()[0].clone();
    app.sandbox.add_fault(fault(json!({ "method": "POST", "path": "/contacts/*/tags", "kind": "status", "status": 503 })));

    let response = app
        .graphql(
            "mutation($id: ID!) { createTask(contactId: $id, input: { title: \"Call back\", dueDate: \"2026-12-01T09:00:00Z\" }) { id title }
               addContactTags(id: $id, tags: [\"quoted\"]) { id tags } }",
            json!({ "id": id }),
        )
        .await;

    assert_eq!(response["data"]["createTask"]["title"], json!("Call back"), "{response}");
    assert!(response["data"].get("addContactTags").is_some_and(Value::is_null), "{response}");
    assert_eq!(only_error(&response), (json!(["addContactTags"]), "UPSTREAM_UNAVAILABLE".to_owned()));
}

#[tokio::test]
async fn one_failed_entity_reference_is_null_and_the_others_resolve() {
    let app = spawn_app(setup()).await;
    let ids = app.contact_ids();
    fail_gets(&app, &format!("/contacts/{}", ids[1]));
    let representations: Vec<Value> = ids[..3].iter().map(|id| json!({ "__typename": "Contact", "id": id })).collect();

    let response = app.graphql("query($r: [_Any!]!) { _entities(representations: $r) { ... on Contact { id name } } }", json!({ "r": representations })).await;

    let entities = response["data"]["_entities"].as_array().unwrap_or_else(|| panic!("entities: {response}"));
    assert_eq!(entities.len(), 3, "{response}");
    assert_eq!(entities[0]["id"], json!(ids[0]), "{response}");
    assert!(entities[1].is_null(), "{response}");
    assert_eq!(entities[2]["id"], json!(ids[2]), "{response}");
    assert!(entities[0]["name"].is_string(), "{response}");
    assert_eq!(only_error(&response), (json!(["_entities", 1]), "UPSTREAM_UNAVAILABLE".to_owned()));
}
