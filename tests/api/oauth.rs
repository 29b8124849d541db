//! OAuth app mode against the sandbox's OAuth endpoints: the install flow, state checks (bound to
//! the installing browser), installs only for the location GHL names, callers limited to their
//! locations, restarts, and refreshes that happen once per location however many requests find the
//! token stale.

use std::time::Duration;

use ghl_sandbox::{Fault, TokenAnswer, LOCATION_ID, OTHER_LOCATION_ID};
use ghl_subgraph::config::{TokensAction, TokensArgs};
use ghl_subgraph::oauth::{run_tokens_command, TokenRecord, TokenStatus, TokenStore};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use crate::helpers::codes;
use crate::oauth_harness::*;

const HOUR: Duration = Duration::from_secs(3600);

fn nodes(response: &serde_json::Value) -> usize {
    response["data"]["contacts"]["nodes"].as_array().map_or(0, Vec::len)
}

async fn tokens_list(store: &std::path::Path) -> String {
    let args = TokensArgs { action: TokensAction::List, token_store: store.to_owned(), token_store_key: Some(STORE_KEY.parse().unwrap()) };
    run_tokens_command(args).await.expect("tokens list")
}

#[tokio::test]
async fn the_install_flow_stores_the_location_and_its_queries_then_work() {
    let sandbox = spawn_sandbox(HOUR).await;
    let store = store_dir("install");
    let app = spawn_oauth_app(&sandbox, &store, &[]).await;

    let before = app.query_as(KEY_A, LOCATION_ID, CONTACTS).await;
    assert_eq!(codes(&before), vec!["UNAUTHENTICATED"], "{before}");
    assert!(before.to_string().contains("/oauth/install"), "names the install URL: {before}");

    let consent = redirect_target(&app.http, &format!("{}/oauth/install", app.url)).await;
    assert!(consent.starts_with(&format!("{}/oauth/chooselocation?response_type=code&client_id=", sandbox.base_url())), "{consent}");
    assert!(consent.contains("redirect_uri=") && consent.contains("scope=") && consent.contains("state="), "{consent}");
    let (status, page) = app.install(LOCATION_ID).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(LOCATION_ID), "{page}");

    let record = stored(&store, LOCATION_ID).await.expect("stored");
    assert_eq!(record.status, TokenStatus::Active);
    assert!(record.scopes.contains("contacts.write"), "{}", record.scopes);
    assert_eq!(record.company_id.as_deref(), Some(ghl_sandbox::COMPANY_ID));
    assert!(record.user_id.is_some());
    let response = app.query_as(KEY_A, LOCATION_ID, CONTACTS).await;
    assert_eq!(nodes(&response), 2, "{response}");
    assert_eq!(token_calls(&sandbox), 1, "one code exchange");

    let listed = tokens_list(&store).await;
    assert!(listed.contains(LOCATION_ID) && listed.contains("active"), "{listed}");
    assert!(!listed.contains(record.access_token.expose_secret()) && !listed.contains(record.refresh_token.expose_secret()));

    let args = TokensArgs {
        action: TokensAction::Revoke { location: LOCATION_ID.into() },
        token_store: store.clone(),
        token_store_key: Some(STORE_KEY.parse().unwrap()),
    };
    assert!(run_tokens_command(args).await.unwrap().contains("removed"));
    assert!(stored(&store, LOCATION_ID).await.is_none(), "revoked");
}

#[tokio::test]
async fn forged_expired_and_replayed_states_are_refused() {
    let sandbox = spawn_sandbox(HOUR).await;
    let store = store_dir("state");
    let app = spawn_oauth_app(&sandbox, &store, &["--oauth-state-ttl", "1s"]).await;

    // Forged: a made-up state, and a real one with its signature swapped.
    let callback = consent(&app.http, &app.url, LOCATION_ID).await;
    let forged = callback.with_url(callback.url.replace("state=", "state=x"));
    let response = forged.visit(&app.http).await;
    assert_eq!(response.status(), 400);
    let response = app.http.get(format!("{}/oauth/callback?code=abc&state=bm9uY2U.9999999999.c2ln", app.url)).send().await.unwrap();
    assert_eq!(response.status(), 400);

    // Expired: the 1s lifetime passes before the callback.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let response = callback.visit(&app.http).await;
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("expired"));

    // Replayed: the second use of a good callback URL is refused before GHL is asked
    // (on an app whose links live long enough for a loaded machine).
    let app = spawn_oauth_app(&sandbox, &store_dir("state-replay"), &[]).await;
    let callback = consent(&app.http, &app.url, LOCATION_ID).await;
    assert_eq!(callback.visit(&app.http).await.status(), 200);
    let exchanges = token_calls(&sandbox);
    let response = callback.visit(&app.http).await;
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("already used"));
    assert_eq!(token_calls(&sandbox), exchanges, "no code exchange for a replayed state");
    assert_eq!(exchanges, 1, "the forged and expired callbacks never reached GHL");
}

#[tokio::test]
async fn a_caller_cannot_reach_a_location_outside_its_list() {
    let sandbox = spawn_sandbox(HOUR).await;
    let store = store_dir("callers");
    let app = spawn_oauth_app(&sandbox, &store, &[]).await;
    assert_eq!(app.install(LOCATION_ID).await.0, 200);
    assert_eq!(app.install(OTHER_LOCATION_ID).await.0, 200);
    sandbox.clear_requests();

    let refused = app.query_as(KEY_A, OTHER_LOCATION_ID, CONTACTS).await;
    assert_eq!(codes(&refused), vec!["FORBIDDEN"], "{refused}");
    let refused = app.query_as(KEY_B, LOCATION_ID, CONTACTS).await;
    assert_eq!(codes(&refused), vec!["FORBIDDEN"], "{refused}");
    assert!(sandbox.requests().is_empty(), "no upstream call for a refused caller");

    assert_eq!(nodes(&app.query_as(KEY_A, LOCATION_ID, CONTACTS).await), 2);
    let other = app.query_as(KEY_B, OTHER_LOCATION_ID, CONTACTS).await;
    assert_eq!(nodes(&other), 2, "{other}");
    let no_location = app
        .http
        .post(format!("{}/graphql", app.url))
        .header("x-api-key", KEY_A)
        .json(&json!({ "query": CONTACTS }))
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert_eq!(codes(&no_location), vec!["UNAUTHENTICATED"], "{no_location}");
}

#[tokio::test]
async fn a_restart_on_the_same_store_keeps_every_location_working() {
    let sandbox = spawn_sandbox(HOUR).await;
    let store = store_dir("restart");
    let app = spawn_oauth_app(&sandbox, &store, &[]).await;
    assert_eq!(app.install(LOCATION_ID).await.0, 200);
    assert_eq!(app.install(OTHER_LOCATION_ID).await.0, 200);
    drop(app);

    let restarted = spawn_oauth_app(&sandbox, &store, &[]).await;
    assert_eq!(nodes(&restarted.query_as(KEY_A, LOCATION_ID, CONTACTS).await), 2);
    assert_eq!(nodes(&restarted.query_as(KEY_B, OTHER_LOCATION_ID, CONTACTS).await), 2);
    assert_eq!(token_calls(&sandbox), 2, "the stored pairs are used as they are: no new exchange, no refresh");
}

#[tokio::test]
async fn two_hundred_concurrent_requests_finding_a_stale_token_cause_exactly_one_refresh() {
    // Tokens live 6s and are refreshed within 3s of expiry: after 3.2s the stored one is stale.
    let sandbox = spawn_sandbox(Duration::from_secs(6)).await;
    let store = store_dir("single-flight");
    let app = spawn_oauth_app(&sandbox, &store, &["--refresh-margin", "3s"]).await;
    assert_eq!(app.install(LOCATION_ID).await.0, 200);
    let installed = stored(&store, LOCATION_ID).await.unwrap();
    tokio::time::sleep(Duration::from_millis(3200)).await;
    sandbox.clear_requests();

    let requests = (0..200).map(|_| app.query_as(KEY_A, LOCATION_ID, CONTACTS));
    let responses = futures_util::future::join_all(requests).await;

    assert!(responses.iter().all(|r| nodes(r) == 2), "every request succeeded: {:?}", responses.iter().find(|r| nodes(r) != 2));
    assert_eq!(token_calls(&sandbox), 1, "one POST /oauth/token for 200 requests");
    let refreshed = stored(&store, LOCATION_ID).await.unwrap();
    assert_ne!(refreshed.refresh_token.expose_secret(), installed.refresh_token.expose_secret(), "the rotated pair is stored");
}

#[tokio::test]
async fn an_expired_token_401_is_refreshed_once_and_the_query_runs_again() {
    let sandbox = spawn_sandbox(HOUR).await;
    let store = store_dir("reauth");
    let app = spawn_oauth_app(&sandbox, &store, &[]).await;
    assert_eq!(app.install(LOCATION_ID).await.0, 200);
    sandbox.clear_requests();
    let fault: Fault = serde_json::from_value(json!({ "path": "/contacts/search", "kind": "status", "status": 401, "count": 1 })).unwrap();
    sandbox.add_fault(fault);

    let response = app.query_as(KEY_A, LOCATION_ID, CONTACTS).await;

    assert_eq!(nodes(&response), 2, "{response}");
    assert_eq!(token_calls(&sandbox), 1, "one refresh after the 401");
}

#[tokio::test]
async fn a_refresh_refused_by_ghl_marks_the_location_for_reinstall() {
    let sandbox = spawn_sandbox(Duration::from_secs(2)).await;
    let store = store_dir("reinstall");
    let app = spawn_oauth_app(&sandbox, &store, &["--refresh-margin", "1s"]).await;
    assert_eq!(app.install(LOCATION_ID).await.0, 200);
    // Someone else spends the refresh token (a second deployment, a leaked copy): ours is dead.
    assert_eq!(spend_refresh_token(&sandbox, &store, LOCATION_ID).await, 200);
    tokio::time::sleep(Duration::from_millis(1200)).await;

    let response = app.query_as(KEY_A, LOCATION_ID, CONTACTS).await;
    assert_eq!(codes(&response), vec!["UNAUTHENTICATED"], "{response}");
    assert!(response.to_string().contains(&format!("{}/oauth/install", app.url)), "{response}");
    assert!(response.to_string().contains("a location-level install with no agency token to recover it from"), "{response}");
    assert_eq!(stored(&store, LOCATION_ID).await.unwrap().status, TokenStatus::NeedsReinstall);
    let calls = token_calls(&sandbox);
    let again = app.query_as(KEY_A, LOCATION_ID, CONTACTS).await;
    assert_eq!(codes(&again), vec!["UNAUTHENTICATED"]);
    assert_eq!(token_calls(&sandbox), calls, "no more refresh attempts with a dead token");
    assert!(tokens_list(&store).await.contains("needs_reinstall"));

    // Reinstalling brings it back.
    assert_eq!(app.install(LOCATION_ID).await.0, 200);
    assert_eq!(nodes(&app.query_as(KEY_A, LOCATION_ID, CONTACTS).await), 2);
}

#[tokio::test]
async fn a_token_response_without_a_location_cannot_overwrite_the_location_named_in_the_callback_url() {
    let sandbox = spawn_sandbox(HOUR).await;
    let store = store_dir("f7-no-location");
    let app = spawn_oauth_app(&sandbox, &store, &[]).await;
    assert_eq!(app.install(LOCATION_ID).await.0, 200);
    let installed = stored(&store, LOCATION_ID).await.expect("installed");

    // An attacker's own install, answered without `locationId`, names the victim's in the URL.
    sandbox.set_token_answer(TokenAnswer::LocationWithoutId);
    let callback = consent(&app.http, &app.url, OTHER_LOCATION_ID).await;
    let response = callback.with_url(format!("{}&locationId={LOCATION_ID}", callback.url)).visit(&app.http).await;

    assert_eq!(response.status(), 400);
    let page = response.text().await.unwrap();
    assert!(page.contains("names no location") && !page.contains(LOCATION_ID), "{page}");
    assert_eq!(token_calls(&sandbox), 2, "the code was exchanged; GHL's answer was refused");
    let after = stored(&store, LOCATION_ID).await.expect("still installed");
    assert_eq!(after.access_token.expose_secret(), installed.access_token.expose_secret());
    assert_eq!(after.refresh_token.expose_secret(), installed.refresh_token.expose_secret());
    assert_eq!(after.generation, installed.generation);
    assert_eq!(open_store(&store).list().await.unwrap().len(), 1, "nothing else stored");
    sandbox.set_token_answer(TokenAnswer::Location);
    assert_eq!(nodes(&app.query_as(KEY_A, LOCATION_ID, CONTACTS).await), 2, "the installed pair still works");
}

#[tokio::test]
async fn a_callback_without_the_install_cookie_or_with_another_browsers_is_refused_before_ghl_is_asked() {
    let sandbox = spawn_sandbox(HOUR).await;
    let store = store_dir("f7-cookie");
    let app = spawn_oauth_app(&sandbox, &store, &[]).await;
    let response = app.http.get(format!("{}/oauth/install", app.url)).send().await.unwrap();
    let set_cookie = response.headers()["set-cookie"].to_str().unwrap();
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/oauth", "Max-Age=600"] {
        assert!(set_cookie.split("; ").any(|a| a == attribute), "{attribute} in {set_cookie}");
    }
    assert!(!set_cookie.contains("Secure"), "an http redirect URI gets no Secure cookie: {set_cookie}");
    let secret = set_cookie.split(';').next().and_then(|c| c.split_once('=')).unwrap().1;
    assert!(secret.len() >= 32 && !response.headers()["location"].to_str().unwrap().contains(secret), "the URL never carries the cookie");

    // The victim's browser started an install; the same link is opened elsewhere.
    let victim = consent(&app.http, &app.url, LOCATION_ID).await;
    let other = consent(&app.http, &app.url, LOCATION_ID).await;
    sandbox.clear_requests();
    let no_cookie = app.http.get(&victim.url).send().await.unwrap();
    assert_eq!(no_cookie.status(), 400);
    assert!(no_cookie.text().await.unwrap().contains("not started in this browser"));
    let other_browser = Callback { url: victim.url.clone(), cookie: other.cookie.clone() }.visit(&app.http).await;
    assert_eq!(other_browser.status(), 400);
    let made_up = Callback { url: victim.url.clone(), cookie: "ghl_oauth_install=made-up".into() }.visit(&app.http).await;
    assert_eq!(made_up.status(), 400);

    assert_eq!(token_calls(&sandbox), 0, "GHL was never asked to exchange the code");
    assert!(stored(&store, LOCATION_ID).await.is_none());
    // The refusals did not spend the state: the browser that started the install completes it.
    let response = victim.visit(&app.http).await;
    assert_eq!(response.status(), 200);
    let cleared = response.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cleared.starts_with("ghl_oauth_install=;") && cleared.contains("Max-Age=0"), "the spent cookie is cleared: {cleared}");
    assert_eq!(token_calls(&sandbox), 1);
}

#[tokio::test]
async fn tokens_list_shows_a_crafted_stored_location_id_without_its_terminal_escapes() {
    let store = store_dir("f7-list");
    let crafted = "x\u{1b}]0;owned\u{7}\u{1b}[2J\r\nforged-location";
    let record = TokenRecord {
        location_id: crafted.into(),
        company_id: None,
        user_id: None,
        scopes: "contacts.readonly\u{1b}[8m".into(),
        access_token: SecretString::from("at"),
        refresh_token: SecretString::from("rt"),
        expires_at: chrono::Utc::now(),
        status: TokenStatus::Active,
        updated_at: chrono::Utc::now(),
        generation: 1,
        agency: None,
    };
    open_store(&store).put(&record).await.unwrap();

    let listed = tokens_list(&store).await;

    assert!(listed.chars().all(|c| c == '\n' || (' '..='~').contains(&c)), "{listed:?}");
    assert_eq!(listed.lines().count(), 3, "header, one row, count: {listed:?}");
    assert!(listed.contains("(invalid id) x\\u{1b}]0;owned"), "{listed}");
}

#[tokio::test]
async fn tokens_shorter_lived_than_the_margin_are_refreshed_once_not_on_every_request() {
    // 4 s tokens against the default 5 min margin: before the cap, every request refreshed again.
    let sandbox = spawn_sandbox(Duration::from_secs(4)).await;
    let store = store_dir("short-tokens");
    let app = spawn_oauth_app(&sandbox, &store, &[]).await;
    assert_eq!(app.install(LOCATION_ID).await.0, 200);
    sandbox.clear_requests();

    let fresh = futures_util::future::join_all((0..20).map(|_| app.query_as(KEY_A, LOCATION_ID, CONTACTS))).await;
    assert!(fresh.iter().all(|r| nodes(r) == 2));
    assert_eq!(token_calls(&sandbox), 0, "a pair just received is not refreshed at once");

    tokio::time::sleep(Duration::from_millis(2300)).await;
    let due = futures_util::future::join_all((0..100).map(|_| app.query_as(KEY_A, LOCATION_ID, CONTACTS))).await;
    assert!(due.iter().all(|r| nodes(r) == 2), "{:?}", due.iter().find(|r| nodes(r) != 2));
    assert_eq!(token_calls(&sandbox), 1, "100 requests finding the pair due: one refresh, whose result they all use");
}

#[tokio::test]
async fn a_revoke_holds_against_a_running_server_that_would_refresh() {
    // One-second tokens (the margin is capped at half of that): by the query after the revoke the
    // pair is due, so a server that missed the revoke would refresh and store a fresh pair.
    let sandbox = spawn_sandbox(Duration::from_secs(1)).await;
    let store = store_dir("revoke-holds");
    let app = spawn_oauth_app(&sandbox, &store, &["--refresh-margin", "1h"]).await;
    let (status, page) = app.install(LOCATION_ID).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(nodes(&app.query_as(KEY_A, LOCATION_ID, CONTACTS).await), 2);

    let args = TokensArgs {
        action: TokensAction::Revoke { location: LOCATION_ID.into() },
        token_store: store.clone(),
        token_store_key: Some(STORE_KEY.parse().unwrap()),
    };
    assert!(run_tokens_command(args).await.unwrap().contains("removed"));
    tokio::time::sleep(Duration::from_millis(1200)).await;

    let after = app.query_as(KEY_A, LOCATION_ID, CONTACTS).await;
    assert_eq!(codes(&after), vec!["UNAUTHENTICATED"], "the running server stopped using it: {after}");
    assert!(after.to_string().contains("/oauth/install"), "{after}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(stored(&store, LOCATION_ID).await.is_none(), "no pair was written back");
}

#[tokio::test]
async fn tokens_list_on_a_missing_store_fails_naming_token_store_and_creates_nothing() {
    let missing = std::env::temp_dir().join(format!("ghl-oauth-missing-{}-{:016x}", std::process::id(), fastrand::u64(..)));
    for action in [TokensAction::List, TokensAction::Revoke { location: LOCATION_ID.into() }] {
        let args = TokensArgs { action, token_store: missing.clone(), token_store_key: Some(STORE_KEY.parse().unwrap()) };

        let error = run_tokens_command(args).await.expect_err("a missing store is refused");

        let message = format!("{error:#}");
        assert!(message.contains("TOKEN_STORE") && message.contains(&missing.display().to_string()), "{message}");
        assert!(!missing.exists(), "nothing created");
    }
}

#[tokio::test]
async fn a_damaged_token_file_is_skipped_and_listed_while_the_other_locations_serve() {
    let sandbox = spawn_sandbox(HOUR).await;
    let store = store_dir("damaged");
    let app = spawn_oauth_app(&sandbox, &store, &[]).await;
    let (status, page) = app.install(LOCATION_ID).await;
    assert_eq!(status, 200, "{page}");
    drop(app);
    let hex: String = OTHER_LOCATION_ID.bytes().map(|b| format!("{b:02x}")).collect();
    std::fs::write(store.join(format!("{hex}.tok")), b"GHLT1 truncated by a full disk").unwrap();

    let app = spawn_oauth_app(&sandbox, &store, &[]).await;

    assert_eq!(nodes(&app.query_as(KEY_A, LOCATION_ID, CONTACTS).await), 2);
    let listed = tokens_list(&store).await;
    assert!(listed.contains(&format!("{OTHER_LOCATION_ID} ")) && listed.contains("damaged"), "{listed}");
    assert!(listed.contains("1 location(s), 1 damaged"), "{listed}");
}

#[tokio::test]
async fn a_rejected_client_secret_says_to_fix_the_configuration_not_to_try_again() {
    let sandbox = spawn_sandbox(HOUR).await;
    let store = store_dir("invalid-client");
    let app = spawn_oauth_app_with(&sandbox, &store, &[], |argv| {
        let at = argv.iter().position(|a| a == "--ghl-client-secret").unwrap();
        argv[at + 1] = "not-the-apps-secret".into();
    })
    .await;

    let (status, page) = app.install(LOCATION_ID).await;

    assert_eq!(status, 500, "{page}");
    assert!(page.contains("client id or secret is wrong") && page.contains("GHL_CLIENT_ID / GHL_CLIENT_SECRET"), "{page}");
    assert!(!page.contains("try again"), "{page}");
    assert!(open_store(&store).list().await.unwrap().is_empty(), "nothing stored");
}
