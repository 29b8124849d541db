use serde_json::{json, Value};

use crate::helpers::{codes, spawn_app, Setup};

#[tokio::test]
async fn create_update_and_delete_a_contact_round_trip() {
    let app = spawn_app(Setup::default()).await;

    let created = app
        .graphql(
            "mutation { createContact(input: { firstName: \"Ada\", lastName: \"Lovelace\", email: \"ada@example.com\", tags: [\"vip\"] }) { id name email tags } }",
            json!({}),
        )
        .await;
    assert_eq!(created["errors"], Value::Null, "{created}");
    let id = created["data"]["createContact"]["id"].as_str().expect("id").to_owned();
    assert_eq!(created["data"]["createContact"]["name"], json!("Ada Lovelace"));

    let updated = app.graphql("mutation($id: ID!) { updateContact(id: $id, input: { city: \"London\" }) { id city email } }", json!({ "id": id })).await;
    assert_eq!(updated["data"]["updateContact"]["city"], json!("London"), "{updated}");

    let read = app.graphql("query($id: ID!) { contact(id: $id) { city email } }", json!({ "id": id })).await;
    assert_eq!(read["data"]["contact"], json!({ "city": "London", "email": "ada@example.com" }));

    let deleted = app.graphql("mutation($id: ID!) { deleteContact(id: $id) }", json!({ "id": id })).await;
    assert_eq!(deleted["data"]["deleteContact"], json!(true), "{deleted}");
    let gone = app.graphql("query($id: ID!) { contact(id: $id) { id } }", json!({ "id": id })).await;
    assert_eq!(gone["data"]["contact"], Value::Null);

    let calls = app.calls();
    assert_eq!(calls.get("POST /contacts/"), Some(&1), "{calls:#?}");
    assert_eq!(calls.get(&format!("PUT /contacts/{id}")), Some(&1));
    assert_eq!(calls.get(&format!("DELETE /contacts/{id}")), Some(&1));
}

#[tokio::test]
async fn tag_mutations_make_exactly_one_call_when_only_tags_are_selected() {
    let app = spawn_app(Setup::default()).await;
    let id = app.contact_ids()[0].clone();

    let added = app.graphql("mutation($id: ID!) { addContactTags(id: $id, tags: [\"gold\", \"2026\"]) { id tags } }", json!({ "id": id })).await;
    let tags = added["data"]["addContactTags"]["tags"].as_array().expect("tags").clone();
    assert!(tags.contains(&json!("gold")) && tags.contains(&json!("2026")), "{added}");
    assert_eq!(app.requests().len(), 1, "{:?}", app.requests());

    let removed = app.graphql("mutation($id: ID!) { removeContactTags(id: $id, tags: [\"gold\"]) { id tags email } }", json!({ "id": id })).await;
    let tags = removed["data"]["removeContactTags"]["tags"].as_array().expect("tags");
    assert!(!tags.contains(&json!("gold")) && tags.contains(&json!("2026")), "{removed}");
    assert!(removed["data"]["removeContactTags"]["email"].is_string());

    let read = app.graphql("query($id: ID!) { contact(id: $id) { tags } }", json!({ "id": id })).await;
    assert_eq!(read["data"]["contact"]["tags"], removed["data"]["removeContactTags"]["tags"]);
}

#[tokio::test]
async fn task_mutations_are_seen_by_later_reads_in_the_same_request() {
    let app = spawn_app(Setup::write_without_tasks_search()).await;
    let id = app.contact_ids()[1].clone();

    let response = app
        .graphql(
            "mutation($id: ID!) {
               before: addContactTags(id: $id, tags: [\"t\"]) { tasks { id } }
               created: createTask(contactId: $id, input: { title: \"Call back\", dueDate: \"2026-12-01T09:00:00Z\" }) { id title status dueDate contactId }
               after: addContactTags(id: $id, tags: [\"u\"]) { tasks { id title completed } }
             }",
            json!({ "id": id }),
        )
        .await;

    assert_eq!(response["errors"], Value::Null, "{response}");
    let created = &response["data"]["created"];
    assert_eq!(created["status"], json!("PENDING"));
    assert_eq!(created["dueDate"], json!("2026-12-01T09:00:00.000Z"));
    assert_eq!(created["contactId"], json!(id));
    let before = response["data"]["before"]["tasks"].as_array().unwrap().len();
    let after = response["data"]["after"]["tasks"].as_array().unwrap();
    assert_eq!(after.len(), before + 1);
    assert!(after.iter().any(|t| t["id"] == created["id"]));
    assert_eq!(app.calls().get(&format!("GET /contacts/{id}/tasks")), Some(&1), "{:#?}", app.calls());
}

#[tokio::test]
async fn tasks_update_complete_and_delete() {
    let app = spawn_app(Setup::default()).await;
    let id = app.contact_ids()[2].clone();
    let created = app
        .graphql(
            "mutation($id: ID!) { createTask(contactId: $id, input: { title: \"Quote\", dueDate: \"2026-12-02T10:00:00Z\" }) { id } }",
            json!({ "id": id }),
        )
        .await;
    let task = created["data"]["createTask"]["id"].as_str().expect("task id").to_owned();
    let vars = json!({ "c": id, "t": task });

    let updated = app.graphql("mutation($c: ID!, $t: ID!) { updateTask(contactId: $c, id: $t, input: { title: \"Quote v2\" }) { title } }", vars.clone()).await;
    assert_eq!(updated["data"]["updateTask"]["title"], json!("Quote v2"), "{updated}");

    let done = app.graphql("mutation($c: ID!, $t: ID!) { completeTask(contactId: $c, id: $t) { completed status } }", vars.clone()).await;
    assert_eq!(done["data"]["completeTask"], json!({ "completed": true, "status": "COMPLETED" }), "{done}");

    let reopened = app.graphql("mutation($c: ID!, $t: ID!) { completeTask(contactId: $c, id: $t, completed: false) { status } }", vars.clone()).await;
    assert_eq!(reopened["data"]["completeTask"]["status"], json!("PENDING"));

    let deleted = app.graphql("mutation($c: ID!, $t: ID!) { deleteTask(contactId: $c, id: $t) }", vars.clone()).await;
    assert_eq!(deleted["data"]["deleteTask"], json!(true));
    let read = app.graphql("query($c: ID!, $t: ID!) { task(contactId: $c, id: $t) { id } }", vars).await;
    assert_eq!(read["data"]["task"], Value::Null, "{read}");
    assert_eq!(app.calls().get(&format!("PUT /contacts/{id}/tasks/{task}/completed")), Some(&2));
}

#[tokio::test]
async fn notes_create_update_and_delete() {
    let app = spawn_app(Setup::default()).await;
    let id = app.contact_ids()[3].clone();

    let created = app
        .graphql("mutation($c: ID!) { createNote(contactId: $c, input: { body: \"Site visit booked\" }) { id body contactId createdAt } }", json!({ "c": id }))
        .await;
    assert_eq!(created["errors"], Value::Null, "{created}");
    let note = created["data"]["createNote"]["id"].as_str().unwrap().to_owned();
    let vars = json!({ "c": id, "n": note });

    let updated =
        app.graphql("mutation($c: ID!, $n: ID!) { updateNote(contactId: $c, id: $n, input: { body: \"Visit moved\" }) { body } }", vars.clone()).await;
    assert_eq!(updated["data"]["updateNote"]["body"], json!("Visit moved"), "{updated}");
    let read = app.graphql("query($c: ID!) { contact(id: $c) { notes { id body } } }", json!({ "c": id })).await;
    assert!(read["data"]["contact"]["notes"].as_array().unwrap().iter().any(|n| n["id"] == json!(note) && n["body"] == json!("Visit moved")));

    let deleted = app.graphql("mutation($c: ID!, $n: ID!) { deleteNote(contactId: $c, id: $n) }", vars.clone()).await;
    assert_eq!(deleted["data"]["deleteNote"], json!(true));
    let gone = app.graphql("query($c: ID!, $n: ID!) { note(contactId: $c, id: $n) { id } }", vars).await;
    assert_eq!(gone["data"]["note"], Value::Null);
}

#[tokio::test]
async fn mutations_without_the_write_scope_are_forbidden_before_any_upstream_call() {
    let app = spawn_app(Setup::read_only()).await;
    let id = app.contact_ids()[0].clone();

    for mutation in [
        "mutation($id: ID!) { deleteContact(id: $id) }",
        "mutation($id: ID!) { addContactTags(id: $id, tags: [\"x\"]) { id } }",
        "mutation($id: ID!) { createNote(contactId: $id, input: { body: \"x\" }) { id } }",
        "mutation($id: ID!) { completeTask(contactId: $id, id: \"abc\") { id } }",
    ] {
        let response = app.graphql(mutation, json!({ "id": id })).await;
        assert_eq!(codes(&response), vec!["FORBIDDEN"], "{mutation}: {response}");
        let message = response["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains("contacts.write") && message.contains("GHL_SCOPES"), "says what to set: {message}");
    }
    assert!(app.requests().is_empty(), "{:?}", app.requests());
}

#[tokio::test]
async fn invalid_mutation_input_is_bad_user_input_without_upstream_calls() {
    let app = spawn_app(Setup::default()).await;
    let id = app.contact_ids()[0].clone();

    for (mutation, vars) in [
        ("mutation { createContact(input: { city: \"Nowhere\" }) { id } }", json!({})),
        ("mutation($id: ID!) { addContactTags(id: $id, tags: []) { id } }", json!({ "id": id })),
        ("mutation($id: ID!) { createNote(contactId: $id, input: { body: \"  \" }) { id } }", json!({ "id": id })),
        ("mutation($id: ID!) { updateContact(id: $id, input: {}) { id } }", json!({ "id": id })),
        ("mutation($id: ID!) { createTask(contactId: $id, input: { title: \"x\", dueDate: \"tomorrow\" }) { id } }", json!({ "id": id })),
    ] {
        let response = app.graphql(mutation, vars).await;
        assert!(response["errors"].is_array(), "{mutation}: {response}");
        let code = response["errors"][0]["extensions"]["code"].as_str().unwrap_or("(validation)");
        assert!(matches!(code, "BAD_USER_INPUT" | "(validation)"), "{mutation}: {response}");
    }
    assert!(app.requests().is_empty(), "{:?}", app.requests());
}

#[tokio::test]
async fn ghl_validation_messages_reach_the_caller() {
    let app = spawn_app(Setup::default()).await;
    let id = app.contact_ids()[0].clone();

    let response = app
        .graphql(
            "mutation($id: ID!) { updateContact(id: $id, input: { customFields: [{ key: \"contact.no_such_field\", value: \"x\" }] }) { id } }",
            json!({ "id": id }),
        )
        .await;

    assert_eq!(codes(&response), vec!["BAD_USER_INPUT"], "{response}");
    let message = response["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("GHL rejected the input: ") && message.len() > "GHL rejected the input: ".len() + 5, "{message}");
}
