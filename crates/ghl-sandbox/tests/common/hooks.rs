//! A webhook receiver on `127.0.0.1:0` that keeps every delivery as it arrived (raw bytes, signature,
//! arrival time) and answers 200, plus the checks tests make on deliveries: GHL's schema and the
//! Ed25519 signature against the key the sandbox publishes.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine as _;
use ed25519_dalek::{Signature, VerifyingKey};
use serde_json::Value;

/// One delivery as the receiver saw it.
#[derive(Clone, Debug)]
pub struct Received {
    pub event: Value,
    pub raw: Vec<u8>,
    pub signature: String,
    pub at: Instant,
}

impl Received {
    pub fn kind(&self) -> &str {
        self.event["type"].as_str().unwrap_or("")
    }

    pub fn webhook_id(&self) -> &str {
        self.event["webhookId"].as_str().unwrap_or("")
    }
}

#[derive(Clone, Default)]
pub struct Receiver {
    pub url: String,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    pub async fn start() -> Self {
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let store = got.clone();
        let app = axum::Router::new().route(
            "/hook",
            post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let store = store.clone();
                async move {
                    let signature = headers.get("x-ghl-signature").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                    let event = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    store.lock().unwrap().push(Received { event, raw: body.to_vec(), signature, at: Instant::now() });
                    StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, got }
    }

    pub fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits (up to 10 s) until `count` deliveries are in, then a little longer so that an extra
    /// one would show; answers all of them in arrival order.
    pub async fn wait_for(&self, count: usize) -> Vec<Received> {
        let started = Instant::now();
        while self.received().len() < count && started.elapsed() < Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.received()
    }

    /// What has arrived after a pause long enough for a delivery already under way.
    pub async fn settle(&self) -> Vec<Received> {
        tokio::time::sleep(Duration::from_millis(500)).await;
        self.received()
    }

    /// Exactly `kinds` arrive (in any order): their deliveries, in the order of `kinds`.
    pub async fn expect(&self, kinds: &[&str]) -> Vec<Received> {
        let got = self.wait_for(kinds.len()).await;
        let mut seen: Vec<&str> = got.iter().map(Received::kind).collect();
        let mut want = kinds.to_vec();
        seen.sort_unstable();
        want.sort_unstable();
        assert_eq!(seen, want, "deliveries received");
        let mut ordered = Vec::new();
        let mut left = got.clone();
        for kind in kinds {
            let i = left.iter().position(|r| r.kind() == *kind).expect("present");
            ordered.push(left.remove(i));
        }
        ordered
    }
}

/// The key the sandbox signs with, read from `GET /__sandbox/webhook-public-key`.
pub async fn public_key(client: &reqwest::Client, base_url: &str) -> VerifyingKey {
    let body: Value = client.get(format!("{base_url}/__sandbox/webhook-public-key")).send().await.expect("answered").json().await.expect("json");
    let hex = body["publicKey"].as_str().expect("publicKey");
    let bytes: Vec<u8> = (0..32).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex")).collect();
    VerifyingKey::from_bytes(&bytes.try_into().expect("32 bytes")).expect("key")
}

/// The signature is well-formed (base64 of 64 bytes); `Ok` when it verifies over the exact bytes.
pub fn verify(key: &VerifyingKey, delivery: &Received) -> Result<(), String> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(&delivery.signature).map_err(|e| format!("not base64: {e}"))?;
    assert_eq!(bytes.len(), 64, "an Ed25519 signature is 64 bytes");
    let signature = Signature::from_slice(&bytes).map_err(|e| e.to_string())?;
    key.verify_strict(&delivery.raw, &signature).map_err(|e| e.to_string())
}

/// Panics unless the event matches GHL's schema for its type (`tests/fixtures/webhooks/`).
pub fn assert_ghl_shape(event: &Value) {
    let kind = event["type"].as_str().expect("type");
    let path = format!("{}/tests/fixtures/webhooks/{kind}.schema.json", env!("CARGO_MANIFEST_DIR"));
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|_| panic!("{path}"))).expect("schema");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = validator.iter_errors(event).map(|e| format!("{e} at {}", e.instance_path())).collect();
    assert!(errors.is_empty(), "{kind} does not match GHL's schema: {errors:?}\n{event:#}");
    assert!(event["webhookId"].is_string() && event["timestamp"].is_string() && event["locationId"].is_string(), "{event}");
    fn no_nulls(v: &Value) -> bool {
        match v {
            Value::Null => false,
            Value::Object(m) => m.values().all(no_nulls),
            Value::Array(a) => a.iter().all(no_nulls),
            _ => true,
        }
    }
    assert!(no_nulls(event), "GHL leaves out absent fields: {event}");
}
