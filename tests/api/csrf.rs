//! CSRF prevention as Apollo Router does it: requests a browser can send cross-site without a
//! preflight (GET, non-JSON POST) need a non-empty `apollo-require-preflight` or
//! `x-apollo-operation-name` header; the GraphiQL page does not.

use serde_json::{json, Value};

use crate::helpers::{codes, spawn_app, Setup, TestApp};

async fn get_query(app: &TestApp, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = app.http.get(format!("{}/graphql", app.url)).query(&[("query", "{ __typename }")]);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("request sent")
}

#[tokio::test]
async fn get_queries_without_a_preflight_header_are_refused_as_csrf() {
    let app = spawn_app(Setup::default()).await;

    for headers in [&[][..], &[("apollo-require-preflight", "")][..], &[("x-apollo-operation-name", "  ")][..]] {
        let response = get_query(&app, headers).await;
        assert_eq!(response.status(), 400, "{headers:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(codes(&body), vec!["CSRF_PREVENTION"], "{body}");
        assert!(body["errors"][0]["message"].as_str().unwrap().contains("apollo-require-preflight"), "{body}");
    }
    assert!(app.requests().is_empty());
}

#[tokio::test]
async fn get_queries_with_either_preflight_header_run() {
    let app = spawn_app(Setup::default()).await;

    for header in ["apollo-require-preflight", "x-apollo-operation-name"] {
        let response = get_query(&app, &[(header, "true")]).await;
        assert_eq!(response.status(), 200, "{header}");
        assert_eq!(response.json::<Value>().await.unwrap()["data"]["__typename"], json!("Query"));
    }
}

#[tokio::test]
async fn non_json_posts_without_a_preflight_header_are_refused_as_csrf() {
    let app = spawn_app(Setup::default()).await;
    let url = format!("{}/graphql", app.url);
    let id = app.contact_ids()[0].clone();
    let mutation = format!("mutation {{ deleteContact(id: \"{id}\") }}");

    for content_type in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
        let response = app.http.post(&url).header("content-type", content_type).body(mutation.clone()).send().await.unwrap();
        assert_eq!(response.status(), 400, "{content_type}");
        assert_eq!(codes(&response.json().await.unwrap()), vec!["CSRF_PREVENTION"], "{content_type}");
    }
    let no_type = app.http.post(&url).body(json!({ "query": mutation }).to_string()).send().await.unwrap();
    assert_eq!(no_type.status(), 400);
    assert!(app.requests().is_empty(), "a forged request must not reach GHL");

    let json = app.http.post(&url).json(&json!({ "query": "{ __typename }" })).send().await.unwrap();
    assert_eq!(json.status(), 200, "a JSON POST always needs a preflight, so it needs no header");
}

#[tokio::test]
async fn the_graphiql_page_needs_no_preflight_header() {
    let app = spawn_app(Setup::default()).await;

    let page = app.http.get(format!("{}/graphql", app.url)).header("accept", "text/html").send().await.unwrap();

    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("apollo-require-preflight"), "the page's fetcher sends the header");
}

#[tokio::test]
async fn csrf_prevention_can_be_turned_off() {
    let app = spawn_app(Setup { extra: vec!["--csrf-prevention".into(), "false".into()], ..Default::default() }).await;

    let response = get_query(&app, &[]).await;

    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_rebound_host_name_or_a_foreign_origin_cannot_drive_a_loopback_server() {
    let app = spawn_app(Setup::default()).await;
    let id = app.contact_ids()[0].clone();
    let delete = json!({ "query": "mutation($id: ID!) { deleteContact(id: $id) }", "variables": { "id": id } });

    let rebound = app.http.post(format!("{}/graphql", app.url)).header("host", "rebind.attacker.example").json(&delete).send().await.unwrap();
    assert_eq!(rebound.status(), 403);
    let body: serde_json::Value = rebound.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], json!("HOST_NOT_ALLOWED"), "{body}");

    let foreign = app.http.post(format!("{}/graphql", app.url)).header("origin", "https://rebind.attacker.example").json(&delete).send().await.unwrap();
    assert_eq!(foreign.status(), 403);
    assert!(app.requests().is_empty(), "GHL was never asked");

    let same_origin =
        app.http.post(format!("{}/graphql", app.url)).header("origin", app.url.clone()).json(&json!({ "query": "{ __typename }" })).send().await.unwrap();
    assert_eq!(same_origin.status(), 200);
}
