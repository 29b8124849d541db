//! `GET/PUT/DELETE /contacts/{contactId}`, `POST /contacts/` and `POST /contacts/upsert`.
//! Creating refuses duplicates (same email or phone in the location) like a GHL location with
//! "allow duplicate contacts" off; upsert matches on email first, then phone.

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
    if let Some((existing, field)) = store.duplicate_of(caller.location_id(), patch_value(&input.email), patch_value(&input.phone)) {
        return Err(ApiError::Duplicate { contact_id: existing.id.clone(), contact_name: existing.full_name(), matching_field: field });
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
    let input = ContactInput::parse(&body, Dto::Upsert)?;
    caller.ensure_location(input.location_id.as_deref().unwrap_or_default())?;
    let mut store = app.write();
    let location = caller.location_id();
    let by_email = store.duplicate_of(location, patch_value(&input.email), None).map(|(c, _)| c.id.clone());
    let existing = by_email.or_else(|| store.duplicate_of(location, None, patch_value(&input.phone)).map(|(c, _)| c.id.clone()));
    let (id, new) = match existing {
        Some(id) => {
            let contact = store.owned_mut(&id, location)?;
            input.apply(contact);
            contact.date_updated = dates::now_ms();
            (id, false)
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
