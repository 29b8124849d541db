//! `POST /webhooks/ghl`: a signed change event drops exactly the cached entries it makes stale,
//! so the next query refetches them (and only them); forged, unsigned, stale, replayed and
//! foreign-location deliveries change nothing. The sandbox's request log is the oracle.

use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, Setup, TestApp};

const NESTED: &str = "query($id: ID!) { contact(id: $id) { id name tasks { id } notes { id } appointments { id } } }";

fn signing_key() -> SigningKey {
    SigningKey::from_bytes(&[42; 32])
}

fn setup() -> Setup {
    let public: String = signing_key().verifying_key().to_bytes().iter().map(|b| format!("{b:02x}")).collect();
    Setup { extra: vec!["--cache-ttl".into(), "5m".into(), "--webhook-public-key".into(), public], ..Setup::read_only() }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339()
}

/// Delivers `event` signed with `key` (or unsigned); the status and body.
async fn deliver(app: &TestApp, event: &Value, key: Option<&SigningKey>) -> (u16, Value) {
    let body = serde_json::to_vec(event).unwrap();
    let mut request = app.http.post(format!("{}/webhooks/ghl", app.url)).header("content-type", "application/json").body(body.clone());
    if let Some(key) = key {
        request = request.header("x-ghl-signature", base64::engine::general_purpose::STANDARD.encode(key.sign(&body).to_bytes()));
    }
    let response = request.send().await.expect("sent");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Loads `id` with its lists into the cache, then clears the request log.
async fn cached_contact(app: &TestApp) -> String {
    let id = app.contact_ids()[0].clone();
    let response = app.graphql(NESTED, json!({ "id": id })).await;
    assert_eq!(response["errors"], Value::Null, "{response}");
    app.sandbox.clear_requests();
    id
}

/// The GET paths the next nested query of `id` makes.
async fn refetched(app: &TestApp, id: &str) -> Vec<String> {
    app.sandbox.clear_requests();
    let response = app.graphql(NESTED, json!({ "id": id })).await;
    assert_eq!(response["errors"], Value::Null, "{response}");
    let mut paths: Vec<String> = app.requests().into_iter().map(|r| r.path.trim_start_matches(&format!("/contacts/{id}")).to_owned()).collect();
    paths.sort();
    paths
}

fn event(kind: &str, fields: Value) -> Value {
    let mut event = json!({ "type": kind, "locationId": ghl_sandbox::LOCATION_ID, "webhookId": format!("wh-{}", fastrand::u64(..)), "timestamp": now() });
    event.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
    event
}

#[tokio::test]
async fn each_event_type_refetches_exactly_what_it_changed() {
    let app = spawn_app(setup()).await;
    let id = cached_contact(&app).await;
    assert!(refetched(&app, &id).await.is_empty(), "cached");

    for (kind, fields, expected) in [
        ("ContactUpdate", json!({ "id": id }), vec![""]),
        ("ContactTagUpdate", json!({ "id": id }), vec![""]),
        ("ContactDndUpdate", json!({ "id": id }), vec![""]),
        ("TaskCreate", json!({ "id": "t-new", "contactId": id }), vec!["/tasks"]),
        ("TaskComplete", json!({ "id": "t-new", "contactId": id }), vec!["/tasks"]),
        ("TaskDelete", json!({ "id": "t-new", "contactId": id }), vec!["/tasks"]),
        ("NoteCreate", json!({ "id": "n-new", "contactId": id, "body": "x" }), vec!["/notes"]),
        ("NoteUpdate", json!({ "id": "n-new", "contactId": id, "body": "y" }), vec!["/notes"]),
        ("NoteDelete", json!({ "id": "n-new", "contactId": id }), vec!["/notes"]),
        ("AppointmentCreate", json!({ "appointment": { "id": "a-new", "contactId": id } }), vec!["/appointments"]),
        ("AppointmentUpdate", json!({ "appointment": { "id": "a-new", "contactId": id } }), vec!["/appointments"]),
        ("AppointmentDelete", json!({ "appointment": { "id": "a-new", "contactId": id } }), vec!["/appointments"]),
        ("ContactCreate", json!({ "id": "someoneElse000000001" }), vec![]),
        ("TaskCreate", json!({ "id": "t-orphan" }), vec!["/tasks"]),
    ] {
        let (status, body) = deliver(&app, &event(kind, fields.clone()), Some(&signing_key())).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("applied")), "{kind}: {body}");
        assert_eq!(refetched(&app, &id).await, expected, "{kind} {fields}");
    }
}

#[tokio::test]
async fn forged_unsigned_stale_replayed_and_foreign_deliveries_change_nothing() {
    let app = spawn_app(setup()).await;
    let id = cached_contact(&app).await;
    let update = || event("ContactUpdate", json!({ "id": id }));

    let stranger = SigningKey::from_bytes(&[9; 32]);
    assert_eq!(deliver(&app, &update(), Some(&stranger)).await.0, 401, "another key");
    assert_eq!(deliver(&app, &update(), None).await.0, 401, "unsigned");
    let mut stale = update();
    stale["timestamp"] = json!((chrono::Utc::now() - chrono::Duration::minutes(30)).to_rfc3339());
    assert_eq!(deliver(&app, &stale, Some(&signing_key())).await.0, 400, "stale");
    let mut foreign = update();
    foreign["locationId"] = json!(ghl_sandbox::OTHER_LOCATION_ID);
    assert_eq!(deliver(&app, &foreign, Some(&signing_key())).await.1["status"], "ignored");
    assert_eq!(deliver(&app, &event("OpportunityCreate", json!({})), Some(&signing_key())).await.1["status"], "ignored");
    assert!(refetched(&app, &id).await.is_empty(), "the cache still serves");

    let once = update();
    assert_eq!(deliver(&app, &once, Some(&signing_key())).await.1["status"], "applied");
    assert_eq!(refetched(&app, &id).await, vec![""]);
    let (status, body) = deliver(&app, &once, Some(&signing_key())).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("duplicate")), "GHL stops sending a replay: {body}");
    assert!(refetched(&app, &id).await.is_empty(), "a replay invalidates nothing");
}

#[tokio::test]
async fn a_deleted_contact_takes_its_cached_lists_with_it() {
    let app = spawn_app(setup()).await;
    let id = cached_contact(&app).await;

    deliver(&app, &event("ContactDelete", json!({ "id": id })), Some(&signing_key())).await;

    assert_eq!(refetched(&app, &id).await, vec!["", "/appointments", "/notes", "/tasks"]);
}

/// Waits until the sandbox has delivered `count` webhooks (each answered).
async fn delivered(app: &TestApp, count: usize) -> Vec<ghl_sandbox::WebhookDelivery> {
    let started = std::time::Instant::now();
    loop {
        let deliveries = app.sandbox.webhook_deliveries();
        if deliveries.len() >= count || started.elapsed() > std::time::Duration::from_secs(10) {
            return deliveries;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_change_made_elsewhere_reaches_the_next_query_through_the_sandboxs_webhook() {
    let app = spawn_app(Setup { webhooks: true, extra: vec!["--cache-ttl".into(), "5m".into()], ..Setup::read_only() }).await;
    let id = cached_contact(&app).await;
    assert!(refetched(&app, &id).await.is_empty(), "cached");

    // Another integration renames the contact and adds a task, straight at "GHL".
    let ghl = reqwest::Client::new();
    let other = |request: reqwest::RequestBuilder| request.bearer_auth(ghl_sandbox::WRITE_TOKEN).header("Version", "2021-07-28");
    let renamed = other(ghl.put(format!("{}/contacts/{id}", app.sandbox.base_url()))).json(&json!({ "firstName": "Elsewhere" })).send().await.unwrap();
    assert!(renamed.status().is_success(), "{}", renamed.status());
    let task = other(ghl.post(format!("{}/contacts/{id}/tasks", app.sandbox.base_url())))
        .json(&json!({ "title": "Made in GHL", "dueDate": "2026-12-24T09:00:00Z", "completed": false }))
        .send()
        .await
        .unwrap();
    assert!(task.status().is_success(), "{}", task.status());

    let deliveries = delivered(&app, 2).await;
    let outcomes: Vec<(String, Option<u16>)> = deliveries.iter().map(|d| (d.event.clone(), d.status)).collect();
    assert_eq!(outcomes, vec![("ContactUpdate".into(), Some(200)), ("TaskCreate".into(), Some(200))], "{deliveries:?}");
    assert_eq!(refetched(&app, &id).await, vec!["", "/tasks"], "exactly what changed is fetched again");
    let now = app.graphql(NESTED, json!({ "id": id })).await;
    assert!(now["data"]["contact"]["name"].as_str().is_some_and(|n| n.starts_with("Elsewhere")), "{now}");
}
