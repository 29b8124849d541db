//! Persisted queries: Apollo's APQ protocol end to end, and the safelist mode that refuses
//! everything else before any GHL call.

use std::path::PathBuf;

use ghl_subgraph::graphql::sha256_hex;
use serde_json::{json, Value};

use crate::helpers::{codes, serve_args, spawn_app, Setup, TestApp};

const CONTACT: &str = "query Contact($id: ID!) { contact(id: $id) { id } }";

async fn post(app: &TestApp, body: Value) -> Value {
    app.http.post(format!("{}/graphql", app.url)).json(&body).send().await.unwrap().json().await.unwrap()
}

fn persisted(hash: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
}

/// A safelist file unique to the test, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, contents: &str) -> Self {
        let path = std::env::temp_dir().join(format!("ghl-subgraph-{}-{name}", std::process::id()));
        std::fs::write(&path, contents).expect("temp file written");
        Self(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn safelist_setup(file: &TempFile) -> Setup {
    Setup { extra: vec!["--persisted-queries".into(), "safelist".into(), "--safelist-file".into(), file.0.display().to_string()], ..Default::default() }
}

#[tokio::test]
async fn an_unknown_hash_is_not_found_then_registers_with_its_text_and_runs_by_hash() {
    let app = spawn_app(Setup::default()).await;
    let id = app.contact_ids()[0].clone();
    let hash = sha256_hex(CONTACT);

    let miss = post(&app, json!({ "extensions": persisted(&hash), "variables": { "id": id } })).await;
    assert_eq!(codes(&miss), vec!["PERSISTED_QUERY_NOT_FOUND"], "{miss}");
    assert_eq!(miss["errors"][0]["message"], json!("PersistedQueryNotFound"), "Apollo clients match this message");
    assert!(app.requests().is_empty());

    let register = post(&app, json!({ "query": CONTACT, "extensions": persisted(&hash), "variables": { "id": id } })).await;
    assert_eq!(register["data"]["contact"]["id"], json!(id), "{register}");

    let hit = post(&app, json!({ "extensions": persisted(&hash), "variables": { "id": id } })).await;
    assert_eq!(hit["data"]["contact"]["id"], json!(id), "{hit}");

    // GET works too (Apollo clients send hashed queries over GET for CDN caching).
    let extensions = persisted(&hash).to_string();
    let variables = json!({ "id": id }).to_string();
    let get: Value = app
        .http
        .get(format!("{}/graphql", app.url))
        .header("apollo-require-preflight", "true")
        .query(&[("extensions", extensions.as_str()), ("variables", variables.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(get["data"]["contact"]["id"], json!(id), "{get}");
}

#[tokio::test]
async fn in_forward_mode_an_operation_registered_by_one_tenant_is_not_found_by_another() {
    let app = spawn_app(Setup::forward()).await;
    let query = "query Page { contacts(first: 1) { nodes { id } } }";
    let hash = sha256_hex(query);
    let bearer = |token: &str| format!("Bearer {token}");
    let (a, same_location, other_location) = (bearer(ghl_sandbox::READ_TOKEN), bearer(ghl_sandbox::WRITE_TOKEN), bearer(ghl_sandbox::OTHER_LOCATION_TOKEN));
    let tenant_a = [("authorization", a.as_str()), ("x-ghl-location-id", ghl_sandbox::LOCATION_ID)];
    let tenant_b = [("authorization", other_location.as_str()), ("x-ghl-location-id", ghl_sandbox::OTHER_LOCATION_ID)];
    let tenant_c = [("authorization", same_location.as_str()), ("x-ghl-location-id", ghl_sandbox::LOCATION_ID)];
    let send = |body: Value, headers: &[(&str, &str)]| {
        let mut request = app.http.post(format!("{}/graphql", app.url)).json(&body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };

    let register = send(json!({ "query": query, "extensions": persisted(&hash) }), &tenant_a).await;
    assert_eq!(register["errors"], Value::Null, "{register}");
    let calls = app.requests().len();

    for other in [&tenant_b, &tenant_c] {
        let miss = send(json!({ "extensions": persisted(&hash) }), other).await;
        assert_eq!(codes(&miss), vec!["PERSISTED_QUERY_NOT_FOUND"], "{miss}");
    }
    assert_eq!(app.requests().len(), calls, "a miss calls GHL for nothing");
    let hit = send(json!({ "extensions": persisted(&hash) }), &tenant_a).await;
    assert_eq!(hit["data"], register["data"], "{hit}");
}

#[tokio::test]
async fn a_hash_that_does_not_match_its_text_is_refused_and_not_registered() {
    let app = spawn_app(Setup::default()).await;
    let wrong = sha256_hex("{ somethingElse }");

    let mismatch = post(&app, json!({ "query": "{ __typename }", "extensions": persisted(&wrong) })).await;
    let later = post(&app, json!({ "extensions": persisted(&wrong) })).await;

    assert_eq!(codes(&mismatch), vec!["PERSISTED_QUERY_HASH_MISMATCH"], "{mismatch}");
    assert_eq!(codes(&later), vec!["PERSISTED_QUERY_NOT_FOUND"], "{later}");
}

#[tokio::test]
async fn persisted_operations_still_obey_the_operation_limits() {
    let app = spawn_app(Setup::default()).await;
    let aliases: String = (0..200).map(|i| format!("a{i}: __typename ")).collect();
    let query = format!("{{ {aliases} }}");
    let hash = sha256_hex(&query);

    let register = post(&app, json!({ "query": query, "extensions": persisted(&hash) })).await;
    let by_hash = post(&app, json!({ "extensions": persisted(&hash) })).await;

    assert_eq!(codes(&register), vec!["OPERATION_LIMIT"], "{register}");
    assert_eq!(codes(&by_hash), vec!["OPERATION_LIMIT"], "{by_hash}");
}

#[tokio::test]
async fn with_persisted_queries_off_a_hash_alone_is_not_supported() {
    let app = spawn_app(Setup { extra: vec!["--persisted-queries".into(), "off".into()], ..Default::default() }).await;

    let response = post(&app, json!({ "extensions": persisted(&sha256_hex("{ __typename }")) })).await;

    assert_eq!(codes(&response), vec!["PERSISTED_QUERY_NOT_SUPPORTED"], "{response}");
}

#[tokio::test]
async fn a_safelist_server_runs_only_listed_operations_and_calls_ghl_for_nothing_else() {
    let list = TempFile::new("safelist-map.json", &json!({ sha256_hex(CONTACT): CONTACT }).to_string());
    let app = spawn_app(safelist_setup(&list)).await;
    let id = app.contact_ids()[0].clone();

    let by_hash = post(&app, json!({ "extensions": persisted(&sha256_hex(CONTACT)), "variables": { "id": id } })).await;
    let by_text = post(&app, json!({ "query": CONTACT, "variables": { "id": id } })).await;
    assert_eq!(by_hash["data"]["contact"]["id"], json!(id), "{by_hash}");
    assert_eq!(by_text["data"]["contact"]["id"], json!(id), "{by_text}");
    app.sandbox.clear_requests();

    let other_text = post(&app, json!({ "query": "query($id: ID!) { contact(id: $id) { id email } }", "variables": { "id": id } })).await;
    let mutation = post(&app, json!({ "query": "mutation($id: ID!) { deleteContact(id: $id) }", "variables": { "id": id } })).await;
    let other_hash = post(&app, json!({ "extensions": persisted(&sha256_hex("{ __typename }")) })).await;
    let registering = post(&app, json!({ "query": "{ __typename }", "extensions": persisted(&sha256_hex("{ __typename }")) })).await;
    for refused in [&other_text, &mutation, &other_hash, &registering] {
        assert_eq!(codes(refused), vec!["PERSISTED_QUERY_NOT_IN_SAFELIST"], "{refused}");
        assert!(refused.get("data").is_none(), "{refused}");
    }
    assert!(app.requests().is_empty(), "{:?}", app.requests());
}

#[tokio::test]
async fn a_safelist_may_be_a_list_of_operations() {
    let list = TempFile::new("safelist-list.json", &json!(["{ __typename }", { "id": "contact-v1", "body": CONTACT }]).to_string());
    let app = spawn_app(safelist_setup(&list)).await;
    let id = app.contact_ids()[0].clone();

    let text = post(&app, json!({ "query": "{ __typename }" })).await;
    let by_id = post(&app, json!({ "extensions": persisted("contact-v1"), "variables": { "id": id } })).await;

    assert_eq!(text["data"]["__typename"], json!("Query"), "{text}");
    assert_eq!(by_id["data"]["contact"]["id"], json!(id), "{by_id}");
}

#[tokio::test]
async fn a_missing_or_invalid_safelist_stops_start_up_with_a_clear_message() {
    let sandbox = ghl_sandbox::Sandbox::spawn(Default::default()).await.unwrap();
    let missing = TempFile(std::env::temp_dir().join("ghl-subgraph-no-such-safelist.json"));
    let bad = TempFile::new("safelist-bad.json", "{ \"not-a-hash\": \"{ __typename }\" }");

    for (file, expected) in [(&missing, "reading the safelist file"), (&bad, "not valid")] {
        let error = crate::helpers::build_app(serve_args(&sandbox.base_url(), &safelist_setup(file))).await.err().expect("start-up fails");
        assert!(format!("{error:#}").contains(expected), "{error:#}");
    }
}
