//! Which event a write becomes: the middleware over the API routes (and over the app edits of
//! `routes::app_edits`) that reads each successful write's answer and hands GHL's payload to the
//! sender. Payload shapes follow `../shared/ghl/webhooks/*.example.json`.

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use serde_json::{json, Value};

use crate::state::App;

/// What only the store before the write knows.
struct Before {
    /// A deleted contact's location is known only before it goes.
    location: Option<String>,
    /// The contact's `dnd` and `dndSettings`, for an update that may change them.
    dnd: Option<(bool, Option<Value>)>,
}

/// After each successful write, the events GHL would send.
pub(crate) async fn emit_after_writes(State(app): State<App>, request: Request, next: Next) -> Response {
    if request.method() == Method::GET || !app.webhooks.enabled() {
        return next.run(request).await;
    }
    let (method, path) = (request.method().clone(), request.uri().path().trim_end_matches('/').to_owned());
    let segments: Vec<String> = path.split('/').filter(|s| !s.is_empty()).map(str::to_owned).collect();
    let before = {
        let store = app.read();
        let contact = segments.get(1).and_then(|id| store.contact(id));
        Before { location: contact.map(|c| c.location_id.clone()), dnd: contact.map(|c| (c.dnd, c.dnd_settings.clone())) }
    };
    let response = next.run(request).await;
    if !response.status().is_success() {
        return response;
    }
    let (parts, body) = response.into_parts();
    let bytes = to_bytes(body, usize::MAX).await.unwrap_or_default();
    let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let location = |contact: &str| app.read().contact(contact).map(|c| c.location_id.clone()).or_else(|| before.location.clone());
    if let Some(event) = event_for(&method, &segments, &answer, location) {
        let dnd_update = (event["type"] == "ContactUpdate" && method == Method::PUT && dnd_changed(before.dnd.as_ref(), &answer["contact"])).then(|| {
            let mut dnd = event.clone();
            dnd["type"] = json!("ContactDndUpdate");
            dnd
        });
        app.webhooks.emit(event);
        if let Some(dnd) = dnd_update {
            app.webhooks.emit(dnd);
        }
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// GHL sends ContactDndUpdate, besides ContactUpdate, when an update changes `dnd` or `dndSettings`.
fn dnd_changed(before: Option<&(bool, Option<Value>)>, contact: &Value) -> bool {
    let Some((dnd, settings)) = before else { return false };
    let settings_after = contact.get("dndSettings").filter(|v| !v.is_null());
    contact["dnd"].as_bool() != Some(*dnd) || settings_after != settings.as_ref()
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
        // Only app edits reach these: the sandbox's API has no appointment writes.
        ("POST", ["contacts", id, "appointments"]) => with("AppointmentCreate", location(id), json!({ "appointment": answer["appointment"] })),
        ("PUT", ["contacts", id, "appointments", _]) => with("AppointmentUpdate", location(id), json!({ "appointment": answer["appointment"] })),
        ("DELETE", ["contacts", id, "appointments", _]) => with("AppointmentDelete", location(id), json!({ "appointment": answer["appointment"] })),
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
