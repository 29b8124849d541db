//! GHL's wire types, written from `contacts.json` / `locations.json` (official OpenAPI specs).
//!
//! The spec declares no required response fields and three different contact shapes (get, create,
//! list), so every field is optional and odd types (`dateOfBirth`, custom field values, appointment
//! times) are kept as raw JSON for the GraphQL layer to normalise.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// Treats `null` like a missing field, for lists GHL sometimes sends as `null`.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// `GetContectByIdSchema` / `CreateContactSchema` / `ContactsSearchSchema`, merged.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    pub id: String,
    pub location_id: Option<String>,
    pub name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub company_name: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub tags: Vec<String>,
    pub dnd: Option<bool>,
    pub source: Option<String>,
    #[serde(rename = "type")]
    pub contact_type: Option<String>,
    pub assigned_to: Option<String>,
    pub address1: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
    pub website: Option<String>,
    pub timezone: Option<String>,
    pub date_of_birth: Option<Value>,
    pub business_id: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub custom_fields: Vec<CustomField>,
    pub date_added: Option<String>,
    pub date_updated: Option<String>,
    /// Only on `POST /contacts/search` results: the cursor of this row.
    pub search_after: Option<Vec<Value>>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct CustomField {
    pub id: String,
    #[serde(default)]
    pub value: Value,
}

/// `TaskSchema`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    pub id: String,
    pub title: Option<String>,
    pub body: Option<String>,
    pub assigned_to: Option<String>,
    pub due_date: Option<String>,
    pub completed: Option<bool>,
    pub contact_id: Option<String>,
}

/// `GetNoteSchema`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Note {
    pub id: String,
    pub body: Option<String>,
    pub title: Option<String>,
    pub user_id: Option<String>,
    pub date_added: Option<String>,
    pub contact_id: Option<String>,
}

/// `GetEventSchema` (a contact's appointment). Times are `YYYY-MM-DD HH:mm:ss` in the spec's examples.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub id: String,
    pub calendar_id: Option<String>,
    pub title: Option<String>,
    pub status: Option<String>,
    pub appointment_status: Option<String>,
    pub start_time: Option<Value>,
    pub end_time: Option<Value>,
    pub assigned_user_id: Option<String>,
    pub address: Option<String>,
    pub notes: Option<String>,
    pub contact_id: Option<String>,
}

// ---- response envelopes -------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
pub struct ContactEnvelope {
    pub contact: Contact,
}

#[derive(Debug, Deserialize)]
pub struct TasksEnvelope {
    #[serde(default, deserialize_with = "null_as_default")]
    pub tasks: Vec<Task>,
}

#[derive(Debug, Deserialize)]
pub struct TaskEnvelope {
    pub task: Task,
}

#[derive(Debug, Deserialize)]
pub struct NotesEnvelope {
    #[serde(default, deserialize_with = "null_as_default")]
    pub notes: Vec<Note>,
}

#[derive(Debug, Deserialize)]
pub struct NoteEnvelope {
    pub note: Note,
}

#[derive(Debug, Deserialize)]
pub struct EventsEnvelope {
    #[serde(default, deserialize_with = "null_as_default")]
    pub events: Vec<Event>,
}

#[derive(Debug, Deserialize)]
pub struct TagsEnvelope {
    #[serde(default, deserialize_with = "null_as_default")]
    pub tags: Vec<String>,
}

/// `{ "succeded": true }` — GHL's spelling.
#[derive(Debug, Deserialize)]
pub struct DeleteEnvelope {
    #[serde(default)]
    pub succeded: bool,
}

/// `PUT /contacts/{contactId}`: `{ succeded, contact }`.
#[derive(Debug, Deserialize)]
pub struct UpdateContactEnvelope {
    pub contact: Contact,
}

/// `POST /contacts/upsert` (`UpsertContactsSuccessfulResponseDto`): `new` is false when an
/// existing contact was updated.
#[derive(Debug, Deserialize)]
pub struct UpsertEnvelope {
    #[serde(default)]
    pub new: bool,
    pub contact: Contact,
}

/// `POST /contacts/search` (no schema in the spec; `total` per HighLevel's search docs).
#[derive(Debug, Deserialize)]
pub struct SearchEnvelope {
    #[serde(default, deserialize_with = "null_as_default")]
    pub contacts: Vec<Contact>,
    pub total: Option<u64>,
}

/// `GET /contacts/business/{businessId}`: `{ contacts, count }`.
#[derive(Debug, Deserialize)]
pub struct BusinessContactsEnvelope {
    #[serde(default, deserialize_with = "null_as_default")]
    pub contacts: Vec<Contact>,
    pub count: Option<u64>,
}

// ---- request bodies -----------------------------------------------------------------------------

/// Body of `POST /contacts/` (`CreateContactDto`) and `PUT /contacts/{id}` (`UpdateContactDto`).
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactWrite {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address1: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_of_birth: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned_to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dnd: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_fields: Option<Vec<CustomFieldWrite>>,
}

/// One entry of `customFields` on input: `{ id | key, field_value }`.
#[derive(Clone, Debug, Serialize)]
pub struct CustomFieldWrite {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub field_value: String,
}

/// Body of `POST`/`PUT /contacts/{id}/tasks[/{taskId}]`.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskWrite {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned_to: Option<String>,
}

/// Body of `POST`/`PUT /contacts/{id}/notes[/{id}]`.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NoteWrite {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct TagsBody<'a> {
    pub tags: &'a [String],
}

#[derive(Debug, Serialize)]
pub(crate) struct CompletedBody {
    pub completed: bool,
}

/// Body of `POST /contacts/search`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SearchBody<'a> {
    pub location_id: &'a str,
    pub page_limit: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search_after: Option<&'a [Value]>,
}

/// Body of `POST /locations/{locationId}/tasks/search` (`TaskSearchParamsDto`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TaskSearchBody<'a> {
    pub contact_id: &'a [String],
    pub limit: u32,
    pub skip: u32,
}

/// Tasks search response; the spec types the items as arrays, GHL sends task objects.
#[derive(Debug, Deserialize)]
pub struct TaskSearchEnvelope {
    #[serde(default, deserialize_with = "null_as_default")]
    pub tasks: Vec<Task>,
}

/// The `message` of a GHL error body: a string, or an array of strings on 422.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(default)]
    pub message: Value,
}

impl ErrorBody {
    pub fn message_text(&self) -> String {
        match &self.message {
            Value::String(s) => s.clone(),
            Value::Array(items) => items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "),
            _ => String::new(),
        }
    }
}
