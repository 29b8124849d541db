//! `POST /contacts/{contactId}/tags` (201) and `DELETE /contacts/{contactId}/tags` (200, JSON body):
//! both answer the contact's tags after the change. Tags are trimmed and lowercased.

use axum::extract::{Path, State};
use axum::response::Response;
use serde::Serialize;

use super::contact_input::normalize_tags;
use crate::auth::{ContactsWrite, Scoped};
use crate::data::dates;
use crate::error::ApiError;
use crate::reply;
use crate::state::App;
use crate::validate::{Fields, JsonBody};

#[derive(Serialize)]
struct TagsBody<'a> {
    tags: &'a [String],
}

fn parse(body: &serde_json::Value) -> Result<Vec<String>, ApiError> {
    let mut f = Fields::new(body)?;
    let tags = f.required_string_array("tags");
    f.finish()?;
    Ok(normalize_tags(&tags.unwrap_or_default()))
}

pub(crate) async fn add(
    Scoped(caller, _): Scoped<ContactsWrite>,
    State(app): State<App>,
    Path(contact_id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let mut store = app.write();
    let contact = store.owned_mut(&contact_id, caller.location_id())?;
    let tags = parse(&body)?;
    for tag in tags {
        if !contact.tags.contains(&tag) {
            contact.tags.push(tag);
        }
    }
    contact.date_updated = dates::now_ms();
    Ok(reply::created(&TagsBody { tags: &contact.tags }))
}

pub(crate) async fn remove(
    Scoped(caller, _): Scoped<ContactsWrite>,
    State(app): State<App>,
    Path(contact_id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let mut store = app.write();
    let contact = store.owned_mut(&contact_id, caller.location_id())?;
    let tags = parse(&body)?;
    contact.tags.retain(|t| !tags.contains(t));
    contact.date_updated = dates::now_ms();
    Ok(reply::ok(&TagsBody { tags: &contact.tags }))
}
