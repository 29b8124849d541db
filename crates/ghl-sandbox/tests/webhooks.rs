//! Webhooks out: every write becomes GHL's event, in GHL's documented shape (validated against
//! `tests/fixtures/webhooks/*.schema.json`, copied from `../shared/ghl/webhooks/`), signed with the
//! sandbox's key over the exact bytes; a 429 makes the sandbox deliver again, nothing else does.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine as _;
use ed25519_dalek::{Signature, VerifyingKey};
use ghl_sandbox::{SandboxConfig, LOCATION_ID, WRITE_TOKEN};
use serde_json::{json, Value};

/// Bodies received, after checking each signature; the first `refuse` deliveries answer 429.
async fn receiver(refuse: usize) -> (String, Arc<Mutex<Vec<(Value, bool)>>>) {
    let received: Arc<Mutex<Vec<(Value, bool)>>> = Arc::default();
    let store = received.clone();
    let calls = Arc::new(Mutex::new(0usize));
    let app = axum::Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let (store, calls) = (store.clone(), calls.clone());
            async move {
                let signature = headers.get("x-ghl-signature").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let mut n = calls.lock().unwrap();
                *n += 1;
                if *n <= refuse {
                    return StatusCode::TOO_MANY_REQUESTS;
                }
                store.lock().unwrap().push((json!({ "event": event, "signature": signature, "raw": String::from_utf8_lossy(&body) }), true));
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

async fn wait_for(received: &Arc<Mutex<Vec<(Value, bool)>>>, count: usize) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let got: Vec<Value> = received.lock().unwrap().iter().map(|(v, _)| v.clone()).collect();
        if got.len() >= count || started.elapsed() > Duration::from_secs(10) {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn schema(kind: &str) -> Value {
    let path = format!("{}/tests/fixtures/webhooks/{kind}.schema.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|_| panic!("{path}"))).expect("schema")
}

#[tokio::test]
async fn every_write_is_delivered_as_ghls_signed_event_in_its_documented_shape() {
    let (url, received) = receiver(0).await;
    let t = common::spawn_with(SandboxConfig { webhook_url: Some(url), ..SandboxConfig::default() }).await;
    let key_hex = t.sandbox.webhook_public_key();
    let key_bytes: Vec<u8> = (0..32).map(|i| u8::from_str_radix(&key_hex[2 * i..2 * i + 2], 16).unwrap()).collect();
    let key = VerifyingKey::from_bytes(&key_bytes.try_into().unwrap()).expect("key");
    let contact = t.sandbox.contact_ids().remove(0);

    let created = t.post(WRITE_TOKEN, "/contacts/", json!({ "locationId": LOCATION_ID, "firstName": "Hook", "email": "hook@example.com" })).await;
    let new_id = created.body["contact"]["id"].as_str().expect("id").to_owned();
    t.put(WRITE_TOKEN, &format!("/contacts/{contact}"), json!({ "city": "Leeds" })).await;
    t.post(WRITE_TOKEN, &format!("/contacts/{contact}/tags"), json!({ "tags": ["hooked"] })).await;
    let task = t.post(WRITE_TOKEN, &format!("/contacts/{contact}/tasks"), json!({ "title": "T", "dueDate": "2026-12-24T09:00:00Z", "completed": false })).await;
    let task_id = task.body["task"]["id"].as_str().expect("task id").to_owned();
    t.put(WRITE_TOKEN, &format!("/contacts/{contact}/tasks/{task_id}/completed"), json!({ "completed": true })).await;
    t.call(reqwest::Method::DELETE, Some(WRITE_TOKEN), &format!("/contacts/{contact}/tasks/{task_id}"), None).await;
    let note = t.post(WRITE_TOKEN, &format!("/contacts/{contact}/notes"), json!({ "body": "N" })).await;
    let note_id = note.body["note"]["id"].as_str().expect("note id").to_owned();
    t.put(WRITE_TOKEN, &format!("/contacts/{contact}/notes/{note_id}"), json!({ "body": "N2" })).await;
    t.call(reqwest::Method::DELETE, Some(WRITE_TOKEN), &format!("/contacts/{contact}/notes/{note_id}"), None).await;
    t.call(reqwest::Method::DELETE, Some(WRITE_TOKEN), &format!("/contacts/{new_id}"), None).await;

    let expected = [
        "ContactCreate",
        "ContactUpdate",
        "ContactTagUpdate",
        "TaskCreate",
        "TaskComplete",
        "TaskDelete",
        "NoteCreate",
        "NoteUpdate",
        "NoteDelete",
        "ContactDelete",
    ];
    let deliveries = wait_for(&received, expected.len()).await;
    let mut kinds: Vec<String> = deliveries.iter().map(|d| d["event"]["type"].as_str().unwrap_or("").to_owned()).collect();
    kinds.sort();
    let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(kinds, want);
    for delivery in &deliveries {
        let event = &delivery["event"];
        let kind = event["type"].as_str().unwrap();
        let validator = jsonschema::validator_for(&schema(kind)).expect("schema compiles");
        let errors: Vec<String> = validator.iter_errors(event).map(|e| format!("{e} at {}", e.instance_path())).collect();
        assert!(errors.is_empty(), "{kind} does not match GHL's schema: {errors:?}\n{event:#}");
        assert_eq!(event["locationId"], LOCATION_ID, "{event}");
        assert!(event["webhookId"].is_string() && event["timestamp"].is_string(), "{event}");
        let raw = delivery["raw"].as_str().unwrap().as_bytes();
        let signature = base64::engine::general_purpose::STANDARD.decode(delivery["signature"].as_str().unwrap()).expect("base64");
        key.verify_strict(raw, &Signature::from_slice(&signature).expect("signature")).unwrap_or_else(|_| panic!("{kind}: signature does not verify"));
    }
    // A delivery is recorded once its answer is in, a moment after the receiver saw it.
    let started = Instant::now();
    while t.sandbox.webhook_deliveries().len() < expected.len() && started.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let recorded = t.sandbox.webhook_deliveries();
    assert_eq!(recorded.len(), expected.len());
    assert!(recorded.iter().all(|d| d.status == Some(200) && d.attempts == 1), "{recorded:?}");
}

#[tokio::test]
async fn only_a_429_makes_the_sandbox_deliver_again() {
    let (url, received) = receiver(2).await;
    let t = common::spawn_with(SandboxConfig {
        webhook_url: Some(url),
        webhook_retries: 3,
        webhook_retry_interval: Duration::from_millis(50),
        ..SandboxConfig::default()
    })
    .await;
    let contact = t.sandbox.contact_ids().remove(0);

    t.put(WRITE_TOKEN, &format!("/contacts/{contact}"), json!({ "city": "York" })).await;

    let got = wait_for(&received, 1).await;
    assert_eq!(got.len(), 1, "delivered on the third attempt");
    let started = Instant::now();
    while t.sandbox.webhook_deliveries().is_empty() && started.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let recorded = t.sandbox.webhook_deliveries();
    assert_eq!((recorded[0].status, recorded[0].attempts), (Some(200), 3), "{recorded:?}");
}
