//! The JSON shapes GHL answers with, written from `spec/contacts.json`. GHL uses different contact
//! shapes per endpoint (GET vs create vs list/search), so each has its own view over the same record.
//! Views borrow from the store and serialize straight to bytes: no intermediate `serde_json::Value`.

use serde::Serialize;
use serde_json::Value;

use super::dates::{ser_event_time, ser_iso};
use super::model::{Appointment, Attribution, Contact, CustomField, Note, Task};

/// `GetContectByIdSchema` (sic): GET/PUT contact and upsert.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FullContact<'a> {
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    location_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email_lower_case: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timezone: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    company_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    phone: Option<&'a str>,
    dnd: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    dnd_settings: Option<&'a Value>,
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    assigned_to: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    address1: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    city: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    country: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    postal_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    website: Option<&'a str>,
    tags: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    date_of_birth: Option<&'a str>,
    #[serde(serialize_with = "ser_iso")]
    date_added: i64,
    #[serde(serialize_with = "ser_iso")]
    date_updated: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_name_lower_case: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    full_name_lower_case: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_name_lower_case: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_activity: Option<String>,
    custom_fields: &'a [CustomField],
    #[serde(skip_serializing_if = "Option::is_none")]
    business_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    attribution_source: Option<AttributionWire<'a>>,
}

impl<'a> FullContact<'a> {
    pub(crate) fn new(c: &'a Contact) -> Self {
        Self {
            id: &c.id,
            name: c.derived.full_name.as_deref(),
            location_id: &c.location_id,
            first_name: c.first_name.as_deref(),
            last_name: c.last_name.as_deref(),
            email: c.email.as_deref(),
            email_lower_case: c.derived.email_lower.as_deref(),
            timezone: c.timezone.as_deref(),
            company_name: c.company_name.as_deref(),
            phone: c.phone.as_deref(),
            dnd: c.dnd,
            dnd_settings: c.dnd_settings.as_ref(),
            kind: &c.kind,
            source: c.source.as_deref(),
            assigned_to: c.assigned_to.as_deref(),
            address1: c.address1.as_deref(),
            city: c.city.as_deref(),
            state: c.state.as_deref(),
            country: c.country.as_deref(),
            postal_code: c.postal_code.as_deref(),
            website: c.website.as_deref(),
            tags: &c.tags,
            date_of_birth: c.date_of_birth.as_deref(),
            date_added: c.date_added,
            date_updated: c.date_updated,
            first_name_lower_case: c.derived.first_name_lower.as_deref(),
            full_name_lower_case: c.derived.full_name_lower.as_deref(),
            last_name_lower_case: c.derived.last_name_lower.as_deref(),
            last_activity: c.last_activity.map(super::dates::iso),
            custom_fields: &c.custom_fields,
            business_id: c.business_id.as_deref(),
            attribution_source: c.attribution.as_ref().map(AttributionWire::new),
        }
    }
}

/// `CreateContactSchema`: the body of `POST /contacts/`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreatedContact<'a> {
    id: &'a str,
    #[serde(serialize_with = "ser_iso")]
    date_added: i64,
    #[serde(serialize_with = "ser_iso")]
    date_updated: i64,
    deleted: bool,
    tags: &'a [String],
    #[serde(rename = "type")]
    kind: &'a str,
    custom_fields: &'a [CustomField],
    location_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_name_lower_case: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    full_name_lower_case: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_name_lower_case: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email_lower_case: Option<&'a str>,
    bounce_email: bool,
    unsubscribe_email: bool,
    dnd: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    dnd_settings: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    phone: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    address1: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    city: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    country: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    postal_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    website: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    company_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    date_of_birth: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    business_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    assigned_to: Option<&'a str>,
}

impl<'a> CreatedContact<'a> {
    pub(crate) fn new(c: &'a Contact) -> Self {
        Self {
            id: &c.id,
            date_added: c.date_added,
            date_updated: c.date_updated,
            deleted: false,
            tags: &c.tags,
            kind: &c.kind,
            custom_fields: &c.custom_fields,
            location_id: &c.location_id,
            first_name: c.first_name.as_deref(),
            first_name_lower_case: c.derived.first_name_lower.as_deref(),
            full_name_lower_case: c.derived.full_name_lower.as_deref(),
            last_name: c.last_name.as_deref(),
            last_name_lower_case: c.derived.last_name_lower.as_deref(),
            email: c.email.as_deref(),
            email_lower_case: c.derived.email_lower.as_deref(),
            bounce_email: false,
            unsubscribe_email: false,
            dnd: c.dnd,
            dnd_settings: c.dnd_settings.as_ref(),
            phone: c.phone.as_deref(),
            address1: c.address1.as_deref(),
            city: c.city.as_deref(),
            state: c.state.as_deref(),
            country: c.country.as_deref(),
            postal_code: c.postal_code.as_deref(),
            website: c.website.as_deref(),
            source: c.source.as_deref(),
            company_name: c.company_name.as_deref(),
            date_of_birth: c.date_of_birth.as_deref(),
            business_id: c.business_id.as_deref(),
            assigned_to: c.assigned_to.as_deref(),
        }
    }
}

/// `ContactsSearchSchema` plus the fields GHL's list, business and search endpoints return beyond
/// the spec's minimal schema (names, phone, company). Search results also carry `searchAfter`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListedContact<'a> {
    id: &'a str,
    location_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    contact_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_name_lower_case: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_name_lower_case: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    company_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    phone: Option<&'a str>,
    dnd: bool,
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    assigned_to: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    address1: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    city: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    postal_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    country: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    website: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timezone: Option<&'a str>,
    #[serde(serialize_with = "ser_iso")]
    date_added: i64,
    #[serde(serialize_with = "ser_iso")]
    date_updated: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    date_of_birth: Option<&'a str>,
    tags: &'a [String],
    custom_fields: &'a [CustomField],
    #[serde(skip_serializing_if = "Option::is_none")]
    business_id: Option<&'a str>,
    attributions: Vec<AttributionWire<'a>>,
    followers: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    search_after: Option<(i64, &'a str)>,
}

impl<'a> ListedContact<'a> {
    pub(crate) fn new(c: &'a Contact) -> Self {
        Self {
            id: &c.id,
            location_id: &c.location_id,
            contact_name: c.derived.full_name_lower.as_deref(),
            first_name: c.first_name.as_deref(),
            last_name: c.last_name.as_deref(),
            first_name_lower_case: None,
            last_name_lower_case: None,
            company_name: c.company_name.as_deref(),
            email: c.email.as_deref(),
            phone: c.phone.as_deref(),
            dnd: c.dnd,
            kind: &c.kind,
            source: c.source.as_deref(),
            assigned_to: c.assigned_to.as_deref(),
            address1: c.address1.as_deref(),
            city: c.city.as_deref(),
            state: c.state.as_deref(),
            postal_code: c.postal_code.as_deref(),
            country: c.country.as_deref(),
            website: c.website.as_deref(),
            timezone: c.timezone.as_deref(),
            date_added: c.date_added,
            date_updated: c.date_updated,
            date_of_birth: c.date_of_birth.as_deref(),
            tags: &c.tags,
            custom_fields: &c.custom_fields,
            business_id: c.business_id.as_deref(),
            attributions: c.attribution.iter().map(AttributionWire::new).collect(),
            followers: &c.followers,
            search_after: None,
        }
    }

    /// The `POST /contacts/search` flavour: lowercase names and the `searchAfter` cursor.
    pub(crate) fn searched(c: &'a Contact) -> Self {
        Self {
            first_name_lower_case: c.derived.first_name_lower.as_deref(),
            last_name_lower_case: c.derived.last_name_lower.as_deref(),
            search_after: Some((c.date_added, &c.id)),
            ..Self::new(c)
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AttributionWire<'a> {
    url: &'a str,
    /// Omitted when unknown, as GHL does (the spec types it as a string, never null).
    #[serde(skip_serializing_if = "Option::is_none")]
    utm_source: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    medium: Option<&'a str>,
}

impl<'a> AttributionWire<'a> {
    fn new(a: &'a Attribution) -> Self {
        Self { url: &a.url, utm_source: a.utm_source.as_deref(), medium: a.medium.as_deref() }
    }
}

/// `TaskSchema`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TaskWire<'a> {
    id: &'a str,
    title: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    assigned_to: Option<&'a str>,
    #[serde(serialize_with = "ser_iso")]
    due_date: i64,
    completed: bool,
    contact_id: &'a str,
}

impl<'a> TaskWire<'a> {
    pub(crate) fn new(t: &'a Task, contact_id: &'a str) -> Self {
        Self {
            id: &t.id,
            title: &t.title,
            body: t.body.as_deref(),
            assigned_to: t.assigned_to.as_deref(),
            due_date: t.due_date,
            completed: t.completed,
            contact_id,
        }
    }
}

/// `GetNoteSchema`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NoteWire<'a> {
    id: &'a str,
    body: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<&'a str>,
    #[serde(serialize_with = "ser_iso")]
    date_added: i64,
    contact_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    color: Option<&'a str>,
    pinned: bool,
}

impl<'a> NoteWire<'a> {
    pub(crate) fn new(n: &'a Note, contact_id: &'a str) -> Self {
        Self {
            id: &n.id,
            body: &n.body,
            user_id: n.user_id.as_deref(),
            date_added: n.date_added,
            contact_id,
            title: n.title.as_deref(),
            color: n.color.as_deref(),
            pinned: n.pinned,
        }
    }
}

/// `GetEventSchema`: times as `YYYY-MM-DD HH:mm:ss`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EventWire<'a> {
    id: &'a str,
    calendar_id: &'a str,
    status: &'a str,
    title: &'a str,
    assigned_user_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    notes: Option<&'a str>,
    #[serde(serialize_with = "ser_event_time")]
    start_time: i64,
    #[serde(serialize_with = "ser_event_time")]
    end_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    address: Option<&'a str>,
    location_id: &'a str,
    contact_id: &'a str,
    appointment_status: &'a str,
    users: [&'a str; 1],
    #[serde(serialize_with = "ser_event_time")]
    date_added: i64,
    #[serde(serialize_with = "ser_event_time")]
    date_updated: i64,
}

impl<'a> EventWire<'a> {
    pub(crate) fn new(a: &'a Appointment, contact: &'a Contact) -> Self {
        Self {
            id: &a.id,
            calendar_id: &a.calendar_id,
            status: &a.status,
            title: &a.title,
            assigned_user_id: &a.assigned_user_id,
            notes: a.notes.as_deref(),
            start_time: a.start,
            end_time: a.end,
            address: a.address.as_deref(),
            location_id: &contact.location_id,
            contact_id: &contact.id,
            appointment_status: &a.status,
            users: [&a.assigned_user_id],
            date_added: a.date_added,
            date_updated: a.date_updated,
        }
    }
}

/// The `appointment` object of GHL's `Appointment*` webhooks (times ISO-8601), also what the
/// sandbox's appointment edits answer: there is no calendars API to copy a shape from.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AppointmentWire<'a> {
    id: &'a str,
    calendar_id: &'a str,
    contact_id: &'a str,
    title: &'a str,
    appointment_status: &'a str,
    assigned_user_id: &'a str,
    users: [&'a str; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    notes: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    address: Option<&'a str>,
    #[serde(serialize_with = "ser_iso")]
    start_time: i64,
    #[serde(serialize_with = "ser_iso")]
    end_time: i64,
    #[serde(serialize_with = "ser_iso")]
    date_added: i64,
    #[serde(serialize_with = "ser_iso")]
    date_updated: i64,
}

impl<'a> AppointmentWire<'a> {
    pub(crate) fn new(a: &'a Appointment, contact_id: &'a str) -> Self {
        Self {
            id: &a.id,
            calendar_id: &a.calendar_id,
            contact_id,
            title: &a.title,
            appointment_status: &a.status,
            assigned_user_id: &a.assigned_user_id,
            users: [&a.assigned_user_id],
            notes: a.notes.as_deref(),
            address: a.address.as_deref(),
            start_time: a.start,
            end_time: a.end,
            date_added: a.date_added,
            date_updated: a.date_updated,
        }
    }
}
