//! Caller API keys: with `SUBGRAPH_API_KEYS` set, every GraphQL request presents one in
//! `x-api-key` or gets 401 UNAUTHENTICATED before any GHL call; health checks and GraphiQL's
//! page and assets stay open.

use serde_json::{json, Value};

use crate::helpers::{codes, spawn_app, Setup, TestApp};

const KEY_A: &str = "caller-key-a-4f1c9e2b7d";
const KEY_B: &str = "caller-key-b-8a3d6f0c1e";

fn with_keys(mut setup: Setup) -> Setup {
    setup.extra.extend(["--api-keys".to_owned(), format!("{KEY_A},{KEY_B}")]);
    setup
}

async fn post(app: &TestApp, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = app.http.post(format!("{}/graphql", app.url)).json(&json!({ "query": "{ contacts(first: 1) { nodes { id } } }" }));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("request sent")
}

#[tokio::test]
async fn requests_without_a_valid_api_key_are_unauthenticated_before_any_ghl_call() {
    let app = spawn_app(with_keys(Setup::default())).await;

    let bearer = format!("Bearer {KEY_A}");
    for headers in [&[][..], &[("x-api-key", "caller-key-c-0000000000")][..], &[("authorization", bearer.as_str())][..]] {
        let response = post(&app, headers).await;
        assert_eq!(response.status(), 401, "{headers:?}");
        assert!(response.headers().contains_key("www-authenticate"));
        let body: Value = response.json().await.unwrap();
        assert_eq!(codes(&body), vec!["UNAUTHENTICATED"], "{body}");
        assert!(body.get("data").is_none());
    }
    let get =
        app.http.get(format!("{}/graphql", app.url)).header("apollo-require-preflight", "true").query(&[("query", "{ __typename }")]).send().await.unwrap();
    assert_eq!(get.status(), 401, "GET queries need a key too");
    assert!(app.requests().is_empty());
}

#[tokio::test]
async fn any_configured_key_is_accepted() {
    let app = spawn_app(with_keys(Setup::default())).await;

    for key in [KEY_A, KEY_B] {
        let response = post(&app, &[("x-api-key", key)]).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert!(body["data"]["contacts"]["nodes"].is_array(), "{body}");
    }
}

#[tokio::test]
async fn health_checks_and_the_graphiql_page_need_no_key() {
    let app = spawn_app(with_keys(Setup::default())).await;

    for path in ["healthz", "readyz", "graphiql/graphiql.min.js"] {
        assert_eq!(app.http.get(format!("{}/{path}", app.url)).send().await.unwrap().status(), 200, "{path}");
    }
    let page = app.http.get(format!("{}/graphql", app.url)).header("accept", "text/html").send().await.unwrap();
    assert_eq!(page.status(), 200);
}

#[tokio::test]
async fn graphiql_prefills_an_empty_api_key_header_only_when_keys_are_configured() {
    let with = spawn_app(with_keys(Setup::default())).await;
    let without = spawn_app(Setup::default()).await;
    let page = |app: &TestApp| app.http.get(format!("{}/graphql", app.url)).header("accept", "text/html").send();

    let keyed = page(&with).await.expect("page").text().await.expect("html");
    let open = page(&without).await.expect("page").text().await.expect("html");

    assert!(keyed.contains(r#"var defaultHeaders = '{\n  "x-api-key": ""\n}';"#), "{keyed}");
    assert!(open.contains("var defaultHeaders = '';"), "{open}");
}

#[tokio::test]
async fn in_forward_mode_the_key_and_the_ghl_bearer_token_travel_side_by_side() {
    let app = spawn_app(with_keys(Setup::forward())).await;
    let bearer = format!("Bearer {}", ghl_sandbox::READ_TOKEN);

    let response = post(&app, &[("x-api-key", KEY_A), ("authorization", &bearer), ("x-ghl-location-id", ghl_sandbox::LOCATION_ID)]).await;
    let without_key = post(&app, &[("authorization", &bearer), ("x-ghl-location-id", ghl_sandbox::LOCATION_ID)]).await;

    let body: Value = response.json().await.unwrap();
    assert!(body["data"]["contacts"]["nodes"].is_array(), "{body}");
    assert_eq!(without_key.status(), 401);
}

#[tokio::test]
async fn location_scoped_keys_hold_in_static_and_forward_mode() {
    let (elsewhere, here) = ("elsewhere-key-0123456789", "sandbox-key-0123456789");
    let keys = format!("{elsewhere}=another-location,{here}={}", ghl_sandbox::LOCATION_ID);
    let query = "query($id: ID!) { contact(id: $id) { id } }";

    let static_app = spawn_app(Setup { extra: vec!["--api-keys".into(), keys.clone()], ..Setup::default() }).await;
    let id = static_app.contact_ids()[0].clone();
    let refused = static_app.graphql_with(query, json!({ "id": id }), &[("x-api-key", elsewhere)]).await;
    assert_eq!(codes(&refused), vec!["FORBIDDEN"], "{refused}");
    let allowed = static_app.graphql_with(query, json!({ "id": id }), &[("x-api-key", here)]).await;
    assert_eq!(allowed["data"]["contact"]["id"], json!(id), "{allowed}");
    assert_eq!(static_app.requests().len(), 1, "the refused caller caused no GHL call");

    let forward = spawn_app(Setup { extra: vec!["--api-keys".into(), keys], ..Setup::forward() }).await;
    let bearer = format!("Bearer {}", ghl_sandbox::READ_TOKEN);
    let headers = [("x-api-key", elsewhere), ("authorization", bearer.as_str()), ("x-ghl-location-id", ghl_sandbox::LOCATION_ID)];
    let refused = forward.graphql_with(query, json!({ "id": id }), &headers).await;
    assert_eq!(codes(&refused), vec!["FORBIDDEN"], "{refused}");
    assert!(forward.requests().is_empty());
}
