use serde_json::{json, Value};

use crate::helpers::{spawn_app, Setup};

#[tokio::test]
async fn get_graphql_in_a_browser_serves_graphiql_with_local_assets() {
    let app = spawn_app(Setup::default()).await;

    let page = app.http.get(format!("{}/graphql", app.url)).header("accept", "text/html").send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("GraphiQL"));
    assert!(!html.contains("https://"), "the page must not load anything from the internet");

    for asset in ["graphiql.min.js", "graphiql.min.css", "react.production.min.js", "react-dom.production.min.js"] {
        let response = app.http.get(format!("{}/graphiql/{asset}", app.url)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{asset}");
        assert!(response.bytes().await.unwrap().len() > 1000, "{asset}");
    }
    assert_eq!(app.http.get(format!("{}/graphiql/../Cargo.toml", app.url)).send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn queries_run_over_get_and_mutations_over_get_are_refused() {
    let app = spawn_app(Setup::default()).await;

    let query =
        app.http.get(format!("{}/graphql", app.url)).header("apollo-require-preflight", "true").query(&[("query", "{ __typename }")]).send().await.unwrap();
    assert_eq!(query.status(), 200);
    assert_eq!(query.json::<Value>().await.unwrap()["data"]["__typename"], json!("Query"));

    let mutation = app
        .http
        .get(format!("{}/graphql", app.url))
        .header("apollo-require-preflight", "true")
        .query(&[("query", "mutation { deleteContact(id: \"abc\") }")])
        .send()
        .await
        .unwrap();
    assert_eq!(mutation.status(), 405);
    assert_eq!(mutation.headers()["allow"], "POST");
    assert!(app.requests().is_empty());
}

#[tokio::test]
async fn content_type_follows_the_accept_header() {
    let app = spawn_app(Setup::default()).await;
    let post = |accept: &'static str| app.http.post(format!("{}/graphql", app.url)).header("accept", accept).json(&json!({ "query": "{ __typename }" })).send();

    let json_only = post("application/json").await.unwrap();
    assert_eq!(json_only.headers()["content-type"], "application/json");
    let modern = post("application/graphql-response+json").await.unwrap();
    assert_eq!(modern.headers()["content-type"], "application/graphql-response+json");
    assert_eq!(post("text/plain").await.unwrap().status(), 406);
}

#[tokio::test]
async fn bad_requests_get_clear_http_errors() {
    let app = spawn_app(Setup::default()).await;
    let url = format!("{}/graphql", app.url);

    let not_json = app.http.post(&url).header("content-type", "application/json").body("{nope").send().await.unwrap();
    assert_eq!(not_json.status(), 400);
    assert!(not_json.json::<Value>().await.unwrap()["errors"][0]["message"].is_string());

    // With the preflight header the CSRF check passes and the content type itself is refused.
    let wrong_type =
        app.http.post(&url).header("content-type", "text/plain").header("apollo-require-preflight", "true").body("{ __typename }").send().await.unwrap();
    assert_eq!(wrong_type.status(), 415);

    let too_big = app.http.post(&url).header("content-type", "application/json").body(vec![b' '; 3 * 1024 * 1024]).send().await.unwrap();
    assert_eq!(too_big.status(), 413);

    let batch: Vec<Value> = (0..11).map(|_| json!({ "query": "{ __typename }" })).collect();
    let too_many = app.http.post(&url).json(&batch).send().await.unwrap();
    assert_eq!(too_many.status(), 400);

    let small: Vec<Value> = (0..3).map(|_| json!({ "query": "{ __typename }" })).collect();
    let ok = app.http.post(&url).json(&small).send().await.unwrap().json::<Value>().await.unwrap();
    assert_eq!(ok.as_array().map(Vec::len), Some(3));

    let invalid = app.http.post(&url).header("accept", "application/graphql-response+json").json(&json!({ "query": "{ nope }" })).send().await.unwrap();
    assert_eq!(invalid.status(), 400, "validation errors are request errors");
}

#[tokio::test]
async fn health_endpoints_answer() {
    let app = spawn_app(Setup::default()).await;
    for path in ["healthz", "readyz"] {
        let response = app.http.get(format!("{}/{path}", app.url)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
}

#[tokio::test]
async fn every_response_carries_security_headers_and_graphql_answers_are_never_cached() {
    let app = spawn_app(Setup::default()).await;

    let page = app.http.get(format!("{}/graphql", app.url)).header("accept", "text/html").send().await.unwrap();
    let answer = app.http.post(format!("{}/graphql", app.url)).json(&serde_json::json!({ "query": "{ __typename }" })).send().await.unwrap();
    let asset = app.http.get(format!("{}/graphiql/graphiql.min.js", app.url)).send().await.unwrap();

    for response in [&page, &answer, &asset] {
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        assert_eq!(header("x-content-type-options"), "nosniff");
        assert_eq!(header("referrer-policy"), "no-referrer");
        assert!(header("content-security-policy").contains("frame-ancestors 'none'"), "{}", header("content-security-policy"));
    }
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("connect-src 'self'") && csp.contains("script-src 'self'"), "{csp}");
    assert_eq!(answer.headers()["cache-control"], "no-store");
    assert!(asset.headers()["cache-control"].to_str().unwrap().contains("max-age"), "assets keep their caching");
}

#[tokio::test]
async fn metrics_can_require_a_bearer_key() {
    let key = "metrics-key-0123456789";
    let app = spawn_app(Setup { extra: vec!["--metrics-key".into(), key.into()], ..Setup::default() }).await;
    let url = format!("{}/metrics", app.url);

    let anonymous = app.http.get(&url).send().await.unwrap();
    let wrong = app.http.get(&url).bearer_auth("metrics-key-wrong-0000").send().await.unwrap();
    let right = app.http.get(&url).bearer_auth(key).send().await.unwrap();

    assert_eq!(anonymous.status(), 401);
    assert_eq!(wrong.status(), 401);
    assert_eq!(right.status(), 200);
    assert!(!anonymous.text().await.unwrap().contains(key));
}

#[tokio::test]
async fn readiness_says_why_when_ghl_refuses_the_token_or_fails() {
    let refused = spawn_app(Setup { token: Some("not-a-sandbox-token"), ..Setup::default() }).await;
    let response = refused.http.get(format!("{}/readyz", refused.url)).send().await.unwrap();
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], json!("not_ready"));
    assert!(body["reason"].as_str().is_some_and(|r| r.contains("GHL_TOKEN")), "{body}");
    assert!(!body.to_string().contains("not-a-sandbox-token"));

    let failing = spawn_app(Setup { extra: vec!["--retry-max-attempts".into(), "1".into()], ..Setup::default() }).await;
    failing.sandbox.add_fault(serde_json::from_value(json!({ "path": "/contacts/search", "kind": "status", "status": 503 })).unwrap());
    let response = failing.http.get(format!("{}/readyz", failing.url)).send().await.unwrap();
    assert_eq!(response.status(), 503);

    let healthy = spawn_app(Setup::default()).await;
    for _ in 0..3 {
        assert_eq!(healthy.http.get(format!("{}/readyz", healthy.url)).send().await.unwrap().status(), 200);
    }
    assert_eq!(healthy.requests().len(), 1, "one check serves many probes");
}

#[tokio::test]
async fn the_root_points_to_graphql() {
    let app = spawn_app(Setup::default()).await;
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let response = client.get(format!("{}/", app.url)).send().await.unwrap();
    assert_eq!(response.status(), 307);
    assert_eq!(response.headers()["location"], "/graphql");
}
