//! Agency (Company) installs: the Company token from a `user_type=Company` exchange, location tokens
//! minted from it (`POST /oauth/locationToken`), `GET /oauth/installedLocations`, INSTALL/UNINSTALL
//! webhooks (signed as the others are), revocation at uninstall, and future locations.

mod common;

use ghl_sandbox::{API_VERSION, COMPANY_ID, LOCATION_ID, OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET, OTHER_LOCATION_ID};
use serde_json::Value;

const SCOPES: &str = "contacts.readonly oauth.write oauth.readonly";

/// The agency consent (`company_id`), then the code exchange with `user_type`.
async fn agency_token(t: &common::TestSandbox, extra: &str, user_type: &str) -> common::Answer {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let url = format!(
        "{}/oauth/chooselocation?response_type=code&client_id={OAUTH_CLIENT_ID}&redirect_uri=http://localhost:9/cb&scope={}&company_id={COMPANY_ID}{extra}",
        t.sandbox.base_url(),
        SCOPES.replace(' ', "%20")
    );
    let target = client.get(url).send().await.expect("answered").headers()["location"].to_str().expect("ascii").to_owned();
    let code = target.split("code=").nth(1).expect("code").to_owned();
    let form = [
        ("client_id", OAUTH_CLIENT_ID),
        ("client_secret", OAUTH_CLIENT_SECRET),
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("user_type", user_type),
    ];
    common::answer(t.client.post(t.url("/oauth/token")).form(&form).send().await.expect("answered")).await
}

async fn location_token(t: &common::TestSandbox, company_token: &str, location: &str) -> common::Answer {
    let response = t
        .client
        .post(t.url("/oauth/locationToken"))
        .bearer_auth(company_token)
        .header("Version", API_VERSION)
        .form(&[("companyId", COMPANY_ID), ("locationId", location)])
        .send()
        .await
        .expect("answered");
    common::answer(response).await
}

fn access(body: &Value) -> String {
    body["access_token"].as_str().unwrap_or_else(|| panic!("access_token in {body}")).to_owned()
}

#[tokio::test]
async fn a_company_token_mints_location_tokens_for_its_approved_locations_only() {
    let t = common::spawn().await;
    let company = agency_token(&t, &format!("&approved_locations={LOCATION_ID}"), "Company").await;
    assert_eq!(company.status, 200, "{:?}", company.body);
    assert_eq!(company.body["userType"], "Company");
    assert!(company.body.get("locationId").is_none(), "{:?}", company.body);
    assert_eq!(company.body["companyId"], COMPANY_ID);
    assert_eq!(company.body["approvedLocations"], serde_json::json!([LOCATION_ID]));
    assert_eq!((company.body["approveAllLocations"].as_bool(), company.body["isBulkInstallation"].as_bool()), (Some(false), Some(true)));
    let company_token = access(&company.body);
    assert_eq!(t.get(&company_token, &format!("/contacts/{}", t.first_contact())).await.status, 403, "a Company token reads no location");

    let minted = location_token(&t, &company_token, LOCATION_ID).await;
    assert_eq!(minted.status, 200, "{:?}", minted.body);
    assert_eq!(minted.body["locationId"], LOCATION_ID);
    assert!(minted.body.get("refresh_token").is_none());
    assert_eq!(minted.body["scope"], "contacts.readonly");
    assert_eq!(t.get(&access(&minted.body), &format!("/contacts/{}", t.first_contact())).await.status, 200);
    let logged = t.sandbox.requests();
    assert!(logged.iter().any(|r| r.path == "/oauth/locationToken" && r.status == 200 && r.location_id.as_deref() == Some(LOCATION_ID)));

    let unapproved = location_token(&t, &company_token, OTHER_LOCATION_ID).await;
    assert_eq!((unapproved.status, unapproved.message()), (400, "The app is not installed on this location".to_owned()));
    let with_location_token = location_token(&t, &access(&minted.body), LOCATION_ID).await;
    assert_eq!(with_location_token.status, 403, "Agency-Access-Only");
    let no_version = t
        .client
        .post(t.url("/oauth/locationToken"))
        .bearer_auth(&company_token)
        .form(&[("companyId", COMPANY_ID), ("locationId", LOCATION_ID)])
        .send()
        .await
        .unwrap();
    assert_eq!(no_version.status().as_u16(), 401);
}

#[tokio::test]
async fn an_agency_code_needs_user_type_company_and_a_location_code_refuses_it() {
    let t = common::spawn().await;
    let wrong = agency_token(&t, "", "Location").await;
    assert_eq!((wrong.status, wrong.body["error"].as_str()), (400, Some("invalid_request")), "{:?}", wrong.body);
    let company = agency_token(&t, "", "Company").await;
    assert_eq!(company.body["approveAllLocations"], true);
    let refresh = company.body["refresh_token"].as_str().unwrap();
    let form = [
        ("client_id", OAUTH_CLIENT_ID),
        ("client_secret", OAUTH_CLIENT_SECRET),
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh),
        ("user_type", "Company"),
    ];
    let refreshed = common::answer(t.client.post(t.url("/oauth/token")).form(&form).send().await.unwrap()).await;
    assert_eq!((refreshed.status, refreshed.body["userType"].as_str()), (200, Some("Company")), "{:?}", refreshed.body);
}

#[tokio::test]
async fn installed_locations_lists_the_company_and_whether_each_has_the_app() {
    let t = common::spawn().await;
    let company = agency_token(&t, &format!("&approved_locations={OTHER_LOCATION_ID}&install_to_future_locations=true"), "Company").await;
    let response = t
        .client
        .get(t.url(&format!("/oauth/installedLocations?companyId={COMPANY_ID}&appId=sandbox&isInstalled=true")))
        .bearer_auth(access(&company.body))
        .header("Version", API_VERSION)
        .send()
        .await
        .unwrap();
    let listed = common::answer(response).await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    assert_eq!(listed.body["installToFutureLocations"], true);
    let ids: Vec<&str> = listed.body["locations"].as_array().unwrap().iter().map(|l| l["_id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![OTHER_LOCATION_ID]);
}

#[tokio::test]
async fn install_and_uninstall_send_signed_events_and_an_uninstall_revokes_the_locations_tokens() {
    let (t, hooks) = common::spawn_hooked().await;
    let company = agency_token(&t, &format!("&approved_locations={LOCATION_ID}&install_to_future_locations=true"), "Company").await;
    let installed = hooks.expect(&["INSTALL"]).await;
    assert_eq!((installed[0].event["locationId"].as_str(), installed[0].event["companyId"].as_str()), (Some(LOCATION_ID), Some(COMPANY_ID)));
    assert!(installed[0].event["userId"].is_string() && installed[0].event["webhookId"].is_string());
    let key = common::hooks::public_key(&t.client, &t.sandbox.base_url()).await;
    common::hooks::verify(&key, &installed[0]).expect("signed like every other event");
    let company_token = access(&company.body);
    let minted = access(&location_token(&t, &company_token, LOCATION_ID).await.body);

    assert!(t.sandbox.uninstall_location(LOCATION_ID));
    let events = hooks.expect(&["INSTALL", "UNINSTALL"]).await;
    assert_eq!((events[1].event["locationId"].as_str(), events[1].event["companyId"].as_str()), (Some(LOCATION_ID), Some(COMPANY_ID)));
    assert_eq!(t.get(&minted, &format!("/contacts/{}", t.first_contact())).await.status, 401, "revoked");
    assert_eq!(location_token(&t, &company_token, LOCATION_ID).await.status, 400, "no longer mintable");

    // A sub-account added later is installed under installToFutureLocations: no userId, no companyId.
    assert_eq!(t.sandbox.add_location("later-location"), Some(true));
    let events = hooks.expect(&["INSTALL", "UNINSTALL", "INSTALL"]).await;
    assert_eq!(events[2].event["locationId"], "later-location");
    assert!(events[2].event.get("userId").is_none() && events[2].event.get("companyId").is_none(), "{}", events[2].event);
    let later = location_token(&t, &company_token, "later-location").await;
    assert_eq!(later.status, 200, "{:?}", later.body);
    let listed = t.get(&access(&later.body), "/contacts/?locationId=later-location").await;
    assert_eq!((listed.status, listed.body["contacts"].as_array().map(Vec::len)), (200, Some(0)));
}

#[tokio::test]
async fn a_location_install_fires_install_and_its_refresh_token_dies_at_uninstall() {
    let (t, hooks) = common::spawn_hooked().await;
    t.sandbox.install_location(OTHER_LOCATION_ID);
    let events = hooks.expect(&["INSTALL"]).await;
    assert_eq!(events[0].event["locationId"], OTHER_LOCATION_ID);
    let answer = t.client.post(t.url(&format!("/__sandbox/installs/{OTHER_LOCATION_ID}"))).send().await.unwrap();
    assert_eq!(common::answer(answer).await.body["installed"], false, "already installed: no second event");
    let answer = t.client.delete(t.url(&format!("/__sandbox/installs/{OTHER_LOCATION_ID}"))).send().await.unwrap();
    assert_eq!(common::answer(answer).await.body["uninstalled"], true);
    hooks.expect(&["INSTALL", "UNINSTALL"]).await;
}
