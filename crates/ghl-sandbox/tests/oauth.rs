//! The OAuth authorization-code flow: consent redirect, code exchange (once), access tokens that
//! carry the granted scopes and expire, and refresh-token rotation (a refresh token works once).

mod common;

use std::time::Duration;

use ghl_sandbox::{SandboxConfig, API_VERSION, LOCATION_ID, OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET, OTHER_LOCATION_ID};
use serde_json::Value;

/// Follows the consent screen stand-in and returns the code it redirects with.
async fn authorize(t: &common::TestSandbox, scope: &str, location: Option<&str>) -> String {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let mut url = format!(
        "{}/oauth/chooselocation?response_type=code&client_id={OAUTH_CLIENT_ID}&redirect_uri=http://localhost:9/callback&scope={}&state=xyz",
        t.sandbox.base_url(),
        scope.replace(' ', "%20")
    );
    if let Some(location) = location {
        url.push_str(&format!("&location_id={location}"));
    }
    let response = client.get(url).send().await.expect("answered");
    assert_eq!(response.status().as_u16(), 302);
    let target = response.headers()["location"].to_str().expect("ascii").to_owned();
    assert!(target.starts_with("http://localhost:9/callback?code="), "{target}");
    assert!(target.ends_with("&state=xyz"), "{target}");
    target.split("code=").nth(1).and_then(|rest| rest.split('&').next()).expect("code").to_owned()
}

async fn token(t: &common::TestSandbox, form: &[(&str, &str)]) -> common::Answer {
    let mut fields = vec![("client_id", OAUTH_CLIENT_ID), ("client_secret", OAUTH_CLIENT_SECRET)];
    fields.extend_from_slice(form);
    let response = t.client.post(t.url("/oauth/token")).form(&fields).send().await.expect("answered");
    common::answer(response).await
}

fn str_of<'a>(body: &'a Value, key: &str) -> &'a str {
    body[key].as_str().unwrap_or_else(|| panic!("{key} in {body}"))
}

#[tokio::test]
async fn a_code_is_exchanged_once_for_tokens_with_the_granted_scopes() {
    let t = common::spawn().await;
    let code = authorize(&t, "contacts.readonly", None).await;
    let answer = token(&t, &[("grant_type", "authorization_code"), ("code", &code), ("user_type", "Location")]).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(str_of(&answer.body, "token_type"), "Bearer");
    assert_eq!(answer.body["expires_in"], 86_399);
    assert_eq!(str_of(&answer.body, "scope"), "contacts.readonly");
    assert_eq!(str_of(&answer.body, "userType"), "Location");
    assert_eq!(str_of(&answer.body, "locationId"), LOCATION_ID);
    assert!(answer.body["userId"].is_string());

    let access = str_of(&answer.body, "access_token");
    let read = t.get(access, &format!("/contacts/{}", t.first_contact())).await;
    assert_eq!(read.status, 200);
    let write = t.post(access, &format!("/contacts/{}/tags", t.first_contact()), serde_json::json!({"tags": ["x"]})).await;
    assert_eq!(write.status, 401, "scope not granted");

    let again = token(&t, &[("grant_type", "authorization_code"), ("code", &code)]).await;
    assert_eq!(again.status, 400);
    assert_eq!(again.body["error"], "invalid_grant");
}

#[tokio::test]
async fn a_refresh_token_works_once_and_rotates() {
    let t = common::spawn().await;
    let code = authorize(&t, "contacts.readonly contacts.write", Some(OTHER_LOCATION_ID)).await;
    let first = token(&t, &[("grant_type", "authorization_code"), ("code", &code)]).await;
    assert_eq!(str_of(&first.body, "locationId"), OTHER_LOCATION_ID);
    let refresh = str_of(&first.body, "refresh_token").to_owned();

    let second = token(&t, &[("grant_type", "refresh_token"), ("refresh_token", &refresh)]).await;
    assert_eq!(second.status, 200, "{:?}", second.body);
    let new_refresh = str_of(&second.body, "refresh_token");
    assert_ne!(new_refresh, refresh);
    assert_ne!(str_of(&second.body, "access_token"), str_of(&first.body, "access_token"));
    assert_eq!(str_of(&second.body, "scope"), "contacts.readonly contacts.write");

    let reused = token(&t, &[("grant_type", "refresh_token"), ("refresh_token", &refresh)]).await;
    assert_eq!(reused.status, 400);
    assert_eq!(reused.body["error"], "invalid_grant");

    let third = token(&t, &[("grant_type", "refresh_token"), ("refresh_token", new_refresh)]).await;
    assert_eq!(third.status, 200);
    let other_contact = t.sandbox.contact_ids_in(OTHER_LOCATION_ID).remove(0);
    assert_eq!(t.get(str_of(&third.body, "access_token"), &format!("/contacts/{other_contact}")).await.status, 200);
}

#[tokio::test]
async fn access_tokens_expire_after_their_ttl() {
    let t = common::spawn_with(SandboxConfig { access_token_ttl: Duration::from_millis(300), ..SandboxConfig::default() }).await;
    let code = authorize(&t, "contacts.readonly", None).await;
    let answer = token(&t, &[("grant_type", "authorization_code"), ("code", &code)]).await;
    assert_eq!(answer.body["expires_in"], 0, "expires_in is in whole seconds");
    let access = str_of(&answer.body, "access_token");
    let path = format!("/contacts/{}", t.first_contact());
    assert_eq!(t.get(access, &path).await.status, 200);
    tokio::time::sleep(Duration::from_millis(350)).await;
    let expired = t.get(access, &path).await;
    assert_eq!((expired.status, expired.message()), (401, "Invalid JWT".to_owned()));
}

#[tokio::test]
async fn wrong_client_credentials_are_401_invalid_client() {
    let t = common::spawn().await;
    let response = t
        .client
        .post(t.url("/oauth/token"))
        .form(&[("client_id", OAUTH_CLIENT_ID), ("client_secret", "wrong"), ("grant_type", "refresh_token"), ("refresh_token", "x")])
        .send()
        .await
        .expect("answered");
    let answer = common::answer(response).await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.body["error"], "invalid_client");
    let missing = t.client.post(t.url("/oauth/token")).form(&[("grant_type", "refresh_token")]).send().await.expect("answered");
    assert_eq!(missing.status().as_u16(), 422);
}

#[tokio::test]
async fn the_token_endpoint_needs_no_version_header() {
    let t = common::spawn().await;
    let code = authorize(&t, "contacts.readonly", None).await;
    // `token()` sends no Version header; the API call below does.
    let answer = token(&t, &[("grant_type", "authorization_code"), ("code", &code)]).await;
    assert_eq!(answer.status, 200);
    let logged = t.sandbox.requests();
    let exchange = logged.iter().find(|r| r.path == "/oauth/token").expect("logged");
    assert_eq!(exchange.location_id.as_deref(), Some(LOCATION_ID));
    let _ = API_VERSION;
}
