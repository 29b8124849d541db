//! Authentication and authorization as GHL does it: bearer token, `Version` header, scopes and
//! locations, and the NestJS 404 for unknown routes.

mod common;

use ghl_sandbox::{OTHER_LOCATION_ID, OTHER_LOCATION_TOKEN, READ_TOKEN, WRITE_ONLY_CONTACTS_TOKEN, WRITE_TOKEN};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn a_request_without_a_token_is_401_invalid_jwt() {
    let t = common::spawn().await;
    let answer = t.call(Method::GET, None, &format!("/contacts/{}", t.first_contact()), None).await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.body, json!({"statusCode": 401, "message": "Invalid JWT"}));
}

#[tokio::test]
async fn an_unknown_token_is_401_invalid_jwt() {
    let t = common::spawn().await;
    let answer = t.get("not-a-token", &format!("/contacts/{}", t.first_contact())).await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.message(), "Invalid JWT");
}

#[tokio::test]
async fn a_missing_version_header_is_401_version_header_was_not_found() {
    let t = common::spawn().await;
    let response = t.client.get(t.url(&format!("/contacts/{}", t.first_contact()))).bearer_auth(READ_TOKEN).send().await.expect("answered");
    let answer = common::answer(response).await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.body, json!({"statusCode": 401, "message": "version header was not found."}));
}

#[tokio::test]
async fn another_version_is_401_version_header_is_invalid() {
    let t = common::spawn().await;
    let response = t
        .client
        .get(t.url(&format!("/contacts/{}", t.first_contact())))
        .bearer_auth(READ_TOKEN)
        .header("Version", "2023-02-21")
        .send()
        .await
        .expect("answered");
    let answer = common::answer(response).await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.message(), "version header is invalid");
}

#[tokio::test]
async fn a_read_only_token_cannot_write() {
    let t = common::spawn().await;
    let id = t.first_contact();
    let answer = t.post(READ_TOKEN, &format!("/contacts/{id}/tags"), json!({"tags": ["x"]})).await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.body, json!({"statusCode": 401, "message": "The token is not authorized for this scope."}));
    // And the write did not happen.
    let contact = t.get(READ_TOKEN, &format!("/contacts/{id}")).await;
    assert!(!contact.body["contact"]["tags"].as_array().expect("tags").contains(&json!("x")));
}

#[tokio::test]
async fn tasks_search_needs_the_locations_tasks_scope() {
    let t = common::spawn().await;
    let path = "/locations/sandbox-location/tasks/search";
    assert_eq!(t.post(WRITE_ONLY_CONTACTS_TOKEN, path, json!({})).await.status, 401);
    assert_eq!(t.post(WRITE_TOKEN, path, json!({})).await.status, 200);
}

#[tokio::test]
async fn a_contact_of_another_location_is_403() {
    let t = common::spawn().await;
    let other = t.sandbox.contact_ids_in(OTHER_LOCATION_ID).remove(0);
    for path in [format!("/contacts/{other}"), format!("/contacts/{other}/tasks"), format!("/contacts/{other}/notes")] {
        let answer = t.get(WRITE_TOKEN, &path).await;
        assert_eq!(answer.status, 403, "{path}");
        assert_eq!(answer.body, json!({"statusCode": 403, "message": "The token does not have access to this location."}));
    }
    assert_eq!(t.get(OTHER_LOCATION_TOKEN, &format!("/contacts/{other}")).await.status, 200);
    let delete = t.delete(WRITE_TOKEN, &format!("/contacts/{other}"), None).await;
    assert_eq!(delete.status, 403);
    assert_eq!(t.get(OTHER_LOCATION_TOKEN, &format!("/contacts/{other}")).await.status, 200, "not deleted");
}

#[tokio::test]
async fn a_location_id_that_is_not_the_tokens_is_403() {
    let t = common::spawn().await;
    let list = t.get(WRITE_TOKEN, "/contacts/?locationId=other-location").await;
    assert_eq!(list.status, 403);
    let search = t.post(WRITE_TOKEN, "/contacts/search", json!({"locationId": "other-location", "pageLimit": 10})).await;
    assert_eq!(search.status, 403);
    let create = t.post(WRITE_TOKEN, "/contacts/", json!({"locationId": "other-location", "firstName": "X"})).await;
    assert_eq!(create.status, 403);
    let tasks = t.post(WRITE_TOKEN, "/locations/other-location/tasks/search", json!({})).await;
    assert_eq!(tasks.status, 403);
}

#[tokio::test]
async fn unknown_ids_are_400_not_found() {
    let t = common::spawn().await;
    let missing = t.get(READ_TOKEN, "/contacts/aaaaaaaaaaaaaaaaaaaa").await;
    assert_eq!(missing.status, 400);
    assert_eq!(missing.body, json!({"statusCode": 400, "message": "Contact not found"}));
    let id = t.first_contact();
    let task = t.get(READ_TOKEN, &format!("/contacts/{id}/tasks/nope")).await;
    assert_eq!((task.status, task.message()), (400, "Task not found".to_owned()));
    let note = t.get(READ_TOKEN, &format!("/contacts/{id}/notes/nope")).await;
    assert_eq!((note.status, note.message()), (400, "Note not found".to_owned()));
}

#[tokio::test]
async fn unknown_routes_and_methods_are_nest_style_404s() {
    let t = common::spawn().await;
    let answer = t.get(READ_TOKEN, "/nothing/here").await;
    assert_eq!(answer.status, 404);
    assert_eq!(answer.message(), "Cannot GET /nothing/here");
    let answer = t.call(Method::PATCH, Some(READ_TOKEN), &format!("/contacts/{}", t.first_contact()), None).await;
    assert_eq!(answer.status, 404);
    assert!(answer.message().starts_with("Cannot PATCH /contacts/"));
}
