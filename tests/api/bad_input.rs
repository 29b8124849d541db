//! Hostile and malformed input at the HTTP edge: each gets a clear error, the server keeps
//! serving, and the sandbox's request log shows no call outside the contacts paths.
//! (Deep nesting, 10,000 aliases and huge operation texts are in `limits.rs`.)

use serde_json::{json, Value};

use crate::helpers::{codes, spawn_app, Setup, TestApp};

/// Ids that try to leave `/contacts/{id}`: traversal, encoded slashes, NUL, unicode look-alikes.
const HOSTILE_IDS: &[&str] = &[
    "../",
    "..",
    "../../locations/x",
    "..%2f",
    "%2F",
    "%2e%2e%2f",
    "a/b",
    "a\\b",
    "a\u{0}b",
    "\u{0}",
    "é",
    "ａｂｃ",
    "a\u{202e}b",
    "a b",
    "a?b=1",
    "a#b",
    "a;b",
    "\n",
    "a\u{2215}b",
    "%00",
];

fn url(app: &TestApp) -> String {
    format!("{}/graphql", app.url)
}

/// True for the only paths the client may build: a contact and its own sub-resources, searches.
fn is_expected_path(path: &str) -> bool {
    let id = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let segments: Vec<&str> = path.strip_prefix('/').unwrap_or("-").split('/').collect();
    match segments.as_slice() {
        ["contacts", c] => id(c),
        ["contacts", c, sub] => id(c) && ["tasks", "notes", "appointments"].contains(sub),
        ["contacts", c, sub, item] => id(c) && ["tasks", "notes", "appointments"].contains(sub) && id(item),
        ["locations", l, "tasks", "search"] => id(l),
        _ => false,
    }
}

fn assert_only_expected_paths(app: &TestApp) {
    for request in app.requests() {
        assert!(is_expected_path(&request.path), "unexpected upstream path {request:?}");
    }
}

async fn assert_still_serving(app: &TestApp) {
    let ok = app.graphql("{ contacts(first: 1) { nodes { id } } }", json!({})).await;
    assert!(ok["data"]["contacts"]["nodes"].is_array(), "{ok}");
}

#[test]
fn the_expected_path_check_itself_refuses_escapes() {
    assert!(is_expected_path("/contacts/abc") && is_expected_path("/contacts/abc/tasks/t1") && is_expected_path("/contacts/search"));
    for path in ["/contacts/..", "/contacts/a/../b", "/contacts/%2F", "/locations/x", "/contacts/a/b/c/d", "/", "/contacts/"] {
        assert!(!is_expected_path(path), "{path}");
    }
}

#[tokio::test]
async fn a_thousand_batched_operations_are_refused_whole() {
    let app = spawn_app(Setup::default()).await;
    let batch: Vec<Value> = (0..1000).map(|i| json!({ "query": format!("{{ c{i}: contact(id: \"x{i}\") {{ id }} }}") })).collect();

    let response = app.http.post(url(&app)).json(&batch).send().await.unwrap();

    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("between 1 and 10"), "{body}");
    assert!(app.requests().is_empty());
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn a_ten_megabyte_body_is_refused_with_413() {
    let app = spawn_app(Setup::default()).await;
    let padding = "a".repeat(10 * 1024 * 1024);

    let response = app.http.post(url(&app)).json(&json!({ "query": "{ __typename }", "variables": { "x": padding } })).send().await;

    // The server may answer 413 and close before the whole body is sent; either way nothing ran.
    if let Ok(response) = response {
        assert_eq!(response.status(), 413);
    }
    assert!(app.requests().is_empty());
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn invalid_json_bodies_are_bad_requests() {
    let app = spawn_app(Setup::default()).await;
    let deep_json = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let bodies = [
        "".to_owned(),
        "{".to_owned(),
        "null".to_owned(),
        "42".to_owned(),
        "\"{ __typename }\"".to_owned(),
        "{\"query\": 42}".to_owned(),
        "{\"query\": \"{ __typename }\", \"variables\": [1]}".to_owned(),
        "{\"query\": \"{ __typename }\"} trailing".to_owned(),
        "{\"query\": \"\\ud800\"}".to_owned(),
        deep_json,
    ];

    for body in bodies {
        let response = app.http.post(url(&app)).header("content-type", "application/json").body(body.clone()).send().await.unwrap();
        assert_eq!(response.status(), 400, "{}", &body[..body.len().min(60)]);
        let answer: Value = response.json().await.unwrap();
        assert!(answer["errors"][0]["message"].as_str().is_some_and(|m| !m.is_empty()), "{answer}");
    }
    let not_utf8 = app.http.post(url(&app)).header("content-type", "application/json").body(vec![0xff, 0xfe, b'{']).send().await.unwrap();
    assert_eq!(not_utf8.status(), 400);
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn wrong_content_types_are_refused() {
    let app = spawn_app(Setup::default()).await;
    let body = json!({ "query": "{ __typename }" }).to_string();

    for content_type in ["text/plain", "application/graphql", "application/xml", "application/jsonx", "json", "application/x-www-form-urlencoded"] {
        let response =
            app.http.post(url(&app)).header("content-type", content_type).header("apollo-require-preflight", "true").body(body.clone()).send().await.unwrap();
        assert_eq!(response.status(), 415, "{content_type}");
        assert_eq!(codes(&response.json().await.unwrap()), vec!["BAD_REQUEST"], "{content_type}");
    }
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn hostile_ids_are_bad_input_in_every_argument_and_never_reach_ghl() {
    let app = spawn_app(Setup::default()).await;
    let operations = [
        "query($id: ID!) { contact(id: $id) { id } }",
        "query($id: ID!) { task(contactId: $id, id: \"ok\") { id } }",
        "query($id: ID!) { task(contactId: \"ok\", id: $id) { id } }",
        "query($id: ID!) { note(contactId: \"ok\", id: $id) { id } }",
        "query($id: ID!) { contactsByBusiness(businessId: $id) { nodes { id } } }",
        "mutation($id: ID!) { deleteContact(id: $id) }",
        "mutation($id: ID!) { deleteTask(contactId: \"ok\", id: $id) }",
        "mutation($id: ID!) { addContactTags(id: $id, tags: [\"x\"]) { id } }",
    ];

    for operation in operations {
        for id in HOSTILE_IDS {
            let response = app.graphql(operation, json!({ "id": id })).await;
            assert_eq!(codes(&response), vec!["BAD_USER_INPUT"], "{operation} with {id:?}: {response}");
        }
    }
    assert!(app.requests().is_empty(), "{:?}", app.requests());
    assert_still_serving(&app).await;
    assert_only_expected_paths(&app);
}

#[tokio::test]
async fn hostile_ids_inside_federation_representations_never_reach_ghl() {
    let app = spawn_app(Setup::default()).await;
    let representations: Vec<Value> = HOSTILE_IDS.iter().map(|id| json!({ "__typename": "Contact", "id": id })).collect();

    let response = app.graphql("query($r: [_Any!]!) { _entities(representations: $r) { ... on Contact { id } } }", json!({ "r": representations })).await;

    assert!(response["errors"].as_array().is_some_and(|e| !e.is_empty()), "{response}");
    assert!(app.requests().is_empty(), "{:?}", app.requests());
}

#[tokio::test]
async fn huge_first_values_are_refused_before_any_ghl_call() {
    let app = spawn_app(Setup::default()).await;
    let query = "query($f: Int) { contacts(first: $f) { nodes { id } } }";

    for first in [json!(i32::MAX), json!(i32::MIN), json!(101), json!(-1)] {
        let response = app.graphql(query, json!({ "f": first })).await;
        let codes = codes(&response);
        assert!(codes == ["BAD_USER_INPUT"] || codes == ["OPERATION_LIMIT"], "first {first}: {response}");
    }
    for first in [json!(1u64 << 40), json!(1e300), json!("100")] {
        let response = app.graphql(query, json!({ "f": first })).await;
        assert!(response["errors"].as_array().is_some_and(|e| !e.is_empty()), "first {first}: {response}");
        assert!(response["data"]["contacts"].is_null());
    }
    let inline = app.graphql("{ contacts(first: 99999999999) { nodes { id } } }", json!({})).await;
    assert!(inline["errors"].as_array().is_some_and(|e| !e.is_empty()), "{inline}");
    assert!(app.requests().is_empty(), "{:?}", app.requests());
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn after_a_barrage_of_bad_input_the_server_serves_and_ghl_saw_only_contact_paths() {
    let app = spawn_app(Setup::default()).await;
    let id = app.contact_ids()[0].clone();
    let good = app.graphql("query($id: ID!) { contact(id: $id) { id tasks { id } notes { id } appointments { id } } }", json!({ "id": id })).await;
    assert!(good["errors"].is_null(), "{good}");

    for hostile in HOSTILE_IDS {
        let _ = app.graphql("query($id: ID!) { contact(id: $id) { id tasks { id } } }", json!({ "id": hostile })).await;
        let _ = app.http.post(url(&app)).header("content-type", "application/json").body(format!("{{\"query\":{hostile:?}")).send().await;
        let _ = app
            .http
            .get(url(&app))
            .header("apollo-require-preflight", "1")
            .query(&[("query", format!("{{ contact(id: {hostile:?}) {{ id }} }}"))])
            .send()
            .await;
    }

    assert_still_serving(&app).await;
    assert!(!app.requests().is_empty());
    assert_only_expected_paths(&app);
}

#[tokio::test]
async fn oversized_tags_and_note_bodies_are_refused_before_any_upstream_call() {
    let app = spawn_app(Setup::default()).await;
    let id = app.contact_ids()[0].clone();
    let many: Vec<String> = (0..101).map(|i| format!("t{i}")).collect();
    let long = "x".repeat(256);
    let body = "y".repeat(50_001);

    let responses = [
        app.graphql("mutation($id: ID!, $t: [String!]!) { addContactTags(id: $id, tags: $t) { id } }", json!({ "id": id, "t": many })).await,
        app.graphql("mutation($id: ID!, $t: [String!]!) { removeContactTags(id: $id, tags: $t) { id } }", json!({ "id": id, "t": [long] })).await,
        app.graphql("mutation($id: ID!, $t: [String!]!) { updateContact(id: $id, input: { tags: $t }) { id } }", json!({ "id": id, "t": many })).await,
        app.graphql("mutation($id: ID!, $b: String!) { createNote(contactId: $id, input: { body: $b }) { id } }", json!({ "id": id, "b": body })).await,
    ];

    for response in &responses {
        assert_eq!(codes(response), vec!["BAD_USER_INPUT"], "{}", &response.to_string()[..200.min(response.to_string().len())]);
    }
    assert!(app.requests().is_empty());
}

/// Validation results are kept per operation text once it passes (`graphql::validated`): bad
/// variables sent after the same text passed get exactly the answers they got before it had.
#[tokio::test]
async fn a_kept_validation_never_lets_bad_variables_through() {
    let app = spawn_app(Setup::default()).await;
    let ids = app.contact_ids();
    let query = "query Q($f: Int!, $id: ID!) { contacts(first: $f) { totalCount } contact(id: $id) { id } }";
    let bad = [
        json!({ "f": "many", "id": ids[0] }),
        json!({ "f": 5, "id": { "a": 1 } }),
        json!({ "f": 5, "id": null }),
        json!({ "f": 5, "id": [ids[0]] }),
        json!({ "f": 5 }),
        json!({ "f": 1.5, "id": ids[0] }),
        json!({ "f": 100_000, "id": ids[0] }),
    ];
    let mut before = Vec::new();
    for variables in &bad {
        before.push(app.graphql(query, variables.clone()).await);
    }
    for id in &ids[..3] {
        let passed = app.graphql(query, json!({ "f": 5, "id": id })).await;
        assert!(passed.get("errors").is_none(), "{passed}");
        assert_eq!(passed["data"]["contact"]["id"], json!(id), "{passed}");
    }
    for (variables, earlier) in bad.iter().zip(&before) {
        assert!(earlier["errors"].as_array().is_some_and(|e| !e.is_empty()), "{variables}: {earlier}");
        assert_eq!(&app.graphql(query, variables.clone()).await, earlier, "{variables}");
    }
}

#[tokio::test]
async fn every_error_carries_a_documented_code() {
    let app = spawn_app(Setup::default()).await;
    let id = app.contact_ids()[0].clone();
    let cases: [(&str, Value, &str); 5] = [
        ("{ contact(id: ", json!({}), "GRAPHQL_PARSE_FAILED"),
        ("{ contact(id: \"x\") { nope } }", json!({}), "GRAPHQL_VALIDATION_FAILED"),
        ("mutation($id: ID!) { createTask(contactId: $id, input: { title: \"t\", dueDate: \"tomorrow\" }) { id } }", json!({ "id": id }), "BAD_USER_INPUT"),
        ("query A { __typename } query B { __typename }", json!({}), "OPERATION_RESOLUTION_FAILURE"),
        ("query($f: Int!) { contacts(first: $f) { totalCount } }", json!({ "f": "many" }), "GRAPHQL_VALIDATION_FAILED"),
    ];
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    for (query, variables, expected) in cases {
        let response = app.graphql(query, variables).await;
        let errors = response["errors"].as_array().unwrap_or_else(|| panic!("errors for {query}: {response}"));
        assert!(!errors.is_empty());
        for error in errors {
            let code = error["extensions"]["code"].as_str().unwrap_or_else(|| panic!("no code: {response}"));
            assert_eq!(code, expected, "{query}: {response}");
            assert!(readme.contains(&format!("`{code}`")), "README lists {code}");
        }
    }
}

/// README's table of codes and `ErrorCode::ALL` agree both ways: every code is documented, and
/// every documented code exists.
#[test]
fn readme_documents_exactly_the_registered_error_codes() {
    use ghl_subgraph::error::ErrorCode;
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    let table: Vec<&str> = readme.lines().skip_while(|l| l.trim() != "| code | when |").skip(2).take_while(|l| l.starts_with('|')).collect();
    assert!(!table.is_empty(), "README has a `| code | when |` table");
    let documented: std::collections::BTreeSet<String> = table
        .iter()
        .filter_map(|row| row.split('|').nth(1))
        .flat_map(|cell| cell.split('`').skip(1).step_by(2).map(str::to_owned).collect::<Vec<_>>())
        .collect();
    let registered: std::collections::BTreeSet<String> = ErrorCode::ALL.iter().map(|c| c.as_str().to_owned()).collect();
    let undocumented: Vec<_> = registered.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&registered).collect();
    assert!(undocumented.is_empty(), "codes missing from README's table: {undocumented:?}");
    assert!(unknown.is_empty(), "README documents codes that do not exist: {unknown:?}");
}
