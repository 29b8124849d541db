//! Pagination cursors are signed and bound to their location: a tampered, hand-built, foreign or
//! other-key cursor is refused as `BAD_USER_INPUT` before any GHL call; replicas sharing
//! `CURSOR_SECRET` accept each other's.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};

use crate::helpers::{codes, spawn_app, Setup, TestApp};

const SEARCH: &str = "query($after: String) { contacts(first: 2, after: $after) { nodes { id } pageInfo { hasNextPage endCursor } } }";
const BY_BUSINESS: &str =
    "query($b: ID!, $after: String) { contactsByBusiness(businessId: $b, first: 1, after: $after) { nodes { id } pageInfo { endCursor } } }";
const SECRET: &str = "cursor-test-secret-4f1c9a7e2b";

fn with_secret(mut setup: Setup, secret: &str) -> Setup {
    setup.extra.extend(["--cursor-secret".to_owned(), secret.to_owned()]);
    setup
}

/// The first page's `endCursor`.
async fn end_cursor(app: &TestApp, headers: &[(&str, &str)]) -> String {
    let first = app.graphql_with(SEARCH, json!({}), headers).await;
    assert_eq!(first["errors"], Value::Null, "{first}");
    first["data"]["contacts"]["pageInfo"]["endCursor"].as_str().expect("an endCursor").to_owned()
}

/// Sends `after` and asserts it is refused with the one message, and GHL was not called.
async fn assert_refused(app: &TestApp, query: &str, variables: Value, headers: &[(&str, &str)]) {
    let before = app.requests().len();
    let response = app.graphql_with(query, variables, headers).await;
    assert_eq!(codes(&response), vec!["BAD_USER_INPUT"], "{response}");
    assert_eq!(response["errors"][0]["message"], json!("`after` is not a cursor this API issued"), "{response}");
    assert_eq!(app.requests().len(), before, "no upstream call for a refused cursor");
}

fn flip(raw: &str, index: usize) -> String {
    let mut bytes = raw.as_bytes().to_vec();
    bytes[index] = if bytes[index] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).expect("base64 is ascii")
}

#[tokio::test]
async fn a_tampered_cursor_is_refused_without_an_upstream_call() {
    let app = spawn_app(Setup::default()).await;
    let cursor = end_cursor(&app, &[]).await;
    let second = app.graphql(SEARCH, json!({ "after": cursor })).await;
    assert_eq!(second["errors"], Value::Null, "the real cursor still pages: {second}");

    for index in [0, cursor.len() / 2, cursor.len() - 1] {
        assert_refused(&app, SEARCH, json!({ "after": flip(&cursor, index) }), &[]).await;
    }
    // A well-formed edit of the payload (a later `dateAdded`), whatever follows it kept as is.
    let (payload, rest) = cursor.split_once('.').map_or((cursor.as_str(), None), |(p, r)| (p, Some(r)));
    let mut decoded: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url payload")).expect("JSON payload");
    let date = decoded["SearchAfter"][0].as_i64().expect("searchAfter starts with dateAdded");
    decoded["SearchAfter"][0] = json!(date + 1);
    let edited = URL_SAFE_NO_PAD.encode(decoded.to_string());
    let edited = rest.map_or(edited.clone(), |rest| format!("{edited}.{rest}"));
    assert_refused(&app, SEARCH, json!({ "after": edited }), &[]).await;
}

#[tokio::test]
async fn an_unsigned_cursor_of_the_old_format_is_refused_without_an_upstream_call() {
    let app = spawn_app(Setup::default()).await;
    let business = app.sandbox.business_ids()[0].clone();
    let huge_skip = URL_SAFE_NO_PAD.encode(json!({ "Skip": u64::MAX }).to_string());
    let search_after = URL_SAFE_NO_PAD.encode(json!({ "SearchAfter": [{ "script": "x" }] }).to_string());

    assert_refused(&app, BY_BUSINESS, json!({ "b": business, "after": huge_skip }), &[]).await;
    assert_refused(&app, BY_BUSINESS, json!({ "b": business, "after": format!("{huge_skip}.") }), &[]).await;
    assert_refused(&app, SEARCH, json!({ "after": search_after }), &[]).await;
    assert!(app.requests().is_empty(), "{:?}", app.calls());
}

#[tokio::test]
async fn a_cursor_issued_for_another_location_is_refused() {
    let app = spawn_app(Setup::forward()).await;
    let (bearer_a, bearer_b) = (format!("Bearer {}", ghl_sandbox::READ_TOKEN), format!("Bearer {}", ghl_sandbox::OTHER_LOCATION_TOKEN));
    let tenant_a = [("authorization", bearer_a.as_str()), ("x-ghl-location-id", ghl_sandbox::LOCATION_ID)];
    let tenant_b = [("authorization", bearer_b.as_str()), ("x-ghl-location-id", ghl_sandbox::OTHER_LOCATION_ID)];
    let cursor = end_cursor(&app, &tenant_a).await;

    assert_refused(&app, SEARCH, json!({ "after": cursor }), &tenant_b).await;
    let own = app.graphql_with(SEARCH, json!({ "after": cursor }), &tenant_a).await;
    assert_eq!(own["errors"], Value::Null, "{own}");
}

#[tokio::test]
async fn replicas_sharing_cursor_secret_accept_each_others_cursors_and_others_do_not() {
    let (one, two) = (spawn_app(with_secret(Setup::default(), SECRET)).await, spawn_app(with_secret(Setup::default(), SECRET)).await);
    let (random_key, other_secret) = (spawn_app(Setup::default()).await, spawn_app(with_secret(Setup::default(), "another-cursor-secret-0001")).await);
    let cursor = end_cursor(&one, &[]).await;

    let page = two.graphql(SEARCH, json!({ "after": cursor })).await;
    assert_eq!(page["errors"], Value::Null, "{page}");
    assert!(page["data"]["contacts"]["nodes"].as_array().is_some_and(|n| !n.is_empty()), "{page}");
    assert_refused(&random_key, SEARCH, json!({ "after": cursor }), &[]).await;
    assert_refused(&other_secret, SEARCH, json!({ "after": cursor }), &[]).await;
    assert!(!cursor.contains(SECRET));
}

#[tokio::test]
async fn a_short_cursor_secret_stops_start_up_without_echoing_it() {
    let sandbox = ghl_sandbox::Sandbox::spawn(Default::default()).await.expect("sandbox starts");
    let args = crate::helpers::serve_args(&sandbox.base_url(), &with_secret(Setup::default(), "short-secret-15"));
    let error = match crate::helpers::build_app(args).await {
        Ok(_) => panic!("a 15-character CURSOR_SECRET must be refused"),
        Err(error) => format!("{error:#}"),
    };
    assert!(error.contains("CURSOR_SECRET") && error.contains("16"), "{error}");
    assert!(!error.contains("short-secret-15"), "{error}");
}
