use serde_json::json;

use crate::helpers::{codes, spawn_app, Setup};

#[tokio::test]
async fn contact_returns_its_fields_and_null_when_ghl_has_none() {
    let app = spawn_app(Setup::default()).await;
    let id = app.contact_ids()[0].clone();

    let response = app
        .graphql(
            "query($id: ID!) { contact(id: $id) { id name email tags locationId dateAdded customFields { id value } }
                               missing: contact(id: \"doesNotExist123\") { id } }",
            json!({ "id": id }),
        )
        .await;

    assert_eq!(response["errors"], serde_json::Value::Null, "{response}");
    let contact = &response["data"]["contact"];
    assert_eq!(contact["id"], json!(id));
    assert_eq!(contact["locationId"], json!(ghl_sandbox::LOCATION_ID));
    assert!(contact["name"].as_str().is_some_and(|n| !n.is_empty()));
    assert!(contact["dateAdded"].as_str().is_some_and(|d| d.ends_with('Z') && d.contains('T')), "{contact}");
    assert_eq!(response["data"]["missing"], serde_json::Value::Null);
}

#[tokio::test]
async fn nested_lists_have_rfc3339_dates_and_task_status() {
    let app = spawn_app(Setup::default()).await;
    let query = "query { contacts(first: 30) { nodes { id tasks { id contactId completed status dueDate contact { id } }
                         notes { id contactId body createdAt } appointments { id startTime endTime contact { id } } } } }";

    let response = app.graphql(query, json!({})).await;

    assert_eq!(response["errors"], serde_json::Value::Null, "{response}");
    let nodes = response["data"]["contacts"]["nodes"].as_array().expect("nodes");
    let mut seen_task = false;
    let mut seen_appointment = false;
    for contact in nodes {
        for task in contact["tasks"].as_array().expect("tasks") {
            seen_task = true;
            assert_eq!(task["contactId"], contact["id"]);
            assert_eq!(task["contact"]["id"], contact["id"]);
            let expected = if task["completed"] == json!(true) { "COMPLETED" } else { "PENDING" };
            assert_eq!(task["status"], json!(expected));
            assert!(task["dueDate"].is_null() || chrono::DateTime::parse_from_rfc3339(task["dueDate"].as_str().unwrap()).is_ok());
        }
        for appointment in contact["appointments"].as_array().expect("appointments") {
            seen_appointment = true;
            let start = appointment["startTime"].as_str().expect("startTime normalised");
            assert!(start.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(start).is_ok(), "{start}");
        }
    }
    assert!(seen_task && seen_appointment, "seed data should include tasks and appointments");
}

#[tokio::test]
async fn contacts_pages_never_overlap_and_report_totals() {
    let app = spawn_app(Setup::default()).await;
    let query = "query($after: String) { contacts(first: 7, after: $after) {
                   totalCount nodes { id } edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }";

    let mut seen = std::collections::HashSet::new();
    let mut after = serde_json::Value::Null;
    let mut pages = 0;
    loop {
        let response = app.graphql(query, json!({ "after": after })).await;
        assert_eq!(response["errors"], serde_json::Value::Null, "{response}");
        let connection = &response["data"]["contacts"];
        assert_eq!(connection["totalCount"], json!(app.contact_ids().len()));
        for node in connection["nodes"].as_array().unwrap() {
            assert!(seen.insert(node["id"].as_str().unwrap().to_owned()), "duplicate {node}");
        }
        pages += 1;
        if connection["pageInfo"]["hasNextPage"] != json!(true) || pages > 100 {
            break;
        }
        after = connection["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(seen.len(), app.contact_ids().len());
}

#[tokio::test]
async fn contacts_search_text_filters_results() {
    let app = spawn_app(Setup::default()).await;
    let id = app.contact_ids()[3].clone();
    let email = app.graphql("query($id: ID!) { contact(id: $id) { email } }", json!({ "id": id })).await["data"]["contact"]["email"]
        .as_str()
        .expect("seeded contacts have emails")
        .to_owned();

    let response = app.graphql("query($q: String) { contacts(query: $q) { nodes { id email } } }", json!({ "q": email })).await;

    let nodes = response["data"]["contacts"]["nodes"].as_array().expect("nodes");
    assert!(nodes.iter().any(|n| n["id"] == json!(id)), "{response}");
    assert!(nodes.iter().all(|n| n["email"].as_str().is_some_and(|e| e.eq_ignore_ascii_case(&email))), "{response}");
}

#[tokio::test]
async fn contacts_by_business_pages_through_the_business() {
    let app = spawn_app(Setup::default()).await;
    let business = app.sandbox.business_ids()[0].clone();
    let query = "query($b: ID!, $after: String) { contactsByBusiness(businessId: $b, first: 2, after: $after) {
                   totalCount nodes { id businessId } pageInfo { hasNextPage endCursor } } }";

    let first = app.graphql(query, json!({ "b": business })).await;
    let page = &first["data"]["contactsByBusiness"];
    assert_eq!(first["errors"], serde_json::Value::Null, "{first}");
    assert!(page["nodes"].as_array().is_some_and(|n| !n.is_empty()));
    for node in page["nodes"].as_array().unwrap() {
        assert_eq!(node["businessId"], json!(business));
    }
    if page["pageInfo"]["hasNextPage"] == json!(true) {
        let second = app.graphql(query, json!({ "b": business, "after": page["pageInfo"]["endCursor"] })).await;
        let ids = |v: &serde_json::Value| v.as_array().unwrap().iter().map(|n| n["id"].clone()).collect::<Vec<_>>();
        let next = ids(&second["data"]["contactsByBusiness"]["nodes"]);
        assert!(ids(&page["nodes"]).iter().all(|id| !next.contains(id)), "pages overlap");
    }
}

#[tokio::test]
async fn single_task_and_note_resolve_and_unknown_ones_are_null() {
    let app = spawn_app(Setup::default()).await;
    let listing = app.graphql("{ contacts(first: 40) { nodes { id tasks { id title } notes { id body } } } }", json!({})).await;
    let nodes = listing["data"]["contacts"]["nodes"].as_array().unwrap();
    let with_task = nodes.iter().find(|n| !n["tasks"].as_array().unwrap().is_empty()).expect("a contact with tasks");
    let with_note = nodes.iter().find(|n| !n["notes"].as_array().unwrap().is_empty()).expect("a contact with notes");
    let task = &with_task["tasks"][0];
    let note = &with_note["notes"][0];

    let response = app
        .graphql(
            "query($c: ID!, $t: ID!, $n: ID!, $nc: ID!) {
               task(contactId: $c, id: $t) { id title contactId }
               note(contactId: $nc, id: $n) { id body contactId }
               noTask: task(contactId: $c, id: \"nope123\") { id }
               noNote: note(contactId: $nc, id: \"nope123\") { id } }",
            json!({ "c": with_task["id"], "t": task["id"], "n": note["id"], "nc": with_note["id"] }),
        )
        .await;

    assert_eq!(response["errors"], serde_json::Value::Null, "{response}");
    assert_eq!(response["data"]["task"]["title"], task["title"]);
    assert_eq!(response["data"]["task"]["contactId"], with_task["id"]);
    assert_eq!(response["data"]["note"]["body"], note["body"]);
    assert_eq!(response["data"]["noTask"], serde_json::Value::Null);
    assert_eq!(response["data"]["noNote"], serde_json::Value::Null);
}

#[tokio::test]
async fn ids_that_could_escape_the_path_are_bad_input_and_never_reach_ghl() {
    let app = spawn_app(Setup::default()).await;
    for id in ["../contacts/x", "a/b", "%2F", "..%2f", "a b", "a\u{0}b", "é", ""] {
        let response = app.graphql("query($id: ID!) { contact(id: $id) { id } }", json!({ "id": id })).await;
        assert_eq!(codes(&response), vec!["BAD_USER_INPUT"], "{id:?}: {response}");
    }
    let response = app.graphql("{ task(contactId: \"ok\", id: \"../../x\") { id } }", json!({})).await;
    assert_eq!(codes(&response), vec!["BAD_USER_INPUT"]);
    assert!(app.requests().is_empty(), "{:?}", app.requests());
}

#[tokio::test]
async fn first_out_of_range_and_foreign_cursors_are_bad_input() {
    let app = spawn_app(Setup::default()).await;
    for first in [-1, 101] {
        let response = app.graphql("query($f: Int) { contacts(first: $f) { nodes { id } } }", json!({ "f": first })).await;
        assert_eq!(codes(&response), vec!["BAD_USER_INPUT"], "{response}");
    }
    // A huge page is refused even earlier, by the complexity limit.
    let huge = app.graphql("{ contacts(first: 1000000) { nodes { id } } }", json!({})).await;
    assert_eq!(codes(&huge), vec!["OPERATION_LIMIT"], "{huge}");
    let response = app.graphql("{ contacts(after: \"not-a-cursor\") { nodes { id } } }", json!({})).await;
    assert_eq!(codes(&response), vec!["BAD_USER_INPUT"]);
    assert!(app.requests().is_empty());
}

#[tokio::test]
async fn a_failing_nested_list_nulls_only_its_contact_with_an_upstream_code() {
    let app = spawn_app(Setup::read_only()).await;
    let ids = app.contact_ids();
    app.sandbox.add_fault(
        serde_json::from_value(json!({
            "method": "GET", "path": format!("/contacts/{}/notes", ids[0]), "kind": "status", "status": 503
        }))
        .unwrap(),
    );

    let response = app
        .graphql(
            "query($a: ID!, $b: ID!) { a: contact(id: $a) { id notes { id } } b: contact(id: $b) { id notes { id } } }",
            json!({ "a": ids[0], "b": ids[1] }),
        )
        .await;

    // `notes` is non-null in the contract, so it has no value of its own; the sibling contact is whole.
    assert!(!response["data"]["a"]["notes"].is_array(), "{response}");
    assert_eq!(response["data"]["b"]["id"], json!(ids[1]));
    assert!(response["data"]["b"]["notes"].is_array());
    let error = &response["errors"][0];
    assert_eq!(error["extensions"]["code"], json!("UPSTREAM_UNAVAILABLE"));
    assert_eq!(error["extensions"]["upstream"]["status"], json!(503));
    assert_eq!(error["extensions"]["upstream"]["method"], json!("GET"));
    assert_eq!(error["extensions"]["upstream"]["path"], json!("/contacts/{contactId}/notes"));
    assert_eq!(error["path"], json!(["a", "notes"]));
    assert!(!response.to_string().contains(ghl_sandbox::READ_TOKEN));
}
