//! `POST /webhooks/ghl`: a signed change event drops exactly the cached entries it makes stale,
//! so the next query refetches them (and only them); forged, unsigned, stale, replayed and
//! foreign-location deliveries change nothing. The sandbox's request log is the oracle.

use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey};
use serde_json::{json, Value};

use crate::helpers::{delivered, edit_in_ghl, spawn_app, Setup, TestApp};

const NESTED: &str = "query($id: ID!) { contact(id: $id) { id name tasks { id } notes { id } appointments { id } } }";

/// The key GHL's deliveries are signed with in these tests (and `scale_out`'s).
pub fn signing_key() -> SigningKey {
    SigningKey::from_bytes(&[42; 32])
}

/// Read-only, with a 5-minute cache, taking deliveries signed by [`signing_key`].
pub fn setup() -> Setup {
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

    let deliveries = delivered(&app.sandbox, 2).await;
    let outcomes: Vec<(String, Option<u16>)> = deliveries.iter().map(|d| (d.event.clone(), d.status)).collect();
    assert_eq!(outcomes, vec![("ContactUpdate".into(), Some(200)), ("TaskCreate".into(), Some(200))], "{deliveries:?}");
    assert_eq!(refetched(&app, &id).await, vec!["", "/tasks"], "exactly what changed is fetched again");
    let now = app.graphql(NESTED, json!({ "id": id })).await;
    assert!(now["data"]["contact"]["name"].as_str().is_some_and(|n| n.starts_with("Elsewhere")), "{now}");
}

/// `body` signed with the test RSA key, as GHL's retired `x-wh-signature` was.
fn rsa_signature(body: &[u8]) -> String {
    use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
    let pem = include_str!("../fixtures/webhooks/test-legacy-rsa-private-key.pem");
    let der: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let pair = RsaKeyPair::from_pkcs8(&base64::engine::general_purpose::STANDARD.decode(der).unwrap()).expect("test key");
    let mut signature = vec![0; pair.public().modulus_len()];
    pair.sign(&RSA_PKCS1_SHA256, &ring::rand::SystemRandom::new(), body, &mut signature).expect("signed");
    base64::engine::general_purpose::STANDARD.encode(signature)
}

/// Delivers `event` with the given signature headers; the status and outcome.
async fn deliver_with(app: &TestApp, event: &Value, headers: &[(&str, String)]) -> (u16, String) {
    let body = serde_json::to_vec(event).unwrap();
    let mut request = app.http.post(format!("{}/webhooks/ghl", app.url)).header("content-type", "application/json").body(body);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.expect("sent");
    let status = response.status().as_u16();
    (status, response.json::<Value>().await.unwrap_or(Value::Null)["status"].as_str().unwrap_or("").to_owned())
}

#[tokio::test]
async fn the_retired_rsa_signature_counts_only_with_webhook_legacy_rsa() {
    let key_file = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/webhooks/test-legacy-rsa-public-key.pem");
    let mut legacy_setup = setup();
    legacy_setup.extra.extend(["--webhook-legacy-rsa".into(), "--webhook-legacy-rsa-key".into(), key_file.into()]);
    let legacy = spawn_app(legacy_setup).await;
    let plain = spawn_app(setup()).await;

    for (app, expected_status, expected_refetch) in [(&legacy, 200, vec![""]), (&plain, 401, vec![])] {
        let id = cached_contact(app).await;
        let update = event("ContactUpdate", json!({ "id": id }));
        let signature = rsa_signature(&serde_json::to_vec(&update).unwrap());
        let (status, _) = deliver_with(app, &update, &[("x-wh-signature", signature)]).await;
        assert_eq!(status, expected_status);
        assert_eq!(refetched(app, &id).await, expected_refetch);
    }

    let id = cached_contact(&legacy).await;
    let update = event("ContactUpdate", json!({ "id": id }));
    let other_bytes = rsa_signature(b"{}");
    assert_eq!(deliver_with(&legacy, &update, &[("x-wh-signature", other_bytes)]).await, (401, "bad_signature".to_owned()));
    let valid_rsa = rsa_signature(&serde_json::to_vec(&update).unwrap());
    let forged_current = base64::engine::general_purpose::STANDARD.encode([0u8; 64]);
    assert_eq!(
        deliver_with(&legacy, &update, &[("x-wh-signature", valid_rsa), ("x-ghl-signature", forged_current)]).await,
        (401, "bad_signature".to_owned()),
        "a bad current signature is never rescued by the legacy one"
    );
    assert!(refetched(&legacy, &id).await.is_empty(), "nothing changed");
}

#[tokio::test]
async fn a_contact_event_drops_the_kept_pages_and_a_task_event_does_not() {
    let app = spawn_app(setup()).await;
    let page = "{ contacts(first: 3) { nodes { id } } }";
    let pages_fetched = |app: &TestApp| app.requests().iter().filter(|r| r.path == "/contacts/search").count();
    assert_eq!(app.graphql(page, json!({})).await["errors"], Value::Null);
    let id = app.contact_ids()[5].clone();

    deliver(&app, &event("TaskCreate", json!({ "id": "t-1", "contactId": id })), Some(&signing_key())).await;
    app.sandbox.clear_requests();
    app.graphql(page, json!({})).await;
    assert_eq!(pages_fetched(&app), 0, "tasks are not on a page of contacts: {:?}", app.calls());

    deliver(&app, &event("ContactTagUpdate", json!({ "id": id })), Some(&signing_key())).await;
    app.graphql(page, json!({})).await;
    assert_eq!(pages_fetched(&app), 1, "any contact of the location may move in or out of a page: {:?}", app.calls());
}

#[tokio::test]
async fn metrics_count_each_outcome_and_time_the_invalidation() {
    let app = spawn_app(setup()).await;
    let id = cached_contact(&app).await;
    deliver(&app, &event("NoteCreate", json!({ "id": "n-1", "contactId": id })), Some(&signing_key())).await;
    deliver(&app, &event("NoteCreate", json!({ "id": "n-1", "contactId": id })), None).await;

    let metrics = app.http.get(format!("{}/metrics", app.url)).send().await.unwrap().text().await.unwrap();
    for expected in [
        r#"ghl_webhook_events_total{type="NoteCreate",outcome="applied"}"#,
        r#"ghl_webhook_events_total{type="unknown",outcome="unsigned"}"#,
        "ghl_webhook_invalidation_seconds",
        "ghl_webhook_delivery_lag_seconds",
        r#"ghl_cache_lookups_total{kind="contact",outcome="miss"}"#,
    ] {
        assert!(metrics.contains(expected), "{expected} in:\n{metrics}");
    }
}

fn wired() -> Setup {
    Setup { webhooks: true, extra: vec!["--cache-ttl".into(), "5m".into()], ..Setup::read_only() }
}

#[tokio::test]
async fn edits_made_in_the_ghl_app_reach_the_next_query_with_exactly_the_refetches_they_need() {
    let app = spawn_app(wired()).await;
    let id = cached_contact(&app).await;
    let query = "query($id: ID!) { contact(id: $id) { id name dnd appointments { id title } notes { id body } } }";

    edit_in_ghl(
        &app.sandbox,
        reqwest::Method::POST,
        &format!("/contacts/{id}/appointments"),
        json!({ "title": "Site visit", "startTime": "2026-12-10T09:00:00Z", "endTime": "2026-12-10T10:00:00Z" }),
    )
    .await;
    edit_in_ghl(&app.sandbox, reqwest::Method::POST, &format!("/contacts/{id}/notes"), json!({ "body": "Typed in GHL" })).await;
    edit_in_ghl(&app.sandbox, reqwest::Method::PATCH, &format!("/contacts/{id}"), json!({ "firstName": "Appified", "dnd": true })).await;
    let deliveries = delivered(&app.sandbox, 4).await;
    let mut events: Vec<(String, Option<u16>)> = deliveries.iter().map(|d| (d.event.clone(), d.status)).collect();
    events.sort();
    let ok = |e: &str| (e.to_owned(), Some(200));
    assert_eq!(events, vec![ok("AppointmentCreate"), ok("ContactDndUpdate"), ok("ContactUpdate"), ok("NoteCreate")], "{deliveries:?}");

    assert_eq!(refetched(&app, &id).await, vec!["", "/appointments", "/notes"], "the tasks stay cached");
    let now = app.graphql(query, json!({ "id": id })).await;
    let contact = &now["data"]["contact"];
    assert!(contact["name"].as_str().is_some_and(|n| n.starts_with("Appified")), "{now}");
    assert_eq!(contact["dnd"], json!(true), "{now}");
    assert!(contact["appointments"].as_array().unwrap().iter().any(|a| a["title"] == "Site visit"), "{now}");
    assert!(contact["notes"].as_array().unwrap().iter().any(|n| n["body"] == "Typed in GHL"), "{now}");
}

#[tokio::test]
async fn a_dropped_webhook_leaves_a_stale_value_for_at_most_the_ttl() {
    let ttl = std::time::Duration::from_secs(2);
    let app = spawn_app(Setup { webhooks: true, extra: vec!["--cache-ttl".into(), "2s".into()], ..Setup::read_only() }).await;
    let id = app.contact_ids()[0].clone();
    let name = |response: &Value| response["data"]["contact"]["name"].as_str().unwrap_or("").to_owned();
    let query = "query($id: ID!) { contact(id: $id) { id name } }";
    let before = name(&app.graphql(query, json!({ "id": id })).await);
    let cached_at = std::time::Instant::now();

    app.sandbox.add_webhook_fault(ghl_sandbox::WebhookFault::drop().event("ContactUpdate").times(1));
    edit_in_ghl(&app.sandbox, reqwest::Method::PATCH, &format!("/contacts/{id}"), json!({ "firstName": "Unheard" })).await;
    let deliveries = delivered(&app.sandbox, 1).await;
    assert_eq!(deliveries[0].fault.as_deref(), Some("drop"), "{deliveries:?}");
    assert_eq!(name(&app.graphql(query, json!({ "id": id })).await), before, "GHL never told us: still the cached value");

    let fresh = loop {
        let now = name(&app.graphql(query, json!({ "id": id })).await);
        if now.starts_with("Unheard") || cached_at.elapsed() > ttl * 3 {
            break now;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let stale_for = cached_at.elapsed();
    assert!(fresh.starts_with("Unheard"), "{fresh}");
    assert!(stale_for >= ttl && stale_for < ttl + std::time::Duration::from_millis(1500), "stale for {stale_for:?}, TTL {ttl:?}");
}

#[tokio::test]
async fn mis_signed_and_duplicated_deliveries_are_refused_or_applied_once() {
    let app = spawn_app(wired()).await;
    let id = cached_contact(&app).await;

    app.sandbox.add_webhook_fault(ghl_sandbox::WebhookFault::mis_sign().times(1));
    edit_in_ghl(&app.sandbox, reqwest::Method::PATCH, &format!("/contacts/{id}"), json!({ "firstName": "Forged" })).await;
    let deliveries = delivered(&app.sandbox, 1).await;
    assert_eq!((deliveries[0].fault.as_deref(), deliveries[0].status), (Some("misSign"), Some(401)), "{deliveries:?}");
    assert!(refetched(&app, &id).await.is_empty(), "a bad signature changes nothing");

    app.sandbox.add_webhook_fault(ghl_sandbox::WebhookFault::duplicate().times(1));
    edit_in_ghl(
        &app.sandbox,
        reqwest::Method::POST,
        &format!("/contacts/{id}/tasks"),
        json!({ "title": "Twice?", "dueDate": "2026-12-24T09:00:00Z", "completed": false }),
    )
    .await;
    let deliveries = delivered(&app.sandbox, 2).await;
    assert_eq!((deliveries[1].fault.as_deref(), deliveries[1].attempts, deliveries[1].status), (Some("duplicate"), 2, Some(200)), "{deliveries:?}");
    assert_eq!(refetched(&app, &id).await, vec!["/tasks"], "applied once; the copy was a duplicate");
    let metrics = app.http.get(format!("{}/metrics", app.url)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains(r#"ghl_webhook_events_total{type="TaskCreate",outcome="duplicate"}"#), "{metrics}");
}

#[tokio::test]
async fn a_delivery_deferred_with_429_is_applied_by_the_sandboxs_retry() {
    use ghl_subgraph::app::App;
    use ghl_subgraph::config::ServeConfig;
    use ghl_subgraph::services::Services;

    let sandbox = ghl_sandbox::Sandbox::spawn(ghl_sandbox::SandboxConfig {
        rate_limit: "100000/1s".parse().unwrap(),
        webhook_retries: 3,
        webhook_retry_interval: std::time::Duration::from_millis(300),
        ..Default::default()
    })
    .await
    .expect("sandbox");
    let args = || {
        let mut args = crate::helpers::serve_args(&sandbox.base_url(), &Setup { extra: vec!["--cache-ttl".into(), "5m".into()], ..Setup::read_only() });
        args.webhooks.webhook_public_key = Some(sandbox.webhook_public_key().parse().expect("key"));
        args
    };
    // Replica A is stopping: it answers 429. Replica B takes over, with the contact cached.
    let config = ServeConfig::try_from(args()).expect("config");
    let services = Services::build(&config).await.expect("services");
    let stopping = services.webhooks.clone();
    let replica_a = App::new(crate::helpers::local_listener().await, services, &config.http).expect("app");
    let url_a = format!("http://{}/webhooks/ghl", replica_a.local_addr().unwrap());
    tokio::spawn(replica_a.run_until_stopped(std::future::pending()));
    let replica_b = crate::helpers::serve_on(crate::helpers::local_listener().await, args()).await;
    let id = sandbox.contact_ids()[0].clone();
    let http = reqwest::Client::new();
    let query = json!({ "query": "query($id: ID!) { contact(id: $id) { id name } }", "variables": { "id": id } });
    let ask_b = || async { http.post(format!("{}/graphql", replica_b.url)).json(&query).send().await.unwrap().json::<Value>().await.unwrap() };
    ask_b().await;
    sandbox.clear_requests();

    stopping.stop_taking();
    sandbox.set_webhook_url(Some(url_a.clone()));
    edit_in_ghl(&sandbox, reqwest::Method::PATCH, &format!("/contacts/{id}"), json!({ "firstName": "Retried" })).await;
    // Deferred before the body is read, so its type is not known; no other test here defers.
    let deferred = r#"outcome="deferred""#;
    let started = std::time::Instant::now();
    while !http.get(format!("{}/metrics", replica_b.url)).send().await.unwrap().text().await.unwrap().contains(deferred) {
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "replica A never answered 429");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    sandbox.set_webhook_url(Some(format!("{}/webhooks/ghl", replica_b.url)));

    let deliveries = delivered(&sandbox, 1).await;
    assert_eq!((deliveries[0].status, deliveries[0].attempts), (Some(200), 2), "429, then the retry applied: {deliveries:?}");
    let now = ask_b().await;
    assert!(now["data"]["contact"]["name"].as_str().is_some_and(|n| n.starts_with("Retried")), "{now}");
    assert_eq!(sandbox.requests().len(), 1, "one refetch of the changed contact");
}
