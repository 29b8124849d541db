//! A contact's notes: `GET/POST /contacts/{contactId}/notes` and `GET/PUT/DELETE …/notes/{id}`.
//! Lists are newest first. Unknown note ids are a 400 `Note not found`.

use axum::extract::{Path, State};
use axum::response::Response;
use serde::Serialize;

use super::contacts::Succeded;
use super::items;
use crate::auth::{ContactsRead, ContactsWrite, Scoped};
use crate::data::dates;
use crate::data::model::Note;
use crate::data::wire::NoteWire;
use crate::error::ApiError;
use crate::reply;
use crate::state::App;
use crate::validate::{Fields, JsonBody, Patch};

#[derive(Serialize)]
struct NotesBody<'a> {
    notes: Vec<NoteWire<'a>>,
}

#[derive(Serialize)]
struct NoteBody<'a> {
    note: NoteWire<'a>,
}

const NOTE_NOT_FOUND: ApiError = ApiError::NotFound("Note not found");

pub(crate) async fn list(Scoped(caller, _): Scoped<ContactsRead>, State(app): State<App>, Path(contact_id): Path<String>) -> Result<Response, ApiError> {
    let store = app.read();
    let contact = store.owned(&contact_id, caller.location_id())?;
    let mut notes: Vec<&Note> = contact.notes.iter().collect();
    notes.sort_by(|a, b| b.date_added.cmp(&a.date_added).then_with(|| a.id.cmp(&b.id)));
    let notes = notes.into_iter().map(|n| NoteWire::new(n, &contact.id)).collect();
    Ok(reply::ok(&NotesBody { notes }))
}

pub(crate) async fn get(
    Scoped(caller, _): Scoped<ContactsRead>,
    State(app): State<App>,
    Path((contact_id, note_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let store = app.read();
    let contact = store.owned(&contact_id, caller.location_id())?;
    let note = items::find(&contact.notes, &note_id, NOTE_NOT_FOUND)?;
    Ok(reply::ok(&NoteBody { note: NoteWire::new(note, &contact.id) }))
}

/// `NotesDTO` (body required) or `UpdateNoteDTO` (all optional).
struct NoteInput {
    body: Option<String>,
    user_id: Patch<String>,
    title: Patch<String>,
    color: Patch<String>,
    pinned: Option<bool>,
}

impl NoteInput {
    fn parse(body: &serde_json::Value, create: bool) -> Result<Self, ApiError> {
        let mut f = Fields::new(body)?;
        let input = Self {
            body: if create { f.required_string("body") } else { f.string("body").into_option() },
            user_id: f.string("userId"),
            title: f.string("title"),
            color: f.string("color"),
            pinned: f.bool("pinned"),
        };
        f.finish()?;
        Ok(input)
    }

    fn apply(self, note: &mut Note) {
        if let Some(body) = self.body {
            note.body = body;
        }
        self.user_id.apply_to(&mut note.user_id);
        self.title.apply_to(&mut note.title);
        self.color.apply_to(&mut note.color);
        if let Some(pinned) = self.pinned {
            note.pinned = pinned;
        }
    }
}

pub(crate) async fn create(
    Scoped(caller, _): Scoped<ContactsWrite>,
    State(app): State<App>,
    Path(contact_id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let mut store = app.write();
    store.owned(&contact_id, caller.location_id())?;
    let input = NoteInput::parse(&body, true)?;
    let mut note = Note { id: store.new_id(), body: String::new(), user_id: None, title: None, color: None, pinned: false, date_added: dates::now_ms() };
    input.apply(&mut note);
    let contact = store.owned_mut(&contact_id, caller.location_id())?;
    contact.notes.push(note);
    let note = contact.notes.last().ok_or(NOTE_NOT_FOUND)?;
    Ok(reply::created(&NoteBody { note: NoteWire::new(note, &contact.id) }))
}

pub(crate) async fn update(
    Scoped(caller, _): Scoped<ContactsWrite>,
    State(app): State<App>,
    Path((contact_id, note_id)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let mut store = app.write();
    let contact = store.owned_mut(&contact_id, caller.location_id())?;
    let note = items::find_mut(&mut contact.notes, &note_id, NOTE_NOT_FOUND)?;
    NoteInput::parse(&body, false)?.apply(note);
    Ok(reply::ok(&NoteBody { note: NoteWire::new(note, &contact.id) }))
}

pub(crate) async fn delete(
    Scoped(caller, _): Scoped<ContactsWrite>,
    State(app): State<App>,
    Path((contact_id, note_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let mut store = app.write();
    let contact = store.owned_mut(&contact_id, caller.location_id())?;
    items::remove(&mut contact.notes, &note_id, NOTE_NOT_FOUND)?;
    Ok(reply::ok(&Succeded { succeded: true }))
}
