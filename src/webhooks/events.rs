//! GHL's contacts-related webhook events, read as what changed: the kind of change, the location
//! and the ids. Real payloads are thinner than the docs (a TaskCreate may lack `contactId`), so
//! every id is optional and a missing one widens what is invalidated, never narrows it.

use serde::Deserialize;

use crate::data::{ChangeEvent, ChangeKind, Subject};

/// Why a body is not an event we apply.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("the body is not a JSON webhook event with `type` and `locationId`")]
    Malformed,
    #[error("event type `{0}` is not about contacts")]
    Unrelated(String),
}

/// The delivery metadata GHL adds to every event.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    pub webhook_id: Option<String>,
    pub timestamp: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wire {
    #[serde(rename = "type")]
    event_type: String,
    location_id: String,
    id: Option<String>,
    contact_id: Option<String>,
    appointment: Option<WireAppointment>,
    webhook_id: Option<String>,
    timestamp: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireAppointment {
    id: Option<String>,
    contact_id: Option<String>,
}

/// Reads a verified body: the change it reports, and its delivery metadata.
pub fn parse(body: &[u8]) -> Result<(ChangeEvent, Delivery), EventError> {
    let wire: Wire = serde_json::from_slice(body).map_err(|_| EventError::Malformed)?;
    let delivery = Delivery { webhook_id: wire.webhook_id, timestamp: wire.timestamp };
    let (subject, kind) = match wire.event_type.as_str() {
        "ContactCreate" => (Subject::Contact, ChangeKind::Created),
        "ContactUpdate" => (Subject::Contact, ChangeKind::Updated),
        "ContactDelete" => (Subject::Contact, ChangeKind::Deleted),
        "ContactTagUpdate" => (Subject::Contact, ChangeKind::TagsChanged),
        "ContactDndUpdate" => (Subject::Contact, ChangeKind::DndChanged),
        "TaskCreate" => (Subject::Task, ChangeKind::Created),
        "TaskComplete" => (Subject::Task, ChangeKind::Completed),
        "TaskDelete" => (Subject::Task, ChangeKind::Deleted),
        "NoteCreate" => (Subject::Note, ChangeKind::Created),
        "NoteUpdate" => (Subject::Note, ChangeKind::Updated),
        "NoteDelete" => (Subject::Note, ChangeKind::Deleted),
        "AppointmentCreate" => (Subject::Appointment, ChangeKind::Created),
        "AppointmentUpdate" => (Subject::Appointment, ChangeKind::Updated),
        "AppointmentDelete" => (Subject::Appointment, ChangeKind::Deleted),
        other => return Err(EventError::Unrelated(other.to_owned())),
    };
    let present = |id: Option<String>| id.filter(|id| !id.trim().is_empty());
    let (contact_id, item_id) = match subject {
        Subject::Contact => (present(wire.id), None),
        // Installs are read by `installs::parse`, never here.
        Subject::Installation => (None, None),
        Subject::Task | Subject::Note => (present(wire.contact_id), present(wire.id)),
        Subject::Appointment => {
            let appointment = wire.appointment.unwrap_or(WireAppointment { id: None, contact_id: None });
            (present(appointment.contact_id), present(appointment.id))
        }
    };
    let event = ChangeEvent { event_type: wire.event_type, subject, kind, location_id: wire.location_id, contact_id, item_id };
    Ok((event, delivery))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GHL's documented example of `name`, with its `type` set to `name` (the documented
    /// AppointmentUpdate example says `AppointmentCreate`: a doc bug, see UPSTREAM.md).
    fn example(name: &str) -> Vec<u8> {
        let text = std::fs::read(format!("{}/tests/fixtures/webhooks/{name}.example.json", env!("CARGO_MANIFEST_DIR"))).expect("fixture");
        let mut event: serde_json::Value = serde_json::from_slice(&text).expect("JSON fixture");
        event["type"] = name.into();
        serde_json::to_vec(&event).expect("JSON")
    }

    #[test]
    fn every_contacts_event_of_ghl_reads_as_a_change_with_its_ids() {
        for (name, subject, kind) in [
            ("ContactCreate", Subject::Contact, ChangeKind::Created),
            ("ContactUpdate", Subject::Contact, ChangeKind::Updated),
            ("ContactDelete", Subject::Contact, ChangeKind::Deleted),
            ("ContactTagUpdate", Subject::Contact, ChangeKind::TagsChanged),
            ("ContactDndUpdate", Subject::Contact, ChangeKind::DndChanged),
            ("TaskCreate", Subject::Task, ChangeKind::Created),
            ("TaskComplete", Subject::Task, ChangeKind::Completed),
            ("TaskDelete", Subject::Task, ChangeKind::Deleted),
            ("NoteCreate", Subject::Note, ChangeKind::Created),
            ("NoteUpdate", Subject::Note, ChangeKind::Updated),
            ("NoteDelete", Subject::Note, ChangeKind::Deleted),
            ("AppointmentCreate", Subject::Appointment, ChangeKind::Created),
            ("AppointmentUpdate", Subject::Appointment, ChangeKind::Updated),
            ("AppointmentDelete", Subject::Appointment, ChangeKind::Deleted),
        ] {
            let (event, _) = parse(&example(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!((event.subject, event.kind), (subject, kind), "{name}");
            assert!(!event.location_id.is_empty() && event.contact_id.is_some(), "{name}: {event:?}");
            assert_eq!(event.item_id.is_some(), subject != Subject::Contact, "{name}: {event:?}");
        }
    }

    #[test]
    fn a_task_event_without_its_contact_still_reads_and_other_events_are_unrelated() {
        let (event, delivery) = parse(br#"{"type":"TaskCreate","locationId":"loc","id":"t1","webhookId":"w1","timestamp":"2026-12-02T10:00:00Z"}"#).unwrap();
        assert_eq!((event.contact_id, event.item_id.as_deref()), (None, Some("t1")));
        assert_eq!(delivery.webhook_id.as_deref(), Some("w1"));
        assert_eq!(parse(br#"{"type":"OpportunityCreate","locationId":"loc"}"#), Err(EventError::Unrelated("OpportunityCreate".into())));
        assert_eq!(parse(b"not json"), Err(EventError::Malformed));
    }
}
