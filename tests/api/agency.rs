//! Agency (Company) installs against the sandbox: every approved location reached through tokens
//! minted from the agency's; a lost or refused location pair recovered by minting, with no user
//! action; INSTALL and UNINSTALL webhooks; one token call however many requests find a token expired.

use std::time::Duration;

use ghl_sandbox::{LOCATION_ID, OTHER_LOCATION_ID};
use ghl_subgraph::config::{TokensAction, TokensArgs};
use ghl_subgraph::oauth::{company_key, run_tokens_command, TokenStore};
use secrecy::ExposeSecret;

use crate::helpers::codes;
use crate::oauth_harness::*;
use crate::subscriptions::sse_until_end;

const HOUR: Duration = Duration::from_secs(3600);
const AGENCY: [&str; 2] = ["--oauth-install-level", "agency"];

fn nodes(response: &serde_json::Value) -> Option<usize> {
    response["data"]["contacts"]["nodes"].as_array().map(Vec::len)
}

async fn tokens_list(store: &std::path::Path) -> String {
    let args = TokensArgs { action: TokensAction::List, token_store: store.to_owned(), token_store_key: Some(STORE_KEY.parse().unwrap()) };
    run_tokens_command(args).await.expect("tokens list")
}

fn calls_to(sandbox: &ghl_sandbox::RunningSandbox, path: &str) -> usize {
    sandbox.requests().iter().filter(|r| r.path == path).count()
}

/// Contact reads of any kind (list, search, one contact).
fn contact_reads(sandbox: &ghl_sandbox::RunningSandbox) -> usize {
    sandbox.requests().iter().filter(|r| r.path.starts_with("/contacts")).count()
}

#[tokio::test]
async fn an_agency_install_reaches_each_approved_location_through_minted_tokens() {
    let sandbox = spawn_sandbox(HOUR).await;
    let store = store_dir("agency-reach");
    let app = spawn_oauth_app(&sandbox, &store, &AGENCY).await;

    let (status, page) = app.install_agency("").await;

    assert_eq!(status, 200, "{page}");
    assert!(page.contains("installed for agency sandbox-company and its 2 approved location(s)"), "{page}");
    let exchange = sandbox.requests().into_iter().find(|r| r.path == "/oauth/token").expect("exchanged");
    assert_eq!(exchange.location_id.as_deref(), Some(ghl_sandbox::COMPANY_ID), "a Company token");
    assert_eq!(nodes(&app.query_as(KEY_A, LOCATION_ID, CONTACTS).await), Some(2));
    assert_eq!(nodes(&app.query_as(KEY_B, OTHER_LOCATION_ID, CONTACTS).await), Some(2));
    assert_eq!((mints_for(&sandbox, LOCATION_ID), mints_for(&sandbox, OTHER_LOCATION_ID)), (1, 1), "one mint per location, then reused");
    assert_eq!(nodes(&app.query_as(KEY_A, LOCATION_ID, CONTACTS).await), Some(2));
    assert_eq!(mints_for(&sandbox, LOCATION_ID), 1);
    let company = stored(&store, &company_key(ghl_sandbox::COMPANY_ID)).await.expect("the agency's pair is stored");
    assert!(company.scopes.contains("oauth.write"), "{}", company.scopes);
    let minted = stored(&store, LOCATION_ID).await.expect("the minted pair is stored");
    assert_eq!((minted.refresh_token.expose_secret().is_empty(), minted.company_id.as_deref()), (true, Some(ghl_sandbox::COMPANY_ID)));
    let listed = tokens_list(&store).await;
    assert!(listed.contains("agency sandbox-company"), "{listed}");
    assert!(listed.contains("approved locations (all): other-location, sandbox-location"), "{listed}");
    assert_eq!(listed.matches("minted from agency sandbox-company").count(), 2, "{listed}");
    assert!(listed.contains("2 location(s), 1 agency install(s)"), "{listed}");
}

#[tokio::test]
async fn a_location_the_agency_did_not_approve_is_not_installed() {
    let sandbox = spawn_sandbox(HOUR).await;
    let store = store_dir("agency-unapproved");
    let app = spawn_oauth_app(&sandbox, &store, &AGENCY).await;
    assert_eq!(app.install_agency(&format!("&approved_locations={LOCATION_ID}")).await.0, 200);

    let response = app.query_as(KEY_B, OTHER_LOCATION_ID, CONTACTS).await;

    assert_eq!(codes(&response), vec!["UNAUTHENTICATED"], "{response}");
    assert_eq!(calls_to(&sandbox, "/oauth/locationToken"), 0, "not even asked: the agency did not approve it");
    assert_eq!(nodes(&app.query_as(KEY_A, LOCATION_ID, CONTACTS).await), Some(2));
}

#[tokio::test]
async fn a_lost_location_pair_is_recovered_from_the_agency_token_with_no_user_action() {
    let sandbox = spawn_sandbox(HOUR).await;
    let store = store_dir("agency-lost");
    let app = spawn_oauth_app(&sandbox, &store, &AGENCY).await;
    assert_eq!(app.install_agency("").await.0, 200);
    assert_eq!(nodes(&app.query_as(KEY_A, LOCATION_ID, CONTACTS).await), Some(2));
    drop(app);
    // The pair is gone (a crash before its write, a restored backup, a deleted file).
    assert!(open_store(&store).delete(LOCATION_ID).await.unwrap());
    sandbox.clear_requests();

    let restarted = spawn_oauth_app(&sandbox, &store, &AGENCY).await;
    let response = restarted.query_as(KEY_A, LOCATION_ID, CONTACTS).await;

    assert_eq!(nodes(&response), Some(2), "{response}");
    assert_eq!(mints_for(&sandbox, LOCATION_ID), 1, "the sandbox log shows the locationToken call");
    assert_eq!(calls_to(&sandbox, "/oauth/chooselocation") + token_calls(&sandbox), 0, "no reinstall, no refresh");
    assert!(stored(&store, LOCATION_ID).await.is_some(), "the minted pair is stored again");
}

#[tokio::test]
async fn a_location_install_whose_refresh_ghl_refuses_is_recovered_from_its_agency() {
    let sandbox = spawn_sandbox(Duration::from_secs(2)).await;
    let store = store_dir("agency-refused");
    // A sub-account installed the app itself first; later its agency did.
    let location_level = spawn_oauth_app(&sandbox, &store, &["--refresh-margin", "1s"]).await;
    assert_eq!(location_level.install(LOCATION_ID).await.0, 200);
    drop(location_level);
    let app = spawn_oauth_app(&sandbox, &store, &AGENCY).await;
    assert_eq!(app.install_agency("").await.0, 200);
    // Someone else spends the location's refresh token: a refresh would be refused.
    assert_eq!(spend_refresh_token(&sandbox, &store, LOCATION_ID).await, 200);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    sandbox.clear_requests();

    let response = app.query_as(KEY_A, LOCATION_ID, CONTACTS).await;

    assert_eq!(nodes(&response), Some(2), "{response}");
    let refused = sandbox.requests().into_iter().find(|r| r.path == "/oauth/token" && r.location_id.is_none()).map(|r| r.status);
    assert_eq!(refused, Some(400), "the location's own refresh was tried and refused");
    assert_eq!(mints_for(&sandbox, LOCATION_ID), 1, "then minted from the agency");
    let now = stored(&store, LOCATION_ID).await.unwrap();
    assert_eq!((now.status, now.refresh_token.expose_secret().is_empty()), (ghl_subgraph::oauth::TokenStatus::Active, true));
}

#[tokio::test]
async fn two_hundred_concurrent_requests_after_expiry_cause_one_token_call_with_the_default_margin() {
    // 3 s tokens against the default 5 min margin; every request comes after the token expired.
    let sandbox = spawn_sandbox(Duration::from_secs(3)).await;
    let store = store_dir("expired-200");
    let app = spawn_oauth_app(&sandbox, &store, &[]).await;
    assert_eq!(app.install(LOCATION_ID).await.0, 200);
    tokio::time::sleep(Duration::from_millis(3100)).await;
    sandbox.clear_requests();

    let responses = futures_util::future::join_all((0..200).map(|_| app.query_as(KEY_A, LOCATION_ID, CONTACTS))).await;

    assert!(responses.iter().all(|r| nodes(r) == Some(2)), "{:?}", responses.iter().find(|r| nodes(r) != Some(2)));
    assert_eq!(token_calls(&sandbox), 1, "one POST /oauth/token for 200 requests");
}

#[tokio::test]
async fn two_hundred_concurrent_requests_after_a_minted_token_expired_mint_once() {
    let sandbox = spawn_sandbox(Duration::from_secs(3)).await;
    let store = store_dir("agency-expired-200");
    let app = spawn_oauth_app(&sandbox, &store, &AGENCY).await;
    assert_eq!(app.install_agency("").await.0, 200);
    assert_eq!(nodes(&app.query_as(KEY_A, LOCATION_ID, CONTACTS).await), Some(2));
    tokio::time::sleep(Duration::from_millis(3100)).await;
    sandbox.clear_requests();

    let responses = futures_util::future::join_all((0..200).map(|_| app.query_as(KEY_A, LOCATION_ID, CONTACTS))).await;

    assert!(responses.iter().all(|r| nodes(r) == Some(2)), "{:?}", responses.iter().find(|r| nodes(r) != Some(2)));
    assert_eq!(mints_for(&sandbox, LOCATION_ID), 1, "one locationToken for 200 requests");
    assert_eq!(token_calls(&sandbox), 1, "and one refresh of the (also expired) agency token");
}

/// May reach only the location added during the test.
const KEY_LATER: &str = "oauth-caller-later-5b17c9e04d";
const LATER: &str = "later-location";

/// An agency-level server that receives the sandbox's webhooks, caches for 5 min, and knows a
/// caller for [`LATER`] too.
async fn spawn_hooked_agency_app(sandbox: &ghl_sandbox::RunningSandbox, store: &std::path::Path) -> OAuthTestApp {
    spawn_hooked_agency_replica(sandbox, store, &[]).await
}

/// As [`spawn_hooked_agency_app`], with `more` flags (a replica's `--redis-url`, …).
async fn spawn_hooked_agency_replica(sandbox: &ghl_sandbox::RunningSandbox, store: &std::path::Path, more: &[&str]) -> OAuthTestApp {
    let public = sandbox.webhook_public_key();
    let mut extra = vec!["--oauth-install-level", "agency", "--webhook-public-key", &public, "--cache-ttl", "5m"];
    extra.extend_from_slice(more);
    let app = spawn_oauth_app_with(sandbox, store, &extra, |argv| {
        let at = argv.iter().position(|a| a == "--api-keys").expect("api keys flag") + 1;
        argv[at] = format!("{},{KEY_LATER}={LATER}", api_keys());
    })
    .await;
    sandbox.set_webhook_url(Some(format!("{}/webhooks/ghl", app.url)));
    app
}

/// A `contactChanged` subscription over SSE on `app`, as the caller with `key` at `location`.
async fn subscribe(app: &OAuthTestApp, key: &str, location: &str) -> reqwest::Response {
    app.http
        .post(format!("{}/graphql", app.url))
        .header("accept", "text/event-stream")
        .header("x-api-key", key)
        .header("x-ghl-location-id", location)
        .json(&serde_json::json!({ "query": "subscription { contactChanged { kind } }" }))
        .send()
        .await
        .expect("subscribed")
}

/// Waits until `count` deliveries of `event` were answered; their last status.
async fn delivered(sandbox: &ghl_sandbox::RunningSandbox, event: &str, count: usize) -> Vec<Option<u16>> {
    let started = std::time::Instant::now();
    loop {
        let statuses: Vec<Option<u16>> = sandbox.webhook_deliveries().into_iter().filter(|d| d.event == event).map(|d| d.status).collect();
        if statuses.len() >= count || started.elapsed() > Duration::from_secs(10) {
            return statuses;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_install_webhook_makes_a_new_location_usable_without_the_install_flow() {
    let sandbox = spawn_sandbox(HOUR).await;
    let store = store_dir("agency-install-hook");
    let app = spawn_hooked_agency_app(&sandbox, &store).await;
    assert_eq!(app.install_agency("&install_to_future_locations=true").await.0, 200);
    assert_eq!(delivered(&sandbox, "INSTALL", 2).await.len(), 2, "the consent installed both locations");
    sandbox.clear_requests();

    // A sub-account created later: GHL installs the app on it and says so, without userId/companyId.
    assert_eq!(sandbox.add_location(LATER), Some(true));
    assert_eq!(delivered(&sandbox, "INSTALL", 3).await.last(), Some(&Some(200)));

    assert_eq!(mints_for(&sandbox, LATER), 1, "minted when the INSTALL arrived, before any query");
    assert!(stored(&store, LATER).await.is_some(), "and stored");
    let response = app.query_as(KEY_LATER, LATER, CONTACTS).await;
    assert_eq!(nodes(&response), Some(0), "usable (an empty sub-account): {response}");
    assert_eq!(mints_for(&sandbox, LATER), 1, "the stored token serves it");
    assert_eq!(calls_to(&sandbox, "/oauth/chooselocation") + token_calls(&sandbox), 0, "no install flow, no code exchange");
    assert!(tokens_list(&store).await.contains(&format!("sandbox-location, {LATER}; future locations too")), "{}", tokens_list(&store).await);
}

#[tokio::test]
async fn an_uninstall_webhook_makes_the_location_unauthenticated_and_purges_its_data() {
    let sandbox = spawn_sandbox(HOUR).await;
    let store = store_dir("agency-uninstall-hook");
    let app = spawn_hooked_agency_app(&sandbox, &store).await;
    assert_eq!(app.install_agency("").await.0, 200);
    delivered(&sandbox, "INSTALL", 2).await;
    assert_eq!(nodes(&app.query_as(KEY_A, LOCATION_ID, CONTACTS).await), Some(2));
    sandbox.clear_requests();
    assert_eq!(nodes(&app.query_as(KEY_A, LOCATION_ID, CONTACTS).await), Some(2));
    assert_eq!(contact_reads(&sandbox), 0, "served from the cache");
    let (mine, mut other) = (subscribe(&app, KEY_A, LOCATION_ID).await, subscribe(&app, KEY_B, OTHER_LOCATION_ID).await);
    assert_eq!((mine.status().as_u16(), other.status().as_u16()), (200, 200));

    assert!(sandbox.uninstall_location(LOCATION_ID));
    assert_eq!(delivered(&sandbox, "UNINSTALL", 1).await, vec![Some(200)]);
    let events = sse_until_end(mine).await;
    let (_, data) = events.iter().find(|(event, _)| event == "next").expect("an error before the end");
    let error: serde_json::Value = serde_json::from_str(data).unwrap();
    assert_eq!(error["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{events:?}");
    assert_eq!(events.last().map(|(e, _)| e.as_str()), Some("complete"), "its subscription ended: {events:?}");
    let still_open = tokio::time::timeout(Duration::from_millis(300), other.chunk()).await;
    assert!(still_open.is_err(), "the other location's subscription stays open and quiet: {still_open:?}");

    let response = app.query_as(KEY_A, LOCATION_ID, CONTACTS).await;
    assert_eq!(codes(&response), vec!["UNAUTHENTICATED"], "{response}");
    assert!(stored(&store, LOCATION_ID).await.is_none(), "its tokens are removed");
    assert_eq!(mints_for(&sandbox, LOCATION_ID), 0, "and never minted again");
    assert_eq!(nodes(&app.query_as(KEY_B, OTHER_LOCATION_ID, CONTACTS).await), Some(2), "the other location is untouched");

    // Installed again: its data comes from GHL, not from what was cached before the uninstall.
    sandbox.install_location(LOCATION_ID);
    assert_eq!(delivered(&sandbox, "INSTALL", 3).await.last(), Some(&Some(200)));
    sandbox.clear_requests();
    assert_eq!(nodes(&app.query_as(KEY_A, LOCATION_ID, CONTACTS).await), Some(2));
    assert_eq!(contact_reads(&sandbox), 1, "the cached page was purged at the uninstall");
}

/// With replicas on Redis, GHL's UNINSTALL reaches one of them, not necessarily the one that took
/// the agency's install; the location is gone on every one: the other replica's subscriptions of
/// it end, its queries are `UNAUTHENTICATED`, and no replica mints for it again.
#[tokio::test]
async fn an_uninstall_webhook_on_one_replica_ends_the_location_on_the_other() {
    let sandbox = spawn_sandbox(HOUR).await;
    let redis = crate::redis_harness::RedisServer::start();
    let (url, prefix) = (redis.url(), format!("test-{:08x}", fastrand::u32(..)));
    let shared = ["--redis-url", url.as_str(), "--redis-prefix", prefix.as_str(), "--expected-replicas", "2"];
    let other = spawn_hooked_agency_replica(&sandbox, &store_dir("agency-uninstall-replica-2"), &shared).await;
    // Spawned last: GHL's webhooks go to this one.
    let _hooked = spawn_hooked_agency_replica(&sandbox, &store_dir("agency-uninstall-replica-1"), &shared).await;
    // Installed through the other replica: the one GHL's webhooks reach holds no agency of its own.
    assert_eq!(other.install_agency("").await.0, 200);
    delivered(&sandbox, "INSTALL", 2).await;
    let first = other.query_as(KEY_A, LOCATION_ID, CONTACTS).await;
    assert_eq!(nodes(&first), Some(2), "the other replica reaches the location: {first}");
    sandbox.clear_requests();
    assert_eq!(nodes(&other.query_as(KEY_A, LOCATION_ID, CONTACTS).await), Some(2));
    assert_eq!(contact_reads(&sandbox), 0, "served from the other replica's cache");
    let (mine, mut theirs) = (subscribe(&other, KEY_A, LOCATION_ID).await, subscribe(&other, KEY_B, OTHER_LOCATION_ID).await);
    assert_eq!((mine.status().as_u16(), theirs.status().as_u16()), (200, 200));

    assert!(sandbox.uninstall_location(LOCATION_ID));
    assert_eq!(delivered(&sandbox, "UNINSTALL", 1).await, vec![Some(200)]);
    sandbox.clear_requests();
    let events = tokio::time::timeout(Duration::from_secs(5), sse_until_end(mine)).await.expect("the other replica's subscription ends");
    let (_, data) = events.iter().find(|(event, _)| event == "next").expect("an error before the end");
    let error: serde_json::Value = serde_json::from_str(data).unwrap();
    assert_eq!(error["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{events:?}");
    assert_eq!(events.last().map(|(e, _)| e.as_str()), Some("complete"), "{events:?}");
    let still_open = tokio::time::timeout(Duration::from_millis(300), theirs.chunk()).await;
    assert!(still_open.is_err(), "the other location's subscription stays open: {still_open:?}");

    let response = other.query_as(KEY_A, LOCATION_ID, CONTACTS).await;
    assert_eq!(codes(&response), vec!["UNAUTHENTICATED"], "{response}");
    let asked = sandbox.requests().iter().filter(|r| r.path == "/oauth/locationToken" && r.location_id.as_deref() == Some(LOCATION_ID)).count();
    assert_eq!(asked, 0, "no replica asks GHL to mint for it again");
    assert_eq!(nodes(&other.query_as(KEY_B, OTHER_LOCATION_ID, CONTACTS).await), Some(2), "the other location is untouched");
}
