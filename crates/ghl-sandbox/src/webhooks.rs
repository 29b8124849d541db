//! Webhooks out, like GHL: every successful write through the API (by the subgraph or by anyone
//! else, standing for a change made in the GHL app or another integration) is delivered as GHL's
//! event to the configured URL, signed with the sandbox's Ed25519 key in `x-ghl-signature`, with
//! `timestamp` and `webhookId`. A delivery is retried only after a 429, as GHL does; every
//! delivery is recorded (`GET /__sandbox/webhooks`).

use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey};
use serde::Serialize;
use serde_json::{json, Value};

use crate::state::App;

/// One delivery and how it went.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookDelivery {
    pub event: String,
    pub webhook_id: String,
    /// The receiver's last answer; `None` when it could not be reached.
    pub status: Option<u16>,
    pub attempts: u32,
}

/// Where and how events go.
pub(crate) struct WebhookSender {
    url: RwLock<Option<String>>,
    key: SigningKey,
    http: reqwest::Client,
    retries: u32,
    retry_interval: Duration,
    deliveries: Mutex<Vec<WebhookDelivery>>,
}

/// Most deliveries remembered.
const MAX_RECORDED: usize = 10_000;

impl WebhookSender {
    pub(crate) fn new(url: Option<String>, seed: u64, retries: u32, retry_interval: Duration) -> Self {
        let mut bytes = [0u8; 32];
        for (i, chunk) in bytes.chunks_mut(8).enumerate() {
            chunk.copy_from_slice(&(seed ^ (0x9e37_79b9_7f4a_7c15_u64.wrapping_mul(i as u64 + 1))).to_le_bytes());
        }
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("HTTP client");
        Self { url: RwLock::new(url), key: SigningKey::from_bytes(&bytes), http, retries, retry_interval, deliveries: Mutex::new(Vec::new()) }
    }

    pub(crate) fn set_url(&self, url: Option<String>) {
        *self.url.write().unwrap_or_else(|e| e.into_inner()) = url;
    }

    fn url(&self) -> Option<String> {
        self.url.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The public key, as 64 hex digits.
    pub(crate) fn public_key_hex(&self) -> String {
        self.key.verifying_key().to_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }

    pub(crate) fn deliveries(&self) -> Vec<WebhookDelivery> {
        self.deliveries.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Signs and sends `event` in the background.
    fn emit(self: &Arc<Self>, mut event: Value) {
        let Some(url) = self.url() else { return };
        let webhook_id = format!("sbx-{:016x}", fastrand::u64(..));
        event["webhookId"] = json!(webhook_id);
        event["timestamp"] = json!(chrono::Utc::now().to_rfc3339());
        let kind = event["type"].as_str().unwrap_or("").to_owned();
        let body = serde_json::to_vec(&event).unwrap_or_default();
        let signature = base64::engine::general_purpose::STANDARD.encode(self.key.sign(&body).to_bytes());
        let sender = self.clone();
        tokio::spawn(async move {
            let mut attempts = 0;
            let status = loop {
                attempts += 1;
                let sent =
                    sender.http.post(&url).header("content-type", "application/json").header("x-ghl-signature", &signature).body(body.clone()).send().await;
                let status = sent.ok().map(|r| r.status().as_u16());
                if status == Some(429) && attempts <= sender.retries {
                    tokio::time::sleep(sender.retry_interval).await;
                    continue;
                }
                break status;
            };
            let mut deliveries = sender.deliveries.lock().unwrap_or_else(|e| e.into_inner());
            if deliveries.len() >= MAX_RECORDED {
                deliveries.remove(0);
            }
            deliveries.push(WebhookDelivery { event: kind, webhook_id, status, attempts });
        });
    }
}

/// After each successful write, the event GHL would send.
pub(crate) async fn emit_after_writes(State(app): State<App>, request: Request, next: Next) -> Response {
    if request.method() == Method::GET || app.webhooks.url().is_none() {
        return next.run(request).await;
    }
    let (method, path) = (request.method().clone(), request.uri().path().trim_end_matches('/').to_owned());
    let segments: Vec<String> = path.split('/').filter(|s| !s.is_empty()).map(str::to_owned).collect();
    // A deleted contact's location is known only before it goes.
    let location_before = segments.get(1).and_then(|id| app.read().contact(id).map(|c| c.location_id.clone()));
    let response = next.run(request).await;
    if !response.status().is_success() {
        return response;
    }
    let (parts, body) = response.into_parts();
    let bytes = to_bytes(body, usize::MAX).await.unwrap_or_default();
    let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let location = |contact: &str| app.read().contact(contact).map(|c| c.location_id.clone()).or_else(|| location_before.clone());
    if let Some(event) = event_for(&method, &segments, &answer, location) {
        app.webhooks.emit(event);
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// GHL's event for a write, in its payload shapes (`../shared/ghl/webhooks/*.example.json`).
fn event_for(method: &Method, path: &[String], answer: &Value, location: impl Fn(&str) -> Option<String>) -> Option<Value> {
    let segments: Vec<&str> = path.iter().map(String::as_str).collect();
    // The event's own `type` and `locationId` win over same-named fields.
    let with = |kind: &str, location_id: Option<String>, fields: Value| {
        // GHL leaves out what a record lacks: its schemas type every field, none as null.
        let mut event: serde_json::Map<String, Value> = match fields {
            Value::Object(fields) => fields.into_iter().filter(|(_, v)| !v.is_null()).collect(),
            _ => serde_json::Map::new(),
        };
        event.insert("type".into(), json!(kind));
        event.insert("locationId".into(), json!(location_id?));
        Some(Value::Object(event))
    };
    // A contact's own `type` (lead, customer) is not part of GHL's contact events.
    let contact_fields = |contact: &Value| {
        let mut fields = contact.as_object().cloned().unwrap_or_default();
        fields.remove("type");
        Value::Object(fields)
    };
    match (method.as_str(), segments.as_slice()) {
        ("POST", ["contacts"]) => {
            let contact = &answer["contact"];
            with("ContactCreate", contact["locationId"].as_str().map(str::to_owned), contact_fields(contact))
        }
        ("POST", ["contacts", "upsert"]) => {
            let contact = &answer["contact"];
            let kind = if answer["new"].as_bool() == Some(true) { "ContactCreate" } else { "ContactUpdate" };
            with(kind, contact["locationId"].as_str().map(str::to_owned), contact_fields(contact))
        }
        ("PUT", ["contacts", id]) => {
            let contact = &answer["contact"];
            with("ContactUpdate", location(id), contact_fields(contact))
        }
        ("DELETE", ["contacts", id]) => with("ContactDelete", location(id), json!({ "id": id })),
        ("POST" | "DELETE", ["contacts", id, "tags"]) => with("ContactTagUpdate", location(id), json!({ "id": id, "tags": answer["tags"] })),
        ("POST", ["contacts", id, "tasks"]) => with("TaskCreate", location(id), task_fields(&answer["task"], id)),
        ("PUT", ["contacts", id, "tasks", _, "completed"]) => with("TaskComplete", location(id), task_fields(&answer["task"], id)),
        ("DELETE", ["contacts", id, "tasks", task]) => with("TaskDelete", location(id), json!({ "id": task, "contactId": id })),
        ("POST", ["contacts", id, "notes"]) => with("NoteCreate", location(id), note_fields(&answer["note"], id)),
        ("PUT", ["contacts", id, "notes", _]) => with("NoteUpdate", location(id), note_fields(&answer["note"], id)),
        ("DELETE", ["contacts", id, "notes", note]) => with("NoteDelete", location(id), json!({ "id": note, "contactId": id })),
        // GHL has no TaskUpdate event; searches and token calls change nothing.
        _ => None,
    }
}

fn task_fields(task: &Value, contact: &str) -> Value {
    json!({
        "id": task["id"], "contactId": contact, "title": task["title"], "body": task["body"],
        "assignedTo": task["assignedTo"], "dueDate": task["dueDate"], "dateAdded": task["dateAdded"],
    })
}

fn note_fields(note: &Value, contact: &str) -> Value {
    json!({ "id": note["id"], "contactId": contact, "body": note["body"], "dateAdded": note["dateAdded"] })
}
