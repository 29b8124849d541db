//! `GET/PUT/DELETE /contacts/{contactId}`, `POST /contacts/` and `POST /contacts/upsert`.
//! Both writes follow the location's duplicate setting (`crate::duplicates`): creating refuses a
//! contact another one matches unless duplicates are allowed; upsert updates the first match in the
//! setting's order, ignoring a field that matches a different contact, and creates otherwise.

use axum::extract::{Path, State};
use axum::response::Response;
use serde::Serialize;

use super::contact_input::{ContactInput, Dto};
use crate::auth::{ContactsRead, ContactsWrite, Scoped};
use crate::data::dates;
use crate::data::model::Contact;
use crate::data::wire::{CreatedContact, FullContact};
use crate::error::ApiError;
use crate::reply;
use crate::state::App;
use crate::store::Store;
use crate::validate::JsonBody;

#[derive(Serialize)]
struct ContactBody<T> {
    contact: T,
}

#[derive(Serialize)]
struct UpdatedBody<'a> {
    succeded: bool,
    contact: FullContact<'a>,
}

#[derive(Serialize)]
struct UpsertedBody<'a> {
    new: bool,
    contact: FullContact<'a>,
    #[serde(rename = "traceId")]
    trace_id: String,
}

#[derive(Serialize)]
pub(super) struct Succeded {
    pub succeded: bool,
}

pub(crate) async fn get(Scoped(caller, _): Scoped<ContactsRead>, State(app): State<App>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let store = app.read();
    let contact = store.owned(&id, caller.location_id())?;
    Ok(reply::ok(&ContactBody { contact: FullContact::new(contact) }))
}

pub(crate) async fn create(Scoped(caller, _): Scoped<ContactsWrite>, State(app): State<App>, JsonBody(body): JsonBody) -> Result<Response, ApiError> {
    let input = ContactInput::parse(&body, Dto::Create)?;
    caller.ensure_location(input.location_id.as_deref().unwrap_or_default())?;
    let mut store = app.write();
    let location = caller.location_id();
    let setting = store.duplicate_setting(location);
    if !setting.allows_duplicates() {
        if let Some(found) = setting.find(&store, location, patch_value(&input.email), patch_value(&input.phone)) {
            let existing = store.owned(&found.contact_id, location)?;
            return Err(ApiError::Duplicate { contact_id: existing.id.clone(), contact_name: existing.full_name(), matching_field: found.field.as_str() });
        }
    }
    let id = insert_new(&mut store, caller.location_id(), input);
    let contact = store.owned(&id, caller.location_id())?;
    Ok(reply::created(&ContactBody { contact: CreatedContact::new(contact) }))
}

pub(crate) async fn update(
    Scoped(caller, _): Scoped<ContactsWrite>,
    State(app): State<App>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let mut store = app.write();
    // Existence and location come before validation, as in GHL.
    store.owned(&id, caller.location_id())?;
    let input = ContactInput::parse(&body, Dto::Update)?;
    let contact = store.owned_mut(&id, caller.location_id())?;
    input.apply(contact);
    contact.date_updated = dates::now_ms();
    let contact = store.owned(&id, caller.location_id())?;
    Ok(reply::ok(&UpdatedBody { succeded: true, contact: FullContact::new(contact) }))
}

pub(crate) async fn delete(Scoped(caller, _): Scoped<ContactsWrite>, State(app): State<App>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let mut store = app.write();
    store.owned(&id, caller.location_id())?;
    store.remove(&id);
    Ok(reply::ok(&Succeded { succeded: true }))
}

pub(crate) async fn upsert(Scoped(caller, _): Scoped<ContactsWrite>, State(app): State<App>, JsonBody(body): JsonBody) -> Result<Response, ApiError> {
    let mut input = ContactInput::parse(&body, Dto::Upsert)?;
    caller.ensure_location(input.location_id.as_deref().unwrap_or_default())?;
    let mut store = app.write();
    let location = caller.location_id();
    let setting = store.duplicate_setting(location);
    let search = !(setting.allows_duplicates() && input.create_new_if_duplicate_allowed);
    let found = if search { setting.find(&store, location, patch_value(&input.email), patch_value(&input.phone)) } else { None };
    let (id, new) = match found {
        Some(found) => {
            // GHL keeps the matched contact and drops what would make it a duplicate of another.
            for field in &found.ignored {
                tracing::debug!(contact_id = %found.contact_id, field = field.as_str(), "upsert ignores a field another contact matches");
                input.ignore(*field);
            }
            let contact = store.owned_mut(&found.contact_id, location)?;
            input.apply(contact);
            contact.date_updated = dates::now_ms();
            (found.contact_id, false)
        }
        None => (insert_new(&mut store, location, input), true),
    };
    let trace_id = crate::data::ids::trace_id();
    let contact = store.owned(&id, location)?;
    Ok(reply::ok(&UpsertedBody { new, contact: FullContact::new(contact), trace_id }))
}

fn patch_value(p: &crate::validate::Patch<String>) -> Option<&str> {
    match p {
        crate::validate::Patch::Set(v) => Some(v.as_str()),
        _ => None,
    }
}

/// Creates a contact from `input` in `location_id`, dated now; returns its id.
fn insert_new(store: &mut Store, location_id: &str, input: ContactInput) -> String {
    let now = dates::now_ms();
    let mut contact = Contact {
        id: store.new_id(),
        location_id: location_id.to_owned(),
        first_name: None,
        last_name: None,
        email: None,
        phone: None,
        company_name: None,
        business_id: None,
        timezone: None,
        dnd: false,
        dnd_settings: None,
        kind: "lead".to_owned(),
        source: None,
        assigned_to: None,
        address1: None,
        city: None,
        state: None,
        country: None,
        postal_code: None,
        website: None,
        gender: None,
        tags: Vec::new(),
        date_of_birth: None,
        date_added: now,
        date_updated: now,
        last_activity: None,
        custom_fields: Vec::new(),
        attribution: None,
        followers: Vec::new(),
        tasks: Vec::new(),
        notes: Vec::new(),
        appointments: Vec::new(),
        derived: Default::default(),
    };
    input.apply(&mut contact);
    let id = contact.id.clone();
    store.insert(contact);
    id
}
