//! `Appointment`: a calendar event booked with a contact (`GET /contacts/{id}/appointments`).

use async_graphql::{Context, Object, ID};

use super::contact::Contact;
use super::datetime::DateTime;
use super::shared::Shared;
use crate::error::FieldResult;
use crate::highlevel::models;

/// A calendar appointment with a contact.
pub struct Appointment {
    data: Shared<models::Event>,
    contact_id: String,
}

impl Appointment {
    pub fn new(data: impl Into<Shared<models::Event>>, contact_id: &str) -> Self {
        let data = data.into();
        let contact_id = data.contact_id.clone().filter(|c| !c.is_empty()).unwrap_or_else(|| contact_id.to_owned());
        Self { data, contact_id }
    }
}

#[Object]
impl Appointment {
    /// GHL's event id.
    async fn id(&self) -> ID {
        ID(self.data.id.clone())
    }

    /// Id of the calendar it is booked on.
    async fn calendar_id(&self) -> Option<ID> {
        self.data.calendar_id.clone().map(ID)
    }

    /// Title of the appointment.
    async fn title(&self) -> Option<&str> {
        self.data.title.as_deref()
    }

    /// Event status, e.g. `booked`.
    async fn status(&self) -> Option<&str> {
        self.data.status.as_deref()
    }

    /// Appointment status, e.g. `confirmed`, `cancelled`, `showed`, `noshow`.
    async fn appointment_status(&self) -> Option<&str> {
        self.data.appointment_status.as_deref()
    }

    /// Start, in UTC (GHL sends `YYYY-MM-DD HH:mm:ss` without a zone here; read as UTC).
    async fn start_time(&self) -> Option<DateTime> {
        self.data.start_time.as_ref().and_then(DateTime::from_ghl_value)
    }

    /// End, in UTC.
    async fn end_time(&self) -> Option<DateTime> {
        self.data.end_time.as_ref().and_then(DateTime::from_ghl_value)
    }

    /// Id of the GHL user the appointment is with.
    async fn assigned_user_id(&self) -> Option<ID> {
        self.data.assigned_user_id.clone().map(ID)
    }

    /// Where it takes place.
    async fn address(&self) -> Option<&str> {
        self.data.address.as_deref()
    }

    /// Notes on the appointment.
    async fn notes(&self) -> Option<&str> {
        self.data.notes.as_deref()
    }

    /// The contact the appointment is with.
    async fn contact(&self, ctx: &Context<'_>) -> FieldResult<Option<Contact>> {
        Contact::by_id(ctx, &self.contact_id).await
    }
}
