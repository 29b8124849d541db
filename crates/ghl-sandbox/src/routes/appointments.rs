//! A contact's appointments. `GET /contacts/{contactId}/appointments` is GHL's: the contact's calendar
//! events, `GetEventSchema` (times as `YYYY-MM-DD HH:mm:ss`), in start-time order. The sandbox has no
//! calendars API, so creating, changing and deleting one is only possible as a change made in the
//! GHL app (`/__sandbox/contacts/{contactId}/appointments…`, see `app_edits`); those routes answer the
//! webhook's `appointment` object (times ISO-8601). Unknown ids are a 400 `Appointment not found`.

use axum::extract::{Path, State};
use axum::response::Response;
use serde::Serialize;

use super::items;
use crate::auth::{ContactsRead, ContactsWrite, Scoped};
use crate::data::dates;
use crate::data::model::Appointment;
use crate::data::wire::{AppointmentWire, EventWire};
use crate::error::ApiError;
use crate::reply;
use crate::state::App;
use crate::validate::{Fields, JsonBody, Patch};

#[derive(Serialize)]
struct EventsBody<'a> {
    events: Vec<EventWire<'a>>,
}

#[derive(Serialize)]
struct AppointmentBody<'a> {
    appointment: AppointmentWire<'a>,
}

/// A delete answers the appointment that went, so its webhook can carry it as GHL's does.
#[derive(Serialize)]
struct DeletedBody<'a> {
    succeded: bool,
    appointment: AppointmentWire<'a>,
}

const APPOINTMENT_NOT_FOUND: ApiError = ApiError::NotFound("Appointment not found");

/// GHL's `appointmentStatus` values, and `booked`, which seeded appointments use.
const STATUSES: &[&str] = &["new", "booked", "confirmed", "cancelled", "showed", "noshow", "invalid"];

pub(crate) async fn list(Scoped(caller, _): Scoped<ContactsRead>, State(app): State<App>, Path(contact_id): Path<String>) -> Result<Response, ApiError> {
    let store = app.read();
    let contact = store.owned(&contact_id, caller.location_id())?;
    let mut events: Vec<&Appointment> = contact.appointments.iter().collect();
    events.sort_by(|a, b| a.start.cmp(&b.start).then_with(|| a.id.cmp(&b.id)));
    let events = events.into_iter().map(|a| EventWire::new(a, contact)).collect();
    Ok(reply::ok(&EventsBody { events }))
}

/// The body of a create (title, startTime and endTime required) or of a partial update.
struct AppointmentInput {
    title: Option<String>,
    start: Option<i64>,
    end: Option<i64>,
    calendar_id: Option<String>,
    status: Option<String>,
    assigned_user_id: Option<String>,
    notes: Patch<String>,
    address: Patch<String>,
}

impl AppointmentInput {
    /// Parses the body; `current` (an update's appointment) fills in the times it does not change,
    /// so that `endTime` is checked against the start the appointment will have.
    fn parse(body: &serde_json::Value, current: Option<&Appointment>) -> Result<Self, ApiError> {
        let create = current.is_none();
        let mut f = Fields::new(body)?;
        let title = if create { f.required_string("title") } else { f.string("title").into_option() };
        let start = f.iso_date("startTime", create);
        let end = f.iso_date("endTime", create);
        let status = f.string("appointmentStatus").into_option();
        if status.as_deref().is_some_and(|s| !STATUSES.contains(&s)) {
            f.error(format!("appointmentStatus must be one of the following values: {}", STATUSES.join(", ")));
        }
        let input = Self {
            title,
            start,
            end,
            calendar_id: f.string("calendarId").into_option(),
            status,
            assigned_user_id: f.string("assignedUserId").into_option(),
            notes: f.string("notes"),
            address: f.string("address"),
        };
        let (start, end) = (input.start.or(current.map(|a| a.start)), input.end.or(current.map(|a| a.end)));
        if let (Some(start), Some(end)) = (start, end) {
            if end <= start {
                f.error("endTime must be later than startTime".to_owned());
            }
        }
        f.finish()?;
        Ok(input)
    }

    fn apply(self, a: &mut Appointment) {
        if let Some(title) = self.title {
            a.title = title;
        }
        if let Some(start) = self.start {
            a.start = start;
        }
        if let Some(end) = self.end {
            a.end = end;
        }
        if let Some(calendar_id) = self.calendar_id {
            a.calendar_id = calendar_id;
        }
        if let Some(status) = self.status {
            a.status = status;
        }
        if let Some(user) = self.assigned_user_id {
            a.assigned_user_id = user;
        }
        self.notes.apply_to(&mut a.notes);
        self.address.apply_to(&mut a.address);
    }
}

/// New appointments go to the location's first calendar, assigned to its first user, confirmed.
pub(crate) async fn create(
    Scoped(caller, _): Scoped<ContactsWrite>,
    State(app): State<App>,
    Path(contact_id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let mut store = app.write();
    store.owned(&contact_id, caller.location_id())?;
    let input = AppointmentInput::parse(&body, None)?;
    let now = dates::now_ms();
    let mut appointment = Appointment {
        id: store.new_id(),
        calendar_id: store.first_calendar(caller.location_id()).unwrap_or_default().to_owned(),
        title: String::new(),
        status: "confirmed".to_owned(),
        assigned_user_id: store.first_user(caller.location_id()).unwrap_or_default().to_owned(),
        notes: None,
        address: None,
        start: now,
        end: now,
        date_added: now,
        date_updated: now,
    };
    input.apply(&mut appointment);
    let contact = store.owned_mut(&contact_id, caller.location_id())?;
    contact.appointments.push(appointment);
    let appointment = contact.appointments.last().ok_or(APPOINTMENT_NOT_FOUND)?;
    Ok(reply::created(&AppointmentBody { appointment: AppointmentWire::new(appointment, &contact.id) }))
}

pub(crate) async fn update(
    Scoped(caller, _): Scoped<ContactsWrite>,
    State(app): State<App>,
    Path((contact_id, appointment_id)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let mut store = app.write();
    let contact = store.owned_mut(&contact_id, caller.location_id())?;
    let appointment = items::find_mut(&mut contact.appointments, &appointment_id, APPOINTMENT_NOT_FOUND)?;
    AppointmentInput::parse(&body, Some(appointment))?.apply(appointment);
    appointment.date_updated = dates::now_ms();
    Ok(reply::ok(&AppointmentBody { appointment: AppointmentWire::new(appointment, &contact.id) }))
}

pub(crate) async fn delete(
    Scoped(caller, _): Scoped<ContactsWrite>,
    State(app): State<App>,
    Path((contact_id, appointment_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let mut store = app.write();
    let contact = store.owned_mut(&contact_id, caller.location_id())?;
    let gone = items::find(&contact.appointments, &appointment_id, APPOINTMENT_NOT_FOUND)?.clone();
    items::remove(&mut contact.appointments, &appointment_id, APPOINTMENT_NOT_FOUND)?;
    Ok(reply::ok(&DeletedBody { succeded: true, appointment: AppointmentWire::new(&gone, &contact.id) }))
}
