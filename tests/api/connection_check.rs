//! `connectionCheck`: the connection check for the admin UI, typed as `ghl-subgraph check`
//! reports it, and only for an operator's API key (one without a location list).

use serde_json::{json, Value};

use crate::helpers::{codes, spawn_app, Setup};

const OPERATOR: &str = "operator-key-5b9e1c7a3f";
const TENANT: &str = "tenant-key-2d8f4a6c0e";
const CHECK: &str = "{ connectionCheck { ok checks { name status diagnosis action } } }";

fn with_keys(mut setup: Setup) -> Setup {
    setup.extra.extend(["--api-keys".to_owned(), format!("{OPERATOR},{TENANT}={}", ghl_sandbox::LOCATION_ID)]);
    setup
}

fn check<'a>(response: &'a Value, name: &str) -> &'a Value {
    let checks = response["data"]["connectionCheck"]["checks"].as_array().unwrap_or_else(|| panic!("no checks: {response}"));
    checks.iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("no {name}: {response}"))
}

#[tokio::test]
async fn an_operator_key_gets_the_report_from_real_test_calls() {
    let app = spawn_app(with_keys(Setup::read_only())).await;

    let response = app.graphql_with(CHECK, json!({}), &[("x-api-key", OPERATOR)]).await;

    assert_eq!(response["data"]["connectionCheck"]["ok"], true, "{response}");
    assert_eq!(check(&response, "token")["status"], "OK");
    assert_eq!(check(&response, "token")["action"], Value::Null);
    assert_eq!(check(&response, "scope.writes")["status"], "WARNING");
    assert!(check(&response, "scope.writes")["diagnosis"].as_str().unwrap().contains("mutations unavailable"), "{response}");
    assert_eq!(check(&response, "endpoint.appointments")["status"], "OK");
    let calls = app.calls();
    assert_eq!(calls.get("POST /contacts/search"), Some(&1), "{calls:?}");
    assert_eq!(calls.values().sum::<usize>(), 6, "six read-only test calls: {calls:?}");
}

#[tokio::test]
async fn a_tenant_key_or_no_keys_at_all_is_forbidden_before_any_ghl_call() {
    let keyed = spawn_app(with_keys(Setup::default())).await;
    let open = spawn_app(Setup::default()).await;

    let tenant = keyed.graphql_with(CHECK, json!({}), &[("x-api-key", TENANT)]).await;
    let keyless = open.graphql(CHECK, json!({})).await;

    for response in [&tenant, &keyless] {
        assert_eq!(codes(response), vec!["FORBIDDEN"], "{response}");
        assert_eq!(response["data"]["connectionCheck"], Value::Null, "{response}");
    }
    assert!(keyed.requests().is_empty() && open.requests().is_empty(), "no GHL call");
}

#[tokio::test]
async fn in_forward_mode_the_callers_own_token_is_checked() {
    let app = spawn_app(with_keys(Setup::forward())).await;
    let as_caller = |token: &'static str| [("x-api-key", OPERATOR), ("x-ghl-location-id", ghl_sandbox::LOCATION_ID), ("authorization", token)];

    let own = app.graphql_with(CHECK, json!({}), &as_caller("Bearer sandbox-read-token")).await;
    let foreign = app.graphql_with(CHECK, json!({}), &as_caller("Bearer other-location-token")).await;

    assert_eq!(own["data"]["connectionCheck"]["ok"], true, "{own}");
    assert_eq!(check(&own, "scope.writes")["status"], "SKIPPED", "forwarded scopes are unknown");
    assert_eq!(foreign["data"]["connectionCheck"]["ok"], false, "{foreign}");
    assert_eq!(check(&foreign, "location")["status"], "FAILED");
    assert!(check(&foreign, "location")["diagnosis"].as_str().unwrap().contains("belongs to another location"), "{foreign}");
}
