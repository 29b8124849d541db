use serde_json::{json, Value};

use crate::helpers::{codes, spawn_app, Setup};

const LOCATION: &str = "x-ghl-location-id";

#[tokio::test]
async fn forward_mode_sends_the_callers_token_for_the_named_location() {
    let app = spawn_app(Setup::forward()).await;
    let id = app.contact_ids()[0].clone();
    let bearer = format!("Bearer {}", ghl_sandbox::READ_TOKEN);

    let response = app
        .graphql_with("query($id: ID!) { contact(id: $id) { id } }", json!({ "id": id }), &[("authorization", &bearer), (LOCATION, ghl_sandbox::LOCATION_ID)])
        .await;

    assert_eq!(response["data"]["contact"]["id"], json!(id), "{response}");
    assert_eq!(app.requests()[0].location_id.as_deref(), Some(ghl_sandbox::LOCATION_ID));
}

#[tokio::test]
async fn forward_mode_without_credentials_is_unauthenticated_without_upstream_calls() {
    let app = spawn_app(Setup::forward()).await;

    let no_token = app.graphql_with("{ contact(id: \"abc\") { id } }", json!({}), &[(LOCATION, ghl_sandbox::LOCATION_ID)]).await;
    let no_location = app.graphql_with("{ contact(id: \"abc\") { id } }", json!({}), &[("authorization", "Bearer x")]).await;

    assert_eq!(codes(&no_token), vec!["UNAUTHENTICATED"]);
    assert_eq!(codes(&no_location), vec!["UNAUTHENTICATED"]);
    assert!(app.requests().is_empty());
}

#[tokio::test]
async fn forward_mode_maps_ghl_answers_to_codes() {
    let app = spawn_app(Setup::forward()).await;
    let id = app.contact_ids()[0].clone();
    let read = format!("Bearer {}", ghl_sandbox::READ_TOKEN);

    // GHL's 401 "not authorized for this scope" is a permission problem, not a login problem.
    let scope = app
        .graphql_with("mutation($id: ID!) { deleteContact(id: $id) }", json!({ "id": id }), &[("authorization", &read), (LOCATION, ghl_sandbox::LOCATION_ID)])
        .await;
    assert_eq!(codes(&scope), vec!["FORBIDDEN"], "{scope}");
    assert_eq!(scope["errors"][0]["extensions"]["upstream"]["status"], json!(401));

    let bad = app
        .graphql_with(
            "query($id: ID!) { contact(id: $id) { id } }",
            json!({ "id": id }),
            &[("authorization", "Bearer wrong-token"), (LOCATION, ghl_sandbox::LOCATION_ID)],
        )
        .await;
    assert_eq!(codes(&bad), vec!["UNAUTHENTICATED"], "{bad}");
    assert!(!bad.to_string().contains("wrong-token"));

    // A contact of another location: GHL's 403.
    let other = format!("Bearer {}", ghl_sandbox::OTHER_LOCATION_TOKEN);
    let foreign = app
        .graphql_with(
            "query($id: ID!) { contact(id: $id) { id } }",
            json!({ "id": id }),
            &[("authorization", &other), (LOCATION, ghl_sandbox::OTHER_LOCATION_ID)],
        )
        .await;
    assert_eq!(codes(&foreign), vec!["FORBIDDEN"], "{foreign}");
    assert_eq!(foreign["data"]["contact"], Value::Null);
}

#[tokio::test]
async fn an_invalid_static_token_is_unauthenticated_and_never_echoed() {
    let app = spawn_app(Setup { token: Some("not-a-real-token"), scopes: "contacts.readonly", ..Default::default() }).await;
    let id = app.contact_ids()[0].clone();

    let response = app.graphql("query($id: ID!) { contact(id: $id) { id } }", json!({ "id": id })).await;

    assert_eq!(codes(&response), vec!["UNAUTHENTICATED"], "{response}");
    assert!(!response.to_string().contains("not-a-real-token"));
}
