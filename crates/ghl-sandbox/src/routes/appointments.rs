//! `GET /contacts/{contactId}/appointments`: the contact's calendar events, `GetEventSchema`
//! (times as `YYYY-MM-DD HH:mm:ss`), in start-time order. The sandbox has no calendar API.

use axum::extract::{Path, State};
use axum::response::Response;
use serde::Serialize;

use crate::auth::{ContactsRead, Scoped};
use crate::data::model::Appointment;
use crate::data::wire::EventWire;
use crate::error::ApiError;
use crate::reply;
use crate::state::App;

#[derive(Serialize)]
struct EventsBody<'a> {
    events: Vec<EventWire<'a>>,
}

pub(crate) async fn list(Scoped(caller, _): Scoped<ContactsRead>, State(app): State<App>, Path(contact_id): Path<String>) -> Result<Response, ApiError> {
    let store = app.read();
    let contact = store.owned(&contact_id, caller.location_id())?;
    let mut events: Vec<&Appointment> = contact.appointments.iter().collect();
    events.sort_by(|a, b| a.start.cmp(&b.start).then_with(|| a.id.cmp(&b.id)));
    let events = events.into_iter().map(|a| EventWire::new(a, contact)).collect();
    Ok(reply::ok(&EventsBody { events }))
}
