//! Abuse is refused cheaply: each refusal has code OPERATION_LIMIT (or a clear HTTP status),
//! the server stays up, and the sandbox sees no request.

use serde_json::{json, Value};

use crate::helpers::{codes, spawn_app, Setup};

async fn assert_refused(app: &crate::helpers::TestApp, query: &str) -> Value {
    let response = app.graphql(query, json!({})).await;
    assert_eq!(codes(&response), vec!["OPERATION_LIMIT"], "{}", &response.to_string()[..response.to_string().len().min(400)]);
    response
}

#[tokio::test]
async fn deep_nesting_is_refused() {
    let app = spawn_app(Setup::default()).await;
    let mut query = String::from("{ contact(id: \"a\") { id } }");
    for _ in 0..8 {
        query = query.replace("{ id }", "{ id tasks { contact { id } } }");
    }
    assert_refused(&app, &query).await;
    assert!(app.requests().is_empty());
}

#[tokio::test]
async fn ten_thousand_aliases_are_refused_before_parsing_costs_much() {
    let app = spawn_app(Setup::default()).await;
    let fields: String = (0..10_000).map(|i| format!("a{i}: __typename ")).collect();
    let response = app.graphql(&format!("{{ {fields} }}"), json!({})).await;
    assert_eq!(codes(&response), vec!["OPERATION_LIMIT"]);
    let few: String = (0..101).map(|i| format!("a{i}: __typename ")).collect();
    assert_refused(&app, &format!("{{ {few} }}")).await;
    assert!(app.requests().is_empty());
}

#[tokio::test]
async fn too_many_root_fields_and_directives_are_refused() {
    let app = spawn_app(Setup::default()).await;
    let roots: String = (0..51).map(|i| format!("c{i}: contact(id: \"x{i}\") {{ id }} ")).collect();
    // Raise the alias limit to isolate the root-field check.
    let lenient = spawn_app(Setup { extra: vec!["--max-aliases".into(), "1000".into()], ..Default::default() }).await;
    assert_refused(&lenient, &format!("{{ {roots} }}")).await;
    let directives: String = (0..60).map(|_| "@include(if: true) ").collect();
    assert_refused(&app, &format!("{{ __typename {directives} }}")).await;
    assert!(app.requests().is_empty() && lenient.requests().is_empty());
}

#[tokio::test]
async fn big_lists_of_nested_data_are_too_complex() {
    let app = spawn_app(Setup::default()).await;
    let nested = "{ contacts(first: 100) { nodes { id name email phone tags
        tasks { id title body dueDate status completed } notes { id body title createdAt } appointments { id title startTime endTime } } } }";
    assert_refused(&app, nested).await;
    let small = app.graphql("{ contacts(first: 10) { nodes { id tasks { id } } } }", json!({})).await;
    assert!(small["errors"].is_null(), "{small}");
}

#[tokio::test]
async fn oversized_operation_text_is_refused() {
    let app = spawn_app(Setup::default()).await;
    let padding = " ".repeat(40 * 1024);
    assert_refused(&app, &format!("{{ __typename {padding} }}")).await;
}

#[tokio::test]
async fn introspection_and_suggestions_are_off_against_real_ghl_by_default() {
    let app = spawn_app(Setup::default()).await;
    let schema = app.graphql("{ __schema { types { name } } }", json!({})).await;
    assert!(schema["data"]["__schema"].is_null(), "{schema}");
    let typo = app.graphql("{ contactt(id: \"a\") { id } }", json!({})).await;
    assert!(!typo.to_string().contains("Did you mean"), "{typo}");

    let open = spawn_app(Setup { extra: vec!["--introspection".into(), "true".into(), "--field-suggestions".into(), "true".into()], ..Default::default() }).await;
    let schema = open.graphql("{ __schema { queryType { name } } }", json!({})).await;
    assert_eq!(schema["data"]["__schema"]["queryType"]["name"], json!("Query"));
    let typo = open.graphql("{ contactt(id: \"a\") { id } }", json!({})).await;
    assert!(typo.to_string().contains("Did you mean"), "{typo}");
}
